//! The other kinds ferrolb reads and writes: Nodes (status subresource, cluster scope), Secrets
//! (stringData), EndpointSlices (validation, label selection), custom resources registered at start
//! (versions, status subresource, printer columns), and DELETE of a collection.

mod common;

use common::{start, start_with};
use ferrolb_apiserver::ServerConfig;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use serde_json::json;

#[tokio::test]
async fn nodes_are_cluster_scoped_with_a_status_subresource() {
    let (_s, client) = start().await;
    let api: Api<Node> = Api::all(client);
    let node: Node = serde_json::from_value(json!({"metadata": {"name": "node1", "labels": {"kubernetes.io/hostname": "node1"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "192.0.2.11"}]}}))
    .unwrap();
    let created = api.create(&PostParams::default(), &node).await.unwrap();
    assert!(created.metadata.namespace.is_none());
    assert_eq!(
        created.status.as_ref().unwrap().addresses.as_ref().unwrap()[0].address,
        "192.0.2.11",
        "node create keeps status"
    );
    let p = json!({"spec": {"unschedulable": true}, "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.99"}]}});
    let main = api
        .patch("node1", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(main.spec.unwrap().unschedulable, Some(true));
    assert_eq!(main.status.unwrap().addresses.unwrap()[0].address, "192.0.2.11");
    let st = api
        .patch_status("node1", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().addresses.unwrap()[0].address, "192.0.2.99");
    let sel = api
        .list(&ListParams::default().fields("spec.unschedulable=true"))
        .await
        .unwrap();
    assert_eq!(sel.items.len(), 1);
}

#[tokio::test]
async fn secrets_take_string_data() {
    let (_s, client) = start().await;
    let api: Api<Secret> = Api::namespaced(client, "default");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "memberlist"}, "stringData": {"secretkey": "hunter2"}}),
    )
    .unwrap();
    let got = api.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(got.type_.as_deref(), Some("Opaque"));
    assert_eq!(got.data.unwrap()["secretkey"].0, b"hunter2");
    assert!(got.string_data.is_none());
    let err = api
        .patch(
            "memberlist",
            &PatchParams::default(),
            &Patch::Merge(&json!({"type": "kubernetes.io/tls"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422));
}

#[tokio::test]
async fn endpoint_slices_validate_and_select_by_service() {
    let (_s, client) = start().await;
    let api: Api<EndpointSlice> = Api::namespaced(client, "default");
    let eps = |name: &str, svc: &str, addr: &str| -> EndpointSlice {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"port": 8080}],
            "endpoints": [{"addresses": [addr], "conditions": {"ready": true}, "nodeName": "node1"}]}),
        )
        .unwrap()
    };
    let got = api
        .create(&PostParams::default(), &eps("web-abc", "web", "10.244.1.5"))
        .await
        .unwrap();
    assert_eq!(got.ports.unwrap()[0].protocol.as_deref(), Some("TCP"));
    api.create(&PostParams::default(), &eps("db-abc", "db", "10.244.1.6"))
        .await
        .unwrap();
    let err = api
        .create(&PostParams::default(), &eps("bad", "web", "2001:db8::1"))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 422));
    let l = api
        .list(&ListParams::default().labels("kubernetes.io/service-name=web"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
    let err = api
        .patch(
            "web-abc",
            &PatchParams::default(),
            &Patch::Merge(&json!({"addressType": "IPv6"})),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 422),
        "addressType is immutable"
    );
}

fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "ipaddresspools.ferrolb.io"},
        "spec": {"group": "ferrolb.io", "scope": "Namespaced",
                 "names": {"plural": "ipaddresspools", "singular": "ipaddresspool", "kind": "IPAddressPool", "shortNames": ["pool"]},
                 "versions": [
                    {"name": "v1beta2", "served": true, "storage": true, "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "Auto", "type": "boolean", "jsonPath": ".spec.autoAssign"}],
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap()
}

#[tokio::test]
async fn custom_resources_registered_at_start() {
    let (s, client) = start_with(ServerConfig {
        crds: vec![crd()],
        ..Default::default()
    })
    .await;
    let gvk = GroupVersionKind::gvk("ferrolb.io", "v1beta2", "IPAddressPool");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "ipaddresspools");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj: DynamicObject = serde_json::from_value(json!({"apiVersion": "ferrolb.io/v1beta2", "kind": "IPAddressPool",
        "metadata": {"name": "pool-a"}, "spec": {"addresses": ["192.0.2.100-192.0.2.110"], "autoAssign": true}, "status": {"x": 1}}))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(
        created.data.get("status").is_none(),
        "status is reset on create with a status subresource"
    );
    let st = api
        .patch_status(
            "pool-a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"assignedIPv4": 1}, "spec": {"autoAssign": false}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["assignedIPv4"], 1);
    assert_eq!(st.data["spec"]["autoAssign"], true);
    assert_eq!(st.metadata.generation, Some(1));
    let main = api
        .patch(
            "pool-a",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"autoAssign": false}})),
        )
        .await
        .unwrap();
    assert_eq!(main.metadata.generation, Some(2));
    // The other served version sees the same object with its own apiVersion.
    let v1 = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("ferrolb.io", "v1beta1", "IPAddressPool"),
        "ipaddresspools",
    );
    let old: Api<DynamicObject> = Api::namespaced_with(client, "default", &v1);
    let o = old.get("pool-a").await.unwrap();
    assert_eq!(o.types.unwrap().api_version, "ferrolb.io/v1beta1");
    // Strategic merge patch is not available for custom resources.
    let err = api
        .patch(
            "pool-a",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 415));
    assert!(
        s.get("ferrolb.io", "v1beta2", "ipaddresspools", "default", "pool-a")
            .is_some()
    );
}

#[tokio::test]
async fn delete_collection_honours_selectors() {
    let (_s, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for (n, l) in [("a", "x"), ("b", "x"), ("c", "y")] {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": n, "labels": {"l": l}}})).unwrap(),
        )
        .await
        .unwrap();
    }
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels("l=x"))
        .await
        .unwrap();
    let left: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.metadata.name.unwrap())
        .collect();
    assert_eq!(left, ["c"]);
}

#[tokio::test]
async fn built_in_kinds_registered_as_crds_take_strategic_merge_patches() {
    let deployments: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "deployments.apps"},
        "spec": {"group": "apps", "scope": "Namespaced", "names": {"plural": "deployments", "kind": "Deployment"},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}}]}
    }))
    .unwrap();
    let (_s, client) = start_with(ServerConfig {
        crds: vec![deployments],
        ..Default::default()
    })
    .await;
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("apps", "v1", "Deployment"), "deployments");
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &ar);
    let d: DynamicObject = serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ctrl"},
        "spec": {"template": {"spec": {"containers": [{"name": "controller", "image": "ferrolb:1", "args": ["--a"]}]}}}}))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "controller", "image": "ferrolb:2"}]}}}});
    let got = api
        .patch("ctrl", &PatchParams::default(), &Patch::Strategic(p))
        .await
        .unwrap();
    assert_eq!(
        got.data["spec"]["template"]["spec"]["containers"],
        json!([{"name": "controller", "image": "ferrolb:2", "args": ["--a"]}])
    );
}
