//! `ferrolb status`: the healthy cluster in full, then one change per case.

use serde_json::json;

use super::super::snapshot::{AllocationFailure, ConfigObjects, Lease, Snapshot};
use super::super::{config, exit_status, render, services};
use super::{NOW, NS, config_map, forbidden, healthy, resource, service, speaker};

/// The text (`wide` or not) and the exit status of `ferrolb status` on `snap`.
fn status(snap: &Snapshot, wide: bool) -> (String, u8) {
    let loaded = snap.config.as_ref().ok().map(config::load);
    let v = services::view(snap, loaded.as_ref());
    (
        render::status(&v, wide),
        exit_status(v.gaps.len(), v.problems.len()),
    )
}

#[test]
fn a_healthy_cluster() {
    let (text, exit) = status(&healthy(), false);
    assert_eq!(
        text,
        "\
Namespace:      ferrolb-system
Leader:         ctrl-1 (renewed 2s ago)
Configuration:  1 BGPAdvertisement, 1 BGPPeer, 2 IPAddressPools, 1 L2Advertisement: valid, 2 pools
Components:     controller Valid, speakers Valid on 2 of 2 nodes
BGP sessions:   2 of 2 Established
Services:       2 LoadBalancer: 2 with an IP (3 IPs), 0 pending; 1 of another load-balancer class not shown

SERVICE       IP              POOL      MODE     NODES         PEERS
default/web   192.0.2.100     default   layer2   node2         -
default/web   2001:db8::100   default   layer2   node2         -
prod/api      203.0.113.10    routed    bgp      node1,node2   router(Established)
"
    );
    assert_eq!(exit, 0);
}

struct Case {
    name: &'static str,
    change: fn(&mut Snapshot),
    wide: bool,
    exit: u8,
    /// Lines (or parts of lines) the output has.
    has: &'static [&'static str],
    /// ... and has not.
    has_not: &'static [&'static str],
}

fn add_pending(s: &mut Snapshot) {
    s.services.push(service("default", "other", &[], None));
}

fn config_objects(s: &mut Snapshot) -> &mut ConfigObjects {
    s.config.as_mut().expect("the fixture reads the configuration")
}

const CASES: &[Case] = &[
    Case {
        name: "a pending Service with the controller's reason",
        change: add_pending,
        wide: false,
        exit: 1,
        has: &[
            "Services:       3 LoadBalancer: 2 with an IP (3 IPs), 1 pending;",
            "default/other   <pending>       -         -        -             -",
            "Pending:\n  default/other: Failed to allocate IP: address pool \"gold\" does not exist (13s ago)\n",
            "Problems:\n  1 Service pending\n",
        ],
        has_not: &["Not read"],
    },
    Case {
        name: "a pending Service whose Event is about an older Service of the same name",
        change: |s| {
            add_pending(s);
            if let Ok(f) = &mut s.failures {
                f[0].uid = Some("uid-of-a-deleted-one".into());
            }
        },
        wide: false,
        exit: 1,
        has: &["default/other: no AllocationFailed Event"],
        has_not: &["gold"],
    },
    Case {
        name: "the latest of two Events",
        change: |s| {
            add_pending(s);
            if let Ok(f) = &mut s.failures {
                f.push(AllocationFailure {
                    message: "Failed to allocate IP: no free IPv4 address left".into(),
                    time: Some(NOW - 3),
                    ..f[0].clone()
                });
            }
        },
        wide: false,
        exit: 1,
        has: &["default/other: Failed to allocate IP: no free IPv4 address left (3s ago)"],
        has_not: &["gold"],
    },
    Case {
        name: "Events not readable: pending still a problem, the reason a note, not a gap",
        change: |s| {
            add_pending(s);
            s.failures = Err(forbidden("list events (all namespaces)"));
        },
        wide: false,
        exit: 1,
        has: &[
            "Notes:\n  why Services are pending is not shown: cannot list events (all namespaces): forbidden: \
             User \"ops\" cannot list events (all namespaces)\n",
        ],
        has_not: &["Not read"],
    },
    Case {
        name: "Events not readable and nothing pending: nothing said",
        change: |s| s.failures = Err(forbidden("list events (all namespaces)")),
        wide: false,
        exit: 0,
        has: &[],
        has_not: &["Notes", "events"],
    },
    Case {
        name: "no Lease",
        change: |s| s.lease = Ok(None),
        wide: false,
        exit: 1,
        has: &[
            "Leader:         none: no Lease\n",
            "Problems:\n  no controller leads: no Lease ferrolb-system/ferrolb-controller (no controller has run)\n",
        ],
        has_not: &[],
    },
    Case {
        name: "an expired Lease",
        change: |s| {
            s.lease = Ok(Some(Lease {
                holder: Some("ctrl-1".into()),
                renewed: Some(NOW - 195),
                duration: Some(15),
            }))
        },
        wide: false,
        exit: 1,
        has: &[
            "Leader:         none: the Lease held by ctrl-1 expired 3m ago\n",
            "no controller leads: the Lease ferrolb-system/ferrolb-controller held by ctrl-1 expired 3m ago",
        ],
        has_not: &[],
    },
    Case {
        name: "a released Lease",
        change: |s| s.lease = Ok(Some(Lease::default())),
        wide: false,
        exit: 1,
        has: &["Leader:         none: the Lease has no holder\n"],
        has_not: &[],
    },
    Case {
        name: "no Lease and no ConfigurationState: ferrolb does not run in this namespace",
        change: |s| {
            s.lease = Ok(None);
            s.states = Ok(Vec::new());
        },
        wide: false,
        exit: 1,
        has: &[
            "Components:     controller not reported, no speaker reported\n",
            "Problems:\n  ferrolb does not run in namespace ferrolb-system: no Lease ferrolb-controller and no \
             ConfigurationState there (--namespace names ferrolb's namespace)\n",
        ],
        has_not: &["no controller leads", "Notes"],
    },
    Case {
        name: "a speaker with an invalid configuration",
        change: |s| {
            if let Ok(states) = &mut s.states {
                states[0] = speaker("node2", "Invalid", &[("router", "Established")]);
                states[0].error = "the configuration is invalid (1 error): IPAddressPool x: …".into();
            }
        },
        wide: false,
        exit: 1,
        has: &[
            "Components:     controller Valid, speakers Valid on 1 of 2 nodes\n                \
             speaker node2 Invalid: the configuration is invalid (1 error): IPAddressPool x: …\n",
            "Problems:\n  speaker node2: configuration Invalid\n",
        ],
        has_not: &[],
    },
    Case {
        name: "no ConfigurationState of the controller",
        change: |s| {
            if let Ok(states) = &mut s.states {
                states.remove(1);
            }
        },
        wide: false,
        exit: 1,
        has: &[
            "Components:     controller not reported, speakers Valid on 2 of 2 nodes",
            "the controller reports no configuration state (no ConfigurationState controller)",
        ],
        has_not: &[],
    },
    Case {
        name: "a BGP session down on one node",
        change: |s| {
            if let Ok(states) = &mut s.states {
                states[0] = speaker("node2", "Valid", &[("router", "Active")]);
                states[0].sessions[0].message = "connect: connection refused".into();
            }
        },
        wide: false,
        exit: 1,
        has: &[
            "BGP sessions:   1 of 2 Established\n                node2 to router: Active (connect: connection refused)\n",
            "prod/api      203.0.113.10    routed    bgp      node1,node2   router(node1=Established,node2=Active)",
            "Problems:\n  BGP session of node2 to router: Active\n",
        ],
        has_not: &[],
    },
    Case {
        name: "speakers that report no session state (yet)",
        change: |s| {
            if let Ok(states) = &mut s.states {
                states.iter_mut().for_each(|c| c.sessions.clear());
            }
        },
        wide: false,
        exit: 0,
        has: &[
            "router(unknown)",
            "Notes:\n  the speakers report no BGP session state (conditions BGPPeer/<peer> of their \
             ConfigurationState): PEERS show unknown\n",
        ],
        has_not: &["BGP sessions:"],
    },
    Case {
        name: "ServiceL2Statuses not readable: nodes unknown, the output incomplete",
        change: |s| s.l2 = Err(forbidden("list servicel2statuses.metallb.io in ferrolb-system")),
        wide: false,
        exit: 2,
        has: &[
            "default/web   192.0.2.100     default   layer2   ?       -",
            "prod/api      203.0.113.10    routed    bgp      ?       router(Established)",
            "Not read (the output is incomplete):\n  cannot list servicel2statuses.metallb.io in ferrolb-system: \
             forbidden: User \"ops\" cannot list servicel2statuses.metallb.io in ferrolb-system\n",
        ],
        has_not: &[],
    },
    Case {
        name: "an invalid configuration: modes from the status objects",
        change: |s| {
            let pools = &mut config_objects(s).sources.resources;
            pools.push(resource(
                "IPAddressPool",
                "overlap",
                json!({"addresses": ["192.0.2.105/32"]}),
            ));
        },
        wide: false,
        exit: 1,
        has: &[
            "Configuration:  1 BGPAdvertisement, 1 BGPPeer, 3 IPAddressPools, 1 L2Advertisement: invalid (1 error)\n\
             \x20               IPAddressPool ferrolb-system/overlap: ",
            "default/web   192.0.2.100     default   layer2   node2         -",
            "prod/api      203.0.113.10    routed    bgp      node1,node2   router(Established)",
            "Problems:\n  the configuration objects are invalid (1 error)\n",
        ],
        has_not: &[],
    },
    Case {
        name: "no configuration objects",
        change: |s| *config_objects(s) = ConfigObjects::default(),
        wide: false,
        exit: 1,
        has: &[
            "Configuration:  none\n",
            "no configuration in namespace ferrolb-system: no ConfigMap and no metallb.io resources",
        ],
        has_not: &[],
    },
    Case {
        name: "a pool no advertisement selects: its IPs are not announced",
        change: |s| {
            config_objects(s)
                .sources
                .resources
                .retain(|r| r.object.name != "l2")
        },
        wide: false,
        exit: 0,
        has: &["default/web   192.0.2.100     default   none   node2         -"],
        has_not: &[],
    },
    Case {
        name: "a peer's password Secret not readable: taken as valid",
        change: |s| {
            let objects = config_objects(s);
            let key = ("ferrolb-system".to_owned(), "bgp-auth".to_owned());
            objects
                .unread_secrets
                .insert(key, forbidden("get secrets bgp-auth in ferrolb-system"));
            let peer = objects
                .sources
                .resources
                .iter_mut()
                .find(|r| r.object.kind == "BGPPeer")
                .expect("peer");
            peer.spec["passwordSecret"] = json!({"name": "bgp-auth"});
        },
        wide: false,
        exit: 0,
        has: &[
            ": valid, 2 pools",
            "Notes:\n  cannot get secrets bgp-auth in ferrolb-system: forbidden: User \"ops\" cannot get secrets \
             bgp-auth in ferrolb-system; taken as a valid password Secret\n",
        ],
        has_not: &["Problems"],
    },
    Case {
        name: "the legacy ConfigMap alone, pools found by the IP when the annotation is missing",
        change: |s| {
            *config_objects(s) = ConfigObjects {
                sources: ferrolb_config::Sources {
                    config_map: Some(config_map(
                        "address-pools:\n- name: legacy\n  protocol: layer2\n  addresses: [192.0.2.100/30]\n",
                    )),
                    ..Default::default()
                },
                ..Default::default()
            };
            s.services = vec![service("default", "web", &["192.0.2.100"], None)];
        },
        wide: false,
        exit: 0,
        has: &[
            "Configuration:  ConfigMap ferrolb-system/config: valid, 1 pool\n",
            "default/web   192.0.2.100   legacy   layer2   node2   -",
        ],
        has_not: &[],
    },
    Case {
        name: "another load-balancer class served",
        change: |s| s.load_balancer_class = Some("example.com/other".into()),
        wide: false,
        exit: 0,
        has: &[
            "Services:       1 LoadBalancer: 1 with an IP (1 IP), 0 pending; 2 of another load-balancer class",
            "default/foreign   198.51.100.1   -      ?      none    -",
        ],
        has_not: &["default/web"],
    },
    Case {
        name: "the configuration in another namespace",
        change: |s| s.config_namespace = "metallb-system".into(),
        wide: false,
        exit: 0,
        has: &["Namespace:      ferrolb-system (configuration in metallb-system)\n"],
        has_not: &[],
    },
    Case {
        name: "wide: the interfaces",
        change: add_pending,
        wide: true,
        exit: 1,
        has: &[
            "SERVICE         IP              POOL      MODE     NODES         INTERFACES   PEERS",
            "default/other   <pending>       -         -        -             -            -",
            "default/web     192.0.2.100     default   layer2   node2         node2/eth0   -",
            "prod/api        203.0.113.10    routed    bgp      node1,node2   -            router(Established)",
        ],
        has_not: &[],
    },
];

#[test]
fn cases() {
    for case in CASES {
        let mut snap = healthy();
        (case.change)(&mut snap);
        let (text, exit) = status(&snap, case.wide);
        for want in case.has {
            assert!(text.contains(want), "{}: no {want:?} in\n{text}", case.name);
        }
        for unwanted in case.has_not {
            assert!(!text.contains(unwanted), "{}: {unwanted:?} in\n{text}", case.name);
        }
        assert_eq!(exit, case.exit, "{}: exit status\n{text}", case.name);
    }
}

#[test]
fn json_has_the_same_facts() {
    let mut snap = healthy();
    add_pending(&mut snap);
    let loaded = snap.config.as_ref().ok().map(config::load);
    let v = services::view(&snap, loaded.as_ref());
    let doc: serde_json::Value = serde_json::from_str(&render::json(&v)).expect("JSON");
    assert_eq!(doc["namespace"], NS);
    assert_eq!(
        doc["leader"],
        json!({"state": "held", "holder": "ctrl-1", "renewedAgo": 2})
    );
    assert_eq!(doc["counts"]["pending"], 1);
    assert_eq!(
        doc["rows"][0]["ip"],
        json!(null),
        "the pending Service sorts first"
    );
    assert_eq!(
        doc["rows"][3]["peers"],
        json!([{"peer": "router", "sessions": [
            {"node": "node1", "state": "Established"}, {"node": "node2", "state": "Established"}]}])
    );
    assert_eq!(doc["rows"][1]["modes"], json!(["layer2"]));
    assert_eq!(doc["problems"], json!(["1 Service pending"]));
    assert_eq!(doc["configuration"]["result"], "valid");
}
