//! How BGP mode leaves its peers when the speaker stops (pure): keep the routes (a restart) or withdraw
//! them (a departure).
//!
//! A speaker that stops for an upgrade or a restart of its pod comes back within seconds on the same node,
//! whose data path (kube-proxy) never stopped: routers that help with graceful restart should keep its
//! routes as stale until the new speaker has sent End-of-RIB, so no flow is rehashed to another node and a
//! Local Service whose endpoints run only here stays reachable. A node that leaves (drained, shutting down,
//! rebooted, deleted, excluded from load balancers) must be withdrawn at once instead.
//!
//! `auto`, the default, wants two signs of a restart. The own Node (the only one the speaker knows) must be
//! staying: known, schedulable, Ready, not deleting, not excluded, and this node must announce something.
//! And the speaker's own Pod must have a `deletionTimestamp` ([`PodSign`], read at shutdown): a pod deleted
//! through the API (a DaemonSet rolling update, `kubectl delete pod`, an uninstall) gets one before the
//! kubelet sends SIGTERM, while a node shutdown (systemd, the kubelet's graceful node shutdown), a reboot
//! without a drain, an eviction by the kubelet or a kill sets none. A pod deleted because its node goes away
//! (Node deletion) is caught by the Node checks.
//!
//! | `--bgp-shutdown` | own Node | own Pod | result |
//! |---|---|---|---|
//! | `withdraw` | any | any | withdraw |
//! | `graceful` | any | any | keep routes |
//! | `auto` | not known (never seen, or deleted) | not read | withdraw (no information: the traditional choice) |
//! | `auto` | `deletionTimestamp` set | not read | withdraw |
//! | `auto` | cordoned (`spec.unschedulable`) | not read | withdraw |
//! | `auto` | `Ready` not `True` (the kubelet's graceful node shutdown sets it, racing with killing pods) | not read | withdraw |
//! | `auto` | `node.kubernetes.io/exclude-from-external-load-balancers` | not read | withdraw |
//! | `auto` | announces nothing | not read | withdraw |
//! | `auto` | otherwise | no `deletionTimestamp` (node shutdown, reboot, eviction, kill) | withdraw |
//! | `auto` | otherwise | unknown (no `--pod-name`; not read within 500 ms, not found, forbidden) | withdraw |
//! | `auto` | otherwise | `deletionTimestamp` set (deleted through the API: a restart) | keep routes |

use std::fmt;

use crate::model::NodeInfo;

/// `--bgp-shutdown`: how BGP sessions end when the speaker stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum ShutdownPolicy {
    /// Keep the routes when the own Node is schedulable, Ready and not leaving and the own Pod is being
    /// deleted through the API (a restart); withdraw otherwise: the default.
    #[default]
    Auto,
    /// Always withdraw at once (Cease).
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

/// What the speaker knows of its own Pod at shutdown: whether it is being deleted through the API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PodSign {
    /// The Pod (named) has a `deletionTimestamp`: deleted through the API, a restart.
    Deleting(String),
    /// The Pod (named) has no `deletionTimestamp`: a node shutdown or a kill.
    NotDeleting(String),
    /// Not known; why (`no --pod-name`, `pod X could not be read (…)`).
    Unknown(String),
}

/// Why [`decide`] chose its mode.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// The Node is staying, but the own Pod (named) is not being deleted.
    PodNotDeleting(String),
    /// The Node is staying, but the own Pod is not known (why).
    PodUnknown(String),
    /// The Node is schedulable, Ready and staying, and the own Pod (named) is being deleted: a restart.
    Restarting(String),
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

/// Whether [`decide`] needs the own Pod's [`PodSign`]: only `auto` with a Node that is staying does (the
/// speaker then reads its Pod, briefly, at shutdown).
pub fn needs_pod_sign(policy: ShutdownPolicy, info: Option<&NodeInfo>, announcing: bool) -> bool {
    policy == ShutdownPolicy::Auto && info.is_some_and(|n| node_reason(n, announcing).is_none())
}

/// Why the Node alone says withdraw, if it does.
fn node_reason(n: &NodeInfo, announcing: bool) -> Option<ShutdownReason> {
    if n.deleting {
        Some(ShutdownReason::NodeDeleting)
    } else if n.unschedulable {
        Some(ShutdownReason::NodeCordoned)
    } else if !n.ready {
        Some(ShutdownReason::NodeNotReady)
    } else if n.excluded_from_lb() {
        Some(ShutdownReason::NodeExcluded)
    } else if !announcing {
        Some(ShutdownReason::NothingAnnounced)
    } else {
        None
    }
}

/// The decision for a speaker on `node` stopping with `policy`; `info` is the node's last known state (if
/// the speaker ever saw it), `announcing` whether it advertises any IP right now, and `pod` what it knows
/// of its own Pod (looked at only when [`needs_pod_sign`]).
pub fn decide(
    policy: ShutdownPolicy,
    node: &str,
    info: Option<&NodeInfo>,
    announcing: bool,
    pod: &PodSign,
) -> ShutdownDecision {
    let (mode, reason) = match (policy, info) {
        (ShutdownPolicy::Withdraw, _) => (ShutdownMode::Withdraw, ShutdownReason::Configured(policy)),
        (ShutdownPolicy::Graceful, _) => (ShutdownMode::Graceful, ShutdownReason::Configured(policy)),
        (ShutdownPolicy::Auto, None) => (ShutdownMode::Withdraw, ShutdownReason::NodeUnknown),
        (ShutdownPolicy::Auto, Some(n)) => {
            let reason = node_reason(n, announcing).unwrap_or_else(|| match pod {
                PodSign::Deleting(p) => ShutdownReason::Restarting(p.clone()),
                PodSign::NotDeleting(p) => ShutdownReason::PodNotDeleting(p.clone()),
                PodSign::Unknown(why) => ShutdownReason::PodUnknown(why.clone()),
            });
            let mode = if matches!(reason, ShutdownReason::Restarting(_)) {
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
        match &self.reason {
            ShutdownReason::Configured(policy) => write!(f, "--bgp-shutdown={policy}"),
            ShutdownReason::NodeUnknown => write!(f, "node {node} is not known (never seen, or deleted)"),
            ShutdownReason::NodeDeleting => write!(f, "node {node} is being deleted"),
            ShutdownReason::NodeCordoned => write!(f, "node {node} is cordoned"),
            ShutdownReason::NodeNotReady => write!(f, "node {node} is not Ready"),
            ShutdownReason::NodeExcluded => {
                write!(f, "node {node} is excluded from external load balancers")
            }
            ShutdownReason::NothingAnnounced => write!(f, "node {node} announces nothing"),
            ShutdownReason::PodNotDeleting(pod) => write!(
                f,
                "pod {pod} is not being deleted: a node shutdown or a kill, not a restart"
            ),
            ShutdownReason::PodUnknown(why) => f.write_str(why),
            ShutdownReason::Restarting(pod) => write!(
                f,
                "node {node} is schedulable and Ready and pod {pod} is being deleted (a restart)"
            ),
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

    /// (policy, own Node, announcing, own Pod) -> (mode, reason, log message)
    type Row<'a> = (
        ShutdownPolicy,
        Option<&'a NodeInfo>,
        bool,
        &'a PodSign,
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
        let restart = PodSign::Deleting("spk-1".into());
        let shutdown = PodSign::NotDeleting("spk-1".into());
        let no_name = PodSign::Unknown("no --pod-name".into());
        let unread = PodSign::Unknown("pod spk-1 could not be read (timed out after 500 ms)".into());
        let table: [Row<'_>; 17] = [
            (
                Auto,
                Some(&staying),
                true,
                &restart,
                Keep,
                R::Restarting("spk-1".into()),
                "keeping routes at peers (graceful restart): node n1 is schedulable and Ready and pod spk-1 is being deleted (a restart)",
            ),
            (
                Auto,
                Some(&staying),
                true,
                &shutdown,
                Withdraw,
                R::PodNotDeleting("spk-1".into()),
                "withdrawing: pod spk-1 is not being deleted: a node shutdown or a kill, not a restart",
            ),
            (
                Auto,
                Some(&staying),
                true,
                &no_name,
                Withdraw,
                R::PodUnknown("no --pod-name".into()),
                "withdrawing: no --pod-name",
            ),
            (
                Auto,
                Some(&staying),
                true,
                &unread,
                Withdraw,
                R::PodUnknown("pod spk-1 could not be read (timed out after 500 ms)".into()),
                "withdrawing: pod spk-1 could not be read (timed out after 500 ms)",
            ),
            (
                Auto,
                Some(&cordoned),
                true,
                &restart,
                Withdraw,
                R::NodeCordoned,
                "withdrawing: node n1 is cordoned",
            ),
            (
                Auto,
                Some(&not_ready),
                true,
                &restart,
                Withdraw,
                R::NodeNotReady,
                "withdrawing: node n1 is not Ready",
            ),
            (
                Auto,
                Some(&deleting),
                true,
                &restart,
                Withdraw,
                R::NodeDeleting,
                "withdrawing: node n1 is being deleted",
            ),
            (
                Auto,
                Some(&excluded),
                true,
                &restart,
                Withdraw,
                R::NodeExcluded,
                "withdrawing: node n1 is excluded from external load balancers",
            ),
            (
                Auto,
                Some(&everything),
                true,
                &restart,
                Withdraw,
                R::NodeDeleting,
                "withdrawing: node n1 is being deleted",
            ),
            (
                Auto,
                None,
                true,
                &restart,
                Withdraw,
                R::NodeUnknown,
                "withdrawing: node n1 is not known (never seen, or deleted)",
            ),
            (
                Auto,
                Some(&staying),
                false,
                &restart,
                Withdraw,
                R::NothingAnnounced,
                "withdrawing: node n1 announces nothing",
            ),
            (
                Auto,
                Some(&cordoned),
                false,
                &shutdown,
                Withdraw,
                R::NodeCordoned,
                "withdrawing: node n1 is cordoned",
            ),
            (
                ForceWithdraw,
                Some(&staying),
                true,
                &restart,
                Withdraw,
                R::Configured(ForceWithdraw),
                "withdrawing: --bgp-shutdown=withdraw",
            ),
            (
                Graceful,
                Some(&cordoned),
                true,
                &shutdown,
                Keep,
                R::Configured(Graceful),
                "keeping routes at peers (graceful restart): --bgp-shutdown=graceful",
            ),
            (
                Graceful,
                None,
                false,
                &no_name,
                Keep,
                R::Configured(Graceful),
                "keeping routes at peers (graceful restart): --bgp-shutdown=graceful",
            ),
            (
                ForceWithdraw,
                None,
                false,
                &shutdown,
                Withdraw,
                R::Configured(ForceWithdraw),
                "withdrawing: --bgp-shutdown=withdraw",
            ),
            (
                Graceful,
                Some(&staying),
                true,
                &unread,
                Keep,
                R::Configured(Graceful),
                "keeping routes at peers (graceful restart): --bgp-shutdown=graceful",
            ),
        ];
        for (policy, info, announcing, pod, mode, reason, message) in table {
            let d = decide(policy, "n1", info, announcing, pod);
            assert_eq!(
                (d.mode, &d.reason),
                (mode, &reason),
                "{policy} {info:?} announcing {announcing} {pod:?}"
            );
            assert_eq!(d.to_string(), message);
            // the Pod is read exactly when it can change the outcome
            let pod_matters = [&restart, &shutdown, &no_name]
                .iter()
                .map(|p| decide(policy, "n1", info, announcing, p).mode)
                .collect::<std::collections::HashSet<_>>()
                .len()
                > 1;
            assert_eq!(
                needs_pod_sign(policy, info, announcing),
                pod_matters,
                "{policy} {info:?} announcing {announcing}"
            );
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
        assert_eq!(ShutdownPolicy::default(), ShutdownPolicy::Auto);
    }
}
