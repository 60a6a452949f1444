//! Hard node loss → client traffic flows again, with 3 and with 10 nodes, at default settings.
//!
//! `cargo bench -p ferrolb-speaker --bench failover` (root; the lab's Debian packages). Per cluster size: a lab
//! with that many nodes, the embedded API server, one speaker per node, 30 layer2 Services (one VIP each,
//! endpoints on every node) and the lab's kube-proxy stand-in (nft DNAT VIP:80 → node:30080, backends
//! answering with their node's name). Each trial picks the next VIP, starts the client's outage probe (a new
//! TCP connection every 10 ms, 10 ms timeout, through the stand-in), and — at a recorded instant — takes the
//! VIP's owner off the network (its switch port down) and `kill -9`s its speaker, as a power loss would.
//! The recovery time is from that instant to the first probe answered by another node. Then the node comes
//! back (port up, speaker restarted) and gets its VIPs back before the next trial.
//!
//! `FERROLB_BENCH_TRIALS` overrides the number of trials (default 30). The simulator's figures for the same
//! clusters (virtual time, the speaker's own membership code, 30 service IPs, 1,000 losses) are printed
//! alongside: when the lost owner's successor dropped it (the successor watch: when its IPs move), and when
//! the last survivor did (SWIM).
//! Without `--bench` (under `cargo test --all-targets`) it runs 2 trials with 3 nodes.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::Cluster;
use ferrolb_netlab::probes::ProbeOptions;
use ferrolb_netlab::{LbService, ProbeProto, Tool};
use ferrolb_speaker::membership::sim::SimParams;
use ferrolb_speaker::membership::sim::scenarios::detection;

const VIPS: u8 = 30;

fn vip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 100 + i)
}

fn config() -> String {
    format!(
        "address-pools:\n- name: l2\n  protocol: layer2\n  addresses: [192.0.2.100-192.0.2.{}]\n",
        100 + VIPS - 1
    )
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
    println!(
        "{what:<44} n={:<5} min {:>5.0}  p50 {:>5.0}  p90 {:>5.0}  p99 {:>5.0}  max {:>5.0} ms",
        v.len(),
        v[0],
        quantile(v, 0.5),
        quantile(v, 0.9),
        quantile(v, 0.99),
        v[v.len() - 1]
    );
}

/// One cluster size: returns the recovery times in ms.
fn measure(nodes: usize, trials: usize) -> Option<Vec<f64>> {
    let c = Cluster::new(nodes, &[Tool::Nft, Tool::Arping], &config())?;
    let names = c.node_names();
    let all: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    for i in 0..VIPS {
        c.add_service(
            &format!("web{i}"),
            &[IpAddr::V4(vip(i))],
            false,
            &all.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    let mut lb = LbService::tcp("web", IpAddr::V4(vip(0)), 80, 30080);
    lb.vips = (0..VIPS).map(|i| IpAddr::V4(vip(i))).collect();
    c.lab.add_service(&lb).expect("kube-proxy stand-in");
    c.start_all();
    let mut restarts = 0;
    let mut out = Vec::new();
    for t in 0..trials {
        let i = u8::try_from(t % usize::from(VIPS)).unwrap_or(0);
        let ip = vip(i);
        let owner = Cluster::expected_owner(IpAddr::V4(ip), &all);
        c.wait_arp_owner(ip, &owner, Duration::from_secs(10));
        let opts = ProbeOptions {
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(10),
            max_duration: Duration::from_secs(30),
        };
        let started = Instant::now();
        let probe = c
            .lab
            .start_probe(
                "client",
                SocketAddr::new(IpAddr::V4(ip), 80),
                ProbeProto::Tcp,
                opts,
            )
            .expect("probe");
        // the client's neighbour entry and the probe are steady on the owner
        probe
            .wait_for("10 answers from the owner", Duration::from_secs(10), |r| {
                r.samples
                    .iter()
                    .rev()
                    .take(10)
                    .filter(|s| s.responder() == Some(owner.as_str()))
                    .count()
                    == 10
            })
            .expect("steady traffic");
        // power loss: off the network, speaker gone
        let lost = Instant::now();
        c.lab
            .ip("switch", &["link", "set", &format!("p-{owner}"), "down"])
            .expect("port down");
        c.kill_speaker(&owner);
        let loss_at = lost - started;
        probe
            .wait_for("traffic from another node", Duration::from_secs(10), |r| {
                r.samples
                    .iter()
                    .any(|s| s.at >= loss_at && s.responder().is_some_and(|n| n != owner))
            })
            .expect("recovery");
        let report = probe.stop().expect("probe");
        let back = report
            .samples
            .iter()
            .find(|s| s.at >= loss_at && s.responder().is_some_and(|n| n != owner))
            .expect("recovered");
        let ms = (back.at.saturating_sub(loss_at)).as_secs_f64() * 1e3;
        eprintln!(
            "  {nodes} nodes, trial {t}: {ip} owner {owner} lost → {} answers after {ms:.0} ms",
            back.responder().unwrap_or("?")
        );
        out.push(ms);
        // the node comes back and takes its IPs back
        c.lab
            .ip("switch", &["link", "set", &format!("p-{owner}"), "up"])
            .expect("port up");
        restarts += 1;
        c.restart_speaker(&owner, restarts);
        c.wait_arp_owner(ip, &owner, Duration::from_secs(10));
    }
    Some(out)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let trials: usize = std::env::var("FERROLB_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 30 } else { 2 });
    let sizes: &[usize] = if full { &[3, 10] } else { &[3] };
    let _serial = common::exclusive();
    let mut results = Vec::new();
    for &n in sizes {
        let Some(v) = measure(n, trials) else { return };
        results.push((n, v));
    }
    println!(
        "Hard node loss → client traffic flows again (TCP probe every 10 ms through the kube-proxy stand-in):"
    );
    for (n, v) in &mut results {
        report(&format!("lab, {n} nodes, {} trials", v.len()), v);
    }
    let sim_trials = if full { 1000 } else { 20 };
    let ms = |v: Vec<Option<Duration>>| -> Vec<f64> {
        v.into_iter()
            .map(|d| d.map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3))
            .collect()
    };
    for &n in sizes {
        let params = SimParams {
            ips: usize::from(VIPS),
            ..SimParams::lan(n, 42)
        };
        let d = detection(&params, sim_trials, 1, Duration::from_secs(3));
        report(
            &format!("simulator, {n} nodes: successor drops it"),
            &mut ms(d.successor),
        );
        report(
            &format!("simulator, {n} nodes: every survivor does"),
            &mut ms(d.everyone),
        );
    }
}
