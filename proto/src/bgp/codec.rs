//! BGP wire encoding: ferrolb's message types to and from bytes, through `netgauze-bgp-pkt`.
//!
//! [`Message::decode`] takes exactly one message (use [`message_len`] or [`super::Framer`] to cut a TCP
//! stream into messages). It checks the header itself (marker, length against the 4,096-byte limit and the
//! per-type minimum, type), then lets netgauze parse the body, then checks what netgauze leaves to the
//! receiver (duplicate attributes, missing well-known attributes). Every failure is a [`DecodeError`] that
//! names the culprit and carries the NOTIFICATION RFC 4271 §6 prescribes ([`DecodeError::notification`]),
//! except the UPDATE errors that RFC 7606 handles without a session reset: those are
//! [`DecodeError::UpdateIgnored`] (see [`super::update_error`] for which is which).
//!
//! [`Message::encode`] refuses what would not fit or could not be encoded faithfully (message over 4,096
//! bytes, restart time over 12 bits, next hop of the wrong family, …) instead of writing a corrupt message.

use netgauze_bgp_pkt as ng;
use netgauze_bgp_pkt::wire::deserializer::{BgpMessageParsingError, BgpParsingContext};
use netgauze_parse_utils::WritablePdu;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::{ParseFrom, ParseFromWithOneInput};

use super::convert;
use super::notification::{self as n, Notification};
use super::types::{HEADER_LEN, MAX_MESSAGE_LEN, Message, RouteRefresh};
use super::update_error::{self, IgnoredUpdate};

/// What the session negotiated that changes the encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodecContext {
    /// Both sides announced the 4-octet AS capability: AS_PATH carries 4-octet ASNs.
    pub four_octet_as: bool,
}

impl Default for CodecContext {
    /// 4-octet AS numbers, as every session ferrolb sets up with a current router negotiates.
    fn default() -> Self {
        CodecContext { four_octet_as: true }
    }
}

/// Why received bytes are not a valid BGP message. Each variant carries the NOTIFICATION to send back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a message header.
    #[error("{available} bytes is shorter than a BGP message header")]
    Truncated {
        /// Bytes given.
        available: usize,
    },
    /// The 16-byte marker is not all ones.
    #[error("message marker is not all ones: connection not synchronized")]
    NotSynchronized,
    /// The length field is out of range for the message type, or does not match the bytes given.
    #[error(
        "bad message length {length} for a {kind} message ({available} bytes given, at most {MAX_MESSAGE_LEN})"
    )]
    BadLength {
        /// The length field.
        length: u16,
        /// The message type name, or `"BGP"` if the type is not known yet.
        kind: &'static str,
        /// Bytes given.
        available: usize,
    },
    /// The type field is not 1 to 5.
    #[error("unknown message type {code}")]
    BadType {
        /// The type field.
        code: u8,
    },
    /// The body of an OPEN, UPDATE, NOTIFICATION or ROUTE-REFRESH message is malformed.
    #[error("malformed {kind} message: {reason}")]
    Malformed {
        /// The message type name.
        kind: &'static str,
        /// What is wrong, as the parser or the semantic check found it.
        reason: String,
        /// The NOTIFICATION to send, or `None` for a malformed NOTIFICATION (never answered).
        notification: Option<Notification>,
    },
    /// A malformed UPDATE that RFC 7606 handles by treat-as-withdraw or attribute discard: no NOTIFICATION,
    /// the session stays up, the UPDATE is ignored.
    #[error("malformed UPDATE message ignored: {0}")]
    UpdateIgnored(IgnoredUpdate),
}

impl DecodeError {
    /// The NOTIFICATION RFC 4271 §6 (as revised by RFC 7606) says to send for this error, or `None` when the
    /// bad message was itself a NOTIFICATION (the session is closed without one) or is an UPDATE to ignore
    /// ([`DecodeError::UpdateIgnored`]: nothing is sent and the session stays up).
    pub fn notification(&self) -> Option<Notification> {
        match self {
            DecodeError::Truncated { .. } => Some(Notification::new(
                n::MESSAGE_HEADER_ERROR,
                n::header::BAD_MESSAGE_LENGTH,
                [],
            )),
            DecodeError::NotSynchronized => Some(Notification::new(
                n::MESSAGE_HEADER_ERROR,
                n::header::CONNECTION_NOT_SYNCHRONIZED,
                [],
            )),
            DecodeError::BadLength { length, .. } => Some(Notification::new(
                n::MESSAGE_HEADER_ERROR,
                n::header::BAD_MESSAGE_LENGTH,
                length.to_be_bytes(),
            )),
            DecodeError::BadType { code } => Some(Notification::new(
                n::MESSAGE_HEADER_ERROR,
                n::header::BAD_MESSAGE_TYPE,
                [*code],
            )),
            DecodeError::Malformed { notification, .. } => notification.clone(),
            DecodeError::UpdateIgnored(_) => None,
        }
    }

    /// A short, stable label for metrics (`reason="..."`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::NotSynchronized => "not_synchronized",
            DecodeError::BadLength { .. } => "bad_length",
            DecodeError::BadType { .. } => "bad_type",
            DecodeError::Malformed { kind: "OPEN", .. } => "malformed_open",
            DecodeError::Malformed { kind: "UPDATE", .. } => "malformed_update",
            DecodeError::Malformed {
                kind: "NOTIFICATION", ..
            } => "malformed_notification",
            DecodeError::Malformed { .. } => "malformed_route_refresh",
            DecodeError::UpdateIgnored(_) => "update_ignored",
        }
    }

    pub(crate) fn malformed(
        kind: &'static str,
        reason: impl Into<String>,
        notification: Notification,
    ) -> Self {
        DecodeError::Malformed {
            kind,
            reason: reason.into(),
            notification: Some(notification),
        }
    }
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The encoded message would exceed 4,096 bytes.
    #[error("{kind} message of {len} bytes exceeds the {MAX_MESSAGE_LEN}-byte limit")]
    TooLong {
        /// The message type name.
        kind: &'static str,
        /// The length it would have.
        len: usize,
    },
    /// The capabilities do not fit in one 255-byte optional parameter.
    #[error("capabilities take {len} bytes, more than the 255 one optional parameter holds")]
    CapabilitiesTooLong {
        /// Their encoded length.
        len: usize,
    },
    /// The graceful restart time does not fit in 12 bits.
    #[error("graceful restart time {0} s exceeds 4095 s")]
    RestartTimeTooLarge(u16),
    /// A prefix is not a unicast prefix (multicast or broadcast), or not of the family it is listed under.
    #[error("prefix {prefix} cannot be sent as {family}")]
    InvalidPrefix {
        /// The prefix.
        prefix: ipnet::IpNet,
        /// The family it was listed under.
        family: super::Family,
    },
    /// The MP_REACH next hop does not suit the family.
    #[error("next hop {next_hop} cannot be used for {family}")]
    NextHopFamily {
        /// The next hop.
        next_hop: std::net::IpAddr,
        /// The family of the MP_REACH attribute.
        family: super::Family,
    },
    /// A NOTIFICATION or ROUTE-REFRESH with codes netgauze does not know.
    #[error("unsupported {kind} fields: {detail}")]
    Unsupported {
        /// The message type name.
        kind: &'static str,
        /// Which field.
        detail: String,
    },
    /// netgauze refused to write the message.
    #[error("writing {kind} message: {detail}")]
    Write {
        /// The message type name.
        kind: &'static str,
        /// netgauze's error.
        detail: String,
    },
}

/// The length of the first message in `buf`, once its 19-byte header is complete; `Ok(None)` if more bytes
/// are needed. Checks the marker and that the length lies within 19..=4096.
pub fn message_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        // A partial marker can already be wrong.
        return match buf.iter().take(16).all(|b| *b == 0xff) {
            true => Ok(None),
            false => Err(DecodeError::NotSynchronized),
        };
    };
    if header[..16].iter().any(|b| *b != 0xff) {
        return Err(DecodeError::NotSynchronized);
    }
    let length = u16::from_be_bytes([header[16], header[17]]);
    if usize::from(length) < HEADER_LEN || usize::from(length) > MAX_MESSAGE_LEN {
        return Err(DecodeError::BadLength {
            length,
            kind: "BGP",
            available: buf.len(),
        });
    }
    Ok(Some(usize::from(length)))
}

/// The type name and minimum (and, for fixed-size types, maximum) length of each message type.
fn type_bounds(code: u8) -> Option<(&'static str, usize, usize)> {
    match code {
        1 => Some(("OPEN", 29, MAX_MESSAGE_LEN)),
        2 => Some(("UPDATE", 23, MAX_MESSAGE_LEN)),
        3 => Some(("NOTIFICATION", 21, MAX_MESSAGE_LEN)),
        4 => Some(("KEEPALIVE", 19, 19)),
        5 => Some(("ROUTE-REFRESH", 23, 23)),
        _ => None,
    }
}

impl Message {
    /// Decodes exactly one message (header included).
    pub fn decode(bytes: &[u8], cxt: &CodecContext) -> Result<Message, DecodeError> {
        let length = message_len(bytes)?.ok_or(DecodeError::Truncated {
            available: bytes.len(),
        })?;
        let code = bytes[18];
        let (kind, min, max) = type_bounds(code).ok_or(DecodeError::BadType { code })?;
        if length != bytes.len() || length < min || length > max {
            if code == 5 && length == bytes.len() {
                // RFC 7313 §5: a ROUTE-REFRESH of the wrong length gets its own error, with the message.
                return Err(DecodeError::malformed(
                    kind,
                    format!("length {length}, expected 23"),
                    Notification::new(n::ROUTE_REFRESH_ERROR, 1, bytes),
                ));
            }
            return Err(DecodeError::BadLength {
                length: length as u16,
                kind,
                available: bytes.len(),
            });
        }
        let body = &bytes[HEADER_LEN..];
        let mut ctx = parsing_context(cxt);
        if code == 2 {
            // RFC 7606: find every error (netgauze stops at the first) and how it is handled.
            if let Some(ignored) = update_error::check(body, &mut ctx)? {
                return Err(DecodeError::UpdateIgnored(ignored));
            }
        }
        match ng::BgpMessage::parse(&mut SliceReader::new(bytes), &mut ctx) {
            Ok(msg) => convert::from_ng(msg, cxt),
            Err(err) => {
                // netgauze refuses NOTIFICATION and ROUTE-REFRESH codes it does not know; such a message is
                // still valid, so it is decoded from its raw fields.
                let refused_codes = matches!(
                    err,
                    BgpMessageParsingError::BgpNotificationMessageParsingError(_)
                        | BgpMessageParsingError::BgpRouteRefreshMessageParsingError(_)
                );
                match raw_fallback(code, body) {
                    Some(msg) if refused_codes => Ok(msg),
                    _ => Err(parse_error(kind, code, err)),
                }
            }
        }
    }

    /// Encodes the message, header included.
    pub fn encode(&self, cxt: &CodecContext) -> Result<Vec<u8>, EncodeError> {
        let kind = self.kind();
        let msg = convert::to_ng(self, cxt)?;
        let len = msg.len();
        if len > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong { kind, len });
        }
        let mut out = Vec::with_capacity(len);
        msg.write(&mut out).map_err(|e| EncodeError::Write {
            kind,
            detail: e.to_string(),
        })?;
        Ok(out)
    }
}

/// The netgauze parsing context ferrolb decodes with.
fn parsing_context(cxt: &CodecContext) -> BgpParsingContext {
    BgpParsingContext::new(
        cxt.four_octet_as,
        Default::default(),
        Default::default(),
        // RFC 4271 §6.3: a semantically incorrect (non-unicast) prefix is logged and ignored.
        false,
        false,
        // Malformed capabilities and attributes are errors (netgauze cannot resynchronise after one;
        // UPDATEs are checked attribute by attribute before, see `update_error`).
        true,
        true,
    )
}

/// Turns a netgauze parse failure into a [`DecodeError`] with the NOTIFICATION netgauze maps it to.
fn parse_error(kind: &'static str, code: u8, err: BgpMessageParsingError) -> DecodeError {
    let reason = err.to_string();
    if let BgpMessageParsingError::BgpNotificationMessageParsingError(_) = err {
        return DecodeError::Malformed {
            kind,
            reason,
            notification: None,
        };
    }
    let ng_notif = ng::notification::BgpNotificationMessage::from(err);
    let notification = convert::notification_from_ng(&ng_notif).unwrap_or_else(|| {
        let code = match code {
            1 => n::OPEN_MESSAGE_ERROR,
            2 => n::UPDATE_MESSAGE_ERROR,
            5 => n::ROUTE_REFRESH_ERROR,
            _ => n::MESSAGE_HEADER_ERROR,
        };
        Notification::new(code, 0, [])
    });
    DecodeError::Malformed {
        kind,
        reason,
        notification: Some(notification),
    }
}

/// Decodes the raw fields of a NOTIFICATION or ROUTE-REFRESH body that netgauze refused because it does
/// not know a code in it. Length was checked before.
fn raw_fallback(code: u8, body: &[u8]) -> Option<Message> {
    match (code, body) {
        (3, [code, subcode, data @ ..]) => Some(Message::Notification(Notification::new(
            *code,
            *subcode,
            data.to_vec(),
        ))),
        (5, [a, b, subtype, safi]) => Some(Message::RouteRefresh(RouteRefresh {
            afi: u16::from_be_bytes([*a, *b]),
            safi: *safi,
            subtype: *subtype,
        })),
        _ => None,
    }
}

/// Parses a NOTIFICATION body (code, subcode, data) with netgauze, to encode it.
pub(crate) fn ng_notification(
    notification: &Notification,
) -> Option<ng::notification::BgpNotificationMessage> {
    let mut body = vec![notification.code, notification.subcode];
    body.extend_from_slice(&notification.data);
    ng::notification::BgpNotificationMessage::parse(&mut SliceReader::new(&body)).ok()
}
