//! The successor watch: fast, direct failure detection of the nodes whose IPs this node would take over.
//!
//! SWIM finds a dead member when some survivor's random probe of it fails, then spreads the news; how long that
//! takes, and how often loss fakes it, depend on the cluster's size. Failover needs something else: the one node
//! that will take an IP over (its successor: the runner-up of the IP's rendezvous hash) must notice that the
//! owner is gone, quickly, whatever the cluster's size. So each speaker *watches* the nodes it is successor to
//! (the owner task computes them from the election, [`super::Control::Watch`]):
//!
//! - **Subscription**: the watcher asks each watched node, every [`SUBSCRIBE_EVERY`] heartbeat intervals, to
//!   send it heartbeats for the next [`LEASE`]; the watched node sends one to each current subscriber every
//!   [`Timings::heartbeat_interval`](super::Timings::heartbeat_interval). Heartbeats flow one way (a lost one
//!   costs one sample, not a round trip), and the watched node needs no election of its own to know its
//!   watchers. A lease lapses only after 20 lost subscriptions in a row.
//! - **Verdict**: a watched node from which nothing authenticated arrived for
//!   [`Timings::heartbeat_timeout`](super::Timings::heartbeat_timeout) is *unreachable*: it leaves this node's
//!   live set at once (this node takes its IPs over) while SWIM goes on as usual. With loss `p`, a false
//!   verdict needs about `timeout / interval` heartbeats lost in a row: `p¹⁰ ≈ 10⁻¹³` at 5 %.
//! - **Armed only by a heartbeat**: a target is judged only once a heartbeat from it arrived after it became a
//!   target, so a speaker that sends none (an older version during a rolling upgrade, a node still starting)
//!   is never declared unreachable by the watch — SWIM alone decides for it.
//! - **Own stalls**: when this node's own ticks come late (its process was not scheduled), the nodes it watches
//!   get a fresh window instead of a verdict: silence it could not have observed proves nothing.
//! - **Recovery**: an unreachable node stays subscribed; the first datagram from it makes it live again. SWIM
//!   declaring it down ends the verdict (the live set already agrees). If SWIM has not confirmed it within
//!   [`Timings::watch_confirm`](super::Timings::watch_confirm) — the node is alive for the rest of the cluster
//!   but not reachable from here — the verdict is withdrawn and the node is judged by SWIM alone until a
//!   datagram from it arrives again, so an asymmetric partition costs one bounded episode, not a flapping owner.
//!
//! Heartbeats share the membership socket and authentication; their payload starts with a zero byte, which no
//! foca datagram does (it starts with the sender's name length), so an older speaker rejects them as malformed.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

/// First payload byte of a heartbeat message (a foca payload starts with a name length, never 0).
pub const HEARTBEAT: u8 = 0;
/// "Send me heartbeats for the next [`LEASE`]".
pub const SUBSCRIBE: [u8; 2] = [HEARTBEAT, 1];
/// A heartbeat.
pub const BEAT: [u8; 2] = [HEARTBEAT, 2];
/// How long a subscription lasts.
pub const LEASE: Duration = Duration::from_secs(2);
/// Subscriptions are renewed every this many heartbeat intervals (20 per lease at the defaults).
pub const SUBSCRIBE_EVERY: u32 = 10;
/// At most this many subscribers are served (only key holders can subscribe; this bounds a misbehaving one).
pub const MAX_SUBSCRIBERS: usize = 4096;

/// A heartbeat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// Please send me heartbeats.
    Subscribe,
    /// A heartbeat.
    Beat,
}

impl Heartbeat {
    /// Decodes a payload: `None` for anything that is not a heartbeat message (a foca payload);
    /// `Some(Err(()))` for a malformed one.
    pub fn decode(payload: &[u8]) -> Option<Result<Heartbeat, ()>> {
        match payload {
            [HEARTBEAT, 1] => Some(Ok(Heartbeat::Subscribe)),
            [HEARTBEAT, 2] => Some(Ok(Heartbeat::Beat)),
            [HEARTBEAT, ..] => Some(Err(())),
            _ => None,
        }
    }

    /// The payload.
    pub fn encode(self) -> [u8; 2] {
        match self {
            Heartbeat::Subscribe => SUBSCRIBE,
            Heartbeat::Beat => BEAT,
        }
    }
}

/// What the watch decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Nothing from this node for the timeout: it leaves the live set.
    Unreachable(String),
    /// A datagram from a node judged unreachable: it is live again.
    Reachable(String),
    /// SWIM did not confirm the verdict in time: withdrawn, the node is judged by SWIM alone until heard from.
    Withdrawn(String),
}

#[derive(Debug, Clone)]
struct Target {
    addr: SocketAddr,
    armed: bool,
    last_heard: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Verdict {
    at: Duration,
    addr: SocketAddr,
}

/// The watch's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// Heartbeat period.
    pub interval: Duration,
    /// Silence that makes a watched node unreachable.
    pub timeout: Duration,
    /// How long a verdict waits for SWIM to confirm it.
    pub confirm: Duration,
}

/// What one tick sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sends {
    /// Subscriptions (to watched and unreachable nodes).
    pub subscribe: Vec<SocketAddr>,
    /// Heartbeats (to subscribers).
    pub beat: Vec<SocketAddr>,
}

/// The watch's state, both sides: the nodes this one watches and its own subscribers (pure: time is passed in).
#[derive(Debug)]
pub struct Watch {
    settings: WatchSettings,
    targets: BTreeMap<String, Target>,
    unreachable: BTreeMap<String, Verdict>,
    /// Verdict withdrawn: judged by SWIM alone until heard from.
    quarantined: BTreeSet<String>,
    /// Who wants heartbeats from this node, until when.
    subscribers: BTreeMap<String, (SocketAddr, Duration)>,
    last_tick: Option<Duration>,
    ticks: u32,
}

impl Watch {
    /// A watch with no target and no subscriber.
    pub fn new(settings: WatchSettings) -> Watch {
        Watch {
            settings,
            targets: BTreeMap::new(),
            unreachable: BTreeMap::new(),
            quarantined: BTreeSet::new(),
            subscribers: BTreeMap::new(),
            last_tick: None,
            ticks: 0,
        }
    }

    /// The nodes to watch now, with their membership addresses. Known targets keep their state; new ones are
    /// subscribed to at the next tick.
    pub fn set_targets(&mut self, targets: BTreeMap<String, SocketAddr>, now: Duration) {
        let mut old = std::mem::take(&mut self.targets);
        let added = targets.keys().any(|n| !old.contains_key(n));
        for (name, addr) in targets {
            let t = match old.remove(&name) {
                Some(t) => Target { addr, ..t },
                None => Target {
                    addr,
                    armed: false,
                    last_heard: now,
                },
            };
            self.targets.insert(name, t);
        }
        if added {
            // subscribe at the next tick
            self.ticks = 0;
        }
    }

    /// The nodes watched now.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.targets.keys().map(String::as_str)
    }

    /// Whether `name` is judged unreachable.
    pub fn is_unreachable(&self, name: &str) -> bool {
        self.unreachable.contains_key(name)
    }

    /// The nodes judged unreachable.
    pub fn unreachable(&self) -> impl Iterator<Item = &str> {
        self.unreachable.keys().map(String::as_str)
    }

    /// How many nodes get heartbeats from this one.
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }

    /// How many targets are armed (a heartbeat from them arrived since they became targets).
    pub fn armed(&self) -> usize {
        self.targets.values().filter(|t| t.armed).count()
    }

    /// `name` at `from` subscribed.
    pub fn subscribed(&mut self, name: &str, from: SocketAddr, now: Duration) {
        if self.subscribers.len() < MAX_SUBSCRIBERS || self.subscribers.contains_key(name) {
            self.subscribers.insert(name.to_owned(), (from, now + LEASE));
        }
    }

    /// An authenticated datagram from `name` arrived; `beat` if it was a heartbeat.
    pub fn heard(&mut self, name: &str, beat: bool, now: Duration) -> Option<WatchEvent> {
        if let Some(t) = self.targets.get_mut(name) {
            t.armed |= beat;
            t.last_heard = now;
        }
        self.quarantined.remove(name);
        self.unreachable
            .remove(name)
            .map(|_| WatchEvent::Reachable(name.to_owned()))
    }

    /// SWIM declared `name` down: a verdict about it is confirmed and ends here.
    pub fn confirmed_down(&mut self, name: &str) {
        self.unreachable.remove(name);
    }

    /// When [`Watch::tick`] should run next (`None`: nothing to do).
    pub fn next_tick(&self) -> Option<Duration> {
        if self.targets.is_empty() && self.unreachable.is_empty() && self.subscribers.is_empty() {
            return None;
        }
        Some(
            self.last_tick
                .map_or(Duration::ZERO, |t| t + self.settings.interval),
        )
    }

    /// Judges the targets; returns the subscriptions and heartbeats to send (heartbeats only if `beating`:
    /// a node that stepped aside sends none).
    pub fn tick(&mut self, now: Duration, beating: bool, events: &mut Vec<WatchEvent>) -> Sends {
        let s = self.settings;
        let stalled = self
            .last_tick
            .is_some_and(|t| now.saturating_sub(t) > s.interval * 3);
        self.last_tick = Some(now);
        for (name, t) in &mut self.targets {
            if stalled {
                // this node was not running: what it did not hear proves nothing
                t.last_heard = t.last_heard.max(now);
                continue;
            }
            if t.armed
                && now.saturating_sub(t.last_heard) > s.timeout
                && !self.quarantined.contains(name)
                && !self.unreachable.contains_key(name)
            {
                self.unreachable.insert(
                    name.clone(),
                    Verdict {
                        at: now,
                        addr: t.addr,
                    },
                );
                events.push(WatchEvent::Unreachable(name.clone()));
            }
        }
        let withdrawn: Vec<String> = self
            .unreachable
            .iter()
            .filter(|(_, v)| now.saturating_sub(v.at) > s.confirm)
            .map(|(n, _)| n.clone())
            .collect();
        for name in withdrawn {
            self.unreachable.remove(&name);
            self.quarantined.insert(name.clone());
            if let Some(t) = self.targets.get_mut(&name) {
                t.last_heard = now;
            }
            events.push(WatchEvent::Withdrawn(name));
        }
        let mut out = Sends::default();
        if self.ticks == 0 {
            out.subscribe = self.targets.values().map(|t| t.addr).collect();
            out.subscribe.extend(
                self.unreachable
                    .iter()
                    .filter(|(n, _)| !self.targets.contains_key(*n))
                    .map(|(_, v)| v.addr),
            );
        }
        self.ticks = (self.ticks + 1) % SUBSCRIBE_EVERY;
        self.subscribers.retain(|_, (_, until)| *until > now);
        if beating {
            out.beat = self.subscribers.values().map(|(a, _)| *a).collect();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn settings() -> WatchSettings {
        WatchSettings {
            interval: 10 * MS,
            timeout: 100 * MS,
            confirm: Duration::from_secs(5),
        }
    }

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::new([192, 0, 2, i].into(), 7946)
    }

    fn targets(names: &[&str]) -> BTreeMap<String, SocketAddr> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.to_string(), addr(u8::try_from(i + 1).unwrap())))
            .collect()
    }

    /// Ticks every 10 ms from `from` to `to` (exclusive); `beats` says who sends a heartbeat after each tick.
    fn run(
        w: &mut Watch,
        from: Duration,
        to: Duration,
        mut beats: impl FnMut(Duration) -> Vec<&'static str>,
    ) -> Vec<(Duration, WatchEvent)> {
        let mut out = Vec::new();
        let mut now = from;
        while now < to {
            let mut ev = Vec::new();
            w.tick(now, true, &mut ev);
            out.extend(ev.into_iter().map(|e| (now, e)));
            for n in beats(now) {
                if let Some(e) = w.heard(n, true, now + MS) {
                    out.push((now + MS, e));
                }
            }
            now += 10 * MS;
        }
        out
    }

    #[test]
    fn heartbeats_decode_and_foca_payloads_are_not_heartbeats() {
        assert_eq!(Heartbeat::decode(&SUBSCRIBE), Some(Ok(Heartbeat::Subscribe)));
        assert_eq!(
            Heartbeat::decode(&Heartbeat::Beat.encode()),
            Some(Ok(Heartbeat::Beat))
        );
        assert_eq!(Heartbeat::decode(&[0, 9]), Some(Err(())));
        assert_eq!(Heartbeat::decode(&[0]), Some(Err(())));
        assert_eq!(Heartbeat::decode(&[5, b'n', b'o']), None, "a foca header");
        assert_eq!(Heartbeat::decode(&[]), None);
    }

    #[test]
    fn subscriptions_go_out_every_tenth_tick_and_heartbeats_to_live_subscribers() {
        let mut w = Watch::new(settings());
        assert_eq!(w.next_tick(), None, "nothing to do");
        w.set_targets(targets(&["a", "b"]), Duration::ZERO);
        w.subscribed("c", addr(9), Duration::ZERO);
        let mut ev = Vec::new();
        let mut subs = 0;
        let mut beats = 0;
        let mut now = Duration::ZERO;
        while now < Duration::from_secs(1) {
            let s = w.tick(now, true, &mut ev);
            subs += s.subscribe.len();
            beats += s.beat.len();
            now += 10 * MS;
        }
        assert_eq!(subs, 2 * 10, "2 targets, every 100 ms");
        assert_eq!(beats, 100, "c gets a heartbeat every 10 ms");
        // the lease lapses 2 s after the last subscription; a node that stepped aside sends none
        assert_eq!(w.tick(Duration::from_millis(1990), false, &mut ev).beat, []);
        assert_eq!(w.subscribers(), 1);
        w.tick(Duration::from_secs(2), true, &mut ev);
        assert_eq!(w.subscribers(), 0);
        // a new target is subscribed to at the next tick
        w.set_targets(targets(&["a", "b", "d"]), Duration::from_secs(2));
        assert_eq!(
            w.tick(Duration::from_millis(2010), true, &mut ev).subscribe.len(),
            3
        );
        assert!(ev.is_empty(), "nobody armed: {ev:?}");
    }

    #[test]
    fn a_silent_owner_is_unreachable_after_the_timeout_and_back_when_heard() {
        let mut w = Watch::new(settings());
        w.set_targets(targets(&["a", "b"]), Duration::ZERO);
        // both beat for 1 s, then a goes silent at 1 s
        let ev = run(&mut w, Duration::ZERO, Duration::from_secs(1), |_| vec!["a", "b"]);
        assert!(ev.is_empty(), "{ev:?}");
        let ev = run(&mut w, Duration::from_secs(1), Duration::from_secs(2), |_| {
            vec!["b"]
        });
        let [(at, WatchEvent::Unreachable(n))] = ev.as_slice() else {
            panic!("{ev:?}")
        };
        assert_eq!(n, "a");
        // last heard at 0.991 s; the first tick more than 100 ms later
        assert_eq!(*at, Duration::from_millis(1100));
        assert!(w.is_unreachable("a") && !w.is_unreachable("b"));
        // still subscribed to while unreachable, even when no longer a target
        w.set_targets(targets(&["b"]), Duration::from_secs(2));
        let mut subscribed = Vec::new();
        for k in 0..10 {
            let mut ev = Vec::new();
            subscribed.extend(
                w.tick(Duration::from_secs(2) + k * 10 * MS, true, &mut ev)
                    .subscribe,
            );
        }
        assert_eq!(subscribed.len(), 2, "{subscribed:?}");
        // any datagram from it will do
        assert_eq!(
            w.heard("a", false, Duration::from_secs(2)),
            Some(WatchEvent::Reachable("a".into()))
        );
        assert!(!w.is_unreachable("a"));
    }

    #[test]
    fn a_target_that_never_sent_a_heartbeat_is_not_judged() {
        let mut w = Watch::new(settings());
        w.set_targets(targets(&["old-version"]), Duration::ZERO);
        // it talks SWIM, but sends no heartbeat
        let mut now = Duration::ZERO;
        while now < Duration::from_secs(3) {
            let mut ev = Vec::new();
            w.tick(now, true, &mut ev);
            assert!(ev.is_empty(), "{ev:?}");
            if now.as_millis().is_multiple_of(500) {
                w.heard("old-version", false, now);
            }
            now += 10 * MS;
        }
    }

    #[test]
    fn nine_lost_heartbeats_in_a_row_are_tolerated() {
        let mut w = Watch::new(settings());
        w.set_targets(targets(&["a"]), Duration::ZERO);
        // beats, except for 9 consecutive ones out of every 10
        let ev = run(&mut w, Duration::ZERO, Duration::from_secs(10), |t| {
            if (t.as_millis() / 10) % 10 == 0 {
                vec!["a"]
            } else {
                vec![]
            }
        });
        assert!(ev.is_empty(), "{ev:?}");
    }

    #[test]
    fn late_ticks_of_the_watcher_itself_give_a_fresh_window() {
        let mut w = Watch::new(settings());
        w.set_targets(targets(&["a"]), Duration::ZERO);
        run(&mut w, Duration::ZERO, 100 * MS, |_| vec!["a"]);
        // this node stalls for 300 ms: its next tick comes at 0.39 s
        let mut ev = Vec::new();
        w.tick(390 * MS, true, &mut ev);
        assert!(ev.is_empty(), "{ev:?}");
        // it then reads the heartbeats queued meanwhile
        assert_eq!(w.heard("a", true, 391 * MS), None);
        let ev = run(&mut w, 400 * MS, Duration::from_secs(1), |_| vec!["a"]);
        assert!(ev.is_empty(), "{ev:?}");
        // but a real silence after the stall is still found
        let ev = run(&mut w, Duration::from_secs(1), Duration::from_secs(2), |_| vec![]);
        assert!(
            matches!(ev.as_slice(), [(_, WatchEvent::Unreachable(_))]),
            "{ev:?}"
        );
    }

    #[test]
    fn an_unconfirmed_verdict_is_withdrawn_and_the_node_left_to_swim() {
        let mut w = Watch::new(settings());
        w.set_targets(targets(&["a"]), Duration::ZERO);
        run(&mut w, Duration::ZERO, 50 * MS, |_| vec!["a"]);
        let ev = run(&mut w, 50 * MS, Duration::from_secs(20), |_| vec![]);
        let kinds: Vec<&WatchEvent> = ev.iter().map(|(_, e)| e).collect();
        assert_eq!(
            kinds,
            [
                &WatchEvent::Unreachable("a".into()),
                &WatchEvent::Withdrawn("a".into())
            ],
            "one episode, no flapping"
        );
        assert!(ev[1].0 - ev[0].0 > Duration::from_secs(5));
        // heard again: judged by the watch again
        assert_eq!(w.heard("a", true, Duration::from_secs(20)), None);
        let ev = run(
            &mut w,
            Duration::from_secs(20),
            Duration::from_secs(21),
            |_| vec![],
        );
        assert!(
            matches!(ev.as_slice(), [(_, WatchEvent::Unreachable(_))]),
            "{ev:?}"
        );
    }

    #[test]
    fn a_verdict_confirmed_by_swim_ends_quietly() {
        let mut w = Watch::new(settings());
        w.set_targets(targets(&["a"]), Duration::ZERO);
        run(&mut w, Duration::ZERO, 50 * MS, |_| vec!["a"]);
        run(&mut w, 50 * MS, 300 * MS, |_| vec![]);
        assert!(w.is_unreachable("a"));
        w.confirmed_down("a");
        w.set_targets(BTreeMap::new(), 300 * MS);
        assert_eq!(w.next_tick(), None, "nothing left to do");
    }
}
