//! The configuration as the programs make it of the same objects: [`ferrolb_config::ConfigState`] fed the
//! [`Sources`] projected by `ferrolb_k8s::config` — no interpretation of its own. Pure.
//!
//! One difference, said in the output: an operator may not be allowed to read Secrets (the built-in `view`
//! role is not). Then each Secret a `BGPPeer` names as its `passwordSecret` that could not be read is taken
//! as a valid `kubernetes.io/basic-auth` Secret, so that a configuration the programs accept is not
//! reported invalid for want of a password this tool never needs.

use std::collections::{BTreeMap, BTreeSet};

use ferrolb_config::{ConfigState, ObjectRef, SecretSource, Sources, Status};
use serde::Serialize;

use super::snapshot::ConfigObjects;

/// The configuration of the objects.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What the programs would make of the objects (status, configuration, errors).
    pub state: ConfigState,
    /// The configuration objects (not the Secrets), sorted.
    pub objects: Vec<ObjectRef>,
}

/// Loads the objects as the programs do.
pub fn load(objects: &ConfigObjects) -> Loaded {
    let mut sources = objects.sources.clone();
    for key in objects.unread_secrets.keys() {
        if sources.secrets.contains_key(key) {
            continue;
        }
        let secret = SecretSource {
            type_: "kubernetes.io/basic-auth".to_owned(),
            data: BTreeMap::from([("password".to_owned(), b"not-read".to_vec())]),
        };
        sources.secrets.insert(key.clone(), secret);
    }
    let mut state = ConfigState::default();
    state.update(&sources);
    Loaded {
        state,
        objects: sources.objects(),
    }
}

/// The Secrets (namespace, name) the `BGPPeer` resources name as their `passwordSecret`: the only Secrets
/// a configuration reads.
pub fn password_secrets(sources: &Sources) -> BTreeSet<(String, String)> {
    sources
        .resources
        .iter()
        .filter(|r| r.object.kind == "BGPPeer")
        .filter_map(|r| {
            let name = r.spec["passwordSecret"]["name"]
                .as_str()
                .filter(|n| !n.is_empty())?;
            Some((r.object.namespace.clone(), name.to_owned()))
        })
        .collect()
}

/// `ConfigMap ferrolb-system/config, 2 IPAddressPools, 1 L2Advertisement` (`none` when empty).
pub fn describe(objects: &[ObjectRef]) -> String {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut parts = Vec::new();
    for o in objects {
        if o.kind == "ConfigMap" {
            parts.push(o.to_string());
        } else {
            *kinds.entry(o.kind.as_str()).or_default() += 1;
        }
    }
    for (kind, n) in kinds {
        parts.push(format!("{n} {kind}{}", if n == 1 { "" } else { "s" }));
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Where pool `name` is defined: its `IPAddressPool`, else the ConfigMap (`None` when neither holds it).
pub fn pool_source(objects: &[ObjectRef], name: &str) -> Option<ObjectRef> {
    objects
        .iter()
        .find(|o| o.kind == "IPAddressPool" && o.name == name)
        .or_else(|| objects.iter().find(|o| o.kind == "ConfigMap"))
        .cloned()
}

/// The configuration objects as this tool reads them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// The objects, summarised ([`describe`]).
    pub objects: String,
    /// `valid`, `invalid` or `none`.
    pub result: &'static str,
    /// Every error (invalid).
    pub errors: Vec<String>,
    /// Number of pools (valid).
    pub pools: usize,
}

/// [`Configuration`] with what is wrong (`problems`) and what to know (`notes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The configuration line.
    pub configuration: Configuration,
    /// No configuration, or an invalid one.
    pub problems: Vec<String>,
    /// Secrets taken as valid.
    pub notes: Vec<String>,
}

/// The summary of `loaded` (from `objects`, read in `namespace`).
pub fn summarize(loaded: &Loaded, objects: &ConfigObjects, namespace: &str) -> Summary {
    let mut problems = Vec::new();
    let (result, errors, pools) = match loaded.state.status() {
        Status::Valid => {
            let pools = loaded.state.current().map_or(0, |c| c.pools.len());
            ("valid", Vec::new(), pools)
        }
        Status::Absent | Status::Deleted(_) => {
            problems.push(format!(
                "no configuration in namespace {namespace}: no ConfigMap and no metallb.io resources"
            ));
            ("none", Vec::new(), 0)
        }
        Status::Invalid(e) => {
            let n = e.len();
            problems.push(format!(
                "the configuration objects are invalid ({n} error{})",
                if n == 1 { "" } else { "s" }
            ));
            ("invalid", e.iter().map(ToString::to_string).collect(), 0)
        }
    };
    let notes = objects
        .unread_secrets
        .values()
        .map(|gap| format!("{gap}; taken as a valid password Secret"))
        .collect();
    Summary {
        configuration: Configuration {
            objects: describe(&loaded.objects),
            result,
            errors,
            pools,
        },
        problems,
        notes,
    }
}
