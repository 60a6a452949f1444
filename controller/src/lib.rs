//! The ferrolb controller: assigns load-balancer IPs to Services.
//!
//! Pure parts: [`allocator`] (which IPs), [`service`] (a Service, projected), [`status`] (what its status
//! should say), [`index`], [`config_map`] and [`reconciler`] (the state machine tying them together), and
//! [`leader::decide`]. I/O at the edges: [`owner`] (the one task holding the reconciler), [`leader`]'s elector,
//! [`events`], [`membership`], [`http`], and [`mod@run`] wiring it all.

#![forbid(unsafe_code)]

pub mod allocator;
pub mod config_map;
pub mod events;
pub mod http;
pub mod index;
pub mod leader;
pub mod membership;
pub mod metrics;
pub mod owner;
pub mod reconciler;
pub mod run;
pub mod service;
pub mod status;
pub mod task;

pub use allocator::{AllocError, Allocator, Assignment, PoolDef, PoolsError, ServiceKey, ServiceRequest};
pub use leader::{LeaderElector, Leadership, Timings};
pub use run::{Config, MetricsListen, RunError, run};
