//! What a CRD's schema does to custom resources, with MetalLB's published CRDs (`tests/data`) and the kube
//! client's dynamic API: unknown fields pruned (or refused with `fieldValidation=Strict`), defaults filled in,
//! invalid objects refused with kube-apiserver's 422 naming the fields; two versions served from one storage
//! version (`None` conversion); a `Webhook` conversion CRD served in its storage version only; CRDs given at
//! start.

mod common;

use common::{api_error, install_crd, metallb_crd, start, start_with};
use ferrolb_apiserver::{ApiServer, ServerConfig, StartError};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    ValidationDirective, WatchEvent, WatchParams,
};
use serde_json::{Value, json};

fn dynamic(
    client: &kube::Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), "metallb-system", &ar)
}

fn object(api_version: &str, kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, "spec": spec}),
    )
    .unwrap()
}

async fn metallb_namespace(client: &kube::Client) {
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "metallb-system"}})).unwrap(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn unknown_fields_are_pruned_and_defaults_filled_in() {
    let (server, client) = start().await;
    metallb_namespace(&client).await;
    install_crd(&client, &metallb_crd("metallb-ipaddresspools.yaml")).await;
    let pools = dynamic(
        &client,
        "metallb.io",
        "v1beta1",
        "IPAddressPool",
        "ipaddresspools",
    );
    let created = pools
        .create(
            &PostParams::default(),
            &object(
                "metallb.io/v1beta1",
                "IPAddressPool",
                "first-pool",
                json!({"addresses": ["192.0.2.0/24"], "autoAsign": false,
                       "serviceAllocation": {"priority": 1, "namespaces": ["web"], "color": "blue"}}),
            ),
        )
        .await
        .unwrap();
    let spec = &created.data["spec"];
    assert_eq!(
        spec,
        &json!({"addresses": ["192.0.2.0/24"], "autoAssign": true, "avoidBuggyIPs": false,
                "serviceAllocation": {"priority": 1, "namespaces": ["web"]}}),
        "the misspelt autoAsign and the unknown color are gone, the defaults are in"
    );
    let stored = server
        .get(
            "metallb.io",
            "v1beta1",
            "ipaddresspools",
            "metallb-system",
            "first-pool",
        )
        .unwrap();
    assert_eq!(&stored["spec"], spec);

    // with fieldValidation=Strict the same mistake is an error naming the field
    let strict = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let st = api_error(
        pools
            .patch(
                "first-pool",
                &strict,
                &Patch::Merge(&json!({"spec": {"autoAsign": false}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(st.code, 400);
    assert_eq!(
        st.message,
        "strict decoding error: unknown field \"spec.autoAsign\""
    );
    // a default does not override what was written
    let patched = pools
        .patch(
            "first-pool",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"autoAssign": false}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["autoAssign"], false);
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn invalid_objects_are_refused_with_the_fields_named() {
    let (_server, client) = start().await;
    metallb_namespace(&client).await;
    install_crd(&client, &metallb_crd("metallb-bgppeers.yaml")).await;
    let peers = dynamic(&client, "metallb.io", "v1beta2", "BGPPeer", "bgppeers");
    let bad = object(
        "metallb.io/v1beta2",
        "BGPPeer",
        "router",
        json!({"peerAddress": "192.0.2.1", "peerASN": "64512", "peerPort": 70000}),
    );
    let st = api_error(peers.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((st.code, st.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        st.message,
        "BGPPeer.metallb.io \"router\" is invalid: [spec.peerASN: Invalid value: \"string\": spec.peerASN in body must be of type integer: \"string\", spec.peerPort: Invalid value: 70000: spec.peerPort in body should be less than or equal to 16384, spec.myASN: Required value]"
    );
    let details = st.details.unwrap();
    assert_eq!(
        (details.kind.as_str(), details.group.as_str()),
        ("BGPPeer", "metallb.io")
    );
    let fields: Vec<(&str, &str)> = details
        .causes
        .iter()
        .map(|c| (c.field.as_str(), c.reason.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("spec.peerASN", "FieldValueTypeInvalid"),
            ("spec.peerPort", "FieldValueInvalid"),
            ("spec.myASN", "FieldValueRequired"),
        ]
    );
    let good = object(
        "metallb.io/v1beta2",
        "BGPPeer",
        "router",
        json!({"peerAddress": "192.0.2.1", "peerASN": 64512, "myASN": 64500, "connectTime": "5s"}),
    );
    let created = peers.create(&PostParams::default(), &good).await.unwrap();
    assert_eq!(created.data["spec"]["peerPort"], 179, "v1beta2's default");
    assert_eq!(created.data["spec"]["disableMP"], false);
    // updates are validated too, and status writes against the same schema
    let st = api_error(
        peers
            .patch(
                "router",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"myASN": -1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        st.details.unwrap().causes[0].message,
        "Invalid value: -1: spec.myASN in body should be greater than or equal to 0"
    );
}

/// A CRD with two versions, v1 stored, v1beta1 served, `None` conversion.
fn two_versions() -> CustomResourceDefinition {
    let schema = |extra: Value| {
        let mut props = json!({"addresses": {"type": "array", "maxItems": 2, "items": {"type": "string"}}});
        props
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "properties": props}}}})
    };
    serde_json::from_value(json!({
        "metadata": {"name": "pools.ferrolb.io"},
        "spec": {"group": "ferrolb.io", "scope": "Namespaced", "names": {"plural": "pools", "kind": "Pool"},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": schema(json!({"mode": {"type": "string", "enum": ["layer2", "bgp"], "default": "layer2"}}))},
                {"name": "v1beta1", "served": true, "storage": false, "schema": schema(json!({"protocol": {"type": "string"}}))}]}}))
    .unwrap()
}

#[tokio::test]
async fn two_versions_are_served_from_one_storage_version() {
    let (server, client) = start().await;
    metallb_namespace(&client).await;
    let crd = install_crd(&client, &two_versions()).await;
    assert_eq!(crd.status.unwrap().stored_versions, Some(vec!["v1".to_owned()]));
    let groups = client.list_api_groups().await.unwrap();
    let group = groups.groups.iter().find(|g| g.name == "ferrolb.io").unwrap();
    assert_eq!(group.preferred_version.as_ref().unwrap().version, "v1");
    let v1 = dynamic(&client, "ferrolb.io", "v1", "Pool", "pools");
    let v1beta1 = dynamic(&client, "ferrolb.io", "v1beta1", "Pool", "pools");
    let rv = v1
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut old_watch = v1beta1.watch(&WatchParams::default(), &rv).await.unwrap().boxed();

    let written = v1beta1
        .create(
            &PostParams::default(),
            &object(
                "ferrolb.io/v1beta1",
                "Pool",
                "a",
                json!({"addresses": ["192.0.2.0/28"], "protocol": "bgp"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(written.types.unwrap().api_version, "ferrolb.io/v1beta1");
    let stored = server
        .store()
        .get("pools.ferrolb.io", "metallb-system", "a")
        .unwrap();
    assert_eq!(
        stored["apiVersion"], "ferrolb.io/v1",
        "stored in the storage version"
    );
    let as_v1 = v1.get("a").await.unwrap();
    assert_eq!(as_v1.types.unwrap().api_version, "ferrolb.io/v1");
    assert_eq!(
        as_v1.data["spec"]["mode"], "layer2",
        "v1's default, applied on read"
    );
    assert_eq!(
        as_v1.data["spec"]["protocol"], "bgp",
        "None conversion keeps the fields"
    );
    match old_watch.try_next().await.unwrap() {
        Some(WatchEvent::Added(o)) => assert_eq!(o.types.unwrap().api_version, "ferrolb.io/v1beta1"),
        other => panic!("unexpected {other:?}"),
    }
    let both = v1.list(&ListParams::default()).await.unwrap();
    assert_eq!(both.items.len(), 1);
    let as_v1beta1 = v1beta1
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert!(
        as_v1beta1.data["spec"].get("mode").is_none(),
        "v1beta1 has no mode"
    );
    // each version validates with its own schema
    let st = api_error(
        v1.patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"mode": "ospf"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        st.details.unwrap().causes[0].message,
        "Unsupported value: \"ospf\": supported values: \"layer2\", \"bgp\""
    );
    let st = api_error(
        v1beta1
            .patch(
                "a",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"addresses": ["a", "b", "c"]}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(
        st.details.unwrap().causes[0].message,
        "Too many: 3: must have at most 2 items"
    );
}

#[tokio::test]
async fn a_webhook_conversion_crd_is_served_in_its_storage_version_only() {
    let (_server, client) = start().await;
    metallb_namespace(&client).await;
    install_crd(&client, &metallb_crd("metallb-bgppeers.yaml")).await;
    let v2 = dynamic(&client, "metallb.io", "v1beta2", "BGPPeer", "bgppeers");
    let v1 = dynamic(&client, "metallb.io", "v1beta1", "BGPPeer", "bgppeers");
    assert!(
        v1.list(&ListParams::default()).await.unwrap().items.is_empty(),
        "nothing to convert"
    );
    let peer = json!({"peerAddress": "192.0.2.1", "peerASN": 64512, "myASN": 64500});
    v2.create(
        &PostParams::default(),
        &object("metallb.io/v1beta2", "BGPPeer", "r1", peer.clone()),
    )
    .await
    .unwrap();
    assert_eq!(v2.get("r1").await.unwrap().data["spec"]["peerPort"], 179);
    assert_eq!(v2.list(&ListParams::default()).await.unwrap().items.len(), 1);
    let unreachable = "Internal error occurred: conversion webhook for metallb.io/v1beta2, Kind=BGPPeer failed: Post \"https://metallb-webhook-service.metallb-system.svc:443/convert?timeout=30s\": service \"metallb-webhook-service\" not found";
    for st in [
        api_error(v1.get("r1").await.unwrap_err()),
        api_error(v1.list(&ListParams::default()).await.unwrap_err()),
    ] {
        assert_eq!((st.code, st.reason.as_str()), (500, "InternalError"));
        assert_eq!(st.message, unreachable);
    }
    let st = api_error(
        v1.create(
            &PostParams::default(),
            &object("metallb.io/v1beta1", "BGPPeer", "r2", peer),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(st.code, 500);
    assert!(
        st.message
            .contains("conversion webhook for metallb.io/v1beta1, Kind=BGPPeer failed"),
        "{}",
        st.message
    );
    // a watch in the other version fails on its first object with the same Status
    let mut watch = v1.watch(&WatchParams::default(), "0").await.unwrap().boxed();
    match watch.try_next().await {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!(e.code, 500),
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 500),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn crds_given_at_start_are_established_before_serving() {
    let (_server, client) = start_with(ServerConfig {
        crds: vec![
            metallb_crd("metallb-ipaddresspools.yaml"),
            metallb_crd("metallb-bgppeers.yaml"),
        ],
        ..ServerConfig::default()
    })
    .await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let listed = crds.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 2);
    for crd in &listed.items {
        let conds = crd.status.as_ref().unwrap().conditions.as_ref().unwrap();
        assert!(
            conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{conds:?}"
        );
    }
    let resources = client
        .list_api_group_resources("metallb.io/v1beta1")
        .await
        .unwrap();
    let mut names: Vec<&str> = resources.resources.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "bgppeers",
            "bgppeers/status",
            "ipaddresspools",
            "ipaddresspools/status"
        ]
    );

    let mut bad = metallb_crd("metallb-bgppeers.yaml");
    bad.spec.versions[1].storage = false;
    match ApiServer::new(ServerConfig {
        crds: vec![bad],
        ..ServerConfig::default()
    }) {
        Err(StartError::Crd { name, error }) => {
            assert_eq!(name, "bgppeers.metallb.io");
            assert_eq!(error.code, 422);
            assert!(
                error
                    .message
                    .contains("must have exactly one version marked as storage version")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}
