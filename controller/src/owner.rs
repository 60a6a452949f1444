//! The owner task: the one task that holds the [`Reconciler`] and carries out its decisions.
//!
//! ```text
//!  services watch (epoch n) ──┐ mpsc              ┌── JoinSet: status writes (≤ WRITES_IN_FLIGHT,
//!  configmap watch (epoch n) ─┼──> owner task ────┤     fenced by Leadership::is_leader)
//!  leadership terms (watch) ──┘    Reconciler     ├── EventPublisher (bounded queue)
//!                                                 └── membership Secret (at each leadership gain)
//! ```
//!
//! Each leadership gain starts a new epoch: both watches are restarted (a fresh list), and events of the old
//! epoch are dropped. Every task is held by a handle that aborts it on drop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::allocator::ServiceKey;
use crate::config_map::ConfigMapView;
use crate::events::EventPublisher;
use crate::http::Health;
use crate::leader::Leadership;
use crate::membership::{MembershipError, ensure_secret};
use crate::metrics::Metrics;
use crate::reconciler::{Reconciler, WatchEvent, WriteOp, WriteOutcome};
use crate::service::ServiceView;
use crate::task::Task;

/// Status writes in flight at most.
pub const WRITES_IN_FLIGHT: usize = 32;
/// A status write that takes longer is abandoned (and retried).
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Full reconcile pass (a safety net; it writes nothing when all is in order).
const RESYNC: Duration = Duration::from_secs(600);
/// How long shutdown waits for writes in flight before the Lease is released.
const DRAIN: Duration = Duration::from_secs(5);
/// Watch events handled per batch before the owner looks at write results again.
const BATCH: usize = 256;

/// What the watch tasks send.
#[derive(Debug)]
enum Msg {
    Services(u64, WatchEvent<Box<ServiceView>>),
    ConfigMap(u64, WatchEvent<ConfigMapView>),
}

/// Where the owner finds its objects.
#[derive(Debug, Clone)]
pub struct Names {
    /// Namespace of the ConfigMap and the Secret.
    pub namespace: String,
    /// The ConfigMap.
    pub config_map: String,
    /// The membership Secret.
    pub memberlist_secret: String,
}

/// The owner task's state.
pub struct Owner {
    client: Client,
    names: Names,
    leadership: Leadership,
    health: Arc<Health>,
    events: EventPublisher,
    core: Reconciler,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    watches: Vec<Task>,
    membership: Option<Task>,
    first_round: Duration,
    writes: JoinSet<(ServiceKey, WriteOutcome)>,
    write_keys: HashMap<tokio::task::Id, ServiceKey>,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("names", &self.names)
            .field("core", &self.core)
            .field("writes_in_flight", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl Owner {
    /// An owner serving load-balancer class `class`. `first_round` bounds the wait for the first election
    /// round before the caches are filled (the election's retry period).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: Client,
        names: Names,
        class: Option<String>,
        leadership: Leadership,
        identity: &str,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        first_round: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let events = EventPublisher::start(
            client.clone(),
            identity.to_owned(),
            leadership.clone(),
            metrics.clone(),
        );
        Self {
            core: Reconciler::new(class, metrics),
            client,
            names,
            leadership,
            health,
            events,
            tx,
            rx,
            watches: Vec::new(),
            membership: None,
            first_round,
            writes: JoinSet::new(),
            write_keys: HashMap::new(),
        }
    }

    /// Runs until `stop` completes, then waits (a few seconds at most) for the writes in flight.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut terms = self.leadership.subscribe();
        // The first election round decides whether the first list is a standby's or a leader's: waiting for it
        // (one retry period at most) saves listing everything twice when this replica leads at once.
        let _ = tokio::time::timeout(self.first_round, terms.wait_for(Option::is_some)).await;
        let initial = *terms.borrow_and_update();
        if initial.is_none() {
            self.start_watches(self.core.epoch());
        }
        self.on_term(initial);
        let mut resync = tokio::time::interval(RESYNC);
        resync.tick().await;
        loop {
            let tick = self.core.next_tick();
            tokio::select! {
                biased;
                () = &mut stop => break,
                changed = terms.changed() => {
                    if changed.is_err() {
                        tracing::warn!("the leader elector stopped");
                        break;
                    }
                    let term = *terms.borrow_and_update();
                    self.on_term(term);
                }
                Some(done) = self.writes.join_next_with_id(), if !self.writes.is_empty() => self.write_done(done),
                Some(msg) = self.rx.recv() => {
                    self.handle(msg);
                    for _ in 0..BATCH {
                        match self.rx.try_recv() {
                            Ok(msg) => self.handle(msg),
                            Err(_) => break,
                        }
                    }
                }
                () = sleep_until(tick), if tick.is_some() => self.core.on_tick(Instant::now()),
                _ = resync.tick() => self.core.resync(),
            }
            self.after_batch();
        }
        self.watches.clear();
        self.membership = None;
        let drain = async {
            while let Some(done) = self.writes.join_next_with_id().await {
                self.write_done(done);
            }
        };
        if tokio::time::timeout(DRAIN, drain).await.is_err() {
            tracing::warn!("shutting down with status writes still in flight");
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Services(epoch, ev) => self.core.on_services(epoch, ev),
            Msg::ConfigMap(epoch, ev) => self.core.on_config_map(epoch, ev),
        }
    }

    fn on_term(&mut self, term: Option<u64>) {
        if let Some(epoch) = self.core.on_term(term) {
            self.start_watches(epoch);
            self.membership = Some(Task::spawn(keep_secret(
                Api::namespaced(self.client.clone(), &self.names.namespace),
                self.names.memberlist_secret.clone(),
                self.leadership.clone(),
            )));
        } else if term.is_none() {
            self.membership = None;
        }
    }

    fn start_watches(&mut self, epoch: u64) {
        let services: Api<Service> = Api::all(self.client.clone());
        let config_maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &self.names.namespace);
        let cm_filter =
            watcher::Config::default().fields(&format!("metadata.name={}", self.names.config_map));
        // Replacing the handles aborts the watches of the previous epoch.
        self.watches = vec![
            Task::spawn(forward(
                "services",
                watcher(services, watcher::Config::default()),
                self.tx.clone(),
                move |ev| Msg::Services(epoch, ev),
                |s| ServiceView::from_service(s).map(Box::new),
            )),
            Task::spawn(forward(
                "configmap",
                watcher(config_maps, cm_filter),
                self.tx.clone(),
                move |ev| Msg::ConfigMap(epoch, ev),
                ConfigMapView::from_config_map,
            )),
        ];
    }

    fn write_done(
        &mut self,
        done: Result<(tokio::task::Id, (ServiceKey, WriteOutcome)), tokio::task::JoinError>,
    ) {
        let (key, outcome) = match done {
            Ok((id, result)) => {
                self.write_keys.remove(&id);
                result
            }
            Err(e) => match self.write_keys.remove(&e.id()) {
                Some(key) => (key, WriteOutcome::Failed(e.to_string())),
                None => return,
            },
        };
        self.core.on_write_done(&key, outcome, Instant::now());
    }

    fn after_batch(&mut self) {
        self.core.flush();
        for ev in self.core.take_events() {
            self.events.publish(ev);
        }
        while self.writes.len() < WRITES_IN_FLIGHT {
            let Some(op) = self.core.next_write() else { break };
            let key = op.key.clone();
            let handle = self
                .writes
                .spawn(write_status(self.client.clone(), self.leadership.clone(), op));
            self.write_keys.insert(handle.id(), key);
        }
        self.health.set_ready(self.core.ready());
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Forwards a watch stream's events, projected, to the owner. Errors are logged; the watcher retries with
/// backoff (relisting when its resourceVersion is too old).
async fn forward<K, T>(
    what: &'static str,
    stream: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    tx: mpsc::Sender<Msg>,
    wrap: impl Fn(WatchEvent<T>) -> Msg,
    project: impl Fn(K) -> Option<T>,
) {
    let stream = stream.default_backoff();
    futures::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        let ev = match item {
            Ok(watcher::Event::Init) => WatchEvent::Init,
            Ok(watcher::Event::InitDone) => WatchEvent::InitDone,
            Ok(watcher::Event::InitApply(o)) => match project(o) {
                Some(v) => WatchEvent::InitApply(v),
                None => continue,
            },
            Ok(watcher::Event::Apply(o)) => match project(o) {
                Some(v) => WatchEvent::Apply(v),
                None => continue,
            },
            Ok(watcher::Event::Delete(o)) => match project(o) {
                Some(v) => WatchEvent::Delete(v),
                None => continue,
            },
            Err(e) => {
                tracing::warn!(watch = what, error = %e, "watch failed; retrying");
                continue;
            }
        };
        if tx.send(wrap(ev)).await.is_err() {
            return;
        }
    }
}

/// One status write: the fence, then a merge patch of `/status` conditioned on the resourceVersion.
async fn write_status(client: Client, leadership: Leadership, op: WriteOp) -> (ServiceKey, WriteOutcome) {
    let api: Api<Service> = Api::namespaced(client, &op.key.namespace);
    let body = op.patch.to_json();
    if !leadership.is_leader() {
        return (op.key, WriteOutcome::NotLeader);
    }
    tracing::debug!(service = %op.key, rv = %op.patch.resource_version, ips = ?op.patch.ips(),
        pool = ?op.patch.pool, "writing status");
    let params = PatchParams::default();
    let patch = Patch::Merge(&body);
    let sent = api.patch_status(&op.key.name, &params, &patch);
    let outcome = match tokio::time::timeout(WRITE_TIMEOUT, sent).await {
        Err(_) => WriteOutcome::Failed("timed out".into()),
        Ok(Ok(svc)) => match ServiceView::from_service(svc) {
            Some(v) => WriteOutcome::Written(Box::new(v)),
            None => WriteOutcome::Failed("the API server returned a Service without a name".into()),
        },
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => WriteOutcome::Conflict,
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => WriteOutcome::NotFound,
        Ok(Err(e)) => WriteOutcome::Failed(e.to_string()),
    };
    (op.key, outcome)
}

/// Ensures the membership Secret, retrying with backoff while this replica leads.
async fn keep_secret(api: Api<Secret>, name: String, leadership: Leadership) {
    let mut delay = Duration::from_millis(500);
    loop {
        match ensure_secret(&api, &name, &leadership).await {
            Ok(_) | Err(MembershipError::NotLeader) => return,
            Err(e) => tracing::warn!(error = %e, ?delay, "could not ensure the membership Secret; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}
