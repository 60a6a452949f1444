//! The configuration in force, from the cluster's configuration objects: one pure state machine that both
//! programs (and `ferrolb check-config`) run, so that they always agree on what is in force.
//!
//! ```text
//!  configuration objects (Sources) ──▶ load ──▶ ConfigState::update ──▶ Update (what changed)
//!                                               current · status · warnings
//! ```
//!
//! The rule, the same everywhere:
//! - a **valid** configuration replaces the one in force, atomically;
//! - an **invalid** configuration changes nothing: the last valid one stays in force, nothing is withdrawn,
//!   the state is *stale* and its errors say why, each naming the object, the path inside it and the value;
//! - a **deleted** configuration (every configuration object gone) is treated like an invalid one: the last
//!   valid configuration stays in force, stale, with an error naming what was deleted. Removing every pool
//!   takes a configuration without pools, never an accident;
//! - before any configuration object was seen nothing is in force (the programs wait, not ready).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{ConfigError, ConfigErrors, ConfigWarning, ErrorKind, ObjectRef};
use crate::model::Config;
use crate::validate::Parsed;

/// The legacy ConfigMap (MetalLB's schema in one key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapSource {
    /// The ConfigMap.
    pub object: ObjectRef,
    /// The key holding the config text (`config`).
    pub key: String,
    /// That key's value, if present.
    pub text: Option<String>,
}

/// Every configuration object of the cluster that ferrolb reads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    /// The legacy ConfigMap, if it exists.
    pub config_map: Option<ConfigMapSource>,
    /// The metallb.io configuration resources, in any order: IPAddressPool, L2Advertisement, BGPAdvertisement,
    /// BGPPeer, BFDProfile, Community (v1beta1; BGPPeer also v1beta2).
    pub resources: Vec<ResourceSource>,
    /// Secrets of the namespaces the resources come from, by (namespace, name) (BGPPeer.passwordSecret).
    pub secrets: BTreeMap<(String, String), SecretSource>,
}

/// One `metallb.io` configuration resource as the API server returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceSource {
    /// Its kind (e.g. `IPAddressPool`), namespace and name.
    pub object: ObjectRef,
    /// `metallb.io/v1beta1` or `metallb.io/v1beta2`.
    pub api_version: String,
    /// `metadata.labels` (`ipAddressPoolSelectors` select pools by them).
    pub labels: BTreeMap<String, String>,
    /// `.spec` as the API server returned it (`Null` when absent).
    pub spec: serde_json::Value,
}

/// A Secret a `BGPPeer` may take its password from.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// Its `type` (`kubernetes.io/basic-auth` for a password).
    pub type_: String,
    /// Its `data`, decoded.
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for SecretSource {
    /// The keys, never the values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSource")
            .field("type_", &self.type_)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Sources {
    /// The configuration objects present (the ConfigMap and the resources; Secrets are not configuration).
    pub fn objects(&self) -> Vec<ObjectRef> {
        let mut objects: Vec<ObjectRef> = self.config_map.iter().map(|c| c.object.clone()).collect();
        objects.extend(self.resources.iter().map(|r| r.object.clone()));
        objects.sort();
        objects
    }

    /// Whether no configuration object exists (Secrets alone are not configuration).
    pub fn is_empty(&self) -> bool {
        self.config_map.is_none() && self.resources.is_empty()
    }
}

/// The configuration these objects describe, or every error found (each naming its object). The legacy
/// ConfigMap and the resources add up into one configuration; see [`crate::resources`].
pub fn load(sources: &Sources) -> Result<Parsed, ConfigErrors> {
    crate::resources::load(sources)
}

/// Where the configuration stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Status {
    /// No configuration object has been seen: nothing is in force.
    #[default]
    Absent,
    /// The objects are valid and their configuration is in force.
    Valid,
    /// The objects are invalid; the last valid configuration (if any) stays in force.
    Invalid(ConfigErrors),
    /// Every configuration object was deleted; the last valid configuration (if any) stays in force.
    Deleted(ConfigErrors),
}

/// What an [`ConfigState::update`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Nothing: the same configuration and the same status as before.
    Unchanged,
    /// A new valid configuration is in force.
    Switched(Arc<Config>),
    /// The objects are valid and describe the configuration already in force (e.g. after an invalid version
    /// was fixed): no longer stale.
    Restored,
    /// The objects became invalid, or their errors changed; see [`ConfigState::errors`].
    Invalid,
    /// Every configuration object was deleted; see [`ConfigState::errors`].
    Deleted,
}

/// The configuration in force and its status. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    current: Option<Arc<Config>>,
    status: Status,
    warnings: Vec<ConfigWarning>,
    /// The objects of the last update that had any: what a deletion removed.
    last_objects: Vec<ObjectRef>,
}

impl ConfigState {
    /// The configuration in force, if a valid one was ever loaded.
    pub fn current(&self) -> Option<&Arc<Config>> {
        self.current.as_ref()
    }

    /// Whether a valid configuration was ever loaded.
    pub fn loaded(&self) -> bool {
        self.current.is_some()
    }

    /// Whether the configuration in force is older than what the objects ask for (invalid or deleted).
    pub fn stale(&self) -> bool {
        matches!(self.status, Status::Invalid(_) | Status::Deleted(_))
    }

    /// The status.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Why the state is stale (empty when it is not).
    pub fn errors(&self) -> &[ConfigError] {
        match &self.status {
            Status::Invalid(e) | Status::Deleted(e) => e.as_slice(),
            Status::Absent | Status::Valid => &[],
        }
    }

    /// Warnings about the configuration in force.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// Takes in the current configuration objects.
    pub fn update(&mut self, sources: &Sources) -> Update {
        if sources.is_empty() {
            if self.last_objects.is_empty() {
                return Update::Unchanged; // still absent, or already reported as deleted
            }
            let errors = self
                .last_objects
                .drain(..)
                .map(|o| ConfigError::object(o, ErrorKind::SourceDeleted))
                .collect();
            self.status = Status::Deleted(ConfigErrors::new(errors));
            return Update::Deleted;
        }
        self.last_objects = sources.objects();
        match load(sources) {
            Ok(parsed) => {
                let was_valid = self.status == Status::Valid;
                self.status = Status::Valid;
                self.warnings = parsed.warnings;
                if self.current.as_deref() == Some(&parsed.config) {
                    return if was_valid {
                        Update::Unchanged
                    } else {
                        Update::Restored
                    };
                }
                let config = Arc::new(parsed.config);
                self.current = Some(config.clone());
                Update::Switched(config)
            }
            Err(errors) => {
                if self.status == Status::Invalid(errors.clone()) {
                    return Update::Unchanged;
                }
                self.status = Status::Invalid(errors);
                Update::Invalid
            }
        }
    }

    /// A one-line summary of the status for logs and Events: what is in force and why it is stale.
    pub fn summary(&self) -> String {
        let keeping = if self.loaded() {
            "the last valid configuration stays in force and nothing is withdrawn"
        } else {
            "no valid configuration has been loaded yet, so nothing is assigned or announced"
        };
        match &self.status {
            Status::Absent => "no configuration object exists yet".to_owned(),
            Status::Valid => "valid".to_owned(),
            Status::Invalid(e) => format!(
                "invalid ({} error{}); {keeping}",
                e.len(),
                if e.len() == 1 { "" } else { "s" }
            ),
            Status::Deleted(_) => format!("the configuration was deleted; {keeping}"),
        }
    }
}

#[cfg(test)]
mod tests;
