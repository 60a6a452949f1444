//! Custom resources: one [`CustomStrategy`] per served version of a CustomResourceDefinition, built from the
//! CRD object alone (`customresource_handler.go`, `registry/customresource`):
//!
//! - decoding prunes and defaults with the version's structural schema, writes validate against it;
//! - objects are stored in the storage version; reading another version converts with the CRD's strategy:
//!   `None` rewrites `apiVersion` (and prunes with the target version's schema), `Webhook` fails as
//!   kube-apiserver does when the webhook cannot be reached (this server calls no webhook);
//! - with a status subresource, main writes keep the stored status and status writes keep everything else;
//! - tables use the version's `additionalPrinterColumns` (Name and Age without), field selectors
//!   `metadata.name`, `metadata.namespace` and, from 1.31, the version's `selectableFields`;
//! - server-side apply merges lists by `x-kubernetes-list-type`; strategic merge patches are refused (415),
//!   except for the lab's emulated built-in kinds ([`crate::ServerConfig::crds`] in built-in groups).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::{ApiError, Cause};
use crate::patch::ListStrategy;
use crate::prune::DecodeError;
use crate::resources::{ResourceDef, storage_key};
use crate::schema::{Path, Schema, default::default, prune::prune_resource, validate::validate};
use crate::strategy::{Strategy, builtin_list_strategy, col, name_cell, name_col};

/// An `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    /// `format`.
    pub format: String,
    /// `description`.
    pub description: String,
    /// `priority` (columns above 0 show with `-o wide`).
    pub priority: i64,
    /// A simple JSONPath such as `.spec.replicas`.
    pub json_path: String,
}

/// How objects move between versions (`spec.conversion`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conversion {
    /// Only `apiVersion` changes.
    None,
    /// A webhook converts; `endpoint` is what kube-apiserver would call (`https://svc.ns.svc:443/path`).
    Webhook {
        /// The webhook's URL.
        endpoint: String,
        /// Why calling it fails here (the service is missing, or webhooks are not called).
        unreachable: String,
    },
}

/// What all versions of one custom resource share.
#[derive(Debug)]
pub struct CustomResource {
    /// `plural.group`.
    pub crd: String,
    /// API group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// The storage version.
    pub storage_version: String,
    /// Each version's schema (`None`: no schema, everything is kept — the lab's emulated built-in kinds).
    pub schemas: BTreeMap<String, Option<Arc<Schema>>>,
    /// The conversion strategy.
    pub conversion: Conversion,
    /// The CRD is being deleted: creates are refused.
    pub terminating: bool,
    /// Served as a built-in kind (strategic merge patches with the pod template rules).
    pub builtin_group: bool,
}

impl CustomResource {
    fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    fn version_of<'a>(&self, obj: &'a Value) -> &'a str {
        let av = obj["apiVersion"].as_str().unwrap_or_default();
        av.rsplit_once('/').map_or(av, |(_, v)| v)
    }

    fn schema(&self, version: &str) -> Option<&Schema> {
        self.schemas.get(version).and_then(|s| s.as_deref())
    }

    /// The error of a conversion from `from` that needs the webhook.
    fn webhook_failure(&self, from: &str, endpoint: &str, why: &str) -> ApiError {
        ApiError::internal(format!(
            "conversion webhook for {}, Kind={} failed: Post \"{endpoint}?timeout=30s\": {why}",
            self.api_version(from),
            self.kind
        ))
    }

    /// Converts `obj` (in version `from`) to version `to`.
    fn convert(&self, obj: &mut Value, from: &str, to: &str) -> Result<(), ApiError> {
        if from == to {
            return Ok(());
        }
        match &self.conversion {
            Conversion::None => {
                obj["apiVersion"] = json!(self.api_version(to));
                Ok(())
            }
            Conversion::Webhook {
                endpoint,
                unreachable,
            } => Err(self.webhook_failure(from, endpoint, unreachable)),
        }
    }
}

/// The strategy of one served version.
#[derive(Debug, Clone)]
pub struct CustomStrategy {
    /// The resource.
    pub resource: Arc<CustomResource>,
    /// The served version.
    pub version: String,
    /// Printer columns.
    pub columns: Vec<PrinterColumn>,
    /// Field labels from `selectableFields` (JSONPaths without the leading dot).
    pub selectable: Vec<String>,
}

impl CustomStrategy {
    fn schema(&self) -> Option<&Schema> {
        self.resource.schema(&self.version)
    }
}

/// The value at a simple JSONPath (`.spec.a.b`).
fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let p = path.trim_start_matches('.');
    if p.is_empty() {
        return Some(obj);
    }
    p.split('.').try_fold(obj, |cur, k| cur.get(k))
}

/// A printer cell (`tableconvertor`'s `cellForJSONValue`; `string` columns print like kubectl's JSONPath).
fn cell(c: &PrinterColumn, v: Option<&Value>, now: SystemTime) -> Value {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Value::Null;
    };
    match (c.type_.as_str(), v) {
        ("string", Value::String(s)) => json!(s),
        ("string", Value::Array(_) | Value::Object(_)) => json!(v.to_string()),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => n
            .as_i64()
            .map(|i| json!(i))
            .or_else(|| n.as_f64().map(|f| json!(f as i64)))
            .unwrap_or(Value::Null),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, |f| json!(f)),
        ("boolean", Value::Bool(b)) => json!(b),
        ("date", Value::String(s)) => match crate::time::parse_rfc3339(s) {
            Some(_) => json!(crate::time::age_of(Some(s), now)),
            None => json!("<invalid>"),
        },
        _ => Value::Null,
    }
}

impl Strategy for CustomStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        let mut out = obj.clone();
        let dropped = match self.schema() {
            Some(s) => prune_resource(&mut out, s)?,
            None => Vec::new(),
        };
        Ok((out, dropped))
    }

    fn set_defaults(&self, obj: &mut Value) {
        if let Some(s) = self.schema() {
            default(obj, s);
        }
    }

    fn to_storage(&self, mut obj: Value) -> Result<Value, ApiError> {
        let r = &self.resource;
        r.convert(&mut obj, &self.version, &r.storage_version)?;
        obj["apiVersion"] = json!(r.api_version(&r.storage_version));
        Ok(obj)
    }

    fn to_external(&self, stored: &Value) -> Result<Value, ApiError> {
        let r = &self.resource;
        let from = r.version_of(stored).to_owned();
        let mut obj = stored.clone();
        if let Some(s) = r.schema(&from).filter(|s| s.has_defaults()) {
            default(&mut obj, s);
        }
        if from != self.version {
            r.convert(&mut obj, &from, &self.version)?;
            if let Some(s) = self.schema() {
                // the coercion after conversion: fields the target version does not have are dropped
                let _ = prune_resource(&mut obj, s);
            }
        }
        Ok(obj)
    }

    fn is_identity(&self) -> bool {
        let r = &self.resource;
        r.schemas.len() == 1 && self.schema().is_none_or(|s| !s.has_defaults())
    }

    fn check_create(&self) -> Result<(), ApiError> {
        if self.resource.terminating {
            let mut e = ApiError::method_not_supported(
                crate::error::Qualified {
                    group: &self.resource.group,
                    resource: self.resource.crd.split('.').next().unwrap_or_default(),
                },
                "create",
            );
            e.message = "create not allowed while custom resource definition is terminating".into();
            return Err(e);
        }
        Ok(())
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
                // only status (and the managedFields of this write) change
                let mut out = old.clone();
                match new.get("status") {
                    Some(s) => out["status"] = s.clone(),
                    None => {
                        if let Some(o) = out.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                out["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
                if out["metadata"]["managedFields"].is_null()
                    && let Some(m) = out["metadata"].as_object_mut()
                {
                    m.remove("managedFields");
                }
                *new = out;
            }
        }
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        match self.schema() {
            Some(s) => validate(obj, s, &Path::default()),
            None => Vec::new(),
        }
    }

    fn has_generation(&self) -> bool {
        true
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }

    fn field_labels(&self) -> Vec<String> {
        self.selectable.clone()
    }

    fn columns(&self) -> Vec<Value> {
        let mut cols = vec![name_col()];
        for c in &self.columns {
            let description = if c.description.is_empty() {
                format!(
                    "Custom resource definition column (in JSONPath format): {}",
                    c.json_path
                )
            } else {
                c.description.clone()
            };
            cols.push(col(&c.name, &c.type_, &c.format, c.priority, &description));
        }
        cols
    }

    /// Cells of the object as this version serves it (the columns' paths are this version's).
    fn cells(&self, stored: &Value, now: SystemTime) -> Vec<Value> {
        let external = self.to_external(stored);
        let obj = external.as_ref().unwrap_or(stored);
        let mut row = vec![name_cell(obj)];
        for c in &self.columns {
            row.push(cell(c, json_path(obj, &c.json_path), now));
        }
        row
    }

    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        if self.resource.builtin_group || path.first() == Some(&"metadata") {
            return builtin_list_strategy(path);
        }
        let node = self.schema().and_then(|s| s.at(path));
        match node.and_then(|n| n.list_type.as_deref()) {
            Some("map") => ListStrategy::MergeKey(node.map(|n| n.list_map_keys.clone()).unwrap_or_default()),
            Some("set") => ListStrategy::MergePrimitive,
            _ => ListStrategy::Replace,
        }
    }

    fn strategic_merge(&self) -> bool {
        self.resource.builtin_group
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

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

fn columns_of(v: &Value) -> Vec<PrinterColumn> {
    let cols: Vec<PrinterColumn> = v["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| PrinterColumn {
            name: s(c, "name").to_owned(),
            type_: s(c, "type").to_owned(),
            format: s(c, "format").to_owned(),
            description: s(c, "description").to_owned(),
            priority: c["priority"].as_i64().unwrap_or(0),
            json_path: s(c, "jsonPath").to_owned(),
        })
        .collect();
    if !cols.is_empty() {
        return cols;
    }
    vec![PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata".into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

/// The webhook endpoint of a conversion stanza and why it cannot be reached from here.
fn webhook(conversion: &Value, service_exists: &dyn Fn(&str, &str) -> bool) -> Conversion {
    let cc = &conversion["webhook"]["clientConfig"];
    if let Some(url) = cc["url"].as_str() {
        return Conversion::Webhook {
            endpoint: url.to_owned(),
            unreachable: "the embedded API server does not call conversion webhooks".into(),
        };
    }
    let svc = &cc["service"];
    let (name, ns) = (s(svc, "name"), s(svc, "namespace"));
    let port = svc["port"].as_i64().unwrap_or(443);
    let path = s(svc, "path");
    let unreachable = if service_exists(ns, name) {
        "the embedded API server does not call conversion webhooks".to_owned()
    } else {
        format!("service \"{name}\" not found")
    };
    Conversion::Webhook {
        endpoint: format!("https://{name}.{ns}.svc:{port}{path}"),
        unreachable,
    }
}

/// The defs of every served version of a CRD (its JSON, external form). `emulated`: a built-in kind the lab
/// registers from a CRD (not stored as a CRD object). `terminating`: creates are refused. From 1.`minor` 31 on,
/// `selectableFields` become field labels.
pub fn defs_for_crd(
    crd: &Value,
    emulated: bool,
    terminating: bool,
    minor: u32,
    service_exists: &dyn Fn(&str, &str) -> bool,
) -> Vec<ResourceDef> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let versions = spec["versions"].as_array().cloned().unwrap_or_default();
    let group = s(spec, "group").to_owned();
    let (plural, kind) = (s(names, "plural").to_owned(), s(names, "kind").to_owned());
    let storage_version = versions
        .iter()
        .find(|v| v["storage"] == json!(true))
        .or(versions.first())
        .map(|v| s(v, "name").to_owned())
        .unwrap_or_default();
    let resource = Arc::new(CustomResource {
        crd: storage_key(&group, &plural),
        group: group.clone(),
        kind: kind.clone(),
        storage_version,
        schemas: versions
            .iter()
            .map(|v| {
                let schema = &v["schema"]["openAPIV3Schema"];
                let parsed = (!schema.is_null()).then(|| Arc::new(Schema::from_json(schema)));
                (s(v, "name").to_owned(), parsed)
            })
            .collect(),
        conversion: match s(&spec["conversion"], "strategy") {
            "Webhook" => webhook(&spec["conversion"], service_exists),
            _ => Conversion::None,
        },
        terminating,
        builtin_group: emulated && is_builtin_group(&group),
    });
    let or = |field: &str, fallback: String| {
        let v = s(names, field);
        if v.is_empty() { fallback } else { v.to_owned() }
    };
    let list_of = |field: &str| -> Vec<String> {
        names[field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    versions
        .iter()
        .filter(|v| v["served"] == json!(true))
        .map(|v| ResourceDef {
            group: group.clone(),
            version: s(v, "name").to_owned(),
            plural: plural.clone(),
            singular: or("singular", kind.to_ascii_lowercase()),
            kind: kind.clone(),
            list_kind: or("listKind", format!("{kind}List")),
            namespaced: s(spec, "scope") == "Namespaced",
            short_names: list_of("shortNames"),
            categories: list_of("categories"),
            status: !v["subresources"]["status"].is_null(),
            storage: storage_key(&group, &plural),
            strategy: Arc::new(CustomStrategy {
                resource: resource.clone(),
                version: s(v, "name").to_owned(),
                columns: columns_of(v),
                selectable: if minor >= 31 {
                    v["selectableFields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|f| s(f, "jsonPath").trim_start_matches('.').to_owned())
                        .collect()
                } else {
                    Vec::new()
                },
            }),
            crd: (!emulated).then(|| storage_key(&group, &plural)),
        })
        .collect()
}

#[cfg(test)]
mod tests;
