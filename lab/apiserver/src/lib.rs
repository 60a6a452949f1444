//! An in-memory Kubernetes API server speaking the real REST + watch protocol, for tests and the demo.

#![forbid(unsafe_code)]
