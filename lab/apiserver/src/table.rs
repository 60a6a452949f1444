//! Server-side printing: `meta.k8s.io/v1` Table responses with the columns kube-apiserver's printers give
//! (`kubectl get` asks for them and has no client-side printer for built-in kinds).

use std::time::SystemTime;

use serde_json::{Value, json};

use crate::resources::{ResourceDef, Strategy};
use crate::time::age_of;

/// What each row carries in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// `PartialObjectMetadata` (the default).
    #[default]
    Metadata,
    /// The full object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn col(name: &str, ty: &str, format: &str, priority: u32, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": format, "description": description, "priority": priority})
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn none_if_empty(x: String) -> String {
    if x.is_empty() { "<none>".to_owned() } else { x }
}

/// Column definitions for a resource.
pub fn columns(def: &ResourceDef) -> Vec<Value> {
    let name = col(
        "Name",
        "string",
        "name",
        0,
        "Name must be unique within a namespace.",
    );
    let age = col(
        "Age",
        "string",
        "",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match def.strategy {
        Strategy::Service => vec![
            name,
            col(
                "Type",
                "string",
                "",
                0,
                "type determines how the Service is exposed.",
            ),
            col(
                "Cluster-IP",
                "string",
                "",
                0,
                "clusterIP is the IP address of the service.",
            ),
            col(
                "External-IP",
                "string",
                "",
                0,
                "externalIPs and load balancer ingress addresses.",
            ),
            col(
                "Port(s)",
                "string",
                "",
                0,
                "The list of ports that are exposed by this service.",
            ),
            age,
            col(
                "Selector",
                "string",
                "",
                1,
                "Route service traffic to pods with label keys and values matching this selector.",
            ),
        ],
        Strategy::ConfigMap => vec![name, col("Data", "integer", "", 0, "Number of keys."), age],
        Strategy::Secret => vec![
            name,
            col("Type", "string", "", 0, "The type of the secret"),
            col("Data", "integer", "", 0, "Number of keys."),
            age,
        ],
        Strategy::Namespace => vec![
            name,
            col("Status", "string", "", 0, "The status of the namespace"),
            age,
        ],
        Strategy::Node => vec![
            name,
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            age,
            col(
                "Version",
                "string",
                "",
                0,
                "Kubelet Version reported by the node.",
            ),
            col(
                "Internal-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node.",
            ),
            col(
                "External-IP",
                "string",
                "",
                1,
                "List of addresses reachable to the node.",
            ),
        ],
        Strategy::Event | Strategy::EventV1 => vec![
            col("Last Seen", "string", "", 0, "Time when last event was observed."),
            col("Type", "string", "", 0, "Type of this event."),
            col("Reason", "string", "", 0, "Short, machine understandable string."),
            col("Object", "string", "", 0, "The object this event is about."),
            col("Source", "string", "", 1, "The component reporting this event."),
            col(
                "Message",
                "string",
                "",
                0,
                "A human-readable description of the status of this operation.",
            ),
            col(
                "Count",
                "integer",
                "",
                1,
                "The number of times this event has occurred.",
            ),
            col("Name", "string", "name", 1, "Name of the event."),
        ],
        Strategy::EndpointSlice => vec![
            name,
            col("AddressType", "string", "", 0, "The IP protocol for this slice"),
            col("Ports", "string", "", 0, "Ports in this slice"),
            col("Endpoints", "string", "", 0, "Endpoints in this slice"),
            age,
        ],
        Strategy::Lease => vec![
            name,
            col("Holder", "string", "", 0, "The holder of the lease"),
            age,
        ],
        Strategy::Pod => vec![
            name,
            col(
                "Ready",
                "string",
                "",
                0,
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            col(
                "Status",
                "string",
                "",
                0,
                "The aggregate status of the containers in this pod.",
            ),
            col(
                "Restarts",
                "string",
                "",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age,
            col(
                "IP",
                "string",
                "",
                1,
                "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            ),
            col(
                "Node",
                "string",
                "",
                1,
                "NodeName is a request to schedule this pod onto a specific node.",
            ),
        ],
        Strategy::Custom => {
            let mut cols = vec![name];
            if def.printer_columns.is_empty() {
                cols.push(age);
            }
            for c in &def.printer_columns {
                let ty = if c.type_ == "date" {
                    "string"
                } else {
                    c.type_.as_str()
                };
                cols.push(col(&c.name, ty, "", 0, ""));
            }
            cols
        }
    }
}

fn service_ports(obj: &Value) -> String {
    let ports: Vec<String> = obj["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64().filter(|n| *n > 0) {
                Some(np) => format!("{}:{np}/{proto}", p["port"]),
                None => format!("{}/{proto}", p["port"]),
            }
        })
        .collect();
    none_if_empty(ports.join(","))
}

fn service_external_ip(obj: &Value) -> String {
    let external: Vec<&str> = obj["spec"]["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match s(obj, "/spec/type") {
        "ExternalName" => s(obj, "/spec/externalName").to_owned(),
        "LoadBalancer" => {
            let mut ips: Vec<&str> = obj["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i["ip"]
                        .as_str()
                        .filter(|x| !x.is_empty())
                        .or(i["hostname"].as_str())
                })
                .collect();
            ips.extend(external);
            if ips.is_empty() {
                "<pending>".to_owned()
            } else {
                ips.join(",")
            }
        }
        _ => none_if_empty(external.join(",")),
    }
}

fn selector(obj: &Value) -> String {
    let parts: Vec<String> = obj["spec"]["selector"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    none_if_empty(parts.join(","))
}

fn node_status(obj: &Value) -> String {
    let ready = obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let mut st = match ready.map(|c| s(c, "/status")) {
        Some("True") => "Ready".to_owned(),
        Some("False") => "NotReady".to_owned(),
        _ => "Unknown".to_owned(),
    };
    if obj["spec"]["unschedulable"] == json!(true) {
        st.push_str(",SchedulingDisabled");
    }
    st
}

fn node_address(obj: &Value, ty: &str) -> String {
    let a = obj["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == ty);
    none_if_empty(a.map(|a| s(a, "/address").to_owned()).unwrap_or_default())
}

fn json_path<'a>(obj: &'a Value, path: &str) -> &'a Value {
    let p = path.trim_start_matches('.').replace('.', "/");
    obj.pointer(&format!("/{p}")).unwrap_or(&Value::Null)
}

/// The cells of one row. `obj` is in the storage form (core Events for both Event APIs).
pub fn cells(def: &ResourceDef, obj: &Value, now: SystemTime) -> Vec<Value> {
    let name = json!(s(obj, "/metadata/name"));
    let age = json!(age_of(obj["metadata"]["creationTimestamp"].as_str(), now));
    let count = |f: &str| obj[f].as_object().map_or(0, |m| m.len());
    match def.strategy {
        Strategy::Service => vec![
            name,
            json!(s(obj, "/spec/type")),
            json!(none_if_empty(s(obj, "/spec/clusterIP").to_owned())),
            json!(service_external_ip(obj)),
            json!(service_ports(obj)),
            age,
            json!(selector(obj)),
        ],
        Strategy::ConfigMap => vec![name, json!(count("data") + count("binaryData")), age],
        Strategy::Pod => {
            let statuses = obj["status"]["containerStatuses"].as_array();
            let total = obj["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses
                .into_iter()
                .flatten()
                .filter(|c| c["ready"] == json!(true))
                .count();
            let restarts: i64 = statuses
                .into_iter()
                .flatten()
                .filter_map(|c| c["restartCount"].as_i64())
                .sum();
            // the printer's "Terminating" wins over the phase
            let status = if obj["metadata"]["deletionTimestamp"].is_string() {
                "Terminating"
            } else {
                s(obj, "/status/phase")
            };
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                age,
                json!(none_if_empty(s(obj, "/status/podIP").to_owned())),
                json!(none_if_empty(s(obj, "/spec/nodeName").to_owned())),
            ]
        }
        Strategy::Secret => vec![name, json!(s(obj, "/type")), json!(count("data")), age],
        Strategy::Namespace => vec![name, json!(s(obj, "/status/phase")), age],
        Strategy::Node => {
            let roles: Vec<&str> = obj["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
                .collect();
            vec![
                name,
                json!(node_status(obj)),
                json!(none_if_empty(roles.join(","))),
                age,
                json!(s(obj, "/status/nodeInfo/kubeletVersion")),
                json!(node_address(obj, "InternalIP")),
                json!(node_address(obj, "ExternalIP")),
            ]
        }
        Strategy::Event | Strategy::EventV1 => {
            let last = obj["series"]["lastObservedTime"]
                .as_str()
                .or(obj["lastTimestamp"].as_str())
                .or(obj["eventTime"].as_str())
                .or(obj["metadata"]["creationTimestamp"].as_str());
            let inv = &obj["involvedObject"];
            let source = obj["source"]["component"]
                .as_str()
                .filter(|c| !c.is_empty())
                .or(obj["reportingComponent"].as_str())
                .unwrap_or_default();
            let count = obj["series"]["count"]
                .as_i64()
                .or(obj["count"].as_i64())
                .unwrap_or(1);
            vec![
                json!(age_of(last, now)),
                json!(s(obj, "/type")),
                json!(s(obj, "/reason")),
                json!(format!(
                    "{}/{}",
                    s(inv, "/kind").to_ascii_lowercase(),
                    s(inv, "/name")
                )),
                json!(source),
                json!(s(obj, "/message")),
                json!(count),
                name,
            ]
        }
        Strategy::EndpointSlice => {
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
                name,
                json!(s(obj, "/addressType")),
                json!(none_if_empty(ports.join(","))),
                json!(none_if_empty(shown)),
                age,
            ]
        }
        Strategy::Lease => vec![name, json!(s(obj, "/spec/holderIdentity")), age],
        Strategy::Custom => {
            let mut row = vec![name];
            if def.printer_columns.is_empty() {
                row.push(age);
            }
            for c in &def.printer_columns {
                let v = json_path(obj, &c.json_path);
                row.push(if c.type_ == "date" {
                    json!(age_of(v.as_str(), now))
                } else {
                    v.clone()
                });
            }
            row
        }
    }
}

/// One table row for a stored object; `external` is what `includeObject=Object` returns.
pub fn row(
    def: &ResourceDef,
    stored: &Value,
    external: &Value,
    include: IncludeObject,
    now: SystemTime,
) -> Value {
    let mut r = json!({"cells": cells(def, stored, now)});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => r["object"] = partial_metadata(external),
        IncludeObject::Object => r["object"] = external.clone(),
    }
    r
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(external: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": external["metadata"]})
}

/// A whole Table.
pub fn table(def: &ResourceDef, api_version: &str, rows: Vec<Value>, list_meta: Value) -> Value {
    json!({"kind": "Table", "apiVersion": api_version, "metadata": list_meta, "columnDefinitions": columns(def), "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn service_rows_show_external_ip_like_kubectl() {
        let r = Registry::builtin();
        let def = r.get("", "v1", "services").unwrap();
        let now = SystemTime::now();
        let mut svc = json!({"metadata": {"name": "web", "creationTimestamp": crate::time::rfc3339(now)},
                             "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                                      "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30080}]},
                             "status": {"loadBalancer": {}}});
        let c = cells(def, &svc, now);
        assert_eq!(
            c,
            vec![
                json!("web"),
                json!("LoadBalancer"),
                json!("10.96.0.10"),
                json!("<pending>"),
                json!("80:30080/TCP"),
                json!("0s"),
                json!("app=web")
            ]
        );
        svc["status"]["loadBalancer"]["ingress"] = json!([{"ip": "192.0.2.100"}, {"ip": "2001:db8::100"}]);
        assert_eq!(cells(def, &svc, now)[3], "192.0.2.100,2001:db8::100");
        assert_eq!(columns(def).len(), c.len());
    }
}
