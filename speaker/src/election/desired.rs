//! The election's output: a declarative desired state per protocol, plus the per-IP decisions behind it.
//!
//! Each announcer gets its whole desired state with `set(desired)` and converges to it; nothing is expressed
//! as a delta, so a lost or repeated `set` is harmless.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ferrolb_config::{BfdProfile, BgpAdvertisement, Peer};

use crate::model::{NodeName, ServiceKey};

/// Whether this node announces an IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// This node announces it.
    Announce,
    /// This node does not, for this reason.
    Skip(SkipReason),
}

impl Decision {
    /// True for [`Decision::Announce`].
    pub fn is_announce(self) -> bool {
        self == Decision::Announce
    }
}

/// Why this node does not announce an IP. The labels are metric labels (`reason="..."`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The IP lies in no pool of the current config (an unassigned, foreign or stale IP).
    NotInPool,
    /// No advertisement applies to the IP's pool and Services: it is allocated, not announced.
    NotAdvertised,
    /// No Service using the IP has a ready (or serving) endpoint: nobody announces it.
    NoReadyEndpoints,
    /// This node is not a live member of the speaker cluster (not joined yet, stepped aside, or declared down).
    NotMember,
    /// There is no Node object for this node.
    UnknownNode,
    /// This node's `NetworkUnavailable` condition is `True`.
    NetworkUnavailable,
    /// This node carries `node.kubernetes.io/exclude-from-external-load-balancers`.
    ExcludedByLabel,
    /// No applying advertisement's node selectors select this node.
    NodeNotSelected,
    /// `externalTrafficPolicy: Local` and no ready endpoint runs on this node.
    NoLocalEndpoint,
    /// No node at all is eligible (for instance Local endpoints on nodes that cannot announce).
    NoEligibleNode,
    /// Another node wins the rendezvous hash.
    OtherOwner,
}

impl SkipReason {
    /// Every reason, for metrics that report each one.
    pub const ALL: [SkipReason; 11] = [
        SkipReason::NotInPool,
        SkipReason::NotAdvertised,
        SkipReason::NoReadyEndpoints,
        SkipReason::NotMember,
        SkipReason::UnknownNode,
        SkipReason::NetworkUnavailable,
        SkipReason::ExcludedByLabel,
        SkipReason::NodeNotSelected,
        SkipReason::NoLocalEndpoint,
        SkipReason::NoEligibleNode,
        SkipReason::OtherOwner,
    ];

    /// A short, stable label for metrics.
    pub const fn metric_label(self) -> &'static str {
        match self {
            SkipReason::NotInPool => "not_in_pool",
            SkipReason::NotAdvertised => "not_advertised",
            SkipReason::NoReadyEndpoints => "no_ready_endpoints",
            SkipReason::NotMember => "not_member",
            SkipReason::UnknownNode => "unknown_node",
            SkipReason::NetworkUnavailable => "network_unavailable",
            SkipReason::ExcludedByLabel => "excluded_by_label",
            SkipReason::NodeNotSelected => "node_not_selected",
            SkipReason::NoLocalEndpoint => "no_local_endpoint",
            SkipReason::NoEligibleNode => "no_eligible_node",
            SkipReason::OtherOwner => "other_owner",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.metric_label())
    }
}

/// The decision about one IP, with what it was based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpDecision {
    /// The pool the IP lies in, if any.
    pub pool: Option<String>,
    /// The Services using the IP, sorted.
    pub services: Vec<ServiceKey>,
    /// Layer2: the node that announces it (this one or another), if any.
    pub owner: Option<NodeName>,
    /// Layer2: the node that would announce it if the owner were gone (it watches the owner:
    /// [`crate::membership::watch`]), if any.
    pub successor: Option<NodeName>,
    /// This node's layer2 decision, when a layer2 advertisement applies.
    pub layer2: Option<Decision>,
    /// This node's BGP decision, when a BGP advertisement applies.
    pub bgp: Option<Decision>,
    /// In sum: [`Decision::Announce`] when this node announces the IP in some mode, else the layer2
    /// reason (the BGP one for a BGP-only IP).
    pub decision: Decision,
}

/// One IP this node answers ARP/NDP for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer2Announcement {
    /// The pool it comes from.
    pub pool: String,
    /// Interfaces to answer on (of the applying advertisements that select this node); empty means every
    /// eligible interface.
    pub interfaces: Vec<String>,
    /// The Services using it, sorted.
    pub services: Vec<ServiceKey>,
}

/// Everything this node announces in layer2 mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layer2Desired {
    /// The IPs this node owns right now.
    pub ips: BTreeMap<IpAddr, Layer2Announcement>,
}

/// One IP of a bgp pool, as BGP sessions will advertise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPrefix {
    /// The pool it comes from.
    pub pool: String,
    /// How this node advertises it: the applying advertisements that select this node (aggregation
    /// lengths, local-pref, communities, peers), one route per advertisement.
    pub advertisements: Vec<BgpAdvertisement>,
    /// The Services using it, sorted.
    pub services: Vec<ServiceKey>,
    /// Every node that should advertise it (known nodes, not excluded, not `NetworkUnavailable`, selected by
    /// an applying advertisement, and with a local endpoint for Local Services): what routers will see as the
    /// ECMP next hops.
    pub advertising_nodes: BTreeSet<NodeName>,
    /// Whether this node advertises it.
    pub decision: Decision,
}

/// What BGP mode needs: every IP of a bgp pool with its advertising nodes, and this node's peers.
///
/// Computed on every election even while no BGP announcer consumes it (see the crate docs: the BGP seam).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BgpDesired {
    /// Every bgp-pool IP in use, announced by this node or not.
    pub prefixes: BTreeMap<IpAddr, BgpPrefix>,
    /// The config's peers whose node selectors select this node.
    pub peers: Vec<Peer>,
    /// The BFD profiles those peers name.
    pub bfd_profiles: Vec<BfdProfile>,
    /// This node's addresses (InternalIPs first), for router IDs and session source addresses.
    pub node_addresses: Vec<IpAddr>,
}

impl BgpDesired {
    /// The prefixes this node advertises.
    pub fn advertised(&self) -> impl Iterator<Item = (&IpAddr, &BgpPrefix)> {
        self.prefixes.iter().filter(|(_, p)| p.decision.is_announce())
    }
}

/// The whole output of one election.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Desired {
    /// What the layer2 announcer answers for.
    pub layer2: Layer2Desired,
    /// What BGP sessions advertise.
    pub bgp: BgpDesired,
    /// Every IP in use and why it is or is not announced here (logs, metrics, events).
    pub decisions: BTreeMap<IpAddr, IpDecision>,
}
