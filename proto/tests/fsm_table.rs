//! The BGP session state machine as a table: every state × every event, with the next state and the exact
//! actions (RFC 4271 §8.2.2 as ferrolb applies it; see `bgp::fsm` for the deviations: active open only, no
//! collision detection, automatic restart with backoff).

use std::net::Ipv4Addr;
use std::time::Duration;

use ferrolb_proto::bgp::notification::{CEASE, cease};
use ferrolb_proto::bgp::{
    Action, Capabilities, CodecContext, Event, Family, Framer, Message, Notification, Open, RouteRefresh,
    Session, SessionConfig, State, Timer, Update,
};

const LOCAL_AS: u32 = 64513;
const PEER_AS: u32 = 64512;

fn config() -> SessionConfig {
    SessionConfig {
        jitter_seed: 7,
        ..SessionConfig::new(LOCAL_AS, PEER_AS, Ipv4Addr::new(192, 0, 2, 11))
    }
}

fn bytes(msg: Message) -> Vec<u8> {
    msg.encode(&CodecContext::default())
        .expect("test message encodes")
}

fn peer_open(asn: u32) -> Vec<u8> {
    let caps = Capabilities {
        multiprotocol: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
        route_refresh: true,
        ..Capabilities::default()
    };
    bytes(Message::Open(Open::new(
        asn,
        9,
        Ipv4Addr::new(192, 0, 2, 1),
        caps,
    )))
}

/// The events of the table, by name.
fn event(name: &str) -> (Event<'static>, Vec<u8>) {
    let none = Vec::new();
    match name {
        "Start" => (Event::Start, none),
        "Stop" => (Event::Stop, none),
        "Reset" => (
            Event::Reset(Notification::new(CEASE, cease::OTHER_CONFIGURATION_CHANGE, [])),
            none,
        ),
        "TcpConnected" => (Event::TcpConnected, none),
        "TcpConnectFailed" => (Event::TcpConnectFailed, none),
        "TcpClosed" => (Event::TcpClosed, none),
        "Open" => (Event::Start, peer_open(PEER_AS)),
        "OpenBadAs" => (Event::Start, peer_open(65000)),
        "Keepalive" => (Event::Start, bytes(Message::Keepalive)),
        "Update" => (
            Event::Start,
            bytes(Message::Update(Update::end_of_rib(Family::Ipv4Unicast))),
        ),
        "Notification" => (
            Event::Start,
            bytes(Message::Notification(Notification::new(CEASE, 2, []))),
        ),
        "RouteRefresh" => (
            Event::Start,
            bytes(Message::RouteRefresh(RouteRefresh::request(Family::Ipv4Unicast))),
        ),
        "Garbage" => (Event::Start, vec![0u8; 19]),
        "DecodedKeepalive" => (Event::Message(Box::new(Message::Keepalive)), none),
        "ConnectRetryExpired" => (Event::TimerExpired(Timer::ConnectRetry), none),
        "HoldExpired" => (Event::TimerExpired(Timer::Hold), none),
        "KeepaliveExpired" => (Event::TimerExpired(Timer::Keepalive), none),
        _ => panic!("unknown event {name}"),
    }
}

/// Feeds an event by name; byte events are delivered as `Event::Received`.
fn feed(session: &mut Session, name: &str) -> Vec<Action> {
    let (ev, data) = event(name);
    if data.is_empty() {
        session.handle(ev)
    } else {
        session.handle(Event::Received(&data))
    }
}

/// A session driven into `state` by the shortest path.
fn session_in(state: State) -> Session {
    let mut s = Session::new(config()).expect("valid config");
    let path: &[&str] = match state {
        State::Idle => &[],
        State::Connect => &["Start"],
        State::Active => &["Start", "TcpConnectFailed"],
        State::OpenSent => &["Start", "TcpConnected"],
        State::OpenConfirm => &["Start", "TcpConnected", "Open"],
        State::Established => &["Start", "TcpConnected", "Open", "Keepalive"],
    };
    for step in path {
        feed(&mut s, step);
    }
    assert_eq!(s.state(), state, "setting up {state:?}");
    s
}

fn timer(t: Timer) -> &'static str {
    match t {
        Timer::ConnectRetry => "CR",
        Timer::Hold => "Hold",
        Timer::Keepalive => "KA",
    }
}

/// Actions as short tokens: `connect`, `send OPEN`, `send NOTIFICATION 4/0`, `close`, `arm Hold 9s`,
/// `arm CR backoff` (jittered), `disarm KA`, `up`, `down`, `refresh ipv4-unicast`, `ignore UPDATE treat-as-withdraw`.
fn tokens(actions: &[Action]) -> String {
    let mut out = Vec::new();
    for action in actions {
        match action {
            Action::Connect => out.push("connect".to_string()),
            Action::Send(b) => {
                let mut framer = Framer::new();
                framer.push(b);
                while let Some(raw) = framer.next_message().expect("we send valid messages") {
                    out.push(
                        match Message::decode(raw, &CodecContext::default()).expect("decodes") {
                            Message::Notification(n) => format!("send NOTIFICATION {}/{}", n.code, n.subcode),
                            m => format!("send {}", m.kind()),
                        },
                    );
                }
            }
            Action::Close => out.push("close".into()),
            Action::ArmTimer(Timer::ConnectRetry, d) if *d != Duration::from_secs(10) => {
                // the backoff after the first failure: 1 s scaled by 0.75..=1.0
                assert!(
                    *d >= Duration::from_millis(750) && *d <= Duration::from_secs(1),
                    "backoff {d:?}"
                );
                out.push("arm CR backoff".into())
            }
            Action::ArmTimer(t, d) => out.push(format!("arm {} {}s", timer(*t), d.as_secs())),
            Action::DisarmTimer(t) => out.push(format!("disarm {}", timer(*t))),
            Action::SessionUp(_) => out.push("up".into()),
            Action::SessionDown(_) => out.push("down".into()),
            Action::RouteRefreshRequested(f) => out.push(format!("refresh {f}")),
            Action::UpdateIgnored(i) => out.push(format!("ignore UPDATE {}", i.handling)),
        }
    }
    out.join(", ")
}

const EVENTS: [&str; 17] = [
    "Start",
    "Stop",
    "Reset",
    "TcpConnected",
    "TcpConnectFailed",
    "TcpClosed",
    "Open",
    "OpenBadAs",
    "Keepalive",
    "Update",
    "Notification",
    "RouteRefresh",
    "Garbage",
    "DecodedKeepalive",
    "ConnectRetryExpired",
    "HoldExpired",
    "KeepaliveExpired",
];

/// (state, event, next state, actions). Rows with no actions and an unchanged state are events the state
/// ignores (stale TCP events, data without a connection, timers that are not running).
#[rustfmt::skip]
const TABLE: &[(State, &str, State, &str)] = {
    use State::*;
    &[
        (Idle, "Start", Connect, "connect, arm CR 10s"),
        (Idle, "Stop", Idle, ""),
        (Idle, "Reset", Idle, ""),
        (Idle, "TcpConnected", Idle, "close"),
        (Idle, "TcpConnectFailed", Idle, ""),
        (Idle, "TcpClosed", Idle, ""),
        (Idle, "Open", Idle, ""),
        (Idle, "OpenBadAs", Idle, ""),
        (Idle, "Keepalive", Idle, ""),
        (Idle, "Update", Idle, ""),
        (Idle, "Notification", Idle, ""),
        (Idle, "RouteRefresh", Idle, ""),
        (Idle, "Garbage", Idle, ""),
        (Idle, "DecodedKeepalive", Idle, ""),
        (Idle, "ConnectRetryExpired", Idle, ""),
        (Idle, "HoldExpired", Idle, ""),
        (Idle, "KeepaliveExpired", Idle, ""),

        (Connect, "Start", Connect, ""),
        (Connect, "Stop", Idle, "close, disarm CR"),
        (Connect, "Reset", Idle, "close, disarm CR, arm CR backoff"),
        (Connect, "TcpConnected", OpenSent, "disarm CR, send OPEN, arm Hold 240s"),
        (Connect, "TcpConnectFailed", Active, "close, disarm CR, arm CR backoff"),
        (Connect, "TcpClosed", Active, "close, disarm CR, arm CR backoff"),
        (Connect, "Open", Connect, ""),
        (Connect, "OpenBadAs", Connect, ""),
        (Connect, "Keepalive", Connect, ""),
        (Connect, "Update", Connect, ""),
        (Connect, "Notification", Connect, ""),
        (Connect, "RouteRefresh", Connect, ""),
        (Connect, "Garbage", Connect, ""),
        (Connect, "DecodedKeepalive", Connect, ""),
        (Connect, "ConnectRetryExpired", Active, "close, arm CR backoff"),
        (Connect, "HoldExpired", Connect, ""),
        (Connect, "KeepaliveExpired", Connect, ""),

        (Active, "Start", Active, ""),
        (Active, "Stop", Idle, "disarm CR"),
        (Active, "Reset", Idle, "disarm CR, arm CR backoff"),
        (Active, "TcpConnected", OpenSent, "disarm CR, send OPEN, arm Hold 240s"),
        (Active, "TcpConnectFailed", Active, ""),
        (Active, "TcpClosed", Active, ""),
        (Active, "Open", Active, ""),
        (Active, "OpenBadAs", Active, ""),
        (Active, "Keepalive", Active, ""),
        (Active, "Update", Active, ""),
        (Active, "Notification", Active, ""),
        (Active, "RouteRefresh", Active, ""),
        (Active, "Garbage", Active, ""),
        (Active, "DecodedKeepalive", Active, ""),
        (Active, "ConnectRetryExpired", Connect, "connect, arm CR 10s"),
        (Active, "HoldExpired", Active, ""),
        (Active, "KeepaliveExpired", Active, ""),

        (OpenSent, "Start", OpenSent, ""),
        (OpenSent, "Stop", Idle, "send NOTIFICATION 6/2, close, disarm Hold"),
        (OpenSent, "Reset", Idle, "send NOTIFICATION 6/6, close, disarm Hold, arm CR backoff"),
        (OpenSent, "TcpConnected", OpenSent, ""),
        (OpenSent, "TcpConnectFailed", Active, "close, disarm Hold, arm CR backoff"),
        (OpenSent, "TcpClosed", Active, "close, disarm Hold, arm CR backoff"),
        (OpenSent, "Open", OpenConfirm, "send KEEPALIVE, arm Hold 9s, arm KA 3s"),
        (OpenSent, "OpenBadAs", Idle, "send NOTIFICATION 2/2, close, disarm Hold, arm CR backoff"),
        (OpenSent, "Keepalive", Idle, "send NOTIFICATION 5/1, close, disarm Hold, arm CR backoff"),
        (OpenSent, "Update", Idle, "send NOTIFICATION 5/1, close, disarm Hold, arm CR backoff"),
        (OpenSent, "Notification", Idle, "close, disarm Hold, arm CR backoff"),
        (OpenSent, "RouteRefresh", Idle, "send NOTIFICATION 5/1, close, disarm Hold, arm CR backoff"),
        (OpenSent, "Garbage", Idle, "send NOTIFICATION 1/1, close, disarm Hold, arm CR backoff"),
        (OpenSent, "DecodedKeepalive", Idle, "send NOTIFICATION 5/1, close, disarm Hold, arm CR backoff"),
        (OpenSent, "ConnectRetryExpired", OpenSent, ""),
        (OpenSent, "HoldExpired", Idle, "send NOTIFICATION 4/0, close, arm CR backoff"),
        (OpenSent, "KeepaliveExpired", OpenSent, ""),

        (OpenConfirm, "Start", OpenConfirm, ""),
        (OpenConfirm, "Stop", Idle, "send NOTIFICATION 6/2, close, disarm Hold, disarm KA"),
        (OpenConfirm, "Reset", Idle, "send NOTIFICATION 6/6, close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "TcpConnected", OpenConfirm, ""),
        (OpenConfirm, "TcpConnectFailed", Idle, "close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "TcpClosed", Idle, "close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "Open", Idle, "send NOTIFICATION 5/2, close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "OpenBadAs", Idle, "send NOTIFICATION 5/2, close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "Keepalive", Established, "arm Hold 9s, up"),
        (OpenConfirm, "Update", Idle, "send NOTIFICATION 5/2, close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "Notification", Idle, "close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "RouteRefresh", Idle, "send NOTIFICATION 5/2, close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "Garbage", Idle, "send NOTIFICATION 1/1, close, disarm Hold, disarm KA, arm CR backoff"),
        (OpenConfirm, "DecodedKeepalive", Established, "arm Hold 9s, up"),
        (OpenConfirm, "ConnectRetryExpired", OpenConfirm, ""),
        (OpenConfirm, "HoldExpired", Idle, "send NOTIFICATION 4/0, close, disarm KA, arm CR backoff"),
        (OpenConfirm, "KeepaliveExpired", OpenConfirm, "send KEEPALIVE, arm KA 3s"),

        (Established, "Start", Established, ""),
        (Established, "Stop", Idle, "send NOTIFICATION 6/2, close, down, disarm Hold, disarm KA"),
        (Established, "Reset", Idle, "send NOTIFICATION 6/6, close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "TcpConnected", Established, ""),
        (Established, "TcpConnectFailed", Idle, "close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "TcpClosed", Idle, "close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "Open", Idle, "send NOTIFICATION 5/3, close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "OpenBadAs", Idle, "send NOTIFICATION 5/3, close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "Keepalive", Established, "arm Hold 9s"),
        (Established, "Update", Established, "arm Hold 9s"),
        (Established, "Notification", Idle, "close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "RouteRefresh", Established, "arm Hold 9s, refresh ipv4-unicast"),
        (Established, "Garbage", Idle, "send NOTIFICATION 1/1, close, down, disarm Hold, disarm KA, arm CR backoff"),
        (Established, "DecodedKeepalive", Established, "arm Hold 9s"),
        (Established, "ConnectRetryExpired", Established, ""),
        (Established, "HoldExpired", Idle, "send NOTIFICATION 4/0, close, down, disarm KA, arm CR backoff"),
        (Established, "KeepaliveExpired", Established, "send KEEPALIVE, arm KA 3s"),
    ]
};

#[test]
fn the_table_covers_every_state_and_event() {
    let states = [
        State::Idle,
        State::Connect,
        State::Active,
        State::OpenSent,
        State::OpenConfirm,
        State::Established,
    ];
    assert_eq!(TABLE.len(), states.len() * EVENTS.len());
    for state in states {
        for ev in EVENTS {
            assert_eq!(
                TABLE.iter().filter(|r| r.0 == state && r.1 == ev).count(),
                1,
                "{state:?} × {ev}"
            );
        }
    }
}

#[test]
fn every_state_and_event() {
    let mut failures = Vec::new();
    for &(state, ev, next, expected) in TABLE {
        let mut s = session_in(state);
        let actions = feed(&mut s, ev);
        let got = tokens(&actions);
        if s.state() != next || got != expected {
            failures.push(format!(
                "{state:?} × {ev}: got {:?} [{got}], expected {next:?} [{expected}]",
                s.state()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn after_every_row_the_timers_the_session_reports_match_its_actions() {
    // Replays the row's setup and event, tracking ArmTimer/DisarmTimer like a speaker would, and checks
    // that the session's own view (`is_armed`) agrees: the contract that makes late expiries harmless.
    for &(state, ev, _, _) in TABLE {
        let mut s = Session::new(config()).expect("valid config");
        let mut armed = std::collections::BTreeSet::new();
        let path: Vec<&str> = match state {
            State::Idle => vec![],
            State::Connect => vec!["Start"],
            State::Active => vec!["Start", "TcpConnectFailed"],
            State::OpenSent => vec!["Start", "TcpConnected"],
            State::OpenConfirm => vec!["Start", "TcpConnected", "Open"],
            State::Established => vec!["Start", "TcpConnected", "Open", "Keepalive"],
        };
        for step in path.into_iter().chain([ev]) {
            if let Some(t) = match step {
                "ConnectRetryExpired" => Some(Timer::ConnectRetry),
                "HoldExpired" => Some(Timer::Hold),
                "KeepaliveExpired" => Some(Timer::Keepalive),
                _ => None,
            } {
                armed.remove(&t); // a timer that fired is no longer running
            }
            for action in feed(&mut s, step) {
                match action {
                    Action::ArmTimer(t, _) => {
                        armed.insert(t);
                    }
                    Action::DisarmTimer(t) => {
                        armed.remove(&t);
                    }
                    _ => {}
                }
            }
        }
        for t in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            assert_eq!(s.is_armed(t), armed.contains(&t), "{state:?} × {ev}: {t:?}");
        }
    }
}

#[test]
fn unexpected_message_notifications_carry_the_message_type() {
    let mut s = session_in(State::OpenSent);
    let actions = feed(&mut s, "Update");
    let Some(Action::Send(b)) = actions.first() else {
        panic!("sends a NOTIFICATION: {actions:?}")
    };
    let Ok(Message::Notification(n)) = Message::decode(b, &CodecContext::default()) else {
        panic!("notification")
    };
    assert_eq!(
        n,
        Notification::new(5, 1, [2]),
        "RFC 6608: data is the message type"
    );
}
