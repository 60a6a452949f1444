//! A running lab: namespaces built from a [`TopologySpec`], its processes, and teardown.
//!
//! Each lab has a unique prefix `flb-<pid>-<n>-` so labs run in parallel (libtest runs the tests
//! of one binary on several threads). Teardown — explicit with [`Lab::teardown`] or on drop, also
//! when a test panics — stops in-process backends, kills every process by PID (first those the
//! supervisor started, then anything else still inside a lab namespace), deletes the namespaces
//! and removes the work directory. When the test is panicking, the work directory (logs, configs)
//! is kept and its path and log tails are printed.
//!
//! Namespaces left by a lab whose process died without teardown (SIGKILL, abort) are swept at the
//! first lab set-up of a later process: their names carry the dead PID.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::cmd::{Cmd, CmdOutput, ip_batch};
use crate::error::{LabError, Result};
use crate::kubeproxy::Services;
use crate::netns::{Netns, pids_in_netns_inode};
use crate::prereq::{Tool, tool_path};
use crate::probes::MacAddr;
use crate::supervisor::{Process, ProcessSpec, Registry, Signal};
use crate::topology::{self, HostSpec, Role, TopologySpec};

/// Serialises `ip netns add/del` across the labs of one process (the first `netns add` also
/// creates the shared `/run/netns` mount).
static NETNS_LOCK: Mutex<()> = Mutex::new(());
static LAB_COUNTER: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();
const NAME_TAG: &str = "flb-";

/// One host of a running lab.
#[derive(Debug, Clone)]
pub struct Host {
    spec: HostSpec,
    ns: Netns,
}

impl Host {
    /// Short name (`node1`, `router`, …).
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// What the host is for.
    pub fn role(&self) -> Role {
        self.spec.role
    }
    /// IPv4 address on `eth0`.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.spec.ipv4
    }
    /// IPv6 address on `eth0`.
    pub fn ipv6(&self) -> Ipv6Addr {
        self.spec.ipv6
    }
    /// Address of the given family on `eth0`.
    pub fn addr(&self, ipv6: bool) -> IpAddr {
        self.spec.addr(ipv6)
    }
    /// Its IPv4 and IPv6 addresses on `eth1`, when it sits on the second segment.
    pub fn second(&self) -> Option<(Ipv4Addr, Ipv6Addr)> {
        self.spec.second
    }
    /// Its network namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }
}

/// A running network-namespace lab. See the module docs.
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    spec: TopologySpec,
    hosts: Vec<Host>,
    switch: Netns,
    dir: PathBuf,
    registry: Registry,
    pub(crate) services: Mutex<Services>,
    setup_time: Duration,
    torn_down: bool,
}

impl Lab {
    /// Builds the lab. On error, whatever was created is removed again.
    pub fn new(spec: TopologySpec) -> Result<Lab> {
        spec.validate()?;
        let start = Instant::now();
        SWEEP.call_once(|| sweep_stale(&spec.work_base));
        let prefix = format!(
            "{NAME_TAG}{}-{}-",
            std::process::id(),
            LAB_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = spec.work_base.join(prefix.trim_end_matches('-'));
        let hosts = spec
            .hosts()
            .into_iter()
            .map(|h| Host {
                ns: Netns::new(format!("{prefix}{}", h.name)),
                spec: h,
            })
            .collect();
        let mut lab = Lab {
            switch: Netns::new(format!("{prefix}sw")),
            prefix,
            spec,
            hosts,
            dir,
            registry: Registry::default(),
            services: Mutex::new(Services::default()),
            setup_time: Duration::ZERO,
            torn_down: false,
        };
        lab.build()?; // on error `lab` drops here and tears down what exists
        lab.setup_time = start.elapsed();
        Ok(lab)
    }

    /// For tests: checks root and `tools` (plus `ip`); when something is missing, fails under CI
    /// and skips (returns `None`, printing the reason) elsewhere. Panics if set-up fails.
    pub fn for_test(spec: TopologySpec, tools: &[Tool]) -> Option<Lab> {
        if let Err(reason) = crate::prereq::check(tools) {
            crate::prereq::skip_or_panic(&reason);
            return None;
        }
        match Lab::new(spec) {
            Ok(lab) => Some(lab),
            Err(e) => panic!("lab set-up failed: {e}"),
        }
    }

    fn build(&mut self) -> Result<()> {
        for d in [&self.spec.work_base, &self.dir] {
            std::fs::create_dir_all(d).map_err(|e| LabError::io(format!("creating {}", d.display()), e))?;
            set_mode(d, 0o755)?;
        }
        let plan = topology::plan(&self.spec, &self.prefix);
        let add: String = plan
            .namespaces
            .iter()
            .map(|n| format!("netns add {n}\n"))
            .collect();
        {
            let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            ip_batch(None, &add)?;
        }
        for (ns, entries) in &plan.sysctls {
            Netns::new(ns.clone()).write_sysctls(entries)?;
        }
        ip_batch(None, &plan.links)?;
        for (ns, script) in &plan.configure {
            ip_batch(Some(ns), script)?;
        }
        Ok(())
    }

    /// The namespace-name prefix (`flb-<pid>-<n>-`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The work directory: logs, configs, control sockets.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long set-up took.
    pub fn setup_time(&self) -> Duration {
        self.setup_time
    }

    /// The spec the lab was built from.
    pub fn spec(&self) -> &TopologySpec {
        &self.spec
    }

    /// Every host (router, api, nodes, client, ext).
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host named `name`, or an error naming it.
    pub fn try_host(&self, name: &str) -> Result<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name() == name)
            .ok_or_else(|| LabError::Invalid(format!("lab {} has no host `{name}`", self.prefix)))
    }

    /// The host named `name`. Panics (naming it) if there is none.
    pub fn host(&self, name: &str) -> &Host {
        self.try_host(name).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Node `i` (1-based). Panics if out of range.
    pub fn node(&self, i: usize) -> &Host {
        self.host(&format!("node{i}"))
    }

    /// All nodes in order.
    pub fn nodes(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(|h| matches!(h.role(), Role::Node(_)))
    }

    /// The router.
    pub fn router(&self) -> &Host {
        self.host("router")
    }

    /// The client on the segment.
    pub fn client(&self) -> &Host {
        self.host("client")
    }

    /// The external host behind the router.
    pub fn ext(&self) -> &Host {
        self.host("ext")
    }

    /// The control-plane host, if the spec asked for one.
    pub fn api(&self) -> Option<&Host> {
        self.try_host("api").ok()
    }

    /// The switch namespace (bridge `br0`, ports `p-<host>`).
    pub fn switch(&self) -> &Netns {
        &self.switch
    }

    /// A command running inside `host`'s namespace.
    pub fn cmd(&self, host: &str, program: &str) -> Result<Cmd> {
        Ok(Cmd::new(tool_path(program)).netns(self.try_host(host)?.ns().name()))
    }

    /// `ip <args>` inside `host`'s namespace (`switch` names the switch), requiring success.
    pub fn ip(&self, host: &str, args: &[&str]) -> Result<CmdOutput> {
        let ns = if host == "switch" {
            self.switch.name()
        } else {
            self.try_host(host)?.ns().name()
        };
        Cmd::new(tool_path("ip")).arg("-n").arg(ns).args(args).run()
    }

    /// Starts a supervised program inside `host`'s namespace, logging to `<dir>/<name>.log`.
    pub fn spawn(&self, host: &str, spec: &ProcessSpec) -> Result<Process> {
        let ns = self.try_host(host)?.ns().name().to_string();
        crate::supervisor::spawn(&self.registry, Some(&ns), &self.dir, spec)
    }

    /// The MAC address of `host`'s `eth0`.
    pub fn mac(&self, host: &str) -> Result<MacAddr> {
        self.mac_of(host, "eth0")
    }

    /// The MAC address of `host`'s interface `iface`.
    pub fn mac_of(&self, host: &str, iface: &str) -> Result<MacAddr> {
        let out = self.ip(host, &["-j", "link", "show", "dev", iface])?;
        crate::probes::parse_link_mac(&out.stdout)
    }

    /// Removes everything the lab created. Errors list what could not be removed.
    pub fn teardown(mut self) -> Result<()> {
        self.teardown_inner(false)
    }

    fn namespaces(&self) -> Vec<Netns> {
        std::iter::once(self.switch.clone())
            .chain(self.hosts.iter().map(|h| h.ns.clone()))
            .collect()
    }

    fn teardown_inner(&mut self, keep_dir: bool) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut problems = Vec::new();
        // 1. in-process backends (their sockets would keep the namespaces alive)
        self.services.lock().unwrap_or_else(|e| e.into_inner()).stop_all();
        // 2. supervised processes, by PID
        let (_, mut p) = self.registry.kill_all();
        problems.append(&mut p);
        // 3. anything else still running inside a lab namespace, by PID
        let namespaces: Vec<Netns> = self.namespaces().into_iter().filter(Netns::exists).collect();
        problems.extend(kill_inside(&namespaces));
        // 4. the namespaces (and with them every veth and the bridge)
        let del: String = namespaces
            .iter()
            .map(|n| format!("netns del {}\n", n.name()))
            .collect();
        {
            let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = Cmd::new(tool_path("ip"))
                .args(["-force", "-batch", "-"])
                .stdin(del)
                .run()
            {
                problems.push(e.to_string());
            }
        }
        problems.extend(
            namespaces
                .iter()
                .filter(|n| n.exists())
                .map(|n| format!("namespace {}", n.name())),
        );
        // 5. files
        if !keep_dir
            && self.dir.exists()
            && let Err(e) = std::fs::remove_dir_all(&self.dir)
        {
            problems.push(format!("removing {}: {e}", self.dir.display()));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LabError::Teardown(problems))
        }
    }

    fn print_logs(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        eprintln!(
            "lab {}: work directory kept for inspection: {}",
            self.prefix,
            self.dir.display()
        );
        let mut logs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read(&log)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {} (last lines)", log.display());
            for line in &lines[lines.len().saturating_sub(15)..] {
                eprintln!("    {line}");
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        if panicking && !self.torn_down {
            self.print_logs();
        }
        if let Err(e) = self.teardown_inner(panicking) {
            eprintln!("lab {}: {e}", self.prefix);
        }
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| LabError::io(format!("chmod {}", path.display()), e))
}

/// SIGKILLs every process inside `namespaces` (by PID) and waits until none is left (bounded).
/// Returns problems met.
fn kill_inside(namespaces: &[Netns]) -> Vec<String> {
    let inodes: HashMap<u64, String> = namespaces
        .iter()
        .filter_map(|n| n.inode().ok().map(|i| (i, n.name().to_string())))
        .collect();
    let scan = || -> Vec<(u32, String)> {
        inodes
            .iter()
            .flat_map(|(inode, ns)| pids_in_netns_inode(*inode).into_iter().map(|p| (p, ns.clone())))
            .collect()
    };
    let found: Vec<(u32, String)> = scan()
        .into_iter()
        .filter(|(pid, _)| *pid != std::process::id())
        .collect();
    if found.is_empty() {
        return Vec::new();
    }
    for (pid, _) in &found {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(*pid).unwrap_or(i32::MAX));
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
    match crate::wait::wait_for(
        "processes in lab namespaces to die",
        Duration::from_secs(5),
        || Ok(scan().is_empty().then_some(())),
    ) {
        Ok(()) => Vec::new(),
        Err(_) => scan()
            .into_iter()
            .map(|(pid, ns)| format!("process {pid} in {ns}"))
            .collect(),
    }
}

/// Parses `flb-<pid>-<n>-…` and returns the PID.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(NAME_TAG)?.split('-').next()?.parse().ok()
}

/// Removes namespaces and work directories of labs whose process no longer exists.
fn sweep_stale(work_base: &Path) {
    let dead = |name: &str| owner_pid(name).is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
    let stale: Vec<Netns> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| dead(n))
                .map(Netns::new)
                .collect()
        })
        .unwrap_or_default();
    if !stale.is_empty() {
        let _ = kill_inside(&stale);
        let del: String = stale
            .iter()
            .map(|n| format!("netns del {}\n", n.name()))
            .collect();
        let _guard = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Cmd::new(tool_path("ip"))
            .args(["-force", "-batch", "-"])
            .stdin(del)
            .output();
    }
    if let Ok(dirs) = std::fs::read_dir(work_base) {
        for d in dirs.filter_map(|e| e.ok()) {
            if d.file_name().to_str().is_some_and(dead) {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_lab_names_only() {
        assert_eq!(owner_pid("flb-1234-0-node1"), Some(1234));
        assert_eq!(owner_pid("flb-1234-7"), Some(1234));
        assert_eq!(owner_pid("xq-node1"), None);
        assert_eq!(owner_pid("flb-abc-0-sw"), None);
    }
}
