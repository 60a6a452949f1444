//! The membership's metrics (`ferrolb_memberlist_*`; the table is in [`crate::metrics`]).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::{ChangeLabel, DirectionLabel, ReasonLabel};

/// The membership's metrics. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct MembershipMetrics {
    /// Live members, this node included.
    pub members: Gauge,
    /// Membership changes seen, per change.
    pub member_changes: Family<ChangeLabel, Counter>,
    /// Watched nodes whose heartbeats arrive.
    pub watched: Gauge,
    /// Nodes this speaker sends heartbeats to.
    pub watchers: Gauge,
    /// Probes of other members that failed here.
    pub suspicions: Counter,
    /// Datagrams dropped by authentication, per reason.
    pub auth_failures: Family<ReasonLabel, Counter>,
    /// Datagrams sent and accepted.
    pub datagrams: Family<DirectionLabel, Counter>,
}

impl MembershipMetrics {
    /// Registers them in `r` (the `ferrolb_memberlist` sub-registry).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "members",
            "Live members of the speaker cluster, this node included",
            self.members.clone(),
        );
        r.register(
            "member_changes",
            "Membership changes seen",
            self.member_changes.clone(),
        );
        r.register(
            "watched",
            "Nodes this speaker watches (it would take their IPs over) whose heartbeats arrive",
            self.watched.clone(),
        );
        r.register(
            "watchers",
            "Nodes this speaker sends heartbeats to",
            self.watchers.clone(),
        );
        r.register(
            "suspicions",
            "Probes of other members that failed here",
            self.suspicions.clone(),
        );
        r.register(
            "auth_failures",
            "Membership datagrams dropped by authentication, by reason",
            self.auth_failures.clone(),
        );
        r.register(
            "datagrams",
            "Membership datagrams sent and accepted",
            self.datagrams.clone(),
        );
    }

    /// Counts one rejected membership datagram.
    pub fn auth_failure(&self, reason: &'static str) {
        self.auth_failures.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Counts a membership datagram sent or accepted.
    pub fn datagram(&self, direction: &'static str) {
        self.datagrams.get_or_create(&DirectionLabel { direction }).inc();
    }
}
