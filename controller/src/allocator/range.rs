//! One address range of a pool and the set of its allocated addresses, with "lowest free address" in
//! O(log n).
//!
//! Addresses are `u128` within their family (IPv4 in the low 32 bits), so one code path serves both.
//! Allocated addresses are kept as *runs*: maximal sequences of allocated addresses that are consecutive
//! among the range's **usable** addresses (with avoid-buggy-ips, `.255` and `.0` are not usable, so
//! `x.x.1.254` and `x.x.2.1` are consecutive). Runs are stored in a `BTreeMap<start, end>`. Because runs are
//! maximal, the lowest free usable address is either the range's first usable address (when no run starts
//! there) or the address just after the first run. Insert, remove and lowest-free each touch at most three
//! runs: O(log r) with r ≤ n runs, and memory proportional to the allocated addresses, never to the range's
//! size (an IPv6 /64 costs nothing until used).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::types::IpFamily;

/// `ip` as a number within its family.
pub(crate) fn to_u128(ip: IpAddr) -> (IpFamily, u128) {
    match ip {
        IpAddr::V4(v4) => (IpFamily::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (IpFamily::V6, u128::from(v6)),
    }
}

/// The address `value` of `family`. For IPv4 only the low 32 bits are used (callers never pass more).
pub(crate) fn from_u128(family: IpFamily, value: u128) -> IpAddr {
    match family {
        IpFamily::V4 => IpAddr::V4(Ipv4Addr::from((value & u128::from(u32::MAX)) as u32)),
        IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// Whether an IPv4 address (as a number) ends in .0 or .255.
pub(crate) fn is_buggy_v4(value: u128) -> bool {
    matches!(value & 0xff, 0 | 0xff)
}

/// One inclusive range of one family and its allocated addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeState {
    pub(crate) family: IpFamily,
    pub(crate) start: u128,
    pub(crate) end: u128,
    /// IPv4 with avoid-buggy-ips: .0 and .255 are not usable.
    skip_buggy: bool,
    /// Usable addresses in the range (saturating at `u128::MAX`).
    usable: u128,
    /// Allocated addresses.
    used: u128,
    /// Maximal runs of allocated usable addresses: start → end (both usable, inclusive).
    runs: BTreeMap<u128, u128>,
}

impl RangeState {
    /// A range with nothing allocated. `start <= end`, both of `family`.
    pub(crate) fn new(family: IpFamily, start: u128, end: u128, avoid_buggy_ips: bool) -> Self {
        let skip_buggy = avoid_buggy_ips && family == IpFamily::V4;
        let size = (end - start).saturating_add(1);
        let usable = if skip_buggy {
            size - count_octet(start, end, 0) - count_octet(start, end, 0xff)
        } else {
            size
        };
        Self {
            family,
            start,
            end,
            skip_buggy,
            usable,
            used: 0,
            runs: BTreeMap::new(),
        }
    }

    pub(crate) fn usable(&self) -> u128 {
        self.usable
    }

    pub(crate) fn used(&self) -> u128 {
        self.used
    }

    pub(crate) fn contains(&self, v: u128) -> bool {
        self.start <= v && v <= self.end
    }

    /// Whether `v` (inside the range) may be handed out.
    pub(crate) fn is_usable(&self, v: u128) -> bool {
        self.contains(v) && !(self.skip_buggy && is_buggy_v4(v))
    }

    /// The next usable address after `v`, if any in the range.
    fn next_usable(&self, v: u128) -> Option<u128> {
        let mut x = v.checked_add(1)?;
        if self.skip_buggy {
            match x & 0xff {
                0xff => x += 2,
                0 => x += 1,
                _ => {}
            }
        }
        (x <= self.end).then_some(x)
    }

    /// The previous usable address before `v`, if any in the range.
    fn prev_usable(&self, v: u128) -> Option<u128> {
        let mut x = v.checked_sub(1)?;
        if self.skip_buggy {
            match x & 0xff {
                0 => x = x.checked_sub(2)?,
                0xff => x = x.checked_sub(1)?,
                _ => {}
            }
        }
        (x >= self.start).then_some(x)
    }

    fn first_usable(&self) -> Option<u128> {
        if self.is_usable(self.start) {
            Some(self.start)
        } else {
            self.next_usable(self.start)
        }
    }

    /// Whether `v` is allocated.
    pub(crate) fn is_allocated(&self, v: u128) -> bool {
        // A run spans the avoided addresses between its members; those are never allocated.
        self.is_usable(v) && self.runs.range(..=v).next_back().is_some_and(|(_, &e)| v <= e)
    }

    /// The lowest usable address that is not allocated. O(log n).
    pub(crate) fn lowest_free(&self) -> Option<u128> {
        if self.used >= self.usable {
            return None;
        }
        let first = self.first_usable()?;
        match self.runs.first_key_value() {
            Some((&s, &e)) if s == first => self.next_usable(e),
            _ => Some(first),
        }
    }

    /// Marks `v` allocated. `v` must be usable and free (callers check); returns false otherwise.
    pub(crate) fn insert(&mut self, v: u128) -> bool {
        if !self.is_usable(v) || self.is_allocated(v) {
            return false;
        }
        let left = self
            .runs
            .range(..v)
            .next_back()
            .map(|(&s, &e)| (s, e))
            .filter(|&(_, e)| self.next_usable(e) == Some(v));
        let right = self
            .next_usable(v)
            .and_then(|n| self.runs.get(&n).map(|&e| (n, e)));
        match (left, right) {
            (Some((ls, _)), Some((rs, re))) => {
                self.runs.remove(&rs);
                self.runs.insert(ls, re);
            }
            (Some((ls, _)), None) => {
                self.runs.insert(ls, v);
            }
            (None, Some((rs, re))) => {
                self.runs.remove(&rs);
                self.runs.insert(v, re);
            }
            (None, None) => {
                self.runs.insert(v, v);
            }
        }
        self.used += 1;
        true
    }

    /// Marks `v` free. Returns false when it was not allocated.
    pub(crate) fn remove(&mut self, v: u128) -> bool {
        if !self.is_usable(v) {
            return false;
        }
        let Some((s, e)) = self.runs.range(..=v).next_back().map(|(&s, &e)| (s, e)) else {
            return false;
        };
        if v > e {
            return false;
        }
        self.runs.remove(&s);
        if s < v
            && let Some(p) = self.prev_usable(v)
        {
            self.runs.insert(s, p);
        }
        if v < e
            && let Some(n) = self.next_usable(v)
        {
            self.runs.insert(n, e);
        }
        self.used -= 1;
        true
    }
}

/// How many `x` in `[start, end]` have `x & 0xff == octet`.
fn count_octet(start: u128, end: u128, octet: u128) -> u128 {
    // Number of such x in [0, n].
    let upto = |n: u128| if n < octet { 0 } else { (n - octet) / 256 + 1 };
    upto(end) - if start == 0 { 0 } else { upto(start - 1) }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The reference: a set and a linear scan.
    fn naive_lowest(r: &RangeState, set: &BTreeSet<u128>) -> Option<u128> {
        (r.start..=r.end).find(|&v| r.is_usable(v) && !set.contains(&v))
    }

    #[test]
    fn counts_usable_addresses() {
        // 192.0.2.0/24 with avoid-buggy-ips: 254 usable.
        let r = RangeState::new(IpFamily::V4, 0xc000_0200, 0xc000_02ff, true);
        assert_eq!(r.usable(), 254);
        // A /23 spanning two /24s: 512 - 4.
        let r = RangeState::new(IpFamily::V4, 0xc000_0200, 0xc000_03ff, true);
        assert_eq!(r.usable(), 508);
        // .255-.1 across a boundary: only .1.
        let r = RangeState::new(IpFamily::V4, 0xc000_02ff, 0xc000_0301, true);
        assert_eq!(r.usable(), 1);
        assert_eq!(r.lowest_free(), Some(0xc000_0301));
        // IPv6 ignores avoid-buggy-ips; a /64 counts 2^64.
        let r = RangeState::new(IpFamily::V6, 0, u128::from(u64::MAX), true);
        assert_eq!(r.usable(), 1u128 << 64);
        // The whole IPv6 space saturates instead of overflowing.
        assert_eq!(
            RangeState::new(IpFamily::V6, 0, u128::MAX, false).usable(),
            u128::MAX
        );
        // Whole IPv4 space.
        assert_eq!(
            RangeState::new(IpFamily::V4, 0, u128::from(u32::MAX), true).usable(),
            (1 << 32) - (1 << 25)
        );
    }

    #[test]
    fn range_of_only_avoided_addresses_has_nothing_free() {
        let r = RangeState::new(IpFamily::V4, 0xc000_02ff, 0xc000_0300, true);
        assert_eq!(r.usable(), 0);
        assert_eq!(r.lowest_free(), None);
    }

    #[test]
    fn edges_of_the_address_space() {
        let mut r = RangeState::new(IpFamily::V6, u128::MAX - 1, u128::MAX, false);
        assert!(r.insert(u128::MAX));
        assert_eq!(r.lowest_free(), Some(u128::MAX - 1));
        assert!(r.insert(u128::MAX - 1));
        assert_eq!(r.lowest_free(), None);
        assert!(r.remove(u128::MAX));
        assert_eq!(r.lowest_free(), Some(u128::MAX));
        let mut r = RangeState::new(IpFamily::V4, 0, 2, true);
        assert_eq!(r.lowest_free(), Some(1));
        assert!(r.insert(1));
        assert_eq!(r.lowest_free(), Some(2));
        assert!(!r.insert(0), "an avoided address is refused");
    }

    #[test]
    fn avoided_address_inside_a_run_is_never_allocated() {
        // 192.0.2.254 and 192.0.3.1 form one run that spans the avoided .255 and .0.
        let mut r = RangeState::new(IpFamily::V4, 0xc000_02fe, 0xc000_0301, true);
        assert!(r.insert(0xc000_02fe) && r.insert(0xc000_0301));
        assert_eq!(r.lowest_free(), None);
        assert!(!r.is_allocated(0xc000_02ff) && !r.is_allocated(0xc000_0300));
        assert!(!r.remove(0xc000_02ff) && !r.remove(0xc000_0300));
        assert_eq!(r.used(), 2);
        assert!(r.remove(0xc000_0301));
        assert_eq!(r.lowest_free(), Some(0xc000_0301));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16),
        Remove(u16),
        AllocLowest,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u16..700).prop_map(Op::Insert),
            (0u16..700).prop_map(Op::Remove),
            Just(Op::AllocLowest),
            Just(Op::AllocLowest),
        ]
    }

    proptest! {
        /// The run set agrees with a plain set and a linear scan, whatever the operations.
        #[test]
        fn runs_match_a_linear_scan(
            base in prop_oneof![Just(0xc000_0200u128), Just(0xc000_01f0u128), Just(0u128)],
            len in 1u128..700,
            avoid in any::<bool>(),
            v6 in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..300),
        ) {
            let family = if v6 { IpFamily::V6 } else { IpFamily::V4 };
            let mut r = RangeState::new(family, base, base + len - 1, avoid);
            let mut set = BTreeSet::new();
            prop_assert_eq!(r.usable(), (r.start..=r.end).filter(|&v| r.is_usable(v)).count() as u128);
            for op in ops {
                match op {
                    Op::Insert(off) => {
                        let v = base + u128::from(off);
                        let ok = r.is_usable(v) && !set.contains(&v);
                        prop_assert_eq!(r.insert(v), ok);
                        if ok { set.insert(v); }
                    }
                    Op::Remove(off) => {
                        let v = base + u128::from(off);
                        prop_assert_eq!(r.remove(v), set.remove(&v));
                    }
                    Op::AllocLowest => {
                        let want = naive_lowest(&r, &set);
                        prop_assert_eq!(r.lowest_free(), want);
                        if let Some(v) = want {
                            prop_assert!(r.insert(v));
                            set.insert(v);
                        }
                    }
                }
                prop_assert_eq!(r.used(), set.len() as u128);
                prop_assert_eq!(r.lowest_free(), naive_lowest(&r, &set));
                // Runs are maximal and exactly cover the set.
                let mut covered = 0u128;
                let mut prev_end: Option<u128> = None;
                for (&s, &e) in &r.runs {
                    prop_assert!(s <= e && r.is_usable(s) && r.is_usable(e));
                    if let Some(pe) = prev_end {
                        prop_assert!(r.next_usable(pe) != Some(s), "runs not merged");
                    }
                    let mut v = s;
                    loop {
                        prop_assert!(set.contains(&v));
                        covered += 1;
                        if v == e { break; }
                        v = r.next_usable(v).expect("run stays in range");
                    }
                    prev_end = Some(e);
                }
                prop_assert_eq!(covered, set.len() as u128);
            }
        }
    }
}
