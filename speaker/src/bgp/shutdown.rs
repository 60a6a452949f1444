//! How BGP mode leaves its peers when the speaker stops (pure): keep the routes (a restart) or withdraw
//! them (a departure).
//!
//! A speaker that stops for an upgrade or a restart of its pod comes back within seconds on the same node,
//! whose data path (kube-proxy) never stopped: routers that help with graceful restart should keep its
//! routes as stale until the new speaker has sent End-of-RIB, so no flow is rehashed to another node and a
//! Local Service whose endpoints run only here stays reachable. A node that leaves (drained, shutting down,
//! deleted, excluded from load balancers) must be withdrawn at once instead. The speaker only knows its own
//! Node, so that is what [`decide`] reads with `--bgp-shutdown=auto`.
//!
//! `withdraw` is the default: a node rebooted without a drain, and without the kubelet's graceful node
//! shutdown, stops its speaker while the Node still looks schedulable and Ready, and `auto` would then let
//! routers keep a powered-off next hop for the restart time. `auto` is for clusters that cordon nodes before
//! they go down (`kubectl drain`, kured, kubespray's upgrades) or run graceful node shutdown with the speaker
//! in a late priority group (`priorityClassName: system-node-critical`).
//!
//! | `--bgp-shutdown` | own Node | result |
//! |---|---|---|
//! | `withdraw` | any | withdraw |
//! | `graceful` | any | keep routes |
//! | `auto` | not known (never seen, or deleted) | withdraw (no information: the traditional choice) |
//! | `auto` | `deletionTimestamp` set | withdraw |
//! | `auto` | cordoned (`spec.unschedulable`) | withdraw |
//! | `auto` | `Ready` not `True` (the kubelet's graceful node shutdown sets it, racing with killing pods) | withdraw |
//! | `auto` | `node.kubernetes.io/exclude-from-external-load-balancers` | withdraw |
//! | `auto` | announces nothing | withdraw |
//! | `auto` | otherwise | keep routes |

use std::fmt;

use crate::model::NodeInfo;

/// `--bgp-shutdown`: how BGP sessions end when the speaker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum ShutdownPolicy {
    /// Keep the routes when the own Node is schedulable, Ready and not leaving; withdraw otherwise.
    Auto,
    /// Always withdraw at once (Cease): the default, safe when a node reboots without a drain.
    #[default]
    Withdraw,
    /// Always let peers keep the routes (graceful restart).
    Graceful,
}

impl fmt::Display for ShutdownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShutdownPolicy::Auto => "auto",
            ShutdownPolicy::Withdraw => "withdraw",
            ShutdownPolicy::Graceful => "graceful",
        })
    }
}

/// How the sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownMode {
    /// Peers withdraw our routes at once: Cease / Administrative Shutdown (as Hard Reset with the N bit).
    Withdraw,
    /// Peers that help keep our routes as stale until the next session's End-of-RIB: Cease / Administrative
    /// Reset with the N bit (RFC 8538), else the connection closes without a NOTIFICATION (RFC 4724).
    Graceful,
}

/// Why [`decide`] chose its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownReason {
    /// `--bgp-shutdown` is `withdraw` or `graceful`.
    Configured(ShutdownPolicy),
    /// The speaker never saw its own Node.
    NodeUnknown,
    /// The Node is being deleted.
    NodeDeleting,
    /// The Node is cordoned.
    NodeCordoned,
    /// The Node's `Ready` condition is not `True`.
    NodeNotReady,
    /// The Node carries the exclude-from-external-load-balancers label.
    NodeExcluded,
    /// This node announces no IP.
    NothingAnnounced,
    /// The Node is schedulable, Ready and staying.
    NodeStaying,
}

/// What [`decide`] returns; its `Display` is the shutdown log line's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownDecision {
    /// How the sessions end.
    pub mode: ShutdownMode,
    /// Why.
    pub reason: ShutdownReason,
    /// The own Node's name (for the message).
    pub node: String,
}

/// The decision for a speaker on `node` stopping with `policy`; `info` is the node's last known state (if
/// the speaker ever saw it) and `announcing` whether it advertises any IP right now.
pub fn decide(
    policy: ShutdownPolicy,
    node: &str,
    info: Option<&NodeInfo>,
    announcing: bool,
) -> ShutdownDecision {
    let (mode, reason) = match (policy, info) {
        (ShutdownPolicy::Withdraw, _) => (ShutdownMode::Withdraw, ShutdownReason::Configured(policy)),
        (ShutdownPolicy::Graceful, _) => (ShutdownMode::Graceful, ShutdownReason::Configured(policy)),
        (ShutdownPolicy::Auto, None) => (ShutdownMode::Withdraw, ShutdownReason::NodeUnknown),
        (ShutdownPolicy::Auto, Some(n)) => {
            let reason = if n.deleting {
                ShutdownReason::NodeDeleting
            } else if n.unschedulable {
                ShutdownReason::NodeCordoned
            } else if !n.ready {
                ShutdownReason::NodeNotReady
            } else if n.excluded_from_lb() {
                ShutdownReason::NodeExcluded
            } else if !announcing {
                ShutdownReason::NothingAnnounced
            } else {
                ShutdownReason::NodeStaying
            };
            let mode = if reason == ShutdownReason::NodeStaying {
                ShutdownMode::Graceful
            } else {
                ShutdownMode::Withdraw
            };
            (mode, reason)
        }
    };
    ShutdownDecision {
        mode,
        reason,
        node: node.to_owned(),
    }
}

impl fmt::Display for ShutdownDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.mode {
            ShutdownMode::Graceful => f.write_str("keeping routes at peers (graceful restart): ")?,
            ShutdownMode::Withdraw => f.write_str("withdrawing: ")?,
        }
        let node = &self.node;
        match self.reason {
            ShutdownReason::Configured(policy) => write!(f, "--bgp-shutdown={policy}"),
            ShutdownReason::NodeUnknown => write!(f, "node {node} is not known (never seen, or deleted)"),
            ShutdownReason::NodeDeleting => write!(f, "node {node} is being deleted"),
            ShutdownReason::NodeCordoned => write!(f, "node {node} is cordoned"),
            ShutdownReason::NodeNotReady => write!(f, "node {node} is not Ready"),
            ShutdownReason::NodeExcluded => {
                write!(f, "node {node} is excluded from external load balancers")
            }
            ShutdownReason::NothingAnnounced => write!(f, "node {node} announces nothing"),
            ShutdownReason::NodeStaying => write!(f, "node {node} is schedulable and Ready"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::EXCLUDE_FROM_LB_LABEL;

    fn node(unschedulable: bool, ready: bool, deleting: bool, excluded: bool) -> NodeInfo {
        let mut labels = BTreeMap::new();
        if excluded {
            labels.insert(EXCLUDE_FROM_LB_LABEL.to_owned(), String::new());
        }
        NodeInfo {
            labels,
            unschedulable,
            ready,
            deleting,
            ..NodeInfo::default()
        }
    }

    /// (policy, own Node, announcing) -> (mode, reason, log message)
    type Row<'a> = (
        ShutdownPolicy,
        Option<&'a NodeInfo>,
        bool,
        ShutdownMode,
        ShutdownReason,
        &'static str,
    );

    #[test]
    fn the_decision_table() {
        use ShutdownMode::{Graceful as Keep, Withdraw};
        use ShutdownPolicy::{Auto, Graceful, Withdraw as ForceWithdraw};
        use ShutdownReason as R;
        let staying = node(false, true, false, false);
        let cordoned = node(true, true, false, false);
        let not_ready = node(false, false, false, false);
        let deleting = node(false, true, true, false);
        let excluded = node(false, true, false, true);
        let everything = node(true, false, true, true);
        // (policy, node, announcing) -> (mode, reason, message)
        let table: [Row<'_>; 13] = [
            (
                Auto,
                Some(&staying),
                true,
                Keep,
                R::NodeStaying,
                "keeping routes at peers (graceful restart): node n1 is schedulable and Ready",
            ),
            (
                Auto,
                Some(&cordoned),
                true,
                Withdraw,
                R::NodeCordoned,
                "withdrawing: node n1 is cordoned",
            ),
            (
                Auto,
                Some(&not_ready),
                true,
                Withdraw,
                R::NodeNotReady,
                "withdrawing: node n1 is not Ready",
            ),
            (
                Auto,
                Some(&deleting),
                true,
                Withdraw,
                R::NodeDeleting,
                "withdrawing: node n1 is being deleted",
            ),
            (
                Auto,
                Some(&excluded),
                true,
                Withdraw,
                R::NodeExcluded,
                "withdrawing: node n1 is excluded from external load balancers",
            ),
            (
                Auto,
                Some(&everything),
                true,
                Withdraw,
                R::NodeDeleting,
                "withdrawing: node n1 is being deleted",
            ),
            (
                Auto,
                None,
                true,
                Withdraw,
                R::NodeUnknown,
                "withdrawing: node n1 is not known (never seen, or deleted)",
            ),
            (
                Auto,
                Some(&staying),
                false,
                Withdraw,
                R::NothingAnnounced,
                "withdrawing: node n1 announces nothing",
            ),
            (
                Auto,
                Some(&cordoned),
                false,
                Withdraw,
                R::NodeCordoned,
                "withdrawing: node n1 is cordoned",
            ),
            (
                ForceWithdraw,
                Some(&staying),
                true,
                Withdraw,
                R::Configured(ForceWithdraw),
                "withdrawing: --bgp-shutdown=withdraw",
            ),
            (
                Graceful,
                Some(&cordoned),
                true,
                Keep,
                R::Configured(Graceful),
                "keeping routes at peers (graceful restart): --bgp-shutdown=graceful",
            ),
            (
                Graceful,
                None,
                false,
                Keep,
                R::Configured(Graceful),
                "keeping routes at peers (graceful restart): --bgp-shutdown=graceful",
            ),
            (
                ForceWithdraw,
                None,
                false,
                Withdraw,
                R::Configured(ForceWithdraw),
                "withdrawing: --bgp-shutdown=withdraw",
            ),
        ];
        for (policy, info, announcing, mode, reason, message) in table {
            let d = decide(policy, "n1", info, announcing);
            assert_eq!(
                (d.mode, d.reason),
                (mode, reason),
                "{policy} {info:?} announcing {announcing}"
            );
            assert_eq!(d.to_string(), message);
        }
    }

    #[test]
    fn the_policy_parses_from_its_flag_values() {
        use clap::ValueEnum as _;
        for p in [
            ShutdownPolicy::Auto,
            ShutdownPolicy::Withdraw,
            ShutdownPolicy::Graceful,
        ] {
            assert_eq!(ShutdownPolicy::from_str(&p.to_string(), false), Ok(p));
        }
        assert_eq!(ShutdownPolicy::default(), ShutdownPolicy::Withdraw);
    }
}
