//! Controller restart: 1,000 Services of every kind (single stack, both dual-stack policies, pinned to a
//! manual pool, requested IPs, sharing groups with Local and Cluster backends) are assigned with some churn;
//! the allocator is then rebuilt from their status IPs, as a restarted controller does, and every Service
//! keeps exactly its IPs. Pending Services served afterwards never get a claimed IP.

mod allocator_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use allocator_common::*;
use ferrolb_controller::allocator::{
    AllocError, Allocator, IpFamily, IpFamilyPolicy, PoolDef, Port, RevokedIp, ServiceKey, ServiceRequest,
};

fn pools() -> Vec<PoolDef> {
    vec![
        avoid_buggy(pool(
            "v4",
            &[("192.0.2.0", "192.0.2.255"), ("198.51.100.0", "198.51.100.255")],
        )),
        pool(
            "dual",
            &[
                ("203.0.113.0", "203.0.113.255"),
                ("2001:db8:1::", "2001:db8:1::ffff:ffff:ffff:ffff"),
            ],
        ),
        pool("v6", &[("2001:db8:2::", "2001:db8:2::ffff:ffff:ffff:ffff")]),
        manual(pool("manual", &[("2001:db8:3::", "2001:db8:3::ff")])),
    ]
}

/// Service number `i`, of a kind chosen by `i % 10`.
fn service(i: usize) -> ServiceRequest {
    let base = ServiceRequest::new(format!("team{}", i % 17), format!("svc{i:04}"));
    match i % 10 {
        0 => dual(base, IpFamilyPolicy::PreferDualStack),
        1 => base.with_families(IpFamilyPolicy::RequireDualStack, [IpFamily::V6, IpFamily::V4]),
        2 => base.with_families(IpFamilyPolicy::SingleStack, [IpFamily::V6]),
        3 => base
            .with_families(IpFamilyPolicy::SingleStack, [IpFamily::V6])
            .with_pool("manual"),
        4 => {
            let group = i % 7;
            let shared = base
                .with_sharing_key(format!("group{group}"))
                .with_ports([Port::tcp(1000 + i as u16)]);
            if group.is_multiple_of(2) {
                shared.with_backend(local(&format!("app=group{group}")))
            } else {
                shared
            }
        }
        5 => base
            .with_families(IpFamilyPolicy::SingleStack, [IpFamily::V6])
            .with_requested_ips([ip(&format!("2001:db8:2::{:x}", 0x1000 + i))]),
        _ => base.with_ports([Port::tcp(443)]),
    }
}

fn statuses(a: &Allocator) -> BTreeMap<ServiceKey, Vec<IpAddr>> {
    a.assignments().map(|(k, x)| (k.clone(), x.ips.clone())).collect()
}

/// 1,000 Services assigned with churn: every 13th is deleted after the first pass and comes back at the end.
fn populated() -> (Allocator, Vec<ServiceRequest>) {
    let mut a = Allocator::new(&pools()).expect("valid pools");
    let services: Vec<ServiceRequest> = (0..1000).map(service).collect();
    for s in &services {
        a.assign(s).unwrap_or_else(|e| panic!("{}: {e}", s.key));
    }
    for s in services.iter().step_by(13) {
        assert!(a.unassign(&s.key).is_some());
    }
    for s in services.iter().step_by(13) {
        a.assign(s).unwrap_or_else(|e| panic!("{}: {e}", s.key));
    }
    assert_eq!(a.len(), 1000);
    (a, services)
}

#[test]
fn restart_with_1000_services_changes_no_ip() {
    let (before, services) = populated();
    let status = statuses(&before);
    let shared = status
        .values()
        .flatten()
        .filter(|x| before.holders(**x).count() > 1)
        .count();
    assert!(shared > 50, "the fixture should share IPs ({shared})");
    assert!(
        status.values().filter(|x| x.len() == 2).count() >= 200,
        "the fixture should be dual-stack"
    );

    // The restarted controller: restore every Service with IPs (order: by name, descending — any order
    // works for a conflict-free cluster), then its normal pass assigns every Service.
    let by_req: BTreeMap<&ServiceKey, &ServiceRequest> = services.iter().map(|s| (&s.key, s)).collect();
    let mut existing: Vec<(&ServiceRequest, &Vec<IpAddr>)> =
        status.iter().map(|(k, v)| (by_req[k], v)).collect();
    existing.sort_by(|x, y| y.0.key.name.cmp(&x.0.key.name));
    let (mut after, revoked) = Allocator::rebuild(&pools(), existing).expect("valid pools");
    assert_eq!(revoked, vec![], "nothing may be revoked");
    assert_eq!(after, before, "the rebuilt allocator differs");

    let mut changed = 0;
    for s in services.iter().rev() {
        let got = after.assign(s).unwrap_or_else(|e| panic!("{}: {e}", s.key));
        if got.ips != status[&s.key] {
            changed += 1;
        }
    }
    assert_eq!(changed, 0, "Services whose IPs changed across the restart");
    assert_eq!(after, before);

    // Pending Services created while the controller was down get only unclaimed IPs.
    let claimed: BTreeSet<IpAddr> = status.values().flatten().copied().collect();
    for i in 0..200u32 {
        let pending = ServiceRequest::new("late", format!("pending{i}"));
        let pending = if i.is_multiple_of(2) {
            pending
        } else {
            pending.with_families(IpFamilyPolicy::SingleStack, [IpFamily::V6])
        };
        let got = after
            .assign(&pending)
            .unwrap_or_else(|e| panic!("{}: {e}", pending.key));
        for x in &got.ips {
            assert!(!claimed.contains(x), "{} got claimed {x}", pending.key);
        }
    }
}

#[test]
fn serving_pending_services_first_would_steal_ips() {
    // Why the order matters (MetalLB before v0.14.2): a fresh allocator that serves a pending Service
    // before restoring hands out an IP a running Service holds; the rebuild path cannot.
    let (before, services) = populated();
    let status = statuses(&before);
    let mut naive = Allocator::new(&pools()).expect("valid pools");
    let pending = ServiceRequest::new("late", "pending");
    let stolen = naive.assign(&pending).expect("free address").ips[0];
    let victim = status
        .iter()
        .find(|(_, v)| v.contains(&stolen))
        .map(|(k, _)| k.clone())
        .expect("a holder");
    let victim_req = services.iter().find(|s| s.key == victim).expect("victim");
    let revocation = naive
        .restore(victim_req, &status[&victim])
        .expect("the victim loses its IP");
    assert_eq!(
        revocation.revoked,
        vec![RevokedIp {
            ip: stolen,
            reason: AllocError::IpInUse {
                ip: stolen,
                by: vec![pending.key.clone()]
            }
        }]
    );

    let existing = status
        .iter()
        .map(|(k, v)| (services.iter().find(|s| &s.key == k).expect("known"), v));
    let (mut rebuilt, revoked) = Allocator::rebuild(&pools(), existing).expect("valid pools");
    assert!(revoked.is_empty());
    let got = rebuilt.assign(&pending).expect("free address");
    assert!(
        !status.values().flatten().any(|x| got.ips.contains(x)),
        "pending got a claimed IP"
    );
}

#[test]
fn conflicting_statuses_keep_the_earlier_service() {
    let a1 = svc("first").with_ports([Port::tcp(80)]);
    let a2 = svc("second").with_ports([Port::tcp(80)]).with_sharing_key("k");
    let a3 = svc("third").with_sharing_key("k").with_ports([Port::tcp(80)]);
    let a4 = svc("fourth").with_sharing_key("k").with_ports([Port::tcp(81)]);
    let x = ip("192.0.2.1");
    let y = ip("198.51.100.7");
    let existing = vec![(&a1, vec![x]), (&a2, vec![x]), (&a3, vec![y]), (&a4, vec![y])];
    let (mut a, revoked) = Allocator::rebuild(&pools(), existing).expect("valid pools");
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0].key, key("second"));
    assert_eq!(
        revoked[0].revoked[0].reason,
        AllocError::IpInUse {
            ip: x,
            by: vec![key("first")]
        }
    );
    assert_eq!(a.holders(y).count(), 2, "compatible sharers are both restored");
    // The revoked one is then served like a pending Service: a fresh IP, not the first one's.
    let got = a.assign(&a2).expect("free address");
    assert_ne!(got.ips, vec![x]);
    assert_eq!(a.assignment(&key("first")).map(|x| x.ips.clone()), Some(vec![x]));
}

#[test]
fn config_changed_while_down() {
    let (before, services) = populated();
    let status = statuses(&before);
    // The v4 pool lost its second /24 while the controller was down.
    let mut shrunk = pools();
    shrunk[0].ranges.truncate(1);
    let existing = services.iter().map(|s| (s, status[&s.key].clone()));
    let (after, revoked) = Allocator::rebuild(&shrunk, existing).expect("valid pools");
    let lost: BTreeSet<&ServiceKey> = revoked.iter().map(|r| &r.key).collect();
    for (k, ips) in &status {
        let gone = ips.iter().any(|x| x.to_string().starts_with("198.51.100."));
        assert_eq!(lost.contains(k), gone, "{k}");
        if !gone {
            assert_eq!(after.assignment(k).map(|x| &x.ips), Some(ips), "{k}");
        }
    }
    for r in &revoked {
        for x in &r.revoked {
            assert_eq!(x.reason, AllocError::NotInAnyPool { ip: x.ip });
        }
    }
    assert!(!lost.is_empty());
}
