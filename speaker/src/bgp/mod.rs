//! BGP mode: sessions to the configured routers, advertising this node's service IPs.
//!
//! ```text
//!   owner loop ── set(BgpTarget) ──▶ BgpSpeaker            (pure diff; never waits)
//!                                     │  watch<Arc<Advertisements>>  (one, shared by every session)
//!                                     │  watch<Control> per peer     (settings / de-configure / shutdown)
//!                                     ▼
//!                        session task × peers  (AbortOnDrop) ── TCP (MD5, TTL) ──▶ router
//!                          Session FSM + AdjRibOut (ferrolb-proto)      ▲
//!                          └─▶ watch<PeerStatus>, BgpMetrics           │ watch<BfdStatus> per BFD session
//!                                       BfdEngine (thread ferrolb-bfd) ┘ ── UDP 3784/4784 ──▶ router
//! ```
//!
//! Peers with a BFD profile ([`crate::bfd`]): their session starts only while the BFD session with the router
//! is Up, and ends at once (Cease / BFD Down) when it fails.
//!
//! - [`desired`]: the target and the routes derived from it (pure): aggregation, communities, large
//!   communities, local-pref; per session NEXT_HOP, AS_PATH and the iBGP/eBGP rules.
//! - [`peer`]: a configured peer plus this node to a session's settings (pure): router ID, source address,
//!   TTL, timers, graceful restart, MD5 password.
//! - `speaker`: [`BgpSpeaker`], the owner's declarative handle; `announcer`: the same behind the owner
//!   loop's seam ([`crate::protocols::BgpAnnouncer`], [`BgpTarget::from_election`]).
//! - `session`: one task per peer driving `ferrolb_proto::bgp::Session` over TCP.
//! - [`transport`] and [`sockopt`]: the connection and its socket options (TCP MD5 is the one `unsafe`).
//! - [`metrics`]: session state, UPDATEs and prefixes sent, NOTIFICATIONs sent and received.
//!
//! Graceful restart (RFC 4724; the N bit of RFC 8538 is not announced): every session announces the capability with
//! forwarding preserved and sends End-of-RIB after its initial routes. A speaker that dies or is dropped
//! closes its connections without a NOTIFICATION, so routers that help keep its routes (and traffic flows)
//! until it is back and has sent End-of-RIB again (with BFD, BIRD ends that as soon as the BFD session goes
//! down; FRR does not: docs/config.md). [`BgpSpeaker::shutdown`] ends the sessions as
//! [`shutdown::decide`] chose: [`ShutdownMode::Graceful`] (a restart: no NOTIFICATION, and routers keep the
//! routes) or [`ShutdownMode::Withdraw`] (the node leaves: Cease / Administrative Shutdown, and routers
//! withdraw at once). Without the N bit a router that detects a hold timer expiry withdraws at once, so a node
//! that died is no next hop for longer than the hold time.

mod announcer;
pub mod desired;
pub mod metrics;
pub mod peer;
mod session;
pub mod shutdown;
pub mod sockopt;
mod speaker;
pub mod transport;

pub use desired::{Advertisements, BgpTarget, PrefixAttributes, SessionRouteContext, session_routes};
pub use metrics::BgpMetrics;
pub use peer::{PeerError, PeerSettings, SessionOptions, Transport};
pub use session::{PeerStatus, SessionError};
pub use shutdown::{
    PodSign, ShutdownDecision, ShutdownMode, ShutdownPolicy, ShutdownReason, decide as decide_shutdown,
    needs_pod_sign,
};
pub use speaker::{BgpOptions, BgpSpeaker};
pub use transport::{ConnectError, SocketFactory};
