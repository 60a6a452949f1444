//! Events on Services: "announcing from node X interface Y with protocol layer2" when this node takes an IP.

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
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

/// Starts the Event writer for this node.
pub fn spawn(client: Client, node: &str, metrics: Metrics) -> (EventSink, TaskHandle) {
    let (tx, mut rx) = mpsc::channel::<ServiceEvent>(QUEUE);
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "ferrolb-speaker".into(),
            instance: Some(node.to_owned()),
        },
    );
    let m = metrics.clone();
    let task = TaskHandle::spawn("events", async move {
        while let Some(ev) = rx.recv().await {
            let reference = ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Service".into()),
                namespace: Some(ev.service.namespace.clone()),
                name: Some(ev.service.name.clone()),
                uid: ev.uid.clone(),
                ..ObjectReference::default()
            };
            let event = Event {
                type_: EventType::Normal,
                reason: ev.reason.into(),
                note: Some(ev.note.clone()),
                action: "Announce".into(),
                secondary: None,
            };
            match tokio::time::timeout(WRITE_TIMEOUT, recorder.publish(&event, &reference)).await {
                Ok(Ok(())) => {}
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
