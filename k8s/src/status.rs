//! Status writes for any kind with a status subresource (Services, and ferrolb's status objects).
//!
//! Each write is a JSON merge patch of `…/NAME/status` that carries `metadata.resourceVersion`, so the API
//! server applies it only to the version the decision was made from (409 Conflict otherwise). The
//! [`StatusWriter`] bounds the writes: at most `in_flight` at once, at most `per_second` started per second
//! (no write storm when thousands of objects change at once), each within `timeout`; with a gate, nothing is
//! sent while the gate says no (the controller: while it does not lead), checked right before sending.
//!
//! The writer only carries writes out: which object needs which patch, retries and backoff are the program's
//! pure bookkeeping.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::task::JoinSet;

use crate::events::Gate;

/// How a write ended.
#[derive(Debug)]
pub enum WriteOutcome<K> {
    /// Written; the object as the API server returned it.
    Written(Box<K>),
    /// 409: the object changed since the version the patch was conditioned on.
    Conflict,
    /// 404: the object is gone.
    NotFound,
    /// Not sent: the gate said no at the moment of writing.
    NotLeader,
    /// Any other failure (the program retries with backoff).
    Failed(WriteError),
}

impl<K> WriteOutcome<K> {
    /// A stable label for a writes counter.
    pub fn metric_label(&self) -> &'static str {
        match self {
            WriteOutcome::Written(_) => "ok",
            WriteOutcome::Conflict => "conflict",
            WriteOutcome::NotFound => "not_found",
            WriteOutcome::NotLeader => "not_leader",
            WriteOutcome::Failed(_) => "error",
        }
    }
}

/// Why a write failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The API server refused it.
    #[error("{code} {reason}: {message}")]
    Api {
        /// HTTP status code.
        code: u16,
        /// Kubernetes reason (`Invalid`, `Forbidden`, …).
        reason: String,
        /// Its message.
        message: String,
    },
    /// The request could not be made or its answer not read.
    #[error("{0}")]
    Client(String),
    /// The write task ended abnormally.
    #[error("the write task ended abnormally: {0}")]
    Aborted(String),
}

/// The writer's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Writes in flight at most.
    pub in_flight: usize,
    /// Writes started per second at most (`None`: no bound).
    pub per_second: Option<usize>,
    /// How long one write may take.
    pub timeout: Duration,
}

impl Default for Limits {
    /// 32 in flight, no rate bound, 10 s each.
    fn default() -> Self {
        Self {
            in_flight: 32,
            per_second: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Carries out status writes within [`Limits`]. `I` identifies a write for its caller.
pub struct StatusWriter<I, K> {
    limits: Limits,
    gate: Option<Gate>,
    writes: JoinSet<(I, WriteOutcome<K>)>,
    ids: HashMap<tokio::task::Id, I>,
    started: VecDeque<Instant>,
}

impl<I, K> Debug for StatusWriter<I, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWriter")
            .field("limits", &self.limits)
            .field("in_flight", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl<I, K> StatusWriter<I, K>
where
    I: Clone + Send + 'static,
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    /// A writer with these bounds and, optionally, a gate.
    pub fn new(limits: Limits, gate: Option<Gate>) -> Self {
        Self {
            limits,
            gate,
            writes: JoinSet::new(),
            ids: HashMap::new(),
            started: VecDeque::new(),
        }
    }

    /// When the next write may start: `None` when one may start now (or when none may until a write in
    /// flight ends), else the instant the rate bound allows one.
    pub fn wait_until(&mut self, now: Instant) -> Option<Instant> {
        let per_second = self.limits.per_second?;
        while self
            .started
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.started.pop_front();
        }
        (self.started.len() >= per_second)
            .then(|| self.started.front().map(|t| *t + Duration::from_secs(1)))
            .flatten()
    }

    /// Whether a write may start now.
    pub fn has_room(&mut self, now: Instant) -> bool {
        self.writes.len() < self.limits.in_flight && self.wait_until(now).is_none()
    }

    /// Starts writing `patch` to the status of `name` (check [`StatusWriter::has_room`] first).
    pub fn start(&mut self, id: I, api: Api<K>, name: String, patch: serde_json::Value, now: Instant) {
        if self.limits.per_second.is_some() {
            self.started.push_back(now);
        }
        let gate = self.gate.clone();
        let timeout = self.limits.timeout;
        let task_id = id.clone();
        let handle = self.writes.spawn(async move {
            let outcome = write(api, &name, &patch, gate, timeout).await;
            (task_id, outcome)
        });
        self.ids.insert(handle.id(), id);
    }

    /// The next write that ended (waits; `None` when none is in flight). Cancel-safe.
    pub async fn next_done(&mut self) -> Option<(I, WriteOutcome<K>)> {
        loop {
            match self.writes.join_next_with_id().await? {
                Ok((task, done)) => {
                    self.ids.remove(&task);
                    return Some(done);
                }
                Err(e) => {
                    if let Some(id) = self.ids.remove(&e.id()) {
                        return Some((id, WriteOutcome::Failed(WriteError::Aborted(e.to_string()))));
                    }
                }
            }
        }
    }

    /// Writes in flight.
    pub fn in_flight(&self) -> usize {
        self.writes.len()
    }
}

async fn write<K>(
    api: Api<K>,
    name: &str,
    patch: &serde_json::Value,
    gate: Option<Gate>,
    timeout: Duration,
) -> WriteOutcome<K>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    // The fence, right before the write.
    if gate.as_ref().is_some_and(|g| !g()) {
        return WriteOutcome::NotLeader;
    }
    let (params, patch) = (PatchParams::default(), Patch::Merge(patch));
    let sent = api.patch_status(name, &params, &patch);
    match tokio::time::timeout(timeout, sent).await {
        Err(_) => WriteOutcome::Failed(WriteError::Timeout(timeout)),
        Ok(Ok(obj)) => WriteOutcome::Written(Box::new(obj)),
        Ok(Err(kube::Error::Api(s))) if s.code == 409 => WriteOutcome::Conflict,
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => WriteOutcome::NotFound,
        Ok(Err(kube::Error::Api(s))) => WriteOutcome::Failed(WriteError::Api {
            code: s.code,
            reason: s.reason.clone(),
            message: s.message.clone(),
        }),
        Ok(Err(e)) => WriteOutcome::Failed(WriteError::Client(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_bound_spaces_writes_a_second_apart() {
        let mut w: StatusWriter<u32, k8s_openapi::api::core::v1::Service> = StatusWriter::new(
            Limits {
                per_second: Some(2),
                ..Limits::default()
            },
            None,
        );
        let t0 = Instant::now();
        assert_eq!(w.wait_until(t0), None);
        w.started.push_back(t0);
        w.started.push_back(t0 + Duration::from_millis(300));
        assert_eq!(
            w.wait_until(t0 + Duration::from_millis(500)),
            Some(t0 + Duration::from_secs(1))
        );
        assert!(!w.has_room(t0 + Duration::from_millis(999)));
        assert!(w.has_room(t0 + Duration::from_secs(1)));
        let unbounded: StatusWriter<u32, k8s_openapi::api::core::v1::Service> =
            StatusWriter::new(Limits::default(), None);
        assert_eq!(unbounded.limits.per_second, None);
    }

    #[test]
    fn outcomes_have_stable_labels() {
        let labels: Vec<&str> = [
            WriteOutcome::<()>::Written(Box::new(())),
            WriteOutcome::Conflict,
            WriteOutcome::NotFound,
            WriteOutcome::NotLeader,
            WriteOutcome::Failed(WriteError::Timeout(Duration::from_secs(1))),
        ]
        .iter()
        .map(WriteOutcome::metric_label)
        .collect();
        assert_eq!(labels, ["ok", "conflict", "not_found", "not_leader", "error"]);
    }
}
