//! Per-resource strategies (`pkg/registry/*/strategy.go`): decode defaults, what create and update
//! reset, and validation, dispatched on [`Strategy`]. Services live in [`service`].

mod alloc;
pub mod pod;
pub mod service;
mod service_validation;

use serde_json::{Value, json};

use crate::error::Cause;
use crate::resources::{ResourceDef, Strategy};
use crate::store::list::base64_encode;
use crate::validate;

/// Which part of the object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The main resource: `status` changes are ignored (when a status subresource exists).
    Main,
    /// The `/status` subresource: only `metadata` and `status` changes are kept.
    Status,
}

/// Decode-time defaults (`SetDefaults_*`).
pub fn set_defaults(def: &ResourceDef, obj: &mut Value) {
    match def.strategy {
        Strategy::Service => service::set_defaults(obj),
        Strategy::Pod => pod::set_defaults(obj),
        Strategy::Secret => {
            if obj["type"].as_str().is_none_or(str::is_empty) {
                obj["type"] = json!("Opaque");
            }
            merge_string_data(obj);
        }
        Strategy::EndpointSlice => {
            for p in obj["ports"].as_array_mut().into_iter().flatten() {
                if p.is_object() && p["protocol"].as_str().is_none_or(str::is_empty) {
                    p["protocol"] = json!("TCP");
                }
            }
        }
        _ => {}
    }
}

/// `stringData` is write-only: merged into `data` (base64) and dropped, as the v1 → internal conversion does.
fn merge_string_data(obj: &mut Value) {
    let Some(sd) = obj.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    let Some(sd) = sd.as_object() else { return };
    if !obj["data"].is_object() {
        obj["data"] = json!({});
    }
    for (k, v) in sd {
        obj["data"][k] = json!(base64_encode(v.as_str().unwrap_or_default().as_bytes()));
    }
}

/// `PrepareForCreate`: status subresources start empty (Nodes keep theirs), namespaces get their finalizer.
pub fn prepare_create(def: &ResourceDef, obj: &mut Value) {
    match def.strategy {
        Strategy::Service => obj["status"] = json!({"loadBalancer": {}}),
        Strategy::Namespace => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        Strategy::Node => {}
        // `PrepareForCreate`: a new pod is Pending (the kubelet reports the rest)
        Strategy::Pod => obj["status"] = json!({"phase": "Pending"}),
        _ if def.status => {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        _ => {}
    }
}

/// `PrepareForUpdate` of the main resource or its status subresource.
pub fn prepare_update(def: &ResourceDef, new: &mut Value, old: &Value, target: Target) {
    if def.status {
        match target {
            Target::Main => {
                let status = old.get("status").cloned();
                if let Some(o) = new.as_object_mut() {
                    match status {
                        Some(s) => o.insert("status".into(), s),
                        None => o.remove("status"),
                    };
                }
            }
            Target::Status => {
                // Only spec (built-ins) or everything but metadata and status (custom resources) is reset.
                let keep: &[&str] = &["metadata", "status", "apiVersion", "kind"];
                let mut out = old.as_object().cloned().unwrap_or_default();
                if def.strategy != Strategy::Custom {
                    out = new.as_object().cloned().unwrap_or_default();
                    match old.get("spec") {
                        Some(s) => out.insert("spec".into(), s.clone()),
                        None => out.remove("spec"),
                    };
                } else {
                    for k in keep {
                        match new.get(*k) {
                            Some(v) => out.insert((*k).into(), v.clone()),
                            None => out.remove(*k),
                        };
                    }
                }
                *new = Value::Object(out);
            }
        }
    }
    if def.strategy == Strategy::Service && target == Target::Main {
        service::prepare_update(new, old);
    }
}

/// Kind-specific validation of the (new) object.
pub fn validate(
    def: &ResourceDef,
    obj: &Value,
    old: Option<&Value>,
    target: Target,
    minor: u32,
) -> Vec<Cause> {
    let mut errs = Vec::new();
    match (def.strategy, target) {
        (Strategy::Service, Target::Main) => {
            errs.extend(service::validate(obj));
            if let Some(old) = old {
                errs.extend(service::validate_update(obj, old));
            }
        }
        (Strategy::Service, Target::Status) => errs.extend(service::validate_status(obj, minor)),
        (Strategy::ConfigMap | Strategy::Secret, _) => {
            for field in ["data", "binaryData"] {
                for k in obj[field].as_object().into_iter().flatten().map(|(k, _)| k) {
                    for e in validate::config_map_key(k) {
                        errs.push(Cause::invalid(format!("{field}[{k}]"), &json!(k), e));
                    }
                }
            }
            if let Some(old) = old {
                if old["immutable"] == json!(true)
                    && (obj["data"] != old["data"] || obj["binaryData"] != old["binaryData"])
                {
                    errs.push(Cause::forbidden(
                        "data",
                        "field is immutable when `immutable` is set",
                    ));
                }
                if old["immutable"] == json!(true) && obj["immutable"] != json!(true) {
                    errs.push(Cause::forbidden(
                        "immutable",
                        "field is immutable when `immutable` is set",
                    ));
                }
                if def.strategy == Strategy::Secret && obj["type"] != old["type"] {
                    errs.push(Cause::invalid("type", &obj["type"], "field is immutable"));
                }
            }
        }
        (Strategy::EndpointSlice, _) => errs.extend(validate_endpoint_slice(obj, old)),
        (Strategy::Pod, Target::Main) => errs.extend(pod::validate(obj, old)),
        (Strategy::Lease, _) => {
            if let Some(d) = obj["spec"]["leaseDurationSeconds"].as_i64().filter(|d| *d <= 0) {
                errs.push(Cause::invalid(
                    "spec.leaseDurationSeconds",
                    &json!(d),
                    "must be greater than 0",
                ));
            }
            if let Some(t) = obj["spec"]["leaseTransitions"].as_i64().filter(|t| *t < 0) {
                errs.push(Cause::invalid(
                    "spec.leaseTransitions",
                    &json!(t),
                    "must be greater than or equal to 0",
                ));
            }
        }
        (Strategy::Event | Strategy::EventV1, _) => {
            errs.extend(validate_event(obj, def.strategy == Strategy::EventV1))
        }
        _ => {}
    }
    errs
}

fn validate_endpoint_slice(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    let at = obj["addressType"].as_str().unwrap_or_default();
    if at.is_empty() {
        errs.push(Cause::required("addressType", ""));
    } else if !["IPv4", "IPv6", "FQDN"].contains(&at) {
        errs.push(Cause::not_supported(
            "addressType",
            &obj["addressType"],
            &["FQDN", "IPv4", "IPv6"],
        ));
    }
    if let Some(old) = old
        && old["addressType"] != obj["addressType"]
    {
        errs.push(Cause::invalid(
            "addressType",
            &obj["addressType"],
            "field is immutable",
        ));
    }
    let eps = obj["endpoints"].as_array().cloned().unwrap_or_default();
    if eps.len() > 1000 {
        errs.push(Cause::too_long("endpoints", 1000));
    }
    for (i, ep) in eps.iter().enumerate() {
        let addrs = ep["addresses"].as_array().cloned().unwrap_or_default();
        if addrs.is_empty() || addrs.len() > 100 {
            errs.push(Cause::required(
                format!("endpoints[{i}].addresses"),
                "must contain at least 1 address but no more than 100",
            ));
        }
        for (j, a) in addrs.iter().enumerate() {
            let s = a.as_str().unwrap_or_default();
            let ok = match at {
                "IPv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => validate::dns1123_subdomain(s).is_empty(),
            };
            if !ok {
                let detail = if at == "FQDN" {
                    "must be a valid FQDN".to_owned()
                } else {
                    format!("must be a valid {at} address")
                };
                errs.push(Cause::invalid(
                    format!("endpoints[{i}].addresses[{j}]"),
                    a,
                    detail,
                ));
            }
        }
    }
    for (i, p) in obj["ports"].as_array().into_iter().flatten().enumerate() {
        if let Some(port) = p["port"].as_i64().filter(|n| !(1..=65535).contains(n)) {
            errs.push(Cause::invalid(
                format!("ports[{i}].port"),
                &json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
    errs
}

fn validate_event(obj: &Value, strict: bool) -> Vec<Cause> {
    let mut errs = Vec::new();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let (regarding, note) = if strict {
        ("regarding", "note")
    } else {
        ("involvedObject", "message")
    };
    let (inv, core_msg) = (&obj["involvedObject"], &obj["message"]);
    if let Some(ins) = inv["namespace"].as_str().filter(|s| !s.is_empty() && *s != ns) {
        errs.push(Cause::invalid(
            format!("{regarding}.namespace"),
            &json!(ins),
            "does not match event.namespace",
        ));
    }
    let new_style = strict || !obj["eventTime"].is_null();
    if new_style {
        if obj["eventTime"].is_null() {
            errs.push(Cause::required("eventTime", ""));
        }
        for (field, core) in [
            ("reportingController", "reportingComponent"),
            ("reportingInstance", "reportingInstance"),
            ("action", "action"),
            ("reason", "reason"),
        ] {
            let v = obj[core].as_str().unwrap_or_default();
            if v.is_empty() {
                errs.push(Cause::required(if strict { field } else { core }, ""));
            } else if v.len() > 128 {
                errs.push(Cause::too_long(if strict { field } else { core }, 128));
            }
        }
        if let Some(rc) = obj["reportingComponent"].as_str().filter(|s| !s.is_empty()) {
            for e in validate::qualified_name(rc) {
                errs.push(Cause::invalid(
                    if strict {
                        "reportingController"
                    } else {
                        "reportingComponent"
                    },
                    &json!(rc),
                    e,
                ));
            }
        }
        if let Some(t) = obj["type"]
            .as_str()
            .filter(|t| !["Normal", "Warning"].contains(t))
        {
            errs.push(Cause::not_supported("type", &json!(t), &["Normal", "Warning"]));
        }
        if core_msg.as_str().is_some_and(|m| m.len() > 1024) {
            errs.push(Cause::too_long(note, 1024));
        }
    }
    errs
}

#[cfg(test)]
mod tests;
