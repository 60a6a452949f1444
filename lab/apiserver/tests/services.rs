//! Service defaulting, allocation and validation as kube-apiserver does them, through the kube client.

mod common;

use common::start;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

async fn create(api: &Api<Service>, v: Value) -> Result<Service, kube::Error> {
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
}

fn invalid_fields(e: kube::Error) -> Vec<String> {
    match e {
        kube::Error::Api(s) if s.code == 422 => s
            .details
            .map(|d| d.causes)
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.field)
            .collect(),
        other => panic!("expected 422 Invalid, got {other:?}"),
    }
}

fn spec(s: &Service) -> Value {
    serde_json::to_value(s.spec.as_ref().unwrap()).unwrap()
}

#[tokio::test]
async fn defaults_like_kube_apiserver() {
    let (_s, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let lb = create(&api, json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}})).await;
    let fields = invalid_fields(lb.unwrap_err());
    assert_eq!(
        fields,
        ["spec.ports[0].name"],
        "names are required with several ports"
    );
    let lb = create(
        &api,
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "selector": {"app": "a"},
        "ports": [{"name": "dns-tcp", "port": 53}, {"name": "dns-udp", "port": 53, "protocol": "UDP"}]}}),
    )
    .await
    .unwrap();
    let sp = spec(&lb);
    assert_eq!(sp["sessionAffinity"], "None");
    assert_eq!(sp["externalTrafficPolicy"], "Cluster");
    assert_eq!(sp["internalTrafficPolicy"], "Cluster");
    assert_eq!(sp["allocateLoadBalancerNodePorts"], true);
    assert_eq!(sp["ipFamilyPolicy"], "SingleStack");
    assert_eq!(sp["ipFamilies"], json!(["IPv4"]));
    assert_eq!(sp["clusterIPs"], json!([sp["clusterIP"]]));
    assert!(sp["clusterIP"].as_str().unwrap().starts_with("10.9"));
    assert_eq!(sp["ports"][0]["targetPort"], 53);
    assert_eq!(sp["ports"][0]["protocol"], "TCP");
    let (np0, np1) = (
        sp["ports"][0]["nodePort"].as_i64().unwrap(),
        sp["ports"][1]["nodePort"].as_i64().unwrap(),
    );
    assert!((30000..=32767).contains(&np0));
    assert_eq!(np0, np1, "TCP and UDP on the same port share a node port");
    assert_eq!(
        serde_json::to_value(lb.status.unwrap()).unwrap(),
        json!({"loadBalancer": {}})
    );

    let dual = create(&api, json!({"metadata": {"name": "dual"}, "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "PreferDualStack",
        "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}]}}))
    .await
    .unwrap();
    let sp = spec(&dual);
    assert_eq!(sp["ipFamilies"], json!(["IPv4", "IPv6"]));
    assert!(sp["clusterIPs"][1].as_str().unwrap().starts_with("fd00:10:96::"));
    assert!(
        sp["ports"][0].get("nodePort").is_none(),
        "allocateLoadBalancerNodePorts=false allocates none"
    );

    let v6 = create(
        &api,
        json!({"metadata": {"name": "v6"}, "spec": {"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}}),
    )
    .await
    .unwrap();
    assert!(spec(&v6)["clusterIP"].as_str().unwrap().contains(':'));
    assert!(
        spec(&v6).get("externalTrafficPolicy").is_none(),
        "ClusterIP services get no external traffic policy"
    );

    let headless = create(
        &api,
        json!({"metadata": {"name": "hl"}, "spec": {"clusterIP": "None", "selector": {"a": "b"}}}),
    )
    .await
    .unwrap();
    assert_eq!(spec(&headless)["clusterIPs"], json!(["None"]));
}

#[tokio::test]
async fn requested_values_are_reserved_and_conflicts_rejected() {
    let (s, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let a = create(&api, json!({"metadata": {"name": "a"}, "spec": {"type": "NodePort", "clusterIP": "10.96.5.5", "ports": [{"port": 80, "nodePort": 31000}]}})).await.unwrap();
    assert_eq!(spec(&a)["clusterIP"], "10.96.5.5");
    let err = create(&api, json!({"metadata": {"name": "b"}, "spec": {"type": "NodePort", "clusterIP": "10.96.5.5", "ports": [{"port": 80, "nodePort": 31000}]}})).await.unwrap_err();
    assert_eq!(invalid_fields(err), ["spec.clusterIPs", "spec.ports[0].nodePort"]);
    let err = create(&api, json!({"metadata": {"name": "c"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]}})).await.unwrap_err();
    assert_eq!(invalid_fields(err), ["spec.ports[0].nodePort"]);
    let err = create(
        &api,
        json!({"metadata": {"name": "d"}, "spec": {"clusterIP": "192.0.2.1", "ports": [{"port": 80}]}}),
    )
    .await
    .unwrap_err();
    assert_eq!(invalid_fields(err), ["spec.clusterIPs"]);
    let before = s.store().resource_version();
    // Deleting releases: the same IP and port can be taken again.
    api.delete("a", &DeleteParams::default()).await.unwrap();
    create(&api, json!({"metadata": {"name": "b"}, "spec": {"type": "NodePort", "clusterIP": "10.96.5.5", "ports": [{"port": 80, "nodePort": 31000}]}})).await.unwrap();
    assert!(s.store().resource_version() > before);
}

#[tokio::test]
async fn validation_rejects_what_the_real_server_rejects() {
    let (_s, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"metadata": {"name": "1bad"}, "spec": {"ports": [{"port": 80}]}}),
            vec!["metadata.name"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"type": "Magic", "ports": [{"port": 80}]}}),
            vec!["spec.type"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"ports": []}}),
            vec!["spec.ports"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"ports": [{"port": 70000}]}}),
            vec!["spec.ports[0].port", "spec.ports[0].targetPort"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"ports": [{"port": 80, "protocol": "ICMP"}]}}),
            vec!["spec.ports[0].protocol"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"ports": [{"port": 80, "nodePort": 30001}]}}),
            vec!["spec.ports[0].nodePort"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"loadBalancerClass": "ferrolb.io/lb", "ports": [{"port": 80}]}}),
            vec!["spec.loadBalancerClass"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"type": "LoadBalancer", "loadBalancerClass": "not a class", "ports": [{"port": 80}]}}),
            vec!["spec.loadBalancerClass"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"type": "LoadBalancer", "loadBalancerIP": "nope", "ports": [{"port": 80}]}}),
            vec!["spec.loadBalancerIP"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]}}),
            vec!["spec.ipFamilyPolicy"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"type": "ExternalName", "ports": [{"port": 80}]}}),
            vec!["spec.externalName"],
        ),
        (
            json!({"metadata": {"name": "t"}, "spec": {"externalTrafficPolicy": "Local", "ports": [{"port": 80}]}}),
            vec!["spec.externalTrafficPolicy"],
        ),
    ];
    for (obj, want) in cases {
        let got = invalid_fields(create(&api, obj.clone()).await.unwrap_err());
        assert_eq!(got, want, "{obj}");
    }
}

#[tokio::test]
async fn updates_keep_allocations_and_guard_immutable_fields() {
    let (_s, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let lb = create(&api, json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb", "ports": [{"port": 80}]}})).await.unwrap();
    let sp = spec(&lb);
    // A replace that omits clusterIP and nodePort keeps them (patchAllocatedValues).
    let mut replacement: Service = serde_json::from_value(
        json!({"metadata": {"name": "lb", "resourceVersion": lb.metadata.resource_version},
        "spec": {"type": "LoadBalancer", "loadBalancerClass": "ferrolb.io/lb", "ports": [{"port": 80}]}}),
    )
    .unwrap();
    let kept = api
        .replace("lb", &PostParams::default(), &replacement)
        .await
        .unwrap();
    assert_eq!(spec(&kept)["clusterIP"], sp["clusterIP"]);
    assert_eq!(spec(&kept)["ports"][0]["nodePort"], sp["ports"][0]["nodePort"]);
    assert_eq!(kept.metadata.generation, Some(1), "nothing changed");
    // loadBalancerClass may not change while the type stays LoadBalancer; clusterIP may not change.
    let p = json!({"spec": {"loadBalancerClass": "other.io/lb"}});
    let err = api
        .patch("lb", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(err), ["spec.loadBalancerClass"]);
    let p = json!({"spec": {"clusterIP": "10.96.9.9", "clusterIPs": ["10.96.9.9"]}});
    let err = api
        .patch("lb", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap_err();
    assert_eq!(invalid_fields(err), ["spec.clusterIPs[0]"]);
    // Changing the type to ClusterIP drops the LoadBalancer-only fields the user left alone, and node ports.
    replacement = api.get("lb").await.unwrap();
    let p = json!({"spec": {"type": "ClusterIP"}});
    let _ = replacement;
    let cip = api
        .patch("lb", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    let sp2 = spec(&cip);
    assert!(sp2.get("loadBalancerClass").is_none() && sp2.get("allocateLoadBalancerNodePorts").is_none());
    assert!(sp2["ports"][0].get("nodePort").is_none());
    assert!(sp2.get("externalTrafficPolicy").is_none());
    assert_eq!(sp2["clusterIP"], sp["clusterIP"]);
    assert_eq!(cip.metadata.generation, Some(2));
    // Back to LoadBalancer: a node port is allocated again.
    let back = api
        .patch(
            "lb",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"type": "LoadBalancer"}})),
        )
        .await
        .unwrap();
    assert!(spec(&back)["ports"][0]["nodePort"].as_i64().unwrap() >= 30000);
}

#[tokio::test]
async fn selectors_filter_lists() {
    let (_s, client) = start().await;
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    for (name, ty, tier) in [
        ("a", "LoadBalancer", "front"),
        ("b", "ClusterIP", "back"),
        ("c", "LoadBalancer", "back"),
    ] {
        create(&api, json!({"metadata": {"name": name, "labels": {"tier": tier}}, "spec": {"type": ty, "ports": [{"port": 80}]}})).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<Service>| {
        l.items
            .into_iter()
            .map(|s| s.metadata.name.unwrap())
            .collect::<Vec<_>>()
    };
    let lp = kube::api::ListParams::default();
    assert_eq!(
        names(api.list(&lp.clone().labels("tier=back")).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(
        names(api.list(&lp.clone().labels("tier notin (back)")).await.unwrap()),
        ["a", "kubernetes"]
    );
    assert_eq!(
        names(
            api.list(&lp.clone().fields("spec.type=LoadBalancer"))
                .await
                .unwrap()
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            api.list(&lp.clone().fields("metadata.name!=a").labels("tier"))
                .await
                .unwrap()
        ),
        ["b", "c"]
    );
    let all: Api<Service> = Api::all(client);
    assert_eq!(
        names(
            all.list(
                &lp.clone()
                    .fields("metadata.namespace=default,metadata.name=kubernetes")
            )
            .await
            .unwrap()
        ),
        ["kubernetes"]
    );
    let err = api.list(&lp.clone().fields("spec.bogus=1")).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 400));
}
