//! The status objects computed from decisions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::{BgpAdvertisement, Peer};

use super::*;
use crate::election::{BgpPrefix, Decision, Layer2Announcement, SkipReason};
use crate::interfaces::Interface;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn iface(index: u32, name: &str) -> Interface {
    Interface {
        index,
        name: name.into(),
        mac: Some(ferrolb_proto::MacAddr([
            2,
            0,
            0,
            0,
            0,
            u8::try_from(index).unwrap(),
        ])),
        up: true,
        running: true,
        broadcast: true,
        noarp: false,
        loopback: false,
        master: None,
    }
}

fn peer(name: &str) -> Peer {
    let text = "peers:\n- {peer-address: 192.0.2.1, peer-asn: 64512, my-asn: 64513}\n";
    let mut p = ferrolb_config::parse(text).unwrap().peers.remove(0);
    p.name = name.into();
    p
}

fn adv(peers: &[&str]) -> BgpAdvertisement {
    BgpAdvertisement {
        peers: peers.iter().map(|p| p.to_string()).collect(),
        ..BgpAdvertisement::with_defaults("a", vec!["bgp".into()])
    }
}

#[test]
fn layer2_and_bgp_objects_name_the_node_its_interfaces_and_peers() {
    let web = ServiceKey::new("apps", "web");
    let dns = ServiceKey::new("apps", "dns");
    let mut d = Decisions::default();
    d.layer2.ips.insert(
        ip("192.0.2.100"),
        Layer2Announcement {
            pool: "l2".into(),
            interfaces: vec!["eth1".into()],
            services: vec![dns.clone(), web.clone()],
        },
    );
    d.layer2.ips.insert(
        ip("2001:db8::100"),
        Layer2Announcement {
            pool: "l2".into(),
            interfaces: vec![],
            services: vec![web.clone()],
        },
    );
    d.bgp.peers = vec![peer("r1"), peer("r2")];
    let prefix = |decision, advs: Vec<BgpAdvertisement>| BgpPrefix {
        pool: "bgp".into(),
        advertisements: advs,
        services: vec![web.clone()],
        advertising_nodes: BTreeSet::new(),
        decision,
    };
    d.bgp.prefixes = BTreeMap::from([
        (ip("203.0.113.1"), prefix(Decision::Announce, vec![adv(&["r2"])])),
        (
            ip("203.0.113.2"),
            prefix(Decision::Skip(SkipReason::NoLocalEndpoint), vec![adv(&["r1"])]),
        ),
    ]);
    let links = Links {
        known: true,
        interfaces: [iface(2, "eth0"), iface(3, "eth1")]
            .into_iter()
            .map(|i| (i.index, i))
            .collect(),
    };
    let (l2, bgp) = services("n1", &d, &InterfaceFilter::default(), &links);
    assert_eq!(l2.keys().collect::<Vec<_>>(), ["apps/dns", "apps/web"]);
    assert_eq!(l2["apps/dns"].status["interfaces"], json!([{"name": "eth1"}]));
    assert_eq!(
        l2["apps/web"].status["interfaces"],
        json!([{"name": "eth1"}, {"name": "eth0"}]),
        "the union over the Service's IPs"
    );
    assert_eq!(l2["apps/web"].labels[NODE_LABEL], "n1");
    assert_eq!(l2["apps/web"].name, ObjectName::Generate("l2-".into()));
    assert_eq!(
        l2["apps/web"].status["serviceNamespace"], "apps",
        "the Service's namespace in the status too"
    );
    assert_eq!(
        bgp["apps/web"].status["peers"],
        json!(["r2"]),
        "only the advertised IP's advertisement counts"
    );
    assert_eq!(bgp["apps/web"].name, ObjectName::Generate("bgp-".into()));
}
