//! The step runner for the table-driven allocator tests: a case is a pool list and a sequence of steps, each
//! with its exact expected result. After every step the runner checks the invariants (`check_invariants`),
//! that a failed `assign` or a refused `set_pools` changed nothing, that a successful `assign` is
//! idempotent, and at the end that the pool definitions given to the allocator were not modified.

use std::collections::BTreeMap;

use super::*;
use ferrolb_controller::allocator::{
    AllocError, Allocator, Assignment, IpFamily, PoolDef, PoolsError, Revocation, RevokedIp, ServiceKey,
    ServiceRequest,
};

pub enum Step {
    /// Assign; expect `Ok((pool, ips))` or the exact error.
    Assign(
        ServiceRequest,
        Result<(&'static str, Vec<&'static str>), AllocError>,
    ),
    /// Unassign; expect what was released.
    Unassign(&'static str, Option<Vec<&'static str>>),
    /// Replace the pools; expect the revocations or the error.
    SetPools(Vec<PoolDef>, Result<Vec<Revocation>, PoolsError>),
    /// Restore IPs from a status; expect the revocation, if any.
    Restore(ServiceRequest, Vec<&'static str>, Option<Revocation>),
    /// The Service's current assignment.
    Holds(&'static str, Option<(&'static str, Vec<&'static str>)>),
    /// A pool's counters for a family: (in use, available), and the pool's Service count.
    Stats(&'static str, IpFamily, u128, u128, usize),
}
use Step::*;

pub struct Case {
    pub desc: &'static str,
    pub pools: Vec<PoolDef>,
    pub steps: Vec<Step>,
}

pub fn ok(
    pool: &'static str,
    list: &[&'static str],
) -> Result<(&'static str, Vec<&'static str>), AllocError> {
    Ok((pool, list.to_vec()))
}

pub fn asg(pool: &str, list: &[&str]) -> Assignment {
    Assignment {
        pool: pool.to_owned(),
        ips: ips(list),
    }
}

pub fn revoked(name: &str, lost: Vec<(&str, AllocError)>, kept: Option<(&str, &[&str])>) -> Revocation {
    Revocation {
        key: key(name),
        revoked: lost
            .into_iter()
            .map(|(x, reason)| RevokedIp { ip: ip(x), reason })
            .collect(),
        kept: kept.map(|(p, l)| asg(p, l)),
    }
}

pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn keys(list: &[&str]) -> Vec<ServiceKey> {
    list.iter().map(|s| key(s)).collect()
}

pub fn run(case: Case) {
    let original = case.pools.clone();
    let mut pools = case.pools;
    let mut a = Allocator::new(&pools).unwrap_or_else(|e| panic!("{}: {e}", case.desc));
    let mut held: BTreeMap<ServiceKey, ServiceRequest> = BTreeMap::new();
    let mut pool_history = vec![original.clone()];
    for (i, step) in case.steps.into_iter().enumerate() {
        let at = format!("{} / step {}", case.desc, i + 1);
        match step {
            Assign(req, want) => {
                let before = a.clone();
                let got = a.assign(&req).map(|x| (x.pool, x.ips));
                match (&got, &want) {
                    (Ok(g), Ok((p, l))) => assert_eq!(g, &(p.to_string(), ips(l)), "{at}"),
                    (Err(g), Err(w)) => {
                        assert_eq!(g, w, "{at}");
                        assert!(!g.to_string().is_empty());
                        assert_eq!(a, before, "{at}: a failed assign changed the allocator");
                    }
                    _ => panic!("{at}: got {got:?}, want {want:?}"),
                }
                if got.is_ok() {
                    held.insert(req.key.clone(), req.clone());
                    // Idempotent: the same request again changes nothing.
                    let snapshot = a.clone();
                    let again = a.assign(&req).map(|x| (x.pool, x.ips));
                    assert_eq!(again, got, "{at}: reassign");
                    assert_eq!(a, snapshot, "{at}: reassign changed the allocator");
                }
            }
            Unassign(name, want) => {
                let got = a.unassign(&key(name)).map(|x| x.ips);
                assert_eq!(got, want.map(|l| ips(&l)), "{at}");
            }
            SetPools(new, want) => {
                let given = new.clone();
                let before = a.clone();
                let got = a.set_pools(&new);
                assert_eq!(new, given, "{at}: set_pools modified its input");
                assert_eq!(got, want, "{at}");
                if got.is_ok() {
                    pools = new;
                    pool_history.push(pools.clone());
                } else {
                    assert_eq!(a, before, "{at}: a refused set_pools changed the allocator");
                }
            }
            Restore(req, list, want) => {
                let got = a.restore(&req, &ips(&list));
                assert_eq!(got, want, "{at}");
                if a.assignment(&req.key).is_some() {
                    held.insert(req.key.clone(), req);
                }
            }
            Holds(name, want) => {
                assert_eq!(
                    a.assignment(&key(name)).cloned(),
                    want.map(|(p, l)| asg(p, &l)),
                    "{at}"
                );
            }
            Stats(pool, fam, in_use, available, services) => {
                let st = a
                    .pool_stats(pool)
                    .unwrap_or_else(|| panic!("{at}: no pool {pool}"));
                let f = st.family(fam);
                assert_eq!(
                    (f.in_use, f.available, st.services),
                    (in_use, available, services),
                    "{at}: {st:?}"
                );
            }
        }
        held.retain(|k, _| a.assignment(k).is_some());
        check_invariants(&a, &pools, &held);
    }
    assert_eq!(
        pool_history[0], original,
        "{}: the input pools were modified",
        case.desc
    );
}

pub fn net4() -> PoolDef {
    pool("a", &[("192.0.2.0", "192.0.2.3")])
}
