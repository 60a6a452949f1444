//! BFD end to end: the real `ferrolb-speaker` program on two lab nodes, configured by the ConfigMap's
//! `bfd-profiles` and a peer's `bfd-profile` through the embedded API server, against BIRD 2 with BFD.
//!
//! 1. Both nodes come up with BFD and BGP; the VIP has both next hops in BIRD's kernel; the speakers' metrics
//!    say BFD is Up.
//! 2. node2's BFD packets are lost (TCP still works): node2's speaker closes BGP, BIRD drops node2's next
//!    hop, and a `bfdSessionDown` Warning Event about Node node2 reaches the API server; once the packets
//!    flow again, node2 is back.
//! 3. node1 dies hard (its link cut, then `kill -9` of its speaker): BIRD drops exactly node1's next hop.

mod bfd_support;
mod bgp_support;
mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bfd_support::{Sessions, router_config, start_router};
use common::Cluster;
use ferrolb_netlab::wait::wait_until;
use ferrolb_netlab::{BfdTimers, BgpRouter, Fault, RouterKind, Tool};
use ipnet::IpNet;
use k8s_openapi::api::events::v1::Event;
use kube::Api;

const CONFIG: &str = "bfd-profiles:
- name: fast
  receive-interval: 100
  transmit-interval: 100
  detect-multiplier: 3
peers:
- peer-address: 192.0.2.1
  peer-asn: 64512
  my-asn: 64513
  hold-time: 9s
  bfd-profile: fast
address-pools:
- name: bgp
  protocol: bgp
  addresses:
  - 203.0.113.0/28
";
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const WAIT: Duration = Duration::from_secs(15);

fn vip() -> IpNet {
    IpNet::from(IpAddr::V4(VIP))
}

fn next_hops(c: &Cluster, count: usize) -> BTreeSet<IpAddr> {
    let r = c.lab.wait_kernel_next_hops("router", vip(), count, WAIT).unwrap();
    r.map(|r| r.next_hops.into_iter().collect()).unwrap_or_default()
}

/// The notes of the `bfdSessionDown` Events about Node `node` (cluster-scoped: in `default`).
fn bfd_events(c: &Cluster, node: &str) -> Vec<String> {
    let client = c.client.clone();
    let node = node.to_owned();
    c.block(async move {
        let events = Api::<Event>::namespaced(client, "default")
            .list(&Default::default())
            .await
            .expect("events");
        events
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("bfdSessionDown"))
            .filter(|e| {
                e.regarding
                    .as_ref()
                    .is_some_and(|r| r.kind.as_deref() == Some("Node") && r.name.as_deref() == Some(&node))
            })
            .filter_map(|e| e.note)
            .collect()
    })
}

#[test]
fn bird() {
    let _serial = common::exclusive();
    let Some(c) = Cluster::new(2, &[Tool::Bird, Tool::Nft], CONFIG) else {
        return;
    };
    let router = start_router(
        RouterKind::Bird,
        &c.lab,
        &router_config(&c.lab, Sessions::Ipv4, BfdTimers::new(100, 3), &[]),
    );
    c.add_service("web", &[IpAddr::V4(VIP)], false, &["node1", "node2"]);
    c.start_all();
    let (node1, node2) = (IpAddr::V4(c.lab.node(1).ipv4()), IpAddr::V4(c.lab.node(2).ipv4()));
    router.wait_established(2, WAIT).unwrap();
    for n in [node1, node2] {
        router.wait_bfd(n, WAIT, |b| b.up).unwrap();
    }
    assert_eq!(next_hops(&c, 2), [node1, node2].into());
    for node in ["node1", "node2"] {
        assert_eq!(
            c.metric(node, "ferrolb_speaker_bfd_session_up{peer=\"192.0.2.1\"}"),
            1.0
        );
        assert_eq!(
            c.metric(node, "ferrolb_speaker_bgp_session_up{peer=\"192.0.2.1:179\"}"),
            1.0
        );
    }

    // 2. node2's BFD fails, its TCP does not
    c.lab
        .set_faults(&[
            Fault::DropUdp {
                port: 3784,
                percent: 100,
                from: Some("node2".into()),
            },
            Fault::DropUdpTo {
                port: 3784,
                percent: 100,
                to: "node2".into(),
            },
        ])
        .unwrap();
    assert_eq!(next_hops(&c, 1), [node1].into());
    let notes = wait_until(
        "node2's BFD Event",
        WAIT,
        || Ok(bfd_events(&c, "node2")),
        |n| !n.is_empty(),
    )
    .unwrap();
    assert!(
        notes[0].contains("BFD session with router 192.0.2.1"),
        "{notes:?}"
    );
    assert!(c.metric("node2", "ferrolb_speaker_bfd_session_down_total") >= 1.0);
    c.lab.clear_faults().unwrap();
    assert_eq!(next_hops(&c, 2), [node1, node2].into());

    // 3. node1 dies hard
    let t0 = Instant::now();
    c.lab.cut_link("node1").unwrap();
    c.kill_speaker("node1");
    assert_eq!(
        next_hops(&c, 1),
        [node2].into(),
        "exactly node1's next hop is gone"
    );
    println!(
        "TIMING: link cut + kill -9 to node1's next hop gone: {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        c.metric("node2", "ferrolb_speaker_bfd_session_up{peer=\"192.0.2.1\"}"),
        1.0
    );
}
