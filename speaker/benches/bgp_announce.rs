//! Benchmark: 10,000 service IPs announced by ferrolb's BGP speaker to one receiver (BIRD 2), side by side in
//! the same run with gobgpd announcing the same 10,000 prefixes to the same receiver.
//!
//! ```text
//!   sudo cargo bench -p ferrolb-speaker --bench bgp_announce        # the figures in docs/performance.md
//! ```
//!
//! Lab: `router` runs BIRD (routes not installed in the kernel), `node1` a ferrolb `BgpSpeaker` (in-process,
//! its socket in node1's namespace), `node2` gobgpd 3.10; each has one IPv6 session to BIRD. The prefixes are
//! IPv6 /128s in 2001:db8:100::/64 (10,000 IPv4 addresses do not fit in the documentation prefixes).
//!
//! The comparison is the initial advertisement: both speakers hold the 10,000 routes before their session
//! comes up, and the figure is the time from the session becoming Established at BIRD (BIRD's own timestamp,
//! millisecond resolution) until BIRD has imported all 10,000 routes from it (BIRD's control socket polled
//! every millisecond), plus the UPDATE messages sent. gobgpd gets its routes with `gobgp mrt inject global` while its session is down
//! (GoBGP 3.10 drops the tail of an injection stream, so it is repeated until the RIB holds them all); the
//! session is then started by enabling BIRD's protocol. ferrolb's session is started by handing the speaker
//! a target with the peer. Rounds alternate which speaker goes first.
//!
//! ferrolb alone is also measured on a live session: `BgpSpeaker::set` with 10,000 new IPs until BIRD holds
//! them all, and back to none until BIRD holds none (announce and withdraw latency).
//!
//! Without `--bench` (e.g. `cargo test --all-targets`) it runs one round with 200 prefixes as a smoke test.
//! It needs root and the lab's tools; without them it is skipped (and fails under `CI=true`).

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrolb_config::{BgpAdvertisement, Peer as ConfigPeer};
use ferrolb_netlab::routers::protocol_name;
use ferrolb_netlab::{BgpConfig, BgpRouter, Bird, Gobgpd, Lab, Netns, Peer, Tool, TopologySpec};
use ferrolb_speaker::bgp::{BgpMetrics, BgpOptions, BgpSpeaker, BgpTarget, SocketFactory};
use serde_json::Value;

const ROUTER_AS: u32 = 64512;
const NODE_AS: u32 = 64513;
/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(60);

fn prefixes(n: usize) -> Vec<Ipv6Addr> {
    let base = u128::from("2001:db8:100::".parse::<Ipv6Addr>().unwrap());
    (1..=n as u128).map(|i| Ipv6Addr::from(base + i)).collect()
}

/// An MRT TABLE_DUMP_V2 file (RFC 6396) with one path per prefix from `peer` (AS `asn`), next hop
/// `next_hop`, as `gobgp mrt inject` reads it (MP_REACH_NLRI in full, not the abbreviated form).
fn write_mrt(path: &Path, ips: &[Ipv6Addr], peer: Ipv6Addr, peer_id: [u8; 4], asn: u32, next_hop: Ipv6Addr) {
    fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes()); // timestamp
        out.extend_from_slice(&13u16.to_be_bytes()); // TABLE_DUMP_V2
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    let mut out = Vec::new();
    // PEER_INDEX_TABLE: collector ID, empty view name, one peer (IPv6 address, 4-byte AS)
    let mut body = Vec::new();
    body.extend_from_slice(&peer_id);
    body.extend_from_slice(&0u16.to_be_bytes());
    body.extend_from_slice(&1u16.to_be_bytes());
    body.push(0b11);
    body.extend_from_slice(&peer_id);
    body.extend_from_slice(&peer.octets());
    body.extend_from_slice(&asn.to_be_bytes());
    record(&mut out, 1, &body);
    for (seq, ip) in ips.iter().enumerate() {
        let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN IGP
        attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH: one AS_SEQUENCE of one 4-byte AS
        attrs.extend_from_slice(&asn.to_be_bytes());
        let mut mp = vec![0, 2, 1, 16]; // AFI 2, SAFI 1, next hop length 16
        mp.extend_from_slice(&next_hop.octets());
        mp.extend_from_slice(&[0, 128]);
        mp.extend_from_slice(&ip.octets());
        attrs.extend_from_slice(&[0x80, 14, mp.len() as u8]);
        attrs.extend_from_slice(&mp);
        // RIB_IPV6_UNICAST: sequence, prefix, one entry (peer 0, time 0, attributes)
        let mut body = Vec::new();
        body.extend_from_slice(&(seq as u32).to_be_bytes());
        body.push(128);
        body.extend_from_slice(&ip.octets());
        body.extend_from_slice(&1u16.to_be_bytes());
        body.extend_from_slice(&0u16.to_be_bytes());
        body.extend_from_slice(&0u32.to_be_bytes());
        body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        body.extend_from_slice(&attrs);
        record(&mut out, 4, &body);
    }
    std::fs::write(path, out).expect("writing the MRT file");
}

/// A client of BIRD's control socket (faster to poll than spawning `birdc`).
struct BirdControl {
    reader: BufReader<UnixStream>,
    clock: LocalClock,
}

/// Local time of day, as BIRD prints timestamps.
struct LocalClock {
    /// Seconds east of UTC.
    offset: f64,
}

impl LocalClock {
    fn new() -> LocalClock {
        let out = std::process::Command::new("date")
            .arg("+%z")
            .output()
            .expect("date");
        let z = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let sign = if z.starts_with('-') { -1.0 } else { 1.0 };
        let digits: String = z.chars().filter(char::is_ascii_digit).collect();
        let (h, m) = digits.split_at(2.min(digits.len()));
        let offset =
            sign * (h.parse::<f64>().unwrap_or(0.0) * 3600.0 + m.parse::<f64>().unwrap_or(0.0) * 60.0);
        LocalClock { offset }
    }

    /// Seconds after local midnight, now.
    fn now(&self) -> f64 {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        (t + self.offset).rem_euclid(86_400.0)
    }
}

/// `17:40:33.727` as seconds after midnight.
fn seconds_of_day(s: &str) -> Option<f64> {
    let mut parts = s.split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !sec.contains('.') {
        return None;
    }
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + sec.parse::<f64>().ok()?)
}

impl BirdControl {
    fn connect(socket: &Path) -> BirdControl {
        let stream = UnixStream::connect(socket).expect("BIRD control socket");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut c = BirdControl {
            reader: BufReader::new(stream),
            clock: LocalClock::new(),
        };
        c.reply(); // greeting
        c
    }

    /// The reply lines up to the last one (a 4-digit code followed by a space), without their codes.
    fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("BIRD closed its control socket");
            }
            let last = line.len() >= 5
                && line.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && line.as_bytes()[4] == b' ';
            let coded = line.len() >= 5 && line.as_bytes()[..4].iter().all(u8::is_ascii_digit);
            lines.push(if coded { line[5..].to_string() } else { line });
            if last {
                return lines;
            }
        }
    }

    /// Protocol `name`: Established since when (seconds after local midnight, as BIRD prints it), and
    /// the routes it imported.
    fn protocol(&mut self, name: &str) -> (Option<f64>, usize) {
        writeln!(self.reader.get_mut(), "show protocols all {name}").unwrap();
        let reply = self.reply();
        let established = reply.iter().any(|l| {
            l.trim()
                .strip_prefix("BGP state:")
                .is_some_and(|s| s.trim() == "Established")
        });
        let since = reply
            .iter()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().find_map(seconds_of_day));
        let imported = reply
            .iter()
            .find_map(|l| {
                let rest = l.trim().strip_prefix("Routes:")?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0);
        (since.filter(|_| established), imported)
    }

    /// Sends a command (`enable p_x`, `disable p_x`) and returns its reply.
    fn command(&mut self, cmd: &str) -> Vec<String> {
        writeln!(self.reader.get_mut(), "{cmd}").unwrap();
        self.reply()
    }

    /// Polls protocol `name` every millisecond until it has imported exactly `n` routes; returns when that
    /// was seen, and how long after the session became Established (BIRD's own timestamp) if it is up.
    fn wait_imported(&mut self, name: &str, n: usize) -> (Instant, Option<Duration>) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (since, got) = self.protocol(name);
            let now = Instant::now();
            if got == n {
                let after_up = since.map(|t| {
                    let d = (self.clock.now() - t).rem_euclid(86_400.0);
                    Duration::from_secs_f64(d)
                });
                return (now, after_up);
            }
            assert!(now < deadline, "BIRD imported {got} routes from {name}, not {n}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Waits until protocol `name` is not Established and has no routes.
    fn wait_down(&mut self, name: &str) {
        let deadline = Instant::now() + WAIT;
        while self.protocol(name) != (None, 0) {
            assert!(Instant::now() < deadline, "{name} stays up");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// UPDATEs gobgpd has sent to `neighbor`.
fn gobgp_updates_sent(g: &Gobgpd, neighbor: IpAddr) -> u64 {
    let out = g.cli(&["-j", "neighbor", &neighbor.to_string()]).unwrap();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    v.pointer("/state/messages/sent/update")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

struct Sample {
    secs: f64,
    updates: u64,
}

fn summary(name: &str, samples: &[Sample]) -> f64 {
    let mut t: Vec<f64> = samples.iter().map(|s| s.secs).collect();
    t.sort_by(f64::total_cmp);
    let median = t[t.len() / 2];
    let updates: Vec<String> = samples.iter().map(|s| s.updates.to_string()).collect();
    println!(
        "{name:<10} median {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms   UPDATE messages per round: {}",
        median * 1e3,
        t[0] * 1e3,
        t[t.len() - 1] * 1e3,
        updates.join(", ")
    );
    median
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (count, rounds) = if full { (10_000, 5) } else { (200, 1) };
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Bird, Tool::Gobgp]) else {
        return;
    };
    let (n1, n2) = (lab.node(1).clone(), lab.node(2).clone());
    let router6 = lab.router().ipv6();
    // BIRD: passive towards ferrolb (it dials), dialing gobgpd (whose own first dial takes 5-9 s)
    let mut cfg = BgpConfig::new(ROUTER_AS, lab.router().ipv4())
        .peer(Peer::new(IpAddr::V6(n1.ipv6()), NODE_AS).passive())
        .peer(Peer::new(IpAddr::V6(n2.ipv6()), NODE_AS));
    cfg.install_routes = false;
    let bird = Bird::start(&lab, "router", &cfg).expect("BIRD");
    let mut gcfg =
        BgpConfig::new(NODE_AS, n2.ipv4()).peer(Peer::new(IpAddr::V6(router6), ROUTER_AS).passive());
    gcfg.hold_time = 90;
    let gobgpd = Gobgpd::start(&lab, "node2", &gcfg).expect("gobgpd");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ns: Netns = n1.ns().clone();
    let mut speaker = {
        let _guard = rt.enter();
        let factory = SocketFactory::new(move |d, ty, protocol| {
            ns.socket(d, ty, protocol)
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        BgpSpeaker::new(
            BgpOptions {
                node_name: "node1".into(),
                socket_factory: factory,
                ..BgpOptions::default()
            },
            BgpMetrics::new(),
        )
    };
    let mut router_peer = ConfigPeer {
        name: "peer1".into(),
        address: IpAddr::V6(router6),
        port: 179,
        asn: ROUTER_AS,
        my_asn: NODE_AS,
        source_address: None,
        hold_time: Duration::from_secs(90),
        keepalive_time: Duration::from_secs(30),
        router_id: None,
        password: None,
        bfd_profile: None,
        ebgp_multihop: false,
        dual_stack_address_family: false,
        node_selectors: Vec::new(),
        connect_time: None,
        graceful_restart: true,
    };
    router_peer.router_id = Some(n1.ipv4());
    let ips = prefixes(count);
    let target = |peers: &[ConfigPeer], ips: &[Ipv6Addr]| BgpTarget {
        node_addresses: vec![IpAddr::V4(n1.ipv4()), IpAddr::V6(n1.ipv6())],
        peers: peers.to_vec(),
        prefixes: ips
            .iter()
            .map(|ip| {
                (
                    IpAddr::V6(*ip),
                    vec![BgpAdvertisement::with_defaults(
                        "bgpadvertisement1",
                        vec!["bgp".into()],
                    )],
                )
            })
            .collect(),
        ..BgpTarget::default()
    };
    speaker.set(&target(&[router_peer.clone()], &[]));
    bird.wait_established(2, WAIT).expect("both sessions up");
    // forward and reversed: GoBGP 3.10 loses the tail of an injection stream, the other order fills it in
    let mrt: Vec<String> = [false, true]
        .iter()
        .map(|&reversed| {
            let path = lab.dir().join(format!("prefixes-{reversed}.mrt"));
            let mut order = ips.clone();
            if reversed {
                order.reverse();
            }
            write_mrt(&path, &order, n2.ipv6(), n2.ipv4().octets(), NODE_AS, n2.ipv6());
            path.to_string_lossy().into_owned()
        })
        .collect();

    let mut control = BirdControl::connect(&lab.dir().join("router-bird.ctl"));
    let (p_ferrolb, p_gobgp) = (
        protocol_name(IpAddr::V6(n1.ipv6())),
        protocol_name(IpAddr::V6(n2.ipv6())),
    );
    let router = IpAddr::V6(router6);
    let peer_key = SocketAddr::new(router, 179);

    // gobgpd gets its routes while its session is down
    control.command(&format!("disable {p_gobgp}"));
    control.wait_down(&p_gobgp);
    for attempt in 1.. {
        let out = gobgpd
            .cli(&["mrt", "inject", "global", &mrt[attempt % 2]])
            .unwrap();
        assert!(
            out.success() && out.stderr.is_empty(),
            "gobgp mrt inject: {}",
            out.stderr
        );
        let summary = gobgpd
            .cli(&["global", "rib", "-a", "ipv6", "summary"])
            .unwrap()
            .stdout;
        if summary.contains(&format!("Path: {count}")) {
            break;
        }
        assert!(attempt < 20, "gobgpd never held {count} routes: {summary}");
    }

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for turn in 0..2 {
            if (round + turn) % 2 == 0 {
                // ferrolb: the routes are there, the peer is added
                speaker.set(&target(&[], &ips));
                control.wait_down(&p_ferrolb);
                speaker.set(&target(&[router_peer.clone()], &ips));
                let (_, after_up) = control.wait_imported(&p_ferrolb, count);
                ours.push(Sample {
                    secs: after_up.expect("session up").as_secs_f64(),
                    updates: speaker.status()[&peer_key].updates_sent,
                });
            } else {
                let before = gobgp_updates_sent(&gobgpd, router);
                control.command(&format!("enable {p_gobgp}"));
                let (_, after_up) = control.wait_imported(&p_gobgp, count);
                let after = gobgp_updates_sent(&gobgpd, router);
                theirs.push(Sample {
                    secs: after_up.expect("session up").as_secs_f64(),
                    updates: if after >= before { after - before } else { after },
                });
                control.command(&format!("disable {p_gobgp}"));
                control.wait_down(&p_gobgp);
            }
        }
    }

    // ferrolb on a live session: announce every IP, then withdraw them all
    let (mut announce, mut withdraw) = (Vec::new(), Vec::new());
    speaker.set(&target(&[router_peer.clone()], &[]));
    control.wait_imported(&p_ferrolb, 0);
    for _ in 0..rounds {
        let before = speaker.status()[&peer_key].updates_sent;
        let t0 = Instant::now();
        speaker.set(&target(&[router_peer.clone()], &ips));
        let (all, _) = control.wait_imported(&p_ferrolb, count);
        let mid = speaker.status()[&peer_key].updates_sent;
        announce.push(Sample {
            secs: (all - t0).as_secs_f64(),
            updates: mid - before,
        });
        let t0 = Instant::now();
        speaker.set(&target(&[router_peer.clone()], &[]));
        let (none, _) = control.wait_imported(&p_ferrolb, 0);
        withdraw.push(Sample {
            secs: (none - t0).as_secs_f64(),
            updates: speaker.status()[&peer_key].updates_sent - mid,
        });
    }

    println!(
        "BGP announce: {count} IPv6 /128 service IPs to BIRD over one IPv6 session, {rounds} round(s) each{}",
        if full {
            ""
        } else {
            " (smoke pass: the times are not meaningful; run with --bench)"
        }
    );
    println!("initial advertisement, from BIRD's session Established to all {count} routes imported:");
    let a = summary("ferrolb", &ours);
    let b = summary("gobgpd", &theirs);
    println!("ratio ferrolb / gobgpd (medians): {:.2} (goal <= 1.0)", a / b);
    println!("ferrolb on a live session, from BgpSpeaker::set to BIRD holding all / none of them:");
    summary("announce", &announce);
    summary("withdraw", &withdraw);
    rt.block_on(speaker.shutdown());
}
