//! The programs of the system: starting a controller replica or a speaker as its manifest runs it, killing
//! and restarting them, readiness (the manifest's own probes), metrics and logs, and a node dying as a whole.

use std::net::SocketAddr;
use std::time::Duration;

use ferrolb_netlab::{Process, Signal};

use super::{Result, System, SystemError};
use crate::manifest::{Container, PodFacts};
use crate::pods::{http_get, process_spec};

/// Which program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A `ferrolb-controller` replica.
    Controller,
    /// A `ferrolb-speaker`.
    Speaker,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Controller => "ferrolb-controller",
            Kind::Speaker => "ferrolb-speaker",
        }
    }
}

/// A running (or exited) program of the system.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) kind: Kind,
    pub(super) node: String,
    /// The pod name the program was given (`ferrolb-controller-node1`, `…-node1-2` after a restart).
    pub(super) pod: String,
    pub(super) process: Process,
}

/// What [`System::programs`] reports about one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramInfo {
    /// Which program.
    pub kind: Kind,
    /// Its node.
    pub node: String,
    /// Its pod name.
    pub pod: String,
    /// Its PID.
    pub pid: u32,
    /// `None` while it runs, else how it exited.
    pub exited: Option<String>,
}

impl System {
    fn key(kind: Kind, node: &str) -> String {
        format!("{}-{node}", kind.prefix())
    }

    fn start_program(&self, kind: Kind, node: &str) -> Result<()> {
        let key = System::key(kind, node);
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        // a replacement pod gets a new name, as a Deployment's or DaemonSet's would
        let generation = self.generations(&key);
        let pod = if generation == 1 {
            key.clone()
        } else {
            format!("{key}-{generation}")
        };
        if let Some(old) = programs.get(&key)
            && old.process.is_running()
        {
            return Err(SystemError::Program(format!(
                "{key} already runs (pid {})",
                old.process.pid()
            )));
        }
        let container = self.container(kind);
        let kubeconfig = match kind {
            Kind::Controller => &self.kubeconfigs.controller,
            Kind::Speaker => &self.kubeconfigs.speaker,
        };
        let ip = self.lab().try_host(node)?.ipv4().to_string();
        let facts = PodFacts {
            namespace: super::NS.into(),
            name: pod.clone(),
            node_name: node.into(),
            host_ip: ip.clone(),
            pod_ip: ip,
        };
        let spec = process_spec(&pod, &container, &facts, kubeconfig)?;
        let process = self.lab().spawn(node, &spec)?;
        programs.insert(
            key,
            Running {
                kind,
                node: node.into(),
                pod,
                process,
            },
        );
        Ok(())
    }

    /// The container a program runs as (the manifest's, or the one applied to the API server).
    fn container(&self, kind: Kind) -> Container {
        let containers = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        match kind {
            Kind::Controller => containers.0.clone(),
            Kind::Speaker => containers.1.clone(),
        }
    }

    /// How many times the program `key` has been started, counting the one about to start.
    fn generations(&self, key: &str) -> usize {
        let dir = self.lab().dir();
        (1..)
            .find(|g| {
                let name = if *g == 1 {
                    key.to_owned()
                } else {
                    format!("{key}-{g}")
                };
                !dir.join(format!("{name}.log")).exists()
            })
            .unwrap_or(1)
    }

    /// Starts a controller replica on `node` (a new pod name if one ran there before). Does not wait.
    pub fn start_controller(&self, node: &str) -> Result<()> {
        self.start_program(Kind::Controller, node)
    }

    /// Starts `node`'s speaker (a new pod name if one ran there before). Does not wait.
    pub fn start_speaker(&self, node: &str) -> Result<()> {
        self.start_program(Kind::Speaker, node)
    }

    fn with_program<T>(&self, kind: Kind, node: &str, f: impl FnOnce(&Running) -> T) -> Result<T> {
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs
            .get(&System::key(kind, node))
            .map(f)
            .ok_or_else(|| SystemError::Program(format!("{} on {node}: never started", kind.prefix())))
    }

    /// `kill -9` of a program (it is reaped; nothing else happens to the node).
    pub fn kill(&self, kind: Kind, node: &str) -> Result<()> {
        self.with_program(kind, node, |r| r.process.kill().map(drop))?
            .map_err(SystemError::from)
    }

    /// SIGTERM, as Kubernetes stops a pod, then SIGKILL after `grace`.
    pub fn stop(&self, kind: Kind, node: &str, grace: Duration) -> Result<()> {
        self.with_program(kind, node, |r| r.process.stop(grace).map(drop))?
            .map_err(SystemError::from)
    }

    /// Sends `signal` to a program.
    pub fn signal(&self, kind: Kind, node: &str, signal: Signal) -> Result<()> {
        self.with_program(kind, node, |r| r.process.signal(signal))?
            .map_err(SystemError::from)
    }

    /// The node whose controller replica holds the Lease (holder identities start with the pod name).
    pub fn leader_node(&self) -> Option<String> {
        let holder = self.leader()?;
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs
            .values()
            .filter(|r| r.kind == Kind::Controller)
            .find(|r| holder == r.pod || holder.starts_with(&format!("{}_", r.pod)))
            .map(|r| r.node.clone())
    }

    /// Every program started so far (the latest per node and kind).
    pub fn programs(&self) -> Vec<ProgramInfo> {
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs
            .values()
            .map(|r| ProgramInfo {
                kind: r.kind,
                node: r.node.clone(),
                pod: r.pod.clone(),
                pid: r.process.pid(),
                exited: r.process.exit_status().map(|s| s.to_string()),
            })
            .collect()
    }

    pub(super) fn program_names(&self) -> Vec<String> {
        self.programs().into_iter().map(|p| p.pod).collect()
    }

    /// Programs that exited without being told to, with how and the end of their log: a crash check.
    pub fn crashed(&self, expected_down: &[(Kind, &str)]) -> Vec<String> {
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs
            .values()
            .filter(|r| !expected_down.iter().any(|(k, n)| *k == r.kind && *n == r.node))
            .filter_map(|r| {
                r.process.exit_status().map(|s| {
                    format!(
                        "{} exited ({s}): {}",
                        r.pod,
                        r.process.log_tail(8).replace('\n', " | ")
                    )
                })
            })
            .collect()
    }

    /// The manifest's readiness probe of a program answers 200 (from inside its node, as the kubelet probes).
    pub fn is_ready(&self, kind: Kind, node: &str) -> bool {
        self.probe_ok(kind, node, "readinessProbe")
    }

    /// The manifest's probe `probe` (`readinessProbe`, `livenessProbe`) of a program answers 200.
    fn probe_ok(&self, kind: Kind, node: &str, probe: &str) -> bool {
        let container = self.container(kind);
        let Some((path, port)) = container.http_probe(probe) else {
            return false;
        };
        let Ok(host) = self.lab().try_host(node) else {
            return false;
        };
        matches!(
            http_get(host.ns(), SocketAddr::from((host.ipv4(), port)), &path),
            Ok((200, _))
        )
    }

    /// Waits until every running program answers its readiness probe; fails at once if one has exited.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        self.wait_probe("readinessProbe", "ready", timeout)
    }

    /// Waits until every running program answers its liveness probe (ready or not: without a configuration
    /// nothing is ready); fails at once if one has exited.
    pub fn wait_live(&self, timeout: Duration) -> Result<()> {
        self.wait_probe("livenessProbe", "live", timeout)
    }

    fn wait_probe(&self, probe: &str, state: &str, timeout: Duration) -> Result<()> {
        let running: Vec<(Kind, String)> = {
            let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
            programs
                .values()
                .filter(|r| r.process.is_running())
                .map(|r| (r.kind, r.node.clone()))
                .collect()
        };
        for (kind, node) in running {
            let what = format!("{} on {node} to be {state}", kind.prefix());
            self.wait(&what, timeout, || {
                self.with_program(kind, &node, |r| r.process.ensure_running(&what))??;
                Ok(self.probe_ok(kind, &node, probe).then_some(()))
            })?;
        }
        Ok(())
    }

    /// `/metrics` of a program, as text.
    pub fn metrics_text(&self, kind: Kind, node: &str) -> Result<String> {
        let container = self.container(kind);
        let port = container
            .port("metrics")
            .ok_or_else(|| SystemError::Program(format!("{}: no metrics port", container.object)))?;
        let host = self.lab().try_host(node)?;
        match http_get(host.ns(), SocketAddr::from((host.ipv4(), port)), "/metrics") {
            Ok((200, body)) => Ok(body),
            Ok((code, _)) => Err(SystemError::Program(format!(
                "{} on {node}: /metrics answered {code}",
                kind.prefix()
            ))),
            Err(e) => Err(SystemError::Program(format!("{} on {node}: {e}", kind.prefix()))),
        }
    }

    /// The sum of metric `name` over its series (`name` alone matches every label set; `name{a="b"}` one).
    pub fn metric(&self, kind: Kind, node: &str, name: &str) -> Result<f64> {
        Ok(metric_sum(&self.metrics_text(kind, node)?, name))
    }

    /// The last `lines` of every program's log, for failure messages.
    pub fn logs(&self, lines: usize) -> String {
        let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        programs
            .values()
            .map(|r| {
                format!(
                    "--- {} ({})\n{}\n",
                    r.pod,
                    r.process.log_path().display(),
                    r.process.log_tail(lines)
                )
            })
            .collect()
    }

    /// A program's whole log.
    pub fn log(&self, kind: Kind, node: &str) -> Result<String> {
        self.with_program(kind, node, |r| r.process.log())
    }

    /// The node dies: its link is cut and every program on it is killed (`kill -9`).
    pub fn kill_node(&self, node: &str) -> Result<()> {
        self.lab().cut_link(node)?;
        for kind in [Kind::Speaker, Kind::Controller] {
            let running = self
                .with_program(kind, node, |r| r.process.is_running())
                .unwrap_or(false);
            if running {
                self.kill(kind, node)?;
            }
        }
        Ok(())
    }

    /// The node comes back: its link is restored and its programs start again (new pods), ready.
    pub fn revive_node(&self, node: &str) -> Result<()> {
        self.lab().restore_link(node)?;
        let had: Vec<Kind> = {
            let programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
            programs
                .values()
                .filter(|r| r.node == node && !r.process.is_running())
                .map(|r| r.kind)
                .collect()
        };
        for kind in had {
            self.start_program(kind, node)?;
        }
        self.wait_ready(super::READY_TIMEOUT)
    }

    pub(super) fn stop_all_programs(&self) {
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        // speakers first (they withdraw at once), then the controllers; SIGTERM as Kubernetes would
        for kind in [Kind::Speaker, Kind::Controller] {
            for r in programs.values().filter(|r| r.kind == kind) {
                let _ = r.process.stop(Duration::from_secs(3));
            }
        }
        programs.clear();
    }
}

/// The sum of a Prometheus text metric over the series that match `name` (see [`System::metric`]).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            *series == name
                || (!name.contains('{')
                    && series
                        .strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with('{')))
        })
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_series_are_summed_by_name_or_matched_exactly() {
        let text =
            "# HELP x y\nferrolb_a_total{r=\"1\"} 2\nferrolb_a_total{r=\"2\"} 3\nferrolb_ab 7\nferrolb_a 1\n";
        assert_eq!(metric_sum(text, "ferrolb_a_total"), 5.0);
        assert_eq!(metric_sum(text, "ferrolb_a_total{r=\"2\"}"), 3.0);
        assert_eq!(metric_sum(text, "ferrolb_a"), 1.0, "ferrolb_ab is another metric");
        assert_eq!(metric_sum(text, "nothing"), 0.0);
    }
}
