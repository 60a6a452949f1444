//! Layer2 end to end: the embedded API server, the real controller (two replicas) and the real speaker on
//! three nodes, run as `deploy/ferrolb.yaml` runs them; a client on the segment checks with `arping` and
//! requests through the VIP, as an operator would.
//!
//! - a Service's life: pool + Service → an IP in its status (`kubectl get svc` shows it) → `arping` from
//!   the client gets the elected owner's MAC, and nobody else's → a request through the VIP reaches a
//!   backend → the Service is deleted → nobody answers ARP, and the IP is free again;
//! - failover: the owner node dies (link cut, every program on it killed) → the next node answers, with the
//!   outage a client sees measured; the node comes back and takes its IP back without an outage.
//!
//! Needs root, arping, nft, curl and kubectl (skipped with a reason elsewhere, failing under `CI=true`).
//! The tests run one at a time. About 10 s each.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb_e2e::programs::kubectl_or_skip;
use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{System, SystemSpec, exclusive};
use ferrolb_netlab::probes::http_url;
use ferrolb_netlab::{ProbeOptions, ProbeProto};

const CONFIG: &str = "address-pools:
- name: lab-l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.119
";
const FIRST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const WAIT: Duration = Duration::from_secs(20);

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => panic!("{v6} is not IPv4"),
    }
}

/// The node the speakers' election picks for `ip` among `candidates`.
fn elected(ip: IpAddr, candidates: &[String]) -> String {
    ferrolb_speaker::election::rendezvous::owner(ip, candidates.iter().map(String::as_str))
        .expect("a candidate")
        .to_owned()
}

#[test]
fn a_layer2_service_from_creation_to_deletion() {
    let _serial = exclusive();
    if kubectl_or_skip("a_layer2_service_from_creation_to_deletion").is_none() {
        return;
    }
    let Some(sys) = System::for_test(SystemSpec::with_config(CONFIG)) else {
        return;
    };
    let nodes = sys.node_names();

    // The Service gets the pool's first IP in its status, with the pool named, and an Event says so.
    sys.create_service(&ServiceSpec::new("web"), &["node2"]).unwrap();
    let ip = sys.wait_ingress("default", "web", WAIT).unwrap();
    assert_eq!(ip, IpAddr::V4(FIRST_IP));
    let svc = sys.service("default", "web").unwrap();
    assert_eq!(
        svc["metadata"]["annotations"]["ferrolb.io/ip-allocated-from-pool"],
        "lab-l2"
    );
    assert!(
        svc["status"]["loadBalancer"]["ingress"][0]
            .get("ipMode")
            .is_none(),
        "no ipMode on a 1.28 server: {svc}"
    );
    let (kind, message) = sys.wait_event("default", "web", "IPAllocated", WAIT).unwrap();
    assert_eq!(kind, "Normal");
    assert!(message.contains("192.0.2.100"), "{message}");

    // kubectl shows it, as an operator would look.
    let table = sys.kubectl(&["get", "svc", "web", "-n", "default"]).unwrap();
    eprintln!("$ kubectl get svc web\n{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("web "))
        .unwrap_or_else(|| panic!("no row for web: {table}"));
    assert!(
        row.contains("LoadBalancer") && row.contains("192.0.2.100"),
        "{row}"
    );

    // ARP from the client: the elected owner's MAC, and nobody else's.
    let owner = elected(ip, &nodes);
    let (node, mac) = sys.wait_arp_owner(v4(ip), WAIT).unwrap();
    assert_eq!(node, owner, "ARP for {ip} answered by {node} ({mac})");
    assert_eq!(
        sys.arp_macs(v4(ip)).unwrap().len(),
        1,
        "one MAC answers, again and again"
    );
    eprintln!("arping {ip}: {mac} = {node}'s eth0");

    // A request through the VIP reaches a backend: the owner node takes the traffic and kube-proxy (the
    // stand-in) forwards it to the Service's nodePort there.
    sys.serve("default", "web").unwrap();
    let answer = sys.lab().curl("client", &http_url(ip, 80)).unwrap();
    assert_eq!(answer, owner, "curl http://{ip}/");

    // Deleted: nobody answers any more, and the IP goes to the next Service.
    let writes_before = sys.wait_status_writes(1, WAIT).unwrap();
    sys.delete_service("default", "web").unwrap();
    sys.unserve("default", "web").unwrap();
    sys.wait_no_arp(v4(ip), WAIT).unwrap();
    assert!(
        sys.lab().curl("client", &http_url(ip, 80)).is_err(),
        "{ip} still serves"
    );
    sys.create_service(&ServiceSpec::new("next"), &["node1"]).unwrap();
    assert_eq!(
        sys.wait_ingress("default", "next", WAIT).unwrap(),
        ip,
        "the IP is free again"
    );
    assert_eq!(
        sys.wait_status_writes(writes_before + 1, WAIT).unwrap(),
        writes_before + 1,
        "one status write for the new Service, none for the deleted one"
    );
    let owner = elected(ip, &nodes);
    assert_eq!(sys.wait_arp_owner(v4(ip), WAIT).unwrap().0, owner);
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}

#[test]
fn layer2_failover_when_the_owner_node_dies() {
    let _serial = exclusive();
    let Some(sys) = System::for_test(SystemSpec::with_config(CONFIG)) else {
        return;
    };
    let nodes = sys.node_names();
    sys.create_service(&ServiceSpec::new("web"), &["node1", "node2", "node3"])
        .unwrap();
    let ip = sys.wait_ingress("default", "web", WAIT).unwrap();
    sys.serve("default", "web").unwrap();
    let owner = elected(ip, &nodes);
    assert_eq!(sys.wait_arp_owner(v4(ip), WAIT).unwrap().0, owner);

    // A client requests http://VIP/ every 10 ms (each probe may take 50 ms) while the owner node dies.
    let probe = sys
        .lab()
        .start_probe(
            "client",
            SocketAddr::new(ip, 80),
            ProbeProto::Tcp,
            ProbeOptions::default(),
        )
        .unwrap();
    probe
        .wait_for("answers from the owner", WAIT, |r| {
            r.last_responder() == Some(owner.as_str())
        })
        .unwrap();
    let survivors: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
    let next = elected(ip, &survivors);
    let killed = Instant::now();
    sys.kill_node(&owner).unwrap();
    probe
        .wait_for("answers from the next owner", WAIT, |r| {
            r.last_responder() == Some(next.as_str())
        })
        .unwrap();
    let report = probe.stop().unwrap();
    let outage = report
        .longest_outage()
        .expect("the owner's death interrupts the client");
    let took = outage.duration().expect("recovered");
    eprintln!(
        "{owner} died: {} failed probes, outage {} ms, then {next} answers (detected {} ms after the kill)",
        outage.failed,
        took.as_millis(),
        killed.elapsed().as_millis()
    );
    // Membership notices within a second (docs/performance.md has the figures); the Kubernetes path would
    // take the Lease's 15 s or more.
    assert!(took < Duration::from_secs(5), "outage {took:?}");
    assert_eq!(
        report
            .responder_changes()
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>(),
        [owner.as_str(), next.as_str()]
    );
    assert_eq!(sys.wait_arp_owner(v4(ip), WAIT).unwrap().0, next);
    assert_eq!(
        sys.ingress_ips("default", "web"),
        [ip],
        "a node's death does not change the IP"
    );

    // The node comes back (new pods): it wins the IP again, and the move back costs the client nothing —
    // the node that stands down still forwards what reaches it until the client has the new MAC.
    let probe = sys
        .lab()
        .start_probe(
            "client",
            SocketAddr::new(ip, 80),
            ProbeProto::Tcp,
            ProbeOptions::default(),
        )
        .unwrap();
    sys.revive_node(&owner).unwrap();
    probe
        .wait_for("answers from the revived owner", WAIT, |r| {
            r.last_responder() == Some(owner.as_str())
        })
        .unwrap();
    let report = probe.stop().unwrap();
    let longest = report.longest_outage();
    eprintln!(
        "{owner} back: longest outage {:?} over {} probes",
        longest.as_ref().and_then(|o| o.duration()),
        report.samples.len()
    );
    assert!(
        longest
            .as_ref()
            .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_secs(1))),
        "{longest:?}"
    );
    assert_eq!(sys.wait_arp_owner(v4(ip), WAIT).unwrap().0, owner);
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}
