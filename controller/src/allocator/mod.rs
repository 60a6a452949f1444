//! The IP allocator: which load-balancer IPs each Service gets. A pure, deterministic type — no Kubernetes
//! types, no I/O, no clock, no randomness: the same calls in the same order always give the same result.
//!
//! The controller maps Services onto [`ServiceRequest`] and the pool config onto [`PoolDef`], calls
//! [`Allocator::assign`] / [`Allocator::unassign`] as Services come and go, [`Allocator::set_pools`] when the
//! config changes, and builds the allocator with [`Allocator::rebuild`] at start-up. The rules below are the
//! contract; the controller and the operator docs rely on them.
//!
//! # Pools
//! - Pools are kept **in config order**. Their ranges must not overlap (within a pool or across pools), each
//!   range holds one family; a pool may hold both families. [`Allocator::set_pools`] refuses anything else
//!   with a [`PoolsError`] and then changes nothing.
//! - A pool's **address order** is its ranges in config order, each from its lowest address up.
//! - With `avoid_buggy_ips`, IPv4 addresses ending in `.0` or `.255` are never handed out from that pool (nor
//!   accepted as requested IPs, nor restored); they do not count in its totals. IPv6 is unaffected.
//!
//! # Which IPs a Service gets ([`Allocator::assign`])
//! 1. **The request must be consistent**, else [`AllocError::InvalidRequest`]: at most two requested IPs, at
//!    most one per family; SingleStack may request one IP, of its primary family (the first of `families`,
//!    IPv4 when empty); RequireDualStack requests none or one of each family; PreferDualStack requests none,
//!    one or two.
//! 2. **Candidate pools.**
//!    - Pinned (`requested_pool`): only that pool, whatever its `auto_assign` ([`AllocError::UnknownPool`] if
//!      it does not exist). Requested IPs must lie in it ([`AllocError::NotInPinnedPool`]).
//!    - Else, with requested IPs: only the pool holding them, whatever its `auto_assign`. They must lie in a
//!      pool ([`AllocError::NotInAnyPool`]), in the same one ([`AllocError::SplitAcrossPools`]), and not be
//!      an avoided address ([`AllocError::AvoidedAddress`]).
//!    - Else: the restricted pools that admit the Service ([`PoolAccess::preferred`], in that order: their
//!      priority), then every unrestricted pool, **in config order**, all with `auto_assign: true` — except
//!      that the pool the Service is already in comes first (when it is one of them), then pools that already
//!      hold an IP carrying the Service's sharing key that it may join. `auto_assign: false` pools are used
//!      only when pinned or requested.
//!    - A restricted pool that does not admit the Service ([`PoolAccess::denied`]) is never used, not even
//!      when pinned or requested ([`AllocError::PoolNotAllowed`]); as MetalLB does.
//! 3. **Families.** Requested IPs fix the families: the Service gets exactly those IPs. Otherwise SingleStack
//!    wants the primary family; RequireDualStack wants both families from one pool
//!    ([`AllocError::DualStackUnsatisfiable`] saying why when no pool can give both); PreferDualStack first
//!    tries both families from one pool, over all candidates, and only then the primary family alone.
//! 4. **Within a pool, per family:** the requested IP; else the IP of that family the Service already holds
//!    in this pool (if it may still hold it); else the first IP in the pool's address order that carries the
//!    Service's sharing key and that it may join; else **the lowest free address in the pool's address
//!    order**. A free address is one no Service holds.
//! 5. The first candidate pool that gives every wanted family wins. Otherwise the error names the pools tried
//!    and the family that ran out ([`AllocError::PoolExhausted`]) or was missing
//!    ([`AllocError::NoPoolForFamily`]).
//!
//! The IPs of an assignment always come from **one pool**, at most one per family, the primary family first.
//!
//! # Sharing
//! An IP held by other Services may be used by a Service only if, against every other holder:
//! - both have a non-empty sharing key ([`AllocError::IpInUse`] names the holders otherwise) and the keys
//!   are equal ([`SharingRule::DifferentKey`]);
//! - their backend keys are equal ([`SharingRule::DifferentBackend`]): both `Cluster`, or both `Local` with
//!   identical selectors;
//! - their `(protocol, port)` sets are disjoint ([`SharingRule::PortOverlap`]).
//!
//! A shared IP is freed when its last holder leaves. It counts once in the pool's `in_use`.
//!
//! # Idempotent assign
//! `assign` keeps the Service's current assignment — same IPs, nothing else changes — when it still
//! satisfies the request: it is in the pinned pool (if any) and not in a pool that no longer admits the
//! Service ([`PoolAccess::denied`]: the Service then moves, as in MetalLB); it equals the requested IPs (if any); otherwise
//! its families match the policy (SingleStack: exactly the primary family; RequireDualStack: both;
//! PreferDualStack: the primary family, plus the other one unless its own pool cannot give it now); and every
//! IP still passes the sharing rules with the request's ports, key and backend. `auto_assign` only governs new
//! allocations: an assignment in a pool that has since become `auto_assign: false` is kept.
//!
//! Otherwise `assign` plans a new assignment by the rules above, preferring the current pool and the IPs the
//! Service already holds (so PreferDualStack gains the missing family from its own pool without moving).
//! **If that fails, the allocator is unchanged**: the Service keeps what it held (a bad annotation never takes
//! a working IP away) and the error says why; [`Allocator::unassign`] releases explicitly.
//!
//! # Changing pools ([`Allocator::set_pools`])
//! Every Service keeps every IP that is still a usable address of a pool, provided all its IPs remain in one
//! pool. An IP that left every pool, became an avoided address, or now lies in a different pool than the
//! Service's first remaining IP is revoked; the returned [`Revocation`]s (in key order) name each Service, the
//! IPs it lost with the reason, and what it kept. The controller clears those IPs from the Service's status
//! and calls `assign` again. Nothing else changes: no Service moves because pools were reordered, renamed,
//! grew, or changed `auto_assign`.
//!
//! # Restart ([`Allocator::rebuild`], [`Allocator::restore`])
//! At start-up the controller passes every Service that has IPs in its status, with those IPs, in the order
//! it wants conflicts decided — oldest first (`creationTimestamp`, then namespace/name), so the Service that
//! has held an IP longest keeps it. Each is re-registered with **the same checks as a live Service**, and
//! nothing else: every IP must be a usable address of a pool, all in one pool, one per family, and pass the
//! sharing rules against the Services restored before it. An IP failing a check is not restored and is
//! reported in a [`Revocation`] with the reason (the later Service of a conflicting pair loses it); the
//! Service keeps its other IPs. Only then does the controller serve pending Services, so **a claimed IP is
//! never handed to a pending Service**. Rebuilding from the current assignments (in any order) reproduces
//! the allocator exactly. Whether a restored assignment matches the Service's request (pinned pool, requested
//! IPs, family policy) is then checked by the next `assign`, as for any live Service.
//!
//! # Cost
//! With n allocated addresses: `assign`, `unassign` and `restore` are O(log n) (plus O(pools + ranges) to
//! pick a pool and, with a sharing key, O(k) for the k IPs carrying that key); memory is O(n), independent of
//! pool sizes — an IPv6 /64 costs nothing until used. The counters ([`Allocator::pool_stats`]) are O(1).
//! `set_pools` and `rebuild` are O(n log n). See `range.rs` for the free-address structure.

mod error;
mod plan;
mod pools;
mod range;
mod types;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

pub use error::{AllocError, DualStackFailure, PoolsError, RequestProblem, SharingRule};
pub use types::{
    Assignment, BackendKey, FamilyStats, IpFamily, IpFamilyPolicy, PoolAccess, PoolDef, PoolStats, Port,
    Protocol, Revocation, RevokedIp, ServiceKey, ServiceRequest,
};

use pools::{Loc, Pools};
use types::SharingAttrs;

/// The allocator. See the module docs for the rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allocator {
    pools: Pools,
    services: BTreeMap<ServiceKey, ServiceEntry>,
    ips: BTreeMap<IpAddr, IpEntry>,
    /// Sharing key → IPs currently carrying it.
    by_sharing_key: HashMap<String, BTreeSet<IpAddr>>,
}

/// What the allocator knows of one Service holding IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceEntry {
    pub(crate) assignment: Assignment,
    pub(crate) pool: usize,
    pub(crate) attrs: SharingAttrs,
}

/// One IP in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpEntry {
    pub(crate) loc: Loc,
    /// The holders' common sharing key and backend key.
    pub(crate) key: Option<String>,
    pub(crate) backend: BackendKey,
    /// The Services holding the IP, sorted (usually one; a small sorted `Vec` is far leaner than a set).
    pub(crate) holders: Vec<ServiceKey>,
}

impl Allocator {
    /// An allocator over `pools` with nothing allocated. The input is not modified.
    pub fn new(pools: &[PoolDef]) -> Result<Self, PoolsError> {
        Ok(Self {
            pools: Pools::build(pools)?,
            ..Self::default()
        })
    }

    /// The start-up path: an allocator over `pools` with every existing assignment restored, in the order
    /// given, before anything else can be allocated (see "Restart" in the module docs). Returns the
    /// Services that could not keep all of their IPs.
    pub fn rebuild<I, R, V>(pools: &[PoolDef], existing: I) -> Result<(Self, Vec<Revocation>), PoolsError>
    where
        I: IntoIterator<Item = (R, V)>,
        R: Borrow<ServiceRequest>,
        V: AsRef<[IpAddr]>,
    {
        let mut allocator = Self::new(pools)?;
        let revocations = existing
            .into_iter()
            .filter_map(|(req, ips)| allocator.restore(req.borrow(), ips.as_ref()))
            .collect();
        Ok((allocator, revocations))
    }

    /// Gives the Service its IPs, or keeps the ones it has when they still satisfy the request (see the
    /// module docs). On error nothing changes.
    pub fn assign(&mut self, req: &ServiceRequest) -> Result<Assignment, AllocError> {
        let n = plan::normalize(req)?;
        if let Some(cur) = self.services.get(&req.key)
            && self.satisfies(cur, &n)
        {
            let mut ips = cur.assignment.ips.clone();
            ips.sort_by_key(|ip| IpFamily::of(ip) != n.primary);
            if cur.attrs != n.attrs || ips != cur.assignment.ips {
                let pool = cur.pool;
                self.release(&req.key);
                self.register(req.key.clone(), n.attrs, pool, ips);
            }
            return Ok(self.services[&req.key].assignment.clone());
        }
        let plan = self.plan(&n, self.services.get(&req.key))?;
        self.release(&req.key);
        Ok(self
            .register(req.key.clone(), n.attrs, plan.pool, plan.ips)
            .clone())
    }

    /// Releases the Service's IPs (a shared IP stays in use while another holder remains). Returns what it
    /// held.
    pub fn unassign(&mut self, key: &ServiceKey) -> Option<Assignment> {
        self.release(key).map(|e| e.assignment)
    }

    /// Re-registers IPs a Service already holds (from its status), with the live rules and no allocation: a
    /// usable address of a pool, one pool, one per family, sharing rules against the current holders. IPs
    /// failing a check are left out and reported; `None` means every IP was restored. Replaces any current
    /// assignment of the Service.
    pub fn restore(&mut self, req: &ServiceRequest, ips: &[IpAddr]) -> Option<Revocation> {
        let attrs = SharingAttrs::of(req);
        let (pool, mut kept, revoked) = self.sound_subset(&req.key, &attrs, ips, true);
        let primary = req.primary_family();
        kept.sort_by_key(|ip| IpFamily::of(ip) != primary);
        self.release(&req.key);
        let kept = pool.map(|p| self.register(req.key.clone(), attrs, p, kept).clone());
        (!revoked.is_empty()).then(|| Revocation {
            key: req.key.clone(),
            revoked,
            kept,
        })
    }

    /// Replaces the pools (see "Changing pools" in the module docs). On error nothing changes. The input is
    /// not modified.
    pub fn set_pools(&mut self, pools: &[PoolDef]) -> Result<Vec<Revocation>, PoolsError> {
        let pools = Pools::build(pools)?;
        let services = std::mem::take(&mut self.services);
        *self = Self {
            pools,
            ..Self::default()
        };
        let mut revocations = Vec::new();
        for (key, entry) in services {
            let (pool, kept, revoked) = self.sound_subset(&key, &entry.attrs, &entry.assignment.ips, false);
            let kept = pool.map(|p| self.register(key.clone(), entry.attrs, p, kept).clone());
            if !revoked.is_empty() {
                revocations.push(Revocation { key, revoked, kept });
            }
        }
        Ok(revocations)
    }

    /// The Service's current assignment.
    pub fn assignment(&self, key: &ServiceKey) -> Option<&Assignment> {
        self.services.get(key).map(|e| &e.assignment)
    }

    /// Every assignment, by Service key.
    pub fn assignments(&self) -> impl Iterator<Item = (&ServiceKey, &Assignment)> {
        self.services.iter().map(|(k, e)| (k, &e.assignment))
    }

    /// How many Services hold IPs.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether no Service holds IPs.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// The Services holding `ip`, by key.
    pub fn holders(&self, ip: IpAddr) -> impl Iterator<Item = &ServiceKey> {
        self.ips.get(&ip).into_iter().flat_map(|e| e.holders.iter())
    }

    /// The pool whose ranges contain `ip` (even an avoided address), if any.
    pub fn pool_of(&self, ip: IpAddr) -> Option<&str> {
        self.pools.locate(ip).map(|l| self.pools.name(l.pool))
    }

    /// The pools, in config order.
    pub fn pools(&self) -> impl Iterator<Item = &PoolDef> {
        self.pools.list.iter().map(|p| &p.def)
    }

    /// One pool's counters. O(1).
    pub fn pool_stats(&self, pool: &str) -> Option<PoolStats> {
        self.pools.by_name(pool).map(|p| self.pools.list[p].stats())
    }

    /// Every pool's counters, in config order.
    pub fn all_pool_stats(&self) -> impl Iterator<Item = (&str, PoolStats)> {
        self.pools.list.iter().map(|p| (p.def.name.as_str(), p.stats()))
    }

    /// Splits `ips` into those the Service may hold (and their pool) and those it may not, with reasons.
    fn sound_subset(
        &self,
        key: &ServiceKey,
        attrs: &SharingAttrs,
        ips: &[IpAddr],
        check_sharing: bool,
    ) -> (Option<usize>, Vec<IpAddr>, Vec<RevokedIp>) {
        let mut pool: Option<usize> = None;
        let mut kept: Vec<IpAddr> = Vec::with_capacity(ips.len());
        let mut revoked = Vec::new();
        for &ip in ips {
            let family = IpFamily::of(&ip);
            let verdict = if kept.iter().any(|k| IpFamily::of(k) == family) {
                Err(AllocError::DuplicateFamily { ip, family })
            } else {
                match self.pools.locate(ip) {
                    None => Err(AllocError::NotInAnyPool { ip }),
                    Some(loc) if !self.pools.is_usable(loc, ip) => Err(AllocError::AvoidedAddress {
                        ip,
                        pool: self.pools.name(loc.pool).to_owned(),
                    }),
                    Some(loc) if pool.is_some_and(|p| p != loc.pool) => Err(AllocError::SplitAcrossPools {
                        ip,
                        pool: self.pools.name(loc.pool).to_owned(),
                        other_ip: kept[0],
                        other_pool: pool.map(|p| self.pools.name(p).to_owned()).unwrap_or_default(),
                    }),
                    Some(loc) if check_sharing => self.check_ip(ip, key, attrs).map(|()| loc.pool),
                    Some(loc) => Ok(loc.pool),
                }
            };
            match verdict {
                Ok(p) => {
                    pool = Some(p);
                    kept.push(ip);
                }
                Err(reason) => revoked.push(RevokedIp { ip, reason }),
            }
        }
        (pool, kept, revoked)
    }

    /// Records that `key` holds `ips` in `pool`. The caller has checked every rule and released any previous
    /// assignment of `key`.
    fn register(
        &mut self,
        key: ServiceKey,
        attrs: SharingAttrs,
        pool: usize,
        ips: Vec<IpAddr>,
    ) -> &Assignment {
        for &ip in &ips {
            let entry = match self.ips.entry(ip) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let loc = self.pools.locate(ip).expect("planned IPs lie in a pool");
                    self.pools.mark_used(loc, ip);
                    if let Some(k) = &attrs.key {
                        self.by_sharing_key.entry(k.clone()).or_default().insert(ip);
                    }
                    v.insert(IpEntry {
                        loc,
                        key: attrs.key.clone(),
                        backend: attrs.backend.clone(),
                        holders: Vec::with_capacity(1),
                    })
                }
            };
            if let Err(at) = entry.holders.binary_search(&key) {
                entry.holders.insert(at, key.clone());
            }
        }
        self.pools.list[pool].services += 1;
        let assignment = Assignment {
            pool: self.pools.name(pool).to_owned(),
            ips,
        };
        self.services.insert(
            key.clone(),
            ServiceEntry {
                assignment,
                pool,
                attrs,
            },
        );
        &self.services[&key].assignment
    }

    /// Forgets `key`'s assignment, freeing IPs it was the last holder of.
    fn release(&mut self, key: &ServiceKey) -> Option<ServiceEntry> {
        let entry = self.services.remove(key)?;
        self.pools.list[entry.pool].services -= 1;
        for ip in &entry.assignment.ips {
            let Some(ip_entry) = self.ips.get_mut(ip) else {
                continue;
            };
            if let Ok(at) = ip_entry.holders.binary_search(key) {
                ip_entry.holders.remove(at);
            }
            if ip_entry.holders.is_empty() {
                let loc = ip_entry.loc;
                if let Some(k) = ip_entry.key.take()
                    && let Some(set) = self.by_sharing_key.get_mut(&k)
                {
                    set.remove(ip);
                    if set.is_empty() {
                        self.by_sharing_key.remove(&k);
                    }
                }
                self.ips.remove(ip);
                self.pools.mark_free(loc, *ip);
            }
        }
        Some(entry)
    }
}
