//! The ferrolb controller: assigns load-balancer IPs to Services.

#![forbid(unsafe_code)]

pub mod allocator;

pub use allocator::{AllocError, Allocator, Assignment, PoolDef, PoolsError, ServiceKey, ServiceRequest};
