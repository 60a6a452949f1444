//! Lab self-tests for the kube-proxy stand-in and the outage probe: curl through a VIP reaches the
//! node that owns it (IPv4 and IPv6), UDP too, a failover seen by a 10 ms probe loop is measured as
//! a bounded outage followed by the new owner answering, and each node's health endpoint answers as
//! kube-proxy's does — healthy, stale, not eligible, down.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::timing;
use ferrolb_netlab::kubeproxy::health::{HEALTH_PORT, KubeProxyHealth};
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

/// A parsed HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `requests` (paths) on one connection from inside `from` to `addr`; the last one closes it.
fn get(lab: &Lab, from: &str, addr: SocketAddr, paths: &[&str]) -> ferrolb_netlab::Result<Vec<Response>> {
    let mut conn = lab.host(from).ns().tcp_connect(addr, Duration::from_secs(1))?;
    conn.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let close = if i + 1 == paths.len() {
            "Connection: close\r\n"
        } else {
            ""
        };
        write!(conn, "GET {p} HTTP/1.1\r\nHost: {addr}\r\n{close}\r\n").unwrap();
        // read one response: the head, then Content-Length bytes
        let mut chunk = [0u8; 4096];
        let (head, len) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(buf[..end].to_vec()).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .expect("Content-Length")
                    .parse()
                    .unwrap();
                buf.drain(..end + 4);
                break (head, len);
            }
            let n = conn.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed early");
            buf.extend_from_slice(&chunk[..n]);
        };
        while buf.len() < len {
            let n = conn.read(&mut chunk).expect("read body");
            assert!(n > 0, "connection closed in the body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8(buf.drain(..len).collect()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        out.push(Response {
            status,
            headers,
            body,
        });
    }
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing after the last response");
    Ok(out)
}

/// The monotonic part of a Go time string (`… m=+602.123456789`), in seconds.
fn mono(t: &serde_json::Value) -> f64 {
    let s = t.as_str().expect("a string");
    let (wall, m) = s
        .split_once(" m=+")
        .unwrap_or_else(|| panic!("no monotonic reading: {s}"));
    assert!(wall.ends_with(" +0000 UTC") && wall.len() >= 29, "{s}");
    let (_, frac) = m.split_once('.').unwrap();
    assert_eq!(frac.len(), 9, "{s}");
    m.parse().unwrap()
}

#[test]
fn the_health_endpoint_answers_as_kube_proxys_does() {
    let Some(lab) = Lab::for_test(TopologySpec::new(2), &[Tool::Nft, Tool::Curl]) else {
        return;
    };
    lab.add_service(&LbService::tcp("web", IpAddr::V4(VIP_V4), 80, 30080))
        .unwrap();
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), HEALTH_PORT);

    // healthy: 200, kube-proxy's headers and body, lastUpdated = currentTime; /livez without nodeEligible,
    // on one kept-alive connection
    let r = get(&lab, "node1", local, &["/healthz", "/livez?verbose", "/metrics"]).unwrap();
    assert_eq!(r[0].status, 200);
    assert_eq!(r[0].header("Content-Type"), Some("application/json"));
    assert_eq!(r[0].header("X-Content-Type-Options"), Some("nosniff"));
    assert!(r[0].header("Date").is_some_and(|d| d.ends_with(" GMT")));
    let j = r[0].json();
    assert_eq!(j["lastUpdated"], j["currentTime"]);
    assert_eq!(j["nodeEligible"], true);
    assert_eq!(
        r[0].body,
        format!(
            "{{\"lastUpdated\": {},\"currentTime\": {}, \"nodeEligible\": true}}",
            j["lastUpdated"], j["currentTime"]
        ),
        "kube-proxy's exact layout"
    );
    mono(&j["currentTime"]);
    assert_eq!(r[1].status, 200);
    assert!(r[1].json().get("nodeEligible").is_none(), "{}", r[1].body);
    assert_eq!((r[2].status, r[2].body.as_str()), (404, "404 page not found\n"));

    // on the node's addresses too, from the client (curl), IPv4 and IPv6
    let node2 = lab.host("node2");
    for ip in [IpAddr::V4(node2.ipv4()), IpAddr::V6(node2.ipv6())] {
        let url = format!("{}healthz", http_url(ip, HEALTH_PORT));
        let body = lab.curl("client", &url).expect("curl");
        let j: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(j["nodeEligible"], true, "{ip}: {body}");
    }

    // stale rules on node1: 503 from both, lastUpdated (the last sync) in the past; node2 unaffected
    lab.set_kube_proxy_health("node1", KubeProxyHealth::Stale)
        .unwrap();
    let r = get(&lab, "node1", local, &["/healthz", "/livez"]).unwrap();
    for r in &r {
        assert_eq!(r.status, 503, "{}", r.body);
        let j = r.json();
        assert!(
            mono(&j["currentTime"]) - mono(&j["lastUpdated"]) > 60.0,
            "{}",
            r.body
        );
    }
    assert_eq!(r[0].json()["nodeEligible"], true);
    let addr2 = SocketAddr::new(IpAddr::V4(node2.ipv4()), HEALTH_PORT);
    assert_eq!(get(&lab, "node2", addr2, &["/healthz"]).unwrap()[0].status, 200);

    // rules synced again; then the Node is being deleted: /healthz 503 with nodeEligible false, /livez 200
    lab.set_kube_proxy_health("node1", KubeProxyHealth::Healthy)
        .unwrap();
    assert_eq!(get(&lab, "node1", local, &["/healthz"]).unwrap()[0].status, 200);
    lab.set_kube_proxy_health("node1", KubeProxyHealth::NotEligible)
        .unwrap();
    let r = get(&lab, "node1", local, &["/healthz", "/livez"]).unwrap();
    assert_eq!(r[0].status, 503);
    assert_eq!(r[0].json()["nodeEligible"], false);
    assert_eq!(r[1].status, 200);

    // kube-proxy down: nothing answers; back up: the same state as before
    lab.set_kube_proxy_health("node1", KubeProxyHealth::Down).unwrap();
    assert!(
        get(&lab, "node1", local, &["/healthz"]).is_err(),
        "connection refused"
    );
    lab.set_kube_proxy_health("node1", KubeProxyHealth::Healthy)
        .unwrap();
    let r = get(&lab, "node1", local, &["/healthz"]).unwrap();
    assert_eq!(
        (r[0].status, &r[0].json()["nodeEligible"]),
        (200, &serde_json::json!(true))
    );
    assert!(
        lab.set_kube_proxy_health("client", KubeProxyHealth::Healthy)
            .is_err(),
        "not a node"
    );
}
