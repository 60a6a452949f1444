//! Table-driven tests of the election (the property tests are in `tests/election_props.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::Config;

use super::*;
use crate::model::{EXCLUDE_FROM_LB_LABEL, Endpoints, NodeInfo, ServiceInfo, ServiceKey, TrafficPolicy};

const CONFIG: &str = "
address-pools:
- name: l2
  protocol: layer2
  addresses: [192.0.2.100-192.0.2.150, 2001:db8::100/120]
- name: l2-zone-a
  protocol: layer2
  addresses: [192.0.2.200/29]
  node-selectors:
  - match-labels: {zone: a}
  interfaces: [eth1]
- name: bgp
  protocol: bgp
  addresses: [203.0.113.0/24]
  bgp-advertisements:
  - communities: [64512:7]
peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
- peer-address: 192.0.2.2
  peer-asn: 64512
  my-asn: 64513
  node-selectors:
  - match-labels: {zone: b}
";

/// A world with nodes n1..n4 (n1..n3 zone a, n4 zone b), all live, and Services added per case.
struct World {
    config: Config,
    services: BTreeMap<ServiceKey, ServiceInfo>,
    endpoints: BTreeMap<ServiceKey, Endpoints>,
    nodes: BTreeMap<String, NodeInfo>,
    members: BTreeSet<String>,
}

impl World {
    fn new() -> World {
        let nodes = (1..=4)
            .map(|i| {
                let zone = if i == 4 { "b" } else { "a" };
                (
                    format!("n{i}"),
                    NodeInfo {
                        labels: BTreeMap::from([("zone".to_owned(), zone.to_owned())]),
                        network_unavailable: false,
                        addresses: vec![format!("192.0.2.{}", 10 + i).parse().unwrap()],
                        ..NodeInfo::default()
                    },
                )
            })
            .collect();
        World {
            config: ferrolb_config::parse(CONFIG).unwrap(),
            services: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            nodes,
            members: ["n1", "n2", "n3", "n4"].iter().map(|s| s.to_string()).collect(),
        }
    }

    fn service(mut self, name: &str, ip: &str, policy: TrafficPolicy, ready_on: &[&str]) -> World {
        let key = ServiceKey::new("default", name);
        self.services.insert(
            key.clone(),
            ServiceInfo {
                key: key.clone(),
                uid: None,
                labels: BTreeMap::new(),
                ips: vec![ip.parse().unwrap()],
                traffic_policy: policy,
            },
        );
        if !ready_on.is_empty() {
            self.endpoints.insert(
                key,
                Endpoints {
                    any_ready: true,
                    ready_nodes: ready_on.iter().map(|s| s.to_string()).collect(),
                },
            );
        }
        self
    }

    fn with(mut self, f: impl FnOnce(&mut World)) -> World {
        f(&mut self);
        self
    }

    fn elect(&self, node: &str) -> Desired {
        elect(&ElectionInput {
            node,
            config: &self.config,
            services: &self.services,
            endpoints: &self.endpoints,
            nodes: &self.nodes,
            members: &self.members,
        })
    }

    fn decision(&self, node: &str, ip: &str) -> IpDecision {
        self.elect(node).decisions[&ip.parse::<IpAddr>().unwrap()].clone()
    }
}

fn owner_among(ip: &str, nodes: &[&str]) -> String {
    rendezvous::owner(ip.parse().unwrap(), nodes.iter().copied())
        .unwrap()
        .to_owned()
}

const CL: TrafficPolicy = TrafficPolicy::Cluster;
const LO: TrafficPolicy = TrafficPolicy::Local;

#[test]
fn layer2_decisions() {
    let ip = "192.0.2.100";
    let all = ["n1", "n2", "n3", "n4"];
    let winner = owner_among(ip, &all);
    // (case, world, node asking, expected decision, expected owner)
    type Case = (&'static str, World, String, Decision, Option<String>);
    let skip = Decision::Skip;
    let cases: Vec<Case> = vec![
        (
            "the hash winner announces",
            World::new().service("web", ip, CL, &["n1"]),
            winner.clone(),
            Decision::Announce,
            Some(winner.clone()),
        ),
        (
            "everyone else is told who owns it",
            World::new().service("web", ip, CL, &["n1"]),
            all.iter().find(|n| **n != winner).unwrap().to_string(),
            skip(SkipReason::OtherOwner),
            Some(winner.clone()),
        ),
        (
            "no endpoints: nobody",
            World::new().service("web", ip, CL, &[]),
            winner.clone(),
            skip(SkipReason::NoReadyEndpoints),
            None,
        ),
        (
            "an IP outside every pool is never announced",
            World::new().service("web", "192.0.2.99", CL, &["n1"]),
            "n1".into(),
            skip(SkipReason::NotInPool),
            None,
        ),
        (
            "a node that is not a live member",
            World::new().service("web", ip, CL, &["n1"]).with(|w| {
                w.members.remove(&winner);
            }),
            winner.clone(),
            skip(SkipReason::NotMember),
            Some(owner_among(
                ip,
                &all.iter().copied().filter(|n| *n != winner).collect::<Vec<_>>(),
            )),
        ),
        (
            "NetworkUnavailable",
            World::new()
                .service("web", ip, CL, &["n1"])
                .with(|w| w.nodes.get_mut(&winner).unwrap().network_unavailable = true),
            winner.clone(),
            skip(SkipReason::NetworkUnavailable),
            Some(owner_among(
                ip,
                &all.iter().copied().filter(|n| *n != winner).collect::<Vec<_>>(),
            )),
        ),
        (
            "the exclude-from-external-load-balancers label",
            World::new().service("web", ip, CL, &["n1"]).with(|w| {
                w.nodes
                    .get_mut(&winner)
                    .unwrap()
                    .labels
                    .insert(EXCLUDE_FROM_LB_LABEL.into(), String::new());
            }),
            winner.clone(),
            skip(SkipReason::ExcludedByLabel),
            Some(owner_among(
                ip,
                &all.iter().copied().filter(|n| *n != winner).collect::<Vec<_>>(),
            )),
        ),
        (
            "no Node object",
            World::new().service("web", ip, CL, &["n1"]).with(|w| {
                w.members.insert("n9".into());
            }),
            "n9".into(),
            skip(SkipReason::UnknownNode),
            Some(winner.clone()),
        ),
        (
            "pool node selectors: zone b may not announce zone-a's pool",
            World::new().service("web", "192.0.2.201", CL, &["n1"]),
            "n4".into(),
            skip(SkipReason::NodeNotSelected),
            Some(owner_among("192.0.2.201", &["n1", "n2", "n3"])),
        ),
        (
            "Local: the owner is among the nodes with an endpoint",
            World::new().service("web", ip, LO, &["n2", "n3"]),
            owner_among(ip, &["n2", "n3"]),
            Decision::Announce,
            Some(owner_among(ip, &["n2", "n3"])),
        ),
        (
            "Local: a node without an endpoint does not",
            World::new().service("web", ip, LO, &["n3"]),
            "n1".into(),
            skip(SkipReason::NoLocalEndpoint),
            Some("n3".into()),
        ),
        (
            "Local: endpoints only on a node that cannot announce",
            World::new().service("web", ip, LO, &["n3"]).with(|w| {
                w.members.remove("n3");
            }),
            "n1".into(),
            skip(SkipReason::NoEligibleNode),
            None,
        ),
    ];
    for (name, world, node, want, want_owner) in cases {
        let ipk = world.services.values().next().unwrap().ips[0];
        let d = world.decision(&node, &ipk.to_string());
        assert_eq!(d.decision, want, "{name}: decision on {node}");
        assert_eq!(d.owner, want_owner, "{name}: owner");
        let announced = world.elect(&node).layer2.ips.contains_key(&ipk);
        assert_eq!(announced, want.is_announce(), "{name}: layer2 desired on {node}");
    }
}

#[test]
fn services_sharing_an_ip_share_the_owner() {
    let ip = "192.0.2.110";
    let w = World::new()
        .service("dns-tcp", ip, CL, &["n1"])
        .service("dns-udp", ip, CL, &["n2"])
        .service("empty", ip, CL, &[]);
    let owners: BTreeSet<Option<String>> = ["n1", "n2", "n3", "n4"]
        .iter()
        .map(|n| w.decision(n, ip).owner)
        .collect();
    assert_eq!(owners.len(), 1, "one owner for the IP");
    let owner = owners.into_iter().next().flatten().unwrap();
    let d = w.elect(&owner);
    let ann = &d.layer2.ips[&ip.parse::<IpAddr>().unwrap()];
    assert_eq!(
        ann.services.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["dns-tcp", "dns-udp", "empty"]
    );
    assert_eq!(ann.pool, "l2");
    assert!(ann.interfaces.is_empty());
    // two Local Services on one IP: only nodes serving both qualify
    let w = World::new()
        .service("a", ip, LO, &["n1", "n2"])
        .service("b", ip, LO, &["n2", "n3"]);
    assert_eq!(w.decision("n1", ip).owner.as_deref(), Some("n2"));
}

#[test]
fn pool_interfaces_are_passed_to_the_announcer() {
    let ip = "192.0.2.202";
    let w = World::new().service("web", ip, CL, &["n1"]);
    let owner = w.decision("n1", ip).owner.unwrap();
    let ann = w.elect(&owner).layer2.ips[&ip.parse::<IpAddr>().unwrap()].clone();
    assert_eq!(ann.interfaces, ["eth1"]);
    assert_eq!(ann.pool, "l2-zone-a");
}

#[test]
fn bgp_lists_every_advertising_node_and_this_nodes_peers() {
    let ip = "203.0.113.5";
    let w = World::new()
        .service("web", ip, CL, &["n1"])
        .service("local", "203.0.113.6", LO, &["n2", "n4"])
        .with(|w| {
            w.nodes.get_mut("n3").unwrap().network_unavailable = true;
            // membership does not matter for BGP
            w.members.clear();
        });
    let d = w.elect("n1");
    let p = &d.bgp.prefixes[&ip.parse::<IpAddr>().unwrap()];
    assert_eq!(
        p.advertising_nodes.iter().map(String::as_str).collect::<Vec<_>>(),
        ["n1", "n2", "n4"]
    );
    assert_eq!(p.decision, Decision::Announce);
    assert_eq!(p.advertisements[0].communities.len(), 1);
    let local = &d.bgp.prefixes[&"203.0.113.6".parse::<IpAddr>().unwrap()];
    assert_eq!(
        local
            .advertising_nodes
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["n2", "n4"]
    );
    assert_eq!(local.decision, Decision::Skip(SkipReason::NoLocalEndpoint));
    assert_eq!(d.bgp.advertised().count(), 1);
    assert!(d.layer2.ips.is_empty(), "bgp IPs are not layer2's");
    assert_eq!(
        d.bgp.peers.len(),
        1,
        "n1 (zone a) peers with the unrestricted router only"
    );
    assert_eq!(w.elect("n4").bgp.peers.len(), 2);
    assert_eq!(
        w.elect("n3").bgp.prefixes[&ip.parse::<IpAddr>().unwrap()].decision,
        Decision::Skip(SkipReason::NetworkUnavailable)
    );
}

#[test]
fn skip_reasons_have_distinct_labels() {
    let labels: BTreeSet<&str> = SkipReason::ALL.iter().map(|r| r.metric_label()).collect();
    assert_eq!(labels.len(), SkipReason::ALL.len());
}
