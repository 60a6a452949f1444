//! The status objects of deleted nodes: a node's speaker removes its own `ServiceL2Status` and
//! `ServiceBGPStatus` objects and keeps its `ConfigurationState`, but a node deleted with its speaker (a node
//! removed from the cluster, a crashed machine) leaves them behind, saying it still announces. While leading,
//! the controller watches the Nodes (names only) and removes the objects labelled with a node that no longer
//! exists: all those found when the Nodes are listed (at each term's start and after a watch restart), and a
//! node's objects as soon as its deletion is seen. One task; deletions counted in `k8s_object_writes_total`.

use std::collections::BTreeSet;

use ferrolb_k8s::TaskHandle;
use ferrolb_k8s::announcements::{NODE_LABEL, bgp_status_resource, l2_status_resource};
use ferrolb_k8s::config::configuration_state_resource;
use ferrolb_k8s::objects::{ObjectMetrics, WriteLabels};
use ferrolb_k8s::watch::{self, WatchEvent, WatchMetrics, WatchSpec};
use k8s_openapi::api::core::v1::Node;
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::{Api, Client};
use tokio::sync::mpsc;

/// Objects listed per page when sweeping.
const PAGE: u32 = 500;

/// Starts the collector for the objects in `namespace`; dropping the handle stops it.
pub fn spawn(
    client: Client,
    namespace: &str,
    watch_metrics: WatchMetrics,
    metrics: ObjectMetrics,
) -> TaskHandle {
    let gc = Collector {
        kinds: [l2_status_resource(), bgp_status_resource()]
            .map(|r| (Api::namespaced_with(client.clone(), namespace, &r), r.kind)),
        states: Api::namespaced_with(client.clone(), namespace, &configuration_state_resource()),
        metrics,
    };
    TaskHandle::spawn("node status collector", gc.run(client, watch_metrics))
}

struct Collector {
    /// The per-node status kinds, with their kind names.
    kinds: [(Api<DynamicObject>, String); 2],
    states: Api<DynamicObject>,
    metrics: ObjectMetrics,
}

impl Collector {
    async fn run(self, client: Client, watch_metrics: WatchMetrics) {
        let (tx, mut rx) = mpsc::channel(256);
        let _nodes = watch::spawn(
            WatchSpec::new("nodes", Api::<Node>::all(client)),
            |n: Node| n.metadata.name,
            |ev| ev,
            tx,
            watch_metrics,
        );
        let mut nodes: BTreeSet<String> = BTreeSet::new();
        let mut relist: Option<BTreeSet<String>> = None;
        while let Some(ev) = rx.recv().await {
            match ev {
                WatchEvent::Init => relist = Some(BTreeSet::new()),
                WatchEvent::InitApply(Some(name)) => {
                    if let Some(r) = relist.as_mut() {
                        r.insert(name);
                    }
                }
                WatchEvent::InitDone => {
                    nodes = relist.take().unwrap_or_default();
                    self.sweep(&nodes).await;
                }
                WatchEvent::Apply(Some(name)) => {
                    nodes.insert(name);
                }
                WatchEvent::Delete(Some(name)) => {
                    nodes.remove(&name);
                    self.remove(&name).await;
                }
                WatchEvent::InitApply(None) | WatchEvent::Apply(None) | WatchEvent::Delete(None) => {}
            }
        }
    }

    /// Removes the objects of every node named by a status object that is not in `nodes`.
    async fn sweep(&self, nodes: &BTreeSet<String>) {
        let mut gone = BTreeSet::new();
        for (api, _) in &self.kinds {
            for obj in list_all(api).await {
                let labels = obj.metadata.labels.unwrap_or_default();
                if let Some(node) = labels.get(NODE_LABEL).filter(|n| !nodes.contains(*n)) {
                    gone.insert(node.clone());
                }
            }
        }
        for obj in list_all(&self.states).await {
            let spec = &obj.data["spec"];
            if spec["type"] == "Speaker"
                && let Some(node) = spec["nodeName"].as_str().filter(|n| !nodes.contains(*n))
            {
                gone.insert(node.to_owned());
            }
        }
        for node in gone {
            self.remove(&node).await;
        }
    }

    /// Removes node `node`'s status objects and its speaker's `ConfigurationState`.
    async fn remove(&self, node: &str) {
        let selector = format!("{NODE_LABEL}={node}");
        for (api, kind) in &self.kinds {
            let lp = ListParams::default().labels(&selector);
            let result = api.delete_collection(&DeleteParams::default(), &lp).await;
            self.count(kind, result.map(|_| ()));
        }
        for obj in list_all(&self.states).await {
            let spec = &obj.data["spec"];
            if spec["type"] == "Speaker" && spec["nodeName"] == node {
                let name = obj.metadata.name.unwrap_or_default();
                let result = self.states.delete(&name, &DeleteParams::default()).await;
                self.count("ConfigurationState", result.map(|_| ()));
            }
        }
        tracing::info!(node, "node deleted: its status objects removed");
    }

    fn count(&self, kind: &str, result: Result<(), kube::Error>) {
        let outcome = match result {
            Ok(()) => "ok",
            Err(kube::Error::Api(s)) if s.code == 404 => "not_found",
            Err(e) => {
                tracing::warn!(kind, error = %e, "status objects of a deleted node not removed");
                "error"
            }
        };
        let labels = WriteLabels {
            kind: kind.to_owned(),
            op: "delete",
            result: outcome,
        };
        self.metrics.writes.get_or_create(&labels).inc();
    }
}

/// Every object of `api`, page by page (none when the kind is not installed or the list fails: the next
/// sweep retries).
async fn list_all(api: &Api<DynamicObject>) -> Vec<DynamicObject> {
    let mut out = Vec::new();
    let mut lp = ListParams::default().limit(PAGE);
    loop {
        match api.list(&lp).await {
            Ok(list) => {
                out.extend(list.items);
                match list.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(token) => lp = lp.continue_token(&token),
                    None => return out,
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "listing status objects failed");
                return out;
            }
        }
    }
}
