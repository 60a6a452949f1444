//! Layer2 configured by MetalLB's resources alone (no ConfigMap anywhere), checked as an operator would —
//! `arping` from a client on each of two segments, the client's neighbour table, a capture of the gratuitous
//! ARP, the Services' IPs and the status objects — in one lab, phase after phase:
//!
//! 1. `L2Advertisement.nodeSelectors` and `interfaces`: node1 and node2 (`zone: a`) have a second interface
//!    (`eth1`, on a second segment with the client's `eth1`); node3 (`zone: b`) has not. The Service asks for
//!    an IP that node3 would win without the selector. With `interfaces: [eth1]` the elected zone-a node
//!    answers on the second segment with its `eth1` MAC and nobody answers on the first; with `[eth0]` the
//!    other way round. `ServiceL2Status` names the node and the interface.
//! 2. The selector changes to `zone: b`: the IP moves to node3, whose gratuitous ARP the client captures and
//!    whose MAC its neighbour entry takes without asking; the old node's `ServiceL2Status` is gone.
//! 3. `IPAddressPool.spec.serviceAllocation`: pools restricted by namespace labels and Service labels, tried
//!    by priority; a Service naming a pool that does not admit it stays pending; relabelling namespaces
//!    moves the Services no longer admitted and leaves the admitted ones where they are.
//! 4. `ConfigurationState`: every component says Valid; a bad `IPAddressPool` makes each say Invalid,
//!    naming the object and the field, while every IP stays assigned and answered; removing it makes them
//!    Valid again.
//! 5. Failover: the owner node dies, the other zone-a node answers and `ServiceL2Status` follows; deleting
//!    the Service deletes its `ServiceL2Status` and nobody answers any more.
//!
//! Needs root, arping, tcpdump, nft and curl (skipped with a reason elsewhere, failing under `CI=true`).
//! About 30 s.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{Kind, NS, System, SystemSpec, exclusive};
use ferrolb_netlab::{MacAddr, Tool};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
/// How long a "nobody answers" or "stays pending" is watched.
const QUIET: Duration = Duration::from_secs(2);
const ZONE_A: [&str; 2] = ["node1", "node2"];

const RESOURCES: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: zone-pool
spec:
  addresses:
  - 192.0.2.100-192.0.2.119
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: team
  labels:
    announce: allocated
spec:
  addresses:
  - 192.0.2.120-192.0.2.123
  serviceAllocation:
    priority: 20
    namespaceSelectors:
    - matchLabels:
        team: blue
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: premium
  labels:
    announce: allocated
spec:
  addresses:
  - 192.0.2.124-192.0.2.126
  serviceAllocation:
    priority: 10
    serviceSelectors:
    - matchLabels:
        tier: premium
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: zone-a
spec:
  ipAddressPools:
  - zone-pool
  nodeSelectors:
  - matchLabels:
      zone: a
  interfaces:
  - eth1
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: allocated
spec:
  ipAddressPoolSelectors:
  - matchLabels:
      announce: allocated
";

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => panic!("{v6} is not IPv4"),
    }
}

/// The node the speakers' election picks for `ip` among `candidates`.
fn elected(ip: Ipv4Addr, candidates: &[&str]) -> String {
    ferrolb_speaker::election::rendezvous::owner(IpAddr::V4(ip), candidates.iter().copied())
        .expect("a candidate")
        .to_owned()
}

/// The first IP of the zone pool that node3 would win if every node could announce it: zone-a's winning it
/// is the node selector's doing.
fn ip_node3_would_win() -> Ipv4Addr {
    (100..=119)
        .map(|i| Ipv4Addr::new(192, 0, 2, i))
        .find(|ip| elected(*ip, &["node1", "node2", "node3"]) == "node3")
        .expect("node3 wins some IP of 20")
}

fn patch(sys: &System, kind: &str, name: &str, patch: Value) {
    sys.admin()
        .merge(kind, NS, name, &patch, false)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn phase(name: &str, started: Instant) {
    eprintln!("--- [{:>5.1} s] {name}", started.elapsed().as_secs_f64());
}

/// Waits until exactly `want` answers ARP for `ip` out of the client's `iface`.
fn wait_arp_on(sys: &System, iface: &str, ip: Ipv4Addr, want: MacAddr) {
    sys.wait_until(
        &format!("only {want} to answer ARP for {ip} on the client's {iface}"),
        WAIT,
        || Ok(sys.lab().arping_macs_on("client", iface, ip, 5)?),
        |macs| *macs == BTreeSet::from([want]),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(10)));
}

/// Nobody answers ARP for `ip` out of the client's `iface`, time and again for [`QUIET`].
fn assert_silent_on(sys: &System, iface: &str, ip: Ipv4Addr) {
    let until = Instant::now() + QUIET;
    let mut rounds = 0;
    while Instant::now() < until && rounds < 20 {
        let macs = sys.lab().arping_macs_on("client", iface, ip, 3).unwrap();
        assert!(macs.is_empty(), "{macs:?} answered ARP for {ip} on {iface}");
        rounds += 1;
    }
}

/// Waits until Service `default/web`'s `ServiceL2Status` objects are exactly one, of `node`, naming
/// `interfaces`.
fn wait_l2_status(sys: &System, name: &str, node: &str, interfaces: &[&str]) {
    let want: BTreeSet<String> = interfaces.iter().map(|i| (*i).to_owned()).collect();
    sys.wait_until(
        &format!("one ServiceL2Status for {name}: {node} on {interfaces:?}"),
        WAIT,
        || Ok(sys.service_statuses("ServiceL2Status", "default", name)),
        |objects| {
            objects.len() == 1
                && objects[0].0 == node
                && objects[0].1["node"] == node
                && objects[0].1["serviceName"] == name
                && objects[0].1["interfaces"].as_array().map(|l| {
                    l.iter()
                        .filter_map(|i| i["name"].as_str().map(str::to_owned))
                        .collect()
                }) == Some(want.clone())
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn layer2_and_allocation_configured_by_resources_alone() {
    let _serial = exclusive();
    let spec = SystemSpec::with_objects(RESOURCES)
        .node_label("node1", "zone", "a")
        .node_label("node2", "zone", "a")
        .node_label("node3", "zone", "b")
        .second_segment(&["node1", "node2", "client"])
        .tools(&[Tool::Tcpdump]);
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    let started = Instant::now();
    assert!(
        sys.admin().get("ConfigMap", NS, "config").is_none(),
        "no ConfigMap: the resources alone configure ferrolb"
    );
    let ip = interfaces_and_node_selectors(&sys, started);
    selector_change_moves_the_ip(&sys, ip, started);
    service_allocation(&sys, started);
    configuration_state(&sys, ip, started);
    let dead = failover_and_deletion(&sys, ip, started);
    assert_eq!(
        sys.crashed(&[(Kind::Speaker, &dead), (Kind::Controller, &dead)]),
        Vec::<String>::new()
    );
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
    phase("done", started);
}

/// Phase 1. Returns the Service's IP.
fn interfaces_and_node_selectors(sys: &System, started: Instant) -> Ipv4Addr {
    phase("nodeSelectors zone=a, interfaces [eth1]", started);
    let ip = ip_node3_would_win();
    sys.create_service(
        &ServiceSpec::new("web").ip(IpAddr::V4(ip)),
        &["node1", "node2", "node3"],
    )
    .unwrap();
    assert_eq!(v4(sys.wait_ingress("default", "web", WAIT).unwrap()), ip);
    let owner = elected(ip, &ZONE_A);
    let lab = sys.lab();
    // the zone-a owner answers on the second segment, with its eth1's MAC …
    wait_arp_on(sys, "eth1", ip, lab.mac_of(&owner, "eth1").unwrap());
    // … and nobody on the first: not its eth0, not node3 (which the hash prefers)
    assert_silent_on(sys, "eth0", ip);
    wait_l2_status(sys, "web", &owner, &["eth1"]);
    eprintln!("{ip}: node3 would win it among all nodes; {owner} (zone a) answers on eth1 only");

    phase("interfaces [eth0]", started);
    patch(
        sys,
        "L2Advertisement",
        "zone-a",
        json!({"spec": {"interfaces": ["eth0"]}}),
    );
    wait_arp_on(sys, "eth0", ip, lab.mac(&owner).unwrap());
    sys.wait_until(
        &format!("nobody to answer ARP for {ip} on the client's eth1"),
        WAIT,
        || Ok(sys.lab().arping_macs_on("client", "eth1", ip, 3)?),
        BTreeSet::is_empty,
    )
    .unwrap();
    assert_silent_on(sys, "eth1", ip);
    wait_l2_status(sys, "web", &owner, &["eth0"]);
    ip
}

/// Phase 2.
fn selector_change_moves_the_ip(sys: &System, ip: Ipv4Addr, started: Instant) {
    phase("nodeSelectors zone=b: the IP moves to node3", started);
    let lab = sys.lab();
    let old = elected(ip, &ZONE_A);
    let node3 = lab.mac("node3").unwrap();
    // the client talks to the IP, so its neighbour table has the old owner's MAC
    let before = lab.resolve_neighbor("client", IpAddr::V4(ip)).unwrap();
    assert_eq!(before.mac, Some(lab.mac(&old).unwrap()), "{before:?}");
    let capture = lab.capture("client", "client-garp", "arp").unwrap();
    patch(
        sys,
        "L2Advertisement",
        "zone-a",
        json!({"spec": {"nodeSelectors": [{"matchLabels": {"zone": "b"}}]}}),
    );
    // node3 announces the takeover: a gratuitous ARP (sender and target the IP) from its MAC
    // (`tcpdump -e`: `<time> <src MAC> > <dst MAC>, ethertype ARP …: Request who-has IP tell IP`)
    let garp = capture
        .wait_for_line(&format!("node3's gratuitous ARP for {ip}"), WAIT, |l| {
            l.contains(&format!(" {node3} > "))
                && (l.contains(&format!("who-has {ip} tell {ip}"))
                    || l.contains(&format!("Reply {ip} is-at")))
        })
        .unwrap_or_else(|e| panic!("{e}: captured {:?}\n{}", capture.lines(), sys.logs(10)));
    eprintln!("client captured: {garp}");
    // which the client's kernel takes without asking
    let after = lab
        .wait_neighbor_mac("client", IpAddr::V4(ip), node3, WAIT)
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!("client's neighbour entry for {ip}: {:?} -> {after:?}", before.mac);
    drop(capture);
    wait_arp_on(sys, "eth0", ip, node3);
    wait_l2_status(sys, "web", "node3", &["eth0"]);
}

/// Creates a Service with a ready endpoint on every node; returns its IP and pool once it has one.
fn service(sys: &System, svc: ServiceSpec) -> (Ipv4Addr, String) {
    sys.create_service(&svc, &["node1", "node2", "node3"]).unwrap();
    ip_and_pool(sys, &svc.namespace, &svc.name)
}

fn ip_and_pool(sys: &System, namespace: &str, name: &str) -> (Ipv4Addr, String) {
    let ip = v4(sys.wait_ingress(namespace, name, WAIT).unwrap());
    (ip, pool_of(sys, namespace, name))
}

fn pool_of(sys: &System, namespace: &str, name: &str) -> String {
    sys.service(namespace, name).unwrap()["metadata"]["annotations"]["ferrolb.io/ip-allocated-from-pool"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn namespace(sys: &System, name: &str, labels: Value) {
    sys.admin()
        .create(
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
        )
        .unwrap();
}

fn label_namespace(sys: &System, name: &str, labels: Value) {
    sys.admin()
        .merge(
            "Namespace",
            "",
            name,
            &json!({"metadata": {"labels": labels}}),
            false,
        )
        .unwrap();
}

/// Phase 3.
fn service_allocation(sys: &System, started: Instant) {
    phase("serviceAllocation: namespaces, Service labels, priority", started);
    namespace(sys, "blue1", json!({"team": "blue"}));
    namespace(sys, "blue2", json!({"team": "blue"}));
    namespace(sys, "plain", json!({}));
    let in_ns = |ns: &str, name: &str| ServiceSpec::new(name).namespace(ns);
    // a namespace without the label: the unrestricted pool only
    let (plain_ip, pool) = service(sys, in_ns("plain", "s1"));
    assert_eq!(pool, "zone-pool");
    // labelled namespaces: the team pool (tried before the unrestricted one)
    let (s2_ip, pool) = service(sys, in_ns("blue1", "s2"));
    assert_eq!((s2_ip, pool.as_str()), (Ipv4Addr::new(192, 0, 2, 120), "team"));
    let (s3_ip, pool) = service(sys, in_ns("blue2", "s3"));
    assert_eq!((s3_ip, pool.as_str()), (Ipv4Addr::new(192, 0, 2, 121), "team"));
    // premium Services: the premium pool, whose priority 10 comes before the team pool's 20
    let (s4_ip, pool) = service(sys, in_ns("blue1", "s4").label("tier", "premium"));
    assert_eq!((s4_ip, pool.as_str()), (Ipv4Addr::new(192, 0, 2, 124), "premium"));
    let (_, pool) = service(sys, in_ns("plain", "s5").label("tier", "premium"));
    assert_eq!(pool, "premium");
    // a Service naming a pool that does not admit it gets nothing from it, nor from any other
    sys.create_service(&in_ns("plain", "s6").pool("team"), &["node1"])
        .unwrap();
    let (_, message) = sys.wait_event("plain", "s6", "AllocationFailed", WAIT).unwrap();
    assert!(message.contains("team"), "{message}");
    assert!(sys.ingress_ips("plain", "s6").is_empty());
    // the restricted pools' IPs are announced too (the second L2Advertisement selects them by label)
    assert_eq!(sys.wait_arp_owner(s2_ip, WAIT).unwrap().1, {
        let owner = elected(s2_ip, &["node1", "node2", "node3"]);
        sys.lab().mac(&owner).unwrap()
    });
    eprintln!(
        "plain/s1 {plain_ip} zone-pool, blue1/s2 {s2_ip} team, blue2/s3 {s3_ip} team, blue1/s4 {s4_ip} premium"
    );

    phase(
        "namespace blue1 relabelled team=red, plain labelled team=blue",
        started,
    );
    label_namespace(sys, "blue1", json!({"team": "red"}));
    label_namespace(sys, "plain", json!({"team": "blue"}));
    // no longer admitted by the team pool: moves to the unrestricted one
    let moved = sys
        .wait_until(
            "blue1/s2 to leave the team pool",
            WAIT,
            || Ok((sys.ingress_ips("blue1", "s2"), pool_of(sys, "blue1", "s2"))),
            |(ips, pool)| pool == "zone-pool" && ips.len() == 1,
        )
        .unwrap();
    assert_ne!(moved.0[0], IpAddr::V4(s2_ip));
    // still admitted: kept where they are
    assert_eq!(ip_and_pool(sys, "blue2", "s3"), (s3_ip, "team".into()));
    assert_eq!(ip_and_pool(sys, "blue1", "s4"), (s4_ip, "premium".into()));
    assert_eq!(ip_and_pool(sys, "plain", "s1"), (plain_ip, "zone-pool".into()));
    // new Services follow the new labels
    assert_eq!(service(sys, in_ns("blue1", "s7")).1, "zone-pool");
    assert_eq!(service(sys, in_ns("blue2", "s8")).1, "team");
    assert_eq!(service(sys, in_ns("plain", "s9")).1, "team");
    // and the pending one is admitted now
    assert_eq!(ip_and_pool(sys, "plain", "s6").1, "team");
    eprintln!("blue1/s2 moved {s2_ip} -> {}", moved.0[0]);
}

/// Phase 4.
fn configuration_state(sys: &System, ip: Ipv4Addr, started: Instant) {
    phase(
        "ConfigurationState: Valid, then Invalid with a bad IPAddressPool",
        started,
    );
    let components = ["controller", "speaker-node1", "speaker-node2", "speaker-node3"];
    let all_say = |result: &str, valid: bool| {
        sys.wait_until(
            &format!("every ConfigurationState to say {result}"),
            WAIT,
            || Ok(sys.configuration_states()),
            |states| {
                components.iter().all(|c| {
                    states.get(*c).is_some_and(|s| {
                        s["status"]["result"] == result && s["status"]["validConfig"] == valid
                    })
                })
            },
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let states = all_say("Valid", true);
    assert_eq!(states["controller"]["spec"], json!({"type": "Controller"}));
    assert_eq!(
        states["speaker-node2"]["spec"],
        json!({"type": "Speaker", "nodeName": "node2"})
    );
    assert_eq!(states["controller"]["status"]["errorSummary"], "");

    let assigned = sys.all_ingress();
    let owner = sys.wait_arp_owner(ip, WAIT).unwrap();
    // a range ending before it starts: the whole configuration is refused, naming the object and the field
    sys.apply_yaml(
        "bad pool",
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: bad\nspec:\n  addresses:\n  - 192.0.2.140-192.0.2.130\n",
        NS,
    )
    .unwrap();
    let states = all_say("Invalid", false);
    for c in components {
        let summary = states[c]["status"]["errorSummary"].as_str().unwrap_or_default();
        assert!(
            summary.contains("IPAddressPool ferrolb-system/bad: spec.addresses[0]")
                && summary.contains("192.0.2.140-192.0.2.130"),
            "{c}: {summary}"
        );
        assert_eq!(states[c]["status"]["lastError"], summary, "{c}");
    }
    eprintln!("controller: {}", states["controller"]["status"]["errorSummary"]);
    // nothing already assigned or announced is withdrawn
    let until = Instant::now() + QUIET;
    while Instant::now() < until {
        assert_eq!(sys.arp_macs(ip).unwrap(), BTreeSet::from([owner.1]));
    }
    assert_eq!(
        sys.all_ingress(),
        assigned,
        "IPs changed under an invalid configuration"
    );

    sys.admin().delete("IPAddressPool", NS, "bad").unwrap();
    let states = all_say("Valid", true);
    assert_eq!(states["speaker-node1"]["status"]["errorSummary"], "");
}

/// Phase 5. Returns the node that died.
fn failover_and_deletion(sys: &System, ip: Ipv4Addr, started: Instant) -> String {
    phase("failover: zone a, every interface; the owner dies", started);
    patch(
        sys,
        "L2Advertisement",
        "zone-a",
        json!({"spec": {"nodeSelectors": [{"matchLabels": {"zone": "a"}}], "interfaces": null}}),
    );
    let owner = elected(ip, &ZONE_A);
    let lab = sys.lab();
    wait_arp_on(sys, "eth0", ip, lab.mac(&owner).unwrap());
    wait_arp_on(sys, "eth1", ip, lab.mac_of(&owner, "eth1").unwrap());
    // no interface named: every eligible one
    wait_l2_status(sys, "web", &owner, &["eth0", "eth1"]);
    let next = ZONE_A.iter().find(|n| **n != owner).copied().unwrap();
    let killed = Instant::now();
    sys.kill_node(&owner).unwrap();
    wait_arp_on(sys, "eth0", ip, lab.mac(next).unwrap());
    eprintln!(
        "{owner} died; {next} answers for {ip} after {} ms",
        killed.elapsed().as_millis()
    );
    wait_l2_status(sys, "web", next, &["eth0", "eth1"]);

    phase("the Service is deleted", started);
    sys.delete_service("default", "web").unwrap();
    sys.wait_until(
        "web's ServiceL2Status to be deleted",
        WAIT,
        || Ok(sys.service_statuses("ServiceL2Status", "default", "web")),
        Vec::is_empty,
    )
    .unwrap();
    sys.wait_no_arp(ip, WAIT).unwrap();
    owner
}
