//! BGP sessions against a scripted router on loopback (no root, no lab): what goes on the wire, in order.
//!
//! Covered: OPEN (4-octet AS, graceful restart with forwarding preserved, timers, router ID); initial routes
//! then End-of-RIB; minimal UPDATEs for each change; iBGP/eBGP attributes over IPv4 and IPv6 (MP_REACH with
//! the local IPv6 next hop); the right NOTIFICATION and a backed-off reconnect after bad input; a malformed
//! attribute ignored with the session kept up (RFC 7606); hold timer expiry; a silent or unreachable peer not delaying another; a settings change resetting only its peer;
//! Cease on de-configuration and on shutdown, none when the speaker is dropped; TCP MD5 with the right and a
//! wrong key; the socket options (TTL, DSCP, source address); ROUTE-REFRESH; metrics.

mod bgp_support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use bgp_support::fake_router::{FakeRouter, WAIT};
use bgp_support::{advertisement, peer, target, wait_established, wait_status};
use ferrolb_proto::bgp::{Community, Family, LargeCommunity, Message, Notification, State, Update};
use ferrolb_speaker::bgp::{BgpMetrics, BgpOptions, BgpSpeaker};
use ipnet::IpNet;
use prometheus_client::registry::Registry;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LO6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const ROUTER_AS: u32 = 64512;
const NODE_AS: u32 = 64513;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn speaker() -> (BgpSpeaker, Registry) {
    let mut registry = Registry::with_prefix("ferrolb_speaker");
    let metrics = BgpMetrics::new();
    metrics.register(&mut registry);
    let options = BgpOptions {
        node_name: "node1".into(),
        ..BgpOptions::default()
    };
    (BgpSpeaker::new(options, metrics), registry)
}

fn metrics_text(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

fn expect_notification(msgs: &[Message], code: u8, subcode: u8) -> Notification {
    match msgs.iter().find(|m| matches!(m, Message::Notification(_))) {
        Some(Message::Notification(n)) if n.code == code && n.subcode == subcode => n.clone(),
        other => panic!("expected NOTIFICATION {code}/{subcode}, got {other:?} in {msgs:?}"),
    }
}

/// An UPDATE message with this body, built by hand (the codec refuses to write malformed ones).
fn raw_update(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(2);
    out.extend_from_slice(body);
    out
}

/// Waits (at most [`WAIT`]) until the metrics contain `line`.
async fn wait_metric(registry: &Registry, line: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = metrics_text(registry);
        if text.contains(line) {
            return;
        }
        assert!(Instant::now() < deadline, "missing {line} in\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn announced(updates: &[Update]) -> Vec<IpNet> {
    updates.iter().flat_map(|u| u.announced()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebgp_session_sends_routes_end_of_rib_then_minimal_updates() {
    let router = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, registry) = speaker();
    let adv = advertisement(Some(200), &["64513:7", "large:64513:1:2"]);
    let ips = [ip("203.0.113.10"), ip("203.0.113.11"), ip("2001:db8::100")];
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &ips,
        &adv,
    ));

    let (mut conn, open) = router.accept_established(9).await;
    assert_eq!(open.asn(), NODE_AS);
    assert_eq!(
        open.router_id,
        Ipv4Addr::LOCALHOST,
        "router ID from the node's IPv4 address"
    );
    assert_eq!(open.hold_time, 90);
    assert_eq!(open.capabilities.multiprotocol, [Family::Ipv4Unicast]);
    assert_eq!(open.capabilities.four_octet_as, Some(NODE_AS));
    let gr = open
        .capabilities
        .graceful_restart
        .clone()
        .expect("graceful restart capability");
    assert_eq!(gr.families, [(Family::Ipv4Unicast, true)], "forwarding preserved");
    assert!(!gr.restart_state);
    assert_eq!(gr.restart_time, 120);

    let updates = conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    assert_eq!(
        updates.len(),
        2,
        "one UPDATE for both routes, then End-of-RIB: {updates:?}"
    );
    assert_eq!(
        announced(&updates),
        [net("203.0.113.10/32"), net("203.0.113.11/32")]
    );
    let attrs = &updates[0].attributes;
    assert_eq!(
        attrs.next_hop,
        Some(Ipv4Addr::LOCALHOST),
        "the session's local address"
    );
    assert_eq!(attrs.as_path.as_ref().unwrap().segments[0].asns, [NODE_AS]);
    assert_eq!(attrs.local_pref, None, "no LOCAL_PREF on eBGP");
    assert_eq!(attrs.communities, [Community::new(64513, 7)]);
    assert_eq!(
        attrs.large_communities,
        [LargeCommunity {
            global: 64513,
            local1: 1,
            local2: 2
        }]
    );
    let status = wait_established(&speaker, router.addr(), WAIT).await;
    assert_eq!(status.advertised_prefixes, 2);

    // one more IP: exactly one UPDATE with it
    let more = [ips[0], ips[1], ip("203.0.113.12"), ips[2]];
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &more,
        &adv,
    ));
    let Message::Update(u) = conn.recv_significant().await else {
        panic!()
    };
    assert_eq!(announced(&[u]), [net("203.0.113.12/32")]);
    // the same target again: nothing
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &more,
        &adv,
    ));
    // two IPs gone: one UPDATE withdrawing both
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &[ips[1]],
        &adv,
    ));
    let Message::Update(u) = conn.recv_significant().await else {
        panic!()
    };
    let withdrawn: Vec<IpNet> = u.withdrawn_all().collect();
    assert_eq!(withdrawn, [net("203.0.113.10/32"), net("203.0.113.12/32")]);
    assert!(u.nlri.is_empty());
    assert!(
        conn.recv_within(Duration::from_millis(300)).await.is_none(),
        "nothing else"
    );

    let text = metrics_text(&registry);
    let label = format!("peer=\"{}\"", router.addr());
    for line in [
        format!("ferrolb_speaker_bgp_session_up{{{label}}} 1"),
        format!("ferrolb_speaker_bgp_updates_sent_total{{{label}}} 4"),
        format!("ferrolb_speaker_bgp_prefixes_sent_total{{{label}}} 3"),
        format!("ferrolb_speaker_bgp_prefixes_withdrawn_total{{{label}}} 2"),
        format!("ferrolb_speaker_bgp_announced_prefixes{{{label}}} 1"),
    ] {
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }

    // clean shutdown: Cease / Administrative Shutdown
    speaker.shutdown().await;
    expect_notification(&conn.until_closed().await, 6, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ibgp_over_ipv6_uses_mp_reach_with_the_local_ipv6_next_hop_and_local_pref() {
    let router = FakeRouter::bind(LO6, ROUTER_AS, None).await;
    let (mut speaker, _registry) = speaker();
    let adv = advertisement(Some(250), &[]);
    let ips = [ip("203.0.113.10"), ip("2001:db8::100"), ip("2001:db8::101")];
    // iBGP: our AS is the router's
    speaker.set(&target(
        &[LO, LO6],
        vec![peer(router.addr(), ROUTER_AS, ROUTER_AS)],
        &ips,
        &adv,
    ));
    let (mut conn, open) = router.accept_established(9).await;
    assert_eq!(open.capabilities.multiprotocol, [Family::Ipv6Unicast]);
    let updates = conn.recv_until_end_of_rib(Family::Ipv6Unicast).await;
    assert_eq!(updates.len(), 2, "{updates:?}");
    let attrs = &updates[0].attributes;
    let reach = attrs.mp_reach.as_ref().expect("MP_REACH");
    assert_eq!(reach.next_hop, LO6);
    assert_eq!(reach.nlri, [net("2001:db8::100/128"), net("2001:db8::101/128")]);
    assert_eq!(attrs.local_pref, Some(250), "LOCAL_PREF on iBGP");
    assert!(
        attrs.as_path.as_ref().unwrap().is_empty(),
        "empty AS_PATH on iBGP"
    );
    assert_eq!(attrs.next_hop, None, "no IPv4 NEXT_HOP for IPv6 routes");
    speaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_notification_and_a_backed_off_reconnect() {
    let router = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, registry) = speaker();
    let adv = advertisement(None, &[]);
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &[ip("203.0.113.10")],
        &adv,
    ));

    // 1. a desynchronised stream: Message Header Error / Connection Not Synchronized
    let (mut conn, _) = router.accept_established(9).await;
    conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    let mut garbage = Message::Keepalive.encode(&conn.cxt).unwrap();
    garbage[0] = 0;
    conn.send_raw(&garbage).await;
    expect_notification(&conn.until_closed().await, 1, 1);
    let closed = Instant::now();

    // reconnect after the backoff (1 s with jitter 0.75-1.0)
    let mut conn = router.accept().await;
    let waited = closed.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(3),
        "reconnect after {waited:?}"
    );

    // 2. the wrong peer AS in OPEN: OPEN Message Error / Bad Peer AS
    conn.handshake_refused(65000).await;
    expect_notification(&conn.until_closed().await, 2, 2);

    // 3. an UPDATE whose Total Path Attribute Length runs past the message (RFC 7606 still resets):
    // UPDATE Message Error / Malformed Attribute List
    let (mut conn, _) = router.accept_established(9).await;
    conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    conn.send_raw(&raw_update(&[0, 0, 0, 200])).await;
    expect_notification(&conn.until_closed().await, 3, 1);

    // 4. the router ends the session: counted as received, then a reconnect
    let (mut conn, _) = router.accept_established(9).await;
    conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    conn.send(Message::Notification(Notification::new(6, 4, [])))
        .await;
    drop(conn);
    let (_conn, _) = router.accept_established(9).await;

    let text = metrics_text(&registry);
    let label = format!("peer=\"{}\"", router.addr());
    for (kind, code, subcode) in [("sent", 1, 1), ("sent", 2, 2), ("sent", 3, 1), ("received", 6, 4)] {
        let line = format!(
            "ferrolb_speaker_bgp_notifications_{kind}_total{{{label},code=\"{code}\",subcode=\"{subcode}\"}} 1"
        );
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }
    speaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_attribute_is_ignored_and_the_session_stays_up() {
    let router = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, registry) = speaker();
    let adv = advertisement(None, &[]);
    let peers = || vec![peer(router.addr(), ROUTER_AS, NODE_AS)];
    speaker.set(&target(&[LO], peers(), &[ip("203.0.113.10")], &adv));
    let (mut conn, _) = router.accept_established(9).await;
    let updates = conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    assert_eq!(announced(&updates), [net("203.0.113.10/32")]);

    // the router forwards a route whose ORIGIN is 7 (undefined): RFC 4271 would reset the session
    let attrs: &[u8] = &[
        0x40, 1, 1, 7, // ORIGIN 7
        0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00, // AS_PATH 64512
        0x40, 3, 4, 192, 0, 2, 1, // NEXT_HOP 192.0.2.1
    ];
    let mut body = vec![0, 0, 0, attrs.len() as u8];
    body.extend_from_slice(attrs);
    body.extend_from_slice(&[24, 198, 51, 100]);
    conn.send_raw(&raw_update(&body)).await;
    let label = format!("peer=\"{}\"", router.addr());
    wait_metric(
        &registry,
        &format!("ferrolb_speaker_bgp_updates_ignored_total{{{label}}} 1"),
    )
    .await;

    // still up: a new service IP is advertised on the same connection, nothing else was sent
    speaker.set(&target(
        &[LO],
        peers(),
        &[ip("203.0.113.10"), ip("203.0.113.11")],
        &adv,
    ));
    match conn.recv_significant().await {
        Message::Update(u) => assert_eq!(announced(&[u]), [net("203.0.113.11/32")]),
        other => panic!("expected the new route, got {other:?}"),
    }
    let status = wait_established(&speaker, router.addr(), WAIT).await;
    assert_eq!(status.established_count, 1, "never reset");
    assert_eq!(status.advertised_prefixes, 2);
    let text = metrics_text(&registry);
    assert!(
        !text.contains("bgp_notifications_sent_total{"),
        "no NOTIFICATION sent:\n{text}"
    );
    assert!(
        text.contains(&format!("ferrolb_speaker_bgp_session_up{{{label}}} 1")),
        "{text}"
    );
    speaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_timer_expiry_sends_hold_timer_expired() {
    let router = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, _registry) = speaker();
    let mut p = peer(router.addr(), ROUTER_AS, NODE_AS);
    p.hold_time = Duration::from_secs(3);
    p.keepalive_time = Duration::from_secs(1);
    speaker.set(&target(&[LO], vec![p], &[], &advertisement(None, &[])));
    let (mut conn, open) = router.accept_established(3).await;
    assert_eq!(open.hold_time, 3);
    // the router falls silent: after 3 s the speaker gives up with NOTIFICATION 4
    let start = Instant::now();
    let msgs = conn.until_closed().await;
    assert!(
        msgs.iter().filter(|m| **m == Message::Keepalive).count() >= 1,
        "keepalives meanwhile"
    );
    expect_notification(&msgs, 4, 0);
    assert!(start.elapsed() < Duration::from_secs(5));
    speaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_or_unreachable_peer_never_delays_another() {
    let silent = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let good = FakeRouter::bind(LO, ROUTER_AS, None).await;
    // a port nobody listens on: refused at once, retried with backoff
    let unreachable = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (mut speaker, _registry) = speaker();
    let adv = advertisement(None, &[]);
    let peers = || {
        vec![
            peer(silent.addr(), ROUTER_AS, NODE_AS),
            peer(unreachable, ROUTER_AS, NODE_AS),
            peer(good.addr(), ROUTER_AS, NODE_AS),
        ]
    };
    let start = Instant::now();
    speaker.set(&target(&[LO], peers(), &[ip("203.0.113.10")], &adv));
    let _silent_conn = silent.accept().await; // accepted, never answered, never read
    let (mut conn, _) = good.accept_established(9).await;
    assert_eq!(
        announced(&conn.recv_until_end_of_rib(Family::Ipv4Unicast).await),
        [net("203.0.113.10/32")]
    );
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    let st = speaker.status();
    assert_eq!(st[&silent.addr()].state, State::OpenSent);
    assert_ne!(st[&unreachable].state, State::Established);

    // a change reaches the good peer at once
    let t = Instant::now();
    speaker.set(&target(
        &[LO],
        peers(),
        &[ip("203.0.113.10"), ip("203.0.113.20")],
        &adv,
    ));
    let Message::Update(u) = conn.recv_significant().await else {
        panic!()
    };
    assert_eq!(announced(&[u]), [net("203.0.113.20/32")]);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    speaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settings_change_resets_only_that_peer_and_removal_sends_cease() {
    let a = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let b = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, _registry) = speaker();
    let adv = advertisement(None, &[]);
    let ips = [ip("203.0.113.10")];
    let pa = peer(a.addr(), ROUTER_AS, NODE_AS);
    let pb = peer(b.addr(), ROUTER_AS, NODE_AS);
    speaker.set(&target(&[LO], vec![pa.clone(), pb.clone()], &ips, &adv));
    let (mut ca, _) = a.accept_established(9).await;
    let (mut cb, _) = b.accept_established(9).await;
    ca.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    cb.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    wait_established(&speaker, b.addr(), WAIT).await;

    // A's hold time changes: Cease / Other Configuration Change to A, a new session with the new timer
    let mut pa2 = pa.clone();
    pa2.hold_time = Duration::from_secs(30);
    pa2.keepalive_time = Duration::from_secs(10);
    speaker.set(&target(&[LO], vec![pa2.clone(), pb.clone()], &ips, &adv));
    expect_notification(&ca.until_closed().await, 6, 6);
    let (mut ca, open) = a.accept_established(9).await;
    assert_eq!(open.hold_time, 30);
    ca.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    // B was not touched: same connection, still established once, still gets changes
    assert!(b.accept_within(Duration::from_millis(200)).await.is_none());
    assert_eq!(speaker.status()[&b.addr()].established_count, 1);
    speaker.set(&target(&[LO], vec![pa2, pb.clone()], &[], &adv));
    let Message::Update(u) = cb.recv_significant().await else {
        panic!()
    };
    assert_eq!(u.withdrawn_all().count(), 1);

    // A removed from the config: Cease / Peer De-configured; B untouched
    speaker.set(&target(&[LO], vec![pb], &[], &adv));
    expect_notification(&ca.until_closed().await, 6, 3);
    assert!(!speaker.status().contains_key(&a.addr()));
    assert!(cb.recv_within(Duration::from_millis(200)).await.is_none());
    speaker.shutdown().await;
    expect_notification(&cb.until_closed().await, 6, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_md5_connects_with_the_right_key_only() {
    let router = FakeRouter::bind(LO, ROUTER_AS, Some((LO, "s3cret"))).await;
    let (mut speaker, _registry) = speaker();
    let mut p = peer(router.addr(), ROUTER_AS, NODE_AS);
    p.password = Some(ferrolb_config::PeerPassword::inline("wrong"));
    speaker.set(&target(&[LO], vec![p.clone()], &[], &advertisement(None, &[])));
    // the router's kernel drops the badly signed SYNs: no connection at all
    assert!(router.accept_within(Duration::from_millis(1500)).await.is_none());
    assert_ne!(speaker.status()[&router.addr()].state, State::Established);

    p.password = Some(ferrolb_config::PeerPassword::inline("s3cret"));
    speaker.set(&target(&[LO], vec![p], &[], &advertisement(None, &[])));
    let (_conn, _) = router.accept_established(9).await;
    wait_status(&speaker, router.addr(), WAIT, |s| s.state == State::Established).await;
    speaker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_speaker_closes_without_a_notification() {
    // as a crash or kill -9 would: routers that support graceful restart keep the routes
    let router = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, _registry) = speaker();
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &[ip("203.0.113.10")],
        &advertisement(None, &[]),
    ));
    let (mut conn, _) = router.accept_established(9).await;
    conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    drop(speaker);
    let msgs = conn.until_closed().await;
    assert!(
        msgs.iter().all(|m| !matches!(m, Message::Notification(_))),
        "{msgs:?}"
    );
}

#[test]
fn socket_options_are_set_before_connecting() {
    use ferrolb_speaker::bgp::{ConnectError, SocketFactory, Transport, transport::configured_socket};
    let factory = SocketFactory::default();
    // directly connected eBGP over IPv4, with MD5, from the node's address
    let t = Transport {
        remote: "127.0.0.1:179".parse().unwrap(),
        bind: Some(LO),
        bind_required: false,
        md5_password: Some("s3cret".into()),
        ttl: Some(1),
    };
    let s = configured_socket(&t, &factory).unwrap();
    assert_eq!(s.ttl_v4().unwrap(), 1);
    assert_eq!(s.tos_v4().unwrap(), 0xc0, "DSCP CS6");
    assert!(s.tcp_nodelay().unwrap());
    let local = s.local_addr().unwrap().as_socket().unwrap();
    assert_eq!(local.ip(), LO, "bound to the source address");
    // over IPv6 with ebgp-multihop
    let t6 = Transport {
        remote: "[::1]:179".parse().unwrap(),
        bind: None,
        bind_required: false,
        md5_password: None,
        ttl: Some(255),
    };
    let s = configured_socket(&t6, &factory).unwrap();
    assert_eq!(s.unicast_hops_v6().unwrap(), 255);
    // the node's address may not be local (NAT): the kernel chooses; an explicit source-address must bind
    let not_local = Transport {
        bind: Some(ip("192.0.2.250")),
        ..t.clone()
    };
    let s = configured_socket(&not_local, &factory).unwrap();
    assert!(s.local_addr().unwrap().as_socket().unwrap().ip().is_unspecified());
    let required = Transport {
        bind_required: true,
        ..not_local
    };
    let err = configured_socket(&required, &factory).unwrap_err();
    assert!(matches!(err, ConnectError::Bind { .. }), "{err}");
    assert!(err.to_string().contains("192.0.2.250"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_refresh_gets_every_route_again() {
    use ferrolb_proto::bgp::RouteRefresh;
    let router = FakeRouter::bind(LO, ROUTER_AS, None).await;
    let (mut speaker, _registry) = speaker();
    let ips = [ip("203.0.113.10"), ip("203.0.113.11")];
    speaker.set(&target(
        &[LO],
        vec![peer(router.addr(), ROUTER_AS, NODE_AS)],
        &ips,
        &advertisement(None, &["64513:7"]),
    ));
    let (mut conn, _) = router.accept_established(9).await;
    let first = conn.recv_until_end_of_rib(Family::Ipv4Unicast).await;
    conn.send(Message::RouteRefresh(RouteRefresh::request(Family::Ipv4Unicast)))
        .await;
    let Message::Update(again) = conn.recv_significant().await else {
        panic!()
    };
    assert_eq!(again, first[0], "the same routes, the same attributes");
    // a family that was not negotiated is ignored (RFC 2918)
    conn.send(Message::RouteRefresh(RouteRefresh::request(Family::Ipv6Unicast)))
        .await;
    assert!(conn.recv_within(Duration::from_millis(300)).await.is_none());
    speaker.shutdown().await;
}
