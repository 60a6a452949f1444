//! The whole flow against the embedded API server (real HTTP, real kube client, the controller in-process):
//! plain, requested (spec.loadBalancerIP and the annotation, ferrolb's and MetalLB's spellings), pinned,
//! shared, dual-stack and IPv6 Services; a foreign loadBalancerClass left alone and served by a second
//! controller given that class; failures, releases and Events; steady state with zero writes.

mod controller_common;

use controller_common::*;
use ferrolb_controller::MetricsListen;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

const CONFIG: &str = "address-pools:
- name: default
  protocol: layer2
  addresses: [192.0.2.0/28, 2001:db8:1::/124]
- name: pinned
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.0/29]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_flow() {
    let lab = Lab::start().await;
    lab.set_config(CONFIG).await;
    let ctrl = lab.controller("flow-1").await;

    // Plain: the lowest free address of the first auto-assign pool, and the pool annotation.
    lab.create("plain", &[], json!({})).await;
    assert_eq!(lab.wait_ips("plain", 1).await, [ip("192.0.2.0")]);
    let plain = lab.services().get("plain").await.expect("get");
    assert_eq!(
        plain
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(FROM_POOL))
            .map(String::as_str),
        Some("default")
    );
    let ingress = serde_json::to_value(&plain.status.as_ref().expect("status").load_balancer).expect("json");
    assert_eq!(
        ingress,
        json!({"ingress": [{"ip": "192.0.2.0"}]}),
        "ip only: no ipMode for a 1.28 server"
    );
    let msg = lab.wait_event(APPS, "plain", "IPAllocated", "192.0.2.0").await;
    assert!(msg.contains("\"default\""), "{msg}");

    // Requested addresses, every spelling.
    lab.create("lbip", &[], json!({"loadBalancerIP": "192.0.2.10"}))
        .await;
    lab.create(
        "annot",
        &[("ferrolb.io/loadBalancerIPs", "192.0.2.11")],
        json!({}),
    )
    .await;
    lab.create(
        "mlb-ips",
        &[("metallb.io/loadBalancerIPs", "192.0.2.12")],
        json!({}),
    )
    .await;
    assert_eq!(lab.wait_ips("lbip", 1).await, [ip("192.0.2.10")]);
    assert_eq!(lab.wait_ips("annot", 1).await, [ip("192.0.2.11")]);
    assert_eq!(lab.wait_ips("mlb-ips", 1).await, [ip("192.0.2.12")]);

    // Pinned to a manual pool with MetalLB's deprecated spelling: served, and warned about.
    lab.create(
        "pinned",
        &[("metallb.universe.tf/address-pool", "pinned")],
        json!({}),
    )
    .await;
    assert_eq!(lab.wait_ips("pinned", 1).await, [ip("198.51.100.0")]);
    let msg = lab
        .wait_event(
            APPS,
            "pinned",
            "DeprecatedAnnotation",
            "metallb.universe.tf/address-pool",
        )
        .await;
    assert!(msg.contains("ferrolb.io/address-pool"), "{msg}");

    // Sharing: same key, disjoint ports → one IP.
    lab.create(
        "share-a",
        &[("metallb.io/allow-shared-ip", "k")],
        json!({"ports": [{"port": 80}]}),
    )
    .await;
    let a = lab.wait_ips("share-a", 1).await;
    lab.create(
        "share-b",
        &[("ferrolb.io/allow-shared-ip", "k")],
        json!({"ports": [{"port": 443}]}),
    )
    .await;
    assert_eq!(lab.wait_ips("share-b", 1).await, a);
    // Same key, same port → not shared.
    lab.create(
        "share-c",
        &[("ferrolb.io/allow-shared-ip", "k")],
        json!({"ports": [{"port": 80}]}),
    )
    .await;
    assert_ne!(lab.wait_ips("share-c", 1).await, a);

    // Dual-stack and IPv6-only.
    lab.create(
        "dual",
        &[],
        json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}),
    )
    .await;
    let dual = lab.wait_ips("dual", 2).await;
    assert!(dual[0].is_ipv4() && dual[1] == ip("2001:db8:1::"), "{dual:?}");
    lab.create(
        "v6",
        &[],
        json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"]}),
    )
    .await;
    assert_eq!(lab.wait_ips("v6", 1).await, [ip("2001:db8:1::1")]);
    lab.create(
        "prefer",
        &[],
        json!({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"]}),
    )
    .await;
    let prefer = lab.wait_ips("prefer", 2).await;
    assert!(
        prefer[0].is_ipv6() && prefer[1].is_ipv4(),
        "primary family first: {prefer:?}"
    );

    // Not in any pool: pending, with the reason.
    lab.create(
        "bad",
        &[("ferrolb.io/loadBalancerIPs", "203.0.113.99")],
        json!({}),
    )
    .await;
    lab.wait_event(
        APPS,
        "bad",
        "AllocationFailed",
        "203.0.113.99 is not in any address pool",
    )
    .await;
    assert!(lab.ips("bad").await.is_empty());

    // Another class: left alone by this controller, served by a controller given that class (its own
    // namespace, ConfigMap and Lease).
    lab.create("classy", &[], json!({"loadBalancerClass": "example.com/lb"}))
        .await;
    let other = other_class_controller(&lab).await;
    assert_eq!(lab.wait_ips("classy", 1).await, [ip("203.0.113.1")]);

    // A Service waiting for an address in use gets it when its holder is deleted.
    lab.create(
        "waiter",
        &[("ferrolb.io/loadBalancerIPs", "192.0.2.10")],
        json!({}),
    )
    .await;
    lab.wait_event(
        APPS,
        "waiter",
        "AllocationFailed",
        "already in use by Service apps/lbip",
    )
    .await;
    lab.services()
        .delete("lbip", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(lab.wait_ips("waiter", 1).await, [ip("192.0.2.10")]);

    // A Service that stops qualifying releases its address and loses ferrolb's status entries.
    let patch = json!({"spec": {"type": "ClusterIP"}});
    lab.services()
        .patch("plain", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    let plain = eventually(20, "plain to be cleaned", || async {
        let s = lab.services().get("plain").await.expect("get");
        (ingress_ips(&s).is_empty() && !has_from_pool(&s)).then_some(s)
    })
    .await;
    assert_eq!(plain.spec.and_then(|s| s.type_).as_deref(), Some("ClusterIP"));
    lab.wait_event(APPS, "plain", "ClearAssignment", "no longer of type LoadBalancer")
        .await;
    // Its address goes to the next Service.
    lab.create("next", &[], json!({})).await;
    assert_eq!(lab.wait_ips("next", 1).await, [ip("192.0.2.0")]);

    // Steady state: a metadata change causes no write; a new Service exactly one.
    assert_eq!(lab.status_writes_of("share-a"), 1);
    let label = json!({"metadata": {"labels": {"touched": "yes"}}});
    lab.services()
        .patch("share-a", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .expect("label");
    lab.create("sentinel", &[], json!({})).await;
    lab.wait_ips("sentinel", 1).await;
    eventually(10, "the sentinel's write in the audit log", || async {
        (lab.status_writes_of("sentinel") == 1).then_some(())
    })
    .await;
    // The label change was handled before the sentinel (one watch, in order) and wrote nothing.
    assert_eq!(
        lab.status_writes_of("share-a"),
        1,
        "a metadata change wrote nothing"
    );
    assert_eq!(lab.ips("share-a").await, a, "unchanged");

    ctrl.stop().await;
    other.stop().await;
}

fn has_from_pool(s: &Service) -> bool {
    s.metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(FROM_POOL))
}

/// A second controller serving `example.com/lb` from its own namespace.
async fn other_class_controller(lab: &Lab) -> Controller {
    let ns = "lb-other";
    let namespaces: Api<Namespace> = Api::all(lab.client.clone());
    let obj = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.into()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &obj)
        .await
        .expect("namespace");
    let cms: Api<ConfigMap> = Api::namespaced(lab.client.clone(), ns);
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "config"}, "data": {"config":
        "address-pools:\n- name: other\n  protocol: bgp\n  addresses: [203.0.113.1-203.0.113.6]\n"}}))
    .expect("cm");
    cms.create(&PostParams::default(), &cm).await.expect("config map");
    let mut config = lab.config("other-1").await;
    config.namespace = ns.into();
    config.load_balancer_class = Some("example.com/lb".into());
    config.metrics = MetricsListen::Off;
    Controller::spawn(config)
}
