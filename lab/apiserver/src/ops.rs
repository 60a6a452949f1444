//! Object operations with kube-apiserver semantics, independent of HTTP: create, update (main or status),
//! patch (merge, JSON, strategic, apply), delete (preconditions, finalizers, pods' graceful deletion, namespace
//! cascade), each as one store transaction. Objects enter and leave in their external form (the served API version).

use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::apply::{Applier, ApplyError, apply};
use crate::defaults::Target;
use crate::defaults::pod::{self, GracefulDelete};
use crate::error::{ApiError, Cause};
use crate::meta::{self, meta_str};
use crate::patch::{PatchError, json_patch, merge_patch, strategic_merge_patch};
use crate::resources::{Registry, ResourceDef};
use crate::store::{Store, Txn};
use crate::strategy::DeleteMode;

/// `fieldValidation`: what to do with unknown fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop silently.
    Ignore,
    /// Drop and warn (the default since 1.27).
    #[default]
    Warn,
    /// Reject with 400.
    Strict,
}

/// Options of a write request.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: validate and default, store nothing.
    pub dry_run: bool,
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// `force` (apply only).
    pub force: bool,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct Written {
    /// The stored object, external form.
    pub object: Value,
    /// Whether it was created (HTTP 201).
    pub created: bool,
    /// `Warning` headers.
    pub warnings: Vec<String>,
}

/// The patch formats, by Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// A patch body and its format.
#[derive(Debug, Clone, Copy)]
pub struct Patch<'a> {
    /// The format.
    pub ptype: PatchType,
    /// The raw body (JSON, or YAML for apply).
    pub body: &'a [u8],
}

/// Operations over a store and the served resources.
#[derive(Debug, Clone)]
pub struct Ops {
    /// The store.
    pub store: Arc<Store>,
    /// The served resources.
    pub registry: Arc<Registry>,
    /// Emulated minor version (1.`minor`).
    pub minor: u32,
    /// Where terminating namespaces are sent for the namespace controller (`None`: content is deleted
    /// at once, synchronously).
    pub namespace_gc: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

fn invalid(def: &ResourceDef, obj: &Value, causes: Vec<Cause>) -> ApiError {
    ApiError::invalid(&def.group, &def.kind, meta_str(obj, "name"), causes)
}

impl Ops {
    fn decode(
        &self,
        def: &ResourceDef,
        mut obj: Value,
        fv: FieldValidation,
    ) -> Result<(Value, Vec<String>), ApiError> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be a JSON object",
            ));
        }
        let want = def.api_version();
        for (field, expected) in [("apiVersion", want.as_str()), ("kind", def.kind.as_str())] {
            match obj[field].as_str() {
                Some(v) if !v.is_empty() && v != expected => {
                    let what = if field == "kind" { "kind" } else { "API version" };
                    return Err(ApiError::bad_request(format!(
                        "the {what} in the data ({v}) does not match the expected {what} ({expected})"
                    )));
                }
                _ => obj[field] = json!(expected),
            }
        }
        let (mut obj, mut unknown) = def
            .strategy
            .prune(&obj)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        unknown.extend(def.strategy.drop_disabled_fields(&mut obj, self.minor));
        let warnings: Vec<String> = unknown.iter().map(|p| format!("unknown field {p:?}")).collect();
        let warnings = match fv {
            FieldValidation::Strict if !warnings.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "strict decoding error: {}",
                    warnings.join(", ")
                )));
            }
            FieldValidation::Ignore => Vec::new(),
            _ => warnings,
        };
        def.strategy.set_defaults(&mut obj);
        let obj = def.strategy.to_storage(obj)?;
        Ok((obj, warnings))
    }

    /// POST: creates `body` in `namespace`.
    pub fn create(
        &self,
        def: &ResourceDef,
        namespace: Option<&str>,
        body: Value,
        opts: &WriteOpts,
    ) -> Result<Written, ApiError> {
        def.strategy.check_create()?;
        let (mut obj, warnings) = self.decode(def, body, opts.field_validation)?;
        if def.namespaced {
            let ns = namespace.unwrap_or_default();
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta::meta_mut(&mut obj).insert("namespace".into(), json!(ns));
        }
        let stored = self
            .store
            .write(|txn| self.create_in(txn, def, obj, opts, None))?;
        Ok(Written {
            object: def.to_external(&stored)?,
            created: true,
            warnings,
        })
    }

    fn create_in(
        &self,
        txn: &mut Txn<'_>,
        def: &ResourceDef,
        mut obj: Value,
        opts: &WriteOpts,
        managed: Option<Value>,
    ) -> Result<Value, ApiError> {
        let now = SystemTime::now();
        meta::prepare_create(def, &mut obj, now);
        if let Some(m) = managed {
            meta::meta_mut(&mut obj).insert("managedFields".into(), m);
        }
        def.strategy.prepare_create(&mut obj, def.status);
        let (ns, name) = (
            meta_str(&obj, "namespace").to_owned(),
            meta_str(&obj, "name").to_owned(),
        );
        let mut causes = meta::validate(def, &obj);
        causes.extend(
            def.strategy
                .before_validate(&mut obj, None, Target::Main, txn, self.minor),
        );
        causes.extend(def.strategy.validate(&obj, None, Target::Main, self.minor));
        if !causes.is_empty() {
            return Err(invalid(def, &obj, causes));
        }
        if def.namespaced {
            let ns_def = self.registry.builtin_def("", "namespaces");
            match txn.get(&ns_def.storage, "", &ns) {
                None => return Err(ApiError::not_found(ns_def.qualified(), &ns)),
                Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => {
                    return Err(ApiError::forbidden(format!(
                        "{} {name:?} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        def.qualified_display()
                    )));
                }
                Some(_) => {}
            }
        }
        if txn.get(&def.storage, &ns, &name).is_some() {
            return Err(ApiError::already_exists(def.qualified(), &name));
        }
        let causes = def
            .strategy
            .allocate(&mut obj, None, Target::Main, txn, opts.dry_run);
        if !causes.is_empty() {
            return Err(invalid(def, &obj, causes));
        }
        if opts.dry_run {
            return Ok(obj);
        }
        Ok((*txn.put(&def.storage, &ns, &name, obj)).clone())
    }

    /// PUT: replaces the object (main resource or status).
    pub fn update(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        body: Value,
        target: Target,
        opts: &WriteOpts,
    ) -> Result<Written, ApiError> {
        let body_name = body["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let (mut obj, warnings) = self.decode(def, body, opts.field_validation)?;
        if def.namespaced {
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && body_ns != namespace {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta::meta_mut(&mut obj).insert("namespace".into(), json!(namespace));
        }
        self.store.write(|txn| {
            let Some(old) = txn.get(&def.storage, namespace, name) else {
                if def.strategy.allow_create_on_update() && target == Target::Main {
                    let stored = self.create_in(txn, def, obj, opts, None)?;
                    return Ok(Written {
                        object: def.to_external(&stored)?,
                        created: true,
                        warnings,
                    });
                }
                return Err(ApiError::not_found(def.qualified(), name));
            };
            let rv = meta_str(&obj, "resourceVersion").to_owned();
            if rv.is_empty() && !def.strategy.allow_unconditional_update() {
                let c = Cause::invalid(
                    "metadata.resourceVersion",
                    &json!(0),
                    "must be specified for an update",
                );
                return Err(invalid(def, &obj, vec![c]));
            }
            let stored = self.update_in(txn, def, obj, &old, target, opts)?;
            Ok(Written {
                object: def.to_external(&stored)?,
                created: false,
                warnings,
            })
        })
    }

    fn update_in(
        &self,
        txn: &mut Txn<'_>,
        def: &ResourceDef,
        mut new: Value,
        old: &Value,
        target: Target,
        opts: &WriteOpts,
    ) -> Result<Value, ApiError> {
        let (ns, name) = (
            meta_str(old, "namespace").to_owned(),
            meta_str(old, "name").to_owned(),
        );
        let rv = meta_str(&new, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
            return Err(ApiError::stale(def.qualified(), &name));
        }
        let uid = meta_str(&new, "uid");
        if !uid.is_empty() && uid != meta_str(old, "uid") {
            let msg = format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(old, "uid")
            );
            return Err(ApiError::conflict(def.qualified(), &name, &msg));
        }
        def.strategy.prepare_update(&mut new, old, target, def.status);
        meta::prepare_update(&mut new, old);
        let mut causes = meta::validate(def, &new);
        causes.extend(
            def.strategy
                .before_validate(&mut new, Some(old), target, txn, self.minor),
        );
        causes.extend(def.strategy.validate(&new, Some(old), target, self.minor));
        if !causes.is_empty() {
            return Err(invalid(def, &new, causes));
        }
        let causes = def
            .strategy
            .allocate(&mut new, Some(old), target, txn, opts.dry_run);
        if !causes.is_empty() {
            return Err(invalid(def, &new, causes));
        }
        meta::bump_generation(def, &mut new, old);
        if opts.dry_run {
            return Ok(new);
        }
        if meta::same_object(&new, old)
            && new["metadata"]["managedFields"] == old["metadata"]["managedFields"]
        {
            return Ok(old.clone());
        }
        let finalized = !new["metadata"]["deletionTimestamp"].is_null()
            && new["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty);
        if finalized {
            return Ok(self.remove_in(txn, def, &ns, &name).unwrap_or(new));
        }
        Ok((*txn.put(&def.storage, &ns, &name, new)).clone())
    }

    /// PATCH with the given format; `apply` may create the object.
    pub fn patch(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        patch: Patch<'_>,
        target: Target,
        opts: &WriteOpts,
    ) -> Result<Written, ApiError> {
        let Patch { ptype, body } = patch;
        let patch: Value = match ptype {
            PatchType::Apply => serde_saphyr::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
            _ => serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
        };
        let manager = opts.field_manager.clone().unwrap_or_default();
        if ptype == PatchType::Apply {
            if manager.is_empty() {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "PatchOptions",
                    "",
                    vec![Cause::required("fieldManager", "is required for apply patch")],
                ));
            }
            if patch["metadata"]["name"].as_str().is_some_and(|n| n != name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    patch["metadata"]["name"]
                )));
            }
        }
        if ptype == PatchType::Strategic && !def.strategy.strategic_merge() {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
            ));
        }
        let now = crate::time::rfc3339(SystemTime::now());
        let sub = (target == Target::Status).then_some("status");
        self.store.write(|txn| {
            let Some(old) = txn.get(&def.storage, namespace, name) else {
                if ptype != PatchType::Apply || target == Target::Status {
                    return Err(ApiError::not_found(def.qualified(), name));
                }
                let mut cfg = patch.clone();
                meta::meta_mut(&mut cfg).insert("name".into(), json!(name));
                let api_version = def.api_version();
                let who = Applier {
                    manager: &manager,
                    force: true,
                    api_version: &api_version,
                    time: &now,
                    subresource: None,
                };
                let managed = apply(&*def.strategy, &json!({"metadata": {}}), &cfg, &who)
                    .map_err(|e| patch_error(def, name, e))?["metadata"]["managedFields"]
                    .clone();
                let (mut obj, warnings) = self.decode(def, cfg, opts.field_validation)?;
                if def.namespaced {
                    meta::meta_mut(&mut obj).insert("namespace".into(), json!(namespace));
                }
                let stored = self.create_in(txn, def, obj, opts, Some(managed))?;
                return Ok(Written {
                    object: def.to_external(&stored)?,
                    created: true,
                    warnings,
                });
            };
            let current = def.to_external(&old)?;
            let patched = match ptype {
                PatchType::Merge => {
                    let mut t = current.clone();
                    merge_patch(&mut t, &patch);
                    t
                }
                PatchType::Json => {
                    json_patch(&current, &patch).map_err(|e| patch_error(def, name, e.into()))?
                }
                PatchType::Strategic => strategic_merge_patch(&*def.strategy, &current, &patch)
                    .map_err(|e| patch_error(def, name, e.into()))?,
                PatchType::Apply => {
                    let api_version = def.api_version();
                    let who = Applier {
                        manager: &manager,
                        force: opts.force,
                        api_version: &api_version,
                        time: &now,
                        subresource: sub,
                    };
                    apply(&*def.strategy, &current, &patch, &who).map_err(|e| patch_error(def, name, e))?
                }
            };
            let managed = patched["metadata"]["managedFields"].clone();
            let (mut obj, warnings) = self.decode(def, patched, opts.field_validation)?;
            if meta_str(&obj, "name") != name || (def.namespaced && meta_str(&obj, "namespace") != namespace)
            {
                return Err(ApiError::bad_request(
                    "metadata.name and metadata.namespace may not be changed by a patch",
                ));
            }
            let mut old_for_update = (*old).clone();
            if ptype == PatchType::Apply {
                // The apply result carries the new managedFields; keep them through prepare_update.
                meta::meta_mut(&mut old_for_update).insert("managedFields".into(), managed.clone());
                meta::meta_mut(&mut obj).insert("managedFields".into(), managed);
            }
            let stored = self.update_in(txn, def, obj, &old_for_update, target, opts)?;
            Ok(Written {
                object: def.to_external(&stored)?,
                created: false,
                warnings,
            })
        })
    }

    /// DELETE of one object with `DeleteOptions` (preconditions honoured; finalizers defer deletion; pods
    /// are deleted gracefully: [`pod::graceful_delete`]).
    pub fn delete(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        options: &Value,
    ) -> Result<Value, ApiError> {
        let dry_run = options["dryRun"].as_array().is_some_and(|a| !a.is_empty());
        self.store.write(|txn| {
            let old = txn.get(&def.storage, namespace, name).ok_or_else(|| ApiError::not_found(def.qualified(), name))?;
            let pre = &options["preconditions"];
            for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
                if let Some(want) = pre[field].as_str()
                    && want != meta_str(&old, field)
                {
                    let msg = format!("Precondition failed: {label} in precondition: {want}, {label} in object meta: {}", meta_str(&old, field));
                    return Err(ApiError::conflict(def.qualified(), name, &msg));
                }
            }
            if dry_run {
                return def.to_external(&old);
            }
            let mode = def.strategy.delete_mode();
            match mode {
                DeleteMode::Graceful => match pod::graceful_delete(&old, options, SystemTime::now()) {
                    GracefulDelete::NotGraceful => {}
                    GracefulDelete::Pending => return def.to_external(&old),
                    GracefulDelete::Mark(marked) => {
                        return def.to_external(&txn.put(&def.storage, namespace, name, marked));
                    }
                },
                DeleteMode::CustomResourceCleanup if old["metadata"]["deletionTimestamp"].is_null() => {
                    let marked = crate::kinds::crd::mark_deleting(&old, SystemTime::now());
                    return def.to_external(&txn.put(&def.storage, namespace, name, marked));
                }
                DeleteMode::Immediate | DeleteMode::Namespace | DeleteMode::CustomResourceCleanup => {}
            }
            let has_finalizers = old["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if !old["metadata"]["deletionTimestamp"].is_null() {
                    return def.to_external(&old);
                }
                let mut marked = (*old).clone();
                let m = meta::meta_mut(&mut marked);
                m.insert("deletionTimestamp".into(), json!(crate::time::rfc3339(SystemTime::now())));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
                return def.to_external(&txn.put(&def.storage, namespace, name, marked));
            }
            if mode == DeleteMode::Namespace {
                if let Some(gc) = &self.namespace_gc {
                    if !old["metadata"]["deletionTimestamp"].is_null() {
                        return Err(ApiError::conflict(def.qualified(), name, "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."));
                    }
                    let mut marked = (*old).clone();
                    meta::meta_mut(&mut marked).insert("deletionTimestamp".into(), json!(crate::time::rfc3339(SystemTime::now())));
                    marked["status"]["phase"] = json!("Terminating");
                    let stored = txn.put(&def.storage, namespace, name, marked);
                    // The receiver lives as long as the server; if it is gone nobody will purge anyway.
                    let _ = gc.send(name.to_owned());
                    return def.to_external(&stored);
                }
                self.cascade_namespace(txn, name);
            }
            let last = self.remove_in(txn, def, namespace, name).ok_or_else(|| ApiError::not_found(def.qualified(), name))?;
            def.to_external(&last)
        })
    }

    fn remove_in(&self, txn: &mut Txn<'_>, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let last = txn.remove(&def.storage, ns, name)?;
        def.strategy.on_removed(&last, txn);
        Some((*last).clone())
    }

    /// The namespace controller's work for a terminating namespace: its content, then itself, is deleted.
    pub fn purge_namespace(&self, name: &str) {
        let def = self.registry.builtin_def("", "namespaces");
        self.store.write(|txn| {
            self.cascade_namespace(txn, name);
            self.remove_in(txn, &def, "", name);
        });
    }

    /// The namespace controller's work, done at once: every object in the namespace is deleted.
    fn cascade_namespace(&self, txn: &mut Txn<'_>, ns: &str) {
        for def in self.registry.storages().into_iter().filter(|d| d.namespaced) {
            for (kns, kname) in txn.keys(&def.storage, Some(ns)) {
                self.remove_in(txn, &def, &kns, &kname);
            }
        }
    }
}

fn patch_error(def: &ResourceDef, name: &str, e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflict(c) => {
            let mut err = ApiError::conflict(def.qualified(), name, &c.to_string());
            err.message = c.to_string();
            let causes: Vec<Value> = c.0.iter().map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m:?}"), "field": f})).collect();
            err.details = Some(json!({"name": name, "kind": def.plural, "causes": causes}));
            err
        }
        ApplyError::Patch(PatchError::BadPatch(m)) => ApiError::bad_request(m),
        ApplyError::Patch(PatchError::Unprocessable(m)) => {
            let mut err = ApiError::invalid(&def.group, &def.kind, name, Vec::new());
            err.message = format!("the server rejected our request due to an error in our request: {m}");
            err
        }
    }
}
