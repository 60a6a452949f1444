//! Fuzzes the BGP decoder and the framer with arbitrary bytes, on 4-octet and 2-octet AS sessions.
//! Besides "never panics", it checks that every error names a NOTIFICATION to send (except for a malformed
//! NOTIFICATION, which is never answered, and an UPDATE that RFC 7606 lets the session ignore) and that an accepted message which re-encodes decodes back to
//! the same message (apart from the codes of unmodelled attributes, which are decode-only).
//!
//! Seed it with the captures: `cargo fuzz run bgp_decode corpus/bgp_decode ../proto/tests/data/bgp/*`.

#![no_main]

use ferrolb_proto::bgp::{CodecContext, DecodeError, Framer, Message, UpdateErrorHandling};
use libfuzzer_sys::fuzz_target;

fn check(bytes: &[u8], cxt: &CodecContext) {
    match Message::decode(bytes, cxt) {
        Ok(mut msg) => {
            if let Message::Update(u) = &mut msg {
                u.attributes.other.clear();
            }
            if let Ok(again) = msg.encode(cxt) {
                assert_eq!(Message::decode(&again, cxt), Ok(msg), "round trip");
            }
        }
        Err(err) => {
            let _ = err.to_string();
            let _ = err.metric_label();
            assert!(
                err.notification().is_some()
                    || matches!(
                        err,
                        DecodeError::Malformed {
                            kind: "NOTIFICATION",
                            ..
                        } | DecodeError::UpdateIgnored(_)
                    ),
                "{err} has no NOTIFICATION"
            );
            if let DecodeError::UpdateIgnored(ignored) = &err {
                assert!(ignored.handling < UpdateErrorHandling::SessionReset, "{ignored}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    for cxt in [
        CodecContext { four_octet_as: true },
        CodecContext { four_octet_as: false },
    ] {
        check(data, &cxt);
        let mut framer = Framer::new();
        framer.push(data);
        while let Ok(Some(msg)) = framer.next_message() {
            let msg = msg.to_vec();
            check(&msg, &cxt);
        }
    }
});
