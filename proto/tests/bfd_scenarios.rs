//! BFD session scenarios between two of our sessions wired together (and against BIRD's captured packets):
//! the three-way handshake, the slow rate until Up, Poll/Final timer changes, detection, jitter bounds,
//! passive role, AdminDown, discriminators, a peer in Demand mode, TTL rules, and a property with lossy links.

mod bfd_common;

use std::time::{Duration, Instant};

use bfd_common::{Pair, captured, events, sent};
use ferrolb_proto::bfd::{
    Action, AuthConfig, AuthType, ControlPacket, Diag, Discard, DownReason, Hop, Intervals, Role, Session,
    SessionConfig, State,
};
use proptest::prelude::*;

const A: u32 = 0x1111;
const B: u32 = 0x2222;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn intervals(tx: u64, rx: u64, mult: u8) -> Intervals {
    Intervals {
        desired_min_tx: ms(tx),
        required_min_rx: ms(rx),
        detect_mult: mult,
    }
}

fn config(discriminator: u32, iv: Intervals) -> SessionConfig {
    SessionConfig {
        intervals: iv,
        ..SessionConfig::new(discriminator)
    }
}

fn pair(a: SessionConfig, b: SessionConfig) -> Pair {
    let t0 = Instant::now();
    Pair::new(
        Session::new(a, t0).expect("valid"),
        Session::new(b, t0).expect("valid"),
        t0,
    )
}

/// Two sessions brought Up (100 ms × 3 unless given), their Poll Sequences done.
fn up_pair(a: SessionConfig, b: SessionConfig) -> Pair {
    let mut p = pair(a, b);
    let until = p.now + Duration::from_secs(3);
    while p.a.state() != State::Up || p.b.state() != State::Up || p.a.is_polling() || p.b.is_polling() {
        assert!(p.step(until), "not up within 3 s: {:?}", p.log);
    }
    p
}

#[test]
fn three_way_handshake_between_two_sessions() {
    let mut p = pair(config(A, Intervals::default()), config(B, Intervals::default()));
    let t0 = p.now;
    p.step(t0); // both send their first Down at t0; everything else follows from the replies
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    let change = |from, to| Action::StateChanged {
        from,
        to,
        diag: Diag::None,
    };
    assert_eq!(p.events_of('a'), [change(State::Down, State::Up), Action::Up]);
    assert_eq!(
        p.events_of('b'),
        [
            change(State::Down, State::Init),
            change(State::Init, State::Up),
            Action::Up
        ]
    );
    // a: Down, then Up with P (lowering Desired Min TX to 300 ms), then F to b's Poll
    let a_sent: Vec<_> = p.sent_by('a').into_iter().map(|(_, pk)| pk).collect();
    let shape: Vec<_> = a_sent
        .iter()
        .map(|pk| (pk.state, pk.poll, pk.final_, pk.desired_min_tx))
        .collect();
    assert_eq!(
        shape,
        [
            (State::Down, false, false, 1_000_000),
            (State::Up, true, false, 300_000),
            (State::Up, false, true, 300_000),
        ]
    );
    assert_eq!(a_sent[0].your_discriminator, 0, "the peer is not known yet");
    assert!(a_sent[1..].iter().all(|pk| pk.your_discriminator == B));
    assert!(!p.a.is_polling() && !p.b.is_polling());
    assert_eq!(p.a.transmit_interval(), Some(ms(300)));
    assert_eq!(p.a.detection_time(), Some(ms(900)));

    // it stays up, with no more events
    let events_before = p
        .log
        .iter()
        .filter(|(_, _, a)| !matches!(a, Action::Send(_)))
        .count();
    p.run_until(t0 + Duration::from_secs(10));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    let events_after = p
        .log
        .iter()
        .filter(|(_, _, a)| !matches!(a, Action::Send(_)))
        .count();
    assert_eq!(events_before, events_after);
    assert!(p.discards.is_empty(), "{:?}", p.discards);
}

#[test]
fn slow_rate_until_up_and_configured_rate_after() {
    // a alone (no peer): Desired Min TX 1 s although 100 ms is configured, packets 0.75–1 s apart
    let t0 = Instant::now();
    let mut a = Session::new(config(A, intervals(100, 100, 3)), t0).expect("valid");
    let mut times = Vec::new();
    while times.len() < 20 {
        let at = a.next_deadline().expect("active: always a deadline");
        for pk in sent(&a.on_timer(at)) {
            assert_eq!(
                (pk.state, pk.desired_min_tx, pk.required_min_rx),
                (State::Down, 1_000_000, 100_000)
            );
            times.push(at);
        }
    }
    assert_eq!(times[0], t0, "the first packet is not delayed");
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= ms(750) && gap <= ms(1000), "{gap:?}");
    }
    // a peer that would take 10 ms does not speed us up before Up: max(1 s, 10 ms)
    let now = *times.last().unwrap() + ms(1);
    let peer = ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: B,
        your_discriminator: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 10_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    a.receive(now, &peer.encode(), 255).expect("accepted");
    assert_eq!(a.state(), State::Init);
    assert_eq!(a.transmit_interval(), Some(ms(1000)));
    // Up: 100 ms at once (a decrease takes effect immediately, §6.8.3), with a Poll Sequence
    let up = ControlPacket {
        state: State::Up,
        your_discriminator: A,
        ..peer
    };
    let actions = a.receive(now + ms(1), &up.encode(), 255).expect("accepted");
    assert_eq!(a.state(), State::Up);
    assert_eq!(a.transmit_interval(), Some(ms(100)));
    assert!(
        sent(&actions)
            .iter()
            .all(|pk| pk.poll && pk.desired_min_tx == 100_000)
    );
    // a configured rate above 1 s is used as is, before and after Up
    let slow = Session::new(config(A, intervals(2500, 100, 3)), t0).expect("valid");
    assert_eq!(slow.advertised(), (ms(2500), ms(100)));
}

/// The bytes of the first `Send`.
fn first_send(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Send(b) => Some(b.clone()),
            _ => None,
        })
        .expect("a packet sent")
}

#[test]
fn poll_final_defers_a_slower_transmit_rate_until_the_final() {
    let mut p = up_pair(
        config(A, intervals(100, 100, 3)),
        config(B, intervals(100, 100, 3)),
    );
    let t = p.now;
    p.a.set_intervals(t, intervals(1000, 100, 3)).expect("valid");
    assert!(p.a.is_polling());
    assert_eq!(p.a.advertised(), (ms(1000), ms(100)));
    assert_eq!(
        p.a.transmit_interval(),
        Some(ms(100)),
        "an increase waits for the Final"
    );
    // b's replies are lost for 250 ms: a keeps polling at the old rate
    p.b_mute = true;
    p.run_until(t + ms(250));
    let polls: Vec<_> = p.sent_by('a').into_iter().filter(|(at, _)| *at > t).collect();
    assert!(polls.len() >= 2, "{polls:?}");
    assert!(
        polls
            .iter()
            .all(|(_, pk)| pk.poll && pk.desired_min_tx == 1_000_000)
    );
    assert_eq!(p.a.transmit_interval(), Some(ms(100)));
    // b learnt the new value from the first Poll and already waits 3 × 1 s for a
    assert_eq!(p.b.detection_time(), Some(ms(3000)));
    p.b_mute = false;
    p.run_until(t + ms(400));
    assert!(!p.a.is_polling());
    assert_eq!(p.a.transmit_interval(), Some(ms(1000)));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
}

#[test]
fn poll_final_defers_a_shorter_detection_time_until_the_final() {
    let mut p = up_pair(
        config(A, intervals(100, 300, 3)),
        config(B, intervals(100, 100, 3)),
    );
    assert_eq!(p.a.detection_time(), Some(ms(900)));
    assert_eq!(p.b.transmit_interval(), Some(ms(300)));
    let t = p.now;
    p.a.set_intervals(t, intervals(100, 100, 3)).expect("valid");
    assert_eq!(
        p.a.detection_time(),
        Some(ms(900)),
        "a decrease waits for the Final"
    );
    p.b_mute = true;
    p.run_until(t + ms(150));
    assert_eq!(p.a.detection_time(), Some(ms(900)));
    // b honours the shorter interval at once (§6.8.3): max(100 ms, 100 ms)
    assert_eq!(p.b.transmit_interval(), Some(ms(100)));
    p.b_mute = false;
    p.run_until(t + ms(600));
    assert!(!p.a.is_polling());
    assert_eq!(p.a.detection_time(), Some(ms(300)));
}

#[test]
fn a_change_during_a_poll_waits_for_a_packet_without_final() {
    let mut p = up_pair(
        config(A, intervals(100, 100, 3)),
        config(B, intervals(100, 100, 3)),
    );
    let t = p.now;
    p.b_mute = true;
    p.a.set_intervals(t, intervals(200, 100, 3)).expect("valid");
    p.a.set_intervals(t, intervals(300, 100, 3)).expect("valid");
    assert_eq!(p.a.queued_intervals(), Some(&intervals(300, 100, 3)));
    assert_eq!(p.a.advertised().0, ms(200), "the running Poll keeps its values");
    p.run_until(t + ms(150));
    p.b_mute = false;
    p.run_until(t + ms(1000));
    assert_eq!(p.a.queued_intervals(), None);
    assert!(!p.a.is_polling());
    assert_eq!(p.a.advertised().0, ms(300));
    assert_eq!(p.a.transmit_interval(), Some(ms(300)));
    // the second Poll started only after the first Final and a packet without F from b
    let a_sent = p.sent_by('a');
    let first_300 = a_sent
        .iter()
        .find(|(_, pk)| pk.desired_min_tx == 300_000)
        .expect("second poll")
        .0;
    let b_sent = p.sent_by('b');
    let final_at = b_sent
        .iter()
        .find(|(at, pk)| *at > t && pk.final_)
        .expect("a Final")
        .0;
    assert!(
        b_sent
            .iter()
            .any(|(at, pk)| *at >= final_at && *at <= first_300 && !pk.final_),
        "a non-Final packet from b between the Final and the second Poll"
    );
    // setting what is already in force while polling queues nothing
    p.a.set_intervals(p.now, intervals(100, 100, 3)).expect("valid");
    assert!(p.a.is_polling());
    p.a.set_intervals(p.now, intervals(100, 100, 3)).expect("valid");
    assert_eq!(p.a.queued_intervals(), None);
}

#[test]
fn detection_timeout_goes_down_and_tells_the_peer() {
    let mut p = up_pair(
        config(A, intervals(100, 100, 3)),
        config(B, intervals(100, 100, 3)),
    );
    p.run_until(p.now + Duration::from_secs(1));
    p.b_mute = true; // b's node dies (its packets stop)
    let last_from_b = p.sent_by('b').last().expect("b sent").0;
    let log_len = p.log.len();
    p.run_until(last_from_b + Duration::from_secs(2));
    let down_at = p.log[log_len..]
        .iter()
        .find(|(_, side, a)| *side == 'a' && *a == Action::Down(DownReason::DetectionTimeExpired))
        .expect("a detects")
        .0;
    assert_eq!(down_at - last_from_b, ms(300), "3 × 100 ms after b's last packet");
    assert_eq!(p.a.state(), State::Down);
    assert_eq!(p.a.remote().discriminator, 0, "forgotten with the detection time");
    // a's Down (diag 1, Your Discriminator 0) reaches b, which goes Down with diag 3
    let a_down = p
        .sent_by('a')
        .into_iter()
        .find(|(at, _)| *at == down_at)
        .expect("sent at once")
        .1;
    assert_eq!(
        (a_down.state, a_down.diag, a_down.your_discriminator),
        (State::Down, Diag::ControlDetectionTimeExpired, 0)
    );
    assert!(p.events_of('b').contains(&Action::Down(DownReason::NeighborDown)));
    // Up/Down alternate on both sides
    for side in ['a', 'b'] {
        let ud: Vec<_> = p
            .events_of(side)
            .into_iter()
            .filter(|a| matches!(a, Action::Up | Action::Down(_)))
            .collect();
        assert!(
            ud.iter()
                .enumerate()
                .all(|(i, a)| matches!(a, Action::Up) == (i % 2 == 0)),
            "{side}: {ud:?}"
        );
    }
}

#[test]
fn jitter_stays_within_75_to_100_percent_or_90_with_multiplier_1() {
    for (mult, max_per_mille) in [(3u8, 1000u128), (1, 900)] {
        let mut p = up_pair(
            config(A, intervals(100, 100, mult)),
            config(B, intervals(100, 100, 3)),
        );
        let t = p.now;
        p.run_until(t + Duration::from_secs(200));
        let times: Vec<_> = p
            .sent_by('a')
            .into_iter()
            .filter(|(at, _)| *at > t)
            .map(|(at, _)| at)
            .collect();
        assert!(times.len() > 1500, "{}", times.len());
        let gaps: Vec<u128> = times.windows(2).map(|w| (w[1] - w[0]).as_micros()).collect();
        let (min, max) = (*gaps.iter().min().unwrap(), *gaps.iter().max().unwrap());
        assert!(
            min >= 75_000 && max <= 100 * max_per_mille,
            "mult {mult}: {min}..{max} µs"
        );
        // spread over the whole range, not stuck at one end
        assert!(
            min < 76_000 && max > 100 * max_per_mille - 1_000,
            "mult {mult}: {min}..{max} µs"
        );
    }
    // the same seed gives the same schedule, another seed another one
    let schedule = |seed| {
        let mut c = config(A, intervals(100, 100, 3));
        c.seed = seed;
        let mut p = up_pair(c, config(B, intervals(100, 100, 3)));
        let t = p.now;
        p.run_until(t + Duration::from_secs(2));
        p.sent_by('a')
            .into_iter()
            .map(|(at, _)| at - t)
            .collect::<Vec<_>>()
    };
    assert_eq!(schedule(5), schedule(5));
    assert_ne!(schedule(5), schedule(6));
}

#[test]
fn a_passive_session_waits_for_the_peer_and_falls_silent_again() {
    let mut b = config(B, intervals(100, 100, 3));
    b.role = Role::Passive;
    let mut p = pair(config(A, intervals(100, 100, 3)), b);
    let t0 = p.now;
    assert_eq!(p.b.transmit_deadline(), None);
    p.a_mute = true;
    p.run_until(t0 + Duration::from_secs(5));
    assert!(
        p.sent_by('b').is_empty(),
        "passive: nothing before a packet from the peer"
    );
    p.a_mute = false;
    p.run_until(t0 + Duration::from_secs(7));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
    // the active side dies: b detects, forgets a's discriminator and stops sending
    p.a_mute = true;
    p.run_until(t0 + Duration::from_secs(8));
    assert_eq!(p.b.state(), State::Down);
    assert_eq!(p.b.remote().discriminator, 0);
    assert_eq!(p.b.transmit_deadline(), None);
    let last_b = p.sent_by('b').last().expect("b sent while up").0;
    p.run_until(t0 + Duration::from_secs(20));
    assert_eq!(p.sent_by('b').last().expect("b sent").0, last_b, "silent again");
    assert!(
        p.events_of('b')
            .contains(&Action::Down(DownReason::DetectionTimeExpired))
    );
}

#[test]
fn admin_down_takes_the_peer_down_without_a_failure_and_admin_up_restores_it() {
    let mut p = up_pair(
        config(A, intervals(100, 100, 3)),
        config(B, intervals(100, 100, 3)),
    );
    let t = p.now;
    let log_len = p.log.len();
    let actions = p.a.admin_down(t, Diag::AdministrativelyDown);
    assert_eq!(
        events(&actions),
        [
            Action::StateChanged {
                from: State::Up,
                to: State::AdminDown,
                diag: Diag::AdministrativelyDown
            },
            Action::Down(DownReason::AdminDown(Diag::AdministrativelyDown))
        ]
    );
    p.deliver_a(actions);
    assert_eq!(p.b.state(), State::Down);
    assert_eq!(p.b.local_diag(), Diag::NeighborSignaledDown);
    // RFC 5882 §3.2: b's BGP must not take this for a failure
    let b_down = p
        .events_of('b')
        .into_iter()
        .rev()
        .find(|a| matches!(a, Action::Down(_)));
    assert_eq!(b_down, Some(Action::Down(DownReason::NeighborAdminDown)));
    assert!(
        !DownReason::NeighborAdminDown.is_failure() && !DownReason::AdminDown(Diag::PathDown).is_failure()
    );
    assert!(DownReason::NeighborDown.is_failure() && DownReason::DetectionTimeExpired.is_failure());
    p.run_until(t + Duration::from_secs(10));
    assert_eq!(
        (p.a.state(), p.b.state()),
        (State::AdminDown, State::Down),
        "stays down"
    );
    // a keeps telling b, at the slow rate
    let admin: Vec<_> = p.log[log_len..]
        .iter()
        .filter(|(_, side, _)| *side == 'a')
        .flat_map(|(at, _, action)| {
            sent(std::slice::from_ref(action))
                .into_iter()
                .map(move |pk| (*at, pk))
        })
        .collect();
    assert!(
        admin.len() >= 10
            && admin
                .iter()
                .all(|(_, pk)| pk.state == State::AdminDown && pk.diag == Diag::AdministrativelyDown)
    );
    assert!(admin.windows(2).all(|w| w[1].0 - w[0].0 >= ms(750)));
    // b's packets are discarded by a, which stays AdminDown
    assert!(
        p.discards
            .iter()
            .all(|(_, side, d)| *side == 'a' && *d == Discard::AdminDown)
    );
    assert!(!p.discards.is_empty());
    let actions = p.a.admin_up(p.now);
    p.deliver_a(actions);
    p.run_until(p.now + Duration::from_secs(3));
    assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
}

#[test]
fn discriminators_are_learnt_checked_and_forgotten() {
    let mut p = up_pair(
        config(A, intervals(100, 100, 3)),
        config(B, intervals(100, 100, 3)),
    );
    assert_eq!(p.a.remote().discriminator, B);
    let now = p.now + ms(1);
    let mut pk = p.sent_by('b').last().unwrap().1.clone();
    pk.your_discriminator = A + 1;
    assert_eq!(
        p.a.receive(now, &pk.encode(), 255),
        Err(Discard::YourDiscriminator(A + 1))
    );
    pk.your_discriminator = 0; // only a Down or AdminDown peer may not know us
    assert_eq!(
        p.a.receive(now, &pk.encode(), 255),
        Err(Discard::ZeroYourDiscriminator(State::Up))
    );
    assert_eq!(p.a.state(), State::Up, "discarded packets change nothing");
    // a peer restarting with a new discriminator is taken as it comes: Down (your 0), then the new one
    pk.state = State::Down;
    pk.my_discriminator = 0x3333;
    p.a.receive(now, &pk.encode(), 255).expect("accepted");
    assert_eq!((p.a.state(), p.a.remote().discriminator), (State::Down, 0x3333));
}

#[test]
fn a_peer_in_demand_mode_stops_our_periodic_packets_but_not_polls_and_finals() {
    let mut p = up_pair(
        config(A, intervals(100, 100, 3)),
        config(B, intervals(100, 100, 3)),
    );
    let now = p.now + ms(10);
    let mut demand = p.sent_by('b').last().unwrap().1.clone();
    (demand.poll, demand.final_, demand.demand) = (false, false, true);
    p.a.receive(now, &demand.encode(), 255).expect("accepted");
    assert_eq!(
        p.a.transmit_deadline(),
        None,
        "§6.6: periodic transmission ceases"
    );
    assert_eq!(p.a.transmit_interval(), None);
    // the peer polls: we answer at once
    demand.poll = true;
    let actions = p.a.receive(now + ms(1), &demand.encode(), 255).expect("accepted");
    assert!(sent(&actions).iter().any(|pk| pk.final_ && !pk.poll));
    // our own parameter change runs a Poll Sequence with periodic P packets until the Final
    p.a.set_intervals(now, intervals(200, 100, 3)).expect("valid");
    let at = p.a.transmit_deadline().expect("polling");
    assert!(sent(&p.a.on_timer(at)).iter().all(|pk| pk.poll));
    demand.poll = false;
    demand.final_ = true;
    p.a.receive(at + ms(1), &demand.encode(), 255).expect("accepted");
    assert_eq!(p.a.transmit_deadline(), None);
    // the peer leaves Demand mode: periodic packets resume, the first one not delayed by jitter
    (demand.final_, demand.demand) = (false, false);
    p.a.receive(at + ms(2), &demand.encode(), 255).expect("accepted");
    assert_eq!(p.a.transmit_deadline(), Some(at + ms(2)));
}

#[test]
fn ttl_rules_of_single_hop_and_multi_hop() {
    let t0 = Instant::now();
    let mut peer = Session::new(config(B, Intervals::default()), t0).expect("valid");
    let bytes = first_send(&peer.on_timer(t0));
    let mut single = Session::new(config(A, Intervals::default()), t0).expect("valid");
    assert_eq!(
        single.receive(t0, &bytes, 254),
        Err(Discard::Ttl {
            ttl: 254,
            minimum: 255
        })
    );
    assert!(single.receive(t0, &bytes, 255).is_ok());
    let mut c = config(A, Intervals::default());
    c.hop = Hop::Multi { minimum_ttl: 254 };
    assert_eq!(c.hop.port(), 4784);
    let mut multi = Session::new(c, t0).expect("valid");
    assert_eq!(
        multi.receive(t0, &bytes, 253),
        Err(Discard::Ttl {
            ttl: 253,
            minimum: 254
        })
    );
    assert!(multi.receive(t0, &bytes, 254).is_ok());
}

fn sha1_config(discriminator: u32, auth_type: AuthType, key: &[u8]) -> SessionConfig {
    let mut c = config(discriminator, intervals(100, 100, 3));
    c.auth = Some(AuthConfig {
        auth_type,
        key_id: 7,
        key: key.to_vec(),
    });
    c
}

#[test]
fn meticulous_sha1_sessions_come_up_and_refuse_replays_and_forgeries() {
    let mut p = up_pair(
        sha1_config(A, AuthType::MeticulousKeyedSha1, b"ferrolb-bfd-key"),
        sha1_config(B, AuthType::MeticulousKeyedSha1, b"ferrolb-bfd-key"),
    );
    p.run_until(p.now + Duration::from_secs(1));
    assert!(p.discards.is_empty(), "{:?}", p.discards);
    let from_b: Vec<Vec<u8>> = p
        .log
        .iter()
        .filter_map(|(_, s, a)| match a {
            Action::Send(b) if *s == 'b' => Some(b.clone()),
            _ => None,
        })
        .collect();
    let seqs: Vec<u32> = from_b
        .iter()
        .map(|b| match ControlPacket::decode(b).unwrap().auth {
            Some(ferrolb_proto::bfd::Auth::Sha1 { sequence, .. }) => sequence,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "one more per packet"
    );
    let now = p.now + ms(1);
    let last = from_b.last().unwrap().clone();
    let last_seq = *seqs.last().unwrap();
    assert_eq!(
        p.a.receive(now, &last, 255),
        Err(Discard::AuthSequence {
            got: last_seq,
            last: last_seq
        }),
        "a replay of the last packet"
    );
    // a changed packet (P set) with a fresh sequence number but the old hash
    let mut forged = last.clone();
    forged[1] |= 0x20;
    forged[28..32].copy_from_slice(&last_seq.wrapping_add(1).to_be_bytes());
    assert_eq!(p.a.receive(now, &forged, 255), Err(Discard::AuthDigest));
    let mut other_key = last.clone();
    other_key[26] = 8;
    assert_eq!(
        p.a.receive(now, &other_key, 255),
        Err(Discard::AuthKeyId { got: 8, expected: 7 })
    );
    let mut keyed = last.clone();
    keyed[24] = 4;
    assert_eq!(
        p.a.receive(now, &keyed, 255),
        Err(Discard::AuthType {
            got: AuthType::KeyedSha1,
            expected: AuthType::MeticulousKeyedSha1
        })
    );
    let mut plain = ControlPacket::decode(&last).unwrap();
    plain.auth = None;
    assert_eq!(p.a.receive(now, &plain.encode(), 255), Err(Discard::AuthMissing));
    assert_eq!(p.a.state(), State::Up);
    // after 2 × the detection time without packets the sequence is forgotten: an old number is taken again
    p.b_mute = true;
    p.run_until(now + Duration::from_secs(1));
    assert_eq!(p.a.state(), State::Down);
    assert_eq!(p.a.receive(p.now, &from_b[0], 255).map(|_| ()), Ok(()));
}

#[test]
fn keyed_sha1_accepts_a_repeated_sequence_number_and_a_wrong_key_never_comes_up() {
    let mut p = up_pair(
        sha1_config(A, AuthType::KeyedSha1, b"k"),
        sha1_config(B, AuthType::KeyedSha1, b"k"),
    );
    let last = first_send(&[p
        .log
        .iter()
        .rev()
        .find(|(_, s, a)| *s == 'b' && matches!(a, Action::Send(_)))
        .unwrap()
        .2
        .clone()]);
    assert!(
        p.a.receive(p.now, &last, 255).is_ok(),
        "keyed: the same number again is within the window"
    );

    let mut p = pair(
        sha1_config(A, AuthType::KeyedSha1, b"k"),
        sha1_config(B, AuthType::KeyedSha1, b"j"),
    );
    p.run_until(p.now + Duration::from_secs(5));
    assert_eq!((p.a.state(), p.b.state()), (State::Down, State::Down));
    assert!(p.discards.len() >= 8 && p.discards.iter().all(|(_, _, d)| *d == Discard::AuthDigest));
}

/// BIRD's side `a` of a capture replayed into our session playing BIRD's side `b`.
fn replay_bird(name: &str, hop: Hop, auth: Option<(AuthType, u8)>) {
    let packets = captured(name);
    let (a_addr, b_addr) = (packets[1].src.clone(), packets[0].src.clone());
    let b_packets: Vec<ControlPacket> = packets
        .iter()
        .filter(|c| c.src == b_addr)
        .map(|c| ControlPacket::decode(&c.bytes).unwrap())
        .collect();
    let mut c = config(b_packets[0].my_discriminator, intervals(100, 100, 3));
    c.hop = hop;
    c.auth = auth.map(|(auth_type, key_id)| AuthConfig {
        auth_type,
        key_id,
        key: b"ferrolb-bfd-key".to_vec(),
    });
    let t0 = Instant::now();
    let mut ours = Session::new(c, t0).expect("valid");
    let mut states = vec![ours.state()];
    let mut finals = Vec::new();
    for cap in packets.iter().filter(|c| c.src == a_addr) {
        let at = t0 + Duration::from_secs_f64(cap.time);
        while let Some(d) = ours.next_deadline().filter(|d| *d <= at) {
            ours.on_timer(d);
        }
        let actions = ours
            .receive(at, &cap.bytes, cap.ttl)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        finals.extend(sent(&actions).into_iter().filter(|pk| pk.final_));
        if *states.last().unwrap() != ours.state() {
            states.push(ours.state());
        }
    }
    // BIRD's Down after it detected the failure takes us Down (diag 3), and its next Down to Init: unlike
    // the BIRD we replace, which was disabled, we are alive and answer
    assert_eq!(
        states,
        [State::Down, State::Init, State::Up, State::Down, State::Init],
        "{name}"
    );
    assert_eq!(ours.local_diag(), Diag::NeighborSignaledDown, "{name}");
    // our F reply to BIRD's Poll matches BIRD's own, field for field (the hash and sequence aside)
    let bird_final = b_packets.iter().find(|pk| pk.final_).expect("BIRD's Final");
    let ours_final = finals.first().expect("our Final");
    let strip = |pk: &ControlPacket| ControlPacket {
        auth: None,
        ..pk.clone()
    };
    assert_eq!(strip(ours_final), strip(bird_final), "{name}");
}

#[test]
fn birds_packets_drive_our_session_like_birds_own() {
    replay_bird("bird-v4-noauth", Hop::Single, None);
    replay_bird(
        "bird-v6-meticulous-sha1",
        Hop::Single,
        Some((AuthType::MeticulousKeyedSha1, 7)),
    );
    // BIRD sends multi-hop packets with TTL 64
    replay_bird(
        "bird-v4-multihop-sha1",
        Hop::Multi { minimum_ttl: 64 },
        Some((AuthType::KeyedSha1, 3)),
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the losses, Up and Down alternate on both sides, and once the link is clean again both
    /// sides are Up within 6 s (a detection time at the slow rate plus two slow intervals).
    #[test]
    fn lossy_links_converge_once_clean(
        loss in proptest::collection::vec(any::<bool>(), 0..300),
        tx in 10u64..400, rx in 10u64..400, mult in 1u8..5, seed in any::<u64>(),
    ) {
        let mut a = config(A, intervals(tx, rx, mult));
        a.seed = seed;
        let mut p = pair(a, config(B, intervals(rx, tx, 3)));
        p.loss = loss.into_iter().collect();
        let t0 = p.now;
        for _ in 0..100_000 {
            if p.loss.is_empty() || !p.step(t0 + Duration::from_secs(600)) {
                break;
            }
        }
        prop_assert!(p.loss.is_empty());
        p.run_until(p.now + Duration::from_secs(6));
        prop_assert_eq!((p.a.state(), p.b.state()), (State::Up, State::Up));
        for side in ['a', 'b'] {
            let ud: Vec<_> = p.events_of(side).into_iter().filter(|a| matches!(a, Action::Up | Action::Down(_))).collect();
            prop_assert!(ud.iter().enumerate().all(|(i, a)| matches!(a, Action::Up) == (i % 2 == 0)), "{}: {:?}", side, ud);
        }
        prop_assert!(p.discards.is_empty());
    }
}
