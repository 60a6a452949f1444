//! core/v1 Namespaces: created with the `kubernetes` finalizer and phase `Active`; a DELETE makes them
//! `Terminating` and the namespace controller purges their content (`pkg/registry/core/namespace`).

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Namespace;
use serde_json::{Value, json};

use crate::patch::ListStrategy;
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{
    DeleteMode, Strategy, age_cell, age_col, builtin_list_strategy, col, name_cell, name_col,
};

/// The Namespace strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Namespace>(obj)
    }

    fn prepare_create(&self, obj: &mut Value, _status: bool) {
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
        obj["status"] = json!({"phase": "Active"});
    }

    fn validate_name(&self, name: &str) -> Vec<String> {
        crate::validate::dns1123_label(name)
    }

    fn delete_mode(&self) -> DeleteMode {
        DeleteMode::Namespace
    }

    fn field_labels(&self) -> Vec<String> {
        vec!["status.phase".to_owned()]
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col("Status", "string", "", 0, "The status of the namespace"),
            age_col(),
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        vec![
            name_cell(obj),
            json!(obj["status"]["phase"].as_str().unwrap_or_default()),
            age_cell(obj, now),
        ]
    }

    fn list_strategy(&self, path: &[&str]) -> ListStrategy {
        match path {
            ["status", "conditions"] => ListStrategy::key("type"),
            _ => builtin_list_strategy(path),
        }
    }
}
