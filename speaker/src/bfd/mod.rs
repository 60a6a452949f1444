//! BFD (RFC 5880, 5881, 5883) for BGP mode: sub-second detection of a dead path between this node and a
//! router, on both ends, so that the router drops this node's next hop at once when the node dies.
//!
//! ```text
//!   BgpSpeaker::set ── BfdEngine::set(desired sessions) ──mpsc<Command>──▶ BFD task     (thread ferrolb-bfd,
//!        │                                                                 │            its own runtime)
//!        │                                 ┌──── watch<BfdStatus> ◀────────┤ Session × n (ferrolb-proto)
//!        ▼                                 ▼                               │ UDP 3784/4784 rx, per-session tx
//!   BGP session task ─ waits for Up, resets on a failure ─▶ router         └──mpsc<SpeakerEvent>──▶ owner loop
//! ```
//!
//! - [`settings`]: a peer's BFD profile to the settings of its session (pure); `echo-mode` is refused.
//! - [`BfdEngine`] (the owner's handle) and the task: every session of the speaker with its sockets and timers
//!   on a dedicated single-threaded runtime ([`crate::task::DedicatedRuntime`]), so that packets leave on time
//!   however busy the main runtime is. Each session publishes a [`BfdStatus`].
//! - How BGP uses it (`crate::bgp`): a BGP session whose peer has a BFD profile starts only once its BFD
//!   session is Up; a BFD failure (detection time expired, or the router reporting Down) closes it at once
//!   with Cease / BFD Down (RFC 9384), and it starts again only when BFD is Up again. The router's AdminDown
//!   is no failure (RFC 5882 §3.2) and leaves BGP alone.
//! - Sessions are never control-plane independent (the C bit is clear): BFD runs in the speaker and dies with
//!   it. When the speaker stops it takes every session AdminDown after closing BGP; when it dies, the routers
//!   detect it within their detection time.
//! - Metrics: [`BfdMetrics`]; an Event on the Node (`bfdSessionDown`) when a session fails.

mod engine;
pub mod io;
pub mod metrics;
pub mod settings;
mod task;

pub use engine::{BfdEngine, BfdEngineOptions, BfdStatus};
pub use metrics::BfdMetrics;
pub use settings::{BfdKey, BfdSettings};
