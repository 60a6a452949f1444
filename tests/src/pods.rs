//! The programs run as the manifests run them: a container's command (the built program of that name), its
//! arguments and its environment as the kubelet would set them for one pod — nothing inherited from the test
//! — plus `KUBECONFIG`, which stands in for the in-cluster service-account credentials. And the kubelet's
//! HTTP probes, sent from inside the pod's network namespace.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ferrolb_netlab::{Netns, ProcessSpec};

use crate::manifest::{Container, ManifestError, PodFacts};
use crate::programs::program;

/// A process spec running `container` for `pod`: `env -i <manifest env> KUBECONFIG=<kubeconfig> <program>
/// <manifest args>` (`env -i` execs the program, so the supervised PID is the program's).
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
