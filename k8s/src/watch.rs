//! Watch streams: one kube-runtime watcher per kind, its objects projected to what the program keeps, its
//! events forwarded to the owner task's channel.
//!
//! Each object is projected in the watch task ([`Projected`]: its key and, when the program keeps it, the
//! small value it keeps), so the large API objects never reach the owner task. Errors are counted
//! (`k8s_watch_errors_total{resource}`) and logged once per outage (a warning when the watch fails, an info
//! line when it is restored, debug lines between); the watcher retries with kube-runtime's default backoff,
//! relisting when its resourceVersion is too old, and the program keeps the last known state meanwhile.

use std::fmt::Debug;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Resource};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::task::TaskHandle;

/// List page size: small pages keep the memory peak of a (re)list low.
pub const PAGE_SIZE: u32 = 100;

/// A watch event with the object projected (kube-runtime's `watcher::Event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent<T> {
    /// A (re)list starts.
    Init,
    /// One object of the list.
    InitApply(T),
    /// The list is complete.
    InitDone,
    /// An object was added or changed.
    Apply(T),
    /// An object was deleted (its last state).
    Delete(T),
}

impl<T> WatchEvent<T> {
    /// The event with its object mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> WatchEvent<U> {
        match self {
            WatchEvent::Init => WatchEvent::Init,
            WatchEvent::InitApply(t) => WatchEvent::InitApply(f(t)),
            WatchEvent::InitDone => WatchEvent::InitDone,
            WatchEvent::Apply(t) => WatchEvent::Apply(f(t)),
            WatchEvent::Delete(t) => WatchEvent::Delete(f(t)),
        }
    }

    /// The event of a kube-runtime watcher.
    pub fn from_watcher(ev: Event<T>) -> Self {
        match ev {
            Event::Init => WatchEvent::Init,
            Event::InitApply(t) => WatchEvent::InitApply(t),
            Event::InitDone => WatchEvent::InitDone,
            Event::Apply(t) => WatchEvent::Apply(t),
            Event::Delete(t) => WatchEvent::Delete(t),
        }
    }
}

impl<T> WatchEvent<Option<T>> {
    /// The event, or `None` when its object was projected to nothing (list markers are kept).
    pub fn transpose(self) -> Option<WatchEvent<T>> {
        Some(match self {
            WatchEvent::Init => WatchEvent::Init,
            WatchEvent::InitApply(t) => WatchEvent::InitApply(t?),
            WatchEvent::InitDone => WatchEvent::InitDone,
            WatchEvent::Apply(t) => WatchEvent::Apply(t?),
            WatchEvent::Delete(t) => WatchEvent::Delete(t?),
        })
    }
}

/// An object as the program keeps it: its key and, when the program keeps this object, its value (`None`
/// means "not kept": an `Apply` of it removes whatever was kept under the key).
pub type Projected<K, V> = (K, Option<V>);

/// `resource` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ResourceLabel {
    /// The watched resource (`services`, `configmaps`, …).
    pub resource: &'static str,
}

/// The watches' metrics. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct WatchMetrics {
    /// `k8s_watch_errors_total{resource}`.
    pub errors: Family<ResourceLabel, Counter>,
}

impl WatchMetrics {
    /// Registers `k8s_watch_errors_total` in `registry`.
    pub fn register(registry: &mut Registry) -> WatchMetrics {
        let m = WatchMetrics::default();
        registry.sub_registry_with_prefix("k8s").register(
            "watch_errors",
            "Kubernetes watch errors (the last known state is kept)",
            m.errors.clone(),
        );
        m
    }
}

/// What one watch needs: the resource name (logs, metric label), the API and the watcher's filters.
#[derive(Debug)]
pub struct WatchSpec<K: Resource + Clone> {
    /// The resource (`services`, …).
    pub resource: &'static str,
    /// Where to watch.
    pub api: Api<K>,
    /// Field and label selectors.
    pub config: watcher::Config,
    /// The resource may not be installed (a CRD): a list answered 404 counts as an empty list.
    pub optional: bool,
}

impl<K: Resource + Clone> WatchSpec<K> {
    /// A watch of every object of `api`.
    pub fn new(resource: &'static str, api: Api<K>) -> Self {
        Self {
            resource,
            api,
            config: watcher::Config::default(),
            optional: false,
        }
    }

    /// The resource may not be installed (its CustomResourceDefinition is optional): while the API server
    /// answers 404, the watch reports an empty list (once per absence) and keeps retrying.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Only the object named `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.config = self.config.fields(&format!("metadata.name={name}"));
        self
    }

    /// Only objects with these labels (a label selector).
    pub fn labels(mut self, selector: &str) -> Self {
        self.config = self.config.labels(selector);
        self
    }
}

/// Starts a watch: each event's object goes through `project`, then `wrap`, into `tx`. The task ends when
/// the receiver is gone; dropping the handle stops it.
pub fn spawn<K, T, M>(
    spec: WatchSpec<K>,
    project: impl Fn(K) -> T + Send + 'static,
    wrap: impl Fn(WatchEvent<T>) -> M + Send + 'static,
    tx: mpsc::Sender<M>,
    metrics: WatchMetrics,
) -> TaskHandle
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    T: Send + 'static,
    M: Send + 'static,
{
    let resource = spec.resource;
    let optional = spec.optional;
    TaskHandle::spawn(resource, async move {
        let mut stream = watcher::watcher(spec.api, spec.config.page_size(PAGE_SIZE))
            .default_backoff()
            .boxed();
        let mut failing = false;
        // An optional resource found absent: an empty list was reported for this absence.
        let mut absent = false;
        while let Some(item) = stream.next().await {
            match item {
                Err(e) if optional && is_not_found(&e) => {
                    if !absent {
                        tracing::info!(
                            resource,
                            "not installed (the API server answers 404): empty until it is"
                        );
                        absent = true;
                        for ev in [WatchEvent::Init, WatchEvent::InitDone] {
                            if tx.send(wrap(ev)).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Ok(ev) => {
                    if absent {
                        tracing::info!(resource, "installed: watching it");
                        absent = false;
                    }
                    if failing {
                        tracing::info!(resource, "watch restored");
                        failing = false;
                    }
                    let ev = WatchEvent::from_watcher(ev).map(&project);
                    if tx.send(wrap(ev)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    metrics.errors.get_or_create(&ResourceLabel { resource }).inc();
                    if failing {
                        tracing::debug!(resource, error = %e, "watch still failing");
                    } else {
                        tracing::warn!(resource, error = %e,
                            "watch failed; keeping the last known state and retrying");
                    }
                    failing = true;
                }
            }
        }
    })
}

/// Whether a watcher error is the API server saying the resource does not exist (no such CRD or version).
fn is_not_found(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s.code == 404,
        watcher::Error::WatchError(s) => s.code == 404,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_their_objects() {
        assert_eq!(WatchEvent::Apply(2).map(|x| x * 10), WatchEvent::Apply(20));
        assert_eq!(WatchEvent::Delete(2).map(|x| x + 1), WatchEvent::Delete(3));
        assert_eq!(WatchEvent::<u8>::Init.map(|x| x), WatchEvent::Init);
        assert_eq!(
            WatchEvent::from_watcher(Event::InitApply("a")),
            WatchEvent::InitApply("a")
        );
        assert_eq!(
            WatchEvent::from_watcher(Event::<u8>::InitDone),
            WatchEvent::InitDone
        );
        assert_eq!(WatchEvent::Apply(Some(1)).transpose(), Some(WatchEvent::Apply(1)));
        assert_eq!(WatchEvent::<Option<u8>>::Apply(None).transpose(), None);
        assert_eq!(
            WatchEvent::<Option<u8>>::InitDone.transpose(),
            Some(WatchEvent::InitDone)
        );
    }
}
