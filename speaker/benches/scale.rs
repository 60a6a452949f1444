//! The membership and the election at 100, 1,000 and 5,000 nodes, in the simulator (virtual time, the
//! speaker's own membership code and authentication; `speaker/src/membership/sim/`).
//!
//! `cargo bench -p ferrolb-speaker --bench scale` prints, per cluster size, the figures of docs/performance.md:
//! detection of a lost IP owner (by its successors, and by every survivor), false failovers per node-hour at
//! 1 % and 5 % datagram loss and per 300 ms stall of an owner, datagrams, bytes and CPU per node, convergence
//! after 10 % of the nodes restart at once, IPs moved per dead node (1,000 service IPs), and the CPU of one
//! election round.
//!
//! Environment: `FERROLB_SCALE_SIZES=100,1000` picks sizes (default 100, 1,000 and 5,000),
//! `FERROLB_SCALE_IPS` the number of service IPs (1,000), `FERROLB_SCALE_LOSS_SECONDS` the simulated length of
//! the lossy runs, `FERROLB_SCALE_ONLY=election,detection,loss0,loss1,loss5,stall,restart` the scenarios.
//! The 5,000-node cluster needs about 4–5 GB of memory and about an hour on 2 busy cores: every simulated
//! node holds the whole membership. Without `--bench` (under `cargo test --all-targets`) it runs a smoke
//! pass of a few seconds with 10 nodes and 30 IPs.

use std::time::{Duration, Instant};

use ferrolb_speaker::election::rendezvous;
use ferrolb_speaker::membership::sim::scenarios::{
    detection, election_cost, ips_moved, restart, stalls, steady,
};
use ferrolb_speaker::membership::sim::{SimParams, node_name, service_ip};

fn quantiles(v: &[Option<Duration>]) -> String {
    let mut ms: Vec<f64> = v
        .iter()
        .map(|d| d.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3))
        .collect();
    if ms.is_empty() {
        return "no samples".into();
    }
    ms.sort_by(f64::total_cmp);
    let q = |q: f64| ms[(((ms.len() - 1) as f64) * q).round() as usize];
    format!(
        "n={} min {:.0} p50 {:.0} p90 {:.0} p99 {:.0} max {:.0} ms",
        ms.len(),
        ms[0],
        q(0.5),
        q(0.9),
        q(0.99),
        ms[ms.len() - 1]
    )
}

#[derive(Clone, Copy)]
struct Plan {
    nodes: usize,
    ips: usize,
    rounds: usize,
    batch: usize,
    loss_run: Duration,
    quiet_run: Duration,
    stalls: usize,
}

fn plan(nodes: usize, full: bool) -> Plan {
    if !full {
        return Plan {
            nodes,
            ips: 30,
            rounds: 1,
            batch: 1,
            loss_run: Duration::from_secs(2),
            quiet_run: Duration::from_secs(1),
            stalls: 1,
        };
    }
    match nodes {
        0..=200 => Plan {
            nodes,
            ips: 1000,
            rounds: 20,
            batch: 3,
            loss_run: Duration::from_secs(1800),
            quiet_run: Duration::from_secs(60),
            stalls: 30,
        },
        201..=2000 => Plan {
            nodes,
            ips: 1000,
            rounds: 10,
            batch: 5,
            loss_run: Duration::from_secs(180),
            quiet_run: Duration::from_secs(20),
            stalls: 20,
        },
        _ => Plan {
            nodes,
            ips: 1000,
            rounds: 5,
            batch: 10,
            loss_run: Duration::from_secs(40),
            quiet_run: Duration::from_secs(10),
            stalls: 10,
        },
    }
}

fn wanted(what: &str) -> bool {
    std::env::var("FERROLB_SCALE_ONLY").map_or(true, |v| v.split(',').any(|x| x.trim() == what))
}

fn run(p: &Plan) {
    let mut p = Plan { ..*p };
    if let Some(secs) = std::env::var("FERROLB_SCALE_LOSS_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        p.loss_run = Duration::from_secs(secs);
    }
    if let Some(ips) = std::env::var("FERROLB_SCALE_IPS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        p.ips = ips;
    }
    let p = &p;
    let n = p.nodes;
    let ips = p.ips;
    let params = SimParams {
        ips,
        ..SimParams::lan(n, 42)
    };
    println!("== {n} nodes, {ips} service IPs");
    let t = Instant::now();
    if wanted("election") {
        let cost = election_cost(n, 1000);
        println!(
            "election round (owner of 1,000 IPs over {n} nodes): {:.1} ms CPU",
            cost.as_secs_f64() * 1e3
        );
        // nodes picked blindly, then owners of IPs (at 5,000 nodes most nodes hold none)
        let blind: Vec<usize> = (0..6).map(|k| k * (n - 1) / 5).collect();
        let names: Vec<String> = (0..n).map(node_name).collect();
        let mut owners: Vec<usize> = (0..ips)
            .filter_map(|k| {
                let o = rendezvous::owner(service_ip(k), names.iter().map(String::as_str))?;
                names.iter().position(|x| x == o)
            })
            .collect();
        owners.dedup();
        owners.truncate(6);
        for (what, victims) in [("any node", blind), ("an IP owner", owners)] {
            let moved = ips_moved(n, ips, &victims);
            let k = moved.len() as f64;
            let held: usize = moved.iter().map(|m| m.held).sum();
            let wrong: usize = moved.iter().map(|m| m.moved_not_held).sum();
            let total: usize = moved.iter().map(|m| m.moved).sum();
            println!(
                "IPs moved when {what} dies ({} cases): {:.2} on average; it held {:.2}; moved though it did not hold them: {wrong} (expected: {ips} IPs / {n} nodes = {:.2})",
                moved.len(),
                total as f64 / k,
                held as f64 / k,
                ips as f64 / n as f64
            );
        }
    }

    if wanted("detection") {
        let d = detection(&params, p.rounds, p.batch, Duration::from_secs(3));
        println!(
            "lost owner → its successor drops it:   {}",
            quantiles(&d.successor)
        );
        println!(
            "lost owner → every survivor drops it:  {}",
            quantiles(&d.everyone)
        );
        eprintln!("  ({:.0} s real)", t.elapsed().as_secs_f64());
    }

    for loss in [0.0, 0.01, 0.05] {
        if !wanted(&format!("loss{}", (loss * 100.0) as u32)) {
            continue;
        }
        let t = Instant::now();
        let run = if loss == 0.0 { p.quiet_run } else { p.loss_run };
        let s = steady(&params, loss, run);
        println!(
            "{:>3.0} % loss, {:.0} s: {:.1} node-hours, false failovers {} ({:.2e}/node-hour; {} drops), suspicions {}, verdicts {}; per node {:.1} datagrams/s, {:.0} B/s, CPU {:.0} µs/s",
            loss * 100.0,
            run.as_secs_f64(),
            s.node_hours,
            s.false_episodes,
            s.false_episodes as f64 / s.node_hours,
            s.false_drops,
            s.suspicions,
            s.verdicts,
            s.datagrams_per_node_s,
            s.bytes_per_node_s,
            s.cpu_us_per_node_s
        );
        eprintln!("  ({:.0} s real)", t.elapsed().as_secs_f64());
    }

    if wanted("stall") {
        let t = Instant::now();
        let s = stalls(&params, p.stalls, Duration::from_millis(300));
        println!(
            "300 ms stall of an IP owner, {} stalls: false failovers of the stalled node {}, of others {}",
            s.stalls, s.of_stalled, s.of_others
        );
        eprintln!("  ({:.0} s real)", t.elapsed().as_secs_f64());
    }

    if wanted("restart") {
        let t = Instant::now();
        let r = restart(&params, 0.1, Duration::from_secs(1), Duration::from_secs(60));
        println!(
            "10 % restart ({} nodes down 1 s, then restarted): converged after {}, {:.1} datagrams/s per node meanwhile, false failovers {}",
            r.restarted,
            r.converged_after
                .map_or("not within 60 s".to_owned(), |d| format!(
                    "{:.0} ms",
                    d.as_secs_f64() * 1e3
                )),
            r.datagrams_per_node_s,
            r.false_episodes
        );
        eprintln!("  ({:.0} s real)", t.elapsed().as_secs_f64());
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes: Vec<usize> = std::env::var("FERROLB_SCALE_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| if full { vec![100, 1000, 5000] } else { vec![10] });
    for n in sizes {
        run(&plan(n, full));
    }
}
