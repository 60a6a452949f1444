//! A router's BGP RIB, the same shape for GoBGP, BIRD and FRR: prefix → paths with next hop, peer,
//! AS path, local-pref, MED, communities and large communities.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

use crate::error::LabError;

/// A standard community (RFC 1997), `high:low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// `high:low`.
    pub const fn new(high: u16, low: u16) -> Self {
        Community(((high as u32) << 16) | low as u32)
    }
    /// NO_EXPORT (65535:65281).
    pub const NO_EXPORT: Community = Community::new(65535, 65281);
    /// NO_ADVERTISE (65535:65282).
    pub const NO_ADVERTISE: Community = Community::new(65535, 65282);
    /// NO_EXPORT_SUBCONFED (65535:65283).
    pub const NO_EXPORT_SUBCONFED: Community = Community::new(65535, 65283);
    /// NOPEER (65535:65284).
    pub const NO_PEER: Community = Community::new(65535, 65284);
    /// BLACKHOLE (65535:666).
    pub const BLACKHOLE: Community = Community::new(65535, 666);
    /// GRACEFUL_SHUTDOWN (65535:0).
    pub const GRACEFUL_SHUTDOWN: Community = Community::new(65535, 0);

    /// The high 16 bits (usually an ASN).
    pub fn high(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The low 16 bits.
    pub fn low(self) -> u16 {
        (self.0 & 0xffff) as u16
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.high(), self.low())
    }
}

impl FromStr for Community {
    type Err = LabError;

    /// `64513:1`, or a well-known name as GoBGP, BIRD or FRR print it (`no-export`, `noExport`, …).
    fn from_str(s: &str) -> Result<Self, LabError> {
        let s = s.trim();
        let well_known = match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "noexport" => Some(Community::NO_EXPORT),
            "noadvertise" => Some(Community::NO_ADVERTISE),
            "noexportsubconfed" | "localas" => Some(Community::NO_EXPORT_SUBCONFED),
            "nopeer" => Some(Community::NO_PEER),
            "blackhole" => Some(Community::BLACKHOLE),
            "gracefulshutdown" => Some(Community::GRACEFUL_SHUTDOWN),
            _ => None,
        };
        if let Some(c) = well_known {
            return Ok(c);
        }
        let bad = || LabError::parse("community", format!("`{s}`"));
        let (h, l) = s.split_once(':').ok_or_else(bad)?;
        Ok(Community::new(
            h.trim().parse().map_err(|_| bad())?,
            l.trim().parse().map_err(|_| bad())?,
        ))
    }
}

/// A large community (RFC 8092), `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl LargeCommunity {
    /// `global:local1:local2`.
    pub const fn new(global: u32, local1: u32, local2: u32) -> Self {
        LargeCommunity {
            global,
            local1,
            local2,
        }
    }
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

impl FromStr for LargeCommunity {
    type Err = LabError;

    /// `64513:1:2` (also BIRD's `(64513, 1, 2)`).
    fn from_str(s: &str) -> Result<Self, LabError> {
        let bad = || LabError::parse("large community", format!("`{s}`"));
        let inner = s.trim().trim_start_matches('(').trim_end_matches(')');
        let parts: Vec<u32> = inner
            .split([':', ','])
            .map(|p| p.trim().parse().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        match parts[..] {
            [global, local1, local2] => Ok(LargeCommunity {
                global,
                local1,
                local2,
            }),
            _ => Err(bad()),
        }
    }
}

/// One path for a prefix in a router's RIB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RibPath {
    /// BGP next hop (the global one for IPv6).
    pub next_hop: Option<IpAddr>,
    /// The neighbour the path came from.
    pub peer: Option<IpAddr>,
    /// AS path, flattened (AS_SET members in order).
    pub as_path: Vec<u32>,
    /// LOCAL_PREF, when the router shows it.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// Standard communities.
    pub communities: Vec<Community>,
    /// Large communities.
    pub large_communities: Vec<LargeCommunity>,
    /// Whether this is the router's best path.
    pub best: bool,
}

/// A router's RIB for one address family.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rib {
    /// Paths per prefix.
    pub routes: BTreeMap<IpNet, Vec<RibPath>>,
}

impl Rib {
    /// Paths for `prefix` (empty if none).
    pub fn paths(&self, prefix: &IpNet) -> &[RibPath] {
        self.routes.get(prefix).map_or(&[], Vec::as_slice)
    }

    /// Whether the RIB has `prefix`.
    pub fn contains(&self, prefix: &IpNet) -> bool {
        self.routes.contains_key(prefix)
    }

    /// The distinct next hops of `prefix`.
    pub fn next_hops(&self, prefix: &IpNet) -> BTreeSet<IpAddr> {
        self.paths(prefix).iter().filter_map(|p| p.next_hop).collect()
    }

    /// The best path of `prefix`, if the router marks one.
    pub fn best(&self, prefix: &IpNet) -> Option<&RibPath> {
        self.paths(prefix).iter().find(|p| p.best)
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether the RIB is empty.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub(crate) fn push(&mut self, prefix: IpNet, path: RibPath) {
        self.routes.entry(prefix.trunc()).or_default().push(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn communities_parse_in_every_router_dialect() {
        assert_eq!("64513:7".parse::<Community>().unwrap(), Community::new(64513, 7));
        assert_eq!("no-export".parse::<Community>().unwrap(), Community::NO_EXPORT);
        assert_eq!("noExport".parse::<Community>().unwrap(), Community::NO_EXPORT);
        assert_eq!(Community(4294967041), Community::NO_EXPORT);
        assert_eq!(Community::new(64513, 1).to_string(), "64513:1");
        for bad in ["", "1", "70000:1", "a:b", "1:2:3"] {
            assert!(bad.parse::<Community>().is_err(), "{bad}");
        }
    }

    #[test]
    fn large_communities_parse() {
        let l = LargeCommunity::new(64513, 1, 2);
        assert_eq!("64513:1:2".parse::<LargeCommunity>().unwrap(), l);
        assert_eq!("(64513, 1, 2)".parse::<LargeCommunity>().unwrap(), l);
        assert_eq!(l.to_string(), "64513:1:2");
        assert!("1:2".parse::<LargeCommunity>().is_err());
        assert!("1:2:x".parse::<LargeCommunity>().is_err());
    }

    #[test]
    fn rib_queries() {
        let p: IpNet = "192.0.2.100/32".parse().unwrap();
        let mut rib = Rib::default();
        for (nh, best) in [("192.0.2.11", true), ("192.0.2.12", false), ("192.0.2.12", false)] {
            rib.push(
                p,
                RibPath {
                    next_hop: Some(nh.parse().unwrap()),
                    best,
                    ..Default::default()
                },
            );
        }
        assert_eq!(rib.next_hops(&p).len(), 2);
        assert_eq!(
            rib.best(&p).unwrap().next_hop,
            Some("192.0.2.11".parse().unwrap())
        );
        assert!(rib.paths(&"192.0.2.1/32".parse().unwrap()).is_empty());
        assert_eq!(rib.len(), 1);
    }
}
