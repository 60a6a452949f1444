//! Config changes against the embedded API server: an invalid ConfigMap keeps the last good config in force
//! and is reported once, listing every error (Event and metrics); shrinking and removing pools moves only the
//! Services that lose their addresses; the membership Secret is created once and never rotated.

mod controller_common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use controller_common::*;
use ferrolb_controller::MetricsListen;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::json;

const GOOD: &str = "address-pools:
- name: a
  protocol: layer2
  addresses: [192.0.2.0/29]
- name: b
  protocol: layer2
  auto-assign: false
  addresses: [198.51.100.0/29]
";

/// Four errors in two pools.
const BAD: &str = "address-pools:
- name: a
  protocol: layer3
  addresses: [192.0.2.0/33]
- name: a
  protocol: layer2
  addresses: [nope]
";

/// `a` shrinks to four addresses, `b` is removed, `c` is added.
const SHRUNK: &str = "address-pools:
- name: a
  protocol: layer2
  addresses: [192.0.2.0/30]
- name: c
  protocol: layer2
  addresses: [203.0.113.0/30]
";

async fn with_metrics(lab: &Lab, identity: &str) -> (Controller, SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = lab.config(identity).await;
    config.metrics = MetricsListen::Listener(listener);
    (Controller::spawn(config), addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_config_keeps_the_last_good_one_then_pools_shrink() {
    let lab = Lab::start().await;
    let (ctrl, metrics) = with_metrics(&lab, "config-1").await;
    assert_eq!(http_get(metrics, "/healthz").await.0, 200);
    assert_eq!(
        http_get(metrics, "/readyz").await.0,
        503,
        "not ready without a config"
    );

    lab.set_config(GOOD).await;
    eventually(10, "readiness", || async {
        (http_get(metrics, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    for i in 1..=6 {
        lab.create(&format!("s{i}"), &[], json!({})).await;
        lab.wait_ips(&format!("s{i}"), 1).await;
    }
    for t in ["t1", "t2"] {
        lab.create(t, &[("ferrolb.io/address-pool", "b")], json!({}))
            .await;
        lab.wait_ips(t, 1).await;
    }
    let (_, body) = http_get(metrics, "/metrics").await;
    assert_eq!(metric(&body, "ferrolb_controller_config_loaded"), Some(1.0));
    assert_eq!(metric(&body, "ferrolb_controller_config_stale"), Some(0.0));
    assert_eq!(metric(&body, "ferrolb_controller_leader"), Some(1.0));
    let a4 = "{pool=\"a\",family=\"ipv4\"}";
    assert_eq!(
        metric(&body, &format!("ferrolb_controller_pool_addresses{a4}")),
        Some(8.0)
    );
    assert_eq!(
        metric(&body, &format!("ferrolb_controller_pool_addresses_in_use{a4}")),
        Some(6.0)
    );
    assert_eq!(
        metric(&body, &format!("ferrolb_controller_pool_addresses_available{a4}")),
        Some(2.0)
    );
    assert_eq!(
        metric(&body, "ferrolb_controller_allocations_total{pool=\"b\"}"),
        Some(2.0)
    );

    // Invalid: one Warning Event on the ConfigMap listing every error; the last good config stays.
    let before: Vec<_> = futures_join(&lab, &["s1", "s2", "s3", "s4", "s5", "s6", "t1", "t2"]).await;
    lab.set_config(BAD).await;
    let msg = lab
        .wait_event(SYSTEM, "config", "InvalidConfig", "stays in force")
        .await;
    for path in [
        "address-pools[0].protocol",
        "address-pools[0].addresses[0]",
        "address-pools[1].name",
        "address-pools[1].addresses[0]",
    ] {
        assert!(msg.contains(path), "{path} missing from:\n{msg}");
    }
    eventually(10, "the stale metric", || async {
        let (_, body) = http_get(metrics, "/metrics").await;
        (metric(&body, "ferrolb_controller_config_stale") == Some(1.0)).then_some(())
    })
    .await;
    // Still served from the last good config, and nothing withdrawn.
    lab.create("s7", &[], json!({})).await;
    assert_eq!(lab.wait_ips("s7", 1).await, [ip("192.0.2.6")]);
    assert_eq!(
        futures_join(&lab, &["s1", "s2", "s3", "s4", "s5", "s6", "t1", "t2"]).await,
        before
    );
    let warnings = lab.events(SYSTEM, "config").await;
    assert_eq!(
        warnings.iter().filter(|(r, _)| r == "InvalidConfig").count(),
        1,
        "reported once"
    );

    // Shrink `a`, remove `b`, add `c`: only s5, s6, s7 (outside the new `a`) and t1, t2 (pinned to `b`) move.
    // s1..s7, t1, t2: one write each.
    let writes = lab.status_writes_at_least(9).await;
    assert_eq!(writes, 9);
    lab.set_config(SHRUNK).await;
    for (name, want) in [
        ("s5", "203.0.113.0"),
        ("s6", "203.0.113.1"),
        ("s7", "203.0.113.2"),
    ] {
        eventually(10, &format!("{name} to move to pool c"), || async {
            (lab.ips(name).await == [ip(want)]).then_some(())
        })
        .await;
    }
    for t in ["t1", "t2"] {
        eventually(10, &format!("{t} to be cleared"), || async {
            lab.ips(t).await.is_empty().then_some(())
        })
        .await;
        lab.wait_event(APPS, t, "AllocationFailed", "address pool \"b\" does not exist")
            .await;
        lab.wait_event(APPS, t, "ClearAssignment", "198.51.100.").await;
    }
    lab.wait_event(
        APPS,
        "s5",
        "ClearAssignment",
        "192.0.2.4 (192.0.2.4 is not in any address pool)",
    )
    .await;
    for (i, name) in ["s1", "s2", "s3", "s4"].iter().enumerate() {
        assert_eq!(lab.ips(name).await, before[i], "{name} kept its address");
    }
    assert_eq!(
        lab.status_writes_at_least(writes + 5).await,
        writes + 5,
        "exactly the five affected Services were written"
    );
    let (_, body) = http_get(metrics, "/metrics").await;
    assert_eq!(metric(&body, "ferrolb_controller_config_stale"), Some(0.0));
    assert_eq!(
        metric(
            &body,
            "ferrolb_controller_pool_addresses{pool=\"b\",family=\"ipv4\"}"
        ),
        None,
        "b is gone"
    );
    assert_eq!(
        metric(
            &body,
            "ferrolb_controller_pool_addresses_in_use{pool=\"c\",family=\"ipv4\"}"
        ),
        Some(3.0)
    );
    assert!(
        metric(
            &body,
            "ferrolb_controller_allocation_failures_total{reason=\"unknown_pool\"}"
        )
        .is_some()
    );
    ctrl.stop().await;
}

async fn futures_join(lab: &Lab, names: &[&str]) -> Vec<Vec<std::net::IpAddr>> {
    let mut out = Vec::new();
    for n in names {
        out.push(lab.ips(n).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_membership_secret_is_created_once_and_never_rotated() {
    let lab = Lab::start().await;
    let secrets: Api<Secret> = Api::namespaced(lab.client.clone(), SYSTEM);
    let first = lab.controller("member-1").await;
    let key = eventually(10, "the membership Secret", || async {
        secrets
            .get_opt("ferrolb-memberlist")
            .await
            .expect("get")?
            .data?
            .remove("secretkey")
    })
    .await;
    assert_eq!(key.0.len(), 32);
    first.stop().await;
    let second = lab.controller("member-2").await;
    eventually(10, "the second controller to lead", || async {
        (lab.lease_holder("ferrolb-controller").await.as_deref() == Some("member-2")).then_some(())
    })
    .await;
    // Leading again ensured the Secret again: same key.
    lab.create("probe", &[], json!({})).await;
    let again = secrets
        .get("ferrolb-memberlist")
        .await
        .expect("get")
        .data
        .expect("data");
    assert_eq!(again.get("secretkey"), Some(&key), "never rotated");
    second.stop().await;

    // A Secret without the key gets one; other data stays.
    let lab = Lab::start().await;
    let secrets: Api<Secret> = Api::namespaced(lab.client.clone(), SYSTEM);
    let bare = Secret {
        metadata: ObjectMeta {
            name: Some("ferrolb-memberlist".into()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("other".to_owned(), ByteString(b"x".to_vec()))])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &bare)
        .await
        .expect("create");
    let third = lab.controller("member-3").await;
    let data = eventually(10, "the key to be added", || async {
        let d = secrets.get("ferrolb-memberlist").await.expect("get").data?;
        d.contains_key("secretkey").then_some(d)
    })
    .await;
    assert_eq!(data["secretkey"].0.len(), 32);
    assert_eq!(data["other"].0, b"x");
    third.stop().await;
}
