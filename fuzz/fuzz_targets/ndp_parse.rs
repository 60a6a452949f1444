//! Fuzzes the NDP decoders (Neighbor Solicitation and Advertisement) with arbitrary frames. Besides "never
//! panics", it checks that whatever is accepted re-encodes to something accepted as the same message, and
//! that the advertisement built in reply to an accepted solicitation is itself valid. Each input is tried
//! as is and with its ICMPv6 checksum fixed, so mutations reach the checks behind the checksum.
//!
//! Seed it with the captures: `cargo fuzz run ndp_parse corpus/ndp_parse ../proto/tests/data/l2`.

#![no_main]

use std::net::Ipv6Addr;

use ferrolb_proto::MacAddr;
use ferrolb_proto::ndp::{NeighborAdvertisement, NeighborSolicitation, checksum};
use libfuzzer_sys::fuzz_target;

fn check(frame: &[u8]) {
    if let Ok(ns) = NeighborSolicitation::decode(frame) {
        assert_eq!(NeighborSolicitation::decode(&ns.encode()), Ok(ns));
        let na = ns.reply(MacAddr([0x02, 0, 0, 0, 0, 0x11]));
        assert_eq!(
            NeighborAdvertisement::decode(&na.encode()),
            Ok(na),
            "reply to {ns:?}"
        );
    }
    if let Ok(na) = NeighborAdvertisement::decode(frame) {
        assert_eq!(NeighborAdvertisement::decode(&na.encode()), Ok(na));
    }
}

/// The frame with the ICMPv6 checksum recomputed over the IPv6 payload length, if the frame is long enough.
fn with_checksum(frame: &[u8]) -> Option<Vec<u8>> {
    let payload_len = usize::from(u16::from_be_bytes([*frame.get(18)?, *frame.get(19)?]));
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(frame.get(22..38)?).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(frame.get(38..54)?).ok()?);
    let icmp = frame.get(54..54 + payload_len).filter(|i| i.len() >= 4)?;
    let sum = checksum(icmp, src, dst);
    let mut fixed = frame.to_vec();
    fixed[56..58].copy_from_slice(&sum.to_be_bytes());
    Some(fixed)
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(fixed) = with_checksum(data) {
        check(&fixed);
    }
});
