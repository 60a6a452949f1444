//! Keyed SHA1 and Meticulous Keyed SHA1 authentication (RFC 5880 §6.7.4).
//!
//! The hash is plain SHA1 (not an HMAC) over the whole packet (its Length bytes) with the Auth Key/Hash
//! field holding the key, zero-padded to 20 bytes. The sender then replaces the field with the hash; the
//! receiver puts the key back in and compares. Sequence numbers guard against replay: a received one must
//! lie in `last ..= last + 3 × Detect Mult` (Keyed SHA1) or `last + 1 ..= last + 3 × Detect Mult`
//! (Meticulous), modulo 2³², once a first one is known.

use sha1::{Digest, Sha1};

use super::packet::{MANDATORY_LEN, SHA1_AUTH_LEN};

/// Where the hash starts: after the mandatory section and type, len, key ID, reserved, sequence number.
const HASH_AT: usize = MANDATORY_LEN + 8;
/// The end of a SHA1 section that starts right after the mandatory section.
const HASH_END: usize = MANDATORY_LEN + SHA1_AUTH_LEN;

/// The SHA1 of `packet` with the Auth Key/Hash field set to `key` (zero-padded); `None` if `packet` has no
/// room for a SHA1 section or the key is longer than 20 bytes.
fn keyed_hash(packet: &[u8], key: &[u8]) -> Option<[u8; 20]> {
    if packet.len() < HASH_END || key.len() > 20 {
        return None;
    }
    let mut padded = [0u8; 20];
    padded[..key.len()].copy_from_slice(key);
    let mut hasher = Sha1::new();
    hasher.update(&packet[..HASH_AT]);
    hasher.update(padded);
    hasher.update(&packet[HASH_END..]);
    Some(hasher.finalize().into())
}

/// Writes the hash into an encoded packet carrying a SHA1 section (whatever its Auth Key/Hash field held).
/// Returns false, leaving `packet` unchanged, if it has no room for one or the key exceeds 20 bytes.
pub fn sign_sha1(packet: &mut [u8], key: &[u8]) -> bool {
    match keyed_hash(packet, key) {
        Some(hash) => {
            packet[HASH_AT..HASH_END].copy_from_slice(&hash);
            true
        }
        None => false,
    }
}

/// Whether the hash in a received packet (its Length bytes, SHA1 section right after the mandatory
/// section) matches `key`. Compares in constant time.
pub fn verify_sha1(packet: &[u8], key: &[u8]) -> bool {
    let (Some(expected), Some(got)) = (keyed_hash(packet, key), packet.get(HASH_AT..HASH_END)) else {
        return false;
    };
    expected.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Whether a received sequence number is acceptable after `last` (RFC 5880 §6.7.4); any number is when
/// none is known yet (bfd.AuthSeqKnown 0).
pub fn sequence_acceptable(meticulous: bool, last: Option<u32>, received: u32, detect_mult: u8) -> bool {
    let Some(last) = last else { return true };
    let ahead = received.wrapping_sub(last);
    let window = 3 * u32::from(detect_mult);
    ahead <= window && (!meticulous || ahead >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_windows_wrap_around() {
        // keyed: last ..= last + 3 × mult
        assert!(sequence_acceptable(false, None, 12345, 3));
        assert!(sequence_acceptable(false, Some(10), 10, 3));
        assert!(sequence_acceptable(false, Some(10), 19, 3));
        assert!(!sequence_acceptable(false, Some(10), 20, 3));
        assert!(!sequence_acceptable(false, Some(10), 9, 3));
        // meticulous: last + 1 ..= last + 3 × mult
        assert!(!sequence_acceptable(true, Some(10), 10, 3));
        assert!(sequence_acceptable(true, Some(10), 11, 3));
        assert!(sequence_acceptable(true, Some(10), 13, 1));
        assert!(!sequence_acceptable(true, Some(10), 14, 1));
        // modulo 2^32
        assert!(sequence_acceptable(true, Some(u32::MAX), 0, 1));
        assert!(sequence_acceptable(true, Some(u32::MAX - 1), 1, 1));
        assert!(!sequence_acceptable(true, Some(0), u32::MAX, 255));
        assert!(sequence_acceptable(false, Some(u32::MAX - 10), 754, 255));
    }

    #[test]
    fn sign_then_verify_and_any_change_breaks_it() {
        let mut packet = vec![0u8; HASH_END];
        packet[..4].copy_from_slice(&[0x20, 0x44, 3, HASH_END as u8]);
        assert!(sign_sha1(&mut packet, b"secret"));
        assert!(verify_sha1(&packet, b"secret"));
        assert!(!verify_sha1(&packet, b"secreT"));
        assert!(
            verify_sha1(&packet, b"secret\0"),
            "zero padding: a trailing NUL makes the same key"
        );
        for i in 0..packet.len() {
            let mut changed = packet.clone();
            changed[i] ^= 1;
            assert!(!verify_sha1(&changed, b"secret"), "byte {i}");
        }
        assert!(!sign_sha1(&mut packet[..HASH_END - 1], b"secret"), "no room");
        assert!(!verify_sha1(&packet[..HASH_END - 1], b"secret"));
        assert!(!sign_sha1(&mut packet, &[1; 21]), "key too long");
    }
}
