//! BGP messages captured from GoBGP 3.10, BIRD 2.0.12 and FRR 8.4 (see `data/README.md`): each one decoded
//! and checked field by field, each stream cut by the framer, and each message re-encoded and decoded again.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use ferrolb_proto::bgp::notification::{CEASE, cease};
use ferrolb_proto::bgp::{
    AsPath, CodecContext, Community, Family, Framer, LargeCommunity, Message, Open, Origin, Update,
};
use ipnet::IpNet;

const ROUTERS: [&str; 3] = ["gobgp", "bird", "frr"];

fn data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn decode(path: &str) -> Message {
    Message::decode(&read(path), &CodecContext::default()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every file of a router's directory whose name starts with `prefix` (e.g. `ibgp-announce-ipv4`), decoded.
fn all(router: &str, prefix: &str) -> Vec<Update> {
    let mut names: Vec<String> = std::fs::read_dir(data(&format!("bgp/{router}")))
        .expect("capture directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".bin"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "{router}: no {prefix}*.bin");
    names
        .iter()
        .map(|n| match decode(&format!("bgp/{router}/{n}")) {
            Message::Update(u) => u,
            other => panic!("{router}/{n}: {} instead of UPDATE", other.kind()),
        })
        .collect()
}

fn open(router: &str, session: &str) -> Open {
    match decode(&format!("bgp/{router}/{session}-open.bin")) {
        Message::Open(open) => open,
        other => panic!("{router}: {} instead of OPEN", other.kind()),
    }
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

fn communities(router: &str) -> Vec<Community> {
    match router {
        "frr" => vec![Community::new(64512, 100), Community::new(64512, 200)],
        _ => vec![Community::new(64512, 100), Community::NO_EXPORT],
    }
}

#[test]
fn opens_carry_the_capabilities_each_router_was_configured_with() {
    for router in ROUTERS {
        for (session, families) in [
            ("ibgp", vec![Family::Ipv4Unicast, Family::Ipv6Unicast]),
            ("ebgp6", vec![Family::Ipv6Unicast]),
        ] {
            let open = open(router, session);
            assert_eq!(open.asn(), 64512, "{router} {session}");
            assert_eq!(open.my_as, 64512);
            assert_eq!(open.hold_time, 9);
            assert_eq!(open.router_id, Ipv4Addr::new(192, 0, 2, 1));
            let caps = &open.capabilities;
            assert_eq!(caps.multiprotocol, families, "{router} {session}");
            assert_eq!(caps.four_octet_as, Some(64512));
            assert!(caps.route_refresh, "{router}");
            let gr = caps
                .graceful_restart
                .as_ref()
                .unwrap_or_else(|| panic!("{router}: graceful restart"));
            assert_eq!(gr.restart_time, 120, "{router}");
            assert_eq!(gr.families.iter().map(|(f, _)| *f).collect::<Vec<_>>(), families);
        }
    }
}

#[test]
fn opens_list_the_capabilities_ferrolb_does_not_model() {
    let codes = |router| {
        open(router, "ibgp")
            .capabilities
            .other
            .iter()
            .map(|c| c.code)
            .collect::<Vec<_>>()
    };
    // GoBGP: FQDN (73), extended next hop (5); BIRD: enhanced route refresh (70), long-lived GR (71);
    // FRR: Cisco route refresh (128), enhanced route refresh, extended message (6), add-path (69), FQDN, LLGR.
    assert_eq!(codes("gobgp"), [73, 5]);
    assert_eq!(codes("bird"), [70, 71]);
    for code in [128, 70, 6, 69, 73, 71] {
        assert!(
            codes("frr").contains(&code),
            "frr: capability {code} in {:?}",
            codes("frr")
        );
    }
    // FRR (just started, graceful restart on) sets the restart-state and notification bits.
    let gr = open("frr", "ibgp")
        .capabilities
        .graceful_restart
        .expect("graceful restart");
    assert!(gr.restart_state && gr.notification);
}

#[test]
fn ibgp_ipv4_announcements_carry_every_attribute() {
    for router in ROUTERS {
        let updates = all(router, "ibgp-announce-ipv4");
        let mut prefixes: Vec<IpNet> = updates.iter().flat_map(|u| u.announced()).collect();
        prefixes.sort();
        assert_eq!(
            prefixes,
            [net("198.51.100.128/25"), net("203.0.113.0/24")],
            "{router}"
        );
        for u in &updates {
            let a = &u.attributes;
            assert_eq!(a.origin, Some(Origin::Igp), "{router}");
            assert_eq!(a.as_path, Some(AsPath::default()), "{router}: iBGP path is empty");
            assert_eq!(a.next_hop, Some(Ipv4Addr::new(192, 0, 2, 1)), "{router}");
            assert_eq!(a.med, Some(10), "{router}");
            assert_eq!(a.local_pref, Some(200), "{router}");
            assert_eq!(a.communities, communities(router), "{router}");
            assert_eq!(
                a.large_communities,
                [LargeCommunity {
                    global: 64512,
                    local1: 1,
                    local2: 2
                }]
            );
            assert!(a.mp_reach.is_none() && a.other.is_empty(), "{router}: {a:?}");
        }
    }
}

#[test]
fn ipv6_announcements_use_mp_reach() {
    for router in ROUTERS {
        for (session, as_path, local_pref) in [
            ("ibgp", AsPath::default(), Some(200)),
            ("ebgp6", AsPath::sequence([64512]), None),
        ] {
            let updates = all(router, &format!("{session}-announce-ipv6"));
            let mut prefixes: Vec<IpNet> = updates.iter().flat_map(|u| u.announced()).collect();
            prefixes.sort();
            assert_eq!(
                prefixes,
                [net("2001:db8:100::/48"), net("2001:db8:200::/64")],
                "{router} {session}"
            );
            for u in &updates {
                let a = &u.attributes;
                let reach = a.mp_reach.as_ref().expect("MP_REACH");
                assert_eq!(reach.family, Family::Ipv6Unicast);
                assert_eq!(reach.next_hop, "2001:db8::1".parse::<IpAddr>().expect("address"));
                if let Some(ll) = reach.link_local {
                    assert!(ll.is_unicast_link_local(), "{router} {session}: {ll}");
                }
                assert!(u.nlri.is_empty() && a.next_hop.is_none(), "{router} {session}");
                assert_eq!(a.as_path.as_ref(), Some(&as_path), "{router} {session}");
                assert_eq!(a.local_pref, local_pref, "{router} {session}");
                assert_eq!(a.med, Some(10));
                assert_eq!(a.communities, communities(router));
            }
        }
    }
    // BIRD and FRR send a link-local next hop next to the global one over the eBGP IPv6 session.
    for router in ["bird", "frr"] {
        let u = &all(router, "ebgp6-announce-ipv6")[0];
        assert!(
            u.attributes
                .mp_reach
                .as_ref()
                .and_then(|r| r.link_local)
                .is_some(),
            "{router}"
        );
    }
}

#[test]
fn end_of_rib_markers() {
    for router in ROUTERS {
        for (file, family) in [
            ("ibgp-eor-ipv4", Family::Ipv4Unicast),
            ("ibgp-eor-ipv6", Family::Ipv6Unicast),
            ("ebgp6-eor-ipv6", Family::Ipv6Unicast),
        ] {
            let update = &all(router, file)[0];
            assert_eq!(update.is_end_of_rib(), Some(family), "{router} {file}");
            assert_eq!(*update, Update::end_of_rib(family));
        }
    }
}

#[test]
fn withdrawals() {
    for router in ROUTERS {
        for (file, prefix) in [
            ("ibgp-withdraw-ipv4", "198.51.100.128/25"),
            ("ibgp-withdraw-ipv6", "2001:db8:200::/64"),
            ("ebgp6-withdraw-ipv6", "2001:db8:200::/64"),
        ] {
            let update = &all(router, file)[0];
            assert_eq!(
                update.withdrawn_all().collect::<Vec<_>>(),
                [net(prefix)],
                "{router} {file}"
            );
            assert_eq!(update.announced().count(), 0);
            assert_eq!(update.is_end_of_rib(), None);
        }
    }
}

#[test]
fn administrative_shutdown_notifications() {
    for router in ROUTERS {
        let Message::Notification(n) = decode(&format!("bgp/{router}/ibgp-notification.bin")) else {
            panic!("{router}: not a NOTIFICATION")
        };
        assert_eq!(
            (n.code, n.subcode),
            (CEASE, cease::ADMINISTRATIVE_SHUTDOWN),
            "{router}: {n}"
        );
        let expected: &[u8] = match router {
            // GoBGP 3.10 drops the --reason text
            "gobgp" => b"",
            _ => b"\x14ferrolb capture done",
        };
        assert_eq!(n.data, expected, "{router}: RFC 8203 shutdown communication");
    }
}

#[test]
fn streams_frame_and_decode_completely() {
    for router in ROUTERS {
        for session in ["ibgp", "ebgp6"] {
            let stream = read(&format!("bgp/{router}/{session}-stream.bin"));
            let mut framer = Framer::new();
            let mut kinds = Vec::new();
            // feed in odd-sized chunks, as TCP would
            for chunk in stream.chunks(37) {
                framer.push(chunk);
                while let Some(raw) = framer.next_message().expect("valid stream") {
                    let msg = Message::decode(raw, &CodecContext::default())
                        .unwrap_or_else(|e| panic!("{router} {session}: {e}"));
                    kinds.push(msg.kind());
                }
            }
            assert_eq!(framer.buffered(), 0);
            assert_eq!(kinds.first(), Some(&"OPEN"), "{router} {session}");
            assert!(
                kinds.contains(&"KEEPALIVE") && kinds.contains(&"UPDATE"),
                "{router} {session}: {kinds:?}"
            );
            if session == "ibgp" {
                assert_eq!(kinds.last(), Some(&"NOTIFICATION"), "{router}");
            }
        }
    }
}

#[test]
fn every_captured_message_survives_re_encoding() {
    let cxt = CodecContext::default();
    let mut identical = Vec::new();
    for router in ROUTERS {
        for entry in std::fs::read_dir(data(&format!("bgp/{router}"))).expect("capture directory") {
            let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
            if name.ends_with("-stream.bin") {
                continue;
            }
            let bytes = read(&format!("bgp/{router}/{name}"));
            let msg = Message::decode(&bytes, &cxt).expect("decodes");
            let again = msg
                .encode(&cxt)
                .unwrap_or_else(|e| panic!("{router}/{name}: {e}"));
            assert_eq!(Message::decode(&again, &cxt), Ok(msg), "{router}/{name}");
            if again == bytes {
                identical.push(format!("{router}/{name}"));
            }
        }
    }
    // ferrolb writes attributes in type order and MP_REACH/MP_UNREACH with the extended length, as FRR does:
    // where the router does the same, the bytes are identical.
    for expected in [
        "bird/ibgp-announce-ipv4.bin",
        "gobgp/ibgp-announce-ipv4.bin",
        "frr/ibgp-withdraw-ipv6.bin",
        "bird/ibgp-open.bin",
        "frr/ibgp-notification.bin",
    ] {
        assert!(
            identical.iter().any(|n| n == expected),
            "{expected} not byte-identical; identical: {identical:?}"
        );
    }
}
