//! Table-driven invalid configs: each must produce exactly one error, at the given path, of the given
//! kind.

use ferrolb_config::{ErrorKind, Protocol, parse};

struct Invalid {
    name: &'static str,
    yaml: &'static str,
    path: &'static str,
    kind: fn(&ErrorKind) -> bool,
}

fn invalid_cases() -> Vec<Invalid> {
    vec![
        Invalid {
            name: "not YAML",
            yaml: "address-pools: [\n",
            path: "",
            kind: |k| matches!(k, ErrorKind::Yaml { .. }),
        },
        Invalid {
            name: "top level is a list",
            yaml: "- a\n- b\n",
            path: "",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "a mapping",
                        found: "a list"
                    }
                )
            },
        },
        Invalid {
            name: "unknown top-level key",
            yaml: "address-pool: []\n",
            path: "address-pool",
            kind: |k| matches!(k, ErrorKind::UnknownKey { suggestion: Some(s) } if s == "address-pools"),
        },
        Invalid {
            name: "misspelt pool key",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], auto-asign: false}\n",
            path: "address-pools[0].auto-asign",
            kind: |k| matches!(k, ErrorKind::UnknownKey { suggestion: Some(s) } if s == "auto-assign"),
        },
        Invalid {
            name: "CRD spelling of a key",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], autoAssign: false}\n",
            path: "address-pools[0].autoAssign",
            kind: |k| matches!(k, ErrorKind::UnknownKey { suggestion: Some(s) } if s == "auto-assign"),
        },
        Invalid {
            name: "duplicate key",
            yaml: "address-pools:\n- name: a\n  name: b\n  protocol: layer2\n  addresses: [192.0.2.0/24]\n",
            path: "address-pools[0].name",
            kind: |k| matches!(k, ErrorKind::DuplicateKey { first_line: 2 }),
        },
        Invalid {
            name: "missing name",
            yaml: "address-pools:\n- {protocol: layer2, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[0].name",
            kind: |k| matches!(k, ErrorKind::MissingKey),
        },
        Invalid {
            name: "empty name",
            yaml: "address-pools:\n- {name: \"\", protocol: layer2, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[0].name",
            kind: |k| matches!(k, ErrorKind::Empty),
        },
        Invalid {
            name: "name with surrounding whitespace",
            yaml: "address-pools:\n- {name: \"gold \", protocol: layer2, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[0].name",
            kind: |k| matches!(k, ErrorKind::InvalidName { .. }),
        },
        Invalid {
            name: "alias with a control character",
            yaml: "bgp-communities: {\"a\\tb\": 1:2}\n",
            path: "bgp-communities[\"a\\tb\"]",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::InvalidName {
                        reason: "control character"
                    }
                )
            },
        },
        Invalid {
            name: "missing protocol",
            yaml: "address-pools:\n- {name: a, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[0].protocol",
            kind: |k| matches!(k, ErrorKind::MissingKey),
        },
        Invalid {
            name: "protocol l2",
            yaml: "address-pools:\n- {name: a, protocol: l2, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[0].protocol",
            kind: |k| matches!(k, ErrorKind::UnknownProtocol { suggestion: Some(s) } if s == "layer2"),
        },
        Invalid {
            name: "protocol in capitals",
            yaml: "address-pools:\n- {name: a, protocol: BGP, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[0].protocol",
            kind: |k| matches!(k, ErrorKind::UnknownProtocol { suggestion: Some(s) } if s == "bgp"),
        },
        Invalid {
            name: "missing addresses",
            yaml: "address-pools:\n- {name: a, protocol: layer2}\n",
            path: "address-pools[0].addresses",
            kind: |k| matches!(k, ErrorKind::MissingKey),
        },
        Invalid {
            name: "empty addresses",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: []}\n",
            path: "address-pools[0].addresses",
            kind: |k| matches!(k, ErrorKind::Empty),
        },
        Invalid {
            name: "addresses not a list",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: 192.0.2.0/24}\n",
            path: "address-pools[0].addresses",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "a list",
                        ..
                    }
                )
            },
        },
        Invalid {
            name: "prefix length too long",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/33]}\n",
            path: "address-pools[0].addresses[0]",
            kind: |k| matches!(k, ErrorKind::InvalidCidr { .. }),
        },
        Invalid {
            name: "malformed CIDR address",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24, 192.0.3/24]}\n",
            path: "address-pools[0].addresses[1]",
            kind: |k| matches!(k, ErrorKind::InvalidCidr { .. }),
        },
        Invalid {
            name: "bare address",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.7]}\n",
            path: "address-pools[0].addresses[0]",
            kind: |k| matches!(k, ErrorKind::BareAddress { suggestion } if suggestion == "192.0.2.7/32"),
        },
        Invalid {
            name: "range end before start",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/28, 192.0.2.90-192.0.2.80]}\n",
            path: "address-pools[0].addresses[1]",
            kind: |k| matches!(k, ErrorKind::RangeEndBeforeStart { .. }),
        },
        Invalid {
            name: "range of mixed families",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.1-2001:db8::1]}\n",
            path: "address-pools[0].addresses[0]",
            kind: |k| matches!(k, ErrorKind::MixedFamilies { .. }),
        },
        Invalid {
            name: "range bound not an address",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.1-192.0.2.x]}\n",
            path: "address-pools[0].addresses[0]",
            kind: |k| matches!(k, ErrorKind::InvalidRangeBound { bound } if bound == "192.0.2.x"),
        },
        Invalid {
            name: "neither CIDR nor range",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [everything]}\n",
            path: "address-pools[0].addresses[0]",
            kind: |k| matches!(k, ErrorKind::MalformedAddresses),
        },
        Invalid {
            name: "overlap within one pool",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24, 192.0.2.128/25]}\n",
            path: "address-pools[0].addresses[1]",
            kind: |k| {
                matches!(k, ErrorKind::Overlap { pool, other_pool, overlap, .. }
                    if pool == "a" && other_pool == "a" && overlap == "192.0.2.128/25")
            },
        },
        Invalid {
            name: "overlap across pools",
            yaml: "address-pools:\n- {name: gold, protocol: layer2, addresses: [192.0.2.0/24]}\n- {name: silver, \
                   protocol: bgp, addresses: [198.51.100.0/24, 192.0.2.250-192.0.3.5]}\n",
            path: "address-pools[1].addresses[1]",
            kind: |k| {
                matches!(k, ErrorKind::Overlap { pool, other_pool, other_path, overlap, .. }
                    if pool == "silver" && other_pool == "gold"
                        && other_path == "address-pools[0].addresses[0]" && overlap == "192.0.2.250-192.0.2.255")
            },
        },
        Invalid {
            name: "overlap reported at the later pool even when it sorts first",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.100/30]}\n- {name: b, protocol: \
                   layer2, addresses: [192.0.2.0/24]}\n",
            path: "address-pools[1].addresses[0]",
            kind: |k| matches!(k, ErrorKind::Overlap { pool, other_pool, .. } if pool == "b" && other_pool == "a"),
        },
        Invalid {
            name: "IPv6 overlap",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [2001:db8::/64]}\n- {name: b, protocol: \
                   layer2, addresses: [2001:db8::ff-2001:db8::1:0]}\n",
            path: "address-pools[1].addresses[0]",
            kind: |k| matches!(k, ErrorKind::Overlap { overlap, .. } if overlap == "2001:db8::ff-2001:db8::1:0"),
        },
        Invalid {
            name: "duplicate pool name",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/25]}\n- {name: a, protocol: \
                   layer2, addresses: [192.0.2.128/25]}\n",
            path: "address-pools[1].name",
            kind: |k| matches!(k, ErrorKind::DuplicateName { first } if first == "address-pools[0].name"),
        },
        Invalid {
            name: "auto-assign not a boolean",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], auto-assign: maybe}\n",
            path: "address-pools[0].auto-assign",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "true or false",
                        found: "a string"
                    }
                )
            },
        },
        Invalid {
            name: "bgp-advertisements in a layer2 pool",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], bgp-advertisements: [{}]}\n",
            path: "address-pools[0].bgp-advertisements",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongProtocol {
                        protocol: Protocol::Bgp
                    }
                )
            },
        },
        Invalid {
            name: "interfaces in a bgp pool",
            yaml: "address-pools:\n- {name: a, protocol: bgp, addresses: [192.0.2.0/24], interfaces: [eth0]}\n",
            path: "address-pools[0].interfaces",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongProtocol {
                        protocol: Protocol::Layer2
                    }
                )
            },
        },
        Invalid {
            name: "interface name too long",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], interfaces: \
                   [eth0, averyveryverylongname0]}\n",
            path: "address-pools[0].interfaces[1]",
            kind: |k| matches!(k, ErrorKind::InvalidInterfaceName { .. }),
        },
        Invalid {
            name: "interface listed twice",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], interfaces: [eth0, eth0]}\n",
            path: "address-pools[0].interfaces[1]",
            kind: |k| matches!(k, ErrorKind::DuplicateValue { first } if first == "address-pools[0].interfaces[0]"),
        },
        Invalid {
            name: "aggregation-length out of range",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: \
                   [{aggregation-length: 33}]}\n",
            path: "address-pools[0].bgp-advertisements[0].aggregation-length",
            kind: |k| matches!(k, ErrorKind::OutOfRange { min: 0, max: 32 }),
        },
        Invalid {
            name: "aggregation shorter than the pool CIDR",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/26], bgp-advertisements: \
                   [{aggregation-length: 24}]}\n",
            path: "address-pools[0].bgp-advertisements[0].aggregation-length",
            kind: |k| {
                matches!(k, ErrorKind::AggregationTooShort { length: 24, prefix_len: 26, cidr, address_path, .. }
                    if cidr == "192.0.2.0/26" && address_path == "address-pools[0].addresses[0]")
            },
        },
        Invalid {
            name: "IPv6 aggregation shorter than the pool CIDR",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/24, 2001:db8::/120], \
                   bgp-advertisements: [{aggregation-length: 24, aggregation-length-v6: 64}]}\n",
            path: "address-pools[0].bgp-advertisements[0].aggregation-length-v6",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::AggregationTooShort {
                        key: "aggregation-length-v6",
                        prefix_len: 120,
                        ..
                    }
                )
            },
        },
        Invalid {
            name: "aggregation over a range that is not a CIDR",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.10-192.0.2.20], bgp-advertisements: \
                   [{aggregation-length: 28}]}\n",
            path: "address-pools[0].bgp-advertisements[0].aggregation-length",
            kind: |k| matches!(k, ErrorKind::AggregationTooShort { prefix_len: 32, .. }),
        },
        Invalid {
            name: "negative localpref",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: \
                   [{localpref: -1}]}\n",
            path: "address-pools[0].bgp-advertisements[0].localpref",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::OutOfRange {
                        min: 0,
                        max: 4294967295
                    }
                )
            },
        },
        Invalid {
            name: "community half too large",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: \
                   [{communities: [64512:70000]}]}\n",
            path: "address-pools[0].bgp-advertisements[0].communities[0]",
            kind: |k| matches!(k, ErrorKind::InvalidCommunity { .. }),
        },
        Invalid {
            name: "malformed large community",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: \
                   [{communities: [65000:1, \"large:1:2\"]}]}\n",
            path: "address-pools[0].bgp-advertisements[0].communities[1]",
            kind: |k| matches!(k, ErrorKind::InvalidCommunity { .. }),
        },
        Invalid {
            name: "unknown community alias",
            yaml: "address-pools:\n- {name: b, protocol: bgp, addresses: [192.0.2.0/24], bgp-advertisements: \
                   [{communities: [no-exprt]}]}\n",
            path: "address-pools[0].bgp-advertisements[0].communities[0]",
            kind: |k| matches!(k, ErrorKind::UnknownCommunity { suggestion: Some(s) } if s == "no-export"),
        },
        Invalid {
            name: "malformed alias value",
            yaml: "bgp-communities:\n  good: 1:2\n  bad: 1-2\n",
            path: "bgp-communities.bad",
            kind: |k| matches!(k, ErrorKind::InvalidCommunity { .. }),
        },
        Invalid {
            name: "missing peer-address",
            yaml: "peers:\n- {peer-asn: 1, my-asn: 2}\n",
            path: "peers[0].peer-address",
            kind: |k| matches!(k, ErrorKind::MissingKey),
        },
        Invalid {
            name: "peer-address not an IP",
            yaml: "peers:\n- {peer-address: router.example, peer-asn: 1, my-asn: 2}\n",
            path: "peers[0].peer-address",
            kind: |k| matches!(k, ErrorKind::InvalidIp),
        },
        Invalid {
            name: "IPv4-mapped peer address",
            yaml: "peers:\n- {peer-address: \"::ffff:192.0.2.1\", peer-asn: 1, my-asn: 2}\n",
            path: "peers[0].peer-address",
            kind: |k| matches!(k, ErrorKind::MappedIpv4),
        },
        Invalid {
            name: "ASN 0",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 0, my-asn: 2}\n",
            path: "peers[0].peer-asn",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::OutOfRange {
                        min: 1,
                        max: 4294967295
                    }
                )
            },
        },
        Invalid {
            name: "ASN beyond 32 bits",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 4294967296}\n",
            path: "peers[0].my-asn",
            kind: |k| matches!(k, ErrorKind::OutOfRange { .. }),
        },
        Invalid {
            name: "ASN far beyond 64 bits",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 999999999999999999999999999999999999999999}\n",
            path: "peers[0].my-asn",
            kind: |k| matches!(k, ErrorKind::OutOfRange { .. }),
        },
        Invalid {
            name: "ASN written as text",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: AS65000, my-asn: 2}\n",
            path: "peers[0].peer-asn",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "an integer",
                        ..
                    }
                )
            },
        },
        Invalid {
            name: "peer-port 0",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, peer-port: 0}\n",
            path: "peers[0].peer-port",
            kind: |k| matches!(k, ErrorKind::OutOfRange { min: 1, max: 65535 }),
        },
        Invalid {
            name: "hold-time too short",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 2s}\n",
            path: "peers[0].hold-time",
            kind: |k| matches!(k, ErrorKind::HoldTimeTooShort { seconds: 2 }),
        },
        Invalid {
            name: "sub-second hold-time",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 500ms}\n",
            path: "peers[0].hold-time",
            kind: |k| matches!(k, ErrorKind::HoldTimeTooShort { seconds: 0 }),
        },
        Invalid {
            name: "hold-time without unit",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 90}\n",
            path: "peers[0].hold-time",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::InvalidDuration {
                        reason: "missing unit"
                    }
                )
            },
        },
        Invalid {
            name: "hold-time beyond 16 bits",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 24h}\n",
            path: "peers[0].hold-time",
            kind: |k| matches!(k, ErrorKind::HoldTimeTooLong),
        },
        Invalid {
            name: "keepalive not below hold",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 30s, keepalive-time: 30s}\n",
            path: "peers[0].keepalive-time",
            kind: |k| matches!(k, ErrorKind::KeepaliveNotBelowHold { hold_seconds: 30 }),
        },
        Invalid {
            name: "keepalive with hold 0",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, hold-time: 0s, keepalive-time: 10s}\n",
            path: "peers[0].keepalive-time",
            kind: |k| matches!(k, ErrorKind::KeepaliveWithoutHold),
        },
        Invalid {
            name: "keepalive 0 with a hold timer",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, keepalive-time: 0s}\n",
            path: "peers[0].keepalive-time",
            kind: |k| matches!(k, ErrorKind::KeepaliveZero { hold_seconds: 90 }),
        },
        Invalid {
            name: "router-id IPv6",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, router-id: \"2001:db8::1\"}\n",
            path: "peers[0].router-id",
            kind: |k| matches!(k, ErrorKind::NotIpv4),
        },
        Invalid {
            name: "source-address of the other family",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, source-address: \"2001:db8::1\"}\n",
            path: "peers[0].source-address",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::FamilyMismatch {
                        source_version: 6,
                        peer_version: 4,
                        ..
                    }
                )
            },
        },
        Invalid {
            name: "password longer than TCP MD5 allows",
            yaml: "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 1\n  my-asn: 2\n  password: \
                   \"123456789012345678901234567890123456789012345678901234567890123456789012345678901\"\n",
            path: "peers[0].password",
            kind: |k| matches!(k, ErrorKind::PasswordTooLong { len: 81 }),
        },
        Invalid {
            name: "unknown bfd-profile",
            yaml: "bfd-profiles: [{name: fast}]\npeers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, bfd-profile: fats}\n",
            path: "peers[0].bfd-profile",
            kind: |k| matches!(k, ErrorKind::UnknownBfdProfile { suggestion: Some(s) } if s == "fast"),
        },
        Invalid {
            name: "ebgp-multihop not a boolean",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, ebgp-multihop: 1}\n",
            path: "peers[0].ebgp-multihop",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "true or false",
                        found: "an integer"
                    }
                )
            },
        },
        Invalid {
            name: "ebgp-multihop on an iBGP peer",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 64500, my-asn: 64500, ebgp-multihop: true}\n",
            path: "peers[0].ebgp-multihop",
            kind: |k| matches!(k, ErrorKind::MultihopForIbgp { asn: 64500 }),
        },
        Invalid {
            name: "operator spelt in lower case",
            yaml: "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 1\n  my-asn: 2\n  node-selectors:\n  - \
                   match-expressions:\n    - {key: kubernetes.io/arch, operator: in, values: [amd64]}\n",
            path: "peers[0].node-selectors[0].match-expressions[0].operator",
            kind: |k| matches!(k, ErrorKind::InvalidOperator { suggestion: Some(s) } if s == "In"),
        },
        Invalid {
            name: "In without values",
            yaml: "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 1\n  my-asn: 2\n  node-selectors:\n  - \
                   match-expressions:\n    - {key: rack, operator: In}\n",
            path: "peers[0].node-selectors[0].match-expressions[0].values",
            kind: |k| matches!(k, ErrorKind::ValuesRequired { operator: "In" }),
        },
        Invalid {
            name: "Exists with values",
            yaml: "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 1\n  my-asn: 2\n  node-selectors:\n  - \
                   match-expressions:\n    - {key: rack, operator: Exists, values: [a]}\n",
            path: "peers[0].node-selectors[0].match-expressions[0].values",
            kind: |k| matches!(k, ErrorKind::ValuesForbidden { operator: "Exists" }),
        },
        Invalid {
            name: "invalid label key",
            yaml: "peers:\n- peer-address: 192.0.2.1\n  peer-asn: 1\n  my-asn: 2\n  node-selectors:\n  - \
                   match-labels: {\"bad key\": x}\n",
            path: "peers[0].node-selectors[0].match-labels[\"bad key\"]",
            kind: |k| matches!(k, ErrorKind::InvalidLabelKey { .. }),
        },
        Invalid {
            name: "invalid label value",
            yaml: "address-pools:\n- {name: a, protocol: layer2, addresses: [192.0.2.0/24], node-selectors: \
                   [{match-labels: {zone: \"-a\"}}]}\n",
            path: "address-pools[0].node-selectors[0].match-labels.zone",
            kind: |k| matches!(k, ErrorKind::InvalidLabelValue { .. }),
        },
        Invalid {
            name: "duplicate peer",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2}\n- {peer-address: 192.0.2.1, peer-asn: 3, my-asn: 4}\n",
            path: "peers[1]",
            kind: |k| matches!(k, ErrorKind::DuplicatePeer { first } if first == "peers[0]"),
        },
        Invalid {
            name: "duplicate bfd profile",
            yaml: "bfd-profiles: [{name: fast}, {name: fast}]\n",
            path: "bfd-profiles[1].name",
            kind: |k| matches!(k, ErrorKind::DuplicateName { .. }),
        },
        Invalid {
            name: "bfd interval out of range",
            yaml: "bfd-profiles: [{name: fast, receive-interval: 5}]\n",
            path: "bfd-profiles[0].receive-interval",
            kind: |k| matches!(k, ErrorKind::OutOfRange { min: 10, max: 60000 }),
        },
        Invalid {
            name: "peers not a list",
            yaml: "peers: {peer-address: 192.0.2.1}\n",
            path: "peers",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "a list",
                        found: "a mapping"
                    }
                )
            },
        },
        Invalid {
            name: "empty list item",
            yaml: "address-pools:\n-\n",
            path: "address-pools[0]",
            kind: |k| {
                matches!(
                    k,
                    ErrorKind::WrongType {
                        expected: "a mapping",
                        found: "nothing"
                    }
                )
            },
        },
        Invalid {
            name: "unknown peer key",
            yaml: "peers:\n- {peer-address: 192.0.2.1, peer-asn: 1, my-asn: 2, holdtime: 90s}\n",
            path: "peers[0].holdtime",
            kind: |k| matches!(k, ErrorKind::UnknownKey { suggestion: Some(s) } if s == "hold-time"),
        },
        Invalid {
            name: "a valid layer2 pool does not hide a peer's typo",
            yaml: "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [192.0.2.0/24]\npeers:\n- \
                   peer-address: 192.0.2.1\n  peer-asn: 65001\n  my-asn: 65000\n  my-asnn: 1\n",
            path: "peers[0].my-asnn",
            kind: |k| matches!(k, ErrorKind::UnknownKey { suggestion: Some(s) } if s == "my-asn"),
        },
    ]
}

#[test]
fn invalid_configs_name_the_culprit() {
    let cases = invalid_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in cases {
        let errors = parse(case.yaml)
            .err()
            .unwrap_or_else(|| panic!("{}: accepted", case.name));
        let [error] = errors.as_slice() else {
            panic!("{}: expected exactly one error, got:\n{errors}", case.name)
        };
        assert_eq!(error.path, case.path, "{}: {error}", case.name);
        assert!(
            (case.kind)(&error.kind),
            "{}: wrong kind: {:?}",
            case.name,
            error.kind
        );
        assert!(!error.to_string().is_empty());
    }
}
