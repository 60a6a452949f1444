//! The `ferrolb check-config` binary, run as an operator runs it.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn ferrolb(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrolb"))
        .args(args)
        // Without input the child gets /dev/null: writing to a pipe the child never reads races with its exit.
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ferrolb");
    if let Some(text) = stdin {
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for ferrolb")
}

fn config_data(name: &str) -> String {
    format!("{}/../config/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn cli_data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn accepts_a_kubespray_configmap_unchanged() {
    let out = ferrolb(&["check-config", &config_data("kubespray-bgp-full.yaml")], None);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("valid (ConfigMap metallb-system/config (document 1))"),
        "{stdout}"
    );
    assert!(stdout.contains("pools (3):"), "{stdout}");
    assert!(
        stdout.contains("loadbalanced (bgp): IPv4 306 addresses (304 assignable), auto-assign off"),
        "{stdout}"
    );
    assert!(
        stdout.contains("extra_pool2 (bgp): IPv6 256 addresses"),
        "{stdout}"
    );
    assert!(
        stdout.contains("192.0.2.1 peer-asn 64512 my-asn 4200000000, hold 90s keepalive 30s"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cret"), "the summary never shows passwords");
    assert!(out.stderr.is_empty());
}

#[test]
fn accepts_the_metallb_example_unchanged() {
    let out = ferrolb(
        &["check-config", &config_data("metallb-example-config.yaml")],
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("my-ip-space (bgp): IPv4 307 addresses (305 assignable)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "advertisement: aggregation /32 (IPv4), localpref 100, communities 64512:1 65535:65281"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("community aliases: no-export=65535:65281"),
        "{stdout}"
    );
}

#[test]
fn reports_an_overlap_naming_both_pools_and_the_range() {
    let out = ferrolb(&["check-config", &cli_data("overlap.yaml")], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 error in the config (ConfigMap metallb-system/config (document 2))"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "address-pools[1].addresses[0] = \"192.0.2.128-192.0.2.200\": pool \"silver\" overlaps pool \"gold\" \
             (address-pools[0].addresses[0] = 192.0.2.0/24) on 192.0.2.128-192.0.2.200 (line 22)"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn prints_every_error_with_its_path() {
    let out = ferrolb(&["check-config", &cli_data("many-errors.yaml")], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("6 errors in the config (raw config text)"),
        "{stderr}"
    );
    for expected in [
        "peers[0].peer-adress: unknown key; did you mean \"peer-address\"? (line 2)",
        "peers[0].peer-address: missing required key (line 2)",
        "peers[0].peer-asn = \"0\": must be between 1 and 4294967295 (line 3)",
        "peers[0].hold-time = \"2s\": hold-time must be 0 (no hold timer) or at least 3s (line 5)",
        "address-pools[0].protocol = \"layer3\": unknown protocol, expected layer2 or bgp; did you mean \"layer2\"? (line 8)",
        "address-pools[0].addresses[0] = \"192.0.2.0/33\": invalid CIDR: prefix length \"33\" is not a number from 0 to 32 (line 9)",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn reads_raw_config_text_from_stdin() {
    let out = ferrolb(
        &["check-config", "-"],
        Some("address-pools:\n- {name: v6, protocol: layer2, addresses: [2001:db8::/120]}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .contains("-: valid (raw config text)\npools (1):\n  v6 (layer2): IPv6 256 addresses")
    );
}

#[test]
fn clear_messages_for_bad_files() {
    let out = ferrolb(&["check-config", &cli_data("not-yaml.txt")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not-yaml.txt: not YAML:"),
        "{}",
        text(&out.stderr)
    );

    let out = ferrolb(&["check-config", &cli_data("no-config-key.yaml")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no ConfigMap has a \"config\" key in data (config has keys: conf)"),
        "{}",
        text(&out.stderr)
    );

    let out = ferrolb(
        &["check-config", "-"],
        Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no ConfigMap found (kinds present: Namespace)"),
        "{}",
        text(&out.stderr)
    );
}

// ===== metallb.io resources =====

#[test]
fn resources_a_secret_and_the_configmap_add_up() {
    let out = ferrolb(
        &["check-config", &cli_data("resources-with-configmap.yaml")],
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for expected in [
        "resources-with-configmap.yaml: valid (4 configuration objects, 1 Secret)\npools (2):",
        "  office (layer2): IPv4 16 addresses",
        "  public (bgp): IPv4 256 addresses",
        "    service allocation: priority 10, namespaces web",
        "    advertisement: aggregation /32 (IPv4), communities 65535:65281, peers router",
        "  198.51.100.1 peer-asn 64501 my-asn 64500, hold 90s keepalive 30s, TCP MD5 from Secret bgp-auth, no graceful restart, nodes: all",
        "ignored (not configuration): Namespace metallb-system",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("secret-value"), "passwords are never printed");
}

#[test]
fn resource_errors_name_object_path_value_and_file_line() {
    let out = ferrolb(
        &["check-config", &config_data("metallb-crs/kubespray-2.22.yaml")],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for expected in [
        "kubespray-2.22.yaml: 3 errors in the configuration (11 configuration objects):",
        "  BGPAdvertisement metallb-system/peer1-external: spec.communities: duplicate key (also given on line 126) (line 128)",
        "  BGPAdvertisement metallb-system/peer1-local: spec.localpref: unknown key; did you mean \"localPref\"? (line 111)",
        "  BGPPeer metallb-system/peer2: spec.holdTime = \"90\": invalid duration: missing unit (write e.g. 90s or 1m30s) (line 172)",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
}

#[test]
fn the_same_name_in_both_formats_names_both_objects() {
    let input = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: ns}\ndata:\n  config: |\n    \
                 address-pools:\n    - {name: web, protocol: layer2, addresses: [192.0.2.0/28]}\n---\n\
                 apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: web, namespace: ns}\n\
                 spec: {addresses: [192.0.2.8/29]}\n";
    let out = ferrolb(&["check-config", "-"], Some(input));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("IPAddressPool ns/web: metadata.name = \"web\": name already used by ConfigMap ns/config (address-pools[0].name) (line 11)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("IPAddressPool ns/web: spec.addresses[0] = \"192.0.2.8/29\": overlaps ConfigMap ns/config (address-pools[0].addresses[0] = 192.0.2.0/28) on 192.0.2.8/29 (line 12)"),
        "{stderr}"
    );
}

#[test]
fn a_list_of_resources_from_stdin() {
    let input = "apiVersion: v1\nkind: List\nitems:\n\
                 - apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: a, namespace: ns}\n  spec: {addresses: [192.0.2.0/28]}\n\
                 - apiVersion: metallb.io/v1beta1\n  kind: L2Advertisement\n  metadata: {name: a, namespace: ns}\n  spec: {interfaces: [eth0]}\n";
    let out = ferrolb(&["check-config", "-"], Some(input));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("  a (layer2): IPv4 16 addresses\n"), "{stdout}");
    assert!(stdout.contains("    interfaces: eth0\n"), "{stdout}");
}

#[test]
fn usage_and_unreadable_files_exit_2() {
    let out = ferrolb(&["check-config", &cli_data("does-not-exist.yaml")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("does-not-exist.yaml"));
    assert_eq!(ferrolb(&[], None).status.code(), Some(2));
    assert_eq!(ferrolb(&["check-config"], None).status.code(), Some(2));
    let help = ferrolb(&["--help"], None);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("check-config"));
}
