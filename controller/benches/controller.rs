//! Controller benchmark: prints the figures docs/performance.md quotes.
//!
//! `cargo bench -p ferrolb-controller --bench controller` runs the embedded API server in this process and the
//! real `ferrolb-controller` binary as a child (release build, default flags), in two scenarios:
//! - **live**: the controller runs; 10,000 IPv6 LoadBalancer Services are created at once (16 concurrent
//!   clients over HTTP). It measures the time until every one has its status, the status writes the API server
//!   served (its audit log; the goal is exactly one per Service) and the controller's peak RSS (`VmHWM` of the
//!   child); then one more Service (exactly one more write); then a restart (SIGTERM, a new process): the time
//!   until it serves again, the writes issued (only the new Service's) and the new process's peak RSS.
//! - **cold start**: 10,000 pending Services exist when the controller starts: the time until all have status,
//!   the writes, the peak RSS.
//!
//! `SERVICES=n` changes the count; `FERROLB_BENCH_WRAPPER="valgrind --tool=massif"` profiles the controller.
//! Under `cargo test --benches` (no `--bench` argument) it runs a small smoke pass (300 Services) with the
//! same checks.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, PostParams};
use serde_json::json;

const CLIENTS: usize = 16;
const NS: &str = "bench";
/// The install's CRDs (the configuration is written as metallb.io resources, as MetalLB >= v0.13 reads it).
const FERROLB_YAML: &str = include_str!("../../deploy/ferrolb.yaml");

/// `VmHWM` (peak) and `VmRSS` of a process, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A controller child process, killed (by PID) if still running when dropped.
struct Controller(Child);

impl Controller {
    /// Starts the controller; `FERROLB_BENCH_WRAPPER` (e.g. `valgrind --tool=massif`) runs it under a profiler.
    fn start(kubeconfig: &std::path::Path, metrics: SocketAddr) -> Self {
        let binary = env!("CARGO_BIN_EXE_ferrolb-controller");
        let wrapper = std::env::var("FERROLB_BENCH_WRAPPER").unwrap_or_default();
        let mut argv: Vec<&str> = wrapper.split_whitespace().collect();
        argv.push(binary);
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .args(["--kubeconfig", kubeconfig.to_str().expect("utf-8 path")])
            .args(["--metrics-addr", &metrics.to_string(), "--log-level", "warn"])
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferrolb-controller");
        Self(child)
    }

    /// SIGTERM, then wait (at most 20 s) for a clean exit.
    fn terminate(&mut self) {
        let pid = self.0.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                assert!(status.success(), "controller exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the controller did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `GET path`: the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(addr).await.ok()?;
    c.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    c.read_to_string(&mut raw).await.ok()?;
    let code = raw.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        code,
        raw.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    ))
}

async fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).await.map(|(code, _)| code)
}

/// Events created and dropped so far, from the controller's `/metrics`.
async fn events(addr: SocketAddr) -> (u64, u64) {
    let body = http_get(addr, "/metrics")
        .await
        .map(|(_, b)| b)
        .unwrap_or_default();
    let counter = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    };
    (
        counter("ferrolb_controller_events_published_total"),
        counter("ferrolb_controller_events_dropped_total"),
    )
}

/// Services in the bench namespace that have an ingress IP (read from the store directly).
fn served(server: &ServerHandle) -> usize {
    server
        .store()
        .objects("services", Some(NS))
        .iter()
        .filter(|s| s["status"]["loadBalancer"]["ingress"][0]["ip"].is_string())
        .count()
}

/// Status writes served so far, once at least `n` are counted: the API server records a request in its audit
/// log just after committing it, so a Service can show its status a moment before its write is counted.
async fn status_writes_at_least(server: &ServerHandle, n: usize) -> usize {
    wait("the audit log", Duration::from_secs(10), || {
        status_writes(server) >= n
    })
    .await;
    status_writes(server)
}

/// `IPAddressPool` status writes served so far (the pool's usage, written at most every 2 s).
fn pool_status_writes(server: &ServerHandle) -> usize {
    server.audit().count(|e| {
        e.resource_request
            && e.rbac_resource() == "ipaddresspools/status"
            && matches!(e.verb.as_str(), "patch" | "update")
    })
}

fn status_writes(server: &ServerHandle) -> usize {
    server.audit().count(|e| {
        e.resource_request
            && e.rbac_resource() == "services/status"
            && matches!(e.verb.as_str(), "patch" | "update")
    })
}

/// The pool's status writes once its status shows `n` assigned addresses (the writer's pace: one pass every
/// 2 s, so a handful of writes whatever `n`).
async fn settled_pool_writes(server: &ServerHandle, n: usize) -> usize {
    let assigned = || {
        server
            .store()
            .objects("ipaddresspools.metallb.io", Some("ferrolb-system"))
            .first()
            .map(|p| p["status"]["assignedIPv6"].clone())
            .unwrap_or_default()
            .as_u64()
            == Some(n as u64)
    };
    wait(
        "the IPAddressPool's status to show every Service",
        LIMIT,
        assigned,
    )
    .await;
    let writes = pool_status_writes(server);
    assert!(writes >= 1, "the pool's status was never written");
    writes
}

async fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    t0.elapsed()
}

fn service(name: &str) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
        "type": "LoadBalancer", "allocateLoadBalancerNodePorts": false,
        "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"],
        "selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}}))
    .expect("service")
}

/// The API server with ferrolb's namespace, the config, a kubeconfig file and a metrics address.
struct Bench {
    server: ServerHandle,
    api: Api<Service>,
    dir: std::path::PathBuf,
    kubeconfig: std::path::PathBuf,
    metrics: SocketAddr,
}

impl Bench {
    async fn new(tag: &str) -> Self {
        let config = ServerConfig {
            crds: ferrolb_apiserver::resources::crds_from_yaml(FERROLB_YAML).expect("CRDs"),
            ..ServerConfig::default()
        };
        let server = ApiServer::new(config)
            .expect("config")
            .bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let client = server.client(ADMIN).await.expect("client");
        for ns in ["ferrolb-system", NS] {
            let obj: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}})).expect("ns");
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &obj)
                .await
                .expect("namespace");
        }
        // One IPv6 pool (10,000 IPv4 addresses do not fit in the documentation prefixes), announced in layer2.
        let objects = [
            (
                "ipaddresspools",
                json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                "metadata": {"name": "v6", "namespace": "ferrolb-system"},
                "spec": {"addresses": ["2001:db8::/64"]}}),
            ),
            (
                "l2advertisements",
                json!({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
                "metadata": {"name": "v6", "namespace": "ferrolb-system"}, "spec": {}}),
            ),
        ];
        for (plural, obj) in objects {
            let kind = obj["kind"].as_str().expect("kind");
            let gvk = kube::core::GroupVersionKind::gvk("metallb.io", "v1beta1", kind);
            let ar = kube::core::ApiResource::from_gvk_with_plural(&gvk, plural);
            let obj: kube::api::DynamicObject = serde_json::from_value(obj).expect("object");
            Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), "ferrolb-system", &ar)
                .create(&PostParams::default(), &obj)
                .await
                .expect("configuration object");
        }
        let dir = std::env::temp_dir().join(format!("ferrolb-controller-bench-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, server.kubeconfig(ADMIN)).expect("kubeconfig");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        Self {
            server,
            api: Api::namespaced(client, NS),
            dir,
            kubeconfig,
            metrics: ([127, 0, 0, 1], port).into(),
        }
    }

    fn controller(&self) -> Controller {
        Controller::start(&self.kubeconfig, self.metrics)
    }

    async fn ready(&self) {
        let ready = async {
            while http_status(self.metrics, "/readyz").await != Some(200) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ready)
            .await
            .expect("the controller became ready");
    }

    /// Creates Services `prefix-00000`… with 16 concurrent clients.
    async fn create(&self, prefix: &str, n: usize) {
        futures::stream::iter(0..n)
            .map(|i| {
                let api = self.api.clone();
                async move {
                    api.create(&PostParams::default(), &service(&format!("{prefix}-{i:05}")))
                        .await
                        .map(|_| ())
                }
            })
            .buffer_unordered(CLIENTS)
            .try_collect::<()>()
            .await
            .expect("created");
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const LIMIT: Duration = Duration::from_secs(300);

/// The controller runs; N Services are created at once; then one more; then a restart.
async fn live(n: usize) {
    let b = Bench::new("live").await;
    let mut ctrl = b.controller();
    b.ready().await;
    let (idle_hwm, _) = memory(ctrl.0.id());

    let t0 = Instant::now();
    b.create("svc", n).await;
    let created = t0.elapsed();
    wait("every Service to have its status", LIMIT, || {
        served(&b.server) == n
    })
    .await;
    let all_served = t0.elapsed();
    let writes = status_writes_at_least(&b.server, n).await;
    let (hwm, rss) = memory(ctrl.0.id());
    let (published, dropped) = events(b.metrics).await;
    let pool_writes = settled_pool_writes(&b.server, n).await;

    // Steady state: one more Service, one more write.
    b.api
        .create(&PostParams::default(), &service("steady"))
        .await
        .expect("create");
    wait("the steady-state Service", LIMIT, || served(&b.server) == n + 1).await;
    let steady_writes = status_writes_at_least(&b.server, writes + 1).await - writes;

    // Restart: SIGTERM, a new process, a new Service.
    ctrl.terminate();
    let logs = ctrl.stderr();
    let before_restart = status_writes(&b.server);
    let t1 = Instant::now();
    let mut ctrl = b.controller();
    b.api
        .create(&PostParams::default(), &service("after-restart"))
        .await
        .expect("create");
    wait("the restarted controller to serve", LIMIT, || {
        served(&b.server) == n + 2
    })
    .await;
    let restart = t1.elapsed();
    let restart_writes = status_writes_at_least(&b.server, before_restart + 1).await - before_restart;
    let (restart_hwm, _) = memory(ctrl.0.id());
    ctrl.terminate();

    println!("live: the controller runs, {n} Services are created at once by {CLIENTS} clients");
    println!("  creating them took                          {created:>10.2?}");
    println!("  until all have status (from first create)   {all_served:>10.2?}");
    println!(
        "  status writes                               {writes:>10} ({:.3} per Service)",
        writes as f64 / n as f64
    );
    println!(
        "  controller peak RSS (VmHWM), idle           {:>10}",
        mib(idle_hwm)
    );
    println!("  controller peak RSS (VmHWM), {n} Services {:>10}", mib(hwm));
    println!("  controller RSS now (VmRSS)                  {:>10}", mib(rss));
    println!("  Events created / dropped by then            {published:>10} / {dropped}");
    println!("  IPAddressPool status writes (until settled) {pool_writes:>10}");
    println!("  steady state: writes for one more Service   {steady_writes:>10}");
    println!("  restart: start until a new Service served   {restart:>10.2?}");
    println!("  restart: status writes                      {restart_writes:>10}");
    println!(
        "  restart: controller peak RSS (VmHWM)        {:>10}",
        mib(restart_hwm)
    );
    if !logs.trim().is_empty() {
        println!("  controller log (warnings):\n{logs}");
    }
    assert_eq!(writes, n, "exactly one status write per Service");
    assert_eq!(steady_writes, 1, "steady state writes only the new Service");
    assert_eq!(restart_writes, 1, "a restart rewrites nothing");
}

/// N Services exist, pending; the controller starts.
async fn cold(n: usize) {
    let b = Bench::new("cold").await;
    b.create("svc", n).await;
    let t0 = Instant::now();
    let mut ctrl = b.controller();
    wait("every Service to have its status", LIMIT, || {
        served(&b.server) == n
    })
    .await;
    let all_served = t0.elapsed();
    let writes = status_writes_at_least(&b.server, n).await;
    let (hwm, rss) = memory(ctrl.0.id());
    let (published, dropped) = events(b.metrics).await;
    let pool_writes = settled_pool_writes(&b.server, n).await;
    ctrl.terminate();
    println!("cold start: {n} pending Services exist, the controller starts");
    println!("  IPAddressPool status writes (until settled) {pool_writes:>10}");
    println!("  until all have status (from process start)  {all_served:>10.2?}");
    println!(
        "  status writes                               {writes:>10} ({:.3} per Service)",
        writes as f64 / n as f64
    );
    println!("  controller peak RSS (VmHWM)                 {:>10}", mib(hwm));
    println!("  controller RSS now (VmRSS)                  {:>10}", mib(rss));
    println!("  Events created / dropped by then            {published:>10} / {dropped}");
    assert_eq!(writes, n, "exactly one status write per Service");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("SERVICES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 10_000 } else { 300 });
    println!(
        "ferrolb controller benchmark ({}): {n} Services",
        if full {
            "full"
        } else {
            "smoke: run with `cargo bench`"
        }
    );
    live(n).await;
    cold(n).await;
}
