//! The reconciler: one synchronous state machine owning the index, the config in force and the allocator.
//! Pure — no I/O, no clock of its own: the owner task (`crate::owner`) feeds it watch events, leadership
//! changes and write results, and carries out what it asks for (status writes, Events).
//!
//! ```text
//!  Services watch ──┐                         ┌─> next_write()  -> StatusPatch (only when the status differs)
//!  config watches ──┼─> Reconciler ───────────┼─> take_events() -> EventRecord
//!  leadership term ─┤   index, config state,  └─> ready(), metrics
//!  write results ───┘   allocator
//! ```
//!
//! The configuration comes from [`ferrolb_config::ConfigState`], fed by the shared configuration caches
//! ([`ferrolb_k8s::config::ConfigSources`]): the same rule as the speaker's for an invalid or deleted
//! configuration (the last valid one stays in force, nothing is withdrawn; a Warning Event while leading).
//!
//! Modes ([`Mode`]):
//! - **Standby** (not leading): the index and the config follow the watches (warm caches); no allocator, no
//!   writes, no Events.
//! - **Syncing** (leading): a new term starts a new *epoch*: the owner restarts the watches, so the index is
//!   rebuilt from a fresh list (the last leader's final writes included). Events of older epochs are ignored.
//! - **Serving** (leading): once both lists are complete and a valid config is in force, the allocator is rebuilt from
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

mod config;
mod namespaces;
mod per_service;
mod writes;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_config::{Config, ConfigState};
use ferrolb_k8s::Cache;
use ferrolb_k8s::config::ConfigSources;

use crate::allocator::{Allocator, ServiceKey};
use crate::events::EventRecord;
use crate::index::{Applied, Index};
use crate::metrics::Metrics;
use crate::service::ServiceView;
use crate::status::StatusPatch;
use per_service::is_placeholder;

pub use config::pool_defs;
pub use namespaces::{NamespaceLabels, pool_access, project_namespace};
pub use writes::{MAX_BACKOFF, MIN_BACKOFF, Writes};

/// How long to wait before retrying a write refused because leadership lapsed (a new term resets anyway).
const NOT_LEADER_RETRY: Duration = Duration::from_secs(1);

pub use ferrolb_k8s::WatchEvent;

/// A status write to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOp {
    /// The Service.
    pub key: ServiceKey,
    /// The patch (conditioned on `patch.resource_version`).
    pub patch: StatusPatch,
}

/// How a status write ended (the shared writer's outcome, the Service projected).
pub type WriteOutcome = ferrolb_k8s::WriteOutcome<ServiceView>;

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

/// What the controller waits for before it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The first lists of the Services and of the configuration objects.
    FirstLists,
    /// A valid configuration (the state's summary says why there is none).
    Config(String),
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::FirstLists => f.write_str("the first lists of Services and configuration"),
            Waiting::Config(summary) => write!(f, "a valid configuration ({summary})"),
        }
    }
}

/// Where the reconciler stands with respect to leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Not leading: caches warm, nothing written.
    Standby,
    /// Leading term `term`, waiting for this epoch's lists (and a valid config).
    Syncing {
        /// The leadership term.
        term: u64,
        /// The Services list of this epoch is complete.
        services_listed: bool,
        /// The configuration lists of this epoch are complete.
        config_listed: bool,
        /// The Namespaces list of this epoch is complete (their labels decide pools' `serviceAllocation`).
        namespaces_listed: bool,
    },
    /// Leading term `term` and serving: the allocator is built, Services are reconciled.
    Serving {
        /// The leadership term.
        term: u64,
    },
}

impl Mode {
    /// The term this replica leads, if any.
    pub fn term(self) -> Option<u64> {
        match self {
            Mode::Standby => None,
            Mode::Syncing { term, .. } | Mode::Serving { term } => Some(term),
        }
    }
}

/// The reconciler. See the module docs.
#[derive(Debug)]
pub struct Reconciler {
    index: Index,
    sources: ConfigSources,
    config: ConfigState,
    /// Namespaces' labels.
    namespaces: Cache<String, NamespaceLabels>,
    /// Whether the configuration's current problem was reported in this term.
    reported_config: bool,
    epoch: u64,
    mode: Mode,
    /// Both the Services and the configuration have been listed once (readiness).
    ever_synced: bool,
    alloc: Allocator,
    /// Qualifying Services without IPs.
    pending: BTreeSet<ServiceKey>,
    retry_pending: bool,
    pools_dirty: bool,
    /// Bumped when the pools' usage was recomputed.
    pool_usage_version: u64,
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
            sources: ConfigSources::default(),
            config: ConfigState::default(),
            namespaces: Cache::default(),
            reported_config: false,
            epoch: 0,
            mode: Mode::Standby,
            ever_synced: false,
            alloc: Allocator::default(),
            pending: BTreeSet::new(),
            retry_pending: false,
            pools_dirty: false,
            pool_usage_version: 0,
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
        matches!(self.mode, Mode::Serving { .. })
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// `/readyz`: a valid config is in force and both caches have synced at least once.
    pub fn ready(&self) -> bool {
        self.ever_synced && self.config.loaded()
    }

    /// What `/readyz` waits for (empty when ready).
    pub fn waiting_for(&self) -> Vec<Waiting> {
        let mut w = Vec::new();
        if !self.ever_synced {
            w.push(Waiting::FirstLists);
        }
        if !self.config.loaded() {
            w.push(Waiting::Config(self.config.summary()));
        }
        w
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

    /// Whether the configuration objects have been listed (the configuration's state means something).
    pub fn config_listed(&self) -> bool {
        self.sources.synced()
    }

    /// The configuration's state (in force, stale, errors).
    pub fn config_state(&self) -> &ConfigState {
        &self.config
    }

    /// Leadership changed: `Some(term)` leading, `None` standing by. Returns the new epoch when the watches
    /// must be restarted (a fresh list for the new term).
    pub fn on_term(&mut self, term: Option<u64>) -> Option<u64> {
        if term == self.mode.term() {
            return None;
        }
        self.mode = Mode::Standby;
        self.alloc = Allocator::default();
        self.pending.clear();
        self.quarantine.clear();
        self.retry_pending = false;
        self.writes.reset();
        self.metrics.clear_pools();
        self.metrics.leader.set(i64::from(term.is_some()));
        let term = term?;
        tracing::info!(term, "leading: resynchronising from a fresh list");
        self.reported_config = false;
        self.epoch += 1;
        self.mode = Mode::Syncing {
            term,
            services_listed: false,
            config_listed: false,
            namespaces_listed: false,
        };
        self.sources.expect_relist();
        // A problem of the configuration in force is reported again in the new term (once its list is in).
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
                if let Mode::Syncing { services_listed, .. } = &mut self.mode {
                    *services_listed = true;
                }
                self.ever_synced |= self.sources.synced() && self.index.listed();
                if self.serving() {
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
                        if self.serving() {
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

    fn maybe_serve(&mut self) {
        let Mode::Syncing {
            term,
            services_listed: true,
            config_listed: true,
            namespaces_listed: true,
        } = self.mode
        else {
            return;
        };
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
        self.mode = Mode::Serving { term };
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
        if !self.serving() {
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
                if self.serving() {
                    self.writes.retry_at(key, now + NOT_LEADER_RETRY);
                }
            }
            WriteOutcome::Failed(error) => {
                if self.serving() {
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
        if self.serving() {
            self.reconcile_all();
        }
    }

    /// Finishes a batch of inputs: serves pending Services again if addresses were freed, refreshes the pool
    /// gauges and the pending count. Call after every batch.
    pub fn flush(&mut self) {
        // A pass can free addresses again (a Service moving); a few passes settle it.
        for _ in 0..3 {
            if !std::mem::take(&mut self.retry_pending) || !self.serving() {
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
        self.metrics
            .services_pending
            .set(i64::try_from(self.pending.len()).unwrap_or(i64::MAX));
        if std::mem::take(&mut self.pools_dirty) && self.serving() {
            self.metrics.set_pools(self.alloc.all_pool_stats());
            self.pool_usage_version += 1;
        }
    }

    /// Bumped whenever pool usage may have changed (see [`Reconciler::pool_usage`]).
    pub fn pool_usage_version(&self) -> u64 {
        self.pool_usage_version
    }

    /// `IPAddressPool.status` of every pool that is an `IPAddressPool` object, by object name, while serving
    /// (`None` otherwise: a standby or syncing replica knows no usage).
    pub fn pool_usage(&self) -> Option<std::collections::BTreeMap<String, serde_json::Value>> {
        if !self.serving() {
            return None;
        }
        let gauge = |n: u128| i64::try_from(n).unwrap_or(i64::MAX);
        Some(
            self.sources
                .resource_names(ferrolb_k8s::config::IP_ADDRESS_POOL)
                .filter_map(|name| {
                    let s = self.alloc.pool_stats(name)?;
                    Some((
                        name.clone(),
                        serde_json::json!({
                            "assignedIPv4": gauge(s.ipv4.in_use),
                            "availableIPv4": gauge(s.ipv4.available),
                            "assignedIPv6": gauge(s.ipv6.in_use),
                            "availableIPv6": gauge(s.ipv6.available),
                        }),
                    ))
                })
                .collect(),
        )
    }

    /// The Events decided since the last call.
    pub fn take_events(&mut self) -> Vec<EventRecord> {
        std::mem::take(&mut self.events)
    }
}

#[cfg(test)]
mod tests;
