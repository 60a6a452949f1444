//! Large configs: thousands of pools, peers, aliases and overlapping entries parse, with every count
//! right. (The checks are O(n log n) in the number of entries; this is the smoke test that large inputs
//! work end to end, not a benchmark.)

use std::fmt::Write as _;

use ferrolb_config::{AddressFamily, parse};

const N: usize = 5_000;

#[test]
fn thousands_of_pools_peers_and_communities() {
    let mut yaml = String::from("bgp-communities:\n");
    for i in 0..N {
        writeln!(yaml, "  c{i}: 64512:{}", i % 65536).unwrap();
    }
    yaml.push_str("address-pools:\n");
    for i in 0..N {
        writeln!(
            yaml,
            "- {{name: p{i}, protocol: layer2, addresses: [\"2001:db8:{i:x}::/64\"], interfaces: [eth0]}}"
        )
        .unwrap();
    }
    yaml.push_str("- name: big\n  protocol: bgp\n  addresses: [192.0.2.0/24]\n  bgp-advertisements:\n  - communities:\n");
    for i in 0..N {
        writeln!(yaml, "    - c{i}").unwrap();
    }
    yaml.push_str("peers:\n");
    for i in 0..N {
        writeln!(
            yaml,
            "- {{peer-address: \"2001:db8:ffff::{i:x}\", peer-asn: 65001, my-asn: 65000}}"
        )
        .unwrap();
    }
    let config = parse(&yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.pools.len(), N + 1);
    assert_eq!(config.peers.len(), N);
    assert_eq!(config.communities.len(), N);
    assert_eq!(
        config
            .bgp_advertisements_for("big")
            .next()
            .unwrap()
            .communities
            .len(),
        N
    );
    assert_eq!(config.pools[7].len(AddressFamily::V6), 1 << 64);
}

#[test]
fn thousands_of_overlaps_are_each_reported_once() {
    let mut yaml =
        String::from("address-pools:\n- name: all\n  protocol: layer2\n  addresses:\n  - 2001:db8::/64\n");
    for i in 0..N {
        writeln!(
            yaml,
            "- {{name: p{i}, protocol: layer2, addresses: [\"2001:db8::{i:x}/128\"]}}"
        )
        .unwrap();
    }
    let errors = parse(&yaml).unwrap_err();
    assert_eq!(errors.len(), N);
    assert!(
        errors
            .iter()
            .all(|e| e.to_string().contains("overlaps pool \"all\""))
    );
}
