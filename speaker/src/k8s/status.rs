//! The speaker's status objects in the cluster: one shared object sync per kind (`ServiceL2Status`,
//! `ServiceBGPStatus` of this node, its `ConfigurationState`), fed with [`StatusReport`]s by the owner loop
//! without waiting, and a small task removing other nodes' stale `ServiceL2Status` objects of a Service whose
//! layer2 IP this node took over (one delete-collection request per Service).

use std::sync::Arc;

use ferrolb_k8s::TaskHandle;
use ferrolb_k8s::config::{configuration_state_resource, state_key_of, state_selector};
use ferrolb_k8s::objects::{self, DesiredHandle, DesiredSet, ObjectMetrics, Selector, SyncSpec};
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use tokio::sync::{mpsc, watch};

use crate::model::ServiceKey;
use crate::status::{NODE_LABEL, SERVICE_NAME_LABEL, SERVICE_NAMESPACE_LABEL, StatusReport, key_of};

/// Status writes started per second at most, per kind.
const PER_SECOND: u32 = 50;
/// Takeovers queued for cleanup at most (beyond, the stale objects wait for their own speaker or the
/// controller's clean-up).
const TAKEOVERS: usize = 256;

pub use ferrolb_k8s::announcements::{bgp_status_resource, l2_status_resource};

/// The owner loop's handle on the status objects.
#[derive(Debug)]
pub struct StatusObjects {
    l2: watch::Sender<DesiredHandle>,
    bgp: watch::Sender<DesiredHandle>,
    state: watch::Sender<DesiredHandle>,
    /// The last `ConfigurationState` handed over, without the sessions' conditions.
    state_base: Option<DesiredSet>,
    /// The BGP sessions' conditions (`None` outside BGP mode: the object has none).
    sessions: Option<serde_json::Value>,
    takeovers: mpsc::Sender<ServiceKey>,
    _tasks: Vec<TaskHandle>,
}

impl StatusObjects {
    /// Starts the syncs of `node`'s objects in `namespace`.
    pub fn spawn(client: &Client, namespace: &str, node: &str, metrics: &ObjectMetrics) -> StatusObjects {
        let sync = |resource: ApiResource, selector: Selector, key_of| SyncSpec {
            resource,
            namespace: namespace.to_owned(),
            selector,
            key_of,
            per_second: PER_SECOND,
        };
        let (l2, l2_rx) = watch::channel(None);
        let (bgp, bgp_rx) = watch::channel(None);
        let (state, state_rx) = watch::channel(None);
        let (takeovers, takeovers_rx) = mpsc::channel(TAKEOVERS);
        let mine = Selector::Labels(format!("{NODE_LABEL}={node}"));
        let tasks = vec![
            objects::spawn(
                client.clone(),
                sync(l2_status_resource(), mine.clone(), key_of),
                l2_rx,
                metrics.clone(),
            ),
            objects::spawn(
                client.clone(),
                sync(bgp_status_resource(), mine, key_of),
                bgp_rx,
                metrics.clone(),
            ),
            objects::spawn(
                client.clone(),
                sync(
                    configuration_state_resource(),
                    state_selector(&format!("speaker-{node}")),
                    state_key_of,
                ),
                state_rx,
                metrics.clone(),
            ),
            TaskHandle::spawn(
                "l2 status cleanup",
                clean_up_takeovers(
                    client.clone(),
                    namespace.to_owned(),
                    node.to_owned(),
                    takeovers_rx,
                ),
            ),
        ];
        StatusObjects {
            l2,
            bgp,
            state,
            state_base: None,
            sessions: None,
            takeovers,
            _tasks: tasks,
        }
    }

    /// Hands over what the objects should say (never waits). The layer2 and BGP sets are handed over once
    /// the speaker decides (`services`), the ConfigurationState as soon as the index has synced.
    pub fn set(&mut self, report: StatusReport, services: bool) {
        self.state_base = Some(report.state);
        self.set_state();
        if services {
            set_if_changed(&self.l2, report.l2);
            set_if_changed(&self.bgp, report.bgp);
        }
        for key in report.takeovers {
            let _ = self.takeovers.try_send(key);
        }
    }

    /// Hands over the BGP sessions' conditions of the `ConfigurationState` (a `status.conditions` list).
    pub fn set_sessions(&mut self, conditions: serde_json::Value) {
        self.sessions = Some(conditions);
        self.set_state();
    }

    fn set_state(&self) {
        let Some(mut set) = self.state_base.clone() else {
            return;
        };
        if let Some(conditions) = &self.sessions {
            for d in set.values_mut() {
                d.status["conditions"] = conditions.clone();
            }
        }
        set_if_changed(&self.state, set);
    }
}

/// Hands `set` to a sync, waking it only when it changed.
pub fn set_if_changed(tx: &watch::Sender<DesiredHandle>, set: DesiredSet) {
    tx.send_if_modified(|cur| {
        if cur.as_deref() == Some(&set) {
            false
        } else {
            *cur = Some(Arc::new(set));
            true
        }
    });
}

/// Deletes other nodes' `ServiceL2Status` of each Service taken over: layer2 has one owner, this node.
async fn clean_up_takeovers(
    client: Client,
    namespace: String,
    node: String,
    mut rx: mpsc::Receiver<ServiceKey>,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &l2_status_resource());
    while let Some(key) = rx.recv().await {
        let selector = format!(
            "{SERVICE_NAMESPACE_LABEL}={},{SERVICE_NAME_LABEL}={},{NODE_LABEL}!={node}",
            key.namespace, key.name
        );
        let lp = ListParams::default().labels(&selector);
        if let Err(e) = api.delete_collection(&DeleteParams::default(), &lp).await {
            tracing::debug!(service = %key, error = %e, "removing other nodes' ServiceL2Status");
        }
    }
}
