//! `metadata` handling shared by every resource: system fields on create (uid, creationTimestamp,
//! generation, generateName), what an update may not change, generation bumps, and metadata validation
//! (`ValidateObjectMeta`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::resources::ResourceDef;
use crate::validate;

const TOTAL_ANNOTATION_SIZE: usize = 256 * 1024;
/// generateName suffix alphabet of `k8s.io/apiserver/pkg/storage/names` (no vowels, no confusables).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// A random version-4 UUID string.
pub fn new_uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    let v = (u128::from(a) << 64) | u128::from(b);
    let v = (v & !(0xf << 76)) | (0x4 << 76); // version 4
    let v = (v & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random token of `n` characters from the generateName alphabet.
pub fn random_suffix(n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut r = random_u64();
    for i in 0..n {
        if i % 12 == 11 {
            r = random_u64();
        }
        out.push(ALPHANUMS[(r % ALPHANUMS.len() as u64) as usize] as char);
        r /= ALPHANUMS.len() as u64;
    }
    out
}

/// The object's `metadata`, created as `{}` when absent or not an object.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("metadata was just made an object"))
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// Fills in generateName, uid, creationTimestamp, generation; clears fields only the server sets.
pub fn prepare_create(def: &ResourceDef, obj: &mut Value, now: SystemTime) {
    let m = meta_mut(obj);
    if m.get("name").and_then(Value::as_str).is_none_or(str::is_empty)
        && let Some(g) = m
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|g| !g.is_empty())
    {
        let name = format!("{g}{}", random_suffix(5));
        m.insert("name".into(), json!(name));
    }
    m.insert("uid".into(), json!(new_uid()));
    m.insert("creationTimestamp".into(), json!(crate::time::rfc3339(now)));
    for f in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
    ] {
        m.remove(f);
    }
    if def.strategy.has_generation() {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    if !def.namespaced {
        m.remove("namespace");
    }
}

/// Copies what an update may not change from `old`.
pub fn prepare_update(new: &mut Value, old: &Value) {
    let old_m = old["metadata"].as_object().cloned().unwrap_or_default();
    let m = meta_mut(new);
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
    ] {
        match old_m.get(f) {
            Some(v) => m.insert(f.into(), v.clone()),
            None => m.remove(f),
        };
    }
    m.remove("selfLink");
}

/// Bumps `generation` when the (fully defaulted) spec changed.
pub fn bump_generation(def: &ResourceDef, new: &mut Value, old: &Value) {
    if def.strategy.has_generation() && def.strategy.spec_changed(new, old, def.status) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        meta_mut(new).insert("generation".into(), json!(g));
    }
}

/// Whether two stored forms differ in anything but resourceVersion and managedFields (no-op detection).
pub fn same_object(a: &Value, b: &Value) -> bool {
    let norm = |v: &Value| {
        let mut v = v.clone();
        let m = meta_mut(&mut v);
        m.remove("resourceVersion");
        m.remove("managedFields");
        v
    };
    norm(a) == norm(b)
}

/// `ValidateObjectMeta`: name (by kind), namespace presence, labels, annotations, finalizers.
pub fn validate(def: &ResourceDef, obj: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let m = &obj["metadata"];
    let name = meta_str(obj, "name");
    if name.is_empty() {
        errs.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for p in def.strategy.validate_name(name) {
            errs.push(Cause::invalid("metadata.name", &m["name"], p));
        }
    }
    let ns = meta_str(obj, "namespace");
    if def.namespaced && ns.is_empty() {
        errs.push(Cause::required("metadata.namespace", ""));
    }
    for (k, v) in m["labels"].as_object().into_iter().flatten() {
        for p in validate::qualified_name(k) {
            errs.push(Cause::invalid("metadata.labels", &json!(k), p));
        }
        match v.as_str() {
            Some(s) => errs.extend(
                validate::label_value(s)
                    .into_iter()
                    .map(|p| Cause::invalid(format!("metadata.labels[{k}]"), v, p)),
            ),
            None => errs.push(Cause::invalid(
                format!("metadata.labels[{k}]"),
                v,
                "must be a string",
            )),
        }
    }
    let mut total = 0;
    for (k, v) in m["annotations"].as_object().into_iter().flatten() {
        for p in validate::qualified_name(&k.to_ascii_lowercase()) {
            errs.push(Cause::invalid("metadata.annotations", &json!(k), p));
        }
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE {
        errs.push(Cause::too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE));
    }
    for (i, f) in m["finalizers"].as_array().into_iter().flatten().enumerate() {
        for p in validate::qualified_name(f.as_str().unwrap_or_default()) {
            errs.push(Cause::invalid(format!("metadata.finalizers[{i}]"), f, p));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_and_suffixes_have_the_real_shapes() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uid(), u);
        let s = random_suffix(5);
        assert_eq!(s.len(), 5);
        assert!(s.bytes().all(|c| ALPHANUMS.contains(&c)));
    }

    #[test]
    fn generation_bumps_only_on_spec_change() {
        let r = crate::resources::Registry::builtin();
        let svc = &r.builtin_def("", "services");
        let old =
            json!({"metadata": {"name": "a", "generation": 3, "uid": "u"}, "spec": {"type": "ClusterIP"}});
        let mut new =
            json!({"metadata": {"name": "a", "annotations": {"x": "y"}}, "spec": {"type": "ClusterIP"}});
        prepare_update(&mut new, &old);
        bump_generation(svc, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 3);
        assert_eq!(new["metadata"]["uid"], "u");
        let mut new = json!({"metadata": {"name": "a"}, "spec": {"type": "NodePort"}});
        prepare_update(&mut new, &old);
        bump_generation(svc, &mut new, &old);
        assert_eq!(new["metadata"]["generation"], 4);
    }
}
