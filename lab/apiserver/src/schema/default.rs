//! Structural defaulting (`schema/defaulting/algorithm.go`): a missing field, or a `null` one that is not
//! `nullable`, gets its schema's `default`; defaults apply top-down, so a defaulted object gets its own fields'
//! defaults, and they apply inside `items` and `additionalProperties`.

use serde_json::Value;

use super::{Additional, Schema};

fn is_non_nullable_null(v: &Value, s: Option<&Schema>) -> bool {
    v.is_null() && s.is_some_and(|s| !s.nullable && s.default.is_some())
}

/// Applies the defaults of `s` to `x`.
pub fn default(x: &mut Value, s: &Schema) {
    match x {
        Value::Object(m) => {
            for (k, p) in &s.properties {
                let Some(d) = &p.default else { continue };
                let missing = m.get(k).is_none_or(|v| is_non_nullable_null(v, Some(p)));
                if missing {
                    m.insert(k.clone(), d.clone());
                }
            }
            let additional = match &s.additional {
                Some(Additional::Schema(a)) => Some(a.as_ref()),
                _ => None,
            };
            for (k, v) in m.iter_mut() {
                if let Some(p) = s.properties.get(k) {
                    default(v, p);
                } else if let Some(a) = additional {
                    if is_non_nullable_null(v, Some(a))
                        && let Some(d) = &a.default
                    {
                        *v = d.clone();
                    }
                    default(v, a);
                }
            }
        }
        Value::Array(items) => {
            let Some(is) = s.items.as_deref() else { return };
            for v in items {
                if is_non_nullable_null(v, Some(is))
                    && let Some(d) = &is.default
                {
                    *v = d.clone();
                }
                default(v, is);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_missing_and_null_fields_top_down() {
        let s = Schema::from_json(
            &json!({"type": "object", "properties": {"spec": {"type": "object",
            "default": {}, "properties": {
                "autoAssign": {"type": "boolean", "default": true},
                "port": {"type": "integer", "default": 179},
                "nullable": {"type": "string", "nullable": true, "default": "d"},
                "adverts": {"type": "array", "items": {"type": "object", "properties": {
                    "aggregationLength": {"type": "integer", "default": 32}}}},
                "byName": {"type": "object", "additionalProperties": {"type": "object", "properties": {
                    "weight": {"type": "integer", "default": 1}}}}}}}}),
        );
        let mut obj = json!({"metadata": {"name": "a"}});
        default(&mut obj, &s);
        assert_eq!(
            obj["spec"],
            json!({"autoAssign": true, "port": 179, "nullable": "d"})
        );
        let mut obj = json!({"spec": {"autoAssign": false, "port": null, "nullable": null,
            "adverts": [{}, {"aggregationLength": 24}], "byName": {"a": {}}}});
        default(&mut obj, &s);
        assert_eq!(obj["spec"]["autoAssign"], false);
        assert_eq!(obj["spec"]["port"], 179);
        assert_eq!(obj["spec"]["nullable"], Value::Null);
        assert_eq!(
            obj["spec"]["adverts"],
            json!([{"aggregationLength": 32}, {"aggregationLength": 24}])
        );
        assert_eq!(obj["spec"]["byName"]["a"]["weight"], 1);
    }
}
