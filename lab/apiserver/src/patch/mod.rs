//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch (the
//! directives `$patch`, `$retainKeys`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`, and list merge
//! keys for the fields of the kinds this server knows).

use serde_json::{Map, Value};

use crate::strategy::Strategy;

/// A patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document is malformed (400).
    #[error("{0}")]
    BadPatch(String),
    /// The patch is well-formed but cannot be applied to this object (422).
    #[error("{0}")]
    Unprocessable(String),
}

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn tokens(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PatchError::BadPatch(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent<'a>(doc: &'a mut Value, toks: &[String], path: &str) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError::Unprocessable(format!("doc is missing path: {path:?}: missing value")))?;
    }
    Ok(cur)
}

fn get(doc: &Value, path: &str) -> Result<Value, PatchError> {
    doc.pointer(path)
        .cloned()
        .ok_or_else(|| PatchError::Unprocessable(format!("doc is missing path: {path:?}: missing value")))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let mut toks = tokens(path)?;
    let Some(last) = toks.pop() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, &toks, path)? {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            let i = if last == "-" {
                a.len()
            } else {
                index(&last, a.len() + 1, path)?
            };
            a.insert(i, value);
        }
        _ => {
            return Err(PatchError::Unprocessable(format!(
                "doc is missing path: {path:?}"
            )));
        }
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let mut toks = tokens(path)?;
    let last = toks
        .pop()
        .ok_or_else(|| PatchError::Unprocessable("cannot remove the document root".into()))?;
    let missing = || PatchError::Unprocessable(format!("doc is missing path: {path:?}: missing value"));
    match parent(doc, &toks, path)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i = index(&last, a.len(), path)?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

fn index(tok: &str, len: usize, path: &str) -> Result<usize, PatchError> {
    match tok.parse::<usize>() {
        Ok(i) if i < len && (tok == "0" || !tok.starts_with('0')) => Ok(i),
        _ => Err(PatchError::Unprocessable(format!(
            "doc is missing path: {path:?}: index out of range"
        ))),
    }
}

/// RFC 6902 JSON patch: `add`, `remove`, `replace`, `move`, `copy`, `test`, applied in order, atomically.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError::BadPatch("json patch must be an array of operations".into()))?;
    let mut doc = target.clone();
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError::BadPatch("operation is missing path".into()))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::BadPatch(format!("operation on {path:?} is missing value")))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| PatchError::BadPatch(format!("operation on {path:?} is missing from")))
        };
        match op["op"].as_str().unwrap_or_default() {
            "add" => add(&mut doc, path, value()?)?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, value()?)?;
            }
            "move" => {
                let v = remove(&mut doc, from()?)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let v = get(&doc, from()?)?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                if get(&doc, path)? != value()? {
                    return Err(PatchError::Unprocessable(format!(
                        "testing value {path:?} failed: test failed"
                    )));
                }
            }
            other => return Err(PatchError::BadPatch(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(doc)
}

/// How a list field merges in a strategic merge patch (and how server-side apply tracks its elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the original (also `listType=atomic`).
    Replace,
    /// Elements are maps matched on these keys (`patchMergeKey`, `x-kubernetes-list-map-keys`).
    MergeKey(Vec<String>),
    /// Elements are scalars; the result is the union (`x-kubernetes-list-type: set`).
    MergePrimitive,
}

impl ListStrategy {
    /// Maps matched on one key.
    pub fn key(k: &str) -> Self {
        ListStrategy::MergeKey(vec![k.to_owned()])
    }
}

const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to `target` (the external form of an object whose lists merge as `kind` says).
pub fn strategic_merge_patch(
    kind: &dyn Strategy,
    target: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    let p = patch
        .as_object()
        .ok_or_else(|| PatchError::BadPatch("strategic merge patch must be a JSON object".into()))?;
    let mut out = target.clone();
    merge_map(kind, &mut out, p, &mut Vec::new())?;
    Ok(out)
}

fn merge_map(
    kind: &dyn Strategy,
    target: &mut Value,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<(), PatchError> {
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut m = patch.clone();
            m.remove("$patch");
            *target = Value::Object(m);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError::BadPatch(format!("Unknown patch type: {other}"))),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return Ok(()) };
    if let Some(keys) = patch.get("$retainKeys") {
        let keys = keys
            .as_array()
            .ok_or_else(|| PatchError::BadPatch("$retainKeys must be a list".into()))?;
        t.retain(|k, _| keys.iter().any(|x| x.as_str() == Some(k.as_str())));
    }
    for (k, v) in patch {
        if k == "$patch" || k == "$retainKeys" || k.starts_with(SET_ORDER) {
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            if let (Some(Value::Array(list)), Some(del)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        path.push(k.clone());
        let strat = kind.list_strategy(&path.iter().map(String::as_str).collect::<Vec<_>>());
        match v {
            Value::Object(pm) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                if !slot.is_object() {
                    *slot = Value::Null;
                }
                merge_map(kind, slot, pm, path)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(pl) => {
                let order = patch.get(&format!("{SET_ORDER}{k}")).and_then(Value::as_array);
                let orig = t.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
                let merged = merge_list(kind, strat, &orig, pl, order, path)?;
                t.insert(k.clone(), Value::Array(merged));
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
        path.pop();
    }
    Ok(())
}

fn merge_list(
    kind: &dyn Strategy,
    strat: ListStrategy,
    orig: &[Value],
    patch: &[Value],
    order: Option<&Vec<Value>>,
    path: &mut Vec<String>,
) -> Result<Vec<Value>, PatchError> {
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(patch
            .iter()
            .filter(|e| e.get("$patch").is_none())
            .cloned()
            .collect());
    }
    let mut out = match &strat {
        ListStrategy::Replace => return Ok(patch.to_vec()),
        ListStrategy::MergePrimitive => {
            let mut out = orig.to_vec();
            for e in patch {
                if !out.contains(e) {
                    out.push(e.clone());
                }
            }
            out
        }
        ListStrategy::MergeKey(keys) => {
            let mut out = orig.to_vec();
            for e in patch {
                let pm = e.as_object().ok_or_else(|| {
                    PatchError::BadPatch(format!("list {} elements must be objects", path.join(".")))
                })?;
                if let Some(missing) = keys.iter().find(|k| !pm.contains_key(k.as_str())) {
                    return Err(PatchError::BadPatch(format!(
                        "map: {pm:?} does not contain declared merge key: {missing}"
                    )));
                }
                let same = |o: &Value| keys.iter().all(|k| o.get(k) == pm.get(k));
                let pos = out.iter().position(same);
                let delete = pm.get("$patch").and_then(Value::as_str) == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => merge_map(kind, &mut out[i], pm, path)?,
                    (None, false) => {
                        let mut fresh = Value::Null;
                        merge_map(kind, &mut fresh, pm, path)?;
                        out.push(fresh);
                    }
                }
            }
            out
        }
    };
    if let Some(order) = order {
        let keys = match &strat {
            ListStrategy::MergeKey(k) => Some(k),
            _ => None,
        };
        let probe = |e: &Value| -> Vec<Value> {
            match keys {
                Some(ks) => ks.iter().map(|k| e[k].clone()).collect(),
                None => vec![e.clone()],
            }
        };
        let rank = |e: &Value| {
            let p = probe(e);
            order.iter().position(|o| probe(o) == p).unwrap_or(usize::MAX)
        };
        out.sort_by_key(|e| rank(e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
