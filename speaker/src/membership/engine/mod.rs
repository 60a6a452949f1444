//! One speaker's membership without I/O: foca and its timers, joining and settling, the successor
//! [`watch`](super::watch) and the live set. Time is a [`Duration`] since an origin the caller picks, passed
//! into every call. The membership task ([`super::spawn`]) drives it with a socket and the clock; the
//! simulator ([`super::sim`]) drives thousands of them over a simulated network, so what the simulator
//! measures is this code.
//!
//! - **Joining** scales with the cluster: each round asks at most [`JOIN_BATCH`] seeds (Nodes) that are not
//!   members yet to let this node in, seeds never asked first; every answer (a foca *feed*) lists random
//!   members, so after a few rounds of a large cluster most seeds are members before they are asked. Rounds
//!   run every [`JOIN_ROUND`] while some seed was never asked, then every half [`Timings::settle`] until
//!   settled, then every [`Timings::rejoin_interval`].
//! - **Settled** once it heard from the cluster, every seed was asked (or is a member) and [`Timings::settle`]
//!   passed since both; or after [`Timings::join_timeout`] without any answer (a lone node).
//! - **Live set**: active foca members, minus those the watch judges unreachable, each counted from
//!   [`Timings::settle`] after it was first seen (members heard while joining count from the moment this node
//!   settles). foca's member list is the only per-member state (the simulator runs 5,000 engines of 5,000
//!   members each); the engine keeps only members still maturing and reports each change of the live set.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, Member, NoCustomBroadcast, OwnedNotification, Timer};
use rand::rngs::StdRng;

use super::identity::{NodeId, SpeakerCodec};
use super::timing::Timings;
use super::watch::{Heartbeat, Watch, WatchEvent};
use super::workaround::keep_outgoing;
use super::{Control, View};

/// The largest foca payload: leaves room for the authentication header (up to 277 bytes with a 253-byte
/// node name) and tag within a 1,500-byte MTU after IP and UDP headers.
pub const MAX_PAYLOAD: usize = 1100;
/// Seeds asked per join round.
pub const JOIN_BATCH: usize = 128;
/// Join round period while some seed was never asked.
pub const JOIN_ROUND: Duration = Duration::from_millis(20);

type SpeakerFoca = Foca<NodeId, SpeakerCodec, StdRng, NoCustomBroadcast>;

/// A payload to send (the caller seals it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Destination.
    pub to: SocketAddr,
    /// foca payload or heartbeat.
    pub payload: Vec<u8>,
}

/// Something worth a log line or a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// Started with this identity.
    Joining(NodeId),
    /// The membership address changed (new generation).
    AddressChanged(NodeId),
    /// A member became active.
    MemberUp(NodeId),
    /// A member was declared down (or left).
    MemberDown(NodeId),
    /// A member came back with a new generation.
    Renamed(NodeId),
    /// No other live member.
    Idle,
    /// This node was declared down and rejoined with this identity.
    Rejoined(NodeId),
    /// A probe of this member failed here (a suspicion).
    ProbeFailed(NodeId),
    /// Settled with this many members (this node included).
    Settled(usize),
    /// Left the cluster (step aside).
    SteppedAside,
    /// Rejoining after stepping aside.
    Returned(NodeId),
    /// The successor watch decided.
    Watch(WatchEvent),
    /// foca rejected a datagram or a timer (tracing only).
    Foca(String),
}

/// The membership state machine. See the module docs.
pub struct Engine {
    node: String,
    timings: Timings,
    /// Milliseconds since the epoch at the time origin: generations are `epoch_ms + now`.
    epoch_ms: u64,
    foca: Option<SpeakerFoca>,
    rt: AccumulatingRuntime<NodeId>,
    timers: BinaryHeap<Reverse<(Duration, u64)>>,
    timer_events: HashMap<u64, Timer<NodeId>>,
    timer_seq: u64,
    has_key: bool,
    address: Option<SocketAddr>,
    /// The Nodes' membership addresses (this node's own entry, if present, is skipped).
    seeds: Arc<[(String, SocketAddr)]>,
    stepped_aside: bool,
    started_at: Option<Duration>,
    active_since: Option<Duration>,
    settled: bool,
    /// Per seed: asked since the last (re)join. When every seed had been asked or was a member.
    asked: Vec<bool>,
    all_asked_at: Option<Duration>,
    next_round: Option<Duration>,
    round_cursor: usize,
    /// Active members not counted live yet, with when they were first seen active.
    maturing: BTreeMap<String, Duration>,
    maturity_queue: BinaryHeap<Reverse<(Duration, String)>>,
    watch: Watch,
    /// Other nodes in the live set.
    live_count: usize,
    /// foca's current `max_transmissions` (it grows with the cluster).
    transmissions: u8,
    dirty: bool,
    out: Vec<Outgoing>,
    notes: Vec<Note>,
    changes: Vec<(String, bool)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("node", &self.node)
            .field("identity", &self.identity())
            .field("settled", &self.settled)
            .field("live", &self.live_count)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// A node that has not started (no key or address yet). `epoch_ms` is the wall clock (ms since the epoch)
    /// at the time origin: identities' generations come from it, so a restarted speaker outranks its
    /// previous run.
    pub fn new(node: impl Into<String>, timings: Timings, epoch_ms: u64) -> Engine {
        Engine {
            node: node.into(),
            epoch_ms,
            watch: Watch::new(timings.watch_settings()),
            timings,
            foca: None,
            rt: AccumulatingRuntime::new(),
            timers: BinaryHeap::new(),
            timer_events: HashMap::new(),
            timer_seq: 0,
            has_key: false,
            address: None,
            seeds: Arc::from(Vec::new()),
            stepped_aside: false,
            started_at: None,
            active_since: None,
            settled: false,
            asked: Vec::new(),
            all_asked_at: None,
            next_round: None,
            round_cursor: 0,
            maturing: BTreeMap::new(),
            maturity_queue: BinaryHeap::new(),
            live_count: 0,
            transmissions: timings.max_transmissions,
            dirty: true,
            out: Vec::new(),
            notes: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// This node's identity, once started.
    pub fn identity(&self) -> Option<&NodeId> {
        self.foca.as_ref().map(|f| f.identity())
    }

    /// Whether [`Engine::start`] may be called (a key and an address).
    pub fn ready_to_start(&self) -> bool {
        self.has_key && self.address.is_some() && self.foca.is_none()
    }

    /// Whether it runs.
    pub fn running(&self) -> bool {
        self.foca.is_some()
    }

    /// Takes a command. A key's bytes are the caller's business (it seals and opens); here only its presence
    /// counts.
    pub fn control(&mut self, c: Control, now: Duration) {
        match c {
            Control::Key(k) => self.has_key |= k.is_some(),
            Control::Address(addr) => {
                if self.address == Some(addr) {
                    return;
                }
                self.address = Some(addr);
                let renamed = self
                    .identity()
                    .map(|id| NodeId::new(id.name.clone(), addr, id.generation + 1));
                if let (Some(new), Some(foca)) = (renamed, self.foca.as_mut()) {
                    let _ = foca.change_identity(new.clone(), &mut self.rt);
                    self.notes.push(Note::AddressChanged(new));
                    self.after_foca(now);
                }
            }
            Control::Seeds(seeds) => self.set_seeds(Arc::from(seeds), now),
            Control::Watch(names) => {
                let targets: BTreeMap<String, SocketAddr> = self
                    .foca
                    .iter()
                    .flat_map(|f| f.iter_members())
                    .filter(|m| names.contains(&m.id().name))
                    .map(|m| (m.id().name.clone(), m.id().addr))
                    .collect();
                self.watch.set_targets(targets, now);
            }
            Control::StepAside => {
                if !self.stepped_aside {
                    self.stepped_aside = true;
                    self.notes.push(Note::SteppedAside);
                    if let Some(f) = self.foca.as_mut() {
                        let _ = f.leave_cluster(&mut self.rt);
                    }
                    self.dirty = true;
                    self.after_foca(now);
                }
            }
            Control::Return => {
                if self.stepped_aside {
                    self.stepped_aside = false;
                    // newer than any generation foca may have renewed itself to meanwhile
                    let generation = self.generation_at(now);
                    let renewed = self
                        .identity()
                        .map(|id| NodeId::new(id.name.clone(), id.addr, generation.max(id.generation + 1)));
                    if let (Some(new), Some(foca)) = (renewed, self.foca.as_mut()) {
                        let _ = foca.change_identity(new.clone(), &mut self.rt);
                        self.notes.push(Note::Returned(new));
                    }
                    self.rejoin(now);
                    self.dirty = true;
                    self.after_foca(now);
                }
            }
            Control::Leave => self.leave(now),
        }
    }

    /// foca's configuration (`max_transmissions` at the floor; [`Engine::adjust_transmissions`] raises it).
    fn config(&self) -> foca::Config {
        foca::Config {
            max_packet_size: NonZeroUsize::new(MAX_PAYLOAD).unwrap_or(NonZeroUsize::MIN),
            ..self.timings.foca_config()
        }
    }

    fn generation_at(&self, now: Duration) -> u64 {
        self.epoch_ms
            .saturating_add(u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
    }

    /// Starts (the generation is the wall clock in ms: a restart gets a higher one).
    pub fn start(&mut self, now: Duration, rng: StdRng) {
        let generation = self.generation_at(now);
        let Some(addr) = self.address else { return };
        if self.foca.is_some() {
            return;
        }
        let config = foca::Config {
            max_transmissions: std::num::NonZeroU8::new(self.transmissions)
                .unwrap_or(std::num::NonZeroU8::MIN),
            ..self.config()
        };
        let id = NodeId::new(self.node.clone(), addr, generation);
        self.notes.push(Note::Joining(id.clone()));
        self.foca = Some(Foca::new(id, config, rng, SpeakerCodec));
        self.started_at = Some(now);
        if self.stepped_aside
            && let Some(f) = self.foca.as_mut()
        {
            let _ = f.leave_cluster(&mut self.rt);
        }
        self.rejoin(now);
        self.dirty = true;
        self.after_foca(now);
    }

    /// For the simulator: takes `members` as known and alive, as foca's state replication would, and is
    /// settled (a cluster in its steady state without simulating how it formed).
    pub(crate) fn assume_members(&mut self, members: impl Iterator<Item = NodeId>, now: Duration) {
        let Some(f) = self.foca.as_mut() else { return };
        let _ = f.apply_many(members.map(Member::alive), false, &mut self.rt);
        self.settled = true;
        self.active_since.get_or_insert(now);
        self.all_asked_at = Some(now);
        self.asked.fill(true);
        self.next_round = Some(now + self.timings.rejoin_interval);
        self.after_foca(now);
        self.mature_all();
        // the bulk of notifications is gone: give the memory back (the simulator holds thousands of engines)
        self.rt = AccumulatingRuntime::new();
    }

    /// Leaves the cluster (shutdown).
    pub fn leave(&mut self, now: Duration) {
        if let Some(f) = self.foca.as_mut() {
            let _ = f.leave_cluster(&mut self.rt);
        }
        self.stepped_aside = true;
        self.dirty = true;
        self.after_foca(now);
    }

    /// An authenticated payload from `sender` (its node name) at `from`.
    pub fn handle(&mut self, sender: &str, from: SocketAddr, payload: &[u8], now: Duration) {
        let hb = Heartbeat::decode(payload);
        if let Some(e) = self.watch.heard(sender, hb == Some(Ok(Heartbeat::Beat)), now) {
            self.watch_event(e);
        }
        match hb {
            Some(Ok(Heartbeat::Subscribe)) => {
                if self.foca.is_some() {
                    self.watch.subscribed(sender, from, now);
                }
            }
            Some(Ok(Heartbeat::Beat)) => {}
            Some(Err(())) => self
                .notes
                .push(Note::Foca(format!("malformed heartbeat from {sender}"))),
            None => {
                if let Some(f) = self.foca.as_mut()
                    && let Err(e) = f.handle_data(payload, &mut self.rt)
                {
                    self.notes
                        .push(Note::Foca(format!("datagram from {sender}: {e}")));
                }
                self.after_foca(now);
            }
        }
    }

    /// When [`Engine::poll`] has something to do next.
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.timers.peek().map(|Reverse((at, _))| *at),
            self.settle_deadline(),
            if self.foca.is_some() && !self.stepped_aside {
                self.next_round
            } else {
                None
            },
            self.maturity_queue.peek().map(|Reverse((at, _))| *at),
            if self.foca.is_some() {
                self.watch.next_tick()
            } else {
                None
            },
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does everything due at `now`.
    pub fn poll(&mut self, now: Duration) {
        self.fire_timers(now);
        self.check_settled(now);
        if self.foca.is_some() && !self.stepped_aside && self.next_round.is_some_and(|t| t <= now) {
            self.announce_round(now);
        }
        while let Some(Reverse((at, _))) = self.maturity_queue.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, name))) = self.maturity_queue.pop()
                && self
                    .maturing
                    .get(&name)
                    .is_some_and(|since| *since + self.timings.settle <= at)
            {
                self.mature(&name);
            }
        }
        if self.foca.is_some() && self.watch.next_tick().is_some_and(|t| t <= now) {
            let mut events = Vec::new();
            let sends = self.watch.tick(now, !self.stepped_aside, &mut events);
            for (list, msg) in [
                (sends.subscribe, Heartbeat::Subscribe),
                (sends.beat, Heartbeat::Beat),
            ] {
                for to in list {
                    self.out.push(Outgoing {
                        to,
                        payload: msg.encode().to_vec(),
                    });
                }
            }
            for e in events {
                self.watch_event(e);
            }
        }
    }

    /// Payloads to send, oldest first.
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.out)
    }

    /// Notes since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Changes of the live set (other nodes) since the last call: `(name, live?)`.
    pub fn take_changes(&mut self) -> Vec<(String, bool)> {
        std::mem::take(&mut self.changes)
    }

    /// Whether the view changed since the last [`Engine::view`].
    pub fn view_changed(&self) -> bool {
        self.dirty
    }

    /// The view to publish (marks it published). O(N): the membership task calls it when the view changed.
    pub fn view(&mut self) -> View {
        self.dirty = false;
        let mut live: BTreeSet<String> = self
            .foca
            .iter()
            .flat_map(|f| f.iter_members())
            .map(|m| &m.id().name)
            .filter(|n| self.counts_live(n))
            .cloned()
            .collect();
        let running = self.foca.is_some();
        if running && !self.stepped_aside {
            live.insert(self.node.clone());
        }
        View {
            running,
            settled: self.settled,
            live,
        }
    }

    /// How many other nodes are live.
    pub fn live_count(&self) -> usize {
        self.live_count
    }

    /// Whether this node has settled.
    pub fn settled(&self) -> bool {
        self.settled
    }

    /// The nodes the watch follows.
    pub fn watched(&self) -> impl Iterator<Item = &str> {
        self.watch.targets()
    }

    /// `(watched nodes whose heartbeats arrive, nodes this one sends heartbeats to)`.
    pub fn watch_counts(&self) -> (usize, usize) {
        (self.watch.armed(), self.watch.subscribers())
    }

    /// The seeds (Nodes). Shared, so the simulator's thousands of engines hold one list; seeds already asked
    /// stay asked, and new ones are asked in a round that comes now.
    pub fn set_seeds(&mut self, seeds: Arc<[(String, SocketAddr)]>, now: Duration) {
        let asked: HashSet<&str> = self
            .seeds
            .iter()
            .zip(&self.asked)
            .filter(|(_, a)| **a)
            .map(|((n, _), _)| n.as_str())
            .collect();
        let new: Vec<bool> = seeds.iter().map(|(n, _)| asked.contains(n.as_str())).collect();
        let unasked = seeds.iter().zip(&new).any(|((n, _), a)| !a && *n != self.node);
        drop(asked);
        self.asked = new;
        self.seeds = seeds;
        if unasked && self.foca.is_some() {
            self.all_asked_at = None;
            self.next_round = Some(now);
        }
    }

    fn rejoin(&mut self, now: Duration) {
        self.asked.fill(false);
        self.all_asked_at = None;
        self.next_round = Some(now);
        self.announce_round(now);
    }

    /// Asks up to [`JOIN_BATCH`] seeds that are not members, never-asked ones first.
    fn announce_round(&mut self, now: Duration) {
        let n = self.seeds.len();
        let members: HashSet<&str> = self
            .foca
            .iter()
            .flat_map(|f| f.iter_members())
            .map(|m| m.id().name.as_str())
            .collect();
        let mut fresh = Vec::new();
        let mut again = Vec::new();
        for k in 0..n {
            let i = (self.round_cursor + k) % n;
            let (name, addr) = &self.seeds[i];
            if *name == self.node || members.contains(name.as_str()) {
                continue;
            }
            if self.asked[i] {
                if again.len() < JOIN_BATCH {
                    again.push((i, name.clone(), *addr));
                }
            } else {
                fresh.push((i, name.clone(), *addr));
                if fresh.len() == JOIN_BATCH {
                    break;
                }
            }
        }
        drop(members);
        let unasked_left = fresh.len() == JOIN_BATCH;
        let room = JOIN_BATCH - fresh.len();
        let batch: Vec<(usize, String, SocketAddr)> =
            fresh.into_iter().chain(again.into_iter().take(room)).collect();
        if let Some((i, _, _)) = batch.last() {
            self.round_cursor = (i + 1) % n.max(1);
        }
        if let Some(f) = self.foca.as_mut() {
            for (_, name, addr) in &batch {
                let _ = f.announce(NodeId::new(name.clone(), *addr, 0), &mut self.rt);
            }
        }
        for (i, _, _) in batch {
            self.asked[i] = true;
        }
        if !unasked_left && self.all_asked_at.is_none() {
            self.all_asked_at = Some(now);
        }
        let every = if unasked_left {
            JOIN_ROUND
        } else if !self.settled {
            (self.timings.settle / 2).max(JOIN_ROUND)
        } else {
            self.timings.rejoin_interval
        };
        self.next_round = Some(now + every);
        self.after_foca(now);
    }

    fn fire_timers(&mut self, now: Duration) {
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(t) = self.timer_events.remove(&id) {
                due.push(t);
            }
        }
        if due.is_empty() {
            return;
        }
        // foca prefers timers that fall due together in its own order (indirect probes before the next probe)
        due.sort();
        if let Some(f) = self.foca.as_mut() {
            for t in due {
                if let Err(e) = f.handle_timer(t, &mut self.rt) {
                    self.notes.push(Note::Foca(format!("timer: {e}")));
                }
            }
        }
        self.after_foca(now);
    }

    fn settle_deadline(&self) -> Option<Duration> {
        if self.settled {
            return None;
        }
        let started = self.started_at?;
        match self.active_since {
            Some(a) => Some((a + self.timings.settle).max(self.all_asked_at? + self.timings.settle)),
            None => Some(started + self.timings.join_timeout),
        }
    }

    fn check_settled(&mut self, now: Duration) {
        if self.settled || self.settle_deadline().is_none_or(|d| d > now) {
            return;
        }
        self.settled = true;
        self.dirty = true;
        if self.next_round.is_some() {
            self.next_round = Some(now + self.timings.rejoin_interval);
        }
        // members heard from while joining are live from now on
        self.mature_all();
        let members = self.foca.as_ref().map_or(0, |f| f.num_members());
        self.notes.push(Note::Settled(members + 1));
    }

    /// Whether an active member counts as live (matured, not judged unreachable).
    fn counts_live(&self, name: &str) -> bool {
        !self.maturing.contains_key(name) && !self.watch.is_unreachable(name)
    }

    fn is_member(&self, name: &str) -> bool {
        self.foca
            .as_ref()
            .is_some_and(|f| f.iter_members().any(|m| m.id().name == name))
    }

    fn set_live(&mut self, name: &str, live: bool) {
        if live {
            self.live_count += 1;
        } else {
            self.live_count = self.live_count.saturating_sub(1);
        }
        self.changes.push((name.to_owned(), live));
        self.dirty = true;
    }

    fn mature(&mut self, name: &str) {
        if self.maturing.remove(name).is_some() && !self.watch.is_unreachable(name) {
            self.set_live(name, true);
        }
    }

    fn mature_all(&mut self) {
        let names: Vec<String> = self.maturing.keys().cloned().collect();
        for n in names {
            self.mature(&n);
        }
        self.maturity_queue.clear();
        self.maturity_queue.shrink_to_fit();
    }

    fn watch_event(&mut self, e: WatchEvent) {
        let (name, live) = match &e {
            WatchEvent::Unreachable(n) => (n.clone(), false),
            WatchEvent::Reachable(n) | WatchEvent::Withdrawn(n) => (n.clone(), true),
        };
        self.notes.push(Note::Watch(e));
        // only an active, matured member is affected (the watch may name one that went down meanwhile)
        if !self.maturing.contains_key(&name) && self.is_member(&name) {
            self.set_live(&name, live);
        }
    }

    /// Collects what foca produced: datagrams, timers, notifications.
    fn after_foca(&mut self, now: Duration) {
        while let Some((to, data)) = self.rt.to_send() {
            if let Some(f) = self.foca.as_ref()
                && !keep_outgoing(f, &to, &data)
            {
                continue;
            }
            self.out.push(Outgoing {
                to: to.addr,
                payload: data.to_vec(),
            });
        }
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.timer_seq += 1;
            self.timers.push(Reverse((now + after, self.timer_seq)));
            self.timer_events.insert(self.timer_seq, timer);
        }
        while let Some(n) = self.rt.to_notify() {
            match n {
                OwnedNotification::MemberUp(id) => {
                    if !self.maturing.contains_key(&id.name) {
                        self.maturing.insert(id.name.clone(), now);
                        self.maturity_queue
                            .push(Reverse((now + self.timings.settle, id.name.clone())));
                    }
                    self.notes.push(Note::MemberUp(id));
                }
                OwnedNotification::MemberDown(id) => {
                    let was_live =
                        self.maturing.remove(&id.name).is_none() && !self.watch.is_unreachable(&id.name);
                    self.watch.confirmed_down(&id.name);
                    if was_live {
                        self.set_live(&id.name, false);
                    }
                    self.notes.push(Note::MemberDown(id));
                }
                OwnedNotification::Rename(_, new) => self.notes.push(Note::Renamed(new)),
                OwnedNotification::Active => {
                    self.active_since.get_or_insert(now);
                }
                OwnedNotification::Idle => self.notes.push(Note::Idle),
                OwnedNotification::Defunct => {}
                OwnedNotification::Rejoin(id) => self.notes.push(Note::Rejoined(id)),
                OwnedNotification::ProbeFailed(_, id) => self.notes.push(Note::ProbeFailed(id)),
                OwnedNotification::DataReceived(_) | OwnedNotification::DataSent(_) => {}
            }
        }
        self.adjust_transmissions();
    }

    /// Keeps foca's `max_transmissions` at [`Timings::transmissions_for`] the cluster's size (only
    /// `max_transmissions` changes: foca accepts that at any time).
    fn adjust_transmissions(&mut self) {
        let Some(members) = self.foca.as_ref().map(|f| f.num_members()) else {
            return;
        };
        let wanted = self.timings.transmissions_for(members + 1);
        if wanted == self.transmissions {
            return;
        }
        let config = foca::Config {
            max_transmissions: std::num::NonZeroU8::new(wanted).unwrap_or(std::num::NonZeroU8::MIN),
            ..self.config()
        };
        if let Some(f) = self.foca.as_mut()
            && f.set_config(config).is_ok()
        {
            self.transmissions = wanted;
        }
    }
}

#[cfg(test)]
mod tests;
