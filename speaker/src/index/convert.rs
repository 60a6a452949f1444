//! Kubernetes objects to the speaker's small types (pure).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_k8s::watch::Projected;
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::model::{NodeInfo, NodeName, ServiceInfo, ServiceKey, TrafficPolicy};

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A Service as the speaker keeps it, or `None` when it is not ferrolb's (not `type: LoadBalancer`, another
/// load-balancer class) or has no load-balancer IP yet. Unparseable ingress IPs are skipped.
pub fn service(svc: &Service, lb_class: Option<&str>) -> Option<ServiceInfo> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    if spec.load_balancer_class.as_deref() != lb_class {
        return None;
    }
    let mut ips: Vec<IpAddr> = Vec::new();
    for ingress in svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(ip) = ingress.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok())
            && !ips.contains(&ip)
        {
            ips.push(ip);
        }
    }
    if ips.is_empty() {
        return None;
    }
    Some(ServiceInfo {
        key: ServiceKey::new(
            svc.metadata.namespace.clone().unwrap_or_default(),
            svc.metadata.name.clone().unwrap_or_default(),
        ),
        uid: svc.metadata.uid.clone(),
        labels: svc.metadata.labels.clone().unwrap_or_default(),
        ips,
        traffic_policy: match spec.external_traffic_policy.as_deref() {
            Some("Local") => TrafficPolicy::Local,
            _ => TrafficPolicy::Cluster,
        },
    })
}

/// One EndpointSlice's contribution: its Service and, per endpoint, whether it is ready (or serving) and
/// where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SliceInfo {
    /// The Service it belongs to.
    pub service: ServiceKey,
    /// Some endpoint is ready or serving.
    pub any_ready: bool,
    /// Nodes with a ready or serving endpoint.
    pub ready_nodes: BTreeSet<String>,
}

/// An EndpointSlice as the speaker keeps it, or `None` without the service-name label.
///
/// An endpoint counts when `ready` is true or unset, or `serving` is true (a terminating endpoint that still
/// serves), as kube-proxy and MetalLB count it.
pub fn slice(s: &EndpointSlice) -> Option<SliceInfo> {
    let service = s.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    let mut info = SliceInfo {
        service: ServiceKey::new(s.metadata.namespace.clone().unwrap_or_default(), service.clone()),
        ..SliceInfo::default()
    };
    for ep in &s.endpoints {
        let c = ep.conditions.as_ref();
        let ready = c.and_then(|c| c.ready).unwrap_or(true) || c.and_then(|c| c.serving).unwrap_or(false);
        if !ready {
            continue;
        }
        info.any_ready = true;
        if let Some(n) = &ep.node_name {
            info.ready_nodes.insert(n.clone());
        }
    }
    Some(info)
}

/// A Node as the election (and the BGP shutdown decision) needs it.
pub fn node(n: &Node) -> NodeInfo {
    let status = n.status.as_ref();
    let condition = |kind: &str| {
        status
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == kind && c.status == "True")
    };
    let mut addresses: Vec<IpAddr> = Vec::new();
    for kind in ["InternalIP", "ExternalIP"] {
        for a in status.and_then(|s| s.addresses.as_ref()).into_iter().flatten() {
            if a.type_ == kind
                && let Ok(ip) = a.address.parse::<IpAddr>()
                && !addresses.contains(&ip)
            {
                addresses.push(ip);
            }
        }
    }
    NodeInfo {
        labels: n.metadata.labels.clone().unwrap_or_default(),
        network_unavailable: condition("NetworkUnavailable"),
        addresses,
        unschedulable: n.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false),
        ready: condition("Ready"),
        deleting: n.metadata.deletion_timestamp.is_some(),
    }
}

/// A Service keyed by namespace and name, kept when it is ferrolb's and has IPs ([`service`]).
pub fn project_service(svc: Service, lb_class: Option<&str>) -> Projected<ServiceKey, ServiceInfo> {
    let key = ServiceKey::new(
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    let info = service(&svc, lb_class);
    (key, info)
}

/// An EndpointSlice keyed by namespace and name, kept when it names its Service ([`slice`]).
pub fn project_slice(s: EndpointSlice) -> Projected<(String, String), SliceInfo> {
    let key = (
        s.metadata.namespace.clone().unwrap_or_default(),
        s.metadata.name.clone().unwrap_or_default(),
    );
    let info = slice(&s);
    (key, info)
}

/// A Node keyed by name ([`node`]).
pub fn project_node(n: Node) -> Projected<NodeName, NodeInfo> {
    let info = node(&n);
    (n.metadata.name.unwrap_or_default(), Some(info))
}

/// The membership Secret named `name`, kept as its non-empty value under `key`.
pub fn project_secret(s: Secret, name: &str, key: &str) -> Projected<String, Vec<u8>> {
    let secret_name = s.metadata.name.clone().unwrap_or_default();
    let value = (secret_name == name)
        .then(|| s.data.and_then(|mut d| d.remove(key)))
        .flatten()
        .map(|b| b.0)
        .filter(|k| !k.is_empty());
    (secret_name, value)
}
