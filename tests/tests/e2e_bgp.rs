//! BGP end to end: the real controller (two replicas) and speaker (three nodes) with a `bgp` pool and a peer,
//! against BIRD 2 and then FRR on the lab's router (the speakers dial; the router installs what it learns
//! in its kernel), and `ext`, a client behind the router, requesting through the VIPs.
//!
//! A `Cluster` Service is advertised by every node, a `Local` one only by the nodes with a ready endpoint:
//! the router's RIB and kernel route carry exactly one next hop per eligible node, and `ext` reaches the
//! backends on those nodes and no others. Endpoints moving change the next hops; a deleted Service is
//! withdrawn. The router is then replaced (BIRD stopped, FRR started): the speakers reconnect and FRR learns
//! the same routes.
//!
//! Needs root, BIRD, FRR, curl and nft (skipped with a reason elsewhere, failing under `CI=true`). About 20 s.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{System, SystemSpec, exclusive};
use ferrolb_netlab::probes::http_url;
use ferrolb_netlab::{BgpRouter, Router, RouterKind, Tool};
use ipnet::IpNet;

const CONFIG: &str = "peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
  hold-time: 9s
address-pools:
- name: lab-bgp
  protocol: bgp
  addresses:
  - 203.0.113.10-203.0.113.19
";
const SESSIONS: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(15);

fn node_ips(sys: &System, nodes: &[&str]) -> BTreeSet<IpAddr> {
    nodes
        .iter()
        .map(|n| IpAddr::V4(sys.lab().host(n).ipv4()))
        .collect()
}

/// Waits until the router's RIB has exactly `want` as next hops of `ip`/32 (empty: withdrawn), and its
/// kernel route as many gateways.
fn wait_next_hops(sys: &System, router: &Router, ip: IpAddr, want: &BTreeSet<IpAddr>) {
    let prefix = IpNet::from(ip);
    let kind = router.kind();
    router
        .wait_route(prefix, WAIT, |paths| {
            paths.iter().filter_map(|p| p.next_hop).collect::<BTreeSet<_>>() == *want
                && paths.len() == want.len()
        })
        .unwrap_or_else(|e| panic!("{kind:?}: {e}\n{}", sys.logs(15)));
    let route = sys
        .lab()
        .wait_kernel_next_hops("router", prefix, want.len(), WAIT)
        .unwrap_or_else(|e| panic!("{kind:?} kernel: {e}"));
    if let Some(route) = route {
        let gateways: BTreeSet<IpAddr> = route.next_hops.iter().copied().collect();
        assert_eq!(gateways, *want, "{kind:?}: kernel route {route:?}");
    }
}

/// Requests http://ip/ from `ext` (a new source port each time, so the router's ECMP hash varies) until
/// every node of `want` has answered; fails if any other node answers.
fn wait_served_by(sys: &System, ip: IpAddr, want: &BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    sys.wait(
        &format!("ext to reach every eligible node through {ip}"),
        WAIT,
        || {
            let answer = sys.lab().curl("ext", &http_url(ip, 80))?;
            assert!(
                want.contains(&answer),
                "{answer} answered for {ip}; only {want:?} should"
            );
            seen.insert(answer);
            Ok((seen == *want).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e}: answered so far {seen:?}"));
}

fn check_router(sys: &System, router: &Router, web: IpAddr, local: IpAddr) {
    let kind = router.kind();
    wait_next_hops(sys, router, web, &node_ips(sys, &["node1", "node2", "node3"]));
    wait_next_hops(sys, router, local, &node_ips(sys, &["node1", "node3"]));
    let path = router
        .rib(ferrolb_netlab::Family::Ipv4)
        .unwrap()
        .best(&IpNet::from(web))
        .cloned()
        .expect("a best path");
    assert_eq!(path.as_path, [64513], "{kind:?}: {path:?}");
    wait_served_by(sys, web, &["node1".into(), "node2".into(), "node3".into()].into());
    wait_served_by(sys, local, &["node1".into(), "node3".into()].into());
    eprintln!(
        "{kind:?}: {web}/32 via {:?}; {local}/32 via {:?}",
        node_ips(sys, &["node1", "node2", "node3"]),
        node_ips(sys, &["node1", "node3"])
    );
}

#[test]
fn bgp_routes_at_bird_and_frr_with_a_next_hop_per_eligible_node() {
    let _serial = exclusive();
    let spec = SystemSpec::with_config(CONFIG).tools(&[Tool::Bird, Tool::Frr]);
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    sys.create_service(&ServiceSpec::new("web"), &["node2"]).unwrap();
    sys.create_service(&ServiceSpec::new("local").local(), &["node1", "node3"])
        .unwrap();
    let web = sys.wait_ingress("default", "web", WAIT).unwrap();
    let local = sys.wait_ingress("default", "local", WAIT).unwrap();
    assert_eq!(web, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)));
    assert_eq!(local, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 11)));
    sys.serve("default", "web").unwrap();
    sys.serve("default", "local").unwrap();
    // bgp IPs are routed, never answered on the segment
    assert!(sys.arp_macs(Ipv4Addr::new(203, 0, 113, 10)).unwrap().is_empty());

    let bird = sys.start_router(RouterKind::Bird, SESSIONS).unwrap();
    check_router(&sys, &bird, web, local);

    // The endpoints move to node2: only node2 advertises the Local Service now.
    sys.set_endpoints("default", "local", &["node2"]).unwrap();
    sys.serve("default", "local").unwrap();
    wait_next_hops(&sys, &bird, local, &node_ips(&sys, &["node2"]));
    wait_served_by(&sys, local, &["node2".into()].into());
    sys.set_endpoints("default", "local", &["node1", "node3"])
        .unwrap();
    sys.serve("default", "local").unwrap();
    bird.stop().unwrap();

    // FRR replaces BIRD on the router: the speakers reconnect and advertise the same.
    let frr = sys.start_router(RouterKind::Frr, SESSIONS).unwrap();
    check_router(&sys, &frr, web, local);

    // A deleted Service is withdrawn from every node.
    sys.delete_service("default", "web").unwrap();
    wait_next_hops(&sys, &frr, web, &BTreeSet::new());
    wait_next_hops(&sys, &frr, local, &node_ips(&sys, &["node1", "node3"]));
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}
