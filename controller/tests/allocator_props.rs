//! Property tests: random sequences of assign / unassign / restore / set_pools over small pools (both
//! families, avoid-buggy-ips across a /24 boundary, a manual pool, dual-stack pools), random requests
//! (sharing keys, ports, backends, policies, requested IPs in and out of pools, pinned and unknown pools).
//! After every operation:
//! - no IP is held by two incompatible Services, counters agree with a recount (`check_invariants`);
//! - rebuilding from the current assignments, in key order and in reverse, reproduces the same state;
//! - a failed assign changed nothing, a successful one is idempotent and never in a pool denied to the
//!   Service, and a new plain Service got the
//!   lowest free address found by a linear scan;
//! - `set_pools` kept every IP it did not report.
//!
//! At the end: replaying the same operations on a new allocator gives the same state, and releasing every
//! Service leaves every pool fully free.

mod allocator_common;

use std::collections::BTreeMap;
use std::net::IpAddr;

use allocator_common::*;
use ferrolb_controller::allocator::{
    Allocator, BackendKey, IpFamily, IpFamilyPolicy, PoolAccess, PoolDef, Port, ServiceKey, ServiceRequest,
};
use proptest::prelude::*;

/// The pool configurations `SetPools` switches between.
fn configs() -> Vec<Vec<PoolDef>> {
    let a = || avoid_buggy(pool("a", &[("192.0.2.253", "192.0.3.2")]));
    let b = || {
        pool(
            "b",
            &[("198.51.100.0", "198.51.100.2"), ("2001:db8::", "2001:db8::2")],
        )
    };
    let m = || manual(pool("m", &[("203.0.113.0", "203.0.113.2")]));
    let c = || pool("c", &[("2001:db8:1::", "2001:db8:1::1")]);
    vec![
        vec![a(), b(), m(), c()],
        // Shrunk: a loses its last address, b its IPv6 range and one IPv4 address.
        vec![
            avoid_buggy(pool("a", &[("192.0.2.253", "192.0.3.1")])),
            pool("b", &[("198.51.100.0", "198.51.100.1")]),
            m(),
            c(),
        ],
        // Reordered, renamed, m made auto-assign, a without avoid-buggy-ips.
        vec![
            c(),
            pool("m", &[("203.0.113.0", "203.0.113.2")]),
            pool(
                "b2",
                &[("198.51.100.0", "198.51.100.2"), ("2001:db8::", "2001:db8::2")],
            ),
            pool("a", &[("192.0.2.253", "192.0.3.2")]),
        ],
        // b split in two pools by family.
        vec![
            a(),
            pool("b", &[("198.51.100.0", "198.51.100.2")]),
            pool("b6", &[("2001:db8::", "2001:db8::2")]),
            m(),
            c(),
        ],
    ]
}

/// Addresses requests and restores pick from: in pools, avoided, and outside every pool.
const ADDRS: &[&str] = &[
    "192.0.2.253",
    "192.0.2.255",
    "192.0.3.0",
    "192.0.3.2",
    "198.51.100.1",
    "2001:db8::1",
    "203.0.113.1",
    "2001:db8:1::",
    "192.0.2.9",
    "2001:db8:9::1",
];
const POOL_NAMES: &[&str] = &["a", "b", "m", "c", "b2", "nope"];
const PORTS: &[Port] = &[
    Port {
        protocol: ferrolb_controller::allocator::Protocol::Tcp,
        port: 80,
    },
    Port {
        protocol: ferrolb_controller::allocator::Protocol::Tcp,
        port: 443,
    },
    Port {
        protocol: ferrolb_controller::allocator::Protocol::Udp,
        port: 53,
    },
];

#[derive(Debug, Clone)]
struct Spec {
    svc: u8,
    sharing: Option<u8>,
    ports: Vec<usize>,
    backend: u8,
    policy: u8,
    v6_first: bool,
    requested: Vec<usize>,
    pool: Option<usize>,
    /// A pool whose `serviceAllocation` does not admit the Service.
    denied: Option<usize>,
}

impl Spec {
    fn request(&self) -> ServiceRequest {
        let families = if self.v6_first {
            [IpFamily::V6, IpFamily::V4]
        } else {
            [IpFamily::V4, IpFamily::V6]
        };
        let policy = match self.policy {
            0 => IpFamilyPolicy::SingleStack,
            1 => IpFamilyPolicy::PreferDualStack,
            _ => IpFamilyPolicy::RequireDualStack,
        };
        ServiceRequest {
            key: key(&format!("s{}", self.svc)),
            ports: self.ports.iter().map(|&i| PORTS[i]).collect(),
            sharing_key: self.sharing.map(|k| format!("k{k}")),
            backend: match self.backend {
                0 => BackendKey::Cluster,
                b => local(&format!("app={b}")),
            },
            family_policy: policy,
            families: families.to_vec(),
            requested_ips: self.requested.iter().map(|&i| ip(ADDRS[i])).collect(),
            requested_pool: self.pool.map(|i| POOL_NAMES[i].to_owned()),
            access: PoolAccess {
                preferred: Vec::new(),
                denied: self
                    .denied
                    .map(|i| POOL_NAMES[i].to_owned())
                    .into_iter()
                    .collect(),
            },
        }
    }

    /// A plain new Service: single stack, no sharing key, no request, no pin.
    fn is_plain(&self) -> bool {
        self.policy == 0
            && self.sharing.is_none()
            && self.requested.is_empty()
            && self.pool.is_none()
            && self.denied.is_none()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Assign(Spec),
    Unassign(u8),
    Restore(Spec, Vec<usize>),
    SetPools(usize),
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..10,
        prop_oneof![3 => Just(None), 2 => (0u8..2).prop_map(Some)],
        proptest::sample::subsequence(vec![0usize, 1, 2], 0..=2),
        prop_oneof![3 => Just(0u8), 1 => 1u8..3],
        prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        any::<bool>(),
        prop_oneof![4 => Just(vec![]), 1 => proptest::collection::vec(0..ADDRS.len(), 1..=2)],
        prop_oneof![5 => Just(None), 1 => (0..POOL_NAMES.len()).prop_map(Some)],
        prop_oneof![5 => Just(None), 1 => (0..POOL_NAMES.len()).prop_map(Some)],
    )
        .prop_map(
            |(svc, sharing, ports, backend, policy, v6_first, requested, pool, denied)| Spec {
                svc,
                sharing,
                ports,
                backend,
                policy,
                v6_first,
                requested,
                pool,
                denied,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => spec().prop_map(Op::Assign),
        3 => (0u8..10).prop_map(Op::Unassign),
        1 => (spec(), proptest::collection::vec(0..ADDRS.len(), 0..=2)).prop_map(|(s, i)| Op::Restore(s, i)),
        1 => (0..4usize).prop_map(Op::SetPools),
    ]
}

/// Applies `op`, checking the per-operation properties.
fn apply(
    a: &mut Allocator,
    pools: &mut Vec<PoolDef>,
    held: &mut BTreeMap<ServiceKey, ServiceRequest>,
    op: &Op,
) {
    match op {
        Op::Assign(spec) => {
            let req = spec.request();
            let before = a.clone();
            let lowest = naive_lowest_free(&before, pools, req.primary_family());
            match a.assign(&req) {
                Err(e) => {
                    assert_eq!(*a, before, "failed assign ({e}) changed the allocator");
                    assert!(!e.metric_label().is_empty() && !e.to_string().is_empty());
                }
                Ok(got) => {
                    assert_eq!(a.assignment(&req.key), Some(&got));
                    assert!(
                        !req.access.denied.contains(&got.pool),
                        "given a denied pool: {got:?}"
                    );
                    if spec.is_plain() && before.assignment(&req.key).is_none() {
                        let (pool, x) = lowest.expect("assigned although the scan found nothing free");
                        assert_eq!(
                            (got.pool.clone(), got.ips.clone()),
                            (pool, vec![x]),
                            "not the lowest free"
                        );
                    }
                    let snapshot = a.clone();
                    assert_eq!(a.assign(&req), Ok(got), "reassign differs");
                    assert_eq!(*a, snapshot, "reassign changed the allocator");
                    held.insert(req.key.clone(), req);
                }
            }
        }
        Op::Unassign(n) => {
            let k = key(&format!("s{n}"));
            let had = a.assignment(&k).cloned();
            assert_eq!(a.unassign(&k), had);
        }
        Op::Restore(spec, list) => {
            let req = spec.request();
            let list: Vec<IpAddr> = list.iter().map(|&i| ip(ADDRS[i])).collect();
            let rev = a.restore(&req, &list);
            let now = a.assignment(&req.key).cloned();
            match rev {
                None => assert_eq!(now.map(|x| x.ips.len()).unwrap_or(0), list.len()),
                Some(r) => {
                    assert_eq!(r.kept, now);
                    assert_eq!(
                        r.revoked.len() + r.kept.map(|x| x.ips.len()).unwrap_or(0),
                        list.len()
                    );
                }
            }
            if a.assignment(&req.key).is_some() {
                held.insert(req.key.clone(), req);
            }
        }
        Op::SetPools(i) => {
            let new = configs()[*i].clone();
            let before: BTreeMap<ServiceKey, Vec<IpAddr>> =
                a.assignments().map(|(k, x)| (k.clone(), x.ips.clone())).collect();
            let revs = a.set_pools(&new).expect("test configs are valid");
            assert_eq!(new, configs()[*i], "set_pools modified its input");
            for (k, ips_before) in &before {
                let now = a.assignment(k).map(|x| x.ips.clone()).unwrap_or_default();
                match revs.iter().find(|r| &r.key == k) {
                    None => assert_eq!(&now, ips_before, "{k} changed without being reported"),
                    Some(r) => {
                        assert_eq!(r.kept.as_ref().map(|x| &x.ips), a.assignment(k).map(|x| &x.ips));
                        let mut all: Vec<IpAddr> = now.clone();
                        all.extend(r.revoked.iter().map(|x| x.ip));
                        all.sort();
                        let mut b = ips_before.clone();
                        b.sort();
                        assert_eq!(all, b, "{k}: kept + revoked != before");
                    }
                }
            }
            *pools = new;
        }
    }
    held.retain(|k, _| a.assignment(k).is_some());
}

/// Rebuilding from the current assignments reproduces the allocator exactly, in any order.
fn check_rebuild(a: &Allocator, pools: &[PoolDef], held: &BTreeMap<ServiceKey, ServiceRequest>) {
    let existing: Vec<(ServiceRequest, Vec<IpAddr>)> = a
        .assignments()
        .map(|(k, x)| (held[k].clone(), x.ips.clone()))
        .collect();
    let (forward, revs) = Allocator::rebuild(pools, existing.iter().map(|(r, i)| (r, i))).expect("rebuild");
    assert_eq!(revs, vec![], "rebuild revoked valid assignments");
    let list = |x: &Allocator| {
        x.assignments()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(&forward),
        list(a),
        "rebuild (key order) gives other assignments"
    );
    assert_eq!(&forward, a, "rebuild (key order) differs");
    let (backward, revs) =
        Allocator::rebuild(pools, existing.iter().rev().map(|(r, i)| (r, i))).expect("rebuild");
    assert_eq!(revs, vec![]);
    assert_eq!(&backward, a, "rebuild (reverse order) differs");
}

fn run(ops: &[Op], check_each: bool) -> Allocator {
    let mut pools = configs()[0].clone();
    let mut a = Allocator::new(&pools).expect("valid pools");
    let mut held = BTreeMap::new();
    for op in ops {
        apply(&mut a, &mut pools, &mut held, op);
        if check_each {
            check_invariants(&a, &pools, &held);
            check_rebuild(&a, &pools, &held);
        }
    }
    a
}

proptest! {
    // Integration tests have no lib.rs beside them for proptest to store regressions next to; failures
    // print the minimal case instead.
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_every_invariant(ops in proptest::collection::vec(op(), 1..60)) {
        let mut a = run(&ops, true);
        // Same inputs in the same order → same result.
        prop_assert_eq!(&run(&ops, false), &a);
        // Releasing everything leaves every pool fully free.
        let keys: Vec<ServiceKey> = a.assignments().map(|(k, _)| k.clone()).collect();
        for k in &keys {
            prop_assert!(a.unassign(k).is_some());
        }
        prop_assert!(a.is_empty());
        for (name, st) in a.all_pool_stats() {
            for fam in [IpFamily::V4, IpFamily::V6] {
                let f = st.family(fam);
                prop_assert_eq!((f.in_use, f.available), (0, f.total), "{} {}", name, fam);
            }
            prop_assert_eq!(st.services, 0);
        }
        // And the empty allocator equals a new one over the same pools.
        let pools: Vec<PoolDef> = a.pools().cloned().collect();
        prop_assert_eq!(a, Allocator::new(&pools).expect("valid pools"));
    }
}
