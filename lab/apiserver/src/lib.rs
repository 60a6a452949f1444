//! An in-memory Kubernetes API server speaking the real REST + watch protocol, for tests and the demo.

#![forbid(unsafe_code)]

pub mod apply;
pub mod audit;
pub mod convert;
pub mod defaults;
pub mod discovery;
pub mod error;
pub mod http;
pub mod meta;
pub mod ops;
pub mod patch;
pub mod prune;
pub mod request_info;
pub mod resources;
pub mod selector;
pub mod server;
pub mod store;
pub mod table;
pub mod time;
pub mod validate;
pub mod watch;

pub use audit::{AuditEntry, AuditLog};
pub use error::ApiError;
pub use server::{ADMIN, ApiServer, ServerConfig, ServerHandle, StartError, kubeconfig_yaml};
