//! The owner loop's state machine without a runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_proto::MacAddr;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Node, NodeAddress, NodeStatus, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::Event;

use super::*;
use crate::interfaces::Interface;

fn obj<K: serde::de::DeserializeOwned>(v: serde_json::Value) -> K {
    serde_json::from_value(v).unwrap()
}

fn service(name: &str, ip: &str) -> Service {
    obj(serde_json::json!({
        "metadata": {"namespace": "default", "name": name, "uid": format!("uid-{name}")},
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}
    }))
}

fn slice(service: &str) -> EndpointSlice {
    obj(serde_json::json!({
        "metadata": {"namespace": "default", "name": format!("{service}-1"),
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "nodeName": "node1"}]
    }))
}

fn node(name: &str, ip: &str) -> Node {
    Node {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(vec![NodeAddress {
                type_: "InternalIP".into(),
                address: ip.into(),
            }]),
            ..NodeStatus::default()
        }),
    }
}

fn config() -> ConfigMap {
    obj(serde_json::json!({
        "metadata": {"namespace": "ferrolb-system", "name": "config"},
        "data": {"config": "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [192.0.2.100/30]\n"}
    }))
}

fn secret() -> Secret {
    Secret {
        metadata: kube::api::ObjectMeta {
            namespace: Some("ferrolb-system".into()),
            name: Some("ferrolb-memberlist".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("secretkey".into(), ByteString(b"k".to_vec()))])),
        ..Secret::default()
    }
}

fn links(up: bool) -> Arc<Links> {
    let eth0 = Interface {
        index: 2,
        name: "eth0".into(),
        mac: Some(MacAddr([2, 0, 0, 0, 0, 0x11])),
        up,
        running: up,
        broadcast: true,
        noarp: false,
        loopback: false,
        master: None,
    };
    Arc::new(Links {
        known: true,
        interfaces: BTreeMap::from([(2, eth0)]),
    })
}

fn listed<K>(wrap: fn(Event<K>) -> IndexEvent, objs: Vec<K>) -> Vec<Input> {
    let mut v = vec![Input::Index(wrap(Event::Init))];
    v.extend(objs.into_iter().map(|o| Input::Index(wrap(Event::InitApply(o)))));
    v.push(Input::Index(wrap(Event::InitDone)));
    v
}

fn owner() -> Owner {
    Owner::new(
        OwnerSettings {
            node: "node1".into(),
            filter: InterfaceFilter::default(),
            memberlist_port: 7946,
            memberlist_addr: None,
        },
        IndexSettings::default(),
        Metrics::default(),
    )
}

fn view(live: &[&str]) -> View {
    View {
        running: true,
        settled: true,
        live: live.iter().map(|s| s.to_string()).collect(),
    }
}

fn sync(o: &mut Owner) {
    let inputs = [
        listed(ev::service, vec![service("web", "192.0.2.100")]),
        listed(ev::slice, vec![slice("web")]),
        listed(
            ev::node,
            vec![node("node1", "192.0.2.11"), node("node2", "192.0.2.12")],
        ),
        listed(ev::config_map, vec![config()]),
        listed(ev::secret, vec![secret()]),
    ];
    for i in inputs.into_iter().flatten() {
        o.input(i);
    }
    for e in ferrolb_k8s::config::empty_resource_lists() {
        o.input(Input::Index(IndexEvent::Config(e)));
    }
}

#[test]
fn nothing_is_announced_before_ready() {
    let mut o = owner();
    sync(&mut o);
    let s = o.step();
    assert!(s.desired.is_none(), "links and membership unknown");
    assert_eq!(
        s.membership,
        [
            Control::Key(Some(b"k".to_vec())),
            Control::Address("192.0.2.11:7946".parse().unwrap()),
            Control::Seeds(vec![("node2".into(), "192.0.2.12:7946".parse().unwrap())]),
        ]
    );
    assert!(o.waiting_for().contains(&Waiting::Links));
    o.input(Input::Links(links(true)));
    o.input(Input::Membership(View {
        settled: false,
        ..view(&["node1"])
    }));
    assert!(o.step().desired.is_none(), "membership not settled");
    assert!(!o.ready());
    o.input(Input::Membership(view(&["node1"])));
    assert!(o.ready());
    let s = o.step();
    let d = s.desired.expect("ready: a desired state");
    assert!(
        d.layer2
            .ips
            .contains_key(&"192.0.2.100".parse::<IpAddr>().unwrap())
    );
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].regarding.name, "web");
    assert_eq!(s.events[0].regarding.uid.as_deref(), Some("uid-web"));
    assert!(
        s.events[0].note.contains("node node1 interface eth0"),
        "{}",
        s.events[0].note
    );
    assert!(s.membership.is_empty(), "nothing new for the membership");
    // a step without changes does nothing
    let again = o.step();
    assert!(again.desired.is_none() && again.events.is_empty());
}

#[test]
fn membership_changes_move_ips_and_link_loss_steps_aside() {
    let mut o = owner();
    sync(&mut o);
    o.input(Input::Links(links(true)));
    o.input(Input::Membership(view(&["node1", "node2"])));
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    let winner = crate::election::rendezvous::owner(ip, ["node1", "node2"])
        .unwrap()
        .to_owned();
    let d = o.step().desired.unwrap();
    assert_eq!(d.layer2.ips.contains_key(&ip), winner == "node1");
    // the other node dies: node1 takes everything
    o.input(Input::Membership(view(&["node1"])));
    let d = o.step().desired;
    if winner == "node2" {
        assert!(d.unwrap().layer2.ips.contains_key(&ip));
    } else {
        assert!(d.is_none(), "nothing changed for node1");
    }
    // eth0 goes down: step aside, and once the membership drops us nothing is announced
    o.input(Input::Links(links(false)));
    let s = o.step();
    assert_eq!(s.membership, [Control::StepAside]);
    o.input(Input::Membership(view(&[])));
    let d = o.step().desired.unwrap();
    assert!(d.layer2.ips.is_empty());
    assert_eq!(d.decisions[&ip].decision, Decision::Skip(SkipReason::NotMember));
    o.input(Input::Links(links(true)));
    assert_eq!(o.step().membership, [Control::Return]);
}

#[test]
fn a_lost_watch_changes_nothing() {
    let mut o = owner();
    sync(&mut o);
    o.input(Input::Links(links(true)));
    o.input(Input::Membership(view(&["node1"])));
    let first = o.step().desired.unwrap();
    // the watches restart (API server back after an outage) and list the same objects
    for i in listed(ev::service, vec![service("web", "192.0.2.100")]) {
        o.input(i);
    }
    // …and an Init without InitDone (the list failed half-way) changes nothing either
    o.input(Input::Index(ev::slice(Event::Init)));
    assert!(o.step().desired.is_none());
    assert_eq!(o.index().services().len(), 1);
    let members: BTreeSet<String> = ["node1".to_owned()].into();
    assert_eq!(
        crate::election::elect(&o.index().election_input("node1", &members).unwrap()),
        first
    );
}

#[test]
fn the_successor_watches_the_owner() {
    let mut o = owner();
    sync(&mut o);
    o.input(Input::Links(links(true)));
    o.input(Input::Membership(view(&["node1", "node2"])));
    let ip: IpAddr = "192.0.2.100".parse().unwrap();
    let (winner, successor) = crate::election::rendezvous::owner_and_successor(ip, ["node1", "node2"]);
    let d = o.step();
    let watches: Vec<Control> = d
        .membership
        .into_iter()
        .filter(|c| matches!(c, Control::Watch(_)))
        .collect();
    let decision = &d.desired.unwrap().decisions[&ip];
    assert_eq!(decision.owner.as_deref(), winner);
    assert_eq!(decision.successor.as_deref(), successor);
    if successor == Some("node1") {
        assert_eq!(watches, [Control::Watch(BTreeSet::from(["node2".to_owned()]))]);
        // the owner is gone: node1 owns the IP and watches nobody
        o.input(Input::Membership(view(&["node1"])));
        let s = o.step();
        assert!(s.membership.contains(&Control::Watch(BTreeSet::new())));
    } else {
        assert!(watches.is_empty(), "node1 owns it: nobody to watch");
    }
}

/// Raw watch events, projected with the default settings as the watch tasks project them.
mod ev {
    use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use kube::runtime::watcher::Event;

    use crate::index::{IndexEvent, IndexSettings};

    pub fn service(e: Event<Service>) -> IndexEvent {
        IndexEvent::from_service(&IndexSettings::default(), e)
    }
    pub fn slice(e: Event<EndpointSlice>) -> IndexEvent {
        IndexEvent::from_slice(e)
    }
    pub fn node(e: Event<Node>) -> IndexEvent {
        IndexEvent::from_node(e)
    }
    pub fn config_map(e: Event<ConfigMap>) -> IndexEvent {
        IndexEvent::from_config_map(&IndexSettings::default(), e)
    }
    pub fn secret(e: Event<Secret>) -> IndexEvent {
        IndexEvent::from_secret(&IndexSettings::default(), e)
    }
}
