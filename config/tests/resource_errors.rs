//! Table-driven invalid resources, as the API server hands them to the programs (`Sources`): each case must
//! produce exactly one error, in the given object, at the given path, of the given kind.

use std::collections::BTreeMap;

use ferrolb_config::state::{ConfigMapSource, ResourceSource, SecretSource, Sources, load};
use ferrolb_config::{ErrorKind, ObjectRef};
use serde_json::{Value, json};

const NS: &str = "metallb-system";

fn r(kind: &str, name: &str, spec: Value) -> ResourceSource {
    let api_version = if kind == "BGPPeer" {
        "metallb.io/v1beta2"
    } else {
        "metallb.io/v1beta1"
    };
    ResourceSource {
        object: ObjectRef::new(kind, NS, name),
        api_version: api_version.into(),
        labels: BTreeMap::new(),
        spec,
    }
}

fn pool(name: &str, addresses: &[&str]) -> ResourceSource {
    r("IPAddressPool", name, json!({ "addresses": addresses }))
}

fn peer(name: &str, extra: Value) -> ResourceSource {
    let mut spec = json!({"myASN": 64500, "peerASN": 64501, "peerAddress": "198.51.100.1"});
    if let (Value::Object(base), Value::Object(extra)) = (&mut spec, extra) {
        base.extend(extra);
    }
    r("BGPPeer", name, spec)
}

fn secret(type_: &str, data: &[(&str, &[u8])]) -> SecretSource {
    SecretSource {
        type_: type_.into(),
        data: data.iter().map(|(k, v)| ((*k).to_owned(), v.to_vec())).collect(),
    }
}

struct Case {
    name: &'static str,
    resources: Vec<ResourceSource>,
    secrets: Vec<(&'static str, SecretSource)>,
    config_map: Option<&'static str>,
    /// (kind, name) of the object holding the error.
    object: (&'static str, &'static str),
    path: &'static str,
    kind: fn(&ErrorKind) -> bool,
}

fn case(
    name: &'static str,
    resources: Vec<ResourceSource>,
    object: (&'static str, &'static str),
    path: &'static str,
    kind: fn(&ErrorKind) -> bool,
) -> Case {
    Case {
        name,
        resources,
        secrets: Vec::new(),
        config_map: None,
        object,
        path,
        kind,
    }
}

fn cases() -> Vec<Case> {
    let basic_auth = "kubernetes.io/basic-auth";
    vec![
        case(
            "no addresses",
            vec![r("IPAddressPool", "p", json!({}))],
            ("IPAddressPool", "p"),
            "spec.addresses",
            |k| *k == ErrorKind::MissingKey,
        ),
        case(
            "empty addresses",
            vec![pool("p", &[])],
            ("IPAddressPool", "p"),
            "spec.addresses",
            |k| *k == ErrorKind::Empty,
        ),
        case(
            "bad CIDR",
            vec![pool("p", &["192.0.2.0/24", "192.0.2.0/33"])],
            ("IPAddressPool", "p"),
            "spec.addresses[1]",
            |k| matches!(k, ErrorKind::InvalidCidr { .. }),
        ),
        case(
            "number where a string goes",
            vec![r("IPAddressPool", "p", json!({"addresses": [7]}))],
            ("IPAddressPool", "p"),
            "spec.addresses[0]",
            |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "a string",
                        ..
                    }
                )
            },
        ),
        case(
            "unknown field",
            vec![r(
                "IPAddressPool",
                "p",
                json!({"addresses": ["192.0.2.0/24"], "autoassign": true}),
            )],
            ("IPAddressPool", "p"),
            "spec.autoassign",
            |k| matches!(k, ErrorKind::UnknownKey { suggestion: Some(s) } if s == "autoAssign"),
        ),
        case(
            "overlap across pools",
            vec![pool("a", &["192.0.2.0/24"]), pool("b", &["192.0.2.128/25"])],
            ("IPAddressPool", "b"),
            "spec.addresses[0]",
            |k| matches!(k, ErrorKind::OverlapWith { other, overlap, .. } if other == "IPAddressPool metallb-system/a" && overlap == "192.0.2.128/25"),
        ),
        case(
            "overlap within a pool",
            vec![pool("a", &["192.0.2.0/24", "192.0.2.7/32"])],
            ("IPAddressPool", "a"),
            "spec.addresses[1]",
            |k| matches!(k, ErrorKind::Overlap { .. }),
        ),
        case(
            "negative priority",
            vec![r(
                "IPAddressPool",
                "p",
                json!({"addresses": ["192.0.2.0/24"], "serviceAllocation": {"priority": -1}}),
            )],
            ("IPAddressPool", "p"),
            "spec.serviceAllocation.priority",
            |k| matches!(k, ErrorKind::OutOfRange { min: 0, .. }),
        ),
        case(
            "bad operator",
            vec![r(
                "L2Advertisement",
                "l",
                json!({"nodeSelectors": [{"matchExpressions": [{"key": "a", "operator": "in", "values": ["b"]}]}]}),
            )],
            ("L2Advertisement", "l"),
            "spec.nodeSelectors[0].matchExpressions[0].operator",
            |k| matches!(k, ErrorKind::InvalidOperator { .. }),
        ),
        case(
            "preference weight",
            vec![r(
                "L2Advertisement",
                "l",
                json!({"preferredNodeSelectors": [{"weight": 0, "preference": {}}]}),
            )],
            ("L2Advertisement", "l"),
            "spec.preferredNodeSelectors[0].weight",
            |k| *k == ErrorKind::OutOfRange { min: 1, max: 100 },
        ),
        case(
            "bad interface",
            vec![r("L2Advertisement", "l", json!({"interfaces": ["eth0/1"]}))],
            ("L2Advertisement", "l"),
            "spec.interfaces[0]",
            |k| matches!(k, ErrorKind::InvalidInterfaceName { .. }),
        ),
        case(
            "aggregation too short for a selected pool",
            vec![
                pool("p", &["192.0.2.0/24", "192.0.3.0-192.0.3.7"]),
                r("BGPAdvertisement", "b", json!({"aggregationLength": 24})),
            ],
            ("BGPAdvertisement", "b"),
            "spec.aggregationLength",
            |k| matches!(k, ErrorKind::AggregationTooShort { cidr, address_path, .. } if cidr == "192.0.3.0/29" && address_path == "IPAddressPool metallb-system/p (spec.addresses[1])"),
        ),
        case(
            "aggregationLength 0 (the CRD's minimum is 1)",
            vec![r("BGPAdvertisement", "b", json!({"aggregationLength": 0}))],
            ("BGPAdvertisement", "b"),
            "spec.aggregationLength",
            |k| *k == ErrorKind::OutOfRange { min: 1, max: 32 },
        ),
        case(
            "serviceSelectors with aggregation",
            vec![r(
                "BGPAdvertisement",
                "b",
                json!({"aggregationLengthV6": 64, "serviceSelectors": [{"matchLabels": {"a": "b"}}]}),
            )],
            ("BGPAdvertisement", "b"),
            "spec.aggregationLengthV6",
            |k| matches!(k, ErrorKind::ServiceSelectorsWithAggregation { default: 128, .. }),
        ),
        case(
            "unknown community",
            vec![r("BGPAdvertisement", "b", json!({"communities": ["vpn"]}))],
            ("BGPAdvertisement", "b"),
            "spec.communities[0]",
            |k| matches!(k, ErrorKind::UnknownCommunity { .. }),
        ),
        case(
            "bad community literal",
            vec![r("BGPAdvertisement", "b", json!({"communities": ["1:70000"]}))],
            ("BGPAdvertisement", "b"),
            "spec.communities[0]",
            |k| matches!(k, ErrorKind::InvalidCommunity { .. }),
        ),
        case(
            "alias in two Community objects",
            vec![
                r(
                    "Community",
                    "a",
                    json!({"communities": [{"name": "x", "value": "1:1"}]}),
                ),
                r(
                    "Community",
                    "b",
                    json!({"communities": [{"name": "x", "value": "1:2"}]}),
                ),
            ],
            ("Community", "b"),
            "spec.communities[0].name",
            |k| matches!(k, ErrorKind::NameTaken { other } if other == "Community metallb-system/a (spec.communities[0].name)"),
        ),
        case(
            "local preference conflict",
            vec![
                pool("p", &["192.0.2.0/24"]),
                r("BGPAdvertisement", "a", json!({"localPref": 100})),
                r(
                    "BGPAdvertisement",
                    "b",
                    json!({"localPref": 200, "aggregationLength": 32}),
                ),
            ],
            ("BGPAdvertisement", "b"),
            "spec.localPref",
            |k| matches!(k, ErrorKind::LocalPrefConflict { other, .. } if other == "BGPAdvertisement metallb-system/a"),
        ),
        case(
            "missing myASN",
            vec![r(
                "BGPPeer",
                "p",
                json!({"peerASN": 1, "peerAddress": "198.51.100.1"}),
            )],
            ("BGPPeer", "p"),
            "spec.myASN",
            |k| *k == ErrorKind::MissingKey,
        ),
        case(
            "peerASN 0 is missing",
            vec![peer("p", json!({"peerASN": 0}))],
            ("BGPPeer", "p"),
            "spec.peerASN",
            |k| matches!(k, ErrorKind::OutOfRange { min: 1, .. }),
        ),
        case(
            "peerASN and dynamicASN",
            vec![peer("p", json!({"dynamicASN": "internal"}))],
            ("BGPPeer", "p"),
            "spec.dynamicASN",
            |k| *k == ErrorKind::MutuallyExclusive { other: "peerASN" },
        ),
        case(
            "dynamicASN external",
            vec![r(
                "BGPPeer",
                "p",
                json!({"myASN": 1, "dynamicASN": "external", "peerAddress": "198.51.100.1"}),
            )],
            ("BGPPeer", "p"),
            "spec.dynamicASN",
            |k| matches!(k, ErrorKind::Unsupported { .. }),
        ),
        case(
            "dynamicASN other",
            vec![r(
                "BGPPeer",
                "p",
                json!({"myASN": 1, "dynamicASN": "any", "peerAddress": "198.51.100.1"}),
            )],
            ("BGPPeer", "p"),
            "spec.dynamicASN",
            |k| matches!(k, ErrorKind::NotOneOf { .. }),
        ),
        case(
            "localASN",
            vec![peer("p", json!({"localASN": 65000}))],
            ("BGPPeer", "p"),
            "spec.localASN",
            |k| matches!(k, ErrorKind::Unsupported { .. }),
        ),
        case(
            "unnumbered",
            vec![r(
                "BGPPeer",
                "p",
                json!({"myASN": 1, "peerASN": 2, "interface": "eth1"}),
            )],
            ("BGPPeer", "p"),
            "spec.interface",
            |k| matches!(k, ErrorKind::Unsupported { .. }),
        ),
        case(
            "peerPort above the CRD's 16384",
            vec![peer("p", json!({"peerPort": 20000}))],
            ("BGPPeer", "p"),
            "spec.peerPort",
            |k| *k == ErrorKind::OutOfRange { min: 0, max: 16384 },
        ),
        case(
            "hold time 2s",
            vec![peer("p", json!({"holdTime": "2s"}))],
            ("BGPPeer", "p"),
            "spec.holdTime",
            |k| matches!(k, ErrorKind::HoldTimeTooShort { .. }),
        ),
        case(
            "keepalive not below hold",
            vec![peer("p", json!({"holdTime": "30s", "keepaliveTime": "30s"}))],
            ("BGPPeer", "p"),
            "spec.keepaliveTime",
            |k| matches!(k, ErrorKind::KeepaliveNotBelowHold { .. }),
        ),
        case(
            "keepalive alone derives a too long hold",
            vec![peer("p", json!({"keepaliveTime": "7h"}))],
            ("BGPPeer", "p"),
            "spec.keepaliveTime",
            |k| *k == ErrorKind::HoldTimeTooLong,
        ),
        case(
            "connect time with milliseconds",
            vec![peer("p", json!({"connectTime": "1500ms"}))],
            ("BGPPeer", "p"),
            "spec.connectTime",
            |k| *k == ErrorKind::NotWholeSeconds,
        ),
        case(
            "router ID IPv6",
            vec![peer("p", json!({"routerID": "2001:db8::1"}))],
            ("BGPPeer", "p"),
            "spec.routerID",
            |k| *k == ErrorKind::NotIpv4,
        ),
        case(
            "multihop for iBGP",
            vec![peer("p", json!({"peerASN": 64500, "ebgpMultiHop": true}))],
            ("BGPPeer", "p"),
            "spec.ebgpMultiHop",
            |k| matches!(k, ErrorKind::MultihopForIbgp { .. }),
        ),
        case(
            "unknown BFD profile",
            vec![peer("p", json!({"bfdProfile": "fast"}))],
            ("BGPPeer", "p"),
            "spec.bfdProfile",
            |k| matches!(k, ErrorKind::UnknownBfdProfile { .. }),
        ),
        case(
            "echo mode",
            vec![r("BFDProfile", "b", json!({"echoMode": true}))],
            ("BFDProfile", "b"),
            "spec.echoMode",
            |k| matches!(k, ErrorKind::Unsupported { .. }),
        ),
        case(
            "BFD interval out of the CRD's range",
            vec![r("BFDProfile", "b", json!({"receiveInterval": 5}))],
            ("BFDProfile", "b"),
            "spec.receiveInterval",
            |k| *k == ErrorKind::OutOfRange { min: 10, max: 60000 },
        ),
        case(
            "dualStack with disableMP",
            vec![peer(
                "p",
                json!({"disableMP": true, "dualStackAddressFamily": true}),
            )],
            ("BGPPeer", "p"),
            "spec.dualStackAddressFamily",
            |k| matches!(k, ErrorKind::MutuallyExclusive { .. }),
        ),
        case(
            "duplicate peer",
            vec![peer("a", json!({})), peer("b", json!({}))],
            ("BGPPeer", "b"),
            "spec.peerAddress",
            |k| matches!(k, ErrorKind::DuplicatePeer { first } if first == "BGPPeer metallb-system/a"),
        ),
        case(
            "v1beta1 has no passwordSecret",
            vec![ResourceSource {
                api_version: "metallb.io/v1beta1".into(),
                ..peer("p", json!({"passwordSecret": {"name": "s"}}))
            }],
            ("BGPPeer", "p"),
            "spec.passwordSecret",
            |k| matches!(k, ErrorKind::UnknownKey { .. }),
        ),
        case(
            "AddressPool is gone",
            vec![r("AddressPool", "a", json!({}))],
            ("AddressPool", "a"),
            "",
            |k| matches!(k, ErrorKind::UnknownKind { hint, .. } if hint.contains("v0.14")),
        ),
        case(
            "password and passwordSecret",
            vec![peer(
                "p",
                json!({"password": "hunter2", "passwordSecret": {"name": "s"}}),
            )],
            ("BGPPeer", "p"),
            "spec.passwordSecret",
            |k| *k == ErrorKind::MutuallyExclusive { other: "password" },
        ),
        case(
            "missing Secret",
            vec![peer("p", json!({"passwordSecret": {"name": "s"}}))],
            ("BGPPeer", "p"),
            "spec.passwordSecret.name",
            |k| matches!(k, ErrorKind::SecretNotFound { secret } if secret == "metallb-system/s"),
        ),
        case(
            "Secret in another namespace",
            vec![peer(
                "p",
                json!({"passwordSecret": {"name": "s", "namespace": "other"}}),
            )],
            ("BGPPeer", "p"),
            "spec.passwordSecret.namespace",
            |k| matches!(k, ErrorKind::SecretOtherNamespace { .. }),
        ),
        Case {
            secrets: vec![("s", secret("Opaque", &[("password", b"x")]))],
            ..case(
                "Secret of another type",
                vec![peer("p", json!({"passwordSecret": {"name": "s"}}))],
                ("BGPPeer", "p"),
                "spec.passwordSecret.name",
                |k| matches!(k, ErrorKind::SecretWrongType { found, .. } if found == "Opaque"),
            )
        },
        Case {
            secrets: vec![("s", secret(basic_auth, &[("username", b"x")]))],
            ..case(
                "Secret without password",
                vec![peer("p", json!({"passwordSecret": {"name": "s"}}))],
                ("BGPPeer", "p"),
                "spec.passwordSecret.name",
                |k| matches!(k, ErrorKind::SecretPassword { reason, .. } if reason.contains("no key")),
            )
        },
        Case {
            secrets: vec![("s", secret(basic_auth, &[("password", &[0xff, 0xfe])]))],
            ..case(
                "Secret password not text",
                vec![peer("p", json!({"passwordSecret": {"name": "s"}}))],
                ("BGPPeer", "p"),
                "spec.passwordSecret.name",
                |k| matches!(k, ErrorKind::SecretPassword { .. }),
            )
        },
        Case {
            config_map: Some("address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24]}\n"),
            ..case(
                "a pool name of the ConfigMap",
                vec![pool("a", &["198.51.100.0/24"])],
                ("IPAddressPool", "a"),
                "metadata.name",
                |k| matches!(k, ErrorKind::NameTaken { other } if other == "ConfigMap metallb-system/config (address-pools[0].name)"),
            )
        },
        Case {
            config_map: Some("address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24]}\n"),
            ..case(
                "addresses of the ConfigMap",
                vec![pool("b", &["192.0.2.255/32"])],
                ("IPAddressPool", "b"),
                "spec.addresses[0]",
                |k| matches!(k, ErrorKind::OverlapWith { other, other_path, .. } if other == "ConfigMap metallb-system/config" && other_path == "address-pools[0].addresses[0]"),
            )
        },
        Case {
            config_map: Some("peers:\n- {peer-address: 198.51.100.1, peer-asn: 64501, my-asn: 64500}\n"),
            ..case(
                "peer1 of the ConfigMap",
                vec![peer("peer1", json!({"peerAddress": "198.51.100.2"}))],
                ("BGPPeer", "peer1"),
                "metadata.name",
                |k| matches!(k, ErrorKind::NameTaken { .. }),
            )
        },
        Case {
            config_map: Some("bgp-communities: {x: '1:1'}\n"),
            ..case(
                "alias of the ConfigMap",
                vec![r(
                    "Community",
                    "c",
                    json!({"communities": [{"name": "x", "value": "1:1"}]}),
                )],
                ("Community", "c"),
                "spec.communities[0].name",
                |k| matches!(k, ErrorKind::NameTaken { other } if other.contains("bgp-communities.x")),
            )
        },
    ]
}

#[test]
fn invalid_resources_name_object_path_and_kind() {
    for c in cases() {
        let sources = Sources {
            config_map: c.config_map.map(|text| ConfigMapSource {
                object: ObjectRef::new("ConfigMap", NS, "config"),
                key: "config".into(),
                text: Some(text.into()),
            }),
            resources: c.resources,
            secrets: c
                .secrets
                .into_iter()
                .map(|(name, s)| ((NS.to_owned(), name.to_owned()), s))
                .collect(),
        };
        let errors = match load(&sources) {
            Ok(p) => panic!("{}: valid: {:?}", c.name, p.config),
            Err(e) => e,
        };
        let [e] = errors.as_slice() else {
            panic!("{}: want one error, got:\n{errors}", c.name)
        };
        assert_eq!(
            e.object,
            Some(ObjectRef::new(c.object.0, NS, c.object.1)),
            "{}: {e}",
            c.name
        );
        assert_eq!(e.path, c.path, "{}: {e}", c.name);
        assert!((c.kind)(&e.kind), "{}: {e}", c.name);
        assert_eq!(e.line, None, "{}: API objects have no lines", c.name);
        // Passwords are never echoed.
        assert!(!e.to_string().contains("hunter2"), "{}: {e}", c.name);
    }
}

#[test]
fn every_error_of_several_objects_is_reported() {
    let sources = Sources {
        resources: vec![
            pool("a", &["192.0.2.0/33", "nope"]),
            peer("p", json!({"holdTime": "1s", "routerID": "x", "vrf": "red"})),
            r("L2Advertisement", "l", json!({"interfaces": [""]})),
        ],
        ..Sources::default()
    };
    let errors = load(&sources).unwrap_err();
    let paths: Vec<(String, &str)> = errors
        .iter()
        .map(|e| (e.object.as_ref().unwrap().kind.clone(), e.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("BGPPeer".to_owned(), "spec.vrf"),
            ("BGPPeer".to_owned(), "spec.holdTime"),
            ("BGPPeer".to_owned(), "spec.routerID"),
            ("IPAddressPool".to_owned(), "spec.addresses[0]"),
            ("IPAddressPool".to_owned(), "spec.addresses[1]"),
            ("L2Advertisement".to_owned(), "spec.interfaces[0]"),
        ]
    );
}

#[test]
fn dynamic_asn_internal_is_peer_asn_equal_to_my_asn() {
    let sources = Sources {
        resources: vec![r(
            "BGPPeer",
            "p",
            json!({"myASN": 64500, "dynamicASN": "internal", "peerAddress": "198.51.100.1"}),
        )],
        ..Sources::default()
    };
    let config = load(&sources).unwrap().config;
    assert_eq!((config.peers[0].asn, config.peers[0].my_asn), (64500, 64500));
}

#[test]
fn local_pref_zero_is_not_given_and_v1beta1_zero_timers_are_defaults() {
    let sources = Sources {
        resources: vec![
            pool("p", &["192.0.2.0/24"]),
            r("BGPAdvertisement", "a", json!({"localPref": 0})),
            ResourceSource {
                api_version: "metallb.io/v1beta1".into(),
                ..peer("v1", json!({"holdTime": "0s", "keepaliveTime": "0s"}))
            },
            peer("v2", json!({"peerAddress": "198.51.100.2", "holdTime": "0s"})),
        ],
        ..Sources::default()
    };
    let config = load(&sources).unwrap().config;
    assert_eq!(config.bgp_advertisements[0].local_pref, None);
    let secs = |name: &str| {
        let p = config.peer(name).unwrap();
        (p.hold_time.as_secs(), p.keepalive_time.as_secs())
    };
    assert_eq!(secs("v1"), (90, 30), "v1beta1 serializes unset durations as 0s");
    assert_eq!(secs("v2"), (0, 0), "v1beta2 holdTime: 0s is no hold timer");
}

/// A value repeated in a list where the repetition adds nothing (MetalLB accepts it): a warning, read once.
#[test]
fn repetitions_are_read_once_with_a_warning() {
    let sources = Sources {
        resources: vec![
            r(
                "IPAddressPool",
                "p",
                json!({"addresses": ["192.0.2.0/24"], "serviceAllocation": {"namespaces": ["a", "a"]}}),
            ),
            r(
                "L2Advertisement",
                "l",
                json!({"nodeSelectors": [{"matchLabels": {"a": "b"}}, {"matchLabels": {"a": "b"}}]}),
            ),
        ],
        ..Sources::default()
    };
    let parsed = load(&sources).unwrap_or_else(|e| panic!("{e}"));
    let allocation = parsed.config.pools[0]
        .service_allocation
        .as_ref()
        .expect("allocation");
    assert_eq!(allocation.namespaces, ["a"]);
    assert_eq!(parsed.config.l2_advertisements[0].node_selectors.len(), 1);
    let repeated: Vec<(&str, String)> = parsed
        .warnings
        .iter()
        .filter(|w| matches!(w.kind, ferrolb_config::WarningKind::Repeated { .. }))
        .map(|w| (w.path.as_str(), w.kind.to_string()))
        .collect();
    assert_eq!(
        repeated,
        [
            (
                "spec.serviceAllocation.namespaces[1]",
                "repeats spec.serviceAllocation.namespaces[0]; ignored (it adds nothing)".to_owned()
            ),
            (
                "spec.nodeSelectors[1]",
                "repeats spec.nodeSelectors[0]; ignored (it adds nothing)".to_owned()
            ),
        ]
    );
}
