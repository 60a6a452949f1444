//! Helpers shared by the BGP test binaries: targets, peers and waiting on a session's status.

#![allow(dead_code)] // each test binary uses a part

pub mod fake_router;
pub mod lab;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferrolb_config::{BgpAdvertisement, Peer};
use ferrolb_proto::bgp::State;
use ferrolb_speaker::bgp::{BgpSpeaker, BgpTarget, PeerStatus};

/// A peer at `addr` in AS `asn`, us in `my_asn`, hold time 90 s.
pub fn peer(addr: SocketAddr, asn: u32, my_asn: u32) -> Peer {
    Peer {
        name: "peer1".into(),
        address: addr.ip(),
        port: addr.port(),
        asn,
        my_asn,
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
    }
}

/// An advertisement: host routes, optional local-pref, communities (`a:b` or `large:a:b:c`).
pub fn advertisement(local_pref: Option<u32>, communities: &[&str]) -> BgpAdvertisement {
    BgpAdvertisement {
        local_pref,
        communities: communities.iter().map(|c| c.parse().unwrap()).collect(),
        ..BgpAdvertisement::with_defaults("bgpadvertisement1", vec!["bgp".into()])
    }
}

/// A target with these node addresses, peers and IPs (each with `adv`).
pub fn target(node: &[IpAddr], peers: Vec<Peer>, ips: &[IpAddr], adv: &BgpAdvertisement) -> BgpTarget {
    BgpTarget {
        node_addresses: node.to_vec(),
        peers,
        prefixes: ips
            .iter()
            .map(|ip| (*ip, vec![adv.clone()]))
            .collect::<BTreeMap<_, _>>(),
        ..BgpTarget::default()
    }
}

/// Waits (at most `within`) until `peer`'s status satisfies `ok`; returns it.
pub async fn wait_status(
    speaker: &BgpSpeaker,
    peer: SocketAddr,
    within: Duration,
    ok: impl Fn(&PeerStatus) -> bool,
) -> PeerStatus {
    let mut rx = speaker.watch_peer(peer).expect("a session for the peer");
    let wait = async {
        loop {
            {
                let s = rx.borrow_and_update();
                if ok(&s) {
                    return s.clone();
                }
            }
            if rx.changed().await.is_err() {
                panic!("session of {peer} ended");
            }
        }
    };
    match tokio::time::timeout(within, wait).await {
        Ok(s) => s,
        Err(_) => panic!("{peer}: status not reached within {within:?}: {:?}", rx.borrow()),
    }
}

/// Waits until `peer` is established.
pub async fn wait_established(speaker: &BgpSpeaker, peer: SocketAddr, within: Duration) -> PeerStatus {
    wait_status(speaker, peer, within, |s| s.state == State::Established).await
}
