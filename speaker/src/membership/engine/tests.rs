use std::net::{IpAddr, Ipv4Addr};

use foca::Codec;
use rand::SeedableRng;

use super::*;
use crate::membership::identity::SpeakerCodec;
use crate::membership::watch::{BEAT, SUBSCRIBE};

const MS: Duration = Duration::from_millis(1);

fn addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        10000 + u16::try_from(i).unwrap(),
    )
}

fn started(seeds: usize) -> Engine {
    let mut e = Engine::new("me", Timings::default(), 1_000_000);
    e.control(Control::Key(Some(b"k".to_vec())), Duration::ZERO);
    e.control(
        Control::Seeds((1..=seeds).map(|i| (format!("n{i}"), addr(i))).collect()),
        Duration::ZERO,
    );
    e.control(Control::Address(addr(0)), Duration::ZERO);
    assert!(e.ready_to_start());
    e.start(Duration::ZERO, StdRng::seed_from_u64(1));
    e
}

/// The destinations of the Announce messages among `out`.
fn announced(out: &[Outgoing]) -> Vec<SocketAddr> {
    out.iter()
        .filter(|o| {
            SpeakerCodec
                .decode_header(&o.payload[..])
                .is_ok_and(|h| h.message == foca::Message::Announce)
        })
        .map(|o| o.to)
        .collect()
}

#[test]
fn joining_asks_seeds_in_bounded_rounds_then_settles_alone() {
    let mut e = started(300);
    let first = announced(&e.take_outgoing());
    assert_eq!(first.len(), JOIN_BATCH, "one batch at start");
    let mut asked: BTreeSet<SocketAddr> = first.into_iter().collect();
    let mut rounds = vec![JOIN_BATCH];
    let mut now = Duration::ZERO;
    // nobody answers: rounds every 20 ms until every seed was asked once, then re-asks
    while now < Duration::from_secs(2) && !e.settled() {
        now = e.next_deadline().expect("something is due");
        e.poll(now);
        let a = announced(&e.take_outgoing());
        if !a.is_empty() {
            assert!(a.len() <= JOIN_BATCH);
            let before = asked.len();
            asked.extend(a);
            rounds.push(asked.len() - before);
        }
    }
    // never-asked seeds first (the third round fills up with seeds that did not answer)
    assert_eq!(
        &rounds[..4],
        [128, 128, 44, 0],
        "seeds asked for the first time per round"
    );
    assert_eq!(asked.len(), 300, "every seed asked");
    assert!(e.settled(), "a lone node settles");
    assert_eq!(now, Timings::default().join_timeout, "after the join timeout");
    let v = e.view();
    assert!(v.settled && v.running);
    assert_eq!(v.live, BTreeSet::from(["me".to_owned()]));
}

#[test]
fn subscribers_get_heartbeats_unless_stepped_aside() {
    let mut e = started(2);
    drop(e.take_outgoing());
    e.handle("n1", addr(1), &SUBSCRIBE, MS);
    let at = e.next_deadline().unwrap();
    e.poll(at);
    let beats: Vec<Outgoing> = e
        .take_outgoing()
        .into_iter()
        .filter(|o| o.payload == BEAT)
        .collect();
    assert_eq!(
        beats,
        [Outgoing {
            to: addr(1),
            payload: BEAT.to_vec()
        }]
    );
    // a malformed heartbeat changes nothing
    e.handle("n1", addr(1), &[0, 7], at);
    assert!(e.take_outgoing().is_empty());
    e.control(Control::StepAside, at);
    drop(e.take_outgoing());
    let at = e.next_deadline().unwrap();
    e.poll(at);
    assert!(
        e.take_outgoing().iter().all(|o| o.payload != BEAT),
        "a node that stepped aside lets its watchers judge it"
    );
}

/// Two engines wired back to back with 1 ms latency; `cut` drops everything b sends from `cut_at` on.
fn pair(cut_at: Option<Duration>, until: Duration, watch: bool) -> (Engine, Vec<(Duration, String, bool)>) {
    let mut e = [
        Engine::new("a", Timings::default(), 1),
        Engine::new("b", Timings::default(), 1),
    ];
    for (i, x) in e.iter_mut().enumerate() {
        x.control(Control::Key(Some(b"k".to_vec())), Duration::ZERO);
        let other = 1 - i;
        x.control(
            Control::Seeds(vec![(["a", "b"][other].to_owned(), addr(other))]),
            Duration::ZERO,
        );
        x.control(Control::Address(addr(i)), Duration::ZERO);
        x.start(Duration::ZERO, StdRng::seed_from_u64(i as u64));
    }
    let mut in_flight: Vec<(Duration, usize, Vec<u8>)> = Vec::new();
    let mut changes = Vec::new();
    let mut now = Duration::ZERO;
    let mut watching = false;
    while now < until {
        for (i, x) in e.iter_mut().enumerate() {
            x.poll(now);
            for o in x.take_outgoing() {
                let to = usize::from(o.to.port() - 10000);
                let cut = i == 1 && cut_at.is_some_and(|c| now >= c);
                if !cut {
                    in_flight.push((now + MS, to, o.payload));
                }
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|(t, _, _)| *t <= now);
        in_flight = later;
        for (_, to, data) in due {
            let from = 1 - to;
            e[to].handle(["a", "b"][from], addr(from), &data, now);
        }
        for (n, live) in e[0].take_changes() {
            changes.push((now, n, live));
        }
        if watch && !watching && e[0].settled() && e[0].live_count() == 1 {
            e[0].control(Control::Watch(BTreeSet::from(["b".to_owned()])), now);
            watching = true;
        }
        now += MS;
    }
    let [a, _] = e;
    (a, changes)
}

#[test]
fn a_watched_node_that_goes_silent_leaves_the_live_set_at_once() {
    let cut = Duration::from_secs(2);
    let (mut a, changes) = pair(Some(cut), Duration::from_secs(4), true);
    assert_eq!(
        changes.first().map(|c| (&c.1[..], c.2)),
        Some(("b", true)),
        "{changes:?}"
    );
    let (at, _, live) = changes.iter().find(|c| c.0 >= cut).expect("b dropped");
    assert!(!live);
    let t = Timings::default();
    assert!(
        *at - cut <= t.heartbeat_timeout + 2 * t.heartbeat_interval,
        "{:?}",
        *at - cut
    );
    assert!(*at - cut >= t.heartbeat_timeout, "{:?}", *at - cut);
    assert_eq!(a.view().live, BTreeSet::from(["a".to_owned()]));
    assert_eq!(a.live_count(), 0);
}

#[test]
fn without_a_watch_swim_alone_drops_a_silent_node() {
    let cut = Duration::from_secs(2);
    let (_, changes) = pair(None, Duration::from_secs(3), true);
    assert!(changes.iter().all(|c| c.2), "nobody dropped: {changes:?}");
    let (_, changes) = pair(Some(cut), Duration::from_secs(4), false);
    let (at, _, _) = changes.iter().find(|c| !c.2 && c.1 == "b").expect("b dropped");
    // a failed probe, then the suspicion timeout
    assert!(*at - cut > Timings::default().suspect_to_down, "{:?}", *at - cut);
}
