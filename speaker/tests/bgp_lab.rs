//! BGP mode against real routers in the lab: GoBGP 3.10, BIRD 2 and FRR 8.4, each running every scenario.
//!
//! ferrolb's speakers run in-process, one per lab node, their sockets inside the node's namespace; they dial,
//! the routers are passive (so GoBGP's slow first dial never matters). Each scenario reads the router's own
//! RIB (and, for BIRD and FRR, its kernel table and the data path from `ext` through the VIP):
//!
//! - `advertising`: eBGP with 4-byte ASNs over IPv4 and IPv6 sessions (one with TCP MD5): the VIPs arrive
//!   from every node with the right next hops, AS path, communities and large communities, an aggregated
//!   pool prefix too; ECMP in the router's kernel and `ext` reaching several nodes through the VIP (IPv4 and
//!   IPv6); withdrawal when Local endpoints go away and when the Service is deleted.
//! - `ibgp`: LOCAL_PREF and an empty AS path on iBGP (2-byte ASN); a wrong MD5 password never comes up and
//!   does not disturb the other node; fixing it resets only that session.
//! - `graceful_restart`: every speaker dies (no NOTIFICATION): the router keeps the routes (and `ext` its
//!   traffic) until the speakers are back and have sent End-of-RIB; a clean shutdown then withdraws at once.

mod bgp_support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_support::lab::{TestRouter, node_addresses, runtime, speaker, wait_sessions, with_graceful_restart};
use bgp_support::{advertisement, peer};
use ferrolb_config::BgpAdvertisement;
use ferrolb_netlab::probes::http_url;
use ferrolb_netlab::{
    BgpConfig, BgpRouter, Community, Family, Lab, LargeCommunity, LbService, Peer, ProbeOptions, ProbeProto,
    RibPath, RouterKind, Tool, TopologySpec, VIP_V4, VIP_V6,
};
use ferrolb_proto::bgp::State;
use ferrolb_speaker::bgp::{BgpSpeaker, BgpTarget};
use ipnet::IpNet;

/// Sessions come up within a second or two (the speakers dial); generous for a loaded CI machine.
const SESSION_TIMEOUT: Duration = Duration::from_secs(15);
const ROUTE_TIMEOUT: Duration = Duration::from_secs(5);
/// A service IP of a bgp-only pool, advertised aggregated as 203.0.113.0/24.
const POOL_IP: &str = "203.0.113.10";

macro_rules! per_router {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn gobgp() {
                super::$scenario(ferrolb_netlab::RouterKind::Gobgp);
            }
            #[test]
            fn bird() {
                super::$scenario(ferrolb_netlab::RouterKind::Bird);
            }
            #[test]
            fn frr() {
                super::$scenario(ferrolb_netlab::RouterKind::Frr);
            }
        }
    )*};
}

per_router!(advertising, ibgp, graceful_restart);

fn host(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

fn timing(kind: RouterKind, what: &str, since: Instant) {
    println!("TIMING {kind:?}: {what}: {:.2} s", since.elapsed().as_secs_f64());
}

fn tools(kind: RouterKind) -> Vec<Tool> {
    let mut t = vec![kind.tool()];
    if kind != RouterKind::Gobgp {
        t.extend([Tool::Curl, Tool::Nft]);
    }
    t
}

/// The router's passive neighbour for each node address.
fn router_config(
    lab: &Lab,
    asn: u32,
    node_asn: u32,
    ipv6: bool,
    password: impl Fn(&str) -> Option<&'static str>,
) -> BgpConfig {
    let mut cfg = BgpConfig::new(asn, lab.router().ipv4());
    for node in lab.nodes() {
        let mut v4 = Peer::new(IpAddr::V4(node.ipv4()), node_asn).passive();
        if let Some(pw) = password(node.name()) {
            v4 = v4.password(pw);
        }
        cfg = cfg.peer(v4);
        if ipv6 {
            cfg = cfg.peer(Peer::new(IpAddr::V6(node.ipv6()), node_asn).passive());
        }
    }
    cfg
}

/// A target for `node`: sessions to the router's IPv4 (and IPv6) address, these prefixes.
fn target(
    lab: &Lab,
    node: &str,
    peers: Vec<ferrolb_config::Peer>,
    prefixes: &[(IpAddr, BgpAdvertisement)],
) -> BgpTarget {
    BgpTarget {
        node_addresses: node_addresses(lab, node),
        peers,
        prefixes: prefixes.iter().map(|(ip, a)| (*ip, vec![a.clone()])).collect(),
        ..BgpTarget::default()
    }
}

fn next_hops(paths: &[RibPath]) -> BTreeSet<IpAddr> {
    paths.iter().filter_map(|p| p.next_hop).collect()
}

fn node_ips(lab: &Lab, ipv6: bool) -> BTreeSet<IpAddr> {
    lab.nodes().map(|n| n.addr(ipv6)).collect()
}

fn advertising(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(3), &tools(kind)) else {
        return;
    };
    const ROUTER_AS: u32 = 4_200_000_000;
    const NODE_AS: u32 = 4_200_000_001;
    let md5 = |node: &str| (node == "node2").then_some("s3cret");
    let router = TestRouter::start(kind, &lab, &router_config(&lab, ROUTER_AS, NODE_AS, true, md5));
    let rt = runtime();
    let start = Instant::now();

    let vip_adv = advertisement(None, &["64513:100", "large:4200000001:7:8"]);
    let pool_adv = BgpAdvertisement {
        aggregation_length: 24,
        ..advertisement(None, &["65535:65281"])
    };
    let vip4 = IpAddr::V4(VIP_V4);
    let vip6 = IpAddr::V6(VIP_V6);
    let pool_ip: IpAddr = POOL_IP.parse().unwrap();
    let peers = |node: &str| {
        let mut v4 = peer(
            SocketAddr::new(IpAddr::V4(lab.router().ipv4()), 179),
            ROUTER_AS,
            NODE_AS,
        );
        v4.password = md5(node).map(ferrolb_config::PeerPassword::inline);
        let v6 = peer(
            SocketAddr::new(IpAddr::V6(lab.router().ipv6()), 179),
            ROUTER_AS,
            NODE_AS,
        );
        vec![v4, v6]
    };
    let all = [
        (vip4, vip_adv.clone()),
        (vip6, vip_adv.clone()),
        (pool_ip, pool_adv.clone()),
    ];
    let mut speakers: Vec<(String, BgpSpeaker)> = lab
        .nodes()
        .map(|n| (n.name().to_string(), speaker(&rt, &lab, n.name())))
        .collect();
    for (node, s) in &mut speakers {
        s.set(&target(&lab, node, peers(node), &all));
    }
    router.wait_established(6, SESSION_TIMEOUT).unwrap();
    timing(kind, "6 sessions established (one with TCP MD5)", start);

    // every node's path, with its own next hop, our AS, communities and large communities
    let paths = router
        .wait_route(host(vip4), ROUTE_TIMEOUT, |p| p.len() == 3)
        .unwrap();
    assert_eq!(next_hops(&paths), node_ips(&lab, false));
    for p in &paths {
        assert_eq!(p.as_path, [NODE_AS], "{p:?}");
        assert_eq!(p.communities, [Community::new(64513, 100)], "{p:?}");
        assert_eq!(
            p.large_communities,
            [LargeCommunity::new(4_200_000_001, 7, 8)],
            "{p:?}"
        );
        assert_eq!(
            p.peer, p.next_hop,
            "next hop is the session's local address: {p:?}"
        );
    }
    let agg: IpNet = "203.0.113.0/24".parse().unwrap();
    let paths = router.wait_route(agg, ROUTE_TIMEOUT, |p| p.len() == 3).unwrap();
    assert!(
        paths.iter().all(|p| p.communities == [Community::NO_EXPORT]),
        "{paths:?}"
    );
    let paths = router
        .wait_route(host(vip6), ROUTE_TIMEOUT, |p| p.len() == 3)
        .unwrap();
    assert_eq!(
        next_hops(&paths),
        node_ips(&lab, true),
        "IPv6 next hops over the IPv6 sessions"
    );
    assert!(router.rib(Family::Ipv6).unwrap().paths(&agg).is_empty());
    timing(kind, "all routes at the router", start);

    if router.installs_routes() {
        lab.wait_kernel_next_hops("router", host(vip4), 3, ROUTE_TIMEOUT)
            .unwrap();
        lab.wait_kernel_next_hops("router", host(vip6), 3, ROUTE_TIMEOUT)
            .unwrap();
        let svc = LbService {
            vips: vec![vip4, vip6],
            ..LbService::tcp("web", vip4, 80, 30080)
        };
        lab.add_service(&svc).unwrap();
        let nodes: BTreeSet<String> = lab.nodes().map(|n| n.name().to_string()).collect();
        let answers: BTreeSet<String> = (0..12)
            .map(|_| lab.curl("ext", &http_url(vip4, 80)).unwrap())
            .collect();
        assert!(
            answers.is_subset(&nodes) && answers.len() >= 2,
            "ECMP spreads ext's connections: {answers:?}"
        );
        let answer = lab.curl("ext", &http_url(vip6, 80)).unwrap();
        assert!(nodes.contains(&answer), "IPv6 through the VIP: {answer}");
        timing(
            kind,
            "ECMP in the router's kernel, ext reaches the backends",
            start,
        );
    }

    // externalTrafficPolicy: Local with the only endpoint on node2: node1 and node3 withdraw the VIPs
    let pool_only = [(pool_ip, pool_adv.clone())];
    for (node, s) in &mut speakers {
        if node != "node2" {
            s.set(&target(&lab, node, peers(node), &pool_only));
        }
    }
    let node2 = lab.node(2);
    let paths = router
        .wait_route(host(vip4), ROUTE_TIMEOUT, |p| p.len() == 1)
        .unwrap();
    assert_eq!(paths[0].next_hop, Some(IpAddr::V4(node2.ipv4())));
    let paths = router
        .wait_route(host(vip6), ROUTE_TIMEOUT, |p| p.len() == 1)
        .unwrap();
    assert_eq!(paths[0].next_hop, Some(IpAddr::V6(node2.ipv6())));
    if router.installs_routes() {
        lab.wait_kernel_next_hops("router", host(vip4), 1, ROUTE_TIMEOUT)
            .unwrap();
    }
    // node2's endpoint goes away too: nobody advertises the VIPs
    speakers[1]
        .1
        .set(&target(&lab, "node2", peers("node2"), &pool_only));
    router
        .wait_route(host(vip4), ROUTE_TIMEOUT, <[RibPath]>::is_empty)
        .unwrap();
    router
        .wait_route(host(vip6), ROUTE_TIMEOUT, <[RibPath]>::is_empty)
        .unwrap();
    if router.installs_routes() {
        lab.wait_kernel_next_hops("router", host(vip4), 0, ROUTE_TIMEOUT)
            .unwrap();
    }
    assert_eq!(
        router.rib(Family::Ipv4).unwrap().paths(&agg).len(),
        3,
        "the pool prefix stays"
    );
    // the Service is deleted: its IP leaves every node's target
    for (node, s) in &mut speakers {
        s.set(&target(&lab, node, peers(node), &[]));
    }
    router
        .wait_route(agg, ROUTE_TIMEOUT, <[RibPath]>::is_empty)
        .unwrap();
    for (node, s) in &speakers {
        for st in s.status().values() {
            assert_eq!(
                (st.state, st.established_count),
                (State::Established, 1),
                "{node}: no session was reset: {st:?}"
            );
        }
    }
    timing(kind, "withdrawals seen", start);
    for (_, s) in speakers {
        rt.block_on(s.shutdown());
    }
}

fn ibgp(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[kind.tool()]) else {
        return;
    };
    const AS: u32 = 64512;
    let router = TestRouter::start(
        kind,
        &lab,
        &router_config(&lab, AS, AS, false, |_| Some("s3cret")),
    );
    let rt = runtime();
    let start = Instant::now();
    let vip4 = IpAddr::V4(VIP_V4);
    let adv = advertisement(Some(300), &["64512:1"]);
    let router_addr = SocketAddr::new(IpAddr::V4(lab.router().ipv4()), 179);
    let peers = |password: &str| {
        let mut p = peer(router_addr, AS, AS);
        p.password = Some(ferrolb_config::PeerPassword::inline(password));
        vec![p]
    };
    let mut s1 = speaker(&rt, &lab, "node1");
    let mut s2 = speaker(&rt, &lab, "node2");
    s1.set(&target(&lab, "node1", peers("s3cret"), &[(vip4, adv.clone())]));
    s2.set(&target(&lab, "node2", peers("wrong"), &[(vip4, adv.clone())]));

    let node1 = IpAddr::V4(lab.node(1).ipv4());
    let node2 = IpAddr::V4(lab.node(2).ipv4());
    router.wait_peer_established(node1, SESSION_TIMEOUT).unwrap();
    let paths = router
        .wait_route(host(vip4), ROUTE_TIMEOUT, |p| !p.is_empty())
        .unwrap();
    assert_eq!(paths.len(), 1, "{paths:?}");
    let p = &paths[0];
    assert_eq!(p.next_hop, Some(node1));
    assert_eq!(p.local_pref, Some(300), "LOCAL_PREF on iBGP: {p:?}");
    assert!(p.as_path.is_empty(), "empty AS path on iBGP: {p:?}");
    assert_eq!(p.communities, [Community::new(64512, 1)]);
    timing(kind, "iBGP route with local-pref", start);

    // the wrong password: the router's kernel drops the SYNs; nothing comes up
    let sessions = router.sessions().unwrap();
    assert!(
        sessions.iter().any(|s| s.peer == node2 && !s.established),
        "node2 not established: {sessions:?}"
    );
    assert!(s2.status().values().all(|st| st.state != State::Established));
    // fixing it resets only node2's session
    s2.set(&target(&lab, "node2", peers("s3cret"), &[(vip4, adv)]));
    router.wait_peer_established(node2, SESSION_TIMEOUT).unwrap();
    router
        .wait_route(host(vip4), ROUTE_TIMEOUT, |p| p.len() == 2)
        .unwrap();
    assert!(
        s1.status().values().all(|st| st.established_count == 1),
        "node1 untouched"
    );
    timing(kind, "MD5 password fixed, second session up", start);
    rt.block_on(s1.shutdown());
    rt.block_on(s2.shutdown());
}

fn graceful_restart(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(3), &tools(kind)) else {
        return;
    };
    const ROUTER_AS: u32 = 64512;
    const NODE_AS: u32 = 64513;
    let router = TestRouter::start(
        kind,
        &lab,
        &router_config(&lab, ROUTER_AS, NODE_AS, false, |_| None),
    );
    let rt = runtime();
    let vip4 = IpAddr::V4(VIP_V4);
    let prefixes = [(vip4, advertisement(None, &[]))];
    let peers = || {
        vec![peer(
            SocketAddr::new(IpAddr::V4(lab.router().ipv4()), 179),
            ROUTER_AS,
            NODE_AS,
        )]
    };
    let start_all = || -> Vec<BgpSpeaker> {
        lab.nodes()
            .map(|n| {
                let mut s = speaker(&rt, &lab, n.name());
                s.set(&target(&lab, n.name(), peers(), &prefixes));
                s
            })
            .collect()
    };
    let speakers = start_all();
    router.wait_established(3, SESSION_TIMEOUT).unwrap();
    router
        .wait_route(host(vip4), ROUTE_TIMEOUT, |p| p.len() == 3)
        .unwrap();
    let probe = router.installs_routes().then(|| {
        lab.wait_kernel_next_hops("router", host(vip4), 3, ROUTE_TIMEOUT)
            .unwrap();
        lab.add_service(&LbService::tcp("web", vip4, 80, 30080)).unwrap();
        let probe = lab
            .start_probe(
                "ext",
                SocketAddr::new(vip4, 80),
                ProbeProto::Tcp,
                ProbeOptions::default(),
            )
            .unwrap();
        probe
            .wait_for("ext answered through the VIP", ROUTE_TIMEOUT, |r| {
                r.successes() > 0
            })
            .unwrap();
        probe
    });

    // every speaker dies: connections close without a NOTIFICATION
    let restart = Instant::now();
    drop(speakers);
    ferrolb_netlab::wait::wait_until(
        "the router to see every session down",
        SESSION_TIMEOUT,
        || router.sessions(),
        |s| s.iter().all(|s| !s.established),
    )
    .unwrap();
    let rib = router.rib(Family::Ipv4).unwrap();
    assert_eq!(
        rib.paths(&host(vip4)).len(),
        3,
        "graceful restart keeps the routes: {rib:?}"
    );
    if router.installs_routes() {
        let route = lab
            .kernel_route("router", host(vip4))
            .unwrap()
            .expect("kernel route kept");
        assert_eq!(route.next_hops.len(), 3, "{route:?}");
    }
    if let Some(p) = &probe {
        // traffic keeps flowing while no session is up (30 probes: about 0.3 s)
        let before = p.snapshot().successes();
        p.wait_for(
            "traffic through the VIP with every session down",
            ROUTE_TIMEOUT,
            |r| r.successes() >= before + 30,
        )
        .unwrap();
        assert_eq!(router.rib(Family::Ipv4).unwrap().paths(&host(vip4)).len(), 3);
    }
    // the speakers come back and send their routes and End-of-RIB
    let mut speakers = start_all();
    for s in &speakers {
        wait_sessions(s, "sessions re-established", SESSION_TIMEOUT, |st| {
            st.state == State::Established && st.advertised_prefixes == 1
        });
    }
    router.wait_established(3, SESSION_TIMEOUT).unwrap();
    let paths = router
        .wait_route(host(vip4), ROUTE_TIMEOUT, |p| p.len() == 3)
        .unwrap();
    assert_eq!(next_hops(&paths), node_ips(&lab, false));
    timing(
        kind,
        "restart of every speaker, routes kept, sessions back",
        restart,
    );
    if let Some(probe) = probe {
        let report = probe.stop().unwrap();
        let outage = report.longest_outage();
        println!(
            "{kind:?}: probe through the restart: {} ok, {} failed, longest outage {outage:?}",
            report.successes(),
            report.failures()
        );
        assert!(report.successes() > 0);
        assert!(
            outage
                .as_ref()
                .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_millis(500))),
            "traffic kept flowing through the restart: {outage:?}"
        );
    }

    // a clean shutdown: Cease, and the router withdraws node1's path at once
    let shutdown = Instant::now();
    rt.block_on(speakers.remove(0).shutdown());
    let paths = router
        .wait_route(host(vip4), Duration::from_secs(2), |p| p.len() == 2)
        .unwrap();
    assert!(!next_hops(&paths).contains(&IpAddr::V4(lab.node(1).ipv4())));
    timing(kind, "clean shutdown to path withdrawn", shutdown);
    if router.installs_routes() {
        lab.wait_kernel_next_hops("router", host(vip4), 2, ROUTE_TIMEOUT)
            .unwrap();
    }
}

#[test]
fn gobgp_graceful_restart_configuration_is_added_per_neighbour_and_family() {
    let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
        .peer(Peer::new("192.0.2.11".parse().unwrap(), 64513))
        .peer(Peer::new("2001:db8::11".parse().unwrap(), 64513));
    let toml = with_graceful_restart(&ferrolb_netlab::routers::gobgp_config(&cfg).unwrap());
    assert_eq!(
        toml.matches("[neighbors.graceful-restart.config]\n    enabled = true")
            .count(),
        2
    );
    assert!(toml.contains(
        "afi-safi-name = \"ipv6-unicast\"\n    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true"
    ));
    assert_eq!(toml.matches("mp-graceful-restart").count(), 2);
}
