//! ferrolb's encoder output, byte for byte, against `data/bgp/ferrolb/`: the bytes that `data/capture.sh`
//! replayed to GoBGP, BIRD and FRR, which all accepted them (routes, attributes, withdrawals, NOTIFICATION).

use std::net::Ipv4Addr;
use std::path::PathBuf;

use ferrolb_proto::bgp::{
    AsPath, Capabilities, CodecContext, Community, Family, GracefulRestart, LargeCommunity, Message, MpReach,
    MpUnreach, Notification, Open, Origin, PathAttributes, Update,
};

fn golden(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/bgp/ferrolb")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn attrs() -> PathAttributes {
    PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::sequence([64513])),
        med: Some(10),
        communities: vec![Community::new(64513, 100), Community::NO_EXPORT],
        large_communities: vec![LargeCommunity {
            global: 64513,
            local1: 1,
            local2: 2,
        }],
        ..PathAttributes::default()
    }
}

fn messages() -> Vec<(&'static str, Message)> {
    let caps = Capabilities {
        multiprotocol: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
        route_refresh: true,
        graceful_restart: Some(GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: 120,
            families: vec![(Family::Ipv4Unicast, true), (Family::Ipv6Unicast, true)],
        }),
        ..Capabilities::default()
    };
    let net = |s: &str| s.parse().expect("test prefix");
    vec![
        (
            "open.bin",
            Message::Open(Open::new(64513, 90, Ipv4Addr::new(192, 0, 2, 2), caps)),
        ),
        ("keepalive.bin", Message::Keepalive),
        (
            "announce-ipv4.bin",
            Message::Update(Update {
                nlri: vec![
                    "203.0.113.0/24".parse().expect("prefix"),
                    "198.51.100.128/25".parse().expect("prefix"),
                ],
                attributes: PathAttributes {
                    next_hop: Some(Ipv4Addr::new(192, 0, 2, 2)),
                    ..attrs()
                },
                ..Update::default()
            }),
        ),
        (
            "announce-ipv6.bin",
            Message::Update(Update {
                attributes: PathAttributes {
                    mp_reach: Some(MpReach {
                        family: Family::Ipv6Unicast,
                        next_hop: "2001:db8::2".parse().expect("address"),
                        link_local: None,
                        nlri: vec![net("2001:db8:100::/48"), net("2001:db8:200::/64")],
                    }),
                    ..attrs()
                },
                ..Update::default()
            }),
        ),
        (
            "eor-ipv4.bin",
            Message::Update(Update::end_of_rib(Family::Ipv4Unicast)),
        ),
        (
            "eor-ipv6.bin",
            Message::Update(Update::end_of_rib(Family::Ipv6Unicast)),
        ),
        (
            "withdraw-ipv4.bin",
            Message::Update(Update {
                withdrawn: vec!["198.51.100.128/25".parse().expect("prefix")],
                ..Update::default()
            }),
        ),
        (
            "withdraw-ipv6.bin",
            Message::Update(Update {
                attributes: PathAttributes {
                    mp_unreach: Some(MpUnreach {
                        family: Family::Ipv6Unicast,
                        withdrawn: vec![net("2001:db8:200::/64")],
                    }),
                    ..PathAttributes::default()
                },
                ..Update::default()
            }),
        ),
        (
            "notification-cease.bin",
            Message::Notification(Notification::administrative_shutdown("ferrolb replay done")),
        ),
    ]
}

#[test]
fn encoder_output_is_what_the_routers_accepted() {
    let cxt = CodecContext::default();
    for (file, msg) in messages() {
        let bytes = msg.encode(&cxt).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(bytes, golden(file), "{file}");
        assert_eq!(Message::decode(&bytes, &cxt), Ok(msg), "{file}");
    }
}
