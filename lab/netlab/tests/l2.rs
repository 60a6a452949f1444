//! Lab self-tests for layer 2 with stand-ins (the kernel plays the speaker): arping and ndisc6 see
//! the owner's MAC, two owners are seen as two MACs, and a request-form gratuitous ARP moves the
//! client's neighbour entry.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::timing;
use ferrolb_netlab::{Lab, Tool, TopologySpec, VIP_V4, VIP_V6};

#[test]
fn arping_from_the_client_sees_the_owner_mac() {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Arping]) else {
        return;
    };
    let (mac1, mac2) = (lab.mac("node1").unwrap(), lab.mac("node2").unwrap());
    assert_ne!(mac1, mac2);

    assert_eq!(
        lab.arping_mac("client", VIP_V4).unwrap(),
        None,
        "nobody owns the VIP yet"
    );
    assert!(lab.arping_macs("client", VIP_V4, 2).unwrap().is_empty());

    lab.ip("node1", &["addr", "add", &format!("{VIP_V4}/32"), "dev", "eth0"])
        .unwrap();
    let start = Instant::now();
    assert_eq!(lab.arping_mac("client", VIP_V4).unwrap(), Some(mac1));
    timing("arping answered", start.elapsed());
    assert_eq!(
        lab.arping_macs("client", VIP_V4, 3)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [mac1]
    );

    // split brain: a second owner shows up as a second MAC
    lab.ip("node2", &["addr", "add", &format!("{VIP_V4}/32"), "dev", "eth0"])
        .unwrap();
    let macs = lab.arping_macs("client", VIP_V4, 3).unwrap();
    assert_eq!(macs.len(), 2, "{macs:?}");
    assert!(macs.contains(&mac1) && macs.contains(&mac2));
}

#[test]
fn gratuitous_arp_moves_the_client_neighbour_entry() {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Arping, Tool::Tcpdump]) else {
        return;
    };
    let (mac1, mac2) = (lab.mac("node1").unwrap(), lab.mac("node2").unwrap());
    let vip = IpAddr::V4(VIP_V4);
    lab.ip("node1", &["addr", "add", &format!("{VIP_V4}/32"), "dev", "eth0"])
        .unwrap();
    let entry = lab.resolve_neighbor("client", vip).unwrap();
    assert_eq!(entry.mac, Some(mac1));

    // failover within the neighbour locktime: only a request-form GARP can move the entry this fast
    lab.ip("node1", &["addr", "del", &format!("{VIP_V4}/32"), "dev", "eth0"])
        .unwrap();
    lab.ip("node2", &["addr", "add", &format!("{VIP_V4}/32"), "dev", "eth0"])
        .unwrap();
    let capture = lab.capture("client", "client-arp", "arp").unwrap();
    let start = Instant::now();
    lab.send_garp("node2", VIP_V4).unwrap();
    let moved = lab
        .wait_neighbor_mac("client", vip, mac2, Duration::from_secs(2))
        .unwrap();
    timing("GARP to moved neighbour entry", start.elapsed());
    assert_eq!(moved.mac, Some(mac2));
    assert!(!moved.states.is_empty(), "{moved:?}");
    // on the wire: request form (sender IP == target IP), from node2's MAC
    // (tcpdump: "Request who-has 192.0.2.100 (ff:ff:ff:ff:ff:ff) tell 192.0.2.100")
    let (who_has, tell) = (format!("Request who-has {VIP_V4} "), format!(" tell {VIP_V4},"));
    let line = capture
        .wait_for_line("the GARP on the client's wire", Duration::from_secs(2), |l| {
            l.contains(&who_has) && l.contains(&tell)
        })
        .unwrap();
    assert!(line.contains(&mac2.to_string()), "{line}");
    capture.stop().unwrap();
}

#[test]
fn ndisc6_from_the_client_sees_the_owner_mac() {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Ndisc6]) else {
        return;
    };
    let mac1 = lab.mac("node1").unwrap();
    assert_eq!(
        lab.ndisc_mac("client", VIP_V6).unwrap(),
        None,
        "nobody owns the VIP yet"
    );
    lab.ip(
        "node1",
        &["addr", "add", &format!("{VIP_V6}/128"), "dev", "eth0", "nodad"],
    )
    .unwrap();
    assert_eq!(lab.ndisc_mac("client", VIP_V6).unwrap(), Some(mac1));
    let macs = lab.ndisc_macs("client", VIP_V6).unwrap();
    assert_eq!(macs.into_iter().collect::<Vec<_>>(), [mac1]);
    let entry = lab.resolve_neighbor("client", IpAddr::V6(VIP_V6)).unwrap();
    assert_eq!(entry.mac, Some(mac1));
}
