//! Table-driven step sequences (see `allocator_common::steps` for the runner and what it checks after every
//! step): lowest free address and idempotent reassign, config order, auto-assign, avoid-buggy-ips, requested
//! IPs and pins, theft attempts, each sharing rule on its own, and the operators' error messages.

mod allocator_common;

use allocator_common::steps::{Case, Step::*, keys, names, net4, ok, revoked, run};
use allocator_common::*;
use ferrolb_controller::allocator::{
    AllocError, DualStackFailure, IpFamily, IpFamilyPolicy, Port, RequestProblem, SharingRule,
};

#[test]
fn assign_basics() {
    let cases = vec![
        Case {
            desc: "lowest free address, idempotent reassign, freed address reused",
            pools: vec![net4()],
            steps: vec![
                Assign(svc("s1"), ok("a", &["192.0.2.0"])),
                Assign(svc("s1"), ok("a", &["192.0.2.0"])),
                Assign(svc("s2"), ok("a", &["192.0.2.1"])),
                Assign(svc("s3"), ok("a", &["192.0.2.2"])),
                Unassign("s1", Some(vec!["192.0.2.0"])),
                Unassign("s1", None),
                Holds("s1", None),
                Assign(svc("s4"), ok("a", &["192.0.2.0"])),
                Assign(svc("s2"), ok("a", &["192.0.2.1"])),
                Stats("a", IpFamily::V4, 3, 1, 3),
                Stats("a", IpFamily::V6, 0, 0, 3),
            ],
        },
        Case {
            desc: "exhaustion names the pools tried; a release makes room",
            pools: vec![
                pool("a", &[("192.0.2.0", "192.0.2.1")]),
                manual(pool("m", &[("192.0.2.8", "192.0.2.8")])),
            ],
            steps: vec![
                Assign(svc("s1"), ok("a", &["192.0.2.0"])),
                Assign(svc("s2"), ok("a", &["192.0.2.1"])),
                Assign(
                    svc("s3"),
                    Err(AllocError::PoolExhausted {
                        family: IpFamily::V4,
                        pools: names(&["a"]),
                    }),
                ),
                Holds("s3", None),
                Unassign("s1", Some(vec!["192.0.2.0"])),
                Assign(svc("s3"), ok("a", &["192.0.2.0"])),
                Stats("a", IpFamily::V4, 2, 0, 2),
            ],
        },
        Case {
            desc: "pools are tried in config order, ranges in config order",
            pools: vec![
                pool(
                    "b",
                    &[("203.0.113.5", "203.0.113.5"), ("203.0.113.1", "203.0.113.1")],
                ),
                pool("a", &[("198.51.100.0", "198.51.100.0")]),
            ],
            steps: vec![
                Assign(svc("s1"), ok("b", &["203.0.113.5"])),
                Assign(svc("s2"), ok("b", &["203.0.113.1"])),
                Assign(svc("s3"), ok("a", &["198.51.100.0"])),
                Unassign("s1", Some(vec!["203.0.113.5"])),
                Assign(svc("s4"), ok("b", &["203.0.113.5"])),
            ],
        },
        Case {
            desc: "auto-assign false: only when pinned or requested",
            pools: vec![
                manual(pool("m", &[("192.0.2.0", "192.0.2.3")])),
                pool("b", &[("198.51.100.0", "198.51.100.3")]),
            ],
            steps: vec![
                Assign(svc("s1"), ok("b", &["198.51.100.0"])),
                Assign(svc("s2").with_pool("m"), ok("m", &["192.0.2.0"])),
                Assign(
                    svc("s3").with_requested_ips([ip("192.0.2.3")]),
                    ok("m", &["192.0.2.3"]),
                ),
                Assign(svc("s4"), ok("b", &["198.51.100.1"])),
                SetPools(
                    vec![manual(pool("m", &[("192.0.2.0", "192.0.2.3")]))],
                    Ok(vec![
                        revoked(
                            "s1",
                            vec![(
                                "198.51.100.0",
                                AllocError::NotInAnyPool {
                                    ip: ip("198.51.100.0"),
                                },
                            )],
                            None,
                        ),
                        revoked(
                            "s4",
                            vec![(
                                "198.51.100.1",
                                AllocError::NotInAnyPool {
                                    ip: ip("198.51.100.1"),
                                },
                            )],
                            None,
                        ),
                    ]),
                ),
                Assign(
                    svc("s5"),
                    Err(AllocError::NoPoolForFamily {
                        family: IpFamily::V4,
                        pools: vec![],
                    }),
                ),
                Assign(svc("s2").with_pool("m"), ok("m", &["192.0.2.0"])),
            ],
        },
        Case {
            desc: "avoid-buggy-ips skips .0 and .255, also across a /24 boundary",
            pools: vec![avoid_buggy(pool("a", &[("192.0.2.254", "192.0.3.1")]))],
            steps: vec![
                Stats("a", IpFamily::V4, 0, 2, 0),
                Assign(svc("s1"), ok("a", &["192.0.2.254"])),
                Assign(svc("s2"), ok("a", &["192.0.3.1"])),
                Assign(
                    svc("s3"),
                    Err(AllocError::PoolExhausted {
                        family: IpFamily::V4,
                        pools: names(&["a"]),
                    }),
                ),
                Assign(
                    svc("s3").with_requested_ips([ip("192.0.2.255")]),
                    Err(AllocError::AvoidedAddress {
                        ip: ip("192.0.2.255"),
                        pool: "a".into(),
                    }),
                ),
                Assign(
                    svc("s3").with_requested_ips([ip("192.0.3.0")]),
                    Err(AllocError::AvoidedAddress {
                        ip: ip("192.0.3.0"),
                        pool: "a".into(),
                    }),
                ),
            ],
        },
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn requested_ips_and_pins() {
    let pools = || {
        vec![
            net4(),
            pool(
                "b",
                &[("198.51.100.0", "198.51.100.3"), ("2001:db8::", "2001:db8::3")],
            ),
        ]
    };
    let cases = vec![
        Case {
            desc: "requested IP: granted, not in any pool, pinned elsewhere, unknown pool",
            pools: pools(),
            steps: vec![
                Assign(
                    svc("s1").with_requested_ips([ip("192.0.2.2")]),
                    ok("a", &["192.0.2.2"]),
                ),
                Assign(
                    svc("s2").with_requested_ips([ip("203.0.113.9")]),
                    Err(AllocError::NotInAnyPool {
                        ip: ip("203.0.113.9"),
                    }),
                ),
                Assign(
                    svc("s2").with_requested_ips([ip("192.0.2.3")]).with_pool("b"),
                    Err(AllocError::NotInPinnedPool {
                        ip: ip("192.0.2.3"),
                        pool: "b".into(),
                        actual: "a".into(),
                    }),
                ),
                Assign(
                    svc("s2").with_pool("nope"),
                    Err(AllocError::UnknownPool { pool: "nope".into() }),
                ),
                Assign(svc("s2").with_pool("b"), ok("b", &["198.51.100.0"])),
                Assign(
                    svc("s3").with_requested_ips([ip("192.0.2.3")]).with_pool("a"),
                    ok("a", &["192.0.2.3"]),
                ),
                // Auto-assignment skips requested addresses that are taken.
                Assign(svc("s4"), ok("a", &["192.0.2.0"])),
                Assign(svc("s5"), ok("a", &["192.0.2.1"])),
                Assign(svc("s6"), ok("b", &["198.51.100.1"])),
            ],
        },
        Case {
            desc: "theft attempts fail and the holder keeps its IP",
            pools: pools(),
            steps: vec![
                Assign(svc("s1"), ok("a", &["192.0.2.0"])),
                Assign(
                    svc("s2").with_requested_ips([ip("192.0.2.0")]),
                    Err(AllocError::IpInUse {
                        ip: ip("192.0.2.0"),
                        by: keys(&["s1"]),
                    }),
                ),
                Assign(
                    svc("s2")
                        .with_requested_ips([ip("192.0.2.0")])
                        .with_sharing_key("k"),
                    Err(AllocError::IpInUse {
                        ip: ip("192.0.2.0"),
                        by: keys(&["s1"]),
                    }),
                ),
                Restore(
                    svc("s2"),
                    vec!["192.0.2.0"],
                    Some(revoked(
                        "s2",
                        vec![(
                            "192.0.2.0",
                            AllocError::IpInUse {
                                ip: ip("192.0.2.0"),
                                by: keys(&["s1"]),
                            },
                        )],
                        None,
                    )),
                ),
                Holds("s1", Some(("a", vec!["192.0.2.0"]))),
                Holds("s2", None),
                // A Service that changes its request to a taken IP keeps its own.
                Assign(svc("s2"), ok("a", &["192.0.2.1"])),
                Assign(
                    svc("s2").with_requested_ips([ip("192.0.2.0")]),
                    Err(AllocError::IpInUse {
                        ip: ip("192.0.2.0"),
                        by: keys(&["s1"]),
                    }),
                ),
                Holds("s2", Some(("a", vec!["192.0.2.1"]))),
                Assign(
                    svc("s2").with_pool("nope"),
                    Err(AllocError::UnknownPool { pool: "nope".into() }),
                ),
                Holds("s2", Some(("a", vec!["192.0.2.1"]))),
                // Once the holder leaves, the IP can be requested.
                Unassign("s1", Some(vec!["192.0.2.0"])),
                Assign(
                    svc("s2").with_requested_ips([ip("192.0.2.0")]),
                    ok("a", &["192.0.2.0"]),
                ),
                Stats("a", IpFamily::V4, 1, 3, 1),
            ],
        },
        Case {
            desc: "changing the request moves the Service; an unchanged request does not",
            pools: pools(),
            steps: vec![
                Assign(svc("s1"), ok("a", &["192.0.2.0"])),
                Assign(
                    svc("s1").with_requested_ips([ip("192.0.2.2")]),
                    ok("a", &["192.0.2.2"]),
                ),
                Stats("a", IpFamily::V4, 1, 3, 1),
                // Dropping the request keeps the IP it has (still valid).
                Assign(svc("s1"), ok("a", &["192.0.2.2"])),
                Assign(svc("s1").with_pool("b"), ok("b", &["198.51.100.0"])),
                Stats("a", IpFamily::V4, 0, 4, 0),
                Assign(svc("s1"), ok("b", &["198.51.100.0"])),
            ],
        },
        Case {
            desc: "malformed requests are refused with the reason",
            pools: pools(),
            steps: vec![
                Assign(
                    svc("s1").with_requested_ips(ips(&["192.0.2.1", "192.0.2.2"])),
                    Err(AllocError::InvalidRequest {
                        problem: RequestProblem::TwoIpsOfFamily { family: IpFamily::V4 },
                    }),
                ),
                Assign(
                    svc("s1").with_requested_ips(ips(&["2001:db8::1"])),
                    Err(AllocError::InvalidRequest {
                        problem: RequestProblem::FamilyNotAllowed {
                            ip: ip("2001:db8::1"),
                            primary: IpFamily::V4,
                        },
                    }),
                ),
                Assign(
                    svc("s1").with_requested_ips(ips(&["192.0.2.1", "2001:db8::1"])),
                    Err(AllocError::InvalidRequest {
                        problem: RequestProblem::TwoIpsForSingleStack,
                    }),
                ),
                Assign(
                    dual(svc("s1"), IpFamilyPolicy::RequireDualStack).with_requested_ips(ips(&["192.0.2.1"])),
                    Err(AllocError::InvalidRequest {
                        problem: RequestProblem::DualStackNeedsTwoIps,
                    }),
                ),
                Assign(
                    svc("s1").with_requested_ips(ips(&["192.0.2.1", "192.0.2.2", "2001:db8::1"])),
                    Err(AllocError::InvalidRequest {
                        problem: RequestProblem::TooManyIps { count: 3 },
                    }),
                ),
                Assign(
                    dual(svc("s1"), IpFamilyPolicy::RequireDualStack)
                        .with_requested_ips(ips(&["2001:db8::1", "192.0.2.1"])),
                    Err(AllocError::SplitAcrossPools {
                        ip: ip("2001:db8::1"),
                        pool: "b".into(),
                        other_ip: ip("192.0.2.1"),
                        other_pool: "a".into(),
                    }),
                ),
                Assign(
                    dual(svc("s1"), IpFamilyPolicy::RequireDualStack)
                        .with_requested_ips(ips(&["2001:db8::1", "198.51.100.1"])),
                    ok("b", &["198.51.100.1", "2001:db8::1"]),
                ),
            ],
        },
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn service_allocation() {
    // "open" has no serviceAllocation; "team" and "gold" have one (restricted).
    let pools = || {
        vec![
            pool("open", &[("192.0.2.0", "192.0.2.1")]),
            restricted(pool("team", &[("198.51.100.0", "198.51.100.0")])),
            restricted(pool("gold", &[("203.0.113.0", "203.0.113.0")])),
        ]
    };
    let cases = vec![
        Case {
            desc: "admitted pools first, in the order given (priority), then open pools; a pool admitting \
                   nobody is never a fallback",
            pools: pools(),
            steps: vec![
                Assign(
                    svc("s1").with_access(access(&["gold", "team"], &[])),
                    ok("gold", &["203.0.113.0"]),
                ),
                Assign(
                    svc("s2").with_access(access(&["gold", "team"], &[])),
                    ok("team", &["198.51.100.0"]),
                ),
                Assign(
                    svc("s3").with_access(access(&["gold", "team"], &[])),
                    ok("open", &["192.0.2.0"]),
                ),
                Assign(
                    svc("s4").with_access(access(&[], &["gold", "team"])),
                    ok("open", &["192.0.2.1"]),
                ),
                Assign(
                    svc("s5").with_access(access(&[], &["gold", "team"])),
                    Err(AllocError::PoolExhausted {
                        family: IpFamily::V4,
                        pools: names(&["open"]),
                    }),
                ),
                Unassign("s1", Some(vec!["203.0.113.0"])),
                Assign(
                    svc("s5").with_access(access(&[], &["gold", "team"])),
                    Err(AllocError::PoolExhausted {
                        family: IpFamily::V4,
                        pools: names(&["open"]),
                    }),
                ),
            ],
        },
        Case {
            desc: "a pool that does not admit the Service is refused even when pinned or requested",
            pools: pools(),
            steps: vec![
                Assign(
                    svc("s1")
                        .with_pool("team")
                        .with_access(access(&[], &["gold", "team"])),
                    Err(AllocError::PoolNotAllowed { pool: "team".into() }),
                ),
                Assign(
                    svc("s1")
                        .with_requested_ips(ips(&["203.0.113.0"]))
                        .with_access(access(&["team"], &["gold"])),
                    Err(AllocError::PoolNotAllowed { pool: "gold".into() }),
                ),
                Holds("s1", None),
                Assign(
                    svc("s1")
                        .with_pool("team")
                        .with_access(access(&["team"], &["gold"])),
                    ok("team", &["198.51.100.0"]),
                ),
            ],
        },
        Case {
            desc: "a Service no longer admitted by its pool moves to one that admits it",
            pools: pools(),
            steps: vec![
                Assign(
                    svc("s1").with_access(access(&["team"], &["gold"])),
                    ok("team", &["198.51.100.0"]),
                ),
                Assign(
                    svc("s1").with_access(access(&[], &["gold", "team"])),
                    ok("open", &["192.0.2.0"]),
                ),
                Stats("team", IpFamily::V4, 0, 1, 0),
            ],
        },
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn sharing_rules() {
    let shared =
        |name: &str, k: &str, ports: &[Port]| svc(name).with_sharing_key(k).with_ports(ports.to_vec());
    let x0 = || ip("192.0.2.0");
    let cases = vec![
        Case {
            desc: "same key, disjoint ports, same backend: shared; each rule broken alone: refused",
            pools: vec![net4()],
            steps: vec![
                Assign(shared("s1", "k", &[Port::tcp(80)]), ok("a", &["192.0.2.0"])),
                Assign(shared("s2", "k", &[Port::tcp(443)]), ok("a", &["192.0.2.0"])),
                // UDP/80 is not TCP/80.
                Assign(
                    shared("s3", "k", &[Port::udp(80)]).with_requested_ips([x0()]),
                    ok("a", &["192.0.2.0"]),
                ),
                Stats("a", IpFamily::V4, 1, 3, 3),
                Assign(
                    shared("p", "k", &[Port::tcp(80)]).with_requested_ips([x0()]),
                    Err(AllocError::SharingConflict {
                        ip: x0(),
                        with: key("s1"),
                        rule: SharingRule::PortOverlap { port: Port::tcp(80) },
                    }),
                ),
                Assign(
                    shared("p", "other", &[Port::tcp(8080)]).with_requested_ips([x0()]),
                    Err(AllocError::SharingConflict {
                        ip: x0(),
                        with: key("s1"),
                        rule: SharingRule::DifferentKey { theirs: "k".into() },
                    }),
                ),
                Assign(
                    shared("p", "k", &[Port::tcp(8080)])
                        .with_backend(local("app=x"))
                        .with_requested_ips([x0()]),
                    Err(AllocError::SharingConflict {
                        ip: x0(),
                        with: key("s1"),
                        rule: SharingRule::DifferentBackend {
                            theirs: ferrolb_controller::allocator::BackendKey::Cluster,
                        },
                    }),
                ),
                Assign(
                    svc("p").with_ports([Port::tcp(8080)]).with_requested_ips([x0()]),
                    Err(AllocError::IpInUse {
                        ip: x0(),
                        by: keys(&["s1", "s2", "s3"]),
                    }),
                ),
                Assign(
                    shared("p", "", &[Port::tcp(8080)]).with_requested_ips([x0()]),
                    Err(AllocError::IpInUse {
                        ip: x0(),
                        by: keys(&["s1", "s2", "s3"]),
                    }),
                ),
                // Auto-assignment with an overlapping port takes a fresh address instead.
                Assign(shared("s4", "k", &[Port::tcp(80)]), ok("a", &["192.0.2.1"])),
                // The shared IP stays until its last holder leaves.
                Unassign("s1", Some(vec!["192.0.2.0"])),
                Unassign("s2", Some(vec!["192.0.2.0"])),
                Stats("a", IpFamily::V4, 2, 2, 2),
                Unassign("s3", Some(vec!["192.0.2.0"])),
                Stats("a", IpFamily::V4, 1, 3, 1),
                Assign(svc("s5"), ok("a", &["192.0.2.0"])),
            ],
        },
        Case {
            desc: "Local backends share only with identical selectors",
            pools: vec![net4()],
            steps: vec![
                Assign(
                    shared("s1", "k", &[Port::tcp(80)]).with_backend(local("app=web")),
                    ok("a", &["192.0.2.0"]),
                ),
                Assign(
                    shared("s2", "k", &[Port::tcp(81)]).with_backend(local("app=web")),
                    ok("a", &["192.0.2.0"]),
                ),
                Assign(
                    shared("s3", "k", &[Port::tcp(82)]).with_backend(local("app=db")),
                    ok("a", &["192.0.2.1"]),
                ),
                Assign(shared("s4", "k", &[Port::tcp(83)]), ok("a", &["192.0.2.2"])),
            ],
        },
        Case {
            desc: "a Service with a sharing key joins its group even when a lower address is free",
            pools: vec![net4(), pool("b", &[("198.51.100.0", "198.51.100.3")])],
            steps: vec![
                Assign(svc("solo"), ok("a", &["192.0.2.0"])),
                Assign(shared("g1", "k", &[Port::tcp(80)]), ok("a", &["192.0.2.1"])),
                Unassign("solo", Some(vec!["192.0.2.0"])),
                Assign(shared("g2", "k", &[Port::tcp(443)]), ok("a", &["192.0.2.1"])),
                // The group in a later pool is found before free addresses in an earlier one.
                Assign(
                    shared("h1", "h", &[Port::tcp(80)]).with_pool("b"),
                    ok("b", &["198.51.100.0"]),
                ),
                Assign(shared("h2", "h", &[Port::tcp(443)]), ok("b", &["198.51.100.0"])),
            ],
        },
        Case {
            desc: "a group is joined only in a family the Service wants",
            pools: vec![
                net4(),
                pool(
                    "b",
                    &[("198.51.100.0", "198.51.100.3"), ("2001:db8::", "2001:db8::3")],
                ),
            ],
            steps: vec![
                Assign(
                    shared("g6", "k", &[Port::tcp(80)])
                        .with_families(IpFamilyPolicy::SingleStack, [IpFamily::V6]),
                    ok("b", &["2001:db8::"]),
                ),
                Assign(shared("g4", "k", &[Port::tcp(81)]), ok("a", &["192.0.2.0"])),
                Assign(
                    dual(
                        shared("gd", "k", &[Port::tcp(82)]),
                        IpFamilyPolicy::PreferDualStack,
                    ),
                    ok("b", &["198.51.100.0", "2001:db8::"]),
                ),
            ],
        },
        Case {
            desc: "changing ports into a co-holder's port moves the Service, not the co-holder",
            pools: vec![net4()],
            steps: vec![
                Assign(shared("s1", "k", &[Port::tcp(80)]), ok("a", &["192.0.2.0"])),
                Assign(shared("s2", "k", &[Port::tcp(443)]), ok("a", &["192.0.2.0"])),
                Assign(
                    shared("s2", "k", &[Port::tcp(80), Port::tcp(443)]),
                    ok("a", &["192.0.2.1"]),
                ),
                Holds("s1", Some(("a", vec!["192.0.2.0"]))),
                // Its sole holder may change its key in place.
                Assign(shared("s1", "new", &[Port::tcp(80)]), ok("a", &["192.0.2.0"])),
                Assign(shared("s3", "new", &[Port::tcp(81)]), ok("a", &["192.0.2.0"])),
            ],
        },
    ];
    cases.into_iter().for_each(run);
}

#[test]
fn error_messages_speak_plainly() {
    let e = AllocError::IpInUse {
        ip: ip("192.0.2.1"),
        by: keys(&["a", "b"]),
    };
    assert_eq!(
        e.to_string(),
        "192.0.2.1 is already in use by Service ns/a and Service ns/b; to share an IP, every Service on it needs \
         the same allow-shared-ip key"
    );
    assert_eq!(e.metric_label(), "ip_in_use");
    let e = AllocError::PoolExhausted {
        family: IpFamily::V6,
        pools: names(&["a", "b"]),
    };
    assert_eq!(
        e.to_string(),
        "no free IPv6 address left in address pools \"a\", \"b\""
    );
    let e = AllocError::SharingConflict {
        ip: ip("192.0.2.1"),
        with: key("web"),
        rule: SharingRule::PortOverlap { port: Port::tcp(443) },
    };
    assert_eq!(
        e.to_string(),
        "192.0.2.1 cannot be shared with ns/web: both Services use port TCP/443"
    );
    let e = AllocError::NoPoolForFamily {
        family: IpFamily::V4,
        pools: vec![],
    };
    assert_eq!(
        e.to_string(),
        "no address pool may be used for IPv4 (no pool has auto-assign enabled)"
    );
    let e = AllocError::DualStackUnsatisfiable {
        reason: DualStackFailure::NoPoolWithBothFamilies {
            pools: names(&["v4"]),
        },
    };
    assert_eq!(
        e.to_string(),
        "RequireDualStack cannot be satisfied: no address pool this Service may use has both IPv4 and IPv6 \
         addresses (pools: \"v4\")"
    );
    assert_eq!(e.metric_label(), "dual_stack_unsatisfiable");
}
