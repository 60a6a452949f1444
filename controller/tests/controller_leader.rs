//! Two controllers, 100 forced leadership changes under churn, zero double assignments.
//!
//! Two in-process controllers (fast election timings: lease 1 s, renew deadline 0.7 s, retry 0.1 s) run
//! against the embedded API server while a churn task keeps creating and deleting Services (some requesting
//! addresses) in a pool too small for all of them, so freed addresses are fought over. 100 times, the leader
//! is forced out — 90 times gracefully (SIGTERM: it stops, drains its writes and releases the Lease) and 10
//! times by a crash (every task dropped at once; the standby waits for the Lease to expire) — and replaced by
//! a new replica. A checker wakes on every change to the Services table and fails if two Services that
//! ferrolb serves show the same IP at any moment.

mod controller_common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use controller_common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

const CONFIG: &str = "address-pools:
- name: churn
  protocol: layer2
  addresses: [192.0.2.0/27]
- name: probe
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.0/28]
";
const CHANGES: usize = 100;

/// Double assignments in one snapshot of the Services table: IP → Services showing it.
fn doubles(services: &[Arc<Value>]) -> Vec<(String, BTreeSet<String>)> {
    let mut by_ip: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in services {
        let serves = s["spec"]["type"] == "LoadBalancer" && s["spec"]["loadBalancerClass"].is_null();
        if !serves {
            continue;
        }
        let name = s["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        for ing in s["status"]["loadBalancer"]["ingress"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(ip) = ing["ip"].as_str() {
                by_ip.entry(ip.to_owned()).or_default().insert(name.clone());
            }
        }
    }
    by_ip
        .into_iter()
        .filter(|(_, holders)| holders.len() > 1)
        .collect()
}

/// xorshift64: reproducible churn without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_leadership_changes_under_churn_never_double_assign() {
    let lab = Lab::start().await;
    lab.set_config(CONFIG).await;
    let stop = Arc::new(AtomicBool::new(false));

    // The checker: every change to the Services table is inspected.
    let store = lab.server.store().clone();
    let mut changes = store.subscribe("services").expect("services table");
    let checker_stop = stop.clone();
    let checker = tokio::spawn(async move {
        let (mut checks, mut found) = (0u64, Vec::new());
        while !checker_stop.load(Ordering::Relaxed) {
            if tokio::time::timeout(Duration::from_millis(100), changes.changed())
                .await
                .is_ok_and(|r| r.is_err())
            {
                break;
            }
            checks += 1;
            let d = doubles(&store.objects("services", Some(APPS)));
            if !d.is_empty() {
                found.push(d);
            }
        }
        (checks, found)
    });

    // The churn: up to 40 Services for 32 addresses, one in five requesting a specific one.
    let churn_stop = stop.clone();
    let client = lab.client.clone();
    let churn = tokio::spawn(async move {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut live, mut next, mut ops) = (Vec::<String>::new(), 0usize, 0usize);
        while !churn_stop.load(Ordering::Relaxed) {
            if live.len() < 40 && (live.len() < 20 || rng.next(2) == 0) {
                let name = format!("churn{next:05}");
                next += 1;
                let want = format!("192.0.2.{}", rng.next(32));
                let ann: Vec<(&str, &str)> = if rng.next(5) == 0 {
                    vec![("ferrolb.io/loadBalancerIPs", want.as_str())]
                } else {
                    vec![]
                };
                create_service(
                    &client,
                    &name,
                    &ann,
                    json!({"allocateLoadBalancerNodePorts": false}),
                )
                .await;
                live.push(name);
            } else {
                let victim = live.swap_remove(rng.next(live.len() as u64) as usize);
                let api: Api<Service> = Api::namespaced(client.clone(), APPS);
                api.delete(&victim, &DeleteParams::default())
                    .await
                    .expect("delete");
            }
            ops += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ops
    });

    let started = Instant::now();
    let mut replicas = vec![
        lab.controller("replica-000").await,
        lab.controller("replica-001").await,
    ];
    let mut spawned = 2;
    let leases: Api<Lease> = Api::namespaced(lab.client.clone(), SYSTEM);
    let mut leader = eventually(10, "a first leader", || async {
        lab.lease_holder("ferrolb-controller").await
    })
    .await;
    let (mut graceful, mut crashes) = (0, 0);
    for change in 0..CHANGES {
        // The leader serves: a probe Service created now gets its address from it.
        let probe = format!("probe{change:03}");
        lab.create(
            &probe,
            &[("ferrolb.io/address-pool", "probe")],
            json!({"allocateLoadBalancerNodePorts": false}),
        )
        .await;
        lab.wait_ips(&probe, 1).await;
        lab.services()
            .delete(&probe, &DeleteParams::default())
            .await
            .expect("delete probe");

        let at = replicas
            .iter()
            .position(|r| r.identity == leader)
            .expect("the leader is one of ours");
        let old = replicas.remove(at);
        if change % 10 == 9 {
            old.kill().await;
            crashes += 1;
        } else {
            old.stop().await;
            graceful += 1;
        }
        replicas.push(lab.controller(&format!("replica-{spawned:03}")).await);
        spawned += 1;
        let previous = leader.clone();
        leader = eventually(10, "a new leader", || async {
            lab.lease_holder("ferrolb-controller")
                .await
                .filter(|h| *h != previous)
        })
        .await;
    }
    let elapsed = started.elapsed();

    stop.store(true, Ordering::Relaxed);
    let ops = churn.await.expect("churn");
    // Let the last leader settle the churn, then look one last time.
    let last = lab
        .services()
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .len();
    let (checks, found) = checker.await.expect("checker");
    let transitions = leases
        .get("ferrolb-controller")
        .await
        .expect("lease")
        .spec
        .and_then(|s| s.lease_transitions);
    eprintln!(
        "{CHANGES} leadership changes ({graceful} graceful, {crashes} crashes) in {elapsed:.1?}; {ops} churn \
         operations; {checks} snapshots checked; {last} Services left"
    );
    assert!(found.is_empty(), "double assignments seen: {found:?}");
    assert!(doubles(&lab.server.store().objects("services", Some(APPS))).is_empty());
    assert!(
        transitions.unwrap_or(0) >= CHANGES as i32,
        "lease transitions {transitions:?}"
    );
    assert!(checks > 100 && ops > 100, "the churn and the checker ran");
    for r in replicas {
        r.stop().await;
    }
}
