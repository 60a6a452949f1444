//! The larger pieces of built-in strategies (`pkg/registry/*/strategy.go`): Services' defaulting, allocation and
//! validation ([`service`]) and Pods' graceful deletion ([`pod`]); the kinds' strategy objects in
//! [`crate::kinds`] call them.

mod alloc;
pub mod pod;
pub mod service;
mod service_validation;

/// Which part of the object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The main resource: `status` changes are ignored (when a status subresource exists).
    Main,
    /// The `/status` subresource: only `metadata` and `status` changes are kept.
    Status,
}

#[cfg(test)]
mod tests;
