//! `ferrolb import-metallb`: a legacy ConfigMap (MetalLB ≤ v0.12's schema, what kubespray ≤ v2.21 renders)
//! to the equivalent `metallb.io` resources, the direction of MetalLB's `configmaptocrs`: the same object
//! names (`l2advertisement<N>`, `bgpadvertisement<N>`, `peer<N>`, one `Community` named `communities`), names
//! made Kubernetes object names as `configmaptocrs` makes them. Pure: text in, [`Import`] out.
//!
//! The output means what the ConfigMap means to ferrolb: it is loaded back before it is printed and must
//! give the same configuration (so `ferrolb check-config` accepts it). Whatever cannot be said as resources
//! (a `localpref` of 0, which MetalLB's `localPref` reads as "not given"; a `peer-port` above the CRD's
//! 16384; BFD echo mode, which ferrolb refuses in a `BFDProfile`) fails the import with a reason.

use std::fmt::Write as _;

use ferrolb_config::manifest::extract_config;
use ferrolb_config::resources::{load_file, render_resources, with_object_names};
use ferrolb_config::{Config, parse_with_warnings};

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The resources as multi-document YAML (empty when the import failed).
    pub manifest: String,
    /// What the operator must know (renamed objects, warnings of the ConfigMap).
    pub notes: Vec<String>,
    /// Why no resources could be produced (empty on success).
    pub errors: Vec<String>,
}

impl Import {
    /// Whether resources were produced.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report for standard error.
    pub fn report(&self, label: &str) -> String {
        let mut s = String::new();
        for n in &self.notes {
            let _ = writeln!(s, "{label}: note: {n}");
        }
        for e in &self.errors {
            let _ = writeln!(s, "{label}: {e}");
        }
        s
    }

    fn failed(errors: Vec<String>) -> Self {
        Self {
            manifest: String::new(),
            notes: Vec::new(),
            errors,
        }
    }
}

/// Converts the legacy ConfigMap in `input` (a manifest, possibly among other documents, or the raw
/// `config` text) to resources in `namespace`.
pub fn import(input: &str, namespace: &str) -> Import {
    if load_file(input).is_some() {
        return Import::failed(vec![
            "the input holds metallb.io resources already: ferrolb reads them as they are \
             (check them with `ferrolb check-config`)"
                .to_owned(),
        ]);
    }
    let text = match extract_config(input) {
        Ok(text) => text,
        Err(e) => return Import::failed(vec![e.to_string()]),
    };
    let parsed = match parse_with_warnings(&text.text) {
        Ok(parsed) => parsed,
        Err(errors) => {
            let mut out = vec![format!(
                "the ConfigMap is invalid ({} error{}; `ferrolb check-config` shows them with their lines):",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            )];
            out.extend(errors.iter().map(|e| format!("  {e}")));
            return Import::failed(out);
        }
    };
    let (config, renames) = with_object_names(&parsed.config);
    let mut notes: Vec<String> = parsed
        .warnings
        .iter()
        .map(|w| format!("ConfigMap: {w}"))
        .collect();
    for r in &renames {
        let service_hint = if r.kind == "IPAddressPool" {
            " (Services naming the pool in their address-pool annotation must name the new one)"
        } else {
            ""
        };
        notes.push(format!(
            "{} {:?} is named {:?}: not a Kubernetes object name{service_hint}",
            r.kind, r.from, r.to
        ));
    }
    let yaml = match render_resources(&config, namespace) {
        Ok(yaml) => yaml,
        Err(e) => return Import::failed(vec![e.to_string()]),
    };
    if let Err(why) = same_meaning(&yaml, &config) {
        return Import::failed(vec![format!(
            "internal error: the resources do not mean the ConfigMap: {why}"
        )]);
    }
    let manifest = if yaml.is_empty() {
        notes.push("the ConfigMap configures nothing: no resources to write".to_owned());
        String::new()
    } else {
        format!(
            "# Converted by `ferrolb import-metallb` from {}; check it with `ferrolb check-config`.\n{yaml}",
            text.source
        )
    };
    Import {
        manifest,
        notes,
        errors: Vec::new(),
    }
}

/// Loads the resources back: the same configuration, up to the order of objects (resources are in name
/// order).
fn same_meaning(yaml: &str, config: &Config) -> Result<(), String> {
    let Some(load) = load_file(yaml) else {
        return if *config == Config::default() {
            Ok(())
        } else {
            Err("no resources written".to_owned())
        };
    };
    let back = load.result.map_err(|e| e.to_string())?.config;
    if sorted(back) == sorted(config.clone()) {
        Ok(())
    } else {
        Err("the configurations differ".to_owned())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer2_configmap_becomes_a_pool_and_an_advertisement() {
        let out = import(
            "address-pools:\n- {name: default, protocol: layer2, addresses: [192.0.2.0/28]}\n",
            "ferrolb-system",
        );
        assert!(out.ok(), "{out:?}");
        for expected in [
            "kind: IPAddressPool",
            "name: default",
            "namespace: ferrolb-system",
            "kind: L2Advertisement",
            "name: l2advertisement1",
            "- 192.0.2.0/28",
        ] {
            assert!(out.manifest.contains(expected), "{expected}:\n{}", out.manifest);
        }
    }

    #[test]
    fn what_resources_cannot_say_fails_with_a_reason() {
        let out = import(
            "address-pools:\n- {name: a, protocol: bgp, addresses: [192.0.2.0/28], bgp-advertisements: [{localpref: 0}]}\n",
            "ns",
        );
        assert!(!out.ok());
        assert!(out.errors[0].contains("localpref 0"), "{:?}", out.errors);
        let out = import(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: a}\n",
            "ns",
        );
        assert!(out.errors[0].contains("already"), "{:?}", out.errors);
        let out = import("address-pools: [\n", "ns");
        assert!(out.errors[0].contains("not YAML"), "{:?}", out.errors);
        let out = import(
            "address-pools:\n- {name: a, protocol: l2, addresses: [192.0.2.0/28]}\n",
            "ns",
        );
        assert!(
            out.errors[0].contains("the ConfigMap is invalid (1 error"),
            "{:?}",
            out.errors
        );
        assert!(
            out.errors[1].contains("address-pools[0].protocol"),
            "{:?}",
            out.errors
        );
    }
}
