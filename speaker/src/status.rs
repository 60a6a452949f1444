//! The speaker's status objects, computed from its decisions (pure): what `kubectl get` shows operators.
//!
//! - `ServiceL2Status` per Service this node announces in layer2 mode: the node and the interfaces it answers
//!   on (generated name `l2-…`, labels `metallb.io/node`, `metallb.io/service-namespace`,
//!   `metallb.io/service-name`, as MetalLB's speakers write them);
//! - `ServiceBGPStatus` per Service this node advertises over BGP: the node and the peers that receive it
//!   (`bgp-…`, the same labels);
//! - `ConfigurationState` `speaker-<node>`: whether the configuration in force is valid, and why not; in BGP
//!   mode also a condition per BGP session ([`sessions`]).
//!
//! The shared object sync ([`ferrolb_k8s::objects`]) makes the cluster match these sets after the fact; the
//! decisions never wait for it. When this node takes a layer2 IP over, the other nodes' `ServiceL2Status`
//! objects of its Services are stale: [`StatusReport::takeovers`] names those Services, and the layer removes
//! them at once (their own speakers may be dead).

pub mod sessions;

use std::collections::BTreeMap;

use ferrolb_k8s::objects::{Desired, DesiredSet, ObjectName};
use serde_json::{Value, json};

use crate::election::Desired as Decisions;
use crate::interfaces::InterfaceFilter;
use crate::model::ServiceKey;
use crate::netlink::Links;

pub use ferrolb_k8s::announcements::{NODE_LABEL, SERVICE_NAME_LABEL, SERVICE_NAMESPACE_LABEL};

/// Everything the status objects of this node should say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatusReport {
    /// `ServiceL2Status` objects, by `namespace/name` of the Service.
    pub l2: DesiredSet,
    /// `ServiceBGPStatus` objects, by `namespace/name` of the Service.
    pub bgp: DesiredSet,
    /// This speaker's `ConfigurationState`.
    pub state: DesiredSet,
    /// Services whose layer2 IP this node just took over.
    pub takeovers: Vec<ServiceKey>,
}

/// The key of an object of Service `key` in the desired sets, and what [`key_of`] finds in its labels.
pub fn service_key(key: &ServiceKey) -> String {
    format!("{}/{}", key.namespace, key.name)
}

/// The key of an owned `ServiceL2Status`/`ServiceBGPStatus` object: its Service, from its labels.
pub fn key_of(obj: &kube::api::DynamicObject) -> Option<String> {
    let labels = obj.metadata.labels.as_ref()?;
    Some(format!(
        "{}/{}",
        labels.get(SERVICE_NAMESPACE_LABEL)?,
        labels.get(SERVICE_NAME_LABEL)?
    ))
}

fn labels(node: &str, key: &ServiceKey) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NODE_LABEL.to_owned(), node.to_owned()),
        (SERVICE_NAMESPACE_LABEL.to_owned(), key.namespace.clone()),
        (SERVICE_NAME_LABEL.to_owned(), key.name.clone()),
    ])
}

fn service_status(node: &str, key: &ServiceKey, extra: (&str, Value)) -> Value {
    let mut v = json!({"node": node, "serviceName": key.name, "serviceNamespace": key.namespace});
    v[extra.0] = extra.1;
    v
}

/// The layer2 and BGP status objects for `decisions` (this node's), with the interfaces it answers on.
pub fn services(
    node: &str,
    decisions: &Decisions,
    filter: &InterfaceFilter,
    links: &Links,
) -> (DesiredSet, DesiredSet) {
    let mut l2 = DesiredSet::new();
    for ann in decisions.layer2.ips.values() {
        let interfaces: Vec<Value> = filter
            .for_announcement(&links.interfaces, ann)
            .map(|i| json!({"name": i.name}))
            .collect();
        for key in &ann.services {
            let entry = l2.entry(service_key(key)).or_insert_with(|| Desired {
                name: ObjectName::Generate("l2-".into()),
                labels: labels(node, key),
                spec: Value::Null,
                status: service_status(node, key, ("interfaces", json!([]))),
            });
            // a Service with several IPs answers on the union of their interfaces
            if let Some(list) = entry.status["interfaces"].as_array_mut() {
                for i in &interfaces {
                    if !list.contains(i) {
                        list.push(i.clone());
                    }
                }
            }
        }
    }
    let mut bgp = DesiredSet::new();
    let own_peers: Vec<&str> = decisions.bgp.peers.iter().map(|p| p.name.as_str()).collect();
    for (_, prefix) in decisions.bgp.advertised() {
        let mut peers: Vec<String> = own_peers
            .iter()
            .filter(|p| prefix.advertisements.iter().any(|a| a.selects_peer(p)))
            .map(|p| (*p).to_owned())
            .collect();
        peers.sort();
        for key in &prefix.services {
            let entry = bgp.entry(service_key(key)).or_insert_with(|| Desired {
                name: ObjectName::Generate("bgp-".into()),
                labels: labels(node, key),
                spec: Value::Null,
                status: service_status(node, key, ("peers", json!([]))),
            });
            if let Some(list) = entry.status["peers"].as_array_mut() {
                for p in &peers {
                    let p = json!(p);
                    if !list.contains(&p) {
                        list.push(p);
                    }
                }
            }
        }
    }
    (l2, bgp)
}

#[cfg(test)]
mod tests;
