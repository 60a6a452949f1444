//! BFD, Bidirectional Forwarding Detection (RFC 5880) over IPv4 and IPv6, single hop (RFC 5881) and multi-hop
//! (RFC 5883): the Control packet and a sans-IO session state machine.
//!
//! - [`ControlPacket`] ([`packet`]): decode and encode, with the authentication section of every type.
//! - [`Session`] ([`session`]): the state machine of one session (asynchronous mode, three-way handshake,
//!   timer negotiation with Poll/Final, detection, passive role, AdminDown, Keyed SHA1 and Meticulous Keyed
//!   SHA1 authentication). No socket, no clock: the driver passes `now` and asks for the next deadline.
//! - [`auth`]: the SHA1 hash and the sequence number window.
//!
//! How a speaker drives one session (the I/O is the speaker's; here the peer is a second session):
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ferrolb_proto::bfd::*;
//!
//! let t0 = Instant::now(); // the driver's clock; the session has none
//! let mut ours = Session::new(SessionConfig::new(0x1111), t0)?;
//! let mut peer = Session::new(SessionConfig::new(0x2222), t0)?;
//!
//! // deliver what one side sends to the other, as UDP would (TTL 255: single hop)
//! fn deliver(actions: Vec<Action>, to: &mut Session, now: Instant, events: &mut Vec<Action>) {
//!     for action in actions {
//!         match action {
//!             Action::Send(datagram) => {
//!                 let reply = to.receive(now, &datagram, 255).expect("accepted");
//!                 events.extend(reply.iter().filter(|a| !matches!(a, Action::Send(_))).cloned());
//!             }
//!             other => events.push(other),
//!         }
//!     }
//! }
//!
//! let mut events = Vec::new();
//! let mut now = t0;
//! while ours.state() != State::Up || peer.state() != State::Up {
//!     // the driver sleeps until the next deadline, then tells the session
//!     now = [ours.next_deadline(), peer.next_deadline()].into_iter().flatten().min().unwrap();
//!     let sent = ours.on_timer(now);
//!     deliver(sent, &mut peer, now, &mut events);
//!     let sent = peer.on_timer(now);
//!     deliver(sent, &mut ours, now, &mut events);
//! }
//! assert!(events.contains(&Action::Up)); // tell BGP: the next hop is alive
//! assert!(now - t0 < Duration::from_secs(2));
//!
//! // a profile change at run time starts a Poll Sequence
//! let faster = Intervals { desired_min_tx: Duration::from_millis(100), ..Intervals::default() };
//! ours.set_intervals(now, faster)?;
//! assert!(ours.is_polling());
//!
//! // the peer goes silent: after the detection time the session is Down with diag 1, a failure for BGP
//! let deadline = ours.detection_deadline().unwrap();
//! let actions = ours.on_timer(deadline);
//! assert!(actions.contains(&Action::Down(DownReason::DetectionTimeExpired)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
mod config;
pub mod packet;
pub mod session;

pub use config::{AuthConfig, ConfigError, Hop, Intervals, Role, SessionConfig};
pub use packet::{Auth, AuthType, ControlPacket, DecodeError, Diag, State};
pub use session::{Action, Discard, DownReason, Remote, Session};

/// UDP destination port of single-hop BFD Control packets (RFC 5881 §4).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// UDP destination port of multi-hop BFD Control packets (RFC 5883 §5).
pub const MULTI_HOP_PORT: u16 = 4784;
/// The TTL / hop limit of every packet sent (RFC 5881 §5, and RFC 5883 for the receive check to work).
pub const TTL: u8 = 255;
/// The source ports a session's packets must come from (RFC 5881 §4): one per session.
pub const SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;
