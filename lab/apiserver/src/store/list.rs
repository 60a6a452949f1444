//! LIST: consistent snapshots at a resourceVersion, `limit`/`continue` pagination with tokens shaped like
//! kube-apiserver's (`{"v":"meta.k8s.io/v1","rv":N,"start":"key\u0000"}`, base64), and 410 Expired once
//! the snapshot's history has been compacted.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{EventType, ObjKey, Store, Table};
use crate::error::ApiError;

/// Which state a list reads (`resourceVersion` + `resourceVersionMatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RvMatch {
    /// No resourceVersion: the most recent state.
    #[default]
    MostRecent,
    /// `resourceVersion=0`: any state (served as the most recent).
    Any,
    /// `resourceVersion=N` (or with `NotOlderThan`): a state at least as new as N.
    NotOlderThan(u64),
    /// `resourceVersionMatch=Exact`: the state at exactly N.
    Exact(u64),
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only this namespace (`None`: all).
    pub namespace: Option<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue token of the previous page.
    pub continue_token: Option<String>,
    /// Which state to read.
    pub rv: RvMatch,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The items in storage form, in key order.
    pub items: Vec<Arc<Value>>,
    /// The resourceVersion of the snapshot.
    pub rv: u64,
    /// Token for the next page, when more items match.
    pub continue_token: Option<String>,
    /// How many matching items follow (only computed when `count_remaining`).
    pub remaining: Option<u64>,
}

const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

impl Store {
    /// Lists `storage` with `filter` applied before pagination (selectors); `count_remaining` asks for
    /// `remainingItemCount` (kube-apiserver sends it only without selectors).
    pub fn list(
        &self,
        storage: &str,
        opts: &ListOptions,
        filter: &dyn Fn(&Value) -> bool,
        count_remaining: bool,
    ) -> Result<ListPage, ApiError> {
        let inner = self.lock();
        let empty = Table::new();
        let table = inner.tables.get(storage).unwrap_or(&empty);
        let (snapshot, start) = match &opts.continue_token {
            Some(tok) => {
                let (rv, start) = decode_continue(tok)?;
                if rv < table.compacted {
                    return Err(ApiError::expired(EXPIRED_CONTINUE));
                }
                (rv, Some(start))
            }
            None => {
                let rv = match opts.rv {
                    RvMatch::MostRecent | RvMatch::Any => inner.rv,
                    RvMatch::NotOlderThan(rv) if rv <= inner.rv => inner.rv,
                    RvMatch::Exact(rv) if rv <= inner.rv => {
                        if rv < table.compacted {
                            return Err(ApiError::expired(format!(
                                "too old resource version: {rv} ({})",
                                table.compacted
                            )));
                        }
                        rv
                    }
                    RvMatch::NotOlderThan(rv) | RvMatch::Exact(rv) => {
                        return Err(ApiError::too_large_resource_version(rv));
                    }
                };
                (rv, None)
            }
        };
        let overlay = if snapshot < inner.rv {
            overlay_at(table, snapshot)
        } else {
            BTreeMap::new()
        };
        let ns = opts.namespace.as_deref();
        let lower = match (&start, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(ns)) => Bound::Included((ns.to_owned(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let in_ns = |k: &ObjKey| ns.is_none_or(|n| n == k.0);
        let current = table
            .objects
            .range((lower.clone(), Bound::Unbounded))
            .map(|(k, v)| (k, Some(v)));
        let past = overlay
            .range((lower, Bound::Unbounded))
            .map(|(k, v)| (k, v.as_ref()));
        let limit = opts.limit.filter(|&l| l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last: Option<ObjKey> = None;
        let mut more = false;
        let mut remaining = 0u64;
        for (k, v) in merge_sorted(current, past, &overlay) {
            if !in_ns(k) {
                if ns.is_some_and(|n| k.0.as_str() > n) {
                    break;
                }
                continue;
            }
            let Some(v) = v else { continue };
            if !filter(v) {
                continue;
            }
            if items.len() < limit {
                items.push(v.clone());
                last = Some(k.clone());
            } else {
                more = true;
                if !count_remaining {
                    break;
                }
                remaining += 1;
            }
        }
        let continue_token = if more {
            last.map(|k| encode_continue(snapshot, &k))
        } else {
            None
        };
        let remaining = (more && count_remaining).then_some(remaining);
        Ok(ListPage {
            items,
            rv: snapshot,
            continue_token,
            remaining,
        })
    }
}

/// For each key changed after `rv`, its state at `rv` (`None`: it did not exist).
fn overlay_at(table: &Table, rv: u64) -> BTreeMap<ObjKey, Option<Arc<Value>>> {
    let mut out: HashMap<ObjKey, Option<Arc<Value>>> = HashMap::new();
    let start = table.history.partition_point(|c| c.rv <= rv);
    for c in table.history.range(start..) {
        let key = key_of(&c.object);
        out.entry(key).or_insert_with(|| match c.kind {
            EventType::Added => None,
            EventType::Modified | EventType::Deleted => c.prev.clone(),
        });
    }
    out.into_iter().collect()
}

fn key_of(obj: &Value) -> ObjKey {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or_default().to_owned(),
        m["name"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Merges the current table with the past-state overlay: overlay entries win for their keys.
fn merge_sorted<'a>(
    current: impl Iterator<Item = (&'a ObjKey, Option<&'a Arc<Value>>)>,
    past: impl Iterator<Item = (&'a ObjKey, Option<&'a Arc<Value>>)>,
    overlay: &'a BTreeMap<ObjKey, Option<Arc<Value>>>,
) -> impl Iterator<Item = (&'a ObjKey, Option<&'a Arc<Value>>)> {
    let mut cur = current.filter(move |(k, _)| !overlay.contains_key(*k)).peekable();
    let mut old = past.peekable();
    std::iter::from_fn(move || match (cur.peek(), old.peek()) {
        (Some((a, _)), Some((b, _))) => {
            if a < b {
                cur.next()
            } else {
                old.next()
            }
        }
        (Some(_), None) => cur.next(),
        (None, Some(_)) => old.next(),
        (None, None) => None,
    })
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    let start = format!("{}/{}\u{0}", key.0, key.1);
    base64_encode(
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
            .to_string()
            .as_bytes(),
    )
}

fn decode_continue(tok: &str) -> Result<(u64, ObjKey), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {tok:?}"));
    let raw = base64_decode(tok).ok_or_else(bad)?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(bad());
    }
    let rv = v["rv"].as_u64().ok_or_else(bad)?;
    let start = v["start"]
        .as_str()
        .and_then(|s| s.strip_suffix('\u{0}'))
        .ok_or_else(bad)?;
    let (ns, name) = start.split_once('/').ok_or_else(bad)?;
    Ok((rv, (ns.to_owned(), name.to_owned())))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padding optional); `None` on any invalid character.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}
