//! Malformed received UPDATEs (RFC 7606): one hand-built message per malformation and the class it falls into
//! (ignored by treat-as-withdraw or attribute discard, or session reset with its NOTIFICATION), then what the
//! session does with each class (stays Established and reports it, or sends the NOTIFICATION and goes down).

use std::net::Ipv4Addr;
use std::time::Duration;

use ferrolb_proto::bgp::{
    Action, Capabilities, CodecContext, DecodeError, DownReason, Event, Family, Framer, Message,
    Notification, Open, Session, SessionConfig, State, Timer, UpdateErrorHandling,
};
use proptest::prelude::*;

use UpdateErrorHandling::{AttributeDiscard, TreatAsWithdraw};

const FOUR: CodecContext = CodecContext { four_octet_as: true };
const TWO: CodecContext = CodecContext { four_octet_as: false };

/// A whole message: marker, length, type, body.
fn msg(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(kind);
    out.extend_from_slice(body);
    out
}

/// An UPDATE with these withdrawn routes, attributes and NLRI (lengths computed).
fn update_with(withdrawn: &[u8], attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    let attrs = attrs.concat();
    let mut body = (withdrawn.len() as u16).to_be_bytes().to_vec();
    body.extend_from_slice(withdrawn);
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(nlri);
    msg(2, &body)
}

fn update(attrs: &[&[u8]], nlri: &[u8]) -> Vec<u8> {
    update_with(&[], attrs, nlri)
}

const ORIGIN: &[u8] = &[0x40, 1, 1, 0];
const AS_PATH: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00]; // 64512, 4-octet
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 192, 0, 2, 1];
const NLRI: &[u8] = &[24, 198, 51, 100];
/// MP_UNREACH_NLRI IPv6 unicast withdrawing nothing (extended length, as FRR sends it).
const MP_UNREACH_V6: &[u8] = &[0x90, 15, 0, 3, 0, 2, 1];
/// MP_REACH_NLRI IPv6 unicast with a 5-byte next hop (neither 16 nor 32).
const MP_REACH_BAD_NEXT_HOP: &[u8] = &[0x90, 14, 0, 10, 0, 2, 1, 5, 1, 2, 3, 4, 5, 0];
/// MP_UNREACH_NLRI IPv6 unicast with a prefix of length 200.
const MP_UNREACH_BAD_PREFIX: &[u8] = &[0x90, 15, 0, 5, 0, 2, 1, 200, 0x20];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Decodes.
    Valid,
    /// Ignored with this handling; RFC 4271 alone would have sent UPDATE Message Error / this subcode.
    Ignored(UpdateErrorHandling, u8),
    /// Session reset: UPDATE Message Error / this subcode.
    Reset(u8),
}
use Expect::{Ignored, Reset, Valid};

fn classify(bytes: &[u8], cxt: &CodecContext) -> Expect {
    match Message::decode(bytes, cxt) {
        Ok(_) => Valid,
        Err(DecodeError::UpdateIgnored(i)) => {
            assert_eq!(i.error.code, 3, "{i}");
            assert!(i.handling < UpdateErrorHandling::SessionReset, "{i}");
            Ignored(i.handling, i.error.subcode)
        }
        Err(err) => {
            let n = err
                .notification()
                .unwrap_or_else(|| panic!("{err}: no NOTIFICATION"));
            assert_eq!(n.code, 3, "{err}");
            Reset(n.subcode)
        }
    }
}

#[test]
fn each_malformation_falls_in_its_rfc7606_class() {
    let mut body_attrs_too_long = update(&[ORIGIN, AS_PATH, NEXT_HOP], NLRI);
    // Total Path Attribute Length 200 in a 54-byte message
    body_attrs_too_long[21..23].copy_from_slice(&200u16.to_be_bytes());
    let rows: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("well-formed", update(&[ORIGIN, AS_PATH, NEXT_HOP], NLRI), Valid),
        (
            "multicast NLRI prefix (logged and ignored by RFC 4271)",
            update(&[ORIGIN, AS_PATH, NEXT_HOP], &[4, 224]),
            Valid,
        ),
        (
            "unknown optional transitive attribute with any content",
            update(
                &[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 99, 3, 0xde, 0xad, 0xbe]],
                NLRI,
            ),
            Valid,
        ),
        (
            "ORIGIN value 7",
            update(&[&[0x40, 1, 1, 7], AS_PATH, NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 6),
        ),
        (
            "ORIGIN of length 2",
            update(&[&[0x40, 1, 2, 0, 0], AS_PATH, NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 6),
        ),
        (
            "ORIGIN flagged optional",
            update(&[&[0xc0, 1, 1, 0], AS_PATH, NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 4),
        ),
        (
            "AS_PATH segment type 9",
            update(&[ORIGIN, &[0x40, 2, 6, 9, 1, 0, 0, 0xfc, 0], NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 11),
        ),
        (
            "AS_PATH segment of 5 ASNs carrying 1",
            update(&[ORIGIN, &[0x40, 2, 6, 2, 5, 0, 0, 0xfc, 0], NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 11),
        ),
        (
            "NEXT_HOP of length 3",
            update(&[ORIGIN, AS_PATH, &[0x40, 3, 3, 192, 0, 2]], NLRI),
            Ignored(TreatAsWithdraw, 8),
        ),
        (
            "NLRI without ORIGIN",
            update(&[AS_PATH, NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 3),
        ),
        (
            "NLRI without AS_PATH",
            update(&[ORIGIN, NEXT_HOP], NLRI),
            Ignored(TreatAsWithdraw, 3),
        ),
        (
            "NLRI without NEXT_HOP",
            update(&[ORIGIN, AS_PATH], NLRI),
            Ignored(TreatAsWithdraw, 3),
        ),
        (
            "MULTI_EXIT_DISC of length 2",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x80, 4, 2, 0, 0]], NLRI),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "LOCAL_PREF of length 3",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 5, 3, 0, 0, 0]], NLRI),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "COMMUNITIES of length 5",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 8, 5, 0, 0, 0, 0, 0]], NLRI),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "LARGE_COMMUNITY of length 10",
            update(
                &[
                    ORIGIN,
                    AS_PATH,
                    NEXT_HOP,
                    &[0xc0, 32, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0],
                ],
                NLRI,
            ),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "ATOMIC_AGGREGATE of length 1",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 6, 1, 0]], NLRI),
            Ignored(AttributeDiscard, 9),
        ),
        (
            "AGGREGATOR of length 5",
            update(
                &[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 7, 5, 0, 0, 0xfc, 0, 1]],
                NLRI,
            ),
            Ignored(AttributeDiscard, 9),
        ),
        (
            "ORIGIN twice",
            update(&[ORIGIN, ORIGIN, AS_PATH, NEXT_HOP], NLRI),
            Ignored(AttributeDiscard, 1),
        ),
        (
            "ORIGIN twice and bad COMMUNITIES: the stronger treat-as-withdraw wins",
            update(&[ORIGIN, ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 8, 1, 0]], NLRI),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "unrecognized attribute marked well-known",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 99, 1, 0]], NLRI),
            Ignored(TreatAsWithdraw, 2),
        ),
        (
            "attribute length past the attribute field",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0xc0, 8, 200, 0, 0, 0, 0]], NLRI),
            Ignored(TreatAsWithdraw, 1),
        ),
        (
            "two bytes left in the attribute field",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x40, 1]], NLRI),
            Ignored(TreatAsWithdraw, 1),
        ),
        (
            "extended-length attribute header cut after 3 bytes",
            update(&[ORIGIN, AS_PATH, NEXT_HOP, &[0x50, 1, 0]], NLRI),
            Ignored(TreatAsWithdraw, 1),
        ),
        (
            "MP_UNREACH_NLRI flagged transitive, otherwise fine",
            update(&[&[0xd0, 15, 0, 3, 0, 2, 1]], &[]),
            Ignored(TreatAsWithdraw, 4),
        ),
        (
            "Withdrawn Routes Length past the message",
            msg(2, &[0, 50, 0, 0]),
            Reset(1),
        ),
        (
            "Total Path Attribute Length past the message",
            body_attrs_too_long,
            Reset(1),
        ),
        (
            "NLRI prefix of length 33",
            update(&[ORIGIN, AS_PATH, NEXT_HOP], &[33, 198, 51, 100, 0, 0]),
            Reset(10),
        ),
        (
            "NLRI prefix cut short",
            update(&[ORIGIN, AS_PATH, NEXT_HOP], &[24, 198, 51]),
            Reset(10),
        ),
        (
            "withdrawn prefix of length 40",
            update_with(&[40, 1, 2, 3, 4, 5], &[], &[]),
            Reset(10),
        ),
        (
            "MP_UNREACH_NLRI of AFI 1 / SAFI 200, which the session does not carry",
            update(&[&[0x90, 15, 0, 4, 0, 1, 200, 0]], &[]),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "MP_REACH_NLRI of AFI 1 / SAFI 200 beside a valid route",
            update(
                &[
                    ORIGIN,
                    AS_PATH,
                    NEXT_HOP,
                    &[0x90, 14, 0, 9, 0, 1, 200, 4, 192, 0, 2, 1, 0],
                ],
                NLRI,
            ),
            Ignored(TreatAsWithdraw, 9),
        ),
        (
            "MP_REACH_NLRI with a 5-byte next hop",
            update(&[MP_REACH_BAD_NEXT_HOP, ORIGIN, AS_PATH], &[]),
            Reset(9),
        ),
        (
            "MP_UNREACH_NLRI with a prefix of length 200",
            update(&[MP_UNREACH_BAD_PREFIX], &[]),
            Reset(9),
        ),
        (
            "MP_UNREACH_NLRI twice",
            update(&[MP_UNREACH_V6, MP_UNREACH_V6], &[]),
            Reset(1),
        ),
        (
            "bad ORIGIN before a bad MP_REACH_NLRI: the session reset wins",
            update(&[&[0x40, 1, 1, 7], MP_REACH_BAD_NEXT_HOP, AS_PATH], &[]),
            Reset(9),
        ),
    ];
    let mut failures = Vec::new();
    for (what, bytes, expected) in &rows {
        let got = classify(bytes, &FOUR);
        if got != *expected {
            failures.push(format!(
                "{what}: expected {expected:?}, got {got:?} ({:?})",
                Message::decode(bytes, &FOUR)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn two_octet_sessions_classify_the_same_way() {
    let as_path_2 = &[0x40, 2, 4, 2, 1, 0xfc, 0x00][..];
    assert_eq!(
        classify(&update(&[ORIGIN, as_path_2, NEXT_HOP], NLRI), &TWO),
        Valid
    );
    // an odd AS_PATH length cannot hold 2-octet ASNs
    assert_eq!(
        classify(
            &update(&[ORIGIN, &[0x40, 2, 5, 2, 1, 0xfc, 0, 0], NEXT_HOP], NLRI),
            &TWO
        ),
        Ignored(TreatAsWithdraw, 11)
    );
    assert_eq!(classify(&msg(2, &[0, 50, 0, 0]), &TWO), Reset(1));
}

#[test]
fn an_ignored_update_names_the_attribute_and_the_class() {
    let err = Message::decode(&update(&[&[0x40, 1, 1, 7], AS_PATH, NEXT_HOP], NLRI), &FOUR)
        .expect_err("bad ORIGIN");
    assert_eq!(err.notification(), None, "nothing is sent back");
    assert_eq!(err.metric_label(), "update_ignored");
    let text = err.to_string();
    for part in [
        "path attribute type 1",
        "Invalid ORIGIN Attribute",
        "treat-as-withdraw",
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
}

// ===== the session =====

fn encode(msg: Message) -> Vec<u8> {
    msg.encode(&CodecContext::default())
        .expect("test message encodes")
}

fn established() -> Session {
    let mut s = Session::new(SessionConfig {
        jitter_seed: 1,
        ..SessionConfig::new(64513, 64512, Ipv4Addr::new(192, 0, 2, 11))
    })
    .expect("valid config");
    s.handle(Event::Start);
    s.handle(Event::TcpConnected);
    let caps = Capabilities {
        multiprotocol: vec![Family::Ipv4Unicast],
        ..Capabilities::default()
    };
    let open = Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), caps);
    s.handle(Event::Received(&encode(Message::Open(open))));
    s.handle(Event::Received(&encode(Message::Keepalive)));
    assert_eq!(s.state(), State::Established);
    s
}

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

#[test]
fn a_malformed_attribute_leaves_the_session_established_and_is_reported() {
    let mut s = established();
    let actions = s.handle(Event::Received(&update(
        &[&[0x40, 1, 1, 7], AS_PATH, NEXT_HOP],
        NLRI,
    )));
    assert_eq!(s.state(), State::Established);
    assert!(sent(&actions).is_empty(), "no NOTIFICATION: {actions:?}");
    assert!(
        actions.contains(&Action::ArmTimer(Timer::Hold, Duration::from_secs(90))),
        "hold timer restarted as for any UPDATE: {actions:?}"
    );
    let ignored: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::UpdateIgnored(i) => Some(i),
            _ => None,
        })
        .collect();
    assert_eq!(ignored.len(), 1, "{actions:?}");
    assert_eq!(ignored[0].handling, TreatAsWithdraw);
    assert_eq!(ignored[0].error.subcode, 6);
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::SessionDown(_) | Action::Close))
    );

    // the stream stays in sync: more malformed UPDATEs and a KEEPALIVE in one read
    let mut chunk = update(&[ORIGIN, ORIGIN, AS_PATH, NEXT_HOP], NLRI);
    chunk.extend(update(&[AS_PATH, NEXT_HOP], NLRI));
    chunk.extend(encode(Message::Keepalive));
    let actions = s.handle(Event::Received(&chunk));
    assert_eq!(s.state(), State::Established);
    let count = actions
        .iter()
        .filter(|a| matches!(a, Action::UpdateIgnored(_)))
        .count();
    assert_eq!(count, 2, "{actions:?}");
    assert!(sent(&actions).is_empty());
}

#[test]
fn an_inconsistent_attribute_length_still_resets_the_session() {
    let mut s = established();
    let mut bytes = update(&[ORIGIN, AS_PATH, NEXT_HOP], NLRI);
    bytes[21..23].copy_from_slice(&200u16.to_be_bytes());
    let actions = s.handle(Event::Received(&bytes));
    assert_eq!(
        sent(&actions),
        [Message::Notification(Notification::new(3, 1, []))]
    );
    assert!(actions.contains(&Action::Close));
    assert!(
        matches!(
            actions.iter().find(|a| matches!(a, Action::SessionDown(_))),
            Some(Action::SessionDown(DownReason::NotificationSent { notification, .. })) if notification.subcode == 1
        ),
        "{actions:?}"
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn an_unparsable_nlri_still_resets_the_session() {
    let mut s = established();
    let actions = s.handle(Event::Received(&update(
        &[ORIGIN, AS_PATH, NEXT_HOP],
        &[33, 1, 2, 3, 4, 5],
    )));
    assert_eq!(
        sent(&actions),
        [Message::Notification(Notification::new(3, 10, []))]
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn a_malformed_update_before_established_is_an_fsm_error() {
    let mut s = Session::new(SessionConfig::new(64513, 64512, Ipv4Addr::new(192, 0, 2, 11))).expect("valid");
    s.handle(Event::Start);
    s.handle(Event::TcpConnected);
    let open = Open::new(64512, 90, Ipv4Addr::new(192, 0, 2, 1), Capabilities::default());
    s.handle(Event::Received(&encode(Message::Open(open))));
    assert_eq!(s.state(), State::OpenConfirm);
    let actions = s.handle(Event::Received(&update(&[AS_PATH, NEXT_HOP], NLRI)));
    assert_eq!(
        sent(&actions),
        [Message::Notification(Notification::new(5, 2, [2]))]
    );
    assert_eq!(s.state(), State::Idle);
}

proptest! {
    /// Whatever the peer puts in the attribute field (lengths kept consistent), the established session
    /// survives it or resets only for a reason RFC 7606 allows, and never panics.
    #[test]
    fn arbitrary_attributes_never_panic_and_reset_only_for_rfc7606_reasons(
        attrs in proptest::collection::vec(any::<u8>(), 0..120),
        nlri_ok: bool,
    ) {
        let mut s = established();
        let nlri = if nlri_ok { NLRI } else { &[][..] };
        let actions = s.handle(Event::Received(&update(&[&attrs], nlri)));
        for m in sent(&actions) {
            let Message::Notification(n) = m else { continue };
            // only an MP_REACH/MP_UNREACH problem can reset when lengths and NLRI are sound
            prop_assert!(n.code == 3 && (n.subcode == 9 || n.subcode == 1), "{n}");
        }
        if s.state() == State::Established {
            prop_assert!(sent(&actions).is_empty());
        }
    }
}
