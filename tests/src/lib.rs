//! Shared helpers of ferrolb's end-to-end tests (the tests themselves are in `tests/tests/`):
//!
//! - [`ansible`]: the kubespray role run by `ansible-playbook` against an inventory laid out as kubespray's.
//! - [`manifest`]: the install manifests as data — objects, and what each container runs with (command,
//!   arguments, environment with the downward API resolved for a pod).
//! - [`rbac`]: an RBAC evaluator over the manifests' roles and bindings, and the audit of a recorded run
//!   (every request allowed, every permission used).
//! - [`cluster`]: the embedded API server with the install kinds it does not build in, and schema checks of
//!   manifest objects against the Kubernetes types.
//! - [`programs`]: the built programs, kubectl, commands with deadlines.
//! - [`pods`]: a container run as its manifest runs it (arguments, environment), and the kubelet's probes.
//! - [`system`]: the whole system in a lab (API server, two controllers, a speaker per node, routers, the
//!   kube-proxy stand-in), for the end-to-end tests, the benchmark and `ferrolb-lab demo`.

#![forbid(unsafe_code)]

pub mod ansible;
pub mod cluster;
pub mod manifest;
pub mod pods;
pub mod programs;
pub mod rbac;
pub mod system;
