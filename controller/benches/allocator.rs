//! Allocator benchmark: prints the figures quoted in docs/performance.md.
//!
//! `cargo bench -p ferrolb-controller --bench allocator` measures:
//! - the time (wall and CPU of this thread) to assign 100,000 Services into an IPv4 /15 (avoid-buggy-ips on)
//!   and into an IPv6 /64;
//! - the per-assignment cost with 1,000 and with 100,000 addresses already allocated (the goal: within 2×);
//! - the same for a naive linear-scan allocator kept here as the baseline (MetalLB's approach: scan the pool
//!   from its first address until a free one turns up), and the ratio.
//!
//! The naive allocator's full 100,000-Service run is quadratic (about 5·10⁹ probes); by default it is
//! measured up to 20,000 Services and scaled by (100,000 / 20,000)², which underestimates it.
//! `FERROLB_BENCH_NAIVE_FULL=1` measures the full run instead (several minutes per network).
//!
//! Under `cargo test --benches` (no `--bench` argument) it runs a small smoke pass, still checking that both
//! allocators hand out the same addresses, in a second or two.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};

use ferrolb_controller::allocator::{Allocator, IpFamily, IpFamilyPolicy, PoolDef, ServiceRequest};

/// CPU time of this thread, from /proc/thread-self/schedstat (nanoseconds on CPU), if available.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let (c0, t0) = (thread_cpu(), Instant::now());
    let out = f();
    let wall = t0.elapsed();
    let cpu = c0.and_then(|c0| thread_cpu().map(|c1| c1.saturating_sub(c0)));
    (out, wall, cpu)
}

fn show(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

fn per_op(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

/// Resident set size of this process in KiB, from /proc/self/status.
fn rss_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Clone, Copy)]
struct Net {
    label: &'static str,
    family: IpFamily,
    range: fn() -> RangeInclusive<IpAddr>,
    avoid_buggy_ips: bool,
}

const NETS: [Net; 2] = [
    Net {
        // RFC 2544's benchmarking block.
        label: "IPv4 /15 (198.18.0.0/15, avoid-buggy-ips)",
        family: IpFamily::V4,
        range: || IpAddr::V4(Ipv4Addr::new(198, 18, 0, 0))..=IpAddr::V4(Ipv4Addr::new(198, 19, 255, 255)),
        avoid_buggy_ips: true,
    },
    Net {
        label: "IPv6 /64 (2001:db8::/64)",
        family: IpFamily::V6,
        range: || {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0))
                ..=IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0xffff, 0xffff, 0xffff, 0xffff))
        },
        avoid_buggy_ips: false,
    },
];

fn pool_of(net: Net) -> PoolDef {
    let mut p = PoolDef::new("bench", [(net.range)()]);
    p.avoid_buggy_ips = net.avoid_buggy_ips;
    p
}

fn services(net: Net, prefix: &str, n: usize) -> Vec<ServiceRequest> {
    (0..n)
        .map(|i| {
            ServiceRequest::new("bench", format!("{prefix}{i:06}"))
                .with_families(IpFamilyPolicy::SingleStack, [net.family])
        })
        .collect()
}

/// The baseline: MetalLB's approach, scanning the pool from its first address for every request. (MetalLB
/// also formats each candidate IP as a string for its map lookups, so the real thing is slower still.)
struct Naive {
    start: u128,
    end: u128,
    v4: bool,
    avoid_buggy_ips: bool,
    used: HashSet<u128>,
    by_service: HashMap<String, u128>,
}

impl Naive {
    fn new(net: Net) -> Self {
        let num = |ip: &IpAddr| match ip {
            IpAddr::V4(v) => u128::from(u32::from(*v)),
            IpAddr::V6(v) => u128::from(*v),
        };
        let r = (net.range)();
        Self {
            start: num(r.start()),
            end: num(r.end()),
            v4: net.family == IpFamily::V4,
            avoid_buggy_ips: net.avoid_buggy_ips,
            used: HashSet::new(),
            by_service: HashMap::new(),
        }
    }

    fn assign(&mut self, name: &str) -> Option<IpAddr> {
        if let Some(&v) = self.by_service.get(name) {
            return Some(self.ip(v));
        }
        let mut v = self.start;
        while v <= self.end {
            let buggy = self.v4 && self.avoid_buggy_ips && matches!(v & 0xff, 0 | 0xff);
            if !buggy && !self.used.contains(&v) {
                self.used.insert(v);
                self.by_service.insert(name.to_owned(), v);
                return Some(self.ip(v));
            }
            v += 1;
        }
        None
    }

    /// The state `count` assignments leave (the lowest `count` usable addresses taken), without the
    /// quadratic cost of making them one by one.
    fn prefill(&mut self, count: usize) {
        let mut v = self.start;
        for i in 0..count {
            while self.v4 && self.avoid_buggy_ips && matches!(v & 0xff, 0 | 0xff) {
                v += 1;
            }
            assert!(v <= self.end, "pool too small");
            self.used.insert(v);
            self.by_service.insert(format!("base{i:06}"), v);
            v += 1;
        }
    }

    fn unassign(&mut self, name: &str) {
        if let Some(v) = self.by_service.remove(name) {
            self.used.remove(&v);
        }
    }

    fn ip(&self, v: u128) -> IpAddr {
        if self.v4 {
            IpAddr::V4(Ipv4Addr::from(v as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(v))
        }
    }
}

/// Per-assignment cost with `fill` addresses allocated: assign `k` more Services, release them, repeat;
/// the best of `rounds` (wall ns per assignment: the thread CPU clock read from /proc is too coarse for
/// runs this short, and the best round is the one least disturbed by other processes).
fn ours_marginal(net: Net, fill: usize, k: usize, rounds: usize) -> f64 {
    let mut a = Allocator::new(&[pool_of(net)]).expect("valid pool");
    for s in services(net, "base", fill) {
        a.assign(&s).expect("room");
    }
    let extra = services(net, "extra", k);
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let (_, wall, _) = timed(|| {
            for s in &extra {
                black_box(a.assign(s).expect("room"));
            }
        });
        best = best.min(per_op(wall, k));
        for s in &extra {
            a.unassign(&s.key);
        }
    }
    best
}

/// The naive allocator's per-assignment cost with `fill` allocated, as for `ours_marginal` but in CPU time of
/// this thread: its rounds last long enough for that clock, which, unlike wall time, other processes on a
/// busy machine do not inflate.
fn naive_marginal(net: Net, fill: usize, k: usize, rounds: usize) -> f64 {
    let mut a = Naive::new(net);
    a.prefill(fill);
    let extra: Vec<String> = (0..k).map(|i| format!("extra{i:06}")).collect();
    let mut best = f64::INFINITY;
    for _ in 0..rounds {
        let (_, wall, cpu) = timed(|| {
            for s in &extra {
                black_box(a.assign(s).expect("room"));
            }
        });
        best = best.min(per_op(cpu.unwrap_or(wall), k));
        for s in &extra {
            a.unassign(s);
        }
    }
    best
}

/// Child-process mode: assign `n` Services into `NETS[net]` in a fresh process and print how much its
/// resident memory grew (a fresh process, so memory freed by earlier runs cannot hide the cost).
fn memory_probe(net: usize, n: usize) {
    let net = NETS[net];
    let list = services(net, "svc", n);
    let before = rss_kib().expect("/proc/self/status");
    let mut a = Allocator::new(&[pool_of(net)]).expect("valid pool");
    for s in &list {
        a.assign(s).expect("room");
    }
    let after = rss_kib().expect("/proc/self/status");
    black_box(&a);
    println!("{}", after.saturating_sub(before));
}

/// Runs `memory_probe` in a child process; the growth in KiB.
fn memory_of(net: usize, n: usize) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .args(["--memory-probe", &net.to_string(), &n.to_string()])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--memory-probe") {
        let num = |j: usize| {
            args.get(i + j)
                .and_then(|v| v.parse().ok())
                .expect("--memory-probe NET N")
        };
        memory_probe(num(1), num(2));
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let naive_full = full && std::env::var_os("FERROLB_BENCH_NAIVE_FULL").is_some_and(|v| v == "1");
    let (n, naive_n, fills, k, naive_k) = if full {
        (
            100_000,
            if naive_full { 100_000 } else { 20_000 },
            [1_000, 100_000],
            1_000,
            200,
        )
    } else {
        (2_000, 1_000, [100, 2_000], 100, 20)
    };
    println!(
        "ferrolb allocator benchmark ({})",
        if full {
            "full"
        } else {
            "smoke: run with `cargo bench`"
        }
    );

    for (index, net) in NETS.into_iter().enumerate() {
        println!("\n== {} ==", net.label);
        let list = services(net, "svc", n);
        // The best of a few runs, each into a new allocator.
        let mut best: Option<(Allocator, Vec<IpAddr>, Duration, Option<Duration>)> = None;
        for _ in 0..if full { 3 } else { 1 } {
            let mut a = Allocator::new(&[pool_of(net)]).expect("valid pool");
            let (ips, wall, cpu) = timed(|| {
                list.iter()
                    .map(|s| a.assign(s).expect("room").ips[0])
                    .collect::<Vec<_>>()
            });
            if best.as_ref().is_none_or(|b| wall < b.2) {
                best = Some((a, ips, wall, cpu));
            }
        }
        let (a, ours, wall, cpu) = best.expect("at least one run");
        let cpu_text = cpu.map(show).unwrap_or_else(|| "n/a".into());
        println!(
            "ferrolb: assign {n} Services: {} wall, {cpu_text} CPU ({:.0} ns/assignment; best of runs)",
            show(wall),
            per_op(wall, n)
        );
        match memory_of(index, n) {
            Some(kib) => println!(
                "ferrolb: resident memory grew by {:.1} MiB for {n} Services ({:.0} bytes per Service, names \
                 included)",
                kib as f64 / 1024.0,
                kib as f64 * 1024.0 / n as f64
            ),
            None => println!("ferrolb: memory not measured (no /proc)"),
        }
        let stats = a.pool_stats("bench").expect("pool").family(net.family);
        println!(
            "ferrolb: pool counters: total {}, in use {}, available {}",
            stats.total, stats.in_use, stats.available
        );
        assert_eq!(stats.in_use, n as u128);
        drop(a);

        let mut naive = Naive::new(net);
        let (theirs, nwall, ncpu) = timed(|| {
            list.iter()
                .take(naive_n)
                .map(|s| naive.assign(&s.key.name).expect("room"))
                .collect::<Vec<_>>()
        });
        assert_eq!(
            theirs[..],
            ours[..naive_n],
            "both allocators hand out the same addresses"
        );
        let ncpu_text = ncpu.map(show).unwrap_or_else(|| "n/a".into());
        println!(
            "naive:   assign {naive_n} Services: {} wall, {ncpu_text} CPU",
            show(nwall)
        );

        let ours_small = ours_marginal(net, fills[0], k, 31);
        let ours_big = ours_marginal(net, fills[1], k, 31);
        println!(
            "ferrolb: per assignment with {} allocated: {ours_small:.0} ns; with {} allocated: {ours_big:.0} ns \
             ({:.2}×)",
            fills[0],
            fills[1],
            ours_big / ours_small
        );
        let naive_small = naive_marginal(net, fills[0], naive_k * 5, 5);
        let naive_big = naive_marginal(net, fills[1], naive_k, 3);
        println!(
            "naive:   per assignment with {} allocated: {naive_small:.0} ns; with {} allocated: {naive_big:.0} ns \
             ({:.0}×)",
            fills[0],
            fills[1],
            naive_big / naive_small
        );
        println!(
            "ratio naive/ferrolb per assignment: {:.0}× with {} allocated, {:.0}× with {} allocated",
            naive_small / ours_small,
            fills[0],
            naive_big / ours_big,
            fills[1]
        );
        // Totals compare CPU time (wall time where it cannot be read). The naive run is quadratic in the
        // number of Services; a partial run is scaled by (n / naive_n)², a lower bound since each probe also
        // gets slower as its set grows.
        let ours_total = cpu.unwrap_or(wall).as_secs_f64();
        let naive_part = ncpu.unwrap_or(nwall).as_secs_f64();
        let naive_total = naive_part * (n as f64 / naive_n as f64).powi(2);
        let how = if naive_n == n {
            "measured"
        } else {
            "extrapolated from its first run, a lower bound"
        };
        println!(
            "ratio naive/ferrolb for all {n} assignments: {:.0}× (naive {}, {how})",
            naive_total / ours_total,
            show(Duration::from_secs_f64(naive_total)),
        );
    }
}
