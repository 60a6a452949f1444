//! Lab self-tests for BGP with stand-in speakers (gobgpd on each node): GoBGP, BIRD and FRR as the
//! router each establish sessions and show the VIP /32 from every node with its communities; BIRD
//! and FRR install it in the router's kernel table as ECMP, and `ext` reaches several nodes
//! through it. IPv6 over an IPv6 session and TCP MD5 are covered too.

mod common;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::timing;
use ferrolb_netlab::topology::{SEGMENT_V4, SEGMENT_V6};
use ferrolb_netlab::{
    Announcement, BgpConfig, BgpRouter, Community, Family, Gobgpd, Lab, LargeCommunity, LbService, Peer,
    PeerRange, Router, RouterKind, Tool, TopologySpec, VIP_V4, VIP_V6,
};
use ipnet::IpNet;

const ROUTER_AS: u32 = 64512;
const NODE_AS: u32 = 64513;
/// GoBGP's first dial waits 5–9 s; BIRD and FRR dial within about a second.
const SESSION_TIMEOUT: Duration = Duration::from_secs(20);
const ROUTE_TIMEOUT: Duration = Duration::from_secs(5);

fn vip4() -> IpNet {
    IpNet::from(IpAddr::V4(VIP_V4))
}

fn vip6() -> IpNet {
    IpNet::from(IpAddr::V6(VIP_V6))
}

/// Starts a gobgpd stand-in speaker on every node; node1 also has an IPv6 session; `password`
/// protects node2's IPv4 session.
fn start_speakers(lab: &Lab, password: Option<&str>) -> Vec<Gobgpd> {
    lab.nodes()
        .map(|node| {
            let mut cfg = BgpConfig::new(NODE_AS, node.ipv4());
            let mut v4 = Peer::new(IpAddr::V4(lab.router().ipv4()), ROUTER_AS);
            if let (Some(pw), "node2") = (password, node.name()) {
                v4 = v4.password(pw);
            }
            cfg = cfg.peer(v4);
            if node.name() == "node1" {
                cfg = cfg.peer(Peer::new(IpAddr::V6(lab.router().ipv6()), ROUTER_AS));
            }
            Gobgpd::start(lab, node.name(), &cfg).expect("stand-in speaker")
        })
        .collect()
}

/// Each speaker advertises the VIP /32 with community 64513:<i>; node1 adds a large community and
/// the IPv6 VIP with its own IPv6 next hop.
fn announce(lab: &Lab, speakers: &[Gobgpd]) {
    for (i, s) in speakers.iter().enumerate() {
        let n = u16::try_from(i + 1).unwrap();
        let mut a = Announcement::new(vip4());
        a.communities = vec![Community::new(64513, n)];
        if n == 1 {
            a.large_communities = vec![LargeCommunity::new(64513, 1, 2)];
            let mut v6 = Announcement::new(vip6());
            v6.next_hop = Some(IpAddr::V6(lab.node(1).ipv6()));
            s.announce(&v6).unwrap();
        }
        s.announce(&a).unwrap();
    }
}

/// The RIB checks every router must pass.
fn check_rib(lab: &Lab, router: &impl BgpRouter) {
    let paths = router
        .wait_route(vip4(), ROUTE_TIMEOUT, |p| p.len() == 3)
        .unwrap();
    let hops: BTreeSet<IpAddr> = paths.iter().filter_map(|p| p.next_hop).collect();
    let nodes: BTreeSet<IpAddr> = lab.nodes().map(|n| IpAddr::V4(n.ipv4())).collect();
    assert_eq!(hops, nodes, "one path per node");
    for p in &paths {
        assert_eq!(p.as_path, [NODE_AS]);
        let node = lab
            .nodes()
            .position(|n| Some(IpAddr::V4(n.ipv4())) == p.next_hop)
            .unwrap()
            + 1;
        assert_eq!(
            p.communities,
            [Community::new(64513, u16::try_from(node).unwrap())],
            "{p:?}"
        );
        assert_eq!(p.peer, p.next_hop, "{p:?}");
        let large = if node == 1 {
            vec![LargeCommunity::new(64513, 1, 2)]
        } else {
            vec![]
        };
        assert_eq!(p.large_communities, large);
    }
    assert_eq!(paths.iter().filter(|p| p.best).count(), 1);
    let v6 = router
        .wait_route(vip6(), ROUTE_TIMEOUT, |p| p.len() == 1)
        .unwrap();
    assert_eq!(
        v6[0].next_hop,
        Some(IpAddr::V6(lab.node(1).ipv6())),
        "IPv6 next hop over the IPv6 session"
    );
    assert!(router.rib(Family::Ipv4).unwrap().contains(&vip4()));
}

/// `ext` curls the VIP through the router's ECMP route: several nodes answer.
fn check_datapath(lab: &Lab) {
    lab.add_service(&LbService::tcp("web", IpAddr::V4(VIP_V4), 80, 30080))
        .unwrap();
    let url = ferrolb_netlab::probes::http_url(IpAddr::V4(VIP_V4), 80);
    let answers: BTreeSet<String> = (0..12).map(|_| lab.curl("ext", &url).unwrap()).collect();
    let nodes: BTreeSet<String> = lab.nodes().map(|n| n.name().to_string()).collect();
    assert!(answers.is_subset(&nodes), "{answers:?}");
    assert!(
        answers.len() >= 2,
        "ECMP spreads ext's connections over nodes: {answers:?}"
    );
}

#[test]
fn gobgp_router_learns_the_vip_from_every_node() {
    let Some(lab) = Lab::for_test(TopologySpec::new(3), &[Tool::Gobgp]) else {
        return;
    };
    // passive dynamic neighbours for the whole segment: the speakers dial
    let cfg = BgpConfig::new(ROUTER_AS, lab.router().ipv4())
        .range(PeerRange::new(IpNet::V4(SEGMENT_V4), NODE_AS))
        .range(PeerRange::new(IpNet::V6(SEGMENT_V6), NODE_AS));
    let start = Instant::now();
    let router = Router::start(RouterKind::Gobgp, &lab, "router", &cfg).unwrap();
    let speakers = start_speakers(&lab, None);
    announce(&lab, &speakers);
    router.wait_established(4, SESSION_TIMEOUT).unwrap();
    timing(
        "GoBGP router: 4 sessions established (GoBGP's first dial waits 5-9 s)",
        start.elapsed(),
    );
    check_rib(&lab, &router);
    assert!(
        lab.kernel_route("router", vip4()).unwrap().is_none(),
        "gobgpd does not touch the FIB"
    );

    speakers[2].withdraw(vip4()).unwrap();
    router
        .wait_route(vip4(), ROUTE_TIMEOUT, |p| p.len() == 2)
        .unwrap();
    router.stop().unwrap();
}

#[test]
fn bird_router_installs_ecmp_and_honours_md5() {
    let Some(lab) = Lab::for_test(
        TopologySpec::new(3),
        &[Tool::Gobgp, Tool::Bird, Tool::Curl, Tool::Nft],
    ) else {
        return;
    };
    let mut cfg = BgpConfig::router_for_nodes(&lab, ROUTER_AS, NODE_AS);
    cfg.peers[1] = cfg.peers[1].clone().password("s3cret");
    cfg = cfg.peer(Peer::new(IpAddr::V6(lab.node(1).ipv6()), NODE_AS));
    let speakers = start_speakers(&lab, Some("s3cret"));
    announce(&lab, &speakers);
    let start = Instant::now();
    let router = Router::start(RouterKind::Bird, &lab, "router", &cfg).unwrap();
    router.wait_established(4, SESSION_TIMEOUT).unwrap();
    timing(
        "BIRD router: 4 sessions established (one with TCP MD5)",
        start.elapsed(),
    );
    check_rib(&lab, &router);
    let route = lab
        .wait_kernel_next_hops("router", vip4(), 3, ROUTE_TIMEOUT)
        .unwrap()
        .unwrap();
    assert_eq!(route.protocol.as_deref(), Some("bird"));
    lab.wait_kernel_next_hops("router", vip6(), 1, ROUTE_TIMEOUT)
        .unwrap();
    check_datapath(&lab);

    // a speaker killed by PID: its session drops at once and its path leaves the FIB
    let start = Instant::now();
    speakers[1].process().kill().unwrap();
    lab.wait_kernel_next_hops("router", vip4(), 2, ROUTE_TIMEOUT)
        .unwrap();
    timing(
        "BIRD router: speaker SIGKILL to ECMP route shrunk",
        start.elapsed(),
    );
}

#[test]
fn frr_router_installs_ecmp() {
    let Some(lab) = Lab::for_test(
        TopologySpec::new(3),
        &[Tool::Gobgp, Tool::Frr, Tool::Curl, Tool::Nft],
    ) else {
        return;
    };
    let mut cfg = BgpConfig::router_for_nodes(&lab, ROUTER_AS, NODE_AS)
        .peer(Peer::new(IpAddr::V6(lab.node(1).ipv6()), NODE_AS));
    cfg.peers[2] = cfg.peers[2].clone().hold_time(30);
    let speakers = start_speakers(&lab, None);
    announce(&lab, &speakers);
    let start = Instant::now();
    let router = Router::start(RouterKind::Frr, &lab, "router", &cfg).unwrap();
    router.wait_established(4, SESSION_TIMEOUT).unwrap();
    timing("FRR router: 4 sessions established", start.elapsed());
    check_rib(&lab, &router);
    let route = lab
        .wait_kernel_next_hops("router", vip4(), 3, ROUTE_TIMEOUT)
        .unwrap()
        .unwrap();
    assert_eq!(route.protocol.as_deref(), Some("bgp"));
    lab.wait_kernel_next_hops("router", vip6(), 1, ROUTE_TIMEOUT)
        .unwrap();
    check_datapath(&lab);

    speakers[0].withdraw(vip4()).unwrap();
    lab.wait_kernel_next_hops("router", vip4(), 2, ROUTE_TIMEOUT)
        .unwrap();
    router.stop().unwrap();
}

/// iBGP on non-standard ports: the router listens on 1790 and dials the speaker on 1791; every
/// router reports the speaker's LOCAL_PREF and an empty AS path.
fn ibgp_on_custom_ports(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(1), &[Tool::Gobgp, kind.tool()]) else {
        return;
    };
    let node = lab.node(1);
    let mut router_cfg = BgpConfig::new(ROUTER_AS, lab.router().ipv4())
        .peer(Peer::new(IpAddr::V4(node.ipv4()), ROUTER_AS).port(1791));
    router_cfg.listen_port = Some(1790);
    let mut speaker_cfg = BgpConfig::new(ROUTER_AS, node.ipv4())
        .peer(Peer::new(IpAddr::V4(lab.router().ipv4()), ROUTER_AS).port(1790));
    speaker_cfg.listen_port = Some(1791);
    let speaker = Gobgpd::start(&lab, "node1", &speaker_cfg).unwrap();
    let mut a = Announcement::new(vip4());
    a.local_pref = Some(200);
    a.communities = vec![Community::NO_EXPORT];
    speaker.announce(&a).unwrap();
    let start = Instant::now();
    let router = Router::start(kind, &lab, "router", &router_cfg).unwrap();
    router
        .wait_peer_established(IpAddr::V4(node.ipv4()), SESSION_TIMEOUT)
        .unwrap();
    timing(
        &format!("{kind:?} router: iBGP session on ports 1790/1791"),
        start.elapsed(),
    );
    let paths = router
        .wait_route(vip4(), ROUTE_TIMEOUT, |p| p.len() == 1)
        .unwrap();
    assert_eq!(paths[0].local_pref, Some(200), "{kind:?}: {:?}", paths[0]);
    assert!(paths[0].as_path.is_empty(), "iBGP: {:?}", paths[0]);
    assert_eq!(paths[0].communities, [Community::NO_EXPORT]);
    assert_eq!(paths[0].next_hop, Some(IpAddr::V4(node.ipv4())));
}

#[test]
fn ibgp_on_custom_ports_gobgp() {
    ibgp_on_custom_ports(RouterKind::Gobgp);
}

#[test]
fn ibgp_on_custom_ports_bird() {
    ibgp_on_custom_ports(RouterKind::Bird);
}

#[test]
fn ibgp_on_custom_ports_frr() {
    ibgp_on_custom_ports(RouterKind::Frr);
}
