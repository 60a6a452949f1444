//! ARP tests: frames captured from the Linux kernel and arping (see `tests/data/README.md`), a byte vector
//! in both directions, every error, and a round-trip property.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;

const REQUEST: &[u8] = include_bytes!("../../tests/data/l2/arp-request.bin");
const KERNEL_REPLY: &[u8] = include_bytes!("../../tests/data/l2/arp-reply.bin");
const PROBE: &[u8] = include_bytes!("../../tests/data/l2/arp-probe.bin");
const ARPING_GARP: &[u8] = include_bytes!("../../tests/data/l2/arp-garp-request.bin");

const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

#[test]
fn decodes_a_captured_request_padded_to_60_bytes() {
    assert_eq!(REQUEST.len(), 58, "captured without the FCS, with padding");
    let req = ArpFrame::decode(REQUEST).expect("arping's request decodes");
    assert_eq!(req.operation, Operation::Request);
    assert_eq!(req.eth_dst, MacAddr::BROADCAST);
    assert_eq!(req.eth_src, req.sender_mac);
    assert_eq!((req.sender_ip, req.target_ip), (B, A));
    assert!(!req.is_gratuitous() && !req.is_probe());
}

#[test]
fn our_reply_is_byte_identical_to_the_kernels() {
    let req = ArpFrame::decode(REQUEST).expect("request decodes");
    let kernel = ArpFrame::decode(KERNEL_REPLY).expect("kernel reply decodes");
    let ours = req.reply(kernel.sender_mac).expect("a request has a reply");
    assert_eq!(ours, kernel);
    assert_eq!(ours.encode(), KERNEL_REPLY);
}

#[test]
fn a_probe_is_answered_with_target_ip_zero() {
    let probe = ArpFrame::decode(PROBE).expect("probe decodes");
    assert!(probe.is_probe());
    let mac = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    let reply = probe.reply(mac).expect("probe has a reply");
    assert_eq!(reply.target_ip, Ipv4Addr::UNSPECIFIED);
    assert_eq!(reply.sender_ip, A);
    assert_eq!(reply.eth_dst, probe.sender_mac);
}

#[test]
fn replies_are_not_answered() {
    let kernel = ArpFrame::decode(KERNEL_REPLY).expect("decodes");
    assert_eq!(kernel.reply(MacAddr::ZERO), None);
}

#[test]
fn gratuitous_arp_matches_arpings_request_form_but_for_the_target_mac() {
    let arping = ArpFrame::decode(ARPING_GARP).expect("arping -U decodes");
    assert!(arping.is_gratuitous());
    let ours = ArpFrame::gratuitous(arping.sender_mac, A);
    assert!(ours.is_gratuitous());
    // arping puts ff:ff:ff:ff:ff:ff in the target hardware address; RFC 5227 §2.3 asks for zero, and Linux
    // ignores the field in a request either way.
    assert_eq!(arping.target_mac, MacAddr::BROADCAST);
    assert_eq!(
        ours,
        ArpFrame {
            target_mac: MacAddr::ZERO,
            ..arping
        }
    );
}

/// A gratuitous ARP for 198.51.100.7 from 02:00:00:00:00:01, written out by hand from RFC 826.
const GARP_BYTES: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, // Ethernet
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // htype 1, ptype IPv4, 6/4, request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 198, 51, 100, 7, // sender
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 51, 100, 7, // target
];

#[test]
fn byte_vector_both_directions() {
    let garp = ArpFrame::gratuitous(MacAddr([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(198, 51, 100, 7));
    assert_eq!(garp.encode(), GARP_BYTES);
    assert_eq!(ArpFrame::decode(&GARP_BYTES), Ok(garp));
}

#[test]
fn errors_name_the_offending_field() {
    let with = |offset: usize, bytes: &[u8]| {
        let mut f = GARP_BYTES.to_vec();
        f[offset..offset + bytes.len()].copy_from_slice(bytes);
        ArpFrame::decode(&f)
    };
    assert_eq!(
        ArpFrame::decode(&GARP_BYTES[..41]),
        Err(ArpError::Truncated { len: 41 })
    );
    assert_eq!(ArpFrame::decode(&[]), Err(ArpError::Truncated { len: 0 }));
    assert_eq!(
        with(12, &[0x86, 0xdd]),
        Err(ArpError::NotArp { ethertype: 0x86dd })
    );
    assert_eq!(
        with(12, &[0x81, 0x00]),
        Err(ArpError::NotArp { ethertype: 0x8100 })
    );
    assert_eq!(with(14, &[0, 6]), Err(ArpError::UnsupportedHardware { htype: 6 }));
    assert_eq!(
        with(16, &[0x86, 0xdd]),
        Err(ArpError::UnsupportedProtocol { ptype: 0x86dd })
    );
    assert_eq!(
        with(18, &[6, 16]),
        Err(ArpError::BadAddressLengths { hlen: 6, plen: 16 })
    );
    assert_eq!(with(20, &[0, 3]), Err(ArpError::UnknownOperation { op: 3 }));
    assert_eq!(
        ArpError::UnknownOperation { op: 3 }.metric_label(),
        "unknown_operation"
    );
    assert_eq!(
        ArpError::NotArp { ethertype: 0x8100 }.to_string(),
        "EtherType 0x8100 is not ARP"
    );
}

fn any_mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn any_frame() -> impl Strategy<Value = ArpFrame> {
    (
        any_mac(),
        any_mac(),
        prop_oneof![Just(Operation::Request), Just(Operation::Reply)],
        any_mac(),
        any::<u32>(),
        any_mac(),
        any::<u32>(),
    )
        .prop_map(
            |(eth_src, eth_dst, operation, sender_mac, sip, target_mac, tip)| ArpFrame {
                eth_src,
                eth_dst,
                operation,
                sender_mac,
                sender_ip: Ipv4Addr::from(sip),
                target_mac,
                target_ip: Ipv4Addr::from(tip),
            },
        )
}

proptest! {
    #[test]
    fn encode_decode_round_trip(frame in any_frame(), padding in 0usize..32) {
        let mut bytes = frame.encode();
        prop_assert_eq!(bytes.len(), FRAME_LEN);
        bytes.resize(FRAME_LEN + padding, 0);
        prop_assert_eq!(ArpFrame::decode(&bytes), Ok(frame));
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = ArpFrame::decode(&bytes);
    }
}
