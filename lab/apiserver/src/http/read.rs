//! GET, LIST and WATCH handlers, rendering objects in the served version, as Tables or as metadata.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::params::{self, Output};
use super::{AppState, json_response};
use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::table::{self, IncludeObject};
use crate::watch::{Render, Start, WatchSpec, watch_stream};

/// Default watch duration when `timeoutSeconds` is absent (kube-apiserver's `--min-request-timeout`).
const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(1800);

/// Whether the `WatchList` feature gate (streaming lists, `sendInitialEvents`) is on by default in 1.`minor`:
/// alpha (off) from 1.27, beta on in 1.32, off again in 1.33, on from 1.34. kube-runtime's watcher does
/// not fall back to LIST when a server refuses it.
pub fn watch_list_enabled(minor: u32) -> bool {
    minor == 32 || minor >= 34
}

pub(super) fn get(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let out = params::negotiate(headers)?;
    let stored = app
        .ops
        .store
        .get(&def.storage, ns, name)
        .ok_or_else(|| ApiError::not_found(def.qualified(), name))?;
    let ext = def.to_external(&stored)?;
    let body = match out {
        Output::Json => ext,
        Output::Metadata(v) => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": v, "metadata": ext["metadata"]})
        }
        Output::Table(v) => {
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
            let row = table::row(def, &stored, &ext, include, SystemTime::now());
            table::table(
                def,
                &v,
                vec![row],
                json!({"resourceVersion": stored["metadata"]["resourceVersion"]}),
            )
        }
    };
    Ok(json_response(200, &body, &[]))
}

pub(super) fn list(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let out = params::negotiate(headers)?;
    let filter = params::filter(def, ns, q)?;
    let opts = params::list_options(ns, q)?;
    let page = app
        .ops
        .store
        .list(&def.storage, &opts, &*filter, !params::has_selector(q))?;
    let mut meta = json!({"resourceVersion": page.rv.to_string()});
    if let Some(c) = &page.continue_token {
        meta["continue"] = json!(c);
    }
    if let Some(n) = page.remaining {
        meta["remainingItemCount"] = json!(n);
    }
    let body = match out {
        Output::Json => {
            let items = page
                .items
                .iter()
                .map(|o| def.to_external(o))
                .collect::<Result<Vec<Value>, ApiError>>()?;
            json!({"kind": def.list_kind, "apiVersion": def.api_version(), "metadata": meta, "items": items})
        }
        Output::Metadata(v) => {
            let items: Vec<Value> = page
                .items
                .iter()
                .map(|o| json!({"kind": "PartialObjectMetadata", "apiVersion": v, "metadata": o["metadata"]}))
                .collect();
            json!({"kind": "PartialObjectMetadataList", "apiVersion": v, "metadata": meta, "items": items})
        }
        Output::Table(v) => {
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
            let now = SystemTime::now();
            let rows = page
                .items
                .iter()
                .map(|o| Ok(table::row(def, o, &def.to_external(o)?, include, now)))
                .collect::<Result<Vec<Value>, ApiError>>()?;
            table::table(def, &v, rows, meta)
        }
    };
    Ok(json_response(200, &body, &[]))
}

pub(super) fn watch(
    app: &Arc<AppState>,
    def: &Arc<ResourceDef>,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let out = params::negotiate(headers)?;
    let mut q = q.clone();
    if !name.is_empty() {
        let f = q
            .get("fieldSelector")
            .filter(|f| !f.is_empty())
            .map(|f| format!("{f},metadata.name={name}"));
        q.insert(
            "fieldSelector".into(),
            f.unwrap_or_else(|| format!("metadata.name={name}")),
        );
    }
    let filter = params::filter(def, ns, &q)?;
    let flag = |k: &str| q.get(k).is_some_and(|v| v == "true" || v == "1");
    let rv = q.get("resourceVersion").map_or("", String::as_str);
    let start = if flag("sendInitialEvents") {
        if !watch_list_enabled(app.ops.minor) {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![crate::error::Cause::forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                )],
            ));
        }
        if q.get("resourceVersionMatch").map(String::as_str) != Some("NotOlderThan") {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![crate::error::Cause::forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )],
            ));
        }
        if !flag("allowWatchBookmarks") {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "ListOptions",
                "",
                vec![crate::error::Cause::forbidden(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is set",
                )],
            ));
        }
        Start::Initial { end_bookmark: true }
    } else {
        match rv {
            "" | "0" => Start::Initial { end_bookmark: false },
            n => Start::After(
                n.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {n:?}")))?,
            ),
        }
    };
    let timeout = match q.get("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?,
        ),
        None => DEFAULT_WATCH_TIMEOUT,
    };
    let render: Option<Render> = match out {
        Output::Json if def.strategy.is_identity() => None,
        Output::Json => {
            let d = def.clone();
            Some(Arc::new(move |o: &Value| d.to_external(o)))
        }
        Output::Metadata(v) => Some(Arc::new(move |o: &Value| {
            Ok(json!({"kind": "PartialObjectMetadata", "apiVersion": v, "metadata": o["metadata"]}))
        })),
        Output::Table(v) => {
            let d = def.clone();
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
            Some(Arc::new(move |o: &Value| {
                let row = table::row(&d, o, &d.to_external(o)?, include, SystemTime::now());
                Ok(table::table(
                    &d,
                    &v,
                    vec![row],
                    json!({"resourceVersion": o["metadata"]["resourceVersion"]}),
                ))
            }))
        }
    };
    let spec = WatchSpec {
        storage: def.storage.clone(),
        filter,
        start,
        bookmarks: flag("allowWatchBookmarks"),
        bookmark_interval: app.bookmark_interval,
        timeout,
        render,
        bookmark_type: (def.kind.clone(), def.api_version()),
        shutdown: app.shutdown.clone(),
    };
    let stream = watch_stream(app.ops.store.clone(), spec);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    Ok(resp)
}
