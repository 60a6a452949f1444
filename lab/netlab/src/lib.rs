//! Network-namespace lab: topology, process supervisor, real BGP routers, probes.
//!
//! Test equipment for ferrolb (never shipped): network namespaces as hosts on a Linux bridge, real
//! GoBGP / BIRD / FRR routers, Habets `arping`, `ndisc6`, `curl`, an in-process outage meter and a
//! kube-proxy stand-in. Everything runs as root inside namespaces the lab creates, with
//! documentation prefixes only, and teardown leaves nothing behind.
//!
//! ```no_run
//! use ferrolb_netlab::{BgpConfig, BgpRouter, Lab, RouterKind, Router, Tool, TopologySpec};
//! use std::time::Duration;
//!
//! # fn t() -> ferrolb_netlab::Result<()> {
//! // skips with a visible reason outside CI, fails under CI=true, if root or a tool is missing
//! let Some(lab) = Lab::for_test(TopologySpec::new(3), &[Tool::Arping, Tool::Bird]) else { return Ok(()) };
//! let router = Router::start(RouterKind::Bird, &lab, "router", &BgpConfig::router_for_nodes(&lab, 64512, 64513))?;
//! // … start ferrolb-speaker on the nodes with lab.spawn("node1", …) …
//! router.wait_established(3, Duration::from_secs(10))?;
//! # Ok(()) }
//! ```
//!
//! Modules: [`topology`] (shape and addressing), [`Lab`] (set-up, hosts, teardown), [`supervisor`]
//! (programs in namespaces), [`Netns`] (in-process sockets inside a namespace), [`routers`],
//! [`probes`], [`kubeproxy`], [`faults`], [`prereq`].

#![forbid(unsafe_code)]

pub mod cmd;
mod error;
pub mod faults;
pub mod kubeproxy;
mod lab;
pub mod netns;
pub mod prereq;
pub mod probes;
pub mod routers;
pub mod supervisor;
pub mod topology;
pub mod wait;

pub use cmd::{Cmd, CmdOutput};
pub use error::{LabError, ProcessExit, Result};
pub use faults::Fault;
pub use kubeproxy::{L4Proto, LbService};
pub use lab::{Host, Lab};
pub use netns::Netns;
pub use prereq::Tool;
pub use probes::{Capture, CurlOptions, MacAddr, OutageProbe, ProbeOptions, ProbeProto, ProbeReport};
pub use routers::{
    Announcement, BfdMode, BfdPeer, BfdTimers, BgpConfig, BgpRouter, Bird, Community, Family, Frr, Gobgpd,
    KernelRoute, LargeCommunity, Peer, PeerRange, Rib, RibPath, Router, RouterKind, Session,
};
pub use supervisor::{Process, ProcessSpec, Signal};
pub use topology::{Role, SECOND_INTERFACE, TopologySpec, VIP_V4, VIP_V6};
