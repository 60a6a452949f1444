//! CRD schema checks: what kube-apiserver refuses, with its paths and messages, and what it accepts.

use serde_json::json;

use super::*;

fn errors(schema: Value, status: bool) -> Vec<String> {
    check(&schema, &Path::new("spec.validation"), status)
        .into_iter()
        .map(|c| c.message)
        .collect()
}

#[test]
fn structural_schemas_pass() {
    let metallb_like = json!({"type": "object", "description": "d", "required": ["spec"], "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "addresses": {"type": "array", "items": {"type": "string"}},
            "autoAssign": {"type": "boolean", "default": true},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true},
            "selectors": {"type": "array", "items": {"type": "object", "x-kubernetes-map-type": "atomic",
                "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}}},
            "peers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
            "connectTime": {"type": "string", "x-kubernetes-validations": [{"rule": "self != ''", "message": "m"}]},
            "template": {"type": "object", "x-kubernetes-embedded-resource": true,
                         "x-kubernetes-preserve-unknown-fields": true},
            "at": {"type": "string", "format": "date-time", "nullable": true}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
    assert_eq!(errors(metallb_like, true), Vec::<String>::new());
    assert_eq!(
        errors(
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            true
        ),
        Vec::<String>::new()
    );
}

#[test]
fn non_structural_schemas_are_refused_with_kube_apiservers_messages() {
    let schema = json!({"properties": {
        "spec": {"properties": {"x": {"type": "integer", "default": "nine"}}},
        "list": {"type": "array"},
        "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
        "bad": {"type": "strnig"},
        "both": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
        "off": {"type": "string", "x-kubernetes-preserve-unknown-fields": false},
        "ref": {"$ref": "#/definitions/x"},
        "pat": {"type": "string", "pattern": "[a-"},
        "anyOf": {"type": "object", "anyOf": [{"type": "object", "properties": {"a": {"description": "x"}}}]}}});
    let got = errors(schema, false);
    let want = [
        "spec.validation.openAPIV3Schema.properties[bad].type: Unsupported value: \"strnig\": supported values: \"array\", \"boolean\", \"integer\", \"number\", \"object\", \"string\"",
        "spec.validation.openAPIV3Schema.properties[both].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
        "spec.validation.openAPIV3Schema.properties[off].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined",
        "spec.validation.openAPIV3Schema.properties[ref].$ref: Forbidden: $ref is not supported",
        "spec.validation.openAPIV3Schema.properties[anyOf].anyOf[0].properties[a].description: Forbidden: must be empty to be structural",
        "spec.validation.openAPIV3Schema.properties[anyOf].anyOf[0].type: Forbidden: must be empty to be structural",
        "spec.validation.openAPIV3Schema.properties[anyOf].properties[a]: Required value: because it is defined in spec.validation.openAPIV3Schema.properties[anyOf].anyOf[0].properties[a]",
        "spec.validation.openAPIV3Schema.properties[list].items: Required value: must be specified",
        "spec.validation.openAPIV3Schema.properties[metadata]: Forbidden: must not specify anything other than name and generateName, but metadata is implicitly specified",
        "spec.validation.openAPIV3Schema.properties[ref].type: Required value: must not be empty for specified object fields",
        "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields",
        "spec.validation.openAPIV3Schema.type: Required value: must not be empty at the root",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
    }
    assert!(
        got.iter().any(|g| g == (
            "spec.validation.openAPIV3Schema.properties[pat].pattern: Invalid value: \"[a-\": must be a valid regular expression, but isn't: error parsing regexp: unclosed character class: `[a-`"
        )),
        "{got:#?}"
    );
}

#[test]
fn defaults_must_validate_and_be_pruned() {
    let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "x": {"type": "integer", "default": "nine"},
        "o": {"type": "object", "properties": {"a": {"type": "string"}}, "default": {"a": "ok", "b": 1}},
        "e": {"type": "string", "enum": ["a"], "default": "a"}}}}});
    assert_eq!(
        errors(schema, false),
        [
            "spec.validation.openAPIV3Schema.properties[spec].properties[o].default: Invalid value: {\"a\":\"ok\",\"b\":1}: must not have unknown fields",
            "spec.validation.openAPIV3Schema.properties[spec].properties[x].default: Invalid value: \"string\":  in body must be of type integer: \"string\"",
        ]
    );
    let meta_default =
        json!({"type": "object", "properties": {"metadata": {"type": "object", "default": {}}}});
    assert!(
        errors(meta_default, false).contains(
            &"spec.validation.openAPIV3Schema.properties[metadata].default: Forbidden: must not be set in top-level metadata".to_owned()
        )
    );
}

#[test]
fn status_subresource_and_list_types_restrict_the_schema() {
    assert_eq!(
        errors(json!({"type": "array", "items": {"type": "string"}}), true),
        [
            "spec.validation.openAPIV3Schema.type: Invalid value: \"array\": only \"object\" is allowed as the type at the root of the schema if the status subresource is enabled",
            "spec.validation.openAPIV3Schema.type: Invalid value: \"array\": must be object at the root",
        ]
    );
    let lists = json!({"type": "object", "properties": {
        "m": {"type": "array", "x-kubernetes-list-type": "map", "items": {"type": "object", "properties": {"k": {"type": "string"}}},
              "x-kubernetes-list-map-keys": ["k", "nope"]},
        "s": {"type": "object", "x-kubernetes-list-type": "set"}}});
    assert_eq!(
        errors(lists, false),
        [
            "spec.validation.openAPIV3Schema.properties[m].items.properties[k].default: Required value: this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property",
            "spec.validation.openAPIV3Schema.properties[m].x-kubernetes-list-map-keys: Invalid value: [\"k\",\"nope\"]: entries must all be names of item properties",
            "spec.validation.openAPIV3Schema.properties[s].type: Invalid value: \"object\": must be array if x-kubernetes-list-type is specified",
        ]
    );
}
