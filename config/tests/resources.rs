//! MetalLB's `metallb.io` resources as its documentation, its `configsamples` and kubespray ≥ v2.22 write
//! them (tests/data/metallb-crs/, sources in its README), read with `resources::load_file`: which pools,
//! their order, which advertisements select which pools, nodes, peers and Services, with which attributes —
//! and what is refused, with which error.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ferrolb_config::resources::{FileLoad, load_file};
use ferrolb_config::{
    AddressFamily, Community, Config, ConfigErrors, ErrorKind, ObjectRef, PasswordSource, Protocol,
    WarningKind, well_known,
};

fn read(name: &str) -> String {
    let path = format!("{}/tests/data/metallb-crs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn load(name: &str) -> FileLoad {
    load_file(&read(name)).unwrap_or_else(|| panic!("{name}: no metallb.io resource found"))
}

fn config(name: &str) -> Config {
    let load = load(name);
    match load.result {
        Ok(parsed) => {
            assert!(parsed.warnings.is_empty(), "{name}: {:?}", parsed.warnings);
            parsed.config
        }
        Err(e) => panic!("{name}:\n{e}"),
    }
}

fn errors(name: &str) -> ConfigErrors {
    match load(name).result {
        Ok(p) => panic!("{name} is valid: {:?}", p.config),
        Err(e) => e,
    }
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
    items.iter().map(name).collect()
}

#[test]
fn docs_index_pool_of_both_families_is_allocated_not_announced() {
    let c = config("docs-index-pools.yaml");
    let [pool] = c.pools.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(pool.name, "first-pool");
    assert_eq!(pool.len(AddressFamily::V4), 256 + 5);
    assert_eq!(pool.len(AddressFamily::V6), 16);
    assert!(pool.contains(ip("192.168.9.5")) && !pool.contains(ip("192.168.9.6")));
    assert!(pool.auto_assign && !pool.avoid_buggy_ips && pool.service_allocation.is_none());
    assert!(
        c.protocols("first-pool").is_empty(),
        "no advertisement: allocated, not announced"
    );
}

#[test]
fn docs_index_layer2_advertisement_without_selection_selects_every_pool() {
    for file in ["docs-index-layer2.yaml", "docs-index-layer2-pools.yaml"] {
        let c = config(file);
        let [adv] = c.l2_advertisements.as_slice() else {
            panic!("{c:?}")
        };
        assert_eq!(
            (adv.name.as_str(), adv.pools.as_slice()),
            ("example", &["first-pool".to_owned()][..])
        );
        assert!(adv.node_selectors.is_empty() && adv.interfaces.is_empty());
        assert!(adv.selects_node(&labels(&[("kubernetes.io/hostname", "any")])));
        assert_eq!(c.protocols("first-pool"), [Protocol::Layer2], "{file}");
    }
}

#[test]
fn docs_index_bgp_peers_advertisement_and_bfd_profile() {
    let c = config("docs-index-bgp.yaml");
    assert_eq!(
        names(&c.peers, |p| &p.name),
        ["peersample", "sample"],
        "in name order"
    );
    let sample = c.peer("sample").unwrap();
    assert_eq!(
        (sample.address, sample.asn, sample.my_asn, sample.port),
        (ip("10.0.0.1"), 64501, 64500, 179)
    );
    assert_eq!(
        (sample.hold_time, sample.keepalive_time),
        (Duration::from_secs(90), Duration::from_secs(30))
    );
    assert!(
        !sample.graceful_restart,
        "MetalLB's default: enableGracefulRestart off"
    );
    assert_eq!(sample.connect_time, None);
    let bfd = c.peer("peersample").unwrap();
    assert_eq!(bfd.bfd_profile.as_deref(), Some("testbfdprofile"));
    let profile = c.bfd_profile("testbfdprofile").unwrap();
    assert_eq!(
        (profile.receive_interval_ms, profile.transmit_interval_ms),
        (380, 270)
    );
    assert_eq!(
        (
            profile.detect_multiplier,
            profile.echo_interval_ms,
            profile.minimum_ttl
        ),
        (3, 50, 254)
    );
    let [adv] = c.bgp_advertisements.as_slice() else {
        panic!()
    };
    assert_eq!(adv.pools, ["first-pool"]);
    assert_eq!(
        (adv.aggregation_length, adv.aggregation_length_v6, adv.local_pref),
        (32, 128, None)
    );
    assert!(adv.selects_peer("sample") && adv.selects_peer("peersample"));
    assert_eq!(c.protocols("first-pool"), [Protocol::Bgp]);
}

#[test]
fn docs_bgp_aggregation_host_routes_and_an_aggregate() {
    let load = load("docs-bgp-aggregation.yaml");
    let parsed = load.result.unwrap();
    // 198.51.100.10/24 has host bits: the whole /24, as MetalLB, with a warning on the file's line.
    let [warning] = parsed.warnings.as_slice() else {
        panic!("{:?}", parsed.warnings)
    };
    assert!(matches!(&warning.kind, WarningKind::HostBitsSet { network } if network == "198.51.100.0/24"));
    assert_eq!(
        (warning.path.as_str(), warning.line),
        ("spec.addresses[0]", Some(8))
    );
    let c = parsed.config;
    let by = |n: &str| c.bgp_advertisements.iter().find(|a| a.name == n).unwrap();
    let (local, external) = (by("local"), by("external"));
    assert_eq!((local.aggregation_length, local.local_pref), (32, Some(100)));
    assert_eq!(local.communities, [well_known("no-advertise").unwrap()]);
    assert_eq!((external.aggregation_length, external.local_pref), (24, None));
    let pool = c.pool("first-pool").unwrap();
    // Different lengths for the pool's only family: no LOCAL_PREF conflict (MetalLB issue #2345).
    assert!(!local.local_pref_conflict(external, pool, None));
    assert_eq!(c.bgp_advertisements_for("first-pool").count(), 2);
}

#[test]
fn docs_bgp_peer_node_selectors_and_port() {
    let c = config("docs-bgp-peer-node-selectors.yaml");
    let peer = &c.peers[0];
    assert_eq!(peer.port, 180);
    let cases = [
        (&[("rack", "frontend")][..], true),
        (&[("rack", "frontend"), ("network-speed", "slow")][..], false),
        (&[("kubernetes.io/hostname", "hostB")][..], true),
        (&[("kubernetes.io/hostname", "hostC")][..], false),
    ];
    for (node, want) in cases {
        assert_eq!(peer.selects_node(&labels(node)), want, "{node:?}");
    }
}

#[test]
fn docs_unknown_pools_and_peers_select_nothing_with_a_warning() {
    let parsed = load("docs-bgp-advertisement-nodes-peers.yaml").result.unwrap();
    let warned: Vec<(String, String)> = parsed
        .warnings
        .iter()
        .map(|w| (w.object.as_ref().unwrap().name.clone(), w.path.clone()))
        .collect();
    assert_eq!(
        warned,
        [
            ("example".to_owned(), "spec.ipAddressPools[0]".to_owned()),
            ("example2".to_owned(), "spec.ipAddressPools[0]".to_owned()),
            ("example2".to_owned(), "spec.peers[0]".to_owned()),
            ("example2".to_owned(), "spec.peers[1]".to_owned()),
        ]
    );
    let c = parsed.config;
    assert!(c.bgp_advertisements.iter().all(|a| a.pools.is_empty()));
    let example = &c.bgp_advertisements[0];
    assert!(example.selects_node(&labels(&[("kubernetes.io/hostname", "NodeB")])));
    assert!(!example.selects_node(&labels(&[("kubernetes.io/hostname", "NodeC")])));
    assert!(!c.bgp_advertisements[1].selects_peer("PeerC"));
}

#[test]
fn docs_source_address_alias_and_graceful_restart() {
    let c = config("docs-bgp-source-address.yaml");
    assert_eq!(c.peers[0].source_address, Some(ip("172.30.0.2")));
    let c = config("docs-bgp-community-alias.yaml");
    assert_eq!(
        c.bgp_advertisements[0].communities,
        [Community::standard(1234, 1)]
    );
    assert_eq!(
        c.communities.get("NO_ADVERTISE"),
        well_known("no-advertise").as_ref()
    );
    let c = config("docs-bgp-graceful-restart.yaml");
    assert!(c.peers[0].graceful_restart);
}

#[test]
fn docs_vrf_is_refused_naming_object_field_and_line() {
    let errors = errors("docs-bgp-vrf.yaml");
    let [e] = errors.as_slice() else {
        panic!("{errors}")
    };
    assert_eq!(
        e.object,
        Some(ObjectRef::new("BGPPeer", "metallb-system", "example"))
    );
    assert_eq!(
        (e.path.as_str(), e.value.as_deref(), e.line),
        ("spec.vrf", Some("red"), Some(11))
    );
    assert!(matches!(e.kind, ErrorKind::Unsupported { .. }));
    assert!(e.to_string().contains("not supported by ferrolb: vrf"), "{e}");
}

#[test]
fn the_same_name_in_two_namespaces_is_an_error_naming_both() {
    let errors = errors("docs-l2-node-selectors.yaml");
    let [e] = errors.as_slice() else {
        panic!("{errors}")
    };
    assert_eq!(
        e.object,
        Some(ObjectRef::new("L2Advertisement", "other", "example"))
    );
    assert_eq!(
        e.kind,
        ErrorKind::NameTaken {
            other: "L2Advertisement metallb-system/example".into()
        }
    );
}

#[test]
fn docs_l2_interfaces_are_the_union_of_the_advertisements() {
    let c = config("docs-l2-interfaces-union.yaml");
    let announcing =
        |pool: &str| -> Vec<String> { c.l2_advertisements_for(pool).map(|a| a.name.clone()).collect() };
    assert_eq!(
        announcing("pool1"),
        ["example-advertisement10", "example-advertisement9"]
    );
    assert_eq!(announcing("pool2"), ["example-advertisement9"]);
    let host_b = labels(&[("kubernetes.io/hostname", "hostB")]);
    let interfaces: Vec<&str> = c
        .l2_advertisements_for("pool1")
        .filter(|a| a.selects_node(&host_b))
        .flat_map(|a| a.interfaces.iter().map(String::as_str))
        .collect();
    assert_eq!(interfaces, ["ens18", "eno1"]);
}

#[test]
fn docs_ipaddresspool_allocation_order_and_admission() {
    let c = config("docs-ipaddresspool.yaml");
    assert!(!c.pool("expensive").unwrap().auto_assign);
    let sample = c.pool("ippool-ns-service-alloc-sample").unwrap();
    assert!(sample.avoid_buggy_ips);
    assert_eq!(sample.service_allocation.as_ref().unwrap().priority, 50);
    let app_bar = labels(&[("app", "bar")]);
    let none = BTreeMap::new();
    let order = |ns: &str, ns_labels: &BTreeMap<String, String>, svc: &BTreeMap<String, String>| {
        c.auto_assign_order(ns, ns_labels, svc)
            .iter()
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    let cases = [
        (
            "namespace-a",
            &none,
            &app_bar,
            vec!["ippool-ns-service-alloc-sample", "cheap"],
        ),
        (
            "namespace-c",
            &labels(&[("foo", "bar")]),
            &app_bar,
            vec!["ippool-ns-service-alloc-sample", "cheap"],
        ),
        ("namespace-c", &none, &app_bar, vec!["cheap"]),
        ("namespace-a", &none, &none, vec!["cheap"]),
    ];
    for (ns, ns_labels, svc, want) in cases {
        assert_eq!(order(ns, ns_labels, svc), want, "{ns} {ns_labels:?} {svc:?}");
    }
    // Not admitted: never used, not even when requested.
    assert!(!sample.admits("namespace-c", &none, &app_bar));
    assert!(c.pool("expensive").unwrap().admits("namespace-c", &none, &none));
}

#[test]
fn migration_configmaptocrs_output_means_the_configmap() {
    let from_crs = config("docs-migration-resources.yaml");
    let cm = load_file_or_legacy("docs-migration-configmap.yaml");
    // The converter writes no enableGracefulRestart; the legacy format always has it in ferrolb.
    let mut expected = cm;
    expected.peers[0].graceful_restart = false;
    assert_eq!(from_crs, expected);
    let peer = &from_crs.peers[0];
    assert_eq!(
        peer.keepalive_time,
        Duration::from_secs(30),
        "keepaliveTime: 0s is not given"
    );
    assert_eq!(
        from_crs.bgp_advertisements[0].communities,
        [Community::standard(64512, 1234)]
    );
}

fn load_file_or_legacy(name: &str) -> Config {
    let text = ferrolb_config::manifest::extract_config(&read(name)).unwrap();
    ferrolb_config::parse(&text.text).unwrap()
}

#[test]
fn configsamples_connect_time_and_password_secret() {
    let c = config("configsamples-peers.yaml");
    let peer = c.peer("peer").unwrap();
    assert_eq!(peer.connect_time, Some(Duration::from_secs(120)));
    let secret = c.peer("peer-with-secret").unwrap();
    assert_eq!(
        (secret.hold_time, secret.keepalive_time),
        (Duration::from_secs(540), Duration::from_secs(180))
    );
    let password = secret.password.as_ref().unwrap();
    assert_eq!(password.value, "s3cr3t");
    assert_eq!(
        password.source,
        PasswordSource::Secret {
            name: "secretname".into()
        }
    );
    assert!(!format!("{secret:?}").contains("s3cr3t"));
}

#[test]
fn configsamples_pools_selected_by_label() {
    let parsed = load("configsamples-advertisements.yaml").result.unwrap();
    let [warning] = parsed.warnings.as_slice() else {
        panic!("{:?}", parsed.warnings)
    };
    assert_eq!(warning.kind, WarningKind::UnknownReference { kind: "BGPPeer" });
    let c = parsed.config;
    let by_label = c
        .bgp_advertisements
        .iter()
        .find(|a| a.name == "by-label")
        .unwrap();
    assert_eq!(by_label.pools, ["bgp-with-advertisement"]);
    assert_eq!(c.bgp_advertisements_for("other").count(), 0);
    let adv = c
        .bgp_advertisements
        .iter()
        .find(|a| a.name == "advertisement")
        .unwrap();
    assert_eq!(
        (adv.local_pref, adv.communities.as_slice()),
        (Some(150), &[well_known("no-advertise").unwrap()][..])
    );
}

#[test]
fn kubespray_render_quirks_are_named_with_their_lines() {
    let errors = errors("kubespray-2.22.yaml");
    let got: Vec<(String, String, Option<u64>, &'static str)> = errors
        .iter()
        .map(|e| {
            (
                e.object.as_ref().unwrap().name.clone(),
                e.path.clone(),
                e.line,
                e.kind.metric_label(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "peer1-external".to_owned(),
                "spec.communities".to_owned(),
                Some(128),
                "duplicate_key"
            ),
            (
                "peer1-local".to_owned(),
                "spec.localpref".to_owned(),
                Some(111),
                "unknown_key"
            ),
            // `holdTime: 90`: no unit (an API server refuses the number outright).
            (
                "peer2".to_owned(),
                "spec.holdTime".to_owned(),
                Some(172),
                "invalid_timer"
            ),
        ]
    );
    let localpref = errors.iter().find(|e| e.path == "spec.localpref").unwrap();
    assert_eq!(
        localpref.kind,
        ErrorKind::UnknownKey {
            suggestion: Some("localPref".into())
        }
    );
}

/// The render as an API server keeps it: `localpref` pruned, the last `communities` kept, and `peer2`
/// refused (a number where its schema wants a duration string), so absent.
#[test]
fn kubespray_render_as_the_api_server_keeps_it() {
    let text = read("kubespray-2.22.yaml");
    let mut docs: Vec<String> = text.split("\n---").map(str::to_owned).collect();
    docs.retain(|d| !d.contains("name: \"peer2\"\n"));
    let pruned = docs
        .join("\n---")
        .replace("  localpref: \"100\"\n", "")
        .replace("  communities:\n  - \"vpn-only\"\n", "");
    let load = load_file(&pruned).unwrap();
    let c = load.result.unwrap_or_else(|e| panic!("{e}")).config;
    assert_eq!(
        names(&c.pools, |p| &p.name),
        ["pool1", "pool2", "primary"],
        "in name order"
    );
    assert_eq!(c.protocols("primary"), [Protocol::Layer2]);
    assert_eq!(c.protocols("pool1"), [Protocol::Bgp]);
    assert!(c.pools.iter().all(|p| p.avoid_buggy_ips));
    assert!(!c.pool("pool1").unwrap().auto_assign);
    assert!(
        c.pool("pool2").unwrap().auto_assign,
        "an empty autoAssign is the default"
    );
    let by = |n: &str| c.bgp_advertisements.iter().find(|a| a.name == n).unwrap();
    let local = by("peer1-local");
    assert_eq!(
        (local.aggregation_length, local.local_pref),
        (32, None),
        "localpref was pruned"
    );
    assert_eq!(local.communities, [well_known("no-advertise").unwrap()]);
    let external = by("peer1-external");
    assert_eq!(external.aggregation_length, 24);
    assert_eq!(
        external.communities,
        [well_known("no-export").unwrap()],
        "the last list only"
    );
    assert_eq!(by("peer2-external").pools, ["pool2"]);
    let [peer] = c.peers.as_slice() else {
        panic!("{:?}", c.peers)
    };
    assert_eq!(
        (peer.name.as_str(), peer.hold_time, peer.keepalive_time),
        ("peer1", Duration::from_secs(120), Duration::from_secs(40))
    );
    assert_eq!(peer.password.as_ref().unwrap().value, "s3cret");
    assert_eq!(c.communities.len(), 5);
}

#[test]
fn pools_are_offered_by_priority_zero_last_ties_in_name_order_then_the_unrestricted() {
    let pool = |name: &str, i: u8, allocation: &str| {
        format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: ns}}\n\
             spec:\n  addresses: [192.0.2.{}/32]\n{allocation}---\n",
            i
        )
    };
    let text = [
        pool("a-zero", 1, "  serviceAllocation: {priority: 0}\n"),
        pool("b-five", 2, "  serviceAllocation: {priority: 5}\n"),
        pool("c-one", 3, "  serviceAllocation: {priority: 1}\n"),
        pool("d-plain", 4, ""),
        pool("e-five", 5, "  serviceAllocation: {priority: 5}\n"),
        pool(
            "f-off",
            6,
            "  autoAssign: false\n  serviceAllocation: {priority: 1}\n",
        ),
        pool(
            "g-other-ns",
            7,
            "  serviceAllocation: {priority: 1, namespaces: [other]}\n",
        ),
        pool("h-empty", 8, "  serviceAllocation: {}\n"),
    ]
    .concat();
    let c = load_file(&text).unwrap().result.unwrap().config;
    let none = BTreeMap::new();
    let order: Vec<&str> = c
        .auto_assign_order("ns", &none, &none)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        order,
        ["c-one", "b-five", "e-five", "a-zero", "h-empty", "d-plain"]
    );
    let other: Vec<&str> = c
        .auto_assign_order("other", &none, &none)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(other[..2], ["c-one", "g-other-ns"]);
}
