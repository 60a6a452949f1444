//! The speaker's tasks and the channels between them; [`run`] wires them up and drives the owner loop.
//!
//! ```text
//!  watchers (k8s::watch) ──mpsc<IndexEvent>────┐
//!  membership (SWIM, UDP 7946) ──watch<View>───┼──▶ owner loop (Owner) ──Protocols::set(Desired)──▶ layer2 task
//!  link monitor (rtnetlink) ──watch<Links>─────┤        │   │   │                             [└─▶ BGP, when enabled]
//!                                              │        │   │   └──mpsc<ServiceEvent>──▶ events task ──▶ API server
//!                    link monitor ─watch<Links>┼────────┼───┼────────────────────────────▶ layer2 task
//!                                              │        │   └──watch<Readiness>──▶ http (/metrics /healthz /readyz)
//!                                              │        └──mpsc<Control>──▶ membership
//!  layer2 task ──watch<OwnedSet> per interface──▶ responder ×interface (AF_PACKET ARP + NDP, GARP/NA)
//!  BGP mode's BFD task ──mpsc<SpeakerEvent> (a BFD session failed)──▶ owner loop ──▶ events task
//!  responder ──mpsc<ConflictReport> (another host claims an owned IP)──▶ owner loop ──▶ events task
//! ```
//!
//! The owner loop is the only writer of the index, the election result and the membership commands. It drains
//! whatever is queued, then runs one [`Owner::step`], so a burst of watch events costs one election. Every task
//! is held by a [`ferrolb_k8s::TaskHandle`] here: when `run` returns, they are all aborted.
//!
//! On shutdown, BGP mode ends its sessions as [`crate::bgp::shutdown::decide`] chooses from `--bgp-shutdown`,
//! the own Node's last known state and, when that Node is staying, whether the own Pod is being deleted (one
//! GET, at most 500 ms: [`crate::k8s::pod`]) — keep the routes through a restart, or withdraw them when the
//! node leaves; layer2 stops answering and the membership is left at once either way.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ferrolb_k8s::events::Reporter;
use ferrolb_k8s::http::{HttpError, Listen, Readiness, set_readiness};
use ferrolb_k8s::objects::ObjectMetrics;
use ferrolb_k8s::{EventMetrics, EventPublisher, TaskHandle, WatchMetrics};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, watch};

use crate::bgp::{PodSign, ShutdownPolicy, decide_shutdown, needs_pod_sign};
use crate::election::Desired;
use crate::index::{IndexEvent, IndexSettings};
use crate::interfaces::InterfaceFilter;
use crate::ipvs;
use crate::k8s;
use crate::layer2;
use crate::membership::{self, Control, MembershipSettings, Timings};
use crate::metrics::Metrics;
use crate::netlink::{self, LinkMonitorError};
use crate::owner::{Input, Owner, OwnerSettings};
use crate::protocols::{BgpAnnouncer, Protocols};
use crate::status::sessions::SessionConditions;

/// Everything the speaker is configured with (from the command line).
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// This node's name.
    pub node: String,
    /// What the index watches.
    pub index: IndexSettings,
    /// Membership UDP port.
    pub memberlist_port: u16,
    /// This node's membership address (default: its Node's first InternalIP).
    pub memberlist_addr: Option<IpAddr>,
    /// Membership timings.
    pub timings: Timings,
    /// Interfaces to announce on.
    pub interfaces: InterfaceFilter,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// How BGP sessions end when the speaker stops (`--bgp-shutdown`).
    pub bgp_shutdown: ShutdownPolicy,
    /// The speaker's own Pod (`--pod-name`), in ferrolb's namespace: read at shutdown for `--bgp-shutdown=auto`.
    pub pod_name: Option<String>,
}

/// Why the speaker stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The metrics server could not bind.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The link monitor could not start.
    #[error(transparent)]
    Links(#[from] LinkMonitorError),
}

/// Events drained per loop turn before an election runs.
const BATCH: usize = 1024;
/// How long a leaving speaker waits for its goodbye datagrams to go out.
const LEAVE_GRACE: Duration = Duration::from_millis(300);
/// IP conflict reports queued from the responders at most (they are rate-limited per IP at the source).
const CONFLICTS: usize = 64;
/// How often BGP mode's sessions are looked at for the `ConfigurationState` (written only when they change).
const SESSIONS_EVERY: Duration = Duration::from_secs(2);
/// At most this many index events still queued at shutdown are applied before the BGP decision.
const SHUTDOWN_DRAIN: usize = 10_000;

/// Runs the speaker until `shutdown` completes. `bgp` is BGP mode's announcer, when enabled.
pub async fn run(
    settings: RunSettings,
    client: kube::Client,
    bgp: Option<Box<dyn BgpAnnouncer>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RunError> {
    let mut speaker = Speaker::start(settings, client, bgp).await?;
    speaker.serve(shutdown).await;
    speaker.stop().await;
    Ok(())
}

/// The running speaker: the owner and the handles of every task (dropping it aborts them all).
struct Speaker {
    settings: RunSettings,
    client: kube::Client,
    owner: Owner,
    protocols: Protocols,
    index_rx: mpsc::Receiver<IndexEvent>,
    links_rx: watch::Receiver<Arc<crate::netlink::Links>>,
    ml_ctl: mpsc::Sender<Control>,
    ml_view: watch::Receiver<membership::View>,
    ml_task: TaskHandle,
    events: EventPublisher<k8s::events::Reason>,
    /// Events BGP mode emits on its own (BFD failures on this Node).
    bgp_events: Option<mpsc::Receiver<k8s::events::SpeakerEvent>>,
    /// IP conflicts the layer2 responders saw.
    conflicts: mpsc::Receiver<layer2::ConflictReport>,
    status: k8s::status::StatusObjects,
    /// BGP mode's sessions as conditions of the `ConfigurationState`.
    sessions: SessionConditions,
    sessions_sent: bool,
    ready_tx: watch::Sender<Readiness>,
    ipvs_checked: bool,
    _tasks: Vec<TaskHandle>,
}

impl Speaker {
    /// Registers the metrics, serves the HTTP endpoints, starts every task.
    async fn start(
        settings: RunSettings,
        client: kube::Client,
        mut bgp: Option<Box<dyn BgpAnnouncer>>,
    ) -> Result<Speaker, RunError> {
        let bgp_events = bgp.as_mut().and_then(|b| b.take_events());
        let mut registry = Registry::default();
        let metrics = Metrics::register(&mut registry);
        let shared = registry.sub_registry_with_prefix("ferrolb");
        let watch_metrics = WatchMetrics::register(shared);
        let event_metrics = EventMetrics::register(shared.sub_registry_with_prefix("speaker"));
        let object_metrics = ObjectMetrics::register(shared);
        if let Some(bgp) = &bgp {
            bgp.register_metrics(registry.sub_registry_with_prefix("ferrolb_speaker"));
        }
        let (ready_tx, ready_rx) = watch::channel::<Readiness>(Err("start-up".into()));
        let listen = Listen::Addr(settings.metrics_addr);
        let mut tasks: Vec<TaskHandle> = ferrolb_k8s::http::serve(listen, Arc::new(registry), ready_rx)
            .await?
            .into_iter()
            .collect();

        let (links_rx, link_tasks) = netlink::spawn()?;
        tasks.extend(link_tasks);
        let (conflicts_tx, conflicts_rx) = mpsc::channel(CONFLICTS);
        let (layer2, layer2_task) = layer2::spawn(
            settings.interfaces.clone(),
            links_rx.clone(),
            metrics.layer2.clone(),
            conflicts_tx,
        );
        tasks.push(layer2_task);
        let (ml_ctl, ml_view, ml_task) = membership::spawn(
            MembershipSettings {
                node: settings.node.clone(),
                port: settings.memberlist_port,
                bind: None,
                timings: settings.timings,
            },
            metrics.membership.clone(),
        );
        let (index_tx, index_rx) = mpsc::channel::<IndexEvent>(BATCH);
        tasks.extend(k8s::watch::spawn(
            &client,
            &settings.index,
            &index_tx,
            &watch_metrics,
        ));
        let reporter = Reporter {
            controller: k8s::events::REPORTING_CONTROLLER,
            instance: settings.node.clone(),
        };
        let events = EventPublisher::start(client.clone(), reporter, None, event_metrics);
        let status = k8s::status::StatusObjects::spawn(
            &client,
            &settings.index.namespace,
            &settings.node,
            &object_metrics,
        );
        let owner = Owner::new(
            OwnerSettings {
                node: settings.node.clone(),
                filter: settings.interfaces.clone(),
                memberlist_port: settings.memberlist_port,
                memberlist_addr: settings.memberlist_addr,
            },
            settings.index.clone(),
            metrics,
        );
        tracing::info!(node = %settings.node, namespace = %settings.index.namespace,
            config_namespace = %settings.index.config.namespace, "speaker started");
        Ok(Speaker {
            settings,
            client,
            owner,
            protocols: Protocols {
                layer2: Box::new(layer2),
                bgp,
            },
            index_rx,
            links_rx,
            ml_ctl,
            ml_view,
            ml_task,
            events,
            bgp_events,
            conflicts: conflicts_rx,
            status,
            sessions: SessionConditions::default(),
            sessions_sent: false,
            ready_tx,
            ipvs_checked: false,
            _tasks: tasks,
        })
    }

    /// The owner loop, until `shutdown` completes (or an input task stops).
    async fn serve(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut sessions_tick = tokio::time::interval(SESSIONS_EVERY);
        sessions_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = self.index_rx.recv() => {
                    let Some(ev) = ev else { break };
                    let unsynced = self.owner.index().unsynced().len();
                    let mut changed = self.owner.input(Input::Index(ev));
                    for _ in 0..BATCH {
                        match self.index_rx.try_recv() {
                            Ok(ev) => changed |= self.owner.input(Input::Index(ev)),
                            Err(_) => break,
                        }
                    }
                    // nothing the decisions read changed (a slice of another Service's pods, a relist that
                    // brought nothing new): no election
                    if !changed && self.owner.index().unsynced().len() == unsynced {
                        continue;
                    }
                }
                r = self.ml_view.changed() => {
                    if r.is_err() {
                        tracing::error!("the membership task stopped");
                        break;
                    }
                    let view = self.ml_view.borrow_and_update().clone();
                    if !self.owner.input(Input::Membership(view)) {
                        continue;
                    }
                }
                r = self.links_rx.changed() => {
                    if r.is_err() {
                        tracing::error!("the link monitor stopped");
                        break;
                    }
                    let links = self.links_rx.borrow_and_update().clone();
                    self.check_ipvs(&links);
                    if !self.owner.input(Input::Links(links)) {
                        continue;
                    }
                }
                Some(report) = self.conflicts.recv() => {
                    for ev in self.owner.conflict_events(&report) {
                        self.events.publish(ev);
                    }
                    continue;
                }
                _ = sessions_tick.tick() => {
                    self.report_sessions();
                    continue;
                }
                ev = async { match self.bgp_events.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    match ev {
                        Some(ev) => self.events.publish(ev),
                        None => self.bgp_events = None,
                    }
                    continue;
                }
                () = &mut shutdown => break,
            }
            self.step();
        }
    }

    /// Hands BGP mode's sessions to the `ConfigurationState` when a condition changed.
    fn report_sessions(&mut self) {
        let Some(reports) = self.protocols.bgp.as_ref().and_then(|b| b.sessions()) else {
            return;
        };
        let now = k8s_openapi::jiff::Timestamp::from_second(k8s_openapi::jiff::Timestamp::now().as_second())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
            .to_string();
        if self.sessions.update(reports, &now) || !self.sessions_sent {
            self.sessions_sent = true;
            self.status.set_sessions(self.sessions.to_json());
        }
    }

    /// Carries out one step of the owner: membership commands, the desired state, Events, readiness.
    fn step(&mut self) {
        let step = self.owner.step();
        for c in step.membership {
            // the membership task drains its queue continuously; a full queue means it is gone
            if self.ml_ctl.try_send(c).is_err() {
                tracing::warn!("membership command dropped");
            }
        }
        if let Some(d) = step.desired {
            self.protocols.set(&d);
        }
        for ev in step.events {
            self.events.publish(ev);
        }
        if let Some(report) = step.status {
            self.status.set(report, step.decided);
        }
        let readiness: Readiness = if self.owner.ready() {
            Ok(())
        } else {
            let waiting: Vec<String> = self.owner.waiting_for().iter().map(ToString::to_string).collect();
            Err(waiting.join(", "))
        };
        set_readiness(&self.ready_tx, readiness);
    }

    /// Once the links are known: is kube-proxy in IPVS mode without strict ARP (every node would answer)?
    fn check_ipvs(&mut self, links: &crate::netlink::Links) {
        if !links.known || self.ipvs_checked {
            return;
        }
        self.ipvs_checked = true;
        let problem = ipvs::strict_arp_problem(
            &links.interfaces,
            ipvs::read_sysctl("net/ipv4/conf/all/arp_ignore"),
            ipvs::read_sysctl("net/ipv4/conf/all/arp_announce"),
        );
        if let Some(p) = problem {
            tracing::error!("{p}");
        }
    }

    /// Layer2 and the membership first, and at once (the others take the IPs over), then BGP as decided.
    async fn stop(mut self) {
        // What the watches delivered just before the signal (a cordon, NotReady) counts for the decision.
        for _ in 0..SHUTDOWN_DRAIN {
            match self.index_rx.try_recv() {
                Ok(ev) => {
                    self.owner.input(Input::Index(ev));
                }
                Err(_) => break,
            }
        }
        // Layer2 first: stop answering and tell the other speakers, so they take the IPs over while the BGP
        // sessions close (bounded well inside the DaemonSet's grace period).
        let bgp = self.protocols.bgp.take();
        self.protocols.set(&Desired::default());
        let _ = self.ml_ctl.try_send(Control::Leave);
        match bgp {
            Some(bgp) => self.stop_bgp(bgp).await,
            None => tracing::info!("shutting down: withdrawing and leaving the speaker cluster"),
        }
        let _ = tokio::time::timeout(LEAVE_GRACE, self.ml_task.join()).await;
    }

    /// Ends the BGP sessions as [`decide_shutdown`] chooses (keep the routes through a restart, or withdraw).
    async fn stop_bgp(&self, bgp: Box<dyn BgpAnnouncer>) {
        let s = &self.settings;
        let node = self.owner.index().nodes().get(&s.node);
        let announcing = bgp.announcing();
        let pod = if needs_pod_sign(s.bgp_shutdown, node, announcing) {
            let namespace = &s.index.namespace;
            k8s::pod::pod_sign(&self.client, namespace, s.pod_name.as_deref()).await
        } else {
            PodSign::Unknown("not read: the Node decides".into())
        };
        let decision = decide_shutdown(s.bgp_shutdown, &s.node, node, announcing, &pod);
        tracing::info!(
            bgp_shutdown = %s.bgp_shutdown,
            "shutting down: left layer2 and the speaker cluster; BGP {decision}"
        );
        bgp.shutdown(decision.mode).await;
    }
}
