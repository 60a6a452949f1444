//! Events on Services: "announcing from node X interface Y with protocol layer2" when this node takes an IP.

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::model::ServiceKey;
use crate::task::TaskHandle;

/// Events waiting to be written; beyond this they are dropped (and counted).
const QUEUE: usize = 512;
/// How long one Event write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The reason of the Event a speaker writes when it starts announcing a Service's IP.
pub const REASON_NODE_ASSIGNED: &str = "nodeAssigned";

/// One Event to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEvent {
    /// The Service.
    pub service: ServiceKey,
    /// Its `metadata.uid`.
    pub uid: Option<String>,
    /// `reason`.
    pub reason: &'static str,
    /// `note` (the message).
    pub note: String,
}

/// The owner loop's handle: queues Events without waiting.
#[derive(Debug, Clone)]
pub struct EventSink {
    tx: mpsc::Sender<ServiceEvent>,
    metrics: Metrics,
}

impl EventSink {
    /// Queues `ev`; drops it (and counts it) when the queue is full.
    pub fn send(&self, ev: ServiceEvent) {
        if self.tx.try_send(ev).is_err() {
            self.metrics.events_dropped.inc();
        }
    }
}

/// The `reportingController` of the speaker's Events.
pub const REPORTING_CONTROLLER: &str = "ferrolb-speaker";

/// The `events.k8s.io/v1` Event for `ev`, reported by `node` at `now` (pure).
///
/// Each takeover is its own Event (no series): they are rare, and keeping none in memory keeps the speaker's
/// footprint flat however many Services it announces.
pub fn k8s_event(ev: &ServiceEvent, node: &str, now: Timestamp) -> Event {
    Event {
        metadata: ObjectMeta {
            namespace: Some(ev.service.namespace.clone()),
            name: Some(format!("{}.{:x}", ev.service.name, now.as_nanosecond())),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(now)),
        action: Some("Announce".into()),
        reason: Some(ev.reason.into()),
        note: Some(ev.note.clone()),
        type_: Some("Normal".into()),
        reporting_controller: Some(REPORTING_CONTROLLER.into()),
        reporting_instance: Some(node.to_owned()),
        regarding: Some(ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            namespace: Some(ev.service.namespace.clone()),
            name: Some(ev.service.name.clone()),
            uid: ev.uid.clone(),
            ..ObjectReference::default()
        }),
        ..Event::default()
    }
}

/// Starts the Event writer for this node.
pub fn spawn(client: Client, node: &str, metrics: Metrics) -> (EventSink, TaskHandle) {
    let (tx, mut rx) = mpsc::channel::<ServiceEvent>(QUEUE);
    let node = node.to_owned();
    let m = metrics.clone();
    let task = TaskHandle::spawn("events", async move {
        while let Some(ev) = rx.recv().await {
            let api: Api<Event> = Api::namespaced(client.clone(), &ev.service.namespace);
            let event = k8s_event(&ev, &node, Timestamp::now());
            match tokio::time::timeout(WRITE_TIMEOUT, api.create(&PostParams::default(), &event)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    m.events_dropped.inc();
                    tracing::debug!(service = %ev.service, error = %e, "writing an Event");
                }
                Err(_) => {
                    m.events_dropped.inc();
                    tracing::debug!(service = %ev.service, "writing an Event timed out");
                }
            }
        }
    });
    (EventSink { tx, metrics }, task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_the_service_and_the_reporter() {
        let ev = ServiceEvent {
            service: ServiceKey::new("apps", "web"),
            uid: Some("u-1".into()),
            reason: REASON_NODE_ASSIGNED,
            note: "announcing 192.0.2.100 from node n1 interface eth0 with protocol layer2".into(),
        };
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let e = k8s_event(&ev, "n1", now);
        assert_eq!(e.metadata.namespace.as_deref(), Some("apps"));
        assert!(e.metadata.name.as_deref().unwrap().starts_with("web."));
        let r = e.regarding.unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("Service"), Some("web"), Some("u-1"))
        );
        assert_eq!(e.reporting_instance.as_deref(), Some("n1"));
        assert_eq!(e.reason.as_deref(), Some("nodeAssigned"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
    }
}
