//! The custom resource strategy from a CRD object: versions, conversion, printing, list merges.

use serde_json::json;

use super::*;

fn crd(conversion: Value) -> Value {
    let schema = |extra: Value| {
        let mut s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "peerAddress": {"type": "string"}, "peerASN": {"type": "integer"},
            "addresses": {"type": "array", "items": {"type": "string"}},
            "peers": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}});
        if let Some(m) = extra.as_object() {
            for (k, v) in m {
                s["properties"]["spec"]["properties"][k] = v.clone();
            }
        }
        json!({"openAPIV3Schema": s})
    };
    json!({"metadata": {"name": "bgppeers.metallb.io"},
        "spec": {"group": "metallb.io", "scope": "Namespaced", "conversion": conversion,
            "names": {"plural": "bgppeers", "singular": "bgppeer", "kind": "BGPPeer", "listKind": "BGPPeerList"},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": schema(json!({"keepaliveTime": {"type": "string"}})),
                 "additionalPrinterColumns": [{"name": "Address", "type": "string", "jsonPath": ".spec.peerAddress"},
                                              {"name": "ASN", "type": "string", "jsonPath": ".spec.peerASN"},
                                              {"name": "Addresses", "type": "string", "jsonPath": ".spec.addresses"},
                                              {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]},
                {"name": "v1beta2", "served": true, "storage": true, "subresources": {"status": {}},
                 "schema": schema(json!({"disableMP": {"type": "boolean", "default": false}}))},
                {"name": "v1alpha1", "served": false, "storage": false, "schema": schema(json!({}))}]}})
}

fn defs(conversion: Value, service: bool) -> Vec<ResourceDef> {
    defs_for_crd(&crd(conversion), false, false, 28, &|_, _| service)
}

#[test]
fn every_served_version_is_a_def_sharing_one_storage() {
    let d = defs(json!({"strategy": "None"}), false);
    assert_eq!(
        d.iter().map(|d| d.version.as_str()).collect::<Vec<_>>(),
        ["v1beta1", "v1beta2"]
    );
    assert!(
        d.iter()
            .all(|d| d.storage == "bgppeers.metallb.io" && d.namespaced)
    );
    assert_eq!(d[0].crd.as_deref(), Some("bgppeers.metallb.io"));
    assert!(!d[0].status && d[1].status);
    assert_eq!(d[1].list_kind, "BGPPeerList");
}

#[test]
fn none_conversion_rewrites_api_version_and_prunes_for_the_target() {
    let d = defs(json!({"strategy": "None"}), false);
    let (old, new) = (&d[0].strategy, &d[1].strategy);
    let written = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer", "metadata": {"name": "p"},
                         "spec": {"peerAddress": "192.0.2.1", "keepaliveTime": "30s"}});
    let stored = old.to_storage(written).unwrap();
    assert_eq!(stored["apiVersion"], "metallb.io/v1beta2");
    let as_v2 = new.to_external(&stored).unwrap();
    assert_eq!(
        as_v2["spec"]["disableMP"], false,
        "read defaulting with the storage schema"
    );
    let as_v1 = old.to_external(&stored).unwrap();
    assert_eq!(as_v1["apiVersion"], "metallb.io/v1beta1");
    assert!(as_v1["spec"].get("disableMP").is_none(), "pruned for v1beta1");
    assert_eq!(as_v1["spec"]["keepaliveTime"], "30s");
}

#[test]
fn webhook_conversion_fails_like_an_unreachable_webhook() {
    let conv = json!({"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"],
        "clientConfig": {"service": {"name": "metallb-webhook-service", "namespace": "metallb-system", "path": "/convert", "port": 443}}}});
    let d = defs(conv.clone(), false);
    let stored =
        json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "p"}, "spec": {}});
    assert_eq!(
        d[1].strategy.to_external(&stored).unwrap()["apiVersion"],
        "metallb.io/v1beta2"
    );
    let e = d[0].strategy.to_external(&stored).unwrap_err();
    assert_eq!((e.code, e.reason), (500, "InternalError"));
    assert_eq!(
        e.message,
        "Internal error occurred: conversion webhook for metallb.io/v1beta2, Kind=BGPPeer failed: Post \"https://metallb-webhook-service.metallb-system.svc:443/convert?timeout=30s\": service \"metallb-webhook-service\" not found"
    );
    let written = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer", "metadata": {"name": "p"}});
    assert!(d[0].strategy.to_storage(written).is_err());
    let e = defs(conv, true)[0].strategy.to_external(&stored).unwrap_err();
    assert!(
        e.message
            .ends_with("the embedded API server does not call conversion webhooks"),
        "{}",
        e.message
    );
}

#[test]
fn printer_columns_print_like_the_table_convertor() {
    let d = defs(json!({"strategy": "None"}), false);
    let now = SystemTime::now();
    let obj = json!({"metadata": {"name": "p", "creationTimestamp": crate::time::rfc3339(now)},
                     "spec": {"peerAddress": "192.0.2.1", "peerASN": 64512, "addresses": ["192.0.2.0/24"]}});
    assert_eq!(
        d[0].strategy.cells(&obj, now),
        [
            json!("p"),
            json!("192.0.2.1"),
            json!("64512"),
            json!("[\"192.0.2.0/24\"]"),
            json!("0s")
        ]
    );
    let cols = d[0].strategy.columns();
    assert_eq!(cols[3]["type"], "string");
    assert_eq!(cols[4]["type"], "date");
    // no printer columns: Name and Age
    assert_eq!(d[1].strategy.cells(&obj, now), [json!("p"), json!("0s")]);
}

#[test]
fn lists_merge_by_their_schema_and_strategic_merge_is_refused() {
    let d = defs(json!({"strategy": "None"}), false);
    let s = &d[1].strategy;
    assert_eq!(s.list_strategy(&["spec", "peers"]), ListStrategy::key("name"));
    assert_eq!(s.list_strategy(&["spec", "addresses"]), ListStrategy::Replace);
    assert_eq!(
        s.list_strategy(&["metadata", "finalizers"]),
        ListStrategy::MergePrimitive
    );
    assert!(!s.strategic_merge());
    let emulated = defs_for_crd(
        &json!({"spec": {"group": "apps", "scope": "Namespaced", "names": {"plural": "deployments", "kind": "Deployment"},
                         "versions": [{"name": "v1", "served": true, "storage": true}]}}),
        true,
        false,
        28,
        &|_, _| false,
    );
    assert!(emulated[0].strategy.strategic_merge() && emulated[0].crd.is_none());
    assert_eq!(
        emulated[0]
            .strategy
            .list_strategy(&["spec", "template", "spec", "containers"]),
        ListStrategy::key("name")
    );
}

#[test]
fn terminating_resources_refuse_creates() {
    let d = defs_for_crd(&crd(json!({"strategy": "None"})), false, true, 28, &|_, _| false);
    let e = d[0].strategy.check_create().unwrap_err();
    assert_eq!(e.code, 405);
    assert_eq!(
        e.message,
        "create not allowed while custom resource definition is terminating"
    );
}

#[test]
fn selectable_fields_are_field_labels_from_1_31() {
    let mut c = crd(json!({"strategy": "None"}));
    c["spec"]["versions"][1]["selectableFields"] = json!([{"jsonPath": ".spec.peerAddress"}]);
    let old = defs_for_crd(&c, false, false, 30, &|_, _| false);
    assert!(old[1].strategy.field_labels().is_empty());
    let new = defs_for_crd(&c, false, false, 31, &|_, _| false);
    assert_eq!(new[1].strategy.field_labels(), ["spec.peerAddress"]);
    let obj = json!({"spec": {"peerAddress": "192.0.2.1"}});
    assert_eq!(new[1].strategy.field_value(&obj, "spec.peerAddress"), "192.0.2.1");
}
