//! Lab self-tests for the kube-proxy stand-in and the outage probe: curl through a VIP reaches the
//! node that owns it (IPv4 and IPv6), UDP too, and a failover seen by a 10 ms probe loop is
//! measured as a bounded outage followed by the new owner answering.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::timing;
use ferrolb_netlab::probes::http_url;
use ferrolb_netlab::{Lab, LbService, ProbeOptions, ProbeProto, Tool, TopologySpec, VIP_V4, VIP_V6};

fn own(lab: &Lab, node: &str, ip: IpAddr) {
    let (len, extra) = if ip.is_ipv4() {
        (32, None)
    } else {
        (128, Some("nodad"))
    };
    let cidr = format!("{ip}/{len}");
    let mut args = vec!["addr", "add", cidr.as_str(), "dev", "eth0"];
    args.extend(extra);
    lab.ip(node, &args).unwrap();
}

#[test]
fn curl_through_the_vip_reaches_the_owner() {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Nft, Tool::Curl]) else {
        return;
    };
    let mut svc = LbService::tcp("web", IpAddr::V4(VIP_V4), 80, 30080);
    svc.vips.push(IpAddr::V6(VIP_V6));
    lab.add_service(&svc).unwrap();
    own(&lab, "node2", IpAddr::V4(VIP_V4));
    own(&lab, "node1", IpAddr::V6(VIP_V6));
    assert_eq!(
        lab.curl("client", &http_url(IpAddr::V4(VIP_V4), 80)).unwrap(),
        "node2"
    );
    assert_eq!(
        lab.curl("client", &http_url(IpAddr::V6(VIP_V6), 80)).unwrap(),
        "node1"
    );
    // the backends listen on each node's own address at the nodePort
    assert_eq!(
        lab.curl("client", &http_url(IpAddr::V4(lab.node(1).ipv4()), 30080))
            .unwrap(),
        "node1"
    );

    // externalTrafficPolicy: Local with an endpoint on node1 only: node2 no longer serves the VIP
    lab.add_service(&svc.clone().on_nodes(&["node1"])).unwrap();
    assert_eq!(
        lab.curl("client", &http_url(IpAddr::V6(VIP_V6), 80)).unwrap(),
        "node1"
    );
    assert!(
        lab.curl("client", &http_url(IpAddr::V4(VIP_V4), 80)).is_err(),
        "node2 has no endpoint"
    );
    assert!(
        lab.add_service(&svc.clone().on_nodes(&["node7"])).is_err(),
        "unknown node"
    );

    lab.remove_service("web").unwrap();
    assert!(
        lab.curl("client", &http_url(IpAddr::V4(VIP_V4), 80)).is_err(),
        "no DNAT, no backend"
    );
    assert!(lab.remove_service("web").is_err());
}

#[test]
fn udp_service_answers_probes_with_the_node_name() {
    let Some(lab) = Lab::for_test(TopologySpec::new(1), &[Tool::Nft]) else {
        return;
    };
    lab.add_service(&LbService::udp("dns", IpAddr::V4(VIP_V4), 53, 30053))
        .unwrap();
    own(&lab, "node1", IpAddr::V4(VIP_V4));
    let target = SocketAddr::new(IpAddr::V4(VIP_V4), 53);
    let probe = lab
        .start_probe("client", target, ProbeProto::Udp, ProbeOptions::default())
        .unwrap();
    probe
        .wait_for("10 UDP answers", Duration::from_secs(3), |r| r.successes() >= 10)
        .unwrap();
    let report = probe.stop().unwrap();
    assert_eq!(report.last_responder(), Some("node1"));
    assert!(
        report.samples.iter().skip_while(|s| !s.ok()).all(|s| s.ok()),
        "steady once answered"
    );
}

#[test]
fn failover_outage_is_measured_by_the_probe_loop() {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Nft, Tool::Arping]) else {
        return;
    };
    lab.add_service(&LbService::tcp("web", IpAddr::V4(VIP_V4), 80, 30080))
        .unwrap();
    own(&lab, "node1", IpAddr::V4(VIP_V4));
    let target = SocketAddr::new(IpAddr::V4(VIP_V4), 80);
    let opts = ProbeOptions {
        max_duration: Duration::from_secs(20),
        ..ProbeOptions::default()
    };
    let probe = lab.start_probe("client", target, ProbeProto::Tcp, opts).unwrap();
    probe
        .wait_for("node1 answering", Duration::from_secs(3), |r| {
            r.last_responder() == Some("node1")
        })
        .unwrap();

    // node1 dies (link cut); after 200 ms node2 takes the VIP over and announces it
    lab.cut_link("node1").unwrap();
    probe
        .wait_for("probes failing", Duration::from_secs(3), |r| {
            r.samples.last().is_some_and(|s| !s.ok())
        })
        .unwrap();
    let before = probe.snapshot().samples.len();
    probe
        .wait_for("4 more probes", Duration::from_secs(3), |r| {
            r.samples.len() >= before + 4
        })
        .unwrap();
    own(&lab, "node2", IpAddr::V4(VIP_V4));
    lab.send_garp("node2", VIP_V4).unwrap();
    probe
        .wait_for("node2 answering", Duration::from_secs(5), |r| {
            r.last_responder() == Some("node2")
        })
        .unwrap();
    let report = probe.stop().unwrap();

    let outage = report.longest_outage().expect("an outage was seen");
    let d = outage.duration().expect("recovered");
    timing(
        &format!("client-visible outage ({} failed probes)", outage.failed),
        d,
    );
    assert!(outage.failed >= 4, "{outage:?}");
    assert!(d < Duration::from_secs(5), "{outage:?}");
    let changes: Vec<String> = report.responder_changes().into_iter().map(|(_, n)| n).collect();
    assert_eq!(changes, ["node1", "node2"]);
}
