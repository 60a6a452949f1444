//! Cutting a TCP byte stream into BGP messages.

use super::codec::{DecodeError, message_len};

/// Accumulates bytes read from a BGP connection and yields whole messages.
///
/// The header of each message is checked as soon as it is complete (marker, length within 19..=4096), so a
/// desynchronised stream is reported without waiting for more data, and the buffer never holds more than one
/// incomplete message beyond what was pushed.
#[derive(Debug, Default, Clone)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete message (header included), `Ok(None)` if more bytes are needed, or the header error
    /// that makes the rest of the stream unusable.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, DecodeError> {
        let pending = &self.buf[self.start..];
        match message_len(pending)? {
            Some(len) if pending.len() >= len => {
                let begin = self.start;
                self.start += len;
                Ok(Some(&self.buf[begin..begin + len]))
            }
            _ => Ok(None),
        }
    }

    /// Bytes buffered and not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Drops everything buffered (a new connection starts a new stream).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::{CodecContext, Message};

    fn keepalive() -> Vec<u8> {
        Message::Keepalive
            .encode(&CodecContext::default())
            .expect("keepalive encodes")
    }

    #[test]
    fn splits_messages_across_arbitrary_chunks() {
        let one = keepalive();
        let stream: Vec<u8> = one.iter().chain(one.iter()).chain(one.iter()).copied().collect();
        for chunk in 1..=stream.len() {
            let mut framer = Framer::new();
            let mut count = 0;
            for piece in stream.chunks(chunk) {
                framer.push(piece);
                while let Some(msg) = framer.next_message().expect("valid stream") {
                    assert_eq!(msg, one.as_slice());
                    count += 1;
                }
            }
            assert_eq!(count, 3, "chunk size {chunk}");
            assert_eq!(framer.buffered(), 0);
        }
    }

    #[test]
    fn reports_bad_marker_before_the_header_is_complete() {
        let mut framer = Framer::new();
        framer.push(&[0xff, 0xff, 0x00]);
        assert_eq!(framer.next_message(), Err(DecodeError::NotSynchronized));
    }

    #[test]
    fn reports_bad_length_from_the_header() {
        let mut bytes = keepalive();
        bytes[16..18].copy_from_slice(&5000u16.to_be_bytes());
        let mut framer = Framer::new();
        framer.push(&bytes[..19]);
        assert!(matches!(
            framer.next_message(),
            Err(DecodeError::BadLength { length: 5000, .. })
        ));
    }

    #[test]
    fn waits_for_the_rest_of_a_message() {
        let bytes = keepalive();
        let mut framer = Framer::new();
        framer.push(&bytes[..10]);
        assert_eq!(framer.next_message(), Ok(None));
        framer.push(&bytes[10..]);
        assert_eq!(
            framer.next_message().expect("complete").map(<[u8]>::to_vec),
            Some(bytes)
        );
    }
}
