//! Revised error handling for received UPDATE messages (RFC 7606), for a speaker that uses none of the
//! peer's routes.
//!
//! RFC 4271 resets the session on any malformed UPDATE. RFC 7606 keeps the reset only where the message
//! cannot be delimited (the NLRI cannot be found, so nothing can be withdrawn reliably) and otherwise
//! handles the error by *treat-as-withdraw* (the UPDATE's routes are withdrawn) or *attribute discard* (the
//! attribute is dropped and the UPDATE processed). ferrolb originates routes and ignores the peer's, so both
//! come down to the same thing: the UPDATE is ignored, the session stays up and the speaker is told
//! ([`DecodeError::UpdateIgnored`] from the codec, [`super::Action::UpdateIgnored`] from the session). The
//! one-sided "attribute of death" (a router forwarding an attribute some speakers cannot parse, and those
//! speakers resetting) then no longer withdraws every service route at the router.
//!
//! The classification comes from what the decoder knows: [`check`] walks the UPDATE's fields itself (lengths,
//! prefixes, attribute framing, duplicates) and has netgauze parse each path attribute on its own, so every
//! error is found (not only the first one netgauze would stop at), and the strongest handling wins
//! (RFC 7606 §3: session reset > treat-as-withdraw > attribute discard).
//!
//! | error in the UPDATE | RFC 4271 NOTIFICATION (3 = UPDATE Message Error) | RFC 7606 | ferrolb |
//! |---|---|---|---|
//! | Withdrawn Routes Length or Total Path Attribute Length beyond the message | 3/1 Malformed Attribute List | session reset (§4: attributes cannot be delimited) | NOTIFICATION, session down |
//! | a withdrawn or NLRI prefix longer than 32 bits or running past its field | 3/10 Invalid Network Field | session reset (§5.3) | NOTIFICATION, session down |
//! | MP_REACH_NLRI / MP_UNREACH_NLRI of IPv4/IPv6 unicast/multicast that netgauze cannot parse (next hop length, prefixes) | 3/9 Optional Attribute Error (RFC 4760 §7) | session reset (§7.11, §5.3) | NOTIFICATION, session down |
//! | MP_REACH_NLRI / MP_UNREACH_NLRI of another AFI/SAFI that netgauze cannot parse | 3/9 Optional Attribute Error | AFI/SAFI disable (§7.11; the routes of that family are not used) | ignored |
//! | MP_REACH_NLRI or MP_UNREACH_NLRI twice | 3/1 Malformed Attribute List | session reset (§3) | NOTIFICATION, session down |
//! | fewer bytes left than an attribute header, or an attribute's length running past the attribute field | 3/1 Malformed Attribute List | treat-as-withdraw (§4) | ignored |
//! | Optional/Transitive/Partial flags in conflict with the type (MP_REACH/MP_UNREACH included) | 3/4 Attribute Flags Error | treat-as-withdraw (§3) | ignored |
//! | ORIGIN of bad length or undefined value | 3/6 Invalid ORIGIN Attribute | treat-as-withdraw (§7.1) | ignored |
//! | malformed AS_PATH (segment type, length, overrun) | 3/11 Malformed AS_PATH | treat-as-withdraw (§7.2) | ignored |
//! | NEXT_HOP of length other than 4 | 3/8 Invalid NEXT_HOP Attribute | treat-as-withdraw (§7.3) | ignored |
//! | MULTI_EXIT_DISC, ORIGINATOR_ID, COMMUNITIES, CLUSTER_LIST, extended communities, LARGE_COMMUNITY, OTC of bad length | 3/9 Optional Attribute Error | treat-as-withdraw (§7.4, §7.8–§7.10, §7.13, §7.14, RFC 8092, RFC 9234) | ignored |
//! | LOCAL_PREF of length other than 4 | 3/9 (netgauze's mapping) | attribute discard (eBGP) / treat-as-withdraw (iBGP) (§7.5) | ignored, reported as treat-as-withdraw |
//! | ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR, AIGP, BGP-LS, Prefix-SID malformed | 3/9 Optional Attribute Error | attribute discard (§7.6, §7.7, RFC 6793 §6, RFC 7311, RFC 9552, RFC 8669) | ignored |
//! | an attribute other than MP_REACH/MP_UNREACH more than once | 3/1 Malformed Attribute List | attribute discard (§3) | ignored |
//! | an unrecognized attribute with the Optional bit clear | 3/2 Unrecognized Well-known Attribute | treat-as-withdraw (ferrolb's reading: the attribute is malformed) | ignored |
//! | routes announced without ORIGIN or AS_PATH, IPv4 NLRI without NEXT_HOP | 3/3 Missing Well-known Attribute | treat-as-withdraw (§3) | ignored |
//! | an unrecognized optional attribute; a multicast prefix | none | none (RFC 4271 §5, §6.3) | accepted |
//!
//! Framing errors (marker, message length, type) and errors in OPEN and NOTIFICATION messages are not
//! UPDATE errors and keep their NOTIFICATION. An UPDATE received before the session is established is an
//! FSM error whether or not it is malformed.

use std::fmt;

use netgauze_bgp_pkt as ng;
use netgauze_bgp_pkt::path_attribute::{PathAttribute, PathAttributeValue};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::wire::deserializer::path_attribute::PathAttributeParsingError;
use netgauze_bgp_pkt::wire::deserializer::update::BgpUpdateMessageParsingError;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;

use super::codec::DecodeError;
use super::convert;
use super::notification::{self as n, Notification};

/// How RFC 7606 handles an error in a received UPDATE, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UpdateErrorHandling {
    /// The malformed attribute is dropped and the UPDATE processed without it.
    AttributeDiscard,
    /// The UPDATE's routes are handled as withdrawn.
    TreatAsWithdraw,
    /// NOTIFICATION and session reset: the message cannot be delimited.
    SessionReset,
}

impl UpdateErrorHandling {
    /// RFC 7606's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateErrorHandling::AttributeDiscard => "attribute-discard",
            UpdateErrorHandling::TreatAsWithdraw => "treat-as-withdraw",
            UpdateErrorHandling::SessionReset => "session-reset",
        }
    }
}

impl fmt::Display for UpdateErrorHandling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A received UPDATE that is malformed in a way RFC 7606 handles without a session reset: ferrolb ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredUpdate {
    /// Treat-as-withdraw or attribute discard (never session reset).
    pub handling: UpdateErrorHandling,
    /// The NOTIFICATION RFC 4271 alone would have sent (UPDATE Message Error and its subcode), for the log.
    pub error: Notification,
    /// What is wrong, naming the attribute.
    pub reason: String,
}

impl fmt::Display for IgnoredUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}; RFC 7606 {})",
            self.reason,
            self.error.subcode_name(),
            self.handling
        )
    }
}

const MP_REACH: u8 = 14;
const MP_UNREACH: u8 = 15;
const OPTIONAL: u8 = 0x80;
const EXTENDED_LENGTH: u8 = 0x10;

/// Attribute types whose malformation RFC 7606 (or the attribute's own RFC) handles by attribute discard:
/// ATOMIC_AGGREGATE, AGGREGATOR, AS4_PATH, AS4_AGGREGATOR, AIGP, BGP-LS, Prefix-SID.
const DISCARDED_WHEN_MALFORMED: [u8; 7] = [6, 7, 17, 18, 26, 29, 40];

fn reset(subcode: u8, reason: String) -> DecodeError {
    DecodeError::malformed(
        "UPDATE",
        format!("{reason} (RFC 7606: session reset)"),
        Notification::new(n::UPDATE_MESSAGE_ERROR, subcode, []),
    )
}

/// The strongest finding so far (the first of equally strong ones).
#[derive(Default)]
struct Findings(Option<IgnoredUpdate>);

impl Findings {
    fn add(&mut self, handling: UpdateErrorHandling, subcode: u8, reason: String) {
        if self.0.as_ref().is_some_and(|f| f.handling >= handling) {
            return;
        }
        self.0 = Some(IgnoredUpdate {
            handling,
            error: Notification::new(n::UPDATE_MESSAGE_ERROR, subcode, []),
            reason,
        });
    }
}

/// Checks that a prefix field (withdrawn routes or NLRI) is a sequence of (length ≤ 32, ⌈length/8⌉ bytes).
fn check_prefixes(field: &[u8], name: &str) -> Result<(), DecodeError> {
    let mut rest = field;
    while let [bits, tail @ ..] = rest {
        let bytes = usize::from(bits.div_ceil(8));
        if *bits > 32 {
            return Err(reset(
                n::update::INVALID_NETWORK_FIELD,
                format!("{name} prefix length {bits} exceeds 32"),
            ));
        }
        rest = tail.get(bytes..).ok_or_else(|| {
            reset(
                n::update::INVALID_NETWORK_FIELD,
                format!("{name} prefix of length {bits} runs past the field"),
            )
        })?;
    }
    Ok(())
}

fn u16_at(bytes: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *bytes.get(at)?,
        *bytes.get(at + 1)?,
    ])))
}

/// The subcode netgauze maps an attribute error to.
fn ng_subcode(err: &PathAttributeParsingError) -> u8 {
    let update_err = ng::notification::UpdateMessageError::from(
        BgpUpdateMessageParsingError::PathAttributeError(err.clone()),
    );
    convert::notification_from_ng(&ng::notification::BgpNotificationMessage::UpdateMessageError(
        update_err,
    ))
    .map_or(0, |n| n.subcode)
}

/// Checks an UPDATE body (after the 19-byte header) the way RFC 7606 reads it.
///
/// `Err`: the session must be reset (the NOTIFICATION is in the error). `Ok(Some(_))`: the UPDATE is
/// malformed but is ignored. `Ok(None)`: every field is well formed (missing well-known attributes are
/// checked after the full decode).
pub(crate) fn check(body: &[u8], ctx: &mut BgpParsingContext) -> Result<Option<IgnoredUpdate>, DecodeError> {
    let too_long = |what: &str, len: usize| {
        reset(
            n::update::MALFORMED_ATTRIBUTE_LIST,
            format!("{what} {len} does not fit in the {}-byte UPDATE body", body.len()),
        )
    };
    let withdrawn_len = u16_at(body, 0).ok_or_else(|| too_long("body length", body.len()))?;
    let withdrawn = body
        .get(2..2 + withdrawn_len)
        .ok_or_else(|| too_long("Withdrawn Routes Length", withdrawn_len))?;
    let attrs_len =
        u16_at(body, 2 + withdrawn_len).ok_or_else(|| too_long("Withdrawn Routes Length", withdrawn_len))?;
    let attrs_start = 4 + withdrawn_len;
    let attrs = body
        .get(attrs_start..attrs_start + attrs_len)
        .ok_or_else(|| too_long("Total Path Attribute Length", attrs_len))?;
    let nlri = &body[attrs_start + attrs_len..];
    check_prefixes(withdrawn, "withdrawn")?;
    check_prefixes(nlri, "NLRI")?;
    walk_attributes(attrs, ctx)
}

/// Walks the path attributes: framing, duplicates, and each attribute parsed by netgauze on its own.
fn walk_attributes(attrs: &[u8], ctx: &mut BgpParsingContext) -> Result<Option<IgnoredUpdate>, DecodeError> {
    use UpdateErrorHandling::{AttributeDiscard, TreatAsWithdraw};
    let mut findings = Findings::default();
    let mut seen = [false; 256];
    let mut rest = attrs;
    while !rest.is_empty() {
        let header = match rest.first() {
            Some(flags) if flags & EXTENDED_LENGTH != 0 => 4,
            _ => 3,
        };
        let (flags, code) = (rest[0], rest.get(1).copied());
        let len = match (code, rest.len() >= header) {
            (Some(_), true) if header == 4 => u16_at(rest, 2),
            (Some(_), true) => rest.get(2).map(|l| usize::from(*l)),
            _ => None,
        };
        let (Some(code), Some(len)) = (code, len) else {
            findings.add(
                TreatAsWithdraw,
                n::update::MALFORMED_ATTRIBUTE_LIST,
                format!(
                    "{} bytes left in the path attributes, too few for an attribute header",
                    rest.len()
                ),
            );
            break;
        };
        let Some(attr) = rest.get(..header + len) else {
            findings.add(
                TreatAsWithdraw,
                n::update::MALFORMED_ATTRIBUTE_LIST,
                format!(
                    "path attribute type {code} of length {len} runs past the path attributes ({} bytes left)",
                    rest.len() - header
                ),
            );
            break;
        };
        rest = &rest[header + len..];
        if std::mem::replace(&mut seen[usize::from(code)], true) {
            if code == MP_REACH || code == MP_UNREACH {
                return Err(reset(
                    n::update::MALFORMED_ATTRIBUTE_LIST,
                    format!("path attribute type {code} (MP_REACH/MP_UNREACH) appears more than once"),
                ));
            }
            findings.add(
                AttributeDiscard,
                n::update::MALFORMED_ATTRIBUTE_LIST,
                format!("path attribute type {code} appears more than once"),
            );
            continue;
        }
        match PathAttribute::parse(&mut SliceReader::new(attr), &mut *ctx) {
            Ok(parsed) => {
                if flags & OPTIONAL == 0 && matches!(parsed.value(), PathAttributeValue::UnknownAttribute(_))
                {
                    findings.add(
                        TreatAsWithdraw,
                        n::update::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                        format!("unrecognized path attribute type {code} is marked well-known"),
                    );
                }
            }
            Err(err @ PathAttributeParsingError::InvalidPathAttribute { .. }) => findings.add(
                TreatAsWithdraw,
                n::update::ATTRIBUTE_FLAGS_ERROR,
                format!("path attribute type {code} (flags {flags:#04x}): {err}"),
            ),
            Err(err) if (code == MP_REACH || code == MP_UNREACH) && !known_family(&attr[header..]) => {
                // RFC 7606 §7.11 lets a speaker disable just that AFI/SAFI; ferrolb carries none of the
                // peer's routes, so for it that is ignoring the UPDATE
                findings.add(
                    TreatAsWithdraw,
                    n::update::OPTIONAL_ATTRIBUTE_ERROR,
                    format!("path attribute type {code} (MP_REACH/MP_UNREACH) of an AFI/SAFI this session does not carry: {err}"),
                );
            }
            Err(err) if code == MP_REACH || code == MP_UNREACH => {
                return Err(reset(
                    n::update::OPTIONAL_ATTRIBUTE_ERROR,
                    format!("path attribute type {code} (MP_REACH/MP_UNREACH) cannot be parsed: {err}"),
                ));
            }
            Err(err) => {
                let handling = match DISCARDED_WHEN_MALFORMED.contains(&code) {
                    true => AttributeDiscard,
                    false => TreatAsWithdraw,
                };
                findings.add(
                    handling,
                    ng_subcode(&err),
                    format!("path attribute type {code}: {err}"),
                );
            }
        }
    }
    Ok(findings.0)
}

/// Whether an MP_REACH/MP_UNREACH value starts with an AFI/SAFI ferrolb knows (IPv4 or IPv6, unicast or
/// multicast); a value too short to say counts as known, so its error keeps the session reset.
fn known_family(value: &[u8]) -> bool {
    match value {
        [a0, a1, safi, ..] => matches!((u16::from_be_bytes([*a0, *a1]), *safi), (1 | 2, 1 | 2)),
        _ => true,
    }
}
