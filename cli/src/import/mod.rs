//! `ferrolb import-metallb`: MetalLB's custom resources (what kubespray ≥ v2.22 renders) to a ferrolb
//! ConfigMap in the legacy schema. Pure: text in, [`Import`] out.
//!
//! How the resources map (docs/kubespray.md has the operator's view):
//! - each `IPAddressPool` becomes a pool; its protocol is `layer2` when `L2Advertisement`s select it, `bgp`
//!   when `BGPAdvertisement`s do (each one becomes one of the pool's `bgp-advertisements`);
//! - an `L2Advertisement`'s `nodeSelectors` and `interfaces` become the pool's (ferrolb's additions);
//! - `serviceAllocation.priority` becomes the pool's position (ferrolb tries pools in order); a pool limited
//!   to namespaces or Services gets `auto-assign: false`;
//! - `BGPPeer`s become `peers`, `Community` entries `bgp-communities`, `BFDProfile`s `bfd-profiles`.
//!
//! Whatever cannot be expressed is a [`Note`] naming the resource. The config is validated with
//! `ferrolb_config::parse` before it is printed, so the output passes `ferrolb check-config`.

mod metallb;
mod node;
mod output;

use std::fmt::Write as _;

pub use metallb::Note;
use node::Node;

/// Where the ConfigMap goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The ConfigMap manifest (empty when the import failed).
    pub manifest: String,
    /// What could not be expressed, per resource.
    pub notes: Vec<Note>,
    /// Why no config could be produced (empty on success).
    pub errors: Vec<String>,
}

impl Import {
    /// Whether a ConfigMap was produced.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report for standard error.
    pub fn report(&self, label: &str) -> String {
        let mut s = String::new();
        if !self.notes.is_empty() {
            let _ = writeln!(
                s,
                "{label}: {} note{} (what ferrolb's config cannot express or reads differently):",
                self.notes.len(),
                if self.notes.len() == 1 { "" } else { "s" }
            );
            for n in &self.notes {
                let _ = writeln!(s, "  {n}");
            }
        }
        for e in &self.errors {
            let _ = writeln!(s, "{label}: {e}");
        }
        s
    }
}

/// Converts the MetalLB resources in `input` (any number of YAML documents, `kind: List` included).
pub fn import(input: &str, target: &Target) -> Import {
    let mut notes = Vec::new();
    let docs = match Node::parse_documents(input) {
        Ok(d) => d,
        Err(e) => {
            return Import {
                manifest: String::new(),
                notes,
                errors: vec![format!("not YAML: {e}")],
            };
        }
    };
    let resources = metallb::read(&docs, &mut notes);
    if resources.count == 0 {
        return Import {
            manifest: String::new(),
            notes,
            errors: vec![format!(
                "no MetalLB configuration resources (metallb.io: {})",
                metallb::CONFIG_KINDS.join(", ")
            )],
        };
    }
    let built = output::build(&resources, &mut notes);
    match ferrolb_config::parse(&built.text) {
        Ok(_) => Import {
            manifest: output::config_map(&built.text, target, resources.count),
            notes,
            errors: Vec::new(),
        },
        Err(errors) => Import {
            manifest: String::new(),
            notes,
            errors: errors
                .iter()
                .map(|e| {
                    let source = built
                        .source_of(&e.path)
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default();
                    let value = e
                        .value
                        .as_deref()
                        .map(|v| format!(" = {v:?}"))
                        .unwrap_or_default();
                    format!(
                        "the converted config is invalid: {}{value}{source}: {}",
                        e.path, e.kind
                    )
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests;
