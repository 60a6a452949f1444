//! Table-driven step sequences (see `allocator_common::steps` for the runner and what it checks after every
//! step): dual-stack policies, pool shrink / rename / reorder / removal and refused configs, and restoring
//! statuses before serving pending Services.

mod allocator_common;

use allocator_common::steps::{Case, Step::*, keys, names, net4, ok, revoked, run};
use allocator_common::*;
use ferrolb_controller::allocator::{
    AllocError, DualStackFailure, IpFamily, IpFamilyPolicy, PoolDef, PoolsError,
};

#[test]
fn dual_stack_policies() {
    let pools = || {
        vec![
            pool("v4", &[("192.0.2.0", "192.0.2.1")]),
            pool(
                "dual",
                &[("2001:db8::", "2001:db8::1"), ("198.51.100.0", "198.51.100.1")],
            ),
            pool("v6", &[("2001:db8:1::", "2001:db8:1::1")]),
        ]
    };
    use IpFamilyPolicy::*;
    let cases = vec![
        Case {
            desc: "SingleStack follows the first family; dual-stack policies want one pool with both",
            pools: pools(),
            steps: vec![
                Assign(svc("s4"), ok("v4", &["192.0.2.0"])),
                Assign(
                    svc("s6").with_families(SingleStack, [IpFamily::V6]),
                    ok("dual", &["2001:db8::"]),
                ),
                Assign(
                    dual(svc("p"), PreferDualStack),
                    ok("dual", &["198.51.100.0", "2001:db8::1"]),
                ),
                Assign(
                    svc("r").with_families(RequireDualStack, [IpFamily::V6, IpFamily::V4]),
                    Err(AllocError::DualStackUnsatisfiable {
                        reason: DualStackFailure::Exhausted {
                            family: IpFamily::V6,
                            pools: names(&["dual"]),
                        },
                    }),
                ),
                Unassign("s6", Some(vec!["2001:db8::"])),
                Assign(
                    svc("r").with_families(RequireDualStack, [IpFamily::V6, IpFamily::V4]),
                    ok("dual", &["2001:db8::", "198.51.100.1"]),
                ),
                // PreferDualStack with no pool able to give both falls back to the first family.
                Assign(dual(svc("p2"), PreferDualStack), ok("v4", &["192.0.2.1"])),
                Assign(
                    svc("p3").with_families(PreferDualStack, [IpFamily::V6, IpFamily::V4]),
                    ok("v6", &["2001:db8:1::"]),
                ),
                Stats("dual", IpFamily::V4, 2, 0, 2),
                Stats("dual", IpFamily::V6, 2, 0, 2),
            ],
        },
        Case {
            desc: "the primary family decides the order of the IPs, without moving them",
            pools: pools(),
            steps: vec![
                Assign(svc("s"), ok("v4", &["192.0.2.0"])),
                Assign(
                    svc("s").with_families(PreferDualStack, [IpFamily::V6, IpFamily::V4]),
                    ok("dual", &["2001:db8::", "198.51.100.0"]),
                ),
                Assign(
                    dual(svc("s"), PreferDualStack),
                    ok("dual", &["198.51.100.0", "2001:db8::"]),
                ),
                Stats("v4", IpFamily::V4, 0, 2, 0),
            ],
        },
        Case {
            desc: "RequireDualStack without any dual-stack pool",
            pools: vec![
                pool("v4", &[("192.0.2.0", "192.0.2.1")]),
                pool("v6", &[("2001:db8::", "2001:db8::1")]),
            ],
            steps: vec![
                Assign(
                    dual(svc("r"), RequireDualStack),
                    Err(AllocError::DualStackUnsatisfiable {
                        reason: DualStackFailure::NoPoolWithBothFamilies {
                            pools: names(&["v4", "v6"]),
                        },
                    }),
                ),
                Assign(
                    svc("s")
                        .with_families(SingleStack, [IpFamily::V6])
                        .with_pool("v4"),
                    Err(AllocError::NoPoolForFamily {
                        family: IpFamily::V6,
                        pools: names(&["v4"]),
                    }),
                ),
            ],
        },
        Case {
            desc: "PreferDualStack gains the missing family when its own pool gains it, without moving",
            pools: vec![
                pool(
                    "dual6",
                    &[("2001:db8::", "2001:db8::1"), ("203.0.113.0", "203.0.113.0")],
                ),
                pool("p", &[("192.0.2.0", "192.0.2.1")]),
            ],
            steps: vec![
                Assign(
                    svc("filler").with_families(SingleStack, [IpFamily::V4]),
                    ok("dual6", &["203.0.113.0"]),
                ),
                Assign(dual(svc("s"), PreferDualStack), ok("p", &["192.0.2.0"])),
                SetPools(
                    vec![
                        pool(
                            "dual6",
                            &[("2001:db8::", "2001:db8::1"), ("203.0.113.0", "203.0.113.0")],
                        ),
                        pool(
                            "p",
                            &[("192.0.2.0", "192.0.2.1"), ("2001:db8:2::", "2001:db8:2::1")],
                        ),
                    ],
                    Ok(vec![]),
                ),
                Holds("s", Some(("p", vec!["192.0.2.0"]))),
                Assign(
                    dual(svc("s"), PreferDualStack),
                    ok("p", &["192.0.2.0", "2001:db8:2::"]),
                ),
                // Dropping to SingleStack keeps the primary family's IP.
                Assign(dual(svc("s"), SingleStack), ok("p", &["192.0.2.0"])),
                Stats("p", IpFamily::V6, 0, 2, 1),
            ],
        },
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn pool_changes() {
    let two = || {
        vec![
            net4(),
            pool(
                "b",
                &[("198.51.100.0", "198.51.100.3"), ("2001:db8::", "2001:db8::3")],
            ),
        ]
    };
    let dual_s = || dual(svc("d"), IpFamilyPolicy::RequireDualStack).with_pool("b");
    let cases = vec![
        Case {
            desc: "shrink, rename, reorder, removal; refused configs change nothing",
            pools: two(),
            steps: vec![
                Assign(svc("s1"), ok("a", &["192.0.2.0"])),
                Assign(svc("s2"), ok("a", &["192.0.2.1"])),
                Assign(svc("s3"), ok("a", &["192.0.2.2"])),
                Assign(dual_s(), ok("b", &["198.51.100.0", "2001:db8::"])),
                // Shrink: only the Service whose IP left is revoked.
                SetPools(
                    vec![pool("a", &[("192.0.2.0", "192.0.2.1")]), two().remove(1)],
                    Ok(vec![revoked(
                        "s3",
                        vec![("192.0.2.2", AllocError::NotInAnyPool { ip: ip("192.0.2.2") })],
                        None,
                    )]),
                ),
                Holds("s1", Some(("a", vec!["192.0.2.0"]))),
                // Rename and reorder: nobody moves, the pool name follows.
                SetPools(
                    vec![two().remove(1), pool("renamed", &[("192.0.2.0", "192.0.2.1")])],
                    Ok(vec![]),
                ),
                Holds("s2", Some(("renamed", vec!["192.0.2.1"]))),
                // The v6 range leaves: the dual-stack Service keeps its IPv4 address.
                SetPools(
                    vec![
                        pool("b", &[("198.51.100.0", "198.51.100.3")]),
                        pool("renamed", &[("192.0.2.0", "192.0.2.1")]),
                    ],
                    Ok(vec![revoked(
                        "d",
                        vec![("2001:db8::", AllocError::NotInAnyPool { ip: ip("2001:db8::") })],
                        Some(("b", &["198.51.100.0"])),
                    )]),
                ),
                // Refused: overlap, duplicate name. Nothing changes.
                SetPools(
                    vec![
                        pool("x", &[("192.0.2.0", "192.0.2.9")]),
                        pool("y", &[("192.0.2.5", "192.0.2.5")]),
                    ],
                    Err(PoolsError::Overlap {
                        pool: "x".into(),
                        range: "192.0.2.0-192.0.2.9".into(),
                        other_pool: "y".into(),
                        other_range: "192.0.2.5-192.0.2.5".into(),
                    }),
                ),
                SetPools(
                    vec![
                        pool("x", &[("192.0.2.0", "192.0.2.0")]),
                        pool("x", &[("192.0.2.1", "192.0.2.1")]),
                    ],
                    Err(PoolsError::DuplicateName { name: "x".into() }),
                ),
                SetPools(
                    vec![PoolDef::new("x", [ip("192.0.2.9")..=ip("192.0.2.1")])],
                    Err(PoolsError::Reversed {
                        pool: "x".into(),
                        index: 0,
                        range: "192.0.2.9-192.0.2.1".into(),
                    }),
                ),
                SetPools(
                    vec![PoolDef::new("x", [ip("192.0.2.1")..=ip("2001:db8::1")])],
                    Err(PoolsError::MixedFamilies {
                        pool: "x".into(),
                        index: 0,
                        range: "192.0.2.1-2001:db8::1".into(),
                    }),
                ),
                Holds("s1", Some(("renamed", vec!["192.0.2.0"]))),
                // Removal of a pool revokes everything in it.
                SetPools(
                    vec![pool("b", &[("198.51.100.0", "198.51.100.3")])],
                    Ok(vec![
                        revoked(
                            "s1",
                            vec![("192.0.2.0", AllocError::NotInAnyPool { ip: ip("192.0.2.0") })],
                            None,
                        ),
                        revoked(
                            "s2",
                            vec![("192.0.2.1", AllocError::NotInAnyPool { ip: ip("192.0.2.1") })],
                            None,
                        ),
                    ]),
                ),
                Stats("b", IpFamily::V4, 1, 3, 1),
            ],
        },
        Case {
            desc: "avoid-buggy-ips switched on, and a dual-stack Service split across pools",
            pools: two(),
            steps: vec![
                Assign(svc("s0"), ok("a", &["192.0.2.0"])),
                Assign(dual_s(), ok("b", &["198.51.100.0", "2001:db8::"])),
                SetPools(
                    vec![
                        avoid_buggy(net4()),
                        pool("b", &[("198.51.100.0", "198.51.100.3")]),
                        pool("c", &[("2001:db8::", "2001:db8::3")]),
                    ],
                    Ok(vec![
                        revoked(
                            "d",
                            vec![(
                                "2001:db8::",
                                AllocError::SplitAcrossPools {
                                    ip: ip("2001:db8::"),
                                    pool: "c".into(),
                                    other_ip: ip("198.51.100.0"),
                                    other_pool: "b".into(),
                                },
                            )],
                            Some(("b", &["198.51.100.0"])),
                        ),
                        revoked(
                            "s0",
                            vec![(
                                "192.0.2.0",
                                AllocError::AvoidedAddress {
                                    ip: ip("192.0.2.0"),
                                    pool: "a".into(),
                                },
                            )],
                            None,
                        ),
                    ]),
                ),
                Stats("c", IpFamily::V6, 0, 4, 0),
                Stats("a", IpFamily::V4, 0, 3, 0),
            ],
        },
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn restore_then_serve() {
    let cases = vec![Case {
        desc: "restored IPs are never handed to pending Services; conflicts revoke the later one",
        pools: vec![net4()],
        steps: vec![
            Restore(svc("old"), vec!["192.0.2.1"], None),
            Restore(
                svc("dup"),
                vec!["192.0.2.1"],
                Some(revoked(
                    "dup",
                    vec![(
                        "192.0.2.1",
                        AllocError::IpInUse {
                            ip: ip("192.0.2.1"),
                            by: keys(&["old"]),
                        },
                    )],
                    None,
                )),
            ),
            Restore(
                svc("gone"),
                vec!["203.0.113.1"],
                Some(revoked(
                    "gone",
                    vec![(
                        "203.0.113.1",
                        AllocError::NotInAnyPool {
                            ip: ip("203.0.113.1"),
                        },
                    )],
                    None,
                )),
            ),
            Restore(
                svc("two"),
                vec!["192.0.2.2", "192.0.2.3"],
                Some(revoked(
                    "two",
                    vec![(
                        "192.0.2.3",
                        AllocError::DuplicateFamily {
                            ip: ip("192.0.2.3"),
                            family: IpFamily::V4,
                        },
                    )],
                    Some(("a", &["192.0.2.2"])),
                )),
            ),
            Assign(svc("new1"), ok("a", &["192.0.2.0"])),
            Assign(svc("dup"), ok("a", &["192.0.2.3"])),
            Assign(
                svc("new2"),
                Err(AllocError::PoolExhausted {
                    family: IpFamily::V4,
                    pools: names(&["a"]),
                }),
            ),
            Assign(svc("old"), ok("a", &["192.0.2.1"])),
            Assign(svc("two"), ok("a", &["192.0.2.2"])),
        ],
    }];
    cases.into_iter().for_each(run);
}
