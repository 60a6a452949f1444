//! Value validation of custom resources (kube-openapi's `validate.SchemaValidator`, through
//! `kubeOpenAPIResultToFieldErrors`): each node is checked in kube-openapi's order — type, `allOf`/`anyOf`/
//! `oneOf`/`not`, string length and `pattern`, `format`, numeric bounds, items and their count, `enum`, then
//! properties and `required` — and each failure becomes the field cause kube-apiserver reports, e.g.
//! `spec.port: Invalid value: 70000: spec.port in body should be less than or equal to 65535`.

use serde_json::{Value, json};

use super::{Additional, Path, Schema, go_float};
use crate::error::Cause;

/// Validates `x` against `s`; `path` names `x` (empty at the root).
pub fn validate(x: &Value, s: &Schema, path: &Path) -> Vec<Cause> {
    let mut out = Vec::new();
    node(x, s, path, &mut out);
    out
}

/// The JSON type name kube-openapi infers from a value.
fn type_name(x: &Value) -> &'static str {
    match x {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_ok(x: &Value, s: &Schema) -> bool {
    let actual = type_name(x);
    let own = [s.type_.as_str()];
    let allowed: &[&str] = if s.int_or_string {
        &["integer", "string"]
    } else {
        &own
    };
    allowed.contains(&actual)
        || (actual == "number"
            && allowed.contains(&"integer")
            && x.as_f64().is_some_and(|f| f.fract() == 0.0))
        || (actual == "integer" && allowed.contains(&"number"))
}

fn type_error(path: &Path, expected: &str, actual: &str) -> Cause {
    Cause::type_invalid(
        path.0.clone(),
        &json!(actual),
        format!("{path} in body must be of type {expected}: {actual:?}"),
    )
}

fn node(x: &Value, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    let typed = !s.type_.is_empty() || s.int_or_string;
    let expected = if s.int_or_string {
        "integer,string".to_owned()
    } else {
        s.type_.clone()
    };
    if x.is_null() {
        if typed && !s.nullable {
            out.push(type_error(path, &expected, "null"));
        }
        enumeration(x, s, path, out);
        return;
    }
    if typed && !type_ok(x, s) {
        out.push(type_error(path, &expected, type_name(x)));
    }
    junctors(x, s, path, out);
    if let Value::String(v) = x {
        string(v, s, path, out);
        format(v, s, path, out);
    }
    if let Value::Number(_) = x {
        number(x, s, path, out);
    }
    if let Value::Array(items) = x {
        if let Some(is) = s.items.as_deref() {
            for (i, v) in items.iter().enumerate() {
                node(v, is, &path.index(i), out);
            }
        }
        let n = items.len() as i64;
        if let Some(min) = s.min_items.filter(|m| n < *m) {
            out.push(Cause::invalid(
                path.0.clone(),
                &json!(n),
                format!("{path} in body should have at least {min} items"),
            ));
        }
        if let Some(max) = s.max_items.filter(|m| n > *m) {
            out.push(Cause::too_many(path.0.clone(), n, max));
        }
    }
    enumeration(x, s, path, out);
    if let Value::Object(m) = x {
        object(m, s, path, out);
    }
}

fn junctors(x: &Value, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    let passes = |sub: &Schema| validate(x, sub, path).is_empty();
    for sub in &s.all_of {
        node(x, sub, path, out);
    }
    let composite = |msg: String| Cause::invalid("<nil>", &json!(""), msg);
    if !s.any_of.is_empty() && !s.any_of.iter().any(passes) {
        out.push(composite(format!(
            "{path} must validate at least one schema (anyOf)"
        )));
    }
    if !s.one_of.is_empty() && s.one_of.iter().filter(|sub| passes(sub)).count() != 1 {
        out.push(composite(format!(
            "{path} must validate one and only one schema (oneOf)"
        )));
    }
    if let Some(not) = &s.not
        && passes(not)
    {
        out.push(composite(format!("{path} must not validate the schema (not)")));
    }
}

fn string(v: &str, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    let len = v.chars().count() as i64;
    if let Some(max) = s.max_length.filter(|m| len > *m) {
        out.push(Cause::too_long_max_length(path.0.clone(), max));
    }
    if let Some(min) = s.min_length.filter(|m| len < *m) {
        out.push(Cause::invalid(
            path.0.clone(),
            &json!(v),
            format!("{path} in body should be at least {min} chars long"),
        ));
    }
    if let Some((src, re)) = &s.pattern
        && !re.is_match(v)
    {
        out.push(Cause::invalid(
            path.0.clone(),
            &json!(v),
            format!("{path} in body should match '{src}'"),
        ));
    }
}

/// The formats kube-apiserver checks (others, like `int32` on integers, are accepted and not checked).
fn format(v: &str, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    let ok = match s.format.as_str() {
        "ipv4" => v.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => v.parse::<std::net::Ipv6Addr>().is_ok(),
        "cidr" => v.parse::<ipnet::IpNet>().is_ok(),
        "date-time" | "datetime" => crate::time::parse_rfc3339(v).is_some(),
        "date" => is_date(v),
        "uuid" => is_uuid(v),
        "byte" => crate::store::list::base64_decode(v).is_some(),
        _ => true,
    };
    if !ok {
        out.push(Cause::type_invalid(
            path.0.clone(),
            &json!(v),
            format!("{path} in body must be of type {}: {v:?}", s.format),
        ));
    }
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && [0..4, 5..7, 8..10]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit))
}

fn is_uuid(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| p.bytes().all(|c| c.is_ascii_hexdigit()))
}

/// A bound as kube-openapi prints it: as an integer when the value is one, else as Go prints a float64.
fn bound(x: &Value, b: f64) -> String {
    if x.is_i64() || x.is_u64() {
        (b.trunc() as i64).to_string()
    } else {
        go_float(b)
    }
}

fn number(x: &Value, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    let Some(v) = x.as_f64() else { return };
    if let Some(m) = s.multiple_of.filter(|m| *m != 0.0 && (v / m).fract() != 0.0) {
        out.push(Cause::invalid(
            path.0.clone(),
            x,
            format!("{path} in body should be a multiple of {}", go_float(m)),
        ));
    }
    if let Some((max, exclusive)) = s.maximum
        && (v > max || (exclusive && v == max))
    {
        let rel = if exclusive {
            "less than"
        } else {
            "less than or equal to"
        };
        out.push(Cause::invalid(
            path.0.clone(),
            x,
            format!("{path} in body should be {rel} {}", bound(x, max)),
        ));
    }
    if let Some((min, exclusive)) = s.minimum
        && (v < min || (exclusive && v == min))
    {
        let rel = if exclusive {
            "greater than"
        } else {
            "greater than or equal to"
        };
        out.push(Cause::invalid(
            path.0.clone(),
            x,
            format!("{path} in body should be {rel} {}", bound(x, min)),
        ));
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn enumeration(x: &Value, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    if s.enum_.is_empty() || s.enum_.iter().any(|e| same(e, x)) {
        return;
    }
    let supported: Vec<String> = s
        .enum_
        .iter()
        .map(|e| match e {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        })
        .collect();
    let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
    out.push(Cause::not_supported(path.0.clone(), x, &refs));
}

fn object(m: &serde_json::Map<String, Value>, s: &Schema, path: &Path, out: &mut Vec<Cause>) {
    let n = m.len() as i64;
    if let Some(min) = s.min_properties.filter(|min| n < *min) {
        out.push(Cause::invalid(
            path.0.clone(),
            &json!(n),
            format!("{path} in body should have at least {min} properties"),
        ));
        return;
    }
    if let Some(max) = s.max_properties.filter(|max| n > *max) {
        out.push(Cause::too_many(path.0.clone(), n, max));
        return;
    }
    for (k, v) in m {
        if s.properties.contains_key(k) {
            continue;
        }
        match &s.additional {
            Some(Additional::Schema(a)) => node(v, a, &path.child(k), out),
            Some(Additional::None) => out.push(Cause::invalid(
                path.0.clone(),
                &json!(k),
                format!("{path}.{k} in body is a forbidden property"),
            )),
            Some(Additional::Any) | None => {}
        }
    }
    for (k, p) in &s.properties {
        if let Some(v) = m.get(k) {
            node(v, p, &path.child(k), out);
        }
    }
    for k in &s.required {
        if !m.contains_key(k) {
            out.push(Cause::required(path.child(k).0, ""));
        }
    }
    if s.embedded_resource {
        for k in ["apiVersion", "kind"] {
            if m.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                out.push(Cause::required(path.child(k).0, "must not be empty"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(x: Value, s: Value) -> Vec<String> {
        validate(&x, &Schema::from_json(&s), &Path::default())
            .into_iter()
            .map(|c| c.message)
            .collect()
    }

    #[test]
    fn messages_are_kube_apiservers() {
        let s = json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
            "required": ["peerAddress"], "properties": {
                "peerAddress": {"type": "string", "pattern": "^[0-9a-f.:]+$"},
                "peerPort": {"type": "integer", "minimum": 0, "maximum": 16384},
                "myASN": {"type": "integer", "format": "int32", "maximum": 4294967295u64},
                "protocol": {"type": "string", "enum": ["layer2", "bgp"]},
                "addresses": {"type": "array", "maxItems": 1, "minItems": 1, "items": {"type": "string"}},
                "name": {"type": "string", "maxLength": 3},
                "ratio": {"type": "number", "maximum": 1.5},
                "mode": {"x-kubernetes-int-or-string": true}}}}});
        assert_eq!(messages(json!({}), s.clone()), ["spec: Required value"]);
        let bad = json!({"spec": {"peerAddress": "router!", "peerPort": 20000, "myASN": "x", "protocol": "ospf",
            "addresses": ["a", "b"], "name": "long", "ratio": 2.5, "mode": true}});
        assert_eq!(
            messages(bad, s.clone()),
            [
                "spec.addresses: Too many: 2: must have at most 1 item",
                "spec.mode: Invalid value: \"boolean\": spec.mode in body must be of type integer,string: \"boolean\"",
                "spec.myASN: Invalid value: \"string\": spec.myASN in body must be of type integer: \"string\"",
                "spec.name: Too long: may not be longer than 3",
                "spec.peerAddress: Invalid value: \"router!\": spec.peerAddress in body should match '^[0-9a-f.:]+$'",
                "spec.peerPort: Invalid value: 20000: spec.peerPort in body should be less than or equal to 16384",
                "spec.protocol: Unsupported value: \"ospf\": supported values: \"layer2\", \"bgp\"",
                "spec.ratio: Invalid value: 2.5: spec.ratio in body should be less than or equal to 1.5",
            ]
        );
        let ok = json!({"spec": {"peerAddress": "192.0.2.1", "peerPort": 179, "myASN": 4200000000u64,
            "addresses": ["a"], "mode": "x", "ratio": 1}});
        assert!(messages(ok, s).is_empty());
    }

    #[test]
    fn nulls_items_formats_and_junctors() {
        let s = json!({"type": "object", "properties": {
            "list": {"type": "array", "items": {"type": "string", "format": "ipv4"}},
            "maybe": {"type": "string", "nullable": true},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
            "at": {"type": "string", "format": "date-time"},
            "tmpl": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}});
        assert_eq!(
            messages(
                json!({"list": ["192.0.2.1", null, "nope"], "maybe": null, "port": 80, "at": "yesterday",
                       "tmpl": {}, "labels": {"a": 1}}),
                s
            ),
            [
                "at: Invalid value: \"yesterday\": at in body must be of type date-time: \"yesterday\"",
                "labels.a: Invalid value: \"integer\": labels.a in body must be of type string: \"integer\"",
                "list[1]: Invalid value: \"null\": list[1] in body must be of type string: \"null\"",
                "list[2]: Invalid value: \"nope\": list[2] in body must be of type ipv4: \"nope\"",
                "tmpl.apiVersion: Required value: must not be empty",
                "tmpl.kind: Required value: must not be empty",
            ]
        );
    }
}
