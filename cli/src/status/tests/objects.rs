//! API objects to snapshot types, and the configuration loaded as the programs load it.

use k8s_openapi::api::core::v1::{Event, Service as KService};
use kube::api::DynamicObject;
use serde_json::{Value, json};

use super::super::config;
use super::super::objects::{
    allocation_failure, bgp_status, component_state, l2_status, pool_usage, service,
};
use super::super::snapshot::{Component, ConfigObjects, Session, age};
use super::{forbidden, resource};

fn dynamic(v: Value) -> DynamicObject {
    serde_json::from_value(v).expect("object")
}

#[test]
fn configuration_states_as_ferrolb_and_metallb_write_them() {
    let cases = [
        (
            json!({"metadata": {"name": "controller"}, "spec": {"type": "Controller"},
                   "status": {"result": "Valid", "errorSummary": ""}}),
            Component::Controller,
            "Valid",
            "",
        ),
        (
            json!({"metadata": {"name": "speaker-n1"}, "spec": {"type": "Speaker", "nodeName": "n1"},
                   "status": {"result": "Invalid", "errorSummary": "the configuration is invalid"}}),
            Component::Speaker("n1".into()),
            "Invalid",
            "the configuration is invalid",
        ),
        // newer MetalLB: validConfig and lastError; no spec
        (
            json!({"metadata": {"name": "speaker-n2"}, "status": {"validConfig": false, "lastError": "bad"}}),
            Component::Speaker("n2".into()),
            "Invalid",
            "bad",
        ),
        // nothing written yet
        (
            json!({"metadata": {"name": "controller"}}),
            Component::Controller,
            "",
            "",
        ),
        (
            json!({"metadata": {"name": "webhook"}, "spec": {"type": "Webhook"}}),
            Component::Other("Webhook".into()),
            "",
            "",
        ),
    ];
    for (obj, component, result, error) in cases {
        let s = component_state(&dynamic(obj.clone()));
        assert_eq!(
            (&s.component, s.result.as_str(), s.error.as_str()),
            (&component, result, error),
            "{obj}"
        );
    }
}

#[test]
fn bgp_sessions_from_the_speakers_conditions() {
    let s = component_state(&dynamic(json!({
        "metadata": {"name": "speaker-n1"}, "spec": {"type": "Speaker", "nodeName": "n1"},
        "status": {"result": "Valid", "conditions": [
            {"type": "BGPPeer/router", "status": "True", "reason": "Established", "message": "",
             "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "BGPPeer/backup", "status": "False", "reason": "Active", "message": "connect: refused",
             "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "BGPPeer/odd", "status": "False", "reason": "", "message": "",
             "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "Ready", "status": "True", "reason": "Ok", "message": "",
             "lastTransitionTime": "2025-01-01T00:00:00Z"},
        ]},
    })));
    let session = |peer: &str, established, state: &str, message: &str| Session {
        peer: peer.into(),
        established,
        state: state.into(),
        message: message.into(),
    };
    assert_eq!(
        s.sessions,
        [
            session("router", true, "Established", ""),
            session("backup", false, "Active", "connect: refused"),
            session("odd", false, "Unknown", ""),
        ],
        "only BGPPeer/ conditions; no reason is Unknown"
    );
}

#[test]
fn status_objects_name_their_node_and_service_in_their_status() {
    let l2 = l2_status(&dynamic(json!({
        "metadata": {"name": "l2-abc", "labels": {"metallb.io/node": "n1"}},
        "status": {"node": "n1", "serviceName": "web", "serviceNamespace": "default",
                   "interfaces": [{"name": "eth0"}, {"name": "br0"}]},
    })))
    .expect("complete");
    assert_eq!(
        (
            l2.node.as_str(),
            l2.namespace.as_str(),
            l2.service.as_str(),
            l2.interfaces
        ),
        ("n1", "default", "web", vec!["eth0".to_owned(), "br0".to_owned()])
    );
    let bgp = bgp_status(&dynamic(json!({
        "metadata": {"name": "bgp-abc"},
        "status": {"node": "n2", "serviceName": "api", "serviceNamespace": "prod", "peers": ["r1", "r2"]},
    })))
    .expect("complete");
    assert_eq!(bgp.peers, ["r1", "r2"]);
    assert_eq!(
        l2_status(&dynamic(json!({"metadata": {"name": "l2-new"}}))),
        None,
        "created, status not written yet"
    );
}

#[test]
fn pool_usage_only_once_written() {
    let with = |status: Value| {
        pool_usage(&dynamic(
            json!({"metadata": {"name": "p"}, "spec": {}, "status": status}),
        ))
    };
    let u = with(json!({"assignedIPv4": 2, "availableIPv4": 8})).expect("written");
    assert_eq!((u.assigned_v4, u.available_v4, u.assigned_v6), (2, 8, 0));
    assert_eq!(with(json!({})), None);
    assert_eq!(pool_usage(&dynamic(json!({"metadata": {"name": "p"}}))), None);
}

#[test]
fn services_with_ferrolbs_or_metallbs_pool_annotation() {
    let svc = |annotations: Value, type_: &str| -> KService {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "annotations": annotations},
            "spec": {"type": type_, "loadBalancerClass": ""},
            "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb.example"}]}},
        }))
        .expect("Service")
    };
    let cases = [
        (
            json!({"ferrolb.io/ip-allocated-from-pool": "a", "metallb.io/ip-allocated-from-pool": "b"}),
            Some("a"),
        ),
        (json!({"metallb.io/ip-allocated-from-pool": "b"}), Some("b")),
        (
            json!({"metallb.universe.tf/ip-allocated-from-pool": "c"}),
            Some("c"),
        ),
        (json!({"ferrolb.io/ip-allocated-from-pool": ""}), None),
        (json!({}), None),
    ];
    for (annotations, pool) in cases {
        let s = service(svc(annotations.clone(), "LoadBalancer")).expect("a LoadBalancer");
        assert_eq!(s.pool.as_deref(), pool, "{annotations}");
        assert_eq!(
            s.ips,
            ["192.0.2.1".parse::<std::net::IpAddr>().expect("IP")],
            "hostnames skipped"
        );
        assert_eq!(s.class, None, "an empty class is none");
    }
    assert_eq!(service(svc(json!({}), "ClusterIP")), None);
}

#[test]
fn allocation_failures_take_the_latest_time_given() {
    let ev: Event = serde_json::from_value(json!({
        "metadata": {"name": "e", "namespace": "default", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "involvedObject": {"kind": "Service", "name": "other", "namespace": "default", "uid": "u2"},
        "reason": "AllocationFailed", "message": "no free address",
        "eventTime": "2025-01-01T00:00:10.000000Z",
        "series": {"count": 3, "lastObservedTime": "2025-01-01T00:01:00.000000Z"},
    }))
    .expect("Event");
    let f = allocation_failure(ev);
    assert_eq!(
        (f.service.as_str(), f.uid.as_deref(), f.message.as_str()),
        ("other", Some("u2"), "no free address")
    );
    assert_eq!(f.time, Some(1_735_689_660), "the series' last observation");
}

#[test]
fn ages_as_kubectl_prints_them() {
    let cases = [
        (-5, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (7_199, "119m"),
        (7_200, "2h"),
        (200_000, "2d"),
    ];
    for (seconds, want) in cases {
        assert_eq!(age(seconds), want, "{seconds}");
    }
}

#[test]
fn only_the_secrets_peers_name_are_read_and_unreadable_ones_assumed() {
    let mut objects = ConfigObjects::default();
    let peer = |name: &str, address: &str, secret: Value| {
        let mut spec = json!({"myASN": 64513, "peerASN": 64512, "peerAddress": address});
        if !secret.is_null() {
            spec["passwordSecret"] = secret;
        }
        resource("BGPPeer", name, spec)
    };
    objects.sources.resources = vec![
        resource("IPAddressPool", "p", json!({"addresses": ["192.0.2.0/28"]})),
        peer("with-secret", "192.0.2.1", json!({"name": "s1"})),
        peer("empty-reference", "192.0.2.2", json!({"name": ""})),
        peer("missing", "192.0.2.3", json!({"name": "gone"})),
        peer("none", "192.0.2.4", Value::Null),
    ];
    let key = |name: &str| ("ferrolb-system".to_owned(), name.to_owned());
    assert_eq!(
        config::password_secrets(&objects.sources)
            .into_iter()
            .collect::<Vec<_>>(),
        [key("gone"), key("s1")]
    );
    // s1 not readable, gone does not exist: s1 assumed (no error), gone an error as the programs say
    objects
        .unread_secrets
        .insert(key("s1"), forbidden("get secrets s1 in ferrolb-system"));
    let loaded = config::load(&objects);
    let errors: Vec<String> = loaded.state.errors().iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("BGPPeer ferrolb-system/missing: "),
        "{errors:?}"
    );
    // without the missing one: valid
    objects.sources.resources.retain(|r| r.object.name != "missing");
    let loaded = config::load(&objects);
    assert_eq!(loaded.state.current().map(|c| c.peers.len()), Some(3));
    assert_eq!(config::describe(&loaded.objects), "3 BGPPeers, 1 IPAddressPool");
}
