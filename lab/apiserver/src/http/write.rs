//! POST, PUT, PATCH, DELETE and DELETE-collection handlers: decode the body and parameters, call [`Ops`],
//! answer with the stored object (201 on create) and `Warning` headers.
//!
//! [`Ops`]: crate::ops::Ops

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::params;
use super::{AppState, json_response};
use crate::defaults::Target;
use crate::error::ApiError;
use crate::ops::{Patch, PatchType};
use crate::resources::ResourceDef;
use crate::store::ListOptions;

fn target(sub: &str) -> Target {
    if sub == "status" {
        Target::Status
    } else {
        Target::Main
    }
}

pub(super) fn create(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = params::write_options(q)?;
    let obj = params::decode_body(headers, body)?;
    let w = app.ops.create(def, (!ns.is_empty()).then_some(ns), obj, &opts)?;
    Ok(json_response(201, &w.object, &w.warnings))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn update(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = params::write_options(q)?;
    let obj = params::decode_body(headers, body)?;
    let w = app.ops.update(def, ns, name, obj, target(sub), &opts)?;
    Ok(json_response(
        if w.created { 201 } else { 200 },
        &w.object,
        &w.warnings,
    ))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn patch(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = ct.split(';').next().unwrap_or_default().trim();
    let ptype = match media {
        "application/merge-patch+json" => PatchType::Merge,
        "application/json-patch+json" => PatchType::Json,
        "application/strategic-merge-patch+json" => PatchType::Strategic,
        "application/apply-patch+yaml" => PatchType::Apply,
        _ => return Err(ApiError::unsupported_media_type(ct)),
    };
    let mut opts = params::write_options(q)?;
    if ptype != PatchType::Apply && opts.force {
        return Err(ApiError::bad_request(
            "force: Forbidden: may not be specified for non-apply patch",
        ));
    }
    if ptype == PatchType::Apply && q.get("fieldValidation").is_none() {
        opts.field_validation = crate::ops::FieldValidation::Strict;
    }
    let w = app
        .ops
        .patch(def, ns, name, Patch { ptype, body }, target(sub), &opts)?;
    Ok(json_response(
        if w.created { 201 } else { 200 },
        &w.object,
        &w.warnings,
    ))
}

fn delete_options(q: &HashMap<String, String>, body: &[u8]) -> Result<Value, ApiError> {
    let mut opts: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    if q.get("dryRun").is_some_and(|d| d == "All") {
        opts["dryRun"] = json!(["All"]);
    }
    // the query parameter, as kube-apiserver decodes DeleteOptions from the query too
    if let Some(g) = q.get("gracePeriodSeconds") {
        let g: i64 = g.parse().map_err(|_| {
            ApiError::bad_request(format!("gracePeriodSeconds: invalid value {g:?}: not an integer"))
        })?;
        opts["gracePeriodSeconds"] = json!(g);
    }
    Ok(opts)
}

pub(super) fn delete(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let opts = delete_options(q, body)?;
    let obj = app.ops.delete(def, ns, name, &opts)?;
    Ok(json_response(200, &obj, &[]))
}

pub(super) fn delete_collection(
    app: &AppState,
    def: &ResourceDef,
    ns: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let _ = headers;
    let opts = delete_options(q, body)?;
    let filter = params::filter(def, ns, q)?;
    let list = ListOptions {
        namespace: (!ns.is_empty()).then(|| ns.to_owned()),
        ..Default::default()
    };
    let page = app.ops.store.list(&def.storage, &list, &*filter, false)?;
    let mut items = Vec::new();
    for obj in page.items {
        let (ons, oname) = (
            obj["metadata"]["namespace"].as_str().unwrap_or_default(),
            obj["metadata"]["name"].as_str().unwrap_or_default(),
        );
        match app.ops.delete(def, ons, oname, &opts) {
            Ok(o) => items.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let body = json!({"kind": def.list_kind, "apiVersion": def.api_version(),
                      "metadata": {"resourceVersion": app.ops.store.resource_version().to_string()}, "items": items});
    Ok(json_response(200, &body, &[]))
}
