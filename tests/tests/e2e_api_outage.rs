//! The API server goes away for 60 s, with the whole system running: every VIP keeps answering (ARP from the
//! same node, requests through it served without a gap), nothing crashes, and after the server returns there
//! is no churn — no status write, no IP moved, no Event about an assignment, the same ARP owners.
//!
//! "Away" is as a stopped kube-apiserver looks from the nodes: every TCP segment that reaches it (new
//! connections and the programs' established watches) is answered with a reset, while the server keeps its
//! state, as etcd would ([`System::stop_api`]).
//!
//! Needs root, arping, nft and curl (skipped with a reason elsewhere, failing under `CI=true`). About 100 s
//! (at most about 3 minutes): the outage, then the programs' watches coming back on their own backoff.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb_apiserver::AuditEntry;
use ferrolb_e2e::cluster::{CONTROLLER_USER, SPEAKER_USER};
use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{API_PORT, NS, System, SystemSpec, exclusive};
use ferrolb_netlab::{MacAddr, ProbeOptions, ProbeProto};

const CONFIG: &str = "address-pools:
- name: lab-l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.119
";
const WAIT: Duration = Duration::from_secs(30);
const OUTAGE: Duration = Duration::from_secs(60);
/// The programs' watches retry with kube-runtime's default backoff (0.8 s doubling to 30 s, plus up to 100%
/// jitter, like client-go's reflector): after a minute away they may take up to a minute to come back.
const RECONNECT: Duration = Duration::from_secs(90);

fn v4(ip: IpAddr) -> Ipv4Addr {
    match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => panic!("{v6} is not IPv4"),
    }
}

/// Every Event in `default` (as `reason: message`) with its count: a repeated Event is counted up.
fn event_counts(sys: &System) -> BTreeMap<String, u64> {
    sys.events("default")
        .iter()
        .map(|e| {
            let count = e["count"]
                .as_u64()
                .or_else(|| e["series"]["count"].as_u64())
                .unwrap_or(1);
            (format!("{}: {}", e["reason"], e["message"]), count)
        })
        .collect()
}

fn watches_since(entries: &[AuditEntry], from: u64, user: &str, resource: &str) -> usize {
    entries
        .iter()
        .filter(|e| e.seq >= from && e.user == user && e.verb == "watch" && e.resource == resource)
        .count()
}

#[test]
fn the_api_server_away_for_a_minute_changes_nothing() {
    let _serial = exclusive();
    let Some(sys) = System::for_test(SystemSpec::with_config(CONFIG)) else {
        return;
    };
    let services = [
        ("web", ServiceSpec::new("web"), vec!["node1", "node2", "node3"]),
        ("api", ServiceSpec::new("api"), vec!["node2"]),
        ("local", ServiceSpec::new("local").local(), vec!["node3"]),
        ("other", ServiceSpec::new("other").local(), vec!["node1", "node2"]),
    ];
    let mut vips: BTreeMap<&str, (IpAddr, (String, MacAddr))> = BTreeMap::new();
    for (_, spec, endpoints) in &services {
        sys.create_service(spec, endpoints).unwrap();
    }
    for (name, _, _) in &services {
        let ip = sys.wait_ingress("default", name, WAIT).unwrap();
        sys.serve("default", name).unwrap();
        vips.insert(name, (ip, sys.wait_arp_owner(v4(ip), WAIT).unwrap()));
    }
    let opts = ProbeOptions {
        interval: Duration::from_millis(50),
        timeout: Duration::from_millis(250),
        max_duration: Duration::from_secs(300),
    };
    let probes: Vec<_> = vips
        .iter()
        .map(|(name, (ip, _))| {
            let p = sys
                .lab()
                .start_probe("client", SocketAddr::new(*ip, 80), ProbeProto::Tcp, opts)
                .unwrap();
            p.wait_for("a first answer", WAIT, |r| r.successes() > 0).unwrap();
            (*name, p)
        })
        .collect();
    let writes = sys.wait_status_writes(services.len(), WAIT).unwrap();
    let events = event_counts(&sys);

    // Away: nobody reaches the server.
    sys.stop_api().unwrap();
    let away = Instant::now();
    let refused = sys.lab().client().ns().tcp_connect(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), API_PORT),
        Duration::from_secs(1),
    );
    assert!(refused.is_err(), "the API server still accepts connections");
    let renewed = sys.lease().expect("the Lease")["spec"]["renewTime"].clone();

    // For the whole minute, every VIP is answered by its node, again and again.
    let mut rounds = 0;
    while away.elapsed() < OUTAGE {
        for (name, (ip, owner)) in &vips {
            let macs = sys.arp_macs(v4(*ip)).unwrap();
            assert_eq!(
                macs.into_iter().collect::<Vec<_>>(),
                [owner.1],
                "{name} ({ip}) after {:?} without the API server",
                away.elapsed()
            );
        }
        assert_eq!(sys.crashed(&[]), Vec::<String>::new());
        assert_eq!(
            sys.rbac_denied(),
            Vec::<String>::new(),
            "requests the manifest's RBAC denies"
        );
        rounds += 1;
    }
    assert_eq!(
        sys.lease().expect("the Lease")["spec"]["renewTime"],
        renewed,
        "nobody reached the server to renew the Lease"
    );

    // Back: the programs reconnect (their watches of Services resume) and the leader renews again.
    let back_seq = sys.server().audit().entries().len() as u64;
    sys.resume_api().unwrap();
    let back = Instant::now();
    sys.wait(
        "the speakers and controllers to watch Services again",
        RECONNECT,
        || {
            let entries = sys.server().audit().entries();
            Ok((watches_since(&entries, back_seq, SPEAKER_USER, "services") >= 3
                && watches_since(&entries, back_seq, CONTROLLER_USER, "services") >= 2)
                .then_some(()))
        },
    )
    .unwrap();
    let reconnected = back.elapsed();
    // Three renewals after the return: the leader (maybe a new one, which lists everything afresh) has
    // resynchronised, and the speakers have re-listed.
    let mut renewals = Vec::new();
    sys.wait("three Lease renewals after the return", WAIT, || {
        let t = sys.lease().map(|l| l["spec"]["renewTime"].clone());
        if let Some(t) = t
            && t != renewed
            && renewals.last() != Some(&t)
        {
            renewals.push(t);
        }
        Ok((renewals.len() >= 3).then_some(()))
    })
    .unwrap();
    sys.wait_ready(WAIT).unwrap();

    // No churn.
    assert_eq!(sys.status_writes(), writes, "status writes after the return");
    let after = event_counts(&sys);
    let new_events: Vec<&String> = after
        .iter()
        .filter(|(name, n)| events.get(*name) != Some(*n))
        .map(|(name, _)| name)
        .collect();
    assert!(
        !new_events
            .iter()
            .any(|e| e.contains("IPAllocated") || e.contains("ClearAssignment")),
        "{new_events:?}"
    );
    for (name, (ip, owner)) in &vips {
        assert_eq!(sys.ingress_ips("default", name), [*ip], "{name}");
        assert_eq!(&sys.wait_arp_owner(v4(*ip), WAIT).unwrap(), owner, "{name}");
    }
    for (name, probe) in probes {
        let report = probe.stop().unwrap();
        let longest = report.longest_outage();
        eprintln!(
            "{name}: {} probes, {} failed, longest outage {:?}, responders {:?}",
            report.samples.len(),
            report.failures(),
            longest.as_ref().and_then(|o| o.duration()),
            report.responder_changes()
        );
        assert!(
            longest
                .as_ref()
                .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_secs(1))),
            "{name}: {longest:?}"
        );
        assert_eq!(report.responder_changes().len(), 1, "{name}");
    }
    eprintln!(
        "{rounds} rounds of arping during the outage; watches back {} ms after the return; leader {:?}; \
         events since: {new_events:?}",
        reconnected.as_millis(),
        sys.leader()
    );
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
    assert!(sys.admin().get("Secret", NS, "ferrolb-memberlist").is_some());
}
