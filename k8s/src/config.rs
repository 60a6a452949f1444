//! The configuration objects, watched and kept the same way in both programs, handed to
//! [`ferrolb_config::ConfigState`] as [`Sources`]: no program reads or parses its configuration itself.
//!
//! ```text
//!  ConfigMap <config-map> (ferrolb's namespace) ──watch──▶ ConfigEvent ──▶ ConfigSources ──sources()──▶ ConfigState
//! ```

use std::collections::BTreeMap;

use ferrolb_config::{ConfigMapSource, ConfigState, ObjectRef, Sources, Status};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use tokio::sync::mpsc;

use crate::cache::Cache;
use crate::events::Regarding;
use crate::objects::{Desired, DesiredSet, ObjectName};
use crate::task::TaskHandle;
use crate::watch::{self, Projected, WatchEvent, WatchMetrics, WatchSpec};

/// Where the configuration lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNames {
    /// ferrolb's namespace.
    pub namespace: String,
    /// The legacy ConfigMap's name.
    pub config_map: String,
    /// The ConfigMap's key holding the config text.
    pub config_key: String,
}

impl Default for ConfigNames {
    /// `ferrolb-system`, ConfigMap `config`, key `config`.
    fn default() -> Self {
        Self {
            namespace: "ferrolb-system".into(),
            config_map: "config".into(),
            config_key: "config".into(),
        }
    }
}

/// One configuration object as kept: the source and the metadata Events need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept<S> {
    /// What the configuration reads.
    pub source: S,
    /// `metadata.uid`.
    pub uid: String,
    /// `metadata.resourceVersion`.
    pub resource_version: String,
}

/// A watch event of a configuration object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigEvent {
    /// The legacy ConfigMap.
    ConfigMap(WatchEvent<Projected<String, Kept<ConfigMapSource>>>),
}

/// The configuration objects of the cluster. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    config_maps: Cache<String, Kept<ConfigMapSource>>,
}

impl ConfigSources {
    /// Applies one event; returns whether what [`ConfigSources::sources`] says changed: an object changed,
    /// or the first list of every kind just completed.
    pub fn handle(&mut self, ev: ConfigEvent) -> bool {
        let was_synced = self.synced();
        let changed = match ev {
            ConfigEvent::ConfigMap(ev) => !self.config_maps.handle(ev).is_empty(),
        };
        changed || (self.synced() && !was_synced)
    }

    /// Whether every kind has been listed once.
    pub fn synced(&self) -> bool {
        self.config_maps.synced()
    }

    /// The watches are being restarted: [`ConfigSources::relisted`] is false until each kind is listed again.
    pub fn expect_relist(&mut self) {
        self.config_maps.expect_relist();
    }

    /// Whether every kind was listed since [`ConfigSources::expect_relist`].
    pub fn relisted(&self) -> bool {
        self.config_maps.relisted()
    }

    /// The kinds not listed yet (for readiness messages).
    pub fn unsynced(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.config_maps.synced() {
            out.push("configmaps");
        }
        out
    }

    /// The objects, for [`ferrolb_config::ConfigState::update`].
    pub fn sources(&self) -> Sources {
        Sources {
            config_map: self.config_maps.values().next().map(|k| k.source.clone()),
            ..Sources::default()
        }
    }

    /// The object an Event about `object` regards (uid and resourceVersion when it still exists).
    pub fn regarding(&self, object: &ObjectRef) -> Regarding {
        let kept = match object.kind.as_str() {
            "ConfigMap" => self
                .config_maps
                .get(&object.name)
                .map(|k| (&k.uid, &k.resource_version)),
            _ => None,
        };
        Regarding {
            api_version: api_version(&object.kind).into(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            uid: kept.map(|(u, _)| u.clone()),
            resource_version: kept.map(|(_, rv)| rv.clone()),
        }
    }
}

fn api_version(kind: &str) -> &'static str {
    match kind {
        "ConfigMap" => "v1",
        _ => "",
    }
}

/// The legacy ConfigMap as kept (`None` when it is not the configured one).
pub fn project_config_map(cm: ConfigMap, names: &ConfigNames) -> Projected<String, Kept<ConfigMapSource>> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    if name != names.config_map {
        return (name, None);
    }
    let object = ObjectRef::new(
        "ConfigMap",
        cm.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| names.namespace.clone()),
        name.clone(),
    );
    let text = cm
        .data
        .and_then(|mut d: BTreeMap<String, String>| d.remove(&names.config_key));
    let kept = Kept {
        source: ConfigMapSource {
            object,
            key: names.config_key.clone(),
            text,
        },
        uid: cm.metadata.uid.unwrap_or_default(),
        resource_version: cm.metadata.resource_version.unwrap_or_default(),
    };
    (name, Some(kept))
}

/// Starts the watches of the configuration objects; their events go through `wrap` into `tx`.
pub fn spawn<M: Send + 'static>(
    client: &kube::Client,
    names: &ConfigNames,
    wrap: impl Fn(ConfigEvent) -> M + Send + Clone + 'static,
    tx: &mpsc::Sender<M>,
    metrics: &WatchMetrics,
) -> Vec<TaskHandle> {
    let cm_names = names.clone();
    vec![watch::spawn(
        WatchSpec::new(
            "configmaps",
            Api::<ConfigMap>::namespaced(client.clone(), &names.namespace),
        )
        .named(&names.config_map),
        move |cm| project_config_map(cm, &cm_names),
        move |ev| wrap(ConfigEvent::ConfigMap(ev)),
        tx.clone(),
        metrics.clone(),
    )]
}

/// `metallb.io/v1beta1` `ConfigurationState`.
pub fn configuration_state_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metallb.io", "v1beta1", "ConfigurationState"),
        "configurationstates",
    )
}

/// The owned `ConfigurationState` named `name` (MetalLB's own, when ferrolb runs in its namespace, is taken
/// over rather than duplicated).
pub fn state_selector(name: &str) -> crate::objects::Selector {
    crate::objects::Selector::Fields(format!("metadata.name={name}"))
}

/// The key of an owned `ConfigurationState`: its name.
pub fn state_key_of(obj: &DynamicObject) -> Option<String> {
    obj.metadata.name.clone()
}

/// The `ConfigurationState` object `name` of a component (`Controller`, or `Speaker` with its node) saying
/// what `config` is: `result` Valid, Invalid or Unknown (nothing seen yet) with `errorSummary` (and newer
/// MetalLB's spellings, `validConfig` and `lastError`), as MetalLB's components write theirs.
pub fn configuration_state(
    name: &str,
    component: &str,
    node: Option<&str>,
    config: &ConfigState,
) -> DesiredSet {
    let (result, valid) = match config.status() {
        Status::Valid => ("Valid", Some(true)),
        Status::Invalid(_) | Status::Deleted(_) => ("Invalid", Some(false)),
        Status::Absent => ("Unknown", None),
    };
    let errors: Vec<String> = config.errors().iter().map(ToString::to_string).collect();
    let summary = if errors.is_empty() {
        String::new()
    } else {
        format!("the configuration is {}: {}", config.summary(), errors.join("; "))
    };
    let mut spec = json!({"type": component});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    let mut status = json!({"result": result, "errorSummary": summary, "lastError": summary});
    if let Some(v) = valid {
        status["validConfig"] = json!(v);
    }
    DesiredSet::from([(
        name.to_owned(),
        Desired {
            name: ObjectName::Fixed(name.to_owned()),
            labels: BTreeMap::new(),
            spec,
            status,
        },
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(name: &str, text: Option<&str>, rv: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "namespace": "ferrolb-system", "uid": "u1", "resourceVersion": rv},
            "data": text.map(|t| serde_json::json!({"config": t})).unwrap_or(serde_json::json!({})),
        }))
        .expect("ConfigMap")
    }

    #[test]
    fn the_config_map_becomes_the_sources() {
        let names = ConfigNames::default();
        let mut s = ConfigSources::default();
        assert!(!s.synced());
        assert!(s.sources().is_empty());
        s.handle(ConfigEvent::ConfigMap(WatchEvent::Init));
        let cm = project_config_map(config_map("config", Some("peers: []\n"), "5"), &names);
        s.handle(ConfigEvent::ConfigMap(WatchEvent::InitApply(cm)));
        assert!(s.handle(ConfigEvent::ConfigMap(WatchEvent::InitDone)));
        assert!(s.synced());
        let src = s.sources().config_map.expect("present");
        assert_eq!(src.text.as_deref(), Some("peers: []\n"));
        assert_eq!(src.object.to_string(), "ConfigMap ferrolb-system/config");
        let r = s.regarding(&src.object);
        assert_eq!(
            (r.uid.as_deref(), r.resource_version.as_deref()),
            (Some("u1"), Some("5"))
        );
        // another ConfigMap in the namespace is not the configuration
        let other = project_config_map(config_map("other", Some("x"), "6"), &names);
        assert!(!s.handle(ConfigEvent::ConfigMap(WatchEvent::Apply(other))));
        // a missing key is kept as such (the state machine reports it)
        let no_key = project_config_map(config_map("config", None, "7"), &names);
        assert!(s.handle(ConfigEvent::ConfigMap(WatchEvent::Apply(no_key.clone()))));
        assert_eq!(s.sources().config_map.and_then(|c| c.text), None);
        assert!(s.handle(ConfigEvent::ConfigMap(WatchEvent::Delete(no_key))));
        assert!(s.sources().is_empty());
        assert_eq!(s.regarding(&src.object).uid, None, "deleted: no uid");
    }

    #[test]
    fn configuration_states_say_valid_invalid_or_unknown() {
        let mut state = ConfigState::default();
        let get = |state: &ConfigState| {
            let set = configuration_state("speaker-n1", "Speaker", Some("n1"), state);
            set["speaker-n1"].clone()
        };
        let unknown = get(&state);
        assert_eq!(unknown.status["result"], "Unknown");
        assert_eq!(unknown.spec, json!({"type": "Speaker", "nodeName": "n1"}));
        assert_eq!(unknown.name, ObjectName::Fixed("speaker-n1".into()));
        let names = ConfigNames::default();
        let mut sources = ConfigSources::default();
        for ev in [
            WatchEvent::Init,
            WatchEvent::InitApply(project_config_map(
                config_map("config", Some("address-pools: 7\n"), "1"),
                &names,
            )),
            WatchEvent::InitDone,
        ] {
            sources.handle(ConfigEvent::ConfigMap(ev));
        }
        state.update(&sources.sources());
        let invalid = get(&state);
        assert_eq!(invalid.status["result"], "Invalid");
        assert_eq!(invalid.status["validConfig"], false);
        let summary = invalid.status["errorSummary"].as_str().unwrap_or_default();
        assert!(
            summary.contains("ConfigMap ferrolb-system/config: address-pools = \"7\": expected a list"),
            "{summary}"
        );
        let controller = configuration_state("controller", "Controller", None, &state);
        assert_eq!(controller["controller"].spec, json!({"type": "Controller"}));
    }
}
