//! One peer's session task: the proto state machine and Adj-RIB-Out driven over a real TCP connection.
//!
//! The task owns everything about its peer: the [`Session`], the connection, the three timers (deadlines,
//! slept on together), the Adj-RIB-Out of the current session and the status it publishes. It waits on, at
//! once: its control channel (new settings, de-configuration, shutdown), the pending connect, the socket
//! (reads and pending writes, so a peer that does not read never stalls the timers), the earliest timer and
//! the shared advertisements. Nothing it does can block another peer's task.
//!
//! - Established: the routes of the current advertisements are sent, then End-of-RIB; every later change
//!   of the advertisements is sent at once as the minimal UPDATEs ([`AdjRibOut::update`]).
//! - New settings for the same peer: Cease / Other Configuration Change, and a fresh session with them.
//! - De-configured: Cease / Peer De-configured; shutdown: Cease / Administrative Shutdown (withdraw) or
//!   the graceful end of [`Event::StopGraceful`] (keep routes); then the task ends. (Were the N bit of
//!   RFC 8538 negotiated, the state machine would send the first two as Cease / Hard Reset.)
//! - Bad input, hold timer, lost connection: the state machine's NOTIFICATION and reconnect with backoff.
//! - A peer with a BFD profile: the state machine is started only while its BFD session is Up (before, the
//!   status says [`SessionError::WaitingForBfd`]); a BFD failure closes the session at once with Cease / BFD
//!   Down (RFC 9384) and a fresh one waits for BFD to be Up again. The peer's BFD AdminDown is no failure
//!   (RFC 5882 §3.2) and changes nothing.
//! - A malformed UPDATE that RFC 7606 lets a session survive: the session stays up, a warning is logged (at
//!   most one line per peer every [`IGNORED_LOG_INTERVAL`], with the count of those not logged) and
//!   `bgp_updates_ignored_total` counts it.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_proto::bgp::{
    Action, AdjRibOut, DownReason, Event, Family, Negotiated, Notification, RibOutError, RouteAttributes,
    Session, State, Timer, Update, notification,
};
use ipnet::IpNet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::desired::{Advertisements, SessionRouteContext, session_routes};
use super::metrics::PeerMetrics;
use super::peer::PeerSettings;
use super::shutdown::ShutdownMode;
use super::transport::{ConnectError, SocketFactory, connect};
use crate::bfd::BfdStatus;

/// How long a closing connection may take to flush what was queued (a NOTIFICATION).
const CLOSE_FLUSH: Duration = Duration::from_secs(1);
/// A peer that leaves this much of our output unread is reset.
const MAX_PENDING_OUTPUT: usize = 16 << 20;
/// Read buffer size.
const READ_CHUNK: usize = 64 << 10;
/// Culprit prefixes dropped from one update before giving up on it.
const MAX_DROPPED_ROUTES: usize = 64;
/// At most one log line per peer about ignored UPDATEs within this time.
pub(crate) const IGNORED_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Failed connection attempts to a peer are logged as a warning at most once per this interval.
pub(crate) const CONNECT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What the owner asks of a session task.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    /// Run with these settings (a change resets the session), gated by this BFD session's status when the
    /// settings name one.
    Run(Box<PeerSettings>, Option<watch::Receiver<BfdStatus>>),
    /// The peer left the config (or the node is no longer selected): Cease / Peer De-configured, end.
    Deconfigure,
    /// The speaker stops: end the session so that the peer withdraws or keeps the routes, then end.
    Shutdown(ShutdownMode),
}

/// Why a session is not (or no longer) up, as [`PeerStatus`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The TCP connection could not be made.
    #[error("{message}")]
    Connect {
        /// The [`super::ConnectError`]'s metric label.
        kind: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The session's state machine refused its configuration.
    #[error("the session refused its configuration: {0}")]
    Config(ferrolb_proto::bgp::ConfigError),
    /// The session went down.
    #[error("{}", describe(.0))]
    Down(DownReason),
    /// The peer's BFD session is not Up: the BGP session waits for it.
    #[error("waiting for the BFD session to be Up")]
    WaitingForBfd,
}

/// A peer session as its task reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's address and port.
    pub peer: SocketAddr,
    /// The session state.
    pub state: State,
    /// The local end of the current connection.
    pub local_address: Option<SocketAddr>,
    /// Prefixes advertised in the current session.
    pub advertised_prefixes: usize,
    /// UPDATE messages sent over the task's life.
    pub updates_sent: u64,
    /// How many times the session came up (with any settings).
    pub established_count: u64,
    /// Why the last connection attempt or session ended.
    pub last_error: Option<SessionError>,
    /// The task ended (de-configured or shut down).
    pub finished: bool,
}

impl PeerStatus {
    fn new(peer: SocketAddr) -> PeerStatus {
        PeerStatus {
            peer,
            state: State::Idle,
            local_address: None,
            advertised_prefixes: 0,
            updates_sent: 0,
            established_count: 0,
            last_error: None,
            finished: false,
        }
    }
}

type ConnectFuture = Pin<Box<dyn Future<Output = Result<TcpStream, ConnectError>> + Send>>;

/// The open connection: both halves, the local address and what is queued for writing.
struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    local: SocketAddr,
    out: Vec<u8>,
    written: usize,
}

impl Conn {
    fn pending(&self) -> &[u8] {
        &self.out[self.written..]
    }

    fn queue(&mut self, bytes: &[u8]) {
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        self.out.extend_from_slice(bytes);
    }

    /// Writes what is queued (bounded in time) and closes the connection.
    async fn close(mut self) {
        let flush = async {
            self.wr.write_all(&self.out[self.written..]).await?;
            self.wr.shutdown().await
        };
        let _ = tokio::time::timeout(CLOSE_FLUSH, flush).await;
    }
}

/// What woke the task.
enum Wake {
    Control(Control),
    Connected(Result<TcpStream, ConnectError>),
    Read(std::io::Result<usize>),
    Wrote(std::io::Result<usize>),
    Timer,
    Routes,
    /// The BFD session's status changed.
    Bfd,
    /// The speaker was dropped (it aborts this task too): end without a NOTIFICATION, as a crash would.
    Abandoned,
}

pub(crate) struct SessionTask {
    settings: PeerSettings,
    session: Option<Session>,
    control: watch::Receiver<Control>,
    routes: watch::Receiver<Arc<Advertisements>>,
    status: watch::Sender<PeerStatus>,
    metrics: PeerMetrics,
    factory: SocketFactory,
    connecting: Option<ConnectFuture>,
    conn: Option<Conn>,
    timers: [Option<Instant>; 3],
    rib: Option<AdjRibOut>,
    buf: Vec<u8>,
    ignored_log: LogLimiter,
    /// Failed connection attempts: a warning at the first and then at most one per [`CONNECT_LOG_INTERVAL`].
    connect_log: LogLimiter,
    /// The BFD session the BGP session depends on.
    bfd: Option<watch::Receiver<BfdStatus>>,
    /// BFD failures already acted on.
    bfd_failures_seen: u64,
    /// The state machine exists but is not started: BFD is not Up.
    waiting_for_bfd: bool,
}

/// Lets one log line through per interval and counts the ones held back.
#[derive(Debug, Clone)]
pub(crate) struct LogLimiter {
    interval: Duration,
    last: Option<std::time::Instant>,
    held_back: u64,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> LogLimiter {
        LogLimiter {
            interval,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(n)`: log now, `n` events were held back since the last line; `None`: hold this one back.
    pub(crate) fn allow(&mut self, now: std::time::Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval)
        {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

fn timer_index(t: Timer) -> usize {
    match t {
        Timer::ConnectRetry => 0,
        Timer::Hold => 1,
        Timer::Keepalive => 2,
    }
}

const TIMERS: [Timer; 3] = [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive];

/// What usually makes a connection attempt fail this way. A router with a TCP MD5 password silently drops
/// segments without the right signature (RFC 2385), so a wrong or missing password looks like a router
/// that does not answer.
pub(crate) fn connect_hint(kind: &str, refused: bool, has_password: bool) -> &'static str {
    match (kind, refused, has_password) {
        ("timeout", _, true) => {
            "the router is down or unreachable, or drops our segments because the TCP MD5 password differs"
        }
        ("timeout", _, false) => {
            "the router is down or unreachable, or expects a TCP MD5 password (peers with a password drop \
             unsigned segments)"
        }
        ("connect", true, _) => "nothing listens on the router's BGP port, or it does not accept this node",
        ("bind", _, _) => "the source address is not an address of this node",
        _ => "see the error",
    }
}

/// The (code, subcode) of a NOTIFICATION if `bytes` starts with one.
fn notification_in(bytes: &[u8]) -> Option<(u8, u8)> {
    match bytes.get(18..21) {
        Some(&[3, code, subcode]) => Some((code, subcode)),
        _ => None,
    }
}

impl SessionTask {
    pub(crate) fn new(
        settings: PeerSettings,
        control: watch::Receiver<Control>,
        routes: watch::Receiver<Arc<Advertisements>>,
        status: watch::Sender<PeerStatus>,
        metrics: PeerMetrics,
        factory: SocketFactory,
        bfd: Option<watch::Receiver<BfdStatus>>,
    ) -> SessionTask {
        let bfd_failures_seen = bfd.as_ref().map_or(0, |rx| rx.borrow().failures);
        SessionTask {
            bfd,
            bfd_failures_seen,
            waiting_for_bfd: false,
            settings,
            session: None,
            control,
            routes,
            status,
            metrics,
            factory,
            connecting: None,
            conn: None,
            timers: [None; 3],
            rib: None,
            buf: vec![0; READ_CHUNK],
            ignored_log: LogLimiter::new(IGNORED_LOG_INTERVAL),
            connect_log: LogLimiter::new(CONNECT_LOG_INTERVAL),
        }
    }

    pub(crate) fn status_for(peer: SocketAddr) -> PeerStatus {
        PeerStatus::new(peer)
    }

    /// Runs until de-configured or shut down.
    pub(crate) async fn run(mut self) {
        let peer = self.settings.key();
        self.start_session().await;
        let end = loop {
            match self.next_wake().await {
                Wake::Control(Control::Run(settings, bfd)) => {
                    if *settings != self.settings {
                        tracing::info!(%peer, "peer settings changed: resetting its session");
                        self.settings = *settings;
                        self.bfd_failures_seen = bfd.as_ref().map_or(0, |rx| rx.borrow().failures);
                        self.bfd = bfd;
                        let cease = Notification::new(
                            notification::CEASE,
                            notification::cease::OTHER_CONFIGURATION_CHANGE,
                            [],
                        );
                        self.feed(Event::Reset(cease)).await;
                        self.start_session().await;
                    }
                }
                Wake::Control(end @ (Control::Deconfigure | Control::Shutdown(_))) => break end,
                Wake::Abandoned => return,
                Wake::Connected(Ok(stream)) => self.connected(stream).await,
                Wake::Connected(Err(err)) => {
                    let refused = err.is_refused();
                    self.connect_failed(err.metric_label(), err.to_string(), refused);
                    self.feed(Event::TcpConnectFailed).await;
                }
                Wake::Read(Ok(0)) | Wake::Read(Err(_)) | Wake::Wrote(Err(_)) => {
                    self.feed(Event::TcpClosed).await;
                }
                Wake::Read(Ok(n)) => {
                    let connected = self.is_connected();
                    let Some(session) = self.session.as_mut() else {
                        continue;
                    };
                    let actions = session.handle(Event::Received(&self.buf[..n]));
                    self.count_received_notification(connected);
                    self.apply(actions).await;
                }
                Wake::Wrote(Ok(n)) => {
                    if let Some(c) = self.conn.as_mut() {
                        c.written += n;
                    }
                }
                Wake::Timer => self.fire_timers().await,
                Wake::Routes => self.routes_changed().await,
                Wake::Bfd => self.bfd_changed().await,
            }
            if self
                .conn
                .as_ref()
                .is_some_and(|c| c.pending().len() > MAX_PENDING_OUTPUT)
            {
                tracing::warn!(%peer, "peer does not read what we send: resetting the session");
                let n = Notification::new(notification::CEASE, notification::cease::OUT_OF_RESOURCES, []);
                self.feed(Event::Reset(n)).await;
            }
        };
        match end {
            Control::Deconfigure => {
                let n = Notification::new(notification::CEASE, notification::cease::PEER_DECONFIGURED, []);
                self.feed(Event::Reset(n)).await;
            }
            Control::Shutdown(ShutdownMode::Graceful) => self.feed(Event::StopGraceful).await,
            Control::Shutdown(ShutdownMode::Withdraw) | Control::Run(..) => self.feed(Event::Stop).await,
        }
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        self.metrics.remove();
        self.status.send_modify(|s| {
            s.state = State::Idle;
            s.local_address = None;
            s.advertised_prefixes = 0;
            s.finished = true;
        });
    }

    /// A fresh state machine with the current settings, started.
    async fn start_session(&mut self) {
        self.connecting = None;
        if let Some(conn) = self.conn.take() {
            conn.close().await;
        }
        self.timers = [None; 3];
        self.rib = None;
        match Session::new(self.settings.session.clone()) {
            Ok(session) => {
                self.session = Some(session);
                self.waiting_for_bfd = !self.bfd_up();
                if self.waiting_for_bfd {
                    tracing::info!(peer = %self.settings.key(), "BGP session waits for its BFD session to be Up");
                    self.status
                        .send_modify(|s| s.last_error = Some(SessionError::WaitingForBfd));
                    self.publish_state();
                } else {
                    self.feed(Event::Start).await;
                }
            }
            Err(err) => {
                // resolve() already checked the configuration; keep the task idle and say why
                self.session = None;
                tracing::error!(peer = %self.settings.key(), error = %err, "BGP session refused its configuration");
                self.status
                    .send_modify(|s| s.last_error = Some(SessionError::Config(err)));
            }
        }
    }

    /// Whether the BGP session may run: no BFD session is required, or it is Up.
    fn bfd_up(&self) -> bool {
        self.bfd.as_ref().is_none_or(|rx| rx.borrow().is_up())
    }

    /// The BFD session's status changed: a failure closes the BGP session and the next one waits for BFD; Up
    /// starts a waiting one.
    async fn bfd_changed(&mut self) {
        let Some(rx) = self.bfd.as_mut() else { return };
        let (up, failures) = {
            let s = rx.borrow_and_update();
            (s.is_up(), s.failures)
        };
        let peer = self.settings.key();
        if failures > self.bfd_failures_seen {
            self.bfd_failures_seen = failures;
            if self.session.is_some() && !self.waiting_for_bfd {
                tracing::warn!(%peer, "BFD session failed: closing the BGP session");
                let n = Notification::new(notification::CEASE, notification::cease::BFD_DOWN, []);
                self.feed(Event::Reset(n)).await;
                self.start_session().await;
                return;
            }
        }
        if up && self.waiting_for_bfd && self.session.is_some() {
            tracing::info!(%peer, "BFD session Up: starting the BGP session");
            self.waiting_for_bfd = false;
            self.feed(Event::Start).await;
        }
    }

    fn is_connected(&self) -> bool {
        self.session.as_ref().is_some_and(|s| {
            matches!(
                s.state(),
                State::OpenSent | State::OpenConfirm | State::Established
            )
        })
    }

    async fn next_wake(&mut self) -> Wake {
        let deadline = self.timers.iter().flatten().min().copied();
        let SessionTask {
            control,
            routes,
            connecting,
            conn,
            buf,
            bfd,
            ..
        } = self;
        let (rd, wr) = match conn.as_mut() {
            Some(c) => {
                let pending = &c.out[c.written..];
                (
                    Some(&mut c.rd),
                    (!pending.is_empty()).then_some((&mut c.wr, pending)),
                )
            }
            None => (None, None),
        };
        tokio::select! {
            biased;
            changed = control.changed() => match changed {
                Ok(()) => Wake::Control(control.borrow_and_update().clone()),
                Err(_) => Wake::Abandoned,
            },
            r = async { match connecting.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => {
                *connecting = None;
                Wake::Connected(r)
            }
            r = async { match rd { Some(rd) => rd.read(buf).await, None => std::future::pending().await } } => Wake::Read(r),
            r = async { match wr { Some((wr, pending)) => wr.write(pending).await, None => std::future::pending().await } } => Wake::Wrote(r),
            () = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => Wake::Timer,
            changed = routes.changed() => match changed {
                Ok(()) => Wake::Routes,
                Err(_) => Wake::Abandoned,
            },
            changed = async { match bfd.as_mut() { Some(rx) => rx.changed().await, None => std::future::pending().await } } => {
                if changed.is_err() {
                    // the BFD session was removed: new settings follow (with or without one)
                    *bfd = None;
                }
                Wake::Bfd
            }
        }
    }

    async fn connected(&mut self, stream: TcpStream) {
        let local = match stream.local_addr() {
            Ok(local) => local,
            Err(err) => {
                tracing::debug!(peer = %self.settings.key(), error = %err, "connection lost at once");
                self.feed(Event::TcpConnectFailed).await;
                return;
            }
        };
        let (rd, wr) = stream.into_split();
        self.conn = Some(Conn {
            rd,
            wr,
            local,
            out: Vec::new(),
            written: 0,
        });
        self.status.send_modify(|s| s.local_address = Some(local));
        self.feed(Event::TcpConnected).await;
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        for timer in TIMERS {
            let i = timer_index(timer);
            if self.timers[i].is_some_and(|d| d <= now) {
                self.timers[i] = None;
                if timer == Timer::ConnectRetry && self.connecting.is_some() {
                    let after = self.settings.session.connect_timeout.as_secs();
                    let message = format!(
                        "connecting to {}: no answer within {after} s",
                        self.settings.key()
                    );
                    self.connect_failed("timeout", message, false);
                }
                self.feed(Event::TimerExpired(timer)).await;
            }
        }
    }

    /// Feeds an event to the state machine and carries out the actions.
    async fn feed(&mut self, event: Event<'_>) {
        let connected = self.is_connected();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let actions = session.handle(event);
        self.count_received_notification(connected);
        self.apply(actions).await;
    }

    /// Counts a NOTIFICATION received if the last event ended the connection because of one.
    fn count_received_notification(&self, was_connected: bool) {
        if !was_connected || self.is_connected() {
            return;
        }
        if let Some(DownReason::NotificationReceived(n)) = self.session.as_ref().and_then(|s| s.last_error())
        {
            tracing::info!(peer = %self.settings.key(), notification = %n, "NOTIFICATION received");
            self.metrics.notification_received(n);
        }
    }

    async fn apply(&mut self, actions: Vec<Action>) {
        let peer = self.settings.key();
        let mut queue = VecDeque::from(actions);
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Connect => {
                    let transport = self.settings.transport.clone();
                    let factory = self.factory.clone();
                    self.connecting = Some(Box::pin(async move { connect(&transport, &factory).await }));
                }
                Action::Send(bytes) => {
                    if let Some((code, subcode)) = notification_in(&bytes) {
                        self.metrics.notification_sent(code, subcode);
                    }
                    if let Some(conn) = self.conn.as_mut() {
                        conn.queue(&bytes);
                    }
                }
                Action::Close => {
                    self.connecting = None;
                    if let Some(conn) = self.conn.take() {
                        conn.close().await;
                    }
                }
                Action::ArmTimer(timer, after) => {
                    self.timers[timer_index(timer)] = Some(Instant::now() + after);
                }
                Action::DisarmTimer(timer) => self.timers[timer_index(timer)] = None,
                Action::SessionUp(negotiated) => queue.extend(self.session_up(&negotiated)),
                Action::SessionDown(reason) => {
                    self.rib = None;
                    self.metrics.announced(0);
                    tracing::info!(%peer, reason = ?reason, "BGP session down");
                    self.status.send_modify(|s| {
                        s.advertised_prefixes = 0;
                        s.last_error = Some(SessionError::Down(reason.clone()));
                    });
                }
                Action::RouteRefreshRequested(family) => queue.extend(self.refresh(family)),
                Action::UpdateIgnored(ignored) => {
                    self.metrics.update_ignored();
                    if let Some(held_back) = self.ignored_log.allow(std::time::Instant::now()) {
                        tracing::warn!(
                            %peer,
                            error = %ignored,
                            rfc4271_notification = %ignored.error,
                            not_logged_before = held_back,
                            "malformed UPDATE from the peer ignored, session kept up (RFC 7606)"
                        );
                    }
                }
            }
        }
        self.publish_state();
    }

    /// A connection attempt failed: the status says why, and a warning (at the first failure, then at most
    /// one per [`CONNECT_LOG_INTERVAL`]) names the peer, the cause and what usually makes it.
    fn connect_failed(&mut self, kind: &'static str, message: String, refused: bool) {
        let hint = connect_hint(kind, refused, self.settings.transport.md5_password.is_some());
        if let Some(held_back) = self.connect_log.allow(std::time::Instant::now()) {
            tracing::warn!(
                peer = %self.settings.key(),
                error = %message,
                failed_before = held_back,
                hint,
                "BGP connect failed"
            );
        } else {
            tracing::debug!(peer = %self.settings.key(), error = %message, "BGP connect failed");
        }
        let error = SessionError::Connect {
            kind,
            message: format!("{message} ({hint})"),
        };
        self.status.send_modify(|s| s.last_error = Some(error));
    }

    fn publish_state(&self) {
        let state = self.session.as_ref().map_or(State::Idle, Session::state);
        let connected = self.conn.as_ref().map(|c| c.local);
        let advertised = self.rib.as_ref().map_or(0, |r| r.sent().len());
        self.metrics.state(state);
        self.status.send_if_modified(|s| {
            let changed =
                s.state != state || s.local_address != connected || s.advertised_prefixes != advertised;
            s.state = state;
            s.local_address = connected;
            s.advertised_prefixes = advertised;
            changed
        });
    }

    fn route_context(&self, local: SocketAddr) -> SessionRouteContext<'_> {
        SessionRouteContext {
            peer: &self.settings.name,
            local_address: local.ip(),
            other_family_next_hop: self.settings.other_family_next_hop,
            local_asn: self.settings.session.local_asn,
            ibgp: self.settings.session.is_ibgp(),
        }
    }

    /// Established: the initial routes and End-of-RIB.
    fn session_up(&mut self, negotiated: &Negotiated) -> Vec<Action> {
        let Some(local) = self.conn.as_ref().map(|c| c.local) else {
            return Vec::new();
        };
        tracing::info!(
            peer = %self.settings.key(),
            %local,
            peer_router_id = %negotiated.peer_router_id,
            hold_time = negotiated.hold_time,
            graceful_restart = negotiated.graceful_restart.is_some(),
            "BGP session established"
        );
        self.status.send_modify(|s| {
            s.established_count += 1;
            s.last_error = None;
        });
        let mut rib = AdjRibOut::new(negotiated.codec(), &negotiated.families);
        let advertisements = self.routes.borrow_and_update().clone();
        let desired = session_routes(&advertisements, &self.route_context(local));
        let mut updates = self.update_rib(&mut rib, desired);
        updates.extend(rib.end_of_rib());
        self.rib = Some(rib);
        self.send(&updates)
    }

    /// The advertisements changed: the minimal UPDATEs, if established.
    async fn routes_changed(&mut self) {
        let advertisements = self.routes.borrow_and_update().clone();
        let (Some(mut rib), Some(local)) = (self.rib.take(), self.conn.as_ref().map(|c| c.local)) else {
            return;
        };
        let desired = session_routes(&advertisements, &self.route_context(local));
        let updates = self.update_rib(&mut rib, desired);
        self.rib = Some(rib);
        let actions = self.send(&updates);
        self.apply(actions).await;
    }

    /// [`AdjRibOut::update`], dropping (and logging) routes that cannot be encoded rather than sending none.
    fn update_rib(&self, rib: &mut AdjRibOut, mut desired: BTreeMap<IpNet, RouteAttributes>) -> Vec<Update> {
        for _ in 0..MAX_DROPPED_ROUTES {
            match rib.update(&desired) {
                Ok(updates) => return updates,
                Err(err) => {
                    let prefix = match &err {
                        RibOutError::NextHopFamily { prefix, .. } | RibOutError::Encode { prefix, .. } => {
                            *prefix
                        }
                    };
                    tracing::error!(peer = %self.settings.key(), error = %err, "route not advertised");
                    if desired.remove(&prefix).is_none() {
                        break;
                    }
                }
            }
        }
        tracing::error!(peer = %self.settings.key(), "too many routes cannot be advertised; update skipped");
        Vec::new()
    }

    /// All routes of `family` again, for a ROUTE-REFRESH request.
    fn refresh(&mut self, family: Family) -> Vec<Action> {
        let updates = match self.rib.as_ref().map(|r| r.refresh(family)) {
            Some(Ok(updates)) => updates,
            Some(Err(err)) => {
                tracing::error!(peer = %self.settings.key(), error = %err, "route refresh failed");
                return Vec::new();
            }
            None => return Vec::new(),
        };
        self.send(&updates)
    }

    /// Encodes UPDATEs through the session and counts them.
    fn send(&mut self, updates: &[Update]) -> Vec<Action> {
        if updates.is_empty() {
            return Vec::new();
        }
        let Some(session) = self.session.as_mut() else {
            return Vec::new();
        };
        match session.send_updates(updates) {
            Ok(actions) => {
                let announced: usize = updates.iter().map(|u| u.announced().count()).sum();
                let withdrawn: usize = updates.iter().map(|u| u.withdrawn_all().count()).sum();
                self.metrics.updates_sent(updates.len(), announced, withdrawn);
                let advertised = self.rib.as_ref().map_or(0, |r| r.sent().len());
                self.metrics.announced(advertised);
                self.status
                    .send_modify(|s| s.updates_sent += updates.len() as u64);
                tracing::debug!(peer = %self.settings.key(), updates = updates.len(), announced, withdrawn, "UPDATEs sent");
                actions
            }
            Err(err) => {
                tracing::error!(peer = %self.settings.key(), error = %err, "UPDATEs not sent");
                Vec::new()
            }
        }
    }
}

fn describe(reason: &DownReason) -> String {
    match reason {
        DownReason::Stopped => "stopped".to_string(),
        DownReason::Reset(n) => format!("reset: sent {n}"),
        DownReason::ConnectionLost => "connection lost".to_string(),
        DownReason::HoldTimerExpired => "hold timer expired".to_string(),
        DownReason::NotificationReceived(n) => format!("received {n}"),
        DownReason::NotificationSent { notification, reason } => format!("sent {notification}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_hint_at_their_usual_cause() {
        let cases = [
            ("timeout", false, true, "TCP MD5 password differs"),
            ("timeout", false, false, "expects a TCP MD5 password"),
            ("connect", true, false, "nothing listens"),
            ("bind", false, false, "not an address of this node"),
            ("connect", false, false, "see the error"),
        ];
        for (kind, refused, password, says) in cases {
            let hint = connect_hint(kind, refused, password);
            assert!(hint.contains(says), "{kind} {refused} {password}: {hint}");
        }
    }

    #[test]
    fn ignored_update_logs_are_limited_to_one_per_interval() {
        let mut limiter = LogLimiter::new(Duration::from_secs(60));
        let t0 = std::time::Instant::now();
        assert_eq!(limiter.allow(t0), Some(0), "the first is logged");
        assert_eq!(limiter.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(59)), None);
        assert_eq!(
            limiter.allow(t0 + Duration::from_secs(60)),
            Some(2),
            "the next line says how many were held back"
        );
        assert_eq!(limiter.allow(t0 + Duration::from_secs(61)), None);
        assert_eq!(limiter.allow(t0 + Duration::from_secs(200)), Some(1));
    }

    #[test]
    fn notifications_are_recognised_in_outgoing_bytes() {
        let cxt = ferrolb_proto::bgp::CodecContext::default();
        let n = ferrolb_proto::bgp::Message::Notification(Notification::new(6, 3, []))
            .encode(&cxt)
            .unwrap();
        assert_eq!(notification_in(&n), Some((6, 3)));
        let k = ferrolb_proto::bgp::Message::Keepalive.encode(&cxt).unwrap();
        assert_eq!(notification_in(&k), None);
        assert_eq!(notification_in(&[]), None);
    }
}
