//! `IPAddressPool.status` (`assignedIPv4`, `availableIPv4`, `assignedIPv6`, `availableIPv6`), kept current by the
//! leading controller: one task, fed the wanted statuses through a watch channel (only the latest matters),
//! patching through the status subresource only the pools whose status differs from what it last wrote, at
//! most one pass per [`PASS_INTERVAL`] — 10,000 Services arriving at once cost a handful of writes, not
//! 10,000. A failed write is retried on the next pass; a pool object deleted meanwhile is skipped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_k8s::TaskHandle;
use ferrolb_k8s::config::{IP_ADDRESS_POOL, RESOURCE_KINDS};
use ferrolb_k8s::objects::{ObjectMetrics, WriteLabels};
use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The shortest time between two passes.
pub const PASS_INTERVAL: Duration = Duration::from_secs(2);

/// The wanted statuses, by pool object name (`None`: not serving, write nothing).
pub type Wanted = Option<Arc<BTreeMap<String, Value>>>;

/// Starts the writer for the pools in `namespace`; it stops when the sender is dropped or the handle is.
pub fn spawn(
    client: kube::Client,
    namespace: &str,
    rx: watch::Receiver<Wanted>,
    metrics: ObjectMetrics,
) -> TaskHandle {
    let resource = RESOURCE_KINDS[IP_ADDRESS_POOL].api_resource();
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &resource);
    TaskHandle::spawn("ipaddresspool status", run(api, rx, metrics))
}

async fn run(api: Api<DynamicObject>, mut rx: watch::Receiver<Wanted>, metrics: ObjectMetrics) {
    let mut written: BTreeMap<String, Value> = BTreeMap::new();
    let mut retry = false;
    loop {
        if !retry && rx.changed().await.is_err() {
            return;
        }
        let Some(wanted) = rx.borrow_and_update().clone() else {
            retry = false;
            continue;
        };
        written.retain(|name, _| wanted.contains_key(name));
        retry = false;
        for (name, status) in wanted.iter() {
            if written.get(name) == Some(status) {
                continue;
            }
            let patch = Patch::Merge(json!({"status": status}));
            let result = api.patch_status(name, &PatchParams::default(), &patch).await;
            let outcome = match result {
                Ok(_) => {
                    written.insert(name.clone(), status.clone());
                    "ok"
                }
                Err(kube::Error::Api(s)) if s.code == 404 => "not_found",
                Err(e) => {
                    tracing::warn!(pool = %name, error = %e, "IPAddressPool status not written; retrying");
                    retry = true;
                    "error"
                }
            };
            let labels = WriteLabels {
                kind: "IPAddressPool".into(),
                op: "status",
                result: outcome,
            };
            metrics.writes.get_or_create(&labels).inc();
        }
        tokio::time::sleep(PASS_INTERVAL).await;
    }
}
