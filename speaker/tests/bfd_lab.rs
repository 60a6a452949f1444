//! BFD in BGP mode against real routers in the lab: BIRD 2.0.12 (`protocol bfd`, `bfd on`) and FRR 8.4
//! (bfdd, `neighbor … bfd`), the speakers in-process, one per node, their sockets in the node's namespace.
//!
//! - `hard_loss`: a node dies hard (its link cut, then its speaker gone without a word, as `kill -9` after a
//!   power loss would): the router's kernel route loses exactly that node's next hop, IPv4 and IPv6, well
//!   inside the hold time (printed, never asserted on: timing is the bench's).
//! - `bfd_failure`: BFD fails while TCP still works (its packets dropped on the switch): the speaker closes
//!   BGP with Cease / BFD Down, emits an Event on the Node, keeps BGP down while BFD is, and brings it back
//!   only after BFD is Up again; BGP never becomes Established without BFD Up.
//! - `waits_for_bfd`: a router that runs no BFD for a peer with a profile never gets a BGP session (strict
//!   mode); the same router's other peer, without a profile, is fine — also with GoBGP, which has no BFD.
//! - `multihop`: an `ebgp-multihop` peer runs RFC 5883 (UDP 4784, minimum TTL).
//! - `ttl`: a single-hop packet with TTL 254 is discarded (RFC 5881 §5).
//! - `dual_stack`: one IPv4 session carries the IPv6 VIP too, with the node's IPv6 next hop, into the
//!   router's kernel; without `dualStackAddressFamily` it does not.
//! - `loss`: 10 % loss on the BFD and BGP packets of every node, both ways, for a while: no session drops.

mod bfd_support;
mod bgp_support;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bfd_support::{
    NODE_AS, ROUTER_AS, Sessions, WAIT, bfd_key, failures, hops, metric, metrics_text, node_ips, profile,
    router_addr, router_config, start_all, start_router, target, vip, watch_bgp_needs_bfd,
};
use bgp_support::lab::{runtime, speaker, wait_sessions};
use ferrolb_netlab::wait::wait_until;
use ferrolb_netlab::{BfdTimers, BgpConfig, BgpRouter, Fault, Lab, Peer, RouterKind, Tool, TopologySpec};
use ferrolb_proto::bgp::State;
use ferrolb_speaker::bfd::{BfdKey, BfdStatus};
use ferrolb_speaker::bgp::{BgpSpeaker, SessionError};

/// How long the `loss` scenario runs under `cargo test` (the bench runs a minute).
const LOSS_TEST: Duration = Duration::from_secs(10);

macro_rules! per_router {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn bird() {
                super::$scenario(ferrolb_netlab::RouterKind::Bird);
            }
            #[test]
            fn frr() {
                super::$scenario(ferrolb_netlab::RouterKind::Frr);
            }
        }
    )*};
}

per_router!(hard_loss, bfd_failure, dual_stack, loss);

fn hard_loss(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(3), &[kind.tool()]) else {
        return;
    };
    let router = start_router(
        kind,
        &lab,
        &router_config(&lab, Sessions::Both, BfdTimers::new(100, 3), &[]),
    );
    let rt = runtime();
    let start = Instant::now();
    let mut speakers = start_all(&rt, &lab, &router, Sessions::Both, &profile(100, 3));
    println!(
        "{kind:?}: 6 BFD and BGP sessions up in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let before: Vec<u64> = speakers.iter().flatten().map(failures).collect();
    for ipv6 in [false, true] {
        assert_eq!(hops(&lab, ipv6, 3), node_ips(&lab, ipv6, None));
    }
    // node1 dies hard: its link goes, then its speaker (no FIN, NOTIFICATION or AdminDown reaches the router)
    let t0 = Instant::now();
    lab.cut_link("node1").unwrap();
    drop(speakers[0].take());
    for ipv6 in [false, true] {
        let left = hops(&lab, ipv6, 2);
        println!(
            "{kind:?}: {} lost node1's next hop after {:.3} s",
            vip(ipv6),
            t0.elapsed().as_secs_f64()
        );
        assert_eq!(
            left,
            node_ips(&lab, ipv6, Some("node1")),
            "exactly node1's next hop is gone"
        );
    }
    // the others' BFD sessions never noticed
    for (s, before) in speakers.iter().flatten().zip(&before[1..]) {
        assert!(s.bfd_status().values().all(BfdStatus::is_up));
        assert_eq!(failures(s), *before);
    }
    // node1 comes back
    lab.restore_link("node1").unwrap();
    let mut s1 = speaker(&rt, &lab, "node1");
    s1.set(&target(&lab, "node1", Sessions::Both, Some(&profile(100, 3))));
    for ipv6 in [false, true] {
        assert_eq!(hops(&lab, ipv6, 3), node_ips(&lab, ipv6, None));
    }
}

fn bfd_failure(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[kind.tool(), Tool::Nft]) else {
        return;
    };
    // the router's Detect Mult sets our detection time (300 ms), ours the router's (1 s): the speaker notices
    // first and closes BGP itself, over a TCP connection that still works
    let router = start_router(
        kind,
        &lab,
        &router_config(&lab, Sessions::Ipv4, BfdTimers::new(100, 3), &[]),
    );
    let rt = runtime();
    let mut speakers = start_all(&rt, &lab, &router, Sessions::Ipv4, &profile(100, 10));
    let (first, rest) = speakers.split_at_mut(1);
    let s1 = first[0].as_mut().unwrap();
    let s2 = rest[0].as_ref().unwrap();
    let mut events = s1.take_events().expect("the Event channel");
    let peer = router_addr(&lab, false);
    let key = bfd_key(&lab, false);
    let violations = watch_bgp_needs_bfd(&rt, s1, peer, key);
    assert_eq!(hops(&lab, false, 2).len(), 2);
    let (ups0, failures0) = {
        let st = &s1.bfd_status()[&key];
        (st.ups, st.failures)
    };
    let established0 = s1.status()[&peer].established_count;
    let others0 = failures(s2);

    // node1's BFD packets are lost both ways; its BGP connection is fine
    lab.set_faults(&[
        Fault::DropUdp {
            port: 3784,
            percent: 100,
            from: Some("node1".into()),
        },
        Fault::DropUdpTo {
            port: 3784,
            percent: 100,
            to: "node1".into(),
        },
    ])
    .unwrap();
    let t0 = Instant::now();
    let node1 = IpAddr::V4(lab.node(1).ipv4());
    assert_eq!(hops(&lab, false, 1), [IpAddr::V4(lab.node(2).ipv4())].into());
    println!(
        "{kind:?}: BFD packets dropped → node1's next hop gone after {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    wait_sessions(s1, "node1's BGP session closed for BFD", WAIT, |st| {
        st.state != State::Established && st.last_error == Some(SessionError::WaitingForBfd)
    });
    let status = s1.bfd_status()[&key].clone();
    assert!(!status.is_up() && status.failures == failures0 + 1, "{status:?}");
    let m = metrics_text(s1);
    assert!(
        metric(
            &m,
            &format!(
                "ferrolb_speaker_bgp_notifications_sent_total{{peer=\"{peer}\",code=\"6\",subcode=\"10\"}}"
            )
        ) >= 1.0,
        "Cease / BFD Down sent:\n{m}"
    );
    assert!(
        metric(&m, "ferrolb_speaker_bfd_session_down_total{") >= 1.0,
        "{m}"
    );
    let event = wait_until(
        "the BFD Event",
        WAIT,
        || Ok(events.try_recv().ok()),
        Option::is_some,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        (event.regarding.kind.as_str(), event.regarding.name.as_str()),
        ("Node", "node1")
    );
    assert!(
        event.note.contains(&lab.router().ipv4().to_string()),
        "{}",
        event.note
    );
    // BGP stays down as long as BFD does: the router sees no session from node1 once its BFD is down too
    router.wait_bfd(node1, WAIT, |b| !b.up).unwrap();
    let sessions = router.sessions().unwrap();
    assert!(
        sessions.iter().any(|s| s.peer == node1 && !s.established),
        "{sessions:?}"
    );
    assert_eq!(s1.status()[&peer].established_count, established0);

    // the path heals: BFD first, then BGP
    lab.clear_faults().unwrap();
    assert_eq!(hops(&lab, false, 2).len(), 2);
    wait_sessions(s1, "node1's BGP session back", WAIT, |st| {
        st.state == State::Established
    });
    let status = s1.bfd_status()[&key].clone();
    assert_eq!(
        (status.ups, s1.status()[&peer].established_count),
        (ups0 + 1, established0 + 1),
        "{status:?}"
    );
    assert_eq!(failures(s2), others0, "node2 untouched");
    assert!(
        violations.lock().unwrap().is_empty(),
        "{:?}",
        violations.lock().unwrap()
    );
}

/// A peer with a profile whose router runs no BFD for it never gets BGP; a peer without is fine.
fn waits_for_bfd(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[kind.tool()]) else {
        return;
    };
    // node1 has a profile the router knows nothing of (GoBGP: no BFD at all); node2 has no profile
    let cfg = router_config(&lab, Sessions::Ipv4, BfdTimers::new(100, 3), &["node1", "node2"]);
    let router = start_router(kind, &lab, &cfg);
    let rt = runtime();
    let mut s1 = speaker(&rt, &lab, "node1");
    s1.set(&target(&lab, "node1", Sessions::Ipv4, Some(&profile(100, 3))));
    let mut s2 = speaker(&rt, &lab, "node2");
    s2.set(&target(&lab, "node2", Sessions::Ipv4, None));
    router
        .wait_peer_established(IpAddr::V4(lab.node(2).ipv4()), WAIT)
        .unwrap();
    // node1's BFD session has been sending for as long as node2 took to come up (and more): nothing answers
    wait_until(
        "node1's BFD session to have sent a few packets",
        WAIT,
        || Ok(metric(&metrics_text(&s1), "ferrolb_speaker_bfd_packets_sent_total{") as u64),
        |sent| *sent >= 3,
    )
    .unwrap();
    let st = s1.status()[&router_addr(&lab, false)].clone();
    assert_eq!((st.state, st.established_count), (State::Idle, 0), "{st:?}");
    assert_eq!(st.last_error, Some(SessionError::WaitingForBfd));
    assert!(!s1.bfd_status()[&bfd_key(&lab, false)].is_up());
    let sessions = router.sessions().unwrap();
    assert!(
        sessions
            .iter()
            .all(|s| s.peer != IpAddr::V4(lab.node(1).ipv4()) || !s.established),
        "{sessions:?}"
    );
    assert!(s2.bfd_status().is_empty(), "no BFD without a profile");
}

mod waits_for_bfd {
    #[test]
    fn bird() {
        super::waits_for_bfd(ferrolb_netlab::RouterKind::Bird);
    }
    #[test]
    fn gobgp() {
        super::waits_for_bfd(ferrolb_netlab::RouterKind::Gobgp);
    }
}

#[test]
fn multihop_bird() {
    let Some(lab) = Lab::for_test(TopologySpec::new(1), &[Tool::Bird]) else {
        return;
    };
    let node = lab.node(1);
    let local = IpAddr::V4(lab.router().ipv4());
    let cfg = BgpConfig::new(ROUTER_AS, lab.router().ipv4())
        .bfd(BfdTimers::new(100, 3))
        .peer(
            Peer::new(IpAddr::V4(node.ipv4()), NODE_AS)
                .passive()
                .bfd()
                .multihop()
                .local(local),
        );
    let router = start_router(RouterKind::Bird, &lab, &cfg);
    let rt = runtime();
    let mut s = speaker(&rt, &lab, "node1");
    // BIRD sends its multi-hop packets with the system's default TTL (64), not 255: minimum-ttl must allow it
    let p = ferrolb_config::BfdProfile {
        minimum_ttl: 60,
        ..profile(100, 3)
    };
    let mut t = target(&lab, "node1", Sessions::Ipv4, Some(&p));
    t.peers[0].ebgp_multihop = true;
    s.set(&t);
    router.wait_bfd(IpAddr::V4(node.ipv4()), WAIT, |b| b.up).unwrap();
    router.wait_established(1, WAIT).unwrap();
    let key = BfdKey {
        peer: local,
        multihop: true,
    };
    assert!(s.bfd_status()[&key].is_up(), "multi-hop session on UDP 4784");
    assert_eq!(hops(&lab, false, 1), [IpAddr::V4(node.ipv4())].into());
}

#[test]
fn ttl_below_255_is_discarded_on_single_hop() {
    let Some(lab) = Lab::for_test(TopologySpec::new(1), &[Tool::Bird]) else {
        return;
    };
    let router = start_router(
        RouterKind::Bird,
        &lab,
        &router_config(&lab, Sessions::Ipv4, BfdTimers::new(100, 3), &[]),
    );
    let rt = runtime();
    let speakers = start_all(&rt, &lab, &router, Sessions::Ipv4, &profile(100, 3));
    let s = speakers[0].as_ref().unwrap();
    // a Control packet from the router's address, one hop further away than a neighbour can be
    let packet = ferrolb_proto::bfd::ControlPacket {
        diag: ferrolb_proto::bfd::Diag::None,
        state: ferrolb_proto::bfd::State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 7,
        your_discriminator: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 1_000_000,
        required_min_echo_rx: 0,
        auth: None,
    }
    .encode();
    let socket = lab
        .router()
        .ns()
        .socket(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .unwrap();
    socket.set_ttl_v4(254).unwrap();
    socket
        .bind(&SocketAddr::new(IpAddr::V4(lab.router().ipv4()), 50000).into())
        .unwrap();
    let to = SocketAddr::new(IpAddr::V4(lab.node(1).ipv4()), 3784);
    wait_until(
        "the TTL 254 packet to be discarded",
        WAIT,
        || {
            socket
                .send_to(&packet, &to.into())
                .map_err(|e| ferrolb_netlab::LabError::io("send", e))?;
            Ok(metric(
                &metrics_text(s),
                "ferrolb_speaker_bfd_packets_discarded_total{reason=\"ttl\"}",
            ))
        },
        |n| *n >= 1.0,
    )
    .unwrap();
    assert!(s.bfd_status().values().all(|st| st.is_up() && st.failures == 0));
}

fn dual_stack(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[kind.tool()]) else {
        return;
    };
    let router = start_router(
        kind,
        &lab,
        &router_config(&lab, Sessions::DualStack, BfdTimers::new(300, 3), &[]),
    );
    let rt = runtime();
    let mut speakers = start_all(&rt, &lab, &router, Sessions::DualStack, &profile(300, 3));
    assert_eq!(hops(&lab, false, 2), node_ips(&lab, false, None));
    assert_eq!(
        hops(&lab, true, 2),
        node_ips(&lab, true, None),
        "the IPv6 VIP over the IPv4 sessions, with the nodes' IPv6 next hops"
    );
    // without dualStackAddressFamily an IPv4 session carries IPv4 only (the router keeps asking for both)
    for (i, s) in speakers.iter_mut().enumerate() {
        let node = format!("node{}", i + 1);
        s.as_mut()
            .unwrap()
            .set(&target(&lab, &node, Sessions::Ipv4, Some(&profile(300, 3))));
    }
    assert_eq!(hops(&lab, true, 0), BTreeSet::new());
    assert_eq!(hops(&lab, false, 2), node_ips(&lab, false, None));
}

fn loss(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[kind.tool(), Tool::Nft]) else {
        return;
    };
    // the profile that measured no false drop at 10 % loss (docs/performance.md)
    let (ms, mult) = (100, 5);
    let router = start_router(
        kind,
        &lab,
        &router_config(&lab, Sessions::Ipv4, BfdTimers::new(ms, mult as u8), &[]),
    );
    let rt = runtime();
    let speakers = start_all(&rt, &lab, &router, Sessions::Ipv4, &profile(ms, mult));
    lab.set_faults(&[
        Fault::DropUdp {
            port: 3784,
            percent: 10,
            from: None,
        },
        Fault::DropTcp {
            port: 179,
            percent: 10,
            from: None,
        },
    ])
    .unwrap();
    let start = Instant::now();
    // as many BFD packets as the router sends in LOSS_TEST, 10 % of them (and of ours) lost on the way
    let received = |s: &BgpSpeaker| metric(&metrics_text(s), "ferrolb_speaker_bfd_packets_received_total{");
    let before: Vec<f64> = speakers.iter().flatten().map(received).collect();
    let counts = |s: &BgpSpeaker| {
        let bgp: u64 = s.status().values().map(|st| st.established_count).sum();
        (failures(s), bgp)
    };
    let counts0: Vec<(u64, u64)> = speakers.iter().flatten().map(counts).collect();
    let packets = (LOSS_TEST.as_millis() / u128::from(ms)) as f64 * 0.9 * 0.8; // jitter: 75–100 % intervals
    wait_until(
        "BFD packets received under loss",
        LOSS_TEST * 3,
        || {
            Ok(speakers
                .iter()
                .flatten()
                .zip(&before)
                .map(|(s, b)| received(s) - b)
                .fold(f64::MAX, f64::min))
        },
        |got| *got >= packets,
    )
    .unwrap();
    lab.clear_faults().unwrap();
    for (s, counts0) in speakers.iter().flatten().zip(counts0) {
        assert!(
            s.bfd_status().values().all(BfdStatus::is_up),
            "{:?}",
            s.bfd_status()
        );
        assert!(s.status().values().all(|st| st.state == State::Established));
        assert_eq!(counts(s), counts0, "no BFD failure, no BGP session lost");
    }
    for ip in node_ips(&lab, false, None) {
        router.wait_bfd(ip, WAIT, |b| b.up).unwrap();
    }
    println!(
        "{kind:?}: {:.1} s at 10 % loss with {ms} ms × {mult}: no session dropped",
        start.elapsed().as_secs_f64()
    );
}
