//! The controller end to end, against the real speakers and the client on the segment:
//!
//! - the leader is killed (`kill -9`, then a graceful stop of the next one) while Services are created and
//!   deleted: a watch of every Service, in resourceVersion order, never sees an IP change on a Service that
//!   had one, nor an IP held by two Services; the Services that existed before keep their IPs and get no
//!   status write;
//! - a broken ConfigMap is applied: nothing is withdrawn (status, ARP, the data path), the controller's
//!   `InvalidConfig` Warning Event lists the errors, every program reports the config stale, the last valid
//!   config stays in force; fixing it resumes allocation from the new pool;
//! - the ConfigMap is deleted: the same rule in both programs — Services keep their IPs, the same nodes keep
//!   answering ARP, the data path never notices, a `ConfigDeleted` Warning Event and every program's stale
//!   metric say the configuration is gone; a new ConfigMap is taken at once.
//!
//! Needs root, arping, nft and curl (skipped with a reason elsewhere, failing under `CI=true`). The tests run
//! one at a time: about 30 s for the first (a killed leader's Lease expires after 15 s), 10 s for the second.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ferrolb_e2e::cluster::CONTROLLER_USER;
use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{Kind, NS, System, SystemSpec, exclusive};
use ferrolb_netlab::{ProbeOptions, ProbeProto};

const WAIT: Duration = Duration::from_secs(20);
/// A killed leader's Lease expires after the manifests' 15 s; the standby then needs a retry period.
const TAKEOVER: Duration = Duration::from_secs(45);
const ALL: &[&str] = &["node1", "node2", "node3"];

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => panic!("{v6} is not IPv4"),
    }
}

/// Status writes the controllers made for Services whose name starts with `prefix`.
fn status_writes_for(sys: &System, prefix: &str) -> usize {
    sys.server().audit().count(|e| {
        e.user == CONTROLLER_USER
            && e.resource == "services"
            && e.subresource == "status"
            && e.name.starts_with(prefix)
            && e.code < 300
    })
}

/// Creates `churn-<i>` and deletes `churn-<i-4>`, ten operations a second, until `stop` (bounded: 2 minutes).
fn churn(sys: &System, ops: &AtomicUsize, stop: &AtomicBool) {
    let start = Instant::now();
    let mut next = start;
    for i in 0..1200usize {
        if stop.load(Ordering::Relaxed) || start.elapsed() > Duration::from_secs(120) {
            return;
        }
        sys.admin()
            .create(&ServiceSpec::new(&format!("churn-{i}")).object())
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(old) = i.checked_sub(4) {
            sys.delete_service("default", &format!("churn-{old}"))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        ops.fetch_add(1, Ordering::Relaxed);
        // the load's pace, not a wait for something
        next += Duration::from_millis(100);
        if let Some(left) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
    }
}

#[test]
fn the_leader_killed_while_services_come_and_go() {
    let _serial = exclusive();
    let config =
        "address-pools:\n- name: lab-l2\n  protocol: layer2\n  addresses:\n  - 192.0.2.100-192.0.2.163\n";
    let Some(sys) = System::for_test(SystemSpec::with_config(config)) else {
        return;
    };
    let ledger = sys.watch_ledger().unwrap();
    for i in 0..8 {
        sys.create_service(&ServiceSpec::new(&format!("stable-{i}")), ALL)
            .unwrap();
    }
    let stable: BTreeMap<String, IpAddr> = (0..8)
        .map(|i| {
            let name = format!("stable-{i}");
            let ip = sys.wait_ingress("default", &name, WAIT).unwrap();
            (format!("default/{name}"), ip)
        })
        .collect();
    sys.wait_status_writes(8, WAIT).unwrap();
    let stable_writes = status_writes_for(&sys, "stable-");
    assert_eq!(stable_writes, 8, "one status write per Service");

    let ops = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let churning = s.spawn(|| churn(&sys, &ops, &stop));
        let wait_ops = |n: usize| {
            sys.wait(&format!("{n} churn operations"), WAIT, || {
                Ok((ops.load(Ordering::Relaxed) >= n).then_some(()))
            })
            .unwrap()
        };
        wait_ops(10);

        // kill -9 of the leader: its Lease must expire before the standby may lead.
        let first = sys.leader().expect("a leader");
        let node = sys.leader_node().expect("the leader's node");
        let killed = Instant::now();
        sys.kill(Kind::Controller, &node).unwrap();
        let second = sys
            .wait("the standby to take the Lease", TAKEOVER, || {
                Ok(sys.leader().filter(|h| *h != first))
            })
            .unwrap();
        eprintln!(
            "leader {first} killed: {second} leads after {:.1} s",
            killed.elapsed().as_secs_f64()
        );
        // the Deployment replaces the pod
        sys.start_controller(&node).unwrap();
        wait_ops(ops.load(Ordering::Relaxed) + 10);

        // A graceful stop: the leader releases the Lease and the standby leads within a retry period.
        let node = sys.leader_node().expect("the leader's node");
        let stopped = Instant::now();
        sys.stop(Kind::Controller, &node, Duration::from_secs(10))
            .unwrap();
        let third = sys
            .wait("the standby to take the released Lease", WAIT, || {
                Ok(sys.leader().filter(|h| *h != second))
            })
            .unwrap();
        eprintln!(
            "leader {second} stopped: {third} leads after {:.1} s",
            stopped.elapsed().as_secs_f64()
        );
        sys.start_controller(&node).unwrap();
        wait_ops(ops.load(Ordering::Relaxed) + 10);
        stop.store(true, Ordering::Relaxed);
        churning.join().expect("the churn thread");
    });

    // Every Service left gets its IP; the watch saw every state on the way.
    sys.wait_ready(WAIT).unwrap();
    sys.wait("every Service to have an IP", WAIT, || {
        Ok(sys
            .all_ingress()
            .iter()
            .all(|(name, ips)| name == "default/kubernetes" || !ips.is_empty())
            .then_some(()))
    })
    .unwrap();
    let seen = sys.wait_ledger_caught_up(&ledger).unwrap();
    eprintln!(
        "{} churn operations, {} Service events watched",
        ops.load(Ordering::Relaxed),
        seen.events
    );
    assert!(seen.violations.is_empty(), "{:#?}", seen.violations);
    for (name, ip) in &stable {
        assert_eq!(seen.current[name], [*ip], "{name}");
        assert_eq!(seen.first[name], [*ip], "{name}");
    }
    assert_eq!(
        status_writes_for(&sys, "stable-"),
        stable_writes,
        "no status write for a Service whose IP did not change"
    );
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}

const VALID: &str = "address-pools:
- name: lab-l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.109
";
/// Two errors: an address that is none, and a misspelt key.
const BROKEN: &str = "address-pools:
- name: lab-l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.109
- name: extra
  protocol: layer2
  addresses:
  - 192.0.2.120-192.0.2.300
  auto-asign: false
";
const FIXED: &str = "address-pools:
- name: lab-l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.109
- name: extra
  protocol: layer2
  addresses:
  - 192.0.2.120-192.0.2.129
  auto-assign: false
";

type Owners = BTreeMap<&'static str, (IpAddr, (String, ferrolb_netlab::MacAddr))>;

/// Serves each Service (`default/<name>`), notes who answers ARP for its IP, and starts a TCP probe of it from
/// the client that has had a first answer.
fn serve_and_probe(
    sys: &System,
    names: &[&'static str],
) -> (Owners, Vec<(&'static str, ferrolb_netlab::OutageProbe)>) {
    let mut owners = BTreeMap::new();
    let mut probes = Vec::new();
    for &name in names {
        let ip = sys.wait_ingress("default", name, WAIT).unwrap();
        sys.serve("default", name).unwrap();
        owners.insert(name, (ip, sys.wait_arp_owner(v4(ip), WAIT).unwrap()));
        let opts = ProbeOptions {
            interval: Duration::from_millis(20),
            timeout: Duration::from_millis(200),
            max_duration: Duration::from_secs(120),
        };
        let probe = sys
            .lab()
            .start_probe("client", SocketAddr::new(ip, 80), ProbeProto::Tcp, opts)
            .unwrap();
        probe
            .wait_for("a first answer", WAIT, |r| r.successes() > 0)
            .unwrap();
        probes.push((name, probe));
    }
    (owners, probes)
}

/// Stops the probes: none saw an outage of 500 ms or more, nor a responder other than the first.
fn assert_never_noticed(probes: Vec<(&'static str, ferrolb_netlab::OutageProbe)>) {
    for (name, probe) in probes {
        let report = probe.stop().unwrap();
        let longest = report.longest_outage();
        eprintln!(
            "{name}: {} probes, {} failed, longest outage {:?}",
            report.samples.len(),
            report.failures(),
            longest.as_ref().and_then(|o| o.duration())
        );
        assert!(
            longest
                .as_ref()
                .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_millis(500))),
            "{name}: {longest:?}"
        );
        assert_eq!(
            report.responder_changes().len(),
            1,
            "{name}: {:?}",
            report.responder_changes()
        );
    }
}

fn config_stale_everywhere(sys: &System, want: f64) -> bool {
    let Some(leader) = sys.leader_node() else {
        return false;
    };
    sys.metric(Kind::Controller, &leader, "ferrolb_controller_config_stale")
        .is_ok_and(|v| v == want)
        && ALL.iter().all(|n| {
            sys.metric(Kind::Speaker, n, "ferrolb_speaker_config_stale")
                .is_ok_and(|v| v == want)
        })
}

#[test]
fn a_broken_config_withdraws_nothing_and_fixing_it_resumes() {
    let _serial = exclusive();
    let Some(sys) = System::for_test(SystemSpec::with_config(VALID)) else {
        return;
    };
    sys.create_service(&ServiceSpec::new("a"), ALL).unwrap();
    sys.create_service(&ServiceSpec::new("b").local(), &["node3"])
        .unwrap();
    let (owners, probes) = serve_and_probe(&sys, &["a", "b"]);
    assert_eq!(
        owners["b"].1.0, "node3",
        "a Local Service is announced where its endpoint is"
    );
    let writes = sys.wait_status_writes(2, WAIT).unwrap();

    // Broken: the Warning Event lists both errors; every program says its config is stale.
    sys.set_config(BROKEN).unwrap();
    let (kind, message) = sys.wait_event(NS, "config", "InvalidConfig", WAIT).unwrap();
    assert_eq!(kind, "Warning");
    assert!(
        message.contains("address-pools[1].addresses[0]") && message.contains("auto-asign"),
        "{message}"
    );
    sys.wait("every program to report the config stale", WAIT, || {
        Ok(config_stale_everywhere(&sys, 1.0).then_some(()))
    })
    .unwrap();

    // Nothing withdrawn: the same IPs, answered by the same nodes.
    for (name, (ip, owner)) in &owners {
        assert_eq!(sys.ingress_ips("default", name), [*ip], "{name}");
        assert_eq!(&sys.wait_arp_owner(v4(*ip), WAIT).unwrap(), owner, "{name}");
    }
    // The last valid config stays in force: a new Service gets an IP from it, one asking for the new pool waits.
    sys.create_service(&ServiceSpec::new("plain"), ALL).unwrap();
    assert_eq!(
        sys.wait_ingress("default", "plain", WAIT).unwrap(),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 102))
    );
    sys.create_service(&ServiceSpec::new("late").pool("extra"), ALL)
        .unwrap();
    let (kind, message) = sys
        .wait_event("default", "late", "AllocationFailed", WAIT)
        .unwrap();
    assert_eq!(kind, "Warning");
    assert!(message.contains("extra"), "{message}");
    assert!(sys.ingress_ips("default", "late").is_empty());

    // Fixed: allocation from the new pool resumes, and the new IP is announced.
    sys.set_config(FIXED).unwrap();
    let late = sys.wait_ingress("default", "late", WAIT).unwrap();
    assert_eq!(late, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 120)));
    let (node, _) = sys.wait_arp_owner(v4(late), WAIT).unwrap();
    eprintln!("late got {late} from pool extra, announced by {node}");
    sys.wait("every program to report the config current", WAIT, || {
        Ok(config_stale_everywhere(&sys, 0.0).then_some(()))
    })
    .unwrap();
    assert_eq!(
        sys.wait_status_writes(writes + 2, WAIT).unwrap(),
        writes + 2,
        "writes for plain and late only"
    );

    // The data path never noticed.
    assert_never_noticed(probes);
    for (name, (ip, owner)) in &owners {
        assert_eq!(&sys.wait_arp_owner(v4(*ip), WAIT).unwrap(), owner, "{name}");
    }
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}

#[test]
fn a_deleted_config_withdraws_nothing_and_says_so() {
    let _serial = exclusive();
    let Some(sys) = System::for_test(SystemSpec::with_config(VALID)) else {
        return;
    };
    sys.create_service(&ServiceSpec::new("a"), ALL).unwrap();
    sys.create_service(&ServiceSpec::new("b").local(), &["node2"])
        .unwrap();
    let (owners, probes) = serve_and_probe(&sys, &["a", "b"]);
    let writes = sys.wait_status_writes(2, WAIT).unwrap();

    // Deleted: a Warning Event says so, every program reports the config stale.
    sys.admin().delete("ConfigMap", NS, "config").unwrap();
    let (kind, message) = sys.wait_event(NS, "config", "ConfigDeleted", WAIT).unwrap();
    assert_eq!(kind, "Warning");
    assert!(
        message.contains("the last valid configuration stays in force"),
        "{message}"
    );
    sys.wait("every program to report the config stale", WAIT, || {
        Ok(config_stale_everywhere(&sys, 1.0).then_some(()))
    })
    .unwrap();
    // Nothing withdrawn: the same IPs, answered by the same nodes, and a new Service is still served.
    for (name, (ip, owner)) in &owners {
        assert_eq!(sys.ingress_ips("default", name), [*ip], "{name}");
        assert_eq!(&sys.wait_arp_owner(v4(*ip), WAIT).unwrap(), owner, "{name}");
    }
    sys.create_service(&ServiceSpec::new("c"), ALL).unwrap();
    let c = sys.wait_ingress("default", "c", WAIT).unwrap();
    assert_eq!(c, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 102)));
    let (node, _) = sys.wait_arp_owner(v4(c), WAIT).unwrap();
    eprintln!("c got {c} from the last valid config, announced by {node}");

    // A new ConfigMap is in force at once.
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "config", "namespace": NS},
        "data": {"config": VALID},
    });
    sys.admin().create(&cm).unwrap();
    sys.wait("every program to report the config current", WAIT, || {
        Ok(config_stale_everywhere(&sys, 0.0).then_some(()))
    })
    .unwrap();
    assert_eq!(
        sys.wait_status_writes(writes + 1, WAIT).unwrap(),
        writes + 1,
        "a write for c only"
    );
    assert_never_noticed(probes);
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
}
