//! BFD in BGP mode against real routers: BIRD 2 (`protocol bfd`, `bfd on`) and FRR 8.4 (bfdd,
//! `neighbor … bfd`), over IPv4 and IPv6 sessions.

mod bgp_support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_support::lab::{node_addresses, runtime, speaker};
use bgp_support::{advertisement, peer};
use ferrolb_config::BfdProfile;
use ferrolb_netlab::{
    BfdTimers, BgpConfig, BgpRouter, Lab, Peer, Router, RouterKind, TopologySpec, VIP_V4, VIP_V6,
};
use ferrolb_speaker::bgp::{BgpSpeaker, BgpTarget};
use ipnet::IpNet;

const WAIT: Duration = Duration::from_secs(15);
const ROUTER_AS: u32 = 64512;
const NODE_AS: u32 = 64513;

mod hard_loss {
    #[test]
    fn bird() {
        super::hard_loss(ferrolb_netlab::RouterKind::Bird);
    }
    #[test]
    fn frr() {
        super::hard_loss(ferrolb_netlab::RouterKind::Frr);
    }
}

fn profile(ms: u32, multiplier: u32) -> BfdProfile {
    BfdProfile {
        receive_interval_ms: ms,
        transmit_interval_ms: ms,
        detect_multiplier: multiplier,
        ..BfdProfile::with_defaults("fast")
    }
}

/// The router: a BFD + BGP neighbour per node address (IPv4, and IPv6 when asked).
fn router(kind: RouterKind, lab: &Lab, ipv6: bool, timers: BfdTimers) -> Router {
    let mut cfg = BgpConfig::new(ROUTER_AS, lab.router().ipv4()).bfd(timers);
    for n in lab.nodes() {
        cfg = cfg.peer(Peer::new(IpAddr::V4(n.ipv4()), NODE_AS).passive().bfd());
        if ipv6 {
            cfg = cfg.peer(Peer::new(IpAddr::V6(n.ipv6()), NODE_AS).passive().bfd());
        }
    }
    Router::start(kind, lab, "router", &cfg).expect("router")
}

/// `node`'s target: the router's IPv4 (and IPv6) address with `profile`, the VIPs.
fn target(lab: &Lab, node: &str, ipv6: bool, profile: &BfdProfile) -> BgpTarget {
    let mut peers = Vec::new();
    let mut v4 = peer(
        SocketAddr::new(IpAddr::V4(lab.router().ipv4()), 179),
        ROUTER_AS,
        NODE_AS,
    );
    v4.bfd_profile = Some(profile.name.clone());
    peers.push(v4);
    let mut ips = vec![IpAddr::V4(VIP_V4)];
    if ipv6 {
        let mut v6 = peer(
            SocketAddr::new(IpAddr::V6(lab.router().ipv6()), 179),
            ROUTER_AS,
            NODE_AS,
        );
        v6.name = "peer2".into();
        v6.bfd_profile = Some(profile.name.clone());
        peers.push(v6);
        ips.push(IpAddr::V6(VIP_V6));
    }
    BgpTarget {
        node_addresses: node_addresses(lab, node),
        peers,
        prefixes: ips
            .into_iter()
            .map(|ip| (ip, vec![advertisement(None, &[])]))
            .collect(),
        bfd_profiles: [(profile.name.clone(), profile.clone())].into(),
    }
}

fn node_ips(lab: &Lab, ipv6: bool, except: Option<&str>) -> BTreeSet<IpAddr> {
    lab.nodes()
        .filter(|n| Some(n.name()) != except)
        .map(|n| n.addr(ipv6))
        .collect()
}

fn hard_loss(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(3), &[kind.tool()]) else {
        return;
    };
    let router = router(kind, &lab, true, BfdTimers::new(100, 3));
    let rt = runtime();
    let p = profile(100, 3);
    let start = Instant::now();
    let mut speakers: Vec<Option<BgpSpeaker>> = lab
        .nodes()
        .map(|n| {
            let mut s = speaker(&rt, &lab, n.name());
            s.set(&target(&lab, n.name(), true, &p));
            Some(s)
        })
        .collect();
    router.wait_established(6, WAIT).unwrap();
    for ip in node_ips(&lab, false, None)
        .into_iter()
        .chain(node_ips(&lab, true, None))
    {
        router.wait_bfd(ip, WAIT, |b| b.up).unwrap();
    }
    println!(
        "{kind:?}: 6 BFD and BGP sessions up in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    for v6 in [false, true] {
        let vip = if v6 {
            IpAddr::V6(VIP_V6)
        } else {
            IpAddr::V4(VIP_V4)
        };
        let r = lab
            .wait_kernel_next_hops("router", IpNet::from(vip), 3, WAIT)
            .unwrap()
            .unwrap();
        assert_eq!(
            r.next_hops.iter().copied().collect::<BTreeSet<_>>(),
            node_ips(&lab, v6, None)
        );
    }
    // node1 dies hard: its link goes, then its speaker (no FIN, no NOTIFICATION, no AdminDown reaches the router)
    let t0 = Instant::now();
    lab.cut_link("node1").unwrap();
    drop(speakers[0].take());
    for v6 in [false, true] {
        let vip = if v6 {
            IpAddr::V6(VIP_V6)
        } else {
            IpAddr::V4(VIP_V4)
        };
        let r = lab
            .wait_kernel_next_hops("router", IpNet::from(vip), 2, WAIT)
            .unwrap()
            .unwrap();
        println!(
            "{kind:?}: {vip} lost node1's next hop after {:.3} s",
            t0.elapsed().as_secs_f64()
        );
        assert_eq!(
            r.next_hops.iter().copied().collect::<BTreeSet<_>>(),
            node_ips(&lab, v6, Some("node1")),
            "exactly node1's next hop is gone"
        );
    }
    drop(speakers);
}
