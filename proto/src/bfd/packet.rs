//! The BFD Control packet (RFC 5880 §4.1) and its authentication section (§4.2–§4.4).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! |                      Your Discriminator                       |
//! |                    Desired Min TX Interval                    |
//! |                   Required Min RX Interval                    |
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |  (only with the A bit)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`ControlPacket::decode`] applies the checks of RFC 5880 §6.8.6 that need no session: version 1, a Length
//! of at least 24 (26 with the A bit) and no more than the bytes received, a non-zero Detect Mult, the
//! Multipoint bit clear, a non-zero My Discriminator, and a well-formed authentication section of a known
//! type with the Auth Len its type requires. Bytes after Length (UDP padding) are ignored, and so are bytes
//! between the end of the sections and Length. It never panics. The checks that need a session (Your
//! Discriminator, the authentication itself, TTL) are the [`super::Session`]'s.
//!
//! The A bit is not a field: it is set exactly when [`ControlPacket::auth`] is `Some`. The M bit is always 0
//! on encoding (a packet with it set does not decode).

/// The length of the mandatory section.
pub const MANDATORY_LEN: usize = 24;
/// Auth Len of Keyed MD5 and Meticulous Keyed MD5 (RFC 5880 §4.3).
pub const MD5_AUTH_LEN: usize = 24;
/// Auth Len of Keyed SHA1 and Meticulous Keyed SHA1 (RFC 5880 §4.4).
pub const SHA1_AUTH_LEN: usize = 28;
/// The protocol version this module speaks.
pub const VERSION: u8 = 1;

/// The session state carried in the Sta field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// The session is held down administratively (0).
    AdminDown,
    /// The session is down or just created (1).
    Down,
    /// The remote system is communicating and the local one wants the session up (2).
    Init,
    /// The session is up (3).
    Up,
}

impl State {
    /// The 2-bit wire value.
    pub const fn code(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    /// The state of a 2-bit wire value (only the low 2 bits are used).
    pub const fn from_code(code: u8) -> State {
        match code & 3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

/// The diagnostic code: why the sender's session last changed state (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Diag {
    /// 0: No Diagnostic.
    None,
    /// 1: Control Detection Time Expired.
    ControlDetectionTimeExpired,
    /// 2: Echo Function Failed.
    EchoFunctionFailed,
    /// 3: Neighbor Signaled Session Down.
    NeighborSignaledDown,
    /// 4: Forwarding Plane Reset.
    ForwardingPlaneReset,
    /// 5: Path Down.
    PathDown,
    /// 6: Concatenated Path Down.
    ConcatenatedPathDown,
    /// 7: Administratively Down.
    AdministrativelyDown,
    /// 8: Reverse Concatenated Path Down.
    ReverseConcatenatedPathDown,
    /// 9–31: a code RFC 5880 reserves (RFC 6428 uses 9 for MPLS-TP); kept as received. Only the low 5 bits
    /// are encoded, so a value 0–8 here encodes as the named variant.
    Other(u8),
}

impl Diag {
    /// The 5-bit wire value.
    pub const fn code(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Other(code) => code & 0x1f,
        }
    }

    /// The diagnostic of a 5-bit wire value (only the low 5 bits are used).
    pub const fn from_code(code: u8) -> Diag {
        match code & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Other(other),
        }
    }
}

/// The Auth Type field (RFC 5880 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// 1: Simple Password.
    SimplePassword,
    /// 2: Keyed MD5.
    KeyedMd5,
    /// 3: Meticulous Keyed MD5.
    MeticulousKeyedMd5,
    /// 4: Keyed SHA1.
    KeyedSha1,
    /// 5: Meticulous Keyed SHA1.
    MeticulousKeyedSha1,
}

impl AuthType {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            AuthType::SimplePassword => 1,
            AuthType::KeyedMd5 => 2,
            AuthType::MeticulousKeyedMd5 => 3,
            AuthType::KeyedSha1 => 4,
            AuthType::MeticulousKeyedSha1 => 5,
        }
    }

    /// Whether a received sequence number must be strictly greater than the last one (RFC 5880 §6.7.3,
    /// §6.7.4), and ours must grow with every packet.
    pub const fn is_meticulous(self) -> bool {
        matches!(self, AuthType::MeticulousKeyedMd5 | AuthType::MeticulousKeyedSha1)
    }
}

impl std::fmt::Display for AuthType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthType::SimplePassword => "simple password",
            AuthType::KeyedMd5 => "keyed MD5",
            AuthType::MeticulousKeyedMd5 => "meticulous keyed MD5",
            AuthType::KeyedSha1 => "keyed SHA1",
            AuthType::MeticulousKeyedSha1 => "meticulous keyed SHA1",
        })
    }
}

/// The authentication section (RFC 5880 §4.2–§4.4), present when the A bit is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Simple Password (§4.2): the password in clear, 1 to 16 bytes.
    SimplePassword {
        /// Auth Key ID.
        key_id: u8,
        /// The password.
        password: Vec<u8>,
    },
    /// Keyed MD5 or Meticulous Keyed MD5 (§4.3).
    Md5 {
        /// Meticulous (type 3) or not (type 2).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Digest.
        digest: [u8; 16],
    },
    /// Keyed SHA1 or Meticulous Keyed SHA1 (§4.4).
    Sha1 {
        /// Meticulous (type 5) or not (type 4).
        meticulous: bool,
        /// Auth Key ID.
        key_id: u8,
        /// Sequence Number.
        sequence: u32,
        /// Auth Key/Hash.
        hash: [u8; 20],
    },
}

impl Auth {
    /// The Auth Type of this section.
    pub const fn auth_type(&self) -> AuthType {
        match self {
            Auth::SimplePassword { .. } => AuthType::SimplePassword,
            Auth::Md5 {
                meticulous: false, ..
            } => AuthType::KeyedMd5,
            Auth::Md5 { meticulous: true, .. } => AuthType::MeticulousKeyedMd5,
            Auth::Sha1 {
                meticulous: false, ..
            } => AuthType::KeyedSha1,
            Auth::Sha1 { meticulous: true, .. } => AuthType::MeticulousKeyedSha1,
        }
    }

    /// The Auth Key ID.
    pub const fn key_id(&self) -> u8 {
        match self {
            Auth::SimplePassword { key_id, .. } | Auth::Md5 { key_id, .. } | Auth::Sha1 { key_id, .. } => {
                *key_id
            }
        }
    }

    /// The Auth Len of this section as encoded (a password is cut to 16 bytes).
    pub fn len(&self) -> usize {
        match self {
            Auth::SimplePassword { password, .. } => 3 + password.len().min(16),
            Auth::Md5 { .. } => MD5_AUTH_LEN,
            Auth::Sha1 { .. } => SHA1_AUTH_LEN,
        }
    }

    /// Always false: a section holds at least its type, length and key ID (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    fn decode(bytes: &[u8]) -> Result<Auth, DecodeError> {
        let (&auth_type, &auth_len) = match bytes {
            [t, l, ..] => (t, l),
            _ => return Err(DecodeError::AuthTruncated),
        };
        let auth_len = usize::from(auth_len);
        let section = bytes.get(..auth_len).ok_or(DecodeError::AuthTruncated)?;
        let bad_len = || DecodeError::AuthLength { auth_type, auth_len };
        match auth_type {
            1 => match section {
                [_, _, key_id, password @ ..] if (1..=16).contains(&password.len()) => {
                    Ok(Auth::SimplePassword {
                        key_id: *key_id,
                        password: password.to_vec(),
                    })
                }
                _ => Err(bad_len()),
            },
            2 | 3 => {
                if auth_len != MD5_AUTH_LEN {
                    return Err(bad_len());
                }
                let (key_id, sequence, rest) = keyed_header(section).ok_or_else(bad_len)?;
                Ok(Auth::Md5 {
                    meticulous: auth_type == 3,
                    key_id,
                    sequence,
                    digest: rest.try_into().map_err(|_| bad_len())?,
                })
            }
            4 | 5 => {
                if auth_len != SHA1_AUTH_LEN {
                    return Err(bad_len());
                }
                let (key_id, sequence, rest) = keyed_header(section).ok_or_else(bad_len)?;
                Ok(Auth::Sha1 {
                    meticulous: auth_type == 5,
                    key_id,
                    sequence,
                    hash: rest.try_into().map_err(|_| bad_len())?,
                })
            }
            other => Err(DecodeError::UnknownAuthType(other)),
        }
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.auth_type().code());
        out.push(self.len() as u8); // at most 28
        match self {
            Auth::SimplePassword { key_id, password } => {
                out.push(*key_id);
                out.extend_from_slice(&password[..password.len().min(16)]);
            }
            Auth::Md5 {
                key_id,
                sequence,
                digest,
                ..
            } => {
                out.extend_from_slice(&[*key_id, 0]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(digest);
            }
            Auth::Sha1 {
                key_id,
                sequence,
                hash,
                ..
            } => {
                out.extend_from_slice(&[*key_id, 0]);
                out.extend_from_slice(&sequence.to_be_bytes());
                out.extend_from_slice(hash);
            }
        }
    }
}

/// Key ID, sequence number and the rest of a keyed MD5/SHA1 section (type, len, key ID, reserved, seq).
fn keyed_header(section: &[u8]) -> Option<(u8, u32, &[u8])> {
    match section {
        [_, _, key_id, _reserved, s0, s1, s2, s3, rest @ ..] => {
            Some((*key_id, u32::from_be_bytes([*s0, *s1, *s2, *s3]), rest))
        }
        _ => None,
    }
}

/// A BFD Control packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlPacket {
    /// Diagnostic code.
    pub diag: Diag,
    /// The sender's session state.
    pub state: State,
    /// P: the sender asks for verification of connectivity or of a parameter change (Poll).
    pub poll: bool,
    /// F: the sender answers a Poll (Final).
    pub final_: bool,
    /// C: the sender's BFD does not share fate with its control plane.
    pub control_plane_independent: bool,
    /// D: the sender wishes to operate in Demand mode.
    pub demand: bool,
    /// Detect Mult: the sender's detection time multiplier, at least 1.
    pub detect_mult: u8,
    /// My Discriminator: the sender's, non-zero.
    pub my_discriminator: u32,
    /// Your Discriminator: the receiver's as the sender knows it, or 0.
    pub your_discriminator: u32,
    /// Desired Min TX Interval, in microseconds.
    pub desired_min_tx: u32,
    /// Required Min RX Interval, in microseconds (0: send me no periodic packets).
    pub required_min_rx: u32,
    /// Required Min Echo RX Interval, in microseconds (0: the sender does not take Echo packets).
    pub required_min_echo_rx: u32,
    /// The authentication section; the A bit is set exactly when present.
    pub auth: Option<Auth>,
}

/// Why bytes are not a BFD Control packet to accept (RFC 5880 §6.8.6, the session-independent rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the mandatory section.
    #[error("{0} bytes, shorter than the 24-byte mandatory section")]
    Truncated(usize),
    /// The version is not 1.
    #[error("version {0}, expected 1")]
    Version(u8),
    /// The Length field is below the minimum (24, or 26 with the A bit).
    #[error("Length {length} is below the minimum {minimum}")]
    LengthTooSmall {
        /// The Length field.
        length: u8,
        /// 24, or 26 with the A bit.
        minimum: u8,
    },
    /// The Length field exceeds the bytes received.
    #[error("Length {length} exceeds the {received} bytes received")]
    LengthTooLarge {
        /// The Length field.
        length: u8,
        /// The bytes received.
        received: usize,
    },
    /// Detect Mult is 0.
    #[error("Detect Mult is 0")]
    ZeroDetectMult,
    /// The Multipoint bit is set.
    #[error("Multipoint (M) bit set")]
    Multipoint,
    /// My Discriminator is 0.
    #[error("My Discriminator is 0")]
    ZeroMyDiscriminator,
    /// The authentication section does not fit in Length.
    #[error("authentication section truncated")]
    AuthTruncated,
    /// Auth Len is wrong for the Auth Type.
    #[error("Auth Len {auth_len} is invalid for Auth Type {auth_type}")]
    AuthLength {
        /// The Auth Type field.
        auth_type: u8,
        /// The Auth Len field.
        auth_len: usize,
    },
    /// The Auth Type is not one of RFC 5880's (1–5).
    #[error("unknown Auth Type {0}")]
    UnknownAuthType(u8),
}

impl DecodeError {
    /// A short, stable label for metrics (`reason="..."`).
    pub const fn metric_label(&self) -> &'static str {
        match self {
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Version(_) => "version",
            DecodeError::LengthTooSmall { .. } | DecodeError::LengthTooLarge { .. } => "length",
            DecodeError::ZeroDetectMult => "zero_detect_mult",
            DecodeError::Multipoint => "multipoint",
            DecodeError::ZeroMyDiscriminator => "zero_my_discriminator",
            DecodeError::AuthTruncated | DecodeError::AuthLength { .. } | DecodeError::UnknownAuthType(_) => {
                "auth_format"
            }
        }
    }
}

const POLL: u8 = 0x20;
const FINAL: u8 = 0x10;
const CPI: u8 = 0x08;
const AUTH: u8 = 0x04;
const DEMAND: u8 = 0x02;
const MULTIPOINT: u8 = 0x01;

fn be32(bytes: &[u8], at: usize) -> u32 {
    // callers checked the length; a short slice reads as 0 rather than panicking
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

impl ControlPacket {
    /// Decodes a UDP payload. Bytes after the Length field's end are ignored.
    pub fn decode(bytes: &[u8]) -> Result<ControlPacket, DecodeError> {
        let [b0, b1, detect_mult, length, ..] = *bytes else {
            return Err(DecodeError::Truncated(bytes.len()));
        };
        if bytes.len() < MANDATORY_LEN {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        if b0 >> 5 != VERSION {
            return Err(DecodeError::Version(b0 >> 5));
        }
        let has_auth = b1 & AUTH != 0;
        let minimum = if has_auth {
            MANDATORY_LEN + 2
        } else {
            MANDATORY_LEN
        } as u8;
        if length < minimum {
            return Err(DecodeError::LengthTooSmall { length, minimum });
        }
        let packet = bytes
            .get(..usize::from(length))
            .ok_or(DecodeError::LengthTooLarge {
                length,
                received: bytes.len(),
            })?;
        if detect_mult == 0 {
            return Err(DecodeError::ZeroDetectMult);
        }
        if b1 & MULTIPOINT != 0 {
            return Err(DecodeError::Multipoint);
        }
        let my_discriminator = be32(packet, 4);
        if my_discriminator == 0 {
            return Err(DecodeError::ZeroMyDiscriminator);
        }
        let auth = match packet.get(MANDATORY_LEN..) {
            Some(section) if has_auth => Some(Auth::decode(section)?),
            _ => None,
        };
        Ok(ControlPacket {
            diag: Diag::from_code(b0),
            state: State::from_code(b1 >> 6),
            poll: b1 & POLL != 0,
            final_: b1 & FINAL != 0,
            control_plane_independent: b1 & CPI != 0,
            demand: b1 & DEMAND != 0,
            detect_mult,
            my_discriminator,
            your_discriminator: be32(packet, 8),
            desired_min_tx: be32(packet, 12),
            required_min_rx: be32(packet, 16),
            required_min_echo_rx: be32(packet, 20),
            auth,
        })
    }

    /// The encoded length: 24 plus the authentication section.
    pub fn buffer_len(&self) -> usize {
        MANDATORY_LEN + self.auth.as_ref().map_or(0, Auth::len)
    }

    /// Encodes the packet (the UDP payload). A keyed MD5/SHA1 digest is written as given: the session fills
    /// it in after encoding (see [`super::auth`]).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buffer_len());
        out.push(VERSION << 5 | self.diag.code());
        let mut b1 = self.state.code() << 6;
        for (set, bit) in [
            (self.poll, POLL),
            (self.final_, FINAL),
            (self.control_plane_independent, CPI),
            (self.auth.is_some(), AUTH),
            (self.demand, DEMAND),
        ] {
            if set {
                b1 |= bit;
            }
        }
        out.push(b1);
        out.push(self.detect_mult);
        out.push(self.buffer_len() as u8); // at most 24 + 28
        for word in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx,
            self.required_min_rx,
            self.required_min_echo_rx,
        ] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        if let Some(auth) = &self.auth {
            auth.encode_into(&mut out);
        }
        out
    }
}
