//! What a request addresses, derived from method, path and query the way kube-apiserver's
//! `RequestInfoFactory` does: resource vs non-resource, verb (get, list, watch, create, update, patch,
//! delete, deletecollection), group, version, namespace, resource, subresource and name.

use std::collections::HashMap;

/// The parsed request target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `false` for discovery, `/version`, `/openapi/…`, health checks.
    pub is_resource: bool,
    /// The URL path.
    pub path: String,
    /// Kubernetes verb (lower-case HTTP method for non-resource requests).
    pub verb: String,
    /// API group (`""` for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Namespace (`""` when none).
    pub namespace: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`).
    pub subresource: String,
    /// Object name (`""` for collections).
    pub name: String,
}

/// Decodes `%XX` and `+` in a query component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a query string into a map (the last value of a repeated key wins).
pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Builds the request info of `method path?query`.
pub fn request_info(method: &str, path: &str, query: &HashMap<String, String>) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_owned(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let (group, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => (("", *version), rest),
        ["apis", group, version, rest @ ..] if !rest.is_empty() => ((*group, *version), rest),
        _ => return info,
    };
    info.is_resource = true;
    info.api_group = group.0.to_owned();
    info.api_version = group.1.to_owned();
    let mut rest: Vec<&str> = rest.to_vec();
    let mut watch = false;
    if rest.first() == Some(&"watch") {
        watch = true;
        rest.remove(0);
    }
    info.verb = match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
    .to_owned();
    if watch {
        info.verb = "watch".to_owned();
    }
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        info.namespace = rest[1].to_owned();
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest.drain(..2);
        }
    }
    if let Some(r) = rest.first() {
        info.resource = (*r).to_owned();
    }
    if let Some(n) = rest.get(1) {
        info.name = (*n).to_owned();
    }
    if let Some(s) = rest.get(2) {
        info.subresource = (*s).to_owned();
    }
    if info.name.is_empty() && info.verb == "get" {
        let w = query.get("watch").map(String::as_str);
        info.verb = if matches!(w, Some("true") | Some("1")) {
            "watch"
        } else {
            "list"
        }
        .to_owned();
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_owned();
    }
    if info.verb == "get" && query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        info.verb = "watch".to_owned();
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ri(method: &str, path_q: &str) -> RequestInfo {
        let (p, q) = path_q
            .split_once('?')
            .map_or((path_q, None), |(p, q)| (p, Some(q)));
        request_info(method, p, &parse_query(q))
    }

    #[test]
    fn verbs_and_targets_like_kube_apiserver() {
        let r = ri(
            "GET",
            "/api/v1/namespaces/default/services?watch=true&resourceVersion=5",
        );
        assert_eq!(
            (
                r.verb.as_str(),
                r.namespace.as_str(),
                r.resource.as_str(),
                r.name.as_str()
            ),
            ("watch", "default", "services", "")
        );
        let r = ri("GET", "/api/v1/services");
        assert_eq!((r.verb.as_str(), r.namespace.as_str()), ("list", ""));
        let r = ri("PATCH", "/api/v1/namespaces/ferrolb-system/services/web/status");
        assert_eq!(
            (
                r.verb.as_str(),
                r.resource.as_str(),
                r.subresource.as_str(),
                r.name.as_str()
            ),
            ("patch", "services", "status", "web")
        );
        let r = ri(
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/ferrolb-system/leases/ferrolb-controller",
        );
        assert_eq!(
            (r.verb.as_str(), r.api_group.as_str(), r.resource.as_str()),
            ("update", "coordination.k8s.io", "leases")
        );
        let r = ri("DELETE", "/api/v1/namespaces/default/configmaps");
        assert_eq!(r.verb, "deletecollection");
        let r = ri("GET", "/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.resource.as_str(), r.name.as_str(), r.namespace.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let r = ri("PUT", "/api/v1/namespaces/x/status");
        assert_eq!(
            (r.resource.as_str(), r.name.as_str(), r.subresource.as_str()),
            ("namespaces", "x", "status")
        );
        let r = ri("GET", "/api/v1/namespaces");
        assert_eq!(
            (r.verb.as_str(), r.resource.as_str(), r.namespace.as_str()),
            ("list", "namespaces", "")
        );
        let r = ri("GET", "/api/v1/watch/namespaces/default/services/web");
        assert_eq!((r.verb.as_str(), r.name.as_str()), ("watch", "web"));
        let r = ri("GET", "/apis");
        assert!(!r.is_resource);
        assert_eq!(r.verb, "get");
        assert_eq!(percent_decode("a%3Db%2Cc+d"), "a=b,c d");
    }
}
