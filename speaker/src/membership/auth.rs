//! Authenticated membership datagrams: HMAC-SHA256 under the membership Secret's key, with replay protection.
//!
//! ```text
//!  0      4        5           5+n       13+n      21+n                 len-32      len
//!  +------+--------+-----------+---------+---------+--------------------+-----------+
//!  | FLB1 | n (u8) | node name | boot    | seq     | foca payload       | HMAC tag  |
//!  +------+--------+-----------+---------+---------+--------------------+-----------+
//!                                u64 BE    u64 BE                        SHA-256, over all bytes before it
//! ```
//!
//! `boot` is the sender's process start time (ms since the epoch) and `seq` counts its datagrams. A receiver
//! keeps, per sender name, the newest boot and a 64-datagram sliding window of sequence numbers (as IPsec does),
//! so a captured datagram replayed later — from any address — is rejected. A lower boot than the one on record is
//! rejected unless that sender has been silent for [`STALE_BOOT_GRACE`] (a restart with a clock that stepped
//! back). Only key holders can create window entries, so their number is bounded by the cluster size.
//!
//! Everything here is pure (time is passed in); the membership task does the I/O and counts every rejection by
//! [`AuthError::metric_label`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Datagram magic and format version.
pub const MAGIC: [u8; 4] = *b"FLB1";
/// Length of the HMAC-SHA256 tag.
pub const TAG_LEN: usize = 32;
/// Width of the anti-replay window.
pub const REPLAY_WINDOW: u64 = 64;
/// How long a sender must be silent before a lower boot number is accepted from it.
pub const STALE_BOOT_GRACE: Duration = Duration::from_secs(30);
/// How long the previous key stays valid after the Secret changes (so a rolling key change does not split
/// the cluster).
pub const PREVIOUS_KEY_GRACE: Duration = Duration::from_secs(60);

type HmacSha256 = Hmac<Sha256>;

/// Why a datagram was dropped. Labels are metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// Not a ferrolb membership datagram (wrong magic, or too short to carry a tag): unauthenticated.
    #[error("not an authenticated membership datagram")]
    Unauthenticated,
    /// The tag does not verify under any current key: forged, or a different key.
    #[error("authentication tag does not verify")]
    Forged,
    /// A sequence number already seen (or older than the window).
    #[error("replayed datagram")]
    Replayed,
    /// An older boot number than the sender's current one.
    #[error("datagram from an earlier run of the sender")]
    StaleBoot,
    /// No key yet (the membership Secret has not been read).
    #[error("no membership key")]
    NoKey,
}

impl AuthError {
    /// Every error, for metrics that report each one.
    pub const ALL: [AuthError; 5] = [
        AuthError::Unauthenticated,
        AuthError::Forged,
        AuthError::Replayed,
        AuthError::StaleBoot,
        AuthError::NoKey,
    ];

    /// A short, stable label for metrics.
    pub const fn metric_label(self) -> &'static str {
        match self {
            AuthError::Unauthenticated => "unauthenticated",
            AuthError::Forged => "forged",
            AuthError::Replayed => "replayed",
            AuthError::StaleBoot => "stale_boot",
            AuthError::NoKey => "no_key",
        }
    }
}

/// The key material, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Vec<u8>);

impl Key {
    /// A key from the Secret's bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Key(bytes.into())
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length
        HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(<{} bytes>)", self.0.len())
    }
}

/// The current key and, for a while after a change, the previous one.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    current: Option<Key>,
    previous: Option<(Key, Instant)>,
}

impl Keys {
    /// Installs `key` (or none); the old key stays accepted for [`PREVIOUS_KEY_GRACE`].
    pub fn set(&mut self, key: Option<Key>, now: Instant) {
        if key == self.current {
            return;
        }
        self.previous = self.current.take().map(|k| (k, now + PREVIOUS_KEY_GRACE));
        self.current = key;
    }

    /// Whether a key is installed.
    pub fn has_key(&self) -> bool {
        self.current.is_some()
    }

    fn verifying(&self, now: Instant) -> impl Iterator<Item = &Key> {
        self.current.iter().chain(
            self.previous
                .iter()
                .filter(move |(_, until)| now < *until)
                .map(|(k, _)| k),
        )
    }
}

/// Seals outgoing datagrams for one sender.
#[derive(Debug, Clone)]
pub struct Sealer {
    name: String,
    boot: u64,
    seq: u64,
}

impl Sealer {
    /// A sealer for node `name` started at `boot` (ms since the epoch).
    pub fn new(name: impl Into<String>, boot: u64) -> Self {
        Sealer {
            name: name.into(),
            boot,
            seq: 0,
        }
    }

    /// The datagram carrying `payload`, or `None` without a key. Names longer than 255 bytes are truncated in
    /// the header only (Kubernetes node names are at most 253).
    pub fn seal(&mut self, keys: &Keys, payload: &[u8]) -> Option<Vec<u8>> {
        let key = keys.current.as_ref()?;
        self.seq = self.seq.wrapping_add(1);
        let name = &self.name.as_bytes()[..self.name.len().min(255)];
        let mut out = Vec::with_capacity(MAGIC.len() + 1 + name.len() + 16 + payload.len() + TAG_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name);
        out.extend_from_slice(&self.boot.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(payload);
        let mut mac = key.mac();
        mac.update(&out);
        out.extend_from_slice(&mac.finalize().into_bytes());
        Some(out)
    }
}

/// An authenticated datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The sender's node name as sealed.
    pub sender: &'a str,
    /// The foca payload.
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Window {
    boot: u64,
    top: u64,
    seen: u64,
    last: Instant,
}

/// Verifies incoming datagrams and keeps the replay windows.
#[derive(Debug, Default)]
pub struct Opener {
    windows: HashMap<String, Window>,
}

struct Parsed<'a> {
    sender: &'a str,
    boot: u64,
    seq: u64,
    payload: &'a [u8],
    signed: &'a [u8],
    tag: &'a [u8],
}

fn parse(d: &[u8]) -> Option<Parsed<'_>> {
    let (signed, tag) = d.split_at_checked(d.len().checked_sub(TAG_LEN)?)?;
    let rest = signed.strip_prefix(&MAGIC)?;
    let (&n, rest) = rest.split_first()?;
    let (name, rest) = rest.split_at_checked(usize::from(n))?;
    let (boot, rest) = rest.split_first_chunk::<8>()?;
    let (seq, payload) = rest.split_first_chunk::<8>()?;
    Some(Parsed {
        sender: std::str::from_utf8(name).ok()?,
        boot: u64::from_be_bytes(*boot),
        seq: u64::from_be_bytes(*seq),
        payload,
        signed,
        tag,
    })
}

impl Opener {
    /// A new opener with no history.
    pub fn new() -> Self {
        Opener::default()
    }

    /// Verifies `datagram` and records its sequence number.
    pub fn open<'a>(
        &mut self,
        keys: &Keys,
        datagram: &'a [u8],
        now: Instant,
    ) -> Result<Opened<'a>, AuthError> {
        let p = parse(datagram).ok_or(AuthError::Unauthenticated)?;
        if !keys.has_key() {
            return Err(AuthError::NoKey);
        }
        let verified = keys.verifying(now).any(|k| {
            let mut mac = k.mac();
            mac.update(p.signed);
            mac.verify_slice(p.tag).is_ok()
        });
        if !verified {
            return Err(AuthError::Forged);
        }
        self.check_replay(p.sender, p.boot, p.seq, now)?;
        Ok(Opened {
            sender: p.sender,
            payload: p.payload,
        })
    }

    fn check_replay(&mut self, sender: &str, boot: u64, seq: u64, now: Instant) -> Result<(), AuthError> {
        let fresh = Window {
            boot,
            top: seq,
            seen: 1,
            last: now,
        };
        let Some(w) = self.windows.get_mut(sender) else {
            self.windows.insert(sender.to_owned(), fresh);
            return Ok(());
        };
        if boot > w.boot || (boot < w.boot && now.saturating_duration_since(w.last) > STALE_BOOT_GRACE) {
            *w = fresh;
            return Ok(());
        }
        if boot < w.boot {
            return Err(AuthError::StaleBoot);
        }
        if seq > w.top {
            let shift = seq - w.top;
            w.seen = if shift >= REPLAY_WINDOW {
                0
            } else {
                w.seen << shift
            };
            w.seen |= 1;
            w.top = seq;
        } else {
            let age = w.top - seq;
            if age >= REPLAY_WINDOW || w.seen & (1 << age) != 0 {
                return Err(AuthError::Replayed);
            }
            w.seen |= 1 << age;
        }
        w.last = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[u8]) -> Keys {
        let mut keys = Keys::default();
        keys.set(Some(Key::new(k.to_vec())), Instant::now());
        keys
    }

    #[test]
    fn sealed_datagrams_open_once() {
        let k = keys(b"0123456789abcdef0123456789abcdef");
        let mut s = Sealer::new("node1", 1000);
        let mut o = Opener::new();
        let now = Instant::now();
        let d1 = s.seal(&k, b"hello").unwrap();
        let d2 = s.seal(&k, b"world").unwrap();
        assert_eq!(
            o.open(&k, &d2, now),
            Ok(Opened {
                sender: "node1",
                payload: b"world"
            })
        );
        // reordering within the window is fine, a repeat is not
        assert_eq!(o.open(&k, &d1, now).unwrap().payload, b"hello");
        assert_eq!(o.open(&k, &d1, now), Err(AuthError::Replayed));
        assert_eq!(o.open(&k, &d2, now), Err(AuthError::Replayed));
    }

    #[test]
    fn forged_and_foreign_datagrams_are_rejected() {
        let k = keys(b"right key");
        let other = keys(b"wrong key");
        let mut o = Opener::new();
        let now = Instant::now();
        let d = Sealer::new("node1", 1).seal(&other, b"x").unwrap();
        assert_eq!(o.open(&k, &d, now), Err(AuthError::Forged));
        let mut flipped = Sealer::new("node1", 1).seal(&k, b"payload").unwrap();
        let i = flipped.len() - TAG_LEN - 2;
        flipped[i] ^= 1;
        assert_eq!(o.open(&k, &flipped, now), Err(AuthError::Forged));
        for junk in [&b""[..], b"FLB1", &[0u8; 80], b"GET / HTTP/1.0\r\n\r\n"] {
            assert_eq!(o.open(&k, junk, now), Err(AuthError::Unauthenticated));
        }
        assert_eq!(
            o.open(&Keys::default(), &d, now),
            Err(AuthError::NoKey),
            "without a key nothing is accepted"
        );
        assert!(Sealer::new("n", 1).seal(&Keys::default(), b"x").is_none());
    }

    #[test]
    fn old_sequence_numbers_and_boots_are_rejected() {
        let k = keys(b"k");
        let now = Instant::now();
        let mut s = Sealer::new("node1", 10);
        let mut o = Opener::new();
        let first = s.seal(&k, b"0").unwrap();
        let mut last = first.clone();
        for _ in 0..REPLAY_WINDOW {
            last = s.seal(&k, b"n").unwrap();
        }
        assert!(o.open(&k, &last, now).is_ok());
        assert_eq!(
            o.open(&k, &first, now),
            Err(AuthError::Replayed),
            "older than the window"
        );

        // a restart (higher boot) resets the window; the old run's datagrams are then stale
        let mut restarted = Sealer::new("node1", 11);
        assert!(o.open(&k, &restarted.seal(&k, b"r").unwrap(), now).is_ok());
        let old_run = s.seal(&k, b"late").unwrap();
        assert_eq!(o.open(&k, &old_run, now), Err(AuthError::StaleBoot));
        // …unless the sender has been silent long enough (a clock that stepped back across a restart)
        let later = now + STALE_BOOT_GRACE + Duration::from_secs(1);
        assert!(o.open(&k, &old_run, later).is_ok());
    }

    #[test]
    fn the_previous_key_is_accepted_for_a_grace_period() {
        let now = Instant::now();
        let mut k = keys(b"old");
        let d = Sealer::new("node2", 1).seal(&k, b"x").unwrap();
        k.set(Some(Key::new(b"new".to_vec())), now);
        let mut o = Opener::new();
        assert!(o.open(&k, &d, now).is_ok());
        let mut o = Opener::new();
        assert_eq!(
            o.open(&k, &d, now + PREVIOUS_KEY_GRACE + Duration::from_secs(1)),
            Err(AuthError::Forged)
        );
        assert!(!format!("{:?}", Key::new(b"secret".to_vec())).contains("secret"));
    }
}
