//! Fixtures shared by the allocator tests: address and pool builders, and the invariant checks every test
//! runs after every step.

#![allow(dead_code)] // each test binary uses a different subset

pub mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ferrolb_controller::allocator::{
    Allocator, BackendKey, IpFamily, IpFamilyPolicy, PoolAccess, PoolDef, Port, ServiceKey, ServiceRequest,
};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("bad IP {s:?}: {e}"))
}

pub fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| ip(s)).collect()
}

pub fn range(a: &str, b: &str) -> RangeInclusive<IpAddr> {
    ip(a)..=ip(b)
}

pub fn pool(name: &str, ranges: &[(&str, &str)]) -> PoolDef {
    PoolDef::new(name, ranges.iter().map(|(a, b)| range(a, b)))
}

pub fn manual(mut p: PoolDef) -> PoolDef {
    p.auto_assign = false;
    p
}

pub fn avoid_buggy(mut p: PoolDef) -> PoolDef {
    p.avoid_buggy_ips = true;
    p
}

/// A pool with a `serviceAllocation`.
pub fn restricted(mut p: PoolDef) -> PoolDef {
    p.restricted = true;
    p
}

/// What the pools' `serviceAllocation` says: `preferred` in order, `denied`.
pub fn access(preferred: &[&str], denied: &[&str]) -> PoolAccess {
    let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
    PoolAccess {
        preferred: own(preferred),
        denied: own(denied),
    }
}

/// A single-stack IPv4 Service `ns/<name>`.
pub fn svc(name: &str) -> ServiceRequest {
    ServiceRequest::new("ns", name)
}

pub fn key(name: &str) -> ServiceKey {
    ServiceKey::new("ns", name)
}

pub fn dual(req: ServiceRequest, policy: IpFamilyPolicy) -> ServiceRequest {
    req.with_families(policy, [IpFamily::V4, IpFamily::V6])
}

pub fn local(selector: &str) -> BackendKey {
    BackendKey::Local {
        selector: selector.to_owned(),
    }
}

fn is_avoided(p: &PoolDef, a: IpAddr) -> bool {
    p.avoid_buggy_ips && matches!(a, IpAddr::V4(v4) if matches!(v4.octets()[3], 0 | 255))
}

/// Whether two Services may hold one IP, by the sharing rules, computed independently of the allocator.
pub fn compatible(a: &ServiceRequest, b: &ServiceRequest) -> bool {
    let key = |r: &ServiceRequest| r.sharing_key.clone().filter(|k| !k.is_empty());
    let pa: BTreeSet<Port> = a.ports.iter().copied().collect();
    let pb: BTreeSet<Port> = b.ports.iter().copied().collect();
    key(a).is_some() && key(a) == key(b) && a.backend == b.backend && pa.is_disjoint(&pb)
}

/// Checks every invariant the allocator promises, from its public API and the requests each holder was
/// last assigned (or restored) with:
/// - every assignment has one or two IPs, at most one per family, all usable addresses of its pool;
/// - every IP's holders are pairwise compatible, and `holders()` agrees with the assignments;
/// - the counters agree with a recount (total counted address by address for small ranges).
pub fn check_invariants(a: &Allocator, pools: &[PoolDef], held: &BTreeMap<ServiceKey, ServiceRequest>) {
    let by_name: BTreeMap<&str, &PoolDef> = pools.iter().map(|p| (p.name.as_str(), p)).collect();
    let mut users: BTreeMap<IpAddr, Vec<&ServiceKey>> = BTreeMap::new();
    let mut services: BTreeMap<&str, usize> = BTreeMap::new();
    for (k, asg) in a.assignments() {
        assert!(!asg.ips.is_empty() && asg.ips.len() <= 2, "{k}: {asg:?}");
        if let [x, y] = asg.ips[..] {
            assert_ne!(IpFamily::of(&x), IpFamily::of(&y), "{k}: two IPs of one family");
        }
        let p = by_name
            .get(asg.pool.as_str())
            .unwrap_or_else(|| panic!("{k}: unknown pool {}", asg.pool));
        for &x in &asg.ips {
            assert_eq!(a.pool_of(x), Some(asg.pool.as_str()), "{k}: {x} not in its pool");
            assert!(!is_avoided(p, x), "{k}: holds avoided {x}");
            users.entry(x).or_default().push(k);
        }
        *services.entry(asg.pool.as_str()).or_default() += 1;
        assert!(held.contains_key(k), "{k} holds IPs the test never gave it");
    }
    for (x, list) in &users {
        let from_allocator: Vec<&ServiceKey> = a.holders(*x).collect();
        assert_eq!(&from_allocator, list, "holders of {x}");
        for (i, s1) in list.iter().enumerate() {
            for s2 in &list[i + 1..] {
                assert!(
                    compatible(&held[*s1], &held[*s2]),
                    "{x} held by incompatible {s1} and {s2}"
                );
            }
        }
    }
    for p in pools {
        let st = a.pool_stats(&p.name).expect("pool stats");
        assert_eq!(
            st.services,
            services.get(p.name.as_str()).copied().unwrap_or(0),
            "{}: services",
            p.name
        );
        for fam in [IpFamily::V4, IpFamily::V6] {
            let f = st.family(fam);
            let in_use = users
                .keys()
                .filter(|x| IpFamily::of(x) == fam && a.pool_of(**x) == Some(&p.name))
                .count();
            assert_eq!(f.in_use, in_use as u128, "{} {fam}: in_use", p.name);
            assert_eq!(f.available, f.total - f.in_use, "{} {fam}: available", p.name);
            if let Some(total) = small_total(p, fam) {
                assert_eq!(f.total, total, "{} {fam}: total", p.name);
            }
        }
    }
}

/// The pool's usable addresses of `family`, counted one by one (None when a range is too big to count).
fn small_total(p: &PoolDef, fam: IpFamily) -> Option<u128> {
    let mut total = 0u128;
    for r in p.ranges.iter().filter(|r| IpFamily::of(r.start()) == fam) {
        for x in addresses(r, 4096)? {
            if !is_avoided(p, x) {
                total += 1;
            }
        }
    }
    Some(total)
}

/// The addresses of a range, if it has at most `limit`.
pub fn addresses(r: &RangeInclusive<IpAddr>, limit: u128) -> Option<Vec<IpAddr>> {
    let num = |x: &IpAddr| match x {
        IpAddr::V4(v) => u128::from(u32::from(*v)),
        IpAddr::V6(v) => u128::from(*v),
    };
    let (s, e) = (num(r.start()), num(r.end()));
    if e - s >= limit {
        return None;
    }
    Some(
        (s..=e)
            .map(|v| match r.start() {
                IpAddr::V4(_) => IpAddr::from(std::net::Ipv4Addr::from(v as u32)),
                IpAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::from(v)),
            })
            .collect(),
    )
}

/// The lowest free address of `family` over the auto-assign pools in config order, found by a linear scan:
/// the reference for "a new single-stack Service without sharing key or request gets the lowest free
/// address of the first pool that has one".
pub fn naive_lowest_free(a: &Allocator, pools: &[PoolDef], fam: IpFamily) -> Option<(String, IpAddr)> {
    for p in pools.iter().filter(|p| p.auto_assign) {
        for r in p.ranges.iter().filter(|r| IpFamily::of(r.start()) == fam) {
            let list = addresses(r, 1 << 16).expect("test ranges are small");
            if let Some(x) = list
                .into_iter()
                .find(|x| !is_avoided(p, *x) && a.holders(*x).next().is_none())
            {
                return Some((p.name.clone(), x));
            }
        }
    }
    None
}
