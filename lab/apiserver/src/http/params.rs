//! Query parameters and headers: selectors (as a filter on stored objects), list and write options, and
//! `Accept` negotiation (plain JSON, `as=Table`, `as=PartialObjectMetadata[List]`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use serde_json::Value;

use crate::error::ApiError;
use crate::ops::{FieldValidation, WriteOpts};
use crate::resources::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{ListOptions, RvMatch};

/// A selection predicate on stored objects.
pub type Filter = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// Namespace + `labelSelector` + `fieldSelector` as one predicate.
pub fn filter(def: &ResourceDef, namespace: &str, q: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(q.get("fieldSelector").map_or("", String::as_str))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let extra = def.strategy.field_labels();
    for t in &fields.terms {
        let known =
            matches!(t.field.as_str(), "metadata.name" | "metadata.namespace") || extra.contains(&t.field);
        if !known {
            return Err(ApiError::bad_request(format!(
                "field label not supported: {}",
                t.field
            )));
        }
    }
    let ns = namespace.to_owned();
    let strategy = def.strategy.clone();
    Ok(Arc::new(move |obj: &Value| {
        if !ns.is_empty() && obj["metadata"]["namespace"].as_str() != Some(ns.as_str()) {
            return false;
        }
        if !labels.is_empty() {
            let l: BTreeMap<String, String> = obj["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            if !labels.matches(&l) {
                return false;
            }
        }
        fields.matches(|f| strategy.field_value(obj, f))
    }))
}

/// Whether the request has any selector (`remainingItemCount` is only given without).
pub fn has_selector(q: &HashMap<String, String>) -> bool {
    q.get("labelSelector").is_some_and(|s| !s.is_empty())
        || q.get("fieldSelector").is_some_and(|s| !s.is_empty())
}

fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

/// `limit`, `continue`, `resourceVersion`, `resourceVersionMatch` of a LIST.
pub fn list_options(namespace: &str, q: &HashMap<String, String>) -> Result<ListOptions, ApiError> {
    let rv = q.get("resourceVersion").map_or("", String::as_str);
    let matching = q.get("resourceVersionMatch").map_or("", String::as_str);
    let cont = q.get("continue").filter(|c| !c.is_empty()).cloned();
    if cont.is_some() && !rv.is_empty() && rv != "0" {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    let rv = match (rv, matching) {
        ("", "") => RvMatch::MostRecent,
        ("", _) => {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        ("0", "Exact") => {
            return Err(ApiError::bad_request(
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
        ("0", _) => RvMatch::Any,
        (n, "Exact") => RvMatch::Exact(parse_rv(n)?),
        (n, "" | "NotOlderThan") => RvMatch::NotOlderThan(parse_rv(n)?),
        (_, other) => {
            return Err(ApiError::bad_request(format!(
                "unsupported resourceVersionMatch {other:?}"
            )));
        }
    };
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        Some(l) => Some(
            l.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {l:?}")))?,
        ),
        None => None,
    };
    let namespace = (!namespace.is_empty()).then(|| namespace.to_owned());
    Ok(ListOptions {
        namespace,
        limit,
        continue_token: cont,
        rv,
    })
}

/// `dryRun`, `fieldManager`, `fieldValidation`, `force`.
pub fn write_options(q: &HashMap<String, String>) -> Result<WriteOpts, ApiError> {
    let field_validation = match q.get("fieldValidation").map(String::as_str) {
        None | Some("") | Some("Warn") => FieldValidation::Warn,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Strict") => FieldValidation::Strict,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
    };
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            )));
        }
    };
    Ok(WriteOpts {
        dry_run,
        field_manager: q.get("fieldManager").filter(|m| !m.is_empty()).cloned(),
        field_validation,
        force: q.get("force").is_some_and(|f| f == "true"),
    })
}

/// What the client accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The object or list itself.
    Json,
    /// A `Table` in this `meta.k8s.io` version.
    Table(String),
    /// `PartialObjectMetadata` / `PartialObjectMetadataList` in this `meta.k8s.io` version.
    Metadata(String),
}

/// Picks the first acceptable media type of the `Accept` header.
pub fn negotiate(headers: &HeaderMap) -> Result<Output, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    for media in accept.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let ty = parts.next().unwrap_or_default();
        let params: HashMap<&str, &str> = parts.filter_map(|p| p.split_once('=')).collect();
        if !matches!(ty, "application/json" | "*/*" | "application/*" | "") {
            continue;
        }
        let version = params.get("v").copied().unwrap_or("v1");
        match (params.get("as").copied(), params.get("g").copied()) {
            (None, _) => return Ok(Output::Json),
            (Some("Table"), Some("meta.k8s.io")) if matches!(version, "v1" | "v1beta1") => {
                return Ok(Output::Table(format!("meta.k8s.io/{version}")));
            }
            (Some("PartialObjectMetadata" | "PartialObjectMetadataList"), Some("meta.k8s.io"))
                if matches!(version, "v1" | "v1beta1") =>
            {
                return Ok(Output::Metadata(format!("meta.k8s.io/{version}")));
            }
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(format!(
        "only the following media types are accepted: application/json (got {accept:?})"
    )))
}

/// Decodes a JSON (or YAML) request body.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.contains("yaml") {
        return serde_saphyr::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")));
    }
    if ct.contains("protobuf") {
        return Err(ApiError::unsupported_media_type(ct));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))
}
