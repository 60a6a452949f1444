//! BFD Control packets: byte vectors both ways (captured from BIRD 2.0.12, and hand-written for the
//! authentication types BIRD was not run with), every decoding error, SHA1 hashes of real packets, and
//! round-trip and no-panic properties.

mod bfd_common;

use bfd_common::{Captured, captured, hex};
use ferrolb_proto::bfd::auth::{sign_sha1, verify_sha1};
use ferrolb_proto::bfd::{Auth, AuthType, ControlPacket, DecodeError, Diag, State};
use proptest::prelude::*;

/// BIRD's Up packet with P set, right after the handshake (bird-v4-noauth.txt, line 4): it lowers its
/// Desired Min TX from the slow 1 s to 100 ms with a Poll Sequence.
const BIRD_UP_POLL: &str = "20e00318bd237daa9eb5ffa5000186a0000186a000000000";

#[test]
fn birds_poll_packet_both_ways() {
    let expected = ControlPacket {
        diag: Diag::None,
        state: State::Up,
        poll: true,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 0xbd23_7daa,
        your_discriminator: 0x9eb5_ffa5,
        desired_min_tx: 100_000,
        required_min_rx: 100_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    assert_eq!(ControlPacket::decode(&hex(BIRD_UP_POLL)), Ok(expected.clone()));
    assert_eq!(expected.encode(), hex(BIRD_UP_POLL));
    assert_eq!(expected.buffer_len(), 24);
}

#[test]
fn birds_meticulous_sha1_packet_both_ways_and_its_hash() {
    // bird-v6-meticulous-sha1.txt, line 1: Down, slow rate, key ID 7, key "ferrolb-bfd-key"
    let bytes = hex(concat!(
        "2044033441f3a6aa00000000000f4240000186a000000000",
        "051c07004b0320fdd688516d42f4434ac14574bb9461bac002b3a11b"
    ));
    let packet = ControlPacket::decode(&bytes).expect("decodes");
    assert_eq!(packet.state, State::Down);
    assert_eq!(
        (packet.desired_min_tx, packet.required_min_rx),
        (1_000_000, 100_000)
    );
    assert_eq!(packet.my_discriminator, 0x41f3_a6aa);
    assert_eq!(packet.your_discriminator, 0);
    let Some(Auth::Sha1 {
        meticulous: true,
        key_id: 7,
        sequence: 0x4b03_20fd,
        hash,
    }) = packet.auth
    else {
        panic!("meticulous keyed SHA1 section: {:?}", packet.auth)
    };
    assert_eq!(hash[..], bytes[32..]);
    assert_eq!(packet.encode(), bytes, "re-encodes byte for byte");

    assert!(verify_sha1(&bytes, b"ferrolb-bfd-key"), "BIRD's hash is ours");
    assert!(!verify_sha1(&bytes, b"ferrolb-bfd-kez"));
    // signing the re-encoded packet with the hash zeroed gives BIRD's hash back
    let mut zeroed = bytes.clone();
    zeroed[32..].fill(0);
    assert!(sign_sha1(&mut zeroed, b"ferrolb-bfd-key"));
    assert_eq!(zeroed, bytes);
}

#[test]
fn hand_written_vectors_of_the_other_auth_types_both_ways() {
    let mandatory = "20c40301000000010000000200030d400007a12000000000";
    let base = ControlPacket {
        diag: Diag::None,
        state: State::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 1,
        your_discriminator: 2,
        desired_min_tx: 200_000,
        required_min_rx: 500_000,
        required_min_echo_rx: 0,
        auth: None,
    };
    let cases = [
        (
            // simple password "bfd": Auth Len 3 + 3, Length 24 + 6 = 0x1e
            "01060a626664",
            Auth::SimplePassword {
                key_id: 10,
                password: b"bfd".to_vec(),
            },
        ),
        (
            "0218050000000102000102030405060708090a0b0c0d0e0f",
            Auth::Md5 {
                meticulous: false,
                key_id: 5,
                sequence: 0x102,
                digest: std::array::from_fn(|i| i as u8),
            },
        ),
        (
            "0318ff00ffffffff0f0e0d0c0b0a09080706050403020100",
            Auth::Md5 {
                meticulous: true,
                key_id: 255,
                sequence: u32::MAX,
                digest: std::array::from_fn(|i| 15 - i as u8),
            },
        ),
        (
            "041c0100deadbeef0000000000000000000000000000000000000000",
            Auth::Sha1 {
                meticulous: false,
                key_id: 1,
                sequence: 0xdead_beef,
                hash: [0; 20],
            },
        ),
    ];
    for (section, auth) in cases {
        let mut bytes = hex(mandatory);
        bytes.extend(hex(section));
        bytes[3] = bytes.len() as u8;
        let packet = ControlPacket {
            auth: Some(auth.clone()),
            ..base.clone()
        };
        assert_eq!(ControlPacket::decode(&bytes), Ok(packet.clone()), "{auth:?}");
        assert_eq!(packet.encode(), bytes, "{auth:?}");
        assert_eq!(packet.buffer_len(), bytes.len());
    }
    assert_eq!(
        [1, 2, 3, 4, 5].map(|c| {
            let mut b = hex(mandatory);
            b.extend(match c {
                1 => hex("010401ff"),
                2 | 3 => [vec![c, 24], vec![0; 22]].concat(),
                _ => [vec![c, 28], vec![0; 26]].concat(),
            });
            b[3] = b.len() as u8;
            ControlPacket::decode(&b).map(|p| p.auth.map(|a| a.auth_type()))
        }),
        [
            AuthType::SimplePassword,
            AuthType::KeyedMd5,
            AuthType::MeticulousKeyedMd5,
            AuthType::KeyedSha1,
            AuthType::MeticulousKeyedSha1
        ]
        .map(|t| Ok(Some(t)))
    );
}

#[test]
fn flags_diag_and_state_bits() {
    for (byte0, byte1, diag, state, p, f, c, d) in [
        (
            0x20,
            0x00,
            Diag::None,
            State::AdminDown,
            false,
            false,
            false,
            false,
        ),
        (
            0x27,
            0x08,
            Diag::AdministrativelyDown,
            State::AdminDown,
            false,
            false,
            true,
            false,
        ),
        (
            0x21,
            0x40,
            Diag::ControlDetectionTimeExpired,
            State::Down,
            false,
            false,
            false,
            false,
        ),
        (
            0x23,
            0x90,
            Diag::NeighborSignaledDown,
            State::Init,
            false,
            true,
            false,
            false,
        ),
        (
            0x28,
            0xe2,
            Diag::ReverseConcatenatedPathDown,
            State::Up,
            true,
            false,
            false,
            true,
        ),
        (0x3f, 0xda, Diag::Other(31), State::Up, false, true, true, true),
        (0x29, 0xc0, Diag::Other(9), State::Up, false, false, false, false),
    ] {
        let mut bytes = hex(BIRD_UP_POLL);
        bytes[0] = byte0;
        bytes[1] = byte1;
        let packet = ControlPacket::decode(&bytes).expect("decodes");
        assert_eq!(
            (packet.diag, packet.state, packet.poll, packet.final_),
            (diag, state, p, f),
            "{byte0:#x} {byte1:#x}"
        );
        assert_eq!((packet.control_plane_independent, packet.demand), (c, d));
        assert_eq!(packet.encode(), bytes);
    }
}

#[test]
fn every_decoding_error() {
    let good = hex(BIRD_UP_POLL);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        ControlPacket::decode(&b)
    };
    let sha1 = |b: &mut Vec<u8>| {
        b[1] |= 0x04;
        b.extend([4, 28]);
        b.extend([0; 26]);
        b[3] = 52;
    };
    assert_eq!(ControlPacket::decode(&[]), Err(DecodeError::Truncated(0)));
    assert_eq!(
        ControlPacket::decode(&good[..23]),
        Err(DecodeError::Truncated(23))
    );
    assert_eq!(with(&|b| b[0] = 0x00), Err(DecodeError::Version(0)));
    assert_eq!(with(&|b| b[0] = 0x40), Err(DecodeError::Version(2)));
    assert_eq!(
        with(&|b| b[3] = 23),
        Err(DecodeError::LengthTooSmall {
            length: 23,
            minimum: 24
        })
    );
    assert_eq!(
        with(&|b| b[1] |= 0x04),
        Err(DecodeError::LengthTooSmall {
            length: 24,
            minimum: 26
        })
    );
    assert_eq!(
        with(&|b| b[3] = 25),
        Err(DecodeError::LengthTooLarge {
            length: 25,
            received: 24
        })
    );
    assert_eq!(with(&|b| b[2] = 0), Err(DecodeError::ZeroDetectMult));
    assert_eq!(with(&|b| b[1] |= 0x01), Err(DecodeError::Multipoint));
    assert_eq!(with(&|b| b[4..8].fill(0)), Err(DecodeError::ZeroMyDiscriminator));
    assert_eq!(
        with(&|b| {
            sha1(b);
            b[3] = 50; // the section does not fit in Length
        }),
        Err(DecodeError::AuthTruncated)
    );
    assert_eq!(
        with(&|b| {
            sha1(b);
            b[25] = 24;
        }),
        Err(DecodeError::AuthLength {
            auth_type: 4,
            auth_len: 24
        })
    );
    assert_eq!(
        with(&|b| {
            sha1(b);
            b[24] = 2; // MD5 with SHA1's length
        }),
        Err(DecodeError::AuthLength {
            auth_type: 2,
            auth_len: 28
        })
    );
    for auth_len in [3, 20] {
        assert_eq!(
            with(&|b| {
                b[1] |= 0x04;
                b.extend([1, auth_len]);
                b.extend(vec![b'x'; usize::from(auth_len) - 2]);
                b[3] = b.len() as u8;
            }),
            Err(DecodeError::AuthLength {
                auth_type: 1,
                auth_len: usize::from(auth_len)
            }),
            "password of {} bytes",
            auth_len - 3
        );
    }
    for auth_type in [0, 6, 255] {
        assert_eq!(
            with(&|b| {
                sha1(b);
                b[24] = auth_type;
            }),
            Err(DecodeError::UnknownAuthType(auth_type))
        );
    }
    assert!(with(&|b| sha1(b)).is_ok());
    // every error names itself for metrics
    assert_eq!(DecodeError::Multipoint.metric_label(), "multipoint");
}

#[test]
fn trailing_bytes_after_length_are_ignored() {
    let mut bytes = hex(BIRD_UP_POLL);
    let packet = ControlPacket::decode(&bytes).expect("decodes");
    bytes.extend([0xff; 8]); // padding beyond Length
    assert_eq!(ControlPacket::decode(&bytes), Ok(packet.clone()));
    bytes[3] = 32; // Length covers them, A bit clear: ignored too
    assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
}

#[test]
fn every_captured_packet_decodes_re_encodes_and_authenticates() {
    // (file, auth type and key ID, UDP port, TTL)
    type Expected = (&'static str, Option<(AuthType, u8)>, u16, u8);
    let files: [Expected; 3] = [
        ("bird-v4-noauth", None, 3784, 255),
        (
            "bird-v6-meticulous-sha1",
            Some((AuthType::MeticulousKeyedSha1, 7)),
            3784,
            255,
        ),
        // BIRD sends multi-hop packets with TTL 64 (see the README): a minimum TTL of 254 would refuse them
        ("bird-v4-multihop-sha1", Some((AuthType::KeyedSha1, 3)), 4784, 64),
    ];
    for (name, auth, port, ttl) in files {
        let packets = captured(name);
        assert!(packets.len() > 50, "{name}: {} packets", packets.len());
        let mut last_seq = std::collections::HashMap::new();
        let mut states = std::collections::HashSet::new();
        for Captured {
            src,
            port: p,
            ttl: t,
            bytes,
            ..
        } in &packets
        {
            assert_eq!((*p, *t), (port, ttl), "{name}");
            let packet = ControlPacket::decode(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&packet.encode(), bytes, "{name}: byte-identical");
            states.insert((packet.state, packet.poll, packet.final_));
            match (auth, &packet.auth) {
                (None, None) => {}
                (Some((t, id)), Some(a)) => {
                    assert_eq!((a.auth_type(), a.key_id()), (t, id), "{name}");
                    assert!(verify_sha1(bytes, b"ferrolb-bfd-key"), "{name}: hash");
                    let Auth::Sha1 { sequence, .. } = a else {
                        unreachable!()
                    };
                    if let Some(prev) = last_seq.insert(src.clone(), *sequence) {
                        // meticulous: every packet; keyed: BIRD increments only when the contents change
                        let step = sequence.wrapping_sub(prev);
                        match t {
                            AuthType::MeticulousKeyedSha1 => assert_eq!(step, 1, "{name}"),
                            _ => assert!(step <= 1, "{name}: step {step}"),
                        }
                    }
                }
                (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
            }
        }
        // the captures hold the whole handshake, both halves of a Poll Sequence, and a detected failure
        for seen in [
            (State::Down, false, false),
            (State::Init, false, false),
            (State::Up, true, false),
            (State::Up, false, true),
            (State::Up, false, false),
        ] {
            assert!(states.contains(&seen), "{name}: {seen:?}");
        }
    }
}

fn auth_strategy() -> impl Strategy<Value = Option<Auth>> {
    prop_oneof![
        Just(None),
        (any::<u8>(), proptest::collection::vec(any::<u8>(), 1..=16))
            .prop_map(|(key_id, password)| Some(Auth::SimplePassword { key_id, password })),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 16]>()).prop_map(
            |(meticulous, key_id, sequence, digest)| Some(Auth::Md5 {
                meticulous,
                key_id,
                sequence,
                digest
            })
        ),
        (any::<bool>(), any::<u8>(), any::<u32>(), any::<[u8; 20]>()).prop_map(
            |(meticulous, key_id, sequence, hash)| Some(Auth::Sha1 {
                meticulous,
                key_id,
                sequence,
                hash
            })
        ),
    ]
}

prop_compose! {
    fn packet_strategy()(
        diag in 0u8..32,
        state in 0u8..4,
        flags in any::<[bool; 4]>(),
        detect_mult in 1u8..,
        my_discriminator in 1u32..,
        words in any::<[u32; 4]>(),
        auth in auth_strategy(),
    ) -> ControlPacket {
        ControlPacket {
            diag: Diag::from_code(diag),
            state: State::from_code(state),
            poll: flags[0],
            final_: flags[1],
            control_plane_independent: flags[2],
            demand: flags[3],
            detect_mult,
            my_discriminator,
            your_discriminator: words[0],
            desired_min_tx: words[1],
            required_min_rx: words[2],
            required_min_echo_rx: words[3],
            auth,
        }
    }
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity(packet in packet_strategy()) {
        let bytes = packet.encode();
        prop_assert_eq!(bytes.len(), packet.buffer_len());
        prop_assert_eq!(usize::from(bytes[3]), bytes.len());
        prop_assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(packet) = ControlPacket::decode(&bytes) {
            // what decodes re-encodes to the bytes it was read from, up to its own length
            let again = packet.encode();
            prop_assert_eq!(ControlPacket::decode(&again), Ok(packet));
        }
    }

    #[test]
    fn mutated_valid_packets_never_panic(packet in packet_strategy(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = packet.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let n = cut.index(bytes.len() + 1);
        let _ = ControlPacket::decode(&bytes[..n]);
        let _ = ControlPacket::decode(&bytes);
    }
}
