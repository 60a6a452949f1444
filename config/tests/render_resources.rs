//! A legacy ConfigMap written as `metallb.io` resources (`render_resources`, what `ferrolb import-metallb`
//! prints) means the same configuration: for every ConfigMap fixture of tests/data, ConfigMap → resources →
//! `load_file` gives the ConfigMap's `Config` (object names made Kubernetes names, objects in name order).

use ferrolb_config::manifest::extract_config;
use ferrolb_config::resources::{load_file, render_resources, with_object_names};
use ferrolb_config::{Config, parse};

/// The same configuration with every kind of object in name order (resources are read in name order).
fn normalized(mut c: Config) -> Config {
    c.pools.sort_by(|a, b| a.name.cmp(&b.name));
    c.l2_advertisements.sort_by(|a, b| a.name.cmp(&b.name));
    c.bgp_advertisements.sort_by(|a, b| a.name.cmp(&b.name));
    c.peers.sort_by(|a, b| a.name.cmp(&b.name));
    c.bfd_profiles.sort_by(|a, b| a.name.cmp(&b.name));
    // An advertisement's pools are a set, listed in pool order, which is name order for resources.
    c.l2_advertisements.iter_mut().for_each(|a| a.pools.sort());
    c.bgp_advertisements.iter_mut().for_each(|a| a.pools.sort());
    c
}

#[test]
fn every_configmap_fixture_means_the_same_as_resources() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let input = std::fs::read_to_string(&path).unwrap();
        let name = path.display();
        let text = extract_config(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = parse(&text.text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (named, _) = with_object_names(&config);
        let yaml = render_resources(&named, "ferrolb-system").unwrap_or_else(|e| panic!("{name}: {e}"));
        let load = load_file(&yaml).unwrap_or_else(|| panic!("{name}: no resources in\n{yaml}"));
        let back = load
            .result
            .unwrap_or_else(|e| panic!("{name}:\n{e}\n{yaml}"))
            .config;
        assert_eq!(normalized(back), normalized(named), "{name}:\n{yaml}");
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} fixtures");
}

#[test]
fn names_that_are_not_object_names_are_renamed_and_followed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/kubespray-bgp-full.yaml");
    let input = std::fs::read_to_string(path).unwrap();
    let config = parse(&extract_config(&input).unwrap().text).unwrap();
    let (named, renames) = with_object_names(&config);
    let pairs: Vec<(&str, &str)> = renames.iter().map(|r| (r.from.as_str(), r.to.as_str())).collect();
    assert_eq!(
        pairs,
        [("extra_pool", "extra-pool"), ("extra_pool2", "extra-pool2")]
    );
    assert!(named.l2_advertisements[0].pools == ["extra-pool"]);
    assert!(
        named
            .bgp_advertisements
            .iter()
            .any(|a| a.pools == ["extra-pool2"])
    );
}

/// Fuzz finding (`config_resources`, seeded with tests/data/metallb-crs): a peer whose password comes from a
/// Secret was written without the Secret, so the resources did not load on their own. They now carry it.
#[test]
fn a_password_from_a_secret_is_written_with_its_secret() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/metallb-crs/configsamples-peers.yaml"
    );
    let input = std::fs::read_to_string(path).unwrap();
    let config = load_file(&input).unwrap().result.unwrap().config;
    let yaml = render_resources(&config, "elsewhere").unwrap();
    assert!(yaml.contains("kind: Secret\nmetadata:\n  name: secretname\n  namespace: elsewhere\ntype: kubernetes.io/basic-auth\n"), "{yaml}");
    let back = load_file(&yaml)
        .unwrap()
        .result
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
        .config;
    assert_eq!(normalized(back), normalized(config));
}

/// Fuzz finding (`config_resources`): pools of two namespaces written into one come back in another order,
/// and an advertisement lists its pools in pool order; the meaning (which pools it selects) is the same.
#[test]
fn pools_of_several_namespaces_written_into_one_select_the_same() {
    let input = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: b, namespace: first}\n\
                 spec: {addresses: [192.0.2.0/28]}\n---\n\
                 apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a, namespace: second}\n\
                 spec: {addresses: [192.0.2.16/28]}\n---\n\
                 apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {name: all, namespace: first}\n";
    let config = load_file(input).unwrap().result.unwrap().config;
    assert_eq!(
        config.l2_advertisements[0].pools,
        ["b", "a"],
        "namespace, then name order"
    );
    let yaml = render_resources(&config, "one").unwrap();
    let back = load_file(&yaml).unwrap().result.unwrap().config;
    assert_eq!(back.l2_advertisements[0].pools, ["a", "b"]);
    assert_eq!(normalized(back), normalized(config));
}
