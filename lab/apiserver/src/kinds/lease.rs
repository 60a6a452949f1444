//! coordination.k8s.io/v1 Leases: a PUT needs `metadata.resourceVersion` (no unconditional update), create on
//! update is allowed (leader election creates the lease with a PUT).

use std::time::SystemTime;

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::{Value, json};

use crate::defaults::Target;
use crate::error::Cause;
use crate::prune::{DecodeError, prune_as};
use crate::strategy::{Strategy, age_cell, age_col, col, name_cell, name_col};

/// The Lease strategy.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn prune(&self, obj: &Value) -> Result<(Value, Vec<String>), DecodeError> {
        prune_as::<Lease>(obj)
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>, _target: Target, _minor: u32) -> Vec<Cause> {
        let mut errs = Vec::new();
        if let Some(d) = obj["spec"]["leaseDurationSeconds"].as_i64().filter(|d| *d <= 0) {
            errs.push(Cause::invalid(
                "spec.leaseDurationSeconds",
                &json!(d),
                "must be greater than 0",
            ));
        }
        if let Some(t) = obj["spec"]["leaseTransitions"].as_i64().filter(|t| *t < 0) {
            errs.push(Cause::invalid(
                "spec.leaseTransitions",
                &json!(t),
                "must be greater than or equal to 0",
            ));
        }
        errs
    }

    fn allow_create_on_update(&self) -> bool {
        true
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }

    fn columns(&self) -> Vec<Value> {
        vec![
            name_col(),
            col("Holder", "string", "", 0, "The holder of the lease"),
            age_col(),
        ]
    }

    fn cells(&self, obj: &Value, now: SystemTime) -> Vec<Value> {
        vec![
            name_cell(obj),
            json!(obj["spec"]["holderIdentity"].as_str().unwrap_or_default()),
            age_cell(obj, now),
        ]
    }
}
