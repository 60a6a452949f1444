//! Kubernetes Events: what the controller tells operators, and the task that publishes them.
//!
//! The reconciler produces [`EventRecord`]s (pure values); [`EventPublisher`] creates them as `core/v1` Events
//! — the form `kubectl describe` shows and that has no 1 KiB limit on the message, so an invalid ConfigMap's
//! Warning can list every error. Events are best effort, as with client-go: a bounded queue (1,024; overflow
//! is counted and dropped, Normal Events first), a few requests in flight, and only while this replica leads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::task::Task;

/// The component name on every Event and log line.
pub const COMPONENT: &str = "ferrolb-controller";

/// Longest message sent (legacy Events have no limit of their own; this keeps them far below etcd's).
const MAX_MESSAGE: usize = 32 * 1024;
/// Events waiting to be published; more are dropped.
const QUEUE: usize = 1024;
/// Event creations in flight.
const IN_FLIGHT: usize = 4;

/// Why an Event was emitted: its `reason` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A Service got (new) IPs.
    IpAllocated,
    /// A Service could not get IPs, or its request is invalid.
    AllocationFailed,
    /// IPs were taken out of a Service's status.
    ClearAssignment,
    /// A Service uses MetalLB spellings of ferrolb's annotations.
    DeprecatedAnnotation,
    /// The ConfigMap is invalid; the last good config stays in force.
    InvalidConfig,
}

impl Reason {
    /// The `reason` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::IpAllocated => "IPAllocated",
            Reason::AllocationFailed => "AllocationFailed",
            Reason::ClearAssignment => "ClearAssignment",
            Reason::DeprecatedAnnotation => "DeprecatedAnnotation",
            Reason::InvalidConfig => "InvalidConfig",
        }
    }

    /// Whether it is a Warning (else Normal).
    pub fn is_warning(self) -> bool {
        !matches!(self, Reason::IpAllocated | Reason::ClearAssignment)
    }
}

/// The object an Event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Regarding {
    /// `Service` or `ConfigMap`.
    pub kind: &'static str,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid.
    pub uid: String,
    /// Its resourceVersion when the Event was decided.
    pub resource_version: String,
}

/// One Event to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    /// About what.
    pub regarding: Regarding,
    /// Why.
    pub reason: Reason,
    /// The message, for operators.
    pub message: String,
}

impl EventRecord {
    /// The `core/v1` Event, named `<object>.<unique hex>` as client-go names them.
    pub fn to_event(&self, instance: &str, seq: u64, now: Timestamp) -> Event {
        let r = &self.regarding;
        let mut message = self.message.clone();
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …");
        }
        let stamp = u64::try_from(now.as_nanosecond())
            .unwrap_or_default()
            .wrapping_add(seq);
        Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{stamp:x}", r.name)),
                namespace: Some(r.namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some(r.kind.into()),
                namespace: Some(r.namespace.clone()),
                name: Some(r.name.clone()),
                uid: Some(r.uid.clone()).filter(|u| !u.is_empty()),
                resource_version: Some(r.resource_version.clone()).filter(|v| !v.is_empty()),
                ..ObjectReference::default()
            },
            reason: Some(self.reason.as_str().into()),
            message: Some(message),
            type_: Some(
                if self.reason.is_warning() {
                    "Warning"
                } else {
                    "Normal"
                }
                .into(),
            ),
            source: Some(EventSource {
                component: Some(COMPONENT.into()),
                host: None,
            }),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            reporting_component: Some(COMPONENT.into()),
            reporting_instance: Some(instance.into()),
            ..Event::default()
        }
    }
}

/// Publishes Events from a bounded queue; dropping it stops the task.
#[derive(Debug)]
pub struct EventPublisher {
    tx: mpsc::Sender<EventRecord>,
    metrics: Arc<Metrics>,
    _task: Task,
}

impl EventPublisher {
    /// Starts the publishing task. Events are created only while `leadership` holds.
    pub fn start(
        client: kube::Client,
        instance: String,
        leadership: Leadership,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = Task::spawn(publish_loop(client, instance, leadership, metrics.clone(), rx));
        Self {
            tx,
            metrics,
            _task: task,
        }
    }

    /// Queues an Event; when the queue is full it is dropped (and counted). The last quarter of the queue is
    /// kept for Warnings: in a burst (thousands of Services served at once) the `IPAllocated` notes go first.
    pub fn publish(&self, ev: EventRecord) {
        if !admit(self.tx.capacity(), ev.reason) || self.tx.try_send(ev).is_err() {
            self.metrics.events_dropped.inc();
        }
    }
}

/// Whether an Event with `reason` may be queued when `free` places are left: Warnings while there is room,
/// Normal Events only while more than a quarter of the queue is free.
fn admit(free: usize, reason: Reason) -> bool {
    free > 0 && (reason.is_warning() || free >= QUEUE / 4)
}

async fn publish_loop(
    client: kube::Client,
    instance: String,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<EventRecord>,
) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
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
        if !leadership.is_leader() {
            metrics.events_dropped.inc();
            continue;
        }
        let event = ev.to_event(&instance, SEQ.fetch_add(1, Ordering::Relaxed), Timestamp::now());
        let api: Api<Event> = Api::namespaced(client.clone(), &ev.regarding.namespace);
        let leadership = leadership.clone();
        let metrics = metrics.clone();
        in_flight.spawn(async move {
            // The fence, right before the write.
            if !leadership.is_leader() {
                metrics.events_dropped.inc();
                return;
            }
            match api.create(&PostParams::default(), &event).await {
                Ok(_) => {
                    metrics.events_published.inc();
                }
                Err(e) => {
                    metrics.events_dropped.inc();
                    tracing::warn!(reason = ev.reason.as_str(), object = %ev.regarding.name, error = %e,
                        "could not publish an event");
                }
            };
        });
    }
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_legacy_events() {
        let rec = EventRecord {
            regarding: Regarding {
                kind: "Service",
                namespace: "ns".into(),
                name: "web".into(),
                uid: "u1".into(),
                resource_version: "7".into(),
            },
            reason: Reason::IpAllocated,
            message: "Assigned IP [\"192.0.2.1\"] from pool \"default\"".into(),
        };
        let ev = rec.to_event("ctrl-1", 3, Timestamp::UNIX_EPOCH);
        assert_eq!(ev.metadata.name.as_deref(), Some("web.3"));
        assert_eq!(ev.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(ev.type_.as_deref(), Some("Normal"));
        assert_eq!(ev.reason.as_deref(), Some("IPAllocated"));
        assert_eq!(ev.involved_object.kind.as_deref(), Some("Service"));
        assert_eq!(ev.involved_object.uid.as_deref(), Some("u1"));
        assert!(ev.event_time.is_none(), "legacy form: no eventTime");
        let warn = EventRecord {
            reason: Reason::InvalidConfig,
            message: "x".repeat(MAX_MESSAGE + 10),
            ..rec
        };
        let ev = warn.to_event("ctrl-1", 4, Timestamp::UNIX_EPOCH);
        assert_eq!(ev.type_.as_deref(), Some("Warning"));
        assert!(ev.message.as_deref().is_some_and(|m| m.len() <= MAX_MESSAGE + 4));
    }

    #[test]
    fn a_crowded_queue_keeps_room_for_warnings() {
        assert!(admit(QUEUE, Reason::IpAllocated));
        assert!(admit(QUEUE / 4, Reason::IpAllocated));
        assert!(!admit(QUEUE / 4 - 1, Reason::IpAllocated));
        assert!(admit(1, Reason::AllocationFailed));
        assert!(!admit(0, Reason::AllocationFailed));
    }

    #[test]
    fn warning_reasons() {
        let all = [
            Reason::IpAllocated,
            Reason::AllocationFailed,
            Reason::ClearAssignment,
            Reason::DeprecatedAnnotation,
            Reason::InvalidConfig,
        ];
        let warnings: Vec<&str> = all
            .iter()
            .filter(|r| r.is_warning())
            .map(|r| r.as_str())
            .collect();
        assert_eq!(
            warnings,
            ["AllocationFailed", "DeprecatedAnnotation", "InvalidConfig"]
        );
    }
}
