//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's semantics.
//!
//! kube-runtime has no leader election, so this is a small elector of our own:
//!
//! - **Decide** ([`decide`], pure): from the Lease as last read, the local time at which its record last changed
//!   (never the timestamps written by other replicas, so clock skew between nodes does not matter) and our
//!   identity, whether to create, renew, take over or wait.
//! - **Act** ([`LeaderElector`]): every `retry_period` (jittered) it reads the Lease and, when the decision says
//!   so, writes it back with a resourceVersion-conditioned replace — two replicas can never both win one round.
//! - **Fencing** ([`Leadership`]): a successful renew sent at `t` makes us leader until `t + renew_deadline`.
//!   Another replica can take the Lease no earlier than `t + lease_duration`, which is later, so a leader whose
//!   renewals stall stops acting before anyone else can start. Writers check [`Leadership::is_leader`] right
//!   before each write.
//! - **Terms**: [`Leadership::subscribe`] publishes `Some(term)` while leading — a new term each time leadership
//!   is gained — and `None` while standing by, so the controller resynchronises from a fresh list on every gain.
//! - **Deletion**: a deleted Lease is recreated at once only by its last holder (or when nobody held it); a
//!   standby that saw another holder waits a full lease duration from the moment it saw the Lease gone.
//! - **Release**: on graceful shutdown the leader stops acting, then clears the holder so a standby takes over at
//!   its next retry instead of waiting for the Lease to expire.

mod decide;
mod elector;

pub use decide::{Decision, LeaseRecord, Observer, Timings, TimingsError, decide};
pub use elector::{LeaderElector, Leadership};
