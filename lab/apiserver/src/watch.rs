//! WATCH streams: newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`)
//! read from a table's history with a cursor, so no event is lost or reordered while the history holds
//! them. A cursor older than the history gets one `ERROR` event with a 410 Status (what kube-apiserver's
//! watch cache sends), then the stream ends. Label/field selectors turn changes into ADDED/DELETED when an
//! object enters or leaves the selection, as the watch cache does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::store::{Change, EventType, Store, encode_event};

/// Turns a stored object into what the watcher asked for (external version, Table, metadata). An error (a
/// failed conversion) is sent as an `ERROR` event and ends the watch.
pub type Render = Arc<dyn Fn(&Value) -> Result<Value, ApiError> + Send + Sync>;

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Send the current state as ADDED events first (`resourceVersion` unset or `0`, or `sendInitialEvents`).
    Initial {
        /// End the initial events with a BOOKMARK annotated `k8s.io/initial-events-end` (streaming lists).
        end_bookmark: bool,
    },
    /// Send changes after this resourceVersion.
    After(u64),
}

/// A watch request.
pub struct WatchSpec {
    /// Storage table.
    pub storage: String,
    /// Selection (namespace, labels, fields) on the stored object.
    pub filter: Arc<dyn Fn(&Value) -> bool + Send + Sync>,
    /// Start point.
    pub start: Start,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// How often to send a bookmark.
    pub bookmark_interval: Duration,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `None` when the stored form is served as is (event lines are then shared between watchers).
    pub render: Option<Render>,
    /// `kind` and `apiVersion` of bookmark objects.
    pub bookmark_type: (String, String),
    /// Becomes `true` when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
}

impl std::fmt::Debug for WatchSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchSpec")
            .field("storage", &self.storage)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

struct State {
    store: Arc<Store>,
    spec: WatchSpec,
    cursor: u64,
    pending: VecDeque<Bytes>,
    changes: watch::Receiver<u64>,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
}

const BATCH: usize = 512;
/// Lines are coalesced into chunks of about this size.
const CHUNK_BYTES: usize = 64 * 1024;

enum Wake {
    Changed,
    Deadline,
    Bookmark,
    Shutdown,
}

/// Starts a watch; the stream yields event lines until timeout, shutdown, 410, or the client goes away.
pub fn watch_stream(
    store: Arc<Store>,
    spec: WatchSpec,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let changes = store
        .subscribe(&spec.storage)
        .unwrap_or_else(|| watch::channel(0).1);
    let now = Instant::now();
    let mut st = State {
        deadline: now + spec.timeout,
        next_bookmark: now + spec.bookmark_interval,
        store,
        cursor: 0,
        pending: VecDeque::new(),
        changes,
        done: false,
        spec,
    };
    st.changes.borrow_and_update();
    match st.spec.start {
        Start::After(rv) => st.cursor = rv,
        Start::Initial { end_bookmark } => {
            let objs = {
                let inner = st.store.lock();
                st.cursor = inner.rv;
                inner
                    .tables
                    .get(&st.spec.storage)
                    .map(|t| t.objects.values().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            };
            let selected: Vec<Arc<Value>> = objs.into_iter().filter(|o| (st.spec.filter)(o)).collect();
            for o in &selected {
                let line = st.line(EventType::Added, o, None);
                st.pending.push_back(line);
                if st.done {
                    break;
                }
            }
            if end_bookmark {
                let b = st.bookmark(true);
                st.pending.push_back(b);
            }
        }
    }
    futures::stream::unfold(st, |mut st| async move { st.next().await.map(|b| (Ok(b), st)) })
}

impl State {
    /// The event line; a rendering error becomes the stream's last line, an `ERROR` event.
    fn line(&mut self, kind: EventType, obj: &Arc<Value>, change: Option<&Change>) -> Bytes {
        match (&self.spec.render, change) {
            (None, Some(c)) if c.kind == kind => c.storage_line(),
            (None, _) => encode_event(kind.as_str(), obj),
            (Some(r), _) => match r(obj) {
                Ok(v) => encode_event(kind.as_str(), &v),
                Err(e) => {
                    self.done = true;
                    encode_event("ERROR", &e.status())
                }
            },
        }
    }

    fn bookmark(&self, initial_end: bool) -> Bytes {
        let (kind, api_version) = &self.spec.bookmark_type;
        let mut meta = json!({"resourceVersion": self.cursor.to_string(), "creationTimestamp": null});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        encode_event(
            "BOOKMARK",
            &json!({"kind": kind, "apiVersion": api_version, "metadata": meta}),
        )
    }

    /// Moves the cursor, queueing the lines of new changes; `false` when the cursor was compacted away.
    fn fetch(&mut self) -> bool {
        let (batch, caught_up_rv) = {
            let inner = self.store.lock();
            let Some(t) = inner.tables.get(&self.spec.storage) else {
                return true;
            };
            match t.events_after(self.cursor, BATCH) {
                None => return false,
                Some(b) => {
                    let full = b.len() == BATCH;
                    (b, (!full).then_some(inner.rv))
                }
            }
        };
        for c in &batch {
            let now_in = (self.spec.filter)(&c.object) && c.kind != EventType::Deleted;
            let was_in = c.prev.as_ref().is_some_and(|p| (self.spec.filter)(p));
            let kind = match (c.kind, was_in, now_in) {
                (EventType::Deleted, true, _) => Some(EventType::Deleted),
                (_, false, true) => Some(EventType::Added),
                (_, true, true) => Some(EventType::Modified),
                (EventType::Modified, true, false) => Some(EventType::Deleted),
                _ => None,
            };
            if let Some(k) = kind {
                let line = self.line(k, &c.object, Some(c));
                self.pending.push_back(line);
                if self.done {
                    return true;
                }
            }
            self.cursor = c.rv;
        }
        if let Some(rv) = caught_up_rv {
            self.cursor = self.cursor.max(rv);
        }
        true
    }

    /// The queued lines as one chunk (fewer, larger writes when many events are ready).
    fn drain_chunk(&mut self) -> Option<Bytes> {
        let first = self.pending.pop_front()?;
        if self.pending.is_empty() {
            return Some(first);
        }
        let mut buf = Vec::with_capacity(CHUNK_BYTES);
        buf.extend_from_slice(&first);
        while buf.len() < CHUNK_BYTES
            && let Some(b) = self.pending.pop_front()
        {
            buf.extend_from_slice(&b);
        }
        Some(Bytes::from(buf))
    }

    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.drain_chunk() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            self.changes.borrow_and_update();
            let fetched = self.fetch();
            if self.done {
                continue;
            }
            if !fetched {
                let err = ApiError::expired(format!(
                    "too old resource version: {} ({})",
                    self.cursor,
                    self.compacted()
                ));
                self.pending.push_back(encode_event("ERROR", &err.status()));
                self.done = true;
                continue;
            }
            if !self.pending.is_empty() {
                continue;
            }
            let bookmark_at = if self.spec.bookmarks {
                self.next_bookmark
            } else {
                self.deadline + Duration::from_secs(3600)
            };
            let wake = tokio::select! {
                r = self.changes.changed() => if r.is_err() { Wake::Shutdown } else { Wake::Changed },
                () = tokio::time::sleep_until(self.deadline) => Wake::Deadline,
                () = tokio::time::sleep_until(bookmark_at) => Wake::Bookmark,
                _ = self.spec.shutdown.wait_for(|s| *s) => Wake::Shutdown,
            };
            match wake {
                Wake::Changed => {}
                Wake::Deadline => {
                    if self.spec.bookmarks {
                        let b = self.bookmark(false);
                        self.pending.push_back(b);
                    }
                    self.done = true;
                }
                Wake::Bookmark => {
                    let b = self.bookmark(false);
                    self.pending.push_back(b);
                    self.next_bookmark = Instant::now() + self.spec.bookmark_interval;
                }
                Wake::Shutdown => self.done = true,
            }
        }
    }

    fn compacted(&self) -> u64 {
        self.store
            .lock()
            .tables
            .get(&self.spec.storage)
            .map_or(0, |t| t.compacted)
    }
}
