//! The built-in kinds, one strategy per file, and the custom resources' schema-driven strategy.
//!
//! Adding a built-in kind: write its [`Strategy`] in a file here and add one line to [`builtin_defs`].

pub mod config;
pub mod crd;
pub mod custom;
pub mod endpoint_slice;
pub mod event;
pub mod lease;
pub mod namespace;
pub mod node;
pub mod pod;
pub mod service;

use std::sync::Arc;

use crate::resources::{ResourceDef, storage_key};
use crate::strategy::Strategy;

/// How a built-in kind is served.
struct Builtin {
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    /// The storage table when shared with another def (events.k8s.io/v1 Events are stored as core Events).
    storage: Option<&'static str>,
    strategy: Arc<dyn Strategy>,
}

impl Builtin {
    fn def(self) -> ResourceDef {
        ResourceDef {
            group: self.group.to_owned(),
            version: "v1".to_owned(),
            plural: self.plural.to_owned(),
            singular: self.kind.to_ascii_lowercase(),
            kind: self.kind.to_owned(),
            list_kind: format!("{}List", self.kind),
            namespaced: self.namespaced,
            short_names: self.short_names.iter().map(|s| (*s).to_owned()).collect(),
            categories: self.categories.iter().map(|s| (*s).to_owned()).collect(),
            status: self.status,
            storage: self
                .storage
                .map_or_else(|| storage_key(self.group, self.plural), str::to_owned),
            strategy: self.strategy,
            crd: None,
        }
    }
}

const NAMESPACED: bool = true;
const CLUSTER: bool = false;
const STATUS: bool = true;
const NO_STATUS: bool = false;

/// The built-in resources: core Namespaces, Services, Nodes, Pods, ConfigMaps, Secrets, Events;
/// events.k8s.io/v1 Events; discovery.k8s.io/v1 EndpointSlices; coordination.k8s.io/v1 Leases;
/// apiextensions.k8s.io/v1 CustomResourceDefinitions.
pub fn builtin_defs() -> Vec<ResourceDef> {
    #[rustfmt::skip]
    let kinds = [
        b("", "namespaces", "Namespace", CLUSTER, &["ns"], &[], STATUS, None, Arc::new(namespace::NamespaceStrategy)),
        b("", "services", "Service", NAMESPACED, &["svc"], &["all"], STATUS, None, Arc::new(service::ServiceStrategy)),
        b("", "nodes", "Node", CLUSTER, &["no"], &[], STATUS, None, Arc::new(node::NodeStrategy)),
        b("", "pods", "Pod", NAMESPACED, &["po"], &["all"], STATUS, None, Arc::new(pod::PodStrategy)),
        b("", "configmaps", "ConfigMap", NAMESPACED, &["cm"], &[], NO_STATUS, None, Arc::new(config::ConfigMapStrategy)),
        b("", "secrets", "Secret", NAMESPACED, &[], &[], NO_STATUS, None, Arc::new(config::SecretStrategy)),
        b("", "events", "Event", NAMESPACED, &["ev"], &[], NO_STATUS, None, Arc::new(event::EventStrategy)),
        b("events.k8s.io", "events", "Event", NAMESPACED, &["ev"], &[], NO_STATUS, Some("events"), Arc::new(event::EventV1Strategy)),
        b("discovery.k8s.io", "endpointslices", "EndpointSlice", NAMESPACED, &[], &[], NO_STATUS, None, Arc::new(endpoint_slice::EndpointSliceStrategy)),
        b("coordination.k8s.io", "leases", "Lease", NAMESPACED, &[], &[], NO_STATUS, None, Arc::new(lease::LeaseStrategy)),
        b("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", CLUSTER, &["crd", "crds"], &["api-extensions"], STATUS, None, Arc::new(crd::CrdStrategy)),
    ];
    kinds.into_iter().map(Builtin::def).collect()
}

#[allow(clippy::too_many_arguments)]
fn b(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    storage: Option<&'static str>,
    strategy: Arc<dyn Strategy>,
) -> Builtin {
    Builtin {
        group,
        plural,
        kind,
        namespaced,
        short_names,
        categories,
        status,
        storage,
        strategy,
    }
}
