//! CRD validation: MetalLB's published CRDs pass; what kube-apiserver refuses is refused with its messages.

use serde_json::json;

use super::*;
use crate::kinds::crd::CrdStrategy;
use crate::strategy::Strategy;

/// A CRD as the strategy has it before validation: v1 defaults and a fresh status.
fn prepared(mut crd: Value) -> Value {
    CrdStrategy.set_defaults(&mut crd);
    CrdStrategy.prepare_create(&mut crd, true);
    crd
}

fn messages(crd: Value) -> Vec<String> {
    validate(&prepared(crd), None)
        .into_iter()
        .map(|c| c.message)
        .collect()
}

fn from_yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

fn minimal() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.ferrolb.io"},
        "spec": {"group": "ferrolb.io", "scope": "Namespaced", "names": {"plural": "things", "kind": "Thing"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

#[test]
fn metallbs_published_crds_are_valid() {
    for text in [
        include_str!("../../../tests/data/metallb-ipaddresspools.yaml"),
        include_str!("../../../tests/data/metallb-bgppeers.yaml"),
    ] {
        assert_eq!(messages(from_yaml(text)), Vec::<String>::new());
    }
    assert_eq!(messages(minimal()), Vec::<String>::new());
    let c = prepared(minimal());
    assert_eq!(c["spec"]["names"]["singular"], "thing");
    assert_eq!(c["spec"]["names"]["listKind"], "ThingList");
    assert_eq!(c["spec"]["conversion"], json!({"strategy": "None"}));
    assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
}

#[test]
fn names_group_scope_and_versions_are_checked() {
    let mut c = minimal();
    c["metadata"]["name"] = json!("stuff.ferrolb.io");
    c["spec"]["group"] = json!("ferrolb");
    c["spec"]["scope"] = json!("Global");
    c["spec"]["names"]["kind"] = json!("Thing_");
    c["spec"]["versions"][0]["storage"] = json!(false);
    c["spec"]["versions"][0]["name"] = json!("V1");
    let got = messages(c);
    for want in [
        "metadata.name: Invalid value: \"stuff.ferrolb.io\": must be spec.names.plural+\".\"+spec.group",
        "spec.group: Invalid value: \"ferrolb\": should be a domain with at least one dot",
        "spec.scope: Unsupported value: \"Global\": supported values: \"Cluster\", \"Namespaced\"",
        "spec.names.kind: Invalid value: \"Thing_\": may have mixed case, but should otherwise match: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ] {
        assert!(got.iter().any(|g| g == want), "missing {want:?} in {got:#?}");
    }
    assert!(
        got.iter()
            .any(|g| g.starts_with("spec.versions[0].name: Invalid value: \"V1\"")),
        "{got:#?}"
    );
    assert!(
        got.iter().any(|g| g.starts_with("spec.versions: Invalid value: ")
            && g.ends_with(": must have exactly one version marked as storage version")),
        "{got:#?}"
    );
}

#[test]
fn schemas_are_required_and_must_be_structural() {
    let mut c = minimal();
    c["spec"]["versions"][0].as_object_mut().unwrap().remove("schema");
    assert_eq!(
        messages(c),
        ["spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"]
    );
    let mut c = minimal();
    c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] =
        json!({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}});
    assert_eq!(
        messages(c.clone()),
        [
            "spec.validation.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
        ]
    );
    // two versions with different schemas: reported per version
    let mut second = c["spec"]["versions"][0].clone();
    second["name"] = json!("v2");
    second["storage"] = json!(false);
    second["schema"]["openAPIV3Schema"] = json!({"type": "object"});
    c["spec"]["versions"].as_array_mut().unwrap().push(second);
    assert_eq!(
        messages(c),
        [
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"
        ]
    );
}

#[test]
fn conversion_approval_and_immutable_fields() {
    let mut c = minimal();
    c["spec"]["conversion"] = json!({"strategy": "Webhook"});
    assert_eq!(
        messages(c),
        [
            "spec.conversion.webhookClientConfig: Required value: required when strategy is set to Webhook",
            "spec.conversion.conversionReviewVersions: Required value",
        ]
    );
    let mut c = minimal();
    c["metadata"]["name"] = json!("things.ferrolb.k8s.io");
    c["spec"]["group"] = json!("ferrolb.k8s.io");
    assert_eq!(
        messages(c.clone()),
        [
            "metadata.annotations[api-approved.kubernetes.io]: Required value: protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111"
        ]
    );
    c["metadata"]["annotations"] = json!({"api-approved.kubernetes.io": "unapproved, testing only"});
    assert_eq!(messages(c), Vec::<String>::new());

    let mut old = prepared(minimal());
    crate::kinds::crd::set_condition(
        &mut old,
        "Established",
        "True",
        "r",
        "m",
        std::time::SystemTime::now(),
    );
    let mut new = old.clone();
    new["spec"]["scope"] = json!("Cluster");
    new["spec"]["names"]["plural"] = json!("thingies");
    new["metadata"]["name"] = json!("thingies.ferrolb.io");
    let got: Vec<String> = validate(&new, Some(&old))
        .into_iter()
        .map(|c| c.message)
        .collect();
    assert_eq!(
        got,
        [
            "spec.scope: Invalid value: \"Cluster\": field is immutable",
            "spec.names.plural: Invalid value: \"thingies\": field is immutable",
        ]
    );
}
