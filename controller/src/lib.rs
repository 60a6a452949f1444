//! The ferrolb controller: assigns load-balancer IPs to Services.
//!
//! Pure parts: [`allocator`] (which IPs), [`service`] (a Service, projected), [`status`] (what its status
//! should say), [`index`] and [`reconciler`] (the state machine tying them together, with the shared
//! configuration state of `ferrolb_config`), [`events`] (the reasons), and [`leader::decide`]. I/O at the
//! edges: [`owner`] (the one task holding the reconciler), [`leader`]'s elector, [`membership`], and
//! [`mod@run`] wiring it all; watches, Events, status writes and the HTTP endpoints are the shared
//! `ferrolb_k8s` layer's.

#![forbid(unsafe_code)]

pub mod allocator;
pub mod events;
pub mod index;
pub mod leader;
pub mod membership;
pub mod metrics;
pub mod node_gc;
pub mod owner;
pub mod pool_status;
pub mod reconciler;
pub mod run;
pub mod service;
pub mod status;

pub use allocator::{AllocError, Allocator, Assignment, PoolDef, PoolsError, ServiceKey, ServiceRequest};
pub use leader::{LeaderElector, Leadership, Timings};
pub use run::{Config, MetricsListen, RunError, run};
