//! discovery.k8s.io/v1 EndpointSlices: `addressType` required and immutable, addresses checked by type.

use std::time::SystemTime;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::Cause;
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{Strategy, age_cell, age_col, col, name_cell, name_col};
use crate::validate;

/// The EndpointSlice strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct EndpointSliceStrategy;

impl Strategy for EndpointSliceStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<EndpointSlice>(obj)
    }

    fn set_defaults(&self, obj: &mut Value) {
        for p in obj["ports"].as_array_mut().into_iter().flatten() {
            if p.is_object() && p["protocol"].as_str().is_none_or(str::is_empty) {
                p["protocol"] = json!("TCP");
            }
        }
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        validate_endpoint_slice(obj, old)
    }

    fn has_generation(&self) -> bool {
        true
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col("AddressType", "string", "", 0, "The IP protocol for this slice"),
            col("Ports", "string", "", 0, "Ports in this slice"),
            col("Endpoints", "string", "", 0, "Endpoints in this slice"),
            age_col(),
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        let none_if_empty = |x: String| if x.is_empty() { "<none>".to_owned() } else { x };
        let ports: Vec<String> = obj["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p["port"].to_string())
            .collect();
        let eps: Vec<&str> = obj["endpoints"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|e| {
                e["addresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
            })
            .collect();
        let shown = if eps.len() > 3 {
            format!("{} + {} more...", eps[..3].join(","), eps.len() - 3)
        } else {
            eps.join(",")
        };
        vec![
            name_cell(obj),
            json!(obj["addressType"].as_str().unwrap_or_default()),
            json!(none_if_empty(ports.join(","))),
            json!(none_if_empty(shown)),
            age_cell(obj, now),
        ]
    }
}

fn validate_endpoint_slice(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut errs = Vec::new();
    let at = obj["addressType"].as_str().unwrap_or_default();
    if at.is_empty() {
        errs.push(Cause::required("addressType", ""));
    } else if !["IPv4", "IPv6", "FQDN"].contains(&at) {
        errs.push(Cause::not_supported(
            "addressType",
            &obj["addressType"],
            &["FQDN", "IPv4", "IPv6"],
        ));
    }
    if let Some(old) = old
        && old["addressType"] != obj["addressType"]
    {
        errs.push(Cause::invalid(
            "addressType",
            &obj["addressType"],
            "field is immutable",
        ));
    }
    let eps = obj["endpoints"].as_array().cloned().unwrap_or_default();
    if eps.len() > 1000 {
        errs.push(Cause::too_long("endpoints", 1000));
    }
    for (i, ep) in eps.iter().enumerate() {
        let addrs = ep["addresses"].as_array().cloned().unwrap_or_default();
        if addrs.is_empty() || addrs.len() > 100 {
            errs.push(Cause::required(
                format!("endpoints[{i}].addresses"),
                "must contain at least 1 address but no more than 100",
            ));
        }
        for (j, a) in addrs.iter().enumerate() {
            let s = a.as_str().unwrap_or_default();
            let ok = match at {
                "IPv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
                "IPv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
                _ => validate::dns1123_subdomain(s).is_empty(),
            };
            if !ok {
                let detail = if at == "FQDN" {
                    "must be a valid FQDN".to_owned()
                } else {
                    format!("must be a valid {at} address")
                };
                errs.push(Cause::invalid(
                    format!("endpoints[{i}].addresses[{j}]"),
                    a,
                    detail,
                ));
            }
        }
    }
    for (i, p) in obj["ports"].as_array().into_iter().flatten().enumerate() {
        if let Some(port) = p["port"].as_i64().filter(|n| !(1..=65535).contains(n)) {
            errs.push(Cause::invalid(
                format!("ports[{i}].port"),
                &json!(port),
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
    errs
}
