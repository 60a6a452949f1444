//! Adj-RIB-Out: minimal UPDATEs, packed into as few 4,096-byte messages as possible, and a receiver that
//! applies them ends up with exactly the desired routes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_proto::bgp::rib_out::RibOutError;
use ferrolb_proto::bgp::{
    AdjRibOut, CodecContext, Community, Family, LargeCommunity, MAX_MESSAGE_LEN, Message, PathAttributes,
    RouteAttributes, Update,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;

const BOTH: [Family; 2] = Family::ALL;
const NH4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
const NH6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11));

fn attrs(next_hop: IpAddr) -> RouteAttributes {
    RouteAttributes {
        communities: vec![Community::new(64513, 100), Community::NO_EXPORT],
        large_communities: vec![LargeCommunity {
            global: 64513,
            local1: 1,
            local2: 2,
        }],
        ..RouteAttributes::new([64513], next_hop)
    }
}

/// `n` consecutive /32s in 10.0.0.0/8 (or /128s in 2001:db8::/32), all with `a`.
fn v4_routes(n: u32, a: &RouteAttributes) -> BTreeMap<IpNet, RouteAttributes> {
    (0..n)
        .map(|i| {
            (
                IpNet::V4(Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + i), 32).expect("net")),
                a.clone(),
            )
        })
        .collect()
}

fn v6_routes(n: u32, a: &RouteAttributes) -> BTreeMap<IpNet, RouteAttributes> {
    let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0));
    (0..n)
        .map(|i| {
            (
                IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base + u128::from(i)), 128).expect("net")),
                a.clone(),
            )
        })
        .collect()
}

/// Encodes every UPDATE (each must fit), decodes it back and applies it to a receiver's table.
fn apply(table: &mut BTreeMap<IpNet, PathAttributes>, updates: &[Update], cxt: &CodecContext) {
    for u in updates {
        let bytes = Message::Update(u.clone())
            .encode(cxt)
            .expect("every UPDATE encodes");
        assert!(bytes.len() <= MAX_MESSAGE_LEN);
        let Ok(Message::Update(u)) = Message::decode(&bytes, cxt) else {
            panic!("decodes")
        };
        for p in u.withdrawn_all() {
            assert!(
                table.remove(&p).is_some(),
                "withdrawal of {p}, which was not announced"
            );
        }
        let mut path = u.attributes.clone();
        path.mp_reach = None;
        path.mp_unreach = None;
        for p in u.announced() {
            table.insert(p, path.clone());
        }
    }
}

/// What a receiver should hold for a desired route.
fn expected(prefix: &IpNet, a: &RouteAttributes) -> PathAttributes {
    PathAttributes {
        origin: Some(a.origin),
        as_path: Some(ferrolb_proto::bgp::AsPath::sequence(a.as_path.clone())),
        next_hop: match (prefix, a.next_hop) {
            (IpNet::V4(_), IpAddr::V4(nh)) => Some(nh),
            _ => None,
        },
        med: a.med,
        local_pref: a.local_pref,
        communities: a.communities.clone(),
        large_communities: a.large_communities.clone(),
        ..PathAttributes::default()
    }
}

fn sizes(updates: &[Update]) -> Vec<usize> {
    updates
        .iter()
        .map(|u| {
            Message::Update(u.clone())
                .encode(&CodecContext::default())
                .expect("encodes")
                .len()
        })
        .collect()
}

#[test]
fn ten_thousand_ipv4_routes_with_one_attribute_set_take_thirteen_messages() {
    let mut rib = AdjRibOut::new(CodecContext::default(), &BOTH);
    let desired = v4_routes(10_000, &attrs(NH4));
    let updates = rib.update(&desired).expect("packs");
    assert_eq!(updates.len(), 13);
    let sizes = sizes(&updates);
    // every message but the last is full to within one prefix (5 bytes)
    assert!(
        sizes[..12]
            .iter()
            .all(|s| *s > MAX_MESSAGE_LEN - 5 && *s <= MAX_MESSAGE_LEN),
        "{sizes:?}"
    );
    let mut table = BTreeMap::new();
    apply(&mut table, &updates, &CodecContext::default());
    assert_eq!(table.len(), 10_000);
    assert!(desired.iter().all(|(p, a)| table.get(p) == Some(&expected(p, a))));
    assert_eq!(rib.sent().len(), 10_000);
    // nothing changed: nothing to send
    assert_eq!(rib.update(&desired), Ok(vec![]));
    // withdrawing them all is just as compact: (4096 - 23) / 5 = 814 per message
    let withdrawals = rib.update(&BTreeMap::new()).expect("withdraws");
    assert_eq!(withdrawals.len(), 13);
    apply(&mut table, &withdrawals, &CodecContext::default());
    assert!(table.is_empty() && rib.sent().is_empty());
}

#[test]
fn ten_thousand_ipv6_routes_take_forty_three_messages() {
    let mut rib = AdjRibOut::new(CodecContext::default(), &BOTH);
    let desired = v6_routes(10_000, &attrs(NH6));
    let updates = rib.update(&desired).expect("packs");
    // 17 bytes per /128 in MP_REACH: 235 per message
    assert_eq!(updates.len(), 43);
    let mut table = BTreeMap::new();
    apply(&mut table, &updates, &CodecContext::default());
    assert_eq!(table.len(), 10_000);
    assert!(desired.iter().all(|(p, a)| table.get(p) == Some(&expected(p, a))));
    let withdrawals = rib.update(&BTreeMap::new()).expect("withdraws");
    assert_eq!(
        withdrawals.len(),
        10_000usize.div_ceil((MAX_MESSAGE_LEN - 30) / 17)
    );
    apply(&mut table, &withdrawals, &CodecContext::default());
    assert!(table.is_empty());
}

#[test]
fn message_count_meets_the_lower_bound_for_each_attribute_group() {
    // three attribute sets over 3,000 routes of both families, on a 2-octet session (AS4_PATH adds bytes)
    let cxt = CodecContext { four_octet_as: false };
    let sets = [
        attrs(NH4),
        RouteAttributes {
            local_pref: Some(200),
            ..attrs(NH4)
        },
        RouteAttributes::new([4_200_000_000], NH4),
    ];
    let mut desired = BTreeMap::new();
    for (i, a) in sets.iter().enumerate() {
        for (p, _) in v4_routes(1000, a).into_iter().skip(i * 1000 / 3).take(1000) {
            desired.insert(p, a.clone());
        }
    }
    desired.extend(v6_routes(1000, &attrs(NH6)));
    let mut rib = AdjRibOut::new(cxt, &BOTH);
    let updates = rib.update(&desired).expect("packs");
    let mut groups: BTreeMap<String, (usize, usize)> = BTreeMap::new(); // attrs -> (messages, prefix bytes)
    for u in &updates {
        let mut key = u.attributes.clone();
        key.mp_reach = None;
        let bytes: usize = u
            .announced()
            .map(|p| 1 + usize::from(p.prefix_len()).div_ceil(8))
            .sum();
        let e = groups.entry(format!("{key:?}")).or_default();
        e.0 += 1;
        e.1 += bytes;
        let len = Message::Update(u.clone()).encode(&cxt).expect("encodes").len();
        assert!(len <= MAX_MESSAGE_LEN);
    }
    assert_eq!(groups.len(), 4);
    for (key, (messages, prefix_bytes)) in groups {
        let base = updates
            .iter()
            .find(|u| {
                let mut k = u.attributes.clone();
                k.mp_reach = None;
                format!("{k:?}") == key
            })
            .map(|u| {
                let mut empty = u.clone();
                empty.nlri.clear();
                if let Some(r) = &mut empty.attributes.mp_reach {
                    r.nlri.clear();
                }
                Message::Update(empty).encode(&cxt).expect("encodes").len()
            })
            .expect("group");
        assert_eq!(messages, prefix_bytes.div_ceil(MAX_MESSAGE_LEN - base), "{key}");
    }
    let mut table = BTreeMap::new();
    apply(&mut table, &updates, &cxt);
    assert_eq!(table.len(), desired.len());
}

#[test]
fn only_the_difference_is_sent() {
    let mut rib = AdjRibOut::new(CodecContext::default(), &BOTH);
    let mut desired = v4_routes(100, &attrs(NH4));
    desired.extend(v6_routes(100, &attrs(NH6)));
    rib.update(&desired).expect("initial");
    let changed: IpNet = "10.0.0.7/32".parse().expect("prefix");
    let removed4: IpNet = "10.0.0.9/32".parse().expect("prefix");
    let removed6: IpNet = "2001:db8::5/128".parse().expect("prefix");
    desired.insert(
        changed,
        RouteAttributes {
            med: Some(5),
            ..attrs(NH4)
        },
    );
    desired.remove(&removed4);
    desired.remove(&removed6);
    let updates = rib.update(&desired).expect("diff");
    let withdrawn: Vec<IpNet> = updates.iter().flat_map(|u| u.withdrawn_all()).collect();
    let announced: Vec<IpNet> = updates.iter().flat_map(|u| u.announced()).collect();
    assert_eq!(withdrawn, [removed4, removed6]);
    assert_eq!(announced, [changed]);
    assert_eq!(
        updates.len(),
        3,
        "IPv4 withdrawal, IPv6 withdrawal, one announcement"
    );
    assert_eq!(rib.sent().get(&changed).and_then(|a| a.med), Some(5));
}

#[test]
fn refresh_and_end_of_rib() {
    let mut rib = AdjRibOut::new(CodecContext::default(), &BOTH);
    let mut desired = v4_routes(1000, &attrs(NH4));
    desired.extend(v6_routes(10, &attrs(NH6)));
    let first = rib.update(&desired).expect("initial");
    let refresh4 = rib.refresh(Family::Ipv4Unicast).expect("refresh");
    assert_eq!(refresh4.iter().flat_map(|u| u.announced()).count(), 1000);
    assert_eq!(
        refresh4,
        first[..refresh4.len()],
        "same packing as the initial announcement"
    );
    assert_eq!(
        rib.refresh(Family::Ipv6Unicast)
            .expect("refresh")
            .iter()
            .flat_map(|u| u.announced())
            .count(),
        10
    );
    assert_eq!(
        rib.end_of_rib(),
        [
            Update::end_of_rib(Family::Ipv4Unicast),
            Update::end_of_rib(Family::Ipv6Unicast)
        ]
    );
}

#[test]
fn families_not_negotiated_are_left_out() {
    let mut rib = AdjRibOut::new(CodecContext::default(), &[Family::Ipv4Unicast]);
    let mut desired = v4_routes(3, &attrs(NH4));
    desired.extend(v6_routes(3, &attrs(NH6)));
    let updates = rib.update(&desired).expect("packs");
    assert_eq!(updates.iter().flat_map(|u| u.announced()).count(), 3);
    assert!(rib.sent().keys().all(|p| matches!(p, IpNet::V4(_))));
    assert_eq!(rib.end_of_rib(), [Update::end_of_rib(Family::Ipv4Unicast)]);
}

#[test]
fn bad_routes_are_refused_and_nothing_changes() {
    let mut rib = AdjRibOut::new(CodecContext::default(), &BOTH);
    let good = v4_routes(2, &attrs(NH4));
    rib.update(&good).expect("initial");
    let mut wrong_next_hop = good.clone();
    wrong_next_hop.insert("2001:db8::1/128".parse().expect("prefix"), attrs(NH4));
    assert!(matches!(
        rib.update(&wrong_next_hop),
        Err(RibOutError::NextHopFamily { .. })
    ));
    let mut multicast = BTreeMap::new();
    multicast.insert("224.0.0.1/32".parse().expect("prefix"), attrs(NH4));
    assert!(matches!(rib.update(&multicast), Err(RibOutError::Encode { .. })));
    let huge = RouteAttributes {
        communities: (0..1100).map(|i| Community::new(64513, i)).collect(),
        ..attrs(NH4)
    };
    let too_big: BTreeMap<IpNet, RouteAttributes> = v4_routes(1, &huge);
    assert!(matches!(rib.update(&too_big), Err(RibOutError::Encode { .. })));
    assert_eq!(rib.sent().len(), 2, "unchanged after errors");
    assert_eq!(rib.update(&good), Ok(vec![]));
}

fn route() -> impl Strategy<Value = (IpNet, RouteAttributes)> {
    let attr_sets = vec![
        attrs(NH4),
        RouteAttributes {
            med: Some(1),
            ..attrs(NH4)
        },
        RouteAttributes::new([64513, 64512], NH4),
    ];
    prop_oneof![
        (any::<u16>(), 24u8..=32, proptest::sample::select(attr_sets)).prop_map(|(i, len, a)| {
            (
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (u32::from(i) << 8)), len)
                        .expect("net")
                        .trunc(),
                ),
                a,
            )
        }),
        (any::<u16>(), 48u8..=128, proptest::bool::ANY).prop_map(|(i, len, med)| {
            let a = if med {
                RouteAttributes {
                    med: Some(2),
                    ..attrs(NH6)
                }
            } else {
                attrs(NH6)
            };
            let addr = Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1);
            (IpNet::V6(Ipv6Net::new(addr, len).expect("net").trunc()), a)
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_receiver_applying_the_updates_holds_exactly_the_desired_routes(
        steps in proptest::collection::vec(proptest::collection::btree_map(route().prop_map(|(p, _)| p), route().prop_map(|(_, a)| a), 0..400), 1..5),
        four_octet_as: bool,
    ) {
        let cxt = CodecContext { four_octet_as };
        let mut rib = AdjRibOut::new(cxt, &BOTH);
        let mut table = BTreeMap::new();
        for desired in steps {
            // an attribute set's next hop must match the prefix's family
            let desired: BTreeMap<IpNet, RouteAttributes> = desired
                .into_iter()
                .map(|(p, a)| {
                    let nh = if matches!(p, IpNet::V4(_)) { NH4 } else { NH6 };
                    (p, RouteAttributes { next_hop: nh, ..a })
                })
                .collect();
            let updates = rib.update(&desired).expect("packs");
            apply(&mut table, &updates, &cxt);
            prop_assert_eq!(table.len(), desired.len());
            for (p, a) in &desired {
                prop_assert_eq!(table.get(p), Some(&expected(p, a)));
            }
            prop_assert_eq!(rib.update(&desired).expect("idempotent"), vec![]);
        }
    }
}
