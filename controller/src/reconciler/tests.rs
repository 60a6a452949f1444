//! The reconciler driven by hand: watch events in, writes and Events out, no runtime and no API server.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use ferrolb_config::ConfigMapSource;
use ferrolb_config::annotations::IP_ALLOCATED_FROM_POOL;
use ferrolb_k8s::Reason as _;
use ferrolb_k8s::config::{ConfigEvent, ConfigNames, Kept, empty_resource_lists, project_config_map};
use ferrolb_k8s::watch::Projected;

use super::*;
use crate::events::Reason;
use crate::service::fixtures::{Svc, svc};

const POOLS: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/30]\n\
                     - name: manual\n  protocol: layer2\n  auto-assign: false\n  addresses: [198.51.100.0/30]\n";

/// The ConfigMap at resourceVersion `rv`, as the configuration watch delivers it.
fn cm(rv: u64, text: &str) -> Projected<String, Kept<ConfigMapSource>> {
    let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "config", "namespace": "ferrolb-system", "uid": "cm-uid",
                     "resourceVersion": rv.to_string()},
        "data": {"config": text},
    }))
    .expect("ConfigMap");
    project_config_map(cm, &ConfigNames::default())
}

/// The Secrets and every metallb.io kind listed, empty.
fn resources_listed_empty(r: &mut Reconciler, epoch: u64) {
    for ev in empty_resource_lists() {
        r.on_config(epoch, ev);
    }
}

fn config(ev: WatchEvent<Projected<String, Kept<ConfigMapSource>>>) -> ConfigEvent {
    ConfigEvent::ConfigMap(ev)
}

/// Namespace `name` labelled `labels`, as the Namespaces watch delivers it.
fn namespace(name: &str, labels: &[(&str, &str)]) -> Projected<String, NamespaceLabels> {
    let labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name.to_owned(), Some(labels))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// A reconciler, a fake API server's view of the Services, and a resourceVersion counter.
struct Harness {
    r: Reconciler,
    rv: u64,
}

impl Harness {
    /// Leading, with `services` listed and the config `text`.
    fn serving(text: &str, services: Vec<Svc>) -> Self {
        let mut h = Self {
            r: Reconciler::new(None, Arc::new(Metrics::default())),
            rv: 1000,
        };
        let epoch = h.r.on_term(Some(1)).expect("new epoch");
        h.r.on_services(epoch, WatchEvent::Init);
        for s in services {
            h.r.on_services(epoch, WatchEvent::InitApply(s.view()));
        }
        h.r.on_services(epoch, WatchEvent::InitDone);
        h.r.on_namespaces(epoch, WatchEvent::Init);
        h.r.on_namespaces(epoch, WatchEvent::InitApply(namespace("ns", &[])));
        h.r.on_namespaces(epoch, WatchEvent::InitDone);
        assert!(!h.r.serving(), "not before the config is listed");
        resources_listed_empty(&mut h.r, epoch);
        h.r.on_config(epoch, config(WatchEvent::Init));
        h.r.on_config(epoch, config(WatchEvent::InitApply(cm(1, text))));
        h.r.on_config(epoch, config(WatchEvent::InitDone));
        h.r.flush();
        assert!(h.r.serving() && h.r.ready());
        h
    }

    /// A spec or metadata change: like the API server, the status stays what it was (unless `s` sets one).
    fn apply(&mut self, s: Svc) {
        self.rv += 1;
        let mut view = s.rv(self.rv).view();
        if let Some(cur) = self.r.index().get(&view.key)
            && view.ingress.is_empty()
            && view.allocated_from_pool.is_none()
        {
            view.ingress = cur.ingress.clone();
            view.allocated_from_pool = cur.allocated_from_pool.clone();
        }
        let e = self.r.epoch();
        self.r.on_services(e, WatchEvent::Apply(view));
        self.r.flush();
    }

    /// Carries out every queued write as a faithful API server would; returns the written patches.
    fn write_all(&mut self) -> Vec<WriteOp> {
        let mut done = Vec::new();
        while let Some(op) = self.r.next_write() {
            let current = self.r.index().get(&op.key).cloned().expect("tracked");
            assert_eq!(op.patch.resource_version, current.resource_version);
            self.rv += 1;
            let mut view = current;
            view.resource_version = self.rv.to_string();
            view.ingress = op.patch.ingress.clone();
            view.allocated_from_pool = op.patch.pool.clone();
            self.r
                .on_write_done(&op.key, WriteOutcome::Written(Box::new(view)), Instant::now());
            self.r.flush();
            done.push(op);
        }
        done
    }

    fn ips(&self, name: &str) -> Vec<IpAddr> {
        self.r
            .index()
            .get(&ServiceKey::new("ns", name))
            .map(|v| v.ingress_ips())
            .unwrap_or_default()
    }

    fn reasons(&mut self) -> Vec<(String, &'static str)> {
        self.r
            .take_events()
            .into_iter()
            .map(|e| (e.regarding.name, e.reason.as_str()))
            .collect()
    }
}

#[test]
fn standby_keeps_caches_but_never_writes() {
    let mut r = Reconciler::new(None, Arc::new(Metrics::default()));
    r.on_services(0, WatchEvent::Init);
    r.on_services(0, WatchEvent::InitApply(svc("ns", "a").view()));
    r.on_services(0, WatchEvent::InitDone);
    resources_listed_empty(&mut r, 0);
    r.on_config(0, config(WatchEvent::Init));
    r.on_config(0, config(WatchEvent::InitApply(cm(1, POOLS))));
    r.on_config(0, config(WatchEvent::InitDone));
    r.flush();
    assert!(r.ready(), "a standby is ready: config loaded, caches synced");
    assert!(!r.serving());
    assert_eq!(r.index().len(), 1);
    assert_eq!(r.next_write(), None);
    assert!(r.take_events().is_empty());
    // Becoming leader starts a new epoch; events of the old one are ignored.
    assert_eq!(r.on_term(Some(7)), Some(1));
    assert_eq!(r.on_term(Some(7)), None);
    r.on_services(0, WatchEvent::Apply(svc("ns", "b").view()));
    assert_eq!(r.index().len(), 1, "epoch 0 is over");
}

#[test]
fn assign_write_once_then_steady() {
    let mut h = Harness::serving(POOLS, vec![]);
    h.apply(svc("ns", "a"));
    let ops = h.write_all();
    assert_eq!(ops.len(), 1);
    assert_eq!(h.ips("a"), [ip("192.0.2.0")]);
    assert_eq!(h.reasons(), [("a".to_string(), "IPAllocated")]);
    // The watch then delivers our own write (same resourceVersion): nothing to do.
    let echo =
        h.r.index()
            .get(&ServiceKey::new("ns", "a"))
            .cloned()
            .expect("tracked");
    let e = h.r.epoch();
    h.r.on_services(e, WatchEvent::Apply(Box::new(echo)));
    h.r.resync();
    h.r.flush();
    assert!(h.write_all().is_empty(), "steady state: zero writes");
    assert!(h.r.take_events().is_empty());
}

#[test]
fn restart_restores_claims_and_clears_conflicts_oldest_first() {
    let old = svc("ns", "old")
        .created(10)
        .ingress(&["192.0.2.1"])
        .annotation(IP_ALLOCATED_FROM_POOL, "default");
    let young = svc("ns", "young")
        .created(20)
        .ingress(&["192.0.2.1"])
        .annotation(IP_ALLOCATED_FROM_POOL, "default");
    let fine = svc("ns", "fine")
        .created(30)
        .ingress(&["192.0.2.2"])
        .annotation(IP_ALLOCATED_FROM_POOL, "default");
    let pending = svc("ns", "pending").created(5);
    let mut h = Harness::serving(POOLS, vec![young, fine, old, pending]);
    let mut events = h.reasons();
    events.sort();
    assert_eq!(
        events,
        [
            ("pending".to_string(), "IPAllocated"),
            ("young".to_string(), "ClearAssignment"),
            ("young".to_string(), "IPAllocated"),
        ]
    );
    let ops = h.write_all();
    let mut written: Vec<&str> = ops.iter().map(|o| o.key.name.as_str()).collect();
    written.sort();
    assert_eq!(
        written,
        ["pending", "young"],
        "Services keeping their IPs are not written"
    );
    assert_eq!(h.ips("old"), [ip("192.0.2.1")]);
    assert_eq!(h.ips("fine"), [ip("192.0.2.2")]);
    // The pending Service is older than `young` but claimed IPs are never handed out: it gets .0 or .3.
    let p = h.ips("pending");
    let y = h.ips("young");
    assert!(p != y && !p.is_empty() && !y.is_empty());
    for got in [&p, &y] {
        assert!(got[0] == ip("192.0.2.0") || got[0] == ip("192.0.2.3"), "{got:?}");
    }
}

#[test]
fn invalid_config_keeps_the_last_good_one_and_is_reported_once() {
    let mut h = Harness::serving(POOLS, vec![svc("ns", "a")]);
    h.write_all();
    h.reasons();
    let e = h.r.epoch();
    let bad = "address-pools:\n- name: default\n  protocol: layer9\n  addresses: [192.0.2.0/33]\n";
    h.r.on_config(e, config(WatchEvent::Apply(cm(2, bad))));
    h.r.on_config(e, config(WatchEvent::Apply(cm(2, bad))));
    h.r.flush();
    let events = h.r.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, Reason::InvalidConfig);
    assert_eq!(events[0].regarding.kind, "ConfigMap");
    assert!(
        events[0].note.contains("layer9") && events[0].note.contains("/33"),
        "{}",
        events[0].note
    );
    assert!(h.write_all().is_empty(), "nothing withdrawn");
    // New Services are still served from the last good config.
    h.apply(svc("ns", "b"));
    h.write_all();
    assert_eq!(h.ips("b"), [ip("192.0.2.1")]);
}

#[test]
fn a_deleted_config_keeps_the_last_good_one_and_says_so() {
    let mut h = Harness::serving(POOLS, vec![svc("ns", "a")]);
    h.write_all();
    h.reasons();
    let e = h.r.epoch();
    h.r.on_config(e, config(WatchEvent::Delete(cm(2, POOLS))));
    h.r.flush();
    let events = h.r.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, Reason::ConfigDeleted);
    assert!(events[0].reason.is_warning());
    assert_eq!(
        (
            events[0].regarding.kind.as_str(),
            events[0].regarding.name.as_str()
        ),
        ("ConfigMap", "config")
    );
    assert!(
        events[0]
            .note
            .contains("the last valid configuration stays in force"),
        "{}",
        events[0].note
    );
    assert!(h.r.config_state().stale());
    assert_eq!(h.r.metrics.config_stale.get(), 1);
    assert_eq!(h.r.metrics.config_loaded.get(), 1);
    assert!(h.write_all().is_empty(), "nothing withdrawn");
    assert_eq!(h.ips("a"), [ip("192.0.2.0")]);
    h.apply(svc("ns", "b"));
    h.write_all();
    assert_eq!(
        h.ips("b"),
        [ip("192.0.2.1")],
        "still served from the last good config"
    );
    // A new leader reports it again, once.
    h.r.on_term(None);
    let e = h.r.on_term(Some(2)).expect("new epoch");
    resources_listed_empty(&mut h.r, e);
    h.r.on_config(e, config(WatchEvent::Init));
    h.r.on_config(e, config(WatchEvent::InitDone));
    h.r.on_config(e, config(WatchEvent::Init));
    h.r.on_config(e, config(WatchEvent::InitDone));
    let again = h.r.take_events();
    assert_eq!(
        again.iter().filter(|e| e.reason == Reason::ConfigDeleted).count(),
        1,
        "{again:?}"
    );
    // The ConfigMap comes back: no longer stale.
    h.r.on_config(e, config(WatchEvent::Apply(cm(3, POOLS))));
    assert!(!h.r.config_state().stale());
    assert_eq!(h.r.metrics.config_stale.get(), 0);
}

#[test]
fn shrinking_a_pool_moves_only_the_affected_services() {
    let mut h = Harness::serving(POOLS, vec![]);
    for n in ["a", "b", "c"] {
        h.apply(svc("ns", n));
        h.write_all();
    }
    h.reasons();
    assert_eq!(h.ips("c"), [ip("192.0.2.2")]);
    let shrunk = POOLS.replace("192.0.2.0/30", "192.0.2.0-192.0.2.1");
    let e = h.r.epoch();
    h.r.on_config(e, config(WatchEvent::Apply(cm(3, &shrunk))));
    h.r.flush();
    let ops = h.write_all();
    assert_eq!(ops.iter().map(|o| o.key.name.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(h.ips("a"), [ip("192.0.2.0")]);
    assert_eq!(h.ips("b"), [ip("192.0.2.1")]);
    assert!(h.ips("c").is_empty(), "pending: the pool is full");
    assert_eq!(h.r.metrics.services_pending.get(), 1, "c waits for an address");
    let mut reasons = h.reasons();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            ("c".to_string(), "AllocationFailed"),
            ("c".to_string(), "ClearAssignment")
        ]
    );
    // Deleting a Service frees its address for the pending one.
    let e = h.r.epoch();
    let a =
        h.r.index()
            .get(&ServiceKey::new("ns", "a"))
            .cloned()
            .expect("tracked");
    h.r.on_services(e, WatchEvent::Delete(Box::new(a)));
    h.r.flush();
    h.write_all();
    assert_eq!(h.ips("c"), [ip("192.0.2.0")]);
    assert_eq!(h.r.metrics.services_pending.get(), 0);
}

#[test]
fn a_service_that_stops_qualifying_is_released_and_cleaned() {
    let mut h = Harness::serving(POOLS, vec![]);
    h.apply(svc("ns", "a"));
    h.apply(svc("ns", "b").annotation("ferrolb.io/loadBalancerIPs", "192.0.2.0"));
    h.write_all();
    assert!(h.ips("b").is_empty(), "b wants a's address");
    h.reasons();
    // `a` changes type: its address is released, its status cleaned, and `b` gets it.
    h.apply(svc("ns", "a").spec(|s| s.type_ = Some("ClusterIP".into())));
    let ops = h.write_all();
    let mut written: Vec<&str> = ops.iter().map(|o| o.key.name.as_str()).collect();
    written.sort();
    assert_eq!(written, ["a", "b"]);
    assert_eq!(h.ips("b"), [ip("192.0.2.0")]);
    assert!(
        h.r.index().get(&ServiceKey::new("ns", "a")).is_none(),
        "cleaned up and no longer tracked"
    );
    assert_eq!(h.r.allocator().len(), 1);
}

#[test]
fn a_conflict_waits_for_the_newer_version() {
    let mut h = Harness::serving(POOLS, vec![]);
    h.apply(svc("ns", "a"));
    let op = h.r.next_write().expect("a write");
    h.r.on_write_done(&op.key, WriteOutcome::Conflict, Instant::now());
    h.r.flush();
    assert_eq!(h.r.next_write(), None, "no retry on the version that conflicted");
    // The watch brings the newer version (someone edited a label): the write goes again.
    h.apply(svc("ns", "a"));
    let op2 = h.r.next_write().expect("a write");
    assert_ne!(op2.patch.resource_version, op.patch.resource_version);
}

#[test]
fn failed_and_refused_writes_are_retried_later() {
    let mut h = Harness::serving(POOLS, vec![]);
    h.apply(svc("ns", "a"));
    let t0 = Instant::now();
    let op = h.r.next_write().expect("a write");
    h.r.on_write_done(
        &op.key,
        WriteOutcome::Failed(ferrolb_k8s::WriteError::Client("boom".into())),
        t0,
    );
    assert_eq!(h.r.next_write(), None);
    assert_eq!(h.r.next_tick(), Some(t0 + MIN_BACKOFF));
    h.r.on_tick(t0 + MIN_BACKOFF);
    let op = h.r.next_write().expect("retried");
    h.r.on_write_done(&op.key, WriteOutcome::NotLeader, t0);
    assert!(h.r.next_tick().is_some());
    // Losing leadership forgets it all.
    h.r.on_term(None);
    h.r.on_tick(t0 + MAX_BACKOFF);
    assert_eq!(h.r.next_write(), None);
    assert!(!h.r.serving());
}

#[test]
fn failures_and_deprecated_keys_are_reported_once() {
    let mut h = Harness::serving(POOLS, vec![]);
    let pinned = || svc("ns", "a").annotation("metallb.universe.tf/address-pool", "nope");
    h.apply(pinned());
    h.apply(pinned());
    h.r.resync();
    h.r.flush();
    let events = h.r.take_events();
    let reasons: Vec<&str> = events.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["DeprecatedAnnotation", "AllocationFailed"]);
    assert!(
        events[0].note.contains("ferrolb.io/address-pool"),
        "{}",
        events[0].note
    );
    assert!(
        events[1].note.contains("\"nope\" does not exist"),
        "{}",
        events[1].note
    );
    assert!(h.write_all().is_empty(), "pending, nothing to write");
    // Pinned to the manual pool: allowed even though it is not auto-assign.
    h.apply(svc("ns", "a").annotation("metallb.universe.tf/address-pool", "manual"));
    h.write_all();
    assert_eq!(h.ips("a"), [ip("198.51.100.0")]);
    // A broken annotation afterwards keeps the working IP.
    h.apply(svc("ns", "a").annotation("ferrolb.io/loadBalancerIPs", "not-an-ip"));
    assert!(h.write_all().is_empty());
    assert_eq!(h.ips("a"), [ip("198.51.100.0")]);
    let events = h.r.take_events();
    assert!(
        events.iter().any(|e| e.note.contains("keeping 198.51.100.0")),
        "{events:?}"
    );
}

/// An IPAddressPool as its watch delivers it.
fn pool_resource(name: &str, addresses: &str, allocation: serde_json::Value) -> ConfigEvent {
    use ferrolb_k8s::config::{RESOURCE_KINDS, project_resource};
    let mut spec = serde_json::json!({"addresses": [addresses]});
    if !allocation.is_null() {
        spec["serviceAllocation"] = allocation;
    }
    let obj = serde_json::from_value(serde_json::json!({
        "apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": "ferrolb-system", "uid": name, "resourceVersion": "5"},
        "spec": spec,
    }))
    .expect("IPAddressPool");
    ConfigEvent::Resource(0, WatchEvent::Apply(project_resource(obj, &RESOURCE_KINDS[0])))
}

#[test]
fn service_allocation_follows_namespace_and_service_labels() {
    let mut h = Harness::serving("", vec![]);
    let e = h.r.epoch();
    for ev in [
        pool_resource("open", "192.0.2.0/30", serde_json::Value::Null),
        pool_resource(
            "team",
            "198.51.100.0/30",
            serde_json::json!({"priority": 10, "namespaceSelectors": [{"matchLabels": {"team": "a"}}]}),
        ),
        pool_resource(
            "gold",
            "203.0.113.0/30",
            serde_json::json!({"priority": 5, "serviceSelectors": [{"matchLabels": {"tier": "gold"}}]}),
        ),
    ] {
        h.r.on_config(e, ev);
    }
    h.r.flush();
    assert_eq!(
        h.r.config().map(|c| c.pools.len()),
        Some(3),
        "{:?}",
        h.r.config_state().errors()
    );
    h.apply(svc("ns", "plain"));
    h.apply(svc("ns", "golden").label("tier", "gold"));
    h.write_all();
    assert_eq!(
        h.ips("plain"),
        [ip("192.0.2.0")],
        "team admits only namespaces labelled team=a"
    );
    assert_eq!(
        h.ips("golden"),
        [ip("203.0.113.0")],
        "an admitting pool comes before open ones"
    );
    // Pinned to a pool that does not admit it: refused, said why.
    h.apply(svc("ns", "pinned").annotation("metallb.universe.tf/address-pool", "team"));
    h.write_all();
    assert!(h.ips("pinned").is_empty());
    let events = h.r.take_events();
    let failed = events
        .iter()
        .find(|ev| ev.regarding.name == "pinned" && ev.reason == Reason::AllocationFailed)
        .expect("AllocationFailed");
    assert!(
        failed.note.contains("address pool \"team\" does not admit"),
        "{}",
        failed.note
    );
    // The namespace gains the label: pending and new Services use the team pool, the others keep theirs.
    h.r.on_namespaces(e, WatchEvent::Apply(namespace("ns", &[("team", "a")])));
    h.r.flush();
    h.apply(svc("ns", "later"));
    h.write_all();
    assert_eq!(h.ips("pinned"), [ip("198.51.100.0")]);
    assert_eq!(
        h.ips("later"),
        [ip("198.51.100.1")],
        "priority 10 before the open pool"
    );
    assert_eq!(
        h.ips("plain"),
        [ip("192.0.2.0")],
        "an admitted Service is not moved"
    );
    assert_eq!(h.ips("golden"), [ip("203.0.113.0")], "priority 5 before 10");
    // The label goes: the team pool no longer admits them; the unpinned one moves, the pinned one keeps its
    // address (nothing else admits it) and is told why.
    h.r.take_events();
    h.r.on_namespaces(e, WatchEvent::Apply(namespace("ns", &[])));
    h.r.flush();
    h.write_all();
    assert_eq!(h.ips("later"), [ip("192.0.2.1")]);
    assert_eq!(h.ips("pinned"), [ip("198.51.100.0")]);
    let reasons = h.reasons();
    assert!(
        reasons.contains(&("pinned".to_owned(), "AllocationFailed")),
        "{reasons:?}"
    );
    // The IPAddressPools' status: their usage (the ConfigMap's pools have no object to write it to).
    let usage = h.r.pool_usage().expect("serving");
    assert_eq!(usage.keys().collect::<Vec<_>>(), ["gold", "open", "team"]);
    assert_eq!(
        usage["open"],
        serde_json::json!({"assignedIPv4": 2, "availableIPv4": 2, "assignedIPv6": 0, "availableIPv6": 0})
    );
    assert_eq!(usage["team"]["assignedIPv4"], 1);
    let version = h.r.pool_usage_version();
    h.apply(svc("ns", "one-more"));
    assert!(
        h.r.pool_usage_version() > version,
        "an assignment changes the usage"
    );
    h.r.on_term(None);
    assert_eq!(h.r.pool_usage(), None, "a standby knows no usage");
}
