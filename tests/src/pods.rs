//! The programs run as the manifests run them: a container's command (the built program of that name), its
//! arguments and its environment as the kubelet would set them for one pod — nothing inherited from the test
//! — plus `KUBECONFIG`, which stands in for the in-cluster service-account credentials; its user, group and
//! capabilities as the container runtime would set them from the `securityContext` ([`Security`], applied
//! with `setpriv`). And the kubelet's HTTP probes, sent from inside the pod's network namespace.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ferrolb_netlab::{Netns, ProcessSpec};
use serde_json::Value;

use crate::manifest::{Container, ManifestError, PodFacts};
use crate::programs::program;

/// The user and group of the image (the Dockerfile's `USER`), used when the pod does not set them.
pub const IMAGE_USER: (u32, u32) = (65532, 65532);

/// The capabilities a container runtime (containerd, CRI-O) gives a container unless told otherwise.
pub const RUNTIME_DEFAULT_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// What a container runs as, from the pod's and the container's `securityContext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// The capability bounding set (upper case, without `CAP_`), sorted.
    pub capabilities: Vec<String>,
    /// `allowPrivilegeEscalation: false`: the process runs with `no_new_privs`.
    pub no_new_privs: bool,
}

impl Security {
    /// Resolves the container's security context as the kubelet and the runtime do: container fields over
    /// pod fields over the image's user; capabilities from the runtime's default set, `drop` (`ALL` empties
    /// it) then `add`. A root user under `runAsNonRoot: true` is refused, as the kubelet refuses it.
    pub fn of(container: &Container) -> Result<Security, ManifestError> {
        let c = &container.raw["securityContext"];
        let p = &container.pod_security_context;
        let id = |field: &str, default: u32| -> Result<u32, ManifestError> {
            match c[field].as_u64().or_else(|| p[field].as_u64()) {
                None => Ok(default),
                Some(v) => u32::try_from(v).map_err(|_| ManifestError::Shape {
                    object: container.object.clone(),
                    field: format!("securityContext.{field}"),
                    message: format!("{v} is out of range"),
                }),
            }
        };
        let uid = id("runAsUser", IMAGE_USER.0)?;
        let gid = id("runAsGroup", IMAGE_USER.1)?;
        let non_root = c["runAsNonRoot"]
            .as_bool()
            .or_else(|| p["runAsNonRoot"].as_bool());
        if non_root == Some(true) && uid == 0 {
            return Err(ManifestError::Shape {
                object: container.object.clone(),
                field: "securityContext.runAsNonRoot".into(),
                message: "runAsNonRoot with user 0: the kubelet refuses to start it".into(),
            });
        }
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|s| s.trim_start_matches("CAP_").to_ascii_uppercase())
                .collect()
        };
        let drop = names(&c["capabilities"]["drop"]);
        let mut caps: Vec<String> = if drop.iter().any(|d| d == "ALL") {
            Vec::new()
        } else {
            RUNTIME_DEFAULT_CAPS
                .iter()
                .map(|s| (*s).to_owned())
                .filter(|s| !drop.contains(s))
                .collect()
        };
        caps.extend(names(&c["capabilities"]["add"]));
        caps.sort();
        caps.dedup();
        Ok(Security {
            uid,
            gid,
            capabilities: caps,
            no_new_privs: c["allowPrivilegeEscalation"].as_bool() == Some(false),
        })
    }

    /// `setpriv` arguments that give a process this identity: user and group, no supplementary groups, the
    /// bounding set limited to the capabilities and no inheritable ones (so a root process keeps exactly
    /// the bounding set, a non-root one none — no ambient capabilities, as container runtimes do), and
    /// `no_new_privs` when asked.
    pub fn setpriv_args(&self) -> Vec<String> {
        let mut bounding = String::from("-all");
        for c in &self.capabilities {
            bounding.push_str(",+");
            bounding.push_str(&c.to_ascii_lowercase());
        }
        let mut args = vec![
            format!("--reuid={}", self.uid),
            format!("--regid={}", self.gid),
            "--clear-groups".to_owned(),
            format!("--bounding-set={bounding}"),
            "--inh-caps=-all".to_owned(),
        ];
        if self.no_new_privs {
            args.push("--no-new-privs".to_owned());
        }
        args
    }
}

/// Linux capability numbers (`include/uapi/linux/capability.h`).
const CAPABILITY_NUMBERS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

impl Security {
    /// The bounding set as the kernel's bit mask.
    pub fn bounding_mask(&self) -> Result<u64, String> {
        self.capabilities.iter().try_fold(0u64, |m, c| {
            CAPABILITY_NUMBERS
                .iter()
                .position(|n| n == c)
                .map(|bit| m | (1u64 << bit))
                .ok_or_else(|| format!("unknown capability {c}"))
        })
    }

    /// Checks a running process against this identity (`/proc/<pid>/status`): user and group, effective
    /// capabilities (the bounding set for root, none otherwise), bounding set, `NoNewPrivs`.
    pub fn check_process(&self, pid: u32) -> Result<(), String> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
        let field = |name: &str| -> Result<&str, String> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name).map(str::trim))
                .ok_or_else(|| format!("/proc/{pid}/status has no {name}"))
        };
        let hex = |name: &str| -> Result<u64, String> {
            let v = field(name)?;
            u64::from_str_radix(v, 16).map_err(|e| format!("{name} {v:?}: {e}"))
        };
        let bounding = self.bounding_mask()?;
        let want_eff = if self.uid == 0 { bounding } else { 0 };
        let mut problems = Vec::new();
        let ids =
            |name: &str| field(name).map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
        if ids("Uid:")?.iter().any(|u| *u != self.uid.to_string()) {
            problems.push(format!("Uid: {} (want {})", field("Uid:")?, self.uid));
        }
        if ids("Gid:")?.iter().any(|g| *g != self.gid.to_string()) {
            problems.push(format!("Gid: {} (want {})", field("Gid:")?, self.gid));
        }
        if hex("CapEff:")? != want_eff {
            problems.push(format!("CapEff: {} (want {want_eff:016x})", field("CapEff:")?));
        }
        if hex("CapBnd:")? != bounding {
            problems.push(format!("CapBnd: {} (want {bounding:016x})", field("CapBnd:")?));
        }
        if self.no_new_privs && field("NoNewPrivs:")? != "1" {
            problems.push("NoNewPrivs: 0 (want 1)".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("pid {pid}: {}", problems.join(", ")))
        }
    }
}

/// A process spec running `container` for `pod`: `env -i <manifest env> KUBECONFIG=<kubeconfig> setpriv
/// <security context> <program> <manifest args>` (`env` and `setpriv` exec the next program, so the supervised
/// PID is the program's). The kubeconfig must be readable by the container's user.
pub fn process_spec(
    name: &str,
    container: &Container,
    pod: &PodFacts,
    kubeconfig: &Path,
) -> Result<ProcessSpec, ManifestError> {
    let prog = container.program_name().ok_or_else(|| ManifestError::Shape {
        object: container.object.clone(),
        field: "command".into(),
        message: "no command: the tests run the program the command names".into(),
    })?;
    let mut spec = ProcessSpec::new(name, "/usr/bin/env").arg("-i");
    for (k, v) in container.resolved_env(pod)? {
        spec = spec.arg(format!("{k}={v}"));
    }
    spec = spec.arg(format!("KUBECONFIG={}", kubeconfig.display()));
    spec = spec
        .arg("/usr/bin/setpriv")
        .args(Security::of(container)?.setpriv_args());
    Ok(spec.arg(program(prog)).args(&container.args))
}

/// An HTTP GET as the kubelet's `httpGet` probe sends it, from inside `ns`: the status code and body.
pub fn http_get(ns: &Netns, addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(2);
    let mut s = ns
        .tcp_connect(addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .and_then(|()| s.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: kube-probe/1.33\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("writing to {addr}: {e}"))?;
    let mut response = Vec::new();
    s.read_to_end(&mut response)
        .map_err(|e| format!("reading from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{addr}{path}: not an HTTP response: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;

    #[test]
    fn security_contexts_resolve_like_the_runtime() {
        let m = Manifest::ferrolb().unwrap();
        let ctl = m
            .container("Deployment", "ferrolb-controller", "controller")
            .unwrap();
        let s = Security::of(&ctl).unwrap();
        assert_eq!((s.uid, s.gid), (65532, 65532));
        assert!(s.capabilities.is_empty() && s.no_new_privs);
        assert_eq!(
            s.setpriv_args(),
            [
                "--reuid=65532",
                "--regid=65532",
                "--clear-groups",
                "--bounding-set=-all",
                "--inh-caps=-all",
                "--no-new-privs"
            ]
        );
        let spk = m.container("DaemonSet", "ferrolb-speaker", "speaker").unwrap();
        let s = Security::of(&spk).unwrap();
        assert_eq!(s.uid, 0);
        assert_eq!(s.capabilities, ["BPF", "NET_ADMIN", "NET_RAW"]);
        assert!(
            s.setpriv_args()
                .contains(&"--bounding-set=-all,+bpf,+net_admin,+net_raw".to_owned())
        );

        let mut c = spk.clone();
        c.raw["securityContext"] = serde_json::json!({"runAsNonRoot": true});
        assert_eq!(
            Security::of(&c).unwrap().uid,
            65532,
            "the image's user is not root"
        );
        c.raw["securityContext"] = serde_json::json!({"runAsNonRoot": true, "runAsUser": 0});
        assert!(
            Security::of(&c).is_err(),
            "the kubelet refuses root under runAsNonRoot"
        );
        c.raw["securityContext"] = serde_json::json!({"capabilities": {"drop": ["MKNOD"]}});
        c.pod_security_context = serde_json::json!({"runAsUser": 1000});
        let s = Security::of(&c).unwrap();
        assert_eq!((s.uid, s.gid), (1000, 65532));
        assert_eq!(s.capabilities.len(), RUNTIME_DEFAULT_CAPS.len() - 1);
        assert!(!s.no_new_privs);
    }
}
