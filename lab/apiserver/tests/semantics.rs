//! kube-apiserver semantics through the real kube client: optimistic concurrency, status/spec separation,
//! the controller's status patch, Leases, Events (kube-runtime's Recorder), finalizers, pods' graceful deletion,
//! namespaces,
//! field validation, server-side apply, and the audit log with per-user tokens.

mod common;

use common::{eventually, start};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ObjectReference, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::json;

fn svc(name: &str) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}}))
    .unwrap()
}

fn status_code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other:?}"),
    }
}

#[tokio::test]
async fn stale_writes_conflict() {
    let (_s, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).unwrap(),
        )
        .await
        .unwrap();
    let mut first = created.clone();
    first.data = Some([("a".to_owned(), "2".to_owned())].into());
    api.replace("c", &PostParams::default(), &first).await.unwrap();
    let mut stale = created.clone();
    stale.data = Some([("a".to_owned(), "3".to_owned())].into());
    let err = api
        .replace("c", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 409);
    // A merge patch carrying the stale resourceVersion is refused too; one without is applied.
    let p = json!({"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {"a": "4"}});
    assert_eq!(
        status_code(
            &api.patch("c", &PatchParams::default(), &Patch::Merge(&p))
                .await
                .unwrap_err()
        ),
        409
    );
    let ok = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"a": "5"}})),
        )
        .await
        .unwrap();
    assert_eq!(ok.data.unwrap()["a"], "5");
    // Creating twice: AlreadyExists.
    let err = api.create(&PostParams::default(), &created).await.unwrap_err();
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists"),
        "{err:?}"
    );
    // A no-op write keeps the resourceVersion.
    let cur = api.get("c").await.unwrap();
    let same = api
        .patch(
            "c",
            &PatchParams::default(),
            &Patch::Merge(&json!({"data": {"a": "5"}})),
        )
        .await
        .unwrap();
    assert_eq!(same.metadata.resource_version, cur.metadata.resource_version);
}

#[tokio::test]
async fn status_and_spec_are_separate_and_the_controller_patch_works() {
    let (_s, client) = start().await;
    let api: Api<Service> = Api::namespaced(client, "default");
    let created = api.create(&PostParams::default(), &svc("web")).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // The controller's write: merge patch on /status with resourceVersion, ingress + annotation together.
    let patch = json!({
        "metadata": {"resourceVersion": created.metadata.resource_version, "annotations": {"ferrolb.io/ip-allocated-from-pool": "default"}},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.100"}]}},
        "spec": {"type": "ClusterIP"}
    });
    let after = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        after.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .ip
            .as_deref(),
        Some("192.0.2.100")
    );
    assert_eq!(
        after.metadata.annotations.unwrap()["ferrolb.io/ip-allocated-from-pool"],
        "default"
    );
    assert_eq!(
        after.spec.as_ref().unwrap().type_.as_deref(),
        Some("LoadBalancer"),
        "spec changes through /status are dropped"
    );
    assert_eq!(after.metadata.generation, Some(1));
    // The same patch again is stale.
    let err = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 409);
    // Main-resource writes ignore status and bump generation on spec changes.
    let p = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.200"}]}}, "spec": {"externalTrafficPolicy": "Local"}});
    let main = api
        .patch("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(
        main.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .ip
            .as_deref(),
        Some("192.0.2.100")
    );
    assert_eq!(main.metadata.generation, Some(2));
    assert!(
        main.spec.unwrap().health_check_node_port.is_some(),
        "Local traffic policy allocates a health check node port"
    );
    // Status validation: ingress IPs must be IPs; ipMode is unknown to a 1.28 server (dropped with a warning).
    let bad = json!({"status": {"loadBalancer": {"ingress": [{"ip": "not-an-ip"}]}}});
    let err = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&bad))
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 422);
    let with_mode =
        json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.100", "ipMode": "VIP"}]}}});
    let got = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&with_mode))
        .await
        .unwrap();
    assert_eq!(
        got.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0].ip_mode,
        None
    );
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..Default::default()
    };
    let err = api
        .patch_status("web", &strict, &Patch::Merge(&with_mode))
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 400);
}

#[tokio::test]
async fn ip_mode_is_defaulted_and_validated_on_newer_servers() {
    let (_s, client) = common::start_with(ferrolb_apiserver::ServerConfig {
        version_minor: 30,
        ..Default::default()
    })
    .await;
    let api: Api<Service> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &svc("web")).await.unwrap();
    let p = json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.100"}]}}});
    let got = api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    assert_eq!(
        got.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .ip_mode
            .as_deref(),
        Some("VIP")
    );
    let p = json!({"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example", "ipMode": "Proxy"}]}}});
    assert_eq!(
        status_code(
            &api.patch_status("web", &PatchParams::default(), &Patch::Merge(&p))
                .await
                .unwrap_err()
        ),
        422
    );
}

#[tokio::test]
async fn leases_need_a_resource_version_to_replace() {
    let (_s, client) = start().await;
    let api: Api<Lease> = Api::namespaced(client, "default");
    let lease: Lease = serde_json::from_value(json!({"metadata": {"name": "ferrolb-controller"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}}))
    .unwrap();
    let l1 = api.create(&PostParams::default(), &lease).await.unwrap();
    let mut take = l1.clone();
    take.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let l2 = api
        .replace("ferrolb-controller", &PostParams::default(), &take)
        .await
        .unwrap();
    assert_eq!(l2.spec.unwrap().holder_identity.as_deref(), Some("b"));
    let err = api
        .replace("ferrolb-controller", &PostParams::default(), &take)
        .await
        .unwrap_err();
    assert_eq!(
        status_code(&err),
        409,
        "the other candidate's stale replace loses"
    );
    take.metadata.resource_version = None;
    let err = api
        .replace("ferrolb-controller", &PostParams::default(), &take)
        .await
        .unwrap_err();
    assert_eq!(
        status_code(&err),
        422,
        "leases do not allow unconditional updates"
    );
}

#[tokio::test]
async fn recorder_events_are_visible_in_both_event_apis() {
    let (_s, client) = start().await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let s = svcs.create(&PostParams::default(), &svc("web")).await.unwrap();
    let reporter = Reporter {
        controller: "ferrolb-controller".into(),
        instance: Some("pod-1".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        name: s.metadata.name.clone(),
        namespace: s.metadata.namespace.clone(),
        uid: s.metadata.uid.clone(),
        ..Default::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "IPAllocated".into(),
        note: Some("Assigned IP 192.0.2.100".into()),
        action: "Assign".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    recorder.publish(&ev, &reference).await.unwrap();
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), "default");
    let list = core
        .list(&ListParams::default().fields("involvedObject.name=web"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1, "the second publish patches the series");
    let e = &list.items[0];
    assert_eq!(e.message.as_deref(), Some("Assigned IP 192.0.2.100"));
    assert_eq!(e.reporting_component.as_deref(), Some("ferrolb-controller"));
    let v1: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client, "default");
    let e = v1.get(e.metadata.name.as_deref().unwrap()).await.unwrap();
    assert_eq!(e.series.unwrap().count, 2);
    assert_eq!(e.regarding.unwrap().name.as_deref(), Some("web"));
}

#[tokio::test]
async fn finalizers_defer_deletion_and_namespaces_terminate() {
    let (_s, client) = start().await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "t1"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "t1");
    let held: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["ferrolb.io/test"]}}))
            .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(status_code(&cms.get("held").await.unwrap_err()), 404);

    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "inside"}})).unwrap(),
    )
    .await
    .unwrap();
    nss.delete("t1", &DeleteParams::default()).await.unwrap();
    let terminating = nss.get("t1").await.unwrap();
    assert_eq!(terminating.status.unwrap().phase.as_deref(), Some("Terminating"));
    let err = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 403);
    eventually(5, "namespace purge", || async {
        nss.get_opt("t1").await.unwrap().is_none().then_some(())
    })
    .await;
    assert_eq!(status_code(&cms.get("inside").await.unwrap_err()), 404);
    let err = Api::<ConfigMap>::namespaced(client, "nope")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 404);
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5,
                 "containers": [{"name": "c", "image": "example.com/c:1"}]}}))
    .unwrap()
}

#[tokio::test]
async fn pods_are_deleted_gracefully() {
    let (_s, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let created = pods
        .create(&PostParams::default(), &pod("p", Some("node1")))
        .await
        .unwrap();
    let rv0 = created.metadata.resource_version.clone().unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Pending"));
    let mut events = pods
        .watch(&WatchParams::default().fields("metadata.name=p"), &rv0)
        .await
        .unwrap()
        .boxed();

    // DELETE without a grace period: the pod's own (5 s); kept, marked, MODIFIED.
    let before = std::time::SystemTime::now();
    let deleted = pods.delete("p", &DeleteParams::default()).await.unwrap();
    let marked = deleted.left().expect("the pod, not a Status");
    let m = &marked.metadata;
    assert_eq!(m.deletion_grace_period_seconds, Some(5));
    let at = std::time::SystemTime::from(m.deletion_timestamp.clone().unwrap().0);
    let ahead = at.duration_since(before).unwrap_or_default().as_secs_f64();
    assert!(
        (3.0..=6.0).contains(&ahead),
        "deletionTimestamp {ahead} s ahead, want now + 5 s"
    );
    assert_ne!(m.resource_version.as_deref(), Some(rv0.as_str()));
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Modified(p)) => assert!(p.metadata.deletion_timestamp.is_some()),
        other => panic!("want MODIFIED, got {other:?}"),
    }
    assert!(pods.get("p").await.unwrap().metadata.deletion_timestamp.is_some());

    // Again without a shorter period: nothing changes. A longer one neither.
    let rv1 = m.resource_version.clone();
    for dp in [DeleteParams::default(), DeleteParams::default().grace_period(30)] {
        let again = pods.delete("p", &dp).await.unwrap().left().unwrap();
        assert_eq!(again.metadata.resource_version, rv1);
        assert_eq!(again.metadata.deletion_grace_period_seconds, Some(5));
    }
    // A shorter period moves the deletionTimestamp earlier.
    let shorter = pods
        .delete("p", &DeleteParams::default().grace_period(1))
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(shorter.metadata.deletion_grace_period_seconds, Some(1));
    assert!(shorter.metadata.deletion_timestamp.unwrap().0 < m.deletion_timestamp.clone().unwrap().0);
    assert!(matches!(
        events.try_next().await.unwrap(),
        Some(WatchEvent::Modified(_))
    ));
    // The kubelet's final DELETE (grace period 0) removes it.
    pods.delete("p", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(status_code(&pods.get("p").await.unwrap_err()), 404);
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Deleted(p)) => assert_eq!(p.metadata.name.as_deref(), Some("p")),
        other => panic!("want DELETED, got {other:?}"),
    }

    // gracePeriodSeconds=0 at once; a pod not bound to a node goes at once too.
    pods.create(&PostParams::default(), &pod("now", Some("node1")))
        .await
        .unwrap();
    pods.delete("now", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert_eq!(status_code(&pods.get("now").await.unwrap_err()), 404);
    pods.create(&PostParams::default(), &pod("unbound", None))
        .await
        .unwrap();
    pods.delete("unbound", &DeleteParams::default()).await.unwrap();
    assert_eq!(status_code(&pods.get("unbound").await.unwrap_err()), 404);

    // A pod needs containers with images.
    let bad: Pod =
        serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {"containers": [{"name": "c"}]}}))
            .unwrap();
    assert_eq!(
        status_code(&pods.create(&PostParams::default(), &bad).await.unwrap_err()),
        422
    );
}

#[tokio::test]
async fn generate_name_dry_run_and_strict_validation() {
    let (s, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let generated: ConfigMap = serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
    let made = api.create(&PostParams::default(), &generated).await.unwrap();
    let name = made.metadata.name.unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(
        &dry,
        &serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap(),
    )
    .await
    .unwrap();
    assert!(api.get_opt("dry").await.unwrap().is_none());
    let bad = json!({"metadata": {"name": "Bad_Name"}});
    let err = api
        .create(&PostParams::default(), &serde_json::from_value(bad).unwrap())
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 422);
    // Unknown fields: Strict rejects, Warn (default) drops.
    let p = json!({"data": {"a": "1"}, "bogus": true});
    let strict = PatchParams {
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..Default::default()
    };
    assert_eq!(
        status_code(&api.patch(&name, &strict, &Patch::Merge(&p)).await.unwrap_err()),
        400
    );
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    let raw = s.get("", "v1", "configmaps", "default", &name).unwrap();
    assert!(raw.get("bogus").is_none());
}

#[tokio::test]
async fn server_side_apply_with_one_manager() {
    let (_s, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let pp = PatchParams::apply("ferrolb-test");
    let cfg = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "1", "b": "2"}});
    let first = api.patch("ssa", &pp, &Patch::Apply(&cfg)).await.unwrap();
    assert_eq!(first.data.as_ref().unwrap().len(), 2);
    let mf = first.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("ferrolb-test"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    let cfg =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "9"}});
    let second = api.patch("ssa", &pp, &Patch::Apply(&cfg)).await.unwrap();
    assert_eq!(second.data.unwrap(), [("a".to_owned(), "9".to_owned())].into());
    let other = PatchParams::apply("someone-else");
    let clash =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}, "data": {"a": "0"}});
    assert_eq!(
        status_code(&api.patch("ssa", &other, &Patch::Apply(&clash)).await.unwrap_err()),
        409
    );
    let forced = api
        .patch("ssa", &other.force(), &Patch::Apply(&clash))
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["a"], "0");
}

#[tokio::test]
async fn audit_records_users_verbs_and_resources() {
    let (s, admin) = start().await;
    let user = "system:serviceaccount:ferrolb-system:ferrolb-controller";
    let client = s.client(user).await.unwrap();
    let api: Api<Service> = Api::namespaced(admin, "default");
    let created = api.create(&PostParams::default(), &svc("web")).await.unwrap();
    let as_ctrl: Api<Service> = Api::all(client.clone());
    as_ctrl.list(&ListParams::default()).await.unwrap();
    let ns_api: Api<Service> = Api::namespaced(client, "default");
    let p = json!({"metadata": {"resourceVersion": created.metadata.resource_version}, "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}});
    ns_api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap();
    ns_api
        .patch_status("web", &PatchParams::default(), &Patch::Merge(&p))
        .await
        .unwrap_err();
    let mine: Vec<_> = s
        .audit()
        .entries()
        .into_iter()
        .filter(|e| e.user == user)
        .collect();
    let summary: Vec<(String, String, String, String, u16)> = mine
        .iter()
        .map(|e| {
            (
                e.verb.clone(),
                e.rbac_resource(),
                e.namespace.clone(),
                e.name.clone(),
                e.code,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("list".into(), "services".into(), "".into(), "".into(), 200),
            (
                "patch".into(),
                "services/status".into(),
                "default".into(),
                "web".into(),
                200
            ),
            (
                "patch".into(),
                "services/status".into(),
                "default".into(),
                "web".into(),
                409
            ),
        ]
    );
    assert_eq!(s.audit().count(|e| e.user == "admin" && e.verb == "create"), 1);
    // A wrong token is refused and audited as such.
    let mut cfg = s.client_config("admin").await.unwrap();
    cfg.auth_info.token = Some("wrong".to_owned().into());
    let bad = kube::Client::try_from(cfg).unwrap();
    let err = Api::<Service>::all(bad)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), 401);
}
