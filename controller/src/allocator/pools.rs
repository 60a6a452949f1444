//! The pools as the allocator holds them: validated definitions, per-range allocation state, an index from
//! address to range, and the per-pool per-family counters.

use std::collections::HashMap;
use std::net::IpAddr;

use super::error::PoolsError;
use super::range::{RangeState, from_u128, to_u128};
use super::types::{FamilyStats, IpFamily, PoolDef, PoolStats};

/// Where an address lives: pool index and range index within the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Loc {
    pub(crate) pool: usize,
    pub(crate) range: usize,
}

/// One pool: its definition (as given) and its ranges' state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pool {
    pub(crate) def: PoolDef,
    pub(crate) ranges: Vec<RangeState>,
    pub(crate) has_v4: bool,
    pub(crate) has_v6: bool,
    pub(crate) services: usize,
    total: [u128; 2],
    in_use: [u128; 2],
}

impl Pool {
    pub(crate) fn has(&self, family: IpFamily) -> bool {
        match family {
            IpFamily::V4 => self.has_v4,
            IpFamily::V6 => self.has_v6,
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let fam = |i: usize| FamilyStats {
            total: self.total[i],
            in_use: self.in_use[i],
            available: self.total[i] - self.in_use[i],
        };
        PoolStats {
            ipv4: fam(0),
            ipv6: fam(1),
            services: self.services,
        }
    }

    /// The lowest free usable address of `family`, ranges in config order. O(ranges + log n).
    pub(crate) fn lowest_free(&self, family: IpFamily) -> Option<IpAddr> {
        self.ranges
            .iter()
            .filter(|r| r.family == family && r.used() < r.usable())
            .find_map(|r| r.lowest_free().map(|v| from_u128(family, v)))
    }
}

fn fam_idx(f: IpFamily) -> usize {
    match f {
        IpFamily::V4 => 0,
        IpFamily::V6 => 1,
    }
}

/// All pools, in config order, plus the lookup structures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Pools {
    pub(crate) list: Vec<Pool>,
    by_name: HashMap<String, usize>,
    /// Every range, sorted by (family, start): (family, start, end, location).
    index: Vec<(IpFamily, u128, u128, Loc)>,
}

fn show(r: &std::ops::RangeInclusive<IpAddr>) -> String {
    format!("{}-{}", r.start(), r.end())
}

impl Pools {
    /// Validates `defs` and builds empty pools. Refuses unnamed or duplicate pools, mixed-family or reversed
    /// ranges, and overlapping ranges.
    pub(crate) fn build(defs: &[PoolDef]) -> Result<Self, PoolsError> {
        let mut list = Vec::with_capacity(defs.len());
        let mut by_name = HashMap::with_capacity(defs.len());
        let mut index = Vec::new();
        for (pi, def) in defs.iter().enumerate() {
            if def.name.is_empty() {
                return Err(PoolsError::EmptyName { index: pi });
            }
            if by_name.insert(def.name.clone(), pi).is_some() {
                return Err(PoolsError::DuplicateName {
                    name: def.name.clone(),
                });
            }
            let mut ranges = Vec::with_capacity(def.ranges.len());
            let (mut total, mut has_v4, mut has_v6) = ([0u128; 2], false, false);
            for (ri, r) in def.ranges.iter().enumerate() {
                let (fs, s) = to_u128(*r.start());
                let (fe, e) = to_u128(*r.end());
                if fs != fe {
                    return Err(PoolsError::MixedFamilies {
                        pool: def.name.clone(),
                        index: ri,
                        range: show(r),
                    });
                }
                if s > e {
                    return Err(PoolsError::Reversed {
                        pool: def.name.clone(),
                        index: ri,
                        range: show(r),
                    });
                }
                let state = RangeState::new(fs, s, e, def.avoid_buggy_ips);
                let t = &mut total[fam_idx(fs)];
                *t = t.saturating_add(state.usable());
                match fs {
                    IpFamily::V4 => has_v4 = true,
                    IpFamily::V6 => has_v6 = true,
                }
                index.push((fs, s, e, Loc { pool: pi, range: ri }));
                ranges.push(state);
            }
            list.push(Pool {
                def: def.clone(),
                ranges,
                has_v4,
                has_v6,
                services: 0,
                total,
                in_use: [0; 2],
            });
        }
        index.sort_unstable_by_key(|&(f, s, _, _)| (f, s));
        for w in index.windows(2) {
            let (fa, _, ea, la) = w[0];
            let (fb, sb, _, lb) = w[1];
            if fa == fb && sb <= ea {
                let range_of = |l: Loc| show(&defs[l.pool].ranges[l.range]);
                return Err(PoolsError::Overlap {
                    pool: defs[la.pool].name.clone(),
                    range: range_of(la),
                    other_pool: defs[lb.pool].name.clone(),
                    other_range: range_of(lb),
                });
            }
        }
        Ok(Self { list, by_name, index })
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn name(&self, pool: usize) -> &str {
        &self.list[pool].def.name
    }

    /// The range containing `ip`, if any (usable or not). O(log ranges).
    pub(crate) fn locate(&self, ip: IpAddr) -> Option<Loc> {
        let (f, v) = to_u128(ip);
        let i = self.index.partition_point(|&(rf, rs, _, _)| (rf, rs) <= (f, v));
        let &(rf, _, re, loc) = self.index.get(i.checked_sub(1)?)?;
        (rf == f && v <= re).then_some(loc)
    }

    pub(crate) fn range(&self, loc: Loc) -> &RangeState {
        &self.list[loc.pool].ranges[loc.range]
    }

    /// Whether `ip` at `loc` may be handed out (not skipped by avoid-buggy-ips).
    pub(crate) fn is_usable(&self, loc: Loc, ip: IpAddr) -> bool {
        self.range(loc).is_usable(to_u128(ip).1)
    }

    /// Marks `ip` (at `loc`, usable, free) allocated and counts it.
    pub(crate) fn mark_used(&mut self, loc: Loc, ip: IpAddr) {
        let (f, v) = to_u128(ip);
        let pool = &mut self.list[loc.pool];
        let inserted = pool.ranges[loc.range].insert(v);
        debug_assert!(inserted, "{ip} marked used twice or not usable");
        if inserted {
            pool.in_use[fam_idx(f)] += 1;
        }
    }

    /// Marks `ip` (at `loc`) free and uncounts it.
    pub(crate) fn mark_free(&mut self, loc: Loc, ip: IpAddr) {
        let (f, v) = to_u128(ip);
        let pool = &mut self.list[loc.pool];
        let removed = pool.ranges[loc.range].remove(v);
        debug_assert!(removed, "{ip} freed but not allocated");
        if removed {
            pool.in_use[fam_idx(f)] -= 1;
        }
    }
}
