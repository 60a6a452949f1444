//! The speaker's watches: the shared layer's watch streams, each object projected to the index's small
//! types in the watch task, forwarded to the owner loop.

use ferrolb_k8s::watch::{self, WatchSpec};
use ferrolb_k8s::{TaskHandle, WatchMetrics};
use k8s_openapi::api::core::v1::{Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::{Api, Client};
use tokio::sync::mpsc;

use crate::index::convert::{self, SERVICE_NAME_LABEL};
use crate::index::{IndexEvent, IndexSettings};

/// Starts the watches: Services, EndpointSlices and Nodes cluster-wide; the configuration objects and the
/// membership Secret in ferrolb's namespace. Their events go to `tx`.
pub fn spawn(
    client: &Client,
    settings: &IndexSettings,
    tx: &mpsc::Sender<IndexEvent>,
    metrics: &WatchMetrics,
) -> Vec<TaskHandle> {
    let class = settings.lb_class.clone();
    let (secret, secret_key) = (settings.secret.clone(), settings.secret_key.clone());
    let mut tasks = vec![
        watch::spawn(
            WatchSpec::new("services", Api::<Service>::all(client.clone())),
            move |s| convert::project_service(s, class.as_deref()),
            IndexEvent::Service,
            tx.clone(),
            metrics.clone(),
        ),
        watch::spawn(
            WatchSpec::new("endpointslices", Api::<EndpointSlice>::all(client.clone()))
                .labels(SERVICE_NAME_LABEL),
            convert::project_slice,
            IndexEvent::Slice,
            tx.clone(),
            metrics.clone(),
        ),
        watch::spawn(
            WatchSpec::new("nodes", Api::<Node>::all(client.clone())),
            convert::project_node,
            IndexEvent::Node,
            tx.clone(),
            metrics.clone(),
        ),
        watch::spawn(
            WatchSpec::new(
                "secrets",
                Api::<Secret>::namespaced(client.clone(), &settings.namespace),
            )
            .named(&settings.secret),
            move |s| convert::project_secret(s, &secret, &secret_key),
            IndexEvent::Secret,
            tx.clone(),
            metrics.clone(),
        ),
    ];
    tasks.extend(ferrolb_k8s::config::spawn(
        client,
        &settings.config,
        IndexEvent::Config,
        tx,
        metrics,
    ));
    tasks
}
