//! The audit log: one entry per API request with the authenticated user and what was done, kept in memory
//! and optionally appended to a JSONL file. Issue 11 checks these entries against the RBAC Roles.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Sequence number (0-based, in order of completion).
    pub seq: u64,
    /// RFC 3339 time with microseconds.
    pub time: String,
    /// Authenticated user name (`system:anonymous` without a token).
    pub user: String,
    /// Kubernetes verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`),
    /// or the lower-case HTTP method for non-resource requests.
    pub verb: String,
    /// Whether the request addressed a resource (false for discovery, `/version`, `/openapi`).
    pub resource_request: bool,
    /// API group (`""` for core).
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource (`status`) or `""`.
    pub subresource: String,
    /// Namespace or `""`.
    pub namespace: String,
    /// Object name or `""`.
    pub name: String,
    /// URL path (and query) of the request.
    pub uri: String,
    /// HTTP response code.
    pub code: u16,
}

impl AuditEntry {
    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn rbac_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<AuditEntry>,
    next_seq: u64,
    file: Option<BufWriter<File>>,
}

/// The shared audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    inner: Arc<Mutex<Inner>>,
}

impl AuditLog {
    /// Also appends every entry as one JSON line to `path` (created or truncated).
    pub fn with_file(path: &Path) -> std::io::Result<Self> {
        let f = File::create(path)?;
        let log = AuditLog::default();
        log.lock().file = Some(BufWriter::new(f));
        Ok(log)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an entry (its `seq` is assigned here).
    pub fn record(&self, mut e: AuditEntry) {
        let mut inner = self.lock();
        e.seq = inner.next_seq;
        inner.next_seq += 1;
        if let Some(f) = inner.file.as_mut() {
            // The file is a convenience copy: a full disk must not fail the API request.
            if let Ok(line) = serde_json::to_string(&e) {
                let _ = writeln!(f, "{line}").and_then(|()| f.flush());
            }
        }
        inner.entries.push(e);
    }

    /// A copy of every entry so far.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.lock().entries.clone()
    }

    /// The number of entries matching `pred`.
    pub fn count(&self, pred: impl Fn(&AuditEntry) -> bool) -> usize {
        self.lock().entries.iter().filter(|e| pred(e)).count()
    }

    /// Number of resource requests with this verb on `resource[/subresource]`.
    pub fn count_verb(&self, verb: &str, rbac_resource: &str) -> usize {
        self.count(|e| e.resource_request && e.verb == verb && e.rbac_resource() == rbac_resource)
    }

    /// Removes and returns every entry so far.
    pub fn take(&self) -> Vec<AuditEntry> {
        std::mem::take(&mut self.lock().entries)
    }
}
