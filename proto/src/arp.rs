//! ARP for IPv4 over Ethernet (RFC 826, RFC 5227): parse requests, build replies and gratuitous ARP.
//!
//! [`ArpFrame::decode`] takes a whole Ethernet frame as read from an `AF_PACKET` socket (trailing padding up to
//! the 60-byte minimum is ignored) and accepts only Ethernet/IPv4 ARP with 6-byte hardware and 4-byte protocol
//! addresses; anything else is an [`ArpError`] naming the offending field. [`ArpFrame::encode`] writes the
//! 42-byte frame (the NIC pads it).
//!
//! Gratuitous ARP is built in the *request* form (`who-has VIP tell VIP`, sender IP = target IP, broadcast):
//! Linux updates an existing neighbour entry from it even within its 1 s lock time, whereas a reply-form
//! announcement with a broadcast target MAC is ignored inside that window.

use std::net::Ipv4Addr;

use pnet_base::MacAddr as PnetMac;
use pnet_packet::Packet;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperation, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};

use crate::MacAddr;

/// Ethernet header length.
const ETH_HEADER_LEN: usize = 14;
/// ARP payload length for Ethernet/IPv4.
const ARP_LEN: usize = 28;
/// Length of an encoded ARP frame (Ethernet header + ARP payload, without padding).
pub const FRAME_LEN: usize = ETH_HEADER_LEN + ARP_LEN;
/// The ARP EtherType.
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// ARP operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `who-has` (1).
    Request,
    /// `is-at` (2).
    Reply,
}

impl Operation {
    const fn code(self) -> u16 {
        match self {
            Operation::Request => 1,
            Operation::Reply => 2,
        }
    }
}

/// An ARP packet for IPv4 over Ethernet, with the Ethernet addresses of the frame that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet source address.
    pub eth_src: MacAddr,
    /// Ethernet destination address.
    pub eth_dst: MacAddr,
    /// Request or reply.
    pub operation: Operation,
    /// Sender hardware address (SHA).
    pub sender_mac: MacAddr,
    /// Sender protocol address (SPA); 0.0.0.0 in an RFC 5227 probe.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (THA); ignored in requests.
    pub target_mac: MacAddr,
    /// Target protocol address (TPA): the address asked about.
    pub target_ip: Ipv4Addr,
}

/// Why a frame is not an ARP packet this module handles. Each variant names the offending field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArpError {
    /// The frame is shorter than an Ethernet header plus an ARP payload.
    #[error("frame too short for ARP: {len} bytes, need {FRAME_LEN}")]
    Truncated {
        /// Length of the frame received.
        len: usize,
    },
    /// The EtherType is not ARP (0x0806); VLAN-tagged frames land here too.
    #[error("EtherType {ethertype:#06x} is not ARP")]
    NotArp {
        /// The EtherType found.
        ethertype: u16,
    },
    /// The hardware type is not Ethernet (1).
    #[error("ARP hardware type {htype} is not Ethernet (1)")]
    UnsupportedHardware {
        /// The hardware type found.
        htype: u16,
    },
    /// The protocol type is not IPv4 (0x0800).
    #[error("ARP protocol type {ptype:#06x} is not IPv4")]
    UnsupportedProtocol {
        /// The protocol type found.
        ptype: u16,
    },
    /// The address lengths are not 6 (hardware) and 4 (protocol).
    #[error("ARP address lengths {hlen}/{plen}, expected 6/4")]
    BadAddressLengths {
        /// Hardware address length.
        hlen: u8,
        /// Protocol address length.
        plen: u8,
    },
    /// The operation is neither request (1) nor reply (2).
    #[error("ARP operation {op} is neither request (1) nor reply (2)")]
    UnknownOperation {
        /// The operation found.
        op: u16,
    },
}

impl ArpError {
    /// A short, stable label for metrics (`reason="..."`).
    pub const fn metric_label(&self) -> &'static str {
        match self {
            ArpError::Truncated { .. } => "truncated",
            ArpError::NotArp { .. } => "not_arp",
            ArpError::UnsupportedHardware { .. } => "unsupported_hardware",
            ArpError::UnsupportedProtocol { .. } => "unsupported_protocol",
            ArpError::BadAddressLengths { .. } => "bad_address_lengths",
            ArpError::UnknownOperation { .. } => "unknown_operation",
        }
    }
}

fn to_pnet(mac: MacAddr) -> PnetMac {
    let [a, b, c, d, e, f] = mac.0;
    PnetMac::new(a, b, c, d, e, f)
}

fn from_pnet(mac: PnetMac) -> MacAddr {
    MacAddr(mac.octets())
}

impl ArpFrame {
    /// Decodes an Ethernet frame carrying an Ethernet/IPv4 ARP packet. Trailing bytes (padding) are ignored.
    pub fn decode(frame: &[u8]) -> Result<ArpFrame, ArpError> {
        if frame.len() < FRAME_LEN {
            return Err(ArpError::Truncated { len: frame.len() });
        }
        let eth = EthernetPacket::new(frame).ok_or(ArpError::Truncated { len: frame.len() })?;
        let ethertype = eth.get_ethertype().0;
        if ethertype != ETHERTYPE_ARP {
            return Err(ArpError::NotArp { ethertype });
        }
        let arp = ArpPacket::new(eth.payload()).ok_or(ArpError::Truncated { len: frame.len() })?;
        let htype = arp.get_hardware_type().0;
        if htype != ArpHardwareTypes::Ethernet.0 {
            return Err(ArpError::UnsupportedHardware { htype });
        }
        let ptype = arp.get_protocol_type().0;
        if ptype != EtherTypes::Ipv4.0 {
            return Err(ArpError::UnsupportedProtocol { ptype });
        }
        let (hlen, plen) = (arp.get_hw_addr_len(), arp.get_proto_addr_len());
        if (hlen, plen) != (6, 4) {
            return Err(ArpError::BadAddressLengths { hlen, plen });
        }
        let operation = match arp.get_operation() {
            ArpOperations::Request => Operation::Request,
            ArpOperations::Reply => Operation::Reply,
            ArpOperation(op) => return Err(ArpError::UnknownOperation { op }),
        };
        Ok(ArpFrame {
            eth_src: from_pnet(eth.get_source()),
            eth_dst: from_pnet(eth.get_destination()),
            operation,
            sender_mac: from_pnet(arp.get_sender_hw_addr()),
            sender_ip: arp.get_sender_proto_addr(),
            target_mac: from_pnet(arp.get_target_hw_addr()),
            target_ip: arp.get_target_proto_addr(),
        })
    }

    /// Encodes the frame: 14-byte Ethernet header and 28-byte ARP payload ([`FRAME_LEN`] bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = vec![0u8; FRAME_LEN];
        {
            let Some(mut eth) = MutableEthernetPacket::new(&mut buf) else {
                unreachable!("buffer is FRAME_LEN bytes, more than an Ethernet header")
            };
            eth.set_destination(to_pnet(self.eth_dst));
            eth.set_source(to_pnet(self.eth_src));
            eth.set_ethertype(EtherTypes::Arp);
        }
        let Some(mut arp) = MutableArpPacket::new(&mut buf[ETH_HEADER_LEN..]) else {
            unreachable!("buffer holds exactly an ARP payload after the Ethernet header")
        };
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperation(self.operation.code()));
        arp.set_sender_hw_addr(to_pnet(self.sender_mac));
        arp.set_sender_proto_addr(self.sender_ip);
        arp.set_target_hw_addr(to_pnet(self.target_mac));
        arp.set_target_proto_addr(self.target_ip);
        buf
    }

    /// Whether this is a gratuitous ARP (request or reply form): sender IP equals target IP.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }

    /// Whether this is an RFC 5227 probe: a request from 0.0.0.0 (a host checking that an address is free).
    pub fn is_probe(&self) -> bool {
        self.operation == Operation::Request && self.sender_ip.is_unspecified()
    }

    /// The reply a host owning `self.target_ip` with MAC `mac` sends to this request, or `None` if this is
    /// not a request. The reply is unicast to the requester's hardware address; a probe (sender 0.0.0.0) is
    /// answered with target IP 0.0.0.0, as Linux does, so the prober learns the address is taken.
    pub fn reply(&self, mac: MacAddr) -> Option<ArpFrame> {
        if self.operation != Operation::Request {
            return None;
        }
        Some(ArpFrame {
            eth_src: mac,
            eth_dst: self.sender_mac,
            operation: Operation::Reply,
            sender_mac: mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        })
    }

    /// A gratuitous ARP announcing that `ip` is at `mac`, in request form: broadcast `who-has ip tell ip`
    /// with a zero target hardware address (RFC 5227 §2.3 announcement).
    pub fn gratuitous(mac: MacAddr, ip: Ipv4Addr) -> ArpFrame {
        ArpFrame {
            eth_src: mac,
            eth_dst: MacAddr::BROADCAST,
            operation: Operation::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: MacAddr::ZERO,
            target_ip: ip,
        }
    }
}

#[cfg(test)]
mod tests;
