//! An in-memory Kubernetes API server speaking the real REST + watch protocol, for tests and the demo.
//!
//! ```text
//!  HTTP (axum) ── http: auth (bearer tokens), request_info, audit, routing
//!     │              ├── discovery (/api, /apis, /version, OpenAPI v2 stub)
//!     │              ├── read: get, list, watch ── table (server-side printing)
//!     │              └── write ──┐
//!     │                          ▼
//!     │      ops: create / update / patch / delete with kube-apiserver semantics
//!     │          ├── meta (system fields), patch (merge, JSON, strategic), apply (server-side apply)
//!     │          └── strategy: what differs between kinds, one object per kind
//!     │                ├── kinds/*: the built-in kinds (defaults: Services, Pods)
//!     │                └── kinds/custom: custom resources, from their CRD ── schema (prune, default, validate)
//!     ▼                          ▼
//!  watch streams ◀── store: one resourceVersion, tables, history, consistent paginated lists
//!                          ▲
//!  crd::controller: CRD names and conditions, registry (resources: what is served) and storage follow the CRDs
//! ```
//!
//! Start with [`ApiServer`] and [`ServerHandle`]; see the crate README for what is and is not modelled.

#![forbid(unsafe_code)]

pub mod apply;
pub mod audit;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod error;
pub mod http;
pub mod kinds;
pub mod meta;
pub mod ops;
pub mod patch;
pub mod prune;
pub mod request_info;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod server;
pub mod store;
pub mod strategy;
pub mod table;
pub mod time;
pub mod tls;
pub mod validate;
pub mod watch;

pub use audit::{AuditEntry, AuditLog};
pub use error::ApiError;
pub use server::{ADMIN, ApiServer, ServerConfig, ServerHandle, StartError, TlsConfig, kubeconfig_yaml};
pub use store::History;
