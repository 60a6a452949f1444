//! The end-to-end figures of docs/performance.md, from the whole system in the lab (the embedded API server,
//! `ferrolb-controller` ×2 and `ferrolb-speaker` ×3 as the manifests run them, a client on the segment):
//!
//! - **Service created → VIP serving**: for each of N Services (one after the other), the time from the
//!   Service's create to (a) its IP in `status.loadBalancer.ingress` and (b) the client's first answered HTTP
//!   request through that IP — which needs the owner's ARP answer first, since the client has never seen
//!   the address. The client keeps trying the address the Service will get (the pool's next free one; the
//!   bench checks it was that one) with one connection attempt at a time, each bounded to 50 ms, and
//!   re-sends ARP every 10 ms while unanswered (`retrans_time_ms` on its `eth0`). kube-proxy's own work is
//!   left out: the stand-in's DNAT for the whole pool is installed before the first Service.
//! - **Layer2 failover**: F times, the node answering for a Service's IP dies — its link is cut, then every
//!   program on it is killed (`kill -9`) — while the client, which resolved the IP afresh, requests
//!   http://IP/ every 10 ms (50 ms each at most); the outage is the time from the first failed request to
//!   the first answered one. The node then comes back (new pods) and takes its IP back before the next
//!   round. Rounds go over different Services, so different nodes fail.
//!
//! `cargo build --release -p ferrolb-controller -p ferrolb-speaker && sudo cargo bench -p ferrolb-e2e --bench
//! e2e` (60 Services, 40 failovers, about 2 minutes). Under `cargo test --all-targets` (no `--bench`
//! argument) it runs a smoke pass: 3 Services, 2 failovers. Needs root and the lab tools (skipped outside
//! CI, failing under `CI=true`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ferrolb_e2e::system::objects::{ServiceSpec, endpoint_slice};
use ferrolb_e2e::system::{Kind, System, SystemSpec};
use ferrolb_netlab::{LbService, ProbeOptions, ProbeProto};

const POOL_FIRST: u8 = 100;
const POOL_SIZE: u8 = 100;
const NODE_PORT: u16 = 30999;
const DEADLINE: Duration = Duration::from_secs(10);

fn config() -> String {
    format!(
        "address-pools:\n- name: bench\n  protocol: layer2\n  addresses:\n  - 192.0.2.{POOL_FIRST}-192.0.2.{}\n",
        POOL_FIRST + POOL_SIZE - 1
    )
}

fn pool_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, POOL_FIRST + u8::try_from(i).expect("fits the pool"))
}

/// One HTTP request to `addr` from the calling thread's namespace, the whole exchange within `timeout`.
fn request(addr: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(body)
}

/// Nearest-rank percentile of sorted `v`.
fn percentile(v: &[Duration], q: f64) -> Duration {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn summary(name: &str, mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    format!(
        "  {name:<34} n={:<3} min {:>9}  p50 {:>9}  p99 {:>9}  max {:>9}",
        v.len(),
        ms(v[0]),
        ms(percentile(&v, 0.50)),
        ms(percentile(&v, 0.99)),
        ms(v[v.len() - 1])
    )
}

/// Creates `n` Services one after the other; returns (create → status, create → first served request).
fn create_to_serving(sys: &System, n: usize) -> (Vec<Duration>, Vec<Duration>) {
    let client = sys.lab().client().ns().clone();
    let (mut to_status, mut to_served) = (Vec::new(), Vec::new());
    for i in 0..n {
        let name = format!("svc-{i}");
        let ip = pool_ip(i);
        // the pods exist before the Service, as they usually do
        sys.apply(&endpoint_slice("default", &name, &["node1", "node2", "node3"]))
            .expect("endpoints");
        let target = SocketAddr::new(IpAddr::V4(ip), 80);
        let start = Instant::now();
        let served = client
            .spawn(&format!("bench-client-{i}"), move || {
                while start.elapsed() < DEADLINE {
                    match request(target, Duration::from_millis(50)) {
                        Ok(body) if !body.is_empty() => return Some(start.elapsed()),
                        // answered but not served (never seen): try again
                        Ok(_) => {}
                        // refused or unreachable come back at once: do not spin
                        Err(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
                None
            })
            .expect("client thread");
        sys.admin()
            .create(&ServiceSpec::new(&name).object())
            .expect("create");
        let got = loop {
            let ips = sys.ingress_ips("default", &name);
            if let Some(ip) = ips.first() {
                break *ip;
            }
            assert!(start.elapsed() < DEADLINE, "{name}: no IP after {DEADLINE:?}");
            std::thread::sleep(Duration::from_millis(1));
        };
        to_status.push(start.elapsed());
        assert_eq!(
            got,
            IpAddr::V4(ip),
            "{name} got another IP than the pool's next free one"
        );
        let served = served
            .join()
            .expect("client thread")
            .expect("client in its namespace")
            .unwrap_or_else(|| panic!("{name} ({ip}) not served within {DEADLINE:?}"));
        to_served.push(served);
    }
    (to_status, to_served)
}

/// `rounds` failovers of different Services' owners; returns the outages.
fn failovers(sys: &System, services: usize, rounds: usize) -> Vec<Duration> {
    let mut outages = Vec::new();
    for round in 0..rounds {
        let ip = pool_ip(round % services);
        let (owner, _) = sys.wait_arp_owner(ip, DEADLINE).expect("an owner");
        // each round starts from a client that resolves the VIP afresh
        sys.lab()
            .ip("client", &["neigh", "flush", "to", &ip.to_string()])
            .expect("neigh flush");
        let probe = sys
            .lab()
            .start_probe(
                "client",
                SocketAddr::new(IpAddr::V4(ip), 80),
                ProbeProto::Tcp,
                ProbeOptions::default(),
            )
            .expect("probe");
        probe
            .wait_for("answers from the owner", DEADLINE, |r| {
                r.last_responder() == Some(owner.as_str())
            })
            .expect("answered");
        sys.kill_node(&owner).expect("the owner node dies");
        probe
            .wait_for("another node to answer", DEADLINE, |r| {
                r.last_responder().is_some_and(|n| n != owner)
            })
            .expect("failover");
        let report = probe.stop().expect("probe");
        let outage = report
            .longest_outage()
            .and_then(|o| o.duration())
            .unwrap_or_default();
        outages.push(outage);
        // back (new pods), and settled: the node answers for its IP again, every speaker sees three members
        sys.revive_node(&owner).expect("the node comes back");
        sys.wait("the node to take its IP back", DEADLINE, || {
            Ok((sys.wait_arp_owner(ip, DEADLINE)?.0 == owner
                && sys.node_names().iter().all(|n| {
                    sys.metric(Kind::Speaker, n, "ferrolb_memberlist_members")
                        .is_ok_and(|m| m == 3.0)
                }))
            .then_some(()))
        })
        .expect("settled");
    }
    outages
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (services, rounds) = if full { (60, 40) } else { (3, 2) };
    let spec = SystemSpec::with_config(&config());
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    // The client re-sends ARP every 10 ms while an address is unanswered (the default is 1 s).
    sys.lab()
        .client()
        .ns()
        .write_sysctls(&[("net.ipv4.neigh.eth0.retrans_time_ms", "10")])
        .expect("client sysctl");
    // kube-proxy's part, done beforehand for the whole pool: DNAT of every pool IP to each node's backend.
    let mut pool = LbService::tcp("pool", IpAddr::V4(pool_ip(0)), 80, NODE_PORT);
    pool.vips = (0..usize::from(POOL_SIZE))
        .map(|i| IpAddr::V4(pool_ip(i)))
        .collect();
    sys.lab().add_service(&pool).expect("kube-proxy stand-in");

    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "ferrolb end-to-end benchmark ({}; test binary built {build}; programs from {})",
        if full {
            "full"
        } else {
            "smoke: run with `cargo bench`"
        },
        ferrolb_e2e::programs::program("ferrolb-speaker")
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    let (to_status, to_served) = create_to_serving(&sys, services);
    println!("{}", summary("Service created → IP in status", to_status));
    println!("{}", summary("Service created → VIP serving", to_served));
    let outages = failovers(&sys, services, rounds);
    println!("{}", summary("layer2 failover (owner node dies)", outages));
    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("  load average: {}", load.trim());
    }
}
