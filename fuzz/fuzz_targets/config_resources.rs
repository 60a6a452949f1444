//! Fuzzes the `metallb.io` resource decoder. The input is tried two ways: as a file of YAML documents
//! (`resources::load_file`, what `ferrolb check-config` reads) and, when it is JSON, as the spec of each
//! configuration kind handed over as the API server would (`state::load`). Besides "never panics", it checks:
//! every error names its object; a configuration loaded from a file that can be written back as resources
//! loads back to itself (model → resources → model).
//!
//! Seed it with the fixtures: `cargo fuzz run config_resources <corpus-dir> ../config/tests/data/metallb-crs`.

#![no_main]

use std::collections::BTreeMap;

use ferrolb_config::resources::{load_file, render_resources, with_object_names};
use ferrolb_config::state::{ResourceSource, SecretSource, Sources, load};
use ferrolb_config::{Config, ObjectRef};
use libfuzzer_sys::fuzz_target;

const KINDS: [(&str, &str); 7] = [
    ("IPAddressPool", "metallb.io/v1beta1"),
    ("L2Advertisement", "metallb.io/v1beta1"),
    ("BGPAdvertisement", "metallb.io/v1beta1"),
    ("BGPPeer", "metallb.io/v1beta1"),
    ("BGPPeer", "metallb.io/v1beta2"),
    ("BFDProfile", "metallb.io/v1beta1"),
    ("Community", "metallb.io/v1beta1"),
];

fn sorted(mut c: Config) -> Config {
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

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(file) = load_file(text) {
        match file.result {
            Ok(parsed) => {
                let (named, _) = with_object_names(&parsed.config);
                if let Ok(yaml) = render_resources(&named, "ns")
                    && let Some(again) = load_file(&yaml)
                {
                    let again = again.result.expect("written resources load").config;
                    assert_eq!(sorted(again), sorted(named), "round trip failed; resources:\n{yaml}");
                }
            }
            Err(errors) => assert!(errors.iter().all(|e| e.object.is_some())),
        }
    }
    if let Ok(spec) = serde_json::from_str::<serde_json::Value>(text) {
        let resources = KINDS
            .iter()
            .map(|(kind, api_version)| ResourceSource {
                object: ObjectRef::new(*kind, "ns", "a"),
                api_version: (*api_version).to_owned(),
                labels: BTreeMap::new(),
                spec: spec.clone(),
            })
            .collect();
        let secret = SecretSource {
            type_: "kubernetes.io/basic-auth".to_owned(),
            data: BTreeMap::from([("password".to_owned(), b"pw".to_vec())]),
        };
        let sources = Sources {
            config_map: None,
            resources,
            secrets: BTreeMap::from([(("ns".to_owned(), "s".to_owned()), secret)]),
        };
        if let Err(errors) = load(&sources) {
            assert!(errors.iter().all(|e| e.object.is_some()));
        }
    }
});
