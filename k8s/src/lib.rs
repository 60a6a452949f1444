//! The Kubernetes layer the controller and the speaker share, written once.
//!
//! ```text
//!  kube watcher ──▶ watch (projected, errors counted, logs de-duplicated) ──mpsc──▶ the program's owner task
//!                                                                                   │ cache: per-kind store with
//!                                                                                   │ the init/relist protocol
//!                                                                                   │ config: objects → Sources
//!  owner task ──▶ events::EventPublisher (events.k8s.io/v1, typed reasons, bounded) ──▶ API server
//!  owner task ──▶ status::StatusWriter (/status, resourceVersion-conditioned, bounded) ──▶ API server
//!  owner task ──▶ objects (owned objects kept equal to a desired set: status objects) ──▶ API server
//!  http: /metrics /healthz /readyz        runtime: client, logging, signals       task: handles that abort on drop
//! ```
//!
//! Nothing here decides anything: the decisions stay in the programs' pure state machines.

#![forbid(unsafe_code)]

pub mod announcements;
pub mod cache;
pub mod config;
pub mod events;
pub mod http;
pub mod objects;
pub mod runtime;
pub mod status;
pub mod task;
pub mod watch;

pub use cache::{Cache, Change};
pub use events::{EventMetrics, EventPublisher, EventRecord, Reason, Regarding};
pub use http::{HttpError, Listen, Readiness};
pub use status::{StatusWriter, WriteError, WriteOutcome};
pub use task::{DedicatedRuntime, TaskHandle};
pub use watch::{WatchEvent, WatchMetrics};
