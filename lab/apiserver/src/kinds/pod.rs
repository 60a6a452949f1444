//! core/v1 Pods: defaults, validation and graceful deletion ([`crate::defaults::pod`]), and the printer.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::defaults::{Target, pod};
use crate::error::Cause;
use crate::patch::ListStrategy;
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{
    DeleteMode, Strategy, age_cell, age_col, builtin_list_strategy, col, name_cell, name_col,
};

/// The Pod strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct PodStrategy;

fn or_none(v: &Value) -> Value {
    json!(v.as_str().filter(|s| !s.is_empty()).unwrap_or("<none>"))
}

impl Strategy for PodStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Pod>(obj)
    }

    fn set_defaults(&self, obj: &mut Value) {
        pod::set_defaults(obj);
    }

    /// `PrepareForCreate`: a new pod is Pending (the kubelet reports the rest).
    fn prepare_create(&self, obj: &mut Value, _status: bool) {
        obj["status"] = json!({"phase": "Pending"});
    }

    fn validate(&self, obj: &Value, old: Option<&Value>, target: Target, _minor: u32) -> Vec<Cause> {
        match target {
            Target::Main => pod::validate(obj, old),
            Target::Status => Vec::new(),
        }
    }

    fn delete_mode(&self) -> DeleteMode {
        DeleteMode::Graceful
    }

    fn field_labels(&self) -> Vec<String> {
        [
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
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
            age_col(),
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
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
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
            obj["status"]["phase"].as_str().unwrap_or_default()
        };
        vec![
            name_cell(obj),
            json!(format!("{ready}/{total}")),
            json!(status),
            json!(restarts.to_string()),
            age_cell(obj, now),
            or_none(&obj["status"]["podIP"]),
            or_none(&obj["spec"]["nodeName"]),
        ]
    }

    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        match path {
            ["status", "conditions"] => ListStrategy::key("type"),
            _ => builtin_list_strategy(path),
        }
    }
}
