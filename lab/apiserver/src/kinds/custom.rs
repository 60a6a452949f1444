//! Custom resources: the strategy of every version of a CustomResourceDefinition, driven by the CRD object.

use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::ApiError;
use crate::prune::DecodeError;
use crate::resources::{RegistryError, ResourceDef, storage_key};
use crate::strategy::{Strategy, age_cell, age_col, col, name_cell, name_col};

/// An `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// A simple JSONPath such as `.spec.replicas`.
    pub json_path: String,
}

/// The strategy of one served version of a custom resource.
#[derive(Debug, Clone)]
pub struct CustomStrategy {
    api_version: String,
    storage_api_version: String,
    columns: Vec<PrinterColumn>,
    builtin_group: bool,
}

fn json_path<'a>(obj: &'a Value, path: &str) -> &'a Value {
    let p = path.trim_start_matches('.').replace('.', "/");
    obj.pointer(&format!("/{p}")).unwrap_or(&Value::Null)
}

impl Strategy for CustomStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        Ok((obj.clone(), Vec::new()))
    }

    fn to_storage(&self, mut obj: Value) -> Result<Value, ApiError> {
        obj["apiVersion"] = json!(self.storage_api_version);
        Ok(obj)
    }

    fn to_external(&self, obj: &Value) -> Result<Value, ApiError> {
        let mut o = obj.clone();
        o["apiVersion"] = json!(self.api_version);
        Ok(o)
    }

    fn is_identity(&self) -> bool {
        self.api_version == self.storage_api_version
    }

    fn prepare_update(&self, new: &mut Value, old: &Value, target: Target, status: bool) {
        if !status {
            return;
        }
        match target {
            Target::Main => {
                if let Some(o) = new.as_object_mut() {
                    match old.get("status") {
                        Some(s) => o.insert("status".into(), s.clone()),
                        None => o.remove("status"),
                    };
                }
            }
            Target::Status => {
                let mut out = old.as_object().cloned().unwrap_or_default();
                for k in ["metadata", "status", "apiVersion", "kind"] {
                    match new.get(k) {
                        Some(v) => out.insert(k.into(), v.clone()),
                        None => out.remove(k),
                    };
                }
                *new = Value::Object(out);
            }
        }
    }

    fn has_generation(&self) -> bool {
        true
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }

    fn columns(&self) -> Vec<Value> {
        let mut cols = vec![name_col()];
        if self.columns.is_empty() {
            cols.push(age_col());
        }
        for c in &self.columns {
            let ty = if c.type_ == "date" {
                "string"
            } else {
                c.type_.as_str()
            };
            cols.push(col(&c.name, ty, "", 0, ""));
        }
        cols
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        let mut row = vec![name_cell(obj)];
        if self.columns.is_empty() {
            row.push(age_cell(obj, now));
        }
        for c in &self.columns {
            let v = json_path(obj, &c.json_path);
            row.push(if c.type_ == "date" {
                json!(crate::time::age_of(v.as_str(), now))
            } else {
                v.clone()
            });
        }
        row
    }

    fn strategic_merge(&self) -> bool {
        self.builtin_group
    }
}

/// Groups of kinds compiled into kube-apiserver: registered here as custom resources (e.g. Deployments for
/// manifest tests), they still take strategic merge patches, as kubectl sends them for built-in kinds.
pub fn is_builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "apps"
            | "batch"
            | "policy"
            | "rbac.authorization.k8s.io"
            | "networking.k8s.io"
            | "storage.k8s.io"
            | "scheduling.k8s.io"
            | "admissionregistration.k8s.io"
    )
}

/// The defs of every served version of a CustomResourceDefinition (storage shared, `None` conversion).
pub fn defs_for_crd(crd: &CustomResourceDefinition) -> Result<Vec<ResourceDef>, RegistryError> {
    let spec = &crd.spec;
    let served: Vec<_> = spec.versions.iter().filter(|v| v.served).collect();
    if served.is_empty() {
        return Err(RegistryError::NoServedVersion(spec.names.plural.clone()));
    }
    let storage_version = spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map_or_else(|| served[0].name.clone(), |v| v.name.clone());
    let mut out = Vec::new();
    for v in served {
        let status = v.subresources.as_ref().is_some_and(|s| s.status.is_some());
        let columns = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| PrinterColumn {
                name: c.name.clone(),
                type_: c.type_.clone(),
                json_path: c.json_path.clone(),
            })
            .collect();
        let api_version = |version: &str| {
            if spec.group.is_empty() {
                version.to_owned()
            } else {
                format!("{}/{version}", spec.group)
            }
        };
        out.push(ResourceDef {
            group: spec.group.clone(),
            version: v.name.clone(),
            plural: spec.names.plural.clone(),
            singular: spec
                .names
                .singular
                .clone()
                .unwrap_or_else(|| spec.names.kind.to_ascii_lowercase()),
            kind: spec.names.kind.clone(),
            list_kind: spec
                .names
                .list_kind
                .clone()
                .unwrap_or_else(|| format!("{}List", spec.names.kind)),
            namespaced: spec.scope == "Namespaced",
            short_names: spec.names.short_names.clone().unwrap_or_default(),
            categories: spec.names.categories.clone().unwrap_or_default(),
            status,
            storage: storage_key(&spec.group, &spec.names.plural),
            strategy: Arc::new(CustomStrategy {
                api_version: api_version(&v.name),
                storage_api_version: api_version(&storage_version),
                columns,
                builtin_group: is_builtin_group(&spec.group),
            }),
            crd: None,
        });
    }
    Ok(out)
}
