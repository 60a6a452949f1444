//! Service defaulting, IP family and allocation handling, validation and status validation, after
//! kube-apiserver's `SetDefaults_Service`, `pkg/registry/core/service` (strategy, `alloc.go`) and
//! `ValidateService` / `ValidateServiceStatusUpdate`, for the fields ferrolb and kubectl touch.

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::{Map, Value, json};

pub use super::alloc::{AllocError, Allocator, Family};
use crate::error::Cause;

fn spec(svc: &Value) -> &Value {
    &svc["spec"]
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

fn spec_mut(svc: &mut Value) -> &mut Map<String, Value> {
    if !svc["spec"].is_object() {
        svc["spec"] = json!({});
    }
    svc["spec"]
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("spec was just made an object"))
}

fn type_of(svc: &Value) -> &str {
    spec(svc)["type"].as_str().unwrap_or("ClusterIP")
}

fn needs_cluster_ip(svc: &Value) -> bool {
    type_of(svc) != "ExternalName"
}

fn is_headless(svc: &Value) -> bool {
    s(spec(svc), "clusterIP") == "None"
}

fn needs_node_ports(svc: &Value) -> bool {
    match type_of(svc) {
        "NodePort" => true,
        "LoadBalancer" => spec(svc)["allocateLoadBalancerNodePorts"].as_bool() != Some(false),
        _ => false,
    }
}

fn needs_hc_node_port(svc: &Value) -> bool {
    type_of(svc) == "LoadBalancer" && s(spec(svc), "externalTrafficPolicy") == "Local"
}

/// `SetDefaults_Service`: the defaults applied when a Service is decoded (create and update).
pub fn set_defaults(svc: &mut Value) {
    let sp = spec_mut(svc);
    if sp
        .get("sessionAffinity")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        sp.insert("sessionAffinity".into(), json!("None"));
    }
    if sp.get("sessionAffinity").and_then(Value::as_str) == Some("ClientIP")
        && sp.get("sessionAffinityConfig").is_none_or(Value::is_null)
    {
        sp.insert(
            "sessionAffinityConfig".into(),
            json!({"clientIP": {"timeoutSeconds": 10800}}),
        );
    }
    if sp.get("type").and_then(Value::as_str).is_none_or(str::is_empty) {
        sp.insert("type".into(), json!("ClusterIP"));
    }
    let ty = sp
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(ports) = sp.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            let Some(p) = p.as_object_mut() else { continue };
            if p.get("protocol")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                p.insert("protocol".into(), json!("TCP"));
            }
            let unset = match p.get("targetPort") {
                None | Some(Value::Null) => true,
                Some(Value::Number(n)) => n.as_i64() == Some(0),
                Some(Value::String(s)) => s.is_empty(),
                _ => false,
            };
            if unset && let Some(port) = p.get("port").cloned() {
                p.insert("targetPort".into(), port);
            }
        }
    }
    if (ty == "NodePort" || ty == "LoadBalancer")
        && sp
            .get("externalTrafficPolicy")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        sp.insert("externalTrafficPolicy".into(), json!("Cluster"));
    }
    if ty != "ExternalName" && sp.get("internalTrafficPolicy").is_none_or(Value::is_null) {
        sp.insert("internalTrafficPolicy".into(), json!("Cluster"));
    }
    if ty == "LoadBalancer" && sp.get("allocateLoadBalancerNodePorts").is_none_or(Value::is_null) {
        sp.insert("allocateLoadBalancerNodePorts".into(), json!(true));
    }
}

/// Drops fields the emulated server version does not know or has disabled (`ipMode` before 1.30,
/// `trafficDistribution` before 1.31).
/// Returns the paths dropped because the version has no such field at all (unknown-field warnings).
pub fn drop_disabled_fields(svc: &mut Value, minor: u32) -> Vec<String> {
    let mut unknown = Vec::new();
    // spec.trafficDistribution: unknown before 1.30, alpha (gate off: dropped) in 1.30.
    if minor <= 30
        && let Some(sp) = svc.get_mut("spec").and_then(Value::as_object_mut)
        && sp.remove("trafficDistribution").is_some_and(|v| !v.is_null())
        && minor < 30
    {
        unknown.push("spec.trafficDistribution".to_owned());
    }
    if minor >= 30 {
        return unknown;
    }
    if let Some(ing) = svc
        .pointer_mut("/status/loadBalancer/ingress")
        .and_then(Value::as_array_mut)
    {
        for (i, e) in ing.iter_mut().enumerate() {
            if let Some(m) = e.as_object_mut()
                && m.remove("ipMode").is_some_and(|v| !v.is_null())
                && minor < 29
            {
                unknown.push(format!("status.loadBalancer.ingress[{i}].ipMode"));
            }
        }
    }
    unknown
}

/// Defaults `ipMode: VIP` for ingress entries with an IP, as 1.30+ servers do.
pub fn default_status(svc: &mut Value, minor: u32) {
    if minor < 30 {
        return;
    }
    if let Some(ing) = svc
        .pointer_mut("/status/loadBalancer/ingress")
        .and_then(Value::as_array_mut)
    {
        for e in ing.iter_mut().filter_map(Value::as_object_mut) {
            if e.get("ip").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
                && e.get("ipMode").is_none_or(Value::is_null)
            {
                e.insert("ipMode".into(), json!("VIP"));
            }
        }
    }
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Reconciles `clusterIP` with `clusterIPs` and fills `ipFamilies` / `ipFamilyPolicy` (the real registry's
/// `initIPFamilyFields`). `old` is the stored object on update.
pub fn init_ip_families(svc: &mut Value, old: Option<&Value>, cluster: &[Family]) -> Vec<Cause> {
    let mut errs = Vec::new();
    if !needs_cluster_ip(svc) {
        let sp = spec_mut(svc);
        for f in ["ipFamilies", "ipFamilyPolicy"] {
            sp.remove(f);
        }
        return errs;
    }
    let sp = spec(svc);
    let mut ip = s(sp, "clusterIP").to_owned();
    let mut ips = str_list(&sp["clusterIPs"]);
    if ip.is_empty() && !ips.is_empty() {
        ip = ips[0].clone();
    } else if !ip.is_empty() && ips.is_empty() {
        ips = vec![ip.clone()];
    } else if !ip.is_empty() && ips[0] != ip {
        errs.push(Cause::invalid(
            "spec.clusterIPs",
            &json!(ips),
            "element [0] must match clusterIP",
        ));
        return errs;
    }
    let headless = ip == "None";
    let mut families: Vec<String> = str_list(&sp["ipFamilies"]);
    let mut policy = s(sp, "ipFamilyPolicy").to_owned();
    if let Some(old) = old.filter(|o| needs_cluster_ip(o)) {
        if families.is_empty() {
            families = str_list(&old["spec"]["ipFamilies"]);
        }
        if policy.is_empty() {
            policy = s(&old["spec"], "ipFamilyPolicy").to_owned();
        }
    }
    let dual = cluster.len() > 1;
    if !headless {
        for (i, addr) in ips.iter().enumerate() {
            let Ok(a) = addr.parse::<IpAddr>() else { continue };
            let fam = Family::of(&a).as_str().to_owned();
            match families.get(i) {
                Some(f) if *f != fam => errs.push(Cause::invalid(
                    format!("spec.ipFamilies[{i}]"),
                    &json!(f),
                    format!("does not match IP family of `clusterIPs[{i}]`"),
                )),
                Some(_) => {}
                None => families.push(fam),
            }
        }
    }
    if policy.is_empty() {
        if families.len() > 1 || ips.len() > 1 {
            errs.push(Cause::required(
                "spec.ipFamilyPolicy",
                "must be RequireDualStack or PreferDualStack when multiple IP families are specified",
            ));
        } else if headless && spec(svc)["selector"].as_object().is_none_or(Map::is_empty) && dual {
            policy = "RequireDualStack".to_owned();
        } else {
            policy = "SingleStack".to_owned();
        }
    }
    if policy == "RequireDualStack" && !dual {
        errs.push(Cause::invalid(
            "spec.ipFamilyPolicy",
            &json!(policy),
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, f) in families.iter().enumerate() {
        match Family::parse(f) {
            Some(fam) if !cluster.contains(&fam) => errs.push(Cause::invalid(
                format!("spec.ipFamilies[{i}]"),
                &json!(f),
                "not configured on this cluster",
            )),
            _ => {}
        }
    }
    if families.is_empty()
        && let Some(p) = cluster.first()
    {
        families.push(p.as_str().to_owned());
    }
    if (policy == "RequireDualStack" || policy == "PreferDualStack")
        && dual
        && families.len() == 1
        && let Some(other) = cluster.iter().find(|f| f.as_str() != families[0])
    {
        families.push(other.as_str().to_owned());
    }
    let sp = spec_mut(svc);
    if !ip.is_empty() {
        sp.insert("clusterIP".into(), json!(ip));
        sp.insert("clusterIPs".into(), json!(ips));
    }
    sp.insert("ipFamilies".into(), json!(families));
    if !policy.is_empty() {
        sp.insert("ipFamilyPolicy".into(), json!(policy));
    }
    errs
}

/// Clears type-dependent fields the user left unchanged when the type no longer needs them, then copies
/// allocated values the user omitted (`dropTypeDependentFields` + `patchAllocatedValues`).
pub fn prepare_update(new: &mut Value, old: &Value) {
    let same = |k: &str, n: &Value| n["spec"][k] == old["spec"][k];
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        let keep: Vec<bool> = ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"]
            .iter()
            .map(|k| same(k, new))
            .collect();
        let sp = spec_mut(new);
        for (k, same) in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"]
            .iter()
            .zip(keep)
        {
            if same {
                sp.remove(*k);
            }
        }
    }
    if needs_node_ports(old) && !needs_node_ports(new) && node_ports(new) == node_ports(old) {
        strip_node_ports(new);
    }
    if needs_hc_node_port(old) && !needs_hc_node_port(new) && same("healthCheckNodePort", new) {
        spec_mut(new).remove("healthCheckNodePort");
    }
    if type_of(old) == "LoadBalancer" && type_of(new) != "LoadBalancer" {
        for k in ["allocateLoadBalancerNodePorts", "loadBalancerClass"] {
            if same(k, new) {
                spec_mut(new).remove(k);
            }
        }
    }
    if !matches!(type_of(new), "NodePort" | "LoadBalancer") && same("externalTrafficPolicy", new) {
        spec_mut(new).remove("externalTrafficPolicy");
    }
    // patchAllocatedValues
    if needs_cluster_ip(old) && needs_cluster_ip(new) {
        let ip = s(spec(new), "clusterIP").to_owned();
        let old_ips = old["spec"]["clusterIPs"].clone();
        if ip.is_empty() || old_ips.get(0).and_then(Value::as_str) == Some(ip.as_str()) {
            let sp = spec_mut(new);
            if ip.is_empty() {
                sp.insert("clusterIP".into(), old["spec"]["clusterIP"].clone());
            }
            if sp
                .get("clusterIPs")
                .is_none_or(|v| v.as_array().is_none_or(Vec::is_empty))
            {
                sp.insert("clusterIPs".into(), old_ips);
            }
        }
    }
    if needs_node_ports(old) && needs_node_ports(new) {
        let olds: Vec<(i64, String, i64)> = port_list(old).iter().map(|p| (p.0, p.1.clone(), p.2)).collect();
        if let Some(ports) = spec_mut(new).get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut() {
                if p["nodePort"].as_i64().unwrap_or(0) == 0 {
                    let (port, proto) = (p["port"].as_i64().unwrap_or(0), s(p, "protocol").to_owned());
                    if let Some(o) = olds.iter().find(|o| o.0 == port && o.1 == proto && o.2 != 0) {
                        p["nodePort"] = json!(o.2);
                    }
                }
            }
        }
    }
    if needs_hc_node_port(old)
        && needs_hc_node_port(new)
        && new["spec"]["healthCheckNodePort"].as_i64().unwrap_or(0) == 0
    {
        let hc = old["spec"]["healthCheckNodePort"].clone();
        spec_mut(new).insert("healthCheckNodePort".into(), hc);
    }
}

/// `(port, protocol, nodePort)` per port.
fn port_list(svc: &Value) -> Vec<(i64, String, i64)> {
    spec(svc)["ports"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["port"].as_i64().unwrap_or(0),
                        s(p, "protocol").to_owned(),
                        p["nodePort"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn node_ports(svc: &Value) -> Vec<i64> {
    port_list(svc).into_iter().map(|p| p.2).collect()
}

fn strip_node_ports(svc: &mut Value) {
    if let Some(ports) = spec_mut(svc).get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.remove("nodePort");
        }
    }
}

fn alloc_cause(field: String, value: Value, e: &AllocError) -> Cause {
    let detail = match e {
        AllocError::Taken(_) | AllocError::OutOfRange { .. } => {
            format!("failed to allocate IP {}: {e}", show(&value))
        }
        _ => e.to_string(),
    };
    Cause::invalid(field, &value, detail)
}

fn show(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())
}

/// Allocates (or reserves the requested) cluster IPs, node ports and the health check node port, and
/// releases those of `old` the new object no longer uses. On error nothing stays allocated for the new
/// values (the old ones are kept).
pub fn allocate(svc: &mut Value, old: Option<&Value>, alloc: &mut Allocator, owner: &str) -> Vec<Cause> {
    let nested = alloc.journaling();
    if !nested {
        alloc.begin();
    }
    let errs = allocate_inner(svc, old, alloc, owner);
    if !errs.is_empty() {
        if !nested {
            alloc.rollback();
        }
        return errs;
    }
    if !nested {
        alloc.commit();
    }
    if let Some(old) = old {
        let new_ips: HashSet<String> = str_list(&spec(svc)["clusterIPs"]).into_iter().collect();
        for ip in str_list(&old["spec"]["clusterIPs"]) {
            if !new_ips.contains(&ip)
                && let Ok(a) = ip.parse()
            {
                alloc.release_ip(a, owner);
            }
        }
        let mut new_ports: HashSet<i64> = node_ports(svc).into_iter().collect();
        new_ports.insert(spec(svc)["healthCheckNodePort"].as_i64().unwrap_or(0));
        let mut old_ports = node_ports(old);
        old_ports.push(old["spec"]["healthCheckNodePort"].as_i64().unwrap_or(0));
        for p in old_ports {
            if p != 0 && !new_ports.contains(&p) {
                alloc.release_port(p as u16, owner);
            }
        }
    }
    errs
}

fn allocate_inner(svc: &mut Value, old: Option<&Value>, alloc: &mut Allocator, owner: &str) -> Vec<Cause> {
    let mut errs = Vec::new();
    if needs_cluster_ip(svc) && !is_headless(svc) {
        let families = str_list(&spec(svc)["ipFamilies"]);
        let mut ips = str_list(&spec(svc)["clusterIPs"]);
        let policy = s(spec(svc), "ipFamilyPolicy").to_owned();
        let available = alloc.families();
        for (i, f) in families.iter().enumerate() {
            let Some(fam) = Family::parse(f) else { continue };
            if !available.contains(&fam) {
                if policy == "PreferDualStack" {
                    continue;
                }
                errs.push(Cause::invalid(
                    format!("spec.ipFamilies[{i}]"),
                    &json!(f),
                    "not configured on this cluster",
                ));
                continue;
            }
            match ips.get(i) {
                Some(ip) if !ip.is_empty() => match ip.parse::<IpAddr>() {
                    Ok(a) => {
                        if let Err(e) = alloc.reserve_ip(a, owner) {
                            errs.push(alloc_cause("spec.clusterIPs".into(), json!(ips), &e));
                        }
                    }
                    Err(_) => errs.push(Cause::invalid(
                        format!("spec.clusterIPs[{i}]"),
                        &json!(ip),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )),
                },
                _ => match alloc.allocate_ip(fam, owner) {
                    Ok(a) => {
                        if i < ips.len() {
                            ips[i] = a.to_string();
                        } else {
                            ips.push(a.to_string());
                        }
                    }
                    Err(e) => errs.push(Cause::invalid(
                        "spec.clusterIPs",
                        &json!(ips),
                        format!("failed to allocate IP: {e}"),
                    )),
                },
            }
        }
        if errs.is_empty() && !ips.is_empty() {
            let sp = spec_mut(svc);
            sp.insert("clusterIP".into(), json!(ips[0]));
            sp.insert("clusterIPs".into(), json!(ips));
        }
    }
    let alloc_ports = needs_node_ports(svc);
    let node_port_type = matches!(type_of(svc), "NodePort" | "LoadBalancer");
    let old_ports: Vec<i64> = old.map(node_ports).unwrap_or_default();
    let mut by_port: Vec<(i64, i64)> = Vec::new();
    if let Some(ports) = spec_mut(svc).get_mut("ports").and_then(Value::as_array_mut) {
        for (i, p) in ports.iter_mut().enumerate() {
            let np = p["nodePort"].as_i64().unwrap_or(0);
            let port = p["port"].as_i64().unwrap_or(0);
            if np != 0 && node_port_type {
                let reuse = by_port.iter().any(|&(pp, n)| pp == port && n == np) || old_ports.contains(&np);
                if !reuse && let Err(e) = reserve(alloc, np, owner) {
                    errs.push(Cause::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(np),
                        e.to_string(),
                    ));
                }
                by_port.push((port, np));
            } else if np == 0 && alloc_ports {
                let shared = by_port.iter().find(|&&(pp, _)| pp == port).map(|&(_, n)| n);
                let got = match shared {
                    Some(n) => Ok(n),
                    None => alloc.allocate_port(owner).map(i64::from),
                };
                match got {
                    Ok(n) => {
                        p["nodePort"] = json!(n);
                        by_port.push((port, n));
                    }
                    Err(e) => errs.push(Cause::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(0),
                        e.to_string(),
                    )),
                }
            }
        }
    }
    if needs_hc_node_port(svc) {
        let hc = spec(svc)["healthCheckNodePort"].as_i64().unwrap_or(0);
        let old_hc = old
            .and_then(|o| o["spec"]["healthCheckNodePort"].as_i64())
            .unwrap_or(0);
        if hc == 0 {
            match alloc.allocate_port(owner) {
                Ok(n) => {
                    spec_mut(svc).insert("healthCheckNodePort".into(), json!(n));
                }
                Err(e) => errs.push(Cause::invalid(
                    "spec.healthCheckNodePort",
                    &json!(0),
                    e.to_string(),
                )),
            }
        } else if hc != old_hc
            && let Err(e) = reserve(alloc, hc, owner)
        {
            errs.push(Cause::invalid(
                "spec.healthCheckNodePort",
                &json!(hc),
                e.to_string(),
            ));
        }
    }
    errs
}

fn reserve(alloc: &mut Allocator, port: i64, owner: &str) -> Result<(), AllocError> {
    let p = u16::try_from(port).map_err(|_| AllocError::OutOfRange {
        what: "port",
        range: "30000-32767".into(),
    })?;
    alloc.reserve_port(p, owner)
}

/// Releases everything a deleted Service held.
pub fn release(svc: &Value, alloc: &mut Allocator, owner: &str) {
    for ip in str_list(&spec(svc)["clusterIPs"]) {
        if let Ok(a) = ip.parse() {
            alloc.release_ip(a, owner);
        }
    }
    let mut ports = node_ports(svc);
    ports.push(spec(svc)["healthCheckNodePort"].as_i64().unwrap_or(0));
    for p in ports.into_iter().filter(|&p| p > 0 && p <= i64::from(u16::MAX)) {
        alloc.release_port(p as u16, owner);
    }
}

/// Re-registers the allocations of a stored Service (bootstrap objects).
pub fn adopt(svc: &Value, alloc: &mut Allocator, owner: &str) {
    for ip in str_list(&spec(svc)["clusterIPs"]) {
        if let Ok(a) = ip.parse() {
            let _ = alloc.reserve_ip(a, owner);
        }
    }
}

pub use super::service_validation::{validate, validate_status, validate_update};
