//! The in-memory index of the Services the controller tracks, fed by one writer (the owner task) from watch
//! events, fresh lists and the responses to its own status writes. Pure and synchronous.
//!
//! Invariants:
//! - Only *relevant* Services are kept ([`ServiceView::relevant`]): those ferrolb serves, and those whose
//!   status ferrolb wrote (until it is cleaned up). Others are dropped as they arrive.
//! - An entry never goes back in time: a view replaces the stored one only when its resourceVersion is newer.
//!   The controller's own write responses can run ahead of the watch, and a lagging watch event must not undo
//!   them. resourceVersions are compared as integers (what kube-apiserver and etcd produce); if either does not
//!   parse, any different version counts as newer.
//! - A relist (after a watch restart, e.g. on every leadership gain) marks every Service it lists and, at its
//!   end, drops the tracked Services it did not list (mark and sweep: no second copy of the index). A stored
//!   entry newer than the listed version stays.
//! - Views are boxed: the B-tree's nodes hold keys and pointers, not 400-byte views, so slack stays small.

use std::collections::BTreeMap;

use crate::allocator::ServiceKey;
use crate::service::ServiceView;

/// Whether resourceVersion `a` is newer than `b`.
pub fn rv_newer(a: &str, b: &str) -> bool {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x > y,
        _ => a != b,
    }
}

/// What [`Index::apply`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The view was stored (new or newer).
    Stored,
    /// The view was not newer than the stored one: nothing changed.
    Stale,
    /// The Service is no longer relevant: its entry was removed (the old view is returned).
    Removed(Box<ServiceView>),
    /// The Service is not relevant and was not tracked.
    Ignored,
}

/// A tracked Service and the relist that last saw it.
#[derive(Debug, Clone)]
struct Entry {
    view: Box<ServiceView>,
    seen: u64,
}

/// The Services the controller tracks.
#[derive(Debug, Clone, Default)]
pub struct Index {
    class: Option<String>,
    entries: BTreeMap<ServiceKey, Entry>,
    /// The current relist's number (odd while one is in progress).
    relist: u64,
}

impl Index {
    /// An empty index for a controller serving load-balancer class `class` (`None`: Services without one).
    pub fn new(class: Option<String>) -> Self {
        Self {
            class,
            ..Self::default()
        }
    }

    /// The class this index tracks.
    pub fn class(&self) -> Option<&str> {
        self.class.as_deref()
    }

    /// Applies a Service as seen by a watch event or a write response.
    pub fn apply(&mut self, view: Box<ServiceView>) -> Applied {
        let seen = self.relist;
        self.store(view, seen)
    }

    fn store(&mut self, view: Box<ServiceView>, seen: u64) -> Applied {
        if let Some(cur) = self.entries.get_mut(&view.key)
            && !rv_newer(&view.resource_version, &cur.view.resource_version)
        {
            cur.seen = cur.seen.max(seen);
            return Applied::Stale;
        }
        if !view.relevant(self.class.as_deref()) {
            return match self.entries.remove(&view.key) {
                Some(old) => Applied::Removed(old.view),
                None => Applied::Ignored,
            };
        }
        self.entries.insert(view.key.clone(), Entry { view, seen });
        Applied::Stored
    }

    /// Applies a deletion seen at resourceVersion `rv`; returns the removed view. A stored entry newer than
    /// the deletion (a recreated Service) stays.
    pub fn delete(&mut self, key: &ServiceKey, rv: &str) -> Option<Box<ServiceView>> {
        match self.entries.get(key) {
            Some(cur) if rv_newer(&cur.view.resource_version, rv) => None,
            Some(_) => self.entries.remove(key).map(|e| e.view),
            None => None,
        }
    }

    /// Starts a relist: Services given to [`Index::relist_apply`] are marked as listed.
    pub fn begin_relist(&mut self) {
        self.relist += if self.relisting() { 2 } else { 1 };
    }

    /// Whether a relist has completed at least once.
    pub fn listed(&self) -> bool {
        self.relist >= 2
    }

    /// Whether a relist is in progress.
    pub fn relisting(&self) -> bool {
        self.relist % 2 == 1
    }

    /// One Service of the relist.
    pub fn relist_apply(&mut self, view: Box<ServiceView>) {
        let seen = self.relist;
        self.store(view, seen);
    }

    /// Ends a relist: tracked Services it did not list are dropped and returned.
    pub fn end_relist(&mut self) -> Vec<Box<ServiceView>> {
        if !self.relisting() {
            return Vec::new();
        }
        let listed = self.relist;
        self.relist += 1;
        let gone: Vec<ServiceKey> = self
            .entries
            .iter()
            .filter(|(_, e)| e.seen < listed)
            .map(|(k, _)| k.clone())
            .collect();
        gone.iter()
            .filter_map(|k| self.entries.remove(k))
            .map(|e| e.view)
            .collect()
    }

    /// The view of a tracked Service.
    pub fn get(&self, key: &ServiceKey) -> Option<&ServiceView> {
        self.entries.get(key).map(|e| &*e.view)
    }

    /// Every tracked Service, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &ServiceView> {
        self.entries.values().map(|e| &*e.view)
    }

    /// How many Services are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no Service is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::fixtures::svc;

    #[test]
    fn resource_versions_compare_as_numbers() {
        assert!(rv_newer("10", "9"));
        assert!(!rv_newer("9", "10"));
        assert!(!rv_newer("9", "9"));
        assert!(rv_newer("abc", "9"));
        assert!(!rv_newer("abc", "abc"));
    }

    #[test]
    fn apply_never_goes_back_in_time() {
        let mut ix = Index::new(None);
        assert_eq!(ix.apply(svc("n", "a").rv(5).view()), Applied::Stored);
        assert_eq!(ix.apply(svc("n", "a").rv(4).view()), Applied::Stale);
        assert_eq!(ix.apply(svc("n", "a").rv(5).view()), Applied::Stale);
        assert_eq!(
            ix.apply(svc("n", "a").rv(6).ingress(&["192.0.2.1"]).view()),
            Applied::Stored
        );
        assert_eq!(
            ix.get(&ServiceKey::new("n", "a"))
                .map(|v| v.resource_version.as_str()),
            Some("6")
        );
        assert_eq!(ix.len(), 1);
    }

    #[test]
    fn irrelevant_services_are_not_kept() {
        let mut ix = Index::new(None);
        let cluster_ip = |rv| {
            svc("n", "a")
                .rv(rv)
                .spec(|s| s.type_ = Some("ClusterIP".into()))
                .view()
        };
        assert_eq!(ix.apply(cluster_ip(1)), Applied::Ignored);
        assert!(ix.is_empty());
        ix.apply(svc("n", "a").rv(2).view());
        assert!(matches!(ix.apply(cluster_ip(3)), Applied::Removed(old) if old.resource_version == "2"));
        assert!(ix.is_empty());
        let mut classy = Index::new(Some("x".into()));
        assert_eq!(classy.apply(svc("n", "a").view()), Applied::Ignored);
        let ours = svc("n", "a")
            .rv(2)
            .spec(|s| s.load_balancer_class = Some("x".into()))
            .view();
        assert_eq!(classy.apply(ours), Applied::Stored);
        assert_eq!(classy.class(), Some("x"));
    }

    #[test]
    fn deletes_respect_recreation() {
        let mut ix = Index::new(None);
        let key = ServiceKey::new("n", "a");
        ix.apply(svc("n", "a").rv(10).view());
        assert!(
            ix.delete(&key, "9").is_none(),
            "an older deletion leaves the newer incarnation"
        );
        assert!(ix.delete(&key, "11").is_some());
        assert!(ix.delete(&key, "12").is_none());
    }

    #[test]
    fn relist_sweeps_what_it_did_not_list_and_keeps_newer_entries() {
        let mut ix = Index::new(None);
        ix.apply(svc("n", "kept").rv(10).view());
        ix.apply(svc("n", "ahead").rv(20).view());
        ix.apply(svc("n", "gone").rv(5).view());
        ix.begin_relist();
        assert!(ix.relisting());
        ix.relist_apply(svc("n", "kept").rv(12).view());
        ix.relist_apply(svc("n", "ahead").rv(15).view());
        ix.relist_apply(svc("n", "new").rv(13).view());
        ix.relist_apply(
            svc("n", "plain")
                .rv(13)
                .spec(|s| s.type_ = Some("ClusterIP".into()))
                .view(),
        );
        // While relisting, Services not listed yet are still there.
        assert!(ix.get(&ServiceKey::new("n", "gone")).is_some());
        let gone = ix.end_relist();
        assert!(!ix.relisting());
        assert_eq!(
            gone.iter().map(|v| v.key.name.as_str()).collect::<Vec<_>>(),
            ["gone"]
        );
        let rv = |n: &str| {
            ix.get(&ServiceKey::new("n", n))
                .map(|v| v.resource_version.clone())
        };
        assert_eq!(rv("kept").as_deref(), Some("12"));
        assert_eq!(rv("ahead").as_deref(), Some("20"));
        assert_eq!(rv("new").as_deref(), Some("13"));
        assert_eq!(rv("plain"), None);
        assert_eq!(ix.iter().count(), 3);
    }
}
