//! API objects to the [`super::snapshot`] types: what each object says, read leniently (a field missing or
//! of another type is absent, never an error — the objects are written by other programs). Pure.

use std::net::IpAddr;

use ferrolb_config::annotations::{ALIAS_PREFIXES, IP_ALLOCATED_FROM_POOL};
use k8s_openapi::api::coordination::v1::Lease as KLease;
use k8s_openapi::api::core::v1::{Event, Service as KService};
use kube::api::DynamicObject;
use serde_json::Value;

use super::snapshot::{
    AllocationFailure, BgpStatus, Component, ComponentState, L2Status, Lease, PoolUsage, Service, Session,
};

/// The condition type prefix of a speaker's BGP session (`BGPPeer/<peer>`).
pub const SESSION_CONDITION_PREFIX: &str = "BGPPeer/";

/// A Service of type LoadBalancer (`None` for other types).
pub fn service(svc: KService) -> Option<Service> {
    let spec = svc.spec?;
    if spec.type_.as_deref() != Some("LoadBalancer") {
        return None;
    }
    let annotations = svc.metadata.annotations.unwrap_or_default();
    let suffix = IP_ALLOCATED_FROM_POOL.trim_start_matches("ferrolb.io/");
    let pool = std::iter::once(IP_ALLOCATED_FROM_POOL.to_owned())
        .chain(ALIAS_PREFIXES.iter().map(|p| format!("{p}{suffix}")))
        .find_map(|k| annotations.get(&k).filter(|v| !v.is_empty()).cloned());
    let ips = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| i.ip?.parse::<IpAddr>().ok())
        .collect();
    Some(Service {
        namespace: svc.metadata.namespace.unwrap_or_default(),
        name: svc.metadata.name.unwrap_or_default(),
        uid: svc.metadata.uid.unwrap_or_default(),
        class: spec.load_balancer_class.filter(|c| !c.is_empty()),
        ips,
        pool,
    })
}

/// The Lease's holder and timing.
pub fn lease(l: KLease) -> Lease {
    let spec = l.spec.unwrap_or_default();
    Lease {
        holder: spec.holder_identity,
        renewed: spec.renew_time.map(|t| t.0.as_second()),
        duration: spec.lease_duration_seconds.map(i64::from),
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A `ConfigurationState` (its component from `spec`, else from its name), with a speaker's BGP sessions.
pub fn component_state(obj: &DynamicObject) -> ComponentState {
    let name = obj.metadata.name.clone().unwrap_or_default();
    let spec = &obj.data["spec"];
    let status = &obj.data["status"];
    let node = spec["nodeName"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or_else(|| name.strip_prefix("speaker-"));
    let component = match (spec["type"].as_str(), node) {
        (Some("Controller"), _) => Component::Controller,
        (Some("Speaker") | None, Some(node)) => Component::Speaker(node.to_owned()),
        (None, None) if name == "controller" => Component::Controller,
        (t, _) => Component::Other(t.unwrap_or("unknown").to_owned()),
    };
    let mut error = text(&status["errorSummary"]);
    if error.is_empty() {
        error = text(&status["lastError"]);
    }
    let mut result = text(&status["result"]);
    if result.is_empty()
        && let Some(valid) = status["validConfig"].as_bool()
    {
        result = (if valid { "Valid" } else { "Invalid" }).to_owned();
    }
    let sessions = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let peer = c["type"].as_str()?.strip_prefix(SESSION_CONDITION_PREFIX)?;
            let established = c["status"].as_str() == Some("True");
            let state = c["reason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .unwrap_or("Unknown");
            Some(Session {
                peer: peer.to_owned(),
                established,
                state: state.to_owned(),
                message: text(&c["message"]),
            })
        })
        .collect();
    ComponentState {
        name,
        component,
        result,
        error,
        sessions,
    }
}

/// The node and Service of a status object (`status.node`, `serviceNamespace`, `serviceName`: MetalLB's
/// speakers write them as ferrolb's do).
fn node_and_service(obj: &DynamicObject) -> Option<(String, String, String)> {
    let status = &obj.data["status"];
    let pick = |field: &str| {
        status[field]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some((pick("node")?, pick("serviceNamespace")?, pick("serviceName")?))
}

/// A `ServiceL2Status` (`None` when it names no node or Service).
pub fn l2_status(obj: &DynamicObject) -> Option<L2Status> {
    let (node, namespace, service) = node_and_service(obj)?;
    let interfaces = obj.data["status"]["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["name"].as_str().map(str::to_owned))
        .collect();
    Some(L2Status {
        node,
        namespace,
        service,
        interfaces,
    })
}

/// A `ServiceBGPStatus` (`None` when it names no node or Service).
pub fn bgp_status(obj: &DynamicObject) -> Option<BgpStatus> {
    let (node, namespace, service) = node_and_service(obj)?;
    let peers = obj.data["status"]["peers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    Some(BgpStatus {
        node,
        namespace,
        service,
        peers,
    })
}

/// `IPAddressPool.status` (`None` before the controller wrote it).
pub fn pool_usage(obj: &DynamicObject) -> Option<PoolUsage> {
    let s = obj.data.get("status")?.as_object()?;
    let n = |k: &str| s.get(k).and_then(Value::as_u64).map_or(0, u128::from);
    let keys = ["assignedIPv4", "availableIPv4", "assignedIPv6", "availableIPv6"];
    if !keys.iter().any(|k| s.contains_key(*k)) {
        return None;
    }
    Some(PoolUsage {
        assigned_v4: n(keys[0]),
        available_v4: n(keys[1]),
        assigned_v6: n(keys[2]),
        available_v6: n(keys[3]),
    })
}

/// An Event about a Service (the caller lists only `AllocationFailed` ones).
pub fn allocation_failure(ev: Event) -> AllocationFailure {
    let time = ev
        .series
        .and_then(|s| s.last_observed_time)
        .map(|t| t.0.as_second())
        .or(ev.event_time.map(|t| t.0.as_second()))
        .or(ev.last_timestamp.map(|t| t.0.as_second()))
        .or(ev.metadata.creation_timestamp.map(|t| t.0.as_second()));
    AllocationFailure {
        namespace: ev.involved_object.namespace.unwrap_or_default(),
        service: ev.involved_object.name.unwrap_or_default(),
        uid: ev.involved_object.uid,
        message: ev.message.unwrap_or_default(),
        time,
    }
}
