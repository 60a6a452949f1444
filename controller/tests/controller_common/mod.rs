//! Shared helpers for the controller's tests against the embedded API server (real HTTP, real kube client):
//! a lab with the server and ferrolb's namespace, in-process controllers that can be stopped gracefully or
//! killed, Service builders, and polling with deadlines.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use ferrolb_controller::leader::Timings;
use ferrolb_controller::{Config, MetricsListen};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Service};
use kube::api::{Api, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Namespace of ferrolb's objects.
pub const SYSTEM: &str = "ferrolb-system";
/// Namespace of the test Services.
pub const APPS: &str = "apps";
/// The annotation the controller writes.
pub const FROM_POOL: &str = "ferrolb.io/ip-allocated-from-pool";

/// Short election timings for tests: takeover after a release within ~0.1 s, after a crash within ~1 s.
pub fn fast_timings() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(1),
        renew_deadline: Duration::from_millis(700),
        retry_period: Duration::from_millis(100),
    }
}

/// The embedded API server with namespaces `ferrolb-system` and `apps`.
pub struct Lab {
    pub server: ServerHandle,
    pub client: kube::Client,
}

impl Lab {
    pub async fn start() -> Self {
        // Logs of the in-process controllers, shown for failing tests (`RUST_LOG` to tune).
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ferrolb_controller=info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
        let config = ServerConfig {
            bookmark_interval: Duration::from_millis(500),
            crds: ferrolb_apiserver::resources::crds_from_yaml(include_str!(
                "../../../deploy/kustomize/crds.yaml"
            ))
            .expect("the install's CRDs"),
            ..ServerConfig::default()
        };
        let server = ApiServer::new(config).expect("server config");
        let server = server
            .bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let client = server.client(ADMIN).await.expect("client");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        for ns in [SYSTEM, APPS] {
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
        }
        Self { server, client }
    }

    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), APPS)
    }

    /// Creates or replaces the ConfigMap `config` with `text`.
    pub async fn set_config(&self, text: &str) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), SYSTEM);
        let patch = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config"},
                           "data": {"config": text}});
        api.patch(
            "config",
            &PatchParams::apply("test").force(),
            &Patch::Apply(&patch),
        )
        .await
        .expect("config map");
    }

    /// A controller configuration against this server with fast timings.
    pub async fn config(&self, identity: &str) -> Config {
        let client = self.server.client(ADMIN).await.expect("client");
        Config {
            timings: fast_timings(),
            identity: identity.into(),
            metrics: MetricsListen::Off,
            ..Config::new(client)
        }
    }

    /// Starts a controller in-process.
    pub async fn controller(&self, identity: &str) -> Controller {
        Controller::spawn(self.config(identity).await)
    }

    /// Creates a Service in `apps` (see [`create_service`]).
    pub async fn create(&self, name: &str, annotations: &[(&str, &str)], spec: Value) -> Service {
        create_service(&self.client, name, annotations, spec).await
    }

    /// The ingress IPs of Service `name` in `apps` (empty if none or gone).
    pub async fn ips(&self, name: &str) -> Vec<IpAddr> {
        match self.services().get_opt(name).await.expect("get") {
            Some(s) => ingress_ips(&s),
            None => Vec::new(),
        }
    }

    /// Waits until Service `name` has `n` ingress IPs; returns them.
    pub async fn wait_ips(&self, name: &str, n: usize) -> Vec<IpAddr> {
        eventually(20, &format!("{name} to have {n} IPs"), || async {
            let ips = self.ips(name).await;
            (ips.len() == n).then_some(ips)
        })
        .await
    }

    /// Events in `namespace` about object `name`, as `(reason, message)`.
    pub async fn events(&self, namespace: &str, name: &str) -> Vec<(String, String)> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
        api.list(&lp)
            .await
            .expect("events")
            .items
            .into_iter()
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect()
    }

    /// Waits for an Event with `reason` on `namespace/name` whose message contains `needle`.
    pub async fn wait_event(&self, namespace: &str, name: &str, reason: &str, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.events(namespace, name).await;
            if let Some((_, m)) = seen.iter().find(|(r, m)| r == reason && m.contains(needle)) {
                return m.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for a {reason} event on {name} containing {needle:?}; seen: {seen:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The Lease holder, if any.
    pub async fn lease_holder(&self, name: &str) -> Option<String> {
        let api: Api<Lease> = Api::namespaced(self.client.clone(), SYSTEM);
        api.get_opt(name)
            .await
            .expect("lease")
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }

    /// Status writes of Service `name` served so far.
    pub fn status_writes_of(&self, name: &str) -> usize {
        self.server.audit().count(|e| {
            e.resource_request
                && e.rbac_resource() == "services/status"
                && e.name == name
                && matches!(e.verb.as_str(), "patch" | "update")
        })
    }

    /// Waits until the audit log shows at least `n` status writes, then returns the count. (The API server
    /// records a request after committing it, so a reader can see an object before its write is counted.)
    pub async fn status_writes_at_least(&self, n: usize) -> usize {
        eventually(10, &format!("{n} status writes in the audit log"), || async {
            let c = self.status_writes();
            (c >= n).then_some(c)
        })
        .await
    }

    /// Number of status writes (PATCH/PUT of services/status) the API server has served so far.
    pub fn status_writes(&self) -> usize {
        self.server.audit().count(|e| {
            e.resource_request
                && e.rbac_resource() == "services/status"
                && matches!(e.verb.as_str(), "patch" | "update")
        })
    }
}

/// Creates a Service in `apps` from a JSON spec (`type: LoadBalancer` and one TCP port unless given).
pub async fn create_service(
    client: &kube::Client,
    name: &str,
    annotations: &[(&str, &str)],
    spec: Value,
) -> Service {
    let mut s = json!({"type": "LoadBalancer", "ports": [{"port": 80}]});
    if let (Some(base), Some(extra)) = (s.as_object_mut(), spec.as_object()) {
        for (k, v) in extra {
            base.insert(k.clone(), v.clone());
        }
    }
    let ann: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    let obj = json!({"metadata": {"name": name, "annotations": ann}, "spec": s});
    Api::<Service>::namespaced(client.clone(), APPS)
        .create(
            &PostParams::default(),
            &serde_json::from_value(obj).expect("service"),
        )
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e}"))
}

/// The ingress IPs of a Service.
pub fn ingress_ips(s: &Service) -> Vec<IpAddr> {
    s.status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.as_deref()?.parse().ok())
        .collect()
}

/// An in-process controller: `run(config, shutdown)` on its own task.
pub struct Controller {
    pub identity: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Controller {
    pub fn spawn(config: Config) -> Self {
        let identity = config.identity.clone();
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ferrolb_controller::run(config, async {
                let _ = rx.await;
            })
            .await
            .expect("controller runs");
        });
        Self {
            identity,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Graceful stop (SIGTERM): stops acting, waits for its writes, releases the Lease.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            within(10, "the controller to stop", t)
                .await
                .expect("controller task");
        }
    }

    /// Crash (SIGKILL): every task is dropped at once, nothing is released.
    pub async fn kill(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `fut` with a deadline.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s: {what}"))
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// `GET path` over HTTP/1.0: the status code and the body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    conn.write_all(req.as_bytes()).await.expect("request");
    let mut raw = String::new();
    within(10, "the HTTP response", conn.read_to_string(&mut raw))
        .await
        .expect("response");
    let code = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// The value of one metric line (`name{labels}` exactly as exported), if present.
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let p = std::env::temp_dir().join(format!("ferrolb-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
