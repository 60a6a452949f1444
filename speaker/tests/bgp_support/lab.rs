//! Running ferrolb's BGP speakers inside netlab nodes, in-process: one [`BgpSpeaker`] per node whose sockets
//! are created in that node's network namespace, on one tokio runtime; and the routers they talk to.
//!
//! GoBGP plays the router with graceful restart (helper) enabled ([`GobgpGr`]): netlab's GoBGP configuration
//! has no graceful restart section, BIRD and FRR help by default.

#![allow(dead_code)] // each test binary uses a part

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ferrolb_netlab::prereq::tool_path;
use ferrolb_netlab::routers::{gobgp_config, parse_gobgp_neighbors, parse_gobgp_rib};
use ferrolb_netlab::{
    BgpConfig, BgpRouter, Cmd, CmdOutput, Family, Lab, Netns, Process, ProcessSpec, Rib, Router, RouterKind,
    Session,
};
use ferrolb_speaker::bgp::{BgpMetrics, BgpOptions, BgpSpeaker, PeerStatus, SocketFactory};

/// A multi-threaded runtime for the speakers (the test thread does the blocking lab calls).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sockets (TCP for BGP, UDP for BFD) created inside `ns`.
pub fn netns_factory(ns: Netns) -> SocketFactory {
    SocketFactory::new(move |domain, ty, protocol| {
        ns.socket(domain, ty, protocol)
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
}

/// A speaker for lab node `node` (sessions on `rt`).
pub fn speaker(rt: &tokio::runtime::Runtime, lab: &Lab, node: &str) -> BgpSpeaker {
    let _guard = rt.enter();
    let options = BgpOptions {
        node_name: node.to_string(),
        socket_factory: netns_factory(lab.host(node).ns().clone()),
        ..BgpOptions::default()
    };
    BgpSpeaker::new(options, BgpMetrics::new())
}

/// The node's addresses as the speaker gets them (IPv4 InternalIP first, then IPv6).
pub fn node_addresses(lab: &Lab, node: &str) -> Vec<IpAddr> {
    let h = lab.host(node);
    vec![IpAddr::V4(h.ipv4()), IpAddr::V6(h.ipv6())]
}

/// Waits until every session of `speaker` satisfies `ok`.
pub fn wait_sessions(speaker: &BgpSpeaker, what: &str, within: Duration, ok: impl Fn(&PeerStatus) -> bool) {
    ferrolb_netlab::wait::wait_until(
        what,
        within,
        || Ok(speaker.status()),
        |s| !s.is_empty() && s.values().all(&ok),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// gobgpd as router with graceful restart helper mode on every neighbour and family.
#[derive(Debug)]
pub struct GobgpGr {
    socket: PathBuf,
    process: Process,
}

/// netlab's gobgpd configuration plus graceful restart (helper only) for each neighbour and family.
pub fn with_graceful_restart(toml: &str) -> String {
    let mut out = String::new();
    let mut in_neighbor_afi = false;
    for line in toml.lines() {
        if line == "  [neighbors.timers.config]" {
            out.push_str(
                "  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n    helper-only = true\n",
            );
        }
        out.push_str(line);
        out.push('\n');
        if line == "    [neighbors.afi-safis.config]" {
            in_neighbor_afi = true;
        } else if in_neighbor_afi && line.trim_start().starts_with("afi-safi-name") {
            out.push_str("    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n");
            in_neighbor_afi = false;
        }
    }
    out
}

impl GobgpGr {
    pub fn start(lab: &Lab, host: &str, cfg: &BgpConfig) -> ferrolb_netlab::Result<GobgpGr> {
        let conf = lab.dir().join(format!("{host}-gobgpd-gr.toml"));
        std::fs::write(&conf, with_graceful_restart(&gobgp_config(cfg)?))
            .map_err(|e| ferrolb_netlab::LabError::io("writing the gobgpd config", e))?;
        let socket = lab.dir().join(format!("{host}-gobgpd-gr.sock"));
        let spec = ProcessSpec::new(format!("{host}-gobgpd-gr"), tool_path("gobgpd"))
            .arg("-f")
            .arg(&conf)
            .args(["-p", "--pprof-disable", "-l", "info"])
            .arg(format!("--api-hosts=unix://{}", socket.display()));
        let process = lab.spawn(host, &spec)?;
        let g = GobgpGr { socket, process };
        g.process
            .wait_ready("gobgpd's API", Duration::from_secs(10), || {
                g.cli(&["global"]).is_ok_and(|o| o.success())
            })?;
        Ok(g)
    }

    pub fn cli(&self, args: &[&str]) -> ferrolb_netlab::Result<CmdOutput> {
        Cmd::new(tool_path("gobgp"))
            .arg(format!("--target=unix://{}", self.socket.display()))
            .args(args)
            .output()
    }

    pub fn process(&self) -> &Process {
        &self.process
    }
}

impl BgpRouter for GobgpGr {
    fn kind(&self) -> RouterKind {
        RouterKind::Gobgp
    }

    fn sessions(&self) -> ferrolb_netlab::Result<Vec<Session>> {
        self.process.ensure_running("gobgpd sessions")?;
        parse_gobgp_neighbors(&self.cli(&["-j", "neighbor"])?.ok()?.stdout)
    }

    fn rib(&self, family: Family) -> ferrolb_netlab::Result<Rib> {
        let fam = if family == Family::Ipv4 { "ipv4" } else { "ipv6" };
        parse_gobgp_rib(&self.cli(&["-j", "global", "rib", "-a", fam])?.ok()?.stdout)
    }
}

/// The router of a test: GoBGP with graceful restart, or netlab's BIRD / FRR.
#[derive(Debug)]
pub enum TestRouter {
    Gobgp(GobgpGr),
    Other(Router),
}

impl TestRouter {
    pub fn start(kind: RouterKind, lab: &Lab, cfg: &BgpConfig) -> TestRouter {
        match kind {
            RouterKind::Gobgp => TestRouter::Gobgp(GobgpGr::start(lab, "router", cfg).expect("gobgpd")),
            _ => TestRouter::Other(Router::start(kind, lab, "router", cfg).expect("router")),
        }
    }

    /// Whether the router installs routes in its kernel (BIRD, FRR).
    pub fn installs_routes(&self) -> bool {
        !matches!(self, TestRouter::Gobgp(_))
    }
}

impl BgpRouter for TestRouter {
    fn kind(&self) -> RouterKind {
        match self {
            TestRouter::Gobgp(r) => r.kind(),
            TestRouter::Other(r) => r.kind(),
        }
    }

    fn sessions(&self) -> ferrolb_netlab::Result<Vec<Session>> {
        match self {
            TestRouter::Gobgp(r) => r.sessions(),
            TestRouter::Other(r) => r.sessions(),
        }
    }

    fn rib(&self, family: Family) -> ferrolb_netlab::Result<Rib> {
        match self {
            TestRouter::Gobgp(r) => r.rib(family),
            TestRouter::Other(r) => r.rib(family),
        }
    }
}
