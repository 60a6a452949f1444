//! The ferrolb speaker: decides which node announces each load-balancer IP and announces it.
//!
//! One `ferrolb-speaker` runs on every node (a hostNetwork DaemonSet). It watches Services (with the IPs the
//! controller assigned), EndpointSlices, Nodes, the configuration objects and the membership Secret; keeps a
//! synchronous index of them; learns which speakers are alive from an authenticated SWIM membership; runs a
//! pure election; and hands each protocol its whole desired state.
//!
//! ```text
//!   Kubernetes ─watch─▶ index ─┐
//!   SWIM membership ─live set─▶├─▶ election (pure) ─▶ Desired { layer2, bgp } ─▶ Protocols::set
//!   rtnetlink ─links──────────▶┘                                                ├─▶ layer2: ARP/NDP responders
//!                                                                                └─▶ bgp: (BGP mode, when enabled)
//! ```
//!
//! Modules, from the pure core outwards:
//! - [`model`], [`election`]: the cluster view and who announces what (deterministic on every node).
//! - [`index`]: watch events to the cluster view.
//! - [`owner`]: the owner loop's state machine (index + membership + links → desired state, events,
//!   membership commands).
//! - [`membership`]: SWIM with foca over UDP, HMAC-SHA256 authenticated, with its tuned timings and simulator.
//! - [`bgp`], [`bfd`]: BGP mode's sessions, and the BFD sessions (on their own thread) that tell a router
//!   within a fraction of a second that this node is gone.
//! - [`layer2`], [`interfaces`], [`socket`]: the ARP/NDP responders (the only `unsafe` code is in [`socket`]).
//! - [`netlink`], [`k8s`], [`metrics`], [`ipvs`]: the edges (watches, Events, the HTTP endpoints, client and
//!   signal setup are the shared `ferrolb_k8s` layer's).
//! - [`tasks`]: the channel diagram and [`run`], which wires everything together; [`task`]: handles that
//!   abort their task on drop.
//!
//! # The BGP seam
//!
//! BGP mode ([`bgp`], issue 9) plugs in without touching the owner loop:
//! - the election already computes what BGP needs: [`election::BgpDesired`] lists every IP a BGP advertisement
//!   applies to with the advertisements that select this node, the set of nodes that should advertise it
//!   (known, not excluded, not `NetworkUnavailable`, selected by an advertisement, with a local endpoint for
//!   `externalTrafficPolicy: Local`; membership plays no part), this node's decision, this node's peers (by
//!   the peers' node selectors) and this node's addresses;
//! - BGP mode implements [`protocols::BgpAnnouncer`] (`set(&BgpDesired)`, declarative and non-blocking) and is
//!   passed to [`run`] as `bgp: Some(Box::new(..))`; the owner loop then calls it after every election that
//!   changed something, next to the layer2 announcer;
//! - its metrics register next to [`metrics::Metrics`], its tasks are held by [`task::TaskHandle`]s, and any
//!   `unsafe` (TCP MD5) belongs in a socket module that allows it explicitly.

#![deny(unsafe_code)]

pub mod bfd;
pub mod bgp;
pub mod cli;
pub mod election;
pub mod index;
pub mod interfaces;
pub mod ipvs;
pub mod k8s;
pub mod layer2;
pub mod membership;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod owner;
pub mod protocols;
pub mod socket;
pub mod status;
pub mod tasks;

/// Task handles that abort on drop, and the dedicated runtime: the shared layer's.
pub use ferrolb_k8s::task;

pub use tasks::{RunError, RunSettings, run};
