//! Every `yaml` example in docs/config.md is a valid configuration (without warnings) — legacy `config` text,
//! or `metallb.io` resources read as `ferrolb check-config` reads them — so the reference cannot drift from
//! the decoders.

use std::collections::BTreeMap;

use ferrolb_config::resources::load_file;
use ferrolb_config::{AddressFamily, Config, parse_with_warnings};

fn yaml_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start() == "```yaml" => current = Some((n + 1, String::new())),
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "unterminated yaml block");
    blocks
}

#[test]
fn documented_examples_are_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md");
    let markdown = std::fs::read_to_string(path).expect("docs/config.md");
    let blocks = yaml_blocks(&markdown);
    assert!(blocks.len() >= 4, "found {} yaml blocks", blocks.len());
    let mut configs = Vec::new();
    let mut resources: Vec<Config> = Vec::new();
    for (line, text) in &blocks {
        if text.contains("apiVersion: metallb.io/") {
            let load = load_file(text).unwrap_or_else(|| panic!("docs/config.md:{line}: no resources"));
            let parsed = load
                .result
                .unwrap_or_else(|e| panic!("docs/config.md:{line}:\n{e}"));
            assert!(
                parsed.warnings.is_empty(),
                "docs/config.md:{line}: {:?}",
                parsed.warnings
            );
            resources.push(parsed.config);
            continue;
        }
        let parsed = parse_with_warnings(text).unwrap_or_else(|e| panic!("docs/config.md:{line}:\n{e}"));
        assert!(
            parsed.warnings.is_empty(),
            "docs/config.md:{line}: {:?}",
            parsed.warnings
        );
        configs.push(parsed.config);
    }
    // The node-selector example means what the text under it says.
    let selector_example = configs
        .iter()
        .find(|c| c.peers.len() == 1 && c.pools.is_empty())
        .expect("peer example");
    let node = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let peer = &selector_example.peers[0];
    assert!(peer.selects_node(&node(&[("kubernetes.io/hostname", "node-1")])));
    assert!(peer.selects_node(&node(&[("topology.kubernetes.io/zone", "zone-b")])));
    assert!(!peer.selects_node(&node(&[
        ("topology.kubernetes.io/zone", "zone-b"),
        ("node-role.kubernetes.io/control-plane", "")
    ])));
    assert!(!peer.selects_node(&node(&[("topology.kubernetes.io/zone", "zone-c")])));
    // The layer2 and BGP examples.
    let office = configs
        .iter()
        .find_map(|c| c.pool("office"))
        .expect("layer2 example");
    assert!(office.has_family(AddressFamily::V4) && office.has_family(AddressFamily::V6));
    let public = configs
        .iter()
        .find(|c| c.pool("public").is_some())
        .expect("bgp example");
    assert_eq!(public.bgp_advertisements_for("public").count(), 2);
    // The resources example means what the text around it says.
    let crs = resources
        .iter()
        .find(|c| c.pool("internet").is_some())
        .expect("resources example");
    let order: Vec<&str> = crs
        .auto_assign_order("shop", &BTreeMap::new(), &node(&[("tier", "frontend")]))
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(order, ["internet", "lan"]);
    let order: Vec<&str> = crs
        .auto_assign_order("other", &BTreeMap::new(), &BTreeMap::new())
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(order, ["lan"]);
    assert_eq!(
        crs.peers[0].password.as_ref().map(|p| p.value.as_str()),
        Some("rack-a-secret")
    );
}
