//! `ferrolb import-metallb`, run as an operator runs it, on a kubespray ≥ v2.22 render and MetalLB's
//! documentation examples: the ConfigMap it prints passes `ferrolb check-config`, and what it cannot express
//! is reported on stderr, naming the resource.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn ferrolb(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrolb");
    let mut input = child.stdin.take().expect("stdin");
    // A run that fails on its arguments exits without reading its input: a broken pipe is not an error.
    if let Err(e) = input.write_all(stdin.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    drop(input);
    child.wait_with_output().expect("wait for ferrolb")
}

fn fixture(name: &str) -> String {
    format!("{}/tests/data/metallb/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Imports `name`, checks the output with `check-config`, returns (check-config summary, import stderr).
fn import_and_check(name: &str) -> (String, String) {
    let out = ferrolb(&["import-metallb", &fixture(name)], "");
    let (manifest, notes) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{name}:\n{notes}");
    assert!(manifest.contains("kind: ConfigMap\n"), "{manifest}");
    let check = ferrolb(&["check-config", "-"], &manifest);
    let summary = text(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{name}: the import does not pass check-config:\n{}\n{manifest}",
        text(&check.stderr)
    );
    assert!(
        summary.starts_with("-: valid (ConfigMap ferrolb-system/config (document 1))"),
        "{summary}"
    );
    (summary, notes)
}

#[test]
fn a_kubespray_render_imports_with_its_quirks_reported() {
    let (summary, notes) = import_and_check("kubespray-2.22.yaml");
    for want in [
        "pools (3):",
        "primary (layer2): IPv4 128 addresses (127 assignable), avoid-buggy-ips",
        "pool1 (bgp): IPv4 256 addresses (254 assignable), auto-assign off, avoid-buggy-ips",
        "advertisement: aggregation /32 (IPv4), localpref 100, communities 65535:65282",
        "advertisement: aggregation /24 (IPv4), communities 1234:1 65535:65281",
        "pool2 (bgp): IPv4 64 addresses (63 assignable) + IPv6 256 addresses, avoid-buggy-ips",
        "198.51.100.254 peer-asn 64513 my-asn 64512, hold 120s keepalive 40s, TCP MD5, nodes: all",
        "[2001:db8::1] peer-asn 64514 my-asn 64512, hold 90s keepalive 30s, router-id 192.0.2.11, ebgp-multihop",
    ] {
        assert!(summary.contains(want), "missing {want:?} in\n{summary}");
    }
    for want in [
        "BGPAdvertisement metallb-system/peer1-local: spec.localpref (kubespray's spelling",
        "BGPAdvertisement metallb-system/peer1-external: spec.communities is given 2 times",
        "BGPPeer metallb-system/peer2: spec.holdTime: 90 has no unit",
    ] {
        assert!(notes.contains(want), "missing {want:?} in\n{notes}");
    }
    assert!(!summary.contains("s3cret"));
}

#[test]
fn metallb_layer2_docs_import_with_nodes_interfaces_and_pool_order() {
    let (summary, notes) = import_and_check("metallb-docs-layer2.yaml");
    let second = summary.find("second-pool (layer2)").expect("second-pool");
    let first = summary.find("first-pool (layer2)").expect("first-pool");
    assert!(second < first, "priority 50 puts second-pool first:\n{summary}");
    for want in [
        "first-pool (layer2): IPv4 261 addresses + IPv6 16 addresses",
        "second-pool (layer2): IPv4 256 addresses, auto-assign off",
        "interfaces: eth3",
        "nodes: 1 selector",
    ] {
        assert!(summary.contains(want), "missing {want:?} in\n{summary}");
    }
    for want in [
        "L2Advertisement metallb-system/l2-east: spec.serviceSelectors cannot be expressed",
        "IPAddressPool metallb-system/second-pool: spec.serviceAllocation limits the pool",
    ] {
        assert!(notes.contains(want), "missing {want:?} in\n{notes}");
    }
}

#[test]
fn metallb_bgp_docs_import_with_aliases_peers_and_bfd() {
    let (summary, notes) = import_and_check("metallb-docs-bgp.yaml");
    for want in [
        "first-pool (bgp): IPv4 256 addresses",
        "advertisement: aggregation /32 (IPv4), localpref 100, communities 65535:65282 1234:1",
        "advertisement: aggregation /24 (IPv4)",
        "172.30.0.3:180 peer-asn 64512 my-asn 64512",
        "172.30.0.3 peer-asn 64512 my-asn 64512, hold 90s keepalive 30s, source 172.30.0.2",
        "172.30.0.4 peer-asn 64600 my-asn 64512, hold 30s keepalive 10s, bfd-profile full1",
        "bfd-profiles (1): full1",
        "community aliases: NO_ADVERTISE=65535:65282, vpn-only=1234:1",
    ] {
        assert!(summary.contains(want), "missing {want:?} in\n{summary}");
    }
    for want in [
        "BGPAdvertisement metallb-system/example-nodes-peers: spec.nodeSelectors cannot be expressed",
        "BGPAdvertisement metallb-system/example-nodes-peers: spec.peers cannot be expressed",
        "BFDProfile metallb-system/full1: BFD is validated and kept, but ferrolb does not run it",
    ] {
        assert!(notes.contains(want), "missing {want:?} in\n{notes}");
    }
}

#[test]
fn metallb_address_pool_docs_import_with_priorities_and_restrictions() {
    let (summary, notes) = import_and_check("metallb-docs-ipaddresspool.yaml");
    let order: Vec<usize> = [
        "ippool-ns-service-alloc-sample (layer2)",
        "cheap (layer2)",
        "expensive (layer2)",
    ]
    .iter()
    .map(|p| {
        summary
            .find(p)
            .unwrap_or_else(|| panic!("{p} missing in\n{summary}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "priority first, then input order:\n{summary}"
    );
    for want in [
        "ippool-ns-service-alloc-sample (layer2): IPv4 256 addresses (254 assignable), auto-assign off, avoid-buggy-ips",
        "cheap (layer2): IPv4 256 addresses\n",
        "expensive (layer2): IPv4 4 addresses, auto-assign off",
    ] {
        assert!(summary.contains(want), "missing {want:?} in\n{summary}");
    }
    assert!(
        notes.contains("IPAddressPool metallb-system/ippool-ns-service-alloc-sample: spec.serviceAllocation limits the pool"),
        "{notes}"
    );
    assert!(!notes.contains("IPAddressPool metallb-system/cheap"), "{notes}");
}

#[test]
fn stdin_target_flags_and_failures() {
    let input = std::fs::read_to_string(fixture("metallb-docs-layer2.yaml")).unwrap();
    let out = ferrolb(
        &["import-metallb", "-", "--namespace", "lb", "--name", "pools"],
        &input,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("  name: pools\n  namespace: lb\n"));

    let out = ferrolb(&["import-metallb", "-", "--namespace", "Bad_NS"], &input);
    assert_eq!(out.status.code(), Some(2), "a bad namespace is a usage error");

    let out = ferrolb(
        &["import-metallb", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\ndata: {config: ''}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("ConfigMap metallb-system/config: not a MetalLB configuration resource"),
        "{err}"
    );
    assert!(err.contains("-: no MetalLB configuration resources"), "{err}");

    let out = ferrolb(&["import-metallb", "/nonexistent/metallb.yaml"], "");
    assert_eq!(out.status.code(), Some(2));
}
