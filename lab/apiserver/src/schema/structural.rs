//! The checks a CRD version's `openAPIV3Schema` must pass (`apiextensions/validation`'s
//! `ValidateCustomResourceDefinitionOpenAPISchema` and `specStandardValidatorV3`, `schema.ValidateStructural`,
//! `defaulting.ValidateDefaults`), on the schema's JSON, with kube-apiserver's field paths and messages.
//!
//! Not checked: completeness of value validations nested deeper than one `allOf`/`anyOf`/`oneOf`/`not`, CEL
//! rule compilation (`x-kubernetes-validations` need a non-empty `rule`, nothing more).

use serde_json::{Value, json};

use super::validate::validate;
use super::{Path, Schema};
use crate::error::Cause;

const TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// Keys allowed at the root of a schema when the status subresource is enabled (`allowedFieldsAtRootSchema`,
/// as JSON keys).
const ROOT_WITH_STATUS: [&str; 23] = [
    "description",
    "type",
    "format",
    "title",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "multipleOf",
    "required",
    "items",
    "properties",
    "externalDocs",
    "example",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "$schema",
];

/// Checks the schema `v` found at `parent.openAPIV3Schema` (`parent` is `spec.validation` or
/// `spec.versions[i].schema`).
pub fn check(v: &Value, parent: &Path, status_subresource: bool) -> Vec<Cause> {
    let mut errs = Vec::new();
    let root = parent.child("openAPIV3Schema");
    if status_subresource && let Some(m) = v.as_object() {
        if let Some(t) = m.get("type").and_then(Value::as_str).filter(|t| *t != "object") {
            errs.push(Cause::invalid(
                parent.child("openAPIV3Schema.type").0,
                &json!(t),
                "only \"object\" is allowed as the type at the root of the schema if the status subresource is enabled",
            ));
        } else if m.keys().any(|k| !ROOT_WITH_STATUS.contains(&k.as_str())) {
            errs.push(Cause::invalid(
                root.0.clone(),
                v,
                "only [Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations] fields are allowed at the root of the schema if the status subresource is enabled",
            ));
        }
    }
    if v["nullable"] == json!(true) {
        errs.push(Cause::forbidden(
            parent.child("openAPIV3Schema.nullable").0,
            "nullable cannot be true at the root",
        ));
    }
    generic(v, &root, Ctx::ROOT, true, &mut errs);
    let mut structural = Vec::new();
    invariants(v, Level::Root, &root, &mut structural);
    structural.sort_by(|a, b| a.message.cmp(&b.message));
    let structural_ok = structural.is_empty();
    errs.extend(structural);
    if structural_ok {
        defaults(v, &root, &mut errs);
    }
    errs
}

/// Whether a schema would be accepted (for schemas installed by the lab without validation).
pub fn is_structural(v: &Value) -> bool {
    let mut errs = Vec::new();
    invariants(v, Level::Root, &Path::default(), &mut errs);
    errs.is_empty()
}

#[derive(Debug, Clone, Copy)]
struct Ctx {
    allow_defaults: bool,
    reason: &'static str,
    inside_meta: bool,
}

impl Ctx {
    const ROOT: Ctx = Ctx {
        allow_defaults: true,
        reason: "",
        inside_meta: false,
    };

    fn forbid_defaults(self, reason: &'static str) -> Ctx {
        Ctx {
            allow_defaults: false,
            reason,
            ..self
        }
    }
}

fn is_meta(k: &str) -> bool {
    matches!(k, "metadata" | "kind" | "apiVersion")
}

fn meta_reason(k: &str) -> &'static str {
    match k {
        "metadata" => "in top-level metadata",
        "kind" => "in top-level kind",
        _ => "in top-level apiVersion",
    }
}

fn sorted(m: Option<&serde_json::Map<String, Value>>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.into_iter().flatten().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// `ValidateCustomResourceDefinitionOpenAPISchema` with `specStandardValidatorV3`.
fn generic(s: &Value, p: &Path, ctx: Ctx, root: bool, errs: &mut Vec<Cause>) {
    let Some(m) = s.as_object() else { return };
    let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
    if !ty.is_empty() && ty != "null" && !TYPES.contains(&ty) {
        errs.push(Cause::not_supported(p.child("type").0, &json!(ty), &TYPES));
    }
    if m.contains_key("default") && !ctx.allow_defaults {
        let detail = if ctx.reason.is_empty() {
            "must not be set".to_owned()
        } else {
            format!("must not be set {}", ctx.reason)
        };
        errs.push(Cause::forbidden(p.child("default").0, detail));
    }
    for (key, what) in [
        ("id", "id is not supported"),
        ("additionalItems", "additionalItems is not supported"),
        ("patternProperties", "patternProperties is not supported"),
        ("definitions", "definitions is not supported"),
        ("dependencies", "dependencies is not supported"),
        ("$ref", "$ref is not supported"),
    ] {
        if m.get(key).is_some_and(|v| !v.is_null()) {
            errs.push(Cause::forbidden(p.child(key).0, what));
        }
    }
    if ty == "null" {
        errs.push(Cause::forbidden(
            p.child("type").0,
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if m.get("items").is_some_and(Value::is_array) {
        errs.push(Cause::forbidden(
            p.child("items").0,
            "items must be a schema object and not an array",
        ));
    }
    if ctx.inside_meta && m.get("x-kubernetes-embedded-resource") == Some(&json!(true)) {
        errs.push(Cause::forbidden(
            p.child("x-kubernetes-embedded-resource").0,
            "must not be used inside of resource meta",
        ));
    }
    if m.get("uniqueItems") == Some(&json!(true)) {
        errs.push(Cause::forbidden(
            p.child("uniqueItems").0,
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        ));
    }
    let props = m.get("properties").and_then(Value::as_object);
    if let Some(ap) = m.get("additionalProperties") {
        if props.is_some_and(|p| !p.is_empty()) && (ap == &json!(false) || ap.is_object()) {
            errs.push(Cause::forbidden(
                p.child("additionalProperties").0,
                "additionalProperties and properties are mutual exclusive",
            ));
        }
        let sub = if ctx.inside_meta {
            ctx.forbid_defaults("inside additionalProperties applying to object metadata")
        } else {
            ctx
        };
        generic(ap, &p.child("additionalProperties"), sub, false, errs);
    }
    let embedded = m.get("x-kubernetes-embedded-resource") == Some(&json!(true));
    for (k, sub) in sorted(props) {
        let mut c = ctx;
        if (root || embedded) && is_meta(k) {
            c.inside_meta = true;
            if root {
                c = c.forbid_defaults(meta_reason(k));
            }
        }
        generic(sub, &p.child("properties").key(k), c, false, errs);
    }
    if let Some(not) = m.get("not") {
        generic(not, &p.child("not"), ctx, false, errs);
    }
    for junctor in ["allOf", "oneOf", "anyOf"] {
        for (i, sub) in m
            .get(junctor)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            generic(sub, &p.child(junctor).index(i), ctx, false, errs);
        }
    }
    if let Some(items) = m.get("items").filter(|i| i.is_object()) {
        generic(items, &p.child("items"), ctx, false, errs);
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(false)) {
        errs.push(Cause::invalid(
            p.child("x-kubernetes-preserve-unknown-fields").0,
            &json!(false),
            "must be true or undefined",
        ));
    }
    lists_and_maps(m, ty, p, errs);
    for (i, rule) in m
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if rule["rule"].as_str().is_none_or(|r| r.trim().is_empty()) {
            errs.push(Cause::required(
                p.child("x-kubernetes-validations").index(i).child("rule").0,
                "rule is not specified",
            ));
        }
    }
}

/// `x-kubernetes-map-type`, `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`.
fn lists_and_maps(m: &serde_json::Map<String, Value>, ty: &str, p: &Path, errs: &mut Vec<Cause>) {
    let type_is = |want: &str, what: &str, errs: &mut Vec<Cause>| {
        let detail = format!("must be {want} if {what} is specified");
        if ty.is_empty() {
            errs.push(Cause::required(p.child("type").0, detail));
        } else if ty != want {
            errs.push(Cause::invalid(p.child("type").0, &json!(ty), detail));
        }
    };
    if let Some(mt) = m.get("x-kubernetes-map-type").and_then(Value::as_str) {
        type_is("object", "x-kubernetes-map-type", errs);
        if mt != "atomic" && mt != "granular" {
            errs.push(Cause::not_supported(
                p.child("x-kubernetes-map-type").0,
                &json!(mt),
                &["atomic", "granular"],
            ));
        }
    }
    let list_type = m.get("x-kubernetes-list-type").and_then(Value::as_str);
    let keys: Vec<&str> = m
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if let Some(lt) = list_type {
        type_is("array", "x-kubernetes-list-type", errs);
        if !["atomic", "set", "map"].contains(&lt) {
            errs.push(Cause::not_supported(
                p.child("x-kubernetes-list-type").0,
                &json!(lt),
                &["atomic", "set", "map"],
            ));
        }
    }
    if !keys.is_empty() && list_type != Some("map") {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match list_type {
            None => errs.push(Cause::required(p.child("x-kubernetes-list-type").0, detail)),
            Some(lt) => errs.push(Cause::invalid(
                p.child("x-kubernetes-list-type").0,
                &json!(lt),
                detail,
            )),
        }
    }
    if list_type != Some("map") {
        return;
    }
    if keys.is_empty() {
        errs.push(Cause::required(
            p.child("x-kubernetes-list-map-keys").0,
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let Some(items) = m.get("items").and_then(Value::as_object) else {
        errs.push(Cause::required(
            p.child("items").0,
            "must have a schema if x-kubernetes-list-type is map",
        ));
        return;
    };
    let item_type = items.get("type").and_then(Value::as_str).unwrap_or_default();
    if item_type != "object" {
        errs.push(Cause::invalid(
            p.child("items").child("type").0,
            &json!(item_type),
            "must be object if parent array's x-kubernetes-list-type is map",
        ));
        return;
    }
    let required: Vec<&str> = items
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (i, k) in keys.iter().enumerate() {
        match items.get("properties").and_then(|ps| ps.get(*k)) {
            Some(kp) => {
                if matches!(kp["type"].as_str(), Some("array" | "object")) {
                    errs.push(Cause::invalid(
                        p.child("items").child("properties").key(k).child("type").0,
                        &json!(item_type),
                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                    ));
                }
                if !required.contains(k) && kp.get("default").is_none() {
                    errs.push(Cause::required(
                        p.child("items").child("properties").key(k).child("default").0,
                        "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
                    ));
                }
            }
            None => errs.push(Cause::invalid(
                p.child("x-kubernetes-list-map-keys").0,
                &json!(keys),
                "entries must all be names of item properties",
            )),
        }
        if keys[..i].contains(k) {
            errs.push(Cause::invalid(
                p.child("x-kubernetes-list-map-keys").0,
                &json!(keys),
                "must not contain duplicate entries",
            ));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn flag(m: &serde_json::Map<String, Value>, k: &str) -> bool {
    m.get(k) == Some(&json!(true))
}

fn is_int_or_string_any_of(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        a.len() == 2 && a[0] == json!({"type": "integer"}) && a[1] == json!({"type": "string"})
    })
}

/// `schema.ValidateStructural`'s invariants.
fn invariants(s: &Value, lvl: Level, p: &Path, errs: &mut Vec<Cause>) {
    let Some(m) = s.as_object() else { return };
    let ty = m.get("type").and_then(Value::as_str).unwrap_or_default();
    let (embedded, preserve, ios) = (
        flag(m, "x-kubernetes-embedded-resource"),
        flag(m, "x-kubernetes-preserve-unknown-fields"),
        flag(m, "x-kubernetes-int-or-string"),
    );
    if ty == "array" && m.get("items").is_none() {
        errs.push(Cause::required(p.child("items").0, "must be specified"));
    }
    if let Some(items) = m.get("items").filter(|i| i.is_object()) {
        invariants(items, Level::Item, &p.child("items"), errs);
    }
    let props = m.get("properties").and_then(Value::as_object);
    for (k, sub) in sorted(props) {
        invariants(sub, Level::Field, &p.child("properties").key(k), errs);
    }
    if let Some(ap) = m.get("additionalProperties") {
        if lvl == Level::Root {
            errs.push(Cause::forbidden(
                p.child("additionalProperties").0,
                "must not be used at the root",
            ));
        }
        if ap.is_object() {
            invariants(ap, Level::Field, &p.child("additionalProperties"), errs);
        }
    }
    if ios && preserve {
        errs.push(Cause::invalid(
            p.child("x-kubernetes-preserve-unknown-fields").0,
            &json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if ios && embedded {
        errs.push(Cause::invalid(
            p.child("x-kubernetes-embedded-resource").0,
            &json!(true),
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    let skip_any_of = m.get("anyOf").is_some_and(is_int_or_string_any_of);
    let skip_first_all_of = m
        .get("allOf")
        .and_then(|a| a.get(0))
        .is_some_and(|a0| is_int_or_string_any_of(&a0["anyOf"]));
    value_validation(m, skip_any_of, skip_first_all_of, p, errs);
    if embedded && ty != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errs.push(Cause::required(p.child("type").0, detail));
        } else {
            errs.push(Cause::invalid(p.child("type").0, &json!(ty), detail));
        }
    } else if ty.is_empty() && !ios && !preserve {
        let detail = match lvl {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(Cause::required(p.child("type").0, detail));
    }
    if embedded && m.contains_key("additionalProperties") {
        errs.push(Cause::forbidden(
            p.child("additionalProperties").0,
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if lvl == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(Cause::invalid(
            p.child("type").0,
            &json!(ty),
            "must be object at the root",
        ));
    }
    if lvl == Level::Root || embedded {
        for (k, want) in [
            ("kind", "string"),
            ("apiVersion", "string"),
            ("metadata", "object"),
        ] {
            if let Some(sub) = props.and_then(|ps| ps.get(k)) {
                let t = sub["type"].as_str().unwrap_or_default();
                if t != want {
                    errs.push(Cause::invalid(
                        p.child("properties").key(k).child("type").0,
                        &json!(t),
                        format!("must be {want}"),
                    ));
                }
            }
        }
    }
    if lvl == Level::Root
        && let Some(meta) = props.and_then(|ps| ps.get("metadata")).and_then(Value::as_object)
    {
        let names_only = meta
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(|ps| ps.keys().all(|k| k == "name" || k == "generateName"));
        let other_keys = meta
            .keys()
            .any(|k| !matches!(k.as_str(), "type" | "default" | "properties"));
        if !names_only || other_keys {
            errs.push(Cause::forbidden(
                p.child("properties").key("metadata").0,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            ));
        }
    }
    if embedded && !preserve && props.is_none_or(|ps| ps.is_empty()) {
        errs.push(Cause::required(
            p.child("properties").0,
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
    if let Some(pat) = m.get("pattern").and_then(Value::as_str)
        && let Err(e) = regex::Regex::new(pat)
    {
        let e = e.to_string();
        let what = e.lines().last().unwrap_or_default().trim_start_matches("error: ");
        errs.push(Cause::invalid(
            p.child("pattern").0,
            &json!(pat),
            format!("must be a valid regular expression, but isn't: error parsing regexp: {what}: `{pat}`"),
        ));
    }
}

/// The junctors of a node: what they may specify, and that what they specify is also specified outside.
fn value_validation(
    m: &serde_json::Map<String, Value>,
    skip_any_of: bool,
    skip_first_all_of: bool,
    p: &Path,
    errs: &mut Vec<Cause>,
) {
    let nested = |junctor: &str, i: Option<usize>, sub: &Value, skip: bool, errs: &mut Vec<Cause>| {
        let here = match i {
            Some(i) => p.child(junctor).index(i),
            None => p.child(junctor),
        };
        nested_value_validation(sub, skip, &here, errs);
        let outer = m.get("properties").and_then(Value::as_object);
        let map = m.get("additionalProperties").is_some_and(Value::is_object);
        for (k, _) in sorted(sub.get("properties").and_then(Value::as_object)) {
            if k != "metadata" && !map && !outer.is_some_and(|o| o.contains_key(k)) {
                errs.push(Cause::required(
                    p.child("properties").key(k).0,
                    format!("because it is defined in {}", here.child("properties").key(k)),
                ));
            }
        }
    };
    if !skip_any_of {
        for (i, sub) in m
            .get("anyOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            nested("anyOf", Some(i), sub, false, errs);
        }
    }
    for (i, sub) in m
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        nested("allOf", Some(i), sub, skip_first_all_of && i == 0, errs);
    }
    for (i, sub) in m
        .get("oneOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        nested("oneOf", Some(i), sub, false, errs);
    }
    if let Some(not) = m.get("not") {
        nested("not", None, not, false, errs);
    }
}

fn nested_value_validation(s: &Value, skip_any_of: bool, p: &Path, errs: &mut Vec<Cause>) {
    let Some(m) = s.as_object() else { return };
    value_validation(m, skip_any_of, false, p, errs);
    if let Some(items) = m.get("items") {
        nested_value_validation(items, false, &p.child("items"), errs);
    }
    for (k, sub) in sorted(m.get("properties").and_then(Value::as_object)) {
        nested_value_validation(sub, false, &p.child("properties").key(k), errs);
    }
    for (key, detail) in [
        ("type", "must be empty to be structural"),
        ("additionalProperties", "must be undefined to be structural"),
        ("default", "must be undefined to be structural"),
        ("title", "must be empty to be structural"),
        ("description", "must be empty to be structural"),
    ] {
        if m.get(key).is_some_and(|v| v != "" && !v.is_null()) {
            errs.push(Cause::forbidden(p.child(key).0, detail));
        }
    }
    for key in [
        "nullable",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-embedded-resource",
        "x-kubernetes-int-or-string",
    ] {
        if flag(m, key) {
            errs.push(Cause::forbidden(p.child(key).0, "must be false to be structural"));
        }
    }
    if m.get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        errs.push(Cause::forbidden(
            p.child("x-kubernetes-list-map-keys").0,
            "must be empty to be structural",
        ));
    }
    if m.contains_key("x-kubernetes-list-type") {
        errs.push(Cause::forbidden(
            p.child("x-kubernetes-list-type").0,
            "must be undefined to be structural",
        ));
    }
    if m.get("properties")
        .and_then(Value::as_object)
        .is_some_and(|ps| ps.contains_key("metadata"))
    {
        errs.push(Cause::forbidden(
            p.child("properties").key("metadata").0,
            "must not be specified in a nested context",
        ));
    }
}

/// `defaulting.ValidateDefaults`: each default must validate against its node and keep no unknown field.
fn defaults(s: &Value, p: &Path, errs: &mut Vec<Cause>) {
    let Some(m) = s.as_object() else { return };
    if let Some(d) = m.get("default") {
        let node = Schema::from_json(s);
        let here = p.child("default");
        let mut pruned = json!({"v": d});
        let wrapper = Schema {
            type_: "object".into(),
            properties: [("v".to_owned(), node.clone())].into(),
            ..Schema::default()
        };
        let dropped = super::prune::prune_resource(&mut pruned, &wrapper).unwrap_or_default();
        if !dropped.is_empty() {
            errs.push(Cause::invalid(here.0.clone(), d, "must not have unknown fields"));
        }
        for c in validate(d, &node, &Path::default()) {
            let field = if c.field.is_empty() {
                here.0.clone()
            } else {
                here.child(&c.field).0
            };
            errs.push(Cause {
                reason: c.reason,
                message: format!("{field}{}", &c.message[c.field.len()..]),
                field,
            });
        }
    }
    if let Some(items) = m.get("items").filter(|i| i.is_object()) {
        defaults(items, &p.child("items"), errs);
    }
    for (k, sub) in sorted(m.get("properties").and_then(Value::as_object)) {
        defaults(sub, &p.child("properties").key(k), errs);
    }
    if let Some(ap) = m.get("additionalProperties").filter(|a| a.is_object()) {
        defaults(ap, &p.child("additionalProperties"), errs);
    }
}

#[cfg(test)]
mod tests;
