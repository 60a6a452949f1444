//! Unit tests of the MetalLB import: each mapping rule and each note, on small inputs.

use super::*;

fn target() -> Target {
    Target {
        namespace: "ferrolb-system".into(),
        name: "config".into(),
    }
}

/// The config text of a successful import, re-parsed.
fn config_of(r: &Import) -> ferrolb_config::Config {
    assert!(r.ok(), "{}", r.report("t"));
    let text = ferrolb_config::manifest::extract_config(&r.manifest).expect("a ConfigMap");
    ferrolb_config::parse(&text.text).expect("valid config")
}

fn notes_of(r: &Import) -> String {
    r.report("t")
}

const POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec:\n  addresses: [192.0.2.0/28]\n";

#[test]
fn layer2_pool_with_nodes_and_interfaces() {
    let input = format!(
        "{POOL}---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: a, namespace: metallb-system}}\nspec:\n  ipAddressPools: [p]\n  interfaces: [eth0]\n  nodeSelectors:\n  - matchLabels: {{zone: a}}\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: b, namespace: metallb-system}}\nspec:\n  ipAddressPoolSelectors:\n  - matchExpressions: [{{key: missing, operator: DoesNotExist}}]\n  interfaces: [eth1]\n  nodeSelectors:\n  - matchLabels: {{zone: b}}\n"
    );
    let r = import(&input, &target());
    let c = config_of(&r);
    assert_eq!(c.protocols("p"), [ferrolb_config::Protocol::Layer2]);
    let l2 = c.l2_advertisements_for("p").next().unwrap();
    assert_eq!(l2.interfaces, ["eth0", "eth1"]);
    assert_eq!(l2.node_selectors.len(), 2);
    assert!(r.notes.is_empty(), "{}", notes_of(&r));
    assert!(r.manifest.contains("namespace: ferrolb-system"));
}

#[test]
fn an_advertisement_without_nodes_opens_the_pool_to_all_nodes() {
    let input = format!(
        "{POOL}---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: a}}\nspec:\n  nodeSelectors: [{{matchLabels: {{zone: a}}}}]\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: all}}\n"
    );
    let c = config_of(&import(&input, &target()));
    assert!(
        c.l2_advertisements_for("p")
            .next()
            .unwrap()
            .node_selectors
            .is_empty()
    );
}

#[test]
fn bgp_pools_get_one_advertisement_per_bgp_advertisement() {
    let input = format!(
        "{POOL}---\napiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {{name: c}}\nspec:\n  communities: [{{name: mine, value: '64512:7'}}]\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: ext}}\nspec:\n  ipAddressPools: [p]\n  aggregationLength: 28\n  localPref: 50\n  communities: [mine, '64512:8', 'large:1:2:3', no-export]\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: loc}}\nspec:\n  ipAddressPools: [p]\n  communities: [unknown-alias]\n  peers: [r1]\n"
    );
    let r = import(&input, &target());
    let c = config_of(&r);
    assert_eq!(c.protocols("p"), [ferrolb_config::Protocol::Bgp]);
    let advs: Vec<_> = c.bgp_advertisements_for("p").collect();
    assert_eq!(advs.len(), 2);
    assert_eq!(advs[0].aggregation_length, 28);
    assert_eq!(advs[0].local_pref, Some(50));
    assert_eq!(advs[0].communities.len(), 4);
    assert!(r.manifest.contains("mine: \"64512:7\""), "{}", r.manifest);
    let notes = notes_of(&r);
    assert!(
        notes.contains("BGPAdvertisement loc: community \"unknown-alias\" is neither"),
        "{notes}"
    );
    assert!(
        notes.contains("BGPAdvertisement loc: spec.peers cannot be expressed"),
        "{notes}"
    );
    assert!(notes.contains("well-known name"), "{notes}");
}

#[test]
fn kubespray_template_quirks_are_read_for_what_was_meant() {
    let input = "---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  namespace: metallb-system\n  name: \"pool\"\nspec:\n  addresses:\n  - \"192.0.2.0/24\"\n  autoAssign: False\n  avoidBuggyIPs: true\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: \"r1-local\"\n  namespace: metallb-system\nspec:\n  aggregationLength: 32\n  aggregationLengthV6: 128\n  communities:\n  - no-advertise\n  localpref: \"100\"\n  ipAddressPools:\n  - \"pool\"\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: \"r1-external\"\n  namespace: metallb-system\nspec:\n  aggregationLength: 24\n  ipAddressPools:\n  - \"pool\"\n  communities:\n  - \"64512:1\"\n  communities:\n  - \"64512:2\"\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: \"r1\"\n  namespace: metallb-system\nspec:\n  myASN: 64512\n  peerASN: 64513\n  peerAddress: 198.51.100.1\n  peerPort: 179\n  holdTime: 120\n  ebgpMultiHop: True\n";
    let r = import(input, &target());
    let c = config_of(&r);
    let p = c.pool("pool").unwrap();
    assert!(!p.auto_assign && p.avoid_buggy_ips);
    let advs: Vec<_> = c.bgp_advertisements_for("pool").collect();
    assert_eq!(advs[0].local_pref, Some(100));
    assert_eq!(advs[1].communities.len(), 2, "every repeated list");
    assert_eq!(c.peers[0].hold_time.as_secs(), 120);
    assert!(c.peers[0].ebgp_multihop);
    let notes = notes_of(&r);
    assert!(
        notes.contains("BGPAdvertisement metallb-system/r1-local: spec.localpref (kubespray's spelling"),
        "{notes}"
    );
    assert!(notes.contains("spec.communities is given 2 times"), "{notes}");
    assert!(
        notes.contains("BGPPeer metallb-system/r1: spec.holdTime: 120 has no unit"),
        "{notes}"
    );
}

#[test]
fn pools_are_ordered_by_priority_and_restricted_pools_are_not_auto_assigned() {
    let input = "kind: List\napiVersion: v1\nitems:\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: plain}\n  spec: {addresses: [192.0.2.0/28]}\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: second}\n  spec: {addresses: [192.0.2.16/28], serviceAllocation: {priority: 20}}\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: first}\n  spec: {addresses: [192.0.2.32/28], serviceAllocation: {priority: 10, namespaces: [prod]}}\n- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n  metadata: {name: manual}\n  spec: {addresses: [192.0.2.48/28], autoAssign: false, serviceAllocation: {namespaceSelectors: [{matchLabels: {team: a}}]}}\n";
    let r = import(input, &target());
    let c = config_of(&r);
    let names: Vec<&str> = c.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["first", "second", "plain", "manual"]);
    assert!(!c.pool("first").unwrap().auto_assign);
    assert!(c.pool("second").unwrap().auto_assign);
    let notes = notes_of(&r);
    assert!(
        notes.contains("IPAddressPool first: spec.serviceAllocation limits the pool"),
        "{notes}"
    );
    assert!(
        notes.contains("priority 20 is expressed by the pool's position"),
        "{notes}"
    );
    assert!(
        notes.contains("IPAddressPool plain: no L2Advertisement or BGPAdvertisement"),
        "{notes}"
    );
}

#[test]
fn peers_that_cannot_be_expressed_are_skipped_with_a_reason() {
    let peer = |spec: &str| {
        format!("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: r}}\nspec: {spec}\n")
    };
    for (spec, want) in [
        (
            "{myASN: 1, dynamicASN: external, peerAddress: 198.51.100.1}",
            "spec.dynamicASN",
        ),
        (
            "{myASN: 1, peerASN: 2, interface: eth0}",
            "spec.interface (unnumbered BGP)",
        ),
        (
            "{myASN: 1, peerASN: 2, peerAddress: 198.51.100.1, vrf: red}",
            "spec.vrf",
        ),
    ] {
        let r = import(&format!("{POOL}---\n{}", peer(spec)), &target());
        let c = config_of(&r);
        assert!(c.peers.is_empty(), "{spec}");
        let notes = notes_of(&r);
        assert!(
            notes.contains(want) && notes.contains("the peer is skipped"),
            "{spec}: {notes}"
        );
    }
    let r = import(
        &(format!(
            "{POOL}---\n{}",
            peer(
                "{myASN: 1, peerASN: 2, peerAddress: 198.51.100.1, passwordSecret: {name: s}, connectTime: 5s, enableGracefulRestart: true, bfdProfile: fast, nodeSelectors: [{matchLabels: {a: b}}]}"
            )
        ) + "---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {receiveInterval: 100, echoMode: true}\n"),
        &target(),
    );
    let c = config_of(&r);
    assert_eq!(c.peers.len(), 1);
    assert_eq!(c.peers[0].bfd_profile.as_deref(), Some("fast"));
    assert_eq!(c.bfd_profiles[0].receive_interval_ms, 100);
    assert_eq!(c.peers[0].node_selectors.len(), 1);
    let notes = notes_of(&r);
    for want in [
        "spec.passwordSecret (s)",
        "spec.connectTime",
        "spec.enableGracefulRestart",
        "BFD is validated",
    ] {
        assert!(notes.contains(want), "{want}: {notes}");
    }
}

#[test]
fn invalid_results_and_inputs_fail_with_the_culprit() {
    let overlap = format!(
        "{POOL}---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: q, namespace: metallb-system}}\nspec:\n  addresses: [192.0.2.8/29]\n"
    );
    let r = import(&overlap, &target());
    assert!(!r.ok());
    assert!(r.manifest.is_empty());
    let report = r.report("in.yaml");
    assert!(
        report.contains("address-pools[1].addresses[0] = \"192.0.2.8/29\" (IPAddressPool metallb-system/q)"),
        "{report}"
    );
    let r = import(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\n",
        &target(),
    );
    assert!(!r.ok());
    assert!(
        r.report("x")
            .contains("ConfigMap config: not a MetalLB configuration resource")
    );
    assert!(r.report("x").contains("no MetalLB configuration resources"));
    assert!(!import("a: [", &target()).ok());
    let r = import(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [192.0.2.0/28], autoAsign: false}\n",
        &target(),
    );
    assert!(
        r.report("x")
            .contains("spec.autoAsign is not a field of this kind")
    );
}
