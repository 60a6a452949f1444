//! The real `ferrolb-controller` binary against the embedded API server: flags and kubeconfig, JSON logs,
//! `/healthz`, `/readyz` (not before a config) and `/metrics`, a Service served, the membership Secret
//! created, and on SIGTERM a clean exit that releases the Lease.

mod controller_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use controller_common::*;
use ferrolb_apiserver::ADMIN;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::json;

/// Kills the child (by its PID) if the test fails before it exits.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_program_serves_reports_and_releases_on_sigterm() {
    let lab = Lab::start().await;
    let dir = TempDir::new("controller-binary");
    let kubeconfig = dir.0.join("kubeconfig");
    std::fs::write(&kubeconfig, lab.server.kubeconfig(ADMIN)).expect("kubeconfig");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let metrics_addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();

    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_ferrolb-controller"))
            .args(["--kubeconfig", kubeconfig.to_str().expect("utf-8")])
            .args(["--metrics-addr", &metrics_addr.to_string()])
            .args([
                "--lease-duration",
                "2s",
                "--renew-deadline",
                "1500ms",
                "--retry-period",
                "200ms",
            ])
            .args([
                "--identity",
                "binary-1",
                "--log-format",
                "json",
                "--log-level",
                "info",
            ])
            .env_remove("KUBECONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ferrolb-controller"),
    );
    let stderr = child.0.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    eventually(20, "/healthz", || async {
        let ok = tokio::net::TcpStream::connect(metrics_addr).await.is_ok();
        (ok && http_get(metrics_addr, "/healthz").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(http_get(metrics_addr, "/readyz").await.0, 503, "no config yet");
    lab.set_config("address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/29]\n")
        .await;
    eventually(20, "/readyz", || async {
        (http_get(metrics_addr, "/readyz").await.0 == 200).then_some(())
    })
    .await;

    lab.create("web", &[], json!({})).await;
    assert_eq!(lab.wait_ips("web", 1).await, [ip("192.0.2.0")]);
    let secrets: Api<Secret> = Api::namespaced(lab.client.clone(), SYSTEM);
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
    assert_eq!(
        lab.lease_holder("ferrolb-controller").await.as_deref(),
        Some("binary-1")
    );
    // The controller counts a write when it has the response, a moment after the Service shows it.
    let body = eventually(10, "the write in the metrics", || async {
        let (code, body) = http_get(metrics_addr, "/metrics").await;
        (code == 200 && metric(&body, "ferrolb_controller_status_writes_total{result=\"ok\"}") == Some(1.0))
            .then_some(body)
    })
    .await;
    assert_eq!(metric(&body, "ferrolb_controller_leader"), Some(1.0));
    assert_eq!(
        metric(
            &body,
            "ferrolb_controller_pool_addresses_in_use{pool=\"default\",family=\"ipv4\"}"
        ),
        Some(1.0)
    );

    // SIGTERM: stop acting, release the Lease, exit 0.
    let pid = child.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the controller did not exit after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert_eq!(
        lab.lease_holder("ferrolb-controller").await,
        None,
        "the Lease is released"
    );

    let logs = logs.join().expect("logs");
    assert!(!logs.is_empty());
    for line in &logs {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    assert!(logs.iter().any(|l| l.contains("released the lease")), "{logs:#?}");
    assert!(logs.iter().any(|l| l.contains("SIGTERM")), "{logs:#?}");
}
