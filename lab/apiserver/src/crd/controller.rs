//! The CRD controller: what kube-apiserver's apiextensions controllers do after a CRD is written.
//!
//! - naming (`NamingConditionController`): names not used by another CRD of the group are accepted into
//!   `status.acceptedNames`, condition `NamesAccepted` (`NoConflicts`, or `PluralConflict`, `KindConflict`, …),
//!   and `Established` starts `False`/`Installing`;
//! - establishing (`EstablishingController`): `Established` becomes `True`/`InitialNamesAccepted`;
//! - serving (the CRD handler and discovery): established CRDs' served versions are in the registry, rebuilt
//!   when the CRD changes; a CRD that is gone takes its defs and storage with it (its watches end);
//! - finalizing (`CRDFinalizer`): a CRD with the cleanup finalizer and a deletionTimestamp has its instances
//!   deleted (their own finalizers respected), then `Terminating` is `False`/`InstanceDeletionCompleted`, the
//!   finalizer goes and the CRD with it.
//!
//! [`CrdController::reconcile`] does one pass over all CRDs; the server runs it whenever the CRD table changes
//! (and polls while instances are waiting for their finalizers).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::kinds::crd::{CLEANUP_FINALIZER, condition_true, set_condition};
use crate::kinds::custom::defs_for_crd;
use crate::meta::meta_str;
use crate::ops::Ops;
use crate::resources::ResourceDef;

/// The controller's memory: which CRD versions (resourceVersion) the registry serves.
#[derive(Debug, Default)]
pub struct CrdController {
    synced: HashMap<String, String>,
}

fn crd_def(ops: &Ops) -> Arc<ResourceDef> {
    ops.registry
        .builtin_def("apiextensions.k8s.io", "customresourcedefinitions")
}

/// Applies `f` to the stored CRD `name` and stores the result if `f` changed it (one status write).
fn write(ops: &Ops, name: &str, f: impl FnOnce(&mut Value)) {
    let def = crd_def(ops);
    ops.store.write(|txn| {
        let Some(cur) = txn.get(&def.storage, "", name) else {
            return;
        };
        let mut next = (*cur).clone();
        f(&mut next);
        if next != *cur {
            txn.put(&def.storage, "", name, next);
        }
    });
}

fn names_of(crd: &Value) -> (Vec<String>, Vec<String>) {
    let n = &crd["status"]["acceptedNames"];
    let str_of = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
    let mut resources = vec![str_of("plural"), str_of("singular")];
    resources.extend(
        n["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned),
    );
    (resources, vec![str_of("kind"), str_of("listKind")])
}

/// `calculateNamesAndConditions`: the accepted names and the NamesAccepted condition (status, reason, message).
fn accept_names(crd: &Value, group_crds: &[&Value]) -> (Value, (&'static str, &'static str, String)) {
    let mut resources = Vec::new();
    let mut kinds = Vec::new();
    for other in group_crds {
        let (r, k) = names_of(other);
        resources.extend(r);
        kinds.extend(k);
    }
    let requested = &crd["spec"]["names"];
    let accepted = &crd["status"]["acceptedNames"];
    let mut names = accepted.clone();
    let mut condition = ("True", "NoConflicts", "no conflicts found".to_owned());
    // `equalToAcceptedOrFresh`
    let fresh = |field: &str, used: &[String]| -> Result<String, String> {
        let want = requested[field].as_str().unwrap_or_default();
        let have = accepted[field].as_str().unwrap_or_default();
        if want == have || !used.iter().any(|u| u == want) {
            Ok(want.to_owned())
        } else {
            Err(format!("{want:?} is already in use"))
        }
    };
    for (field, used, reason) in [
        ("plural", &resources, "PluralConflict"),
        ("singular", &resources, "SingularConflict"),
    ] {
        match fresh(field, used) {
            Ok(v) => names[field] = json!(v),
            Err(m) => condition = ("False", reason, m),
        }
    }
    if requested["shortNames"] != accepted["shortNames"] {
        let mine: Vec<&str> = accepted["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let clashes: Vec<String> = requested["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|s| !mine.contains(s) && Some(*s) != accepted["plural"].as_str())
            .filter(|s| Some(*s) != accepted["singular"].as_str())
            .filter(|s| resources.iter().any(|r| r == s))
            .map(|s| format!("{s:?} is already in use"))
            .collect();
        if clashes.is_empty() {
            names["shortNames"] = requested["shortNames"].clone();
        } else {
            let msg = if clashes.len() == 1 {
                clashes[0].clone()
            } else {
                format!("[{}]", clashes.join(", "))
            };
            condition = ("False", "ShortNamesConflict", msg);
        }
    }
    for (field, reason) in [("kind", "KindConflict"), ("listKind", "ListKindConflict")] {
        match fresh(field, &kinds) {
            Ok(v) => names[field] = json!(v),
            Err(m) => condition = ("False", reason, m),
        }
    }
    if requested.get("categories").is_some() {
        names["categories"] = requested["categories"].clone();
    } else if let Some(m) = names.as_object_mut() {
        m.remove("categories");
    }
    (names, condition)
}

impl CrdController {
    /// One pass over every CRD; returns whether another pass is due soon (instances waiting for finalizers).
    pub fn reconcile(&mut self, ops: &Ops) -> bool {
        let def = crd_def(ops);
        let now = SystemTime::now();
        let mut again = false;
        for crd in ops.store.objects(&def.storage, None) {
            if !crd["metadata"]["deletionTimestamp"].is_null() {
                let cleaning = crd["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == CLEANUP_FINALIZER));
                if cleaning {
                    again |= self.finalize(ops, &crd, now);
                }
                continue;
            }
            self.name_and_establish(ops, &crd, now);
        }
        self.serve(ops);
        again
    }

    fn name_and_establish(&self, ops: &Ops, crd: &Value, now: SystemTime) {
        let name = meta_str(crd, "name");
        if crd["spec"]["names"] != crd["status"]["acceptedNames"] {
            let all = ops.store.objects(&crd_def(ops).storage, None);
            let group = &crd["spec"]["group"];
            let same_group: Vec<&Value> = all
                .iter()
                .map(|c| c.as_ref())
                .filter(|c| &c["spec"]["group"] == group)
                .collect();
            let (names, (status, reason, message)) = accept_names(crd, &same_group);
            write(ops, name, |c| {
                c["status"]["acceptedNames"] = names;
                set_condition(c, "NamesAccepted", status, reason, &message, now);
                if !condition_true(c, "Established") {
                    let installing = status == "True";
                    let (s, r, m) = if installing {
                        ("False", "Installing", "the initial names have been accepted")
                    } else {
                        ("False", "NotAccepted", "not all names are accepted")
                    };
                    set_condition(c, "Established", s, r, m, now);
                }
            });
        }
        write(ops, name, |c| {
            if condition_true(c, "NamesAccepted") && !condition_true(c, "Established") {
                set_condition(
                    c,
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                );
            }
        });
    }

    /// `CRDFinalizer.sync`; returns whether instances are still there.
    fn finalize(&mut self, ops: &Ops, crd: &Value, now: SystemTime) -> bool {
        let name = meta_str(crd, "name");
        write(ops, name, |c| {
            set_condition(
                c,
                "Terminating",
                "True",
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
                now,
            );
        });
        self.serve(ops);
        let (status, reason, message) = if condition_true(crd, "Established") {
            let served = ops.registry.custom(name);
            let storage = served.first().map(|d| d.storage.clone());
            let remaining = match (served.first(), storage) {
                (Some(def), Some(storage)) => {
                    for obj in ops.store.objects(&storage, None) {
                        let (ns, n) = (meta_str(&obj, "namespace"), meta_str(&obj, "name"));
                        // a CR with finalizers is only marked; it goes when its finalizers do
                        let _ = ops.delete(def, ns, n, &json!({}));
                    }
                    ops.store.objects(&storage, None).len()
                }
                _ => 0,
            };
            if remaining > 0 {
                return true;
            }
            ("False", "InstanceDeletionCompleted", "removed all instances")
        } else {
            ("False", "NeverEstablished", "resource was never established")
        };
        let def = crd_def(ops);
        ops.store.write(|txn| {
            let Some(cur) = txn.get(&def.storage, "", name) else {
                return;
            };
            let mut next = (*cur).clone();
            set_condition(&mut next, "Terminating", status, reason, message, now);
            if let Some(f) = next["metadata"]["finalizers"].as_array_mut() {
                f.retain(|x| x != CLEANUP_FINALIZER);
            }
            if next["metadata"]["finalizers"]
                .as_array()
                .is_none_or(Vec::is_empty)
            {
                txn.remove(&def.storage, "", name);
            } else {
                txn.put(&def.storage, "", name, next);
            }
        });
        self.serve(ops);
        false
    }

    /// Makes the registry serve exactly the established CRDs' versions, as they are now.
    fn serve(&mut self, ops: &Ops) {
        let def = crd_def(ops);
        let crds = ops.store.objects(&def.storage, None);
        let mut present = HashMap::new();
        for crd in &crds {
            let name = meta_str(crd, "name").to_owned();
            if !condition_true(crd, "Established") {
                continue;
            }
            let rv = meta_str(crd, "resourceVersion").to_owned();
            present.insert(name.clone(), ());
            if self.synced.get(&name) == Some(&rv) {
                continue;
            }
            let terminating = !crd["metadata"]["deletionTimestamp"].is_null();
            let service_exists = |ns: &str, svc: &str| ops.store.get("services", ns, svc).is_some();
            let defs = defs_for_crd(crd, false, terminating, ops.minor, &service_exists);
            if let Some(d) = defs.first() {
                ops.store.ensure_table(&d.storage);
            }
            ops.registry.set_custom(&name, defs);
            self.synced.insert(name, rv);
        }
        let gone: Vec<String> = self
            .synced
            .keys()
            .filter(|n| !present.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            let storage = ops.registry.custom(&name).first().map(|d| d.storage.clone());
            ops.registry.remove_custom(&name);
            let still_stored = crds.iter().any(|c| meta_str(c, "name") == name);
            if let Some(storage) = storage.filter(|_| !still_stored) {
                ops.store.drop_table(&storage);
            }
            self.synced.remove(&name);
        }
    }
}
