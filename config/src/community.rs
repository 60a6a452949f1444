//! BGP communities: standard (RFC 1997, `a:b` with 16-bit halves) and, as a ferrolb addition, large
//! (RFC 8092, `large:a:b:c` with 32-bit parts).
//!
//! In an advertisement a community is looked up as: a `bgp-communities` alias first (as MetalLB does),
//! then a literal value, then a well-known name ([`WELL_KNOWN`]).

use std::fmt;
use std::str::FromStr;

/// A BGP community value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Community {
    /// A standard community: high 16 bits (usually an ASN) and low 16 bits.
    Standard(u32),
    /// A large community: global administrator, local data 1, local data 2.
    Large(u32, u32, u32),
}

impl Community {
    /// A standard community from its two halves.
    pub fn standard(high: u16, low: u16) -> Self {
        Self::Standard(u32::from(high) << 16 | u32::from(low))
    }
}

/// Well-known standard communities usable by name without an alias (RFC 1997, RFC 3765). The names are
/// those kubespray's `well-known` Community object defines, plus the RFC spellings.
pub const WELL_KNOWN: &[(&str, u32)] = &[
    ("no-export", 0xFFFF_FF01),
    ("no-advertise", 0xFFFF_FF02),
    ("no-export-subconfed", 0xFFFF_FF03),
    ("local-as", 0xFFFF_FF03),
    ("no-peer", 0xFFFF_FF04),
    ("nopeer", 0xFFFF_FF04),
];

/// The well-known community with this name.
pub fn well_known(name: &str) -> Option<Community> {
    WELL_KNOWN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, v)| Community::Standard(v))
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Standard(v) => write!(f, "{}:{}", v >> 16, v & 0xFFFF),
            Self::Large(a, b, c) => write!(f, "large:{a}:{b}:{c}"),
        }
    }
}

/// Why a community literal is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommunityError(pub String);

impl FromStr for Community {
    type Err = CommunityError;

    /// Parses `a:b` (each 0..=65535) or `large:a:b:c` (each 0..=4294967295).
    fn from_str(s: &str) -> Result<Self, CommunityError> {
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("large:") {
            let parts: Vec<&str> = rest.split(':').collect();
            let [a, b, c] = parts.as_slice() else {
                return Err(CommunityError(format!(
                    "a large community has three parts after \"large:\" (large:a:b:c), found {}",
                    parts.len()
                )));
            };
            return Ok(Self::Large(
                number(a, "32-bit")?,
                number(b, "32-bit")?,
                number(c, "32-bit")?,
            ));
        }
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b] = parts.as_slice() else {
            return Err(CommunityError(
                "expected two 16-bit numbers a:b, or large:a:b:c for a large community".to_owned(),
            ));
        };
        let high = u16::try_from(number(a, "16-bit")?)
            .map_err(|_| CommunityError(format!("{a:?} is not a 16-bit number")))?;
        let low = u16::try_from(number(b, "16-bit")?)
            .map_err(|_| CommunityError(format!("{b:?} is not a 16-bit number")))?;
        Ok(Self::standard(high, low))
    }
}

fn number(part: &str, width: &str) -> Result<u32, CommunityError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommunityError(format!("{part:?} is not a {width} number")));
    }
    part.parse::<u32>()
        .map_err(|_| CommunityError(format!("{part:?} is not a {width} number")))
}

/// Whether a string looks like an attempted literal (so a parse error is reported rather than
/// "unknown alias").
pub(crate) fn looks_literal(s: &str) -> bool {
    s.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_large() {
        assert_eq!("64512:1".parse(), Ok(Community::standard(64512, 1)));
        assert_eq!(
            Community::standard(65535, 65281),
            well_known("no-export").unwrap()
        );
        assert_eq!(Community::standard(64512, 1).to_string(), "64512:1");
        assert_eq!(
            "large:4200000000:1:2".parse(),
            Ok(Community::Large(4_200_000_000, 1, 2))
        );
        assert_eq!(Community::Large(1, 2, 3).to_string(), "large:1:2:3");
        assert_eq!(well_known("local-as"), well_known("no-export-subconfed"));
    }

    #[test]
    fn malformed() {
        for bad in [
            "64512",
            "64512:70000",
            "a:b",
            "1:2:3",
            "large:1:2",
            "large:1:2:99999999999",
            ":1",
            "-1:2",
        ] {
            assert!(bad.parse::<Community>().is_err(), "{bad}");
        }
    }
}
