//! The index without a runtime: `index.handle(event)` and assertions on what it keeps.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, LoadBalancerIngress, LoadBalancerStatus, Node, NodeAddress, NodeCondition, NodeStatus, Secret,
    Service, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;

use super::*;
use crate::model::TrafficPolicy;

fn meta(ns: Option<&str>, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: ns.map(str::to_owned),
        name: Some(name.to_owned()),
        uid: Some(format!("uid-{name}")),
        ..ObjectMeta::default()
    }
}

fn svc(name: &str, ips: &[&str], class: Option<&str>, local: bool) -> Service {
    Service {
        metadata: meta(Some("default"), name),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            load_balancer_class: class.map(str::to_owned),
            external_traffic_policy: Some(if local { "Local" } else { "Cluster" }.into()),
            ..ServiceSpec::default()
        }),
        status: Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(
                    ips.iter()
                        .map(|ip| LoadBalancerIngress {
                            ip: Some(ip.to_string()),
                            ..LoadBalancerIngress::default()
                        })
                        .collect(),
                ),
            }),
            ..ServiceStatus::default()
        }),
    }
}

fn slice(name: &str, service: &str, endpoints: &[(Option<bool>, Option<bool>, &str)]) -> EndpointSlice {
    let mut m = meta(Some("default"), name);
    m.labels = Some(BTreeMap::from([(
        convert::SERVICE_NAME_LABEL.to_owned(),
        service.to_owned(),
    )]));
    EndpointSlice {
        metadata: m,
        address_type: "IPv4".into(),
        endpoints: endpoints
            .iter()
            .map(|(ready, serving, node)| Endpoint {
                addresses: vec!["10.0.0.1".into()],
                conditions: Some(EndpointConditions {
                    ready: *ready,
                    serving: *serving,
                    terminating: None,
                }),
                node_name: Some(node.to_string()),
                ..Endpoint::default()
            })
            .collect(),
        ports: None,
    }
}

fn node(name: &str, ip: &str, unavailable: bool) -> Node {
    Node {
        metadata: meta(None, name),
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "Hostname".into(),
                    address: name.into(),
                },
                NodeAddress {
                    type_: "ExternalIP".into(),
                    address: "198.51.100.7".into(),
                },
                NodeAddress {
                    type_: "InternalIP".into(),
                    address: ip.into(),
                },
            ]),
            conditions: Some(vec![NodeCondition {
                type_: "NetworkUnavailable".into(),
                status: if unavailable { "True" } else { "False" }.into(),
                ..NodeCondition::default()
            }]),
            ..NodeStatus::default()
        }),
    }
}

fn config_map(text: &str) -> ConfigMap {
    ConfigMap {
        metadata: meta(Some("ferrolb-system"), "config"),
        data: Some(BTreeMap::from([("config".to_owned(), text.to_owned())])),
        ..ConfigMap::default()
    }
}

fn secret(key: &[u8]) -> Secret {
    Secret {
        metadata: meta(Some("ferrolb-system"), "ferrolb-memberlist"),
        data: Some(BTreeMap::from([(
            "secretkey".to_owned(),
            ByteString(key.to_vec()),
        )])),
        ..Secret::default()
    }
}

const POOLS: &str =
    "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [192.0.2.100-192.0.2.120]\n";

fn listed<K>(objs: Vec<K>) -> Vec<Event<K>> {
    let mut v = vec![Event::Init];
    v.extend(objs.into_iter().map(Event::InitApply));
    v.push(Event::InitDone);
    v
}

#[test]
fn services_are_filtered_by_type_class_and_ips() {
    let mut ix = Index::new(IndexSettings::default());
    assert!(ix.handle(ev::service(Event::Apply(svc(
        "web",
        &["192.0.2.100"],
        None,
        false
    )))));
    assert!(
        !ix.handle(ev::service(Event::Apply(svc(
            "web",
            &["192.0.2.100"],
            None,
            false
        )))),
        "no change"
    );
    // another class, no IPs, not a LoadBalancer: not ours
    ix.handle(ev::service(Event::Apply(svc(
        "other",
        &["192.0.2.101"],
        Some("x.io/lb"),
        false,
    ))));
    ix.handle(ev::service(Event::Apply(svc("pending", &[], None, false))));
    let mut cluster_ip = svc("cip", &["192.0.2.102"], None, false);
    cluster_ip.spec.as_mut().unwrap().type_ = Some("ClusterIP".into());
    ix.handle(ev::service(Event::Apply(cluster_ip)));
    assert_eq!(ix.services().len(), 1);
    let info = &ix.services()[&ServiceKey::new("default", "web")];
    assert_eq!(info.ips, vec!["192.0.2.100".parse::<std::net::IpAddr>().unwrap()]);
    assert_eq!(info.uid.as_deref(), Some("uid-web"));

    // losing its IPs removes it; a class-matching index sees only the classed one
    assert!(ix.handle(ev::service(Event::Apply(svc("web", &[], None, false)))));
    assert!(ix.services().is_empty());
    let mut classed = Index::new(IndexSettings {
        lb_class: Some("x.io/lb".into()),
        ..IndexSettings::default()
    });
    let classed_ev = |e| IndexEvent::from_service(classed.settings(), e);
    let events = [
        classed_ev(Event::Apply(svc(
            "other",
            &["192.0.2.101"],
            Some("x.io/lb"),
            true,
        ))),
        classed_ev(Event::Apply(svc("web", &["192.0.2.100"], None, false))),
    ];
    for e in events {
        classed.handle(e);
    }
    assert_eq!(classed.services().len(), 1);
    assert_eq!(
        classed.services()[&ServiceKey::new("default", "other")].traffic_policy,
        TrafficPolicy::Local
    );
}

#[test]
fn a_relist_replaces_the_kind_atomically() {
    let mut ix = Index::new(IndexSettings::default());
    assert!(!ix.synced());
    for e in listed(vec![
        svc("a", &["192.0.2.100"], None, false),
        svc("b", &["192.0.2.101"], None, false),
    ]) {
        ix.handle(ev::service(e));
    }
    assert_eq!(ix.services().len(), 2);
    assert_eq!(ix.unsynced().len(), 4);
    // the watch restarts; "b" was deleted meanwhile; until InitDone the old content stays
    ix.handle(ev::service(Event::Init));
    ix.handle(ev::service(Event::InitApply(svc(
        "a",
        &["192.0.2.100"],
        None,
        false,
    ))));
    assert_eq!(ix.services().len(), 2, "kept until the list is complete");
    assert!(ix.handle(ev::service(Event::InitDone)));
    assert_eq!(
        ix.services().keys().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        ["a"]
    );
}

#[test]
fn endpoints_merge_slices_and_count_ready_or_serving() {
    let mut ix = Index::new(IndexSettings::default());
    let key = ServiceKey::new("default", "web");
    // slices before their Service: kept, but merged only once it is one of ferrolb's Services
    ix.handle(ev::slice(Event::Apply(slice(
        "web-0",
        "web",
        &[(None, None, "node4")],
    ))));
    assert!(ix.endpoints().is_empty(), "not a LoadBalancer (yet)");
    ix.handle(ev::service(Event::Apply(svc(
        "web",
        &["192.0.2.100"],
        None,
        false,
    ))));
    assert_eq!(
        ix.endpoints()[&key].ready_nodes.len(),
        1,
        "merged when it arrives"
    );
    ix.handle(ev::slice(Event::Delete(slice("web-0", "web", &[]))));
    ix.handle(ev::slice(Event::Apply(slice(
        "web-1",
        "web",
        &[(Some(false), Some(false), "node1"), (None, None, "node2")],
    ))));
    ix.handle(ev::slice(Event::Apply(slice(
        "web-2",
        "web",
        &[(Some(false), Some(true), "node3")],
    ))));
    let e = &ix.endpoints()[&key];
    assert!(e.any_ready);
    assert_eq!(
        e.ready_nodes.iter().map(String::as_str).collect::<Vec<_>>(),
        ["node2", "node3"]
    );
    // node2's endpoint goes unready: only node3 (serving) remains
    assert!(ix.handle(ev::slice(Event::Apply(slice(
        "web-1",
        "web",
        &[(Some(false), None, "node2")],
    )))));
    assert_eq!(ix.endpoints()[&key].ready_nodes.len(), 1);
    assert!(ix.handle(ev::slice(Event::Delete(slice("web-2", "web", &[])))));
    assert!(!ix.endpoints().get(&key).is_some_and(|e| e.any_ready));
    // a slice without the service-name label is ignored
    let mut unlabeled = slice("x", "web", &[(None, None, "node9")]);
    unlabeled.metadata.labels = None;
    assert!(!ix.handle(ev::slice(Event::Apply(unlabeled))));
    // the slices of a Service that is not ferrolb's change nothing the election reads
    assert!(!ix.handle(ev::slice(Event::Apply(slice(
        "db-1",
        "db",
        &[(None, None, "node1")]
    )))));
    assert!(!ix.endpoints().contains_key(&ServiceKey::new("default", "db")));
    // and a Service that stops being ferrolb's drops its endpoints
    assert!(ix.handle(ev::service(Event::Delete(svc("web", &[], None, false)))));
    assert!(ix.endpoints().is_empty());
}

#[test]
fn nodes_keep_labels_conditions_and_internal_addresses_first() {
    let mut ix = Index::new(IndexSettings::default());
    assert!(ix.handle(ev::node(Event::Apply(node("node1", "192.0.2.11", false)))));
    assert!(
        !ix.handle(ev::node(Event::Apply(node("node1", "192.0.2.11", false)))),
        "heartbeat"
    );
    let n = &ix.nodes()["node1"];
    assert_eq!(n.addresses[0].to_string(), "192.0.2.11");
    assert_eq!(n.addresses[1].to_string(), "198.51.100.7");
    assert!(!n.network_unavailable);
    assert!(ix.handle(ev::node(Event::Apply(node("node1", "192.0.2.11", true)))));
    assert!(ix.nodes()["node1"].network_unavailable);
    assert!(ix.handle(ev::node(Event::Delete(node("node1", "", false)))));
    assert!(ix.nodes().is_empty());
}

#[test]
fn nodes_keep_what_the_bgp_shutdown_decision_reads() {
    let mut ix = Index::new(IndexSettings::default());
    let mut n = node("node1", "192.0.2.11", false);
    ix.handle(ev::node(Event::Apply(n.clone())));
    let info = &ix.nodes()["node1"];
    assert!(!info.unschedulable && !info.ready && !info.deleting, "{info:?}");
    if let Some(c) = n.status.as_mut().and_then(|s| s.conditions.as_mut()) {
        c.push(NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..NodeCondition::default()
        });
    }
    assert!(
        ix.handle(ev::node(Event::Apply(n.clone()))),
        "Ready changes the node"
    );
    assert!(ix.nodes()["node1"].ready);
    n.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
        unschedulable: Some(true),
        ..Default::default()
    });
    n.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
    ));
    assert!(ix.handle(ev::node(Event::Apply(n))));
    let info = &ix.nodes()["node1"];
    assert!(info.unschedulable && info.ready && info.deleting, "{info:?}");
}

#[test]
fn an_invalid_or_deleted_config_keeps_the_last_valid_one() {
    let mut ix = Index::new(IndexSettings::default());
    assert!(ix.config().current().is_none());
    // nothing is read before the first list of the configuration objects
    assert!(!ix.handle(ev::config_map(Event::Apply(config_map(POOLS)))));
    assert!(ix.config().current().is_none());
    for e in ferrolb_k8s::config::empty_resource_lists() {
        ix.handle(IndexEvent::Config(e));
    }
    for e in listed(vec![config_map(POOLS)]) {
        ix.handle(ev::config_map(e));
    }
    let first = ix.config().current().cloned().unwrap();
    assert_eq!(first.pools[0].name, "l2");
    // invalid: the configuration in force is kept, but its status changed (the metrics and the
    // ConfigurationState must say so: a change)
    assert!(ix.handle(ev::config_map(Event::Apply(config_map(
        "address-pools: [{name: x}]"
    )))));
    assert_eq!(ix.config().current(), Some(&first), "kept");
    assert!(ix.config().stale());
    assert!(
        ix.config().errors().iter().any(|e| e.path.ends_with("protocol")),
        "{:?}",
        ix.config().errors()
    );
    // a ConfigMap with another name is not ours
    let mut other = config_map("");
    other.metadata.name = Some("other".into());
    assert!(!ix.handle(ev::config_map(Event::Apply(other))));
    // deleting it keeps the last valid config in force (the controller keeps the IPs; the speakers keep
    // announcing them), stale
    assert!(ix.handle(ev::config_map(Event::Delete(config_map("")))));
    assert_eq!(ix.config().current(), Some(&first), "nothing withdrawn");
    assert!(ix.config().stale());
    assert_eq!(
        ix.config().errors()[0].kind,
        ferrolb_config::ErrorKind::SourceDeleted
    );
    // an explicit empty config removes every pool
    assert!(ix.handle(ev::config_map(Event::Apply(config_map("")))));
    assert!(ix.config().current().unwrap().pools.is_empty());
    assert!(!ix.config().stale());
}

#[test]
fn the_secret_gives_the_membership_key() {
    let mut ix = Index::new(IndexSettings::default());
    for e in listed(Vec::<Secret>::new()) {
        ix.handle(ev::secret(e));
    }
    assert_eq!(ix.key(), None);
    assert!(ix.handle(ev::secret(Event::Apply(secret(b"k1")))));
    assert_eq!(ix.key(), Some(&b"k1"[..]));
    assert!(!ix.handle(ev::secret(Event::Apply(secret(b"k1")))));
    assert!(
        ix.handle(ev::secret(Event::Apply(secret(b"")))),
        "an empty key is no key"
    );
    assert_eq!(ix.key(), None);
}

#[test]
fn synced_after_every_kind_is_listed() {
    let mut ix = Index::new(IndexSettings::default());
    for e in listed(vec![svc("a", &["192.0.2.100"], None, false)]) {
        ix.handle(ev::service(e));
    }
    for e in listed(vec![slice("a-1", "a", &[(None, None, "node1")])]) {
        ix.handle(ev::slice(e));
    }
    for e in listed(vec![node("node1", "192.0.2.11", false)]) {
        ix.handle(ev::node(e));
    }
    for e in ferrolb_k8s::config::empty_resource_lists() {
        ix.handle(IndexEvent::Config(e));
    }
    for e in listed(vec![config_map(POOLS)]) {
        ix.handle(ev::config_map(e));
    }
    assert!(!ix.synced());
    for e in listed(vec![secret(b"k")]) {
        ix.handle(ev::secret(e));
    }
    assert!(ix.synced());
    let members = std::collections::BTreeSet::from(["node1".to_owned()]);
    let input = ix.election_input("node1", &members).unwrap();
    let desired = crate::election::elect(&input);
    assert_eq!(desired.layer2.ips.len(), 1, "{desired:?}");
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
