//! Which speakers are alive: SWIM (foca) over UDP, plus a direct successor watch, every datagram authenticated
//! with HMAC-SHA256.
//!
//! One task ([`spawn`], the I/O in `runner`) owns the UDP socket (default port 7946) and the replay windows
//! and drives the [`engine`] — foca and its timers, joining, the successor watch, the live set — which does no
//! I/O, so the simulator ([`sim`]) runs the same code. The task takes [`Control`] messages from the speaker's
//! owner task — the key from the membership Secret, this node's address and the other Nodes' addresses (the
//! seeds), the nodes to watch, step aside / return — and publishes a [`View`] (the live members) on a watch
//! channel whenever it changes.
//!
//! - **Joining**: the task starts once it has a key and its own address. It asks the seeds to let it join (a
//!   bounded batch per round, [`engine`]), and again every [`Timings::rejoin_interval`] for seeds that are not
//!   members, so partitions heal and restarted nodes are found. A starting speaker reports [`View::settled`]
//!   only after it heard from the cluster and asked every seed (plus [`Timings::settle`]) or after
//!   [`Timings::join_timeout`] without an answer, so it does not claim IPs before it knows who else is alive.
//! - **Failure detection**: SWIM finds dead members and spreads the news; the [`watch`] lets each IP's
//!   successor find its owner's death directly, in [`Timings::heartbeat_timeout`] whatever the cluster's size,
//!   and take the IP over at once.
//! - **Authentication** ([`auth`]): datagrams that fail are dropped and counted by reason; nothing in them
//!   reaches foca or the watch.
//! - **Stepping aside**: when this node cannot announce (its interfaces are down) it leaves the cluster and
//!   stops its heartbeats, so every other speaker re-elects at once if the message gets out (and its watchers
//!   after the heartbeat timeout if not); on return it rejoins with a new generation.
//! - **Timings** ([`timing`]): chosen with the simulator ([`sim`]) and measured in the lab.

pub mod auth;
pub mod engine;
pub mod identity;
pub mod metrics;
mod runner;
pub mod sim;
pub mod timing;
pub mod watch;
pub mod workaround;

use std::collections::BTreeSet;
use std::net::SocketAddr;

pub use identity::NodeId;
pub use runner::{MembershipSettings, spawn};
pub use timing::Timings;

/// Commands from the owner task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The membership Secret's key (`None`: the Secret or its key is gone; nothing is sent or accepted).
    Key(Option<Vec<u8>>),
    /// This node's membership address (from its Node object, or the flag).
    Address(SocketAddr),
    /// The other nodes: `(node name, membership address)`.
    Seeds(Vec<(String, SocketAddr)>),
    /// The nodes whose IPs this node would take over (it is their successor in the election): the
    /// successor watch pings them ([`watch`]).
    Watch(BTreeSet<String>),
    /// This node cannot announce: leave the cluster until [`Control::Return`].
    StepAside,
    /// This node can announce again: rejoin.
    Return,
    /// Shutting down: leave the cluster and stop.
    Leave,
}

/// The membership as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    /// The task has a key and an address and is taking part.
    pub running: bool,
    /// This node has heard from the cluster (or waited long enough): the live set can be trusted.
    pub settled: bool,
    /// Live members' node names, this node included unless it stepped aside.
    pub live: BTreeSet<String>,
}
