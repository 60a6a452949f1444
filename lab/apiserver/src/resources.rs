//! The resources the server serves: the built-in kinds ferrolb uses ([`crate::kinds`]) and the custom resources of
//! established CustomResourceDefinitions, which come and go while the server runs.
//!
//! A [`ResourceDef`] is one served group/version/resource with its [`Strategy`]. Several defs may share one storage
//! table (core/v1 and events.k8s.io/v1 Events; the versions of a custom resource), the way kube-apiserver stores one
//! form for all versions. The [`Registry`] is read on every request and changed only by the CRD controller (and at
//! start): readers get `Arc`s of defs, so a def stays usable by a request or watch that holds it after it is gone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

use crate::strategy::Strategy;

/// One served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group, `""` for core.
    pub group: String,
    /// API version, e.g. `v1`.
    pub version: String,
    /// Plural resource name (URL segment), e.g. `services`.
    pub plural: String,
    /// Singular name, e.g. `service`.
    pub singular: String,
    /// Kind, e.g. `Service`.
    pub kind: String,
    /// Kind of lists, e.g. `ServiceList`.
    pub list_kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl short names (`svc`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists (main writes then ignore status).
    pub status: bool,
    /// The storage table shared by all representations of this resource.
    pub storage: String,
    /// The kind's behaviour.
    pub strategy: Arc<dyn Strategy>,
    /// The CustomResourceDefinition this resource is served for (`None` for built-in kinds, including the
    /// lab's emulated built-in kinds of [`crate::ServerConfig::crds`]).
    pub crd: Option<String>,
}

impl ResourceDef {
    /// `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group-qualified name used in errors and storage keys: `services` or `leases.coordination.k8s.io`.
    pub fn qualified(&self) -> crate::error::Qualified<'_> {
        crate::error::Qualified {
            group: &self.group,
            resource: &self.plural,
        }
    }

    /// `services` or `leases.coordination.k8s.io`, as messages name the resource.
    pub fn qualified_display(&self) -> String {
        storage_key(&self.group, &self.plural)
    }

    /// The verbs the resource supports, for discovery.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// A stored object as this def serves it.
    pub fn to_external(&self, stored: &serde_json::Value) -> Result<serde_json::Value, crate::ApiError> {
        self.strategy.to_external(stored)
    }
}

/// The storage table (and error name) of a resource: `services`, `leases.coordination.k8s.io`.
pub fn storage_key(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

/// Parses CustomResourceDefinitions from YAML (several documents allowed; other kinds are skipped).
pub fn crds_from_yaml(text: &str) -> Result<Vec<CustomResourceDefinition>, RegistryError> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| RegistryError::BadDefinition(e.to_string()))?;
    docs.into_iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(|d| serde_json::from_value(d).map_err(|e| RegistryError::BadDefinition(e.to_string())))
        .collect()
}

/// A resource could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The definition could not be decoded.
    #[error("custom resource definition: {0}")]
    BadDefinition(String),
    /// The CRD has no served version.
    #[error("custom resource {0}: no served version")]
    NoServedVersion(String),
    /// The group/version/resource is already served.
    #[error("resource {0} is already registered")]
    Duplicate(String),
}

#[derive(Debug, Clone, Default)]
struct Snapshot {
    defs: Vec<Arc<ResourceDef>>,
    by_gvr: HashMap<(String, String, String), usize>,
}

impl Snapshot {
    fn index(&mut self) {
        self.by_gvr = self
            .defs
            .iter()
            .enumerate()
            .map(|(i, d)| ((d.group.clone(), d.version.clone(), d.plural.clone()), i))
            .collect();
    }
}

/// All served resources, looked up by group/version/plural; custom resources are added and removed at run time.
#[derive(Debug, Default)]
pub struct Registry {
    inner: RwLock<Snapshot>,
}

impl Registry {
    /// The built-in resources ([`crate::kinds::builtin_defs`]).
    pub fn builtin() -> Self {
        let r = Registry::default();
        for d in crate::kinds::builtin_defs() {
            r.insert(d)
                .unwrap_or_else(|_| unreachable!("built-in resources are distinct"));
        }
        r
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Snapshot> {
        // A panic while holding the lock would be a bug in this crate; the data stays usable.
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Snapshot> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a def; an already served group/version/resource is an error.
    pub fn insert(&self, def: ResourceDef) -> Result<(), RegistryError> {
        let mut s = self.write();
        let key = (def.group.clone(), def.version.clone(), def.plural.clone());
        if s.by_gvr.contains_key(&key) {
            return Err(RegistryError::Duplicate(format!(
                "{}/{}",
                def.api_version(),
                def.plural
            )));
        }
        let at = s.defs.len();
        s.by_gvr.insert(key, at);
        s.defs.push(Arc::new(def));
        Ok(())
    }

    /// Serves `defs` for CRD `crd`, replacing what it served before. A group/version/resource served by a
    /// built-in kind or another CRD is left to it (as kube-apiserver's built-in handlers win).
    pub fn set_custom(&self, crd: &str, defs: Vec<ResourceDef>) {
        let mut s = self.write();
        s.defs.retain(|d| d.crd.as_deref() != Some(crd));
        s.index();
        for d in defs {
            let key = (d.group.clone(), d.version.clone(), d.plural.clone());
            if !s.by_gvr.contains_key(&key) {
                let at = s.defs.len();
                s.by_gvr.insert(key, at);
                s.defs.push(Arc::new(d));
            }
        }
    }

    /// Stops serving what CRD `crd` served.
    pub fn remove_custom(&self, crd: &str) {
        let mut s = self.write();
        s.defs.retain(|d| d.crd.as_deref() != Some(crd));
        s.index();
    }

    /// The defs CRD `crd` serves.
    pub fn custom(&self, crd: &str) -> Vec<Arc<ResourceDef>> {
        self.read()
            .defs
            .iter()
            .filter(|d| d.crd.as_deref() == Some(crd))
            .cloned()
            .collect()
    }

    /// The def for a group/version/plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        let s = self.read();
        s.by_gvr
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .map(|&i| s.defs[i].clone())
    }

    /// A built-in def (core/v1 `namespaces`, apiextensions.k8s.io/v1 `customresourcedefinitions`, …).
    pub fn builtin_def(&self, group: &str, plural: &str) -> Arc<ResourceDef> {
        self.get(group, "v1", plural)
            .unwrap_or_else(|| unreachable!("built-in resource {plural} is always registered"))
    }

    /// Every served def, in registration order.
    pub fn all(&self) -> Vec<Arc<ResourceDef>> {
        self.read().defs.clone()
    }

    /// The distinct storage tables, each with the first def that serves it.
    pub fn storages(&self) -> Vec<Arc<ResourceDef>> {
        let mut seen = std::collections::HashSet::new();
        self.read()
            .defs
            .iter()
            .filter(|d| seen.insert(d.storage.clone()))
            .cloned()
            .collect()
    }

    /// Groups in order of first registration, each with its versions, preferred first (kube-aware version
    /// priority for the groups of custom resources).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let s = self.read();
        let mut out: Vec<(String, Vec<String>, bool)> = Vec::new();
        for d in &s.defs {
            match out.iter_mut().find(|(g, _, _)| *g == d.group) {
                Some((_, vs, custom)) => {
                    if !vs.contains(&d.version) {
                        vs.push(d.version.clone());
                    }
                    *custom |= d.crd.is_some();
                }
                None => out.push((d.group.clone(), vec![d.version.clone()], d.crd.is_some())),
            }
        }
        out.into_iter()
            .map(|(g, mut vs, custom)| {
                if custom {
                    vs.sort_by_key(|v| version_priority(v));
                }
                (g, vs)
            })
            .collect()
    }
}

/// Sort key of kube-aware version ordering (`v2` < `v1` < `v1beta2` < `v1beta1` < `v1alpha1` < `foo`): GA before
/// beta before alpha, higher numbers first, versions not of that form last, alphabetically.
pub fn version_priority(v: &str) -> (u8, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>, String) {
    let parsed = v.strip_prefix('v').and_then(|rest| {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let major: u64 = rest.get(..digits)?.parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((0, major, 0));
        }
        let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (2, n)
        } else {
            return None;
        };
        let minor: u64 = if num.is_empty() { 0 } else { num.parse().ok()? };
        if num.starts_with('0') {
            return None;
        }
        Some((level, major, minor))
    });
    match parsed {
        Some((level, major, minor)) if major > 0 => (
            level,
            std::cmp::Reverse(major),
            std::cmp::Reverse(minor),
            String::new(),
        ),
        _ => (3, std::cmp::Reverse(0), std::cmp::Reverse(0), v.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_parse_from_multi_document_yaml() {
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: things.ferrolb.io}\nspec:\n  group: ferrolb.io\n  scope: Namespaced\n  names: {plural: things, kind: Thing}\n  versions:\n  - {name: v1, served: true, storage: true}\n";
        let crds = crds_from_yaml(yaml).unwrap();
        assert_eq!(crds.len(), 1);
        assert_eq!(crds[0].spec.names.plural, "things");
        assert!(matches!(
            crds_from_yaml("kind: CustomResourceDefinition\nspec: 3\n"),
            Err(RegistryError::BadDefinition(_))
        ));
    }

    #[test]
    fn events_share_storage_and_builtins_are_distinct() {
        let r = Registry::builtin();
        assert_eq!(
            r.get("", "v1", "events").unwrap().storage,
            r.get("events.k8s.io", "v1", "events").unwrap().storage
        );
        assert_eq!(
            r.get("coordination.k8s.io", "v1", "leases").unwrap().storage,
            "leases.coordination.k8s.io"
        );
        assert_eq!(r.storages().len(), r.all().len() - 1);
        assert!(matches!(
            r.insert((*r.builtin_def("", "services")).clone()),
            Err(RegistryError::Duplicate(_))
        ));
    }

    #[test]
    fn custom_defs_come_and_go_and_never_shadow_others() {
        let r = Registry::builtin();
        let mut pools = (*r.builtin_def("", "configmaps")).clone();
        pools.group = "ferrolb.io".into();
        pools.plural = "pools".into();
        pools.crd = Some("pools.ferrolb.io".into());
        let mut v2 = pools.clone();
        v2.version = "v1beta2".into();
        let mut clash = (*r.builtin_def("", "services")).clone();
        clash.crd = Some("pools.ferrolb.io".into());
        r.set_custom("pools.ferrolb.io", vec![pools.clone(), v2, clash]);
        assert_eq!(r.custom("pools.ferrolb.io").len(), 2);
        assert!(r.get("", "v1", "services").unwrap().crd.is_none());
        assert_eq!(
            r.groups().last().unwrap(),
            &(
                "ferrolb.io".to_owned(),
                vec!["v1".to_owned(), "v1beta2".to_owned()]
            )
        );
        r.set_custom("pools.ferrolb.io", vec![pools]);
        assert!(r.get("ferrolb.io", "v1beta2", "pools").is_none());
        r.remove_custom("pools.ferrolb.io");
        assert!(r.get("ferrolb.io", "v1", "pools").is_none());
        assert!(r.get("", "v1", "services").is_some());
    }

    #[test]
    fn versions_sort_like_kube_apiserver() {
        let mut vs = vec![
            "v1alpha1",
            "foo",
            "v1beta1",
            "v2",
            "v1",
            "v1beta2",
            "v10alpha3",
            "v11",
        ];
        vs.sort_by_key(|v| version_priority(v));
        assert_eq!(
            vs,
            [
                "v11",
                "v2",
                "v1",
                "v1beta2",
                "v1beta1",
                "v10alpha3",
                "v1alpha1",
                "foo"
            ]
        );
    }
}
