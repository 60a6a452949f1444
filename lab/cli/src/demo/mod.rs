//! `ferrolb-lab demo`: the whole system in a network-namespace lab, told step by step with the evidence an
//! operator would look at, then torn down.
//!
//! 1. prerequisites: root, the lab's Debian packages (installed when missing), the programs (built by cargo
//!    when the demo was started with `cargo run`);
//! 2. the lab: a router (BIRD), an `api` host, three nodes and a client on one segment, `ext` behind the router;
//! 3. Kubernetes: the embedded API server, `ferrolb-controller` (two replicas) and `ferrolb-speaker` (one per
//!    node) run as `deploy/ferrolb.yaml` runs them;
//! 4. `examples/`: the config (a layer2 pool, a bgp pool, the router as peer) and two Services;
//! 5. layer2: the assigned IP, the MAC that answers `arping` and whose it is, a request through the VIP;
//! 6. BGP: the router's route with one next hop per node, requests from behind the router;
//! 7. failover: the owner node dies, the outage a client saw, in milliseconds;
//! 8. teardown (also after a failure or Ctrl-C). The exit status is non-zero if any step failed.

mod setup;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferrolb_e2e::system::objects::ingress_of;
use ferrolb_e2e::system::{Kind, NODE_ASN, ROUTER_ASN, System, SystemError, SystemSpec};
use ferrolb_netlab::probes::{http_url, parse_arping_macs};
use ferrolb_netlab::{BgpRouter, Lab, ProbeOptions, ProbeProto, Router, RouterKind, Tool, TopologySpec};

pub use setup::SetupError;

/// The manifests the demo applies (compiled in from `examples/`).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/config.yaml",
        include_str!("../../../../examples/config.yaml"),
    ),
    (
        "examples/web-layer2.yaml",
        include_str!("../../../../examples/web-layer2.yaml"),
    ),
    (
        "examples/web-bgp.yaml",
        include_str!("../../../../examples/web-bgp.yaml"),
    ),
];
const WAIT: Duration = Duration::from_secs(30);
const STEPS: usize = 8;

/// `ferrolb-lab demo` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Do not install missing Debian packages (fail instead).
    #[arg(long)]
    pub no_install: bool,
    /// Do not build ferrolb-controller and ferrolb-speaker with cargo; use those next to ferrolb-lab.
    #[arg(long)]
    pub no_build: bool,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Before the lab: root, packages, programs, signals.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The system in the lab.
    #[error(transparent)]
    System(#[from] SystemError),
    /// The lab itself.
    #[error(transparent)]
    Lab(#[from] ferrolb_netlab::LabError),
    /// What was seen is not what ferrolb promises.
    #[error("{0}")]
    Check(String),
}

/// Runs the demo; the exit status is 0 when every step passed, 130 after Ctrl-C, 1 otherwise.
pub fn run(args: &DemoArgs) -> ExitCode {
    println!("ferrolb demo: the whole system in a network-namespace lab (documentation prefixes only)");
    let started = Instant::now();
    let flag = match setup::interrupt_flag() {
        Ok(flag) => flag,
        Err(e) => {
            eprintln!("demo failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match demo(args, flag.clone()) {
        Ok(summary) => {
            println!(
                "\ndemo passed in {:.1} s: {summary}",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        // Ctrl-C also reaches the programs in the lab, so the step in flight may fail first: either way
        // it was the interrupt.
        Err(_) if flag.load(Ordering::Relaxed) => {
            eprintln!("demo interrupted; the lab is torn down");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Story {
    started: Instant,
    step: usize,
}

impl Story {
    fn step(&mut self, title: &str) {
        self.step += 1;
        println!(
            "\n[{}/{STEPS}] {title}  (at {:.1} s)",
            self.step,
            self.started.elapsed().as_secs_f64()
        );
    }
}

fn say(line: impl AsRef<str>) {
    println!("   {}", line.as_ref());
}

/// Output of a command, indented, as evidence.
fn show(prompt: &str, text: &str) {
    println!("   {prompt}");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        println!("     {line}");
    }
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

fn demo(args: &DemoArgs, flag: Arc<AtomicBool>) -> Result<String, DemoError> {
    let mut story = Story {
        started: Instant::now(),
        step: 0,
    };
    story.step("prerequisites");
    prerequisites(args)?;

    story.step("the lab");
    let lab = Lab::new(TopologySpec::new(3).with_api_host())?;
    say(format!(
        "one Ethernet segment 192.0.2.0/24 (a bridge), each host a network namespace ({}*), built in {}",
        lab.prefix(),
        ms(lab.setup_time())
    ));
    say("router 192.0.2.1 (BIRD, AS 64512), with ext 198.51.100.10 behind it");
    say("api 192.0.2.2 (the API server), node1-3 192.0.2.11-13, client 192.0.2.50");

    story.step("Kubernetes, with ferrolb installed as deploy/ferrolb.yaml installs it");
    let spec = SystemSpec {
        tools: vec![Tool::Arping, Tool::Nft, Tool::Curl, Tool::Bird],
        ..SystemSpec::default()
    };
    let sys = System::start(lab, spec, Some(flag.clone()))?;
    let result = story_in_lab(&mut story, &sys);
    if result.is_err() && !flag.load(Ordering::Relaxed) {
        eprintln!("\nthe programs' last log lines:\n{}", sys.logs(8));
    }
    let summary = result?;

    story.step("teardown");
    let prefix = sys.lab().prefix().to_owned();
    let t = Instant::now();
    sys.shutdown()?;
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        return Err(DemoError::Check(format!("namespaces left behind: {left:?}")));
    }
    say(format!(
        "programs stopped, namespaces {prefix}* and their files removed in {}",
        ms(t.elapsed())
    ));
    Ok(summary)
}

fn prerequisites(args: &DemoArgs) -> Result<(), DemoError> {
    setup::require_root()?;
    let missing = setup::missing_packages();
    if missing.is_empty() {
        say(format!(
            "root; Debian packages present: {}",
            setup::PACKAGES.join(" ")
        ));
    } else if args.no_install {
        return Err(SetupError::Packages {
            packages: missing.join(" "),
            reason: "--no-install was given".into(),
        }
        .into());
    } else {
        setup::install(&missing)?;
    }
    ferrolb_netlab::prereq::check(&[Tool::Arping, Tool::Nft, Tool::Curl, Tool::Bird]).map_err(|reason| {
        SetupError::Packages {
            packages: setup::PACKAGES.join(" "),
            reason,
        }
    })?;
    let cargo = std::env::var_os("CARGO");
    match cargo {
        Some(cargo) if !args.no_build => {
            let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .unwrap_or_else(|| std::path::Path::new("."));
            setup::build_programs(std::path::Path::new(&cargo), workspace)?;
        }
        _ => {}
    }
    for p in setup::PROGRAMS {
        let path = ferrolb_e2e::programs::find_program(p).map_err(SetupError::Programs)?;
        say(format!("{p}: {}", path.display()));
    }
    Ok(())
}

fn story_in_lab(story: &mut Story, sys: &System) -> Result<String, DemoError> {
    say(format!(
        "API server {} (embedded: real REST and watch, in memory)",
        sys.api_url()
    ));
    for p in sys.programs() {
        say(format!("{} on {} (pid {})", p.pod, p.node, p.pid));
    }
    say(
        "each with the manifest's arguments, environment, user and capabilities, and its ServiceAccount's token",
    );
    say(format!(
        "leader: {} (Lease ferrolb-system/ferrolb-controller); all running after {:.1} s, waiting for a configuration",
        sys.leader().unwrap_or_default(),
        sys.uptime().as_secs_f64()
    ));

    story.step("applying examples/");
    let applied_at = Instant::now();
    for (file, text) in EXAMPLES {
        for (kind, ns, name) in sys.apply_yaml(file, text, "default")? {
            say(format!("{file}: {kind} {ns}/{name}"));
        }
    }
    sys.wait_ready(WAIT)?;
    say(format!(
        "every controller and speaker ready {:.1} s after the apply (/readyz: a valid configuration)",
        applied_at.elapsed().as_secs_f64()
    ));
    // What the endpoint controller would write for backend.yaml's three pods.
    for svc in ["web", "web-bgp"] {
        sys.set_endpoints("default", svc, &["node1", "node2", "node3"])?;
    }
    say(
        "and, standing in for Kubernetes' endpoint controller, an EndpointSlice per Service: a pod on each node",
    );

    story.step("layer2: Service web");
    let ip = sys.wait_ingress("default", "web", WAIT)?;
    let IpAddr::V4(ip4) = ip else {
        return Err(DemoError::Check(format!("web got {ip}, not an IPv4 address")));
    };
    let svc = sys.service("default", "web").unwrap_or_default();
    say(format!(
        "web got {ip} from pool {} {} after the apply (status.loadBalancer.ingress)",
        svc["metadata"]["annotations"]["ferrolb.io/ip-allocated-from-pool"]
            .as_str()
            .unwrap_or("?"),
        ms(applied_at.elapsed())
    ));
    if ferrolb_e2e::programs::kubectl().is_some() {
        show(
            "$ kubectl get svc",
            &sys.kubectl(&["get", "svc", "-n", "default"])?,
        );
    }
    let (owner, mac) = sys.wait_arp_owner(ip4, WAIT)?;
    let arping = sys
        .lab()
        .cmd("client", "arping")?
        .args(["-i", "eth0", "-c", "3", "-W", "0.1", &ip.to_string()])
        .output()?;
    show(&format!("client$ arping -c 3 {ip}"), &arping.stdout);
    let macs = parse_arping_macs(&arping.stdout);
    if macs.is_empty() || macs.iter().any(|m| *m != mac) {
        return Err(DemoError::Check(format!(
            "arping {ip}: {macs:?}, expected only {mac}"
        )));
    }
    say(format!(
        "{mac} is {owner}'s eth0: {owner} alone answers ARP for {ip}"
    ));
    let served = sys.serve("default", "web")?;
    let answer = sys.lab().curl("client", &http_url(ip, 80))?;
    show(&format!("client$ curl http://{ip}/"), &answer);
    if answer != owner {
        return Err(DemoError::Check(format!("curl {ip}: {answer}, expected {owner}")));
    }
    say(format!(
        "the request reached {owner}, where kube-proxy (the lab's stand-in) sent it to nodePort {}",
        served.node_port
    ));

    story.step("BGP: Service web-bgp, routed by BIRD");
    let t = Instant::now();
    let router = sys.start_router(RouterKind::Bird, WAIT)?;
    say(format!(
        "BIRD (AS {ROUTER_ASN}) has a session with each speaker (AS {NODE_ASN}) after {}",
        ms(t.elapsed())
    ));
    let bgp_ip = sys.wait_ingress("default", "web-bgp", WAIT)?;
    say(format!("web-bgp got {bgp_ip} from pool bgp"));
    let next_hops = bgp_route(sys, &router, bgp_ip)?;
    sys.serve("default", "web-bgp")?;
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    sys.wait(&format!("ext to reach every node through {bgp_ip}"), WAIT, || {
        *answers
            .entry(sys.lab().curl("ext", &http_url(bgp_ip, 80))?)
            .or_default() += 1;
        Ok((answers.len() == 3).then_some(()))
    })?;
    say(format!(
        "ext$ curl http://{bgp_ip}/ (new source port each time), {} requests: {}",
        answers.values().sum::<usize>(),
        answers
            .iter()
            .map(|(n, c)| format!("{n} ×{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    say("the router spreads the flows over the three next hops (ECMP)");

    story.step(&format!("failover: {owner}, which answers for {ip}, dies"));
    let outage = failover(sys, ip, &owner)?;
    let (next, next_mac) = sys.wait_arp_owner(ip4, WAIT)?;
    say(format!("now {next_mac} ({next}'s eth0) answers ARP for {ip}"));
    if sys.ingress_ips("default", "web") != [ip] {
        return Err(DemoError::Check(format!(
            "web's IP changed: {:?}",
            ingress_of(&sys.service("default", "web").unwrap_or_default())
        )));
    }
    say(format!(
        "web keeps {ip}: the failover needed nothing from Kubernetes (no status write, no controller)"
    ));
    Ok(format!(
        "{ip} answered by {owner}; {bgp_ip} via {next_hops} next hops; failover to {next} in {}",
        ms(outage)
    ))
}

/// Waits for BIRD's route to `ip` with one next hop per node and shows it (BIRD's view, the kernel's).
fn bgp_route(sys: &System, router: &Router, ip: IpAddr) -> Result<usize, DemoError> {
    let prefix = ipnet::IpNet::from(ip);
    let nodes = sys.node_names().len();
    let paths = router.wait_route(prefix, WAIT, |p| p.len() == nodes)?;
    if let Router::Bird(bird) = router {
        show(
            &format!("router$ birdc show route for {ip}"),
            &bird.birdc(&["show", "route", "for", &ip.to_string()])?.stdout,
        );
    }
    sys.lab().wait_kernel_next_hops("router", prefix, nodes, WAIT)?;
    show(
        &format!("router$ ip route show {ip}"),
        &sys.lab()
            .ip("router", &["route", "show", &ip.to_string()])?
            .stdout,
    );
    let mut hops: Vec<IpAddr> = paths.iter().filter_map(|p| p.next_hop).collect();
    hops.sort();
    let named: Vec<String> = hops
        .into_iter()
        .map(|h| match h {
            IpAddr::V4(v4) => format!("{h} ({})", sys.node_of_ip(v4).unwrap_or_default()),
            IpAddr::V6(_) => h.to_string(),
        })
        .collect();
    say(format!("one next hop per node: {}", named.join(", ")));
    Ok(paths.len())
}

/// Kills `owner` (link cut, programs killed) while the client requests http://ip/ every 10 ms; returns the
/// outage the client saw.
fn failover(sys: &System, ip: IpAddr, owner: &str) -> Result<Duration, DemoError> {
    let probe = sys.lab().start_probe(
        "client",
        SocketAddr::new(ip, 80),
        ProbeProto::Tcp,
        ProbeOptions::default(),
    )?;
    sys.wait("the client's requests to be answered", WAIT, || {
        Ok((probe.snapshot().last_responder() == Some(owner)).then_some(()))
    })?;
    say(format!(
        "the client requests http://{ip}/ every 10 ms (50 ms each at most); {owner} answers"
    ));
    let led = sys.leader_node().is_some_and(|n| n == owner);
    let writes = sys.status_writes();
    sys.kill_node(owner)?;
    say(format!(
        "{owner} dies: its link is cut, its speaker{} killed (kill -9)",
        if led { " and the leading controller" } else { "" }
    ));
    sys.wait("another node to answer the client", WAIT, || {
        let r = probe.snapshot();
        Ok(r.last_responder().filter(|n| *n != owner).map(drop))
    })?;
    let report = probe.stop()?;
    if sys.status_writes() != writes {
        return Err(DemoError::Check("the failover wrote a Service status".into()));
    }
    let outage = report
        .longest_outage()
        .ok_or_else(|| DemoError::Check("the client saw no outage at all".into()))?;
    let took = outage
        .duration()
        .ok_or_else(|| DemoError::Check("the client's requests never recovered".into()))?;
    say(format!(
        "the client saw an outage of {} ({} failed requests), then {} answered",
        ms(took),
        outage.failed,
        report.last_responder().unwrap_or("?")
    ));
    if led {
        say(format!(
            "the standby controller takes the Lease when it expires (15 s): the VIP did not wait for it{}",
            if sys
                .programs()
                .iter()
                .any(|p| p.kind == Kind::Controller && p.exited.is_none())
            {
                ""
            } else {
                " (no standby is running)"
            }
        ));
    }
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_are_what_the_story_expects() {
        let names: Vec<String> = EXAMPLES
            .iter()
            .flat_map(|(f, t)| {
                ferrolb_e2e::manifest::Manifest::parse(f, t)
                    .unwrap()
                    .objects
                    .into_iter()
                    .map(|o| {
                        format!(
                            "{}/{}",
                            o["kind"].as_str().unwrap(),
                            o["metadata"]["name"].as_str().unwrap()
                        )
                    })
            })
            .collect();
        assert_eq!(names, ["ConfigMap/config", "Service/web", "Service/web-bgp"]);
        let config = ferrolb_e2e::manifest::Manifest::parse(EXAMPLES[0].0, EXAMPLES[0].1).unwrap();
        let text = config.objects[0]["data"]["config"].as_str().unwrap();
        let parsed = ferrolb_config::parse(text).expect("examples/config.yaml is valid");
        assert_eq!(parsed.pools.len(), 2);
        assert_eq!(parsed.peers.len(), 1);
    }
}
