//! BGP session scenarios: negotiation (hold time, keepalive, families, 4-octet AS, graceful restart), the
//! NOTIFICATION for every OPEN error, connect-retry backoff, UPDATE sending, and real routers' OPENs.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ferrolb_proto::bgp::fsm::{Backoff, DownReason, GracefulRestartConfig, SendError};
use ferrolb_proto::bgp::{
    Action, AsPath, Capabilities, CodecContext, Event, Family, Framer, GracefulRestart, Message, Negotiated,
    Notification, Open, Origin, PathAttributes, RouteRefresh, Session, SessionConfig, State, Timer, Update,
};

fn config() -> SessionConfig {
    SessionConfig {
        jitter_seed: 1,
        ..SessionConfig::new(64513, 64512, Ipv4Addr::new(192, 0, 2, 11))
    }
}

fn encode(msg: Message) -> Vec<u8> {
    msg.encode(&CodecContext::default())
        .expect("test message encodes")
}

fn open_from(asn: u32, hold: u16, families: &[Family]) -> Open {
    let caps = Capabilities {
        multiprotocol: families.to_vec(),
        route_refresh: true,
        ..Capabilities::default()
    };
    Open::new(asn, hold, Ipv4Addr::new(192, 0, 2, 1), caps)
}

/// The messages in `Send` actions.
fn sent(actions: &[Action]) -> Vec<Message> {
    let mut out = Vec::new();
    for action in actions {
        if let Action::Send(bytes) = action {
            let mut framer = Framer::new();
            framer.push(bytes);
            while let Some(raw) = framer.next_message().expect("valid") {
                out.push(Message::decode(raw, &CodecContext::default()).expect("decodes"));
            }
        }
    }
    out
}

fn notification_sent(actions: &[Action]) -> Option<Notification> {
    sent(actions).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some(n),
        _ => None,
    })
}

/// Start, connect, receive the peer's OPEN: returns the actions of that last step.
fn to_open_confirm(s: &mut Session, peer: Open) -> Vec<Action> {
    s.handle(Event::Start);
    s.handle(Event::TcpConnected);
    s.handle(Event::Message(Box::new(Message::Open(peer))))
}

fn establish(config: SessionConfig, peer: Open) -> (Session, Negotiated) {
    let mut s = Session::new(config).expect("valid config");
    to_open_confirm(&mut s, peer);
    let actions = s.handle(Event::Received(&encode(Message::Keepalive)));
    let negotiated = actions
        .iter()
        .find_map(|a| {
            if let Action::SessionUp(n) = a {
                Some(n.clone())
            } else {
                None
            }
        })
        .unwrap_or_else(|| panic!("session up: {actions:?} / {:?}", s.last_error()));
    (s, negotiated)
}

#[test]
fn our_open_announces_what_is_configured() {
    let mut c = config();
    c.local_asn = 4_200_000_011;
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: true,
        forwarding_preserved: true,
    });
    let mut s = Session::new(c).expect("valid");
    s.handle(Event::Start);
    let Some(Message::Open(open)) = sent(&s.handle(Event::TcpConnected)).pop() else {
        panic!("OPEN sent")
    };
    assert_eq!(open.my_as, 23456);
    assert_eq!(open.asn(), 4_200_000_011);
    assert_eq!(open.hold_time, 90);
    assert_eq!(open.router_id, Ipv4Addr::new(192, 0, 2, 11));
    assert_eq!(
        open.capabilities.multiprotocol,
        [Family::Ipv4Unicast, Family::Ipv6Unicast]
    );
    assert!(open.capabilities.route_refresh);
    assert_eq!(
        open.capabilities.graceful_restart,
        Some(GracefulRestart {
            restart_state: true,
            notification: false,
            restart_time: 120,
            families: vec![(Family::Ipv4Unicast, true), (Family::Ipv6Unicast, true)],
        })
    );
}

#[test]
fn hold_time_is_the_minimum_and_keepalive_a_third_unless_configured() {
    // (ours, keepalive configured, peer's) -> (hold, keepalive)
    for (ours, ka, theirs, hold, keepalive) in [
        (90, None, 180, 90, 30),
        (90, None, 9, 9, 3),
        (3, None, 90, 3, 1),
        (90, Some(10), 90, 90, 10),
        (90, Some(60), 9, 9, 3), // capped at a third of the negotiated hold time
        (0, None, 90, 0, 0),
        (90, None, 0, 0, 0),
    ] {
        let mut c = config();
        c.hold_time = ours;
        c.keepalive_time = ka;
        let (_, n) = establish(c, open_from(64512, theirs, &[Family::Ipv4Unicast]));
        assert_eq!(
            (n.hold_time, n.keepalive_time),
            (hold, keepalive),
            "ours {ours} ka {ka:?} theirs {theirs}"
        );
    }
}

#[test]
fn hold_time_zero_runs_no_hold_or_keepalive_timer() {
    let mut c = config();
    c.hold_time = 0;
    let mut s = Session::new(c).expect("valid");
    let actions = to_open_confirm(&mut s, open_from(64512, 90, &[Family::Ipv4Unicast]));
    assert!(actions.contains(&Action::DisarmTimer(Timer::Hold)), "{actions:?}");
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ArmTimer(Timer::Keepalive | Timer::Hold, _)))
    );
    s.handle(Event::Message(Box::new(Message::Keepalive)));
    assert_eq!(s.state(), State::Established);
    assert!(!s.is_armed(Timer::Hold) && !s.is_armed(Timer::Keepalive));
    assert_eq!(
        s.handle(Event::TimerExpired(Timer::Hold)),
        [],
        "a hold timer that is not running cannot expire"
    );
}

#[test]
fn open_errors_get_the_right_notification() {
    let mut ibgp = config();
    ibgp.peer_asn = 64513;
    let same_id = Open {
        router_id: Ipv4Addr::new(192, 0, 2, 11),
        ..open_from(64513, 90, &[Family::Ipv4Unicast])
    };
    let cases: Vec<(&str, SessionConfig, Open, Notification)> = vec![
        (
            "wrong AS",
            config(),
            open_from(65000, 90, &[Family::Ipv4Unicast]),
            Notification::new(2, 2, []),
        ),
        (
            "4-octet AS differs from the configured one",
            config(),
            open_from(4_200_000_000, 90, &[Family::Ipv4Unicast]),
            Notification::new(2, 2, []),
        ),
        (
            "hold time 1",
            config(),
            open_from(64512, 1, &[Family::Ipv4Unicast]),
            Notification::new(2, 6, [0, 1]),
        ),
        (
            "hold time 2",
            config(),
            open_from(64512, 2, &[Family::Ipv4Unicast]),
            Notification::new(2, 6, [0, 2]),
        ),
        (
            "iBGP peer with our identifier",
            ibgp,
            same_id,
            Notification::new(2, 3, [192, 0, 2, 11]),
        ),
        (
            "identifier 0.0.0.0",
            config(),
            Open {
                router_id: Ipv4Addr::UNSPECIFIED,
                ..open_from(64512, 90, &[Family::Ipv4Unicast])
            },
            Notification::new(2, 3, [0, 0, 0, 0]),
        ),
        (
            "no family in common",
            SessionConfig {
                families: vec![Family::Ipv6Unicast],
                ..config()
            },
            open_from(64512, 90, &[Family::Ipv4Unicast]),
            Notification::new(2, 7, [1, 4, 0, 2, 0, 1]),
        ),
        (
            "peer without multiprotocol capability speaks IPv4 only",
            SessionConfig {
                families: vec![Family::Ipv6Unicast],
                ..config()
            },
            open_from(64512, 90, &[]),
            Notification::new(2, 7, [1, 4, 0, 2, 0, 1]),
        ),
    ];
    for (what, config, peer, expected) in cases {
        let mut s = Session::new(config).expect("valid config");
        let actions = to_open_confirm(&mut s, peer);
        assert_eq!(notification_sent(&actions), Some(expected.clone()), "{what}");
        assert!(actions.contains(&Action::Close), "{what}");
        assert_eq!(s.state(), State::Idle, "{what}");
        assert!(
            matches!(s.last_error(), Some(DownReason::NotificationSent { notification, .. }) if *notification == expected),
            "{what}"
        );
    }
}

#[test]
fn a_decoder_error_is_answered_from_the_bytes() {
    // hold time 2 in an OPEN on the wire: netgauze refuses it while decoding
    let mut s = Session::new(config()).expect("valid");
    s.handle(Event::Start);
    s.handle(Event::TcpConnected);
    let mut bytes = encode(Message::Open(open_from(64512, 90, &[Family::Ipv4Unicast])));
    bytes[22..24].copy_from_slice(&2u16.to_be_bytes());
    let actions = s.handle(Event::Received(&bytes));
    assert_eq!(notification_sent(&actions), Some(Notification::new(2, 6, [0, 2])));
}

#[test]
fn negotiated_families_four_octet_as_and_peer_graceful_restart() {
    let mut peer = open_from(64512, 90, &[Family::Ipv6Unicast, Family::Ipv4Unicast]);
    peer.capabilities.graceful_restart = Some(GracefulRestart {
        restart_state: false,
        notification: true,
        restart_time: 300,
        families: vec![],
    });
    let (_, n) = establish(
        SessionConfig {
            families: vec![Family::Ipv4Unicast],
            ..config()
        },
        peer,
    );
    assert_eq!(n.families, [Family::Ipv4Unicast]);
    assert!(n.four_octet_as && n.route_refresh);
    assert_eq!(n.graceful_restart.map(|g| g.restart_time), Some(300));
    assert_eq!(n.peer_asn, 64512);

    // a peer without the 4-octet AS capability: 2-octet encoding on the session
    let mut old = open_from(64512, 90, &[]);
    old.capabilities.four_octet_as = None;
    old.capabilities.route_refresh = false;
    let (s, n) = establish(config(), old);
    assert!(!n.four_octet_as && !n.route_refresh);
    assert_eq!(n.families, [Family::Ipv4Unicast]);
    assert_eq!(s.codec(), CodecContext { four_octet_as: false });
}

#[test]
fn opens_of_real_routers_negotiate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bgp");
    for router in ["gobgp", "bird", "frr"] {
        let bytes = std::fs::read(dir.join(router).join("ibgp-open.bin")).expect("captured OPEN");
        let mut s = Session::new(config()).expect("valid");
        s.handle(Event::Start);
        s.handle(Event::TcpConnected);
        let actions = s.handle(Event::Received(&bytes));
        assert_eq!(
            s.state(),
            State::OpenConfirm,
            "{router}: {actions:?} {:?}",
            s.last_error()
        );
        let n = s.negotiated().expect("negotiated");
        assert_eq!((n.hold_time, n.keepalive_time), (9, 3), "{router}");
        assert_eq!(n.families, [Family::Ipv4Unicast, Family::Ipv6Unicast], "{router}");
        assert!(
            n.four_octet_as && n.route_refresh && n.graceful_restart.is_some(),
            "{router}"
        );
        // and a whole captured stream (OPEN, KEEPALIVE, UPDATEs, NOTIFICATION) in one read
        let stream = std::fs::read(dir.join(router).join("ibgp-stream.bin")).expect("captured stream");
        let mut s = Session::new(config()).expect("valid");
        s.handle(Event::Start);
        s.handle(Event::TcpConnected);
        let actions = s.handle(Event::Received(&stream));
        assert!(
            actions.iter().any(|a| matches!(a, Action::SessionUp(_))),
            "{router}"
        );
        assert!(
            actions.iter().any(
                |a| matches!(a, Action::SessionDown(DownReason::NotificationReceived(n)) if n.code == 6)
            ),
            "{router}: {actions:?}"
        );
        assert_eq!(s.state(), State::Idle);
    }
}

#[test]
fn bytes_in_any_chunking_drive_the_session() {
    let peer = encode(Message::Open(open_from(64512, 90, &[Family::Ipv4Unicast])));
    let ka = encode(Message::Keepalive);
    let stream: Vec<u8> = peer.iter().chain(&ka).chain(&ka).copied().collect();
    for chunk in [1, 7, 19, stream.len()] {
        let mut s = Session::new(config()).expect("valid");
        s.handle(Event::Start);
        s.handle(Event::TcpConnected);
        let ups: usize = stream
            .chunks(chunk)
            .map(|c| {
                s.handle(Event::Received(c))
                    .iter()
                    .filter(|a| matches!(a, Action::SessionUp(_)))
                    .count()
            })
            .sum();
        assert_eq!((ups, s.state()), (1, State::Established), "chunk {chunk}");
    }
}

#[test]
fn connect_retry_backs_off_exponentially_with_jitter_and_resets_once_established() {
    let mut c = config();
    c.backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };
    let mut s = Session::new(c).expect("valid");
    s.handle(Event::Start);
    let mut delays = Vec::new();
    for _ in 0..8 {
        let actions = s.handle(Event::TcpConnectFailed);
        let delay = actions
            .iter()
            .find_map(|a| {
                if let Action::ArmTimer(Timer::ConnectRetry, d) = a {
                    Some(*d)
                } else {
                    None
                }
            })
            .expect("retry timer");
        delays.push(delay);
        assert_eq!(s.state(), State::Active);
        assert_eq!(
            s.handle(Event::TimerExpired(Timer::ConnectRetry))[0],
            Action::Connect
        );
    }
    for (i, d) in delays.iter().enumerate() {
        let base = Duration::from_secs(1 << i).min(Duration::from_secs(30));
        assert!(
            *d <= base && *d >= base * 3 / 4,
            "attempt {i}: {d:?} for base {base:?}"
        );
    }
    assert!(
        delays.windows(2).take(4).all(|w| w[1] > w[0]),
        "grows: {delays:?}"
    );
    // established: the next failure starts over at the initial delay
    s.handle(Event::TcpConnected);
    s.handle(Event::Message(Box::new(Message::Open(open_from(
        64512,
        90,
        &[Family::Ipv4Unicast],
    )))));
    s.handle(Event::Message(Box::new(Message::Keepalive)));
    assert_eq!(s.state(), State::Established);
    let actions = s.handle(Event::TcpClosed);
    let d = actions
        .iter()
        .find_map(|a| {
            if let Action::ArmTimer(Timer::ConnectRetry, d) = a {
                Some(*d)
            } else {
                None
            }
        })
        .expect("retry timer");
    assert!(
        d <= Duration::from_secs(1) && d >= Duration::from_millis(750),
        "{d:?}"
    );
    // the session reconnects on its own when the timer fires in Idle
    assert_eq!(s.state(), State::Idle);
    assert_eq!(
        s.handle(Event::TimerExpired(Timer::ConnectRetry))[0],
        Action::Connect
    );
}

#[test]
fn two_seeds_retry_at_different_times() {
    let first_delay = |seed| {
        let mut s = Session::new(SessionConfig {
            jitter_seed: seed,
            ..config()
        })
        .expect("valid");
        s.handle(Event::Start);
        s.handle(Event::TcpConnectFailed).into_iter().find_map(|a| {
            if let Action::ArmTimer(Timer::ConnectRetry, d) = a {
                Some(d)
            } else {
                None
            }
        })
    };
    assert_eq!(first_delay(5), first_delay(5));
    assert_ne!(first_delay(5), first_delay(6));
}

#[test]
fn stopped_sessions_do_not_reconnect_and_start_again_on_request() {
    let (mut s, _) = establish(config(), open_from(64512, 90, &[Family::Ipv4Unicast]));
    let actions = s.handle(Event::Stop);
    assert_eq!(
        notification_sent(&actions).map(|n| (n.code, n.subcode)),
        Some((6, 2))
    );
    assert!(actions.contains(&Action::SessionDown(DownReason::Stopped)));
    assert!(
        !actions.iter().any(|a| matches!(a, Action::ArmTimer(..))),
        "{actions:?}"
    );
    assert_eq!(s.handle(Event::TimerExpired(Timer::ConnectRetry)), []);
    assert_eq!(s.handle(Event::Start)[0], Action::Connect);
}

#[test]
fn updates_are_sent_only_when_established_and_restart_the_keepalive_timer() {
    let update = Update {
        nlri: vec!["203.0.113.10/32".parse().expect("prefix")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([64513])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 11)),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    let mut s = Session::new(config()).expect("valid");
    assert_eq!(
        s.send_updates(std::slice::from_ref(&update)),
        Err(SendError::NotEstablished(State::Idle))
    );
    let (mut s, _) = establish(config(), open_from(64512, 90, &[Family::Ipv4Unicast]));
    let actions = s
        .send_updates(&[update.clone(), Update::end_of_rib(Family::Ipv4Unicast)])
        .expect("sends");
    assert_eq!(
        sent(&actions),
        [
            Message::Update(update),
            Message::Update(Update::end_of_rib(Family::Ipv4Unicast))
        ]
    );
    assert_eq!(
        actions.last(),
        Some(&Action::ArmTimer(Timer::Keepalive, Duration::from_secs(30)))
    );
    assert_eq!(s.send_updates(&[]), Ok(vec![]));
    let bad = Update {
        nlri: vec!["224.0.0.0/24".parse().expect("prefix")],
        ..Update::default()
    };
    assert!(matches!(s.send_updates(&[bad]), Err(SendError::Encode(_))));
}

#[test]
fn updates_on_a_two_octet_session_carry_as_trans() {
    let mut c = config();
    c.local_asn = 4_200_000_011;
    let mut old = open_from(64512, 90, &[Family::Ipv4Unicast]);
    old.capabilities.four_octet_as = None;
    let (mut s, _) = establish(c, old);
    let update = Update {
        nlri: vec!["203.0.113.10/32".parse().expect("prefix")],
        attributes: PathAttributes {
            origin: Some(Origin::Igp),
            as_path: Some(AsPath::sequence([4_200_000_011])),
            next_hop: Some(Ipv4Addr::new(192, 0, 2, 11)),
            ..PathAttributes::default()
        },
        ..Update::default()
    };
    let Some(Action::Send(bytes)) = s
        .send_updates(std::slice::from_ref(&update))
        .expect("sends")
        .first()
        .cloned()
    else {
        panic!("send")
    };
    // AS_PATH 23456 in 2-octet form, AS4_PATH with the real ASN
    assert!(
        bytes.windows(6).any(|w| w == [0x40, 2, 4, 2, 1, 0x5b]),
        "AS_PATH with AS_TRANS"
    );
    assert!(bytes.windows(3).any(|w| w == [0xc0, 17, 6]), "AS4_PATH");
    assert_eq!(Message::decode(&bytes, &s.codec()), Ok(Message::Update(update)));
}

#[test]
fn route_refresh_only_for_negotiated_families() {
    let (mut s, _) = establish(
        SessionConfig {
            families: vec![Family::Ipv4Unicast],
            ..config()
        },
        open_from(64512, 90, &[Family::Ipv4Unicast]),
    );
    let v6 = encode(Message::RouteRefresh(RouteRefresh::request(Family::Ipv6Unicast)));
    assert!(
        !s.handle(Event::Received(&v6))
            .iter()
            .any(|a| matches!(a, Action::RouteRefreshRequested(_)))
    );
    let v4 = encode(Message::RouteRefresh(RouteRefresh::request(Family::Ipv4Unicast)));
    assert!(
        s.handle(Event::Received(&v4))
            .contains(&Action::RouteRefreshRequested(Family::Ipv4Unicast))
    );
    assert_eq!(s.state(), State::Established);
}

#[test]
fn hold_timer_expiry_reports_why() {
    let (mut s, _) = establish(config(), open_from(64512, 90, &[Family::Ipv4Unicast]));
    let actions = s.handle(Event::TimerExpired(Timer::Hold));
    assert_eq!(
        notification_sent(&actions),
        Some(Notification::hold_timer_expired())
    );
    assert!(actions.contains(&Action::SessionDown(DownReason::HoldTimerExpired)));
    assert_eq!(s.last_error(), Some(&DownReason::HoldTimerExpired));
}

#[test]
fn invalid_configurations_are_refused() {
    assert!(
        Session::new(SessionConfig {
            hold_time: 1,
            ..config()
        })
        .is_err()
    );
    assert!(
        Session::new(SessionConfig {
            families: vec![],
            ..config()
        })
        .is_err()
    );
}

/// A session with graceful restart announced (N bit as given) to a peer announcing it (N bit as given).
fn establish_gr(ours_n: bool, theirs_n: bool) -> (Session, Negotiated) {
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 120,
        restarting: false,
        forwarding_preserved: true,
    });
    c.graceful_notification = ours_n;
    let mut peer = open_from(64512, 90, &[Family::Ipv4Unicast]);
    peer.capabilities.graceful_restart = Some(GracefulRestart {
        restart_state: false,
        notification: theirs_n,
        restart_time: 120,
        families: Vec::new(),
    });
    establish(c, peer)
}

#[test]
fn the_n_bit_is_announced_when_configured_and_negotiated_only_when_both_set_it() {
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 90,
        restarting: false,
        forwarding_preserved: true,
    });
    c.graceful_notification = true;
    let mut s = Session::new(c).expect("valid");
    s.handle(Event::Start);
    let Some(Message::Open(open)) = sent(&s.handle(Event::TcpConnected)).pop() else {
        panic!("OPEN sent")
    };
    let gr = open.capabilities.graceful_restart.clone().expect("GR capability");
    assert!(gr.notification && !gr.restart_state);
    // the N bit survives the wire both ways
    let bytes = encode(Message::Open(open.clone()));
    let mut framer = Framer::new();
    framer.push(&bytes);
    let raw = framer.next_message().expect("framed").expect("one message");
    assert_eq!(
        Message::decode(raw, &CodecContext::default()).expect("decodes"),
        Message::Open(open)
    );
    // (ours, theirs) -> negotiated
    for (ours, theirs, negotiated) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
        (false, false, false),
    ] {
        let (_, n) = establish_gr(ours, theirs);
        assert_eq!(
            n.graceful_notification, negotiated,
            "ours {ours}, theirs {theirs}"
        );
    }
    // no GR capability from the peer: no N bit either
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 90,
        restarting: false,
        forwarding_preserved: true,
    });
    c.graceful_notification = true;
    let (_, n) = establish(c, open_from(64512, 90, &[Family::Ipv4Unicast]));
    assert!(!n.graceful_notification);
}

/// What a stop sends: `(code, subcode, data)` of the NOTIFICATION, or `None` when the connection is just
/// closed; and that it closes and goes down as Stopped without reconnecting.
fn stop(s: &mut Session, event: Event<'_>) -> Option<(u8, u8, Vec<u8>)> {
    let actions = s.handle(event);
    assert!(actions.contains(&Action::Close), "{actions:?}");
    assert!(
        actions.contains(&Action::SessionDown(DownReason::Stopped)),
        "{actions:?}"
    );
    assert!(
        !actions.iter().any(|a| matches!(a, Action::ArmTimer(..))),
        "no reconnect: {actions:?}"
    );
    assert_eq!(s.state(), State::Idle);
    notification_sent(&actions).map(|n| (n.code, n.subcode, n.data))
}

#[test]
fn stopping_sends_the_cease_that_keeps_or_withdraws_the_routes() {
    // (N bit ours, theirs, graceful) -> what goes on the wire
    let hard_reset_of_shutdown = Some((6, 9, vec![6, 2]));
    for (ours, theirs, graceful, expected) in [
        // departure: Administrative Shutdown, as Hard Reset once N is negotiated (RFC 8538 §5.1)
        (false, false, false, Some((6, 2, vec![]))),
        (true, false, false, Some((6, 2, vec![]))),
        (true, true, false, hard_reset_of_shutdown),
        // restart: Administrative Reset with N (RFC 8538 §4), else no NOTIFICATION at all (RFC 4724)
        (true, true, true, Some((6, 4, vec![]))),
        (true, false, true, None),
        (false, true, true, None),
        (false, false, true, None),
    ] {
        let (mut s, _) = establish_gr(ours, theirs);
        let event = if graceful {
            Event::StopGraceful
        } else {
            Event::Stop
        };
        assert_eq!(
            stop(&mut s, event),
            expected,
            "N ours {ours}, theirs {theirs}, graceful {graceful}"
        );
    }
}

#[test]
fn with_the_n_bit_a_deconfigured_peer_gets_a_hard_reset_and_errors_stay_graceful() {
    let (mut s, _) = establish_gr(true, true);
    let deconfigured = Notification::new(6, 3, []);
    let actions = s.handle(Event::Reset(deconfigured.clone()));
    let wire = notification_sent(&actions).expect("sent");
    assert_eq!((wire.code, wire.subcode), (6, 9));
    assert_eq!(wire.hard_reset_cause(), Some(deconfigured.clone()));
    assert_eq!(
        actions.iter().find_map(|a| match a {
            Action::SessionDown(r) => Some(r.clone()),
            _ => None,
        }),
        Some(DownReason::Reset(deconfigured)),
        "the reason names what was meant, not its wrapping"
    );
    // a configuration change and the hold timer are sent as they are: the peer keeps the routes
    let (mut s, _) = establish_gr(true, true);
    let change = notification_sent(&s.handle(Event::Reset(Notification::new(6, 6, [])))).expect("sent");
    assert_eq!((change.code, change.subcode), (6, 6));
    let (mut s, _) = establish_gr(true, true);
    let hold = notification_sent(&s.handle(Event::TimerExpired(Timer::Hold))).expect("sent");
    assert_eq!((hold.code, hold.subcode), (4, 0));
    // without N a deconfigured peer gets the plain Cease
    let (mut s, _) = establish_gr(true, false);
    let plain = notification_sent(&s.handle(Event::Reset(Notification::new(6, 3, [])))).expect("sent");
    assert_eq!((plain.code, plain.subcode), (6, 3));
}

#[test]
fn a_graceful_stop_before_established_closes_without_a_notification() {
    let mut s = Session::new(config()).expect("valid");
    s.handle(Event::Start);
    s.handle(Event::TcpConnected);
    let actions = s.handle(Event::StopGraceful);
    assert_eq!(notification_sent(&actions), None);
    assert!(actions.contains(&Action::Close));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.handle(Event::TimerExpired(Timer::ConnectRetry)), []);
}
