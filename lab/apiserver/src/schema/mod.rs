//! Structural schemas (`apiextensions-apiserver/pkg/apiserver/schema`): what a CRD version's `openAPIV3Schema`
//! makes of a custom resource.
//!
//! - [`structural`]: the checks a CRD's schema must pass to be accepted (structural, no unsupported keywords,
//!   valid list types and defaults), with kube-apiserver's field paths and messages;
//! - [`prune`]: unknown fields dropped unless `x-kubernetes-preserve-unknown-fields`, embedded resources'
//!   `metadata` pruned to ObjectMeta, `null`s of non-nullable fields without default dropped;
//! - [`default`]: `default`s applied top-down (a defaulted object gets its own fields' defaults);
//! - [`validate`]: value validation with kube-openapi's messages turned into field causes (type, `enum`,
//!   `required`, bounds, lengths, `pattern`, item and property counts, some `format`s, `allOf`/`anyOf`/`oneOf`/`not`).
//!
//! Not modelled: CEL rules (`x-kubernetes-validations` are accepted and not evaluated), validation ratcheting.
//! `x-kubernetes-list-type`/`x-kubernetes-list-map-keys` are checked and drive server-side apply merges.

pub mod default;
pub mod prune;
pub mod structural;
pub mod validate;

use std::collections::BTreeMap;

use serde_json::Value;

/// A field path as kube-apiserver prints it: `spec.ports[0].port`, `properties[spec]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Path(pub String);

impl Path {
    /// A path from a dotted string.
    pub fn new(s: &str) -> Self {
        Path(s.to_owned())
    }

    /// `parent.name` (or `name` at the root).
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// `parent[key]`.
    pub fn key(&self, key: &str) -> Path {
        Path(format!("{}[{key}]", self.0))
    }

    /// `parent[i]`.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `additionalProperties` allows.
#[derive(Debug, Clone)]
pub enum Additional {
    /// `additionalProperties: <schema>`: a map with values of that schema.
    Schema(Box<Schema>),
    /// `additionalProperties: true`: any keys (their values are pruned as if unspecified).
    Any,
    /// `additionalProperties: false`.
    None,
}

/// One node of a structural schema, the parts that act on objects.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// `type` (`""` when absent).
    pub type_: String,
    /// `format`.
    pub format: String,
    /// `nullable`.
    pub nullable: bool,
    /// `properties`.
    pub properties: BTreeMap<String, Schema>,
    /// `additionalProperties`.
    pub additional: Option<Additional>,
    /// `items`.
    pub items: Option<Box<Schema>>,
    /// `default`.
    pub default: Option<Value>,
    /// `enum`.
    pub enum_: Vec<Value>,
    /// `required`.
    pub required: Vec<String>,
    /// `maximum` and `exclusiveMaximum`.
    pub maximum: Option<(f64, bool)>,
    /// `minimum` and `exclusiveMinimum`.
    pub minimum: Option<(f64, bool)>,
    /// `multipleOf`.
    pub multiple_of: Option<f64>,
    /// `maxLength`.
    pub max_length: Option<i64>,
    /// `minLength`.
    pub min_length: Option<i64>,
    /// `pattern` as written and compiled (RE2 syntax, as Go's `regexp`).
    pub pattern: Option<(String, regex::Regex)>,
    /// `maxItems`.
    pub max_items: Option<i64>,
    /// `minItems`.
    pub min_items: Option<i64>,
    /// `maxProperties`.
    pub max_properties: Option<i64>,
    /// `minProperties`.
    pub min_properties: Option<i64>,
    /// `allOf`.
    pub all_of: Vec<Schema>,
    /// `anyOf`.
    pub any_of: Vec<Schema>,
    /// `oneOf`.
    pub one_of: Vec<Schema>,
    /// `not`.
    pub not: Option<Box<Schema>>,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-embedded-resource`.
    pub embedded_resource: bool,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-list-type`.
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub list_map_keys: Vec<String>,
}

fn f64_of(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn i64_of(v: &Value) -> Option<i64> {
    v.as_i64()
}

impl Schema {
    /// The schema of a JSONSchemaProps document (unknown keywords ignored; an invalid `pattern` is dropped, the
    /// CRD's validation has refused it already).
    pub fn from_json(v: &Value) -> Schema {
        let list = |k: &str| -> Vec<Schema> {
            v[k].as_array()
                .into_iter()
                .flatten()
                .map(Schema::from_json)
                .collect()
        };
        let flag = |k: &str| v[k].as_bool().unwrap_or(false);
        let additional = match &v["additionalProperties"] {
            Value::Bool(true) => Some(Additional::Any),
            Value::Bool(false) => Some(Additional::None),
            Value::Object(_) => Some(Additional::Schema(Box::new(Schema::from_json(
                &v["additionalProperties"],
            )))),
            _ => None,
        };
        Schema {
            type_: v["type"].as_str().unwrap_or_default().to_owned(),
            format: v["format"].as_str().unwrap_or_default().to_owned(),
            nullable: flag("nullable"),
            properties: v["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, s)| (k.clone(), Schema::from_json(s)))
                .collect(),
            additional,
            items: v["items"]
                .is_object()
                .then(|| Box::new(Schema::from_json(&v["items"]))),
            default: v.get("default").cloned(),
            enum_: v["enum"].as_array().cloned().unwrap_or_default(),
            required: v["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            maximum: f64_of(&v["maximum"]).map(|m| (m, flag("exclusiveMaximum"))),
            minimum: f64_of(&v["minimum"]).map(|m| (m, flag("exclusiveMinimum"))),
            multiple_of: f64_of(&v["multipleOf"]),
            max_length: i64_of(&v["maxLength"]),
            min_length: i64_of(&v["minLength"]),
            pattern: v["pattern"]
                .as_str()
                .and_then(|p| regex::Regex::new(p).ok().map(|r| (p.to_owned(), r))),
            max_items: i64_of(&v["maxItems"]),
            min_items: i64_of(&v["minItems"]),
            max_properties: i64_of(&v["maxProperties"]),
            min_properties: i64_of(&v["minProperties"]),
            all_of: list("allOf"),
            any_of: list("anyOf"),
            one_of: list("oneOf"),
            not: v["not"]
                .is_object()
                .then(|| Box::new(Schema::from_json(&v["not"]))),
            preserve_unknown_fields: flag("x-kubernetes-preserve-unknown-fields"),
            embedded_resource: flag("x-kubernetes-embedded-resource"),
            int_or_string: flag("x-kubernetes-int-or-string"),
            list_type: v["x-kubernetes-list-type"].as_str().map(str::to_owned),
            list_map_keys: v["x-kubernetes-list-map-keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The schema of values under key `k` of an object of this schema.
    pub fn field(&self, k: &str) -> Option<&Schema> {
        self.properties.get(k).or(match &self.additional {
            Some(Additional::Schema(s)) => Some(s),
            _ => None,
        })
    }

    /// The schema at a path of property names (array levels step into `items`).
    pub fn at(&self, path: &[&str]) -> Option<&Schema> {
        let mut cur = self;
        for p in path {
            while cur.type_ == "array" {
                cur = cur.items.as_deref()?;
            }
            cur = cur.field(p)?;
        }
        Some(cur)
    }

    /// Whether any node has a `default`.
    pub fn has_defaults(&self) -> bool {
        self.default.is_some()
            || self.properties.values().any(Schema::has_defaults)
            || self.items.as_ref().is_some_and(|s| s.has_defaults())
            || matches!(&self.additional, Some(Additional::Schema(s)) if s.has_defaults())
    }
}

/// Go's `%v` of a float64 (`16384`, `1.5`, `4.294967295e+09`), as kube-openapi's messages print bounds.
pub fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    let exp = f.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        return format!("{f}");
    }
    let e = format!("{f:e}");
    let (mantissa, exponent) = e.split_once('e').unwrap_or((&e, "0"));
    let n: i32 = exponent.parse().unwrap_or(0);
    let sign = if n < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", n.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_print_like_field_paths() {
        let p = Path::default()
            .child("spec")
            .child("ports")
            .index(0)
            .child("port");
        assert_eq!(p.to_string(), "spec.ports[0].port");
        assert_eq!(
            Path::new("spec.validation.openAPIV3Schema")
                .child("properties")
                .key("spec")
                .to_string(),
            "spec.validation.openAPIV3Schema.properties[spec]"
        );
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(16384.0), "16384");
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(4294967295.0), "4.294967295e+09");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(0.25), "0.25");
    }

    #[test]
    fn schemas_are_read_from_json() {
        let s = Schema::from_json(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["a"], "properties": {
                "a": {"type": "array", "items": {"type": "string", "pattern": "^x"}, "maxItems": 2},
                "m": {"type": "object", "additionalProperties": {"type": "integer", "default": 3}}}}}}));
        assert_eq!(s.at(&["spec", "a"]).unwrap().max_items, Some(2));
        assert_eq!(
            s.at(&["spec", "a"])
                .unwrap()
                .items
                .as_ref()
                .unwrap()
                .pattern
                .as_ref()
                .unwrap()
                .0,
            "^x"
        );
        assert_eq!(s.at(&["spec", "m", "any"]).unwrap().type_, "integer");
        assert!(s.has_defaults());
        assert!(s.at(&["spec", "nope"]).is_none());
    }
}
