//! Address ranges: what a pool's `addresses` entries mean.
//!
//! An entry is a CIDR (`192.0.2.0/24`, `2001:db8::/120`) or an inclusive range (`192.0.2.10-192.0.2.20`);
//! either way it becomes an [`AddressRange`] `start..=end` of one family. Like MetalLB, a CIDR with host
//! bits set (`192.0.2.7/24`) means its whole network (the parser reports a warning). For aggregation
//! checks a range counts as the CIDRs that exactly cover it ([`AddressRange::cidrs`]), as MetalLB
//! summarizes ranges.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

use crate::error::ErrorKind;

/// IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl AddressFamily {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::V4,
            IpAddr::V6(_) => Self::V6,
        }
    }

    /// Address width in bits: 32 or 128.
    pub fn bits(self) -> u8 {
        match self {
            Self::V4 => 32,
            Self::V6 => 128,
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        })
    }
}

/// An inclusive range of addresses of one family; `start <= end` always.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressRange {
    start: IpAddr,
    end: IpAddr,
}

impl AddressRange {
    /// The range `start..=end`; `None` if the families differ or `end < start`.
    pub fn new(start: IpAddr, end: IpAddr) -> Option<Self> {
        (AddressFamily::of(start) == AddressFamily::of(end) && to_u128(start) <= to_u128(end))
            .then_some(Self { start, end })
    }

    /// Every address of a network.
    pub fn from_net(net: IpNet) -> Self {
        Self {
            start: net.network(),
            end: net.broadcast(),
        }
    }

    /// First address.
    pub fn start(&self) -> IpAddr {
        self.start
    }

    /// Last address.
    pub fn end(&self) -> IpAddr {
        self.end
    }

    /// The range's family.
    pub fn family(&self) -> AddressFamily {
        AddressFamily::of(self.start)
    }

    /// Whether `ip` is in the range (false for the other family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        AddressFamily::of(ip) == self.family()
            && (to_u128(self.start)..=to_u128(self.end)).contains(&to_u128(ip))
    }

    /// Number of addresses; saturates at `u128::MAX` for `::/0`.
    pub fn len(&self) -> u128 {
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// Never true: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of IPv4 addresses ending in `.0` or `.255` (what `avoid-buggy-ips` skips); 0 for IPv6.
    pub fn buggy_len(&self) -> u128 {
        if self.family() == AddressFamily::V6 {
            return 0;
        }
        // Addresses in 0..=n whose last octet is 0 or 255.
        let upto = |n: u128| 2 * (n >> 8) + 1 + u128::from(n & 0xff == 0xff);
        let (s, e) = (to_u128(self.start), to_u128(self.end));
        upto(e) - if s == 0 { 0 } else { upto(s - 1) }
    }

    /// The common addresses of two ranges, if any.
    pub fn intersection(&self, other: &Self) -> Option<Self> {
        if self.family() != other.family() {
            return None;
        }
        let start = to_u128(self.start).max(to_u128(other.start));
        let end = to_u128(self.end).min(to_u128(other.end));
        (start <= end).then(|| Self {
            start: from_u128(self.family(), start),
            end: from_u128(self.family(), end),
        })
    }

    /// The range as one CIDR, if it is exactly one.
    pub fn as_cidr(&self) -> Option<IpNet> {
        match self.cidrs().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }

    /// The fewest CIDRs that cover exactly this range, in address order.
    pub fn cidrs(&self) -> Vec<IpNet> {
        let family = self.family();
        let bits = u32::from(family.bits());
        let (mut s, e) = (to_u128(self.start), to_u128(self.end));
        let mut out = Vec::new();
        loop {
            // The largest block aligned at `s` that does not pass `e`.
            let mut k = if s == 0 {
                bits
            } else {
                s.trailing_zeros().min(bits)
            };
            while k > 0 && s.checked_add(mask(k)).is_none_or(|last| last > e) {
                k -= 1;
            }
            let prefix = (bits - k) as u8;
            let net = match family {
                AddressFamily::V4 => IpNet::new(from_u128(family, s), prefix),
                AddressFamily::V6 => IpNet::new(from_u128(family, s), prefix),
            };
            // Invariant: prefix <= bits, so the network is always valid.
            if let Ok(net) = net {
                out.push(net);
            }
            let last = s + mask(k);
            if last >= e {
                break;
            }
            s = last + 1;
        }
        out
    }
}

/// `2^k - 1` for k in 0..=128.
fn mask(k: u32) -> u128 {
    if k >= 128 { u128::MAX } else { (1u128 << k) - 1 }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(family: AddressFamily, n: u128) -> IpAddr {
    match family {
        AddressFamily::V4 => IpAddr::V4(Ipv4Addr::from(u32::try_from(n).unwrap_or(u32::MAX))),
        AddressFamily::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

impl fmt::Display for AddressRange {
    /// A CIDR when the range is exactly one, else `start-end`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_cidr() {
            Some(net) => write!(f, "{net}"),
            None => write!(f, "{}-{}", self.start, self.end),
        }
    }
}

impl FromStr for AddressRange {
    type Err = ErrorKind;

    /// Parses a pool `addresses` entry (host bits of a CIDR are dropped, as MetalLB does).
    fn from_str(s: &str) -> Result<Self, ErrorKind> {
        parse_entry(s).map(|(range, _)| range)
    }
}

/// Parses an `addresses` entry. The second value is the network actually used when a CIDR has host
/// bits set (for a warning).
pub(crate) fn parse_entry(text: &str) -> Result<(AddressRange, Option<IpNet>), ErrorKind> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ErrorKind::Empty);
    }
    if let Some((a, b)) = text.split_once('-') {
        let bound = |s: &str| {
            let s = s.trim();
            let ip = IpAddr::from_str(s).map_err(|_| ErrorKind::InvalidRangeBound { bound: s.to_owned() })?;
            reject_mapped(ip)?;
            Ok::<_, ErrorKind>(ip)
        };
        let (start, end) = (bound(a)?, bound(b)?);
        if AddressFamily::of(start) != AddressFamily::of(end) {
            return Err(ErrorKind::MixedFamilies { start, end });
        }
        return AddressRange::new(start, end)
            .map(|r| (r, None))
            .ok_or(ErrorKind::RangeEndBeforeStart { start, end });
    }
    if let Some((addr, len)) = text.split_once('/') {
        let ip = IpAddr::from_str(addr.trim()).map_err(|_| ErrorKind::InvalidCidr {
            reason: format!("{:?} is not an IP address", addr.trim()),
        })?;
        reject_mapped(ip)?;
        let max = AddressFamily::of(ip).bits();
        let len = len.trim();
        let prefix = (!len.is_empty()
            && len.bytes().all(|b| b.is_ascii_digit())
            && (len == "0" || !len.starts_with('0')))
        .then(|| len.parse::<u8>().ok())
        .flatten()
        .filter(|p| *p <= max)
        .ok_or_else(|| ErrorKind::InvalidCidr {
            reason: format!("prefix length {len:?} is not a number from 0 to {max}"),
        })?;
        let net = IpNet::new(ip, prefix).map_err(|_| ErrorKind::InvalidCidr {
            reason: format!("prefix length {prefix} is too long"),
        })?;
        let truncated = net.trunc();
        let host_bits = (truncated.addr() != ip).then_some(truncated);
        return Ok((AddressRange::from_net(truncated), host_bits));
    }
    match IpAddr::from_str(text) {
        Ok(ip) => Err(ErrorKind::BareAddress {
            suggestion: format!("{ip}/{}", AddressFamily::of(ip).bits()),
        }),
        Err(_) => Err(ErrorKind::MalformedAddresses),
    }
}

fn reject_mapped(ip: IpAddr) -> Result<(), ErrorKind> {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => Err(ErrorKind::MappedIpv4),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> AddressRange {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_and_ranges() {
        let a = r("192.0.2.0/24");
        assert_eq!((a.start(), a.end()), (ip("192.0.2.0"), ip("192.0.2.255")));
        assert_eq!(a.len(), 256);
        assert_eq!(a, r("192.0.2.0-192.0.2.255"));
        assert_eq!(a.to_string(), "192.0.2.0/24");
        let b = r(" 192.0.2.10 - 192.0.2.20 ");
        assert_eq!(b.len(), 11);
        assert_eq!(b.to_string(), "192.0.2.10-192.0.2.20");
        assert!(b.contains(ip("192.0.2.20")) && !b.contains(ip("192.0.2.21")));
        assert!(!b.contains(ip("2001:db8::1")));
        assert_eq!(r("2001:db8::/120").len(), 256);
        assert_eq!(r("::/0").len(), u128::MAX);
        assert_eq!(r("0.0.0.0/0").len(), 1 << 32);
        assert_eq!(r("192.0.2.7/24"), a, "host bits dropped like MetalLB");
    }

    #[test]
    fn summarizes_ranges_into_cidrs() {
        let nets: Vec<String> = r("192.0.2.150-192.0.2.200")
            .cidrs()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(
            nets,
            [
                "192.0.2.150/31",
                "192.0.2.152/29",
                "192.0.2.160/27",
                "192.0.2.192/29",
                "192.0.2.200/32"
            ]
        );
        assert_eq!(r("::/0").cidrs().len(), 1);
        assert_eq!(r("0.0.0.0/0").cidrs().len(), 1);
        assert_eq!(r("255.255.255.255/32").cidrs().len(), 1);
        assert_eq!(r("0.0.0.0-255.255.255.254").cidrs().len(), 32);
    }

    #[test]
    fn buggy_counts() {
        assert_eq!(r("192.0.2.0/24").buggy_len(), 2);
        assert_eq!(r("192.0.2.0/23").buggy_len(), 4);
        assert_eq!(r("192.0.2.1-192.0.2.254").buggy_len(), 0);
        assert_eq!(r("0.0.0.0/32").buggy_len(), 1);
        assert_eq!(r("2001:db8::/64").buggy_len(), 0);
    }

    #[test]
    fn intersections() {
        let a = r("192.0.2.0/24");
        assert_eq!(
            a.intersection(&r("192.0.2.128-192.0.3.10")),
            Some(r("192.0.2.128/25"))
        );
        assert_eq!(a.intersection(&r("192.0.3.0/24")), None);
        assert_eq!(a.intersection(&r("2001:db8::/64")), None);
    }

    #[test]
    fn parse_errors() {
        let err = |s: &str| s.parse::<AddressRange>().unwrap_err();
        assert!(matches!(
            err("192.0.2.9-192.0.2.1"),
            ErrorKind::RangeEndBeforeStart { .. }
        ));
        assert!(matches!(
            err("192.0.2.1-2001:db8::1"),
            ErrorKind::MixedFamilies { .. }
        ));
        assert!(
            matches!(err("192.0.2.1"), ErrorKind::BareAddress { suggestion } if suggestion == "192.0.2.1/32")
        );
        assert!(matches!(err("192.0.2.0/33"), ErrorKind::InvalidCidr { .. }));
        assert!(matches!(err("192.0.2.0/024"), ErrorKind::InvalidCidr { .. }));
        assert!(matches!(err("192.0.2.0/"), ErrorKind::InvalidCidr { .. }));
        assert!(matches!(err("192.0.2/24"), ErrorKind::InvalidCidr { .. }));
        assert!(matches!(err("a-b"), ErrorKind::InvalidRangeBound { bound } if bound == "a"));
        assert!(matches!(err("pool"), ErrorKind::MalformedAddresses));
        assert!(matches!(err(""), ErrorKind::Empty));
        assert!(matches!(err("::ffff:192.0.2.1/128"), ErrorKind::MappedIpv4));
    }
}
