//! `ferrolb status pools`: the [`PoolsView`] of a [`Snapshot`] — one [`PoolRow`] per (pool, address family)
//! of the configuration as the programs read it. Pure.
//!
//! ASSIGNED and AVAILABLE come from `IPAddressPool.status` (written by the leading controller) when the pool
//! is an `IPAddressPool` whose status has been written; otherwise (a ConfigMap pool, or no status yet) they
//! are counted here as the controller counts them: the distinct IPs of the Services ferrolb serves that the
//! pool may hand out ([`Pool::is_assignable`]), and the pool's assignable addresses ([`Pool::assignable_len`])
//! minus those. COUNTED says which.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_config::{AddressFamily, Config, Pool};
use serde::Serialize;

use super::config::{self, Configuration, Loaded};
use super::snapshot::{ConfigObjects, Service, Snapshot};

/// Everything `ferrolb status pools` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolsView {
    /// The configuration's namespace.
    pub config_namespace: String,
    /// The configuration objects (`None`: not read).
    pub configuration: Option<Configuration>,
    /// One row per (pool, family), by pool name then family.
    pub rows: Vec<PoolRow>,
    /// What is wrong (exit status 1).
    pub problems: Vec<String>,
    /// What could not be read (exit status 2).
    #[serde(rename = "notRead")]
    pub gaps: Vec<String>,
    /// What the reader should know.
    pub notes: Vec<String>,
}

/// One family of one pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolRow {
    /// The pool's name.
    pub name: String,
    /// The object defining it (`None`: not found among the objects).
    pub source: Option<Source>,
    /// `IPv4` or `IPv6`.
    pub family: String,
    /// Addresses the pool may hand out (`avoid-buggy-ips` applied).
    pub size: u128,
    /// Addresses in use.
    pub assigned: u128,
    /// Addresses left.
    pub available: u128,
    /// `status` (IPAddressPool.status) or `services` (counted here).
    pub counted: &'static str,
    /// `autoAssign`.
    pub auto_assign: bool,
    /// `layer2`, `bgp`: the advertisements selecting it (empty: not announced).
    pub modes: Vec<&'static str>,
    /// Services holding an IP of the pool (any family).
    pub services: usize,
    /// `serviceAllocation`, summarised (`None`: any Service, configuration order).
    pub allocation: Option<String>,
    /// The ranges of this family.
    pub addresses: Vec<String>,
}

/// An object defining a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `IPAddressPool` or `ConfigMap`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The view of `snap` (`loaded`: its configuration, loaded by [`config::load`]).
pub fn view(snap: &Snapshot, loaded: Option<&Loaded>) -> PoolsView {
    let mut v = PoolsView {
        config_namespace: snap.config_namespace.clone(),
        configuration: None,
        rows: Vec::new(),
        problems: Vec::new(),
        gaps: Vec::new(),
        notes: Vec::new(),
    };
    let objects = match &snap.config {
        Ok(o) => o,
        Err(gap) => {
            v.gaps.push(gap.to_string());
            return v;
        }
    };
    let Some(loaded) = loaded else {
        return v;
    };
    let summary = config::summarize(loaded, objects, &snap.config_namespace);
    v.problems.extend(summary.problems);
    v.notes.extend(summary.notes);
    v.configuration = Some(summary.configuration);
    let Some(current) = loaded.state.current() else {
        return v;
    };
    let served: Vec<&Service> = snap
        .services
        .iter()
        .filter(|s| s.class == snap.load_balancer_class)
        .collect();
    let ips: BTreeSet<IpAddr> = served.iter().flat_map(|s| s.ips.iter().copied()).collect();
    for pool in &current.pools {
        v.rows.extend(rows(current, pool, loaded, objects, &served, &ips));
    }
    v.rows
        .sort_by(|a, b| (&a.name, &a.family).cmp(&(&b.name, &b.family)));
    v
}

fn rows(
    config: &Config,
    pool: &Pool,
    loaded: &Loaded,
    objects: &ConfigObjects,
    served: &[&Service],
    ips: &BTreeSet<IpAddr>,
) -> Vec<PoolRow> {
    let source = config::pool_source(&loaded.objects, &pool.name);
    let status = source
        .as_ref()
        .filter(|s| s.kind == "IPAddressPool")
        .and_then(|_| objects.pool_status.get(&pool.name));
    let modes: Vec<&'static str> = config
        .protocols(&pool.name)
        .into_iter()
        .map(|p| p.as_str())
        .collect();
    let services = served
        .iter()
        .filter(|s| s.ips.iter().any(|ip| pool.contains(*ip)))
        .count();
    [AddressFamily::V4, AddressFamily::V6]
        .into_iter()
        .filter(|f| pool.has_family(*f))
        .map(|family| {
            let size = pool.assignable_len(family);
            let (assigned, available, counted) = match (status, family) {
                (Some(s), AddressFamily::V4) => (s.assigned_v4, s.available_v4, "status"),
                (Some(s), AddressFamily::V6) => (s.assigned_v6, s.available_v6, "status"),
                (None, _) => {
                    let n = ips
                        .iter()
                        .filter(|ip| AddressFamily::of(**ip) == family && pool.is_assignable(**ip))
                        .count() as u128;
                    (n, size.saturating_sub(n), "services")
                }
            };
            PoolRow {
                name: pool.name.clone(),
                source: source.as_ref().map(|o| Source {
                    kind: o.kind.clone(),
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                }),
                family: family.to_string(),
                size,
                assigned,
                available,
                counted,
                auto_assign: pool.auto_assign,
                modes: modes.clone(),
                services,
                allocation: allocation(pool),
                addresses: pool
                    .addresses
                    .iter()
                    .filter(|r| r.family() == family)
                    .map(ToString::to_string)
                    .collect(),
            }
        })
        .collect()
}

/// `priority 10, namespaces a b, 1 namespace selector, 2 service selectors`.
fn allocation(pool: &Pool) -> Option<String> {
    let a = pool.service_allocation.as_ref()?;
    let mut parts = vec![match a.priority {
        0 => "no priority".to_owned(),
        p => format!("priority {p}"),
    }];
    if !a.namespaces.is_empty() {
        parts.push(format!("namespaces {}", a.namespaces.join(" ")));
    }
    for (n, what) in [
        (a.namespace_selectors.len(), "namespace selector"),
        (a.service_selectors.len(), "service selector"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
        }
    }
    Some(parts.join(", "))
}
