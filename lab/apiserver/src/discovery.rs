//! Discovery documents: `/api`, `/apis`, `/api/v1`, `/apis/<group>`, `/apis/<group>/<version>` (legacy,
//! unaggregated form: clients asking for aggregated discovery fall back to it because the response's
//! content type is plain JSON) and `/version`.

use serde_json::{Value, json};

use crate::resources::Registry;

/// `/version` for server 1.`minor`.
pub fn version(minor: u32) -> Value {
    json!({
        "major": "1",
        "minor": minor.to_string(),
        "gitVersion": format!("v1.{minor}.0"),
        "gitCommit": "ferrolb-apiserver",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.21.0",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// `/api`.
pub fn core_versions(server_address: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})
}

fn group_entry(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

/// `/apis`.
pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    let (g, vs) = registry
        .groups()
        .into_iter()
        .find(|(g, _)| g == name && !g.is_empty())?;
    let mut e = group_entry(&g, &vs);
    e["kind"] = json!("APIGroup");
    e["apiVersion"] = json!("v1");
    Some(e)
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let defs: Vec<_> = registry
        .all()
        .into_iter()
        .filter(|d| d.group == group && d.version == version)
        .collect();
    if defs.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for d in defs {
        let mut r = json!({
            "name": d.plural, "singularName": d.singular, "namespaced": d.namespaced, "kind": d.kind,
            "verbs": d.verbs(),
        });
        if !d.short_names.is_empty() {
            r["shortNames"] = json!(d.short_names);
        }
        if !d.categories.is_empty() {
            r["categories"] = json!(d.categories);
        }
        resources.push(r);
        if d.status {
            resources.push(
                json!({"name": format!("{}/status", d.plural), "singularName": "", "namespaced": d.namespaced,
                                  "kind": d.kind, "verbs": ["get", "patch", "update"]}),
            );
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// A minimal OpenAPI v2 document (title and version, no paths or definitions) in gnostic's protobuf form,
/// which is what kubectl fetches before `create`/`apply`: with no definition for a kind, kubectl skips
/// client-side schema validation and computes apply patches from its compiled-in types, as it does for
/// kinds a real server does not describe. JSON is served when the client does not ask for protobuf.
pub fn openapi_v2_response(minor: u32, headers: &axum::http::HeaderMap) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let version = format!("v1.{minor}.0");
    if accept.contains("protobuf") {
        // Document { swagger = 1: "2.0", info = 2: Info { title = 1, version = 2 } }
        let mut info = Vec::new();
        push_string_field(&mut info, 1, "Kubernetes");
        push_string_field(&mut info, 2, &version);
        let mut doc = Vec::new();
        push_string_field(&mut doc, 1, "2.0");
        push_bytes_field(&mut doc, 2, &info);
        let mut r = axum::response::Response::new(axum::body::Body::from(doc));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/com.github.proto-openapi.spec.v2.v1.0+protobuf"),
        );
        return r;
    }
    let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version}, "paths": {}, "definitions": {}});
    crate::http::json_response(200, &doc, &[])
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn push_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    push_varint(out, (field << 3) | 2);
    push_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn push_string_field(out: &mut Vec<u8>, field: u64, s: &str) {
    push_bytes_field(out, field, s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_list_what_is_served() {
        let r = Registry::builtin();
        let core = resource_list(&r, "", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"services")
                && names.contains(&"services/status")
                && names.contains(&"nodes/status")
        );
        assert!(!names.contains(&"configmaps/status"));
        let groups = group_list(&r);
        let gnames: Vec<&str> = groups["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            gnames,
            [
                "events.k8s.io",
                "discovery.k8s.io",
                "coordination.k8s.io",
                "apiextensions.k8s.io"
            ]
        );
        assert_eq!(
            group(&r, "coordination.k8s.io").unwrap()["preferredVersion"]["groupVersion"],
            "coordination.k8s.io/v1"
        );
        assert!(resource_list(&r, "apps", "v1").is_none());
        assert_eq!(version(28)["gitVersion"], "v1.28.0");
    }
}
