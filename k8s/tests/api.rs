//! The shared Kubernetes layer against the embedded API server (real HTTP, real `kube` client): watches
//! feeding a cache, status writes conditioned on the resourceVersion, Events written as `events.k8s.io/v1`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig};
use ferrolb_k8s::events::Reporter;
use ferrolb_k8s::status::Limits;
use ferrolb_k8s::watch::{self, WatchSpec};
use ferrolb_k8s::{
    Cache, EventMetrics, EventPublisher, EventRecord, Reason, Regarding, StatusWriter, WatchEvent,
    WatchMetrics, WriteOutcome,
};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, PostParams};
use tokio::sync::mpsc;

async fn server() -> (ferrolb_apiserver::ServerHandle, kube::Client) {
    let handle = ApiServer::new(ServerConfig::default())
        .expect("config")
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let client = handle.client(ADMIN).await.expect("client");
    (handle, client)
}

fn service(name: &str) -> Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]},
    }))
    .expect("service")
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test]
async fn a_watch_feeds_a_cache_with_projected_objects() {
    let (_server, client) = server().await;
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &service("a"))
        .await
        .expect("create a");
    let (tx, mut rx) = mpsc::channel(16);
    let metrics = WatchMetrics::default();
    // keep the test's Services (labelled app, but not "ignored"), projected to their type
    let _task = watch::spawn(
        WatchSpec::new("services", api.clone()).labels("app,app!=ignored"),
        |s: Service| {
            let name = s.metadata.name.clone().unwrap_or_default();
            let kept = s.spec.and_then(|sp| sp.type_).filter(|_| name != "b-ignored");
            (name, kept)
        },
        |ev| ev,
        tx,
        metrics.clone(),
    );
    let mut cache: Cache<String, String> = Cache::default();
    while !cache.synced() {
        let ev = within("the first list", rx.recv()).await.expect("event");
        cache.handle(ev);
    }
    assert_eq!(
        cache.get(&"a".to_owned()).map(String::as_str),
        Some("LoadBalancer")
    );
    api.create(&PostParams::default(), &service("ignored"))
        .await
        .expect("create");
    api.create(&PostParams::default(), &service("b-ignored"))
        .await
        .expect("create");
    api.create(&PostParams::default(), &service("b"))
        .await
        .expect("create b");
    loop {
        let ev = within("b", rx.recv()).await.expect("event");
        let changes = cache.handle(ev);
        if changes.iter().any(|c| c.key == "b") {
            break;
        }
    }
    assert_eq!(
        cache.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "filtered by the label selector, or not kept by the projection"
    );
    api.delete("a", &Default::default()).await.expect("delete");
    loop {
        let ev = within("a's deletion", rx.recv()).await.expect("event");
        if matches!(ev, WatchEvent::Delete(_)) {
            cache.handle(ev);
            break;
        }
        cache.handle(ev);
    }
    assert!(cache.get(&"a".to_owned()).is_none());
    assert_eq!(
        metrics
            .errors
            .get_or_create(&watch::ResourceLabel { resource: "services" })
            .get(),
        0
    );
}

#[tokio::test]
async fn status_writes_are_conditioned_on_the_resource_version_and_fenced() {
    let (_server, client) = server().await;
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &service("web"))
        .await
        .expect("create");
    let rv = created.metadata.resource_version.clone().expect("rv");
    let leading = Arc::new(AtomicBool::new(true));
    let gate = leading.clone();
    let mut writer: StatusWriter<&str, Service> = StatusWriter::new(
        Limits::default(),
        Some(Arc::new(move || gate.load(Ordering::SeqCst))),
    );
    let patch = |rv: &str, ip: &str| {
        serde_json::json!({"metadata": {"resourceVersion": rv},
            "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}})
    };
    assert!(writer.has_room(Instant::now()));
    writer.start(
        "first",
        api.clone(),
        "web".into(),
        patch(&rv, "192.0.2.10"),
        Instant::now(),
    );
    let (id, out) = within("write", writer.next_done()).await.expect("done");
    let WriteOutcome::Written(svc) = out else {
        panic!("{out:?}")
    };
    assert_eq!(id, "first");
    let ip = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .and_then(|i| i[0].ip.clone());
    assert_eq!(ip.as_deref(), Some("192.0.2.10"));
    // the same resourceVersion again: the object changed since, 409
    writer.start(
        "stale",
        api.clone(),
        "web".into(),
        patch(&rv, "192.0.2.11"),
        Instant::now(),
    );
    let (_, out) = within("stale write", writer.next_done()).await.expect("done");
    assert!(matches!(out, WriteOutcome::Conflict), "{out:?}");
    writer.start(
        "gone",
        api.clone(),
        "nope".into(),
        patch("1", "192.0.2.12"),
        Instant::now(),
    );
    let (_, out) = within("write to a missing object", writer.next_done())
        .await
        .expect("done");
    assert!(matches!(out, WriteOutcome::NotFound), "{out:?}");
    leading.store(false, Ordering::SeqCst);
    writer.start(
        "fenced",
        api.clone(),
        "web".into(),
        patch("999", "192.0.2.13"),
        Instant::now(),
    );
    let (_, out) = within("fenced write", writer.next_done()).await.expect("done");
    assert!(matches!(out, WriteOutcome::NotLeader), "{out:?}");
    assert!(within("nothing in flight", writer.next_done()).await.is_none());
}

#[derive(Debug, Clone, Copy)]
struct Allocated;

impl Reason for Allocated {
    fn as_str(self) -> &'static str {
        "IPAllocated"
    }
    fn is_warning(self) -> bool {
        false
    }
    fn action(self) -> &'static str {
        "Allocate"
    }
}

#[tokio::test]
async fn events_are_written_as_events_v1() {
    let (_server, client) = server().await;
    let metrics = EventMetrics::default();
    let reporter = Reporter {
        controller: "ferrolb-test",
        instance: "i-1".into(),
    };
    let publisher = EventPublisher::start(client.clone(), reporter, None, metrics.clone());
    publisher.publish(EventRecord {
        regarding: Regarding {
            api_version: "v1".into(),
            kind: "Service".into(),
            namespace: "default".into(),
            name: "web".into(),
            ..Regarding::default()
        },
        reason: Allocated,
        note: "Assigned IP [\"192.0.2.10\"]".into(),
    });
    let events: Api<Event> = Api::namespaced(client, "default");
    let deadline = Instant::now() + Duration::from_secs(10);
    let ev = loop {
        let list = events.list(&ListParams::default()).await.expect("list");
        if let Some(ev) = list.items.into_iter().next() {
            break ev;
        }
        assert!(Instant::now() < deadline, "no Event written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ev.reason.as_deref(), Some("IPAllocated"));
    assert_eq!(ev.reporting_controller.as_deref(), Some("ferrolb-test"));
    assert_eq!(ev.regarding.and_then(|r| r.name).as_deref(), Some("web"));
    assert_eq!(metrics.published.get(), 1);
    assert_eq!(metrics.dropped.get(), 0);
}
