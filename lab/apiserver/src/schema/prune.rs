//! Pruning (`schema/pruning/algorithm.go`, `schema/objectmeta/coerce.go`,
//! `defaulting.PruneNonNullableNullsWithoutDefaults`): what a custom resource keeps of a request body.
//!
//! - fields the schema does not specify are dropped, unless a node has `x-kubernetes-preserve-unknown-fields`
//!   (its unspecified fields are kept, its specified ones still pruned);
//! - `apiVersion`, `kind` and `metadata` are implicit at the root and in `x-kubernetes-embedded-resource`
//!   objects; `metadata` is decoded as ObjectMeta, which drops its unknown fields;
//! - `null` values of fields that are not `nullable` and have no `default` are dropped (those with a default
//!   are defaulted instead).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::{Additional, Path, Schema};
use crate::prune::DecodeError;

fn is_meta_field(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

/// Prunes a custom resource against its version's schema; returns the dropped field paths (`spec.foo`,
/// `metadata.bar`), or an error when `metadata` does not decode as ObjectMeta.
pub fn prune_resource(obj: &mut Value, schema: &Schema) -> Result<Vec<String>, DecodeError> {
    let mut p = Pruner {
        dropped: Vec::new(),
        error: None,
    };
    p.prune(obj, Some(schema), true, &Path::default());
    if let Some(detail) = p.error {
        return Err(DecodeError {
            kind: obj["kind"].as_str().unwrap_or_default().to_owned(),
            version: obj["apiVersion"].as_str().unwrap_or_default().to_owned(),
            detail,
        });
    }
    prune_nulls(obj, Some(schema), true);
    Ok(p.dropped)
}

struct Pruner {
    dropped: Vec<String>,
    error: Option<String>,
}

impl Pruner {
    fn prune(&mut self, x: &mut Value, s: Option<&Schema>, resource: bool, path: &Path) {
        if let Some(s) = s
            && s.preserve_unknown_fields
        {
            self.skip_prune(x, s, resource, path);
            return;
        }
        match x {
            Value::Object(m) => {
                let Some(s) = s else {
                    self.dropped.extend(m.keys().map(|k| path.child(k).0));
                    m.clear();
                    return;
                };
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    let here = path.child(&k);
                    if (resource || s.embedded_resource) && is_meta_field(&k) {
                        if k == "metadata" {
                            self.coerce_metadata(m.get_mut(&k), &here);
                            continue;
                        }
                        if resource || m.get(&k).is_some_and(Value::is_string) {
                            continue;
                        }
                    }
                    let Some(v) = m.get_mut(&k) else { continue };
                    match (s.properties.get(&k), &s.additional) {
                        (Some(p), _) => self.prune(v, Some(p), p.embedded_resource, &here),
                        (None, Some(Additional::Schema(a))) => {
                            self.prune(v, Some(a), a.embedded_resource, &here)
                        }
                        (None, Some(Additional::Any)) => self.prune(v, None, false, &here),
                        (None, Some(Additional::None) | None) => {
                            self.dropped.push(here.0);
                            m.remove(&k);
                        }
                    }
                }
            }
            Value::Array(a) => {
                let items = s.and_then(|s| s.items.as_deref());
                for (i, v) in a.iter_mut().enumerate() {
                    let embedded = items.is_some_and(|s| s.embedded_resource);
                    self.prune(v, items, embedded, &path.index(i));
                }
            }
            _ => {}
        }
    }

    /// `x-kubernetes-preserve-unknown-fields`: unspecified fields stay, specified ones are pruned.
    fn skip_prune(&mut self, x: &mut Value, s: &Schema, resource: bool, path: &Path) {
        match x {
            Value::Object(m) => {
                for (k, v) in m.iter_mut() {
                    let here = path.child(k);
                    if (resource || s.embedded_resource) && is_meta_field(k) {
                        if k == "metadata" {
                            self.coerce_metadata(Some(v), &here);
                        }
                        continue;
                    }
                    match (s.properties.get(k), &s.additional) {
                        (Some(p), _) => self.prune(v, Some(p), p.embedded_resource, &here),
                        (None, Some(Additional::Schema(a))) => {
                            self.prune(v, Some(a), a.embedded_resource, &here)
                        }
                        _ => {}
                    }
                }
            }
            Value::Array(a) => {
                if let Some(items) = s.items.as_deref() {
                    for (i, v) in a.iter_mut().enumerate() {
                        self.skip_prune(v, items, items.embedded_resource, &path.index(i));
                    }
                }
            }
            _ => {}
        }
    }

    /// ObjectMeta's unknown fields go; a metadata that is no ObjectMeta is an error.
    fn coerce_metadata(&mut self, v: Option<&mut Value>, path: &Path) {
        let Some(v) = v else { return };
        if v.is_null() {
            return;
        }
        match crate::prune::prune_as::<ObjectMeta>(v) {
            Ok((pruned, dropped)) => {
                self.dropped.extend(dropped.into_iter().map(|d| path.child(&d).0));
                *v = pruned;
            }
            Err(e) => {
                self.error.get_or_insert(format!("{path}: {}", e.detail));
            }
        }
    }
}

/// `PruneNonNullableNullsWithoutDefaults`.
fn prune_nulls(x: &mut Value, s: Option<&Schema>, resource: bool) {
    let Some(s) = s else { return };
    match x {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                if resource && is_meta_field(&k) {
                    continue;
                }
                let Some(p) = s.field(&k) else { continue };
                let drop = m.get(&k).is_some_and(Value::is_null) && !p.nullable && p.default.is_none();
                if drop {
                    m.remove(&k);
                } else if let Some(v) = m.get_mut(&k) {
                    prune_nulls(v, Some(p), false);
                }
            }
        }
        Value::Array(a) => {
            for v in a {
                prune_nulls(v, s.items.as_deref(), false);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::from_json(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "addresses": {"type": "array", "items": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                         "properties": {"typed": {"type": "object", "properties": {"a": {"type": "string"}}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                             "x-kubernetes-preserve-unknown-fields": true},
                "opt": {"type": "string"},
                "maybe": {"type": "string", "nullable": true},
                "peers": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}}}}))
    }

    #[test]
    fn unknown_fields_go_unless_preserved() {
        let mut obj = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "a", "bogus": 1},
            "spec": {"addresses": ["192.0.2.1"], "extra": true,
                     "free": {"anything": {"deep": 1}, "typed": {"a": "x", "b": "gone"}},
                     "labels": {"k": "v"},
                     "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "nope": 2}, "spec": {"x": 1}},
                     "opt": null, "maybe": null,
                     "peers": [{"name": "r1", "asn": 1}]},
            "status": {"x": 1}});
        let dropped = prune_resource(&mut obj, &schema()).unwrap();
        assert_eq!(
            dropped,
            [
                "metadata.bogus",
                "spec.extra",
                "spec.free.typed.b",
                "spec.peers[0].asn",
                "spec.template.metadata.nope",
                "status"
            ]
        );
        assert_eq!(obj["spec"]["free"]["anything"], json!({"deep": 1}));
        assert_eq!(obj["spec"]["template"]["spec"], json!({"x": 1}));
        assert_eq!(obj["spec"]["labels"], json!({"k": "v"}));
        assert!(
            obj["spec"].get("opt").is_none(),
            "non-nullable null without default"
        );
        assert!(obj["spec"].get("maybe").is_some(), "nullable null kept");
        assert_eq!(obj["metadata"], json!({"name": "a"}));
    }

    #[test]
    fn metadata_that_is_no_object_meta_is_an_error() {
        let mut obj = json!({"apiVersion": "x.io/v1", "kind": "K", "metadata": {"labels": 5}});
        assert!(prune_resource(&mut obj, &schema()).is_err());
    }
}
