//! kubectl against the server: create, apply (client- and server-side), get (server-side tables with
//! EXTERNAL-IP), patch (status subresource), delete, all from YAML files. kubectl must be installed
//! (it is on the project's machines); under CI a missing kubectl fails the test.

mod common;

use common::kubectl::{Kubectl, kubectl_path, write};
use common::{start, start_with};
use ferrolb_apiserver::{ADMIN, ServerConfig, TlsConfig};

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: smoke
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: smoke
  labels: {app: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config
  namespace: smoke
data:
  config: |
    address-pools:
    - name: default
      protocol: layer2
      addresses: [192.0.2.100-192.0.2.110]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata:
  name: ferrolb-controller
  namespace: smoke
spec:
  holderIdentity: ctrl-0
  leaseDurationSeconds: 15
"#;

#[tokio::test]
async fn kubectl_creates_lists_patches_and_deletes_from_yaml() {
    let Some(bin) = kubectl_path() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kubectl is not installed (required under CI)"
        );
        eprintln!("SKIPPED: kubectl is not installed");
        return;
    };
    let (server, _client) = start().await;
    let dir = std::env::temp_dir().join(format!("ferrolb-apiserver-kubectl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let k = Kubectl {
        bin,
        dir: dir.clone(),
    };
    write(&dir, "kubeconfig", &server.kubeconfig(ADMIN));
    let file = write(&dir, "manifests.yaml", MANIFESTS);

    let out = k.ok(&["create", "-f", &file]).await;
    for want in [
        "namespace/smoke created",
        "service/web created",
        "configmap/config created",
        "lease.coordination.k8s.io/ferrolb-controller created",
    ] {
        assert!(out.contains(want), "{out}");
    }
    let (ok, out) = k.run(&["create", "-f", &file]).await;
    assert!(!ok && out.contains("AlreadyExists"), "{out}");
    let out = k.ok(&["apply", "-f", &file]).await;
    assert!(
        out.contains("service/web configured") || out.contains("service/web unchanged"),
        "{out}"
    );

    let out = k.ok(&["get", "svc", "-n", "smoke"]).await;
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    );
    assert!(out.contains("<pending>"), "{out}");
    k.ok(&[
        "patch",
        "svc",
        "web",
        "-n",
        "smoke",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.100"}]}}}"#,
    ])
    .await;
    let out = k.ok(&["get", "svc", "web", "-n", "smoke"]).await;
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..4], ["web", "LoadBalancer", row[2], "192.0.2.100"], "{out}");
    assert!(row[4].starts_with("80:3") && row[4].ends_with("/TCP"), "{out}");

    // A changed manifest applied again: strategic merge keeps the allocated node port.
    let changed = write(
        &dir,
        "changed.yaml",
        &MANIFESTS.replace("targetPort: 8080", "targetPort: 9090"),
    );
    let before = server.get("", "v1", "services", "smoke", "web").unwrap();
    k.ok(&["apply", "-f", &changed]).await;
    let after = server.get("", "v1", "services", "smoke", "web").unwrap();
    assert_eq!(after["spec"]["ports"][0]["targetPort"], 9090);
    assert_eq!(
        after["spec"]["ports"][0]["nodePort"],
        before["spec"]["ports"][0]["nodePort"]
    );
    assert_eq!(after["status"]["loadBalancer"]["ingress"][0]["ip"], "192.0.2.100");
    k.ok(&["apply", "--server-side", "--force-conflicts", "-f", &changed])
        .await;

    let out = k.ok(&["get", "cm,lease", "-n", "smoke", "-o", "name"]).await;
    assert!(
        out.contains("configmap/config") && out.contains("lease.coordination.k8s.io/ferrolb-controller"),
        "{out}"
    );
    let out = k.ok(&["get", "svc", "-A", "-o", "wide"]).await;
    assert!(
        out.contains("SELECTOR") && out.contains("app=web") && out.contains("kubernetes"),
        "{out}"
    );
    let out = k
        .ok(&[
            "get",
            "svc",
            "web",
            "-n",
            "smoke",
            "-o",
            "jsonpath={.spec.clusterIP}",
        ])
        .await;
    assert!(out.starts_with("10.9"), "{out}");

    let out = k.ok(&["delete", "-f", &changed]).await;
    for want in [
        "namespace \"smoke\" deleted",
        "service \"web\" deleted",
        "configmap \"config\" deleted",
    ] {
        assert!(out.contains(want), "{out}");
    }
    let (ok, out) = k.run(&["get", "ns", "smoke"]).await;
    assert!(!ok && out.contains("NotFound"), "{out}");
    assert!(server.get("", "v1", "services", "smoke", "web").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn kubectl_over_https_is_audited_under_its_user() {
    let Some(bin) = kubectl_path() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kubectl is not installed (required under CI)"
        );
        eprintln!("SKIPPED: kubectl is not installed");
        return;
    };
    let (server, _client) = start_with(ServerConfig {
        tls: Some(TlsConfig::default()),
        ..Default::default()
    })
    .await;
    let dir = std::env::temp_dir().join(format!("ferrolb-apiserver-kubectl-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let k = Kubectl {
        bin,
        dir: dir.clone(),
    };
    let user = "system:serviceaccount:ferrolb-system:ferrolb-controller";
    write(&dir, "kubeconfig", &server.kubeconfig(user));
    let out = k.ok(&["get", "svc", "-n", "default"]).await;
    assert!(out.contains("kubernetes"), "{out}");
    let listed = server
        .audit()
        .entries()
        .into_iter()
        .filter(|e| e.verb == "list" && e.resource == "services")
        .collect::<Vec<_>>();
    assert!(
        !listed.is_empty() && listed.iter().all(|e| e.user == user),
        "{listed:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
