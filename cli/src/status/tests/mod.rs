//! Table-driven tests of the pure parts of `ferrolb status`: a [`Snapshot`] built by hand, changed by each
//! case, through the views and the renderers.

mod objects;
mod pools;
mod services;

use std::collections::BTreeMap;

use ferrolb_config::{ConfigMapSource, ObjectRef, ResourceSource, Sources};
use serde_json::{Value, json};

use super::snapshot::{
    AllocationFailure, BgpStatus, Component, ComponentState, ConfigObjects, Gap, GapReason, L2Status, Lease,
    PoolUsage, Service, Session, Snapshot,
};

pub(super) const NOW: i64 = 1_000_000;
pub(super) const NS: &str = "ferrolb-system";

pub(super) fn resource(kind: &str, name: &str, spec: Value) -> ResourceSource {
    ResourceSource {
        object: ObjectRef::new(kind, NS, name),
        api_version: if kind == "BGPPeer" {
            "metallb.io/v1beta2"
        } else {
            "metallb.io/v1beta1"
        }
        .to_owned(),
        labels: BTreeMap::new(),
        spec,
    }
}

pub(super) fn config_map(text: &str) -> ConfigMapSource {
    ConfigMapSource {
        object: ObjectRef::new("ConfigMap", NS, "config"),
        key: "config".to_owned(),
        text: Some(text.to_owned()),
    }
}

pub(super) fn service(ns: &str, name: &str, ips: &[&str], pool: Option<&str>) -> Service {
    Service {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        uid: format!("uid-{name}"),
        class: None,
        ips: ips.iter().map(|ip| ip.parse().expect("IP")).collect(),
        pool: pool.map(str::to_owned),
    }
}

pub(super) fn speaker(node: &str, result: &str, sessions: &[(&str, &str)]) -> ComponentState {
    ComponentState {
        name: format!("speaker-{node}"),
        component: Component::Speaker(node.to_owned()),
        result: result.to_owned(),
        error: String::new(),
        sessions: sessions
            .iter()
            .map(|(peer, state)| Session {
                peer: (*peer).to_owned(),
                established: *state == "Established",
                state: (*state).to_owned(),
                message: String::new(),
            })
            .collect(),
    }
}

pub(super) fn forbidden(request: &str) -> Gap {
    Gap {
        request: request.to_owned(),
        reason: GapReason::Forbidden(format!("User \"ops\" cannot {request}")),
    }
}

/// A healthy cluster: a leader, every component Valid, two pools (layer2 dual-stack `default`, bgp
/// `routed`), a layer2 Service on node2 and a BGP Service on node1 and node2 to `router`, Established.
pub(super) fn healthy() -> Snapshot {
    let mut foreign = service("default", "foreign", &["198.51.100.1"], None);
    foreign.class = Some("example.com/other".into());
    Snapshot {
        now: NOW,
        namespace: NS.into(),
        config_namespace: NS.into(),
        lease_name: "ferrolb-controller".into(),
        load_balancer_class: None,
        services: vec![
            service("prod", "api", &["203.0.113.10"], Some("routed")),
            service(
                "default",
                "web",
                &["2001:db8::100", "192.0.2.100"],
                Some("default"),
            ),
            foreign,
        ],
        lease: Ok(Some(Lease {
            holder: Some("ctrl-1".into()),
            renewed: Some(NOW - 2),
            duration: Some(15),
        })),
        states: Ok(vec![
            speaker("node2", "Valid", &[("router", "Established")]),
            ComponentState {
                name: "controller".into(),
                component: Component::Controller,
                result: "Valid".into(),
                error: String::new(),
                sessions: Vec::new(),
            },
            speaker("node1", "Valid", &[("router", "Established")]),
        ]),
        l2: Ok(vec![L2Status {
            node: "node2".into(),
            namespace: "default".into(),
            service: "web".into(),
            interfaces: vec!["eth0".into()],
        }]),
        bgp: Ok(["node2", "node1"]
            .map(|node| BgpStatus {
                node: node.into(),
                namespace: "prod".into(),
                service: "api".into(),
                peers: vec!["router".into()],
            })
            .to_vec()),
        config: Ok(ConfigObjects {
            sources: Sources {
                config_map: None,
                resources: vec![
                    resource(
                        "IPAddressPool",
                        "default",
                        json!({"addresses": ["192.0.2.100-192.0.2.109", "2001:db8::100/124"]}),
                    ),
                    resource(
                        "IPAddressPool",
                        "routed",
                        json!({"addresses": ["203.0.113.10/32"], "autoAssign": false}),
                    ),
                    resource("L2Advertisement", "l2", json!({"ipAddressPools": ["default"]})),
                    resource("BGPAdvertisement", "bgp", json!({"ipAddressPools": ["routed"]})),
                    resource(
                        "BGPPeer",
                        "router",
                        json!({"myASN": 64513, "peerASN": 64512, "peerAddress": "192.0.2.1"}),
                    ),
                ],
                secrets: BTreeMap::new(),
            },
            pool_status: BTreeMap::from([(
                "default".to_owned(),
                PoolUsage {
                    assigned_v4: 1,
                    available_v4: 9,
                    assigned_v6: 1,
                    available_v6: 15,
                },
            )]),
            unread_secrets: BTreeMap::new(),
        }),
        failures: Ok(vec![AllocationFailure {
            namespace: "default".into(),
            service: "other".into(),
            uid: Some("uid-other".into()),
            message: "Failed to allocate IP: address pool \"gold\" does not exist".into(),
            time: Some(NOW - 13),
        }]),
    }
}

#[test]
fn exit_status_prefers_unread_over_problems() {
    use super::exit_status;
    assert_eq!(
        [
            exit_status(0, 0),
            exit_status(0, 3),
            exit_status(1, 0),
            exit_status(2, 5)
        ],
        [0, 1, 2, 2]
    );
}
