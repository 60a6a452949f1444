//! The resources the server serves: built-in kinds ferrolb uses and custom resources registered at start.
//!
//! A [`ResourceDef`] is one served group/version/resource. Several defs may share one storage table (core/v1 and
//! events.k8s.io/v1 Events; the versions of a custom resource), the way kube-apiserver stores one internal form.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// Which built-in behaviour (defaulting, validation, printing, pruning) a resource has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// core/v1 Namespace.
    Namespace,
    /// core/v1 Service.
    Service,
    /// core/v1 Node.
    Node,
    /// core/v1 Pod (graceful deletion).
    Pod,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// core/v1 Secret.
    Secret,
    /// core/v1 Event (the storage form of both Event APIs).
    Event,
    /// events.k8s.io/v1 Event, converted to and from the core form.
    EventV1,
    /// discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice,
    /// coordination.k8s.io/v1 Lease.
    Lease,
    /// A custom resource (no schema pruning, generation on any non-metadata change).
    Custom,
}

/// An `additionalPrinterColumns` entry of a custom resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// `string`, `integer`, `date`, …
    pub type_: String,
    /// A simple JSONPath such as `.spec.replicas`.
    pub json_path: String,
}

/// One served group/version/resource.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl short names (`svc`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether a `/status` subresource exists (main writes then ignore status).
    pub status: bool,
    /// Built-in behaviour.
    pub strategy: Strategy,
    /// The storage table shared by all representations of this resource.
    pub storage: String,
    /// Printer columns (custom resources).
    pub printer_columns: Vec<PrinterColumn>,
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
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Whether writes set `metadata.generation` (and bump it on spec changes).
    pub fn has_generation(&self) -> bool {
        matches!(
            self.strategy,
            Strategy::Service | Strategy::EndpointSlice | Strategy::Custom
        )
    }

    /// `AllowCreateOnUpdate` of the kube-apiserver strategy.
    pub fn allow_create_on_update(&self) -> bool {
        matches!(
            self.strategy,
            Strategy::Lease | Strategy::Event | Strategy::EventV1
        )
    }

    /// `AllowUnconditionalUpdate` of the kube-apiserver strategy.
    pub fn allow_unconditional_update(&self) -> bool {
        !matches!(self.strategy, Strategy::Lease | Strategy::Custom)
    }

    /// Field selector labels this resource supports besides `metadata.name` and `metadata.namespace`.
    pub fn extra_field_labels(&self) -> &'static [&'static str] {
        match self.strategy {
            Strategy::Service => &["spec.clusterIP", "spec.type"],
            Strategy::Secret => &["type"],
            Strategy::Node => &["spec.unschedulable"],
            Strategy::Pod => &[
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "status.phase",
                "status.podIP",
                "status.nominatedNodeName",
            ],
            Strategy::Namespace => &["status.phase"],
            Strategy::Event => &[
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            _ => &[],
        }
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
}

fn builtin(
    group: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    strategy: Strategy,
) -> ResourceDef {
    let storage = if strategy == Strategy::EventV1 {
        "events".to_owned()
    } else {
        storage_key(group, plural)
    };
    ResourceDef {
        group: group.to_owned(),
        version: "v1".to_owned(),
        plural: plural.to_owned(),
        singular: kind.to_ascii_lowercase(),
        kind: kind.to_owned(),
        namespaced,
        short_names: short.iter().map(|s| (*s).to_owned()).collect(),
        categories: if matches!(strategy, Strategy::Service | Strategy::Pod) {
            vec!["all".to_owned()]
        } else {
            Vec::new()
        },
        status,
        strategy,
        storage,
        printer_columns: Vec::new(),
    }
}

fn storage_key(group: &str, plural: &str) -> String {
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

/// A custom resource definition could not be registered.
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

/// All served resources, looked up by group/version/plural.
#[derive(Debug, Clone)]
pub struct Registry {
    defs: Vec<Arc<ResourceDef>>,
    by_gvr: HashMap<(String, String, String), usize>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Registry {
    /// The built-in resources: core Namespaces, Services, Nodes, Pods, ConfigMaps, Secrets, Events; events.k8s.io/v1
    /// Events; discovery.k8s.io/v1 EndpointSlices; coordination.k8s.io/v1 Leases.
    pub fn builtin() -> Self {
        use Strategy::*;
        let defs = [
            builtin("", "namespaces", "Namespace", false, &["ns"], true, Namespace),
            builtin("", "services", "Service", true, &["svc"], true, Service),
            builtin("", "nodes", "Node", false, &["no"], true, Node),
            builtin("", "pods", "Pod", true, &["po"], true, Pod),
            builtin("", "configmaps", "ConfigMap", true, &["cm"], false, ConfigMap),
            builtin("", "secrets", "Secret", true, &[], false, Secret),
            builtin("", "events", "Event", true, &["ev"], false, Event),
            builtin("events.k8s.io", "events", "Event", true, &["ev"], false, EventV1),
            builtin(
                "discovery.k8s.io",
                "endpointslices",
                "EndpointSlice",
                true,
                &[],
                false,
                EndpointSlice,
            ),
            builtin("coordination.k8s.io", "leases", "Lease", true, &[], false, Lease),
        ];
        let mut r = Registry {
            defs: Vec::new(),
            by_gvr: HashMap::new(),
        };
        for d in defs {
            r.insert(d)
                .unwrap_or_else(|_| unreachable!("built-in resources are distinct"));
        }
        r
    }

    fn insert(&mut self, def: ResourceDef) -> Result<(), RegistryError> {
        let key = (def.group.clone(), def.version.clone(), def.plural.clone());
        if self.by_gvr.contains_key(&key) {
            return Err(RegistryError::Duplicate(format!(
                "{}/{}",
                def.api_version(),
                def.plural
            )));
        }
        self.by_gvr.insert(key, self.defs.len());
        self.defs.push(Arc::new(def));
        Ok(())
    }

    /// Registers every served version of a CustomResourceDefinition (storage shared, no conversion: the
    /// `None` conversion strategy, which only rewrites `apiVersion`).
    pub fn register_crd(&mut self, crd: &CustomResourceDefinition) -> Result<(), RegistryError> {
        let spec = &crd.spec;
        let served: Vec<_> = spec.versions.iter().filter(|v| v.served).collect();
        if served.is_empty() {
            return Err(RegistryError::NoServedVersion(spec.names.plural.clone()));
        }
        for v in served {
            let status = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
            let printer_columns = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| PrinterColumn {
                    name: c.name.clone(),
                    type_: c.type_.clone(),
                    json_path: c.json_path.clone(),
                })
                .collect();
            self.insert(ResourceDef {
                group: spec.group.clone(),
                version: v.name.clone(),
                plural: spec.names.plural.clone(),
                singular: spec
                    .names
                    .singular
                    .clone()
                    .unwrap_or_else(|| spec.names.kind.to_ascii_lowercase()),
                kind: spec.names.kind.clone(),
                namespaced: spec.scope == "Namespaced",
                short_names: spec.names.short_names.clone().unwrap_or_default(),
                categories: spec.names.categories.clone().unwrap_or_default(),
                status,
                strategy: Strategy::Custom,
                storage: storage_key(&spec.group, &spec.names.plural),
                printer_columns,
            })?;
        }
        Ok(())
    }

    /// The def for a group/version/plural.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceDef>> {
        self.by_gvr
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .map(|&i| &self.defs[i])
    }

    /// The core/v1 def of a built-in strategy (used for cascades and bootstrap objects).
    pub fn builtin_def(&self, strategy: Strategy) -> &Arc<ResourceDef> {
        self.defs
            .iter()
            .find(|d| d.strategy == strategy)
            .unwrap_or_else(|| unreachable!("built-in strategies are always registered"))
    }

    /// Every served def, in registration order.
    pub fn all(&self) -> &[Arc<ResourceDef>] {
        &self.defs
    }

    /// The distinct storage tables, each with the def that names its storage form.
    pub fn storages(&self) -> Vec<&Arc<ResourceDef>> {
        let mut seen = std::collections::HashSet::new();
        self.defs
            .iter()
            .filter(|d| d.strategy != Strategy::EventV1 && seen.insert(d.storage.clone()))
            .collect()
    }

    /// Groups in order of first registration, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for d in &self.defs {
            match out.iter_mut().find(|(g, _)| *g == d.group) {
                Some((_, vs)) if !vs.contains(&d.version) => vs.push(d.version.clone()),
                Some(_) => {}
                None => out.push((d.group.clone(), vec![d.version.clone()])),
            }
        }
        out
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
        let mut r = Registry::builtin();
        r.register_crd(&crds[0]).unwrap();
        assert!(r.get("ferrolb.io", "v1", "things").unwrap().namespaced);
        assert!(matches!(
            crds_from_yaml("kind: CustomResourceDefinition\nspec: 3\n"),
            Err(RegistryError::BadDefinition(_))
        ));
    }

    #[test]
    fn events_share_storage_and_crds_register_per_version() {
        let mut r = Registry::builtin();
        assert_eq!(
            r.get("", "v1", "events").unwrap().storage,
            r.get("events.k8s.io", "v1", "events").unwrap().storage
        );
        assert_eq!(
            r.get("coordination.k8s.io", "v1", "leases").unwrap().storage,
            "leases.coordination.k8s.io"
        );
        let crd: CustomResourceDefinition = serde_json::from_value(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "pools.ferrolb.io"},
            "spec": {"group": "ferrolb.io", "scope": "Cluster",
                     "names": {"plural": "pools", "kind": "Pool", "shortNames": ["pl"]},
                     "versions": [
                        {"name": "v1beta1", "served": true, "storage": true, "subresources": {"status": {}},
                         "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                        {"name": "v1alpha1", "served": false, "storage": false}]}
        }))
        .unwrap();
        r.register_crd(&crd).unwrap();
        let d = r.get("ferrolb.io", "v1beta1", "pools").unwrap();
        assert!(d.status && !d.namespaced);
        assert_eq!(d.singular, "pool");
        assert!(r.get("ferrolb.io", "v1alpha1", "pools").is_none());
        assert!(matches!(r.register_crd(&crd), Err(RegistryError::Duplicate(_))));
        assert_eq!(
            r.groups().last().unwrap(),
            &("ferrolb.io".to_owned(), vec!["v1beta1".to_owned()])
        );
    }
}
