//! A virtual-time simulator of a speaker cluster's membership: N [`Engine`]s — the speaker's own membership
//! code: foca with the speaker's identity, codec and [`Timings`], joining, the successor watch — exchanging
//! datagrams sealed and opened by the real [`auth`](super::auth) code over a simulated LAN with latency and
//! random loss. It does no I/O; it chose the default timings and produces the scale figures of
//! docs/performance.md ([`scenarios`]).
//!
//! - **Network**: each datagram is delivered after a uniform latency in `latency` unless dropped with
//!   probability `loss`. Addresses are `192.0.2.x:(10000 + node index)`, so any cluster size fits.
//! - **Scheduling**: each node wakes when its engine's next deadline falls due, up to `timer_jitter` late (a
//!   busy scheduler). A **stalled** node (its process not scheduled) neither runs nor sends; what arrives
//!   meanwhile waits in its socket and is read, before any timer runs, when it resumes. A **killed** node loses
//!   power: it stops, and what is sent to it is lost. A **restarted** node starts a new process (new
//!   generation, new replay windows) and joins as a speaker does.
//! - **The owner task** is modelled by the election alone: with `ips` service IPs ranked by the rendezvous
//!   hash over every node ([`crate::election::rendezvous`]), each node watches the owners of the IPs it is
//!   successor to, from the moment it settles. (After a loss the real owner task would also move the watch to
//!   the new owners; the scenarios restart lost nodes instead.)
//! - **Accounting**: datagrams and bytes sent (UDP payload, authentication included), CPU time spent in the
//!   engines and the authentication code (wall clock around each call; one thread), and every change of a
//!   node's live set: a live node dropped by a settled observer is a *false failover* — those that follow a
//!   kill or restart of the node within [`FRAGILE`] are not — grouped into episodes per node.
//! - **Cost**: every engine holds the whole membership (foca's list), so memory and bootstrap time grow as N²:
//!   about 5 GB and a minute at 5,000 nodes. [`Start::Steady`] builds a formed cluster by state replication
//!   (`Engine::assume_members`) instead of simulating every join.

pub mod scenarios;

pub use scenarios::detection_times;

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::Control;
use super::auth::{Key, Keys, Opener, Sealer};
use super::engine::{Engine, Note};
use super::identity::NodeId;
use super::timing::Timings;
use super::watch::WatchEvent;
use crate::election::rendezvous;

/// How long after a node is killed or restarted the others' changes about it are expected, not false.
pub const FRAGILE: Duration = Duration::from_secs(10);
/// Drops of one node closer than this belong to one false-failover episode.
const EPISODE_GAP: Duration = Duration::from_secs(2);
const BASE_PORT: u16 = 10000;
/// The simulated wall clock at time zero (ms since the epoch): generations and boots start here.
const EPOCH_MS: u64 = 1_800_000_000_000;

/// How the cluster forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every node starts at once and joins through its seeds, as speakers do.
    Join,
    /// Every node starts knowing every other (a formed cluster; see the module docs).
    Steady,
}

/// The simulated network and cluster.
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Number of speakers.
    pub nodes: usize,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// One-way latency range.
    pub latency: (Duration, Duration),
    /// Extra delay of each wake-up, up to this much.
    pub timer_jitter: Duration,
    /// Timings under test.
    pub timings: Timings,
    /// Service IPs (the election's input for the successor watch).
    pub ips: usize,
    /// How the cluster forms.
    pub start: Start,
    /// RNG seed (runs are reproducible).
    pub seed: u64,
}

impl SimParams {
    /// A LAN (50–500 µs one way, wake-ups up to 2 ms late) with `nodes` speakers, the default timings, no loss
    /// and 1,000 service IPs; clusters of more than 100 nodes start formed.
    pub fn lan(nodes: usize, seed: u64) -> Self {
        SimParams {
            nodes,
            loss: 0.0,
            latency: (Duration::from_micros(50), Duration::from_micros(500)),
            timer_jitter: Duration::from_millis(2),
            timings: Timings::default(),
            ips: 1000,
            start: if nodes > 100 { Start::Steady } else { Start::Join },
            seed,
        }
    }
}

/// What the simulation counted since it started.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Datagrams sent (before loss).
    pub datagrams: u64,
    /// UDP payload bytes sent.
    pub bytes: u64,
    /// Time in engines and authentication, by the wall clock around each call (see [`Stats::engine_cpu`]).
    pub cpu: Duration,
    /// Wall time spent in [`Sim::run_for`].
    pub run_wall: Duration,
    /// This thread's CPU time in [`Sim::run_for`] (`/proc/thread-self/schedstat`; zero where unavailable).
    pub run_cpu: Duration,
    /// Node-seconds of up nodes (simulated).
    pub node_time: Duration,
    /// Probes that failed (suspicions raised).
    pub suspicions: u64,
    /// Watch verdicts (unreachable).
    pub verdicts: u64,
    /// Live nodes dropped by a settled observer (one per observer).
    pub false_drops: u64,
    /// False failovers: episodes of a live node dropped by at least one observer.
    pub false_episodes: u64,
    /// The first false drops: `(when, observer, dropped node)`.
    pub false_log: Vec<(Duration, usize, usize)>,
}

impl Stats {
    /// CPU time in engines and authentication: the wall time around each call, scaled by the share of the
    /// simulation's wall time this thread was on a CPU (on a busy machine, preemption inside a call would
    /// otherwise count).
    pub fn engine_cpu(&self) -> Duration {
        if self.run_wall.is_zero() || self.run_cpu.is_zero() {
            return self.cpu;
        }
        self.cpu
            .mul_f64((self.run_cpu.as_secs_f64() / self.run_wall.as_secs_f64()).min(1.0))
    }
}

/// This thread's CPU time so far (`None` where `/proc/thread-self/schedstat` is unavailable).
pub fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(s.split_whitespace().next()?.parse().ok()?))
}

#[derive(Debug)]
enum Kind {
    Deliver { to: usize, from: usize, data: Vec<u8> },
    Wake { node: usize, epoch: u32 },
}

/// A queued event, ordered by time, then deliveries before wake-ups, then order of scheduling.
#[derive(Debug)]
struct Ev {
    at: Duration,
    class: u8,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.class, self.seq) == (o.at, o.class, o.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.class, self.seq).cmp(&(o.at, o.class, o.seq))
    }
}

struct SimNode {
    engine: Engine,
    sealer: Sealer,
    opener: Opener,
    up: bool,
    epoch: u32,
    stalled_until: Duration,
    wake: Option<Duration>,
    up_since: Duration,
}

/// Per-victim detection tracking: when each observer dropped it.
#[derive(Debug, Clone)]
pub struct Tracking {
    /// When the node was killed.
    pub since: Duration,
    /// Per observer: when it dropped the node from its live set.
    pub dropped: Vec<Option<Duration>>,
}

/// The running simulation.
pub struct Sim {
    params: SimParams,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<Ev>>,
    nodes: Vec<SimNode>,
    names: Vec<String>,
    /// Every node's name and address (each engine skips its own).
    seeds: Arc<[(String, SocketAddr)]>,
    keys: Keys,
    origin: Instant,
    rng: StdRng,
    /// Per IP: (owner, successor) over all nodes.
    ranking: Vec<(usize, usize)>,
    fragile_until: Vec<Duration>,
    last_false: Vec<Option<Duration>>,
    tracking: Vec<(usize, Tracking)>,
    time_accounted: Duration,
    up_count: u32,
    stats: Stats,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

/// The name of simulated node `i`.
pub fn node_name(i: usize) -> String {
    format!("node{}", i + 1)
}

fn node_addr(i: usize) -> SocketAddr {
    let host = u8::try_from(1 + i % 250).unwrap_or(1);
    let port = BASE_PORT.saturating_add(u16::try_from(i).unwrap_or(u16::MAX - BASE_PORT));
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)), port)
}

fn node_index(a: SocketAddr) -> Option<usize> {
    a.port().checked_sub(BASE_PORT).map(usize::from)
}

/// Service IP `k` of the simulated cluster.
pub fn service_ip(k: usize) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        0,
        0,
        0,
        0,
        1,
        u16::try_from(k).unwrap_or(u16::MAX),
    ))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Sim {
    /// Builds the cluster (see [`Start`]). With [`Start::Join`], call [`Sim::converge`] next.
    pub fn new(params: SimParams) -> Sim {
        assert!(params.nodes >= 2 && params.nodes < 50_000, "2 to 49,999 nodes");
        let rng = StdRng::seed_from_u64(params.seed);
        let origin = Instant::now();
        let mut keys = Keys::default();
        keys.set(Some(Key::new(b"simulated membership key".to_vec())), origin);
        let names: Vec<String> = (0..params.nodes).map(node_name).collect();
        let ranking = rank(&names, params.ips);
        let seeds: Arc<[(String, SocketAddr)]> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), node_addr(i)))
            .collect();
        let mut sim = Sim {
            nodes: Vec::with_capacity(params.nodes),
            fragile_until: vec![Duration::ZERO; params.nodes],
            last_false: vec![None; params.nodes],
            names,
            seeds,
            params,
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            keys,
            origin,
            rng,
            ranking,
            tracking: Vec::new(),
            time_accounted: Duration::ZERO,
            up_count: 0,
            stats: Stats::default(),
        };
        for i in 0..sim.params.nodes {
            let node = sim.fresh_node(i);
            sim.nodes.push(node);
        }
        sim.up_count = u32::try_from(sim.nodes.len()).unwrap_or(u32::MAX);
        match sim.params.start {
            Start::Join => {
                for i in 0..sim.nodes.len() {
                    sim.boot(i);
                }
            }
            Start::Steady => sim.steady(),
        }
        sim
    }

    fn fresh_node(&mut self, i: usize) -> SimNode {
        let generation_base = EPOCH_MS + ms(self.now);
        let mut engine = Engine::new(self.names[i].clone(), self.params.timings, EPOCH_MS);
        engine.control(Control::Key(Some(b"-".to_vec())), self.now);
        engine.set_seeds(self.seeds.clone(), self.now);
        engine.control(Control::Address(node_addr(i)), self.now);
        SimNode {
            engine,
            sealer: Sealer::new(self.names[i].clone(), generation_base),
            opener: Opener::new(),
            up: true,
            epoch: 0,
            stalled_until: Duration::ZERO,
            wake: None,
            up_since: self.now,
        }
    }

    /// Starts node `i`'s engine and lets it talk.
    fn boot(&mut self, i: usize) {
        let rng = StdRng::seed_from_u64(self.rng.random());
        let now = self.now;
        self.measured(i, |n| n.engine.start(now, rng));
        self.flush(i);
    }

    fn steady(&mut self) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            let rng = StdRng::seed_from_u64(self.rng.random());
            let n = &mut self.nodes[i];
            n.engine.start(now, rng);
            // a formed cluster: no join traffic
            drop(n.engine.take_outgoing());
        }
        let ids: Vec<NodeId> = self
            .nodes
            .iter()
            .filter_map(|n| n.engine.identity().cloned())
            .collect();
        for i in 0..self.nodes.len() {
            let others = ids.iter().filter(|id| id.name != self.names[i]).cloned();
            self.nodes[i].engine.assume_members(others, now);
            self.give_watch(i);
            self.flush(i);
        }
    }

    /// Runs until every node is settled and sees every other up node live, or `limit` passes.
    pub fn converge(&mut self, limit: Duration) -> bool {
        let deadline = self.now + limit;
        loop {
            if self.converged() {
                return true;
            }
            if self.now >= deadline {
                return false;
            }
            self.run_for(Duration::from_millis(10));
        }
    }

    /// Every up node is settled and counts every other up node live.
    pub fn converged(&self) -> bool {
        let up = self.nodes.iter().filter(|n| n.up).count();
        self.nodes
            .iter()
            .filter(|n| n.up)
            .all(|n| n.engine.settled() && n.engine.live_count() + 1 == up)
    }

    /// Changes the loss probability from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.params.loss = loss;
    }

    /// Simulated time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a simulation has nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// What was counted so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether node `i` is up.
    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].up
    }

    /// Node `i`'s engine.
    pub fn engine(&self, i: usize) -> &Engine {
        &self.nodes[i].engine
    }

    /// Per service IP: its owner and successor among all nodes.
    pub fn ranking(&self) -> &[(usize, usize)] {
        &self.ranking
    }

    /// Node `i` loses power.
    pub fn kill(&mut self, i: usize) {
        self.account(self.now);
        let n = &mut self.nodes[i];
        if n.up {
            self.up_count -= 1;
        }
        n.up = false;
        n.epoch += 1;
        n.wake = None;
        self.fragile_until[i] = Duration::MAX;
    }

    /// Node `i` starts a new speaker process (after [`Sim::kill`]).
    pub fn restart(&mut self, i: usize) {
        self.account(self.now);
        if !self.nodes[i].up {
            self.up_count += 1;
        }
        let epoch = self.nodes[i].epoch + 1;
        let mut node = self.fresh_node(i);
        node.epoch = epoch;
        self.nodes[i] = node;
        self.fragile_until[i] = self.now + FRAGILE;
        self.boot(i);
    }

    /// Node `i`'s process is not scheduled for `d`.
    pub fn stall(&mut self, i: usize, d: Duration) {
        self.nodes[i].stalled_until = self.now + d;
    }

    /// Starts recording when each node drops `victim` from its live set (see [`Sim::tracked`]).
    pub fn track(&mut self, victim: usize) {
        let t = Tracking {
            since: self.now,
            dropped: vec![None; self.nodes.len()],
        };
        self.tracking.retain(|(v, _)| *v != victim);
        self.tracking.push((victim, t));
    }

    /// Stops tracking `victim` and returns what was recorded.
    pub fn tracked(&mut self, victim: usize) -> Option<Tracking> {
        let i = self.tracking.iter().position(|(v, _)| *v == victim)?;
        Some(self.tracking.swap_remove(i).1)
    }

    /// Runs the simulation for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        self.run(d);
        self.stats.run_wall += wall.elapsed();
        if let (Some(before), Some(after)) = (cpu, thread_cpu()) {
            self.stats.run_cpu += after.saturating_sub(before);
        }
    }

    fn run(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(Reverse(ev)) = self.queue.peek() {
            if ev.at > until {
                break;
            }
            let Some(Reverse(ev)) = self.queue.pop() else {
                break;
            };
            self.account(ev.at);
            self.now = ev.at;
            match ev.kind {
                Kind::Deliver { to, from, data } => self.deliver(to, from, data),
                Kind::Wake { node, epoch } => self.wake(node, epoch, ev.at),
            }
        }
        self.account(until);
        self.now = until;
    }

    fn account(&mut self, to: Duration) {
        if to > self.time_accounted {
            self.stats.node_time += (to - self.time_accounted) * self.up_count;
            self.time_accounted = to;
        }
    }

    fn push(&mut self, at: Duration, class: u8, kind: Kind) {
        self.seq += 1;
        self.queue.push(Reverse(Ev {
            at,
            class,
            seq: self.seq,
            kind,
        }));
    }

    fn deliver(&mut self, to: usize, from: usize, data: Vec<u8>) {
        let n = &self.nodes[to];
        if !n.up {
            return;
        }
        if n.stalled_until > self.now {
            let at = n.stalled_until;
            self.push(at, 0, Kind::Deliver { to, from, data });
            return;
        }
        let now = self.now;
        let wall = self.origin + now;
        let t = Instant::now();
        let n = &mut self.nodes[to];
        if let Ok(o) = n.opener.open(&self.keys, &data, wall) {
            n.engine.handle(o.sender, node_addr(from), o.payload, now);
        }
        self.stats.cpu += t.elapsed();
        self.flush(to);
    }

    fn wake(&mut self, i: usize, epoch: u32, at: Duration) {
        let n = &mut self.nodes[i];
        if !n.up || n.epoch != epoch || n.wake != Some(at) {
            return; // lost power, restarted, or superseded by an earlier wake-up
        }
        if n.stalled_until > self.now {
            let resume = n.stalled_until;
            n.wake = Some(resume);
            self.push(resume, 1, Kind::Wake { node: i, epoch });
            return;
        }
        n.wake = None;
        let now = self.now;
        self.measured(i, |n| n.engine.poll(now));
        self.flush(i);
    }

    /// Runs `f` on node `i`, adding its CPU time to the stats.
    fn measured(&mut self, i: usize, f: impl FnOnce(&mut SimNode)) {
        let t = Instant::now();
        f(&mut self.nodes[i]);
        self.stats.cpu += t.elapsed();
    }

    /// The watch targets the owner task would give node `i`.
    fn give_watch(&mut self, i: usize) {
        let targets: BTreeSet<String> = self
            .ranking
            .iter()
            .filter(|(_, s)| *s == i)
            .map(|(o, _)| self.names[*o].clone())
            .collect();
        let now = self.now;
        self.nodes[i].engine.control(Control::Watch(targets), now);
    }

    /// Sends what node `i` produced, accounts for its live-set changes and schedules its next wake-up.
    fn flush(&mut self, i: usize) {
        let t = Instant::now();
        let out = self.nodes[i].engine.take_outgoing();
        let mut sealed = Vec::with_capacity(out.len());
        for o in out {
            if let Some(d) = self.nodes[i].sealer.seal(&self.keys, &o.payload) {
                sealed.push((o.to, d));
            }
        }
        self.stats.cpu += t.elapsed();
        for (to, data) in sealed {
            self.stats.datagrams += 1;
            self.stats.bytes += data.len() as u64;
            let Some(dst) = node_index(to).filter(|d| *d < self.nodes.len()) else {
                continue;
            };
            if self.rng.random_bool(self.params.loss.clamp(0.0, 1.0)) {
                continue;
            }
            let (lo, hi) = self.params.latency;
            let lat = lo + (hi.saturating_sub(lo)).mul_f64(self.rng.random::<f64>());
            self.push(
                self.now + lat,
                0,
                Kind::Deliver {
                    to: dst,
                    from: i,
                    data,
                },
            );
        }
        for n in self.nodes[i].engine.take_notes() {
            match n {
                Note::ProbeFailed(_) => self.stats.suspicions += 1,
                Note::Watch(WatchEvent::Unreachable(_)) => self.stats.verdicts += 1,
                Note::Settled(_) => self.give_watch(i),
                _ => {}
            }
        }
        let changes = self.nodes[i].engine.take_changes();
        for (name, live) in changes {
            if !live {
                self.dropped(i, &name);
            }
        }
        self.schedule_wake(i);
    }

    fn dropped(&mut self, observer: usize, name: &str) {
        let Some(v) = name
            .strip_prefix("node")
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
        else {
            return;
        };
        let now = self.now;
        for (victim, t) in &mut self.tracking {
            if *victim == v && t.dropped[observer].is_none() {
                t.dropped[observer] = Some(now);
            }
        }
        let Some(node) = self.nodes.get(v) else { return };
        if !node.up || now < self.fragile_until[v] || !self.nodes[observer].engine.settled() {
            return;
        }
        self.stats.false_drops += 1;
        if self.stats.false_log.len() < 100 {
            self.stats.false_log.push((now, observer, v));
        }
        if self.last_false[v].is_none_or(|t| now - t > EPISODE_GAP) {
            self.stats.false_episodes += 1;
        }
        self.last_false[v] = Some(now);
    }

    fn schedule_wake(&mut self, i: usize) {
        let n = &self.nodes[i];
        if !n.up {
            return;
        }
        let Some(d) = n.engine.next_deadline() else { return };
        let d = d.max(self.now);
        if n.wake.is_some_and(|w| w <= d) {
            return;
        }
        let jitter = self.params.timer_jitter.mul_f64(self.rng.random::<f64>());
        let at = d + jitter;
        let epoch = n.epoch;
        self.nodes[i].wake = Some(at);
        self.push(at, 1, Kind::Wake { node: i, epoch });
    }

    /// Node `i`'s up time so far.
    pub fn uptime(&self, i: usize) -> Duration {
        self.now.saturating_sub(self.nodes[i].up_since)
    }
}

/// Per service IP, its owner and successor among `names`: the two highest rendezvous scores, ties to the
/// smaller name, as [`rendezvous::owner`] decides.
fn rank(names: &[String], ips: usize) -> Vec<(usize, usize)> {
    (0..ips)
        .map(|k| {
            let ip = service_ip(k);
            let mut best: Option<(u64, Reverse<&str>, usize)> = None;
            let mut second: Option<(u64, Reverse<&str>, usize)> = None;
            for (i, n) in names.iter().enumerate() {
                let c = (rendezvous::score(n, ip), Reverse(n.as_str()), i);
                if best.as_ref().is_none_or(|b| (c.0, c.1) > (b.0, b.1)) {
                    second = best.replace(c);
                } else if second.as_ref().is_none_or(|b| (c.0, c.1) > (b.0, b.1)) {
                    second = Some(c);
                }
            }
            let pick = |x: Option<(u64, Reverse<&str>, usize)>| x.map_or(0, |x| x.2);
            (pick(best), pick(second))
        })
        .collect()
}

#[cfg(test)]
mod tests;
