//! IPv6 Neighbor Discovery (RFC 4861): parse Neighbor Solicitations, build Neighbor Advertisements.
//!
//! Both directions work on whole Ethernet frames (Ethernet + IPv6 + ICMPv6), so the speaker can read and
//! write them on an `AF_PACKET` socket. Decoding applies the validity checks of RFC 4861 §7.1 (hop limit 255,
//! code 0, ICMPv6 checksum, source and target not multicast, no zero-length option, a solicitation from `::` goes to a
//! solicited-node group and carries no source link-layer option); a frame that fails one is an [`NdpError`]
//! naming it. Options are parsed with checked reads only.
//!
//! Advertisements are built as RFC 4861 §7.2.4 says: a reply to a solicitation from a unicast address goes
//! back to it with the Solicited and Override flags; a reply to a duplicate-address-detection probe (source
//! `::`) goes to all-nodes `ff02::1` with Override only; an unsolicited advertisement (takeover) goes to
//! `ff02::1` with Override only. Every advertisement carries the target link-layer address option, has hop
//! limit 255 and a correct ICMPv6 checksum, and is sent from the target address itself.

use std::net::Ipv6Addr;

use pnet_base::MacAddr as PnetMac;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::{self, Icmpv6Packet};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};

use crate::MacAddr;

const ETH_LEN: usize = 14;
const IPV6_LEN: usize = 40;
/// ICMPv6 NS/NA body without options: type, code, checksum, flags/reserved, target.
const ND_LEN: usize = 24;
/// A link-layer address option for Ethernet: type, length (1 = 8 bytes), MAC.
const LL_OPTION_LEN: usize = 8;
/// The IPv6 EtherType.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// ICMPv6 type of a Neighbor Solicitation.
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// The hop limit every Neighbor Discovery packet must carry.
pub const HOP_LIMIT: u8 = 255;
/// All-nodes multicast address `ff02::1`.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// The solicited-node multicast address of `addr` (`ff02::1:ffXX:XXXX`, RFC 4291 §2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

/// The Ethernet multicast address for an IPv6 multicast group (`33:33` + the low 32 bits, RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

fn is_solicited_node(addr: &Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// What a Neighbor Solicitation is for (RFC 4861 §7.2.2, RFC 4862 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SolicitationKind {
    /// Address resolution: sent to the target's solicited-node multicast group.
    AddressResolution,
    /// Neighbor unreachability detection: unicast to the target address.
    Unreachability,
    /// Duplicate address detection: sent from the unspecified address `::`.
    DuplicateAddressDetection,
}

/// A Neighbor Solicitation with the Ethernet and IPv6 addresses of the frame that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborSolicitation {
    /// Ethernet source address.
    pub eth_src: MacAddr,
    /// Ethernet destination address.
    pub eth_dst: MacAddr,
    /// IPv6 source address (`::` for duplicate address detection).
    pub ip_src: Ipv6Addr,
    /// IPv6 destination address (solicited-node group, or the target for unreachability detection).
    pub ip_dst: Ipv6Addr,
    /// The address being resolved.
    pub target: Ipv6Addr,
    /// The source link-layer address option, if present.
    pub source_ll: Option<MacAddr>,
}

/// A Neighbor Advertisement with the Ethernet and IPv6 addresses of its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NeighborAdvertisement {
    /// Ethernet source address.
    pub eth_src: MacAddr,
    /// Ethernet destination address.
    pub eth_dst: MacAddr,
    /// IPv6 source address.
    pub ip_src: Ipv6Addr,
    /// IPv6 destination address.
    pub ip_dst: Ipv6Addr,
    /// The address advertised.
    pub target: Ipv6Addr,
    /// R flag: the sender is a router.
    pub router: bool,
    /// S flag: sent in response to a solicitation.
    pub solicited: bool,
    /// O flag: override an existing cache entry.
    pub override_flag: bool,
    /// The target link-layer address option, if present.
    pub target_ll: Option<MacAddr>,
}

/// Why a frame is not a valid Neighbor Discovery message of the expected type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdpError {
    /// Shorter than the headers it announces.
    #[error("frame too short: {len} bytes, need {need}")]
    Truncated {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The EtherType is not IPv6.
    #[error("EtherType {ethertype:#06x} is not IPv6")]
    NotIpv6 {
        /// The EtherType found.
        ethertype: u16,
    },
    /// The IP version field is not 6.
    #[error("IP version {version}, expected 6")]
    BadIpVersion {
        /// The version found.
        version: u8,
    },
    /// The IPv6 next header is not ICMPv6 (extension headers are not accepted on NDP).
    #[error("IPv6 next header {next_header} is not ICMPv6 (58)")]
    NotIcmpv6 {
        /// The next header found.
        next_header: u8,
    },
    /// The ICMPv6 type is not the one expected.
    #[error("ICMPv6 type {found}, expected {expected}")]
    WrongType {
        /// The type found.
        found: u8,
        /// The type expected.
        expected: u8,
    },
    /// Hop limit is not 255: the packet may have been forwarded by a router (RFC 4861 §7.1).
    #[error("hop limit {hop_limit}, must be 255")]
    BadHopLimit {
        /// The hop limit found.
        hop_limit: u8,
    },
    /// ICMPv6 code is not 0.
    #[error("ICMPv6 code {code}, must be 0")]
    BadCode {
        /// The code found.
        code: u8,
    },
    /// The ICMPv6 checksum does not match.
    #[error("ICMPv6 checksum {found:#06x}, computed {computed:#06x}")]
    BadChecksum {
        /// The checksum in the packet.
        found: u16,
        /// The checksum computed over the packet.
        computed: u16,
    },
    /// The IPv6 source address is multicast, which no packet may carry (RFC 4291 §2.7); an answer to it would
    /// be invalid.
    #[error("source address {address} is multicast")]
    MulticastSource {
        /// The source found.
        address: Ipv6Addr,
    },
    /// The target address is a multicast address.
    #[error("target address {target} is multicast")]
    MulticastTarget {
        /// The target found.
        target: Ipv6Addr,
    },
    /// An option has length 0 or runs past the end of the packet.
    #[error("option type {option_type} at offset {offset} has a bad length")]
    BadOption {
        /// The option type.
        option_type: u8,
        /// Offset of the option within the ICMPv6 message.
        offset: usize,
    },
    /// A solicitation from `::` is not sent to a solicited-node group, or carries a source link-layer option.
    #[error("duplicate address detection probe to {destination} is invalid")]
    BadDadProbe {
        /// The IPv6 destination found.
        destination: Ipv6Addr,
    },
    /// An advertisement to a multicast destination has the Solicited flag set.
    #[error("solicited advertisement sent to multicast {destination}")]
    SolicitedToMulticast {
        /// The IPv6 destination found.
        destination: Ipv6Addr,
    },
}

impl NdpError {
    /// A short, stable label for metrics (`reason="..."`).
    pub const fn metric_label(&self) -> &'static str {
        match self {
            NdpError::Truncated { .. } => "truncated",
            NdpError::NotIpv6 { .. } => "not_ipv6",
            NdpError::BadIpVersion { .. } => "bad_ip_version",
            NdpError::NotIcmpv6 { .. } => "not_icmpv6",
            NdpError::WrongType { .. } => "wrong_type",
            NdpError::BadHopLimit { .. } => "bad_hop_limit",
            NdpError::BadCode { .. } => "bad_code",
            NdpError::BadChecksum { .. } => "bad_checksum",
            NdpError::MulticastSource { .. } => "multicast_source",
            NdpError::MulticastTarget { .. } => "multicast_target",
            NdpError::BadOption { .. } => "bad_option",
            NdpError::BadDadProbe { .. } => "bad_dad_probe",
            NdpError::SolicitedToMulticast { .. } => "solicited_to_multicast",
        }
    }
}

/// The parts of an NS or NA common to both decoders, after the checks shared by both.
struct Decoded<'a> {
    eth_src: MacAddr,
    eth_dst: MacAddr,
    ip_src: Ipv6Addr,
    ip_dst: Ipv6Addr,
    /// ICMPv6 message (exactly the IPv6 payload length).
    icmp: &'a [u8],
    target: Ipv6Addr,
}

fn decode_common(frame: &[u8], icmp_type: u8) -> Result<Decoded<'_>, NdpError> {
    let need = ETH_LEN + IPV6_LEN;
    let eth = EthernetPacket::new(frame)
        .filter(|_| frame.len() >= need)
        .ok_or(NdpError::Truncated {
            len: frame.len(),
            need,
        })?;
    let ethertype = eth.get_ethertype().0;
    if ethertype != ETHERTYPE_IPV6 {
        return Err(NdpError::NotIpv6 { ethertype });
    }
    let ip_bytes = frame.get(ETH_LEN..).unwrap_or_default();
    let ip = Ipv6Packet::new(ip_bytes).ok_or(NdpError::Truncated {
        len: frame.len(),
        need,
    })?;
    let version = ip.get_version();
    if version != 6 {
        return Err(NdpError::BadIpVersion { version });
    }
    let next_header = ip.get_next_header().0;
    if next_header != IpNextHeaderProtocols::Icmpv6.0 {
        return Err(NdpError::NotIcmpv6 { next_header });
    }
    // The IPv6 payload length bounds the ICMPv6 message; anything after it is Ethernet padding.
    let payload_len = usize::from(ip.get_payload_length());
    let icmp = ip_bytes
        .get(IPV6_LEN..IPV6_LEN + payload_len)
        .ok_or(NdpError::Truncated {
            len: frame.len(),
            need: need + payload_len,
        })?;
    if icmp.len() < ND_LEN {
        return Err(NdpError::Truncated {
            len: frame.len(),
            need: need + ND_LEN,
        });
    }
    let found = icmp[0];
    if found != icmp_type {
        return Err(NdpError::WrongType {
            found,
            expected: icmp_type,
        });
    }
    let hop_limit = ip.get_hop_limit();
    if hop_limit != HOP_LIMIT {
        return Err(NdpError::BadHopLimit { hop_limit });
    }
    let code = icmp[1];
    if code != 0 {
        return Err(NdpError::BadCode { code });
    }
    let (ip_src, ip_dst) = (ip.get_source(), ip.get_destination());
    if ip_src.is_multicast() {
        return Err(NdpError::MulticastSource { address: ip_src });
    }
    let found = u16::from_be_bytes([icmp[2], icmp[3]]);
    let computed = checksum(icmp, ip_src, ip_dst);
    if found != computed {
        return Err(NdpError::BadChecksum { found, computed });
    }
    let mut target = [0u8; 16];
    target.copy_from_slice(&icmp[8..24]);
    let target = Ipv6Addr::from(target);
    if target.is_multicast() {
        return Err(NdpError::MulticastTarget { target });
    }
    Ok(Decoded {
        eth_src: MacAddr(eth.get_source().octets()),
        eth_dst: MacAddr(eth.get_destination().octets()),
        ip_src,
        ip_dst,
        icmp,
        target,
    })
}

/// Walks the options after the fixed part and returns the first link-layer address option of `wanted` type.
/// Every option is checked for a non-zero length that fits, as RFC 4861 §7.1 requires.
fn find_ll_option(icmp: &[u8], wanted: u8) -> Result<Option<MacAddr>, NdpError> {
    let mut offset = ND_LEN;
    let mut found = None;
    while offset < icmp.len() {
        let option_type = icmp[offset];
        let units = icmp.get(offset + 1).copied().unwrap_or(0);
        let len = usize::from(units) * 8;
        let body = icmp
            .get(offset..offset + len)
            .filter(|_| len > 0)
            .ok_or(NdpError::BadOption { option_type, offset })?;
        if option_type == wanted && found.is_none() {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&body[2..8]);
            found = Some(MacAddr(mac));
        }
        offset += len;
    }
    Ok(found)
}

/// The ICMPv6 checksum of `icmp` (its checksum field is skipped) with the IPv6 pseudo-header.
pub fn checksum(icmp: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> u16 {
    match Icmpv6Packet::new(icmp) {
        Some(packet) => icmpv6::checksum(&packet, &src, &dst),
        None => 0,
    }
}

/// Writes Ethernet + IPv6 headers followed by `icmp`, filling in the ICMPv6 checksum.
fn build_frame(
    eth_src: MacAddr,
    eth_dst: MacAddr,
    ip_src: Ipv6Addr,
    ip_dst: Ipv6Addr,
    mut icmp: Vec<u8>,
) -> Vec<u8> {
    let sum = checksum(&icmp, ip_src, ip_dst);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut frame = vec![0u8; ETH_LEN + IPV6_LEN];
    {
        let Some(mut eth) = MutableEthernetPacket::new(&mut frame) else {
            unreachable!("buffer is longer than an Ethernet header")
        };
        let (d, s) = (eth_dst.0, eth_src.0);
        eth.set_destination(PnetMac::new(d[0], d[1], d[2], d[3], d[4], d[5]));
        eth.set_source(PnetMac::new(s[0], s[1], s[2], s[3], s[4], s[5]));
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    {
        let Some(mut ip) = MutableIpv6Packet::new(&mut frame[ETH_LEN..]) else {
            unreachable!("buffer holds exactly an IPv6 header after the Ethernet header")
        };
        ip.set_version(6);
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        // An NS/NA with one option is 32 bytes; options are our own, so this never truncates.
        ip.set_payload_length(u16::try_from(icmp.len()).unwrap_or(u16::MAX));
        ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip.set_hop_limit(HOP_LIMIT);
        ip.set_source(ip_src);
        ip.set_destination(ip_dst);
    }
    frame.extend_from_slice(&icmp);
    frame
}

/// The ICMPv6 body of an NS or NA: type, code 0, zero checksum, flags, target, optional LL option.
fn nd_body(icmp_type: u8, flags: u8, target: Ipv6Addr, option: Option<(u8, MacAddr)>) -> Vec<u8> {
    let mut icmp = Vec::with_capacity(ND_LEN + LL_OPTION_LEN);
    icmp.extend_from_slice(&[icmp_type, 0, 0, 0, flags, 0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    if let Some((option_type, mac)) = option {
        icmp.extend_from_slice(&[option_type, 1]);
        icmp.extend_from_slice(&mac.0);
    }
    icmp
}

impl NeighborSolicitation {
    /// Decodes and validates an Ethernet frame carrying a Neighbor Solicitation.
    pub fn decode(frame: &[u8]) -> Result<NeighborSolicitation, NdpError> {
        let d = decode_common(frame, ICMPV6_NEIGHBOR_SOLICITATION)?;
        let source_ll = find_ll_option(d.icmp, OPT_SOURCE_LL)?;
        if d.ip_src.is_unspecified() && (!is_solicited_node(&d.ip_dst) || source_ll.is_some()) {
            return Err(NdpError::BadDadProbe {
                destination: d.ip_dst,
            });
        }
        Ok(NeighborSolicitation {
            eth_src: d.eth_src,
            eth_dst: d.eth_dst,
            ip_src: d.ip_src,
            ip_dst: d.ip_dst,
            target: d.target,
            source_ll,
        })
    }

    /// Encodes the solicitation as a whole Ethernet frame (hop limit 255, checksum filled in).
    pub fn encode(&self) -> Vec<u8> {
        let icmp = nd_body(
            ICMPV6_NEIGHBOR_SOLICITATION,
            0,
            self.target,
            self.source_ll.map(|mac| (OPT_SOURCE_LL, mac)),
        );
        build_frame(self.eth_src, self.eth_dst, self.ip_src, self.ip_dst, icmp)
    }

    /// What the solicitation is for.
    pub fn kind(&self) -> SolicitationKind {
        if self.ip_src.is_unspecified() {
            SolicitationKind::DuplicateAddressDetection
        } else if self.ip_dst.is_multicast() {
            SolicitationKind::AddressResolution
        } else {
            SolicitationKind::Unreachability
        }
    }

    /// The solicited advertisement a host owning `self.target` at `mac` sends back (RFC 4861 §7.2.4).
    ///
    /// To a probe from `::` it goes to all-nodes with only the Override flag; otherwise it goes to the
    /// soliciting address (Ethernet: its source link-layer option, else the frame's source) with the Solicited
    /// and Override flags. It always carries our target link-layer address.
    pub fn reply(&self, mac: MacAddr) -> NeighborAdvertisement {
        let (eth_dst, ip_dst, solicited) = if self.ip_src.is_unspecified() {
            (multicast_mac(ALL_NODES), ALL_NODES, false)
        } else {
            (self.source_ll.unwrap_or(self.eth_src), self.ip_src, true)
        };
        NeighborAdvertisement {
            eth_src: mac,
            eth_dst,
            ip_src: self.target,
            ip_dst,
            target: self.target,
            router: false,
            solicited,
            override_flag: true,
            target_ll: Some(mac),
        }
    }
}

impl NeighborAdvertisement {
    /// An unsolicited advertisement announcing that `target` is at `mac` (sent on takeover): to all-nodes,
    /// Override flag set, Solicited clear, with the target link-layer address option.
    pub fn unsolicited(mac: MacAddr, target: Ipv6Addr) -> NeighborAdvertisement {
        NeighborAdvertisement {
            eth_src: mac,
            eth_dst: multicast_mac(ALL_NODES),
            ip_src: target,
            ip_dst: ALL_NODES,
            target,
            router: false,
            solicited: false,
            override_flag: true,
            target_ll: Some(mac),
        }
    }

    /// Decodes and validates an Ethernet frame carrying a Neighbor Advertisement.
    pub fn decode(frame: &[u8]) -> Result<NeighborAdvertisement, NdpError> {
        let d = decode_common(frame, ICMPV6_NEIGHBOR_ADVERTISEMENT)?;
        let flags = d.icmp[4];
        let solicited = flags & FLAG_SOLICITED != 0;
        if solicited && d.ip_dst.is_multicast() {
            return Err(NdpError::SolicitedToMulticast {
                destination: d.ip_dst,
            });
        }
        let target_ll = find_ll_option(d.icmp, OPT_TARGET_LL)?;
        Ok(NeighborAdvertisement {
            eth_src: d.eth_src,
            eth_dst: d.eth_dst,
            ip_src: d.ip_src,
            ip_dst: d.ip_dst,
            target: d.target,
            router: flags & FLAG_ROUTER != 0,
            solicited,
            override_flag: flags & FLAG_OVERRIDE != 0,
            target_ll,
        })
    }

    /// Encodes the advertisement as a whole Ethernet frame (hop limit 255, checksum filled in).
    pub fn encode(&self) -> Vec<u8> {
        let flags = (if self.router { FLAG_ROUTER } else { 0 })
            | (if self.solicited { FLAG_SOLICITED } else { 0 })
            | (if self.override_flag { FLAG_OVERRIDE } else { 0 });
        let icmp = nd_body(
            ICMPV6_NEIGHBOR_ADVERTISEMENT,
            flags,
            self.target,
            self.target_ll.map(|mac| (OPT_TARGET_LL, mac)),
        );
        build_frame(self.eth_src, self.eth_dst, self.ip_src, self.ip_dst, icmp)
    }
}

#[cfg(test)]
mod tests;
