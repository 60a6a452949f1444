//! kubectl and CustomResourceDefinitions: MetalLB's published CRDs applied and awaited (`kubectl wait --for
//! condition=established`), custom resources applied client-side and `--server-side`, listed with their printer
//! columns and label selectors, shown as YAML (pruned and defaulted), refused when invalid, their status patched,
//! and the CRD deleted with its objects. kubectl must be installed; under CI a missing kubectl fails the test.

mod common;

use common::kubectl::{Kubectl, kubectl_or_skip, write};
use common::start;
use ferrolb_apiserver::ADMIN;

const POOLS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: metallb-system
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: metallb-system
  labels: {tier: gold}
spec:
  addresses: [192.0.2.0/28]
  avoidBuggyIPs: true
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: second-pool
  namespace: metallb-system
  labels: {tier: silver}
spec:
  addresses: [198.51.100.0/28, 198.51.100.64-198.51.100.70]
  autoAssign: false
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: router
  namespace: metallb-system
spec:
  myASN: 64500
  peerASN: 64512
  peerAddress: 192.0.2.254
"#;

fn row<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name}:\n{out}"))
        .split_whitespace()
        .collect()
}

#[tokio::test]
async fn kubectl_applies_gets_and_deletes_custom_resources() {
    let Some(bin) = kubectl_or_skip() else { return };
    let (server, _client) = start().await;
    let dir = std::env::temp_dir().join(format!("ferrolb-apiserver-kubectl-crds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let k = Kubectl {
        bin,
        dir: dir.clone(),
    };
    write(&dir, "kubeconfig", &server.kubeconfig(ADMIN));
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let crds = format!(
        "{}---\n{}",
        std::fs::read_to_string(data.join("metallb-ipaddresspools.yaml")).unwrap(),
        std::fs::read_to_string(data.join("metallb-bgppeers.yaml")).unwrap()
    );
    let crds = write(&dir, "crds.yaml", &crds);

    let out = k.ok(&["apply", "-f", &crds]).await;
    assert!(
        out.contains("customresourcedefinition.apiextensions.k8s.io/ipaddresspools.metallb.io created"),
        "{out}"
    );
    let out = k
        .ok(&[
            "wait",
            "--for",
            "condition=established",
            "--timeout=20s",
            "crd/ipaddresspools.metallb.io",
            "crd/bgppeers.metallb.io",
        ])
        .await;
    assert_eq!(out.matches("condition met").count(), 2, "{out}");
    let out = k.ok(&["get", "crd"]).await;
    assert_eq!(
        out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["NAME", "CREATED", "AT"]
    );
    assert!(out.contains("bgppeers.metallb.io"), "{out}");
    // applying the same CRDs again changes nothing
    let out = k.ok(&["apply", "-f", &crds]).await;
    assert!(out.contains("ipaddresspools.metallb.io unchanged"), "{out}");

    let pools = write(&dir, "pools.yaml", POOLS);
    let out = k.ok(&["apply", "-f", &pools]).await;
    for want in [
        "ipaddresspool.metallb.io/first-pool created",
        "bgppeer.metallb.io/router created",
    ] {
        assert!(out.contains(want), "{out}");
    }
    let out = k.ok(&["get", "ipaddresspools", "-n", "metallb-system"]).await;
    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("NAME")
            && header.contains("AUTO ASSIGN")
            && header.contains("AVOID BUGGY IPS")
            && header.contains("ADDRESSES"),
        "{out}"
    );
    assert_eq!(
        row(&out, "first-pool"),
        ["first-pool", "true", "true", "[\"192.0.2.0/28\"]"]
    );
    assert_eq!(
        row(&out, "second-pool"),
        [
            "second-pool",
            "false",
            "false",
            "[\"198.51.100.0/28\",\"198.51.100.64-198.51.100.70\"]"
        ]
    );
    let out = k.ok(&["get", "bgppeers", "-n", "metallb-system"]).await;
    assert_eq!(row(&out, "router"), ["router", "192.0.2.254", "64512"]);
    let out = k
        .ok(&["get", "ipaddresspools", "-A", "-l", "tier=gold", "-o", "name"])
        .await;
    assert_eq!(out.trim(), "ipaddresspool.metallb.io/first-pool");

    // an unknown field: refused under kubectl's default --validate=strict (fieldValidation=Strict), dropped
    // with the server's warning under --validate=warn; defaults are filled in
    let typo = write(
        &dir,
        "typo.yaml",
        &POOLS.replace(
            "  avoidBuggyIPs: true\n",
            "  avoidBuggyIPs: true\n  autoAsign: false\n",
        ),
    );
    let (ok, out) = k.run(&["apply", "-f", &typo]).await;
    assert!(
        !ok && out.contains("strict decoding error: unknown field \"spec.autoAsign\""),
        "{out}"
    );
    let out = k.ok(&["apply", "--validate=warn", "-f", &typo]).await;
    assert!(out.contains("unknown field \"spec.autoAsign\""), "{out}");
    let yaml = k
        .ok(&[
            "get",
            "ipaddresspool",
            "first-pool",
            "-n",
            "metallb-system",
            "-o",
            "yaml",
        ])
        .await;
    assert!(
        yaml.contains("apiVersion: metallb.io/v1beta1") && yaml.contains("autoAssign: true"),
        "{yaml}"
    );
    let spec = yaml.split("\nspec:\n").nth(1).unwrap_or_default();
    assert!(
        !spec.contains("autoAsign"),
        "only the last-applied annotation has it:\n{yaml}"
    );

    // client-side apply of a change, then server-side apply takes the object over
    let changed = write(
        &dir,
        "changed.yaml",
        &POOLS.replace("[192.0.2.0/28]", "[192.0.2.0/27]"),
    );
    let out = k.ok(&["apply", "-f", &changed]).await;
    assert!(
        out.contains("ipaddresspool.metallb.io/first-pool configured"),
        "{out}"
    );
    let stored = server
        .get(
            "metallb.io",
            "v1beta1",
            "ipaddresspools",
            "metallb-system",
            "first-pool",
        )
        .unwrap();
    assert_eq!(stored["spec"]["addresses"], serde_json::json!(["192.0.2.0/27"]));
    let ssa = write(
        &dir,
        "ssa.yaml",
        &POOLS.replace("[192.0.2.0/28]", "[192.0.2.0/26]"),
    );
    let out = k
        .ok(&["apply", "--server-side", "--force-conflicts", "-f", &ssa])
        .await;
    assert!(
        out.contains("ipaddresspool.metallb.io/first-pool serverside-applied"),
        "{out}"
    );
    let stored = server
        .get(
            "metallb.io",
            "v1beta1",
            "ipaddresspools",
            "metallb-system",
            "first-pool",
        )
        .unwrap();
    assert_eq!(stored["spec"]["addresses"], serde_json::json!(["192.0.2.0/26"]));
    assert!(
        stored["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["manager"] == "kubectl" && m["operation"] == "Apply"),
        "{stored}"
    );

    // an invalid object is refused with kube-apiserver's message
    let bad = write(
        &dir,
        "bad.yaml",
        &POOLS.replace(
            "peerAddress: 192.0.2.254",
            "peerAddress: 192.0.2.254\n  peerPort: 70000",
        ),
    );
    let (ok, out) = k.run(&["apply", "-f", &bad]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("The BGPPeer \"router\" is invalid: spec.peerPort: Invalid value: 70000: spec.peerPort in body should be less than or equal to 16384"),
        "{out}"
    );

    // the status subresource
    k.ok(&[
        "patch",
        "bgppeer",
        "router",
        "-n",
        "metallb-system",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"sessions":1},"spec":{"peerASN":1}}"#,
    ])
    .await;
    let stored = server
        .get("metallb.io", "v1beta2", "bgppeers", "metallb-system", "router")
        .unwrap();
    assert_eq!(
        (
            stored["status"]["sessions"].as_i64(),
            stored["spec"]["peerASN"].as_i64()
        ),
        (None, Some(64512)),
        "{stored}"
    );

    // deleting the CRD deletes its objects, then the CRD, then its endpoints
    let out = k.ok(&["delete", "crd", "ipaddresspools.metallb.io"]).await;
    assert!(out.contains("\"ipaddresspools.metallb.io\" deleted"), "{out}");
    assert!(
        server
            .store()
            .objects("ipaddresspools.metallb.io", None)
            .is_empty()
    );
    let (ok, out) = k.run(&["get", "crd", "ipaddresspools.metallb.io"]).await;
    assert!(!ok && out.contains("NotFound"), "{out}");
    let (ok, out) = k
        .run(&[
            "get",
            "--raw",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
        ])
        .await;
    assert!(!ok && out.contains("NotFound"), "{out}");
    let out = k.ok(&["get", "bgppeers", "-A", "-o", "name"]).await;
    assert_eq!(out.trim(), "bgppeer.metallb.io/router");
    let _ = std::fs::remove_dir_all(&dir);
}
