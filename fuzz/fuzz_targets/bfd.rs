//! Fuzzes BFD: the Control packet decoder and the session state machine, driven with arbitrary configurations
//! and up to 128 steps of time, timer calls, arbitrary datagrams, well-formed peer packets with arbitrary
//! fields (signed with the session's key when asked, so that they get past authentication), the packets of a
//! second session wired to the first, interval changes and AdminDown/Up. Besides "never panics", it checks:
//! - an accepted datagram re-encodes to a packet that decodes to the same value;
//! - `Up` and `Down` alternate, the session is Up exactly when the last one was `Up`, a `Down` reason agrees
//!   with the state, diag and the peer's last state, and every
//!   `StateChanged` starts where the previous one ended and is an RFC 5880 §6.2 transition (or AdminDown/Up);
//! - every packet we send decodes, carries our discriminator, state, diag and detect mult, the peer's
//!   discriminator as we know it, never P and F together, no D, no C, no echo, at least 1 s Desired Min TX
//!   unless Up, authentication exactly when configured (with a hash our key verifies, and a sequence number
//!   one more than the previous packet's), and is not sent at all by a passive session that knows no peer;
//! - after `on_timer(now)` no deadline is at or before `now` (a driver never spins);
//! - a datagram with a TTL below the minimum is discarded for its TTL.

#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use ferrolb_proto::bfd::auth::{sign_sha1, verify_sha1};
use ferrolb_proto::bfd::{
    Action, Auth, AuthConfig, AuthType, ControlPacket, Diag, Discard, DownReason, Hop, Intervals, Role,
    Session, SessionConfig, State,
};
use libfuzzer_sys::fuzz_target;

const OURS: u32 = 0x0102_0304;
const PEERS: u32 = 0x0a0b_0c0d;
const KEY: &[u8] = b"ferrolb-bfd-key";

#[derive(Debug, Arbitrary)]
enum Step {
    /// Let this many milliseconds pass, then run the timers that are due.
    Advance(u16),
    /// Jump to our next deadline and run it.
    Tick,
    /// An arbitrary datagram.
    Raw {
        bytes: Vec<u8>,
        ttl: u8,
    },
    /// A well-formed packet from the peer with arbitrary fields.
    Peer {
        state: u8,
        diag: u8,
        poll: bool,
        final_: bool,
        demand: bool,
        cpi: bool,
        detect_mult: u8,
        /// 0: our discriminator, 1: zero, else this value.
        your: u32,
        desired_min_tx: u32,
        required_min_rx: u32,
        echo: u32,
        /// Add a SHA1 section with the session's key, this far ahead of the peer's last sequence number.
        sign: Option<u8>,
        ttl: u8,
    },
    /// Run the second session's timers and deliver what it sends (and our replies to it).
    FromPeerSession,
    SetIntervals {
        tx_ms: u16,
        rx_ms: u16,
        mult: u8,
    },
    AdminDown(u8),
    AdminUp,
}

#[derive(Debug, Arbitrary)]
struct Input {
    tx_ms: u16,
    rx_ms: u16,
    mult: u8,
    passive: bool,
    minimum_ttl: Option<u8>,
    /// 0: none, 1: keyed SHA1, 2: meticulous keyed SHA1.
    auth: u8,
    seed: u64,
    steps: Vec<Step>,
}

fn intervals(tx_ms: u16, rx_ms: u16, mult: u8) -> Intervals {
    Intervals {
        desired_min_tx: Duration::from_millis(u64::from(tx_ms)),
        required_min_rx: Duration::from_millis(u64::from(rx_ms)),
        detect_mult: mult,
    }
}

/// What the checks remember between steps.
struct Watch {
    up: bool,
    state: State,
    last_xmit_seq: Option<u32>,
}

impl Watch {
    fn check(&mut self, s: &Session, actions: &[Action], remote_before: u32) {
        for action in actions {
            match action {
                Action::StateChanged { from, to, .. } => {
                    assert_eq!(*from, self.state, "StateChanged chain");
                    use State::*;
                    assert!(
                        matches!(
                            (from, to),
                            (Down, Init | Up)
                                | (Init, Up | Down)
                                | (Up, Down)
                                | (_, AdminDown)
                                | (AdminDown, Down)
                        ),
                        "{from:?} -> {to:?}"
                    );
                    self.state = *to;
                }
                Action::Up => {
                    assert!(!self.up, "Up twice");
                    self.up = true;
                }
                Action::Down(reason) => {
                    assert!(self.up, "Down while not Up");
                    self.up = false;
                    match reason {
                        DownReason::AdminDown(_) => assert_eq!(s.state(), State::AdminDown),
                        DownReason::NeighborAdminDown => assert_eq!(s.remote().state, State::AdminDown),
                        DownReason::DetectionTimeExpired => {
                            assert_eq!(s.local_diag(), Diag::ControlDetectionTimeExpired)
                        }
                        DownReason::NeighborDown => assert_eq!(s.local_diag(), Diag::NeighborSignaledDown),
                    }
                }
                Action::Send(bytes) => {
                    let p = ControlPacket::decode(bytes).expect("we send valid packets");
                    assert_eq!(p.my_discriminator, OURS);
                    assert!(!(p.poll && p.final_), "P and F");
                    assert!(!p.demand && !p.control_plane_independent && p.required_min_echo_rx == 0);
                    assert_eq!(p.detect_mult, s.config().intervals.detect_mult);
                    if p.state != State::Up {
                        assert!(p.desired_min_tx >= 1_000_000, "slow rate while {:?}", p.state);
                    }
                    // the peer's discriminator as known when the packet was built: before or after this step
                    assert!(
                        p.your_discriminator == s.remote().discriminator
                            || p.your_discriminator == remote_before
                            || p.your_discriminator == 0,
                        "your discriminator {:#x}",
                        p.your_discriminator
                    );
                    if s.config().role == Role::Passive {
                        assert_ne!(p.your_discriminator, 0, "passive without a peer");
                    }
                    match (&s.config().auth, &p.auth) {
                        (None, None) => {}
                        (
                            Some(cfg),
                            Some(Auth::Sha1 {
                                meticulous,
                                key_id,
                                sequence,
                                ..
                            }),
                        ) => {
                            assert_eq!(*meticulous, cfg.auth_type == AuthType::MeticulousKeyedSha1);
                            assert_eq!(*key_id, cfg.key_id);
                            assert!(verify_sha1(bytes, KEY), "our hash");
                            if let Some(last) = self.last_xmit_seq {
                                assert_eq!(*sequence, last.wrapping_add(1), "sequence");
                            }
                            self.last_xmit_seq = Some(*sequence);
                        }
                        (cfg, got) => panic!("auth configured {cfg:?}, sent {got:?}"),
                    }
                }
            }
        }
        assert_eq!(self.state, s.state(), "StateChanged ends in the state");
        assert_eq!(self.up, s.state() == State::Up, "up exactly when Up");
    }
}

fn no_deadline_at_or_before(s: &Session, now: Instant) {
    for deadline in [s.transmit_deadline(), s.detection_deadline(), s.next_deadline()] {
        assert!(
            deadline.is_none_or(|d| d > now),
            "deadline {deadline:?} not after {now:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    let mut config = SessionConfig::new(OURS);
    config.intervals = intervals(input.tx_ms, input.rx_ms, input.mult);
    config.seed = input.seed;
    if input.passive {
        config.role = Role::Passive;
    }
    if let Some(minimum_ttl) = input.minimum_ttl {
        config.hop = Hop::Multi { minimum_ttl };
    }
    let auth_type = match input.auth % 3 {
        1 => Some(AuthType::KeyedSha1),
        2 => Some(AuthType::MeticulousKeyedSha1),
        _ => None,
    };
    config.auth = auth_type.map(|auth_type| AuthConfig {
        auth_type,
        key_id: 3,
        key: KEY.to_vec(),
    });
    let mut peer_config = SessionConfig::new(PEERS);
    peer_config.intervals = intervals(100, 100, 3);
    peer_config.auth = config.auth.clone();
    peer_config.seed = input.seed.rotate_left(17);

    let mut now = Instant::now();
    let Ok(mut s) = Session::new(config, now) else {
        return; // refused configurations are the config tests' business
    };
    let mut peer = Session::new(peer_config, now).expect("valid peer");
    let mut watch = Watch {
        up: false,
        state: State::Down,
        last_xmit_seq: None,
    };
    let mut peer_seq: u32 = 1000;
    let minimum_ttl = s.config().hop.minimum_ttl();

    for step in input.steps.into_iter().take(128) {
        let remote_before = s.remote().discriminator;
        match step {
            Step::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                let actions = s.on_timer(now);
                watch.check(&s, &actions, remote_before);
                no_deadline_at_or_before(&s, now);
            }
            Step::Tick => {
                if let Some(at) = s.next_deadline() {
                    now = now.max(at);
                }
                let actions = s.on_timer(now);
                watch.check(&s, &actions, remote_before);
                no_deadline_at_or_before(&s, now);
            }
            Step::Raw { bytes, ttl } => {
                let decoded = ControlPacket::decode(&bytes);
                if let Ok(p) = &decoded {
                    assert_eq!(ControlPacket::decode(&p.encode()).as_ref(), Ok(p));
                }
                match s.receive(now, &bytes, ttl) {
                    Ok(actions) => watch.check(&s, &actions, remote_before),
                    Err(Discard::Ttl { .. }) => assert!(ttl < minimum_ttl),
                    Err(Discard::Malformed(e)) => assert_eq!(decoded, Err(e)),
                    Err(_) => assert!(decoded.is_ok() && ttl >= minimum_ttl),
                }
            }
            Step::Peer {
                state,
                diag,
                poll,
                final_,
                demand,
                cpi,
                detect_mult,
                your,
                desired_min_tx,
                required_min_rx,
                echo,
                sign,
                ttl,
            } => {
                let mut p = ControlPacket {
                    diag: Diag::from_code(diag),
                    state: State::from_code(state),
                    poll,
                    final_,
                    control_plane_independent: cpi,
                    demand,
                    detect_mult: detect_mult.max(1),
                    my_discriminator: PEERS,
                    your_discriminator: match your {
                        0 => OURS,
                        1 => 0,
                        other => other,
                    },
                    desired_min_tx,
                    required_min_rx,
                    required_min_echo_rx: echo,
                    auth: None,
                };
                if let Some(ahead) = sign {
                    peer_seq = peer_seq.wrapping_add(u32::from(ahead));
                    p.auth = Some(Auth::Sha1 {
                        meticulous: auth_type == Some(AuthType::MeticulousKeyedSha1),
                        key_id: 3,
                        sequence: peer_seq,
                        hash: [0; 20],
                    });
                }
                let mut bytes = p.encode();
                if sign.is_some() {
                    assert!(sign_sha1(&mut bytes, KEY));
                }
                let result = s.receive(now, &bytes, ttl);
                match result {
                    Ok(actions) => {
                        watch.check(&s, &actions, remote_before);
                        assert_eq!(s.remote().discriminator, PEERS);
                    }
                    Err(Discard::Ttl { .. }) => assert!(ttl < minimum_ttl),
                    Err(Discard::Malformed(e)) => panic!("a well-formed packet is malformed: {e}"),
                    Err(_) => {}
                }
            }
            Step::FromPeerSession => {
                let mut to_ours = peer.on_timer(now);
                for _ in 0..8 {
                    let mut to_peer = Vec::new();
                    for action in to_ours.drain(..) {
                        if let Action::Send(bytes) = action {
                            let remote_before = s.remote().discriminator;
                            if let Ok(actions) = s.receive(now, &bytes, 255) {
                                watch.check(&s, &actions, remote_before);
                                to_peer.extend(actions);
                            }
                        }
                    }
                    for action in to_peer {
                        if let Action::Send(bytes) = action {
                            to_ours.extend(peer.receive(now, &bytes, 255).unwrap_or_default());
                        }
                    }
                    if to_ours.is_empty() {
                        break;
                    }
                }
            }
            Step::SetIntervals { tx_ms, rx_ms, mult } => {
                let iv = intervals(tx_ms, rx_ms, mult);
                assert_eq!(s.set_intervals(now, iv).is_ok(), iv.validate().is_ok());
            }
            Step::AdminDown(diag) => {
                let actions = s.admin_down(now, Diag::from_code(diag));
                watch.check(&s, &actions, remote_before);
                assert_eq!(s.state(), State::AdminDown);
            }
            Step::AdminUp => {
                let was = s.state();
                let actions = s.admin_up(now);
                watch.check(&s, &actions, remote_before);
                if was == State::AdminDown {
                    assert_eq!(s.state(), State::Down);
                }
            }
        }
    }
});
