//! Helpers shared by the BFD tests: hex, the captured BIRD packets, and two sessions wired together.
#![allow(dead_code)] // each test file uses a part

use std::path::PathBuf;
use std::time::Instant;

use ferrolb_proto::bfd::{Action, ControlPacket, Discard, Session};

/// Bytes of a hex string (whitespace ignored).
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex"))
        .collect()
}

/// One line of a `tests/data/bfd/*.txt` capture.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Seconds since the first packet.
    pub time: f64,
    /// Source address.
    pub src: String,
    /// Destination address.
    pub dst: String,
    /// UDP destination port.
    pub port: u16,
    /// IP TTL / hop limit.
    pub ttl: u8,
    /// The UDP payload.
    pub bytes: Vec<u8>,
}

/// The packets of `tests/data/bfd/<name>.txt`, in capture order.
pub fn captured(name: &str) -> Vec<Captured> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/bfd/{name}.txt"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 6, "{name}: {line}");
            Captured {
                time: f[0].parse().expect("time"),
                src: f[1].to_string(),
                dst: f[2].to_string(),
                port: f[3].parse().expect("port"),
                ttl: f[4].parse().expect("ttl"),
                bytes: hex(f[5]),
            }
        })
        .collect()
}

/// The packets in `actions`, decoded.
pub fn sent(actions: &[Action]) -> Vec<ControlPacket> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => Some(ControlPacket::decode(b).expect("we send valid packets")),
            _ => None,
        })
        .collect()
}

/// The non-Send actions.
pub fn events(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Send(_)))
        .cloned()
        .collect()
}

/// Two sessions joined by a lossless, instantaneous link, driven by their deadlines like two speakers would be.
pub struct Pair {
    /// Side A.
    pub a: Session,
    /// Side B.
    pub b: Session,
    /// The current time.
    pub now: Instant,
    /// Every action, in order, with the time and side (`'a'` or `'b'`) that produced it.
    pub log: Vec<(Instant, char, Action)>,
    /// Drop what A sends (a dead node, a cut link).
    pub a_mute: bool,
    /// Drop what B sends.
    pub b_mute: bool,
    /// Loss pattern: each packet sent by either side takes the next entry, `true` drops it; once empty,
    /// nothing more is lost (unless muted).
    pub loss: std::collections::VecDeque<bool>,
    /// Packets a side discarded: (time, receiving side, why).
    pub discards: Vec<(Instant, char, Discard)>,
}

impl Pair {
    /// Two sessions created at `now`.
    pub fn new(a: Session, b: Session, now: Instant) -> Pair {
        Pair {
            a,
            b,
            now,
            log: Vec::new(),
            a_mute: false,
            b_mute: false,
            loss: Default::default(),
            discards: Vec::new(),
        }
    }

    /// Delivers A's actions to B (and B's replies back, recursively), logging everything.
    pub fn deliver_a(&mut self, actions: Vec<Action>) {
        self.deliver('a', actions);
    }

    /// Delivers B's actions to A.
    pub fn deliver_b(&mut self, actions: Vec<Action>) {
        self.deliver('b', actions);
    }

    fn deliver(&mut self, side: char, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<(char, Action)> =
            actions.into_iter().map(|a| (side, a)).collect();
        while let Some((from, action)) = queue.pop_front() {
            self.log.push((self.now, from, action.clone()));
            let Action::Send(bytes) = action else { continue };
            let (mute, to) = match from {
                'a' => (self.a_mute, &mut self.b),
                _ => (self.b_mute, &mut self.a),
            };
            let lost = self.loss.pop_front().unwrap_or(false);
            if mute || lost {
                continue;
            }
            let other = if from == 'a' { 'b' } else { 'a' };
            match to.receive(self.now, &bytes, 255) {
                Ok(replies) => queue.extend(replies.into_iter().map(|a| (other, a))),
                Err(discard) => self.discards.push((self.now, other, discard)),
            }
        }
    }

    /// Advances to the earliest deadline (if it is not after `until`) and runs it; false if none was due.
    pub fn step(&mut self, until: Instant) -> bool {
        let next = [self.a.next_deadline(), self.b.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next.filter(|t| *t <= until) else {
            self.now = until.max(self.now);
            return false;
        };
        self.now = next.max(self.now);
        let now = self.now;
        if self.a.next_deadline().is_some_and(|t| t <= now) {
            let actions = self.a.on_timer(now);
            self.deliver_a(actions);
        }
        if self.b.next_deadline().is_some_and(|t| t <= now) {
            let actions = self.b.on_timer(now);
            self.deliver_b(actions);
        }
        true
    }

    /// Runs every deadline up to `until`.
    pub fn run_until(&mut self, until: Instant) {
        for _ in 0..1_000_000 {
            if !self.step(until) {
                return;
            }
        }
        panic!("more than a million deadlines before {until:?}");
    }

    /// The non-Send actions of one side, in order.
    pub fn events_of(&self, side: char) -> Vec<Action> {
        self.log
            .iter()
            .filter(|(_, s, a)| *s == side && !matches!(a, Action::Send(_)))
            .map(|(_, _, a)| a.clone())
            .collect()
    }

    /// The packets one side sent, with their times.
    pub fn sent_by(&self, side: char) -> Vec<(Instant, ControlPacket)> {
        self.log
            .iter()
            .filter_map(|(t, s, a)| match a {
                Action::Send(b) if *s == side => Some((*t, ControlPacket::decode(b).expect("valid"))),
                _ => None,
            })
            .collect()
    }
}
