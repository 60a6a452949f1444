//! The BFD session state machine as a table: every state × every event, with the next state, the exact
//! actions and whether a Poll Sequence runs afterwards (RFC 5880 §6.2, §6.8.6; see `bfd::session` for the
//! choices: a packet is sent at once on every state change, a Poll Sequence on coming Up).

mod bfd_common;

use std::time::{Duration, Instant};

use bfd_common::sent;
use ferrolb_proto::bfd::{
    Action, Auth, ControlPacket, Diag, Discard, Intervals, Session, SessionConfig, State,
};

const OURS: u32 = 1;
const PEERS: u32 = 2;

fn config() -> SessionConfig {
    SessionConfig {
        seed: 7,
        ..SessionConfig::new(OURS)
    }
}

/// A packet from the peer (300 ms × 3 once Up, 1 s before, as we do).
fn peer(state: State, poll: bool, final_: bool, your: u32) -> ControlPacket {
    ControlPacket {
        diag: if state == State::AdminDown {
            Diag::AdministrativelyDown
        } else {
            Diag::None
        },
        state,
        poll,
        final_,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: PEERS,
        your_discriminator: your,
        desired_min_tx: if state == State::Up { 300_000 } else { 1_000_000 },
        required_min_rx: 300_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}

/// The session and its clock.
struct Rig {
    s: Session,
    now: Instant,
}

impl Rig {
    fn rx(&mut self, packet: ControlPacket, ttl: u8) -> Result<Vec<Action>, Discard> {
        self.now += Duration::from_millis(1);
        self.s.receive(self.now, &packet.encode(), ttl)
    }
}

/// A session driven into `state` by the shortest path, its first packet sent.
fn rig_in(state: State) -> Rig {
    let t0 = Instant::now();
    let mut rig = Rig {
        s: Session::new(config(), t0).expect("valid"),
        now: t0,
    };
    rig.s.on_timer(t0);
    match state {
        State::Down => {}
        State::AdminDown => {
            rig.s.admin_down(t0, Diag::AdministrativelyDown);
        }
        State::Init => {
            rig.rx(peer(State::Down, false, false, 0), 255).expect("accepted");
        }
        State::Up => {
            rig.rx(peer(State::Down, false, false, 0), 255).expect("accepted");
            rig.rx(peer(State::Up, false, false, OURS), 255)
                .expect("accepted");
            rig.rx(peer(State::Up, false, true, OURS), 255).expect("accepted"); // ends our Poll
        }
    }
    assert_eq!(rig.s.state(), state, "setting up {state:?}");
    assert!(!rig.s.is_polling(), "setting up {state:?}");
    rig
}

/// Feeds an event by name; returns the actions or the discard as tokens.
fn feed(rig: &mut Rig, event: &str) -> String {
    let rx = |rig: &mut Rig, p, ttl| match rig.rx(p, ttl) {
        Ok(actions) => tokens(&actions),
        Err(discard) => format!("discard {}", discard.metric_label()),
    };
    match event {
        "RxAdminDown" => rx(rig, peer(State::AdminDown, false, false, OURS), 255),
        "RxDown" => rx(rig, peer(State::Down, false, false, 0), 255),
        "RxInit" => rx(rig, peer(State::Init, false, false, OURS), 255),
        "RxUp" => rx(rig, peer(State::Up, false, false, OURS), 255),
        "RxUpPoll" => rx(rig, peer(State::Up, true, false, OURS), 255),
        "RxUpFinal" => rx(rig, peer(State::Up, false, true, OURS), 255),
        "RxInitZeroYour" => rx(rig, peer(State::Init, false, false, 0), 255),
        "RxWrongYour" => rx(rig, peer(State::Up, false, false, 99), 255),
        "RxTtl254" => rx(rig, peer(State::Up, false, false, OURS), 254),
        "RxAuth" => {
            let mut p = peer(State::Up, false, false, OURS);
            p.auth = Some(Auth::Sha1 {
                meticulous: true,
                key_id: 1,
                sequence: 1,
                hash: [0; 20],
            });
            rx(rig, p, 255)
        }
        "RxGarbage" => {
            rig.now += Duration::from_millis(1);
            match rig.s.receive(rig.now, &[0; 24], 255) {
                Ok(actions) => tokens(&actions),
                Err(discard) => format!("discard {}", discard.metric_label()),
            }
        }
        "Detection" => match rig.s.detection_deadline() {
            Some(at) => {
                rig.now = at;
                tokens(&rig.s.on_timer(at))
            }
            None => String::new(),
        },
        "TxTimer" => {
            let at = rig
                .s
                .transmit_deadline()
                .expect("an active session always has one");
            rig.now = at;
            tokens(&rig.s.on_timer(at))
        }
        "AdminDown" => tokens(&rig.s.admin_down(rig.now, Diag::AdministrativelyDown)),
        "AdminUp" => tokens(&rig.s.admin_up(rig.now)),
        "SetIntervals" => {
            let faster = Intervals {
                desired_min_tx: Duration::from_millis(100),
                required_min_rx: Duration::from_millis(100),
                detect_mult: 3,
            };
            rig.s.set_intervals(rig.now, faster).expect("valid");
            String::new()
        }
        _ => panic!("unknown event {event}"),
    }
}

/// `Down->Init`, `up`, `down neighbor_down`, `send Up P F diag 3`.
fn tokens(actions: &[Action]) -> String {
    let mut out = Vec::new();
    for action in actions {
        out.push(match action {
            Action::StateChanged { from, to, diag } => match diag {
                Diag::None => format!("{from:?}->{to:?}"),
                d => format!("{from:?}->{to:?} diag {}", d.code()),
            },
            Action::Up => "up".into(),
            Action::Down(reason) => format!("down {}", reason.metric_label()),
            Action::Send(_) => {
                let p = sent(std::slice::from_ref(action)).remove(0);
                let mut t = format!("send {:?}", p.state);
                if p.poll {
                    t += " P";
                }
                if p.final_ {
                    t += " F";
                }
                if p.diag != Diag::None {
                    t += &format!(" diag {}", p.diag.code());
                }
                t
            }
        });
    }
    out.join(", ")
}

const EVENTS: [&str; 16] = [
    "RxAdminDown",
    "RxDown",
    "RxInit",
    "RxUp",
    "RxUpPoll",
    "RxUpFinal",
    "RxInitZeroYour",
    "RxWrongYour",
    "RxTtl254",
    "RxAuth",
    "RxGarbage",
    "Detection",
    "TxTimer",
    "AdminDown",
    "AdminUp",
    "SetIntervals",
];

/// (state, event, next state, actions, polling afterwards).
#[rustfmt::skip]
const TABLE: &[(State, &str, State, &str, bool)] = {
    use State::*;
    &[
        (AdminDown, "RxAdminDown", AdminDown, "discard admin_down", false),
        (AdminDown, "RxDown", AdminDown, "discard admin_down", false),
        (AdminDown, "RxInit", AdminDown, "discard admin_down", false),
        (AdminDown, "RxUp", AdminDown, "discard admin_down", false),
        (AdminDown, "RxUpPoll", AdminDown, "discard admin_down", false),
        (AdminDown, "RxUpFinal", AdminDown, "discard admin_down", false),
        (AdminDown, "RxInitZeroYour", AdminDown, "discard zero_your_discriminator", false),
        (AdminDown, "RxWrongYour", AdminDown, "discard your_discriminator", false),
        (AdminDown, "RxTtl254", AdminDown, "discard ttl", false),
        (AdminDown, "RxAuth", AdminDown, "discard auth_unexpected", false),
        (AdminDown, "RxGarbage", AdminDown, "discard version", false),
        (AdminDown, "Detection", AdminDown, "", false),
        (AdminDown, "TxTimer", AdminDown, "send AdminDown diag 7", false),
        (AdminDown, "AdminDown", AdminDown, "", false),
        (AdminDown, "AdminUp", Down, "AdminDown->Down, send Down", false),
        (AdminDown, "SetIntervals", AdminDown, "", false),

        (Down, "RxAdminDown", Down, "", false),
        (Down, "RxDown", Init, "Down->Init, send Init", false),
        (Down, "RxInit", Up, "Down->Up, up, send Up P", true),
        (Down, "RxUp", Down, "", false),
        (Down, "RxUpPoll", Down, "send Down F", false),
        (Down, "RxUpFinal", Down, "", false),
        (Down, "RxInitZeroYour", Down, "discard zero_your_discriminator", false),
        (Down, "RxWrongYour", Down, "discard your_discriminator", false),
        (Down, "RxTtl254", Down, "discard ttl", false),
        (Down, "RxAuth", Down, "discard auth_unexpected", false),
        (Down, "RxGarbage", Down, "discard version", false),
        (Down, "Detection", Down, "", false),
        (Down, "TxTimer", Down, "send Down", false),
        (Down, "AdminDown", AdminDown, "Down->AdminDown diag 7, send AdminDown diag 7", false),
        (Down, "AdminUp", Down, "", false),
        (Down, "SetIntervals", Down, "", false),

        (Init, "RxAdminDown", Down, "Init->Down diag 3, send Down diag 3", false),
        (Init, "RxDown", Init, "", false),
        (Init, "RxInit", Up, "Init->Up, up, send Up P", true),
        (Init, "RxUp", Up, "Init->Up, up, send Up P", true),
        (Init, "RxUpPoll", Up, "Init->Up, up, send Up F, send Up P", true),
        (Init, "RxUpFinal", Up, "Init->Up, up, send Up P", true),
        (Init, "RxInitZeroYour", Init, "discard zero_your_discriminator", false),
        (Init, "RxWrongYour", Init, "discard your_discriminator", false),
        (Init, "RxTtl254", Init, "discard ttl", false),
        (Init, "RxAuth", Init, "discard auth_unexpected", false),
        (Init, "RxGarbage", Init, "discard version", false),
        (Init, "Detection", Down, "Init->Down diag 1, send Down diag 1", false),
        (Init, "TxTimer", Init, "send Init", false),
        (Init, "AdminDown", AdminDown, "Init->AdminDown diag 7, send AdminDown diag 7", false),
        (Init, "AdminUp", Init, "", false),
        (Init, "SetIntervals", Init, "", false),

        (Up, "RxAdminDown", Down, "Up->Down diag 3, down neighbor_admin_down, send Down diag 3", false),
        (Up, "RxDown", Down, "Up->Down diag 3, down neighbor_down, send Down diag 3", false),
        (Up, "RxInit", Up, "", false),
        (Up, "RxUp", Up, "", false),
        (Up, "RxUpPoll", Up, "send Up F", false),
        (Up, "RxUpFinal", Up, "", false),
        (Up, "RxInitZeroYour", Up, "discard zero_your_discriminator", false),
        (Up, "RxWrongYour", Up, "discard your_discriminator", false),
        (Up, "RxTtl254", Up, "discard ttl", false),
        (Up, "RxAuth", Up, "discard auth_unexpected", false),
        (Up, "RxGarbage", Up, "discard version", false),
        (Up, "Detection", Down, "Up->Down diag 1, down detection_time_expired, send Down diag 1", false),
        (Up, "TxTimer", Up, "send Up", false),
        (Up, "AdminDown", AdminDown, "Up->AdminDown diag 7, down admin_down, send AdminDown diag 7", false),
        (Up, "AdminUp", Up, "", false),
        (Up, "SetIntervals", Up, "", true),
    ]
};

const STATES: [State; 4] = [State::AdminDown, State::Down, State::Init, State::Up];

#[test]
fn the_table_covers_every_state_and_event() {
    assert_eq!(TABLE.len(), STATES.len() * EVENTS.len());
    for state in STATES {
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
    for &(state, ev, next, expected, polling) in TABLE {
        let mut rig = rig_in(state);
        let got = feed(&mut rig, ev);
        if rig.s.state() != next || got != expected || rig.s.is_polling() != polling {
            failures.push(format!(
                "{state:?} × {ev}: got {:?} [{got}] polling {}, expected {next:?} [{expected}] polling {polling}",
                rig.s.state(),
                rig.s.is_polling()
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
fn after_every_row_our_packets_follow_section_6_8_7() {
    // Whatever happened, the next packet we send carries our state and diag, our discriminator, the peer's
    // as we know it, 1 s Desired Min TX unless Up, no echo, no D, no C, and never P and F together.
    for &(state, ev, _, _, _) in TABLE {
        let mut rig = rig_in(state);
        let mut packets = Vec::new();
        feed(&mut rig, ev);
        if let Some(at) = rig.s.transmit_deadline() {
            packets.extend(sent(&rig.s.on_timer(at.max(rig.now))));
        }
        for p in packets {
            let row = format!("{state:?} × {ev}: {p:?}");
            assert_eq!(p.state, rig.s.state(), "{row}");
            assert_eq!(p.diag, rig.s.local_diag(), "{row}");
            assert_eq!(p.my_discriminator, OURS, "{row}");
            assert_eq!(p.your_discriminator, rig.s.remote().discriminator, "{row}");
            assert!(!(p.poll && p.final_), "{row}");
            assert_eq!(p.poll, rig.s.is_polling(), "{row}");
            assert!(
                !p.demand && !p.control_plane_independent && p.auth.is_none(),
                "{row}"
            );
            assert_eq!(p.required_min_echo_rx, 0, "{row}");
            if p.state != State::Up {
                assert!(p.desired_min_tx >= 1_000_000, "{row}");
            }
        }
    }
}
