//! Deciding, without changing anything, which IPs a Service gets: request checks, candidate pools, the
//! per-family pick, and whether a current assignment may be kept. The rules are documented in the module
//! docs of [`crate::allocator`].

use std::net::IpAddr;

use super::error::{AllocError, DualStackFailure, RequestProblem, SharingRule};
use super::types::{IpFamily, IpFamilyPolicy, ServiceKey, ServiceRequest, SharingAttrs};
use super::{Allocator, ServiceEntry};

/// A request checked for self-consistency.
#[derive(Debug)]
pub(crate) struct Normalized<'a> {
    pub(crate) req: &'a ServiceRequest,
    pub(crate) attrs: SharingAttrs,
    pub(crate) primary: IpFamily,
    /// Requested IPs, primary family first.
    pub(crate) requested: Vec<IpAddr>,
}

/// The outcome of planning: a pool and the IPs to hold in it, primary family first.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) pool: usize,
    pub(crate) ips: Vec<IpAddr>,
}

/// Checks that the request does not contradict itself.
pub(crate) fn normalize(req: &ServiceRequest) -> Result<Normalized<'_>, AllocError> {
    let invalid = |problem| Err(AllocError::InvalidRequest { problem });
    let primary = req.primary_family();
    let mut requested = req.requested_ips.clone();
    requested.sort_unstable();
    requested.dedup();
    if requested.len() > 2 {
        return invalid(RequestProblem::TooManyIps {
            count: requested.len(),
        });
    }
    if let [a, b] = requested[..]
        && IpFamily::of(&a) == IpFamily::of(&b)
    {
        return invalid(RequestProblem::TwoIpsOfFamily {
            family: IpFamily::of(&a),
        });
    }
    requested.sort_by_key(|ip| IpFamily::of(ip) != primary);
    match (req.family_policy, &requested[..]) {
        (_, []) | (IpFamilyPolicy::PreferDualStack, _) | (IpFamilyPolicy::RequireDualStack, [_, _]) => {}
        (IpFamilyPolicy::SingleStack, [ip]) if IpFamily::of(ip) != primary => {
            return invalid(RequestProblem::FamilyNotAllowed { ip: *ip, primary });
        }
        (IpFamilyPolicy::SingleStack, [_]) => {}
        (IpFamilyPolicy::SingleStack, _) => return invalid(RequestProblem::TwoIpsForSingleStack),
        (IpFamilyPolicy::RequireDualStack, _) => return invalid(RequestProblem::DualStackNeedsTwoIps),
    }
    Ok(Normalized {
        req,
        attrs: SharingAttrs::of(req),
        primary,
        requested,
    })
}

impl Normalized<'_> {
    /// The family sets to try, most wanted first.
    fn family_sets(&self) -> Vec<Vec<IpFamily>> {
        if !self.requested.is_empty() {
            return vec![self.requested.iter().map(IpFamily::of).collect()];
        }
        let (p, s) = (self.primary, self.primary.other());
        match self.req.family_policy {
            IpFamilyPolicy::SingleStack => vec![vec![p]],
            IpFamilyPolicy::RequireDualStack => vec![vec![p, s]],
            IpFamilyPolicy::PreferDualStack => vec![vec![p, s], vec![p]],
        }
    }

    fn requested_of(&self, family: IpFamily) -> Option<IpAddr> {
        self.requested
            .iter()
            .copied()
            .find(|ip| IpFamily::of(ip) == family)
    }
}

impl Allocator {
    /// Whether `key` may use `ip` with `attrs`, given the IP's other users.
    pub(crate) fn check_ip(
        &self,
        ip: IpAddr,
        key: &ServiceKey,
        attrs: &SharingAttrs,
    ) -> Result<(), AllocError> {
        let Some(entry) = self.ips.get(&ip) else {
            return Ok(());
        };
        let mut others = entry.holders.iter().filter(|h| *h != key).peekable();
        let Some(&first) = others.peek() else {
            return Ok(());
        };
        let (Some(ours), Some(theirs)) = (&attrs.key, &entry.key) else {
            return Err(AllocError::IpInUse {
                ip,
                by: others.cloned().collect(),
            });
        };
        let conflict = |with: &ServiceKey, rule| AllocError::SharingConflict {
            ip,
            with: with.clone(),
            rule,
        };
        if ours != theirs {
            return Err(conflict(
                first,
                SharingRule::DifferentKey {
                    theirs: theirs.clone(),
                },
            ));
        }
        if attrs.backend != entry.backend {
            let rule = SharingRule::DifferentBackend {
                theirs: entry.backend.clone(),
            };
            return Err(conflict(first, rule));
        }
        for other in entry.holders.iter().filter(|h| *h != key) {
            let theirs = self
                .services
                .get(other)
                .map(|e| &e.attrs.ports[..])
                .unwrap_or_default();
            if let Some(port) = first_common(&attrs.ports, theirs) {
                return Err(conflict(other, SharingRule::PortOverlap { port }));
            }
        }
        Ok(())
    }

    /// The pools the Service may use, in the order to try them.
    fn candidate_pools(
        &self,
        n: &Normalized<'_>,
        current: Option<&ServiceEntry>,
    ) -> Result<Vec<usize>, AllocError> {
        let denied = |p: usize| n.req.access.denied.iter().any(|d| d == self.pools.name(p));
        let not_allowed = |p: usize| AllocError::PoolNotAllowed {
            pool: self.pools.name(p).to_owned(),
        };
        if let Some(name) = &n.req.requested_pool {
            let pool = self
                .pools
                .by_name(name)
                .ok_or_else(|| AllocError::UnknownPool { pool: name.clone() })?;
            if denied(pool) {
                return Err(not_allowed(pool));
            }
            for &ip in &n.requested {
                self.requested_location(ip, Some(pool))?;
            }
            return Ok(vec![pool]);
        }
        if let Some(&first) = n.requested.first() {
            let pool = self.requested_location(first, None)?;
            if let Some(&second) = n.requested.get(1) {
                let other = self.requested_location(second, None)?;
                if other != pool {
                    return Err(AllocError::SplitAcrossPools {
                        ip: second,
                        pool: self.pools.name(other).to_owned(),
                        other_ip: first,
                        other_pool: self.pools.name(pool).to_owned(),
                    });
                }
            }
            if denied(pool) {
                return Err(not_allowed(pool));
            }
            return Ok(vec![pool]);
        }
        // The restricted pools that admit the Service (in their priority order), then the open ones (in
        // config order); auto-assign pools only.
        let preferred = n
            .req
            .access
            .preferred
            .iter()
            .filter_map(|name| self.pools.by_name(name))
            .filter(|&p| self.pools.list[p].def.auto_assign && !denied(p));
        let open = (0..self.pools.list.len()).filter(|&p| {
            let def = &self.pools.list[p].def;
            def.auto_assign && !def.restricted && !denied(p)
        });
        let mut auto: Vec<usize> = Vec::new();
        for p in preferred.chain(open) {
            if !auto.contains(&p) {
                auto.push(p);
            }
        }
        // The current pool first (least disruption), then pools where the sharing key already lives, then
        // the rest, each group in config order.
        let cur = current.map(|c| c.pool).filter(|p| auto.contains(p));
        let wanted: &[IpFamily] = match n.req.family_policy {
            IpFamilyPolicy::SingleStack => &[n.primary],
            _ => &[n.primary, n.primary.other()],
        };
        let joins = |p: usize| {
            wanted
                .iter()
                .any(|&fam| self.joinable_ip(p, fam, &n.req.key, &n.attrs).is_some())
        };
        let mut order: Vec<usize> = cur.into_iter().collect();
        if n.attrs.key.is_some() {
            order.extend(auto.iter().copied().filter(|&p| Some(p) != cur && joins(p)));
        }
        let rest: Vec<usize> = auto.iter().copied().filter(|p| !order.contains(p)).collect();
        order.extend(rest);
        Ok(order)
    }

    /// The pool of a requested IP, checking it is usable there (and in `pinned`, when given).
    fn requested_location(&self, ip: IpAddr, pinned: Option<usize>) -> Result<usize, AllocError> {
        let loc = self.pools.locate(ip).ok_or(AllocError::NotInAnyPool { ip })?;
        if let Some(p) = pinned
            && p != loc.pool
        {
            return Err(AllocError::NotInPinnedPool {
                ip,
                pool: self.pools.name(p).to_owned(),
                actual: self.pools.name(loc.pool).to_owned(),
            });
        }
        if !self.pools.is_usable(loc, ip) {
            return Err(AllocError::AvoidedAddress {
                ip,
                pool: self.pools.name(loc.pool).to_owned(),
            });
        }
        Ok(loc.pool)
    }

    /// The first IP (in the pool's address order) of `family` in `pool` that already carries the Service's
    /// sharing key and that it may join. O(k), k = IPs carrying that key.
    fn joinable_ip(
        &self,
        pool: usize,
        family: IpFamily,
        key: &ServiceKey,
        attrs: &SharingAttrs,
    ) -> Option<IpAddr> {
        let shared = self.by_sharing_key.get(attrs.key.as_ref()?)?;
        shared
            .iter()
            .filter_map(|ip| self.ips.get(ip).map(|e| (e.loc, *ip)))
            .filter(|(loc, ip)| loc.pool == pool && IpFamily::of(ip) == family)
            .filter(|(_, ip)| self.check_ip(*ip, key, attrs).is_ok())
            .min_by_key(|&(loc, ip)| (loc.range, ip))
            .map(|(_, ip)| ip)
    }

    /// The IP of `family` the Service would get in `pool`: its requested IP, else the one it holds there
    /// already, else a joinable shared IP, else the lowest free one. `Ok(None)`: the pool is out of them.
    fn pick(
        &self,
        pool: usize,
        family: IpFamily,
        n: &Normalized<'_>,
        current: Option<&ServiceEntry>,
    ) -> Result<Option<IpAddr>, AllocError> {
        let key = &n.req.key;
        if let Some(ip) = n.requested_of(family) {
            self.check_ip(ip, key, &n.attrs)?;
            return Ok(Some(ip));
        }
        let held = current
            .filter(|c| c.pool == pool)
            .and_then(|c| {
                c.assignment
                    .ips
                    .iter()
                    .copied()
                    .find(|ip| IpFamily::of(ip) == family)
            })
            .filter(|ip| self.check_ip(*ip, key, &n.attrs).is_ok());
        Ok(held
            .or_else(|| self.joinable_ip(pool, family, key, &n.attrs))
            .or_else(|| self.pools.list[pool].lowest_free(family)))
    }

    /// Computes the Service's new assignment without changing anything.
    pub(crate) fn plan(
        &self,
        n: &Normalized<'_>,
        current: Option<&ServiceEntry>,
    ) -> Result<Plan, AllocError> {
        let candidates = self.candidate_pools(n, current)?;
        let names = |ps: &[usize]| {
            ps.iter()
                .map(|&p| self.pools.name(p).to_owned())
                .collect::<Vec<_>>()
        };
        let mut failure = None;
        for set in n.family_sets() {
            let mut with_families = Vec::new();
            let mut ran_out = None;
            'pools: for &pool in &candidates {
                if !set.iter().all(|&f| self.pools.list[pool].has(f)) {
                    continue;
                }
                with_families.push(pool);
                let mut ips = Vec::with_capacity(set.len());
                for &family in &set {
                    match self.pick(pool, family, n, current)? {
                        Some(ip) => ips.push(ip),
                        None => {
                            ran_out.get_or_insert(family);
                            continue 'pools;
                        }
                    }
                }
                return Ok(Plan { pool, ips });
            }
            failure = Some(match (set.len(), ran_out) {
                (2, None) => AllocError::DualStackUnsatisfiable {
                    reason: DualStackFailure::NoPoolWithBothFamilies {
                        pools: names(&candidates),
                    },
                },
                (2, Some(family)) => AllocError::DualStackUnsatisfiable {
                    reason: DualStackFailure::Exhausted {
                        family,
                        pools: names(&with_families),
                    },
                },
                (_, None) => AllocError::NoPoolForFamily {
                    family: set[0],
                    pools: names(&candidates),
                },
                (_, Some(family)) => AllocError::PoolExhausted {
                    family,
                    pools: names(&with_families),
                },
            });
        }
        Err(failure.unwrap_or(AllocError::NoPoolForFamily {
            family: n.primary,
            pools: names(&candidates),
        }))
    }

    /// Whether the Service's current assignment satisfies the request as it stands (see the module docs,
    /// "Idempotent assign").
    pub(crate) fn satisfies(&self, cur: &ServiceEntry, n: &Normalized<'_>) -> bool {
        let key = &n.req.key;
        if n.req
            .requested_pool
            .as_ref()
            .is_some_and(|p| *p != cur.assignment.pool)
        {
            return false;
        }
        if n.req.access.denied.contains(&cur.assignment.pool) {
            return false;
        }
        let ips = &cur.assignment.ips;
        let has = |f: IpFamily| ips.iter().any(|ip| IpFamily::of(ip) == f);
        let families_ok = if n.requested.is_empty() {
            match n.req.family_policy {
                IpFamilyPolicy::SingleStack => ips.len() == 1 && has(n.primary),
                IpFamilyPolicy::RequireDualStack => has(IpFamily::V4) && has(IpFamily::V6),
                IpFamilyPolicy::PreferDualStack => {
                    let other = n.primary.other();
                    has(n.primary) && (has(other) || !self.can_add(cur.pool, other, n))
                }
            }
        } else {
            ips.len() == n.requested.len() && n.requested.iter().all(|ip| ips.contains(ip))
        };
        families_ok && ips.iter().all(|&ip| self.check_ip(ip, key, &n.attrs).is_ok())
    }

    /// Whether `pool` could give the Service an address of `family` now.
    fn can_add(&self, pool: usize, family: IpFamily, n: &Normalized<'_>) -> bool {
        let p = &self.pools.list[pool];
        p.has(family)
            && (self.joinable_ip(pool, family, &n.req.key, &n.attrs).is_some()
                || p.lowest_free(family).is_some())
    }
}

/// The lowest element of two sorted slices that is in both.
fn first_common<T: Ord + Copy>(a: &[T], b: &[T]) -> Option<T> {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return Some(a[i]),
        }
    }
    None
}
