//! The reconciler: one synchronous state machine owning the index, the config in force and the allocator.
//! Pure — no I/O, no clock of its own: the owner task (`crate::owner`) feeds it watch events, leadership
//! changes and write results, and carries out what it asks for (status writes, Events).
//!
//! ```text
//!  Services watch ─┐                         ┌─> next_write()  -> StatusPatch (only when the status differs)
//!  ConfigMap watch ┼─> Reconciler ───────────┼─> take_events() -> EventRecord
//!  leadership term ┤   index, config,        └─> ready(), metrics
//!  write results ──┘   allocator
//! ```
//!
//! Modes:
//! - **Standby** (not leading): the index and the config follow the watches (warm caches); no allocator, no
//!   writes, no Events.
//! - **Leading, syncing**: a new term starts a new *epoch*: the owner restarts both watches, so the index is
//!   rebuilt from a fresh list (the last leader's final writes included). Events of older epochs are ignored.
//! - **Serving**: once both lists are complete and a valid config is in force, the allocator is rebuilt from
//!   the Services' status, oldest Service first ([`crate::allocator::Allocator::rebuild`]): every valid existing
//!   assignment is registered before any pending Service is served; conflicting claims are cleared with a
//!   `ClearAssignment` Event. Then every Service is reconciled.
//!
//! Reconciling one Service: if it qualifies (type LoadBalancer, our class), `assign` (idempotent: a Service
//! keeps its IPs while they satisfy its request); a Service the allocator does not know yet first has the IPs
//! in its status restored as claims. If it does not qualify, its IPs are released and ferrolb's status entries
//! removed. The wanted status comes from [`crate::status::desired_status`]; a write is queued only when it
//! differs from the current one. IPs taken from a Service stay *quarantined* (held by a placeholder in the
//! allocator) until its status no longer shows them, so a write that lands late never makes two Services show
//! one IP.

mod per_service;
mod writes;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_config::Config;

use crate::allocator::{Allocator, ServiceKey};
use crate::config_map::{ConfigMapView, ConfigState, Outcome, invalid_message, pool_defs};
use crate::events::{EventRecord, Reason, Regarding};
use crate::index::{Applied, Index};
use crate::metrics::Metrics;
use crate::service::ServiceView;
use crate::status::StatusPatch;
use per_service::is_placeholder;

pub use writes::{MAX_BACKOFF, MIN_BACKOFF, Writes};

/// How long to wait before retrying a write refused because leadership lapsed (a new term resets anyway).
const NOT_LEADER_RETRY: Duration = Duration::from_secs(1);

/// A watch event, with the object already projected (kube-runtime's `watcher::Event`).
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent<T> {
    /// A (re)list starts.
    Init,
    /// One object of the list.
    InitApply(T),
    /// The list is complete.
    InitDone,
    /// An object was added or changed.
    Apply(T),
    /// An object was deleted (its last state).
    Delete(T),
}

/// A status write to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOp {
    /// The Service.
    pub key: ServiceKey,
    /// The patch (conditioned on `patch.resource_version`).
    pub patch: StatusPatch,
}

/// How a status write ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Written; the Service as the API server returned it.
    Written(Box<ServiceView>),
    /// 409: the Service changed since the version the patch was conditioned on.
    Conflict,
    /// 404: the Service is gone.
    NotFound,
    /// Not sent: this replica was not the leader at the moment of writing.
    NotLeader,
    /// Any other failure (retried with backoff).
    Failed(String),
}

impl WriteOutcome {
    /// A stable label for the writes counter.
    pub fn metric_label(&self) -> &'static str {
        match self {
            WriteOutcome::Written(_) => "ok",
            WriteOutcome::Conflict => "conflict",
            WriteOutcome::NotFound => "not_found",
            WriteOutcome::NotLeader => "not_leader",
            WriteOutcome::Failed(_) => "error",
        }
    }
}

/// Per-Service memory for Events, so that a condition is reported once, not on every reconcile.
#[derive(Debug, Default)]
struct Notes {
    /// The last allocation failure reported.
    failure: Option<String>,
    /// The deprecated keys last warned about.
    deprecated: Vec<String>,
    /// IPs cleared (ClearAssignment reported) that the status still shows: never restored again.
    cleared: Vec<IpAddr>,
}

/// The reconciler. See the module docs.
#[derive(Debug)]
pub struct Reconciler {
    index: Index,
    config: ConfigState,
    config_map: Option<ConfigMapView>,
    /// The ConfigMap resourceVersion whose errors were reported in this term.
    reported_invalid: Option<String>,
    /// The ConfigMap seen during a relist of it.
    config_relist: Option<Option<ConfigMapView>>,
    epoch: u64,
    synced_services: bool,
    synced_config: bool,
    ever_synced: bool,
    term: Option<u64>,
    serving: bool,
    alloc: Allocator,
    /// Qualifying Services without IPs.
    pending: BTreeSet<ServiceKey>,
    retry_pending: bool,
    pools_dirty: bool,
    writes: Writes,
    notes: HashMap<ServiceKey, Notes>,
    /// IPs taken from a Service (it moved, stopped qualifying, lost them to a config change) that its status
    /// still shows. Each is held in the allocator by a placeholder until the status no longer shows it, so no
    /// other Service is given it meanwhile: two Services never show one IP (unless they share it).
    quarantine: HashMap<ServiceKey, Vec<IpAddr>>,
    events: Vec<EventRecord>,
    metrics: Arc<Metrics>,
}

impl Reconciler {
    /// A standby reconciler for load-balancer class `class` (`None`: Services without a class).
    pub fn new(class: Option<String>, metrics: Arc<Metrics>) -> Self {
        Self {
            index: Index::new(class),
            config: ConfigState::default(),
            config_map: None,
            reported_invalid: None,
            config_relist: None,
            epoch: 0,
            synced_services: false,
            synced_config: false,
            ever_synced: false,
            term: None,
            serving: false,
            alloc: Allocator::default(),
            pending: BTreeSet::new(),
            retry_pending: false,
            pools_dirty: false,
            writes: Writes::default(),
            notes: HashMap::new(),
            quarantine: HashMap::new(),
            events: Vec::new(),
            metrics,
        }
    }

    /// The current epoch: watch events tagged with another one are ignored.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether this replica serves (leads, caches fresh, config in force).
    pub fn serving(&self) -> bool {
        self.serving
    }

    /// `/readyz`: a valid config is in force and both caches have synced at least once.
    pub fn ready(&self) -> bool {
        self.ever_synced && self.config.loaded()
    }

    /// The allocator (empty unless serving).
    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The config in force.
    pub fn config(&self) -> Option<&Arc<Config>> {
        self.config.current()
    }

    /// Leadership changed: `Some(term)` leading, `None` standing by. Returns the new epoch when the watches
    /// must be restarted (a fresh list for the new term).
    pub fn on_term(&mut self, term: Option<u64>) -> Option<u64> {
        if term == self.term {
            return None;
        }
        self.term = term;
        self.serving = false;
        self.alloc = Allocator::default();
        self.pending.clear();
        self.quarantine.clear();
        self.retry_pending = false;
        self.writes.reset();
        self.metrics.clear_pools();
        self.metrics.leader.set(i64::from(term.is_some()));
        let term = term?;
        tracing::info!(term, "leading: resynchronising from a fresh list");
        self.reported_invalid = None;
        self.epoch += 1;
        self.synced_services = false;
        self.synced_config = false;
        Some(self.epoch)
    }

    /// A Services watch event of `epoch`.
    pub fn on_services(&mut self, epoch: u64, ev: WatchEvent<Box<ServiceView>>) {
        if epoch != self.epoch {
            return;
        }
        match ev {
            WatchEvent::Init => self.index.begin_relist(),
            WatchEvent::InitApply(v) => self.index.relist_apply(v),
            WatchEvent::InitDone => {
                let gone = self.index.end_relist();
                self.synced_services = true;
                self.ever_synced |= self.synced_config;
                if self.serving {
                    for v in gone {
                        self.forget(&v.key);
                    }
                    self.reconcile_all();
                } else {
                    self.maybe_serve();
                }
            }
            WatchEvent::Apply(v) => {
                let key = v.key.clone();
                match self.index.apply(v) {
                    Applied::Stored => {
                        self.writes.clear_stale(&key);
                        if self.serving {
                            self.reconcile(&key);
                        }
                    }
                    Applied::Removed(_) => self.forget(&key),
                    Applied::Stale | Applied::Ignored => {}
                }
            }
            WatchEvent::Delete(v) => {
                if self.index.delete(&v.key, &v.resource_version).is_some() {
                    self.forget(&v.key);
                }
            }
        }
    }

    /// A ConfigMap watch event of `epoch`.
    pub fn on_config_map(&mut self, epoch: u64, ev: WatchEvent<ConfigMapView>) {
        if epoch != self.epoch {
            return;
        }
        match ev {
            WatchEvent::Init => self.config_relist = Some(None),
            WatchEvent::InitApply(cm) => self.config_relist = Some(Some(cm)),
            WatchEvent::InitDone => {
                self.synced_config = true;
                self.ever_synced |= self.synced_services;
                match self.config_relist.take().flatten() {
                    Some(cm) => self.apply_config_map(cm),
                    None => self.config_map_gone(),
                }
                self.maybe_serve();
            }
            WatchEvent::Apply(cm) => {
                self.apply_config_map(cm);
                self.maybe_serve();
            }
            WatchEvent::Delete(_) => self.config_map_gone(),
        }
    }

    fn apply_config_map(&mut self, cm: ConfigMapView) {
        match self.config.apply(&cm) {
            Outcome::Unchanged => {}
            Outcome::Switch(config) => {
                tracing::info!(configmap = %cm.name, rv = %cm.resource_version, pools = config.pools.len(),
                    "configuration loaded");
                if self.serving {
                    self.switch_pools(&config);
                }
            }
            Outcome::Invalid { errors } => {
                let message = invalid_message(&cm, &errors, &self.config);
                tracing::warn!(configmap = %cm.name, rv = %cm.resource_version, "{message}");
                if self.term.is_some() && self.reported_invalid.as_deref() != Some(&cm.resource_version) {
                    self.reported_invalid = Some(cm.resource_version.clone());
                    self.events.push(EventRecord {
                        regarding: Regarding {
                            kind: "ConfigMap",
                            namespace: cm.namespace.clone(),
                            name: cm.name.clone(),
                            uid: cm.uid.clone(),
                            resource_version: cm.resource_version.clone(),
                        },
                        reason: Reason::InvalidConfig,
                        message,
                    });
                }
            }
        }
        self.config_map = Some(cm);
        self.update_config_metrics();
    }

    fn config_map_gone(&mut self) {
        if self.config.loaded() {
            tracing::warn!("the ConfigMap is gone: the last valid configuration stays in force");
        } else {
            tracing::warn!("no ConfigMap: nothing is assigned until one is created");
        }
        self.config.deleted();
        self.config_map = None;
        self.update_config_metrics();
    }

    fn update_config_metrics(&self) {
        self.metrics.config_loaded.set(i64::from(self.config.loaded()));
        self.metrics.config_stale.set(i64::from(self.config.stale()));
    }

    fn maybe_serve(&mut self) {
        if self.term.is_none() || self.serving || !self.synced_services || !self.synced_config {
            return;
        }
        let Some(config) = self.config.current().cloned() else {
            return;
        };
        // Every Service with IPs in its status, oldest first: the one that has held an IP longest keeps it.
        let mut existing: Vec<&ServiceView> = self
            .index
            .iter()
            .filter(|v| v.qualifies(self.index.class()) && !v.ingress_ips().is_empty())
            .collect();
        existing.sort_by(|a, b| (a.created, &a.key).cmp(&(b.created, &b.key)));
        let claims: Vec<_> = existing
            .iter()
            .map(|v| (v.restore_request(), v.ingress_ips()))
            .collect();
        let (alloc, revocations) = match Allocator::rebuild(&pool_defs(&config), claims) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the configuration's pools were refused by the allocator");
                return;
            }
        };
        tracing::info!(
            services = self.index.len(),
            restored = alloc.len(),
            conflicts = revocations.len(),
            "allocator rebuilt; serving"
        );
        self.alloc = alloc;
        self.serving = true;
        self.pools_dirty = true;
        for r in revocations {
            self.cleared(r);
        }
        // Services that stopped qualifying while no leader watched still show our IPs: hold them until cleaned.
        let leftovers: Vec<(ServiceKey, Vec<IpAddr>)> = self
            .index
            .iter()
            .filter(|v| !v.qualifies(self.index.class()))
            .map(|v| (v.key.clone(), v.ingress_ips()))
            .collect();
        for (key, ips) in leftovers {
            self.quarantine(&key, &ips, &ips, false);
        }
        self.reconcile_all();
    }

    fn switch_pools(&mut self, config: &Config) {
        match self.alloc.set_pools(&pool_defs(config)) {
            Ok(revocations) => {
                for r in revocations {
                    self.cleared(r);
                }
                self.pools_dirty = true;
                self.reconcile_all();
            }
            Err(e) => tracing::error!(error = %e, "the configuration's pools were refused by the allocator"),
        }
    }

    /// Reconciles every tracked Service: those holding IPs first, then the others oldest first.
    fn reconcile_all(&mut self) {
        let gone: Vec<ServiceKey> = self
            .alloc
            .assignments()
            .map(|(k, _)| k.clone())
            .filter(|k| !is_placeholder(k) && self.index.get(k).is_none())
            .collect();
        for k in gone {
            self.forget(&k);
        }
        let mut keys: Vec<(bool, Option<_>, ServiceKey)> = self
            .index
            .iter()
            .map(|v| (self.alloc.assignment(&v.key).is_none(), v.created, v.key.clone()))
            .collect();
        keys.sort();
        for (_, _, key) in keys {
            self.reconcile(&key);
        }
    }

    /// The Service left the index (deleted, or neither ours nor carrying our status).
    fn forget(&mut self, key: &ServiceKey) {
        if self.alloc.unassign(key).is_some() {
            self.retry_pending = true;
            self.pools_dirty = true;
        }
        self.release_quarantine(key, &[]);
        self.pending.remove(key);
        self.notes.remove(key);
        self.writes.forget(key);
    }

    /// The next status write to send, if any (call until `None`, within the owner's limit of writes in flight).
    pub fn next_write(&mut self) -> Option<WriteOp> {
        if !self.serving {
            return None;
        }
        while let Some(key) = self.writes.pop() {
            if self.writes.in_flight(&key) {
                continue;
            }
            let Some(patch) = self.patch_for(&key) else {
                continue;
            };
            if self.writes.is_stale(&key, &patch.resource_version) {
                continue;
            }
            self.writes.started(&key, &patch.resource_version);
            return Some(WriteOp { key, patch });
        }
        None
    }

    /// How many writes are in flight.
    pub fn writes_in_flight(&self) -> usize {
        self.writes.in_flight_count()
    }

    /// A status write completed at `now`.
    pub fn on_write_done(&mut self, key: &ServiceKey, outcome: WriteOutcome, now: Instant) {
        let sent_rv = self.writes.finished(key);
        self.metrics.status_write(outcome.metric_label());
        match outcome {
            WriteOutcome::Written(view) => {
                self.writes.succeeded(key);
                match self.index.apply(view) {
                    Applied::Removed(_) => self.forget(key),
                    Applied::Stored => self.writes.clear_stale(key),
                    Applied::Stale | Applied::Ignored => {}
                }
                self.reconcile(key);
            }
            WriteOutcome::Conflict => {
                if let Some(rv) = sent_rv {
                    self.writes.mark_stale(key, rv);
                }
                // The watch brings the newer version; if it already did, the write is queued again now.
                self.request_write(key);
            }
            WriteOutcome::NotFound => {}
            WriteOutcome::NotLeader => {
                if self.serving {
                    self.writes.retry_at(key, now + NOT_LEADER_RETRY);
                }
            }
            WriteOutcome::Failed(error) => {
                if self.serving {
                    let delay = self.writes.failed(key, now);
                    tracing::warn!(service = %key, %error, ?delay, "status write failed; retrying");
                }
            }
        }
    }

    /// When [`Reconciler::on_tick`] should next be called.
    pub fn next_tick(&self) -> Option<Instant> {
        self.writes.next_due()
    }

    /// Retries whose time has come.
    pub fn on_tick(&mut self, now: Instant) {
        for key in self.writes.due(now) {
            self.request_write(&key);
        }
    }

    /// Periodic safety net: reconcile everything (no write unless something differs).
    pub fn resync(&mut self) {
        if self.serving {
            self.reconcile_all();
        }
    }

    /// Finishes a batch of inputs: serves pending Services again if addresses were freed, refreshes the pool
    /// gauges. Call after every batch.
    pub fn flush(&mut self) {
        // A pass can free addresses again (a Service moving); a few passes settle it.
        for _ in 0..3 {
            if !std::mem::take(&mut self.retry_pending) || !self.serving {
                break;
            }
            let mut keys: Vec<(Option<_>, ServiceKey)> = self
                .pending
                .iter()
                .map(|k| (self.index.get(k).and_then(|v| v.created), k.clone()))
                .collect();
            keys.sort();
            for (_, key) in keys {
                self.reconcile(&key);
            }
        }
        if std::mem::take(&mut self.pools_dirty) && self.serving {
            self.metrics.set_pools(self.alloc.all_pool_stats());
        }
    }

    /// The Events decided since the last call.
    pub fn take_events(&mut self) -> Vec<EventRecord> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests;
