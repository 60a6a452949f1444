//! Server throughput and watch latency for the controller benchmark's shape: 10,000 LoadBalancer Services
//! created at once by concurrent clients, then one resourceVersion-conditioned status merge patch each,
//! with a watcher measuring how long each status change takes to arrive. Prints numbers; run with
//! `cargo bench -p ferrolb-apiserver` (SERVICES=n to change the count). The Services do not allocate node
//! ports: 10,000 would not fit in 30000–32767, on a real cluster either.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;

const CLIENTS: usize = 16;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::var("SERVICES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let server = ApiServer::new(ServerConfig::default())
        .expect("config")
        .bind("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind");
    let client = server.client(ADMIN).await.expect("client");
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let start_rv = server.store().resource_version().to_string();

    // The watcher records when each service's status change arrives.
    let watch_api = api.clone();
    let watcher = tokio::spawn(async move {
        let mut s = watch_api
            .watch(&WatchParams::default().timeout(290), &start_rv)
            .await
            .expect("watch")
            .boxed();
        let mut arrived: HashMap<String, Instant> = HashMap::new();
        while arrived.len() < n {
            let Some(ev) = s.try_next().await.expect("watch stream") else {
                break;
            };
            if let WatchEvent::Modified(svc) = ev
                && svc
                    .status
                    .and_then(|st| st.load_balancer)
                    .and_then(|lb| lb.ingress)
                    .is_some()
            {
                arrived.insert(svc.metadata.name.unwrap(), Instant::now());
            }
        }
        arrived
    });

    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in (c..n).step_by(CLIENTS) {
                let svc: Service = serde_json::from_value(json!({"metadata": {"name": format!("svc-{i}")},
                    "spec": {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "selector": {"app": format!("a{i}")}, "ports": [{"name": "http", "port": 80}]}}))
                .unwrap();
                let created = api.create(&PostParams::default(), &svc).await.expect("create");
                out.push((i, created.metadata.resource_version.unwrap()));
            }
            out
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.extend(t.await.unwrap());
    }
    let create_time = t0.elapsed();

    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for chunk in created.chunks(n.div_ceil(CLIENTS)).map(<[_]>::to_vec) {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for (i, rv) in chunk {
                let ip = format!("198.51.100.{}", i % 250 + 1);
                let p = json!({"metadata": {"resourceVersion": rv, "annotations": {"ferrolb.io/ip-allocated-from-pool": "bench"}},
                               "status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
                let at = Instant::now();
                api.patch_status(&format!("svc-{i}"), &PatchParams::default(), &Patch::Merge(&p)).await.expect("status patch");
                sent.push((format!("svc-{i}"), at));
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    let patch_time = t1.elapsed();
    let arrived = tokio::time::timeout(Duration::from_secs(120), watcher)
        .await
        .expect("watcher finished")
        .unwrap();
    let mut lat: Vec<Duration> = sent
        .iter()
        .filter_map(|(name, at)| arrived.get(name).map(|t| t.saturating_duration_since(*at)))
        .collect();
    lat.sort();
    println!("services: {n}, clients: {CLIENTS}");
    println!(
        "create: {:.2}s ({:.0}/s)",
        create_time.as_secs_f64(),
        n as f64 / create_time.as_secs_f64()
    );
    println!(
        "status patch: {:.2}s ({:.0}/s)",
        patch_time.as_secs_f64(),
        n as f64 / patch_time.as_secs_f64()
    );
    println!(
        "patch sent -> watch event: p50 {:?} p99 {:?} max {:?} ({} of {n} seen)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default(),
        lat.len()
    );
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    println!("process RSS after the run (server, clients and watch history): {rss} kB");
    server.shutdown().await;
}
