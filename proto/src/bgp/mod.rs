//! BGP-4: messages, the sans-IO session state machine and the Adj-RIB-Out.
//!
//! - [`Message`] and friends ([`types`]) are ferrolb's own small model of BGP messages; [`codec`] turns them
//!   into bytes and back through `netgauze-bgp-pkt`, so the speaker never touches netgauze.
//! - [`Framer`] cuts a TCP byte stream into messages.
//! - [`Session`] ([`fsm`]) is the RFC 4271 §8 state machine: events in, actions out, no I/O and no clock.
//! - [`AdjRibOut`] ([`rib_out`]) turns the desired routes into the fewest UPDATE messages.
//! - [`update_error`] classifies malformed received UPDATEs per RFC 7606: most are ignored
//!   ([`Action::UpdateIgnored`]), only those that cannot be delimited reset the session.
//!
//! How a speaker drives one peer (the I/O is the speaker's; here a peer is simulated with bytes):
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::net::{IpAddr, Ipv4Addr};
//! use ferrolb_proto::bgp::*;
//!
//! let mut session = Session::new(SessionConfig::new(64513, 64512, Ipv4Addr::new(192, 0, 2, 11)))?;
//! assert_eq!(session.handle(Event::Start)[0], Action::Connect); // dial the router, arm the timer
//! let actions = session.handle(Event::TcpConnected); // the connect succeeded: our OPEN goes out
//! assert!(matches!(actions[1], Action::Send(_)));
//!
//! // the router's OPEN and KEEPALIVE arrive
//! let caps = Capabilities { multiprotocol: vec![Family::Ipv4Unicast], ..Capabilities::default() };
//! let cxt = CodecContext::default();
//! let mut peer = Message::Open(Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), caps)).encode(&cxt)?;
//! peer.extend(Message::Keepalive.encode(&cxt)?);
//! let actions = session.handle(Event::Received(&peer));
//! let Some(Action::SessionUp(negotiated)) = actions.iter().find(|a| matches!(a, Action::SessionUp(_))) else {
//!     panic!("established")
//! };
//!
//! // session up: announce the desired routes, then End-of-RIB
//! let mut rib = AdjRibOut::new(negotiated.codec(), &negotiated.families);
//! let mut desired = BTreeMap::new();
//! let next_hop = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
//! desired.insert("203.0.113.10/32".parse()?, RouteAttributes::new([64513], next_hop));
//! let mut updates = rib.update(&desired)?;
//! updates.extend(rib.end_of_rib());
//! let actions = session.send_updates(&updates)?; // Send(bytes) and a keepalive timer restart
//! assert!(matches!(actions[0], Action::Send(_)));
//!
//! // later: the desired routes change -> only the difference is sent
//! desired.clear();
//! let withdrawals = rib.update(&desired)?;
//! assert_eq!(withdrawals.len(), 1);
//! session.send_updates(&withdrawals)?;
//! // on Action::RouteRefreshRequested(f): session.send_updates(&rib.refresh(f)?)
//! // on Action::SessionDown(_): drop `rib`; the next SessionUp starts from an empty one
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
mod convert;
mod framer;
pub mod fsm;
pub mod notification;
pub mod rib_out;
pub mod types;
pub mod update_error;

pub use codec::{CodecContext, DecodeError, EncodeError, message_len};
pub use framer::Framer;
pub use fsm::{
    Action, Backoff, ConfigError, DownReason, Event, GracefulRestartConfig, Negotiated, OpenError, SendError,
    Session, SessionConfig, State, Timer,
};
pub use notification::Notification;
pub use rib_out::{AdjRibOut, RibOutError, RouteAttributes};
pub use types::{
    AS_TRANS, AsPath, AsSegment, Capabilities, Community, Family, GracefulRestart, HEADER_LEN,
    LargeCommunity, MAX_MESSAGE_LEN, Message, MpReach, MpUnreach, Open, Origin, PathAttributes,
    RawCapability, RouteRefresh, SegmentKind, Update,
};
pub use update_error::{IgnoredUpdate, UpdateErrorHandling};
