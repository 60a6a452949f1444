//! The speaker's Kubernetes I/O: watch streams into the owner loop, and Events on Services.
//!
//! - [`watch`]: one kube-runtime watcher per kind (Services and EndpointSlices in all namespaces, Nodes, the
//!   config ConfigMap and the membership Secret in ferrolb's namespace), each forwarding its events, unchanged,
//!   to the owner loop's channel. Errors are logged and counted; the watchers retry with backoff and the
//!   owner keeps the last known state meanwhile.
//! - [`events`]: a bounded queue and one task writing Events (`events.k8s.io/v1`); when the API server is
//!   unreachable, Events are dropped and counted, never allowed to hold up the owner loop.
//! - [`pod`]: the own Pod, read once at shutdown (is it being deleted through the API?).

pub mod events;
pub mod pod;
pub mod watch;
