//! The BFD session state machine (RFC 5880 §6.2, §6.8), sans I/O.
//!
//! ```text
//!                             +--+
//!                             |  | UP, ADMIN DOWN, TIMER
//!                             |  V
//!                     DOWN  +------+  INIT
//!              +------------|      |------------+
//!              |            | DOWN |            |
//!              |  +-------->|      |<--------+  |
//!              |  |         +------+         |  |
//!              |  |                          |  |
//!              |  |               ADMIN DOWN,|  |
//!              |  |ADMIN DOWN,          DOWN,|  |
//!              |  |TIMER                TIMER|  |
//!              V  |                          |  V
//!            +------+                      +------+
//!       +----|      |                      |      |----+
//!   DOWN|    | INIT |--------------------->|  UP  |    |INIT, UP
//!       +--->|      | INIT, UP             |      |<---+
//!            +------+                      +------+
//! ```
//! (RFC 5880 §6.2: transitions by the state the peer reports, or the detection timer; AdminDown is ours.)
//!
//! A [`Session`] owns no socket and no clock: every call takes `now`, and the session says when it next
//! needs to be called ([`Session::next_deadline`]). Jitter and the first authentication sequence number
//! come from a seeded generator, so every run is reproducible.
//!
//! Contract with the driver:
//! - Call [`Session::on_timer`] at (or after) [`Session::next_deadline`]; an early or repeated call is
//!   harmless. Deadlines move with every call, so read it again after each one.
//! - Feed every datagram received on the session's port whose Your Discriminator is ours, or is 0 and whose
//!   addresses are the peer's, to [`Session::receive`] with its TTL / hop limit. A discarded packet is an
//!   `Err(`[`Discard`]`)` naming the RFC rule, for logs and metrics; nothing changed then (except for
//!   [`Discard::AdminDown`], see there).
//! - Carry out the returned [`Action`]s in order: send each [`Action::Send`] datagram (UDP to port
//!   [`super::SINGLE_HOP_PORT`] or [`super::MULTI_HOP_PORT`], TTL / hop limit 255, a source port in
//!   49152–65535 unique per session). [`Action::Up`] and [`Action::Down`] alternate, starting with `Up`;
//!   only a `Down` whose [`DownReason::is_failure`] should take BGP down (a peer's AdminDown is no failure,
//!   RFC 5882 §3.2).
//!
//! Choices, where RFC 5880 leaves room or ferrolb deviates:
//! - Asynchronous mode only: we never set D, never send Echo packets (Required Min Echo RX is 0). A peer's
//!   D bit is honoured: while both sides are Up we stop periodic transmission, except during our Poll
//!   Sequences (§6.6); F replies always go out.
//! - We never set C: the session runs inside the speaker and shares fate with its BGP.
//! - A packet is sent at once when our state changes (besides the F reply to a Poll, which §6.8.7 already
//!   sends at once), so the three-way handshake takes a round trip, not three slow intervals; BIRD and FRR
//!   do the same. Strictly, §6.8.7 lists no such exception to its minimum interval.
//! - bfd.DesiredMinTxInterval is at least 1 s while not Up. A change of the advertised intervals starts a
//!   Poll Sequence only while Up (including the change made by coming Up); in other states the new values
//!   simply take effect and go out with the next packet (§6.8.3 asks for a Poll Sequence on every change;
//!   outside Up the handshake carries them anyway, and FRR polls only while Up too). While Up, a larger transmit interval and a smaller receive interval take effect
//!   only when the Final arrives (§6.8.3); the others at once.
//! - A change of [`Intervals`] requested during a Poll Sequence waits until it has ended and a packet without
//!   F has been received (the third option of §6.8.3), then starts its own Poll Sequence.
//! - bfd.LocalDiag is cleared when the session comes Up, so the diag we send is always that of the last
//!   time we went down while down, and 0 while up.
//! - AdminDown ([`Session::admin_down`]): periodic packets continue at the slow rate for as long as the
//!   session exists (§6.8.16 allows this), so the peer learns of it even after losses.
//! - Authentication: Keyed SHA1 and Meticulous Keyed SHA1 with one key; our sequence number grows with every
//!   packet in both modes. Other types are refused by the configuration. The replay window uses the Detect
//!   Mult of the received packet.
//! - A packet received while AdminDown updates what we know of the peer (§6.8.6 records it before its
//!   AdminDown rule) and counts as received for the detection time, but changes no state.

use std::time::{Duration, Instant};

use super::auth;
use super::config::{ConfigError, Intervals, Role, SessionConfig, micros};
use super::packet::{Auth, AuthType, ControlPacket, DecodeError, Diag, State};
use crate::bgp::fsm::Jitter;

/// 1 s, the least bfd.DesiredMinTxInterval while not Up (RFC 5880 §6.8.3), in microseconds.
const SLOW_TX_US: u32 = 1_000_000;

/// An output of the state machine, for the driver to carry out in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this BFD Control packet (the UDP payload).
    Send(Vec<u8>),
    /// The session state changed (for logs and metrics).
    StateChanged {
        /// The state before.
        from: State,
        /// The state now.
        to: State,
        /// bfd.LocalDiag now: why it changed.
        diag: Diag,
    },
    /// The session came Up: the forwarding path to the peer works both ways.
    Up,
    /// The session left Up, for this reason. Only a [`DownReason::is_failure`] means the path to the peer is
    /// to be considered dead.
    Down(DownReason),
}

/// Why a session left Up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// No packet from the peer within the detection time (diag 1): the path or the peer failed.
    DetectionTimeExpired,
    /// The peer reported Down (diag 3): it stopped hearing us.
    NeighborDown,
    /// The peer reported AdminDown (diag 3): it was taken down on purpose. RFC 5882 §3.2: this is not a
    /// failure of the path, and the client protocol (BGP) must not be taken down because of it.
    NeighborAdminDown,
    /// [`Session::admin_down`] with this diag.
    AdminDown(Diag),
}

impl DownReason {
    /// Whether the forwarding path is to be considered failed (everything but an AdminDown on either side).
    pub const fn is_failure(self) -> bool {
        matches!(self, DownReason::DetectionTimeExpired | DownReason::NeighborDown)
    }

    /// A short, stable label for metrics (`reason="..."`).
    pub const fn metric_label(self) -> &'static str {
        match self {
            DownReason::DetectionTimeExpired => "detection_time_expired",
            DownReason::NeighborDown => "neighbor_down",
            DownReason::NeighborAdminDown => "neighbor_admin_down",
            DownReason::AdminDown(_) => "admin_down",
        }
    }
}

/// Why a received packet was discarded (RFC 5880 §6.8.6, RFC 5881 §5, RFC 5883 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Discard {
    /// The bytes are not a valid Control packet.
    #[error("malformed: {0}")]
    Malformed(#[from] DecodeError),
    /// The TTL / hop limit is below what the encapsulation requires.
    #[error("TTL {ttl} below the required {minimum}")]
    Ttl {
        /// What the packet had.
        ttl: u8,
        /// 255 for single hop, the configured minimum for multi-hop.
        minimum: u8,
    },
    /// Your Discriminator is not ours.
    #[error("Your Discriminator {0:#x} is not this session's")]
    YourDiscriminator(u32),
    /// Your Discriminator is 0 although the peer reports Init or Up.
    #[error("Your Discriminator 0 with state {0:?}")]
    ZeroYourDiscriminator(State),
    /// The packet is authenticated but the session is not.
    #[error("authenticated packet but the session uses no authentication")]
    AuthUnexpected,
    /// The session is authenticated but the packet is not.
    #[error("packet not authenticated")]
    AuthMissing,
    /// Another authentication type than the session's.
    #[error("authentication type {got} instead of {expected}")]
    AuthType {
        /// The packet's.
        got: AuthType,
        /// The session's.
        expected: AuthType,
    },
    /// The Auth Key ID is not the configured one.
    #[error("Auth Key ID {got}, expected {expected}")]
    AuthKeyId {
        /// The packet's.
        got: u8,
        /// The session's.
        expected: u8,
    },
    /// The sequence number is outside the window (a replay, or too many packets lost).
    #[error("authentication sequence number {got} outside the window after {last}")]
    AuthSequence {
        /// The packet's.
        got: u32,
        /// The last one accepted.
        last: u32,
    },
    /// The hash does not match the configured key.
    #[error("authentication hash mismatch")]
    AuthDigest,
    /// The session is AdminDown: the peer's discriminator, state and intervals were recorded (they precede
    /// this rule in §6.8.6), but the packet changes no state.
    #[error("session is AdminDown")]
    AdminDown,
}

impl Discard {
    /// A short, stable label for metrics (`reason="..."`).
    pub const fn metric_label(&self) -> &'static str {
        match self {
            Discard::Malformed(e) => e.metric_label(),
            Discard::Ttl { .. } => "ttl",
            Discard::YourDiscriminator(_) => "your_discriminator",
            Discard::ZeroYourDiscriminator(_) => "zero_your_discriminator",
            Discard::AuthUnexpected => "auth_unexpected",
            Discard::AuthMissing => "auth_missing",
            Discard::AuthType { .. } => "auth_type",
            Discard::AuthKeyId { .. } => "auth_key_id",
            Discard::AuthSequence { .. } => "auth_sequence",
            Discard::AuthDigest => "auth_digest",
            Discard::AdminDown => "admin_down",
        }
    }
}

/// What the peer told us in its last accepted packet (bfd.Remote* variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// bfd.RemoteDiscr: 0 until a packet is received, and again after a detection time without one.
    pub discriminator: u32,
    /// bfd.RemoteSessionState (initially Down).
    pub state: State,
    /// bfd.RemoteDemandMode: the peer's D bit.
    pub demand: bool,
    /// bfd.RemoteMinRxInterval in µs (initially 1).
    pub required_min_rx: u32,
    /// The peer's Desired Min TX Interval in µs (0 until known).
    pub desired_min_tx: u32,
    /// The peer's Detect Mult (0 until known).
    pub detect_mult: u8,
    /// The peer's C bit.
    pub control_plane_independent: bool,
}

/// The Poll Sequence (RFC 5880 §6.5) we run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Poll {
    /// None.
    Idle,
    /// Our packets carry P until a packet with F arrives.
    Active,
    /// The Final arrived; a queued change waits for a packet without F before its own Poll (§6.8.3).
    AwaitNonFinal,
}

/// The authentication state of a session with a key (bfd.XmitAuthSeq, bfd.RcvAuthSeq, bfd.AuthSeqKnown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AuthSeq {
    xmit: u32,
    rcv: Option<u32>,
}

/// A BFD session with one peer.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: State,
    local_diag: Diag,
    remote: Remote,
    /// bfd.DesiredMinTxInterval and bfd.RequiredMinRxInterval as advertised, in µs.
    desired_min_tx: u32,
    required_min_rx: u32,
    /// The values our transmit interval and the detection time use; they lag behind the advertised ones
    /// while a Poll Sequence is running (§6.8.3).
    tx_in_effect: u32,
    rx_in_effect: u32,
    poll: Poll,
    queued: Option<Intervals>,
    jitter: Jitter,
    auth_seq: AuthSeq,
    last_rx: Option<Instant>,
    last_tx: Option<Instant>,
    next_tx: Option<Instant>,
    /// The periodic transmit interval `next_tx` was computed for (None: no periodic transmission).
    tx_basis: Option<u32>,
}

fn us(micros: u64) -> Duration {
    Duration::from_micros(micros)
}

impl Session {
    /// A session in Down. An active one is due to send its first packet at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Result<Session, ConfigError> {
        config.validate()?;
        let mut jitter = Jitter::new(config.seed);
        let xmit = jitter.next() as u32; // bfd.XmitAuthSeq starts random
        let desired_min_tx = micros(config.intervals.desired_min_tx)
            .unwrap_or(SLOW_TX_US)
            .max(SLOW_TX_US);
        let required_min_rx = micros(config.intervals.required_min_rx).unwrap_or(SLOW_TX_US);
        let mut session = Session {
            state: State::Down,
            local_diag: Diag::None,
            remote: Remote {
                discriminator: 0,
                state: State::Down,
                demand: false,
                required_min_rx: 1,
                desired_min_tx: 0,
                detect_mult: 0,
                control_plane_independent: false,
            },
            desired_min_tx,
            required_min_rx,
            tx_in_effect: desired_min_tx,
            rx_in_effect: required_min_rx,
            poll: Poll::Idle,
            queued: None,
            jitter,
            auth_seq: AuthSeq { xmit, rcv: None },
            last_rx: None,
            last_tx: None,
            next_tx: None,
            tx_basis: None,
            config,
        };
        session.sync_tx(now);
        Ok(session)
    }

    // ===== what the driver reads =====

    /// bfd.SessionState.
    pub fn state(&self) -> State {
        self.state
    }

    /// bfd.LocalDiag: why the state last changed (cleared when Up).
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }

    /// The configuration (with the intervals in force or being polled, not those still queued).
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// What the peer told us last.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// Whether our packets carry the Poll bit.
    pub fn is_polling(&self) -> bool {
        self.poll == Poll::Active
    }

    /// Intervals set during a Poll Sequence, waiting for it to end.
    pub fn queued_intervals(&self) -> Option<&Intervals> {
        self.queued.as_ref()
    }

    /// The Desired Min TX and Required Min RX Interval we advertise.
    pub fn advertised(&self) -> (Duration, Duration) {
        (us(self.desired_min_tx.into()), us(self.required_min_rx.into()))
    }

    /// The periodic transmit interval before jitter (RFC 5880 §6.8.2, §6.8.7), or `None` when no periodic
    /// packets are to be sent (passive and no peer yet, the peer wants none, or the peer's Demand mode).
    pub fn transmit_interval(&self) -> Option<Duration> {
        self.periodic_interval().map(|i| us(i.into()))
    }

    /// The detection time (RFC 5880 §6.8.4): the peer's Detect Mult × the agreed interval of its packets, once
    /// a packet was received.
    pub fn detection_time(&self) -> Option<Duration> {
        self.last_rx?;
        let agreed = self.rx_in_effect.max(self.remote.desired_min_tx);
        Some(us(u64::from(self.remote.detect_mult) * u64::from(agreed)))
    }

    /// When the next periodic packet is due, if any.
    pub fn transmit_deadline(&self) -> Option<Instant> {
        self.next_tx
    }

    /// When the session goes Down (from Init or Up), or, in other states, forgets the peer's discriminator,
    /// unless a packet from the peer arrives before.
    pub fn detection_deadline(&self) -> Option<Instant> {
        let detecting = matches!(self.state, State::Init | State::Up) || self.remote.discriminator != 0;
        if !detecting {
            return None;
        }
        self.last_rx?.checked_add(self.detection_time()?)
    }

    /// When [`Session::on_timer`] must next be called: the earliest of the transmit and detection deadlines
    /// and the expiry of the authentication sequence (2 × detection time without packets).
    pub fn next_deadline(&self) -> Option<Instant> {
        [self.next_tx, self.detection_deadline(), self.auth_seq_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn auth_seq_deadline(&self) -> Option<Instant> {
        self.auth_seq.rcv?;
        self.last_rx?.checked_add(self.detection_time()? * 2)
    }

    // ===== inputs =====

    /// The deadlines that passed by `now`: detection (Down with diag 1, the peer's discriminator
    /// forgotten), authentication sequence expiry, and the periodic packet.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.detection_deadline().is_some_and(|d| d <= now) {
            // RFC 5880 §6.8.1 (bfd.RemoteDiscr), §6.8.4
            self.remote.discriminator = 0;
            if matches!(self.state, State::Init | State::Up) {
                self.set_state(State::Down, Diag::ControlDetectionTimeExpired, &mut out);
                self.send(false, false, now, &mut out);
            }
        }
        if self.auth_seq_deadline().is_some_and(|d| d <= now) {
            self.auth_seq.rcv = None; // bfd.AuthSeqKnown = 0
        }
        self.sync_tx(now);
        if self.next_tx.is_some_and(|t| t <= now) {
            let poll = self.poll == Poll::Active;
            self.send(poll, false, now, &mut out);
        }
        out
    }

    /// A datagram received from the peer, with its IP TTL / hop limit (RFC 5880 §6.8.6).
    pub fn receive(&mut self, now: Instant, datagram: &[u8], ttl: u8) -> Result<Vec<Action>, Discard> {
        let minimum = self.config.hop.minimum_ttl();
        if ttl < minimum {
            return Err(Discard::Ttl { ttl, minimum });
        }
        let packet = ControlPacket::decode(datagram)?;
        if packet.your_discriminator != 0 && packet.your_discriminator != self.config.local_discriminator {
            return Err(Discard::YourDiscriminator(packet.your_discriminator));
        }
        if packet.your_discriminator == 0 && !matches!(packet.state, State::Down | State::AdminDown) {
            return Err(Discard::ZeroYourDiscriminator(packet.state));
        }
        self.authenticate(&packet, datagram)?;

        self.remote = Remote {
            discriminator: packet.my_discriminator,
            state: packet.state,
            demand: packet.demand,
            required_min_rx: packet.required_min_rx,
            desired_min_tx: packet.desired_min_tx,
            detect_mult: packet.detect_mult,
            control_plane_independent: packet.control_plane_independent,
        };
        self.last_rx = Some(now);
        let mut out = Vec::new();
        if packet.final_ && self.poll == Poll::Active {
            self.end_poll();
        } else if !packet.final_ && self.poll == Poll::AwaitNonFinal {
            self.poll = Poll::Idle;
            if let Some(queued) = self.queued.take() {
                self.apply(queued);
            }
        }
        if self.state == State::AdminDown {
            self.sync_tx(now);
            return Err(Discard::AdminDown);
        }

        let before = self.state;
        match (self.state, packet.state) {
            (State::Init | State::Up, State::AdminDown) => {
                self.set_state(State::Down, Diag::NeighborSignaledDown, &mut out)
            }
            (State::Down, State::Down) => self.set_state(State::Init, self.local_diag, &mut out),
            (State::Down, State::Init) | (State::Init, State::Init | State::Up) => {
                self.set_state(State::Up, Diag::None, &mut out)
            }
            (State::Up, State::Down) => self.set_state(State::Down, Diag::NeighborSignaledDown, &mut out),
            _ => {}
        }
        if packet.poll {
            self.send(false, true, now, &mut out); // F reply, P clear (§6.8.7)
        }
        if self.state != before && (!packet.poll || self.poll == Poll::Active) {
            let poll = self.poll == Poll::Active;
            self.send(poll, false, now, &mut out);
        }
        self.sync_tx(now);
        Ok(out)
    }

    /// Changes the timer parameters at run time (MetalLB profile update). While Up this starts a Poll
    /// Sequence (RFC 5880 §6.8.3); if one is running, the change is queued until it ends.
    /// Nothing is sent at once: the next periodic packet carries the new values (and P).
    pub fn set_intervals(&mut self, now: Instant, intervals: Intervals) -> Result<(), ConfigError> {
        intervals.validate()?;
        if self.poll == Poll::Idle {
            self.apply(intervals);
            self.sync_tx(now);
        } else {
            self.queued = (intervals != self.config.intervals).then_some(intervals);
        }
        Ok(())
    }

    /// Takes the session administratively down (RFC 5880 §6.8.16) with this diag (usually
    /// [`Diag::AdministrativelyDown`]; [`Diag::PathDown`] when the path is known to have failed), and tells
    /// the peer at once, so that it goes Down without declaring a failure.
    pub fn admin_down(&mut self, now: Instant, diag: Diag) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state != State::AdminDown {
            self.set_state(State::AdminDown, diag, &mut out);
            self.send(false, false, now, &mut out);
            self.sync_tx(now);
        }
        out
    }

    /// Leaves AdminDown for Down, so that the session can come up again.
    pub fn admin_up(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if self.state == State::AdminDown {
            self.set_state(State::Down, Diag::None, &mut out);
            self.send(false, false, now, &mut out);
            self.sync_tx(now);
        }
        out
    }

    // ===== rules =====

    /// RFC 5880 §6.7.4 and the A-bit rules of §6.8.6; records the sequence number of an accepted packet.
    fn authenticate(&mut self, packet: &ControlPacket, datagram: &[u8]) -> Result<(), Discard> {
        let (got, config) = match (&packet.auth, &self.config.auth) {
            (None, None) => return Ok(()),
            (Some(_), None) => return Err(Discard::AuthUnexpected),
            (None, Some(_)) => return Err(Discard::AuthMissing),
            (Some(got), Some(config)) => (got, config),
        };
        if got.auth_type() != config.auth_type {
            return Err(Discard::AuthType {
                got: got.auth_type(),
                expected: config.auth_type,
            });
        }
        let Auth::Sha1 { key_id, sequence, .. } = *got else {
            // the configuration admits SHA1 only, and the types match
            return Err(Discard::AuthDigest);
        };
        if key_id != config.key_id {
            return Err(Discard::AuthKeyId {
                got: key_id,
                expected: config.key_id,
            });
        }
        let meticulous = config.auth_type.is_meticulous();
        let last = self.auth_seq.rcv;
        if !auth::sequence_acceptable(meticulous, last, sequence, packet.detect_mult) {
            return Err(Discard::AuthSequence {
                got: sequence,
                last: last.unwrap_or_default(),
            });
        }
        // the hash covers the packet's Length bytes (decode checked that they were received)
        let length = datagram.get(3).map_or(datagram.len(), |&l| usize::from(l));
        let signed = datagram.get(..length).unwrap_or(datagram);
        if !auth::verify_sha1(signed, &config.key) {
            return Err(Discard::AuthDigest);
        }
        self.auth_seq.rcv = Some(sequence);
        Ok(())
    }

    /// Moves to `to` with `diag`, reporting it, and adjusts the advertised intervals to the new state. The
    /// reason for leaving Up follows from `to`, `diag` and the state the peer reported last.
    fn set_state(&mut self, to: State, diag: Diag, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.local_diag = diag;
        out.push(Action::StateChanged { from, to, diag });
        if from == State::Up {
            let reason = match (to, diag) {
                (State::AdminDown, diag) => DownReason::AdminDown(diag),
                (_, Diag::ControlDetectionTimeExpired) => DownReason::DetectionTimeExpired,
                _ if self.remote.state == State::AdminDown => DownReason::NeighborAdminDown,
                _ => DownReason::NeighborDown,
            };
            out.push(Action::Down(reason));
            // no Poll Sequence outside Up: what was deferred or queued takes effect now
            self.poll = Poll::Idle;
            if let Some(queued) = self.queued.take() {
                self.config.intervals = queued;
            }
        }
        if to == State::Up {
            out.push(Action::Up);
        }
        self.refresh_advertised();
    }

    /// Takes new intervals into use (no Poll Sequence running).
    fn apply(&mut self, intervals: Intervals) {
        self.config.intervals = intervals;
        self.refresh_advertised();
    }

    /// Recomputes the advertised intervals from the configuration and the state (1 s while not Up), and
    /// applies the rules of §6.8.3 to a change: while Up, a Poll Sequence, with a larger transmit interval
    /// and a smaller receive interval deferred until its Final; otherwise, at once.
    fn refresh_advertised(&mut self) {
        let intervals = self.config.intervals;
        let configured_tx = micros(intervals.desired_min_tx).unwrap_or(SLOW_TX_US);
        let desired = if self.state == State::Up {
            configured_tx
        } else {
            configured_tx.max(SLOW_TX_US)
        };
        let required = micros(intervals.required_min_rx).unwrap_or(SLOW_TX_US);
        if (desired, required) == (self.desired_min_tx, self.required_min_rx) {
            return;
        }
        self.desired_min_tx = desired;
        self.required_min_rx = required;
        if self.state == State::Up {
            self.tx_in_effect = self.tx_in_effect.min(desired);
            self.rx_in_effect = self.rx_in_effect.max(required);
            self.poll = Poll::Active;
        } else {
            self.tx_in_effect = desired;
            self.rx_in_effect = required;
        }
    }

    /// The Final arrived: the deferred values take effect (§6.8.3).
    fn end_poll(&mut self) {
        self.tx_in_effect = self.desired_min_tx;
        self.rx_in_effect = self.required_min_rx;
        self.poll = if self.queued.is_some() {
            Poll::AwaitNonFinal
        } else {
            Poll::Idle
        };
    }

    /// Whether we may send at all: not while passive and the peer is unknown (§6.8.7).
    fn may_send(&self) -> bool {
        self.config.role == Role::Active || self.remote.discriminator != 0
    }

    /// The periodic interval in µs, if periodic packets are to be sent (§6.8.7).
    fn periodic_interval(&self) -> Option<u32> {
        let remote_demand = self.remote.demand && self.state == State::Up && self.remote.state == State::Up;
        if !self.may_send()
            || self.remote.required_min_rx == 0
            || (remote_demand && self.poll != Poll::Active)
        {
            return None;
        }
        Some(self.tx_in_effect.max(self.remote.required_min_rx))
    }

    /// The interval reduced by a random 0–25 % (at least 10 % with Detect Mult 1), §6.8.7; never zero.
    fn jittered(&mut self, interval: u32) -> Duration {
        let span = if self.config.intervals.detect_mult == 1 {
            151
        } else {
            251
        };
        let per_mille = 750 + self.jitter.next() % span;
        // at least 1 µs, so that a deadline always lies after the packet that set it
        us((u64::from(interval) * per_mille / 1000).max(1))
    }

    /// Reschedules the periodic packet when the interval changed or periodic transmission starts or stops.
    /// The first packet of a (re)started transmission is due at once, not delayed by jitter (§6.8.7).
    fn sync_tx(&mut self, now: Instant) {
        let interval = self.periodic_interval();
        if interval == self.tx_basis {
            return;
        }
        let started = self.tx_basis.is_none();
        self.tx_basis = interval;
        self.next_tx = match (interval, self.last_tx) {
            (None, _) => None,
            (Some(_), None) => Some(now),
            (Some(_), Some(_)) if started => Some(now),
            (Some(interval), Some(last)) => last.checked_add(self.jittered(interval)),
        };
    }

    /// Builds, authenticates and queues a packet, and restarts the periodic schedule from now.
    fn send(&mut self, poll: bool, final_: bool, now: Instant, out: &mut Vec<Action>) {
        if !self.may_send() {
            return;
        }
        let auth = self.config.auth.as_ref().map(|a| Auth::Sha1 {
            meticulous: a.auth_type.is_meticulous(),
            key_id: a.key_id,
            sequence: self.auth_seq.xmit,
            hash: [0; 20],
        });
        let packet = ControlPacket {
            diag: self.local_diag,
            state: self.state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.config.intervals.detect_mult,
            my_discriminator: self.config.local_discriminator,
            your_discriminator: self.remote.discriminator,
            desired_min_tx: self.desired_min_tx,
            required_min_rx: self.required_min_rx,
            required_min_echo_rx: 0,
            auth,
        };
        let mut bytes = packet.encode();
        if let Some(a) = &self.config.auth {
            auth::sign_sha1(&mut bytes, &a.key); // the key was validated (at most 20 bytes)
            self.auth_seq.xmit = self.auth_seq.xmit.wrapping_add(1);
        }
        out.push(Action::Send(bytes));
        self.last_tx = Some(now);
        self.sync_tx(now);
        self.next_tx = self
            .tx_basis
            .and_then(|interval| now.checked_add(self.jittered(interval)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_always_lies_after_the_packet_that_set_it_even_at_1_microsecond() {
        // 1 µs × 75 % rounds to 0: without the floor the driver would spin on a deadline equal to `now`
        let t0 = Instant::now();
        let mut config = SessionConfig::new(1);
        config.intervals.desired_min_tx = Duration::from_micros(1);
        let mut s = Session::new(config, t0).expect("valid");
        s.state = State::Up;
        s.refresh_advertised();
        s.remote.required_min_rx = 1;
        s.sync_tx(t0);
        let mut now = t0;
        for _ in 0..1000 {
            assert!(!s.on_timer(now).is_empty(), "a packet is due");
            let next = s.transmit_deadline().expect("periodic");
            assert!(next > now && next - now <= Duration::from_micros(1));
            now = next;
        }
    }
}
