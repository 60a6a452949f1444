//! The controller's Prometheus metrics (prometheus-client), all prefixed `ferrolb_controller_`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `pool_addresses` | gauge | `pool`, `family` — usable addresses |
//! | `pool_addresses_in_use` | gauge | `pool`, `family` |
//! | `pool_addresses_available` | gauge | `pool`, `family` |
//! | `allocations_total` | counter | `pool` — Services given (new) IPs |
//! | `allocation_failures_total` | counter | `reason` — the allocator's `metric_label()` or `invalid_annotation` |
//! | `config_loaded` | gauge | 1 once a valid config is in force |
//! | `config_stale` | gauge | 1 while the ConfigMap is invalid or gone (the last good config is in force) |
//! | `leader` | gauge | 1 while this replica leads |
//! | `reconcile_duration_seconds` | histogram | time to reconcile one Service (allocation, no I/O) |
//! | `status_writes_total` | counter | `result`: `ok`, `conflict`, `not_found`, `not_leader`, `error` |
//! | `events_published_total`, `events_dropped_total` | counter | (the shared Event publisher's) |
//! | `k8s_watch_errors_total` | counter | `resource` (the shared watches') |
//!
//! The pool gauges are set by the leader (a standby has no allocator and exports none).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::allocator::{FamilyStats, IpFamily, PoolStats};

/// `pool` and `family` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolFamily {
    /// Pool name.
    pub pool: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
}

/// A `pool` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabel {
    /// Pool name.
    pub pool: String,
}

/// A `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The reason.
    pub reason: &'static str,
}

/// A `result` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// The result.
    pub result: &'static str,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// Every metric of the controller.
#[derive(Debug)]
pub struct Metrics {
    /// Usable addresses per pool and family.
    pub pool_addresses: Family<PoolFamily, F64Gauge>,
    /// Addresses in use per pool and family.
    pub pool_addresses_in_use: Family<PoolFamily, F64Gauge>,
    /// Addresses available per pool and family.
    pub pool_addresses_available: Family<PoolFamily, F64Gauge>,
    /// Services given (new) IPs, by pool.
    pub allocations: Family<PoolLabel, Counter>,
    /// Allocation failures by reason.
    pub allocation_failures: Family<ReasonLabel, Counter>,
    /// Services waiting for an address (their allocation failed; retried when addresses free up).
    pub services_pending: Gauge,
    /// 1 once a valid config is in force.
    pub config_loaded: Gauge,
    /// 1 while the ConfigMap is invalid or gone.
    pub config_stale: Gauge,
    /// 1 while this replica leads.
    pub leader: Gauge,
    /// Reconcile durations.
    pub reconcile_duration: Histogram,
    /// Status writes by result.
    pub status_writes: Family<ResultLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            pool_addresses: Family::default(),
            pool_addresses_in_use: Family::default(),
            pool_addresses_available: Family::default(),
            allocations: Family::default(),
            allocation_failures: Family::default(),
            services_pending: Gauge::default(),
            config_loaded: Gauge::default(),
            config_stale: Gauge::default(),
            leader: Gauge::default(),
            // 1 µs … ~4 s.
            reconcile_duration: Histogram::new(exponential_buckets(1e-6, 4.0, 12)),
            status_writes: Family::default(),
        }
    }
}

impl Metrics {
    /// Creates the metrics and registers them under `ferrolb_controller_` in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        let r = registry.sub_registry_with_prefix("ferrolb_controller");
        r.register(
            "pool_addresses",
            "Usable addresses per pool and family",
            m.pool_addresses.clone(),
        );
        r.register(
            "pool_addresses_in_use",
            "Addresses held by at least one Service, per pool and family",
            m.pool_addresses_in_use.clone(),
        );
        r.register(
            "pool_addresses_available",
            "Usable addresses held by no Service, per pool and family",
            m.pool_addresses_available.clone(),
        );
        r.register(
            "allocations",
            "Services given new IPs, by pool",
            m.allocations.clone(),
        );
        r.register(
            "allocation_failures",
            "Failed allocations by reason",
            m.allocation_failures.clone(),
        );
        r.register(
            "services_pending",
            "Services of ours without an address because their allocation failed (0 on a replica not leading)",
            m.services_pending.clone(),
        );
        r.register(
            "config_loaded",
            "1 once a valid config is in force",
            m.config_loaded.clone(),
        );
        r.register(
            "config_stale",
            "1 while the ConfigMap is invalid or gone and the last good config is in force",
            m.config_stale.clone(),
        );
        r.register("leader", "1 while this replica is the leader", m.leader.clone());
        r.register(
            "reconcile_duration_seconds",
            "Time to reconcile one Service (allocation and status computation)",
            m.reconcile_duration.clone(),
        );
        r.register(
            "status_writes",
            "Service status writes by result",
            m.status_writes.clone(),
        );
        m
    }

    /// Sets the pool gauges to `stats`, removing pools that are gone.
    pub fn set_pools<'a>(&self, stats: impl IntoIterator<Item = (&'a str, PoolStats)>) {
        self.clear_pools();
        for (pool, s) in stats {
            for family in [IpFamily::V4, IpFamily::V6] {
                let f: FamilyStats = s.family(family);
                if f.total == 0 {
                    continue;
                }
                let labels = PoolFamily {
                    pool: pool.to_owned(),
                    family: match family {
                        IpFamily::V4 => "ipv4",
                        IpFamily::V6 => "ipv6",
                    },
                };
                // Gauges are f64: exact up to 2^53, then as close as a float gets (an IPv6 /64 is 2^64).
                self.pool_addresses.get_or_create(&labels).set(f.total as f64);
                self.pool_addresses_in_use
                    .get_or_create(&labels)
                    .set(f.in_use as f64);
                self.pool_addresses_available
                    .get_or_create(&labels)
                    .set(f.available as f64);
            }
        }
    }

    /// Removes every pool gauge (a standby exports none).
    pub fn clear_pools(&self) {
        self.pool_addresses.clear();
        self.pool_addresses_in_use.clear();
        self.pool_addresses_available.clear();
    }

    /// Counts a status write.
    pub fn status_write(&self, result: &'static str) {
        self.status_writes.get_or_create(&ResultLabel { result }).inc();
    }
}

/// Records the time from its creation to its drop into a histogram.
#[derive(Debug)]
pub struct DurationGuard<'a> {
    histogram: &'a Histogram,
    start: Instant,
}

impl<'a> DurationGuard<'a> {
    /// Starts measuring.
    pub fn new(histogram: &'a Histogram) -> Self {
        Self {
            histogram,
            start: Instant::now(),
        }
    }
}

impl Drop for DurationGuard<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn pool_gauges_and_encoding() {
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let stats = PoolStats {
            ipv4: FamilyStats {
                total: 16,
                in_use: 3,
                available: 13,
            },
            ipv6: FamilyStats {
                total: 1 << 64,
                in_use: 1,
                available: (1 << 64) - 1,
            },
            services: 4,
        };
        m.set_pools([("default", stats)]);
        m.allocation_failures
            .get_or_create(&ReasonLabel {
                reason: "pool_exhausted",
            })
            .inc();
        m.status_write("ok");
        {
            let _g = DurationGuard::new(&m.reconcile_duration);
        }
        let mut out = String::new();
        encode(&mut out, &registry).expect("encodes");
        for want in [
            "ferrolb_controller_pool_addresses{pool=\"default\",family=\"ipv4\"} 16.0",
            "ferrolb_controller_pool_addresses_in_use{pool=\"default\",family=\"ipv4\"} 3.0",
            "ferrolb_controller_pool_addresses_available{pool=\"default\",family=\"ipv6\"} 1844674407370955",
            "ferrolb_controller_allocation_failures_total{reason=\"pool_exhausted\"} 1",
            "ferrolb_controller_status_writes_total{result=\"ok\"} 1",
            "ferrolb_controller_reconcile_duration_seconds_count 1",
            "ferrolb_controller_leader 0",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
        m.set_pools(std::iter::empty());
        let mut out = String::new();
        encode(&mut out, &registry).expect("encodes");
        assert!(
            !out.contains("pool=\"default\""),
            "removed pools are not exported"
        );
    }
}
