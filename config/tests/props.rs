//! Property tests: arbitrary (and almost-valid) YAML never panics the parser, the manifest reader, the
//! resource file reader or the annotation parser; arbitrary JSON specs never panic the resource decoder;
//! every valid config renders to text that parses back to the same config, and to `metallb.io` resources
//! that load back to the same config (model → resources → model).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ferrolb_config::ObjectRef;
use ferrolb_config::annotations::parse_service_annotations;
use ferrolb_config::manifest::extract_config;
use ferrolb_config::resources::{load_file, render_resources, with_object_names};
use ferrolb_config::state::{ResourceSource, SecretSource, Sources, load};
use ferrolb_config::{
    AddressFamily, AddressRange, BfdProfile, BgpAdvertisement, Community, Config, L2Advertisement,
    LabelSelector, LabelSelectorRequirement, PasswordSource, Peer, PeerPassword, Pool, SelectorOperator,
    parse, parse_with_warnings, render,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;

// ===== never panics =====

/// Fragments that steer random text into the parser's interesting corners.
const TOKENS: &[&str] = &[
    "apiVersion: metallb.io/v1beta1\n",
    "apiVersion: metallb.io/v1beta2\n",
    "kind: IPAddressPool\n",
    "kind: BGPPeer\n",
    "kind: BGPAdvertisement\n",
    "kind: List\nitems:\n",
    "---\n",
    "metadata: {name: a}\n",
    "spec:\n",
    "peerAddress: ",
    "ipAddressPools: ",
    "address-pools:",
    "peers:",
    "bgp-communities:",
    "bfd-profiles:",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "  ",
    "name: ",
    "protocol: ",
    "layer2",
    "bgp",
    "addresses: ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "192.0.2.0/24",
    "192.0.2.9-192.0.2.1",
    "2001:db8::/64",
    "::/0",
    "0.0.0.0/0",
    "peer-address: ",
    "peer-asn: ",
    "my-asn: ",
    "hold-time: ",
    "90s",
    "1m",
    "keepalive-time: ",
    "0",
    "-1",
    "4294967296",
    "1e400",
    "0x1F",
    ".inf",
    "~",
    "null",
    "yes",
    "True",
    "\"",
    "'",
    "#",
    "|",
    ">-",
    "---\n",
    "...\n",
    ": ",
    "? ",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!!binary ",
    "!x ",
    "\t",
    "bgp-advertisements: ",
    "aggregation-length: ",
    "communities: ",
    "large:1:2:3",
    "no-export",
    "64512:1",
    "node-selectors: ",
    "match-labels: ",
    "match-expressions: ",
    "operator: ",
    "In",
    "values: ",
    "key: ",
    "interfaces: ",
    "eth0",
    "password: ",
    "bfd-profile: ",
    "kind: ConfigMap\n",
    "apiVersion: v1\n",
    "data:",
    "config: |\n",
    "\u{feff}",
    "é",
    "\\",
    "%YAML 1.2\n",
    "\r\n",
];

fn token_soup() -> impl Strategy<Value = String> {
    vec(select(TOKENS), 0..80).prop_map(|parts| parts.concat())
}

fn exercise(text: &str) {
    let _ = load_file(text);
    let _ = parse(text);
    let _ = parse_with_warnings(text);
    if let Ok(found) = extract_config(text) {
        let _ = parse(&found.text);
    }
    let annotations: BTreeMap<String, String> = [
        ("ferrolb.io/loadBalancerIPs".to_owned(), text.to_owned()),
        ("metallb.io/address-pool".to_owned(), text.to_owned()),
        ("ferrolb.io/address-pool".to_owned(), "x".to_owned()),
    ]
    .into();
    let _ = parse_service_annotations(&annotations);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in token_soup()) {
        exercise(&text);
    }

    #[test]
    fn edited_valid_configs_never_panic(config in config(), edits in vec((any::<prop::sample::Index>(), select(TOKENS)), 1..6)) {
        let mut text = render(&config).expect("legacy-expressible");
        for (at, token) in edits {
            let mut pos = at.index(text.len() + 1);
            while !text.is_char_boundary(pos) {
                pos -= 1;
            }
            text.insert_str(pos, token);
        }
        exercise(&text);
    }

    #[test]
    fn arbitrary_json_specs_never_panic(resources in vec(resource(), 0..6), secret_type in select(&["kubernetes.io/basic-auth", "Opaque"][..])) {
        let secret = SecretSource {
            type_: secret_type.to_owned(),
            data: BTreeMap::from([("password".to_owned(), b"pw".to_vec())]),
        };
        let sources = Sources {
            config_map: None,
            resources,
            secrets: BTreeMap::from([(("ns".to_owned(), "s".to_owned()), secret)]),
        };
        if let Err(errors) = load(&sources) {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(e.object.is_some(), "every error names its object: {}", e);
            }
        }
    }

    #[test]
    fn configs_written_as_resources_load_back_equal(config in config()) {
        let (named, _) = with_object_names(&config);
        match render_resources(&named, "ferrolb-system") {
            Ok(yaml) => match load_file(&yaml).map(|l| l.result) {
                // Nothing to write: the empty configuration.
                None => prop_assert_eq!(named, Config::default()),
                Some(Ok(parsed)) => prop_assert_eq!(sorted(parsed.config), sorted(named), "resources:\n{}", yaml),
                Some(Err(e)) => prop_assert!(false, "resources rejected:\n{}\n---\n{}", e, yaml),
            },
            // What MetalLB's resources cannot say, and only that.
            Err(e) => prop_assert!(
                ["localpref 0", "echo-mode", "peer-port", "aggregation-length 0"].iter().any(|w| e.0.contains(w)),
                "{}", e
            ),
        }
    }

    #[test]
    fn rendered_configs_parse_back_equal(config in config()) {
        let text = render(&config).expect("legacy-expressible");
        match parse(&text) {
            Ok(back) => prop_assert_eq!(back, config, "rendered:\n{}", text),
            Err(e) => prop_assert!(false, "rendered config rejected:\n{}\n---\n{}", e, text),
        }
    }
}

/// Every kind of object in name order (resources are read in name order).
fn sorted(mut c: Config) -> Config {
    c.pools.sort_by(|a, b| a.name.cmp(&b.name));
    c.l2_advertisements.sort_by(|a, b| a.name.cmp(&b.name));
    c.bgp_advertisements.sort_by(|a, b| a.name.cmp(&b.name));
    c.peers.sort_by(|a, b| a.name.cmp(&b.name));
    c.bfd_profiles.sort_by(|a, b| a.name.cmp(&b.name));
    // An advertisement's pools are a set, listed in pool order, which is name order for resources.
    c.l2_advertisements.iter_mut().for_each(|a| a.pools.sort());
    c.bgp_advertisements.iter_mut().for_each(|a| a.pools.sort());
    c
}

/// Arbitrary JSON, biased towards the resources' field names and value shapes.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let key = select(
        &[
            "addresses",
            "autoAssign",
            "serviceAllocation",
            "priority",
            "namespaces",
            "ipAddressPools",
            "ipAddressPoolSelectors",
            "nodeSelectors",
            "matchLabels",
            "matchExpressions",
            "key",
            "operator",
            "values",
            "interfaces",
            "aggregationLength",
            "localPref",
            "communities",
            "peers",
            "myASN",
            "peerASN",
            "dynamicASN",
            "peerAddress",
            "holdTime",
            "keepaliveTime",
            "connectTime",
            "password",
            "passwordSecret",
            "name",
            "value",
            "bfdProfile",
            "weight",
            "preference",
            "x",
        ][..],
    );
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        select(
            &[
                "192.0.2.0/24",
                "192.0.2.1-192.0.2.9",
                "90s",
                "1:1",
                "In",
                "internal",
                "s",
                ""
            ][..]
        )
        .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            vec((key.clone(), inner), 0..5).prop_map(|entries| {
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn resource() -> impl Strategy<Value = ResourceSource> {
    let kind = select(
        &[
            "IPAddressPool",
            "L2Advertisement",
            "BGPAdvertisement",
            "BGPPeer",
            "BFDProfile",
            "Community",
            "Other",
        ][..],
    );
    let version = select(&["metallb.io/v1beta1", "metallb.io/v1beta2", "v1"][..]);
    (
        kind,
        version,
        select(&["a", "b", "c"][..]),
        select(&["ns", "other"][..]),
        json(),
    )
        .prop_map(|(kind, api_version, name, namespace, spec)| ResourceSource {
            object: ObjectRef::new(kind, namespace, name),
            api_version: api_version.to_owned(),
            labels: BTreeMap::new(),
            spec,
        })
}

// ===== valid configs =====

/// Free-form text for names and passwords: printable, with YAML's special characters and spellings that
/// would read as other types if not quoted.
fn free_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        select(
            &[
                "true", "no", "null", "~", "123", "0x10", "1e3", ".inf", "- x", "a: b", "#c", "'q'", "\"d\"",
                "*a", "&b", "?", "%", "@", "|", " lead", "trail ", "ü"
            ][..]
        )
        .prop_map(str::to_owned),
        proptest::string::string_regex(&format!("[ -~]{{1,{max}}}")).unwrap(),
    ]
    .prop_filter("not blank", |s| !s.trim().is_empty())
}

/// A name: free text without surrounding whitespace.
fn name_text(max: usize) -> impl Strategy<Value = String> {
    free_text(max).prop_map(|s| s.trim().to_owned())
}

fn label_key() -> impl Strategy<Value = String> {
    (
        "([a-z0-9]{1,4}\\.){0,2}[a-z0-9]{1,4}/",
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?",
    )
        .prop_map(|(prefix, name)| prefix + &name)
        .boxed()
        .prop_union("[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?".boxed())
}

fn label_value() -> impl Strategy<Value = String> {
    "([A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?)?"
}

/// Selectors without repetition (a repeated selector is read once: the model never holds one twice).
fn distinct_selectors(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<LabelSelector>> {
    vec(selector(), n).prop_map(|mut v| {
        let mut seen = Vec::new();
        v.retain(|s| {
            let new = !seen.contains(s);
            if new {
                seen.push(s.clone());
            }
            new
        });
        v
    })
}

fn selector() -> impl Strategy<Value = LabelSelector> {
    let expression = (
        label_key(),
        select(SelectorOperator::ALL.to_vec()),
        vec(label_value(), 1..3),
    )
        .prop_map(|(key, operator, values)| LabelSelectorRequirement {
            key,
            operator,
            values: if operator.takes_values() {
                values
            } else {
                Vec::new()
            },
        });
    (btree_map(label_key(), label_value(), 0..3), vec(expression, 0..3)).prop_map(
        |(match_labels, match_expressions)| LabelSelector {
            match_labels,
            match_expressions,
        },
    )
}

fn community() -> impl Strategy<Value = Community> {
    prop_oneof![
        any::<u32>().prop_map(Community::Standard),
        any::<(u32, u32, u32)>().prop_map(|(a, b, c)| Community::Large(a, b, c))
    ]
}

/// One range inside sub-block `j` of pool `i`: IPv4 within 192.0.2.0/24 (a /30 each), IPv6 within
/// 2001:db8::/32 (a /64 each), so pools never overlap.
fn range(i: usize, j: usize) -> impl Strategy<Value = AddressRange> {
    let v4_base = u32::from(Ipv4Addr::new(192, 0, 2, 0)) + (i as u32) * 16 + (j as u32) * 4;
    let v6_base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, i as u16, j as u16, 0, 0, 0, 0));
    prop_oneof![
        (0u32..4, 0u32..4).prop_map(move |(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            AddressRange::new(
                Ipv4Addr::from(v4_base + a).into(),
                Ipv4Addr::from(v4_base + b).into(),
            )
            .unwrap()
        }),
        (any::<u64>(), any::<u64>()).prop_map(move |(a, b)| {
            let (a, b) = (u128::from(a.min(b)), u128::from(a.max(b)));
            AddressRange::new(
                Ipv6Addr::from(v6_base + a).into(),
                Ipv6Addr::from(v6_base + b).into(),
            )
            .unwrap()
        }),
    ]
}

fn longest_prefix(ranges: &[AddressRange], family: AddressFamily) -> u8 {
    ranges
        .iter()
        .filter(|r| r.family() == family)
        .flat_map(|r| r.cidrs())
        .map(|n| n.prefix_len())
        .max()
        .unwrap_or(0)
}

fn advertisement(ranges: Vec<AddressRange>) -> impl Strategy<Value = BgpAdvertisement> {
    let v4 = longest_prefix(&ranges, AddressFamily::V4);
    let v6 = longest_prefix(&ranges, AddressFamily::V6);
    (
        v4..=32u8,
        v6..=128u8,
        proptest::option::of(any::<u32>()),
        vec(community(), 0..4),
    )
        .prop_map(|(a, b, lp, cs)| {
            let mut communities: Vec<Community> = Vec::new();
            for c in cs {
                if !communities.contains(&c) {
                    communities.push(c);
                }
            }
            BgpAdvertisement {
                aggregation_length: a,
                aggregation_length_v6: b,
                local_pref: lp,
                communities,
                ..BgpAdvertisement::with_defaults("", Vec::new())
            }
        })
}

/// How a legacy pool is announced: layer2 (interfaces, node selectors) or bgp (advertisements).
#[derive(Debug, Clone)]
enum Announced {
    Layer2(Vec<String>, Vec<LabelSelector>),
    Bgp(Vec<BgpAdvertisement>),
}

fn pool(i: usize) -> impl Strategy<Value = (Pool, Announced)> {
    let ranges = (1usize..4).prop_flat_map(move |k| (0..k).map(|j| range(i, j)).collect::<Vec<_>>());
    (ranges, any::<bool>(), any::<bool>(), any::<bool>()).prop_flat_map(
        move |(addresses, bgp, auto_assign, avoid)| {
            let announced = if bgp {
                vec(advertisement(addresses.clone()), 1..3)
                    .prop_map(Announced::Bgp)
                    .boxed()
            } else {
                (
                    proptest::sample::subsequence(
                        vec!["eth0", "eth1", "bond0.100", "br-lan", "enp1s0f1"],
                        0..3,
                    ),
                    distinct_selectors(0..2),
                )
                    .prop_map(|(interfaces, node_selectors)| {
                        Announced::Layer2(
                            interfaces.into_iter().map(str::to_owned).collect(),
                            node_selectors,
                        )
                    })
                    .boxed()
            };
            (name_text(16), announced).prop_map(move |(name, announced)| {
                let pool = Pool {
                    name: format!("{i}{name}"),
                    addresses: addresses.clone(),
                    auto_assign,
                    avoid_buggy_ips: avoid,
                    service_allocation: None,
                };
                (pool, announced)
            })
        },
    )
}

fn peer(i: usize, bfd_names: Vec<String>) -> impl Strategy<Value = Peer> {
    let v6 = any::<bool>();
    let hold = prop_oneof![Just(0u64), 3u64..=65535];
    let timers = hold.prop_flat_map(|h| (Just(h), if h == 0 { (0u64..1).boxed() } else { (1..h).boxed() }));
    let bfd = if bfd_names.is_empty() {
        Just(None).boxed()
    } else {
        proptest::option::of(select(bfd_names)).boxed()
    };
    (
        v6,
        any::<u32>().prop_filter("ASN 0", |a| *a != 0),
        1u32..,
        1u16..,
        timers,
        any::<bool>(),
    )
        .prop_flat_map(move |(v6, asn, my_asn, port, (hold, keepalive), multihop)| {
            let source = proptest::option::of(any::<u16>());
            let router_id = proptest::option::of(any::<u32>());
            let password = proptest::option::of(proptest::string::string_regex("[ -~]{1,80}").unwrap());
            (source, router_id, password, bfd.clone(), distinct_selectors(0..3)).prop_map(
                move |(source, router_id, password, bfd_profile, node_selectors)| {
                    let addr = |host: u16| -> IpAddr {
                        if v6 {
                            Ipv6Addr::new(0x2001, 0xdb8, 0xffff, i as u16, 0, 0, 0, host).into()
                        } else {
                            Ipv4Addr::new(203, 0, 113, i as u8).into()
                        }
                    };
                    Peer {
                        name: format!("peer{}", i + 1),
                        address: addr(1),
                        port,
                        asn,
                        my_asn,
                        source_address: source.map(|s| {
                            if v6 {
                                addr(s)
                            } else {
                                Ipv4Addr::new(198, 51, 100, s as u8).into()
                            }
                        }),
                        hold_time: Duration::from_secs(hold),
                        keepalive_time: Duration::from_secs(keepalive),
                        router_id: router_id.map(Ipv4Addr::from),
                        password: password.clone().map(|value| PeerPassword {
                            value,
                            source: PasswordSource::Inline,
                        }),
                        bfd_profile,
                        ebgp_multihop: multihop && asn != my_asn,
                        dual_stack_address_family: false,
                        node_selectors,
                        connect_time: None,
                        graceful_restart: true,
                    }
                },
            )
        })
}

fn bfd_profile(i: usize) -> impl Strategy<Value = BfdProfile> {
    (
        name_text(10),
        10u32..=60_000,
        10u32..=60_000,
        2u32..=255,
        10u32..=60_000,
        any::<bool>(),
        any::<bool>(),
        1u32..=254,
    )
        .prop_map(move |(name, r, t, m, e, echo, passive, ttl)| BfdProfile {
            name: format!("bfd{i}-{name}"),
            receive_interval_ms: r,
            transmit_interval_ms: t,
            detect_multiplier: m,
            echo_interval_ms: e,
            echo_mode: echo,
            passive_mode: passive,
            minimum_ttl: ttl,
        })
}

fn config() -> impl Strategy<Value = Config> {
    let aliases = btree_map("[a-z][a-z0-9_-]{0,10}", community(), 0..3);
    (0usize..4, 0usize..3, 0usize..3, aliases).prop_flat_map(|(n_pools, n_peers, n_bfd, communities)| {
        let bfd: Vec<_> = (0..n_bfd).map(bfd_profile).collect();
        bfd.prop_flat_map(move |bfd_profiles| {
            let names: Vec<String> = bfd_profiles.iter().map(|b| b.name.clone()).collect();
            let pools: Vec<_> = (0..n_pools).map(pool).collect();
            let peers: Vec<_> = (0..n_peers).map(|i| peer(i, names.clone())).collect();
            let communities = communities.clone();
            (pools, peers).prop_map(move |(pools, peers)| {
                // Laid out as the legacy decoder lays a ConfigMap out (MetalLB's converter's names).
                let mut config = Config {
                    peers,
                    bfd_profiles: bfd_profiles.clone(),
                    communities: communities.clone(),
                    ..Config::default()
                };
                for (pool, announced) in pools {
                    match announced {
                        Announced::Layer2(interfaces, node_selectors) => {
                            let name = format!("l2advertisement{}", config.l2_advertisements.len() + 1);
                            config.l2_advertisements.push(L2Advertisement {
                                name,
                                pools: vec![pool.name.clone()],
                                node_selectors,
                                interfaces,
                                service_selectors: Vec::new(),
                                preferred_node_selectors: Vec::new(),
                            });
                        }
                        Announced::Bgp(advs) => {
                            let start = config.bgp_advertisements.len();
                            for adv in advs {
                                let name = format!("bgpadvertisement{}", config.bgp_advertisements.len() + 1);
                                let mut adv = BgpAdvertisement {
                                    name,
                                    pools: vec![pool.name.clone()],
                                    ..adv
                                };
                                // MetalLB's rule (one prefix, one LOCAL_PREF): take the local-pref of an
                                // earlier advertisement it would conflict with; leave it out if that is
                                // not enough.
                                let earlier = &config.bgp_advertisements[start..];
                                if let Some(e) =
                                    earlier.iter().find(|e| adv.local_pref_conflict(e, &pool, None))
                                {
                                    adv.local_pref = e.local_pref;
                                }
                                if earlier.iter().any(|e| adv.local_pref_conflict(e, &pool, None)) {
                                    continue;
                                }
                                config.bgp_advertisements.push(adv);
                            }
                            if config.bgp_advertisements.len() == start {
                                let name = format!("bgpadvertisement{}", start + 1);
                                config
                                    .bgp_advertisements
                                    .push(BgpAdvertisement::with_defaults(name, vec![pool.name.clone()]));
                            }
                        }
                    }
                    config.pools.push(pool);
                }
                config
            })
        })
    })
}
