//! BGP configured by MetalLB's resources alone (no ConfigMap anywhere), against BIRD and FRR running side by
//! side on the lab's router — BIRD on port 179 as an eBGP peer (AS 64512), FRR on port 1179 as an iBGP peer
//! (AS 64513, the nodes' own) — checked in the routers' own tables (`birdc show route all`,
//! `vtysh -c 'show bgp ipv4 unicast json detail'`), in one lab, phase after phase:
//!
//! 1. `BGPPeer` (v1beta2) `nodeSelectors` and `peerPort`: both routers accept every node, yet BIRD has
//!    sessions with node1 and node2 only, FRR with node2 and node3 only, and each route's next hops are
//!    exactly the selected nodes.
//! 2. `BGPAdvertisement`: `communities` (a literal and a `Community` alias) on every path at both routers,
//!    `localPref` 150 at the iBGP router and not at the eBGP one (and 100 at the iBGP router for an
//!    advertisement without it: iBGP routes always carry LOCAL_PREF), `aggregationLength: 28` advertising the
//!    pool's /28 instead of /32s; `ServiceBGPStatus` lists, per node, the peers that receive the Service.
//! 3. A `BGPPeer`'s `nodeSelectors` change: node3 joins BIRD, and its next hop and status follow.
//! 4. TCP MD5 from `passwordSecret` (a `kubernetes.io/basic-auth` Secret) against FRR configured with the
//!    same password: Established (FRR refuses unsigned segments); the Secret and FRR change password
//!    together and the sessions come back (FRR counts a new connection); a wrong password keeps them down —
//!    and the speaker's `bgp_session_up` says so — until the right one is back.
//!
//! Needs root, BIRD, FRR, arping, nft and curl (skipped with a reason elsewhere, failing under `CI=true`).
//! About 40 s.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use ferrolb_e2e::system::objects::ServiceSpec;
use ferrolb_e2e::system::{Kind, NODE_ASN, NS, ROUTER_ASN, System, SystemSpec, exclusive};
use ferrolb_netlab::{BgpConfig, BgpRouter, Bird, Community, Family, Frr, Lab, Peer, RibPath, Router, Tool};
use ipnet::IpNet;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
/// How long a "stays down" is watched.
const QUIET: Duration = Duration::from_secs(4);
/// FRR's port (BIRD has 179 on the same host).
const FRR_PORT: u16 = 1179;

const RESOURCES: &str = "
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: bird
spec:
  myASN: 64513
  peerASN: 64512
  peerAddress: 192.0.2.1
  holdTime: 9s
  nodeSelectors:
  - matchLabels:
      bgp-bird: 'yes'
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: frr
spec:
  myASN: 64513
  peerASN: 64513
  peerAddress: 192.0.2.1
  peerPort: 1179
  holdTime: 9s
  nodeSelectors:
  - matchExpressions:
    - key: rack
      operator: In
      values: [r2, r3]
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata:
  name: aliases
spec:
  communities:
  - name: backbone
    value: 64513:200
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: tagged
spec:
  addresses:
  - 203.0.113.10-203.0.113.19
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: aggregated
spec:
  addresses:
  - 203.0.113.32/28
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: tagged
spec:
  ipAddressPools: [tagged]
  communities: ['64513:100', backbone]
  localPref: 150
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: aggregated
spec:
  ipAddressPools: [aggregated]
  aggregationLength: 28
";

const LITERAL: Community = Community::new(64513, 100);
const ALIAS: Community = Community::new(64513, 200);

fn node_ip(lab: &Lab, node: &str) -> IpAddr {
    IpAddr::V4(lab.host(node).ipv4())
}

fn node_ips(lab: &Lab, nodes: &[&str]) -> BTreeSet<IpAddr> {
    nodes.iter().map(|n| node_ip(lab, n)).collect()
}

fn phase(name: &str, started: Instant) {
    eprintln!("--- [{:>5.1} s] {name}", started.elapsed().as_secs_f64());
}

/// A router that accepts every node (passive: the speakers dial), so that only the speakers' peer selection
/// decides who peers.
fn accepting_every_node(lab: &Lab, asn: u32, router_id: Ipv4Addr, port: u16) -> BgpConfig {
    let mut cfg = BgpConfig::new(asn, router_id);
    cfg.listen_port = Some(port);
    for n in lab.nodes() {
        cfg = cfg.peer(Peer::new(IpAddr::V4(n.ipv4()), NODE_ASN).passive());
    }
    cfg
}

/// Waits until `router`'s Established sessions are exactly with `nodes`.
fn wait_sessions(sys: &System, router: &impl BgpRouter, nodes: &[&str]) {
    let want = node_ips(sys.lab(), nodes);
    sys.wait_until(
        &format!("{:?}: sessions with exactly {nodes:?}", router.kind()),
        WAIT,
        || Ok(router.sessions()?),
        |s| {
            s.iter()
                .filter(|s| s.established)
                .map(|s| s.peer)
                .collect::<BTreeSet<_>>()
                == want
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(10)));
}

/// Waits until `prefix`'s paths at `router` come from exactly `nodes` (one path each) and all satisfy
/// `check`; returns them.
fn wait_paths(
    sys: &System,
    router: &impl BgpRouter,
    prefix: &str,
    nodes: &[&str],
    check: impl Fn(&RibPath) -> bool,
) -> Vec<RibPath> {
    let prefix: IpNet = prefix.parse().unwrap();
    let want = node_ips(sys.lab(), nodes);
    let family = Family::of(prefix.addr());
    sys.wait_until(
        &format!("{:?}: {prefix} from exactly {nodes:?}", router.kind()),
        WAIT,
        || Ok(router.rib(family)?.paths(&prefix).to_vec()),
        |paths| {
            paths.len() == want.len()
                && paths.iter().filter_map(|p| p.next_hop).collect::<BTreeSet<_>>() == want
                && paths.iter().all(&check)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(10)))
}

fn communities(p: &RibPath) -> BTreeSet<Community> {
    p.communities.iter().copied().collect()
}

/// Waits until the `ServiceBGPStatus` objects of Service `default/<name>` name, per node, these peers.
fn wait_bgp_status(sys: &System, name: &str, want: &[(&str, &[&str])]) {
    let want: Vec<(String, Vec<String>)> = want
        .iter()
        .map(|(n, peers)| ((*n).to_owned(), peers.iter().map(|p| (*p).to_owned()).collect()))
        .collect();
    sys.wait_until(
        &format!("ServiceBGPStatus of {name}: {want:?}"),
        WAIT,
        || {
            Ok(sys
                .service_statuses("ServiceBGPStatus", "default", name)
                .into_iter()
                .map(|(node, status)| {
                    let mut peers: Vec<String> = status["peers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p.as_str().map(str::to_owned))
                        .collect();
                    peers.sort();
                    (node, peers)
                })
                .collect::<Vec<_>>())
        },
        |got| *got == want,
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bgp_configured_by_resources_alone_at_bird_and_frr() {
    let _serial = exclusive();
    let spec = SystemSpec::with_objects(RESOURCES)
        .node_label("node1", "bgp-bird", "yes")
        .node_label("node2", "bgp-bird", "yes")
        .node_label("node1", "rack", "r1")
        .node_label("node2", "rack", "r2")
        .node_label("node3", "rack", "r3")
        .tools(&[Tool::Bird, Tool::Frr]);
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    let started = Instant::now();
    assert!(
        sys.admin().get("ConfigMap", NS, "config").is_none(),
        "no ConfigMap: the resources alone configure ferrolb"
    );
    let lab = sys.lab();
    let bird = Bird::start(
        lab,
        "router",
        &accepting_every_node(lab, ROUTER_ASN, lab.router().ipv4(), 179),
    )
    .unwrap();
    let mut frr_cfg = accepting_every_node(lab, NODE_ASN, Ipv4Addr::new(198, 51, 100, 1), FRR_PORT);
    // BIRD installs the routes in the router's kernel; FRR keeps them in its RIB
    frr_cfg.install_routes = false;
    let frr = Frr::start(lab, "router", &frr_cfg).unwrap();

    peers_and_attributes(&sys, &bird, &frr, started);
    peer_selector_change(&sys, &bird, started);
    md5_from_a_secret(&sys, &frr, started);

    assert_eq!(sys.crashed(&[]), Vec::<String>::new());
    assert_eq!(
        sys.rbac_denied(),
        Vec::<String>::new(),
        "requests the manifest's RBAC denies"
    );
    Router::Bird(bird).stop().unwrap();
    Router::Frr(frr).stop().unwrap();
    phase("done", started);
}

/// Phases 1 and 2.
fn peers_and_attributes(sys: &System, bird: &Bird, frr: &Frr, started: Instant) {
    phase("BGPPeer nodeSelectors and peerPort: who peers with whom", started);
    wait_sessions(sys, bird, &["node1", "node2"]);
    wait_sessions(sys, frr, &["node2", "node3"]);

    phase(
        "BGPAdvertisement communities, localPref, aggregationLength",
        started,
    );
    let all = ["node1", "node2", "node3"];
    sys.create_service(&ServiceSpec::new("tagged").pool("tagged"), &all)
        .unwrap();
    sys.create_service(&ServiceSpec::new("aggregated").pool("aggregated"), &all)
        .unwrap();
    assert_eq!(
        sys.wait_ingress("default", "tagged", WAIT).unwrap(),
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10))
    );
    assert_eq!(
        sys.wait_ingress("default", "aggregated", WAIT).unwrap(),
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 32))
    );
    let both = BTreeSet::from([LITERAL, ALIAS]);
    // eBGP: the communities, no LOCAL_PREF of ours (BIRD's own default), our AS in the path
    let paths = wait_paths(sys, bird, "203.0.113.10/32", &["node1", "node2"], |p| {
        communities(p).is_superset(&both)
    });
    for p in &paths {
        assert_eq!(p.as_path, [NODE_ASN], "BIRD {p:?}");
        assert_ne!(
            p.local_pref,
            Some(150),
            "LOCAL_PREF is for iBGP peers: BIRD {p:?}"
        );
    }
    eprintln!("BIRD 203.0.113.10/32: {paths:?}");
    // iBGP: the communities and LOCAL_PREF 150
    let paths = wait_paths(sys, frr, "203.0.113.10/32", &["node2", "node3"], |p| {
        communities(p).is_superset(&both) && p.local_pref == Some(150)
    });
    assert!(paths.iter().all(|p| p.as_path.is_empty()), "FRR {paths:?}");
    eprintln!("FRR 203.0.113.10/32: {paths:?}");
    // aggregationLength 28: the /28, never the /32
    wait_paths(sys, bird, "203.0.113.32/28", &["node1", "node2"], |_| true);
    // an advertisement without localPref still gives iBGP its LOCAL_PREF (RFC 4271 requires it; without it
    // FRR treat-as-withdraws the route)
    wait_paths(sys, frr, "203.0.113.32/28", &["node2", "node3"], |p| {
        p.local_pref == Some(100)
    });
    for (kind, rib) in [
        ("BIRD", bird.rib(Family::Ipv4).unwrap()),
        ("FRR", frr.rib(Family::Ipv4).unwrap()),
    ] {
        assert!(
            !rib.contains(&"203.0.113.32/32".parse().unwrap()),
            "{kind} has the /32 of an aggregated IP: {rib:?}"
        );
        assert_eq!(rib.len(), 2, "{kind}: {rib:?}");
    }
    // the status objects list, per node, the peers that receive the Service
    wait_bgp_status(
        sys,
        "tagged",
        &[
            ("node1", &["bird"]),
            ("node2", &["bird", "frr"]),
            ("node3", &["frr"]),
        ],
    );
}

/// Phase 3.
fn peer_selector_change(sys: &System, bird: &Bird, started: Instant) {
    phase("BGPPeer bird: nodeSelectors now rack r1 or r3", started);
    sys.admin()
        .merge(
            "BGPPeer",
            NS,
            "bird",
            &json!({"spec": {"nodeSelectors": [{"matchExpressions": [
                {"key": "rack", "operator": "In", "values": ["r1", "r3"]}]}]}}),
            false,
        )
        .unwrap();
    wait_sessions(sys, bird, &["node1", "node3"]);
    wait_paths(sys, bird, "203.0.113.10/32", &["node1", "node3"], |p| {
        communities(p).contains(&ALIAS)
    });
    wait_bgp_status(
        sys,
        "tagged",
        &[
            ("node1", &["bird"]),
            ("node2", &["frr"]),
            ("node3", &["bird", "frr"]),
        ],
    );
    // each speaker's ConfigurationState has a condition per session it has (what `ferrolb status` reads)
    for (node, want) in [
        ("node2", vec!["BGPPeer/frr"]),
        ("node3", vec!["BGPPeer/bird", "BGPPeer/frr"]),
    ] {
        let name = format!("speaker-{node}");
        sys.wait_until(
            &format!("{name}: its sessions Established in its conditions"),
            WAIT,
            || {
                let state = sys.admin().get("ConfigurationState", NS, &name);
                let conditions = state.and_then(|s| s["status"]["conditions"].as_array().cloned());
                Ok(conditions.unwrap_or_default())
            },
            |c| {
                c.iter()
                    .map(|c| c["type"].as_str().unwrap_or(""))
                    .collect::<Vec<_>>()
                    == want
                    && c.iter()
                        .all(|c| c["status"] == "True" && c["reason"] == "Established" && c["message"] == "")
            },
        )
        .unwrap();
    }
}

/// The speaker's `bgp_session_up` for FRR's session on `node` (0 or 1), from its /metrics.
fn session_up(sys: &System, node: &str) -> f64 {
    sys.metric(
        Kind::Speaker,
        node,
        &format!("ferrolb_speaker_bgp_session_up{{peer=\"192.0.2.1:{FRR_PORT}\"}}"),
    )
    .unwrap()
}

fn set_secret(sys: &System, password: &str) {
    sys.admin()
        .merge(
            "Secret",
            NS,
            "frr-md5",
            &json!({"stringData": {"password": password}}),
            false,
        )
        .unwrap();
}

/// Waits until FRR's sessions with node2 and node3 are Established on a connection newer than `since` (FRR's
/// connection counts); returns the new counts.
fn wait_reconnected(sys: &System, frr: &Frr, since: &[u64; 2]) -> [u64; 2] {
    let lab = sys.lab();
    let peers = [node_ip(lab, "node2"), node_ip(lab, "node3")];
    let counts = sys
        .wait_until(
            "FRR's sessions with node2 and node3 to come back on new connections",
            WAIT,
            || {
                let sessions = frr.sessions()?;
                let up = peers
                    .iter()
                    .all(|p| sessions.iter().any(|s| s.peer == *p && s.established));
                Ok((
                    up,
                    [
                        frr.connections_established(peers[0])?,
                        frr.connections_established(peers[1])?,
                    ],
                ))
            },
            |(up, counts)| *up && counts[0] > since[0] && counts[1] > since[1],
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", sys.logs(10)));
    counts.1
}

/// Phase 4.
fn md5_from_a_secret(sys: &System, frr: &Frr, started: Instant) {
    phase("MD5: passwordSecret against FRR with the same password", started);
    let lab = sys.lab();
    let peers = [node_ip(lab, "node2"), node_ip(lab, "node3")];
    let counts = [
        frr.connections_established(peers[0]).unwrap(),
        frr.connections_established(peers[1]).unwrap(),
    ];
    sys.apply_yaml(
        "the peer's Secret",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: frr-md5\ntype: kubernetes.io/basic-auth\nstringData:\n  password: s3cret-one\n",
        NS,
    )
    .unwrap();
    for p in peers {
        frr.set_password(p, Some("s3cret-one")).unwrap();
    }
    sys.admin()
        .merge(
            "BGPPeer",
            NS,
            "frr",
            &json!({"spec": {"passwordSecret": {"name": "frr-md5"}}}),
            false,
        )
        .unwrap();
    let counts = wait_reconnected(sys, frr, &counts);
    wait_paths(sys, frr, "203.0.113.10/32", &["node2", "node3"], |p| {
        p.local_pref == Some(150)
    });
    eprintln!("FRR established with the Secret's password (connections {counts:?})");

    phase("MD5: the Secret and FRR change password", started);
    set_secret(sys, "s3cret-two");
    for p in peers {
        frr.set_password(p, Some("s3cret-two")).unwrap();
    }
    let counts = wait_reconnected(sys, frr, &counts);
    wait_paths(sys, frr, "203.0.113.10/32", &["node2", "node3"], |_| true);

    phase("MD5: a wrong password keeps the sessions down", started);
    set_secret(sys, "not-the-password");
    sys.wait_until(
        "FRR's sessions with node2 and node3 to go down",
        WAIT,
        || Ok(frr.sessions()?),
        |s| !s.iter().any(|s| peers.contains(&s.peer) && s.established),
    )
    .unwrap();
    let until = Instant::now() + QUIET;
    while Instant::now() < until {
        let sessions = frr.sessions().unwrap();
        assert!(
            !sessions.iter().any(|s| peers.contains(&s.peer) && s.established),
            "FRR established a session with a wrong password: {sessions:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // What the speaker says: the session is down (see `md5_mismatch_is_explained_by_the_speaker`)
    for node in ["node2", "node3"] {
        assert_eq!(session_up(sys, node), 0.0, "{node}: bgp_session_up");
    }
    assert!(
        frr.connections_established(peers[0]).unwrap() == counts[0]
            && frr.connections_established(peers[1]).unwrap() == counts[1],
        "no new connection with a wrong password"
    );

    phase("MD5: the right password again", started);
    set_secret(sys, "s3cret-two");
    wait_reconnected(sys, frr, &counts);
    for node in ["node2", "node3"] {
        sys.wait_until(
            &format!("{node}: bgp_session_up 1"),
            WAIT,
            || Ok(session_up(sys, node)),
            |v| *v == 1.0,
        )
        .unwrap();
    }
    wait_paths(sys, frr, "203.0.113.10/32", &["node2", "node3"], |p| {
        communities(p).contains(&LITERAL)
    });
}

/// A wrong TCP MD5 password: the router drops the speaker's SYNs silently, so every connection attempt
/// times out. The speaker says so: a warning naming the peer, the timeout and the usual cause (a password
/// that differs), and the condition `BGPPeer/frr` of its `ConfigurationState` (False, `Active`, the same
/// message) that `ferrolb status` shows.
#[test]
fn md5_mismatch_is_explained_by_the_speaker() {
    let _serial = exclusive();
    let objects = format!(
        "{}---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: frr-md5\ntype: kubernetes.io/basic-auth\n\
         stringData:\n  password: not-the-password\n",
        RESOURCES.replace(
            "  peerPort: 1179\n",
            "  peerPort: 1179\n  passwordSecret:\n    name: frr-md5\n"
        )
    );
    let spec = SystemSpec::with_objects(&objects)
        .node_label("node2", "rack", "r2")
        .tools(&[Tool::Frr]);
    let Some(sys) = System::for_test(spec) else {
        return;
    };
    let lab = sys.lab();
    let mut cfg = accepting_every_node(lab, NODE_ASN, Ipv4Addr::new(198, 51, 100, 1), FRR_PORT);
    cfg.install_routes = false;
    for p in &mut cfg.peers {
        p.password = Some("s3cret-one".into());
    }
    let frr = Frr::start(lab, "router", &cfg).unwrap();
    // the connect timeout is 10 s: give the speaker two attempts to say something
    let said = sys.wait_until(
        "node2's speaker to report why it gets no session with 192.0.2.1:1179",
        Duration::from_secs(25),
        || sys.log(Kind::Speaker, "node2"),
        |log| {
            log.lines().any(|l| {
                l.contains("1179")
                    && (l.contains("\"WARN\"") || l.contains("\"ERROR\""))
                    && (l.contains("connect") || l.contains("MD5") || l.contains("password"))
            })
        },
    );
    let condition = sys.wait_until(
        "the BGPPeer/frr condition of speaker-node2",
        Duration::from_secs(10),
        || {
            let state = sys.admin().get("ConfigurationState", NS, "speaker-node2");
            let conditions = state.and_then(|s| s["status"]["conditions"].as_array().cloned());
            Ok(conditions
                .unwrap_or_default()
                .into_iter()
                .find(|c| c["type"] == "BGPPeer/frr"))
        },
        |c| {
            c.as_ref()
                .is_some_and(|c| c["message"].as_str().unwrap_or("").contains("MD5"))
        },
    );
    assert!(frr.sessions().unwrap().iter().all(|s| !s.established));
    Router::Frr(frr).stop().unwrap();
    said.unwrap_or_else(|e| panic!("{e}"));
    let condition = condition.unwrap_or_else(|e| panic!("{e}")).unwrap();
    assert_eq!(condition["status"], "False", "{condition}");
    assert_eq!(condition["reason"], "Active", "{condition}");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("192.0.2.1:1179: no answer within 10 s"),
        "{condition}"
    );
}
