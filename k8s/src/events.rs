//! Kubernetes Events (`events.k8s.io/v1`): what the programs tell operators, and the one task that writes
//! them.
//!
//! A program decides [`EventRecord`]s (pure values with a typed [`Reason`]); [`EventPublisher`] creates them.
//! Events are best effort, as with client-go: a bounded queue (1,024; the last quarter is kept for Warnings,
//! so in a burst the Normal notes are dropped first; overflow is counted), a few requests in flight, each
//! bounded in time, and an optional gate (the controller publishes only while it leads). The API server caps
//! an Event's `note` at 1 KiB: longer notes are cut there, ending in `…`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::task::TaskHandle;

/// Longest `note` the API server accepts (`events.k8s.io/v1` validation).
pub const MAX_NOTE: usize = 1024;
/// Events waiting to be written; more are dropped.
const QUEUE: usize = 1024;
/// Event creations in flight.
const IN_FLIGHT: usize = 4;
/// How long one creation may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an Event is emitted: its `reason`, and whether it is a Warning.
pub trait Reason: Copy + Send + Sync + std::fmt::Debug + 'static {
    /// The `reason` field (CamelCase, as Kubernetes components write it).
    fn as_str(self) -> &'static str;
    /// Whether the Event is a Warning (else Normal).
    fn is_warning(self) -> bool;
    /// The `action` field (what the reporter did or failed to do).
    fn action(self) -> &'static str;
}

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Regarding {
    /// Its `apiVersion` (`v1`, `metallb.io/v1beta1`, …).
    pub api_version: String,
    /// Its kind.
    pub kind: String,
    /// Its namespace (empty for cluster-scoped objects; the Event then goes to `default`).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid, when known.
    pub uid: Option<String>,
    /// Its resourceVersion when the Event was decided, when known.
    pub resource_version: Option<String>,
}

/// One Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord<R> {
    /// About what.
    pub regarding: Regarding,
    /// Why.
    pub reason: R,
    /// The message for operators (`note`).
    pub note: String,
}

impl<R: Reason> EventRecord<R> {
    /// The `events.k8s.io/v1` Event, named `<object>.<unique hex>` as client-go names them.
    pub fn to_event(&self, controller: &str, instance: &str, seq: u64, now: Timestamp) -> Event {
        let r = &self.regarding;
        let namespace = if r.namespace.is_empty() {
            "default".to_owned()
        } else {
            r.namespace.clone()
        };
        let stamp = u64::try_from(now.as_nanosecond())
            .unwrap_or_default()
            .wrapping_add(seq);
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{stamp:x}", r.name)),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(now)),
            action: Some(self.reason.action().into()),
            reason: Some(self.reason.as_str().into()),
            note: Some(truncate_note(&self.note)),
            type_: Some(
                if self.reason.is_warning() {
                    "Warning"
                } else {
                    "Normal"
                }
                .into(),
            ),
            reporting_controller: Some(controller.into()),
            reporting_instance: Some(instance.into()),
            regarding: Some(ObjectReference {
                api_version: Some(r.api_version.clone()).filter(|v| !v.is_empty()),
                kind: Some(r.kind.clone()),
                namespace: Some(r.namespace.clone()).filter(|n| !n.is_empty()),
                name: Some(r.name.clone()),
                uid: r.uid.clone().filter(|u| !u.is_empty()),
                resource_version: r.resource_version.clone().filter(|v| !v.is_empty()),
                ..ObjectReference::default()
            }),
            ..Event::default()
        }
    }
}

/// `note` cut to [`MAX_NOTE`] bytes on a character boundary, ending in ` …` when cut.
pub fn truncate_note(note: &str) -> String {
    if note.len() <= MAX_NOTE {
        return note.to_owned();
    }
    let mut cut = MAX_NOTE - " …".len();
    while !note.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{} …", &note[..cut])
}

/// The publisher's metrics. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct EventMetrics {
    /// `events_published_total`.
    pub published: Counter,
    /// `events_dropped_total`.
    pub dropped: Counter,
}

impl EventMetrics {
    /// Registers `events_published_total` and `events_dropped_total` in `registry`.
    pub fn register(registry: &mut Registry) -> EventMetrics {
        let m = EventMetrics::default();
        registry.register(
            "events_published",
            "Events written to the API server",
            m.published.clone(),
        );
        registry.register(
            "events_dropped",
            "Events not written (queue full, not leading, or the API server refused or did not answer)",
            m.dropped.clone(),
        );
        m
    }
}

/// Decides whether Events may be written right now (the controller: while it leads).
pub type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

/// Who reports the Events.
#[derive(Debug, Clone)]
pub struct Reporter {
    /// `reportingController` (`ferrolb-controller`, `ferrolb-speaker`).
    pub controller: &'static str,
    /// `reportingInstance` (the replica's identity, the node's name).
    pub instance: String,
}

/// Publishes Events from a bounded queue; dropping it stops the task.
#[derive(Debug)]
pub struct EventPublisher<R> {
    tx: mpsc::Sender<EventRecord<R>>,
    metrics: EventMetrics,
    _task: TaskHandle,
}

impl<R: Reason> EventPublisher<R> {
    /// Starts the publishing task; with a `gate`, Events are written only while it says yes.
    pub fn start(
        client: kube::Client,
        reporter: Reporter,
        gate: Option<Gate>,
        metrics: EventMetrics,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = TaskHandle::spawn(
            "events",
            publish_loop(client, reporter, gate, metrics.clone(), rx),
        );
        Self {
            tx,
            metrics,
            _task: task,
        }
    }

    /// Queues an Event without waiting; when the queue is full it is dropped (and counted).
    pub fn publish(&self, ev: EventRecord<R>) {
        if !admit(self.tx.capacity(), ev.reason.is_warning()) || self.tx.try_send(ev).is_err() {
            self.metrics.dropped.inc();
        }
    }
}

/// Whether an Event may be queued when `free` places are left: Warnings while there is room, Normal Events
/// only while more than a quarter of the queue is free.
fn admit(free: usize, warning: bool) -> bool {
    free > 0 && (warning || free >= QUEUE / 4)
}

async fn publish_loop<R: Reason>(
    client: kube::Client,
    reporter: Reporter,
    gate: Option<Gate>,
    metrics: EventMetrics,
    mut rx: mpsc::Receiver<EventRecord<R>>,
) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let open = move |gate: &Option<Gate>| gate.as_ref().is_none_or(|g| g());
    let mut in_flight = JoinSet::new();
    loop {
        if in_flight.len() >= IN_FLIGHT {
            in_flight.join_next().await;
            continue;
        }
        let ev = tokio::select! {
            ev = rx.recv() => match ev { Some(ev) => ev, None => break },
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
        };
        if !open(&gate) {
            metrics.dropped.inc();
            continue;
        }
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let event = ev.to_event(reporter.controller, &reporter.instance, seq, Timestamp::now());
        let namespace = event.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(client.clone(), &namespace);
        let (gate, metrics) = (gate.clone(), metrics.clone());
        in_flight.spawn(async move {
            // The gate again, right before the write (a leader may have lost its Lease meanwhile).
            if !open(&gate) {
                metrics.dropped.inc();
                return;
            }
            match tokio::time::timeout(WRITE_TIMEOUT, api.create(&PostParams::default(), &event)).await {
                Ok(Ok(_)) => {
                    metrics.published.inc();
                }
                Ok(Err(e)) => {
                    metrics.dropped.inc();
                    tracing::warn!(reason = ev.reason.as_str(), object = %ev.regarding.name, error = %e,
                        "could not publish an Event");
                }
                Err(_) => {
                    metrics.dropped.inc();
                    tracing::debug!(reason = ev.reason.as_str(), object = %ev.regarding.name,
                        "publishing an Event timed out");
                }
            }
        });
    }
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum R {
        Note,
        Problem,
    }

    impl Reason for R {
        fn as_str(self) -> &'static str {
            match self {
                R::Note => "IPAllocated",
                R::Problem => "InvalidConfig",
            }
        }
        fn is_warning(self) -> bool {
            matches!(self, R::Problem)
        }
        fn action(self) -> &'static str {
            "Allocate"
        }
    }

    fn record(reason: R, note: String) -> EventRecord<R> {
        EventRecord {
            regarding: Regarding {
                api_version: "v1".into(),
                kind: "Service".into(),
                namespace: "ns".into(),
                name: "web".into(),
                uid: Some("u1".into()),
                resource_version: Some("7".into()),
            },
            reason,
            note,
        }
    }

    #[test]
    fn records_become_events_v1() {
        let ev = record(R::Note, "Assigned IP [\"192.0.2.1\"]".into()).to_event(
            "ferrolb-controller",
            "ctrl-1",
            3,
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(ev.metadata.name.as_deref(), Some("web.3"));
        assert_eq!(ev.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(ev.type_.as_deref(), Some("Normal"));
        assert_eq!(ev.reason.as_deref(), Some("IPAllocated"));
        assert_eq!(ev.action.as_deref(), Some("Allocate"));
        assert_eq!(ev.reporting_controller.as_deref(), Some("ferrolb-controller"));
        assert_eq!(ev.reporting_instance.as_deref(), Some("ctrl-1"));
        assert!(
            ev.event_time.is_some(),
            "eventTime is required in events.k8s.io/v1"
        );
        let r = ev.regarding.expect("regarding");
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("Service"), Some("web"), Some("u1"))
        );
    }

    #[test]
    fn long_notes_are_cut_to_what_the_api_server_accepts() {
        let ev = record(R::Problem, "é".repeat(MAX_NOTE)).to_event("c", "i", 0, Timestamp::UNIX_EPOCH);
        let note = ev.note.expect("note");
        assert!(note.len() <= MAX_NOTE && note.ends_with(" …"), "{}", note.len());
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        assert_eq!(truncate_note("short"), "short");
    }

    #[test]
    fn cluster_scoped_objects_get_their_events_in_default() {
        let mut rec = record(R::Note, "n".into());
        rec.regarding.namespace.clear();
        rec.regarding.kind = "Node".into();
        let ev = rec.to_event("c", "i", 0, Timestamp::UNIX_EPOCH);
        assert_eq!(ev.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(ev.regarding.and_then(|r| r.namespace), None);
    }

    #[test]
    fn a_crowded_queue_keeps_room_for_warnings() {
        assert!(admit(QUEUE, false));
        assert!(admit(QUEUE / 4, false));
        assert!(!admit(QUEUE / 4 - 1, false));
        assert!(admit(1, true));
        assert!(!admit(0, true));
    }
}
