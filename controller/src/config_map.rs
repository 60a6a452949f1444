//! The pool ConfigMap: its projection, the last good config, and what each new version means. Pure: no I/O.
//!
//! Rules (docs/architecture.md, DEVELOPERS.md):
//! - A valid ConfigMap replaces the config in force, atomically (the caller switches the allocator's pools in
//!   one call).
//! - An invalid one — YAML or schema errors, a missing `config` key — changes nothing: the last good config
//!   stays in force, nothing is withdrawn, and the config is marked *stale*. The caller reports every error in
//!   one Warning Event on the ConfigMap.
//! - A deleted ConfigMap also keeps the last good config (stale): removing every pool takes an explicit empty
//!   config, never an accident.

use std::sync::Arc;

use ferrolb_config::Config;
use k8s_openapi::api::core::v1::ConfigMap;

use crate::allocator::{Allocator, PoolDef};

/// The key of the ConfigMap that holds the config text.
pub const CONFIG_KEY: &str = "config";

/// The ConfigMap, projected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapView {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
    /// `data.config`, if present.
    pub text: Option<String>,
}

impl ConfigMapView {
    /// Projects a ConfigMap. `None` without a name or namespace.
    pub fn from_config_map(cm: ConfigMap) -> Option<Self> {
        Some(Self {
            namespace: cm.metadata.namespace?,
            name: cm.metadata.name?,
            uid: cm.metadata.uid.unwrap_or_default(),
            resource_version: cm.metadata.resource_version.unwrap_or_default(),
            text: cm.data.and_then(|mut d| d.remove(CONFIG_KEY)),
        })
    }
}

/// What a new ConfigMap version means for the config in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Valid and equal to the config in force: nothing to do.
    Unchanged,
    /// Valid and different: switch to it.
    Switch(Arc<Config>),
    /// Invalid: the config in force stays. `errors` lists every problem, one per line.
    Invalid {
        /// Every error, one per entry.
        errors: Vec<String>,
    },
}

/// The config in force and whether it is current.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    current: Option<Arc<Config>>,
    stale: bool,
}

impl ConfigState {
    /// The config in force, if one was ever loaded.
    pub fn current(&self) -> Option<&Arc<Config>> {
        self.current.as_ref()
    }

    /// Whether a valid config was ever loaded.
    pub fn loaded(&self) -> bool {
        self.current.is_some()
    }

    /// Whether the ConfigMap is invalid or gone, so the config in force is older than what was asked for.
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// Takes in a new version of the ConfigMap.
    pub fn apply(&mut self, cm: &ConfigMapView) -> Outcome {
        let Some(text) = &cm.text else {
            self.stale = true;
            return Outcome::Invalid {
                errors: vec![format!("the ConfigMap has no key {CONFIG_KEY:?}")],
            };
        };
        let parsed =
            ferrolb_config::parse(text).map_err(|errors| errors.iter().map(ToString::to_string).collect());
        // The allocator's own checks of the pools (the parser's are stricter; this keeps the two in step).
        let checked = parsed.and_then(|config| match Allocator::new(&pool_defs(&config)) {
            Ok(_) => Ok(config),
            Err(e) => Err(vec![e.to_string()]),
        });
        match checked {
            Ok(config) => {
                self.stale = false;
                if self.current.as_deref() == Some(&config) {
                    return Outcome::Unchanged;
                }
                let config = Arc::new(config);
                self.current = Some(config.clone());
                Outcome::Switch(config)
            }
            Err(errors) => {
                self.stale = true;
                Outcome::Invalid { errors }
            }
        }
    }

    /// The ConfigMap was deleted: the config in force stays, marked stale.
    pub fn deleted(&mut self) {
        self.stale = true;
    }
}

/// The allocator's pools for a config, in config order.
pub fn pool_defs(config: &Config) -> Vec<PoolDef> {
    config
        .pools
        .iter()
        .map(|p| PoolDef {
            name: p.name.clone(),
            auto_assign: p.auto_assign,
            avoid_buggy_ips: p.avoid_buggy_ips,
            ranges: p.addresses.iter().map(|r| r.start()..=r.end()).collect(),
        })
        .collect()
}

/// The Warning Event's message for an invalid ConfigMap: what stays in force, then every error.
pub fn invalid_message(cm: &ConfigMapView, errors: &[String], state: &ConfigState) -> String {
    let keeping = if state.loaded() {
        "the last valid configuration stays in force and nothing is withdrawn"
    } else {
        "no valid configuration has been loaded yet, so no address is assigned"
    };
    let mut msg = format!(
        "ConfigMap {}/{} (resourceVersion {}) is invalid; {keeping}. {} error{}:",
        cm.namespace,
        cm.name,
        cm.resource_version,
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        msg.push_str("\n- ");
        msg.push_str(e);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(rv: &str, text: Option<&str>) -> ConfigMapView {
        ConfigMapView {
            namespace: "ferrolb-system".into(),
            name: "config".into(),
            uid: "u".into(),
            resource_version: rv.into(),
            text: text.map(str::to_owned),
        }
    }

    const GOOD: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n";
    const OTHER: &str = "address-pools:\n- name: default\n  protocol: layer2\n  addresses: [192.0.2.0/27]\n";
    const BAD: &str =
        "address-pools:\n- name: default\n  protocol: layer3\n  addresses: [192.0.2.0/33, nope]\n";

    #[test]
    fn good_bad_and_gone() {
        let mut st = ConfigState::default();
        assert!(!st.loaded());
        let Outcome::Switch(c) = st.apply(&cm("1", Some(GOOD))) else {
            panic!("switch")
        };
        assert_eq!(pool_defs(&c)[0].name, "default");
        assert!(st.loaded() && !st.stale());
        assert_eq!(st.apply(&cm("2", Some(GOOD))), Outcome::Unchanged);
        let Outcome::Invalid { errors } = st.apply(&cm("3", Some(BAD))) else {
            panic!("invalid")
        };
        assert!(errors.len() >= 3, "every error is listed: {errors:?}");
        assert!(st.stale());
        assert_eq!(st.current(), Some(&c), "the last good config stays");
        let msg = invalid_message(&cm("3", Some(BAD)), &errors, &st);
        assert!(msg.contains("last valid configuration stays in force"), "{msg}");
        assert_eq!(msg.lines().count(), errors.len() + 1);
        assert!(matches!(st.apply(&cm("4", Some(OTHER))), Outcome::Switch(_)));
        assert!(!st.stale());
        st.deleted();
        assert!(st.stale() && st.loaded());
        assert!(
            matches!(st.apply(&cm("5", None)), Outcome::Invalid { errors } if errors[0].contains("no key"))
        );
    }

    #[test]
    fn invalid_first_config_says_nothing_is_assigned() {
        let mut st = ConfigState::default();
        let Outcome::Invalid { errors } = st.apply(&cm("1", Some(BAD))) else {
            panic!("invalid")
        };
        assert!(invalid_message(&cm("1", Some(BAD)), &errors, &st).contains("no address is assigned"));
        assert!(!st.loaded());
    }

    #[test]
    fn pools_map_in_config_order() {
        let text = "address-pools:\n- name: b\n  protocol: bgp\n  auto-assign: false\n  avoid-buggy-ips: true\n  \
                    addresses: [198.51.100.0/24, 2001:db8::/120]\n- name: a\n  protocol: layer2\n  \
                    addresses: [192.0.2.10-192.0.2.20]\n";
        let config = ferrolb_config::parse(text).expect("valid");
        let defs = pool_defs(&config);
        assert_eq!(
            defs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        assert!(!defs[0].auto_assign && defs[0].avoid_buggy_ips);
        assert_eq!(defs[0].ranges.len(), 2);
        assert_eq!(
            defs[1].ranges[0],
            "192.0.2.10".parse().expect("ip")..="192.0.2.20".parse().expect("ip")
        );
    }
}
