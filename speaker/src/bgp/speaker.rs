//! [`BgpSpeaker`]: the declarative handle the speaker's owner loop holds for BGP mode.
//!
//! [`BgpSpeaker::set`] takes the whole desired state ([`BgpTarget`]) and converges to it: it computes the
//! advertisements once and publishes them to every session if they changed, starts a session task for each
//! new peer, hands changed settings to the task of a changed peer (which resets only that session), and
//! de-configures the task of a removed peer (Cease, then the task ends). Calling it twice with the same
//! target does nothing. It does no I/O itself and never waits.
//!
//! Peers with a BFD profile get a BFD session (one per router address and encapsulation) in the
//! [`BfdEngine`], started with the first of them on its own thread; each such BGP session task watches its
//! BFD session's status. The engine's Events (a BFD session failed) go to the owner loop through
//! [`BgpSpeaker::take_events`].

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::desired::{Advertisements, BgpTarget};
use super::metrics::BgpMetrics;
use super::peer::{PeerError, PeerSettings, SessionOptions, resolve};
use super::session::{Control, PeerStatus, SessionError, SessionTask};
use super::shutdown::ShutdownMode;
use super::transport::SocketFactory;
use crate::bfd::{BfdEngine, BfdEngineOptions, BfdKey, BfdSettings, BfdStatus};
use crate::k8s::events::SpeakerEvent;
use crate::status::sessions::SessionReport;
use ferrolb_proto::bgp::State;

/// How long [`BgpSpeaker::shutdown`] waits for the NOTIFICATIONs to go out and the connections to close.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(1200);
/// How long [`BgpSpeaker::shutdown`] then waits for the BFD AdminDown packets to go out.
const BFD_SHUTDOWN_GRACE: Duration = Duration::from_millis(200);
/// Events queued for the owner loop (a BFD failure on several routers at once fits).
const EVENT_QUEUE: usize = 64;

/// Options of the BGP speaker that do not come from the config.
#[derive(Debug, Clone, Default)]
pub struct BgpOptions {
    /// This node's name (logs, backoff jitter).
    pub node_name: String,
    /// Session behaviour (graceful restart time, connect timeout, backoff).
    pub session: SessionOptions,
    /// Where sockets come from.
    pub socket_factory: SocketFactory,
}

/// A spawned task, aborted when the handle is dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The owner's side of one session task. The task is aborted before the channels close (fields drop in
/// order), so a dropped speaker never makes its sessions send a NOTIFICATION.
#[derive(Debug)]
struct SessionHandle {
    task: AbortOnDrop,
    settings: PeerSettings,
    control: watch::Sender<Control>,
    status: watch::Receiver<PeerStatus>,
}

/// BGP mode on this node: one session task per peer, converging on [`BgpTarget`]s.
///
/// Dropping it aborts every session without a NOTIFICATION (as a crash or `kill -9` would): peers that
/// support graceful restart keep the routes until the speaker is back. [`BgpSpeaker::shutdown`] ends
/// every session as asked: peers keep the routes ([`ShutdownMode::Graceful`]) or withdraw them at once
/// ([`ShutdownMode::Withdraw`]).
#[derive(Debug)]
pub struct BgpSpeaker {
    options: BgpOptions,
    metrics: BgpMetrics,
    runtime: Handle,
    routes: watch::Sender<Arc<Advertisements>>,
    sessions: BTreeMap<SocketAddr, SessionHandle>,
    /// Sessions of removed peers, sending their Cease; dropped once finished.
    retiring: Vec<SessionHandle>,
    errors: BTreeMap<SocketAddr, PeerError>,
    /// The configured name of each peer of the last target, by address (the first one per address).
    names: BTreeMap<SocketAddr, String>,
    /// The BFD sessions, once a peer has a profile.
    bfd: Option<BfdEngine>,
    /// Why the BFD engine could not start, if it could not.
    bfd_unavailable: Option<String>,
    events: mpsc::Sender<SpeakerEvent>,
    events_rx: Option<mpsc::Receiver<SpeakerEvent>>,
}

impl BgpSpeaker {
    /// A speaker with no peers. Sessions run on the current tokio runtime (panics outside one).
    pub fn new(options: BgpOptions, metrics: BgpMetrics) -> BgpSpeaker {
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE);
        BgpSpeaker {
            options,
            metrics,
            runtime: Handle::current(),
            routes: watch::Sender::new(Arc::new(Advertisements::default())),
            sessions: BTreeMap::new(),
            retiring: Vec::new(),
            errors: BTreeMap::new(),
            names: BTreeMap::new(),
            bfd: None,
            bfd_unavailable: None,
            events,
            events_rx: Some(events_rx),
        }
    }

    /// The Events BGP mode emits (a BFD session failed: on this Node), for the owner loop to publish; `None`
    /// after the first call.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<SpeakerEvent>> {
        self.events_rx.take()
    }

    /// Converges on `target` (see the module docs).
    pub fn set(&mut self, target: &BgpTarget) {
        let advertisements = Advertisements::from_target(target);
        self.routes.send_if_modified(|current| {
            if **current == advertisements {
                return false;
            }
            tracing::debug!(prefixes = advertisements.len(), "BGP advertisements changed");
            *current = Arc::new(advertisements);
            true
        });

        self.names.clear();
        for p in &target.peers {
            let key = SocketAddr::new(p.address, p.port);
            self.names.entry(key).or_insert_with(|| p.name.clone());
        }
        let (mut desired, mut errors, bfd) = self.resolve_peers(target);
        self.converge_bfd(bfd, &mut desired, &mut errors);
        self.report_errors(errors);
        let gone: Vec<SocketAddr> = self
            .sessions
            .keys()
            .filter(|k| !desired.contains_key(k))
            .copied()
            .collect();
        for key in gone {
            if let Some(handle) = self.sessions.remove(&key) {
                tracing::info!(peer = %key, "BGP peer removed");
                handle.control.send_replace(Control::Deconfigure);
                self.retiring.push(handle);
            }
        }
        for (key, settings) in desired {
            let bfd = self.bfd_watch(&settings);
            match self.sessions.get_mut(&key) {
                Some(handle) if handle.settings == settings => {}
                Some(handle) => {
                    handle.settings = settings.clone();
                    handle.control.send_replace(Control::Run(Box::new(settings), bfd));
                }
                None => {
                    tracing::info!(peer = %key, "BGP peer added");
                    let handle = self.spawn(settings);
                    self.sessions.insert(key, handle);
                }
            }
        }
        self.retiring.retain(|h| !h.task.0.is_finished());
    }

    #[allow(clippy::type_complexity)]
    fn resolve_peers(
        &self,
        target: &BgpTarget,
    ) -> (
        BTreeMap<SocketAddr, PeerSettings>,
        BTreeMap<SocketAddr, PeerError>,
        BTreeMap<BfdKey, BfdSettings>,
    ) {
        let mut desired = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut bfd = BTreeMap::new();
        for peer in &target.peers {
            match resolve(
                peer,
                &self.options.node_name,
                &target.node_addresses,
                &target.bfd_profiles,
                &self.options.session,
            ) {
                Ok(resolved) => {
                    let key = resolved.settings.key();
                    match desired.entry(key) {
                        Entry::Occupied(_) => {
                            errors.insert(key, PeerError::Duplicate { peer: key });
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(resolved.settings);
                            // BGP peers of one router address share its BFD session: the first one's settings
                            if let Some(b) = resolved.bfd {
                                bfd.entry(b.key()).or_insert(b);
                            }
                        }
                    }
                }
                Err(err) => {
                    let key = std::net::SocketAddr::new(peer.address, peer.port);
                    errors.entry(key).or_insert(err);
                }
            }
        }
        (desired, errors, bfd)
    }

    /// Hands the BFD sessions to the engine (started with the first one); if it cannot start, the peers that
    /// need it get no session.
    fn converge_bfd(
        &mut self,
        bfd: BTreeMap<BfdKey, BfdSettings>,
        desired: &mut BTreeMap<SocketAddr, PeerSettings>,
        errors: &mut BTreeMap<SocketAddr, PeerError>,
    ) {
        if self.bfd.is_none() && !bfd.is_empty() {
            let options = BfdEngineOptions {
                node: self.options.node_name.clone(),
                socket_factory: self.options.socket_factory.clone(),
                metrics: self.metrics.bfd().clone(),
                events: Some(self.events.clone()),
            };
            match BfdEngine::start(options) {
                Ok(engine) => {
                    self.bfd = Some(engine);
                    self.bfd_unavailable = None;
                }
                Err(e) => self.bfd_unavailable = Some(format!("the BFD thread could not start: {e}")),
            }
        }
        match (self.bfd.as_mut(), &self.bfd_unavailable) {
            (Some(engine), _) => engine.set(bfd),
            (None, Some(reason)) => {
                let refused: Vec<SocketAddr> = desired
                    .iter()
                    .filter(|(_, s)| s.bfd.is_some())
                    .map(|(k, _)| *k)
                    .collect();
                for key in refused {
                    desired.remove(&key);
                    errors.insert(
                        key,
                        PeerError::BfdUnavailable {
                            peer: key,
                            reason: reason.clone(),
                        },
                    );
                }
            }
            (None, None) => {}
        }
    }

    /// The status receiver of the BFD session `settings` depend on.
    fn bfd_watch(&self, settings: &PeerSettings) -> Option<watch::Receiver<BfdStatus>> {
        let key = settings.bfd?;
        self.bfd.as_ref()?.watch(&key)
    }

    /// Logs new peer errors once, and keeps the error gauge in step.
    fn report_errors(&mut self, errors: BTreeMap<SocketAddr, PeerError>) {
        for (key, err) in &errors {
            if self.errors.get(key) != Some(err) {
                tracing::error!(peer = %key, error = %err, "BGP peer not started");
                self.metrics.set_peer_error(*key, Some(err.metric_label()));
            }
        }
        for key in self.errors.keys() {
            if !errors.contains_key(key) {
                self.metrics.set_peer_error(*key, None);
            }
        }
        self.errors = errors;
    }

    fn spawn(&self, settings: PeerSettings) -> SessionHandle {
        let key = settings.key();
        let bfd = self.bfd_watch(&settings);
        let (control_tx, control_rx) = watch::channel(Control::Run(Box::new(settings.clone()), bfd.clone()));
        let (status_tx, status_rx) = watch::channel(SessionTask::status_for(key));
        let task = SessionTask::new(
            settings.clone(),
            control_rx,
            self.routes.subscribe(),
            status_tx,
            self.metrics.peer(key),
            self.options.socket_factory.clone(),
            bfd,
        );
        let join = self.runtime.spawn(task.run());
        SessionHandle {
            settings,
            control: control_tx,
            status: status_rx,
            task: AbortOnDrop(join),
        }
    }

    /// The status of every configured session, by peer.
    pub fn status(&self) -> BTreeMap<SocketAddr, PeerStatus> {
        self.sessions
            .iter()
            .map(|(k, h)| (*k, h.status.borrow().clone()))
            .collect()
    }

    /// Every configured peer's session in short, for the status objects ([`SessionReport`]): the
    /// sessions, then the peers that got none.
    pub fn session_reports(&self) -> Vec<SessionReport> {
        let mut out: Vec<SessionReport> = self
            .sessions
            .values()
            .map(|h| {
                let st = h.status.borrow();
                let established = st.state == State::Established;
                let reason = match (&st.last_error, established) {
                    (_, true) => "Established",
                    (Some(SessionError::WaitingForBfd), false) => "WaitingForBFD",
                    (_, false) => "Active",
                };
                let message = match (&st.last_error, established) {
                    (Some(e), false) => e.to_string(),
                    _ => String::new(),
                };
                SessionReport {
                    peer: h.settings.name.clone(),
                    established,
                    reason,
                    message,
                }
            })
            .collect();
        for (key, err) in &self.errors {
            let peer = self.names.get(key).cloned().unwrap_or_else(|| key.to_string());
            if !out.iter().any(|r| r.peer == peer) {
                out.push(SessionReport {
                    peer,
                    established: false,
                    reason: "Invalid",
                    message: err.to_string(),
                });
            }
        }
        out
    }

    /// The status of every BFD session, by router address and encapsulation.
    pub fn bfd_status(&self) -> BTreeMap<BfdKey, BfdStatus> {
        self.bfd.as_ref().map(BfdEngine::status).unwrap_or_default()
    }

    /// A receiver of one BFD session's status, to wait for a state.
    pub fn watch_bfd(&self, key: &BfdKey) -> Option<watch::Receiver<BfdStatus>> {
        self.bfd.as_ref()?.watch(key)
    }

    /// A receiver of one peer's status, to wait for a state.
    pub fn watch_peer(&self, peer: SocketAddr) -> Option<watch::Receiver<PeerStatus>> {
        self.sessions.get(&peer).map(|h| h.status.clone())
    }

    /// The metric families the sessions update (register them with [`BgpMetrics::register`]).
    pub fn metrics(&self) -> &BgpMetrics {
        &self.metrics
    }

    /// Peers of the last target that got no session, and why.
    pub fn peer_errors(&self) -> &BTreeMap<SocketAddr, PeerError> {
        &self.errors
    }

    /// Whether any IP is advertised (to the sessions that are up or will come up).
    pub fn announcing(&self) -> bool {
        !self.routes.borrow().is_empty()
    }

    /// Ends every session so that peers withdraw the routes at once ([`ShutdownMode::Withdraw`]); see
    /// [`BgpSpeaker::shutdown_as`].
    pub async fn shutdown(self) {
        self.shutdown_as(ShutdownMode::Withdraw).await;
    }

    /// Ends every session as `mode` says and waits (a few seconds at most) for the NOTIFICATIONs to be
    /// written and the connections closed; then takes the BFD sessions AdminDown (after BGP, so that a router
    /// already helping a graceful restart is not told of a failure first). Sessions of removed peers still
    /// finish their Peer De-configured.
    pub async fn shutdown_as(mut self, mode: ShutdownMode) {
        let mut handles: Vec<SessionHandle> = std::mem::take(&mut self.sessions).into_values().collect();
        for h in &handles {
            h.control.send_replace(Control::Shutdown(mode));
        }
        handles.append(&mut self.retiring);
        let wait = async {
            for h in &mut handles {
                let _ = (&mut h.task.0).await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, wait).await.is_err() {
            tracing::warn!("BGP sessions did not close in time; aborting them");
        }
        if let Some(bfd) = &self.bfd {
            bfd.admin_down(BFD_SHUTDOWN_GRACE).await;
        }
    }
}
