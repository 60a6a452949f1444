//! Owned objects against the embedded API server with ferrolb's metallb.io CRDs (deploy/kustomize/crds.yaml):
//! created with their status, patched when the desired status changes, duplicates and unwanted ones deleted,
//! and one of another owner left alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig};
use ferrolb_k8s::objects::{self, Desired, DesiredSet, ObjectMetrics, ObjectName, Selector, SyncSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{DynamicObject, ListParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use tokio::sync::watch;

fn crds() -> Vec<CustomResourceDefinition> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kustomize/crds.yaml");
    let text = std::fs::read_to_string(path).expect("crds.yaml");
    serde_saphyr::from_multiple::<CustomResourceDefinition>(&text).expect("CRDs")
}

fn l2_status() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metallb.io", "v1beta1", "ServiceL2Status"),
        "servicel2statuses",
    )
}

fn key_of(obj: &DynamicObject) -> Option<String> {
    let l = obj.metadata.labels.as_ref()?;
    Some(format!(
        "{}/{}",
        l.get("metallb.io/service-namespace")?,
        l.get("metallb.io/service-name")?
    ))
}

fn want(node: &str, svc: &str, iface: &str) -> (String, Desired) {
    let labels = BTreeMap::from([
        ("metallb.io/node".to_owned(), node.to_owned()),
        ("metallb.io/service-namespace".to_owned(), "default".to_owned()),
        ("metallb.io/service-name".to_owned(), svc.to_owned()),
    ]);
    let status = json!({"node": node, "serviceName": svc, "serviceNamespace": "default",
        "interfaces": [{"name": iface}]});
    (
        format!("default/{svc}"),
        Desired {
            name: ObjectName::Generate("l2-".into()),
            labels,
            spec: serde_json::Value::Null,
            status,
        },
    )
}

/// `(service, interface)` of every object of `node`, sorted.
async fn objects_of(api: &Api<DynamicObject>, node: &str) -> Vec<(String, String)> {
    let list = api
        .list(&ListParams::default().labels(&format!("metallb.io/node={node}")))
        .await
        .expect("list");
    let mut out: Vec<(String, String)> = list
        .items
        .iter()
        .map(|o| {
            let st = &o.data["status"];
            let svc = st["serviceName"].as_str().unwrap_or_default().to_owned();
            let iface = st["interfaces"][0]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            (svc, iface)
        })
        .collect();
    out.sort();
    out
}

async fn eventually(api: &Api<DynamicObject>, node: &str, want: &[(&str, &str)]) {
    let want: Vec<(String, String)> = want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = objects_of(api, node).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "objects of {node}: {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn owned_objects_follow_the_desired_set() {
    let config = ServerConfig {
        crds: crds(),
        ..ServerConfig::default()
    };
    let server = ApiServer::new(config)
        .expect("config")
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let client = server.client(ADMIN).await.expect("client");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "ferrolb-system"}})).expect("namespace");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("namespace");
    let ar = l2_status();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "ferrolb-system", &ar);
    // a leftover duplicate of n1 for a, and another node's object that must stay
    for (node, svc) in [("n1", "a"), ("n2", "a")] {
        let (_, d) = want(node, svc, "eth9");
        let mut obj = DynamicObject::new("", &ar).within("ferrolb-system");
        obj.metadata.name = None;
        obj.metadata.generate_name = Some("l2-".into());
        obj.metadata.labels = Some(d.labels);
        api.create(&PostParams::default(), &obj).await.expect("create");
    }
    let (tx, rx) = watch::channel(None);
    let metrics = ObjectMetrics::default();
    let spec = SyncSpec {
        resource: ar.clone(),
        namespace: "ferrolb-system".into(),
        selector: Selector::Labels("metallb.io/node=n1".into()),
        key_of,
        per_second: 100,
    };
    let _task = objects::spawn(client.clone(), spec, rx, metrics.clone());
    // nothing is touched before the program has decided
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        objects_of(&api, "n1").await.len(),
        1,
        "the leftover is still there"
    );
    tx.send_replace(Some(Arc::new(DesiredSet::from([
        want("n1", "a", "eth0"),
        want("n1", "b", "eth0"),
    ]))));
    eventually(&api, "n1", &[("a", "eth0"), ("b", "eth0")]).await;
    tx.send_replace(Some(Arc::new(DesiredSet::from([want("n1", "a", "eth1")]))));
    eventually(&api, "n1", &[("a", "eth1")]).await;
    tx.send_replace(Some(Arc::new(DesiredSet::new())));
    eventually(&api, "n1", &[]).await;
    assert_eq!(
        objects_of(&api, "n2").await.len(),
        1,
        "another owner's object is left alone"
    );
    let errors: u64 = ["create", "status", "update", "delete"]
        .iter()
        .map(|op| {
            metrics
                .writes
                .get_or_create(&objects::WriteLabels {
                    kind: "ServiceL2Status".into(),
                    op,
                    result: "error",
                })
                .get()
        })
        .sum();
    assert_eq!(errors, 0);
}
