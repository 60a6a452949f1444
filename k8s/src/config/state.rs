//! `ConfigurationState` objects: what a component (the controller, each speaker) makes of the
//! configuration, written as MetalLB's components write theirs so that `kubectl get configurationstates`
//! reads the same with either.

use std::collections::BTreeMap;

use ferrolb_config::{ConfigState, Status};
use kube::api::DynamicObject;
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use crate::objects::{Desired, DesiredSet, ObjectName};

/// `metallb.io/v1beta1` `ConfigurationState`.
pub fn configuration_state_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metallb.io", "v1beta1", "ConfigurationState"),
        "configurationstates",
    )
}

/// The owned `ConfigurationState` named `name` (MetalLB's own, when ferrolb runs in its namespace, is taken
/// over rather than duplicated).
pub fn state_selector(name: &str) -> crate::objects::Selector {
    crate::objects::Selector::Fields(format!("metadata.name={name}"))
}

/// The key of an owned `ConfigurationState`: its name.
pub fn state_key_of(obj: &DynamicObject) -> Option<String> {
    obj.metadata.name.clone()
}

/// The `ConfigurationState` object `name` of a component (`Controller`, or `Speaker` with its node) saying
/// what `config` is: `result` Valid, Invalid or Unknown (nothing seen yet) with `errorSummary` (and newer
/// MetalLB's spellings, `validConfig` and `lastError`), as MetalLB's components write theirs.
pub fn configuration_state(
    name: &str,
    component: &str,
    node: Option<&str>,
    config: &ConfigState,
) -> DesiredSet {
    let (result, valid) = match config.status() {
        Status::Valid => ("Valid", Some(true)),
        Status::Invalid(_) | Status::Deleted(_) => ("Invalid", Some(false)),
        Status::Absent => ("Unknown", None),
    };
    let errors: Vec<String> = config.errors().iter().map(ToString::to_string).collect();
    let summary = if errors.is_empty() {
        String::new()
    } else {
        format!("the configuration is {}: {}", config.summary(), errors.join("; "))
    };
    let mut spec = json!({"type": component});
    if let Some(node) = node {
        spec["nodeName"] = json!(node);
    }
    let mut status = json!({"result": result, "errorSummary": summary, "lastError": summary});
    if let Some(v) = valid {
        status["validConfig"] = json!(v);
    }
    DesiredSet::from([(
        name.to_owned(),
        Desired {
            name: ObjectName::Fixed(name.to_owned()),
            labels: BTreeMap::new(),
            spec,
            status,
        },
    )])
}
