//! core/v1 Pods (`pkg/registry/core/pod/strategy.go`): the defaults that matter for deletion, the
//! validation of what every pod must have, the spec's immutability, and graceful deletion.
//!
//! Graceful deletion is what kube-apiserver does for pods only: a DELETE does not remove a scheduled pod but
//! sets `metadata.deletionTimestamp` (now + grace period) and `metadata.deletionGracePeriodSeconds`; the
//! kubelet then stops the containers (SIGTERM, the grace period, SIGKILL) and deletes the pod for good with
//! a grace period of 0. The grace period is the DeleteOptions' `gracePeriodSeconds`, else the pod's
//! `spec.terminationGracePeriodSeconds` (defaulted to 30); a pod not bound to a node, or already `Failed` or
//! `Succeeded`, is deleted at once. A second DELETE may only shorten the grace period.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::error::Cause;
use crate::time::{parse_rfc3339, rfc3339};

/// `DefaultTerminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD: i64 = 30;

/// `SetDefaults_PodSpec` (the fields kube-apiserver always fills in).
pub fn set_defaults(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for (field, value) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        (
            "terminationGracePeriodSeconds",
            json!(DEFAULT_TERMINATION_GRACE_PERIOD),
        ),
    ] {
        if spec.get(field).is_none_or(Value::is_null) {
            spec.insert(field.into(), value);
        }
    }
}

/// What every pod needs (containers with names and images), and what an update may change of the spec
/// (the containers' images, `activeDeadlineSeconds`, tolerations).
pub fn validate(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    match obj["spec"]["containers"].as_array() {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter().enumerate() {
                for field in ["name", "image"] {
                    if c[field].as_str().is_none_or(str::is_empty) {
                        errs.push(Cause::required(format!("spec.containers[{i}].{field}"), ""));
                    }
                }
            }
        }
        _ => errs.push(Cause::required("spec.containers", "")),
    }
    if let Some(g) = obj["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .filter(|g| *g < 0)
    {
        errs.push(Cause::invalid(
            "spec.terminationGracePeriodSeconds",
            &json!(g),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(old) = old
        && mutable_spec_stripped(&obj["spec"]) != mutable_spec_stripped(&old["spec"])
    {
        errs.push(Cause::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        ));
    }
    errs
}

/// The spec without the fields an update may change.
fn mutable_spec_stripped(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("activeDeadlineSeconds");
        o.remove("tolerations");
    }
    for list in ["containers", "initContainers"] {
        for c in s[list].as_array_mut().into_iter().flatten() {
            if let Some(c) = c.as_object_mut() {
                c.remove("image");
            }
        }
    }
    s
}

/// What a DELETE does to a pod ([`graceful_delete`]).
#[derive(Debug, Clone, PartialEq)]
pub enum GracefulDelete {
    /// Not graceful: the ordinary deletion (removed now, or held by finalizers).
    NotGraceful,
    /// Already terminating and the request does not shorten the grace period: the pod is returned as is.
    Pending,
    /// The pod is kept, marked as terminating (or with a shorter grace period): this object is stored.
    Mark(Value),
}

/// `CheckGracefulDelete` of the pod strategy and `BeforeDelete`'s graceful part: what a DELETE with
/// `options` (DeleteOptions) does to pod `old` at `now`.
pub fn graceful_delete(old: &Value, options: &Value, now: SystemTime) -> GracefulDelete {
    let meta = &old["metadata"];
    // negative values are treated as 1 s on the delete path
    let requested = options["gracePeriodSeconds"]
        .as_i64()
        .map(|g| if g < 0 { 1 } else { g });
    let has_finalizers = meta["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if let Some(deleting) = meta["deletionTimestamp"].as_str() {
        // already terminating: a request may only shorten the grace period
        let Some(current) = meta["deletionGracePeriodSeconds"].as_i64() else {
            return GracefulDelete::NotGraceful;
        };
        let Some(period) = requested else {
            return GracefulDelete::Pending;
        };
        if period >= current {
            return GracefulDelete::Pending;
        }
        let started = parse_rfc3339(deleting)
            .and_then(|t| t.checked_sub(secs(current)))
            .unwrap_or(now);
        return mark(old, started, period, has_finalizers);
    }
    let mut period =
        requested.unwrap_or_else(|| old["spec"]["terminationGracePeriodSeconds"].as_i64().unwrap_or(0));
    // not scheduled, or already terminated: deleted at once
    let phase = old["status"]["phase"].as_str().unwrap_or_default();
    if old["spec"]["nodeName"].as_str().is_none_or(str::is_empty) || phase == "Failed" || phase == "Succeeded"
    {
        period = 0;
    }
    mark(old, now, period.max(0), has_finalizers)
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// The pod marked as terminating `period` seconds after `from`, unless it goes at once (period 0 and no
/// finalizers to wait for).
fn mark(old: &Value, from: SystemTime, period: i64, has_finalizers: bool) -> GracefulDelete {
    if period == 0 && !has_finalizers {
        return GracefulDelete::NotGraceful;
    }
    let mut marked = old.clone();
    let at = from.checked_add(secs(period)).unwrap_or(from);
    marked["metadata"]["deletionTimestamp"] = json!(rfc3339(at));
    marked["metadata"]["deletionGracePeriodSeconds"] = json!(period);
    GracefulDelete::Mark(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: &str, grace: Option<i64>) -> Value {
        let mut p = json!({"metadata": {"name": "p", "namespace": "ns"},
                           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
                           "status": {"phase": "Running"}});
        if let Some(g) = grace {
            p["spec"]["terminationGracePeriodSeconds"] = json!(g);
        }
        p
    }

    fn marked(d: GracefulDelete) -> (String, i64) {
        match d {
            GracefulDelete::Mark(v) => (
                v["metadata"]["deletionTimestamp"].as_str().unwrap().to_owned(),
                v["metadata"]["deletionGracePeriodSeconds"].as_i64().unwrap(),
            ),
            other => panic!("not marked: {other:?}"),
        }
    }

    #[test]
    fn graceful_deletion_follows_the_pod_strategy() {
        let now = parse_rfc3339("2026-11-25T10:00:00Z").unwrap();
        let none = json!({});
        // the pod's grace period, or the request's
        assert_eq!(
            marked(graceful_delete(&pod("n1", Some(5)), &none, now)),
            ("2026-11-25T10:00:05Z".to_owned(), 5)
        );
        let opts = json!({"gracePeriodSeconds": 12});
        assert_eq!(
            marked(graceful_delete(&pod("n1", Some(5)), &opts, now)),
            ("2026-11-25T10:00:12Z".to_owned(), 12)
        );
        // negative requests count as 1 s
        let neg = json!({"gracePeriodSeconds": -3});
        assert_eq!(marked(graceful_delete(&pod("n1", None), &neg, now)).1, 1);
        // 0, unscheduled, terminated: at once
        let zero = json!({"gracePeriodSeconds": 0});
        assert_eq!(
            graceful_delete(&pod("n1", Some(5)), &zero, now),
            GracefulDelete::NotGraceful
        );
        assert_eq!(
            graceful_delete(&pod("", Some(5)), &none, now),
            GracefulDelete::NotGraceful
        );
        let mut done = pod("n1", Some(5));
        done["status"]["phase"] = json!("Succeeded");
        assert_eq!(graceful_delete(&done, &none, now), GracefulDelete::NotGraceful);
        // 0 with finalizers: marked with 0 and kept
        let mut fin = pod("n1", Some(5));
        fin["metadata"]["finalizers"] = json!(["example.com/x"]);
        assert_eq!(
            marked(graceful_delete(&fin, &zero, now)),
            ("2026-11-25T10:00:00Z".to_owned(), 0)
        );
    }

    #[test]
    fn a_terminating_pod_may_only_get_a_shorter_grace_period() {
        let now = parse_rfc3339("2026-11-25T10:00:10Z").unwrap();
        let mut p = pod("n1", Some(30));
        p["metadata"]["deletionTimestamp"] = json!("2026-11-25T10:00:30Z");
        p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        for opts in [
            json!({}),
            json!({"gracePeriodSeconds": 30}),
            json!({"gracePeriodSeconds": 40}),
        ] {
            assert_eq!(graceful_delete(&p, &opts, now), GracefulDelete::Pending, "{opts}");
        }
        // shortened from when the deletion started (10:00:00)
        assert_eq!(
            marked(graceful_delete(&p, &json!({"gracePeriodSeconds": 4}), now)),
            ("2026-11-25T10:00:04Z".to_owned(), 4)
        );
        assert_eq!(
            graceful_delete(&p, &json!({"gracePeriodSeconds": 0}), now),
            GracefulDelete::NotGraceful
        );
    }

    #[test]
    fn defaults_and_validation() {
        let mut p = json!({"spec": {"containers": [{"name": "c"}]}});
        set_defaults(&mut p);
        assert_eq!(p["spec"]["terminationGracePeriodSeconds"], 30);
        assert_eq!(p["spec"]["restartPolicy"], "Always");
        let errs = validate(&p, None);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].message, "spec.containers[0].image: Required value");
        assert_eq!(
            validate(&json!({"spec": {}}), None)[0].message,
            "spec.containers: Required value"
        );
        let old = pod("n1", Some(5));
        let mut new = old.clone();
        new["spec"]["containers"][0]["image"] = json!("i2");
        assert!(validate(&new, Some(&old)).is_empty());
        new["spec"]["nodeName"] = json!("n2");
        assert_eq!(validate(&new, Some(&old))[0].field, "spec");
    }
}
