//! What a Service's status should say, computed apart from writing it. Pure: no I/O.
//!
//! [`desired_status`] compares a Service's current `status.loadBalancer.ingress` and its
//! `ferrolb.io/ip-allocated-from-pool` annotation with what ferrolb wants and returns a [`StatusPatch`] only
//! when they differ — so a steady state issues no write at all. The patch ([`StatusPatch::to_json`]) is a JSON
//! merge patch for the `/status` subresource that carries `metadata.resourceVersion`: the API server applies
//! it only to the version the decision was made from (409 Conflict otherwise). Ingress entries carry `ip`
//! only — never `ipMode` or other fields a Kubernetes 1.28 API server would reject.

use std::net::IpAddr;

use ferrolb_config::annotations::IP_ALLOCATED_FROM_POOL;
use k8s_openapi::api::core::v1::LoadBalancerIngress;
use serde_json::{Value, json};

use crate::allocator::Assignment;
use crate::service::ServiceView;

/// What ferrolb wants in a Service's status.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// The Service is ferrolb's: its ingress is exactly the assignment's IPs (none while it waits for one)
    /// and the annotation names the pool.
    Owned(Option<&'a Assignment>),
    /// The Service is not ferrolb's (any more): drop the annotation and every ingress entry whose IP
    /// `was_ours` says ferrolb gave it; keep the rest (another load balancer may already have written it).
    Released {
        /// Whether an ingress IP is one ferrolb handed out.
        was_ours: &'a dyn Fn(IpAddr) -> bool,
    },
}

impl std::fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Owned(a) => f.debug_tuple("Owned").field(a).finish(),
            Target::Released { .. } => f.write_str("Released"),
        }
    }
}

/// A change to a Service's status: the whole ingress list and the annotation, conditioned on the
/// resourceVersion they were computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusPatch {
    /// The resourceVersion the patch applies to.
    pub resource_version: String,
    /// The new `status.loadBalancer.ingress`.
    pub ingress: Vec<LoadBalancerIngress>,
    /// The new `ferrolb.io/ip-allocated-from-pool` annotation (`None` removes it).
    pub pool: Option<String>,
}

impl StatusPatch {
    /// The IPs of the new ingress list, in order.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.ingress
            .iter()
            .filter_map(|i| i.ip.as_deref()?.parse().ok())
            .collect()
    }

    /// The JSON merge patch for `PATCH …/services/NAME/status`.
    pub fn to_json(&self) -> Value {
        let ingress = if self.ingress.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(&self.ingress).unwrap_or(Value::Null)
        };
        json!({
            "metadata": {
                "resourceVersion": self.resource_version,
                "annotations": { IP_ALLOCATED_FROM_POOL: self.pool },
            },
            "status": { "loadBalancer": { "ingress": ingress } },
        })
    }
}

/// The patch that brings `svc`'s status to `target`, or `None` when it is already there.
pub fn desired_status(svc: &ServiceView, target: Target<'_>) -> Option<StatusPatch> {
    let (ingress, pool) = match target {
        Target::Owned(assignment) => {
            let ips: &[IpAddr] = assignment.map_or(&[], |a| &a.ips);
            let pool = assignment.map(|a| a.pool.clone());
            let same_ips = svc.ingress.len() == ips.len()
                && svc.ingress.iter().zip(ips).all(|(entry, ip)| {
                    entry.hostname.as_deref().is_none_or(str::is_empty)
                        && entry.ip.as_deref().and_then(|s| s.parse::<IpAddr>().ok()) == Some(*ip)
                });
            if same_ips && svc.allocated_from_pool == pool {
                return None;
            }
            let ingress = ips
                .iter()
                .map(|ip| LoadBalancerIngress {
                    ip: Some(ip.to_string()),
                    ..LoadBalancerIngress::default()
                })
                .collect();
            (ingress, pool)
        }
        Target::Released { was_ours } => {
            let kept: Vec<LoadBalancerIngress> = svc
                .ingress
                .iter()
                .filter(|e| !e.ip.as_deref().and_then(|s| s.parse().ok()).is_some_and(was_ours))
                .cloned()
                .collect();
            if kept.len() == svc.ingress.len() && svc.allocated_from_pool.is_none() {
                return None;
            }
            (kept, None)
        }
    };
    Some(StatusPatch {
        resource_version: svc.resource_version.clone(),
        ingress,
        pool,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::fixtures::svc;

    fn assignment(pool: &str, ips: &[&str]) -> Assignment {
        Assignment {
            pool: pool.into(),
            ips: ips.iter().map(|s| s.parse().expect("ip")).collect(),
        }
    }

    #[test]
    fn owned_status_table() {
        let a = assignment("default", &["192.0.2.1"]);
        let dual = assignment("default", &["192.0.2.1", "2001:db8::1"]);
        // (case, current service, target assignment, expected ingress IPs or None for no write)
        type Case<'a> = (
            &'a str,
            Box<ServiceView>,
            Option<&'a Assignment>,
            Option<Vec<&'a str>>,
        );
        let cases: Vec<Case<'_>> = vec![
            ("pending stays pending", svc("n", "s").view(), None, None),
            (
                "new assignment",
                svc("n", "s").view(),
                Some(&a),
                Some(vec!["192.0.2.1"]),
            ),
            (
                "steady state",
                svc("n", "s")
                    .ingress(&["192.0.2.1"])
                    .annotation(IP_ALLOCATED_FROM_POOL, "default")
                    .view(),
                Some(&a),
                None,
            ),
            (
                "annotation missing",
                svc("n", "s").ingress(&["192.0.2.1"]).view(),
                Some(&a),
                Some(vec!["192.0.2.1"]),
            ),
            (
                "other pool named",
                svc("n", "s")
                    .ingress(&["192.0.2.1"])
                    .annotation(IP_ALLOCATED_FROM_POOL, "old")
                    .view(),
                Some(&a),
                Some(vec!["192.0.2.1"]),
            ),
            (
                "order matters (primary family first)",
                svc("n", "s")
                    .ingress(&["2001:db8::1", "192.0.2.1"])
                    .annotation(IP_ALLOCATED_FROM_POOL, "default")
                    .view(),
                Some(&dual),
                Some(vec!["192.0.2.1", "2001:db8::1"]),
            ),
            (
                "cleared",
                svc("n", "s")
                    .ingress(&["192.0.2.9"])
                    .annotation(IP_ALLOCATED_FROM_POOL, "default")
                    .view(),
                None,
                Some(vec![]),
            ),
            (
                "a foreign IP is replaced",
                svc("n", "s").ingress(&["198.51.100.1"]).view(),
                Some(&a),
                Some(vec!["192.0.2.1"]),
            ),
        ];
        for (case, view, target, want) in cases {
            let got = desired_status(&view, Target::Owned(target));
            match (got, want) {
                (None, None) => {}
                (Some(p), Some(want)) => {
                    let want: Vec<IpAddr> = want.iter().map(|s| s.parse().expect("ip")).collect();
                    assert_eq!(p.ips(), want, "{case}");
                    assert_eq!(p.pool, target.map(|a| a.pool.clone()), "{case}");
                    assert_eq!(p.resource_version, view.resource_version, "{case}");
                }
                (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn released_keeps_foreign_entries() {
        let ours = |ip: IpAddr| ip.to_string().starts_with("192.0.2.");
        let view = svc("n", "s")
            .ingress(&["192.0.2.1", "198.51.100.7"])
            .annotation(IP_ALLOCATED_FROM_POOL, "default")
            .view();
        let p = desired_status(&view, Target::Released { was_ours: &ours }).expect("a write");
        assert_eq!(p.ips(), ["198.51.100.7".parse::<IpAddr>().expect("ip")]);
        assert_eq!(p.pool, None);
        let clean = svc("n", "s").ingress(&["198.51.100.7"]).view();
        assert_eq!(desired_status(&clean, Target::Released { was_ours: &ours }), None);
    }

    #[test]
    fn the_patch_is_a_conditioned_merge_patch_without_ip_mode() {
        let a = assignment("gold", &["192.0.2.1", "2001:db8::1"]);
        let p = desired_status(&svc("n", "s").rv(42).view(), Target::Owned(Some(&a))).expect("write");
        assert_eq!(
            p.to_json(),
            json!({
                "metadata": {"resourceVersion": "42", "annotations": {IP_ALLOCATED_FROM_POOL: "gold"}},
                "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"ip": "2001:db8::1"}]}},
            })
        );
        let view = svc("n", "s")
            .rv(43)
            .ingress(&["192.0.2.1"])
            .annotation(IP_ALLOCATED_FROM_POOL, "gold")
            .view();
        let clear = desired_status(&view, Target::Owned(None)).expect("write");
        assert_eq!(
            clear.to_json(),
            json!({
                "metadata": {"resourceVersion": "43", "annotations": {IP_ALLOCATED_FROM_POOL: null}},
                "status": {"loadBalancer": {"ingress": null}},
            })
        );
        assert!(!p.to_json().to_string().contains("ipMode"));
    }
}
