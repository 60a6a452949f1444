//! The BFD task: every session of the speaker, their sockets and their timers, on one dedicated thread.
//!
//! It waits on, at once: the owner's commands, the earliest deadline of all sessions (one ordered schedule),
//! and the receive sockets (one per family and encapsulation in use). Nothing else runs on its thread, so a busy
//! main runtime cannot delay a packet. A received packet is matched to its session by Your Discriminator, or,
//! while the router does not know ours yet (Your Discriminator 0), by the source address and the port it came
//! to; it is then checked by the state machine (TTL, RFC 5880 §6.8.6) with the TTL the kernel reported.
//!
//! Transmit timing is measured where it happens: how late each periodic packet leaves after its due time
//! (`bfd_transmit_delay_seconds`), and every gap between two packets longer than the detection time the
//! router applies to them (`bfd_detection_time_misses_total`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ferrolb_proto::bfd::{Action, Diag, DownReason, Session};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use super::engine::{BfdEngineOptions, BfdStatus};
use super::io::{receive_socket, transmit_socket};
use super::metrics::{BfdMetrics, SessionMetrics};
use super::settings::{BfdKey, BfdSettings};
use crate::k8s::events::{Reason, node_event};
use crate::socket::ttl::{Received, recv_with_ttl};

/// How long after a socket error a session's sockets are tried again.
const RETRY: Duration = Duration::from_secs(1);
/// Packets read from one socket before the timers get their turn again.
const RX_BURST: usize = 64;
/// At most one Event per session within this time.
const EVENT_INTERVAL: Duration = Duration::from_secs(60);
/// A Control packet is at most 24 + 28 bytes (SHA1 authentication); anything longer is truncated.
const BUF: usize = 128;

/// What the owner asks of the task.
#[derive(Debug)]
pub(crate) enum Command {
    /// A new session, publishing its status on the sender.
    Add(Box<BfdSettings>, watch::Sender<BfdStatus>),
    /// New settings for a session: new timers are polled in, anything else makes a new session.
    Update(Box<BfdSettings>),
    /// The session is no longer wanted: AdminDown, then gone.
    Remove(BfdKey),
    /// The speaker stops: every session AdminDown; acknowledged once sent.
    AdminDown(oneshot::Sender<()>),
}

/// A running session: the state machine and its transmit socket.
struct Running {
    session: Session,
    tx: std::net::UdpSocket,
    discriminator: u32,
    last_tx: Option<Instant>,
}

/// One configured session.
struct Entry {
    settings: BfdSettings,
    run: Option<Running>,
    /// When to try the sockets again (while `run` is `None`).
    retry: Option<Instant>,
    status: watch::Sender<BfdStatus>,
    metrics: SessionMetrics,
    scheduled: Option<Instant>,
    last_event: Option<Instant>,
    events_held_back: u64,
}

/// A receive socket.
struct Rx {
    socket: UdpSocket,
    multihop: bool,
}

/// The index of the receive socket of a family and encapsulation.
fn rx_index(ipv6: bool, multihop: bool) -> usize {
    usize::from(ipv6) * 2 + usize::from(multihop)
}

pub(crate) struct EngineTask {
    options: BfdEngineOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    sessions: BTreeMap<BfdKey, Entry>,
    by_discriminator: HashMap<u32, BfdKey>,
    schedule: BTreeSet<(Instant, BfdKey)>,
    rx: [Option<Rx>; 4],
    /// After [`Command::AdminDown`]: new sessions start AdminDown too.
    stopping: bool,
}

enum Wake {
    Command(Command),
    Timer,
    Readable(usize),
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

async fn readable(rx: &[Option<Rx>; 4]) -> usize {
    let wait = |i: usize| async move {
        match &rx[i] {
            Some(r) => {
                let _ = r.socket.readable().await;
                i
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        i = wait(0) => i,
        i = wait(1) => i,
        i = wait(2) => i,
        i = wait(3) => i,
    }
}

impl EngineTask {
    pub(crate) fn new(options: BfdEngineOptions, commands: mpsc::UnboundedReceiver<Command>) -> EngineTask {
        EngineTask {
            options,
            commands,
            sessions: BTreeMap::new(),
            by_discriminator: HashMap::new(),
            schedule: BTreeSet::new(),
            rx: [None, None, None, None],
            stopping: false,
        }
    }

    /// Runs until the owner drops its handle.
    pub(crate) async fn run(mut self) {
        loop {
            let deadline = self.schedule.first().map(|(t, _)| *t);
            let wake = tokio::select! {
                biased;
                () = sleep_until(deadline) => Wake::Timer,
                cmd = self.commands.recv() => match cmd {
                    Some(c) => Wake::Command(c),
                    None => return,
                },
                i = readable(&self.rx) => Wake::Readable(i),
            };
            match wake {
                Wake::Timer => self.fire(Instant::now()),
                Wake::Command(c) => self.command(c),
                Wake::Readable(i) => self.drain(i),
            }
        }
    }

    fn metrics(&self) -> &BfdMetrics {
        &self.options.metrics
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Add(settings, status) => {
                let key = settings.key();
                let metrics = self.options.metrics.session(key.peer);
                self.sessions.insert(
                    key,
                    Entry {
                        settings: *settings,
                        run: None,
                        retry: Some(now),
                        status,
                        metrics,
                        scheduled: None,
                        last_event: None,
                        events_held_back: 0,
                    },
                );
                self.open(key, now);
            }
            Command::Update(settings) => {
                let key = settings.key();
                let Some(entry) = self.sessions.get_mut(&key) else {
                    return;
                };
                let renew = entry.settings.needs_new_session(&settings);
                entry.settings = *settings;
                if renew {
                    tracing::info!(peer = %key, "BFD session settings changed: starting a new session");
                    self.close(key, now);
                    self.open(key, now);
                } else if let Some(run) = entry.run.as_mut() {
                    tracing::info!(peer = %key, intervals = ?entry.settings.intervals, "BFD timers changed");
                    if let Err(err) = run.session.set_intervals(now, entry.settings.intervals) {
                        tracing::error!(peer = %key, error = %err, "BFD timers refused");
                    }
                    self.reschedule(key);
                }
            }
            Command::Remove(key) => {
                self.close(key, now);
                if let Some(entry) = self.sessions.remove(&key) {
                    entry.metrics.remove();
                    if let Some(at) = entry.scheduled {
                        self.schedule.remove(&(at, key));
                    }
                }
            }
            Command::AdminDown(ack) => {
                self.stopping = true;
                let keys: Vec<BfdKey> = self.sessions.keys().copied().collect();
                for key in keys {
                    self.admin_down(key, now);
                }
                let _ = ack.send(());
            }
        }
    }

    /// Tells the router the session is going down on purpose (one AdminDown packet) and closes it.
    fn close(&mut self, key: BfdKey, now: Instant) {
        self.admin_down(key, now);
        if let Some(run) = self.sessions.get_mut(&key).and_then(|e| e.run.take()) {
            self.by_discriminator.remove(&run.discriminator);
        }
    }

    fn admin_down(&mut self, key: BfdKey, now: Instant) {
        let Some(run) = self.sessions.get_mut(&key).and_then(|e| e.run.as_mut()) else {
            return;
        };
        let actions = run.session.admin_down(now, Diag::AdministrativelyDown);
        self.carry_out(key, actions, now);
        self.reschedule(key);
    }

    /// Creates the session's sockets and state machine; on failure, says why and tries again later.
    fn open(&mut self, key: BfdKey, now: Instant) {
        let Some(entry) = self.sessions.get(&key) else {
            return;
        };
        let settings = entry.settings.clone();
        let discriminator = self.free_discriminator();
        let result = self.ensure_receive(key).and_then(|()| {
            transmit_socket(
                &self.options.socket_factory,
                settings.peer,
                settings.local,
                settings.local_required,
                discriminator,
            )
            .map_err(|e| e.to_string())
        });
        let seed = {
            let mut h = DefaultHasher::new();
            (&self.options.node, key, discriminator).hash(&mut h);
            h.finish()
        };
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        match result.and_then(|tx| {
            Session::new(settings.session_config(discriminator, seed), now)
                .map(|session| (tx, session))
                .map_err(|e| e.to_string())
        }) {
            Ok((tx, session)) => {
                tracing::debug!(peer = %key, discriminator, local = ?tx.local_addr().ok(), "BFD session started");
                entry.run = Some(Running {
                    session,
                    tx,
                    discriminator,
                    last_tx: None,
                });
                entry.retry = None;
                entry.metrics.state(ferrolb_proto::bfd::State::Down);
                entry.status.send_if_modified(|s| s.error.take().is_some());
                self.by_discriminator.insert(discriminator, key);
                if self.stopping {
                    self.admin_down(key, now);
                }
            }
            Err(error) => {
                if entry.status.borrow().error.as_deref() != Some(error.as_str()) {
                    tracing::warn!(peer = %key, %error, "BFD session cannot run; retrying every second");
                }
                entry.retry = Some(now + RETRY);
                entry.status.send_if_modified(|s| {
                    let changed = s.error.as_deref() != Some(error.as_str());
                    s.error = Some(error);
                    changed
                });
            }
        }
        self.reschedule(key);
    }

    fn free_discriminator(&self) -> u32 {
        loop {
            let d: u32 = rand::random();
            if d != 0 && !self.by_discriminator.contains_key(&d) {
                return d;
            }
        }
    }

    /// The receive socket for `key`'s family and encapsulation, opened on first use.
    fn ensure_receive(&mut self, key: BfdKey) -> Result<(), String> {
        let i = rx_index(key.peer.is_ipv6(), key.multihop);
        if self.rx[i].is_some() {
            return Ok(());
        }
        let port = if key.multihop {
            ferrolb_proto::bfd::MULTI_HOP_PORT
        } else {
            ferrolb_proto::bfd::SINGLE_HOP_PORT
        };
        let socket = receive_socket(&self.options.socket_factory, key.peer.is_ipv6(), port)
            .map_err(|e| e.to_string())
            .and_then(|s| UdpSocket::from_std(s).map_err(|e| e.to_string()))?;
        self.rx[i] = Some(Rx {
            socket,
            multihop: key.multihop,
        });
        Ok(())
    }

    /// Every deadline that passed by `now`.
    fn fire(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.schedule.first() {
            if at > now {
                break;
            }
            self.schedule.pop_first();
            let Some(entry) = self.sessions.get_mut(&key) else {
                continue;
            };
            entry.scheduled = None;
            match entry.run.as_mut() {
                None => self.open(key, now),
                Some(run) => {
                    let due = run.session.transmit_deadline();
                    let actions = run.session.on_timer(now);
                    if let Some(due) = due.filter(|d| *d <= now)
                        && actions.iter().any(|a| matches!(a, Action::Send(_)))
                    {
                        self.options.metrics.transmit_delay(now - due);
                    }
                    self.carry_out(key, actions, now);
                    self.reschedule(key);
                }
            }
        }
    }

    /// Puts the session's next deadline in the schedule.
    fn reschedule(&mut self, key: BfdKey) {
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        let next = match &entry.run {
            Some(run) => run.session.next_deadline(),
            None => entry.retry,
        };
        if next == entry.scheduled {
            return;
        }
        if let Some(at) = entry.scheduled.take() {
            self.schedule.remove(&(at, key));
        }
        if let Some(at) = next {
            self.schedule.insert((at, key));
            entry.scheduled = Some(at);
        }
    }

    /// Reads what socket `i` has queued (at most [`RX_BURST`] packets).
    fn drain(&mut self, i: usize) {
        let mut buf = [0u8; BUF];
        for _ in 0..RX_BURST {
            let Some(rx) = &self.rx[i] else { return };
            let multihop = rx.multihop;
            match rx
                .socket
                .try_io(Interest::READABLE, || recv_with_ttl(&rx.socket, &mut buf))
            {
                Ok(received) => {
                    let len = received.len;
                    self.receive(multihop, received, &buf[..len]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "BFD receive failed");
                    self.metrics().discarded("receive_error");
                    return;
                }
            }
        }
    }

    fn receive(&mut self, multihop: bool, received: Received, bytes: &[u8]) {
        let now = Instant::now();
        if received.truncated {
            self.metrics().discarded("truncated");
            return;
        }
        let (Some(from), Some(your)) = (received.from, bytes.get(8..12)) else {
            self.metrics().discarded("malformed");
            return;
        };
        let your = u32::from_be_bytes([your[0], your[1], your[2], your[3]]);
        let key = if your == 0 {
            Some(BfdKey {
                peer: from.ip(),
                multihop,
            })
        } else {
            self.by_discriminator.get(&your).copied()
        };
        let Some((key, run)) = key.and_then(|k| Some((k, self.sessions.get_mut(&k)?.run.as_mut()?))) else {
            self.metrics().discarded("no_session");
            return;
        };
        let ttl = received.ttl.unwrap_or(0);
        match run.session.receive(now, bytes, ttl) {
            Ok(actions) => {
                if let Some(e) = self.sessions.get(&key) {
                    e.metrics.received();
                }
                self.carry_out(key, actions, now);
            }
            Err(discard) => {
                tracing::trace!(peer = %key, %from, reason = %discard, "BFD packet discarded");
                self.metrics().discarded(discard.metric_label());
            }
        }
        self.reschedule(key);
    }

    /// Sends the packets and publishes the state changes of one call into the session.
    fn carry_out(&mut self, key: BfdKey, actions: Vec<Action>, now: Instant) {
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        let mut failed = None;
        for action in actions {
            match action {
                Action::Send(bytes) => {
                    if let Some(run) = entry.run.as_mut() {
                        send(run, &entry.settings, &entry.metrics, &bytes, now);
                    }
                }
                Action::StateChanged { from, to, diag } => {
                    entry.metrics.state_changed(to);
                    tracing::info!(peer = %key, ?from, ?to, ?diag, "BFD session state changed");
                    entry.status.send_modify(|s| s.state = to);
                }
                Action::Up => entry.status.send_modify(|s| s.ups += 1),
                Action::Down(reason) => {
                    entry.metrics.down(reason);
                    entry.status.send_modify(|s| {
                        s.last_down = Some(reason);
                        s.failures += u64::from(reason.is_failure());
                    });
                    if reason.is_failure() {
                        failed = Some(reason);
                    }
                }
            }
        }
        if let Some(reason) = failed {
            tracing::warn!(peer = %key, reason = reason.metric_label(), "BFD session down: the path to the router failed");
            self.event(key, reason, now);
        }
    }

    /// An Event on the Node (at most one per session and [`EVENT_INTERVAL`]).
    fn event(&mut self, key: BfdKey, reason: DownReason, now: Instant) {
        let (Some(events), Some(entry)) = (self.options.events.as_ref(), self.sessions.get_mut(&key)) else {
            return;
        };
        if entry
            .last_event
            .is_some_and(|t| now.saturating_duration_since(t) < EVENT_INTERVAL)
        {
            entry.events_held_back += 1;
            return;
        }
        entry.last_event = Some(now);
        let held_back = std::mem::take(&mut entry.events_held_back);
        let why = match reason {
            DownReason::DetectionTimeExpired => "no BFD packet from it within the detection time",
            _ => "it reported the session Down",
        };
        let mut note = format!(
            "BFD session with router {} ({} profile {}) went down: {why}; its BGP sessions were closed",
            key.peer,
            if key.multihop { "multi-hop," } else { "single hop," },
            entry.settings.profile
        );
        if held_back > 0 {
            note.push_str(&format!(" ({held_back} more times since the last Event)"));
        }
        // the Event queue is bounded: when full the Event is dropped, never waited for
        let _ = events.try_send(node_event(&self.options.node, Reason::BfdSessionDown, note));
    }
}

/// Sends one packet of a session; counts detection-time misses (a gap the router may have declared us down
/// over) and send errors.
fn send(run: &mut Running, settings: &BfdSettings, metrics: &SessionMetrics, bytes: &[u8], now: Instant) {
    if run.session.state() == ferrolb_proto::bfd::State::Up
        && let (Some(last), Some(interval)) = (run.last_tx, run.session.transmit_interval())
        && now.saturating_duration_since(last) > interval * u32::from(settings.intervals.detect_mult)
    {
        metrics.detection_time_miss();
    }
    run.last_tx = Some(now);
    let to = SocketAddr::new(settings.peer, settings.hop.port());
    match run.tx.send_to(bytes, to) {
        Ok(_) => metrics.sent(),
        Err(e) => {
            tracing::trace!(peer = %to, error = %e, "BFD packet not sent");
            metrics.send_error();
        }
    }
}
