//! Helpers of the BFD lab tests and bench: routers with BFD neighbours, targets with a BFD profile, reading
//! a speaker's metrics, and watching that BGP never comes up without BFD.

#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrolb_config::BfdProfile;
use ferrolb_netlab::wait::wait_until;
use ferrolb_netlab::{
    BfdTimers, BgpConfig, BgpRouter, Family, Lab, Peer, Router, RouterKind, VIP_V4, VIP_V6,
};
use ferrolb_proto::bgp::State;
use ferrolb_speaker::bfd::BfdKey;
use ferrolb_speaker::bgp::{BgpSpeaker, BgpTarget};
use prometheus_client::registry::Registry;

use crate::bgp_support::lab::{node_addresses, speaker};
use crate::bgp_support::{advertisement, peer};
use ipnet::IpNet;

pub const ROUTER_AS: u32 = 64512;
pub const NODE_AS: u32 = 64513;

/// A profile `ms` × `multiplier` named `fast`.
pub fn profile(ms: u32, multiplier: u32) -> BfdProfile {
    BfdProfile {
        receive_interval_ms: ms,
        transmit_interval_ms: ms,
        detect_multiplier: multiplier,
        ..BfdProfile::with_defaults("fast")
    }
}

/// Which sessions a test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// One IPv4 session per node.
    Ipv4,
    /// One IPv4 and one IPv6 session per node.
    Both,
    /// One IPv4 session per node carrying both families (`dualStackAddressFamily`).
    DualStack,
}

/// The router's passive neighbours, one per node address of `sessions`, with BFD unless `without_bfd` names
/// the node. Each names the router's own address of its family (FRR's `update-source`): without it FRR's
/// bfdd replaces its BFD session once BGP comes up and learns the address, which the node sees as a BFD
/// failure (docs/config.md).
pub fn router_config(lab: &Lab, sessions: Sessions, timers: BfdTimers, without_bfd: &[&str]) -> BgpConfig {
    let mut cfg = BgpConfig::new(ROUTER_AS, lab.router().ipv4()).bfd(timers);
    for n in lab.nodes() {
        let bfd = !without_bfd.contains(&n.name());
        let with = |p: Peer| {
            let local = lab.router().addr(p.address.is_ipv6());
            if bfd { p.bfd().local(local) } else { p }
        };
        let mut v4 = with(Peer::new(IpAddr::V4(n.ipv4()), NODE_AS).passive());
        if sessions == Sessions::DualStack {
            v4 = v4.families(&[Family::Ipv4, Family::Ipv6]);
        }
        cfg = cfg.peer(v4);
        if sessions == Sessions::Both {
            cfg = cfg.peer(with(Peer::new(IpAddr::V6(n.ipv6()), NODE_AS).passive()));
        }
    }
    cfg
}

/// Starts the router.
pub fn start_router(kind: RouterKind, lab: &Lab, cfg: &BgpConfig) -> Router {
    Router::start(kind, lab, "router", cfg).expect("router")
}

/// The router's BGP address of a family.
pub fn router_addr(lab: &Lab, ipv6: bool) -> SocketAddr {
    SocketAddr::new(lab.router().addr(ipv6), 179)
}

/// `node`'s target: sessions to the router as `sessions` says, with `profile` (none: no BFD), both VIPs.
pub fn target(lab: &Lab, node: &str, sessions: Sessions, profile: Option<&BfdProfile>) -> BgpTarget {
    let mut v4 = peer(router_addr(lab, false), ROUTER_AS, NODE_AS);
    v4.bfd_profile = profile.map(|p| p.name.clone());
    v4.dual_stack_address_family = sessions == Sessions::DualStack;
    let mut peers = vec![v4];
    if sessions == Sessions::Both {
        let mut v6 = peer(router_addr(lab, true), ROUTER_AS, NODE_AS);
        v6.name = "peer2".into();
        v6.bfd_profile = profile.map(|p| p.name.clone());
        peers.push(v6);
    }
    BgpTarget {
        node_addresses: node_addresses(lab, node),
        peers,
        prefixes: [IpAddr::V4(VIP_V4), IpAddr::V6(VIP_V6)]
            .into_iter()
            .map(|ip| (ip, vec![advertisement(None, &[])]))
            .collect(),
        bfd_profiles: profile.map(|p| (p.name.clone(), p.clone())).into_iter().collect(),
    }
}

/// The nodes' addresses of a family, but `except`.
pub fn node_ips(lab: &Lab, ipv6: bool, except: Option<&str>) -> BTreeSet<IpAddr> {
    lab.nodes()
        .filter(|n| Some(n.name()) != except)
        .map(|n| n.addr(ipv6))
        .collect()
}

/// The single-hop BFD session with the router's address of a family.
pub fn bfd_key(lab: &Lab, ipv6: bool) -> BfdKey {
    BfdKey {
        peer: lab.router().addr(ipv6),
        multihop: false,
    }
}

/// How many times, at most, a router makes a new BFD session fail right after the first BGP connection:
/// FRR 8.4 registers its BFD session for a BGP neighbour before it knows its own address and interface, and
/// replaces it once the first BGP connection tells it (bfdd deletes the session, sending Down with
/// diagnostic 3, and starts a new one with a new discriminator). The speaker takes that Down as the failure it
/// signals and restarts BGP: once, or twice when the new session's first packet overtakes the old one's
/// last. BIRD: never.
pub fn max_start_flaps(kind: RouterKind) -> u64 {
    match kind {
        RouterKind::Frr => 2,
        RouterKind::Bird | RouterKind::Gobgp => 0,
    }
}

/// The speaker's metrics as Prometheus text.
pub fn metrics_text(speaker: &BgpSpeaker) -> String {
    let mut registry = Registry::with_prefix("ferrolb_speaker");
    speaker.metrics().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text
}

/// The value of the first series of `metrics` whose line starts with `series` (0 if absent).
pub fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Every time the BGP session with `peer` became Established while its BFD session was not Up (watched
/// from `rt` until the speaker goes away). Must stay empty.
pub fn watch_bgp_needs_bfd(
    rt: &tokio::runtime::Runtime,
    speaker: &BgpSpeaker,
    peer: SocketAddr,
    key: BfdKey,
) -> Arc<Mutex<Vec<String>>> {
    let violations = Arc::new(Mutex::new(Vec::new()));
    let mut bgp = speaker.watch_peer(peer).expect("a BGP session");
    let bfd = speaker.watch_bfd(&key).expect("a BFD session");
    let out = violations.clone();
    rt.spawn(async move {
        let mut was = State::Idle;
        while bgp.changed().await.is_ok() {
            let state = bgp.borrow_and_update().state;
            if state == State::Established && was != State::Established && !bfd.borrow().is_up() {
                out.lock()
                    .unwrap()
                    .push(format!("{peer}: Established with BFD {:?}", *bfd.borrow()));
            }
            was = state;
        }
    });
    violations
}

/// How long the helpers wait for a state.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn vip(ipv6: bool) -> IpNet {
    IpNet::from(if ipv6 {
        IpAddr::V6(VIP_V6)
    } else {
        IpAddr::V4(VIP_V4)
    })
}

pub fn hops(lab: &Lab, ipv6: bool, count: usize) -> BTreeSet<IpAddr> {
    let r = lab
        .wait_kernel_next_hops("router", vip(ipv6), count, WAIT)
        .unwrap();
    r.map(|r| r.next_hops.into_iter().collect()).unwrap_or_default()
}

/// One speaker per node with `sessions` and `p`, everything up (BGP on both sides, BFD on the router's)
/// and settled: the router's start-up flaps ([`max_start_flaps`]) are over.
pub fn start_all(
    rt: &tokio::runtime::Runtime,
    lab: &Lab,
    router: &Router,
    sessions: Sessions,
    p: &ferrolb_config::BfdProfile,
) -> Vec<Option<BgpSpeaker>> {
    let per_node = if sessions == Sessions::Both { 2 } else { 1 };
    start_all_with(rt, lab, router, per_node, true, |node| {
        target(lab, node, sessions, Some(p))
    })
}

/// One speaker per node with the target `make` gives it, `per_node` BGP sessions each, everything up and
/// settled (see [`start_all`]; `bfd`: the sessions run BFD).
pub fn start_all_with(
    rt: &tokio::runtime::Runtime,
    lab: &Lab,
    router: &Router,
    per_node: usize,
    bfd: bool,
    make: impl Fn(&str) -> BgpTarget,
) -> Vec<Option<BgpSpeaker>> {
    let speakers: Vec<Option<BgpSpeaker>> = lab
        .nodes()
        .map(|n| {
            let mut s = speaker(rt, lab, n.name());
            s.set(&make(n.name()));
            Some(s)
        })
        .collect();
    router
        .wait_established(per_node * lab.nodes().count(), WAIT)
        .unwrap();
    // FRR replaces its BFD session for a neighbour once the first BGP connection tells it its own address
    // and interface ([`max_start_flaps`]); the replacement comes Up a second after, when everything it
    // disturbed (a BGP reset on either side) is over
    let settled =
        |b: &ferrolb_netlab::BfdPeer| b.up && (router.kind() != RouterKind::Frr || b.local.is_some());
    for ipv6 in [false, true].into_iter().take(if bfd { per_node } else { 0 }) {
        for ip in node_ips(lab, ipv6, None) {
            router.wait_bfd(ip, WAIT, settled).unwrap();
        }
    }
    let max = max_start_flaps(router.kind());
    for s in speakers.iter().flatten() {
        wait_until(
            "BGP and BFD settled",
            WAIT,
            || Ok((s.status(), s.bfd_status())),
            |(bgp, bfd)| {
                bgp.values().all(|st| st.state == State::Established)
                    && bfd.values().all(|b| b.is_up() && b.failures <= max)
            },
        )
        .unwrap();
    }
    router
        .wait_established(per_node * lab.nodes().count(), WAIT)
        .unwrap();
    speakers
}

/// BFD failures of every session of `s`.
pub fn failures(s: &BgpSpeaker) -> u64 {
    s.bfd_status().values().map(|st| st.failures).sum()
}
