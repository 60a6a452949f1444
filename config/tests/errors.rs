//! How errors are reported: all of them, in text order, with values (never passwords), and warnings for
//! what is accepted but odd.

use std::time::Duration;

use ferrolb_config::{parse, parse_with_warnings};

#[test]
fn every_error_is_reported_in_text_order() {
    let yaml = "peers:\n- {peer-address: nope, peer-asn: 0, my-asn: 1}\naddress-pools:\n\
                - {name: a, protocol: arp, addresses: [192.0.2.0/24, 10.0.0.0/33]}\n\
                - {name: b, protocol: layer2, addresses: [192.0.2.5/32], colour: red}\n";
    let errors = parse(yaml).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "peers[0].peer-address",
            "peers[0].peer-asn",
            "address-pools[0].protocol",
            "address-pools[0].addresses[1]",
            "address-pools[1].colour",
            "address-pools[1].addresses[0]",
        ],
        "{errors}"
    );
    let lines: Vec<Option<u64>> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(2), Some(2), Some(4), Some(4), Some(5), Some(5)]);
}

#[test]
fn overlap_message_names_both_pools_and_the_range() {
    let yaml = "address-pools:\n- {name: gold, protocol: layer2, addresses: [192.0.2.0/24]}\n\
                - {name: silver, protocol: layer2, addresses: [192.0.2.128-192.0.2.200]}\n";
    let errors = parse(yaml).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "address-pools[1].addresses[0] = \"192.0.2.128-192.0.2.200\": pool \"silver\" overlaps pool \"gold\" \
         (address-pools[0].addresses[0] = 192.0.2.0/24) on 192.0.2.128-192.0.2.200 (line 3)"
    );
}

#[test]
fn several_overlaps_are_all_reported() {
    let yaml = "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24]}\n\
                - {name: b, protocol: layer2, addresses: [192.0.2.10/32]}\n\
                - {name: c, protocol: layer2, addresses: [192.0.2.20/32]}\n\
                - {name: d, protocol: layer2, addresses: [192.0.2.20-192.0.2.21]}\n";
    let errors = parse(yaml).unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "address-pools[1].addresses[0]",
            "address-pools[2].addresses[0]",
            "address-pools[3].addresses[0]"
        ]
    );
}

#[test]
fn passwords_never_appear_in_errors() {
    let secret = "x".repeat(81);
    let yaml = format!("peers:\n- {{peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, password: {secret}}}\n");
    let errors = parse(&yaml).unwrap_err();
    assert!(!errors.to_string().contains(&secret));
    assert!(errors.as_slice()[0].value.is_none());
}

#[test]
fn warnings_for_accepted_oddities() {
    let yaml = "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 90.5s}\naddress-pools:\n\
                - {name: a, protocol: layer2, addresses: [192.0.2.7/24]}\n\
                - {name: b, protocol: layer2, addresses: [2001:db8::/64], avoid-buggy-ips: true}\n";
    let parsed = parse_with_warnings(yaml).unwrap();
    assert_eq!(parsed.config.peers[0].hold_time, Duration::from_secs(90));
    assert_eq!(parsed.config.pools[0].addresses[0].to_string(), "192.0.2.0/24");
    let paths: Vec<&str> = parsed.warnings.iter().map(|w| w.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "peers[0].hold-time",
            "address-pools[0].addresses[0]",
            "address-pools[1].avoid-buggy-ips"
        ]
    );
    assert!(parsed.warnings[1].to_string().contains("192.0.2.0/24"));
}

#[test]
fn metric_labels_are_stable() {
    let errors = parse("address-pools: 3\n").unwrap_err();
    assert_eq!(errors.as_slice()[0].kind.metric_label(), "wrong_type");
}

/// The labels of the resources' error kinds, as dashboards and alerts count them.
#[test]
fn resource_error_labels_are_stable() {
    use ferrolb_config::ErrorKind as K;
    let s = String::new;
    let table = [
        (K::NameTaken { other: s() }, "duplicate"),
        (
            K::OverlapWith {
                other: s(),
                other_path: s(),
                other_value: s(),
                overlap: s(),
            },
            "overlap",
        ),
        (K::Unsupported { reason: "" }, "unsupported"),
        (
            K::UnknownKind {
                api_version: s(),
                kind: s(),
                hint: "",
            },
            "unsupported",
        ),
        (K::MutuallyExclusive { other: "" }, "conflicting_fields"),
        (K::SecretNotFound { secret: s() }, "secret"),
        (K::SecretOtherNamespace { namespace: s() }, "secret"),
        (
            K::SecretWrongType {
                secret: s(),
                found: s(),
            },
            "secret",
        ),
        (
            K::SecretPassword {
                secret: s(),
                reason: "",
            },
            "secret",
        ),
        (
            K::ServiceSelectorsWithAggregation {
                key: "",
                length: 0,
                default: 32,
            },
            "service_selectors_with_aggregation",
        ),
        (
            K::LocalPrefConflict {
                other: s(),
                pool: s(),
                local_pref: s(),
                other_local_pref: s(),
            },
            "local_pref_conflict",
        ),
        (K::NotWholeSeconds, "invalid_timer"),
        (K::NotOneOf { allowed: "" }, "wrong_type"),
    ];
    for (kind, label) in table {
        assert_eq!(kind.metric_label(), label, "{kind:?}");
    }
}
