//! The configuration objects, watched and kept the same way in both programs, handed to
//! [`ferrolb_config::ConfigState`] as [`Sources`]: no program reads or parses its configuration itself.
//!
//! ```text
//!  ConfigMap <config-map>            ─┐
//!  metallb.io resources (6 kinds)    ─┼─watch─▶ ConfigEvent ──▶ ConfigSources ──sources()──▶ ConfigState
//!  Secrets (BGPPeer.passwordSecret)  ─┘
//! ```
//!
//! Everything is read from ferrolb's namespace. A metallb.io kind whose CustomResourceDefinition is not
//! installed (the API server answers 404) counts as listed and empty, so a ConfigMap-only installation
//! works; the watch keeps retrying and picks the kind up once its CRD appears.

mod project;
mod state;

use ferrolb_config::{ConfigMapSource, ObjectRef, ResourceSource, SecretSource, Sources};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::DynamicObject;
use tokio::sync::mpsc;

use crate::cache::Cache;
use crate::events::Regarding;
use crate::task::TaskHandle;
use crate::watch::{self, Projected, WatchEvent, WatchMetrics, WatchSpec};

pub use project::{project_config_map, project_resource, project_secret};
pub use state::{configuration_state, configuration_state_resource, state_key_of, state_selector};

/// Where the configuration lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigNames {
    /// ferrolb's namespace: the ConfigMap, the metallb.io resources and their Secrets.
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

/// A metallb.io kind of configuration resource, as ferrolb watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceKind {
    /// `IPAddressPool`, …
    pub kind: &'static str,
    /// `ipaddresspools`, …
    pub plural: &'static str,
    /// The version read (the storage version of the CRDs ferrolb installs).
    pub version: &'static str,
}

impl ResourceKind {
    /// `metallb.io/<version>`.
    pub fn api_version(&self) -> String {
        format!("metallb.io/{}", self.version)
    }

    /// kube's description of the resource.
    pub fn api_resource(&self) -> kube::core::ApiResource {
        kube::core::ApiResource::from_gvk_with_plural(
            &kube::core::GroupVersionKind::gvk("metallb.io", self.version, self.kind),
            self.plural,
        )
    }
}

/// The index of `IPAddressPool` in [`RESOURCE_KINDS`].
pub const IP_ADDRESS_POOL: usize = 0;

/// The configuration kinds, in the order their objects are handed to the configuration.
pub const RESOURCE_KINDS: [ResourceKind; 6] = [
    ResourceKind {
        kind: "IPAddressPool",
        plural: "ipaddresspools",
        version: "v1beta1",
    },
    ResourceKind {
        kind: "L2Advertisement",
        plural: "l2advertisements",
        version: "v1beta1",
    },
    ResourceKind {
        kind: "BGPAdvertisement",
        plural: "bgpadvertisements",
        version: "v1beta1",
    },
    ResourceKind {
        kind: "BGPPeer",
        plural: "bgppeers",
        version: "v1beta2",
    },
    ResourceKind {
        kind: "BFDProfile",
        plural: "bfdprofiles",
        version: "v1beta1",
    },
    ResourceKind {
        kind: "Community",
        plural: "communities",
        version: "v1beta1",
    },
];

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
    /// A metallb.io resource of kind `RESOURCE_KINDS[.0]`, keyed by name (boxed: events stay small).
    Resource(usize, WatchEvent<Projected<String, Box<Kept<ResourceSource>>>>),
    /// A Secret, keyed by namespace and name (only the keys a configuration reads are kept).
    Secret(WatchEvent<Projected<(String, String), Kept<SecretSource>>>),
}

/// The configuration objects of the cluster. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    config_maps: Cache<String, Kept<ConfigMapSource>>,
    resources: [Cache<String, Box<Kept<ResourceSource>>>; 6],
    secrets: Cache<(String, String), Kept<SecretSource>>,
}

impl ConfigSources {
    /// Applies one event; returns whether what [`ConfigSources::sources`] says changed: an object changed,
    /// or the first list of every kind just completed.
    pub fn handle(&mut self, ev: ConfigEvent) -> bool {
        let was_synced = self.synced();
        let changed = match ev {
            ConfigEvent::ConfigMap(ev) => !self.config_maps.handle(ev).is_empty(),
            ConfigEvent::Resource(i, ev) => match self.resources.get_mut(i) {
                Some(cache) => !cache.handle(ev).is_empty(),
                None => false,
            },
            ConfigEvent::Secret(ev) => !self.secrets.handle(ev).is_empty(),
        };
        changed || (self.synced() && !was_synced)
    }

    /// Whether every kind has been listed once.
    pub fn synced(&self) -> bool {
        self.config_maps.synced() && self.secrets.synced() && self.resources.iter().all(Cache::synced)
    }

    /// The watches are being restarted: [`ConfigSources::relisted`] is false until each kind is listed again.
    pub fn expect_relist(&mut self) {
        self.config_maps.expect_relist();
        self.secrets.expect_relist();
        self.resources.iter_mut().for_each(Cache::expect_relist);
    }

    /// Whether every kind was listed since [`ConfigSources::expect_relist`].
    pub fn relisted(&self) -> bool {
        self.config_maps.relisted() && self.secrets.relisted() && self.resources.iter().all(Cache::relisted)
    }

    /// The kinds not listed yet (for readiness messages).
    pub fn unsynced(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.config_maps.synced() {
            out.push("configmaps");
        }
        if !self.secrets.synced() {
            out.push("secrets");
        }
        for (kind, cache) in RESOURCE_KINDS.iter().zip(&self.resources) {
            if !cache.synced() {
                out.push(kind.plural);
            }
        }
        out
    }

    /// The names of the listed objects of `RESOURCE_KINDS[kind]`.
    pub fn resource_names(&self, kind: usize) -> impl Iterator<Item = &String> {
        self.resources
            .get(kind)
            .into_iter()
            .flat_map(|c| c.iter().map(|(k, _)| k))
    }

    /// The objects, for [`ferrolb_config::ConfigState::update`].
    pub fn sources(&self) -> Sources {
        Sources {
            config_map: self.config_maps.values().next().map(|k| k.source.clone()),
            resources: self
                .resources
                .iter()
                .flat_map(|c| c.values().map(|k| k.source.clone()))
                .collect(),
            secrets: self
                .secrets
                .iter()
                .map(|(key, k)| (key.clone(), k.source.clone()))
                .collect(),
        }
    }

    /// The object an Event about `object` regards (uid and resourceVersion when it still exists).
    pub fn regarding(&self, object: &ObjectRef) -> Regarding {
        let kept = match object.kind.as_str() {
            "ConfigMap" => self
                .config_maps
                .get(&object.name)
                .map(|k| (&k.uid, &k.resource_version, "v1".to_owned())),
            kind => RESOURCE_KINDS
                .iter()
                .position(|k| k.kind == kind)
                .and_then(|i| self.resources[i].get(&object.name))
                .map(|k| (&k.uid, &k.resource_version, k.source.api_version.clone())),
        };
        let api_version = match (&kept, object.kind.as_str()) {
            (Some((_, _, v)), _) => v.clone(),
            (None, "ConfigMap" | "Secret") => "v1".to_owned(),
            (None, kind) => RESOURCE_KINDS
                .iter()
                .find(|k| k.kind == kind)
                .map(ResourceKind::api_version)
                .unwrap_or_default(),
        };
        Regarding {
            api_version,
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
            uid: kept.as_ref().map(|(u, _, _)| (*u).clone()),
            resource_version: kept.as_ref().map(|(_, rv, _)| (*rv).clone()),
        }
    }
}

/// The events of an empty list of every kind but the ConfigMap (the Secrets and each metallb.io kind): what
/// a cluster configured by the ConfigMap alone sends; for tests of the programs' state machines.
pub fn empty_resource_lists() -> Vec<ConfigEvent> {
    fn marker<T>(done: bool) -> WatchEvent<T> {
        if done {
            WatchEvent::InitDone
        } else {
            WatchEvent::Init
        }
    }
    let mut out = Vec::new();
    for done in [false, true] {
        out.push(ConfigEvent::Secret(marker(done)));
        out.extend((0..RESOURCE_KINDS.len()).map(|i| ConfigEvent::Resource(i, marker(done))));
    }
    out
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
    let w = wrap.clone();
    let mut tasks = vec![watch::spawn(
        WatchSpec::new(
            "configmaps",
            Api::<ConfigMap>::namespaced(client.clone(), &names.namespace),
        )
        .named(&names.config_map),
        move |cm| project_config_map(cm, &cm_names),
        move |ev| w(ConfigEvent::ConfigMap(ev)),
        tx.clone(),
        metrics.clone(),
    )];
    let w = wrap.clone();
    tasks.push(watch::spawn(
        WatchSpec::new(
            "secrets",
            Api::<Secret>::namespaced(client.clone(), &names.namespace),
        ),
        project_secret,
        move |ev| w(ConfigEvent::Secret(ev)),
        tx.clone(),
        metrics.clone(),
    ));
    for (i, kind) in RESOURCE_KINDS.iter().enumerate() {
        let w = wrap.clone();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &names.namespace, &kind.api_resource());
        tasks.push(watch::spawn(
            WatchSpec::new(kind.plural, api).optional(),
            move |obj| project_resource(obj, kind),
            move |ev| w(ConfigEvent::Resource(i, ev)),
            tx.clone(),
            metrics.clone(),
        ));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use ferrolb_config::ConfigState;
    use serde_json::json;

    use super::*;
    use crate::objects::ObjectName;

    /// Every kind but the ConfigMap listed empty.
    fn list_others_empty(s: &mut ConfigSources) {
        for ev in empty_resource_lists() {
            s.handle(ev);
        }
    }

    fn resource(kind: usize, name: &str, spec: serde_json::Value) -> DynamicObject {
        let k = &RESOURCE_KINDS[kind];
        serde_json::from_value(json!({
            "apiVersion": k.api_version(), "kind": k.kind,
            "metadata": {"name": name, "namespace": "ferrolb-system", "uid": format!("uid-{name}"),
                         "resourceVersion": "9", "labels": {"zone": "a"}},
            "spec": spec,
            "status": {"ignored": true},
        }))
        .expect("resource")
    }

    #[test]
    fn resources_and_secrets_become_the_sources() {
        let mut s = ConfigSources::default();
        s.handle(ConfigEvent::ConfigMap(WatchEvent::Init));
        s.handle(ConfigEvent::ConfigMap(WatchEvent::InitDone));
        assert!(!s.synced(), "the resources and Secrets are not listed yet");
        assert!(s.unsynced().contains(&"ipaddresspools") && s.unsynced().contains(&"secrets"));
        let pool = project_resource(
            resource(0, "p1", json!({"addresses": ["192.0.2.0/24"]})),
            &RESOURCE_KINDS[0],
        );
        s.handle(ConfigEvent::Resource(0, WatchEvent::Init));
        s.handle(ConfigEvent::Resource(0, WatchEvent::InitApply(pool)));
        s.handle(ConfigEvent::Resource(0, WatchEvent::InitDone));
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "bgp", "namespace": "ferrolb-system", "uid": "s1", "resourceVersion": "3"},
            "type": "kubernetes.io/basic-auth",
            "data": {"password": "c2VjcmV0", "username": "dXNlcg=="},
        }))
        .expect("Secret");
        s.handle(ConfigEvent::Secret(WatchEvent::Init));
        s.handle(ConfigEvent::Secret(WatchEvent::InitApply(project_secret(secret))));
        s.handle(ConfigEvent::Secret(WatchEvent::InitDone));
        for i in 1..RESOURCE_KINDS.len() {
            s.handle(ConfigEvent::Resource(i, WatchEvent::Init));
            assert!(!s.synced());
            let done = s.handle(ConfigEvent::Resource(i, WatchEvent::InitDone));
            assert_eq!(
                done,
                i == RESOURCE_KINDS.len() - 1,
                "the last list completes the sources"
            );
        }
        assert!(s.synced() && s.unsynced().is_empty());
        let sources = s.sources();
        assert_eq!(sources.resources.len(), 1);
        let r = &sources.resources[0];
        assert_eq!(r.object.to_string(), "IPAddressPool ferrolb-system/p1");
        assert_eq!(
            (r.api_version.as_str(), r.labels["zone"].as_str()),
            ("metallb.io/v1beta1", "a")
        );
        assert_eq!(r.spec, json!({"addresses": ["192.0.2.0/24"]}), "the spec only");
        let secret = &sources.secrets[&("ferrolb-system".to_owned(), "bgp".to_owned())];
        assert_eq!(secret.type_, "kubernetes.io/basic-auth");
        assert_eq!(
            secret.data.keys().collect::<Vec<_>>(),
            ["password"],
            "only the password is kept"
        );
        assert_eq!(secret.data["password"], b"secret");
        let regarding = s.regarding(&r.object);
        assert_eq!(
            (regarding.api_version.as_str(), regarding.uid.as_deref()),
            ("metallb.io/v1beta1", Some("uid-p1"))
        );
        let gone = ObjectRef::new("BGPPeer", "ferrolb-system", "nope");
        assert_eq!(s.regarding(&gone).api_version, "metallb.io/v1beta2");
        // a deleted resource leaves the sources
        let pool = project_resource(resource(0, "p1", json!({})), &RESOURCE_KINDS[0]);
        assert!(s.handle(ConfigEvent::Resource(0, WatchEvent::Delete(pool))));
        assert!(s.sources().resources.is_empty());
    }

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
        list_others_empty(&mut s);
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
