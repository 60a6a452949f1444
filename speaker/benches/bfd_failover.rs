//! BGP mode, node hard loss → the router's kernel route loses that next hop: BFD against the hold timer,
//! with BIRD 2.0.12 and FRR 8.4; false drops under 10 % loss; the CPU cost of 100 BFD sessions at 50 ms and
//! the transmit timing of the BFD thread while the main runtime is saturated.
//!
//! `cargo bench -p ferrolb-speaker --bench bfd_failover` (root; the lab's Debian packages). Sections, each
//! selectable with `FERROLB_BENCH_ONLY=failover,loss,cpu` (default: all):
//!
//! - **failover**: per router and case (hold timer 3 s / 9 s without BFD; BFD 300 ms × 3, 100 ms × 3,
//!   50 ms × 3 with the same timers on both sides), a lab with two nodes advertising the VIP (ECMP at the
//!   router), in-process speakers. Each trial takes node1 off the network (its link down) and then drops its
//!   speaker (its sockets close on a dead link: no FIN, NOTIFICATION or AdminDown reaches the router — a
//!   power loss), and measures from that instant to the kernel notification (`ip -ts monitor route` in the
//!   router's namespace) of the VIP's route without node1's next hop. Then node1 comes back. For 100 ms × 3 a
//!   client behind the router (`ext`) runs the lab's outage probe (a new TCP connection every 5 ms, 20 ms
//!   timeout) through the VIP: the client's outage is from the loss to the first answer after the last failed
//!   connection: from the loss to the first of 20 answered connections in a row (ECMP sends about half of
//!   the new connections to the dead node until the route changes). `FERROLB_BENCH_TRIALS` trials per case
//!   (default 30); `FERROLB_BENCH_CASES=100,50` runs the cases whose name contains one of the words, and
//!   `FERROLB_BENCH_ROUTERS=bird` (or `frr`) one router (separate processes can run the cases side by side:
//!   each has its own lab).
//! - **loss**: 10 % of the BFD and BGP packets of both nodes dropped on the switch, both ways, for
//!   `FERROLB_BENCH_LOSS_SECS` (default 60) per router and profile (100 ms × 3, 4, 5): BFD failures and BGP
//!   sessions lost (false drops).
//! - **cpu**: one speaker's BFD task with 100 sessions at 50 ms × 3 (to 100 addresses of a BIRD that runs
//!   them as static BFD neighbours): CPU time of the `ferrolb-bfd` thread and of BIRD over 20 s; then the
//!   same while four tasks keep both worker threads of the main tokio runtime busy (50 ms without yielding,
//!   again and again): how late periodic packets left (`bfd_transmit_delay_seconds`) and detection-time
//!   misses, idle against loaded.
//!
//! Without `--bench` (under `cargo test --all-targets`) it runs a short smoke pass: BIRD, BFD 100 ms × 3,
//! 2 trials; 3 s of loss; 10 sessions for 2 s.

#[path = "../tests/bfd_support/mod.rs"]
mod bfd_support;
#[path = "../tests/bgp_support/mod.rs"]
mod bgp_support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bfd_support::{
    Sessions, WAIT, failures, hops, profile, router_config, start_all_with, start_router, target, vip,
};
use bgp_support::lab::{netns_factory, runtime, speaker, wait_sessions};
use ferrolb_netlab::{
    BfdTimers, Cmd, Fault, Lab, LbService, ProbeOptions, ProbeProto, ProcessSpec, RouterKind, Tool,
    TopologySpec, VIP_V4,
};
use ferrolb_proto::bfd::{Hop, Intervals, Role};
use ferrolb_proto::bgp::State;
use ferrolb_speaker::bfd::{BfdEngine, BfdEngineOptions, BfdMetrics, BfdSettings};
use ferrolb_speaker::bgp::BgpTarget;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, v: &mut [f64]) {
    if v.is_empty() {
        println!("{what:<52} no data");
        return;
    }
    v.sort_by(f64::total_cmp);
    println!(
        "{what:<52} n={:<3} min {:>6.0}  p50 {:>6.0}  p90 {:>6.0}  p99 {:>6.0}  max {:>6.0} ms",
        v.len(),
        v[0],
        quantile(v, 0.5),
        quantile(v, 0.9),
        quantile(v, 0.99),
        v[v.len() - 1]
    );
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One failover case.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    /// BFD interval (ms) and multiplier on both sides; `None`: the hold timer only.
    bfd: Option<(u32, u8)>,
    /// BGP hold time on both sides (keepalive a third).
    hold: u16,
    /// Run the client's outage probe.
    probe: bool,
}

const CASES: [Case; 5] = [
    Case {
        name: "hold timer 9 s (no BFD)",
        bfd: None,
        hold: 9,
        probe: false,
    },
    Case {
        name: "hold timer 3 s (no BFD)",
        bfd: None,
        hold: 3,
        probe: false,
    },
    Case {
        name: "BFD 300 ms × 3",
        bfd: Some((300, 3)),
        hold: 9,
        probe: false,
    },
    Case {
        name: "BFD 100 ms × 3",
        bfd: Some((100, 3)),
        hold: 9,
        probe: true,
    },
    Case {
        name: "BFD 50 ms × 3",
        bfd: Some((50, 3)),
        hold: 9,
        probe: false,
    },
];

/// `node`'s target for a case.
fn case_target(lab: &Lab, node: &str, case: Case) -> BgpTarget {
    let p = case.bfd.map(|(ms, mult)| profile(ms, u32::from(mult)));
    let mut t = target(lab, node, Sessions::Ipv4, p.as_ref());
    t.peers[0].hold_time = Duration::from_secs(u64::from(case.hold));
    t.peers[0].keepalive_time = Duration::from_secs(u64::from(case.hold / 3));
    t
}

/// The time from the loss to the router's kernel notification without node1, in ms.
fn route_change_ms(
    events: &[ferrolb_netlab::probes::RouteEvent],
    lost: SystemTime,
    node1: IpAddr,
) -> Option<f64> {
    events
        .iter()
        .filter(|e| e.dst == vip(false) && e.at >= lost)
        .find(|e| e.deleted || !e.next_hops.contains(&node1))
        .map(|e| e.at.duration_since(lost).unwrap_or_default().as_secs_f64() * 1e3)
}

/// Route-change times (and, with the probe, client outages) of `trials` hard losses.
fn failover(kind: RouterKind, case: Case, trials: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    let tools = [kind.tool(), Tool::Nft, Tool::Curl];
    let lab = Lab::for_test(TopologySpec::new(2), &tools)?;
    let timers = case
        .bfd
        .map_or_else(BfdTimers::default, |(ms, m)| BfdTimers::new(ms, m));
    let without: &[&str] = if case.bfd.is_some() {
        &[]
    } else {
        &["node1", "node2"]
    };
    let cfg = router_config(&lab, Sessions::Ipv4, timers, without).hold_time(case.hold);
    let router = start_router(kind, &lab, &cfg);
    let monitor = lab.monitor_routes("router", "router-routes").expect("ip monitor");
    let rt = runtime();
    let mut speakers = start_all_with(&rt, &lab, &router, 1, case.bfd.is_some(), |n| {
        case_target(&lab, n, case)
    });
    let node1 = IpAddr::V4(lab.node(1).ipv4());
    lab.add_service(&LbService::tcp("web", IpAddr::V4(VIP_V4), 80, 30080))
        .expect("kube-proxy stand-in");
    let (mut routes, mut outages) = (Vec::new(), Vec::new());
    for t in 0..trials {
        assert_eq!(hops(&lab, false, 2).len(), 2);
        if case.bfd.is_some() {
            router.wait_bfd(node1, WAIT, |b| b.up).expect("BFD up");
        }
        let probe = case.probe.then(|| {
            let opts = ProbeOptions {
                interval: Duration::from_millis(5),
                timeout: Duration::from_millis(20),
                max_duration: Duration::from_secs(120),
            };
            let started = Instant::now();
            let p = lab
                .start_probe(
                    "ext",
                    SocketAddr::new(IpAddr::V4(VIP_V4), 80),
                    ProbeProto::Tcp,
                    opts,
                )
                .expect("probe");
            p.wait_for("answers from both nodes", WAIT, |r| {
                let mut who: Vec<&str> = r.samples.iter().filter_map(|s| s.responder()).collect();
                who.sort();
                who.dedup();
                who.len() == 2
            })
            .expect("steady traffic");
            (p, started)
        });
        let lost = SystemTime::now();
        let lost_i = Instant::now();
        lab.cut_link("node1").expect("link down");
        drop(speakers[0].take());
        let timeout = Duration::from_secs(u64::from(case.hold) + 10);
        lab.wait_kernel_next_hops("router", vip(false), 1, timeout)
            .expect("node1's next hop gone");
        let ms = ferrolb_netlab::wait::wait_for("the route notification", WAIT, || {
            Ok(route_change_ms(&monitor.events(), lost, node1))
        })
        .expect("notification");
        routes.push(ms);
        let mut line = format!(
            "  {kind:?} {}: trial {t}: route without node1 after {ms:.0} ms",
            case.name
        );
        if let Some((p, started)) = probe {
            let at = lost_i - started;
            p.wait_for("a streak of answers after the loss", WAIT, |r| {
                r.samples.iter().filter(|s| s.at >= at).count() >= 20
                    && r.samples.iter().rev().take(20).all(|s| s.ok())
            })
            .expect("recovery");
            let r = p.stop().expect("probe");
            // new connections all work again from the first of STREAK answered ones in a row (with both
            // next hops, half the connections go to the dead node: 20 in a row by chance is one in 10^6)
            const STREAK: usize = 20;
            let after: Vec<&ferrolb_netlab::probes::Sample> =
                r.samples.iter().filter(|s| s.at >= at).collect();
            let outage = after
                .windows(STREAK)
                .find(|w| w.iter().all(|s| s.ok()))
                .map_or(f64::NAN, |w| (w[0].at - at).as_secs_f64() * 1e3);
            outages.push(outage);
            line.push_str(&format!(", client outage {outage:.0} ms"));
        }
        eprintln!("{line}");
        // node1 comes back
        lab.restore_link("node1").expect("link up");
        let mut s1 = speaker(&rt, &lab, "node1");
        s1.set(&case_target(&lab, "node1", case));
        wait_sessions(&s1, "node1's session back", WAIT, |st| {
            st.state == State::Established
        });
        speakers[0] = Some(s1);
    }
    Some((routes, outages))
}

/// Counts BFD failures and lost BGP sessions over `secs` of 10 % loss with `ms` × `mult`.
fn loss(kind: RouterKind, ms: u32, mult: u8, secs: u64) -> Option<(u64, u64)> {
    let lab = Lab::for_test(TopologySpec::new(2), &[kind.tool(), Tool::Nft])?;
    let router = start_router(
        kind,
        &lab,
        &router_config(&lab, Sessions::Ipv4, BfdTimers::new(ms, mult), &[]),
    );
    let rt = runtime();
    let p = profile(ms, u32::from(mult));
    let speakers = start_all_with(&rt, &lab, &router, 1, true, |n| {
        target(&lab, n, Sessions::Ipv4, Some(&p))
    });
    let counts = |speakers: &[Option<ferrolb_speaker::bgp::BgpSpeaker>]| {
        let f: u64 = speakers.iter().flatten().map(failures).sum();
        let e: u64 = speakers
            .iter()
            .flatten()
            .flat_map(|s| s.status().into_values())
            .map(|s| s.established_count)
            .sum();
        (f, e)
    };
    let before = counts(&speakers);
    let drop = |port| Fault::DropUdp {
        port,
        percent: 10,
        from: None,
    };
    lab.set_faults(&[
        drop(3784),
        Fault::DropTcp {
            port: 179,
            percent: 10,
            from: None,
        },
    ])
    .expect("faults");
    std::thread::sleep(Duration::from_secs(secs));
    lab.clear_faults().expect("faults");
    let after = counts(&speakers);
    Some((after.0 - before.0, after.1 - before.1))
}

/// CPU seconds (user + system) of the thread of this process named `name`, or of process `pid`.
fn cpu_seconds(stat: &str) -> f64 {
    // the fields after the command name (which may contain spaces) in `/proc/…/stat`
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ
}

fn thread_cpu(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| cpu_seconds(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default()))
        .sum()
}

fn process_cpu(pid: u32) -> f64 {
    cpu_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// The transmit delay histogram as (upper bound, cumulative count).
fn delay_buckets(text: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("bfd_transmit_delay_seconds_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            Some((le.parse().unwrap_or(f64::INFINITY), count.trim().parse().ok()?))
        })
        .collect()
}

/// The smallest bucket bound holding the `q` quantile of the observations between `a` and `b`.
fn bucket_quantile(a: &[(f64, f64)], b: &[(f64, f64)], q: f64) -> f64 {
    let diff: Vec<(f64, f64)> = b.iter().zip(a).map(|((le, x), (_, y))| (*le, x - y)).collect();
    let total = diff.last().map_or(0.0, |d| d.1);
    diff.iter()
        .find(|(_, c)| *c >= q * total)
        .map_or(f64::INFINITY, |(le, _)| *le)
}

/// The sum of every series of `text` whose line starts with `series`.
fn total(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn bfd_metrics_text(m: &BfdMetrics) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    m.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    text.replace("bfd_bfd_", "bfd_")
}

/// `sessions` BFD sessions at 50 ms × 3 from node1 to a BIRD on the router; CPU idle and jitter loaded.
fn cpu(sessions: u8, secs: u64) -> Option<()> {
    let lab = Lab::for_test(TopologySpec::new(1), &[Tool::Bird])?;
    let ours = |i: u8| Ipv4Addr::new(203, 0, 113, i + 1);
    let theirs = |i: u8| Ipv4Addr::new(203, 0, 113, i + 101);
    let mut neighbours = String::new();
    for i in 0..sessions {
        lab.ip(
            "node1",
            &["addr", "add", &format!("{}/24", ours(i)), "dev", "eth0"],
        )
        .expect("address");
        lab.ip(
            "router",
            &["addr", "add", &format!("{}/24", theirs(i)), "dev", "eth0"],
        )
        .expect("address");
        neighbours.push_str(&format!("  neighbor {} local {};\n", ours(i), theirs(i)));
    }
    let conf = lab.dir().join("bfd-cpu-bird.conf");
    std::fs::write(
        &conf,
        format!(
            "router id 192.0.2.1;\nprotocol device {{ }}\nprotocol bfd {{\n  interface \"*\" {{ min rx interval 50 ms; \
             min tx interval 50 ms; multiplier 3; }};\n{neighbours}}}\n"
        ),
    )
    .expect("bird config");
    let socket = lab.dir().join("bfd-cpu-bird.ctl");
    let bird = lab
        .spawn(
            "router",
            &ProcessSpec::new("bfd-cpu-bird", ferrolb_netlab::prereq::tool_path("bird"))
                .arg("-f")
                .arg("-c")
                .arg(&conf)
                .arg("-s")
                .arg(&socket),
        )
        .expect("bird");
    let rt = runtime();
    let metrics = BfdMetrics::new();
    let mut engine = {
        let _guard = rt.enter();
        BfdEngine::start(BfdEngineOptions {
            node: "node1".into(),
            socket_factory: netns_factory(lab.host("node1").ns().clone()),
            metrics: metrics.clone(),
            events: None,
        })
        .expect("BFD engine")
    };
    let desired: BTreeMap<_, _> = (0..sessions)
        .map(|i| {
            let s = BfdSettings {
                profile: "fast".into(),
                peer: IpAddr::V4(theirs(i)),
                local: Some(IpAddr::V4(ours(i))),
                local_required: true,
                intervals: Intervals {
                    desired_min_tx: Duration::from_millis(50),
                    required_min_rx: Duration::from_millis(50),
                    detect_mult: 3,
                },
                role: Role::Active,
                hop: Hop::Single,
            };
            (s.key(), s)
        })
        .collect();
    engine.set(desired);
    ferrolb_netlab::wait::wait_until(
        "every BFD session up",
        Duration::from_secs(30),
        || Ok(engine.status()),
        |s| s.len() == usize::from(sessions) && s.values().all(|st| st.is_up()),
    )
    .expect("sessions up");
    let birdc = || {
        Cmd::new(ferrolb_netlab::prereq::tool_path("birdc"))
            .arg("-s")
            .arg(&socket)
            .args(["show", "bfd", "sessions"])
            .output()
    };
    let up = ferrolb_netlab::routers::parse_bird_bfd_sessions(&birdc().expect("birdc").stdout)
        .iter()
        .filter(|b| b.up)
        .count();
    println!("{sessions} sessions at 50 ms × 3 Up on both sides (BIRD reports {up} Up)");
    let measure = |what: &str, load: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..if load { 4 } else { 0 })
            .map(|_| {
                let stop = stop.clone();
                rt.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(50) {
                            std::hint::spin_loop();
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        // what a timer task on the main runtime sees meanwhile: how late its 50 ms sleeps end
        let lateness = Arc::new(std::sync::Mutex::new(Vec::<f64>::new()));
        let timer_task = {
            let (stop, lateness) = (stop.clone(), lateness.clone());
            rt.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let due = tokio::time::Instant::now() + Duration::from_millis(50);
                    tokio::time::sleep_until(due).await;
                    let late = tokio::time::Instant::now().saturating_duration_since(due);
                    lateness.lock().unwrap().push(late.as_secs_f64() * 1e3);
                }
            })
        };
        let text0 = bfd_metrics_text(&metrics);
        let (ours0, bird0, t0) = (thread_cpu("ferrolb-bfd"), process_cpu(bird.pid()), Instant::now());
        std::thread::sleep(Duration::from_secs(secs));
        let (ours1, bird1, dt) = (
            thread_cpu("ferrolb-bfd"),
            process_cpu(bird.pid()),
            t0.elapsed().as_secs_f64(),
        );
        let text1 = bfd_metrics_text(&metrics);
        stop.store(true, Ordering::Relaxed);
        for b in busy {
            let _ = rt.block_on(b);
        }
        let _ = rt.block_on(timer_task);
        let mut late = lateness.lock().unwrap().clone();
        late.sort_by(f64::total_cmp);
        let (a, b) = (delay_buckets(&text0), delay_buckets(&text1));
        let misses = total(&text1, "bfd_detection_time_misses_total{")
            - total(&text0, "bfd_detection_time_misses_total{");
        let pps = (total(&text1, "bfd_packets_sent_total{") - total(&text0, "bfd_packets_sent_total{")) / dt;
        println!(
            "{what:<36} ferrolb-bfd thread {:>5.2} % of a core, BIRD {:>5.2} %, {pps:>5.0} packets/s sent; \
             BFD transmit delay p50 ≤ {:.1} ms, p99 ≤ {:.1} ms, max ≤ {:.1} ms; detection-time misses {misses:.0}; \
             a 50 ms timer on the main runtime ends late by p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            (ours1 - ours0) / dt * 100.0,
            (bird1 - bird0) / dt * 100.0,
            bucket_quantile(&a, &b, 0.5) * 1e3,
            bucket_quantile(&a, &b, 0.99) * 1e3,
            bucket_quantile(&a, &b, 1.0) * 1e3,
            quantile(&late, 0.5),
            quantile(&late, 0.99),
            late.last().copied().unwrap_or_default(),
        );
    };
    measure("main runtime idle:", false);
    measure("main runtime saturated (4 busy tasks):", true);
    drop(engine);
    let _ = bird.stop(Duration::from_secs(2));
    Some(())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("FERROLB_BENCH_ONLY").unwrap_or_default();
    let run = |section: &str| only.is_empty() || only.split(',').any(|s| s.trim() == section);
    let trials = usize::try_from(env_u64("FERROLB_BENCH_TRIALS", if full { 30 } else { 2 })).unwrap_or(30);
    let chosen = std::env::var("FERROLB_BENCH_ROUTERS").unwrap_or_default();
    let routers: Vec<RouterKind> = [RouterKind::Bird, RouterKind::Frr]
        .into_iter()
        .filter(|k| full || *k == RouterKind::Bird)
        .filter(|k| chosen.is_empty() || chosen.to_lowercase().contains(&format!("{k:?}").to_lowercase()))
        .collect();
    let routers = routers.as_slice();
    if run("failover") {
        println!("\n## node hard loss → the router's kernel route without its next hop ({trials} trials)");
        for &kind in routers {
            let cases = std::env::var("FERROLB_BENCH_CASES").unwrap_or_default();
            let wanted = |c: &Case| {
                (full || c.bfd == Some((100, 3)))
                    && (cases.is_empty() || cases.split(',').any(|w| c.name.contains(w.trim())))
            };
            for case in CASES.iter().filter(|c| wanted(c)) {
                let Some((mut routes, mut outages)) = failover(kind, *case, trials) else {
                    println!("skipped: the lab cannot run here");
                    return;
                };
                report(&format!("{kind:?}, {}: route", case.name), &mut routes);
                if case.probe {
                    report(&format!("{kind:?}, {}: client outage", case.name), &mut outages);
                }
            }
        }
    }
    if run("loss") {
        let secs = env_u64("FERROLB_BENCH_LOSS_SECS", if full { 60 } else { 3 });
        println!("\n## 10 % loss on BFD and BGP packets, both ways, both nodes, {secs} s");
        for &kind in routers {
            for mult in if full { vec![3, 4, 5] } else { vec![3] } {
                let Some((bfd, bgp)) = loss(kind, 100, mult, secs) else {
                    println!("skipped: the lab cannot run here");
                    return;
                };
                println!("{kind:?}, 100 ms × {mult}: {bfd} BFD failures, {bgp} BGP sessions re-established");
            }
        }
    }
    if run("cpu") {
        println!("\n## BFD sessions on one speaker, 50 ms × 3");
        if cpu(if full { 100 } else { 10 }, if full { 20 } else { 2 }).is_none() {
            println!("skipped: the lab cannot run here");
        }
    }
}
