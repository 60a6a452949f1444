//! Unknown-field pruning for built-in kinds: the object is decoded into its k8s-openapi type and encoded
//! again, which drops fields the schema does not have (as kube-apiserver's Go decoding does) and rejects
//! values of the wrong type. The dropped paths feed `fieldValidation` (Ignore, Warn, Strict).

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The decoded object could not be handled as its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}")]
pub struct DecodeError {
    /// The kind.
    pub kind: String,
    /// The API version.
    pub version: String,
    /// The decoder's message.
    pub detail: String,
}

fn round_trip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Prunes `obj` (which must carry the right `apiVersion` and `kind`) by decoding it as `T`, and returns it with
/// the list of dropped field paths (`spec.foo`, `spec.ports[0].bar`).
pub fn prune_as<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
    let pruned = round_trip::<T>(obj).map_err(|detail| DecodeError {
        kind: obj["kind"].as_str().unwrap_or_default().to_owned(),
        version: obj["apiVersion"].as_str().unwrap_or_default().to_owned(),
        detail,
    })?;
    let mut dropped = Vec::new();
    diff_dropped(obj, &pruned, String::new(), &mut dropped);
    Ok((pruned, dropped))
}

fn diff_dropped(orig: &Value, pruned: &Value, path: String, out: &mut Vec<String>) {
    match (orig, pruned) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(w) => diff_dropped(v, w, p, out),
                    None if !v.is_null() && !is_empty_container(v) => out.push(p),
                    None => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                diff_dropped(v, w, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// k8s-openapi omits some empty containers it decodes as absent; they are not unknown fields.
fn is_empty_container(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;
    use serde_json::json;

    #[test]
    fn drops_unknown_fields_and_reports_them() {
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "bogus": 1},
                         "spec": {"ports": [{"port": 80, "extra": true}], "selector": {"app": "a"}, "nope": {}}});
        let (p, dropped) = prune_as::<Service>(&svc).unwrap();
        assert_eq!(p["spec"]["ports"][0], json!({"port": 80}));
        assert_eq!(dropped, vec!["metadata.bogus", "spec.ports[0].extra"]);
        let bad = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": "x"}]}});
        assert!(prune_as::<Service>(&bad).is_err());
    }
}
