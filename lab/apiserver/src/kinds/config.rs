//! core/v1 ConfigMaps and Secrets: data keys checked, `immutable` honoured; Secrets get their type defaulted
//! to `Opaque` (immutable afterwards) and write-only `stringData` merged into `data`.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::Cause;
use crate::prune::{DecodeError, prune_as};
use crate::store::list::base64_encode;
use crate::strategy::{Strategy, age_cell, age_col, col, name_cell, name_col};
use crate::validate;

/// The ConfigMap strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigMapStrategy;

/// The Secret strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretStrategy;

fn count(obj: &Value, field: &str) -> usize {
    obj[field].as_object().map_or(0, |m| m.len())
}

/// Keys of `data` and `binaryData`, and `immutable`.
fn validate_data(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    for field in ["data", "binaryData"] {
        for k in obj[field].as_object().into_iter().flatten().map(|(k, _)| k) {
            for e in validate::config_map_key(k) {
                errs.push(Cause::invalid(format!("{field}[{k}]"), &json!(k), e));
            }
        }
    }
    if let Some(old) = old
        && old["immutable"] == json!(true)
    {
        if obj["data"] != old["data"] || obj["binaryData"] != old["binaryData"] {
            errs.push(Cause::forbidden(
                "data",
                "field is immutable when `immutable` is set",
            ));
        }
        if obj["immutable"] != json!(true) {
            errs.push(Cause::forbidden(
                "immutable",
                "field is immutable when `immutable` is set",
            ));
        }
    }
    errs
}

impl Strategy for ConfigMapStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<ConfigMap>(obj)
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        validate_data(obj, old)
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col("Data", "integer", "", 0, "Number of keys."),
            age_col(),
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        vec![
            name_cell(obj),
            json!(count(obj, "data") + count(obj, "binaryData")),
            age_cell(obj, now),
        ]
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

impl Strategy for SecretStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Secret>(obj)
    }

    fn set_defaults(&self, obj: &mut Value) {
        if obj["type"].as_str().is_none_or(str::is_empty) {
            obj["type"] = json!("Opaque");
        }
        merge_string_data(obj);
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        let mut errs = validate_data(obj, old);
        if let Some(old) = old
            && obj["type"] != old["type"]
        {
            errs.push(Cause::invalid("type", &obj["type"], "field is immutable"));
        }
        errs
    }

    fn field_labels(&self) -> Vec<String> {
        vec!["type".to_owned()]
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col("Type", "string", "", 0, "The type of the secret"),
            col("Data", "integer", "", 0, "Number of keys."),
            age_col(),
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        vec![
            name_cell(obj),
            json!(obj["type"].as_str().unwrap_or_default()),
            json!(count(obj, "data")),
            age_cell(obj, now),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_merge_string_data_and_default_type() {
        let mut s = json!({"stringData": {"key": "ferrolb"}, "data": {"other": "eA=="}});
        SecretStrategy.set_defaults(&mut s);
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"other": "eA==", "key": "ZmVycm9sYg=="}})
        );
    }
}
