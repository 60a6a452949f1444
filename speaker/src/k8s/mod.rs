//! The speaker's Kubernetes edges, on top of the shared layer (`ferrolb_k8s`):
//!
//! - [`watch`]: the watches (Services and EndpointSlices in all namespaces, Nodes, the configuration objects
//!   and the membership Secret in ferrolb's namespace), objects projected in the watch tasks.
//! - [`events`]: the Events' reasons ("announcing from node X").
//! - [`pod`]: the own Pod, read once at shutdown (is it being deleted through the API?).
//! - [`status`]: the status objects (`ServiceL2Status`, `ServiceBGPStatus`, `ConfigurationState`).

pub mod events;
pub mod pod;
pub mod status;
pub mod watch;
