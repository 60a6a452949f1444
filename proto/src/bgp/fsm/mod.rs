//! The BGP session state machine (RFC 4271 §8), sans I/O.
//!
//! A [`Session`] takes [`Event`]s (start, stop, TCP connected / failed / closed, bytes or a decoded message
//! received, a timer expired) and returns the [`Action`]s the speaker must carry out, in order: connect, send
//! bytes, close, (re)arm or disarm a timer, report the session up or down. It owns no socket, no clock and no
//! task; randomness (connect-retry jitter) comes from a seeded generator, so every run is reproducible.
//!
//! ```text
//!            Start                TCP connected           OPEN ok              KEEPALIVE
//!   Idle ─────────────▶ Connect ──────────────▶ OpenSent ─────────▶ OpenConfirm ─────────▶ Established
//!    ▲  ▲ retry timer     │ failed / timeout      │  │                 │                       │
//!    │  └──── Active ◀────┘◀──────────────────────┘  │ any error: NOTIFICATION, close,         │
//!    └────────────────────────────────────────────────┴─ back off, then Idle ─▶ Connect again ◀─┘
//! ```
//!
//! Contract with the speaker:
//! - `ArmTimer` (re)starts a timer, replacing a running one; `DisarmTimer` stops it. The session ignores the
//!   expiry of a timer it does not consider armed, so a late expiry cannot do harm.
//! - After `Close`, events from that connection must no longer be delivered (a new connection starts with
//!   `Connect`); stale TCP events in states without a connection are ignored anyway.
//! - `SessionUp` is followed by exactly one `SessionDown` before the next `SessionUp`. UPDATEs are sent with
//!   [`Session::send_updates`] while established.
//! - Leaving: [`Event::Stop`] makes the peer withdraw our routes at once, [`Event::StopGraceful`] lets a
//!   graceful restart helper keep them until the next session's End-of-RIB. With the N bit of RFC 8538
//!   negotiated ([`SessionConfig::graceful_notification`]) every NOTIFICATION except Hard Reset keeps them,
//!   so the session wraps the Cease subcodes meant to end it for good in a Hard Reset (RFC 8538 §5.1).
//! - Only active opens are made and no collision detection is done: ferrolb dials its routers, which are
//!   configured as passive or simply accept. An incoming connection the speaker chooses to hand over is
//!   reported as `TcpConnected` while in Connect or Active.
//! - Received UPDATEs are decoded for validity only: ferrolb originates routes and ignores the peer's.
//!   A malformed UPDATE is handled per RFC 7606 ([`super::update_error`] has the table): when the message
//!   cannot be delimited (inconsistent lengths, unparsable NLRI or MP_REACH/MP_UNREACH) the session is reset
//!   with a NOTIFICATION as before; any other error leaves the session Established, restarts the hold timer
//!   like any UPDATE, and yields [`Action::UpdateIgnored`] for the speaker to log and count.

mod config;
mod negotiate;

use std::time::Duration;

pub use config::{Backoff, ConfigError, GracefulRestartConfig, SessionConfig};
pub use negotiate::{Negotiated, OpenError};

pub(crate) use config::Jitter;

use super::codec::{CodecContext, DecodeError, EncodeError};
use super::framer::Framer;
use super::notification::{self as n, Notification};
use super::types::{Family, Message, Update};
use super::update_error::IgnoredUpdate;

/// RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Not connecting; waiting for Start, or for the retry timer after an error.
    Idle,
    /// A TCP connection is being opened.
    Connect,
    /// The last connection attempt failed; waiting for the retry timer.
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// The session is up.
    Established,
}

/// The session's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Connect timeout in Connect; backoff delay before the next attempt in Idle and Active.
    ConnectRetry,
    /// Hold timer: no message from the peer within it ends the session.
    Hold,
    /// Time to send the next KEEPALIVE.
    Keepalive,
}

impl Timer {
    const fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
        }
    }
}

/// An input to the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// Start the session (manual start); it then reconnects on its own after every failure.
    Start,
    /// Stop the session for good, so that the peer withdraws our routes at once: Cease / Administrative
    /// Shutdown if connected (sent as Hard Reset when the N bit is negotiated, RFC 8538), and no more
    /// reconnects.
    Stop,
    /// Stop the session so that the peer keeps our routes as stale until we are back (graceful restart):
    /// once established with the N bit negotiated, Cease / Administrative Reset (RFC 8538 §4: anything but
    /// Hard Reset keeps them); otherwise the connection is closed without a NOTIFICATION (RFC 4724 §4.2).
    /// No more reconnects either.
    StopGraceful,
    /// Send this NOTIFICATION (e.g. Cease / Other Configuration Change), close, and reconnect after the
    /// initial backoff delay.
    Reset(Notification),
    /// The TCP connection is established.
    TcpConnected,
    /// The TCP connection attempt failed.
    TcpConnectFailed,
    /// The TCP connection was closed or broke (read error, EOF).
    TcpClosed,
    /// Bytes read from the connection, in any chunking.
    Received(&'a [u8]),
    /// A message the speaker already decoded.
    Message(Box<Message>),
    /// A timer armed by the session expired.
    TimerExpired(Timer),
}

/// Why an established session went down (or, for [`Session::last_error`], why a connection failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// [`Event::Stop`].
    Stopped,
    /// [`Event::Reset`] with this NOTIFICATION.
    Reset(Notification),
    /// The TCP connection closed or failed.
    ConnectionLost,
    /// No message from the peer within the hold time.
    HoldTimerExpired,
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// We sent this NOTIFICATION because of the error described.
    NotificationSent {
        /// What was sent.
        notification: Notification,
        /// What was wrong.
        reason: String,
    },
}

/// An output of the state machine, for the speaker to carry out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a TCP connection to the peer (port 179), then report `TcpConnected` or `TcpConnectFailed`.
    Connect,
    /// Write these bytes (one or more encoded messages) to the connection.
    Send(Vec<u8>),
    /// Close the connection (after writing what was sent before), or abort a pending connect.
    Close,
    /// Start the timer, replacing it if running.
    ArmTimer(Timer, Duration),
    /// Stop the timer.
    DisarmTimer(Timer),
    /// The session is established with these parameters: send the initial routes and End-of-RIB.
    SessionUp(Negotiated),
    /// The established session ended: what was sent to the peer is forgotten.
    SessionDown(DownReason),
    /// The peer asked for all our routes of this family again (ROUTE-REFRESH).
    RouteRefreshRequested(Family),
    /// A malformed UPDATE was received and ignored (RFC 7606 treat-as-withdraw or attribute discard; the
    /// peer's routes are not used anyway): the session stays up; log it and count it.
    UpdateIgnored(IgnoredUpdate),
}

/// [`Session::send_updates`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The session is not established.
    #[error("session is {0:?}, not Established")]
    NotEstablished(State),
    /// An UPDATE cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// A BGP session with one peer.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: State,
    started: bool,
    framer: Framer,
    codec: CodecContext,
    negotiated: Option<Negotiated>,
    failures: u32,
    jitter: Jitter,
    armed: [bool; 3],
    last_error: Option<DownReason>,
}

impl Session {
    /// A session in Idle; send [`Event::Start`] to connect.
    pub fn new(config: SessionConfig) -> Result<Session, ConfigError> {
        config.validate()?;
        let jitter = Jitter::new(config.jitter_seed);
        Ok(Session {
            config,
            state: State::Idle,
            started: false,
            framer: Framer::new(),
            codec: CodecContext::default(),
            negotiated: None,
            failures: 0,
            jitter,
            armed: [false; 3],
            last_error: None,
        })
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// What was negotiated, while OpenConfirm or Established.
    pub fn negotiated(&self) -> Option<&Negotiated> {
        self.negotiated.as_ref()
    }

    /// The encoding context of the session (4-octet AS or not).
    pub fn codec(&self) -> CodecContext {
        self.codec
    }

    /// Why the last connection or session ended, for status and logs.
    pub fn last_error(&self) -> Option<&DownReason> {
        self.last_error.as_ref()
    }

    /// Whether the timer is armed, as far as the session knows.
    pub fn is_armed(&self, timer: Timer) -> bool {
        self.armed[timer.index()]
    }

    /// Feeds one event and returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Start => self.on_start(&mut out),
            Event::Stop => self.on_stop(false, &mut out),
            Event::StopGraceful => self.on_stop(true, &mut out),
            Event::Reset(notification) => self.on_reset(notification, &mut out),
            Event::TcpConnected => self.on_connected(&mut out),
            Event::TcpConnectFailed | Event::TcpClosed => self.on_connection_lost(&mut out),
            Event::Received(bytes) => self.on_bytes(bytes, &mut out),
            Event::Message(msg) => self.on_message(*msg, &mut out),
            Event::TimerExpired(timer) => self.on_timer(timer, &mut out),
        }
        out
    }

    /// Encodes UPDATEs for the established session and restarts the keepalive timer (RFC 4271 §8.2.2:
    /// sending an UPDATE counts as a keepalive). All or nothing: on an encoding error nothing is sent.
    pub fn send_updates(&mut self, updates: &[Update]) -> Result<Vec<Action>, SendError> {
        if self.state != State::Established {
            return Err(SendError::NotEstablished(self.state));
        }
        let mut bytes = Vec::new();
        for update in updates {
            bytes.extend(Message::Update(update.clone()).encode(&self.codec)?);
        }
        let mut out = Vec::new();
        if !bytes.is_empty() {
            out.push(Action::Send(bytes));
            self.restart_keepalive(&mut out);
        }
        Ok(out)
    }

    // ===== timers =====

    fn arm(&mut self, timer: Timer, after: Duration, out: &mut Vec<Action>) {
        self.armed[timer.index()] = true;
        out.push(Action::ArmTimer(timer, after));
    }

    fn disarm(&mut self, timer: Timer, out: &mut Vec<Action>) {
        if std::mem::replace(&mut self.armed[timer.index()], false) {
            out.push(Action::DisarmTimer(timer));
        }
    }

    fn disarm_all(&mut self, out: &mut Vec<Action>) {
        for timer in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            self.disarm(timer, out);
        }
    }

    fn restart_hold(&mut self, out: &mut Vec<Action>) {
        match self.negotiated.as_ref().map_or(0, |n| n.hold_time) {
            0 => self.disarm(Timer::Hold, out),
            hold => self.arm(Timer::Hold, Duration::from_secs(u64::from(hold)), out),
        }
    }

    fn restart_keepalive(&mut self, out: &mut Vec<Action>) {
        match self.negotiated.as_ref().map_or(0, |n| n.keepalive_time) {
            0 => self.disarm(Timer::Keepalive, out),
            ka => self.arm(Timer::Keepalive, Duration::from_secs(u64::from(ka)), out),
        }
    }

    // ===== transitions =====

    fn connect(&mut self, out: &mut Vec<Action>) {
        self.state = State::Connect;
        out.push(Action::Connect);
        let timeout = self.config.connect_timeout;
        self.arm(Timer::ConnectRetry, timeout, out);
    }

    /// Leaves the current connection: reports the session down if it was established, disarms every timer
    /// and goes to `next` (Idle or Active), arming the backoff timer if the session is still started.
    fn drop_connection(
        &mut self,
        next: State,
        reason: DownReason,
        count_failure: bool,
        out: &mut Vec<Action>,
    ) {
        if self.state == State::Established {
            out.push(Action::SessionDown(reason.clone()));
        }
        self.last_error = Some(reason);
        self.disarm_all(out);
        self.framer.clear();
        self.negotiated = None;
        self.codec = CodecContext::default();
        self.state = next;
        if count_failure {
            self.failures = self.failures.saturating_add(1);
        }
        if self.started {
            let delay = self.jitter.backoff(&self.config.backoff, self.failures.max(1));
            self.arm(Timer::ConnectRetry, delay, out);
        }
    }

    /// Whether both sides set the N bit (RFC 8538) on the current connection.
    fn graceful_notification(&self) -> bool {
        self.negotiated.as_ref().is_some_and(|n| n.graceful_notification)
    }

    /// Queues `notification` as this session sends it: wrapped in a Hard Reset where RFC 8538 §5.1 wants
    /// one and the N bit is negotiated.
    fn send_notification(&self, notification: &Notification, out: &mut Vec<Action>) {
        let wire = notification.for_session(self.graceful_notification());
        // A NOTIFICATION always encodes: its codes come from this crate or from netgauze's own mapping.
        if let Ok(bytes) = Message::Notification(wire).encode(&self.codec) {
            out.push(Action::Send(bytes));
        }
    }

    /// Sends a NOTIFICATION, closes, and goes to Idle with backoff (RFC 4271 §8.2.2 error handling).
    fn fail(&mut self, notification: Notification, reason: String, out: &mut Vec<Action>) {
        self.send_notification(&notification, out);
        out.push(Action::Close);
        self.drop_connection(
            State::Idle,
            DownReason::NotificationSent { notification, reason },
            true,
            out,
        );
    }

    fn on_start(&mut self, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        self.failures = 0;
        if self.state == State::Idle {
            self.disarm(Timer::ConnectRetry, out);
            self.connect(out);
        }
    }

    fn on_stop(&mut self, graceful: bool, out: &mut Vec<Action>) {
        self.started = false;
        match self.state {
            State::Idle | State::Active => {
                self.disarm_all(out);
                self.state = State::Idle;
            }
            State::Connect => {
                out.push(Action::Close);
                self.drop_connection(State::Idle, DownReason::Stopped, false, out);
            }
            State::OpenSent | State::OpenConfirm | State::Established => {
                if !graceful {
                    self.send_notification(&Notification::administrative_shutdown(""), out);
                } else if self.state == State::Established && self.graceful_notification() {
                    self.send_notification(&Notification::administrative_reset(), out);
                }
                // else: graceful without the N bit: close without a NOTIFICATION, as a restart would
                out.push(Action::Close);
                self.drop_connection(State::Idle, DownReason::Stopped, false, out);
            }
        }
    }

    fn on_reset(&mut self, notification: Notification, out: &mut Vec<Action>) {
        match self.state {
            State::Idle | State::Active => {}
            State::Connect => out.push(Action::Close),
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.send_notification(&notification, out);
                out.push(Action::Close);
            }
        }
        if self.state != State::Idle || self.started {
            self.failures = 0;
            self.drop_connection(State::Idle, DownReason::Reset(notification), false, out);
        }
    }

    fn on_connected(&mut self, out: &mut Vec<Action>) {
        match self.state {
            State::Connect | State::Active => {
                self.disarm(Timer::ConnectRetry, out);
                self.framer.clear();
                self.codec = CodecContext::default();
                let open = negotiate::local_open(&self.config);
                match Message::Open(open).encode(&self.codec) {
                    Ok(bytes) => out.push(Action::Send(bytes)),
                    Err(err) => {
                        // The configuration was validated; an unencodable OPEN is a bug, reported as such.
                        let notification = Notification::new(n::CEASE, n::cease::OUT_OF_RESOURCES, []);
                        self.state = State::OpenSent;
                        self.fail(notification, format!("cannot encode our OPEN: {err}"), out);
                        return;
                    }
                }
                self.state = State::OpenSent;
                let hold = self.config.open_hold_time;
                self.arm(Timer::Hold, hold, out);
            }
            // No connection is expected (Idle) or one is already up (collision): refuse the newcomer.
            State::Idle | State::OpenSent | State::OpenConfirm | State::Established => {
                if self.state == State::Idle {
                    out.push(Action::Close);
                }
            }
        }
    }

    fn on_connection_lost(&mut self, out: &mut Vec<Action>) {
        match self.state {
            // Stale event from a connection already given up.
            State::Idle | State::Active => {}
            State::Connect | State::OpenSent => {
                out.push(Action::Close);
                self.drop_connection(State::Active, DownReason::ConnectionLost, true, out);
            }
            State::OpenConfirm | State::Established => {
                out.push(Action::Close);
                self.drop_connection(State::Idle, DownReason::ConnectionLost, true, out);
            }
        }
    }

    fn on_bytes(&mut self, bytes: &[u8], out: &mut Vec<Action>) {
        if !matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        ) {
            return; // no connection to read from: stale data
        }
        self.framer.push(bytes);
        loop {
            let decoded = match self.framer.next_message() {
                Ok(None) => return,
                Ok(Some(raw)) => Message::decode(raw, &self.codec),
                Err(err) => Err(err),
            };
            match decoded {
                Ok(msg) => self.on_message(msg, out),
                Err(err) => self.on_decode_error(err, out),
            }
            if !matches!(
                self.state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) {
                return; // the connection was closed: the rest of the bytes is moot
            }
        }
    }

    fn on_decode_error(&mut self, err: DecodeError, out: &mut Vec<Action>) {
        if let DecodeError::UpdateIgnored(ignored) = err {
            if self.state == State::Established {
                self.restart_hold(out);
                out.push(Action::UpdateIgnored(ignored));
            } else {
                // RFC 6608: an UPDATE before Established is unexpected, malformed or not.
                self.unexpected_type(2, "UPDATE", out);
            }
            return;
        }
        match err.notification() {
            Some(notification) => self.fail(notification, err.to_string(), out),
            None => {
                // A malformed NOTIFICATION: the peer is closing anyway; close without answering.
                out.push(Action::Close);
                let reason = DownReason::NotificationReceived(Notification::new(0, 0, []));
                self.drop_connection(State::Idle, reason, true, out);
            }
        }
    }

    fn unexpected(&mut self, msg: &Message, out: &mut Vec<Action>) {
        // RFC 6608 §4: the data field carries the type of the unexpected message.
        let code = match msg {
            Message::Open(_) => 1,
            Message::Update(_) => 2,
            Message::Notification(_) => 3,
            Message::Keepalive => 4,
            Message::RouteRefresh(_) => 5,
        };
        self.unexpected_type(code, msg.kind(), out);
    }

    fn unexpected_type(&mut self, code: u8, kind: &str, out: &mut Vec<Action>) {
        let subcode = match self.state {
            State::OpenSent => n::fsm::UNEXPECTED_IN_OPEN_SENT,
            State::OpenConfirm => n::fsm::UNEXPECTED_IN_OPEN_CONFIRM,
            _ => n::fsm::UNEXPECTED_IN_ESTABLISHED,
        };
        let notification = Notification::new(n::FSM_ERROR, subcode, [code]);
        let reason = format!("unexpected {kind} in {:?}", self.state);
        self.fail(notification, reason, out);
    }

    fn on_message(&mut self, msg: Message, out: &mut Vec<Action>) {
        let state = self.state;
        match (state, msg) {
            (State::Idle | State::Connect | State::Active, _) => {} // no connection: stale
            (_, Message::Notification(notification)) => {
                out.push(Action::Close);
                self.drop_connection(
                    State::Idle,
                    DownReason::NotificationReceived(notification),
                    true,
                    out,
                );
            }
            (State::OpenSent, Message::Open(open)) => match negotiate::negotiate(&self.config, &open) {
                Ok(negotiated) => {
                    self.codec = negotiated.codec();
                    self.negotiated = Some(negotiated);
                    if let Ok(bytes) = Message::Keepalive.encode(&self.codec) {
                        out.push(Action::Send(bytes));
                    }
                    self.state = State::OpenConfirm;
                    self.restart_hold(out);
                    self.restart_keepalive(out);
                }
                Err(err) => self.fail(err.notification(), err.to_string(), out),
            },
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.failures = 0;
                self.last_error = None;
                self.restart_hold(out);
                if let Some(negotiated) = &self.negotiated {
                    out.push(Action::SessionUp(negotiated.clone()));
                }
            }
            (State::Established, Message::Keepalive | Message::Update(_)) => self.restart_hold(out),
            (State::Established, Message::RouteRefresh(rr)) => {
                self.restart_hold(out);
                // RFC 2918 §4: a request for a family not negotiated is ignored.
                let negotiated = self
                    .negotiated
                    .as_ref()
                    .map(|n| n.families.as_slice())
                    .unwrap_or_default();
                if let Some(family) = rr.family().filter(|f| negotiated.contains(f) && rr.subtype == 0) {
                    out.push(Action::RouteRefreshRequested(family));
                }
            }
            (_, msg) => self.unexpected(&msg, out),
        }
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Vec<Action>) {
        if !self.armed[timer.index()] {
            return; // expired after being disarmed or replaced: ignore
        }
        self.armed[timer.index()] = false;
        match (self.state, timer) {
            (State::Idle | State::Active, Timer::ConnectRetry) if self.started => self.connect(out),
            (State::Connect, Timer::ConnectRetry) => {
                out.push(Action::Close);
                self.drop_connection(State::Active, DownReason::ConnectionLost, true, out);
            }
            (State::OpenSent | State::OpenConfirm | State::Established, Timer::Hold) => {
                self.send_notification(&Notification::hold_timer_expired(), out);
                out.push(Action::Close);
                self.drop_connection(State::Idle, DownReason::HoldTimerExpired, true, out);
            }
            (State::OpenConfirm | State::Established, Timer::Keepalive) => {
                if let Ok(bytes) = Message::Keepalive.encode(&self.codec) {
                    out.push(Action::Send(bytes));
                }
                self.restart_keepalive(out);
            }
            _ => {}
        }
    }
}
