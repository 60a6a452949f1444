//! The scale scenarios of docs/performance.md, each on one simulated cluster ([`Sim`]): how fast a dead
//! owner's IPs are taken over, how often loss or a stall fakes a failure, what the membership costs per node,
//! how fast a cluster converges after a tenth of it restarts, and how many IPs move when a node dies.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{Sim, SimParams, Start, service_ip};
use crate::election::rendezvous;

/// Detection of hard node losses.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    /// Per lost node and successor of one of its IPs: when that successor dropped it (`None`: not within the
    /// trial). This is when its IPs are taken over.
    pub successor: Vec<Option<Duration>>,
    /// Per lost node: when the last survivor dropped it (`None`: some survivor had not within the trial).
    pub everyone: Vec<Option<Duration>>,
}

/// Hard losses of IP owners: `rounds` times, after a random wait, `batch` owners (none the successor of
/// another) lose power at once; each is watched for `observe`, then restarted and the cluster reconverges.
pub fn detection(params: &SimParams, rounds: usize, batch: usize, observe: Duration) -> Detection {
    let mut sim = formed(params);
    let mut rng = StdRng::seed_from_u64(params.seed ^ 0xdead);
    let mut out = Detection::default();
    for _ in 0..rounds {
        sim.run_for(Duration::from_millis(rng.random_range(500..1500)));
        let victims = pick_owners(&sim, batch, &mut rng);
        for &v in &victims {
            sim.kill(v);
            sim.track(v);
        }
        sim.run_for(observe);
        for &v in &victims {
            let Some(t) = sim.tracked(v) else { continue };
            let successors: BTreeSet<usize> = sim
                .ranking()
                .iter()
                .filter(|(o, _)| *o == v)
                .map(|(_, s)| *s)
                .collect();
            for s in successors {
                out.successor.push(t.dropped[s].map(|d| d - t.since));
            }
            let all = (0..sim.len())
                .filter(|i| sim.is_up(*i))
                .map(|i| t.dropped[i])
                .try_fold(Duration::ZERO, |m, d| d.map(|d| m.max(d - t.since)));
            out.everyone.push(all);
        }
        for &v in &victims {
            sim.restart(v);
        }
        sim.converge(Duration::from_secs(30));
    }
    out
}

/// Detection times (successor's view) of hard losses, one owner at a time: what the failover bench prints.
pub fn detection_times(params: &SimParams, trials: usize) -> Vec<Option<Duration>> {
    let d = detection(params, trials, 1, Duration::from_secs(3));
    d.successor
}

/// What a stretch of steady operation cost and how often it failed someone over.
#[derive(Debug, Clone, Default)]
pub struct Steady {
    /// Node-hours simulated.
    pub node_hours: f64,
    /// False failovers (episodes).
    pub false_episodes: u64,
    /// Live nodes dropped by an observer.
    pub false_drops: u64,
    /// Suspicions raised (failed probes).
    pub suspicions: u64,
    /// Watch verdicts.
    pub verdicts: u64,
    /// Datagrams sent per node per second.
    pub datagrams_per_node_s: f64,
    /// UDP payload bytes sent per node per second.
    pub bytes_per_node_s: f64,
    /// CPU per node: microseconds per second (÷ 10,000 = % of a core).
    pub cpu_us_per_node_s: f64,
}

/// Runs a formed cluster for `duration` at `loss` and counts.
pub fn steady(params: &SimParams, loss: f64, duration: Duration) -> Steady {
    let mut sim = formed(params);
    sim.set_loss(loss);
    let before = sim.stats().clone();
    sim.run_for(duration);
    let after = sim.stats();
    let node_s = (after.node_time - before.node_time).as_secs_f64().max(1e-9);
    let cpu = after.engine_cpu().saturating_sub(before.engine_cpu());
    Steady {
        node_hours: node_s / 3600.0,
        false_episodes: after.false_episodes - before.false_episodes,
        false_drops: after.false_drops - before.false_drops,
        suspicions: after.suspicions - before.suspicions,
        verdicts: after.verdicts - before.verdicts,
        datagrams_per_node_s: (after.datagrams - before.datagrams) as f64 / node_s,
        bytes_per_node_s: (after.bytes - before.bytes) as f64 / node_s,
        cpu_us_per_node_s: cpu.as_secs_f64() * 1e6 / node_s,
    }
}

/// Stalls of IP owners.
#[derive(Debug, Clone, Default)]
pub struct Stalls {
    /// Stalls simulated.
    pub stalls: usize,
    /// Node-hours simulated.
    pub node_hours: f64,
    /// False failovers of the stalled node.
    pub of_stalled: u64,
    /// False failovers of other nodes.
    pub of_others: u64,
}

/// `stalls` times, one IP owner's process stalls for `stall`; the cluster runs 3 s after each.
pub fn stalls(params: &SimParams, stalls: usize, stall: Duration) -> Stalls {
    let mut sim = formed(params);
    let mut rng = StdRng::seed_from_u64(params.seed ^ 0x57a1);
    let mut out = Stalls {
        stalls,
        ..Stalls::default()
    };
    let t0 = sim.stats().node_time;
    for _ in 0..stalls {
        sim.run_for(Duration::from_millis(rng.random_range(0..1000)));
        let Some(&v) = pick_owners(&sim, 1, &mut rng).first() else {
            break;
        };
        let before = sim.stats().false_episodes;
        let logged = sim.stats().false_log.len();
        sim.stall(v, stall);
        sim.run_for(Duration::from_secs(3));
        let episodes = sim.stats().false_episodes - before;
        let stalled_dropped = sim.stats().false_log[logged..].iter().any(|(_, _, n)| *n == v)
            || (logged == 100 && episodes > 0);
        let own = u64::from(stalled_dropped).min(episodes);
        out.of_stalled += own;
        out.of_others += episodes - own;
    }
    out.node_hours = (sim.stats().node_time - t0).as_secs_f64() / 3600.0;
    out
}

/// Convergence after part of the cluster restarts.
#[derive(Debug, Clone, Default)]
pub struct Restart {
    /// Nodes restarted.
    pub restarted: usize,
    /// From their start until every node is settled and sees every node live (`None`: not within the limit).
    pub converged_after: Option<Duration>,
    /// Datagrams sent per node per second during that time.
    pub datagrams_per_node_s: f64,
    /// False failovers meanwhile (of nodes that did not restart).
    pub false_episodes: u64,
}

/// A `fraction` of the nodes loses power at once and restarts `down` later.
pub fn restart(params: &SimParams, fraction: f64, down: Duration, limit: Duration) -> Restart {
    let mut sim = formed(params);
    let mut rng = StdRng::seed_from_u64(params.seed ^ 0x4e57);
    sim.run_for(Duration::from_secs(1));
    let k = ((sim.len() as f64 * fraction).round() as usize).clamp(1, sim.len() - 1);
    let mut all: Vec<usize> = (0..sim.len()).collect();
    for i in (1..all.len()).rev() {
        all.swap(i, rng.random_range(0..=i));
    }
    let victims = &all[..k];
    for &v in victims {
        sim.kill(v);
    }
    sim.run_for(down);
    let before = sim.stats().clone();
    let t = sim.now();
    for &v in victims {
        sim.restart(v);
    }
    let ok = sim.converge(limit);
    let after = sim.stats();
    let node_s = (after.node_time - before.node_time).as_secs_f64().max(1e-9);
    Restart {
        restarted: k,
        converged_after: ok.then(|| sim.now() - t),
        datagrams_per_node_s: (after.datagrams - before.datagrams) as f64 / node_s,
        false_episodes: after.false_episodes - before.false_episodes,
    }
}

/// IPs that move when one node dies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Moved {
    /// IPs the node held.
    pub held: usize,
    /// IPs whose owner changed.
    pub moved: usize,
    /// Of those, IPs the dead node did not hold (the rendezvous hash promises none).
    pub moved_not_held: usize,
}

/// For each of `victims`: the owners of `ips` service IPs over `nodes` nodes, before and after it dies.
pub fn ips_moved(nodes: usize, ips: usize, victims: &[usize]) -> Vec<Moved> {
    let names: Vec<String> = (0..nodes).map(super::node_name).collect();
    let owners = |skip: Option<usize>| -> Vec<String> {
        (0..ips)
            .map(|k| {
                let cands = names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != skip)
                    .map(|(_, n)| n.as_str());
                rendezvous::owner(service_ip(k), cands)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let before = owners(None);
    victims
        .iter()
        .map(|&v| {
            let after = owners(Some(v));
            let mut m = Moved::default();
            for (b, a) in before.iter().zip(&after) {
                let held = *b == names[v];
                m.held += usize::from(held);
                if a != b {
                    m.moved += 1;
                    m.moved_not_held += usize::from(!held);
                }
            }
            m
        })
        .collect()
}

/// CPU time of one election round at this size: the owner and successor of every IP over every node
/// (rendezvous hash), as each speaker computes on every change of its view. The best of 3 rounds, this
/// thread's CPU time (wall time where that is unavailable).
pub fn election_cost(nodes: usize, ips: usize) -> Duration {
    let names: Vec<String> = (0..nodes).map(super::node_name).collect();
    (0..3)
        .map(|_| {
            let (t, cpu) = (Instant::now(), super::thread_cpu());
            let mut n = 0usize;
            for k in 0..ips {
                let (o, s) = rendezvous::owner_and_successor(service_ip(k), names.iter().map(String::as_str));
                n += usize::from(o.is_some() && s.is_some());
            }
            assert_eq!(n, ips);
            match (cpu, super::thread_cpu()) {
                (Some(a), Some(b)) => b.saturating_sub(a),
                _ => t.elapsed(),
            }
        })
        .min()
        .unwrap_or_default()
}

/// A formed cluster: joined and converged (or started formed), run for a second so the watch is armed.
fn formed(params: &SimParams) -> Sim {
    let mut sim = Sim::new(params.clone());
    if params.start == Start::Join {
        sim.converge(Duration::from_secs(30));
    }
    sim.run_for(Duration::from_secs(1));
    sim
}

/// Up to `n` distinct up nodes that own IPs, none the successor of another's IPs.
fn pick_owners(sim: &Sim, n: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut owners: Vec<usize> = sim
        .ranking()
        .iter()
        .map(|(o, _)| *o)
        .collect::<BTreeSet<usize>>()
        .into_iter()
        .filter(|o| sim.is_up(*o))
        .collect();
    for i in (1..owners.len()).rev() {
        owners.swap(i, rng.random_range(0..=i));
    }
    let mut picked: Vec<usize> = Vec::new();
    let mut successors: BTreeSet<usize> = BTreeSet::new();
    for o in owners {
        if picked.len() == n {
            break;
        }
        let its: BTreeSet<usize> = sim
            .ranking()
            .iter()
            .filter(|(x, _)| *x == o)
            .map(|(_, s)| *s)
            .collect();
        if successors.contains(&o) || its.iter().any(|s| picked.contains(s)) {
            continue;
        }
        successors.extend(its);
        picked.push(o);
    }
    picked
}
