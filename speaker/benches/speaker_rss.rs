//! Speaker peak memory (RSS) with 1,000 announced IPs.
//!
//! `cargo bench -p ferrolb-speaker --bench speaker_rss` (root; the lab's Debian packages): a one-node lab with
//! the embedded API server holding 1,000 layer2 Services (496 IPv4 and 504 IPv6 addresses, one each), their
//! 1,000 EndpointSlices and the config; then the speaker starts, lists everything and announces all 1,000
//! IPs (its metrics say so, and the client's arping/ndisc6 get answers for samples). The bench prints the
//! speaker's peak resident set (`VmHWM` in /proc/<pid>/status), its current RSS, and the time from start to
//! all 1,000 announced. Without `--bench` it does the same with 50 Services.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::Cluster;
use ferrolb_netlab::Tool;

const CONFIG: &str = "address-pools:
- name: l2-v4
  protocol: layer2
  addresses: [203.0.113.0/24, 198.51.100.16-198.51.100.255]
- name: l2-v6
  protocol: layer2
  addresses: ['2001:db8:ff::/118']
";

fn ips(n: usize) -> Vec<IpAddr> {
    let v4 = (0..=255u8)
        .map(|h| IpAddr::V4(Ipv4Addr::new(203, 0, 113, h)))
        .chain((16..=255u8).map(|h| IpAddr::V4(Ipv4Addr::new(198, 51, 100, h))));
    let v6 = (0..u16::MAX).map(|i| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, i)));
    let mut out: Vec<IpAddr> = v4.take(n / 2).collect();
    let rest = n - out.len();
    out.extend(v6.take(rest));
    out
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = if full { 1000 } else { 50 };
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(1, &[Tool::Arping, Tool::Ndisc6], CONFIG) else {
        return;
    };
    let all = ips(n);
    let t0 = Instant::now();
    for (i, ip) in all.iter().enumerate() {
        c.add_service(&format!("svc{i}"), &[*ip], false, &["node1"]);
    }
    println!(
        "created {n} Services with their status and EndpointSlices in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    c.start_speaker("node1");
    let pid = c.speaker_pid("node1");
    let want = n as f64;
    while c.metric("node1", "ferrolb_speaker_announced_ips{protocol=\"layer2\"}") < want {
        assert!(started.elapsed() < Duration::from_secs(60), "not all announced");
        std::thread::sleep(Duration::from_millis(50));
    }
    let announced_after = started.elapsed();
    let v4_count = all.iter().filter(|ip| ip.is_ipv4()).count();
    // spot checks from the client: the first and last address of each family answer
    for ip in [all[0], all[v4_count - 1], all[v4_count], all[n - 1]] {
        match ip {
            IpAddr::V4(v4) => assert_eq!(c.arp_macs(v4).len(), 1, "{v4}"),
            IpAddr::V6(v6) => assert_eq!(c.lab.ndisc_macs("client", v6).unwrap().len(), 1, "{v6}"),
        }
    }
    let hwm = status_kib(pid, "VmHWM:").expect("VmHWM");
    let rss = status_kib(pid, "VmRSS:").expect("VmRSS");
    println!(
        "speaker with {n} announced IPs ({v4_count} IPv4 + {} IPv6):",
        n - v4_count
    );
    println!(
        "  all announced {:.2} s after start",
        announced_after.as_secs_f64()
    );
    println!(
        "  peak RSS (VmHWM) {:.1} MiB, RSS now {:.1} MiB",
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    let mib = |f: &str| status_kib(pid, f).map_or(f64::NAN, |k| k as f64 / 1024.0);
    println!(
        "  now: anonymous {:.1} MiB, file-backed (the binary's pages) {:.1} MiB, threads {}",
        mib("RssAnon:"),
        mib("RssFile:"),
        status_kib(pid, "Threads:").unwrap_or(0)
    );
    for (path, kib) in file_mappings(pid) {
        println!("    {:>7.1} MiB  {path}", kib as f64 / 1024.0);
    }
    c.stop_speaker("node1");
}

/// Resident KiB per mapped file, largest first (from /proc/<pid>/smaps).
fn file_mappings(pid: u32) -> Vec<(String, u64)> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return Vec::new();
    };
    let mut per: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            current = words.nth(4).filter(|p| p.starts_with('/')).map(str::to_owned);
        } else if first == "Rss:"
            && let (Some(path), Some(kib)) = (&current, words.next().and_then(|k| k.parse::<u64>().ok()))
        {
            *per.entry(path.clone()).or_default() += kib;
        }
    }
    let mut v: Vec<(String, u64)> = per.into_iter().filter(|(_, k)| *k > 0).collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v
}
