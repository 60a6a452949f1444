//! The speaker's view of the cluster, in its own small types (pure: no kube types, no I/O).
//!
//! The index ([`crate::index`]) turns Services, EndpointSlices and Nodes into these; the election
//! ([`crate::election`]) reads them. Only what the decisions need is kept, so memory stays proportional to the
//! number of load-balancer IPs and nodes, not to the size of the objects.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// A Kubernetes node name.
pub type NodeName = String;

/// Nodes with this label never announce (the Kubernetes well-known label, honoured as MetalLB does).
pub const EXCLUDE_FROM_LB_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Namespace and name of a Service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ServiceKey {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ServiceKey {
    /// `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ServiceKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrafficPolicy {
    /// Any node forwards to any endpoint (the default).
    #[default]
    Cluster,
    /// Only nodes with a local endpoint serve the Service.
    Local,
}

/// A load-balancer Service that is ferrolb's (type LoadBalancer, matching class) and has IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Namespace and name.
    pub key: ServiceKey,
    /// `metadata.uid`, for Events.
    pub uid: Option<String>,
    /// `metadata.labels` (advertisements may select Services by them).
    pub labels: BTreeMap<String, String>,
    /// `status.loadBalancer.ingress[].ip`, in order, without duplicates.
    pub ips: Vec<IpAddr>,
    /// `spec.externalTrafficPolicy`.
    pub traffic_policy: TrafficPolicy,
}

/// What the election needs to know about a node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// The `NetworkUnavailable` condition is `True`.
    pub network_unavailable: bool,
    /// `status.addresses`: InternalIPs first, then ExternalIPs (membership seeds).
    pub addresses: Vec<IpAddr>,
    /// `spec.unschedulable` (cordoned, e.g. being drained).
    pub unschedulable: bool,
    /// The `Ready` condition is `True`.
    pub ready: bool,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl NodeInfo {
    /// Whether the node carries the exclude-from-external-load-balancers label (any value).
    pub fn excluded_from_lb(&self) -> bool {
        self.labels.contains_key(EXCLUDE_FROM_LB_LABEL)
    }
}

/// The endpoints of one Service, merged over its EndpointSlices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoints {
    /// Some endpoint is ready (or serving), wherever it runs.
    pub any_ready: bool,
    /// Nodes that run a ready (or serving) endpoint.
    pub ready_nodes: BTreeSet<NodeName>,
}
