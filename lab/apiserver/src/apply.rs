//! Server-side apply for the needs of a single field manager (plus conflict detection between appliers):
//! the applied configuration is merged into the live object with the strategic-merge list rules, fields the
//! manager applied before but no longer does are removed, and `metadata.managedFields` records each apply
//! manager's field set in `FieldsV1` form (`{"f:spec":{"f:ports":{"k:{\"port\":80}":{…}}}}`).
//!
//! Not modelled: ownership by `Update` managers (kubectl edit, controllers' PUTs) — their fields never
//! conflict with an apply.

use serde_json::{Map, Value, json};

use crate::patch::{ListStrategy, PatchError, strategic_merge_patch};
use crate::strategy::Strategy;

/// Fields another apply manager owns with a different value, when not forced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Apply failed with {} conflict{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|(m, f)| format!("conflict with {m:?}: {f}")).collect::<Vec<_>>().join("; "))]
pub struct Conflicts(pub Vec<(String, String)>);

/// The error of an apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// Another manager owns some fields.
    #[error(transparent)]
    Conflict(#[from] Conflicts),
    /// The configuration could not be merged.
    #[error(transparent)]
    Patch(#[from] PatchError),
}

fn element_key(elem: &Value, keys: &[String]) -> String {
    let mut m = Map::new();
    for key in keys {
        m.insert(key.clone(), elem.get(key).cloned().unwrap_or(Value::Null));
    }
    // Service ports: `patchMergeKey` is `port`, the apply keys are `port` and `protocol`.
    if let Some(p) = elem.get("protocol").filter(|_| keys == ["port"]) {
        m.insert("protocol".into(), p.clone());
    }
    format!("k:{}", Value::Object(m))
}

/// The FieldsV1 set of an applied configuration.
pub fn field_set(kind: &dyn Strategy, config: &Value) -> Value {
    Value::Object(fields_of(kind, config, &mut Vec::new()))
}

fn fields_of(kind: &dyn Strategy, v: &Value, path: &mut Vec<String>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(m) = v.as_object() else { return out };
    for (k, child) in m {
        if path.is_empty() && (k == "apiVersion" || k == "kind") {
            continue;
        }
        if path.len() == 1
            && path[0] == "metadata"
            && !matches!(
                k.as_str(),
                "labels" | "annotations" | "finalizers" | "ownerReferences"
            )
        {
            continue;
        }
        path.push(k.clone());
        let entry = match child {
            Value::Object(_) => Value::Object(fields_of(kind, child, path)),
            Value::Array(items) => {
                let strat = kind.list_strategy(&path.iter().map(String::as_str).collect::<Vec<_>>());
                let mut set = Map::new();
                match strat {
                    ListStrategy::MergeKey(keys) => {
                        for it in items {
                            let mut inner = fields_of(kind, it, path);
                            inner.insert(".".into(), json!({}));
                            set.insert(element_key(it, &keys), Value::Object(inner));
                        }
                    }
                    ListStrategy::MergePrimitive => {
                        for it in items {
                            set.insert(format!("v:{it}"), json!({}));
                        }
                    }
                    ListStrategy::Replace => {}
                }
                Value::Object(set)
            }
            _ => json!({}),
        };
        if path.len() == 1 && k == "metadata" && entry.as_object().is_some_and(Map::is_empty) {
            path.pop();
            continue;
        }
        out.insert(format!("f:{k}"), entry);
        path.pop();
    }
    out
}

/// Removes from `obj` the fields in `prev` that are not in `next` (a manager stopped applying them).
fn remove_dropped(
    obj: &mut Value,
    prev: &Map<String, Value>,
    next: &Map<String, Value>,
    path: &mut Vec<String>,
) {
    for (k, pv) in prev {
        if k == "." {
            continue;
        }
        let nv = next.get(k).and_then(Value::as_object);
        if let Some(field) = k.strip_prefix("f:") {
            match nv {
                None => {
                    if let Some(o) = obj.as_object_mut() {
                        o.remove(field);
                    }
                }
                Some(nm) => {
                    let (Some(pm), Some(child)) = (pv.as_object(), obj.get_mut(field)) else {
                        continue;
                    };
                    path.push(field.to_owned());
                    remove_dropped(child, pm, nm, path);
                    path.pop();
                }
            }
        } else if let Some(key) = k.strip_prefix("k:") {
            let Ok(Value::Object(want)) = serde_json::from_str::<Value>(key) else {
                continue;
            };
            let Some(list) = obj.as_array_mut() else { continue };
            let matches = |e: &Value| want.iter().all(|(wk, wv)| e.get(wk) == Some(wv));
            match nv {
                None => list.retain(|e| !matches(e)),
                Some(nm) => {
                    if let (Some(pm), Some(e)) = (pv.as_object(), list.iter_mut().find(|e| matches(e))) {
                        remove_dropped(e, pm, nm, path);
                    }
                }
            }
        } else if let Some(val) = k.strip_prefix("v:")
            && nv.is_none()
        {
            let Ok(want) = serde_json::from_str::<Value>(val) else {
                continue;
            };
            if let Some(list) = obj.as_array_mut() {
                list.retain(|e| *e != want);
            }
        }
    }
}

/// Leaf paths of a field set, for conflict reports (`.spec.ports[port=80]`-like, simplified).
fn leaves(
    set: &Map<String, Value>,
    prefix: &str,
    out: &mut Vec<(String, Vec<String>)>,
    trail: &mut Vec<String>,
) {
    for (k, v) in set {
        if k == "." {
            continue;
        }
        trail.push(k.clone());
        let shown = format!("{prefix}.{}", k.trim_start_matches("f:"));
        match v.as_object() {
            Some(m) if !(m.is_empty() || m.len() == 1 && m.contains_key(".")) => {
                leaves(m, &shown, out, trail)
            }
            _ => out.push((shown, trail.clone())),
        }
        trail.pop();
    }
}

fn lookup<'a>(set: &'a Value, trail: &[String]) -> Option<&'a Value> {
    trail.iter().try_fold(set, |cur, k| cur.get(k))
}

/// Who applies, and how.
#[derive(Debug, Clone, Copy)]
pub struct Applier<'a> {
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force`: take over fields other appliers own.
    pub force: bool,
    /// `apiVersion` recorded in the managedFields entry.
    pub api_version: &'a str,
    /// Time recorded in the managedFields entry.
    pub time: &'a str,
    /// `status` when applying to the status subresource.
    pub subresource: Option<&'a str>,
}

/// Applies `config` to the live `obj` (external form) for `who`.
pub fn apply(
    kind: &dyn Strategy,
    obj: &Value,
    config: &Value,
    who: &Applier<'_>,
) -> Result<Value, ApplyError> {
    let Applier {
        manager,
        force,
        api_version,
        time,
        subresource,
    } = *who;
    let next = field_set(kind, config);
    let entries: Vec<Value> = obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut conflicts = Vec::new();
    let mut mine_prev = Map::new();
    let mut others = Vec::new();
    for e in entries {
        let same_sub = e["subresource"].as_str() == subresource;
        if e["manager"] == manager && e["operation"] == "Apply" && same_sub {
            mine_prev = e["fieldsV1"].as_object().cloned().unwrap_or_default();
        } else {
            others.push(e);
        }
    }
    let mut leaf = Vec::new();
    leaves(
        next.as_object().unwrap_or(&Map::new()),
        "",
        &mut leaf,
        &mut Vec::new(),
    );
    for e in others.iter_mut().filter(|e| e["operation"] == "Apply") {
        let owner = e["manager"].as_str().unwrap_or_default().to_owned();
        for (shown, trail) in &leaf {
            if lookup(&e["fieldsV1"], trail).is_some() {
                let live = field_value(obj, trail);
                let want = field_value(config, trail);
                if live != want {
                    if force {
                        remove_path(&mut e["fieldsV1"], trail);
                    } else {
                        conflicts.push((owner.clone(), shown.clone()));
                    }
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(Conflicts(conflicts).into());
    }
    let mut out = obj.clone();
    remove_dropped(
        &mut out,
        &mine_prev,
        next.as_object().unwrap_or(&Map::new()),
        &mut Vec::new(),
    );
    let mut out = strategic_merge_patch(kind, &out, config)?;
    let mut entry = json!({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": time,
                           "fieldsType": "FieldsV1", "fieldsV1": next});
    if let Some(s) = subresource {
        entry["subresource"] = json!(s);
    }
    others.push(entry);
    out["metadata"]["managedFields"] = Value::Array(others);
    Ok(out)
}

fn field_value<'a>(obj: &'a Value, trail: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for k in trail {
        if let Some(f) = k.strip_prefix("f:") {
            cur = cur.get(f)?;
        } else if let Some(key) = k.strip_prefix("k:") {
            let want: Map<String, Value> = serde_json::from_str(key).ok()?;
            cur = cur
                .as_array()?
                .iter()
                .find(|e| want.iter().all(|(wk, wv)| e.get(wk) == Some(wv)))?;
        } else {
            return Some(cur);
        }
    }
    Some(cur)
}

fn remove_path(set: &mut Value, trail: &[String]) {
    let Some((last, init)) = trail.split_last() else {
        return;
    };
    let mut cur = set;
    for k in init {
        match cur.get_mut(k) {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::config::ConfigMapStrategy;
    use crate::kinds::service::ServiceStrategy;

    fn who(manager: &str, force: bool) -> Applier<'_> {
        Applier {
            manager,
            force,
            api_version: "v1",
            time: "t",
            subresource: None,
        }
    }

    #[test]
    fn reapplying_removes_dropped_fields_and_keeps_others() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"mine": "1"}},
                          "data": {"a": "1", "b": "2"}});
        let c1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let o1 = apply(&ConfigMapStrategy, &live, &c1, &who("mgr", false)).unwrap();
        assert_eq!(
            o1["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:a": {}, "f:b": {}}})
        );
        let c2 =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "9"}});
        let o2 = apply(&ConfigMapStrategy, &o1, &c2, &who("mgr", false)).unwrap();
        assert_eq!(o2["data"], json!({"a": "9"}));
        assert_eq!(o2["metadata"]["labels"], json!({"mine": "1"}));
        // A second applier setting a different value conflicts unless forced.
        let c3 =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "7"}});
        let err = apply(&ConfigMapStrategy, &o2, &c3, &who("other", false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"mgr\": .data.a"
        );
        let o3 = apply(&ConfigMapStrategy, &o2, &c3, &who("other", true)).unwrap();
        assert_eq!(o3["data"]["a"], "7");
        assert_eq!(
            o3["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {}})
        );
    }

    #[test]
    fn keyed_lists_merge_and_drop_by_key() {
        let cfg = |ports: Value| json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": ports}});
        let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                          "spec": {"ports": [{"port": 80, "protocol": "TCP", "nodePort": 30001}]}});
        let o1 = apply(
            &ServiceStrategy,
            &live,
            &cfg(json!([{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}])),
            &who("m", false),
        )
        .unwrap();
        assert_eq!(o1["spec"]["ports"].as_array().unwrap().len(), 2);
        assert_eq!(o1["spec"]["ports"][0]["nodePort"], 30001);
        let o2 = apply(
            &ServiceStrategy,
            &o1,
            &cfg(json!([{"port": 443, "protocol": "TCP"}])),
            &who("m", false),
        )
        .unwrap();
        assert_eq!(o2["spec"]["ports"], json!([{"port": 443, "protocol": "TCP"}]));
    }
}
