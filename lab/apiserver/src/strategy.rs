//! The strategy object of a kind: everything that differs between kinds (kube-apiserver's `rest.RESTCreateStrategy`,
//! `RESTUpdateStrategy`, `RESTDeleteStrategy`, table convertor and field labels in one trait).
//!
//! Each served resource ([`ResourceDef`](crate::resources::ResourceDef)) holds one `Arc<dyn Strategy>`: the
//! built-in kinds' strategies live in [`crate::kinds`], one file per kind, and custom resources get a
//! [`CustomStrategy`](crate::kinds::custom::CustomStrategy) driven by their CustomResourceDefinition. The generic
//! code (`ops`, `meta`, `http`, `table`, `patch`, `apply`) only calls these methods, so a new kind is added by
//! writing its strategy and listing it in [`crate::kinds::builtin_defs`].
//!
//! Objects enter the strategy in the form the method names: *external* (the served API version of the def),
//! *storage* (the one form kept in the store for all versions of a resource).

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::{ApiError, Cause};
use crate::patch::ListStrategy;
use crate::prune::DecodeError;
use crate::store::Txn;

/// What a DELETE of one object does (after preconditions and dry-run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Removed at once; finalizers defer it (deletionTimestamp set, removed when the last finalizer goes).
    Immediate,
    /// Pods: graceful deletion ([`crate::defaults::pod::graceful_delete`]).
    Graceful,
    /// Namespaces: `Terminating`, then content and namespace purged by the namespace controller.
    Namespace,
    /// CustomResourceDefinitions: the `customresourcecleanup.apiextensions.k8s.io` finalizer and a `Terminating`
    /// condition are added; the CRD controller deletes the instances, then the finalizer (`etcd.go` `Delete`).
    CustomResourceCleanup,
}

/// A kind's behaviour. Every method has the generic kube-apiserver behaviour as default except the ones each
/// kind must define (decoding and printing).
pub trait Strategy: Send + Sync + std::fmt::Debug {
    // ----- decoding (request body → object)

    /// Drops unknown fields of `obj` (which carries the def's `apiVersion` and `kind`) and returns it with the
    /// dropped paths (`spec.foo`, `spec.ports[0].bar`), for `fieldValidation`.
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError>;

    /// Fields of features that emulated version 1.`minor` does not have, removed and reported as unknown.
    fn drop_disabled_fields(&self, _obj: &mut Value, _minor: u32) -> Vec<String> {
        Vec::new()
    }

    /// Decode-time defaults (`SetDefaults_*`, or the structural schema's `default`s), in the external form.
    fn set_defaults(&self, _obj: &mut Value) {}

    /// The storage form of an object decoded through this def (an error when the conversion fails).
    fn to_storage(&self, obj: Value) -> Result<Value, ApiError> {
        Ok(obj)
    }

    /// How this def presents a stored object (an error when the conversion fails).
    fn to_external(&self, obj: &Value) -> Result<Value, ApiError> {
        Ok(obj.clone())
    }

    /// Whether [`Strategy::to_external`] returns stored objects unchanged (watch lines are then shared).
    fn is_identity(&self) -> bool {
        true
    }

    // ----- writes

    /// Refuses creates before decoding (a terminating CRD's resources).
    fn check_create(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// `PrepareForCreate`: with a status subresource, status starts empty.
    fn prepare_create(&self, obj: &mut Value, status_subresource: bool) {
        if status_subresource && let Some(o) = obj.as_object_mut() {
            o.remove("status");
        }
    }

    /// `PrepareForUpdate` of the main resource or the status subresource.
    fn prepare_update(&self, new: &mut Value, old: &Value, target: Target, status_subresource: bool) {
        builtin_prepare_update(new, old, target, status_subresource);
    }

    /// Problems with an object name (`NameIsDNSSubdomain` unless the kind says otherwise).
    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validate::dns1123_subdomain(name)
    }

    /// Mutations that need the transaction before validation (Service IP families).
    fn before_validate(
        &self,
        _obj: &mut Value,
        _old: Option<&Value>,
        _target: Target,
        _txn: &mut Txn<'_>,
        _minor: u32,
    ) -> Vec<Cause> {
        Vec::new()
    }

    /// Kind-specific validation of the new object (metadata is validated generically).
    fn validate(&self, _obj: &Value, _old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        Vec::new()
    }

    /// Allocations made once the write is valid (Service cluster IPs and node ports); rolled back on dry runs.
    fn allocate(
        &self,
        _obj: &mut Value,
        _old: Option<&Value>,
        _target: Target,
        _txn: &mut Txn<'_>,
        _dry_run: bool,
    ) -> Vec<Cause> {
        Vec::new()
    }

    /// What the removal of an object releases (Service allocations).
    fn on_removed(&self, _last: &Value, _txn: &mut Txn<'_>) {}

    /// Whether writes set `metadata.generation` (and bump it on spec changes).
    fn has_generation(&self) -> bool {
        false
    }

    /// Whether an update changed the spec (the generation then moves): anything but metadata (and status with a
    /// status subresource).
    fn spec_changed(&self, new: &Value, old: &Value, status_subresource: bool) -> bool {
        let strip = |v: &Value| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            m.remove("metadata");
            if status_subresource {
                m.remove("status");
            }
            m
        };
        strip(new) != strip(old)
    }

    /// `AllowCreateOnUpdate`.
    fn allow_create_on_update(&self) -> bool {
        false
    }

    /// `AllowUnconditionalUpdate`: whether a PUT without `metadata.resourceVersion` is accepted.
    fn allow_unconditional_update(&self) -> bool {
        true
    }

    /// What a DELETE does.
    fn delete_mode(&self) -> DeleteMode {
        DeleteMode::Immediate
    }

    // ----- reads

    /// Field selector labels besides `metadata.name` and `metadata.namespace`.
    fn field_labels(&self) -> Vec<String> {
        Vec::new()
    }

    /// The value of a supported field label on a stored object.
    fn field_value(&self, obj: &Value, field: &str) -> String {
        generic_field_value(obj, field)
    }

    /// `Table` column definitions.
    fn columns(&self) -> Vec<Value>;

    /// The cells of one row for a stored object.
    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value>;

    // ----- patches

    /// How a list field at `path` merges in strategic merge patches and server-side apply.
    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        builtin_list_strategy(path)
    }

    /// Whether strategic merge patches are accepted (415 otherwise, as for custom resources).
    fn strategic_merge(&self) -> bool {
        true
    }
}

/// The value at a dotted path of a stored object, as field selectors compare it.
pub fn generic_field_value(obj: &Value, field: &str) -> String {
    let mut cur = obj;
    for p in field.split('.') {
        cur = &cur[p];
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Built-in kinds' `PrepareForUpdate`: with a status subresource, a main write keeps the old status and a
/// status write keeps the old spec.
pub fn builtin_prepare_update(new: &mut Value, old: &Value, target: Target, status_subresource: bool) {
    if !status_subresource {
        return;
    }
    let (field, from) = match target {
        Target::Main => ("status", old.get("status")),
        Target::Status => ("spec", old.get("spec")),
    };
    if let Some(o) = new.as_object_mut() {
        match from {
            Some(v) => o.insert(field.into(), v.clone()),
            None => o.remove(field),
        };
    }
}

/// The list rules every kind shares (from the Go struct tags of `ObjectMeta` and pod templates, which kubectl
/// sends for the built-in kinds the lab registers from CRDs).
pub fn builtin_list_strategy(path: &[&str]) -> ListStrategy {
    match path {
        ["metadata", "finalizers"] => ListStrategy::MergePrimitive,
        ["metadata", "ownerReferences"] => ListStrategy::key("uid"),
        [.., "spec", "containers" | "initContainers"] => ListStrategy::key("name"),
        [.., "containers" | "initContainers", "env"] => ListStrategy::key("name"),
        [.., "containers" | "initContainers", "ports"] => ListStrategy::key("containerPort"),
        [.., "containers" | "initContainers", "volumeMounts"] => ListStrategy::key("mountPath"),
        [.., "spec", "volumes" | "imagePullSecrets"] => ListStrategy::key("name"),
        _ => ListStrategy::Replace,
    }
}

/// A `Table` column definition.
pub fn col(name: &str, ty: &str, format: &str, priority: i64, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

/// The `Name` column every table starts with.
pub fn name_col() -> Value {
    col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    )
}

/// The `Age` column.
pub fn age_col() -> Value {
    col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    )
}

/// The name cell of a stored object.
pub fn name_cell(obj: &Value) -> Value {
    json!(obj["metadata"]["name"].as_str().unwrap_or_default())
}

/// The age cell of a stored object.
pub fn age_cell(obj: &Value, now: SystemTime) -> Value {
    json!(crate::time::age_of(
        obj["metadata"]["creationTimestamp"].as_str(),
        now
    ))
}
