//! The object store: one increasing resourceVersion across all resources (etcd's revision), a table of
//! objects per storage resource, and per-table event history for watches and consistent paginated lists.
//!
//! Invariants:
//! - every committed write gets the next resourceVersion and exactly one history event in its table;
//! - a table's history holds every event with `rv > compacted` in order (older ones were compacted away:
//!   a watch or paginated list from before `compacted` gets 410);
//! - all access goes through one mutex, never held across an `.await`.

pub(crate) mod list;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::watch;

pub use list::{ListOptions, ListPage, RvMatch};

use crate::defaults::service::Allocator;

/// `(namespace, name)`; namespace is `""` for cluster-scoped objects.
pub type ObjKey = (String, String);

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `ADDED`.
    Added,
    /// `MODIFIED`.
    Modified,
    /// `DELETED`.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One committed change.
#[derive(Debug)]
pub struct Change {
    /// Added, modified or deleted.
    pub kind: EventType,
    /// The resourceVersion of the change.
    pub rv: u64,
    /// The object after the change (for deletions: the last state, carrying the deletion's resourceVersion).
    pub object: Arc<Value>,
    /// The object before the change (modifications and deletions).
    pub prev: Option<Arc<Value>>,
    line: OnceLock<Bytes>,
    at: std::time::Instant,
}

impl Change {
    /// The `{"type":…,"object":…}\n` line for watchers that want the storage form, serialised once.
    pub fn storage_line(&self) -> Bytes {
        self.line
            .get_or_init(|| encode_event(self.kind.as_str(), &self.object))
            .clone()
    }
}

/// Serialises one watch event line.
pub fn encode_event(kind: &str, object: &Value) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(b"{\"type\":\"");
    buf.extend_from_slice(kind.as_bytes());
    buf.extend_from_slice(b"\",\"object\":");
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut buf, object);
    buf.extend_from_slice(b"}\n");
    Bytes::from(buf)
}

#[derive(Debug)]
pub(crate) struct Table {
    pub(crate) objects: BTreeMap<ObjKey, Arc<Value>>,
    pub(crate) history: VecDeque<Arc<Change>>,
    /// Events with `rv <= compacted` may be gone.
    pub(crate) compacted: u64,
    notify: watch::Sender<u64>,
}

impl Table {
    fn new() -> Self {
        Table {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            notify: watch::channel(0).0,
        }
    }

    /// The events with `rv > after`, at most `max`, or `None` when some were compacted away.
    pub(crate) fn events_after(&self, after: u64, max: usize) -> Option<Vec<Arc<Change>>> {
        if after < self.compacted {
            return None;
        }
        let start = self.history.partition_point(|c| c.rv <= after);
        Some(self.history.range(start..).take(max).cloned().collect())
    }
}

/// Counters of committed writes.
#[derive(Debug, Default, Clone)]
pub struct WriteStats {
    /// Committed changes per storage table and event type.
    pub changes: HashMap<(String, EventType), u64>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) rv: u64,
    pub(crate) tables: HashMap<String, Table>,
    pub(crate) alloc: Allocator,
    history: History,
    stats: WriteStats,
}

/// How much watch history each table keeps (older events are compacted away: 410).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// At most this many events per table.
    pub max_events: usize,
    /// Events older than this are dropped (etcd compacts every 5 minutes).
    pub window: std::time::Duration,
}

impl Default for History {
    fn default() -> Self {
        History {
            max_events: 200_000,
            window: std::time::Duration::from_secs(300),
        }
    }
}

/// The shared store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    /// An empty store with tables for `storages`, keeping `history` per table.
    ///
    /// resourceVersions start from the current time in milliseconds and everything before is compacted:
    /// a client that kept a resourceVersion from an earlier run of the server gets 410 and re-lists
    /// instead of waiting for versions the new store will not produce in order.
    pub fn new(storages: impl IntoIterator<Item = String>, alloc: Allocator, history: History) -> Self {
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_millis() as u64);
        Self::starting_at(storages, alloc, history, start)
    }

    /// Like [`Store::new`] with a chosen first resourceVersion.
    pub fn starting_at(
        storages: impl IntoIterator<Item = String>,
        alloc: Allocator,
        history: History,
        start: u64,
    ) -> Self {
        let tables = storages
            .into_iter()
            .map(|s| {
                let mut t = Table::new();
                t.compacted = start;
                (s, t)
            })
            .collect();
        let inner = Inner {
            rv: start,
            tables,
            alloc,
            history: History {
                max_events: history.max_events.max(1),
                ..history
            },
            stats: WriteStats::default(),
        };
        Store {
            inner: Mutex::new(inner),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug in this crate; the data stays usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current resourceVersion (that of the last committed write).
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    /// One object in its storage form.
    pub fn get(&self, storage: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .tables
            .get(storage)?
            .objects
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every object of a table (optionally of one namespace), in key order.
    pub fn objects(&self, storage: &str, namespace: Option<&str>) -> Vec<Arc<Value>> {
        let inner = self.lock();
        let Some(t) = inner.tables.get(storage) else {
            return Vec::new();
        };
        t.objects
            .iter()
            .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Forgets all history up to now, as etcd compaction does: a watch or continue token from an older
    /// resourceVersion then gets 410 Gone / Expired.
    pub fn compact(&self) {
        let mut inner = self.lock();
        let rv = inner.rv;
        for t in inner.tables.values_mut() {
            t.history.clear();
            t.compacted = rv;
        }
    }

    /// Counters of committed writes since start.
    pub fn write_stats(&self) -> WriteStats {
        self.lock().stats.clone()
    }

    /// A receiver woken with the resourceVersion of each change to `storage`.
    pub fn subscribe(&self, storage: &str) -> Option<watch::Receiver<u64>> {
        self.lock().tables.get(storage).map(|t| t.notify.subscribe())
    }

    /// Creates table `storage` if it does not exist; its history starts now (a watch from an older
    /// resourceVersion gets 410).
    pub fn ensure_table(&self, storage: &str) {
        let mut inner = self.lock();
        let rv = inner.rv;
        inner.tables.entry(storage.to_owned()).or_insert_with(|| {
            let mut t = Table::new();
            t.compacted = rv;
            t
        });
    }

    /// Removes table `storage` and its objects (no events: its watches end, as kube-apiserver ends the
    /// watches of a custom resource whose definition is gone).
    pub fn drop_table(&self, storage: &str) {
        self.lock().tables.remove(storage);
    }

    /// Runs `f` as one transaction under the store lock.
    pub fn write<T>(&self, f: impl FnOnce(&mut Txn<'_>) -> T) -> T {
        let mut inner = self.lock();
        let mut txn = Txn {
            inner: &mut inner,
            touched: Vec::new(),
        };
        let out = f(&mut txn);
        let touched = std::mem::take(&mut txn.touched);
        let rv = inner.rv;
        for s in touched {
            if let Some(t) = inner.tables.get(&s) {
                t.notify.send_replace(rv);
            }
        }
        out
    }
}

/// Writes inside one store transaction.
#[derive(Debug)]
pub struct Txn<'a> {
    inner: &'a mut Inner,
    touched: Vec<String>,
}

impl Txn<'_> {
    /// One object in its storage form.
    pub fn get(&self, storage: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.inner
            .tables
            .get(storage)?
            .objects
            .get(&(namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The keys of a table's objects in one namespace (all when `None`).
    pub fn keys(&self, storage: &str, namespace: Option<&str>) -> Vec<ObjKey> {
        let Some(t) = self.inner.tables.get(storage) else {
            return Vec::new();
        };
        t.objects
            .keys()
            .filter(|(ns, _)| namespace.is_none_or(|n| n == ns))
            .cloned()
            .collect()
    }

    /// The allocator of Service cluster IPs and node ports.
    pub fn alloc(&mut self) -> &mut Allocator {
        &mut self.inner.alloc
    }

    /// The configured Service IP families, primary first.
    pub fn alloc_families(&self) -> Vec<crate::defaults::service::Family> {
        self.inner.alloc.families()
    }

    /// The resourceVersion the next write gets.
    pub fn next_rv(&self) -> u64 {
        self.inner.rv + 1
    }

    /// Stores `obj` (creating or replacing) with the next resourceVersion, recording the event.
    pub fn put(&mut self, storage: &str, namespace: &str, name: &str, mut obj: Value) -> Arc<Value> {
        let rv = self.inner.rv + 1;
        self.inner.rv = rv;
        set_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        let key = (namespace.to_owned(), name.to_owned());
        let table = self
            .inner
            .tables
            .entry(storage.to_owned())
            .or_insert_with(Table::new);
        let prev = table.objects.insert(key, obj.clone());
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(
            storage,
            Change {
                kind,
                rv,
                object: obj.clone(),
                prev,
                line: OnceLock::new(),
                at: std::time::Instant::now(),
            },
        );
        obj
    }

    /// Removes an object, recording a DELETED event whose object carries the deletion's resourceVersion.
    pub fn remove(&mut self, storage: &str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let table = self.inner.tables.get_mut(storage)?;
        let prev = table.objects.remove(&(namespace.to_owned(), name.to_owned()))?;
        let rv = self.inner.rv + 1;
        self.inner.rv = rv;
        let mut last = (*prev).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        self.record(
            storage,
            Change {
                kind: EventType::Deleted,
                rv,
                object: last.clone(),
                prev: Some(prev),
                line: OnceLock::new(),
                at: std::time::Instant::now(),
            },
        );
        Some(last)
    }

    fn record(&mut self, storage: &str, change: Change) {
        let History { max_events, window } = self.inner.history;
        *self
            .inner
            .stats
            .changes
            .entry((storage.to_owned(), change.kind))
            .or_default() += 1;
        if let Some(t) = self.inner.tables.get_mut(storage) {
            let now = change.at;
            t.history.push_back(Arc::new(change));
            while t.history.len() > max_events
                || t.history
                    .front()
                    .is_some_and(|c| now.duration_since(c.at) > window)
            {
                if let Some(old) = t.history.pop_front() {
                    t.compacted = old.rv;
                }
            }
        }
        if !self.touched.iter().any(|s| s == storage) {
            self.touched.push(storage.to_owned());
        }
    }
}

fn set_rv(obj: &mut Value, rv: u64) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".to_owned(), Value::String(rv.to_string()));
    }
}

#[cfg(test)]
mod tests;
