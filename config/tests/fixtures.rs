//! MetalLB documentation examples and kubespray-rendered ConfigMaps (tests/data/) read unchanged.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ferrolb_config::manifest::{ConfigSource, extract_config};
use ferrolb_config::{
    AddressFamily, BgpAdvertisement, Community, Config, Protocol, SelectorOperator, parse, render,
};

fn load(name: &str) -> Config {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let input = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = extract_config(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(matches!(text.source, ConfigSource::ConfigMap { .. }), "{name}");
    let config = parse(&text.text).unwrap_or_else(|e| panic!("{name}:\n{e}"));
    // Every fixture also survives a render/parse round trip.
    let text = render(&config).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(parse(&text).as_ref(), Ok(&config), "{name} round trip");
    config
}

/// The BGP advertisements of a pool.
fn advs<'a>(c: &'a Config, pool: &str) -> Vec<&'a BgpAdvertisement> {
    c.bgp_advertisements_for(pool).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn metallb_example_config() {
    let c = load("metallb-example-config.yaml");
    let [peer] = c.peers.as_slice() else {
        panic!("{c:?}")
    };
    assert_eq!(peer.address, ip("10.0.0.1"));
    assert_eq!((peer.asn, peer.my_asn, peer.port), (64512, 64512, 179));
    assert_eq!(peer.hold_time, Duration::from_secs(120));
    assert_eq!(peer.keepalive_time, Duration::from_secs(40));
    assert_eq!(peer.router_id, Some("1.2.3.4".parse().unwrap()));
    assert_eq!(
        peer.password.as_ref().map(|p| p.value.as_str()),
        Some("yourPassword")
    );
    assert_eq!(peer.name, "peer1", "named as MetalLB's converter names it");
    assert!(
        !format!("{peer:?}").contains("yourPassword"),
        "Debug redacts the password"
    );
    let [selector] = peer.node_selectors.as_slice() else {
        panic!()
    };
    assert_eq!(selector.match_expressions[0].operator, SelectorOperator::In);
    assert!(peer.selects_node(&labels(&[
        ("kubernetes.io/hostname", "prod-01"),
        ("beta.kubernetes.io/arch", "arm")
    ])));
    assert!(!peer.selects_node(&labels(&[
        ("kubernetes.io/hostname", "prod-02"),
        ("beta.kubernetes.io/arch", "arm")
    ])));

    let [pool] = c.pools.as_slice() else { panic!() };
    assert_eq!(pool.name, "my-ip-space");
    assert_eq!(c.protocols(&pool.name), [Protocol::Bgp]);
    assert!(!pool.auto_assign && pool.avoid_buggy_ips);
    assert_eq!(pool.len(AddressFamily::V4), 256 + 51);
    assert_eq!(pool.assignable_len(AddressFamily::V4), 256 + 51 - 2);
    assert!(pool.contains(ip("198.51.100.0")) && !pool.is_assignable(ip("198.51.100.0")));
    assert!(pool.is_assignable(ip("192.168.0.150")));
    let [adv] = advs(&c, &pool.name)[..] else { panic!() };
    assert_eq!(adv.name, "bgpadvertisement1");
    assert_eq!(adv.pools, ["my-ip-space"]);
    assert_eq!(
        (adv.aggregation_length, adv.aggregation_length_v6, adv.local_pref),
        (32, 128, Some(100))
    );
    assert_eq!(
        adv.communities,
        [Community::standard(64512, 1), Community::standard(65535, 65281)]
    );
    assert_eq!(
        c.communities.get("no-export"),
        Some(&Community::standard(65535, 65281))
    );
}

#[test]
fn metallb_docs_layer2() {
    let c = load("metallb-docs-layer2.yaml");
    let [pool] = c.pools.as_slice() else { panic!() };
    assert_eq!(pool.name, "default");
    assert_eq!(c.protocols(&pool.name), [Protocol::Layer2]);
    assert_eq!(c.l2_advertisements[0].name, "l2advertisement1");
    assert_eq!(pool.len(AddressFamily::V4), 11);
    assert!(pool.auto_assign && advs(&c, &pool.name).is_empty());
    assert!(c.peers.is_empty());
}

#[test]
fn metallb_docs_bgp() {
    let c = load("metallb-docs-bgp.yaml");
    assert_eq!(c.peers.len(), 1);
    assert_eq!(c.peers[0].hold_time, Duration::from_secs(90));
    assert_eq!(c.peers[0].keepalive_time, Duration::from_secs(30));
    let [pool] = c.pools.as_slice() else { panic!() };
    assert_eq!(
        advs(&c, &pool.name),
        [&BgpAdvertisement::with_defaults(
            "bgpadvertisement1",
            vec![pool.name.clone()]
        )]
    );
}

#[test]
fn metallb_docs_advanced_bgp() {
    let c = load("metallb-docs-advanced-bgp.yaml");
    let peer = &c.peers[0];
    assert_eq!(peer.bfd_profile.as_deref(), Some("full1"));
    assert_eq!(peer.node_selectors.len(), 2);
    assert!(peer.selects_node(&labels(&[("rack", "frontend")])));
    assert!(!peer.selects_node(&labels(&[("rack", "frontend"), ("network-speed", "slow")])));
    assert!(peer.selects_node(&labels(&[("kubernetes.io/hostname", "hostB")])));
    let bfd = c.bfd_profile("full1").unwrap();
    assert_eq!(
        (
            bfd.receive_interval_ms,
            bfd.transmit_interval_ms,
            bfd.detect_multiplier
        ),
        (179, 180, 3)
    );
    let default = advs(&c, "default");
    assert_eq!(default.len(), 2);
    assert_eq!(default[0].communities, [Community::standard(65535, 65282)]);
    assert_eq!(default[1].aggregation_length, 24);
    assert!(!c.pool("expensive").unwrap().auto_assign);
}

#[test]
fn kubespray_layer2_defaults() {
    let c = load("kubespray-layer2-defaults.yaml");
    let [pool] = c.pools.as_slice() else { panic!() };
    assert_eq!(pool.name, "loadbalanced");
    assert_eq!(pool.addresses[0].to_string(), "10.5.0.50-10.5.0.99");
    assert_eq!(pool.len(AddressFamily::V4), 50);
}

#[test]
fn kubespray_bgp_full() {
    let c = load("kubespray-bgp-full.yaml");
    assert_eq!(c.peers.len(), 2);
    let first = &c.peers[0];
    assert_eq!(first.my_asn, 4_200_000_000);
    assert_eq!(first.source_address, Some(ip("192.0.2.10")));
    assert_eq!(
        first.node_selectors[0].match_expressions[0].operator,
        SelectorOperator::DoesNotExist
    );
    assert!(first.selects_node(&labels(&[("kubernetes.io/hostname", "node1")])));
    assert!(!first.selects_node(&labels(&[
        ("kubernetes.io/hostname", "node1"),
        ("node-role.kubernetes.io/control-plane", "")
    ])));
    let names: Vec<&str> = c.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["loadbalanced", "extra_pool", "extra_pool2"]);
    assert!(!c.pools[0].auto_assign && c.pools[0].avoid_buggy_ips);
    assert!(c.pools[1].auto_assign, "auto-assign: True");
    assert!(c.pools[2].auto_assign, "an empty auto-assign means the default");
    assert!(c.pools[2].has_family(AddressFamily::V6) && !c.pools[2].has_family(AddressFamily::V4));
    assert_eq!(
        c.pool_containing(ip("10.6.0.3")).map(|p| p.name.as_str()),
        Some("extra_pool")
    );
}
