//! The reconciler's side of Namespaces: their labels, which pools' `serviceAllocation.namespaceSelectors`
//! match, and what the pools say about each Service ([`pool_access`]). A Namespace whose labels change has
//! its Services reconciled again (they may now be admitted to, or refused by, a pool).

use std::collections::BTreeMap;

use ferrolb_config::Config;
use ferrolb_k8s::WatchEvent;
use ferrolb_k8s::watch::Projected;
use k8s_openapi::api::core::v1::Namespace;

use super::{Mode, Reconciler};
use crate::allocator::{PoolAccess, ServiceKey};
use crate::service::ServiceView;

/// A Namespace's labels, keyed by its name.
pub type NamespaceLabels = BTreeMap<String, String>;

/// Projects a Namespace to its name and labels.
pub fn project_namespace(ns: Namespace) -> Option<Projected<String, NamespaceLabels>> {
    let name = ns.metadata.name?;
    Some((name, Some(ns.metadata.labels.unwrap_or_default())))
}

/// What the pools' `serviceAllocation` say about a Service of `namespace` (labelled `namespace_labels`)
/// labelled `service_labels`: the restricted auto-assign pools that admit it, in the order to try them
/// (MetalLB's: lowest positive priority first, then priority 0, ties in configuration order), and the
/// restricted pools that do not admit it.
pub fn pool_access(
    config: &Config,
    namespace: &str,
    namespace_labels: &NamespaceLabels,
    service_labels: &BTreeMap<String, String>,
) -> PoolAccess {
    let preferred = config
        .auto_assign_order(namespace, namespace_labels, service_labels)
        .into_iter()
        .filter(|p| p.service_allocation.is_some())
        .map(|p| p.name.clone())
        .collect();
    let denied = config
        .pools
        .iter()
        .filter(|p| !p.admits(namespace, namespace_labels, service_labels))
        .map(|p| p.name.clone())
        .collect();
    PoolAccess { preferred, denied }
}

impl Reconciler {
    /// A Namespaces watch event of `epoch`.
    pub fn on_namespaces(&mut self, epoch: u64, ev: WatchEvent<Projected<String, NamespaceLabels>>) {
        if epoch != self.epoch {
            return;
        }
        let done = matches!(ev, WatchEvent::InitDone);
        let changes = self.namespaces.handle(ev);
        if done
            && let Mode::Syncing {
                namespaces_listed, ..
            } = &mut self.mode
        {
            *namespaces_listed = true;
        }
        if self.serving() {
            for change in changes {
                self.reconcile_namespace(&change.key);
            }
        } else {
            self.maybe_serve();
        }
    }

    /// Reconciles every tracked Service of `namespace`.
    fn reconcile_namespace(&mut self, namespace: &str) {
        let keys: Vec<ServiceKey> = self
            .index
            .iter()
            .filter(|v| v.key.namespace == namespace)
            .map(|v| v.key.clone())
            .collect();
        for key in keys {
            self.reconcile(&key);
        }
    }

    /// What the pools in force say about `view`.
    pub(super) fn access_for(&self, view: &ServiceView) -> PoolAccess {
        let Some(config) = self.config.current() else {
            return PoolAccess::default();
        };
        if config.pools.iter().all(|p| p.service_allocation.is_none()) {
            return PoolAccess::default();
        }
        let empty = NamespaceLabels::new();
        let ns_labels = self.namespaces.get(&view.key.namespace).unwrap_or(&empty);
        pool_access(config, &view.key.namespace, ns_labels, &view.labels)
    }
}
