//! The owner task: the one task that holds the [`Reconciler`] and carries out its decisions.
//!
//! ```text
//!  services watch (epoch n) ──┐ mpsc              ┌── StatusWriter: status writes (≤ WRITES_IN_FLIGHT,
//!  config watches (epoch n) ──┼──> owner task ────┤     fenced by Leadership::is_leader)
//!  leadership terms (watch) ──┘    Reconciler     ├── EventPublisher (bounded queue, while leading)
//!                                                 ├── readiness (watch) ──▶ /readyz
//!                                                 └── membership Secret (at each leadership gain)
//! ```
//!
//! Each leadership gain starts a new epoch: the watches are restarted (a fresh list), and events of the old
//! epoch are dropped. Every task is held by a handle that aborts it on drop.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_k8s::config::{
    ConfigEvent, ConfigNames, configuration_state, configuration_state_resource, state_key_of, state_selector,
};
use ferrolb_k8s::events::Reporter;
use ferrolb_k8s::http::set_readiness;
use ferrolb_k8s::objects::{self, DesiredHandle, DesiredSet, ObjectMetrics, SyncSpec};
use ferrolb_k8s::status::Limits;
use ferrolb_k8s::watch::{self, Projected, WatchSpec};
use ferrolb_k8s::{
    EventMetrics, EventPublisher, Readiness, StatusWriter, TaskHandle, WatchEvent, WatchMetrics,
};
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use kube::{Api, Client};
use tokio::sync::{mpsc, watch as tokio_watch};

use crate::allocator::ServiceKey;
use crate::events::{COMPONENT, Reason};
use crate::leader::Leadership;
use crate::membership::{MembershipError, ensure_secret};
use crate::metrics::Metrics;
use crate::reconciler::{NamespaceLabels, Reconciler, WriteOutcome, project_namespace};
use crate::service::ServiceView;
use crate::{node_gc, pool_status};
use ferrolb_k8s::WriteError;

/// The name of the controller's `ConfigurationState` (as MetalLB's controller names its own).
pub const STATE_NAME: &str = "controller";
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
    Services(u64, WatchEvent<Option<Box<ServiceView>>>),
    Config(u64, ConfigEvent),
    Namespaces(u64, WatchEvent<Option<Projected<String, NamespaceLabels>>>),
}

/// Where the owner finds its objects.
#[derive(Debug, Clone)]
pub struct Names {
    /// The configuration objects.
    pub config: ConfigNames,
    /// ferrolb's namespace: the membership Secret, the controller's ConfigurationState.
    pub namespace: String,
    /// The membership Secret.
    pub memberlist_secret: String,
}

/// The I/O the owner is given.
pub struct OwnerIo {
    /// The Kubernetes client.
    pub client: Client,
    /// Where `/readyz` reads readiness.
    pub ready: tokio_watch::Sender<Readiness>,
    /// The controller's metrics.
    pub metrics: Arc<Metrics>,
    /// The shared layer's metrics.
    pub watch_metrics: WatchMetrics,
    /// The Event publisher's metrics.
    pub event_metrics: EventMetrics,
    /// The owned objects' metrics.
    pub object_metrics: ObjectMetrics,
}

impl std::fmt::Debug for OwnerIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnerIo").finish_non_exhaustive()
    }
}

/// The owner task's state.
pub struct Owner {
    client: Client,
    names: Names,
    leadership: Leadership,
    ready: tokio_watch::Sender<Readiness>,
    events: EventPublisher<Reason>,
    core: Reconciler,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    watches: Vec<TaskHandle>,
    watch_metrics: WatchMetrics,
    membership: Option<TaskHandle>,
    /// The controller's `ConfigurationState`, written while leading.
    state: Option<(tokio_watch::Sender<DesiredHandle>, TaskHandle)>,
    /// `IPAddressPool.status`, written while leading, and the usage version last sent.
    pool_status: Option<(tokio_watch::Sender<pool_status::Wanted>, TaskHandle, u64)>,
    /// Removes the status objects of deleted nodes, while leading.
    node_gc: Option<TaskHandle>,
    object_metrics: ObjectMetrics,
    first_round: Duration,
    writes: StatusWriter<ServiceKey, Service>,
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owner")
            .field("names", &self.names)
            .field("core", &self.core)
            .field("writes", &self.writes)
            .finish_non_exhaustive()
    }
}

impl Owner {
    /// An owner serving load-balancer class `class`. `first_round` bounds the wait for the first election
    /// round before the caches are filled (the election's retry period).
    pub fn new(
        io: OwnerIo,
        names: Names,
        class: Option<String>,
        leadership: Leadership,
        identity: &str,
        first_round: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(256);
        let gate_leadership = leadership.clone();
        let gate: ferrolb_k8s::events::Gate = Arc::new(move || gate_leadership.is_leader());
        let reporter = Reporter {
            controller: COMPONENT,
            instance: identity.to_owned(),
        };
        let events = EventPublisher::start(io.client.clone(), reporter, Some(gate.clone()), io.event_metrics);
        let limits = Limits {
            in_flight: WRITES_IN_FLIGHT,
            per_second: None,
            timeout: WRITE_TIMEOUT,
        };
        Self {
            core: Reconciler::new(class, io.metrics),
            client: io.client,
            names,
            leadership,
            ready: io.ready,
            events,
            tx,
            rx,
            watches: Vec::new(),
            watch_metrics: io.watch_metrics,
            membership: None,
            state: None,
            pool_status: None,
            node_gc: None,
            object_metrics: io.object_metrics,
            first_round,
            writes: StatusWriter::new(limits, Some(gate)),
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
                Some((key, outcome)) = self.writes.next_done(), if self.writes.in_flight() > 0 => {
                    self.write_done(&key, outcome);
                }
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
            while let Some((key, outcome)) = self.writes.next_done().await {
                self.write_done(&key, outcome);
            }
        };
        if tokio::time::timeout(DRAIN, drain).await.is_err() {
            tracing::warn!("shutting down with status writes still in flight");
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Services(epoch, ev) => {
                if let Some(ev) = ev.transpose() {
                    self.core.on_services(epoch, ev);
                }
            }
            Msg::Config(epoch, ev) => self.core.on_config(epoch, ev),
            Msg::Namespaces(epoch, ev) => {
                if let Some(ev) = ev.transpose() {
                    self.core.on_namespaces(epoch, ev);
                }
            }
        }
    }

    fn on_term(&mut self, term: Option<u64>) {
        if let Some(epoch) = self.core.on_term(term) {
            self.start_watches(epoch);
            self.membership = Some(TaskHandle::spawn(
                "membership secret",
                keep_secret(
                    Api::namespaced(self.client.clone(), &self.names.namespace),
                    self.names.memberlist_secret.clone(),
                    self.leadership.clone(),
                ),
            ));
            let (tx, rx) = tokio_watch::channel(None);
            let spec = SyncSpec {
                resource: configuration_state_resource(),
                namespace: self.names.namespace.clone(),
                selector: state_selector(STATE_NAME),
                key_of: state_key_of,
                per_second: 5,
            };
            let task = objects::spawn(self.client.clone(), spec, rx, self.object_metrics.clone());
            self.state = Some((tx, task));
            let (tx, rx) = tokio_watch::channel(None);
            let task = pool_status::spawn(
                self.client.clone(),
                &self.names.config.namespace,
                rx,
                self.object_metrics.clone(),
            );
            self.pool_status = Some((tx, task, u64::MAX));
            self.node_gc = Some(node_gc::spawn(
                self.client.clone(),
                &self.names.namespace,
                self.watch_metrics.clone(),
                self.object_metrics.clone(),
            ));
        } else if term.is_none() {
            self.membership = None;
            self.state = None;
            self.pool_status = None;
            self.node_gc = None;
        }
    }

    /// What the controller's `ConfigurationState` should say.
    fn desired_state(&self) -> DesiredSet {
        configuration_state(STATE_NAME, "Controller", None, self.core.config_state())
    }

    fn start_watches(&mut self, epoch: u64) {
        let services = watch::spawn(
            WatchSpec::new("services", Api::<Service>::all(self.client.clone())),
            |s| ServiceView::from_service(s).map(Box::new),
            move |ev| Msg::Services(epoch, ev),
            self.tx.clone(),
            self.watch_metrics.clone(),
        );
        let mut watches = ferrolb_k8s::config::spawn(
            &self.client,
            &self.names.config,
            move |ev| Msg::Config(epoch, ev),
            &self.tx,
            &self.watch_metrics,
        );
        let namespaces = watch::spawn(
            WatchSpec::new("namespaces", Api::<Namespace>::all(self.client.clone())),
            project_namespace,
            move |ev| Msg::Namespaces(epoch, ev),
            self.tx.clone(),
            self.watch_metrics.clone(),
        );
        watches.push(services);
        watches.push(namespaces);
        // Replacing the handles aborts the watches of the previous epoch.
        self.watches = watches;
    }

    fn write_done(&mut self, key: &ServiceKey, outcome: ferrolb_k8s::WriteOutcome<Service>) {
        let outcome = match outcome {
            ferrolb_k8s::WriteOutcome::Written(svc) => match ServiceView::from_service(*svc) {
                Some(v) => WriteOutcome::Written(Box::new(v)),
                None => WriteOutcome::Failed(WriteError::Client(
                    "the API server returned a Service without a name".into(),
                )),
            },
            ferrolb_k8s::WriteOutcome::Conflict => WriteOutcome::Conflict,
            ferrolb_k8s::WriteOutcome::NotFound => WriteOutcome::NotFound,
            ferrolb_k8s::WriteOutcome::NotLeader => WriteOutcome::NotLeader,
            ferrolb_k8s::WriteOutcome::Failed(e) => WriteOutcome::Failed(e),
        };
        self.core.on_write_done(key, outcome, Instant::now());
    }

    fn after_batch(&mut self) {
        self.core.flush();
        for ev in self.core.take_events() {
            self.events.publish(ev);
        }
        while self.writes.has_room(Instant::now()) {
            let Some(op) = self.core.next_write() else { break };
            tracing::debug!(service = %op.key, rv = %op.patch.resource_version, ips = ?op.patch.ips(),
                pool = ?op.patch.pool, "writing status");
            let api: Api<Service> = Api::namespaced(self.client.clone(), &op.key.namespace);
            let name = op.key.name.clone();
            self.writes
                .start(op.key, api, name, op.patch.to_json(), Instant::now());
        }
        if let Some((tx, _, sent)) = &mut self.pool_status
            && *sent != self.core.pool_usage_version()
            && let Some(usage) = self.core.pool_usage()
        {
            *sent = self.core.pool_usage_version();
            let _ = tx.send(Some(Arc::new(usage)));
        }
        if let Some((tx, _)) = &self.state
            && self.core.config_listed()
        {
            let want = self.desired_state();
            tx.send_if_modified(|cur| {
                if cur.as_deref() == Some(&want) {
                    false
                } else {
                    *cur = Some(Arc::new(want));
                    true
                }
            });
        }
        let readiness = if self.core.ready() {
            Ok(())
        } else {
            let waiting: Vec<String> = self.core.waiting_for().iter().map(ToString::to_string).collect();
            Err(waiting.join(", "))
        };
        set_readiness(&self.ready, readiness);
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at.into()).await;
    }
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
