//! Layer2 mode in the lab: real `ferrolb-speaker` processes in node namespaces, the embedded API server in
//! the `api` host's namespace, and the client probing with real `arping` and `ndisc6`.
//!
//! The tests run one at a time ([`common::exclusive`]): they measure failover, and the machine has 2 cores.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use common::{Cluster, LAYER2_CONFIG};
use ferrolb_netlab::{Fault, MacAddr, Tool};
use ferrolb_speaker::membership::NodeId;
use ferrolb_speaker::membership::auth::{Key, Keys, Sealer};
use ferrolb_speaker::membership::identity::SpeakerCodec;

const TOOLS: &[Tool] = &[Tool::Arping, Tool::Ndisc6, Tool::Nft];
const VIP4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);

/// Whether the running kernel has tcx (Linux 6.6+), which the ARP fast path needs.
fn kernel_has_tcx() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 6)
}

#[test]
fn the_owner_alone_answers_arp_and_ndp() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP4), IpAddr::V6(VIP6)], false, &["node2"]);
    c.start_all();
    let nodes = c.node_names();
    let owner4 = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    let owner6 = Cluster::expected_owner(IpAddr::V6(VIP6), &nodes);

    // exactly one MAC answers, the elected owner's
    c.wait_arp_owner(VIP4, &owner4, Duration::from_secs(5));
    let macs = c.arp_macs(VIP4);
    assert_eq!(macs, BTreeSet::from([c.mac(&owner4)]));
    let nd: BTreeSet<MacAddr> = c.lab.ndisc_macs("client", VIP6).unwrap();
    assert_eq!(nd, BTreeSet::from([c.mac(&owner6)]), "NDP for {VIP6}");

    // an unassigned pool IP and a foreign IP: nobody answers
    assert!(
        c.arp_macs(Ipv4Addr::new(192, 0, 2, 101)).is_empty(),
        "unassigned pool IP"
    );
    assert!(
        c.arp_macs(Ipv4Addr::new(192, 0, 2, 250)).is_empty(),
        "IP outside every pool"
    );
    assert!(
        c.lab
            .ndisc_macs("client", "2001:db8::101".parse().unwrap())
            .unwrap()
            .is_empty()
    );

    // the owner announced itself, with an Event naming node and interface
    let events = c.service_events("web");
    assert!(
        events
            .iter()
            .any(|e| e.contains(&format!("from node {owner4} interface eth0"))),
        "{events:?}"
    );
    assert!(c.metric(&owner4, "ferrolb_layer2_gratuitous_sent_total") >= 1.0);
    // ARP is answered in the kernel where eBPF tcx exists (Linux 6.6+), else from user space; either way the
    // replies are counted (the fast path's counter is read once a second)
    let start = std::time::Instant::now();
    while c.metric(&owner4, "ferrolb_layer2_responses_sent_total") < 1.0 {
        assert!(start.elapsed() < Duration::from_secs(3), "no reply counted");
        std::thread::sleep(Duration::from_millis(50));
    }
    if kernel_has_tcx() {
        assert_eq!(
            c.metric(&owner4, "ferrolb_layer2_fast_path_enabled"),
            1.0,
            "{}",
            c.speaker_log(&owner4)
        );
        assert!(c.metric(&owner4, "ferrolb_layer2_fast_path_responses_total") >= 1.0);
    }
    assert_eq!(c.metric(&owner4, "ferrolb_memberlist_members"), 3.0);
    for n in nodes.iter().filter(|n| **n != owner4 && **n != owner6) {
        assert_eq!(
            c.metric(n, "ferrolb_layer2_responses_sent_total"),
            0.0,
            "{n} answered"
        );
    }
}

/// Another host claims the VIP (the client sends gratuitous ARPs for it, as a host configured with the same
/// address does at boot): the owner counts the conflict, defends the IP once with its own gratuitous ARP,
/// keeps answering alone, and reports it — a warning naming the MAC and a Warning Event `IPConflict` on the
/// Service. A second claim within the report interval is counted but not reported again.
#[test]
fn a_foreign_host_claiming_the_vip_is_defended_and_reported() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(2, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP4)], false, &["node1", "node2"]);
    c.start_all();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &c.node_names());
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    let conflicts = "ferrolb_layer2_conflicts_total{protocol=\"arp\"}";
    assert_eq!(
        c.metric(&owner, conflicts),
        0.0,
        "the series exists before any conflict"
    );
    let garps = c.metric(&owner, "ferrolb_layer2_gratuitous_sent_total{protocol=\"arp\"}");

    c.lab.send_garp("client", VIP4).unwrap();
    let client_mac = c.mac("client").to_string();
    let start = std::time::Instant::now();
    let event = loop {
        let events = c.service_events("web");
        if let Some(e) = events.into_iter().find(|e| e.contains("IP conflict")) {
            break e;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "no IPConflict Event");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        event.contains(&format!(
            "192.0.2.100 is also claimed by MAC {client_mac} on node {owner} interface eth0 (ARP)"
        )),
        "{event}"
    );
    assert!(c.metric(&owner, conflicts) >= 1.0);
    assert!(
        c.metric(&owner, "ferrolb_layer2_gratuitous_sent_total{protocol=\"arp\"}") > garps,
        "the IP was defended"
    );
    let other = c.node_names().into_iter().find(|n| *n != owner).unwrap();
    assert_eq!(c.metric(&other, conflicts), 0.0, "only the owner owns the IP");
    assert!(
        c.speaker_log(&owner)
            .lines()
            .any(|l| l.contains("IP conflict") && l.contains(&client_mac)),
        "a warning names the MAC"
    );
    // the owner keeps the IP and answers alone
    assert_eq!(c.arp_macs(VIP4), BTreeSet::from([c.mac(&owner)]));

    // claimed again at once: counted, not reported again (one Event per IP per minute)
    c.lab.send_garp("client", VIP4).unwrap();
    let start = std::time::Instant::now();
    while c.metric(&owner, conflicts) < 2.0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the second claim is counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let reported = c
        .service_events("web")
        .into_iter()
        .filter(|e| e.contains("IP conflict"))
        .count();
    assert_eq!(reported, 1);
}

#[test]
fn local_policy_follows_the_endpoints() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("local", &[IpAddr::V4(VIP4)], true, &["node3"]);
    c.start_all();
    c.wait_arp_owner(VIP4, "node3", Duration::from_secs(5));
    // the client resolves the VIP (a neighbour entry), then the endpoint moves: the GARP moves the entry
    c.lab.resolve_neighbor("client", IpAddr::V4(VIP4)).unwrap();
    c.set_endpoints("local", &["node1"]);
    c.wait_arp_owner(VIP4, "node1", Duration::from_secs(5));
    c.lab
        .wait_neighbor_mac("client", IpAddr::V4(VIP4), c.mac("node1"), Duration::from_secs(3))
        .unwrap();
    // endpoints on two nodes: the hash picks among those two only
    c.set_endpoints("local", &["node1", "node2"]);
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &["node1".into(), "node2".into()]);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    // no ready endpoint: nobody answers
    c.set_endpoints("local", &[]);
    let start = std::time::Instant::now();
    while !c.arp_macs(VIP4).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still answered without endpoints"
        );
    }
    assert!(
        c.metric(
            &owner,
            "ferrolb_speaker_skipped_ips{reason=\"no_ready_endpoints\"}"
        ) >= 1.0
    );
}

#[test]
fn failover_after_kill_9_of_the_owners_speaker() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service(
        "web",
        &[IpAddr::V4(VIP4), IpAddr::V6(VIP6)],
        false,
        &["node1", "node2", "node3"],
    );
    c.start_all();
    let nodes = c.node_names();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    let owner6 = Cluster::expected_owner(IpAddr::V6(VIP6), &nodes);
    c.lab.resolve_neighbor("client", IpAddr::V4(VIP4)).unwrap();
    c.lab.resolve_neighbor("client", IpAddr::V6(VIP6)).unwrap();

    // kill the owner of the IPv4 address (maybe the IPv6 one too)
    c.kill_speaker(&owner);
    let survivors: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
    let next = Cluster::expected_owner(IpAddr::V4(VIP4), &survivors);
    let t0 = std::time::Instant::now();
    c.lab
        .wait_neighbor_mac("client", IpAddr::V4(VIP4), c.mac(&next), Duration::from_secs(3))
        .unwrap();
    let took = t0.elapsed();
    c.wait_arp_owner(VIP4, &next, Duration::from_secs(3));
    if owner6 == owner {
        let next6 = Cluster::expected_owner(IpAddr::V6(VIP6), &survivors);
        c.lab
            .wait_neighbor_mac("client", IpAddr::V6(VIP6), c.mac(&next6), Duration::from_secs(3))
            .unwrap();
    }
    eprintln!("kill -9 of {owner}'s speaker: the client's neighbour entry moved to {next} after {took:?}");
    assert!(took < Duration::from_secs(2), "failover took {took:?}");

    // the killed speaker comes back: it wins the IP again (the hash did not change)
    c.restart_speaker(&owner, 2);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    c.lab
        .wait_neighbor_mac("client", IpAddr::V4(VIP4), c.mac(&owner), Duration::from_secs(3))
        .unwrap();
}

#[test]
fn failover_after_cutting_the_owners_link() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP4)], false, &["node1", "node2", "node3"]);
    c.start_all();
    let nodes = c.node_names();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    c.lab.resolve_neighbor("client", IpAddr::V4(VIP4)).unwrap();

    c.lab.cut_link(&owner).unwrap();
    let survivors: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
    let next = Cluster::expected_owner(IpAddr::V4(VIP4), &survivors);
    c.lab
        .wait_neighbor_mac("client", IpAddr::V4(VIP4), c.mac(&next), Duration::from_secs(3))
        .unwrap();
    c.wait_arp_owner(VIP4, &next, Duration::from_secs(3));
    let start = std::time::Instant::now();
    while !c.speaker_log(&owner).contains("steps aside") {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the cut node did not step aside"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // the link comes back: the node rejoins and takes its IP back
    c.lab.restore_link(&owner).unwrap();
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    c.lab
        .wait_neighbor_mac("client", IpAddr::V4(VIP4), c.mac(&owner), Duration::from_secs(3))
        .unwrap();
}

/// A foca Gossip datagram from a made-up member `node9`, addressed to `target` (its exact identity), saying
/// that `victim` is down: if a speaker accepted it, it would fail `victim` over.
fn poisoned_gossip(target: &NodeId, victim: &NodeId) -> Vec<u8> {
    use foca::Codec;
    let mut buf = Vec::new();
    let mut codec = SpeakerCodec;
    let header = foca::Header {
        src: NodeId::new("node9", "192.0.2.50:7946".parse().unwrap(), 1),
        src_incarnation: 0,
        dst: target.clone(),
        message: foca::Message::Gossip,
    };
    codec.encode_header(&header, &mut buf).unwrap();
    buf.extend_from_slice(&1u16.to_be_bytes());
    codec
        .encode_member(&foca::Member::down(victim.clone()), &mut buf)
        .unwrap();
    buf
}

#[test]
fn forged_membership_datagrams_change_nothing() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP4)], false, &["node1", "node2", "node3"]);
    c.start_all();
    let nodes = c.node_names();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    let id = |n: &str| {
        NodeId::new(
            n,
            SocketAddr::new(IpAddr::V4(c.lab.host(n).ipv4()), 7946),
            c.generation(n),
        )
    };
    let others: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
    let socket = c
        .lab
        .client()
        .ns()
        .udp_socket("192.0.2.50:7946".parse().unwrap())
        .unwrap();
    let send = |to: &str, d: &[u8]| {
        socket
            .send_to(d, SocketAddr::new(IpAddr::V4(c.lab.host(to).ipv4()), 7946))
            .unwrap();
    };
    let now_ms = || {
        u64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
    };
    let downs_before: Vec<f64> = nodes
        .iter()
        .map(|n| c.metric(n, "ferrolb_memberlist_member_changes_total{change=\"down\"}"))
        .collect();

    let mut wrong = Keys::default();
    wrong.set(
        Some(Key::new(b"not the cluster's key".to_vec())),
        std::time::Instant::now(),
    );
    let mut right = Keys::default();
    right.set(Some(Key::new(common::KEY.to_vec())), std::time::Instant::now());
    for target in &others {
        let payload = poisoned_gossip(&id(target), &id(&owner));
        // 1. the attack under a wrong key, 2. a tag that does not match the bytes, 3. no authentication at all
        let forged = Sealer::new("node9", now_ms()).seal(&wrong, &payload).unwrap();
        let mut tampered = Sealer::new("node1", now_ms()).seal(&right, b"harmless").unwrap();
        let n = tampered.len();
        tampered[n - 40] ^= 0xff;
        for _ in 0..20 {
            send(target, &forged);
            send(target, &tampered);
            send(target, &payload);
        }
        // 4. a genuine datagram sent twice: the second copy is a replay
        let once = Sealer::new("node9", now_ms()).seal(&right, b"not foca").unwrap();
        send(target, &once);
        send(target, &once);
    }
    for target in &others {
        let start = std::time::Instant::now();
        let failures = |reason: &str| {
            c.metric(
                target,
                &format!("ferrolb_memberlist_auth_failures_total{{reason=\"{reason}\"}}"),
            )
        };
        while failures("forged") < 40.0 || failures("unauthenticated") < 20.0 || failures("replayed") < 1.0 {
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{target}: forged {} unauthenticated {} replayed {}",
                failures("forged"),
                failures("unauthenticated"),
                failures("replayed")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // nothing changed: the same single owner, no member went down anywhere
    assert_eq!(c.arp_macs(VIP4), BTreeSet::from([c.mac(&owner)]));
    let downs_after: Vec<f64> = nodes
        .iter()
        .map(|n| c.metric(n, "ferrolb_memberlist_member_changes_total{change=\"down\"}"))
        .collect();
    assert_eq!(downs_before, downs_after, "membership changed");

    // control: the very same attack sealed with the cluster's key is accepted (so the payload was effective)
    let target = &others[0];
    let genuine = Sealer::new("node9", now_ms())
        .seal(&right, &poisoned_gossip(&id(target), &id(&owner)))
        .unwrap();
    send(target, &genuine);
    let start = std::time::Instant::now();
    while !c
        .speaker_log(target)
        .contains(&format!("member down member={owner}"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "the genuine datagram had no effect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn no_failover_with_ten_percent_of_membership_datagrams_lost() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP4)], false, &["node1", "node2", "node3"]);
    c.start_all();
    let nodes = c.node_names();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    c.lab
        .set_faults(&[Fault::DropUdp {
            port: 7946,
            percent: 10,
            from: None,
        }])
        .unwrap();
    let period = Duration::from_secs(20);
    let start = std::time::Instant::now();
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
    let suspicions: f64 = nodes
        .iter()
        .map(|n| c.metric(n, "ferrolb_memberlist_suspicions_total"))
        .sum();
    for n in &nodes {
        assert_eq!(
            c.metric(n, "ferrolb_memberlist_member_changes_total{change=\"down\"}"),
            0.0,
            "{n} saw a member go down"
        );
        assert_eq!(c.metric(n, "ferrolb_memberlist_members"), 3.0);
    }
    eprintln!("10% loss for {period:?}: {suspicions} suspicions raised and refuted, no failover");
    assert!(suspicions > 0.0, "the loss was not effective");
}

#[test]
fn an_unreachable_api_server_changes_nothing() {
    let _serial = common::exclusive();
    let Some(mut c) = Cluster::new(3, TOOLS, LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP4)], false, &["node1", "node2", "node3"]);
    c.start_all();
    let nodes = c.node_names();
    let owner = Cluster::expected_owner(IpAddr::V4(VIP4), &nodes);
    c.wait_arp_owner(VIP4, &owner, Duration::from_secs(5));
    c.stop_api();
    let start = std::time::Instant::now();
    while nodes
        .iter()
        .any(|n| c.metric(n, "ferrolb_k8s_watch_errors_total") < 1.0)
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the watches did not notice"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        c.arp_macs(VIP4),
        BTreeSet::from([c.mac(&owner)]),
        "still announced"
    );
    // and failover still works on the last known state
    c.kill_speaker(&owner);
    let survivors: Vec<String> = nodes.iter().filter(|n| **n != owner).cloned().collect();
    c.wait_arp_owner(
        VIP4,
        &Cluster::expected_owner(IpAddr::V4(VIP4), &survivors),
        Duration::from_secs(3),
    );
}
