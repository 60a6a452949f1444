//! `ValidateService`, `ValidateServiceUpdate` and `ValidateServiceStatusUpdate` for the fields that matter
//! to ferrolb and to kubectl users: type, ports, cluster IPs, traffic policies, load balancer fields and
//! `status.loadBalancer.ingress`.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::error::Cause;
use crate::validate;

const TYPES: [&str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: [&str; 3] = ["TCP", "UDP", "SCTP"];

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

fn is_iana_svc_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 15
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.iter().any(u8::is_ascii_lowercase)
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

/// Static validation of a Service spec (create and update).
pub fn validate(svc: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let sp = &svc["spec"];
    let ty = s(sp, "type");
    if !TYPES.contains(&ty) {
        errs.push(Cause::not_supported("spec.type", &sp["type"], &TYPES));
    }
    let headless = s(sp, "clusterIP") == "None";
    let ports = sp["ports"].as_array().cloned().unwrap_or_default();
    if ports.is_empty() && ty != "ExternalName" && !headless {
        errs.push(Cause::required("spec.ports", ""));
    }
    let mut names = HashSet::new();
    let mut seen = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let f = format!("spec.ports[{i}]");
        let name = s(p, "name");
        if ports.len() > 1 && name.is_empty() {
            errs.push(Cause::required(format!("{f}.name"), ""));
        } else if !name.is_empty() {
            for e in validate::dns1123_label(name) {
                errs.push(Cause::invalid(format!("{f}.name"), &p["name"], e));
            }
            if !names.insert(name.to_owned()) {
                errs.push(Cause::duplicate(format!("{f}.name"), &p["name"]));
            }
        }
        let port = p["port"].as_i64().unwrap_or(0);
        if !(1..=65535).contains(&port) {
            errs.push(Cause::invalid(
                format!("{f}.port"),
                &p["port"],
                "must be between 1 and 65535, inclusive",
            ));
        }
        let proto = s(p, "protocol");
        if !PROTOCOLS.contains(&proto) {
            errs.push(Cause::not_supported(
                format!("{f}.protocol"),
                &p["protocol"],
                &PROTOCOLS,
            ));
        }
        if !seen.insert((port, proto.to_owned())) {
            errs.push(Cause::duplicate(f.clone(), &json!(format!("{port}/{proto}"))));
        }
        match &p["targetPort"] {
            Value::Number(n) if !(1..=65535).contains(&n.as_i64().unwrap_or(0)) => errs.push(Cause::invalid(
                format!("{f}.targetPort"),
                &p["targetPort"],
                "must be between 1 and 65535, inclusive",
            )),
            Value::String(n) if !is_iana_svc_name(n) => errs.push(Cause::invalid(
                format!("{f}.targetPort"),
                &p["targetPort"],
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            )),
            _ => {}
        }
        let np = p["nodePort"].as_i64().unwrap_or(0);
        if np != 0 && !matches!(ty, "NodePort" | "LoadBalancer") {
            errs.push(Cause::forbidden(
                format!("{f}.nodePort"),
                format!("may not be used when `type` is '{ty}'"),
            ));
        }
    }
    match ty {
        "ExternalName" => {
            let n = s(sp, "externalName");
            if n.is_empty() {
                errs.push(Cause::required("spec.externalName", ""));
            } else {
                for e in validate::dns1123_subdomain(n.trim_end_matches('.')) {
                    errs.push(Cause::invalid("spec.externalName", &sp["externalName"], e));
                }
            }
            if !s(sp, "clusterIP").is_empty() {
                errs.push(Cause::forbidden(
                    "spec.clusterIPs",
                    "may not be set for ExternalName services",
                ));
            }
        }
        "ClusterIP" => {}
        other if headless => errs.push(Cause::invalid(
            "spec.clusterIPs[0]",
            &json!("None"),
            format!("may not be set to 'None' for {other} services"),
        )),
        _ => {}
    }
    if !headless {
        for (i, ip) in sp["clusterIPs"].as_array().into_iter().flatten().enumerate() {
            if let Err(e) = validate::ip(ip.as_str().unwrap_or_default()) {
                errs.push(Cause::invalid(format!("spec.clusterIPs[{i}]"), ip, e));
            }
        }
    }
    let ips = sp["clusterIPs"].as_array().map(Vec::len).unwrap_or(0);
    let policy = s(sp, "ipFamilyPolicy");
    if !policy.is_empty() && !["SingleStack", "PreferDualStack", "RequireDualStack"].contains(&policy) {
        errs.push(Cause::not_supported(
            "spec.ipFamilyPolicy",
            &sp["ipFamilyPolicy"],
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }
    let families = sp["ipFamilies"].as_array().cloned().unwrap_or_default();
    let mut fam_seen = HashSet::new();
    for (i, f) in families.iter().enumerate() {
        let fs = f.as_str().unwrap_or_default();
        if !["IPv4", "IPv6"].contains(&fs) {
            errs.push(Cause::not_supported(
                format!("spec.ipFamilies[{i}]"),
                f,
                &["IPv4", "IPv6"],
            ));
        } else if !fam_seen.insert(fs) {
            errs.push(Cause::duplicate(format!("spec.ipFamilies[{i}]"), f));
        }
    }
    if policy == "SingleStack" && (families.len() > 1 || ips > 1) {
        errs.push(Cause::invalid(
            "spec.ipFamilyPolicy",
            &sp["ipFamilyPolicy"],
            "must be RequireDualStack or PreferDualStack when multiple IP families are specified",
        ));
    }
    if families.len() > 2 || ips > 2 {
        errs.push(Cause::invalid(
            "spec.ipFamilies",
            &json!(families),
            "may specify no more than two IP families",
        ));
    }
    let aff = s(sp, "sessionAffinity");
    if !["None", "ClientIP"].contains(&aff) {
        errs.push(Cause::not_supported(
            "spec.sessionAffinity",
            &sp["sessionAffinity"],
            &["ClientIP", "None"],
        ));
    }
    let etp = s(sp, "externalTrafficPolicy");
    let has_external_ips = sp["externalIPs"].as_array().is_some_and(|a| !a.is_empty());
    if !etp.is_empty() {
        if !["Cluster", "Local"].contains(&etp) {
            errs.push(Cause::not_supported(
                "spec.externalTrafficPolicy",
                &sp["externalTrafficPolicy"],
                &["Cluster", "Local"],
            ));
        } else if !matches!(ty, "NodePort" | "LoadBalancer") && !has_external_ips {
            errs.push(Cause::invalid(
                "spec.externalTrafficPolicy",
                &sp["externalTrafficPolicy"],
                "may only be set for externally-accessible services",
            ));
        }
    }
    let itp = s(sp, "internalTrafficPolicy");
    if !itp.is_empty() && !["Cluster", "Local"].contains(&itp) {
        errs.push(Cause::not_supported(
            "spec.internalTrafficPolicy",
            &sp["internalTrafficPolicy"],
            &["Cluster", "Local"],
        ));
    }
    let hc = sp["healthCheckNodePort"].as_i64().unwrap_or(0);
    if hc != 0 && !(ty == "LoadBalancer" && etp == "Local") {
        errs.push(Cause::invalid(
            "spec.healthCheckNodePort",
            &sp["healthCheckNodePort"],
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    }
    if ty != "LoadBalancer" {
        for f in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if !sp[f].is_null() {
                errs.push(Cause::forbidden(
                    format!("spec.{f}"),
                    "may only be used when `type` is 'LoadBalancer'",
                ));
            }
        }
        if sp["loadBalancerSourceRanges"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            errs.push(Cause::forbidden(
                "spec.loadBalancerSourceRanges",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        }
    }
    if let Some(class) = sp["loadBalancerClass"].as_str() {
        for e in validate::qualified_name(class) {
            errs.push(Cause::invalid(
                "spec.loadBalancerClass",
                &sp["loadBalancerClass"],
                e,
            ));
        }
    }
    let lbip = s(sp, "loadBalancerIP");
    if !lbip.is_empty()
        && let Err(e) = validate::ip(lbip)
    {
        errs.push(Cause::invalid("spec.loadBalancerIP", &sp["loadBalancerIP"], e));
    }
    for (i, r) in sp["loadBalancerSourceRanges"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Err(e) = validate::cidr(r.as_str().unwrap_or_default().trim()) {
            errs.push(Cause::invalid(
                format!("spec.loadBalancerSourceRanges[{i}]"),
                r,
                e,
            ));
        }
    }
    for (i, ip) in sp["externalIPs"].as_array().into_iter().flatten().enumerate() {
        if let Err(e) = validate::ip(ip.as_str().unwrap_or_default()) {
            errs.push(Cause::invalid(format!("spec.externalIPs[{i}]"), ip, e));
        }
    }
    for (k, v) in sp["selector"].as_object().into_iter().flatten() {
        for e in validate::qualified_name(k) {
            errs.push(Cause::invalid("spec.selector", &json!(k), e));
        }
        for e in validate::label_value(v.as_str().unwrap_or_default()) {
            errs.push(Cause::invalid(format!("spec.selector[{k}]"), v, e));
        }
    }
    errs
}

/// Update-only rules: cluster IPs and the primary family are immutable (except adding or dropping the
/// secondary), `loadBalancerClass` may not change while the type stays LoadBalancer.
pub fn validate_update(new: &Value, old: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    let (n, o) = (&new["spec"], &old["spec"]);
    let needs = |sp: &Value| s(sp, "type") != "ExternalName";
    if needs(n) && needs(o) {
        let (ni, oi) = (
            n["clusterIPs"].as_array().cloned().unwrap_or_default(),
            o["clusterIPs"].as_array().cloned().unwrap_or_default(),
        );
        if ni.first() != oi.first() && !oi.is_empty() {
            errs.push(Cause::invalid(
                "spec.clusterIPs[0]",
                &json!(ni),
                "may not change once set",
            ));
        }
        if ni.len() == 2 && oi.len() == 2 && ni[1] != oi[1] {
            errs.push(Cause::invalid(
                "spec.clusterIPs[1]",
                &json!(ni),
                "may not change once set",
            ));
        }
        let (nf, of) = (&n["ipFamilies"][0], &o["ipFamilies"][0]);
        if !of.is_null() && nf != of {
            errs.push(Cause::invalid(
                "spec.ipFamilies[0]",
                nf,
                "may not change once set",
            ));
        }
    }
    if s(n, "type") == "LoadBalancer"
        && s(o, "type") == "LoadBalancer"
        && n["loadBalancerClass"] != o["loadBalancerClass"]
    {
        errs.push(Cause::invalid(
            "spec.loadBalancerClass",
            &n["loadBalancerClass"],
            "may not change once set",
        ));
    }
    errs
}

/// `ValidateServiceStatusUpdate` → `ValidateLoadBalancerStatus`: ingress IPs are IPs, hostnames DNS names,
/// `ipMode` (servers 1.30+) is VIP or Proxy and only with an IP, ports are valid.
pub fn validate_status(svc: &Value, minor: u32) -> Vec<Cause> {
    let mut errs = Vec::new();
    let ingress = svc["status"]["loadBalancer"]["ingress"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, ing) in ingress.iter().enumerate() {
        let f = format!("status.loadBalancer.ingress[{i}]");
        let ip = s(ing, "ip");
        if !ip.is_empty()
            && let Err(e) = validate::ip(ip)
        {
            errs.push(Cause::invalid(format!("{f}.ip"), &ing["ip"], e));
        }
        let host = s(ing, "hostname");
        if !host.is_empty() {
            for e in validate::dns1123_subdomain(host) {
                errs.push(Cause::invalid(format!("{f}.hostname"), &ing["hostname"], e));
            }
            if host.parse::<std::net::IpAddr>().is_ok() {
                errs.push(Cause::invalid(
                    format!("{f}.hostname"),
                    &ing["hostname"],
                    "must be a DNS name, not an IP address",
                ));
            }
        }
        if minor >= 30 {
            match ing["ipMode"].as_str() {
                None if !ip.is_empty() => errs.push(Cause::required(
                    format!("{f}.ipMode"),
                    "must be specified when `ip` is set",
                )),
                Some(m) if ip.is_empty() => {
                    let _ = m;
                    errs.push(Cause::forbidden(
                        format!("{f}.ipMode"),
                        "may not be specified when `ip` is not set",
                    ))
                }
                Some(m) if !["VIP", "Proxy"].contains(&m) => errs.push(Cause::not_supported(
                    format!("{f}.ipMode"),
                    &ing["ipMode"],
                    &["Proxy", "VIP"],
                )),
                _ => {}
            }
        }
        for (j, p) in ing["ports"].as_array().into_iter().flatten().enumerate() {
            let port = p["port"].as_i64().unwrap_or(0);
            if !(1..=65535).contains(&port) {
                errs.push(Cause::invalid(
                    format!("{f}.ports[{j}].port"),
                    &p["port"],
                    "must be between 1 and 65535, inclusive",
                ));
            }
            let proto = s(p, "protocol");
            if !PROTOCOLS.contains(&proto) {
                errs.push(Cause::not_supported(
                    format!("{f}.ports[{j}].protocol"),
                    &p["protocol"],
                    &PROTOCOLS,
                ));
            }
        }
    }
    errs
}
