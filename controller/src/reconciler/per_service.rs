//! Reconciling one Service: allocation, quarantine of IPs taken away, the Events that explain it, and whether
//! its status needs a write. See the parent module for the whole picture.

use std::net::IpAddr;

use super::Reconciler;
use crate::allocator::{Assignment, IpFamily, Revocation, ServiceKey, ServiceRequest};
use crate::events::{EventRecord, Reason, regarding};
use crate::metrics::{DurationGuard, PoolLabel, ReasonLabel};
use crate::service::{ServiceView, ferrolb_spelling};
use crate::status::{StatusPatch, Target, desired_status};

impl Reconciler {
    /// Holds `ips` (those the status still shows) for `key` until its status no longer shows them. IPs that are
    /// in no pool are remembered only when `ours` (ferrolb handed them out), so that they are cleaned too.
    pub(super) fn quarantine(&mut self, key: &ServiceKey, ips: &[IpAddr], status_ips: &[IpAddr], ours: bool) {
        for &ip in ips.iter().filter(|ip| status_ips.contains(ip)) {
            if !ours && self.alloc.pool_of(ip).is_none() {
                continue;
            }
            let held = self.quarantine.entry(key.clone()).or_default();
            if held.contains(&ip) {
                continue;
            }
            held.push(ip);
            let placeholder = ServiceRequest {
                key: placeholder_key(key, ip),
                families: vec![IpFamily::of(&ip)],
                ..ServiceRequest::new("", "")
            };
            // Refused when the IP left every pool or others still hold it: then nobody can be given it anyway.
            let _ = self.alloc.restore(&placeholder, &[ip]);
            self.pools_dirty = true;
        }
    }

    /// Frees the quarantined IPs of `key` that its status (`status_ips`) no longer shows.
    pub(super) fn release_quarantine(&mut self, key: &ServiceKey, status_ips: &[IpAddr]) {
        let Some(mut held) = self.quarantine.remove(key) else {
            return;
        };
        held.retain(|ip| {
            if status_ips.contains(ip) {
                return true;
            }
            if self.alloc.unassign(&placeholder_key(key, *ip)).is_some() {
                self.retry_pending = true;
                self.pools_dirty = true;
            }
            false
        });
        if !held.is_empty() {
            self.quarantine.insert(key.clone(), held);
        }
    }

    pub(super) fn reconcile(&mut self, key: &ServiceKey) {
        if !self.serving() {
            return;
        }
        let metrics = self.metrics.clone();
        let _timer = DurationGuard::new(&metrics.reconcile_duration);
        let Some(view) = self.index.get(key).cloned() else {
            self.forget(key);
            return;
        };
        let status_ips = view.ingress_ips();
        self.release_quarantine(key, &status_ips);
        if let Some(n) = self.notes.get_mut(key) {
            n.cleared.retain(|ip| status_ips.contains(ip));
        }
        if !view.qualifies(self.index.class()) {
            if let Some(a) = self.alloc.unassign(key) {
                let why = match &view.class {
                    _ if !view.load_balancer => "the Service is no longer of type LoadBalancer".to_owned(),
                    Some(c) => format!("its loadBalancerClass is now {c:?}"),
                    None => "its loadBalancerClass no longer matches".to_owned(),
                };
                let ips = a
                    .ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                tracing::info!(service = %key, ips, "released: {why}");
                self.events.push(EventRecord {
                    regarding: regarding(&view),
                    reason: Reason::ClearAssignment,
                    note: format!("Released {ips}: {why}"),
                });
                self.quarantine(key, &a.ips, &status_ips, true);
                self.retry_pending = true;
                self.pools_dirty = true;
            }
            self.pending.remove(key);
            self.request_write(key);
            return;
        }
        self.warn_deprecated(&view);
        if self.alloc.assignment(key).is_none() {
            // Qualifying again: IPs quarantined for this very Service are its own claims.
            self.release_quarantine(key, &[]);
            self.restore_claims(&view, &status_ips);
        }
        let before = self.alloc.assignment(key).cloned();
        let result = match view.request() {
            Err(problem) => Err((problem.metric_label(), problem.to_string())),
            Ok(mut req) => {
                req.access = self.access_for(&view);
                self.alloc
                    .assign(&req)
                    .map_err(|e| (e.metric_label(), e.to_string()))
            }
        };
        match result {
            Ok(a) => {
                self.pending.remove(key);
                if let Some(n) = self.notes.get_mut(key) {
                    n.failure = None;
                }
                if before.as_ref() != Some(&a) {
                    if let Some(b) = &before {
                        let dropped: Vec<IpAddr> =
                            b.ips.iter().copied().filter(|ip| !a.ips.contains(ip)).collect();
                        self.quarantine(key, &dropped, &status_ips, true);
                    }
                    self.allocated(&view, &a, before.as_ref());
                }
            }
            Err((label, message)) => {
                if self.alloc.assignment(key).is_none() {
                    self.pending.insert(key.clone());
                }
                self.failed(&view, label, message);
            }
        }
        self.request_write(key);
    }

    /// The allocator does not know the Service but its status shows IPs: claim them (as at start-up), unless
    /// they were already cleared.
    fn restore_claims(&mut self, view: &ServiceView, status_ips: &[IpAddr]) {
        let cleared = self
            .notes
            .get(&view.key)
            .map(|n| n.cleared.as_slice())
            .unwrap_or_default();
        let claims: Vec<IpAddr> = status_ips
            .iter()
            .copied()
            .filter(|ip| !cleared.contains(ip))
            .collect();
        if claims.is_empty() {
            return;
        }
        let req = view.request().unwrap_or_else(|_| view.restore_request());
        self.pools_dirty = true;
        if let Some(r) = self.alloc.restore(&req, &claims) {
            self.cleared(r);
        }
    }

    fn allocated(&mut self, view: &ServiceView, a: &Assignment, before: Option<&Assignment>) {
        self.pools_dirty = true;
        if before.is_some() {
            // The old IPs may be free now.
            self.retry_pending = true;
        }
        self.metrics
            .allocations
            .get_or_create(&PoolLabel { pool: a.pool.clone() })
            .inc();
        let ips = a
            .ips
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        tracing::info!(service = %view.key, ips, pool = %a.pool, "assigned");
        self.events.push(EventRecord {
            regarding: regarding(view),
            reason: Reason::IpAllocated,
            note: format!("Assigned IP {ips} from pool {:?}", a.pool),
        });
    }

    fn failed(&mut self, view: &ServiceView, label: &'static str, message: String) {
        let message = match self.alloc.assignment(&view.key) {
            Some(a) => format!(
                "{message}; keeping {} from pool {:?}",
                a.ips
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                a.pool
            ),
            None => message,
        };
        let notes = self.notes.entry(view.key.clone()).or_default();
        if notes.failure.as_ref() == Some(&message) {
            return;
        }
        notes.failure = Some(message.clone());
        self.metrics
            .allocation_failures
            .get_or_create(&ReasonLabel { reason: label })
            .inc();
        tracing::warn!(service = %view.key, reason = label, "{message}");
        self.events.push(EventRecord {
            regarding: regarding(view),
            reason: Reason::AllocationFailed,
            note: format!("Failed to allocate IP: {message}"),
        });
    }

    fn warn_deprecated(&mut self, view: &ServiceView) {
        let warned = self
            .notes
            .get(&view.key)
            .map(|n| n.deprecated.as_slice())
            .unwrap_or_default();
        if view.deprecated_keys.is_empty() || warned == view.deprecated_keys {
            return;
        }
        self.notes.entry(view.key.clone()).or_default().deprecated = view.deprecated_keys.clone();
        let keys = view
            .deprecated_keys
            .iter()
            .map(|k| format!("{k} (use {})", ferrolb_spelling(k)))
            .collect::<Vec<_>>()
            .join(", ");
        self.events.push(EventRecord {
            regarding: regarding(view),
            reason: Reason::DeprecatedAnnotation,
            note: format!("MetalLB annotation keys are honoured but deprecated: {keys}"),
        });
    }

    /// Reports IPs taken from a Service (conflict at restore, pool shrunk or removed).
    pub(super) fn cleared(&mut self, r: Revocation) {
        self.pools_dirty = true;
        let Some(view) = self.index.get(&r.key).cloned() else {
            return;
        };
        let status_ips = view.ingress_ips();
        let revoked: Vec<IpAddr> = r.revoked.iter().map(|x| x.ip).collect();
        self.quarantine(&r.key, &revoked, &status_ips, true);
        let notes = self.notes.entry(r.key.clone()).or_default();
        let mut parts = Vec::new();
        for rev in &r.revoked {
            if !notes.cleared.contains(&rev.ip) {
                notes.cleared.push(rev.ip);
            }
            parts.push(format!("{} ({})", rev.ip, rev.reason));
            self.metrics
                .allocation_failures
                .get_or_create(&ReasonLabel {
                    reason: rev.reason.metric_label(),
                })
                .inc();
        }
        let message = format!("Cleared {}", parts.join("; "));
        tracing::warn!(service = %r.key, "{message}");
        self.events.push(EventRecord {
            regarding: regarding(&view),
            reason: Reason::ClearAssignment,
            note: message,
        });
    }

    /// Queues a status write for `key` if its status differs from what it should be.
    pub(super) fn request_write(&mut self, key: &ServiceKey) {
        if !self.serving() || self.writes.in_flight(key) {
            return;
        }
        if let Some(patch) = self.patch_for(key)
            && !self.writes.is_stale(key, &patch.resource_version)
        {
            self.writes.request(key);
        }
    }

    pub(super) fn patch_for(&self, key: &ServiceKey) -> Option<StatusPatch> {
        let view = self.index.get(key)?;
        if view.qualifies(self.index.class()) {
            return desired_status(view, Target::Owned(self.alloc.assignment(key)));
        }
        // Only what this controller handed out is cleaned: a Service of another class may carry the
        // annotation written by another ferrolb instance (with its own pools).
        let held = self.quarantine.get(key);
        if held.is_none()
            && !view
                .ingress_ips()
                .iter()
                .any(|ip| self.alloc.pool_of(*ip).is_some())
        {
            return None;
        }
        let was_ours = |ip: IpAddr| self.alloc.pool_of(ip).is_some() || held.is_some_and(|h| h.contains(&ip));
        desired_status(view, Target::Released { was_ours: &was_ours })
    }
}

/// The allocator key of the placeholder holding a quarantined IP: an empty namespace, which no Service has.
fn placeholder_key(key: &ServiceKey, ip: IpAddr) -> ServiceKey {
    ServiceKey::new("", format!("{key}/{ip}"))
}

pub(super) fn is_placeholder(key: &ServiceKey) -> bool {
    key.namespace.is_empty()
}
