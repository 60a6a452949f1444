//! The successor watch in the lab: real `ferrolb-speaker` processes, the client probing with `arping`.
//!
//! - A stalled owner (its speaker stopped with SIGSTOP: the process, not the node) is taken over by its
//!   successor on the watch's verdict, and gets its IP back once it runs again. (Its kernel, and the eBPF ARP
//!   fast path in it, keep answering meanwhile: a stall longer than the heartbeat timeout is indistinguishable
//!   from a dead node for any detector the speaker runs, docs/performance.md.)
//! - Heartbeats flow (the successor's watch is armed) and 10 % loss of membership datagrams makes no verdict.
//!
//! The tests run one at a time ([`common::exclusive`]) with the other lab tests of this binary.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{Cluster, LAYER2_CONFIG};
use ferrolb_netlab::{Fault, Tool};

const TOOLS: &[Tool] = &[Tool::Arping, Tool::Nft];
const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// Waits until `ok()` holds.
fn wait(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < within, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn changes(c: &Cluster, node: &str, change: &str) -> f64 {
    c.metric(
        node,
        &format!("ferrolb_memberlist_member_changes_total{{change=\"{change}\"}}"),
    )
}

/// Sends `signal` (`STOP`, `CONT`) to a process with procps' `kill`.
fn signal(pid: u32, signal: &str) {
    let st = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success(), "kill -{signal} {pid}");
}

/// Resumes a stopped process when dropped, so a failing test leaves nothing stopped.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// A 3-node cluster with one IPv4 Service; returns it with the VIP's owner and successor, once the
/// successor's watch of the owner is armed.
fn cluster() -> Option<(Cluster, String, String)> {
    let c = Cluster::new(3, TOOLS, LAYER2_CONFIG)?;
    c.add_service("web", &[IpAddr::V4(VIP4)], false, &["node1", "node2", "node3"]);
    c.start_all();
    let nodes = c.node_names();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    let others: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
    let successor = Cluster::expected_owner(IpAddr::V4(VIP4), &others);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    wait(
        "the successor's heartbeats from the owner",
        Duration::from_secs(5),
        || c.metric(&successor, "ferrolb_memberlist_watched") >= 1.0,
    );
    assert!(c.metric(&owner, "ferrolb_memberlist_watchers") >= 1.0);
    Some((c, owner, successor))
}

#[test]
fn a_stalled_owner_is_taken_over_by_its_successor_and_gets_its_ip_back() {
    let _serial = common::exclusive();
    let Some((c, owner, successor)) = cluster() else {
        return;
    };
    let pid = c.speaker_pid(&owner);
    signal(pid, "STOP");
    let resume = Resume(pid);
    wait("the successor's verdict", Duration::from_secs(5), || {
        changes(&c, &successor, "unreachable") >= 1.0
    });
    wait("the successor answering ARP", Duration::from_secs(5), || {
        c.arp_macs(VIP4).contains(&c.mac(&successor))
    });
    drop(resume);
    // the owner runs again: it is live for the successor again (its heartbeats, or its rejoin if SWIM had
    // declared it down meanwhile), and it alone answers
    wait("the owner alone answering again", Duration::from_secs(10), || {
        c.arp_macs(VIP4) == BTreeSet::from([c.mac(&owner)])
    });
    assert!(
        changes(&c, &successor, "reachable") + changes(&c, &successor, "up") >= 1.0,
        "the successor took the owner back"
    );
    assert_eq!(changes(&c, &successor, "withdrawn"), 0.0);
}

#[test]
fn ten_percent_loss_of_membership_datagrams_makes_no_verdict() {
    let _serial = common::exclusive();
    let Some((c, owner, successor)) = cluster() else {
        return;
    };
    c.lab
        .set_faults(&[Fault::DropUdp {
            port: 7946,
            percent: 10,
            from: None,
        }])
        .unwrap();
    let before = c.metric(
        &successor,
        "ferrolb_memberlist_datagrams_total{direction=\"received\"}",
    );
    let period = Duration::from_secs(15);
    let start = Instant::now();
    while start.elapsed() < period {
        // the owner keeps answering, alone, the whole time
        assert_eq!(
            c.arp_macs(VIP4),
            BTreeSet::from([c.mac(&owner)]),
            "after {:?}",
            start.elapsed()
        );
    }
    c.lab.clear_faults().unwrap();
    let received = c.metric(
        &successor,
        "ferrolb_memberlist_datagrams_total{direction=\"received\"}",
    ) - before;
    for n in c.node_names() {
        for change in ["unreachable", "down"] {
            assert_eq!(changes(&c, &n, change), 0.0, "{n}: {change}");
        }
    }
    assert!(
        c.metric(&successor, "ferrolb_memberlist_watched") >= 1.0,
        "still armed"
    );
    // heartbeats at 100/s make most of what the successor received
    eprintln!("10% loss for {period:?}: the successor received {received} datagrams, no verdict");
    assert!(
        received > 100.0 * period.as_secs_f64() * 0.5,
        "heartbeats flowed: {received}"
    );
}
