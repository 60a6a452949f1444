//! Table-driven valid configs: what each means, and that each survives a render/parse round trip.

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_config::{AddressFamily, BgpAdvertisement, Community, Config, Protocol, parse, render};

struct Valid {
    name: &'static str,
    yaml: &'static str,
    check: fn(&Config) -> bool,
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The BGP advertisements of the first pool.
fn advs(c: &Config) -> Vec<&BgpAdvertisement> {
    c.bgp_advertisements_for(&c.pools[0].name).collect()
}

const L2: &str = "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n";

fn valid_cases() -> Vec<Valid> {
    vec![
        Valid {
            name: "empty text",
            yaml: "",
            check: |c| *c == Config::default(),
        },
        Valid {
            name: "only a comment",
            yaml: "# nothing yet\n",
            check: |c| c.pools.is_empty(),
        },
        Valid {
            name: "layer2 defaults",
            yaml: L2,
            check: |c| {
                let p = &c.pools[0];
                c.protocols(&p.name) == [Protocol::Layer2]
                    && p.auto_assign
                    && !p.avoid_buggy_ips
                    && advs(c).is_empty()
                    && c.l2_advertisements[0].interfaces.is_empty()
                    && c.l2_advertisements[0].pools == ["a"]
                    && p.len(AddressFamily::V4) == 256
            },
        },
        Valid {
            name: "bgp pool gets one default advertisement",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [198.51.100.0/24]}\n",
            check: |c| {
                advs(c)
                    == [&BgpAdvertisement::with_defaults(
                        "bgpadvertisement1",
                        vec!["b".into()],
                    )]
            },
        },
        Valid {
            name: "empty advertisement list means the default one",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [198.51.100.0/24], bgp-advertisements: []}\n",
            check: |c| advs(c).len() == 1,
        },
        Valid {
            name: "peer defaults",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 65001, my-asn: 65000}\n",
            check: |c| {
                let p = &c.peers[0];
                p.port == 179
                    && p.hold_time == Duration::from_secs(90)
                    && p.keepalive_time == Duration::from_secs(30)
                    && p.source_address.is_none()
                    && p.router_id.is_none()
                    && p.password.is_none()
                    && !p.ebgp_multihop
                    && p.node_selectors.is_empty()
            },
        },
        Valid {
            name: "hold-time 0 disables keepalives",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: \"0\"}\n",
            check: |c| c.peers[0].hold_time.is_zero() && c.peers[0].keepalive_time.is_zero(),
        },
        Valid {
            name: "Go duration forms",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 1m30s, keepalive-time: 20s}\n",
            check: |c| c.peers[0].hold_time.as_secs() == 90 && c.peers[0].keepalive_time.as_secs() == 20,
        },
        Valid {
            name: "smallest hold-time",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 3s}\n",
            check: |c| c.peers[0].keepalive_time.as_secs() == 1,
        },
        Valid {
            name: "IPv6 peer with every option",
            yaml: "peers:\n- peer-address: 2001:db8::1\n  peer-asn: 4294967295\n  my-asn: 4200000000\n  \
                   peer-port: 1179\n  source-address: 2001:db8::2\n  router-id: 192.0.2.9\n  password: 0x10\n  \
                   ebgp-multihop: yes\n",
            check: |c| {
                let p = &c.peers[0];
                p.address == ip("2001:db8::1")
                    && p.asn == u32::MAX
                    && p.port == 1179
                    && p.source_address == Some(ip("2001:db8::2"))
                    && p.router_id.map(IpAddr::V4) == Some(ip("192.0.2.9"))
                    && p.password.as_ref().map(|p| p.value.as_str()) == Some("0x10")
                    && p.ebgp_multihop
            },
        },
        Valid {
            name: "null values mean defaults (kubespray renders empty variables)",
            yaml: "peers:\naddress-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n  \
                   auto-assign:\n  avoid-buggy-ips: ~\n",
            check: |c| c.peers.is_empty() && c.pools[0].auto_assign && !c.pools[0].avoid_buggy_ips,
        },
        Valid {
            name: "YAML 1.1 and capitalised booleans",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], auto-assign: no, avoid-buggy-ips: True}\n",
            check: |c| !c.pools[0].auto_assign && c.pools[0].avoid_buggy_ips,
        },
        Valid {
            name: "aliases, literals, well-known names and large communities",
            yaml: "bgp-communities:\n  mine: 64512:7\n  big: large:4200000000:1:2\naddress-pools:\n- name: b\n  \
                   protocol: bgp\n  addresses: [198.51.100.0/24]\n  bgp-advertisements:\n  - communities: \
                   [mine, big, no-advertise, 65000:1, large:1:2:3, mine]\n",
            check: |c| {
                advs(c)[0].communities
                    == [
                        Community::standard(64512, 7),
                        Community::Large(4_200_000_000, 1, 2),
                        Community::standard(65535, 65282),
                        Community::standard(65000, 1),
                        Community::Large(1, 2, 3),
                    ]
            },
        },
        Valid {
            name: "an alias shadows a well-known name",
            yaml: "bgp-communities: {no-export: 64512:99}\naddress-pools:\n- {name: b, protocol: bgp, addresses: \
                   [198.51.100.0/24], bgp-advertisements: [{communities: [no-export]}]}\n",
            check: |c| advs(c)[0].communities == [Community::standard(64512, 99)],
        },
        Valid {
            name: "dual-stack pool",
            yaml: "address-pools:\n- {name: d, protocol: layer2, addresses: [192.0.2.0/28, 2001:db8::/124, \
                   2001:db8:1::5-2001:db8:1::6]}\n",
            check: |c| {
                let p = &c.pools[0];
                p.len(AddressFamily::V4) == 16
                    && p.len(AddressFamily::V6) == 18
                    && p.contains(ip("2001:db8:1::6"))
            },
        },
        Valid {
            name: "adjacent ranges do not overlap",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/25]}\n- {name: b, protocol: \
                   layer2, addresses: [192.0.2.128-192.0.2.255, 2001:db8::/64]}\n",
            check: |c| c.pools.len() == 2,
        },
        Valid {
            name: "aggregation as long as the pool prefix",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [198.51.100.0/24, 2001:db8::/64], \
                   bgp-advertisements: [{aggregation-length: 24, aggregation-length-v6: 64, localpref: 0}]}\n",
            check: |c| {
                let a = advs(c)[0];
                (a.aggregation_length, a.aggregation_length_v6, a.local_pref) == (24, 64, Some(0))
            },
        },
        Valid {
            name: "ferrolb layer2 additions",
            yaml: "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n  interfaces: [eth0, \
                   bond0.100]\n  node-selectors:\n  - match-labels: {zone: a}\n",
            check: |c| {
                let l2 = &c.l2_advertisements[0];
                l2.interfaces == ["eth0", "bond0.100"] && l2.node_selectors[0].match_labels["zone"] == "a"
            },
        },
        Valid {
            name: "anchors and merge keys",
            yaml: "peers:\n- &p {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2}\n- <<: *p\n  peer-address: 192.0.2.2\n",
            check: |c| c.peers.len() == 2 && c.peers[1].asn == 1 && c.peers[1].address == ip("192.0.2.2"),
        },
        Valid {
            name: "same router from different node groups",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, node-selectors: [{match-labels: \
                   {rack: a}}]}\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 3, node-selectors: \
                   [{match-labels: {rack: b}}]}\n",
            check: |c| c.peers.len() == 2,
        },
        Valid {
            name: "BFD profile defaults",
            yaml: "bfd-profiles:\n- name: fast\npeers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, bfd-profile: fast}\n",
            check: |c| {
                let b = &c.bfd_profiles[0];
                (
                    b.receive_interval_ms,
                    b.transmit_interval_ms,
                    b.detect_multiplier,
                    b.echo_interval_ms,
                    b.minimum_ttl,
                ) == (300, 300, 3, 50, 254)
            },
        },
    ]
}

#[test]
fn valid_configs() {
    let cases = valid_cases();
    assert!(cases.len() >= 20);
    for case in cases {
        let config = parse(case.yaml).unwrap_or_else(|e| panic!("{}: unexpected errors:\n{e}", case.name));
        assert!((case.check)(&config), "{}: {config:#?}", case.name);
        let text = render(&config).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(parse(&text).as_ref(), Ok(&config), "{}: round trip", case.name);
    }
}
