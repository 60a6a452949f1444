//! Our session against BIRD 2.0.12 and FRR 8.4 bfdd, live over UDP (tests/data/bfd/interop/, captured into
//! `ferrolb-vs-{bird,frr}.txt`): both routers accepted our packets, answered each of our Polls with a Final,
//! slowed down and sped up as our Required Min RX asked, went Down (diag 3) on our AdminDown and Up again,
//! and detected our silence 3 × 100 ms after our last packet. These tests read the captures; they run no
//! router.

mod bfd_common;

use std::time::Duration;

use bfd_common::{Captured, captured};
use ferrolb_proto::bfd::{ControlPacket, Diag, State};

const OURS: &str = "192.0.2.2";
const ROUTER: &str = "192.0.2.1";
/// The driver's discriminator.
const OUR_DISCRIMINATOR: u32 = 4660;

fn packets(name: &str) -> Vec<(f64, &'static str, ControlPacket)> {
    captured(name)
        .into_iter()
        .map(
            |Captured {
                 time,
                 src,
                 bytes,
                 ttl,
                 ..
             }| {
                assert_eq!(ttl, 255, "{name}: single hop");
                let packet = ControlPacket::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(packet.encode(), bytes, "{name}: byte-identical");
                let side = match src.as_str() {
                    OURS => OURS,
                    ROUTER => ROUTER,
                    other => panic!("{name}: packet from {other}"),
                };
                (time, side, packet)
            },
        )
        .collect()
}

fn check(name: &str) {
    let all = packets(name);
    let ours: Vec<_> = all.iter().filter(|(_, s, _)| *s == OURS).collect();
    let router: Vec<_> = all.iter().filter(|(_, s, _)| *s == ROUTER).collect();
    assert!(
        ours.iter()
            .all(|(_, _, p)| p.my_discriminator == OUR_DISCRIMINATOR)
    );

    // the router came Up with us: it knows our discriminator and reports Up
    let first_up = router
        .iter()
        .find(|(_, _, p)| p.state == State::Up)
        .unwrap_or_else(|| panic!("{name}: the router never came Up"));
    assert_eq!(first_up.2.your_discriminator, OUR_DISCRIMINATOR, "{name}");

    // each of our Polls got a Final within 50 ms
    let polls: Vec<f64> = ours
        .iter()
        .filter(|(_, _, p)| p.poll)
        .map(|(t, _, _)| *t)
        .collect();
    assert!(polls.len() >= 3, "{name}: coming Up, 300 ms, 100 ms: {polls:?}");
    for t in &polls {
        assert!(
            router
                .iter()
                .any(|(rt, _, p)| p.final_ && *rt >= *t && *rt - *t < 0.05),
            "{name}: no Final for our Poll at {t}"
        );
    }

    // between our Poll for 300 ms and the one for 100 ms the router sent no faster than 75 % of 300 ms
    let slow_poll = ours
        .iter()
        .find(|(_, _, p)| p.poll && p.required_min_rx == 300_000)
        .expect("the 300 ms Poll")
        .0;
    let fast_poll = ours
        .iter()
        .find(|(t, _, p)| p.poll && p.required_min_rx == 100_000 && *t > slow_poll)
        .expect("the 100 ms Poll")
        .0;
    let slow: Vec<f64> = router
        .iter()
        .filter(|(t, _, p)| *t > slow_poll && *t < fast_poll && !p.final_)
        .map(|(t, _, _)| *t)
        .collect();
    assert!(slow.len() >= 4, "{name}: {slow:?}");
    for w in slow.windows(2) {
        assert!(w[1] - w[0] >= 0.225, "{name}: {:.3} s apart", w[1] - w[0]);
    }

    // our AdminDown took the router Down with diag 3, and it came back Up after we did
    let admin_at = ours
        .iter()
        .find(|(_, _, p)| p.state == State::AdminDown)
        .expect("our AdminDown")
        .0;
    let router_down = router
        .iter()
        .find(|(t, _, p)| *t >= admin_at && p.state == State::Down)
        .expect("the router went Down");
    assert_eq!(router_down.2.diag, Diag::NeighborSignaledDown, "{name}");
    assert!(
        router
            .iter()
            .any(|(t, _, p)| *t > router_down.0 && p.state == State::Up),
        "{name}: back Up"
    );

    // we stopped: the router declared the failure (diag 1) 3 × 100 ms after our last packet
    let last_ours = ours.last().expect("we sent").0;
    let detected = router
        .iter()
        .find(|(t, _, p)| *t > last_ours && p.state == State::Down)
        .expect("the router detected our silence");
    assert_eq!(detected.2.diag, Diag::ControlDetectionTimeExpired, "{name}");
    let after = Duration::from_secs_f64(detected.0 - last_ours);
    assert!(
        after >= Duration::from_millis(290) && after <= Duration::from_millis(350),
        "{name}: detected {after:?} after our last packet"
    );
}

#[test]
fn bird_runs_a_session_with_us() {
    check("ferrolb-vs-bird");
}

#[test]
fn frr_runs_a_session_with_us() {
    check("ferrolb-vs-frr");
}
