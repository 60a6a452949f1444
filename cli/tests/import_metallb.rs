//! The `ferrolb import-metallb` binary: a legacy ConfigMap in, `metallb.io` resources out, which
//! `ferrolb check-config` accepts with the same meaning.

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
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for ferrolb")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The summary lines `check-config` prints for a file, with its first line (naming the file) left out,
/// sorted: the resources come in name order, the ConfigMap's objects in config order.
fn summary(input: &str) -> Vec<String> {
    let out = ferrolb(&["check-config", "-"], input);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut lines: Vec<String> = text(&out.stdout).lines().skip(1).map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
fn every_configmap_fixture_imports_to_resources_that_mean_the_same() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/tests/data");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let input = std::fs::read_to_string(&path).unwrap();
        let out = ferrolb(&["import-metallb", "-"], &input);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{}: {stderr}", path.display());
        assert!(
            stdout.starts_with("# Converted by `ferrolb import-metallb` from ConfigMap "),
            "{stdout}"
        );
        // The ConfigMap's summary, with the objects renamed as the notes say.
        let mut original = input.clone();
        for note in stderr.lines() {
            if let Some((from, to)) = note
                .split_once("IPAddressPool \"")
                .and_then(|(_, rest)| rest.split_once("\" is named \""))
                .and_then(|(from, rest)| Some((from, rest.split_once('"')?.0)))
            {
                original = original.replace(&format!("name: {from}\n"), &format!("name: {to}\n"));
            }
        }
        assert_eq!(
            summary(&stdout),
            summary(&original),
            "{}:\n{stdout}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} fixtures");
}

#[test]
fn names_follow_configmaptocrs_and_renames_are_reported() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/tests/data/kubespray-bgp-full.yaml"
    );
    let input = std::fs::read_to_string(path).unwrap();
    let out = ferrolb(&["import-metallb", "--namespace", "lb", "-"], &input);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for expected in [
        "kind: IPAddressPool\nmetadata:\n  name: extra-pool\n  namespace: lb\n",
        "kind: L2Advertisement\nmetadata:\n  name: l2advertisement1\n",
        "kind: BGPAdvertisement\nmetadata:\n  name: bgpadvertisement1\n",
        "kind: BGPPeer\nmetadata:\n  name: peer1\n",
        "  enableGracefulRestart: true\n",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert!(
        stderr.contains(
            "-: note: IPAddressPool \"extra_pool\" is named \"extra-pool\": not a Kubernetes object name"
        ),
        "{stderr}"
    );
}

#[test]
fn failures_exit_1_with_a_reason() {
    let cr = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\nspec: {addresses: [192.0.2.0/24]}\n";
    let out = ferrolb(&["import-metallb", "-"], cr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("holds metallb.io resources already"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    let bad = "address-pools:\n- {name: a, protocol: bgp, addresses: [192.0.2.0/33]}\n";
    let out = ferrolb(&["import-metallb", "-"], bad);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("address-pools[0].addresses[0]"),
        "{}",
        text(&out.stderr)
    );

    let out = ferrolb(&["import-metallb", "--namespace", "Not_A_Label", "-"], "");
    assert_eq!(out.status.code(), Some(2));
}
