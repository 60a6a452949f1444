//! A virtual-time simulator of a speaker cluster's membership: N real foca state machines (with the speaker's
//! identity, codec and [`Timings`]) exchanging datagrams over a simulated LAN with latency, jitter and random
//! loss. Used to choose and check the default timings (tests and the failover bench print its figures next
//! to the lab's); it does no I/O and runs thousands of simulated seconds per real second.
//!
//! The network delivers each datagram after a uniform latency in `latency` unless dropped with probability
//! `loss`; each timer fires up to `timer_jitter` late (a busy scheduler). A killed node stops sending,
//! receiving and handling timers, like a node that lost power.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, Timer};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::identity::{NodeId, SpeakerCodec};
use super::timing::Timings;

/// The simulated network and cluster.
#[derive(Debug, Clone)]
pub struct SimParams {
    /// Number of speakers.
    pub nodes: usize,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// One-way latency range.
    pub latency: (Duration, Duration),
    /// Extra delay of each timer, up to this much.
    pub timer_jitter: Duration,
    /// Timings under test.
    pub timings: Timings,
    /// RNG seed (runs are reproducible).
    pub seed: u64,
}

impl SimParams {
    /// A LAN (50–500 µs one way, timers up to 2 ms late) with `nodes` speakers, the default timings and no loss.
    pub fn lan(nodes: usize, seed: u64) -> Self {
        SimParams {
            nodes,
            loss: 0.0,
            latency: (Duration::from_micros(50), Duration::from_micros(500)),
            timer_jitter: Duration::from_millis(2),
            timings: Timings::default(),
            seed,
        }
    }
}

type SimFoca = Foca<NodeId, SpeakerCodec, StdRng, NoCustomBroadcast>;

#[derive(Debug)]
enum Event {
    Deliver { to: usize, data: Vec<u8> },
    Timer { node: usize, timer: Timer<NodeId> },
}

struct SimNode {
    foca: SimFoca,
    alive: bool,
}

/// What one member saw: `(when, member name, up?)`.
pub type Transition = (Duration, String, bool);

/// The running simulation.
pub struct Sim {
    params: SimParams,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    events: BTreeMap<u64, Event>,
    nodes: Vec<SimNode>,
    rng: StdRng,
    transitions: Vec<Vec<Transition>>,
    datagrams: u64,
    /// Other notifications: `(when, node, what)`.
    pub log: Vec<(Duration, usize, String)>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .finish()
    }
}

/// The name of simulated node `i`.
pub fn node_name(i: usize) -> String {
    format!("node{}", i + 1)
}

fn node_id(i: usize) -> NodeId {
    let host = u8::try_from(i % 250).unwrap_or(0);
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)), 7946);
    NodeId::new(node_name(i), addr, 1)
}

impl Sim {
    /// Builds the cluster: every node announces itself to node 1. Call [`Sim::converge`] next.
    pub fn new(params: SimParams) -> Sim {
        let mut rng = StdRng::seed_from_u64(params.seed);
        let nodes = (0..params.nodes)
            .map(|i| SimNode {
                foca: Foca::new(
                    node_id(i),
                    params.timings.foca_config(),
                    StdRng::seed_from_u64(rng.random()),
                    SpeakerCodec,
                ),
                alive: true,
            })
            .collect();
        let mut sim = Sim {
            transitions: vec![Vec::new(); params.nodes],
            params,
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            nodes,
            rng,
            datagrams: 0,
            log: Vec::new(),
        };
        for i in 1..sim.nodes.len() {
            let mut rt = AccumulatingRuntime::new();
            let _ = sim.nodes[i].foca.announce(node_id(0), &mut rt);
            sim.drain(i, &mut rt);
        }
        sim
    }

    /// Runs until every node sees every other as active, or `limit` passes. Returns whether it converged.
    pub fn converge(&mut self, limit: Duration) -> bool {
        let deadline = self.now + limit;
        while self.now < deadline {
            let everyone = self.nodes.len().saturating_sub(1);
            if self.nodes.iter().all(|n| n.foca.num_members() == everyone) {
                return true;
            }
            self.run_for(Duration::from_millis(10));
        }
        false
    }

    /// Changes the loss probability from now on.
    pub fn set_loss(&mut self, loss: f64) {
        self.params.loss = loss;
    }

    /// Simulated time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Datagrams sent so far.
    pub fn datagrams(&self) -> u64 {
        self.datagrams
    }

    /// Node `i` loses power.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].alive = false;
    }

    /// Membership transitions node `i` has seen.
    pub fn transitions(&self, i: usize) -> &[Transition] {
        &self.transitions[i]
    }

    /// When node `observer` first saw `member` go down at or after `since`.
    pub fn down_seen(&self, observer: usize, member: usize, since: Duration) -> Option<Duration> {
        let name = node_name(member);
        self.transitions[observer]
            .iter()
            .find(|(t, n, up)| *t >= since && !up && *n == name)
            .map(|(t, _, _)| *t)
    }

    /// Down transitions, seen by a live node, of members that are in fact alive (false failovers).
    pub fn false_downs(&self) -> usize {
        let alive: BTreeSet<String> = (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive)
            .map(node_name)
            .collect();
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive)
            .flat_map(|i| self.transitions[i].iter())
            .filter(|(_, n, up)| !up && alive.contains(n))
            .count()
    }

    /// Runs the simulation for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(Reverse((at, id))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(ev) = self.events.remove(&id) else {
                continue;
            };
            match ev {
                Event::Deliver { to, data } => {
                    if self.nodes[to].alive {
                        let mut rt = AccumulatingRuntime::new();
                        let _ = self.nodes[to].foca.handle_data(&data, &mut rt);
                        self.drain(to, &mut rt);
                    }
                }
                Event::Timer { node, timer } => {
                    if self.nodes[node].alive {
                        let mut rt = AccumulatingRuntime::new();
                        let _ = self.nodes[node].foca.handle_timer(timer, &mut rt);
                        self.drain(node, &mut rt);
                    }
                }
            }
        }
        self.now = until;
    }

    fn push(&mut self, at: Duration, ev: Event) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn drain(&mut self, from: usize, rt: &mut AccumulatingRuntime<NodeId>) {
        while let Some((to, data)) = rt.to_send() {
            if !super::workaround::keep_outgoing(&self.nodes[from].foca, &to, &data) {
                continue;
            }
            self.datagrams += 1;
            let Some(dst) = to.name.strip_prefix("node").and_then(|n| n.parse::<usize>().ok()) else {
                continue;
            };
            if self.rng.random_bool(self.params.loss.clamp(0.0, 1.0)) {
                continue;
            }
            let (lo, hi) = self.params.latency;
            let lat = lo + (hi.saturating_sub(lo)).mul_f64(self.rng.random::<f64>());
            self.push(
                self.now + lat,
                Event::Deliver {
                    to: dst - 1,
                    data: data.to_vec(),
                },
            );
        }
        while let Some((after, timer)) = rt.to_schedule() {
            let jitter = self.params.timer_jitter.mul_f64(self.rng.random::<f64>());
            self.push(self.now + after + jitter, Event::Timer { node: from, timer });
        }
        while let Some(n) = rt.to_notify() {
            let now = self.now;
            match n {
                OwnedNotification::MemberUp(id) => self.transitions[from].push((now, id.name, true)),
                OwnedNotification::MemberDown(id) => self.transitions[from].push((now, id.name, false)),
                other => self.log.push((now, from, format!("{other:?}"))),
            }
        }
    }
}

/// Detection times of hard node losses: `trials` times, a fresh cluster converges, runs a random while, loses
/// one random node, and a random survivor (the new owner of that node's IPs) notes when it saw it down.
/// `None` entries never detected the loss within 5 s.
pub fn detection_times(params: &SimParams, trials: usize) -> Vec<Option<Duration>> {
    let mut rng = StdRng::seed_from_u64(params.seed ^ 0x5eed);
    (0..trials)
        .map(|t| {
            let mut p = params.clone();
            p.seed = params.seed.wrapping_add(t as u64 * 7919);
            let mut sim = Sim::new(p);
            if !sim.converge(Duration::from_secs(10)) {
                return None;
            }
            sim.run_for(Duration::from_millis(rng.random_range(0..2000)));
            let victim = rng.random_range(0..params.nodes);
            let mut observer = rng.random_range(0..params.nodes - 1);
            if observer >= victim {
                observer += 1;
            }
            let killed_at = sim.now();
            sim.kill(victim);
            sim.run_for(Duration::from_secs(5));
            sim.down_seen(observer, victim, killed_at).map(|t| t - killed_at)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_converges_and_detects_a_loss() {
        let mut sim = Sim::new(SimParams::lan(5, 1));
        assert!(sim.converge(Duration::from_secs(5)), "5 nodes converge");
        sim.run_for(Duration::from_secs(2));
        assert_eq!(sim.false_downs(), 0);
        let at = sim.now();
        sim.kill(2);
        sim.run_for(Duration::from_secs(2));
        for i in [0, 1, 3, 4] {
            let seen = sim.down_seen(i, 2, at).expect("every survivor sees the loss");
            assert!(seen - at < Duration::from_secs(1), "{:?}", seen - at);
        }
    }
}
