//! apiextensions.k8s.io/v1 CustomResourceDefinitions (`registry/customresourcedefinition`): v1 defaulting,
//! validation ([`crate::crd::validation`]), `status.storedVersions` kept by the strategy, the first DELETE adding
//! the cleanup finalizer and a `Terminating` condition. What makes a CRD's resources served is the CRD
//! controller's work ([`crate::crd::controller`]).

use std::time::SystemTime;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::Cause;
use crate::meta;
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{DeleteMode, Strategy, col, name_cell, name_col};

/// The CustomResourceDefinition strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrdStrategy;

/// Go encodes integral float64s without a fraction (`maximum: 16384`, not `16384.0`).
fn integral_floats(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                match k.as_str() {
                    "maximum" | "minimum" | "multipleOf" => {
                        if let Some(f) = x.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                            *x = json!(f as i64);
                        }
                    }
                    "default" | "enum" | "example" => {}
                    _ => integral_floats(x),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(integral_floats),
        _ => {}
    }
}

fn storage_version(crd: &Value) -> Option<&str> {
    crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["storage"] == json!(true))
        .and_then(|v| v["name"].as_str())
}

/// Adds the storage version to `status.storedVersions`.
fn record_storage_version(crd: &mut Value) {
    let Some(v) = storage_version(crd).map(str::to_owned) else {
        return;
    };
    if !crd["status"]["storedVersions"].is_array() {
        crd["status"]["storedVersions"] = json!([]);
    }
    if let Some(list) = crd["status"]["storedVersions"].as_array_mut()
        && !list.iter().any(|x| x == &json!(v))
    {
        list.push(json!(v));
    }
}

impl Strategy for CrdStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        let (mut out, dropped) = prune_as::<CustomResourceDefinition>(obj)?;
        integral_floats(&mut out);
        Ok((out, dropped))
    }

    /// `selectableFields` (CustomResourceFieldSelectors) is beta, on by default, from 1.31.
    fn drop_disabled_fields(&self, obj: &mut Value, minor: u32) -> Vec<String> {
        if minor < 31 {
            for v in obj["spec"]["versions"].as_array_mut().into_iter().flatten() {
                if let Some(m) = v.as_object_mut() {
                    m.remove("selectableFields");
                }
            }
        }
        Vec::new()
    }

    /// `SetDefaults_CustomResourceDefinitionSpec`, `SetDefaults_ServiceReference`.
    fn set_defaults(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if !spec.is_object() {
            return;
        }
        let kind = spec["names"]["kind"].as_str().unwrap_or_default().to_owned();
        if spec["names"].is_object() {
            if spec["names"]["singular"].as_str().is_none_or(str::is_empty) {
                spec["names"]["singular"] = json!(kind.to_ascii_lowercase());
            }
            if spec["names"]["listKind"].as_str().is_none_or(str::is_empty) && !kind.is_empty() {
                spec["names"]["listKind"] = json!(format!("{kind}List"));
            }
        }
        if spec["conversion"].is_null() {
            spec["conversion"] = json!({"strategy": "None"});
        }
        if let Some(svc) = spec
            .pointer_mut("/conversion/webhook/clientConfig/service")
            .and_then(Value::as_object_mut)
        {
            svc.entry("port").or_insert(json!(443));
        }
    }

    /// `PrepareForCreate`: a fresh status with the storage version stored.
    fn prepare_create(&self, obj: &mut Value, _status: bool) {
        obj["status"] = json!({"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []});
        record_storage_version(obj);
    }

    fn prepare_update(&self, new: &mut Value, old: &Value, target: Target, status: bool) {
        crate::strategy::builtin_prepare_update(new, old, target, status);
        if target == Target::Main {
            record_storage_version(new);
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, target: Target, _minor: u32) -> Vec<Cause> {
        match target {
            Target::Main => crate::crd::validation::validate(obj, old),
            Target::Status => Vec::new(),
        }
    }

    fn has_generation(&self) -> bool {
        true
    }

    fn delete_mode(&self) -> DeleteMode {
        DeleteMode::CustomResourceCleanup
    }

    /// `rest.NewDefaultTableConvertor`: Name and Created At.
    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col(
                "Created At",
                "date",
                "",
                0,
                "CreationTimestamp is a timestamp representing the server time when this object was created.",
            ),
        ]
    }

    fn cells(&self, obj: &Value, _now: SystemTime) -> Vec<Value> {
        vec![name_cell(obj), obj["metadata"]["creationTimestamp"].clone()]
    }
}

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
