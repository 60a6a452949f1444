//! Fuzzes the ARP decoder with arbitrary frames. Besides "never panics", it checks that an accepted frame
//! re-encodes to exactly its first 42 bytes and that the reply to it decodes back to itself.
//!
//! Seed it with the captures: `cargo fuzz run arp_parse corpus/arp_parse ../proto/tests/data/l2`.

#![no_main]

use ferrolb_proto::MacAddr;
use ferrolb_proto::arp::{ArpFrame, FRAME_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = ArpFrame::decode(data) else { return };
    let bytes = frame.encode();
    assert_eq!(
        bytes.as_slice(),
        &data[..FRAME_LEN],
        "re-encoding changed the frame"
    );
    if let Some(reply) = frame.reply(MacAddr([0x02, 0, 0, 0, 0, 0x11])) {
        assert_eq!(ArpFrame::decode(&reply.encode()), Ok(reply));
    }
});
