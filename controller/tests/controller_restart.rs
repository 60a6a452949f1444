//! Restart safety against the embedded API server: 1,000 Services of every kind (single stack, both dual-stack
//! policies, IPv6, pinned to a manual pool, requested IPs, sharing groups with Local and Cluster backends) are
//! served by one controller; it stops; Services created meanwhile wait; a new controller starts, re-registers
//! every existing assignment from the Services' status before serving anyone, and changes no IP at all.

mod controller_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use controller_common::*;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

const CONFIG: &str = "address-pools:
- name: v4
  protocol: layer2
  avoid-buggy-ips: true
  addresses: [192.0.2.0/24, 198.51.100.0/24]
- name: dual
  protocol: bgp
  addresses: [203.0.113.0/24, 2001:db8:1::/64]
- name: v6
  protocol: bgp
  addresses: [2001:db8:2::/64]
- name: manual
  protocol: layer2
  auto-assign: false
  addresses: [2001:db8:3::/120]
";

const N: usize = 1000;

/// Service number `i`: its annotations and spec, of a kind chosen by `i % 10`.
fn service(i: usize) -> (Vec<(String, String)>, Value) {
    let mut ann: Vec<(String, String)> = Vec::new();
    let spec = match i % 10 {
        0 => json!({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4", "IPv6"]}),
        1 => json!({"ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6", "IPv4"]}),
        2 => json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"]}),
        3 => {
            ann.push(("metallb.io/address-pool".into(), "manual".into()));
            json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"]})
        }
        4 => {
            let group = i % 7;
            ann.push(("ferrolb.io/allow-shared-ip".into(), format!("group{group}")));
            let port = json!([{"port": 1000 + i}]);
            if group.is_multiple_of(2) {
                json!({"ports": port, "externalTrafficPolicy": "Local", "selector": {"app": format!("group{group}")}})
            } else {
                json!({"ports": port})
            }
        }
        5 => {
            ann.push((
                "ferrolb.io/loadBalancerIPs".into(),
                format!("2001:db8:2::{:x}", 0x1000 + i),
            ));
            json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"]})
        }
        _ => json!({"ports": [{"port": 443}]}),
    };
    (ann, spec)
}

async fn statuses(lab: &Lab) -> BTreeMap<String, Vec<IpAddr>> {
    lab.services()
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .iter()
        .map(|s| (s.metadata.name.clone().unwrap_or_default(), ingress_ips(s)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_with_1000_services_changes_no_ip() {
    let lab = Lab::start().await;
    lab.set_config(CONFIG).await;
    let first = lab.controller("restart-1").await;

    futures::stream::iter(0..N)
        .map(|i| {
            let lab = &lab;
            async move {
                let (ann, spec) = service(i);
                let ann: Vec<(&str, &str)> = ann.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                lab.create(&format!("svc{i:04}"), &ann, spec).await;
                Ok::<(), ()>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
        .expect("created");
    let before = eventually(60, "every Service to have its IPs", || async {
        let st = statuses(&lab).await;
        let done = st.iter().filter(|(_, ips)| !ips.is_empty()).count();
        (done == N).then_some(st)
    })
    .await;
    let dual = before.values().filter(|ips| ips.len() == 2).count();
    assert_eq!(dual, 200, "both dual-stack kinds got two IPs");
    let distinct: BTreeSet<&IpAddr> = before.values().flatten().collect();
    assert!(
        distinct.len() < before.values().flatten().count(),
        "the fixture shares IPs"
    );
    let writes = lab.status_writes_at_least(N).await;
    assert_eq!(writes, N, "exactly one status write per Service");

    // The controller stops; Services created meanwhile wait for the next one.
    first.stop().await;
    for i in 0..20 {
        lab.create(&format!("late{i:02}"), &[], json!({})).await;
    }
    let second = lab.controller("restart-2").await;
    for i in 0..20 {
        lab.wait_ips(&format!("late{i:02}"), 1).await;
    }

    let after = statuses(&lab).await;
    let changed: Vec<&String> = before
        .keys()
        .filter(|k| after.get(*k) != before.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "{} Services changed IPs across the restart: {changed:?}",
        changed.len()
    );
    // Pending Services got only unclaimed IPs, and the restart wrote nothing but their status.
    let claimed: BTreeSet<&IpAddr> = before.values().flatten().collect();
    for i in 0..20 {
        let late = &after[&format!("late{i:02}")];
        assert!(
            !claimed.contains(&late[0]),
            "late{i:02} got a claimed IP {}",
            late[0]
        );
    }
    assert_eq!(
        lab.status_writes_at_least(writes + 20).await,
        writes + 20,
        "the restart wrote only the waiting Services' status"
    );
    second.stop().await;
}
