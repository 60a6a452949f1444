//! Fuzzes the BGP session state machine with arbitrary event sequences (including arbitrary received bytes
//! and well-formed OPENs with arbitrary fields, so that sessions get established). Besides "never panics", it
//! checks invariants after every event:
//! - the timers the session reports as armed are exactly those its actions armed and did not disarm;
//! - `SessionUp` and `SessionDown` alternate, and the session is Established exactly when it is up;
//! - everything sent is a valid BGP message of at most 4,096 bytes;
//! - `Connect` is only asked for when no connection exists, and the state after it is Connect;
//! - after a stop the session is Idle; a stop sends only Cease, and a graceful stop sends none without the
//!   N bit of RFC 8538 and never a Hard Reset.

#![no_main]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use arbitrary::Arbitrary;
use ferrolb_proto::bgp::notification::{CEASE, cease};
use ferrolb_proto::bgp::{
    Action, Capabilities, CodecContext, Event, Family, Framer, GracefulRestart, GracefulRestartConfig,
    Message, Notification, Open, RouteRefresh, Session, SessionConfig, State, Timer, Update,
    UpdateErrorHandling,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Step {
    Start,
    Stop,
    StopGraceful,
    Reset,
    TcpConnected,
    TcpConnectFailed,
    TcpClosed,
    Bytes(Vec<u8>),
    Open {
        hold: u16,
        wrong_as: bool,
        v4: bool,
        v6: bool,
        four_octet: bool,
        id: u32,
        /// The peer announces graceful restart with the N bit of RFC 8538.
        n_bit: bool,
    },
    Keepalive,
    Update,
    RouteRefresh(bool),
    Notification(u8, u8),
    Timer(u8),
    SendEndOfRib,
}

#[derive(Debug, Arbitrary)]
struct Input {
    hold: u16,
    keepalive: Option<u16>,
    ipv6_only: bool,
    graceful_restart: bool,
    n_bit: bool,
    seed: u64,
    steps: Vec<Step>,
}

fn encode(msg: Message) -> Vec<u8> {
    msg.encode(&CodecContext::default()).unwrap_or_default()
}

fuzz_target!(|input: Input| {
    let mut config = SessionConfig::new(64513, 64512, Ipv4Addr::new(192, 0, 2, 11));
    config.hold_time = input.hold;
    config.keepalive_time = input.keepalive;
    config.jitter_seed = input.seed;
    if input.ipv6_only {
        config.families = vec![Family::Ipv6Unicast];
    }
    config.graceful_notification = input.n_bit;
    if input.graceful_restart {
        config.graceful_restart = Some(GracefulRestartConfig {
            restart_time: 120,
            restarting: false,
            forwarding_preserved: true,
        });
    }
    let Ok(mut session) = Session::new(config) else {
        return;
    };
    let mut armed = BTreeSet::new();
    let mut up = false;
    for step in input.steps.into_iter().take(64) {
        let before = session.state();
        let bytes;
        let event = match step {
            Step::Start => Event::Start,
            Step::Stop => Event::Stop,
            Step::StopGraceful => Event::StopGraceful,
            Step::Reset => Event::Reset(Notification::new(CEASE, cease::OTHER_CONFIGURATION_CHANGE, [])),
            Step::TcpConnected => Event::TcpConnected,
            Step::TcpConnectFailed => Event::TcpConnectFailed,
            Step::TcpClosed => Event::TcpClosed,
            Step::Bytes(b) => {
                bytes = b;
                Event::Received(&bytes)
            }
            Step::Open {
                hold,
                wrong_as,
                v4,
                v6,
                four_octet,
                id,
                n_bit,
            } => {
                let mut families = Vec::new();
                if v4 {
                    families.push(Family::Ipv4Unicast);
                }
                if v6 {
                    families.push(Family::Ipv6Unicast);
                }
                let graceful_restart = n_bit.then(|| GracefulRestart {
                    restart_state: false,
                    notification: true,
                    restart_time: 120,
                    families: families.iter().map(|f| (*f, true)).collect(),
                });
                let caps = Capabilities {
                    multiprotocol: families,
                    route_refresh: true,
                    graceful_restart,
                    ..Capabilities::default()
                };
                let mut open = Open::new(
                    if wrong_as { 65000 } else { 64512 },
                    hold,
                    Ipv4Addr::from(id),
                    caps,
                );
                if !four_octet {
                    open.capabilities.four_octet_as = None;
                }
                Event::Message(Box::new(Message::Open(open)))
            }
            Step::Keepalive => {
                bytes = encode(Message::Keepalive);
                Event::Received(&bytes)
            }
            Step::Update => {
                bytes = encode(Message::Update(Update::end_of_rib(Family::Ipv6Unicast)));
                Event::Received(&bytes)
            }
            Step::RouteRefresh(v6) => {
                let family = if v6 {
                    Family::Ipv6Unicast
                } else {
                    Family::Ipv4Unicast
                };
                Event::Message(Box::new(Message::RouteRefresh(RouteRefresh::request(family))))
            }
            Step::Notification(code, subcode) => Event::Message(Box::new(Message::Notification(
                Notification::new(code, subcode, []),
            ))),
            Step::Timer(t) => {
                let timer = [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive][usize::from(t % 3)];
                armed.remove(&timer);
                Event::TimerExpired(timer)
            }
            Step::SendEndOfRib => match session.send_updates(&[Update::end_of_rib(Family::Ipv4Unicast)]) {
                Ok(actions) => {
                    assert_eq!(session.state(), State::Established);
                    for action in actions {
                        if let Action::ArmTimer(t, _) = action {
                            armed.insert(t);
                        }
                    }
                    continue;
                }
                Err(_) => {
                    assert_ne!(session.state(), State::Established);
                    continue;
                }
            },
        };
        let stop = match event {
            Event::Stop => Some(false),
            Event::StopGraceful => Some(true),
            _ => None,
        };
        let n_negotiated = input.n_bit && session.state() == State::Established;
        let actions = session.handle(event);
        if let Some(graceful) = stop {
            assert_eq!(session.state(), State::Idle, "after a stop");
            for action in &actions {
                let Action::Send(b) = action else { continue };
                let mut framer = Framer::new();
                framer.push(b);
                while let Ok(Some(raw)) = framer.next_message() {
                    if let Ok(Message::Notification(n)) = Message::decode(raw, &CodecContext::default()) {
                        assert_eq!(n.code, CEASE, "a stop sends only Cease");
                        if graceful {
                            assert!(
                                n_negotiated,
                                "a graceful stop without the N bit sends nothing: {n:?}"
                            );
                            assert_ne!(n.subcode, cease::HARD_RESET, "a graceful stop is no Hard Reset");
                        }
                    }
                }
            }
        }
        for action in &actions {
            match action {
                Action::Connect => {
                    assert!(
                        matches!(before, State::Idle | State::Active),
                        "connect from {before:?}"
                    );
                    assert_eq!(session.state(), State::Connect);
                }
                Action::Send(b) => {
                    let mut framer = Framer::new();
                    framer.push(b);
                    let mut n = 0;
                    while let Some(raw) = framer.next_message().expect("we send framed messages") {
                        assert!(raw.len() <= 4096);
                        Message::decode(raw, &session.codec())
                            .or_else(|_| Message::decode(raw, &CodecContext::default()))
                            .expect("we send valid messages");
                        n += 1;
                    }
                    assert!(n > 0 && framer.buffered() == 0);
                }
                Action::ArmTimer(t, d) => {
                    assert!(!d.is_zero(), "{t:?} armed for zero");
                    armed.insert(*t);
                }
                Action::DisarmTimer(t) => {
                    armed.remove(t);
                }
                Action::SessionUp(n) => {
                    assert!(!up, "up twice");
                    assert!(n.hold_time == 0 || n.hold_time >= 3);
                    assert!(!n.families.is_empty());
                    up = true;
                }
                Action::SessionDown(_) => {
                    assert!(up, "down while not up");
                    up = false;
                }
                Action::UpdateIgnored(ignored) => {
                    // RFC 7606: only while established, and never a session reset
                    assert_eq!(session.state(), State::Established, "{ignored}");
                    assert!(ignored.handling < UpdateErrorHandling::SessionReset, "{ignored}");
                }
                Action::Close | Action::RouteRefreshRequested(_) => {}
            }
        }
        assert_eq!(up, session.state() == State::Established, "{:?}", session.state());
        for t in [Timer::ConnectRetry, Timer::Hold, Timer::Keepalive] {
            assert_eq!(session.is_armed(t), armed.contains(&t), "{t:?} after {actions:?}");
        }
    }
});
