//! The HTTP front: authentication (bearer tokens → users), request info, routing to discovery or resource
//! handlers, `Status` error bodies, `Warning` headers, and one audit entry per request.

mod params;
mod read;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::watch;

use crate::audit::{AuditEntry, AuditLog};
use crate::discovery;
use crate::error::ApiError;
use crate::ops::Ops;
use crate::request_info::{RequestInfo, parse_query, request_info};

/// Largest request body accepted (kube-apiserver's limit is 3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Bearer tokens and the users they authenticate.
#[derive(Debug, Default)]
pub struct Tokens {
    by_token: RwLock<HashMap<String, String>>,
}

impl Tokens {
    /// Adds (or replaces) a token for `user`.
    pub fn insert(&self, token: &str, user: &str) {
        self.write().insert(token.to_owned(), user.to_owned());
    }

    /// The user a token authenticates.
    pub fn user(&self, token: &str) -> Option<String> {
        self.by_token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
            .cloned()
    }

    /// A token of `user`, if any.
    pub fn token_of(&self, user: &str) -> Option<String> {
        let map = self.by_token.read().unwrap_or_else(|p| p.into_inner());
        map.iter().find(|(_, u)| *u == user).map(|(t, _)| t.clone())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, String>> {
        self.by_token.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything request handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Object operations.
    pub ops: Ops,
    /// The audit log.
    pub audit: AuditLog,
    /// Token authentication.
    pub tokens: Tokens,
    /// Whether requests without a token are served (as `system:anonymous`).
    pub allow_anonymous: bool,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// Becomes `true` on shutdown (ends watches).
    pub shutdown: watch::Receiver<bool>,
    /// `host:port` advertised in `/api`.
    pub server_address: String,
}

/// A response plus what the audit entry needs.
pub fn json_response(code: u16, body: &Value, warnings: &[String]) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&format!("299 - {w:?}")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

pub fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.status(), &[])
}

fn authenticate(app: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) => {
            let token = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or_default()
                .trim();
            app.tokens.user(token).ok_or_else(ApiError::unauthorized)
        }
        None if app.allow_anonymous => Ok("system:anonymous".to_owned()),
        None => Err(ApiError::unauthorized()),
    }
}

/// The single entry point of the router.
pub async fn handle(State(app): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parse_query(parts.uri.query());
    let info = request_info(parts.method.as_str(), &path, &query);
    let user = authenticate(&app, &parts.headers);
    let resp = match &user {
        Err(e) => error_response(e),
        Ok(_) if !info.is_resource => non_resource(&app, &path, &parts.headers),
        Ok(_) => {
            let body = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return error_response(&ApiError::too_large("the request body is larger than 3 MiB"));
                }
            };
            resource(&app, &info, &query, &parts.headers, body).await
        }
    };
    audit(
        &app,
        &info,
        user.unwrap_or_default(),
        parts.uri.to_string(),
        resp.status().as_u16(),
    );
    resp
}

fn audit(app: &AppState, info: &RequestInfo, user: String, uri: String, code: u16) {
    app.audit.record(AuditEntry {
        seq: 0,
        time: crate::time::rfc3339_micros(SystemTime::now()),
        user,
        verb: info.verb.clone(),
        resource_request: info.is_resource,
        api_group: info.api_group.clone(),
        api_version: info.api_version.clone(),
        resource: info.resource.clone(),
        subresource: info.subresource.clone(),
        namespace: info.namespace.clone(),
        name: info.name.clone(),
        uri,
        code,
    });
}

fn non_resource(app: &AppState, path: &str, headers: &HeaderMap) -> Response {
    let reg = &app.ops.registry;
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let doc = match parts.as_slice() {
        ["version"] => Some(discovery::version(app.ops.minor)),
        ["api"] => Some(discovery::core_versions(&app.server_address)),
        ["api", v] => discovery::resource_list(reg, "", v),
        ["apis"] => Some(discovery::group_list(reg)),
        ["apis", g] => discovery::group(reg, g),
        ["apis", g, v] => discovery::resource_list(reg, g, v),
        ["openapi", "v2"] | ["swagger-2.0.0.pb-v1"] => {
            return crate::discovery::openapi_v2_response(app.ops.minor, headers);
        }
        ["healthz" | "livez" | "readyz", ..] => {
            let mut r = Response::new(Body::from("ok"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return r;
        }
        _ => None,
    };
    match doc {
        Some(d) => json_response(200, &d, &[]),
        None => error_response(&ApiError::no_route()),
    }
}

async fn resource(
    app: &Arc<AppState>,
    info: &RequestInfo,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let reg = app.ops.registry.clone();
    let Some(def) = reg.get(&info.api_group, &info.api_version, &info.resource) else {
        return error_response(&ApiError::no_route());
    };
    let sub_ok = info.subresource.is_empty() || (info.subresource == "status" && def.status);
    let scope_ok = def.namespaced || info.namespace.is_empty() || info.resource == "namespaces";
    if !sub_ok || !scope_ok {
        return error_response(&ApiError::no_route());
    }
    let ns = if def.namespaced {
        info.namespace.as_str()
    } else {
        ""
    };
    let result = match info.verb.as_str() {
        "get" => read::get(app, &def, ns, &info.name, query, headers),
        "list" => read::list(app, &def, ns, query, headers),
        "watch" => read::watch(app, &def, ns, &info.name, query, headers),
        "create" if info.name.is_empty() && (!def.namespaced || !ns.is_empty()) => {
            write::create(app, &def, ns, query, headers, &body)
        }
        "update" => write::update(
            app,
            &def,
            ns,
            &info.name,
            &info.subresource,
            query,
            headers,
            &body,
        ),
        "patch" => write::patch(
            app,
            &def,
            ns,
            &info.name,
            &info.subresource,
            query,
            headers,
            &body,
        ),
        "delete" if info.subresource.is_empty() => write::delete(app, &def, ns, &info.name, query, &body),
        "deletecollection" => write::delete_collection(app, &def, ns, query, headers, &body),
        _ => Err(ApiError::method_not_supported(def.qualified(), &info.verb)),
    };
    result.unwrap_or_else(|e| error_response(&e))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}
