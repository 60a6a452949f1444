//! BGP mode end to end: real `ferrolb-speaker` processes in the lab's nodes, the embedded API server, and BIRD
//! as the router with a client (`ext`) behind it — from Services and EndpointSlices to the router's FIB.
//!
//! One scenario, in order: every node advertises a Cluster Service's IP with the pool's communities; BIRD
//! installs it as ECMP and `ext` reaches several nodes through it; a Local Service is advertised by its
//! endpoint's node only, and withdrawn when the endpoint goes away; every speaker is killed (`kill -9`) and
//! restarted while BIRD keeps the routes and `ext` its traffic (graceful restart); `SIGTERM` of a cordoned
//! node's speaker makes it send Cease and BIRD drop its path at once (a SIGTERM of a speaker whose Pod is
//! being deleted, on a schedulable, Ready node, keeps the routes: `bgp_shutdown.rs`); deleting the Service
//! withdraws it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::Cluster;
use ferrolb_netlab::probes::http_url;
use ferrolb_netlab::{
    BgpConfig, BgpRouter, Community, Family, LargeCommunity, LbService, ProbeOptions, ProbeProto, Process,
    ProcessSpec, RibPath, Router, RouterKind, Tool,
};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Service};
use kube::Api;
use kube::api::{Patch, PatchParams};

const CONFIG: &str = "peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
  hold-time: 9s
bgp-communities:
  web: 64513:100
address-pools:
- name: bgp
  protocol: bgp
  addresses:
  - 203.0.113.0/28
  bgp-advertisements:
  - communities: [web, large:64513:1:2]
";
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const VIP_LOCAL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);
const WAIT: Duration = Duration::from_secs(15);

fn host(ip: Ipv4Addr) -> IpNet {
    IpNet::from(IpAddr::V4(ip))
}

/// Starts `node`'s speaker (log `<node>-speaker-<n>.log`) and waits until it is ready.
fn start_speaker(c: &Cluster, node: &str, n: usize) -> Process {
    let spec = ProcessSpec::new(format!("{node}-speaker-{n}"), common::speaker_binary())
        .args(["--node-name", node, "--kubeconfig"])
        .arg(c.lab.dir().join("kubeconfig"))
        .args(["--log-level", "debug", "--bgp-shutdown", "auto"]);
    let p = c.lab.spawn(node, &spec).expect("speaker");
    let start = Instant::now();
    while c.http_get(node, "/readyz").map(|r| r.0) != Some(200) {
        assert!(p.is_running(), "{node}'s speaker exited:\n{}", p.log());
        assert!(start.elapsed() < WAIT, "{node}'s speaker not ready:\n{}", p.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

fn next_hops(paths: &[RibPath]) -> BTreeSet<IpAddr> {
    paths.iter().filter_map(|p| p.next_hop).collect()
}

#[test]
fn bgp_mode_from_services_to_the_routers_fib() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, &[Tool::Bird, Tool::Curl, Tool::Nft], CONFIG) else {
        return;
    };
    let start = Instant::now();
    let mut cfg = BgpConfig::router_for_nodes(&c.lab, 64512, 64513);
    for p in &mut cfg.peers {
        p.passive = true;
    }
    let router = Router::start(RouterKind::Bird, &c.lab, "router", &cfg).expect("BIRD");
    c.add_service("web", &[IpAddr::V4(VIP)], false, &["node1", "node2", "node3"]);
    c.add_service("local", &[IpAddr::V4(VIP_LOCAL)], true, &["node2"]);
    let nodes: Vec<String> = c.node_names();
    let node_ips: BTreeSet<IpAddr> = c.lab.nodes().map(|n| IpAddr::V4(n.ipv4())).collect();
    let mut speakers: BTreeMap<String, Process> = nodes
        .iter()
        .map(|n| (n.clone(), start_speaker(&c, n, 1)))
        .collect();
    router.wait_established(3, WAIT).unwrap();

    // the Cluster Service: every node, with the pool's communities; ECMP in the FIB; ext gets through
    let paths = router.wait_route(host(VIP), WAIT, |p| p.len() == 3).unwrap();
    assert_eq!(next_hops(&paths), node_ips);
    for p in &paths {
        assert_eq!(p.as_path, [64513]);
        assert_eq!(p.communities, [Community::new(64513, 100)], "{p:?}");
        assert_eq!(p.large_communities, [LargeCommunity::new(64513, 1, 2)], "{p:?}");
    }
    c.lab.wait_kernel_next_hops("router", host(VIP), 3, WAIT).unwrap();
    c.lab
        .add_service(&LbService::tcp("web", IpAddr::V4(VIP), 80, 30080))
        .unwrap();
    let answers: BTreeSet<String> = (0..12)
        .map(|_| c.lab.curl("ext", &http_url(IpAddr::V4(VIP), 80)).unwrap())
        .collect();
    assert!(answers.len() >= 2, "ECMP spreads ext's connections: {answers:?}");
    assert_eq!(c.metric("node1", "ferrolb_speaker_bgp_session_up"), 1.0);
    assert!(c.metric("node1", "ferrolb_speaker_bgp_updates_sent_total") >= 2.0);
    println!(
        "TIMING: lab, API server, BIRD, 3 speakers, routes and data path: {:.2} s",
        start.elapsed().as_secs_f64()
    );

    // the Local Service: only the endpoint's node; withdrawn when the endpoint goes away
    let node2 = IpAddr::V4(c.lab.node(2).ipv4());
    let paths = router
        .wait_route(host(VIP_LOCAL), WAIT, |p| p.len() == 1)
        .unwrap();
    assert_eq!(next_hops(&paths), BTreeSet::from([node2]));
    c.set_endpoints("local", &[]);
    router
        .wait_route(host(VIP_LOCAL), WAIT, <[RibPath]>::is_empty)
        .unwrap();

    // kill -9 every speaker: BIRD keeps the routes (graceful restart) and ext its traffic until they are back
    let probe = c
        .lab
        .start_probe(
            "ext",
            SocketAddr::new(IpAddr::V4(VIP), 80),
            ProbeProto::Tcp,
            ProbeOptions::default(),
        )
        .unwrap();
    probe
        .wait_for("ext answered", WAIT, |r| r.successes() > 0)
        .unwrap();
    let restart = Instant::now();
    for (_, p) in std::mem::take(&mut speakers) {
        p.kill().unwrap();
    }
    ferrolb_netlab::wait::wait_until(
        "BIRD to see every session down",
        WAIT,
        || router.sessions(),
        |s| s.iter().all(|s| !s.established),
    )
    .unwrap();
    assert_eq!(router.rib(Family::Ipv4).unwrap().paths(&host(VIP)).len(), 3);
    // node1 is cordoned (drained for maintenance) while no speaker runs: its next speaker lists it so, and
    // its SIGTERM below is a departure
    let client = c.client.clone();
    c.block(async move {
        Api::<Node>::all(client)
            .patch(
                "node1",
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
            )
            .await
            .map(drop)
    })
    .expect("cordon node1");
    speakers = nodes
        .iter()
        .map(|n| (n.clone(), start_speaker(&c, n, 2)))
        .collect();
    router.wait_established(3, WAIT).unwrap();
    let paths = router.wait_route(host(VIP), WAIT, |p| p.len() == 3).unwrap();
    assert_eq!(next_hops(&paths), node_ips);
    let report = probe.stop().unwrap();
    let outage = report.longest_outage();
    println!(
        "TIMING: kill -9 of every speaker to sessions back: {:.2} s; probe: {} ok, {} failed, longest outage {outage:?}",
        restart.elapsed().as_secs_f64(),
        report.successes(),
        report.failures()
    );
    assert!(
        outage
            .as_ref()
            .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_millis(500))),
        "traffic kept flowing while the speakers restarted: {outage:?}"
    );

    // SIGTERM of the cordoned node's speaker: Cease, BIRD drops node1's path at once
    let t = Instant::now();
    let p = speakers.remove("node1").unwrap();
    assert!(p.stop(Duration::from_secs(10)).unwrap().success());
    assert!(
        p.log().contains("withdrawing: node node1 is cordoned"),
        "{}",
        p.log()
    );
    let paths = router.wait_route(host(VIP), WAIT, |p| p.len() == 2).unwrap();
    assert!(!next_hops(&paths).contains(&IpAddr::V4(c.lab.node(1).ipv4())));
    println!(
        "TIMING: SIGTERM to path withdrawn (stop included): {:.2} s",
        t.elapsed().as_secs_f64()
    );

    // the Service is deleted: withdrawn by every remaining node
    let client = c.client.clone();
    c.block(async move {
        Api::<Service>::namespaced(client, "apps")
            .delete("web", &Default::default())
            .await
            .map(drop)
    })
    .expect("delete Service");
    router.wait_route(host(VIP), WAIT, <[RibPath]>::is_empty).unwrap();
    c.lab.wait_kernel_next_hops("router", host(VIP), 0, WAIT).unwrap();
}
