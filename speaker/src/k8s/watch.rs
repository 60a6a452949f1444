//! Watchers: kube-runtime watch streams forwarded to the owner loop.

use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::index::convert::SERVICE_NAME_LABEL;
use crate::index::{IndexEvent, IndexSettings, Kind};
use crate::metrics::{Metrics, ResourceLabel};
use crate::task::TaskHandle;

/// List page size: small pages keep the memory peak of a (re)list low.
const PAGE_SIZE: u32 = 100;

fn forward<K>(
    kind: Kind,
    api: Api<K>,
    config: watcher::Config,
    tx: mpsc::Sender<IndexEvent>,
    wrap: fn(Event<K>) -> IndexEvent,
    metrics: Metrics,
) -> TaskHandle
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    TaskHandle::spawn(kind.resource(), async move {
        let mut stream = watcher::watcher(api, config.page_size(PAGE_SIZE))
            .default_backoff()
            .boxed();
        let mut failing = false;
        while let Some(item) = stream.next().await {
            match item {
                Ok(ev) => {
                    if failing {
                        tracing::info!(resource = kind.resource(), "watch restored");
                        failing = false;
                    }
                    if tx.send(wrap(ev)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    metrics
                        .watch_errors
                        .get_or_create(&ResourceLabel {
                            resource: kind.resource(),
                        })
                        .inc();
                    if !failing {
                        tracing::warn!(resource = kind.resource(), error = %e, "watch failed; keeping the last known state and retrying");
                    } else {
                        tracing::debug!(resource = kind.resource(), error = %e, "watch still failing");
                    }
                    failing = true;
                }
            }
        }
    })
}

/// Starts the five watchers. Their events go to `tx`.
pub fn spawn(
    client: &Client,
    namespace: &str,
    settings: &IndexSettings,
    tx: &mpsc::Sender<IndexEvent>,
    metrics: &Metrics,
) -> Vec<TaskHandle> {
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    vec![
        forward(
            Kind::Services,
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
            tx.clone(),
            IndexEvent::service,
            metrics.clone(),
        ),
        forward(
            Kind::EndpointSlices,
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default().labels(SERVICE_NAME_LABEL),
            tx.clone(),
            IndexEvent::slice,
            metrics.clone(),
        ),
        forward(
            Kind::Nodes,
            Api::<Node>::all(client.clone()),
            watcher::Config::default(),
            tx.clone(),
            IndexEvent::node,
            metrics.clone(),
        ),
        forward(
            Kind::ConfigMap,
            Api::<ConfigMap>::namespaced(client.clone(), namespace),
            by_name(&settings.config_map),
            tx.clone(),
            IndexEvent::config_map,
            metrics.clone(),
        ),
        forward(
            Kind::Secret,
            Api::<Secret>::namespaced(client.clone(), namespace),
            by_name(&settings.secret),
            tx.clone(),
            IndexEvent::secret,
            metrics.clone(),
        ),
    ]
}
