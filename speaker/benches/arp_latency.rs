//! ARP reply latency of the speaker versus the kernel, side by side in one run.
//!
//! `cargo bench -p ferrolb-speaker --bench arp_latency` (root; the lab's Debian packages): a one-node lab, the
//! speaker on node1 announcing 192.0.2.100, and the client running Habets `arping` in alternating rounds
//! against 192.0.2.100 (answered by the speaker, from user space) and 192.0.2.11 (node1's own address,
//! answered by its kernel). Every round sends 50 requests 20 ms apart; arping prints each reply's round-trip
//! time, measured identically for both targets. The bench prints the distribution of each and the ratio.
//!
//! Without `--bench` (under `cargo test --all-targets`) it runs 2 short rounds per target.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{Cluster, LAYER2_CONFIG};
use ferrolb_netlab::Tool;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);

/// `time=12.345 usec` (or `msec`) values in Habets arping output, in microseconds.
fn rtts(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| {
            let t = l.split("time=").nth(1)?;
            let mut it = t.split_whitespace();
            let v: f64 = it.next()?.parse().ok()?;
            Some(match it.next()? {
                "usec" => v,
                "msec" => v * 1e3,
                "sec" => v * 1e6,
                _ => return None,
            })
        })
        .collect()
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(name: &str, v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let p50 = quantile(v, 0.5);
    println!(
        "{name:<28} n={:<5} min {:>7.1}  p50 {:>7.1}  p90 {:>7.1}  p99 {:>7.1}  mean {:>7.1} µs",
        v.len(),
        v[0],
        p50,
        quantile(v, 0.9),
        quantile(v, 0.99),
        mean
    );
    p50
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if full { (20, 50) } else { (2, 5) };
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(1, &[Tool::Arping], LAYER2_CONFIG) else {
        return;
    };
    c.add_service("web", &[IpAddr::V4(VIP)], false, &["node1"]);
    c.start_all();
    c.wait_arp_owner(VIP, "node1", Duration::from_secs(5));
    let kernel_ip = c.lab.node(1).ipv4();
    let (mut speaker, mut kernel) = (Vec::new(), Vec::new());
    let arping = |ip: Ipv4Addr| -> Vec<f64> {
        let out = c
            .lab
            .cmd("client", "arping")
            .unwrap()
            .args(["-i", "eth0", "-c", &per_round.to_string(), "-W", "0.02"])
            .arg(ip.to_string())
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap();
        rtts(&out.stdout)
    };
    for round in 0..rounds {
        // alternate which goes first, so neither always runs right after the other
        if round % 2 == 0 {
            speaker.extend(arping(VIP));
            kernel.extend(arping(kernel_ip));
        } else {
            kernel.extend(arping(kernel_ip));
            speaker.extend(arping(VIP));
        }
    }
    assert!(
        !speaker.is_empty() && !kernel.is_empty(),
        "no replies: {speaker:?} {kernel:?}"
    );
    println!(
        "ARP reply round trip seen by arping on the client ({rounds} rounds × {per_round} requests each):"
    );
    let s = summary("speaker (192.0.2.100)", &mut speaker);
    let k = summary(&format!("kernel ({kernel_ip})"), &mut kernel);
    println!("speaker / kernel, p50: {:.2}×", s / k);
    // the fast path's counter is read once a second: wait until every reply arping saw is counted
    let replies = (speaker.len()) as f64;
    let start = std::time::Instant::now();
    while c.metric("node1", "ferrolb_layer2_responses_sent_total{protocol=\"arp\"}") < replies
        && start.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let answered = c.metric("node1", "ferrolb_layer2_responses_sent_total{protocol=\"arp\"}");
    let fast = c.metric("node1", "ferrolb_layer2_fast_path_responses_total");
    let enabled = c.metric("node1", "ferrolb_layer2_fast_path_enabled");
    println!(
        "speaker replies counted by its metrics: {answered} ({fast} from the in-kernel fast path; enabled: {enabled})"
    );
}
