//! The speaker's footprint in a big cluster: 10,000 Services, 1,000 of them LoadBalancers that this node
//! announces (layer2), and 50,000 EndpointSlices (5 per Service, 20 endpoints each on 100 nodes).
//!
//! `cargo bench -p ferrolb-speaker --bench speaker_footprint` (root; the lab's Debian packages): a one-node lab
//! with the embedded API server holding all of it before the speaker starts. The speaker lists and watches
//! everything (it cannot ask the API server for LoadBalancer Services only), keeps what the election needs, and
//! announces the 1,000 IPs. Printed: the time to all announced, then to its 1,000 `ServiceL2Status` objects
//! written, the peak RSS (`VmHWM`), and the CPU the speaker used per minute at steady state (after that), idle
//! and with 10 EndpointSlice updates per second (a rolling update
//! somewhere in the cluster). `FERROLB_FOOTPRINT_SERVICES` / `_LB` / `_SLICES_PER_SERVICE` change the counts.
//! Without `--bench` it runs a smoke pass with 200 Services (20 LoadBalancers) and 2 slices each.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::Cluster;
use ferrolb_netlab::Tool;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const CONFIG: &str = "address-pools:
- name: l2-v4
  protocol: layer2
  addresses: [203.0.113.0/24, 198.51.100.16-198.51.100.255]
- name: l2-v6
  protocol: layer2
  addresses: ['2001:db8:ff::/112']
";
/// Concurrent requests while filling the API server.
const CLIENTS: usize = 16;
/// Endpoints per slice, spread over this many (virtual) nodes.
const ENDPOINTS: usize = 20;
const NODES: usize = 100;
/// How long each steady-state CPU sample lasts.
const SAMPLE: Duration = Duration::from_secs(60);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `i`-th LoadBalancer's IP: the pool's 496 IPv4 addresses first, then IPv6 ones.
fn lb_ip(i: usize) -> IpAddr {
    let byte = |v: usize| u8::try_from(v).unwrap_or(u8::MAX);
    match i {
        0..=255 => IpAddr::V4(Ipv4Addr::new(203, 0, 113, byte(i))),
        256..=495 => IpAddr::V4(Ipv4Addr::new(198, 51, 100, byte(i - 256 + 16))),
        _ => IpAddr::V6(Ipv6Addr::new(
            0x2001,
            0xdb8,
            0xff,
            0,
            0,
            0,
            0,
            u16::try_from(i).unwrap_or(u16::MAX),
        )),
    }
}

fn service(i: usize, lb: bool) -> Value {
    let name = format!("svc{i}");
    let mut spec =
        json!({"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]});
    if lb {
        let family = if lb_ip(i).is_ipv4() { "IPv4" } else { "IPv6" };
        spec["type"] = json!("LoadBalancer");
        spec["externalTrafficPolicy"] = json!("Cluster");
        spec["ipFamilies"] = json!([family]);
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "apps"}, "spec": spec})
}

fn slice(i: usize, k: usize, lb: bool, generation: usize) -> Value {
    let endpoints: Vec<Value> = (0..ENDPOINTS)
        .map(|e| {
            // the LoadBalancers' first slice has node1 ready, so that node1 announces them
            let node = if lb && k == 0 && e == 0 {
                "node1".to_owned()
            } else {
                format!("worker{}", (i * 7 + k * 3 + e) % NODES)
            };
            json!({"addresses": [format!("10.{}.{}.{}", k, (i / 250) % 250, e + 1)], "nodeName": node,
                   "conditions": {"ready": !(e + generation).is_multiple_of(10)}, "targetRef": {"kind": "Pod",
                   "namespace": "apps", "name": format!("svc{i}-pod{k}-{e}")}})
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": format!("svc{i}-{k}"), "namespace": "apps",
                        "labels": {"kubernetes.io/service-name": format!("svc{i}"),
                                   "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
           "addressType": "IPv4", "endpoints": endpoints, "ports": [{"port": 8080, "protocol": "TCP"}]})
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // the fields after the command (which may hold spaces) start after the last ')'
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime (every thread's) are fields 14 and 15 of stat, 12 and 13 after the command
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// The kernel's clock ticks per second for /proc's times (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let services = env("FERROLB_FOOTPRINT_SERVICES", if full { 10_000 } else { 200 });
    let lbs = env("FERROLB_FOOTPRINT_LB", if full { 1_000 } else { 20 }).min(services);
    let per = env("FERROLB_FOOTPRINT_SLICES_PER_SERVICE", if full { 5 } else { 2 });
    let sample = if full { SAMPLE } else { Duration::from_secs(3) };
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(1, &[Tool::Arping], CONFIG) else {
        return;
    };

    let t0 = Instant::now();
    let client = c.client.clone();
    c.block(async move {
        let svcs: Api<Service> = Api::namespaced(client.clone(), "apps");
        let slices: Api<EndpointSlice> = Api::namespaced(client, "apps");
        let pp = PostParams::default();
        futures::stream::iter(0..services)
            .map(|i| {
                let (svcs, slices, pp) = (svcs.clone(), slices.clone(), pp.clone());
                async move {
                    let lb = i < lbs;
                    let s: Service = serde_json::from_value(service(i, lb)).expect("service");
                    svcs.create(&pp, &s).await.expect("create service");
                    if lb {
                        let status =
                            json!({"status": {"loadBalancer": {"ingress": [{"ip": lb_ip(i).to_string()}]}}});
                        svcs.patch_status(&format!("svc{i}"), &PatchParams::default(), &Patch::Merge(status))
                            .await
                            .expect("service status");
                    }
                    for k in 0..per {
                        let e: EndpointSlice = serde_json::from_value(slice(i, k, lb, 0)).expect("slice");
                        slices.create(&pp, &e).await.expect("create slice");
                    }
                }
            })
            .buffer_unordered(CLIENTS)
            .collect::<Vec<()>>()
            .await;
    });
    println!(
        "created {services} Services ({lbs} LoadBalancer) and {} EndpointSlices ({ENDPOINTS} endpoints each) in {:.1} s",
        services * per,
        t0.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    c.start_speaker("node1");
    let pid = c.speaker_pid("node1");
    while c.metric("node1", "ferrolb_speaker_announced_ips{protocol=\"layer2\"}") < lbs as f64 {
        assert!(started.elapsed() < Duration::from_secs(300), "not all announced");
        std::thread::sleep(Duration::from_millis(100));
    }
    let announced = started.elapsed();
    if let IpAddr::V4(v4) = lb_ip(0) {
        assert_eq!(c.arp_macs(v4).len(), 1, "{v4} answers");
    }
    let startup_cpu = cpu_seconds(pid);
    // the status objects (one ServiceL2Status per Service, written at a bounded rate) before the idle sample
    let client = c.client.clone();
    let statuses = c.block(async move {
        let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
            client,
            common::NS,
            &ferrolb_k8s::announcements::l2_status_resource(),
        );
        let t = tokio::time::Instant::now();
        loop {
            let n = api.list(&Default::default()).await.map_or(0, |l| l.items.len());
            if n >= lbs || t.elapsed() > Duration::from_secs(120) {
                break (n, t.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let settled_cpu = cpu_seconds(pid);
    let hwm_start = status_kib(pid, "VmHWM:").unwrap_or(0);

    // steady state, idle
    let before = cpu_seconds(pid);
    std::thread::sleep(sample);
    let idle = (cpu_seconds(pid) - before) * 60.0 / sample.as_secs_f64();

    // steady state, 10 EndpointSlice updates per second (readiness flips; every tenth touches a LoadBalancer)
    let client = c.client.clone();
    let before = cpu_seconds(pid);
    let updates = c.block(async move {
        let slices: Api<EndpointSlice> = Api::namespaced(client, "apps");
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let t = tokio::time::Instant::now();
        let mut n = 0usize;
        while t.elapsed() < sample {
            tick.tick().await;
            let i = if n.is_multiple_of(10) {
                (n / 10) % lbs.max(1)
            } else {
                (n * 37) % services
            };
            let k = n % per.max(1);
            let body = slice(i, k, i < lbs, n + 1);
            let name = format!("svc{i}-{k}");
            slices
                .patch(&name, &PatchParams::apply("bench").force(), &Patch::Apply(body))
                .await
                .expect("update slice");
            n += 1;
        }
        n
    });
    let churn = (cpu_seconds(pid) - before) * 60.0 / sample.as_secs_f64();
    let hwm = status_kib(pid, "VmHWM:").unwrap_or(0);
    let rss = status_kib(pid, "VmRSS:").unwrap_or(0);
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "speaker, {services} Services ({lbs} LoadBalancer announced), {} EndpointSlices:",
        services * per
    );
    println!(
        "  all announced {:.2} s after start, {startup_cpu:.2} s of CPU until then",
        announced.as_secs_f64()
    );
    println!(
        "  {} ServiceL2Status objects written {:.1} s after that, {:.2} s of CPU meanwhile",
        statuses.0,
        statuses.1.as_secs_f64(),
        settled_cpu - startup_cpu
    );
    println!(
        "  peak RSS (VmHWM) {:.1} MiB after the start, {:.1} MiB at the end; RSS now {:.1} MiB (anonymous {:.1})",
        mib(hwm_start),
        mib(hwm),
        mib(rss),
        mib(status_kib(pid, "RssAnon:").unwrap_or(0))
    );
    println!(
        "  CPU per minute at steady state: idle {idle:.2} s, with {:.0} EndpointSlice updates/s {churn:.2} s",
        updates as f64 / sample.as_secs_f64()
    );
    c.stop_speaker("node1");
}
