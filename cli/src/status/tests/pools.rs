//! `ferrolb status pools`: the healthy cluster in full, then one change per case.

use serde_json::json;

use super::super::snapshot::{ConfigObjects, Snapshot};
use super::super::{config, exit_status, pools, render};
use super::{config_map, forbidden, healthy, resource, service};

/// The text and the exit status of `ferrolb status pools` on `snap`.
fn status_pools(snap: &Snapshot, wide: bool) -> (String, u8) {
    let loaded = snap.config.as_ref().ok().map(config::load);
    let v = pools::view(snap, loaded.as_ref());
    (
        render::pools(&v, wide),
        exit_status(v.gaps.len(), v.problems.len()),
    )
}

const LEGEND: &str = "\nSIZE: addresses the pool may hand out. COUNTED: status = IPAddressPool.status, written by the \
                      leading controller; services = counted here from the Services' IPs.\n";

#[test]
fn a_healthy_cluster() {
    let (text, exit) = status_pools(&healthy(), false);
    let want = "\
Namespace:      ferrolb-system
Configuration:  1 BGPAdvertisement, 1 BGPPeer, 2 IPAddressPools, 1 L2Advertisement: valid, 2 pools

NAME      SOURCE                  FAMILY   SIZE   ASSIGNED   AVAILABLE   COUNTED    AUTO-ASSIGN   MODES    SERVICES   ALLOCATION
default   ipaddresspool/default   IPv4     10     1          9           status     yes           layer2   1          -
default   ipaddresspool/default   IPv6     16     1          15          status     yes           layer2   1          -
routed    ipaddresspool/routed    IPv4     1      1          0           services   no            bgp      1          -
";
    assert_eq!(text, format!("{want}{LEGEND}"));
    assert_eq!(exit, 0);
}

struct Case {
    name: &'static str,
    change: fn(&mut Snapshot),
    wide: bool,
    exit: u8,
    has: &'static [&'static str],
    has_not: &'static [&'static str],
}

fn config_objects(s: &mut Snapshot) -> &mut ConfigObjects {
    s.config.as_mut().expect("the fixture reads the configuration")
}

const CASES: &[Case] = &[
    Case {
        name: "a ConfigMap pool: counted from the Services, a shared IP once, avoid-buggy-ips applied",
        change: |s| {
            *config_objects(s) = ConfigObjects {
                sources: ferrolb_config::Sources {
                    config_map: Some(config_map(
                        "address-pools:\n- name: legacy\n  protocol: layer2\n  avoid-buggy-ips: true\n  \
                         addresses: [198.51.100.0/24]\n",
                    )),
                    ..Default::default()
                },
                ..Default::default()
            };
            s.services = vec![
                service("a", "one", &["198.51.100.1"], Some("legacy")),
                service("a", "two", &["198.51.100.1"], Some("legacy")),
                service("b", "three", &["198.51.100.7"], Some("legacy")),
                service("b", "pending", &[], None),
            ];
        },
        wide: false,
        exit: 0,
        has: &[
            "legacy   configmap/config   IPv4     254    2          252         services   yes           layer2   3",
        ],
        has_not: &[],
    },
    Case {
        name: "an IPAddressPool whose status is not written yet: counted here",
        change: |s| config_objects(s).pool_status.clear(),
        wide: false,
        exit: 0,
        has: &[
            "default   ipaddresspool/default   IPv4     10     1          9           services",
            "default   ipaddresspool/default   IPv6     16     1          15          services",
        ],
        has_not: &["status     yes"],
    },
    Case {
        name: "Services of another class do not count",
        change: |s| {
            config_objects(s).pool_status.clear();
            s.services
                .iter_mut()
                .for_each(|svc| svc.class = Some("example.com/other".into()));
        },
        wide: false,
        exit: 0,
        has: &["default   ipaddresspool/default   IPv4     10     0          10          services"],
        has_not: &[],
    },
    Case {
        name: "a service allocation and no advertisement",
        change: |s| {
            let r = &mut config_objects(s).sources.resources;
            r.retain(|r| r.object.name != "bgp");
            r.push(resource(
                "IPAddressPool",
                "team",
                json!({"addresses": ["198.51.100.0/28"], "serviceAllocation": {
                    "priority": 10, "namespaces": ["a", "b"],
                    "serviceSelectors": [{"matchLabels": {"tier": "web"}}]}}),
            ));
        },
        wide: false,
        exit: 0,
        has: &[
            "routed    ipaddresspool/routed    IPv4     1      1          0           services   no            none",
            "team      ipaddresspool/team      IPv4     16     0          16          services   yes           none     0          priority 10, namespaces a b, 1 service selector",
        ],
        has_not: &[],
    },
    Case {
        name: "wide: the address ranges",
        change: |_| {},
        wide: true,
        exit: 0,
        has: &[
            "SERVICES   ADDRESSES                 ALLOCATION",
            "1          192.0.2.100-192.0.2.109   -",
            "1          2001:db8::100/124         -",
        ],
        has_not: &[],
    },
    Case {
        name: "an invalid configuration: every error, no rows",
        change: |s| {
            let r = &mut config_objects(s).sources.resources;
            r.push(resource(
                "IPAddressPool",
                "overlap",
                json!({"addresses": ["192.0.2.105/32"]}),
            ));
            r.push(resource(
                "IPAddressPool",
                "broken",
                json!({"addresses": ["not an address"]}),
            ));
        },
        wide: false,
        exit: 1,
        has: &[
            ": invalid (2 errors)\n",
            "IPAddressPool ferrolb-system/broken: spec.addresses[0]",
            "Problems:\n  the configuration objects are invalid (2 errors)\n",
        ],
        has_not: &["NAME", "SIZE:"],
    },
    Case {
        name: "the configuration not readable",
        change: |s| s.config = Err(forbidden("list ipaddresspools.metallb.io in ferrolb-system")),
        wide: false,
        exit: 2,
        has: &[
            "Configuration:  ?\n",
            "Not read (the output is incomplete):\n  cannot list ipaddresspools.metallb.io in ferrolb-system: forbidden:",
        ],
        has_not: &["NAME"],
    },
    Case {
        name: "what `ferrolb status` needs beyond the configuration does not matter here",
        change: |s| {
            s.l2 = Err(forbidden("list servicel2statuses.metallb.io in ferrolb-system"));
            s.lease = Ok(None);
            s.states = Ok(Vec::new());
        },
        wide: false,
        exit: 0,
        has: &[],
        has_not: &["Not read", "Problems"],
    },
];

#[test]
fn cases() {
    for case in CASES {
        let mut snap = healthy();
        (case.change)(&mut snap);
        let (text, exit) = status_pools(&snap, case.wide);
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
fn json_rows() {
    let snap = healthy();
    let loaded = snap.config.as_ref().ok().map(config::load);
    let v = pools::view(&snap, loaded.as_ref());
    let doc: serde_json::Value = serde_json::from_str(&render::json(&v)).expect("JSON");
    assert_eq!(
        doc["rows"][2],
        json!({
            "name": "routed",
            "source": {"kind": "IPAddressPool", "namespace": "ferrolb-system", "name": "routed"},
            "family": "IPv4", "size": 1, "assigned": 1, "available": 0, "counted": "services",
            "autoAssign": false, "modes": ["bgp"], "services": 1, "allocation": null,
            "addresses": ["203.0.113.10/32"],
        })
    );
}
