//! The controller as a library: [`Config`] and [`run`], which the `ferrolb-controller` program (and the tests)
//! call.
//!
//! `run` starts the metrics/health server, the leader elector and the owner task, and on shutdown stops them
//! in the order that keeps the fencing promise: the owner stops first and waits for its writes in flight,
//! then the elector releases the Lease so that a standby takes over at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_k8s::config::ConfigNames;
use ferrolb_k8s::objects::ObjectMetrics;
use ferrolb_k8s::{EventMetrics, HttpError, Readiness, TaskHandle, WatchMetrics};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::leader::{LeaderElector, Timings, TimingsError};
use crate::metrics::Metrics;
use crate::owner::{Names, Owner, OwnerIo};

/// Namespace of ferrolb's own objects.
pub const DEFAULT_NAMESPACE: &str = "ferrolb-system";
/// The config ConfigMap.
pub const DEFAULT_CONFIG_MAP: &str = "config";
/// The membership Secret.
pub const DEFAULT_MEMBERLIST_SECRET: &str = "ferrolb-memberlist";
/// The controller's Lease.
pub const DEFAULT_LEASE_NAME: &str = "ferrolb-controller";
/// The metrics and health address.
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:7472";

/// Where to serve `/metrics`, `/healthz` and `/readyz`.
pub type MetricsListen = ferrolb_k8s::Listen;

/// Everything the controller needs to run.
pub struct Config {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// ferrolb's namespace: the membership Secret, the Lease, the controller's ConfigurationState.
    pub namespace: String,
    /// Namespace of the configuration objects (`None`: `namespace`).
    pub config_namespace: Option<String>,
    /// Name of the config ConfigMap.
    pub config_map: String,
    /// Name of the membership Secret.
    pub memberlist_secret: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// Leader election timings.
    pub timings: Timings,
    /// The load-balancer class served (`None`: Services without one).
    pub load_balancer_class: Option<String>,
    /// The metrics and health endpoints.
    pub metrics: MetricsListen,
    /// This replica's identity in the Lease.
    pub identity: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("namespace", &self.namespace)
            .field("config_namespace", &self.config_namespace)
            .field("config_map", &self.config_map)
            .field("memberlist_secret", &self.memberlist_secret)
            .field("lease_name", &self.lease_name)
            .field("timings", &self.timings)
            .field("load_balancer_class", &self.load_balancer_class)
            .field("metrics", &self.metrics)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults of docs/architecture.md, with a generated identity and no metrics server.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            namespace: DEFAULT_NAMESPACE.into(),
            config_namespace: None,
            config_map: DEFAULT_CONFIG_MAP.into(),
            memberlist_secret: DEFAULT_MEMBERLIST_SECRET.into(),
            lease_name: DEFAULT_LEASE_NAME.into(),
            timings: Timings::default(),
            load_balancer_class: None,
            metrics: MetricsListen::Off,
            identity: default_identity(),
        }
    }
}

/// Why the controller could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The election timings are inconsistent.
    #[error("leader election timings: {0}")]
    Timings(#[from] TimingsError),
    /// The metrics address could not be bound.
    #[error(transparent)]
    Bind(#[from] HttpError),
}

/// A Lease identity as client-go makes one: the host name (the pod name in a cluster) and a random suffix, so
/// that a restarted replica is a new candidate.
pub fn default_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ferrolb-controller".into());
    format!("{host}_{:016x}", rand::random::<u64>())
}

/// Runs the controller until `shutdown` completes; then stops acting, waits for writes in flight and releases
/// the Lease.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    config.timings.validate()?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let shared = registry.sub_registry_with_prefix("ferrolb_controller");
    let watch_metrics = WatchMetrics::register(shared);
    let event_metrics = EventMetrics::register(shared);
    let object_metrics = ObjectMetrics::register(shared);
    let (ready_tx, ready_rx) = watch::channel::<Readiness>(Err("start-up".into()));
    let _http: Option<TaskHandle> =
        ferrolb_k8s::http::serve(config.metrics, Arc::new(registry), ready_rx).await?;

    let leases: Api<Lease> = Api::namespaced(config.client.clone(), &config.namespace);
    let (elector, leadership) =
        LeaderElector::new(leases, &config.lease_name, &config.identity, config.timings);
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let elector = TaskHandle::spawn(
        "leader elector",
        elector.run(async {
            let _ = release_rx.await;
        }),
    );
    tracing::info!(identity = %config.identity, lease = %config.lease_name, namespace = %config.namespace,
        class = ?config.load_balancer_class, "controller starting");

    let names = Names {
        config: ConfigNames {
            namespace: config
                .config_namespace
                .unwrap_or_else(|| config.namespace.clone()),
            config_map: config.config_map,
            ..ConfigNames::default()
        },
        namespace: config.namespace,
        memberlist_secret: config.memberlist_secret,
    };
    let io = OwnerIo {
        client: config.client,
        ready: ready_tx,
        metrics,
        watch_metrics,
        event_metrics,
        object_metrics,
    };
    let owner = Owner::new(
        io,
        names,
        config.load_balancer_class,
        leadership,
        &config.identity,
        config.timings.retry_period,
    );
    owner.run(shutdown).await;
    // The owner has stopped and its writes are done: release the Lease.
    let _ = release_tx.send(());
    if tokio::time::timeout(Duration::from_secs(5), elector.join())
        .await
        .is_err()
    {
        tracing::warn!("the Lease could not be released in time");
    }
    tracing::info!("controller stopped");
    Ok(())
}
