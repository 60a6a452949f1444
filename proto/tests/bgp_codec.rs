//! BGP codec: hand-written byte vectors in both directions, the NOTIFICATION for every decoding error,
//! encoding limits, 2-octet AS sessions, and encode/decode round-trip properties.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_proto::bgp::notification as n;
use ferrolb_proto::bgp::{
    AS_TRANS, AsPath, AsSegment, Capabilities, CodecContext, Community, DecodeError, EncodeError, Family,
    GracefulRestart, LargeCommunity, Message, MpReach, MpUnreach, Notification, Open, Origin, PathAttributes,
    RawCapability, RouteRefresh, SegmentKind, Update, message_len,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

const FOUR: CodecContext = CodecContext { four_octet_as: true };
const TWO: CodecContext = CodecContext { four_octet_as: false };

/// A whole message: marker, length, type, body.
fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

fn both_ways(message: Message, bytes: &[u8], cxt: &CodecContext) {
    assert_eq!(message.encode(cxt).as_deref(), Ok(bytes), "encode {message:?}");
    assert_eq!(Message::decode(bytes, cxt), Ok(message), "decode");
}

#[test]
fn keepalive_notification_route_refresh_vectors() {
    both_ways(Message::Keepalive, &msg(4, &[]), &FOUR);
    both_ways(
        Message::Notification(Notification::hold_timer_expired()),
        &msg(3, &[4, 0]),
        &FOUR,
    );
    both_ways(
        Message::Notification(Notification::new(n::OPEN_MESSAGE_ERROR, n::open::BAD_PEER_AS, [])),
        &msg(3, &[2, 2]),
        &FOUR,
    );
    both_ways(
        Message::RouteRefresh(RouteRefresh::request(Family::Ipv6Unicast)),
        &msg(5, &[0, 2, 0, 1]),
        &FOUR,
    );
    let shutdown = Notification::administrative_shutdown("bye");
    both_ways(
        Message::Notification(shutdown),
        &msg(3, &[6, 2, 3, b'b', b'y', b'e']),
        &FOUR,
    );
}

#[test]
fn open_vector_with_four_octet_asn() {
    let caps = Capabilities {
        multiprotocol: vec![Family::Ipv4Unicast],
        route_refresh: true,
        ..Capabilities::default()
    };
    let open = Open::new(4_200_000_001, 90, Ipv4Addr::new(198, 51, 100, 1), caps);
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(open.asn(), 4_200_000_001);
    #[rustfmt::skip]
    let body = [
        4, 0x5b, 0xa0, 0, 90, 198, 51, 100, 1, // version, AS_TRANS, hold 90, id
        16, 2, 14, // one capabilities parameter of 14 bytes
        1, 4, 0, 1, 0, 1, // multiprotocol IPv4 unicast
        2, 0, // route refresh
        65, 4, 0xfa, 0x56, 0xea, 0x01, // 4-octet AS 4200000001
    ];
    both_ways(Message::Open(open), &msg(1, &body), &FOUR);
}

#[test]
fn update_vector_on_a_two_octet_session_uses_as_trans_and_as4_path() {
    let update = Update {
        nlri: vec!["192.0.2.0/24".parse().expect("prefix")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([64513, 4_200_000_001])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 11)),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    #[rustfmt::skip]
    let body = [
        0, 0, // no withdrawn routes
        0, 33, // attributes
        0x40, 1, 1, 0, // ORIGIN IGP
        0x40, 2, 6, 2, 2, 0xfc, 0x01, 0x5b, 0xa0, // AS_PATH: SEQUENCE 64513 23456
        0x40, 3, 4, 192, 0, 2, 11, // NEXT_HOP
        0xc0, 17, 10, 2, 2, 0, 0, 0xfc, 0x01, 0xfa, 0x56, 0xea, 0x01, // AS4_PATH: 64513 4200000001
        24, 192, 0, 2, // NLRI
    ];
    both_ways(Message::Update(update.clone()), &msg(2, &body), &TWO);
    // On a 4-octet session the same path is written directly and no AS4_PATH is needed.
    let four = Message::Update(update).encode(&FOUR).expect("encodes");
    assert_eq!(four.len(), 19 + body.len() - 13 + 4);
}

/// An UPDATE body: no withdrawn routes, the attributes given, then the NLRI.
fn update_body(attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let attrs: Vec<u8> = attrs.concat();
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(nlri);
    body
}

const ORIGIN: &[u8] = &[0x40, 1, 1, 0];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI: &[u8] = &[24, 192, 0, 2];

#[test]
fn as4_path_is_ignored_on_a_four_octet_session_and_when_longer_than_as_path() {
    let as_path_4: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x01]; // 64513, 4-octet
    let as4_path: &[u8] = &[0xc0, 17, 6, 2, 1, 0, 0, 0, 7]; // 7
    let body = update_body(&[ORIGIN, as_path_4, NEXT_HOP, as4_path], NLRI);
    let Message::Update(u) = Message::decode(&msg(2, &body), &FOUR).expect("decodes") else {
        panic!("update")
    };
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence([64513])));
    assert_eq!(u.attributes.other, [17], "AS4_PATH is reported, not applied");
    // 2-octet session: AS_PATH 64513 (one AS), AS4_PATH 7 8 (two): the longer AS4_PATH is ignored
    let as_path_2: &[u8] = &[0x40, 2, 4, 2, 1, 0xfc, 0x01];
    let as4_long: &[u8] = &[0xc0, 17, 10, 2, 2, 0, 0, 0, 7, 0, 0, 0, 8];
    let body = update_body(&[ORIGIN, as_path_2, NEXT_HOP, as4_long], NLRI);
    let Message::Update(u) = Message::decode(&msg(2, &body), &TWO).expect("decodes") else {
        panic!("update")
    };
    assert_eq!(u.attributes.as_path, Some(AsPath::sequence([64513])));
    // 2-octet session: AS_PATH 64513 23456 23456, AS4_PATH 4200000001 4200000002: merged
    let as_path_3: &[u8] = &[0x40, 2, 8, 2, 3, 0xfc, 0x01, 0x5b, 0xa0, 0x5b, 0xa0];
    let as4_two: &[u8] = &[0xc0, 17, 10, 2, 2, 0xfa, 0x56, 0xea, 0x01, 0xfa, 0x56, 0xea, 0x02];
    let body = update_body(&[ORIGIN, as_path_3, NEXT_HOP, as4_two], NLRI);
    let Message::Update(u) = Message::decode(&msg(2, &body), &TWO).expect("decodes") else {
        panic!("update")
    };
    assert_eq!(
        u.attributes.as_path,
        Some(AsPath {
            segments: vec![
                AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: vec![64513]
                },
                AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: vec![4_200_000_001, 4_200_000_002]
                },
            ]
        })
    );
}

#[test]
fn long_community_lists_use_the_extended_length() {
    let communities: Vec<Community> = (0..100).map(|i| Community::new(64512, i)).collect();
    let update = Update {
        nlri: vec!["192.0.2.0/24".parse().expect("prefix")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::default()),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 11)),
            communities,
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    let bytes = Message::Update(update.clone()).encode(&FOUR).expect("encodes");
    let at = bytes
        .windows(2)
        .position(|w| w == [0xd0, 8])
        .expect("COMMUNITIES with the extended-length flag");
    assert_eq!(&bytes[at + 2..at + 4], &400u16.to_be_bytes());
    assert_eq!(Message::decode(&bytes, &FOUR), Ok(Message::Update(update)));
}

/// The NOTIFICATION expected: code, subcode, data.
type Expected = (u8, u8, Vec<u8>);

#[test]
fn every_decoding_error_carries_the_right_notification() {
    let good_open = Message::Open(Open::new(
        64512,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        Capabilities::default(),
    ))
    .encode(&FOUR)
    .expect("encodes");
    let open_with = |offset: usize, bytes: &[u8]| {
        let mut o = good_open.clone();
        o[offset..offset + bytes.len()].copy_from_slice(bytes);
        o
    };
    // Malformed UPDATEs: see update_errors.rs (RFC 7606 classes).
    let mut bad_marker = msg(4, &[]);
    bad_marker[3] = 0;
    let mut short_length = msg(4, &[]);
    short_length[17] = 18;
    let mut long_length = msg(4, &[]);
    long_length[16..18].copy_from_slice(&5000u16.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("marker", bad_marker, (1, 1, vec![])),
        ("length below 19", short_length, (1, 2, vec![0, 18])),
        ("length above 4096", long_length, (1, 2, vec![0x13, 0x88])),
        (
            "length field beyond the bytes",
            msg(4, &[])[..18].iter().chain(&[4]).copied().chain([0]).collect(),
            (1, 2, vec![0, 19]),
        ),
        ("unknown type", msg(9, &[]), (1, 3, vec![9])),
        ("KEEPALIVE with a body", msg(4, &[0]), (1, 2, vec![0, 20])),
        ("OPEN too short", msg(1, &[4, 0, 1, 0, 90]), (1, 2, vec![0, 24])),
        ("UPDATE too short", msg(2, &[0, 0]), (1, 2, vec![0, 21])),
        ("NOTIFICATION too short", msg(3, &[6]), (1, 2, vec![0, 20])),
        ("OPEN version 3", open_with(19, &[3]), (2, 1, vec![0, 4])),
        ("OPEN hold time 2", open_with(22, &[0, 2]), (2, 6, vec![0, 2])),
        (
            "OPEN identifier 0.0.0.0",
            open_with(24, &[0, 0, 0, 0]),
            (2, 3, vec![0, 0, 0, 0]),
        ),
        (
            "OPEN optional parameter 3",
            msg(1, &[4, 0xfc, 0, 0, 90, 192, 0, 2, 1, 3, 3, 1, 0]),
            (2, 4, vec![3]),
        ),
        (
            "UPDATE withdrawn length past the end",
            msg(2, &[0, 9, 0, 0]),
            (3, 1, vec![]),
        ),
        (
            "ROUTE-REFRESH of 5 bytes",
            msg(5, &[0, 1, 0, 1, 0]),
            (7, 1, msg(5, &[0, 1, 0, 1, 0])),
        ),
    ];
    for (what, bytes, (code, subcode, data)) in cases {
        let err = Message::decode(&bytes, &FOUR).expect_err(what);
        let notification = err
            .notification()
            .unwrap_or_else(|| panic!("{what}: no notification for {err}"));
        assert_eq!(
            notification,
            Notification::new(code, subcode, data),
            "{what}: {err}"
        );
    }
}

#[test]
fn codes_netgauze_does_not_know_still_decode() {
    assert_eq!(
        Message::decode(&msg(3, &[9, 1, 0xab]), &FOUR),
        Ok(Message::Notification(Notification::new(9, 1, [0xab])))
    );
    assert_eq!(
        Message::decode(&msg(3, &[6, 0]), &FOUR),
        Ok(Message::Notification(Notification::new(6, 0, [])))
    );
    let rr = Message::decode(&msg(5, &[0, 99, 0, 99]), &FOUR).expect("decodes");
    assert_eq!(
        rr,
        Message::RouteRefresh(RouteRefresh {
            afi: 99,
            safi: 99,
            subtype: 0
        })
    );
    let Message::RouteRefresh(rr) = rr else {
        unreachable!()
    };
    assert_eq!(rr.family(), None);
    assert!(matches!(
        Message::RouteRefresh(rr).encode(&FOUR),
        Err(EncodeError::Unsupported { .. })
    ));
    assert!(matches!(
        Message::Notification(Notification::new(9, 1, [])).encode(&FOUR),
        Err(EncodeError::Unsupported {
            kind: "NOTIFICATION",
            ..
        })
    ));
}

#[test]
fn malformed_notification_is_not_answered() {
    let err = DecodeError::Malformed {
        kind: "NOTIFICATION",
        reason: "x".into(),
        notification: None,
    };
    assert_eq!(err.notification(), None);
    assert_eq!(err.metric_label(), "malformed_notification");
}

#[test]
fn framing_helper() {
    assert_eq!(message_len(&[0xff; 10]), Ok(None));
    assert_eq!(message_len(&msg(4, &[])), Ok(Some(19)));
    assert_eq!(message_len(&[0xff, 0xfe]), Err(DecodeError::NotSynchronized));
    assert_eq!(
        Message::decode(&[0xff; 5], &FOUR),
        Err(DecodeError::Truncated { available: 5 })
    );
}

#[test]
fn encoding_refuses_what_it_cannot_write_faithfully() {
    let attrs = PathAttributes {
        origin: Some(Origin::Igp),
        as_path: Some(AsPath::default()),
        next_hop: Some(Ipv4Addr::new(192, 0, 2, 1)),
        ..PathAttributes::default()
    };
    let too_many: Vec<Ipv4Net> = (0..1100u32)
        .map(|i| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + (i << 8)), 24).expect("net"))
        .collect();
    assert!(matches!(
        Message::Update(Update {
            nlri: too_many,
            attributes: attrs.clone(),
            ..Update::default()
        })
        .encode(&FOUR),
        Err(EncodeError::TooLong { kind: "UPDATE", .. })
    ));
    let multicast = Update {
        nlri: vec!["224.0.0.0/24".parse().expect("net")],
        attributes: attrs,
        ..Update::default()
    };
    assert!(matches!(
        Message::Update(multicast).encode(&FOUR),
        Err(EncodeError::InvalidPrefix { .. })
    ));
    let v4_next_hop_for_v6 = Update {
        attributes: PathAttributes {
            mp_reach: Some(MpReach {
                family: Family::Ipv6Unicast,
                next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                link_local: None,
                nlri: vec!["2001:db8::/64".parse().expect("net")],
            }),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    assert!(matches!(
        Message::Update(v4_next_hop_for_v6).encode(&FOUR),
        Err(EncodeError::NextHopFamily { .. })
    ));
    let v4_prefix_in_v6 = Update {
        attributes: PathAttributes {
            mp_unreach: Some(MpUnreach {
                family: Family::Ipv6Unicast,
                withdrawn: vec!["192.0.2.0/24".parse().expect("net")],
            }),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    assert!(matches!(
        Message::Update(v4_prefix_in_v6).encode(&FOUR),
        Err(EncodeError::InvalidPrefix { .. })
    ));
    let gr = GracefulRestart {
        restart_state: false,
        notification: false,
        restart_time: 5000,
        families: vec![],
    };
    let caps = Capabilities {
        graceful_restart: Some(gr),
        ..Capabilities::default()
    };
    assert_eq!(
        Message::Open(Open::new(1, 90, Ipv4Addr::new(192, 0, 2, 1), caps)).encode(&FOUR),
        Err(EncodeError::RestartTimeTooLarge(5000))
    );
    let big = Capabilities {
        other: (0..3)
            .map(|i| RawCapability {
                code: 200 + i,
                value: vec![0; 100],
            })
            .collect(),
        ..Capabilities::default()
    };
    assert!(matches!(
        Message::Open(Open::new(1, 90, Ipv4Addr::new(192, 0, 2, 1), big)).encode(&FOUR),
        Err(EncodeError::CapabilitiesTooLong { .. })
    ));
}

// ===== round-trip properties =====

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::Ipv4Unicast), Just(Family::Ipv6Unicast)]
}

fn v4_net() -> impl Strategy<Value = Ipv4Net> {
    (1u8..=223, any::<[u8; 3]>(), 8u8..=32).prop_map(|(a, [b, c, d], len)| {
        Ipv4Net::new(Ipv4Addr::new(a, b, c, d), len)
            .expect("len <= 32")
            .trunc()
    })
}

fn v6_net() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, len)| {
        let a = if a >> 120 == 0xff { a & !(1 << 127) } else { a };
        Ipv6Net::new(Ipv6Addr::from(a), len).expect("len <= 128").trunc()
    })
}

fn as_path() -> impl Strategy<Value = AsPath> {
    let segment = (
        prop_oneof![Just(SegmentKind::Sequence), Just(SegmentKind::Set)],
        proptest::collection::vec(any::<u32>(), 1..6),
    )
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    proptest::collection::vec(segment, 0..4).prop_map(|segments| AsPath { segments })
}

fn open() -> impl Strategy<Value = Open> {
    let gr = (
        any::<bool>(),
        any::<bool>(),
        0u16..=4095,
        proptest::collection::vec((family(), any::<bool>()), 0..3),
    )
        .prop_map(
            |(restart_state, notification, restart_time, families)| GracefulRestart {
                restart_state,
                notification,
                restart_time,
                families,
            },
        );
    let raw = (200u8..=230, proptest::collection::vec(any::<u8>(), 0..8))
        .prop_map(|(code, value)| RawCapability { code, value });
    (
        any::<u16>(),
        prop_oneof![Just(0u16), 3u16..],
        any::<u32>().prop_filter("unicast id", |id| {
            let a = Ipv4Addr::from(*id);
            !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast()
        }),
        proptest::sample::subsequence(vec![Family::Ipv4Unicast, Family::Ipv6Unicast], 0..=2),
        proptest::option::of(any::<u32>()),
        any::<bool>(),
        proptest::option::of(gr),
        proptest::collection::vec(raw, 0..3),
    )
        .prop_map(
            |(my_as, hold_time, id, multiprotocol, four_octet_as, route_refresh, graceful_restart, other)| {
                Open {
                    my_as,
                    hold_time,
                    router_id: Ipv4Addr::from(id),
                    capabilities: Capabilities {
                        multiprotocol,
                        four_octet_as,
                        route_refresh,
                        graceful_restart,
                        other,
                    },
                }
            },
        )
}

fn update() -> impl Strategy<Value = Update> {
    let mp_reach = prop_oneof![
        (
            any::<u128>(),
            proptest::option::of(any::<u64>()),
            proptest::collection::vec(v6_net(), 0..20)
        )
            .prop_map(|(nh, ll, nlri)| MpReach {
                family: Family::Ipv6Unicast,
                next_hop: IpAddr::V6(Ipv6Addr::from(nh)),
                link_local: ll.map(|l| Ipv6Addr::from((0xfe80u128 << 112) | u128::from(l))),
                nlri: nlri.into_iter().map(IpNet::V6).collect(),
            }),
        (any::<u32>(), proptest::collection::vec(v4_net(), 0..20)).prop_map(|(nh, nlri)| MpReach {
            family: Family::Ipv4Unicast,
            next_hop: IpAddr::V4(Ipv4Addr::from(nh)),
            link_local: None,
            nlri: nlri.into_iter().map(IpNet::V4).collect(),
        }),
    ];
    let mp_unreach = prop_oneof![
        proptest::collection::vec(v6_net(), 0..20).prop_map(|w| MpUnreach {
            family: Family::Ipv6Unicast,
            withdrawn: w.into_iter().map(IpNet::V6).collect()
        }),
        proptest::collection::vec(v4_net(), 0..20).prop_map(|w| MpUnreach {
            family: Family::Ipv4Unicast,
            withdrawn: w.into_iter().map(IpNet::V4).collect()
        }),
    ];
    let large =
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(global, local1, local2)| LargeCommunity {
            global,
            local1,
            local2,
        });
    (
        proptest::collection::vec(v4_net(), 0..30),
        proptest::collection::vec(v4_net(), 0..30),
        prop_oneof![Just(Origin::Igp), Just(Origin::Egp), Just(Origin::Incomplete)],
        as_path(),
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(any::<u32>().prop_map(Community), 0..80),
        proptest::collection::vec(large, 0..25),
        proptest::option::of(mp_reach),
        proptest::option::of(mp_unreach),
        any::<bool>(),
    )
        .prop_map(
            |(
                withdrawn,
                nlri,
                origin,
                as_path,
                nh,
                med,
                local_pref,
                communities,
                large_communities,
                mp_reach,
                mp_unreach,
                bare,
            )| {
                if bare {
                    // withdrawals only: no attribute at all
                    let attributes = PathAttributes {
                        mp_unreach,
                        ..PathAttributes::default()
                    };
                    return Update {
                        withdrawn,
                        attributes,
                        nlri: Vec::new(),
                    };
                }
                Update {
                    withdrawn,
                    attributes: PathAttributes {
                        origin: Some(origin),
                        as_path: Some(as_path),
                        next_hop: Some(Ipv4Addr::from(nh)),
                        med,
                        local_pref,
                        communities,
                        large_communities,
                        mp_reach,
                        mp_unreach,
                        other: Vec::new(),
                    },
                    nlri,
                }
            },
        )
}

fn notification() -> impl Strategy<Value = Notification> {
    let known = [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 0),
        (2, 1),
        (2, 2),
        (2, 3),
        (2, 4),
        (2, 6),
        (2, 7),
        (3, 1),
        (3, 3),
        (3, 11),
        (4, 0),
        (5, 0),
        (5, 1),
        (5, 3),
        (6, 1),
        (6, 2),
        (6, 4),
        (6, 8),
        (7, 1),
    ];
    (
        proptest::sample::select(known.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|((code, subcode), data)| Notification::new(code, subcode, data))
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        open().prop_map(Message::Open),
        update().prop_map(Message::Update),
        notification().prop_map(Message::Notification),
        Just(Message::Keepalive),
        (family(), 0u8..=2).prop_map(|(f, subtype)| Message::RouteRefresh(RouteRefresh {
            subtype,
            ..RouteRefresh::request(f)
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_encode_round_trip(m in message(), four_octet_as: bool) {
        let cxt = CodecContext { four_octet_as };
        match m.encode(&cxt) {
            Ok(bytes) => {
                prop_assert!(bytes.len() <= 4096);
                prop_assert_eq!(message_len(&bytes), Ok(Some(bytes.len())));
                prop_assert_eq!(Message::decode(&bytes, &cxt), Ok(m));
            }
            // Only size limits may refuse a generated message.
            Err(e) => prop_assert!(matches!(e, EncodeError::TooLong { .. } | EncodeError::CapabilitiesTooLong { .. }), "{}", e),
        }
    }

    #[test]
    fn decode_never_panics_on_any_body(kind in 1u8..=5, body in proptest::collection::vec(any::<u8>(), 0..200), four_octet_as: bool) {
        let _ = Message::decode(&msg(kind, &body), &CodecContext { four_octet_as });
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(m in message(), at: prop::sample::Index, value: u8) {
        if let Ok(mut bytes) = m.encode(&FOUR) {
            let i = at.index(bytes.len());
            bytes[i] = value;
            if let Err(e) = Message::decode(&bytes, &FOUR) {
                // every error except a malformed NOTIFICATION or an UPDATE to ignore (RFC 7606) says what to send back
                prop_assert!(
                    e.notification().is_some()
                        || matches!(e, DecodeError::Malformed { kind: "NOTIFICATION", .. } | DecodeError::UpdateIgnored(_)),
                    "{}", e
                );
            }
        }
    }
}
