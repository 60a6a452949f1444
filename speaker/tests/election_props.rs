//! Properties of the election: N simulated speakers agree on exactly one owner per layer2 IP, a node joining
//! or leaving moves only the IPs it wins or held, and IPs spread evenly over nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_config::Config;
use ferrolb_speaker::election::{Decision, ElectionInput, SkipReason, elect, rendezvous};
use ferrolb_speaker::model::{Endpoints, NodeInfo, ServiceInfo, ServiceKey, TrafficPolicy};
use proptest::prelude::*;

fn config() -> Config {
    ferrolb_config::parse(
        "address-pools:\n- name: v4\n  protocol: layer2\n  addresses: [192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24]\n\
         - name: v6\n  protocol: layer2\n  addresses: ['2001:db8::/64']\n",
    )
    .unwrap()
}

struct World {
    config: Config,
    services: BTreeMap<ServiceKey, ServiceInfo>,
    endpoints: BTreeMap<ServiceKey, Endpoints>,
    nodes: BTreeMap<String, NodeInfo>,
    members: BTreeSet<String>,
}

impl World {
    fn new(nodes: &[String], ips: &[IpAddr], local: &[Option<Vec<String>>]) -> World {
        let mut services = BTreeMap::new();
        let mut endpoints = BTreeMap::new();
        for (i, ip) in ips.iter().enumerate() {
            let key = ServiceKey::new("ns", format!("svc{i}"));
            let on = local.get(i).cloned().flatten();
            services.insert(
                key.clone(),
                ServiceInfo {
                    labels: Default::default(),
                    key: key.clone(),
                    uid: None,
                    ips: vec![*ip],
                    traffic_policy: if on.is_some() {
                        TrafficPolicy::Local
                    } else {
                        TrafficPolicy::Cluster
                    },
                },
            );
            endpoints.insert(
                key,
                Endpoints {
                    any_ready: true,
                    ready_nodes: on.unwrap_or_default().into_iter().collect(),
                },
            );
        }
        World {
            config: config(),
            services,
            endpoints,
            nodes: nodes.iter().map(|n| (n.clone(), NodeInfo::default())).collect(),
            members: nodes.iter().cloned().collect(),
        }
    }

    fn input<'a>(&'a self, node: &'a str) -> ElectionInput<'a> {
        ElectionInput {
            node,
            config: &self.config,
            services: &self.services,
            endpoints: &self.endpoints,
            nodes: &self.nodes,
            members: &self.members,
        }
    }

    /// What every speaker announces: IP → the nodes that announce it.
    fn announcers(&self) -> BTreeMap<IpAddr, Vec<String>> {
        let mut out: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
        for n in self.nodes.keys() {
            for ip in elect(&self.input(n)).layer2.ips.keys() {
                out.entry(*ip).or_default().push(n.clone());
            }
        }
        out
    }

    fn owners(&self) -> BTreeMap<IpAddr, String> {
        self.announcers()
            .into_iter()
            .map(|(ip, n)| (ip, n[0].clone()))
            .collect()
    }
}

fn ip_strategy() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..=255).prop_map(|h| IpAddr::V4(Ipv4Addr::new(192, 0, 2, h))),
        (0u8..=255).prop_map(|h| IpAddr::V4(Ipv4Addr::new(203, 0, 113, h))),
        any::<u16>().prop_map(|h| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, h))),
    ]
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("node-{i}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_speaker_agrees_on_exactly_one_owner(
        n in 1usize..12,
        ips in proptest::collection::btree_set(ip_strategy(), 1..40),
        dead in proptest::collection::btree_set(0usize..12, 0..4),
    ) {
        let nodes = names(n);
        let ips: Vec<IpAddr> = ips.into_iter().collect();
        let mut w = World::new(&nodes, &ips, &[]);
        for d in &dead {
            if let Some(name) = nodes.get(*d) {
                w.members.remove(name);
            }
        }
        let announcers = w.announcers();
        let views: Vec<_> = nodes.iter().map(|node| elect(&w.input(node))).collect();
        for ip in &ips {
            let who = announcers.get(ip).cloned().unwrap_or_default();
            if w.members.is_empty() {
                prop_assert!(who.is_empty());
                continue;
            }
            prop_assert_eq!(who.len(), 1, "{} announced by {:?}", ip, who);
            // every speaker names the same owner, and the owner is a live member
            for d in &views {
                prop_assert_eq!(d.decisions[ip].owner.as_ref(), Some(&who[0]));
            }
            prop_assert!(w.members.contains(&who[0]));
        }
    }

    #[test]
    fn joining_and_leaving_move_only_the_nodes_own_ips(
        n in 2usize..12,
        ips in proptest::collection::btree_set(ip_strategy(), 1..60),
        leaver in 0usize..12,
    ) {
        let nodes = names(n);
        let ips: Vec<IpAddr> = ips.into_iter().collect();
        let mut w = World::new(&nodes, &ips, &[]);
        let before = w.owners();

        // a node leaves: only its IPs move
        let leaver = nodes[leaver % n].clone();
        w.members.remove(&leaver);
        let after_leave = w.owners();
        for ip in &ips {
            if before[ip] != leaver {
                prop_assert_eq!(&before[ip], &after_leave[ip], "{} moved though {} did not hold it", ip, leaver);
            } else {
                prop_assert_ne!(&after_leave[ip], &leaver);
            }
        }

        // a new node joins: an IP moves only to it
        w.members.insert(leaver.clone());
        let joiner = "node-new".to_owned();
        w.nodes.insert(joiner.clone(), NodeInfo::default());
        w.members.insert(joiner.clone());
        let after_join = w.owners();
        for ip in &ips {
            if after_join[ip] != before[ip] {
                prop_assert_eq!(&after_join[ip], &joiner, "{} moved to {}", ip, after_join[ip]);
            }
        }
    }

    #[test]
    fn local_services_are_owned_by_a_node_with_an_endpoint(
        n in 1usize..8,
        ips in proptest::collection::btree_set(ip_strategy(), 1..20),
        picks in proptest::collection::vec(proptest::collection::btree_set(0usize..8, 0..4), 20),
    ) {
        let nodes = names(n);
        let ips: Vec<IpAddr> = ips.into_iter().collect();
        let local: Vec<Option<Vec<String>>> = picks
            .iter()
            .map(|p| Some(p.iter().filter_map(|i| nodes.get(*i).cloned()).collect()))
            .collect();
        let w = World::new(&nodes, &ips, &local);
        let announcers = w.announcers();
        for (i, ip) in ips.iter().enumerate() {
            let on: BTreeSet<String> = local[i].clone().unwrap_or_default().into_iter().collect();
            match announcers.get(ip) {
                Some(who) => {
                    prop_assert_eq!(who.len(), 1);
                    prop_assert!(on.contains(&who[0]));
                    prop_assert_eq!(&rendezvous::owner(*ip, on.iter().map(String::as_str)).map(str::to_owned), &Some(who[0].clone()));
                }
                None => {
                    prop_assert!(on.is_empty());
                    let d = elect(&w.input(&nodes[0])).decisions[ip].decision;
                    prop_assert_eq!(d, Decision::Skip(SkipReason::NoEligibleNode));
                }
            }
        }
    }
}

/// 1,000 IPs over 10 nodes: every node holds 70–130. Checked on fixed, realistic address sets and node
/// names (a random set could land outside by chance: the count per node is binomial(1000, 0.1), σ ≈ 9.5).
#[test]
fn a_thousand_ips_spread_evenly_over_ten_nodes() {
    let v4: Vec<IpAddr> = [[192, 0, 2], [198, 51, 100], [203, 0, 113]]
        .iter()
        .flat_map(|p| (0..=255u8).map(move |h| IpAddr::V4(Ipv4Addr::new(p[0], p[1], p[2], h))))
        .collect();
    let datasets: Vec<(&str, Vec<IpAddr>)> = vec![
        (
            "IPv6 2001:db8::1000 + 0..1000",
            (0..1000u16)
                .map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x1000 + i)))
                .collect(),
        ),
        (
            "768 IPv4 + 232 IPv6",
            v4.iter()
                .copied()
                .chain((0..232u16).map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i))))
                .collect(),
        ),
    ];
    let node_sets: Vec<Vec<String>> = vec![
        (1..=10).map(|i| format!("node{i}")).collect(),
        (1..=10)
            .map(|i| format!("worker-{i:02}.cluster.example"))
            .collect(),
    ];
    for (what, ips) in &datasets {
        assert_eq!(ips.len(), 1000);
        for nodes in &node_sets {
            let mut count: BTreeMap<&str, usize> = nodes.iter().map(|n| (n.as_str(), 0)).collect();
            for ip in ips {
                let o = rendezvous::owner(*ip, nodes.iter().map(String::as_str)).unwrap();
                *count.get_mut(o).unwrap() += 1;
            }
            let (min, max) = (count.values().min().unwrap(), count.values().max().unwrap());
            assert!(*min >= 70 && *max <= 130, "{what}, {}…: {count:?}", nodes[0]);
        }
    }
}
