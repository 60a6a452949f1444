//! BGP-4: messages, the sans-IO session state machine and the Adj-RIB-Out.
//!
//! - [`Message`] and friends ([`types`]) are ferrolb's own small model of BGP messages; [`codec`] turns them
//!   into bytes and back through `netgauze-bgp-pkt`, so the speaker never touches netgauze.
//! - [`Framer`] cuts a TCP byte stream into messages.
//! - [`Session`] ([`fsm`]) is the RFC 4271 §8 state machine: events in, actions out, no I/O and no clock.
//! - [`AdjRibOut`] ([`rib_out`]) turns the desired routes into the fewest UPDATE messages.

pub mod codec;
mod convert;
mod framer;
pub mod fsm;
pub mod notification;
pub mod rib_out;
pub mod types;

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
