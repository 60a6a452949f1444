//! core/v1 Nodes: cluster-scoped, created with their status (the kubelet registers itself that way).

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use crate::patch::ListStrategy;
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{
    Strategy, age_cell, age_col, builtin_list_strategy, col, generic_field_value, name_cell, name_col,
};

/// The Node strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodeStrategy;

fn node_status(obj: &Value) -> String {
    let ready = obj["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    let mut st = match ready.and_then(|c| c["status"].as_str()) {
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
    obj["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["type"] == ty)
        .and_then(|a| a["address"].as_str())
        .filter(|a| !a.is_empty())
        .unwrap_or("<none>")
        .to_owned()
}

impl Strategy for NodeStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Node>(obj)
    }

    /// Nodes keep the status they are created with.
    fn prepare_create(&self, _obj: &mut Value, _status: bool) {}

    fn field_labels(&self) -> Vec<String> {
        vec!["spec.unschedulable".to_owned()]
    }

    fn field_value(&self, obj: &Value, field: &str) -> String {
        match (field, &obj["spec"]["unschedulable"]) {
            ("spec.unschedulable", Value::Null) => "false".to_owned(),
            _ => generic_field_value(obj, field),
        }
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col("Status", "string", "", 0, "The status of the node"),
            col("Roles", "string", "", 0, "The roles of the node"),
            age_col(),
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
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        let roles: Vec<&str> = obj["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| k.strip_prefix("node-role.kubernetes.io/"))
            .collect();
        let roles = if roles.is_empty() {
            "<none>".to_owned()
        } else {
            roles.join(",")
        };
        vec![
            name_cell(obj),
            json!(node_status(obj)),
            json!(roles),
            age_cell(obj, now),
            json!(
                obj["status"]["nodeInfo"]["kubeletVersion"]
                    .as_str()
                    .unwrap_or_default()
            ),
            json!(node_address(obj, "InternalIP")),
            json!(node_address(obj, "ExternalIP")),
        ]
    }

    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        match path {
            ["status", "conditions" | "addresses"] => ListStrategy::key("type"),
            ["spec", "taints"] => ListStrategy::Replace,
            _ => builtin_list_strategy(path),
        }
    }
}
