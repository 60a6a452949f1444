//! How a real `ferrolb-speaker` leaves its BGP peers on SIGTERM (`--bgp-shutdown=auto`, the default),
//! against BIRD 2, FRR 8.4 and GoBGP 3.10 with graceful restart helper mode, the embedded API server and
//! (BIRD, FRR) a client `ext` behind the router. node1's speaker runs as Pod `ferrolb-speaker-node1`
//! (`--pod-name`), an object in the API server:
//!
//! 1. node1's Node is schedulable and Ready, but the Pod is not being deleted (a node shutdown, a reboot
//!    without a drain, a kill): SIGTERM is a departure, the router withdraws node1's path at once.
//! 2. The same, but the Pod is deleted through the API first (graceful deletion: a `deletionTimestamp`, as a
//!    DaemonSet rolling update does): SIGTERM is a restart. The router keeps node1's path (stale) while no
//!    speaker runs on node1, `ext` keeps reaching the VIP, and the new speaker's End-of-RIB clears the stale
//!    mark. The speaker closes the connection without a NOTIFICATION (it does not announce the N bit of
//!    RFC 8538).
//! 3. node1 is cordoned (while its speaker is down, so the new one lists it so): SIGTERM is a departure and
//!    the router withdraws node1's path at once, whatever its Pod.

mod bgp_support;
mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bgp_support::lab::TestRouter;
use common::Cluster;
use ferrolb_netlab::wait::wait_until;
use ferrolb_netlab::{
    BgpConfig, BgpRouter, Family, LbService, ProbeOptions, ProbeProto, Process, ProcessSpec, RibPath, Router,
    RouterKind, Tool,
};
use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};

const CONFIG: &str = "peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
  hold-time: 9s
address-pools:
- name: bgp
  protocol: bgp
  addresses:
  - 203.0.113.0/28
";
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const WAIT: Duration = Duration::from_secs(15);
/// A withdrawal "at once": well below the 9 s hold time and the 120 s restart time.
const AT_ONCE: Duration = Duration::from_secs(2);
/// node1's speaker Pod, and the one a rolling update replaces it with.
const POD: &str = "ferrolb-speaker-node1";
const POD_NEXT: &str = "ferrolb-speaker-node1-v2";

mod sigterm {
    #[test]
    fn bird() {
        super::sigterm(ferrolb_netlab::RouterKind::Bird);
    }
    #[test]
    fn frr() {
        super::sigterm(ferrolb_netlab::RouterKind::Frr);
    }
    #[test]
    fn gobgp() {
        super::sigterm(ferrolb_netlab::RouterKind::Gobgp);
    }
}

fn host(ip: Ipv4Addr) -> IpNet {
    IpNet::from(IpAddr::V4(ip))
}

fn next_hops(paths: &[RibPath]) -> BTreeSet<IpAddr> {
    paths.iter().filter_map(|p| p.next_hop).collect()
}

/// Starts `node`'s speaker as Pod `pod` (log `<node>-speaker-<n>.log`) with the default `--bgp-shutdown`
/// and waits until it is ready (its index synced).
fn start_speaker(c: &Cluster, node: &str, n: usize, pod: &str) -> Process {
    let spec = ProcessSpec::new(format!("{node}-speaker-{n}"), common::speaker_binary())
        .args(["--node-name", node, "--kubeconfig"])
        .arg(c.lab.dir().join("kubeconfig"))
        .args(["--log-level", "debug", "--pod-name", pod]);
    let p = c.lab.spawn(node, &spec).expect("speaker");
    let start = Instant::now();
    while c.http_get(node, "/readyz").map(|r| r.0) != Some(200) {
        assert!(p.is_running(), "{node}'s speaker exited:\n{}", p.log());
        assert!(start.elapsed() < WAIT, "{node}'s speaker not ready:\n{}", p.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

/// SIGTERM, a clean exit, and the shutdown line of the log.
fn sigterm_speaker(p: Process) -> String {
    let status = p.stop(Duration::from_secs(10)).expect("stop");
    let log = p.log();
    assert!(status.success(), "speaker exited with {status}:\n{log}");
    log.lines()
        .find(|l| l.contains("shutting down"))
        .unwrap_or_else(|| panic!("no shutdown line:\n{log}"))
        .to_owned()
}

/// Creates the speaker's Pod `name` on `node`, as the DaemonSet controller and the scheduler would.
fn create_pod(c: &Cluster, name: &str, node: &str) {
    let client = c.client.clone();
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": common::NS,
                     "labels": {"app.kubernetes.io/name": "ferrolb", "app.kubernetes.io/component": "speaker"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5,
                 "containers": [{"name": "speaker", "image": "ghcr.io/ferrolb/ferrolb:v0.1.0"}]}
    }))
    .unwrap();
    c.block(async move {
        Api::<Pod>::namespaced(client, common::NS)
            .create(&PostParams::default(), &pod)
            .await
            .map(drop)
    })
    .expect("create pod");
}

/// Deletes Pod `name` through the API, gracefully (as a rolling update or `kubectl delete pod` does): it
/// stays, marked with a `deletionTimestamp`, until the kubelet would remove it.
fn delete_pod(c: &Cluster, name: &str) {
    let client = c.client.clone();
    let name = name.to_owned();
    let deleted = c
        .block(async move {
            Api::<Pod>::namespaced(client, common::NS)
                .delete(&name, &DeleteParams::default())
                .await
        })
        .expect("delete pod");
    let pod = deleted.left().expect("a graceful deletion returns the pod");
    assert!(pod.metadata.deletion_timestamp.is_some(), "{pod:?}");
}

fn cordon(c: &Cluster, node: &str) {
    let client = c.client.clone();
    let node = node.to_owned();
    c.block(async move {
        Api::<Node>::all(client)
            .patch(
                &node,
                &PatchParams::default(),
                &Patch::Merge(serde_json::json!({"spec": {"unschedulable": true}})),
            )
            .await
            .map(drop)
    })
    .expect("cordon");
}

/// The router's own view of the session with `peer` (FRR: neighbour JSON; BIRD: protocol details), for the
/// N bit, the last NOTIFICATION and stale routes; `None` for GoBGP.
fn router_detail(router: &TestRouter, what: Detail, peer: IpAddr) -> Option<String> {
    let out = match router {
        TestRouter::Other(Router::Frr(f)) => match what {
            Detail::Neighbor => f.vtysh(&format!("show bgp neighbors {peer} json")),
            Detail::Route => f.vtysh(&format!("show bgp ipv4 unicast {VIP}/32 json")),
        },
        // BIRD shows no stale mark on routes; its protocol says while a neighbour's restart is under way
        TestRouter::Other(Router::Bird(b)) => b.birdc(&["show", "protocols", "all"]),
        _ => return None,
    };
    Some(out.expect("router CLI").stdout)
}

#[derive(Clone, Copy)]
enum Detail {
    Neighbor,
    Route,
}

/// Whether the router keeps a path of the VIP as stale (FRR: the path's stale flag; BIRD: a neighbour's
/// graceful restart is under way, until its End-of-RIB); `None` for GoBGP.
fn stale(router: &TestRouter) -> Option<bool> {
    let text = router_detail(router, Detail::Route, IpAddr::V4(VIP))?;
    Some(text.contains("\"stale\":true") || text.contains("Neighbor graceful restart active"))
}

fn sigterm(kind: RouterKind) {
    let _serial = common::exclusive();
    let mut tools = vec![kind.tool()];
    if kind != RouterKind::Gobgp {
        tools.extend([Tool::Curl, Tool::Nft]);
    }
    let Some(c) = Cluster::new(2, &tools, CONFIG) else {
        return;
    };
    let start = Instant::now();
    let mut cfg = BgpConfig::router_for_nodes(&c.lab, 64512, 64513);
    for p in &mut cfg.peers {
        p.passive = true;
    }
    let router = TestRouter::start(kind, &c.lab, &cfg);
    c.add_service("web", &[IpAddr::V4(VIP)], false, &["node1", "node2"]);
    let node1 = IpAddr::V4(c.lab.node(1).ipv4());
    let node_ips: BTreeSet<IpAddr> = c.lab.nodes().map(|n| IpAddr::V4(n.ipv4())).collect();
    create_pod(&c, POD, "node1");
    let s1 = start_speaker(&c, "node1", 1, POD);
    let _s2 = start_speaker(&c, "node2", 1, "ferrolb-speaker-node2");
    router.wait_established(2, WAIT).unwrap();
    let paths = router.wait_route(host(VIP), WAIT, |p| p.len() == 2).unwrap();
    assert_eq!(next_hops(&paths), node_ips);
    println!("TIMING {kind:?}: set-up: {:.2} s", start.elapsed().as_secs_f64());

    // 1. node shutdown: node1 is schedulable and Ready, but its Pod is not being deleted
    let shutdown = Instant::now();
    let line = sigterm_speaker(s1);
    assert!(
        line.contains(&format!(
            "withdrawing: pod {POD} is not being deleted: a node shutdown or a kill, not a restart"
        )),
        "{line}"
    );
    let paths = router.wait_route(host(VIP), AT_ONCE, |p| p.len() == 1).unwrap();
    assert!(!next_hops(&paths).contains(&node1));
    println!(
        "TIMING {kind:?}: SIGTERM of a speaker whose Pod is not being deleted to its path withdrawn: {:.2} s",
        shutdown.elapsed().as_secs_f64()
    );
    // the node is back (the same Pod, as after a reboot)
    let s1 = start_speaker(&c, "node1", 2, POD);
    router.wait_established(2, WAIT).unwrap();
    let paths = router.wait_route(host(VIP), WAIT, |p| p.len() == 2).unwrap();
    assert_eq!(next_hops(&paths), node_ips);
    let probe = router.installs_routes().then(|| {
        c.lab.wait_kernel_next_hops("router", host(VIP), 2, WAIT).unwrap();
        c.lab
            .add_service(&LbService::tcp("web", IpAddr::V4(VIP), 80, 30080))
            .unwrap();
        let probe = c
            .lab
            .start_probe(
                "ext",
                SocketAddr::new(IpAddr::V4(VIP), 80),
                ProbeProto::Tcp,
                ProbeOptions::default(),
            )
            .unwrap();
        probe
            .wait_for("ext answered", WAIT, |r| r.successes() > 0)
            .unwrap();
        probe
    });
    let neighbor = router_detail(&router, Detail::Neighbor, node1);
    println!(
        "{kind:?} before the restart:\n{}",
        neighbor.as_deref().unwrap_or("-")
    );

    // 2. restart: node1 is schedulable and Ready, its Pod deleted through the API (a rolling update)
    let restart = Instant::now();
    delete_pod(&c, POD);
    let line = sigterm_speaker(s1);
    assert!(
        line.contains(&format!(
            "keeping routes at peers (graceful restart): node node1 is schedulable and Ready and pod {POD} is being deleted"
        )),
        "{line}"
    );
    wait_until(
        "the router to see node1's session down",
        WAIT,
        || router.sessions(),
        |s| s.iter().any(|s| s.peer == node1 && !s.established),
    )
    .unwrap();
    let rib = router.rib(Family::Ipv4).unwrap();
    assert_eq!(
        next_hops(rib.paths(&host(VIP))),
        node_ips,
        "graceful restart keeps node1's path: {rib:?}"
    );
    let down = router_detail(&router, Detail::Neighbor, node1);
    println!(
        "{kind:?} with node1's speaker down:\n{}",
        down.as_deref().unwrap_or("-")
    );
    if let Some(is_stale) = stale(&router) {
        assert!(is_stale, "node1's path is stale while its speaker is down");
    }
    match kind {
        // FRR 8.4 would negotiate the N bit; the speaker does not announce it, and closes without a
        // NOTIFICATION
        RouterKind::Frr => {
            let before = neighbor.as_deref().unwrap_or_default();
            assert!(
                !before.contains("\"nBit\":true"),
                "no N bit from the speaker, as FRR saw it: {before}"
            );
            let down = down.as_deref().unwrap_or_default();
            assert!(!down.contains("Administrative Reset"), "{down}");
        }
        // BIRD 2.0.12: the connection closed without a NOTIFICATION
        RouterKind::Bird => {
            let down = down.as_deref().unwrap_or_default();
            assert!(
                down.contains("Last error:       Socket: Connection closed"),
                "{down}"
            );
        }
        RouterKind::Gobgp => {}
    }
    if let Some(p) = &probe {
        let before = p.snapshot().successes();
        p.wait_for(
            "traffic through the VIP while node1's speaker is down",
            WAIT,
            |r| r.successes() >= before + 30,
        )
        .unwrap();
    }
    assert_eq!(
        router.rib(Family::Ipv4).unwrap().paths(&host(VIP)).len(),
        2,
        "still kept"
    );
    // the node is cordoned while no speaker runs there: the next one (a new Pod) knows it from its first list
    cordon(&c, "node1");
    create_pod(&c, POD_NEXT, "node1");
    let s1 = start_speaker(&c, "node1", 3, POD_NEXT);
    router.wait_established(2, WAIT).unwrap();
    let paths = router.wait_route(host(VIP), WAIT, |p| p.len() == 2).unwrap();
    assert_eq!(next_hops(&paths), node_ips, "the cordoned node still announces");
    if stale(&router).is_some() {
        wait_until(
            "End-of-RIB to clear the stale mark",
            WAIT,
            || Ok(stale(&router)),
            |s| *s == Some(false),
        )
        .unwrap();
    }
    println!(
        "TIMING {kind:?}: SIGTERM of node1's speaker to its routes fresh again: {:.2} s",
        restart.elapsed().as_secs_f64()
    );
    if let Some(probe) = probe {
        let report = probe.stop().unwrap();
        let outage = report.longest_outage();
        println!(
            "{kind:?}: probe through the restart: {} ok, {} failed, longest outage {outage:?}",
            report.successes(),
            report.failures()
        );
        assert!(
            outage
                .as_ref()
                .is_none_or(|o| o.duration().is_some_and(|d| d < Duration::from_millis(500))),
            "traffic kept flowing through the restart: {outage:?}"
        );
    }

    // 3. departure: node1 is cordoned (its Pod deleted or not: the Node decides)
    let leave = Instant::now();
    delete_pod(&c, POD_NEXT);
    let line = sigterm_speaker(s1);
    assert!(line.contains("withdrawing: node node1 is cordoned"), "{line}");
    let paths = router.wait_route(host(VIP), AT_ONCE, |p| p.len() == 1).unwrap();
    assert!(!next_hops(&paths).contains(&node1));
    println!(
        "TIMING {kind:?}: SIGTERM of the cordoned node's speaker to its path withdrawn: {:.2} s",
        leave.elapsed().as_secs_f64()
    );
    let after = router_detail(&router, Detail::Neighbor, node1);
    println!(
        "{kind:?} after the departure:\n{}",
        after.as_deref().unwrap_or("-")
    );
    if kind == RouterKind::Frr {
        // the departure is a plain Cease / Administrative Shutdown, and FRR withdrew at once (above)
        let after = after.as_deref().unwrap_or_default();
        assert!(
            after.contains("\"lastNotificationReason\":\"Cease\\/Administrative Shutdown\""),
            "{after}"
        );
    }
    if router.installs_routes() {
        c.lab.wait_kernel_next_hops("router", host(VIP), 1, WAIT).unwrap();
    }
}
