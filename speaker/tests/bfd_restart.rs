//! BFD and graceful restart: what the routers do when a speaker stops while its node stays up.
//!
//! ferrolb's BFD is not control-plane independent (the C bit is clear): it runs in the speaker and stops with
//! it. A restart ends BGP without a NOTIFICATION (graceful restart: the router keeps the routes as stale) and
//! then takes BFD AdminDown; a crash (`kill -9`, the node alive) ends both without a word. Measured here, and
//! asserted so that docs/config.md stays true:
//!
//! - FRR 8.4 (`neighbor … bfd`): BGP is already in graceful restart when BFD goes down, and FRR lets the
//!   stale routes be: a restart and a crash both keep the node's next hop (and traffic flows) until the
//!   speaker is back.
//! - BIRD 2.0.12 (`bfd on`): a BFD Down during graceful restart (AdminDown included) ends it and flushes the
//!   routes: the node's next hop goes away at once on a restart, within the detection time on a crash, and
//!   comes back with the speaker. (`bfd graceful` would keep them, but then a dead node is dropped only when
//!   the graceful restart time expires — not a trade worth making.)

mod bfd_support;
mod bgp_support;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bfd_support::{Sessions, WAIT, hops, node_ips, profile, router_config, start_all, start_router, target};
use bgp_support::lab::{runtime, speaker};
use ferrolb_netlab::{
    BfdTimers, Lab, LbService, ProbeOptions, ProbeProto, RouterKind, Tool, TopologySpec, VIP_V4,
};
use ferrolb_speaker::bgp::ShutdownMode;

mod speaker_stops {
    #[test]
    fn bird() {
        super::speaker_stops(ferrolb_netlab::RouterKind::Bird);
    }
    #[test]
    fn frr() {
        super::speaker_stops(ferrolb_netlab::RouterKind::Frr);
    }
}

/// Whether the router keeps a node's routes while its speaker is stopped (restarting or crashed).
fn keeps_routes(kind: RouterKind) -> bool {
    kind == RouterKind::Frr
}

fn speaker_stops(kind: RouterKind) {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[kind.tool(), Tool::Nft, Tool::Curl]) else {
        return;
    };
    let router = start_router(
        kind,
        &lab,
        &router_config(&lab, Sessions::Ipv4, BfdTimers::new(100, 3), &[]),
    );
    let rt = runtime();
    let p = profile(100, 3);
    let mut speakers = start_all(&rt, &lab, &router, Sessions::Ipv4, &p);
    let node1 = IpAddr::V4(lab.node(1).ipv4());
    let both = node_ips(&lab, false, None);
    assert_eq!(hops(&lab, false, 2), both);
    lab.add_service(&LbService::tcp("web", IpAddr::V4(VIP_V4), 80, 30080))
        .unwrap();
    let probe = lab
        .start_probe(
            "ext",
            SocketAddr::new(IpAddr::V4(VIP_V4), 80),
            ProbeProto::Tcp,
            ProbeOptions::default(),
        )
        .unwrap();
    probe
        .wait_for("ext answered through the VIP", WAIT, |r| r.successes() > 0)
        .unwrap();

    for how in ["restart", "crash"] {
        let s1 = speakers[0].take().unwrap();
        let t0 = Instant::now();
        match how {
            "restart" => rt.block_on(s1.shutdown_as(ShutdownMode::Graceful)),
            _ => drop(s1),
        }
        // the router's BFD session with node1 goes down (AdminDown, or its detection time)
        router.wait_bfd(node1, WAIT, |b| !b.up).unwrap();
        if keeps_routes(kind) {
            let r = lab.kernel_route("router", bfd_support::vip(false)).unwrap();
            assert_eq!(
                r.map(|r| r.next_hops.into_iter().collect()),
                Some(both.clone()),
                "{kind:?} keeps node1's next hop after a {how}"
            );
            let before = probe.snapshot().successes();
            probe
                .wait_for("traffic while node1's speaker is stopped", WAIT, |r| {
                    r.successes() >= before + 30
                })
                .unwrap();
        } else {
            assert_eq!(hops(&lab, false, 1), node_ips(&lab, false, Some("node1")));
            println!(
                "{kind:?}: node1's next hop gone {:.3} s after the {how}",
                t0.elapsed().as_secs_f64()
            );
        }
        let mut s1 = speaker(&rt, &lab, "node1");
        s1.set(&target(&lab, "node1", Sessions::Ipv4, Some(&p)));
        speakers[0] = Some(s1);
        assert_eq!(hops(&lab, false, 2), both);
        router.wait_bfd(node1, WAIT, |b| b.up).unwrap();
        println!(
            "{kind:?}: {how}: node1's BFD and BGP back {:.3} s after it",
            t0.elapsed().as_secs_f64()
        );
    }
    let report = probe.stop().unwrap();
    println!(
        "{kind:?}: probe through a restart and a crash: {} ok, {} failed, longest outage {:?}",
        report.successes(),
        report.failures(),
        report.longest_outage().and_then(|o| o.duration())
    );
    if keeps_routes(kind) {
        assert!(
            report
                .longest_outage()
                .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_millis(500))),
            "traffic kept flowing: {:?}",
            report.longest_outage()
        );
    }
}
