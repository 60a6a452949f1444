//! apiextensions.k8s.io/v1 CustomResourceDefinitions.

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::meta;

/// The finalizer the CRD controller removes once the instances are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// The first DELETE of a CRD (`etcd.go` `Delete`): deletionTimestamp, the cleanup finalizer, and the
/// `Terminating` condition; the CRD controller does the rest.
pub fn mark_deleting(old: &Value, now: SystemTime) -> Value {
    let mut marked = old.clone();
    let m = meta::meta_mut(&mut marked);
    m.insert("deletionTimestamp".into(), json!(crate::time::rfc3339(now)));
    m.insert("deletionGracePeriodSeconds".into(), json!(0));
    let finalizers = m.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(list) = finalizers.as_array_mut()
        && !list.iter().any(|f| f == CLEANUP_FINALIZER)
    {
        list.push(json!(CLEANUP_FINALIZER));
    }
    set_condition(
        &mut marked,
        "Terminating",
        "True",
        "InstanceDeletionPending",
        "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
        now,
    );
    marked
}

/// `SetCRDCondition`: replaces the condition of that type (lastTransitionTime kept when the status is unchanged).
pub fn set_condition(crd: &mut Value, ty: &str, status: &str, reason: &str, message: &str, now: SystemTime) {
    if !crd["status"].is_object() {
        crd["status"] = json!({});
    }
    if !crd["status"]["conditions"].is_array() {
        crd["status"]["conditions"] = json!([]);
    }
    let new = json!({"type": ty, "status": status, "reason": reason, "message": message,
                     "lastTransitionTime": crate::time::rfc3339(now)});
    let Some(list) = crd["status"]["conditions"].as_array_mut() else {
        return;
    };
    match list.iter_mut().find(|c| c["type"] == ty) {
        Some(c) => {
            let since = if c["status"] == status {
                c["lastTransitionTime"].clone()
            } else {
                new["lastTransitionTime"].clone()
            };
            *c = new;
            c["lastTransitionTime"] = since;
        }
        None => list.push(new),
    }
}

/// Whether the CRD has condition `ty` with status `True`.
pub fn condition_true(crd: &Value, ty: &str) -> bool {
    crd["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == ty && c["status"] == "True")
}
