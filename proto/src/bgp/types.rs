//! BGP message types: ferrolb's own small model of what it sends and what it checks on receipt.
//!
//! These types carry only what a route-originating speaker needs: OPEN with the capabilities it negotiates,
//! UPDATE with IPv4 NLRI, IPv6 through MP_REACH/MP_UNREACH and the attributes ferrolb sets, KEEPALIVE,
//! NOTIFICATION and ROUTE-REFRESH. Everything else a peer may send decodes into the `other` fields (codes
//! only, for diagnostics). The wire encoding is in [`super::codec`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use super::notification::Notification;

/// The 2-octet AS number put in OPEN and AS_PATH in place of a 4-octet one (RFC 6793).
pub const AS_TRANS: u16 = 23456;
/// Length of the BGP message header (marker, length, type).
pub const HEADER_LEN: usize = 19;
/// Maximum BGP message length without the extended message capability (RFC 4271 §4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The BGP version ferrolb speaks.
pub const BGP_VERSION: u8 = 4;

/// The address families ferrolb advertises: IPv4 and IPv6 unicast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// AFI 1, SAFI 1.
    Ipv4Unicast,
    /// AFI 2, SAFI 1.
    Ipv6Unicast,
}

impl Family {
    /// Both families, IPv4 first.
    pub const ALL: [Family; 2] = [Family::Ipv4Unicast, Family::Ipv6Unicast];

    /// The address family identifier.
    pub const fn afi(self) -> u16 {
        match self {
            Family::Ipv4Unicast => 1,
            Family::Ipv6Unicast => 2,
        }
    }

    /// The subsequent address family identifier (unicast).
    pub const fn safi(self) -> u8 {
        1
    }

    /// The family of an AFI/SAFI pair, if it is one ferrolb handles.
    pub const fn from_afi_safi(afi: u16, safi: u8) -> Option<Family> {
        match (afi, safi) {
            (1, 1) => Some(Family::Ipv4Unicast),
            (2, 1) => Some(Family::Ipv6Unicast),
            _ => None,
        }
    }

    /// The family of a prefix.
    pub const fn of(prefix: &IpNet) -> Family {
        match prefix {
            IpNet::V4(_) => Family::Ipv4Unicast,
            IpNet::V6(_) => Family::Ipv6Unicast,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4Unicast => "ipv4-unicast",
            Family::Ipv6Unicast => "ipv6-unicast",
        })
    }
}

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN (type 1).
    Open(Open),
    /// UPDATE (type 2).
    Update(Update),
    /// NOTIFICATION (type 3).
    Notification(Notification),
    /// KEEPALIVE (type 4).
    Keepalive,
    /// ROUTE-REFRESH (type 5, RFC 2918).
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The message type name, as RFC 4271 spells it.
    pub const fn kind(&self) -> &'static str {
        match self {
            Message::Open(_) => "OPEN",
            Message::Update(_) => "UPDATE",
            Message::Notification(_) => "NOTIFICATION",
            Message::Keepalive => "KEEPALIVE",
            Message::RouteRefresh(_) => "ROUTE-REFRESH",
        }
    }
}

/// An OPEN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The 2-octet "My Autonomous System" field: the ASN, or [`AS_TRANS`] for a 4-octet ASN.
    pub my_as: u16,
    /// Proposed hold time in seconds (0, or 3 and more).
    pub hold_time: u16,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Capabilities (RFC 5492), all in one optional parameter when encoded.
    pub capabilities: Capabilities,
}

impl Open {
    /// An OPEN for `asn` that always carries the 4-octet AS capability and puts [`AS_TRANS`] in the 2-octet
    /// field when `asn` does not fit.
    pub fn new(asn: u32, hold_time: u16, router_id: Ipv4Addr, mut capabilities: Capabilities) -> Open {
        capabilities.four_octet_as = Some(asn);
        Open {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time,
            router_id,
            capabilities,
        }
    }

    /// The sender's ASN: the 4-octet AS capability if present, else the 2-octet field.
    pub fn asn(&self) -> u32 {
        self.capabilities.four_octet_as.unwrap_or(u32::from(self.my_as))
    }
}

/// The capabilities of an OPEN message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Multiprotocol extensions (code 1, RFC 4760) for the families ferrolb knows, in the order sent.
    pub multiprotocol: Vec<Family>,
    /// 4-octet AS number (code 65, RFC 6793).
    pub four_octet_as: Option<u32>,
    /// Route refresh (code 2, RFC 2918).
    pub route_refresh: bool,
    /// Graceful restart (code 64, RFC 4724).
    pub graceful_restart: Option<GracefulRestart>,
    /// Every other capability, raw (includes multiprotocol for other families, enhanced route refresh, FQDN,
    /// add-path, …), in the order received.
    pub other: Vec<RawCapability>,
}

/// A capability ferrolb does not model, as code and value bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawCapability {
    /// Capability code.
    pub code: u8,
    /// Capability value.
    pub value: Vec<u8>,
}

/// The graceful restart capability (RFC 4724, with the N bit of RFC 8538).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// R bit: the sender has restarted.
    pub restart_state: bool,
    /// N bit: the sender supports graceful NOTIFICATION (RFC 8538).
    pub notification: bool,
    /// Restart time in seconds (12 bits, at most 4095).
    pub restart_time: u16,
    /// Families whose routes the receiver should keep while the sender restarts, with the F bit
    /// (forwarding state preserved). Families ferrolb does not know are dropped when decoding.
    pub families: Vec<(Family, bool)>,
}

/// A ROUTE-REFRESH message (RFC 2918, subtypes of RFC 7313).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefresh {
    /// Address family identifier.
    pub afi: u16,
    /// Subsequent address family identifier.
    pub safi: u8,
    /// Message subtype: 0 normal request, 1 begin, 2 end of route refresh.
    pub subtype: u8,
}

impl RouteRefresh {
    /// A normal route refresh request for `family`.
    pub const fn request(family: Family) -> RouteRefresh {
        RouteRefresh {
            afi: family.afi(),
            safi: family.safi(),
            subtype: 0,
        }
    }

    /// The family asked for, if ferrolb knows it.
    pub const fn family(&self) -> Option<Family> {
        Family::from_afi_safi(self.afi, self.safi)
    }
}

/// An UPDATE message. IPv4 unicast routes go in `withdrawn` and `nlri`; IPv6 ones in the MP_REACH and
/// MP_UNREACH attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Withdrawn IPv4 routes.
    pub withdrawn: Vec<Ipv4Net>,
    /// Path attributes.
    pub attributes: PathAttributes,
    /// Announced IPv4 routes.
    pub nlri: Vec<Ipv4Net>,
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for IPv4, an UPDATE with only an
    /// empty MP_UNREACH for IPv6.
    pub fn end_of_rib(family: Family) -> Update {
        match family {
            Family::Ipv4Unicast => Update::default(),
            Family::Ipv6Unicast => Update {
                attributes: PathAttributes {
                    mp_unreach: Some(MpUnreach {
                        family,
                        withdrawn: Vec::new(),
                    }),
                    ..PathAttributes::default()
                },
                ..Update::default()
            },
        }
    }

    /// The family this UPDATE marks the End-of-RIB for, if it is such a marker.
    pub fn is_end_of_rib(&self) -> Option<Family> {
        if *self == Update::default() {
            return Some(Family::Ipv4Unicast);
        }
        match &self.attributes.mp_unreach {
            Some(unreach)
                if unreach.withdrawn.is_empty()
                    && self.withdrawn.is_empty()
                    && self.nlri.is_empty()
                    && self.attributes
                        == (PathAttributes {
                            mp_unreach: Some(unreach.clone()),
                            ..PathAttributes::default()
                        }) =>
            {
                Some(unreach.family)
            }
            _ => None,
        }
    }

    /// All prefixes announced, IPv4 NLRI first, then MP_REACH.
    pub fn announced(&self) -> impl Iterator<Item = IpNet> + '_ {
        let mp = self
            .attributes
            .mp_reach
            .iter()
            .flat_map(|r| r.nlri.iter().copied());
        self.nlri.iter().map(|n| IpNet::V4(*n)).chain(mp)
    }

    /// All prefixes withdrawn, IPv4 first, then MP_UNREACH.
    pub fn withdrawn_all(&self) -> impl Iterator<Item = IpNet> + '_ {
        let mp = self
            .attributes
            .mp_unreach
            .iter()
            .flat_map(|r| r.withdrawn.iter().copied());
        self.withdrawn.iter().map(|n| IpNet::V4(*n)).chain(mp)
    }
}

/// Path attributes. Empty community lists mean the attribute is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct PathAttributes {
    /// ORIGIN (type 1).
    pub origin: Option<Origin>,
    /// AS_PATH (type 2), with 4-octet ASNs. On a session without 4-octet AS support the encoder writes
    /// [`AS_TRANS`] for larger ASNs and adds AS4_PATH; the decoder merges AS4_PATH back (RFC 6793 §4.2.3).
    pub as_path: Option<AsPath>,
    /// NEXT_HOP (type 3), for IPv4 NLRI.
    pub next_hop: Option<Ipv4Addr>,
    /// MULTI_EXIT_DISC (type 4).
    pub med: Option<u32>,
    /// LOCAL_PREF (type 5), iBGP only.
    pub local_pref: Option<u32>,
    /// COMMUNITIES (type 8, RFC 1997).
    pub communities: Vec<Community>,
    /// LARGE_COMMUNITY (type 32, RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// MP_REACH_NLRI (type 14, RFC 4760).
    pub mp_reach: Option<MpReach>,
    /// MP_UNREACH_NLRI (type 15, RFC 4760).
    pub mp_unreach: Option<MpUnreach>,
    /// Type codes of other attributes received (decode only; never encoded).
    pub other: Vec<u8>,
}

/// ORIGIN values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Learned from an interior protocol (0); what ferrolb announces.
    Igp,
    /// Learned via EGP (1).
    Egp,
    /// Learned some other way (2).
    Incomplete,
}

/// AS_PATH: a list of segments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct AsPath {
    /// The segments, in order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE, or the empty path if `asns` is empty (iBGP).
    pub fn sequence(asns: impl Into<Vec<u32>>) -> AsPath {
        let asns = asns.into();
        if asns.is_empty() {
            AsPath::default()
        } else {
            AsPath {
                segments: vec![AsSegment {
                    kind: SegmentKind::Sequence,
                    asns,
                }],
            }
        }
    }

    /// Path length for route selection: each AS in a sequence counts one, each set counts one.
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                SegmentKind::Sequence => s.asns.len(),
                SegmentKind::Set => 1,
            })
            .sum()
    }

    /// Whether the path has no AS at all.
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }
}

/// One AS_PATH segment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AsSegment {
    /// AS_SET or AS_SEQUENCE.
    pub kind: SegmentKind,
    /// The ASNs (at most 255 per segment on the wire).
    pub asns: Vec<u32>,
}

/// AS_PATH segment type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SegmentKind {
    /// AS_SET (1).
    Set,
    /// AS_SEQUENCE (2).
    Sequence,
}

/// A standard community (RFC 1997), `asn:value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (65535:65281).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (65535:65282).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);

    /// The community `asn:value`.
    pub const fn new(asn: u16, value: u16) -> Community {
        Community(((asn as u32) << 16) | value as u32)
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// A large community (RFC 8092), `global:local1:local2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LargeCommunity {
    /// Global administrator (an ASN).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

/// MP_REACH_NLRI for IPv4 or IPv6 unicast.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpReach {
    /// The family of `nlri`.
    pub family: Family,
    /// The next hop: an IPv6 global address for IPv6 unicast.
    pub next_hop: IpAddr,
    /// An IPv6 link-local next hop sent alongside the global one (32-byte next-hop field).
    pub link_local: Option<Ipv6Addr>,
    /// The prefixes announced, all of `family`.
    pub nlri: Vec<IpNet>,
}

/// MP_UNREACH_NLRI for IPv4 or IPv6 unicast.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MpUnreach {
    /// The family of `withdrawn`.
    pub family: Family,
    /// The prefixes withdrawn, all of `family` (empty: End-of-RIB marker).
    pub withdrawn: Vec<IpNet>,
}
