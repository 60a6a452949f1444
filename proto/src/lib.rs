//! Wire formats (ARP, NDP, BGP, BFD) and the sans-IO BGP and BFD session state machines.
//!
//! Nothing here does I/O: no sockets, no clocks, no tasks. Decoders take the bytes a peer sent and return a
//! typed value or an error naming what was wrong; they never panic. Encoders build the exact bytes to put on
//! the wire. The BGP and BFD session state machines take events (and, for BFD, the current time) and return
//! actions for the speaker to perform.
//!
//! - [`arp`]: ARP over Ethernet (parse requests, build replies and gratuitous ARP).
//! - [`ndp`]: IPv6 Neighbor Discovery (parse Neighbor Solicitations, build Neighbor Advertisements).
//! - [`bgp`]: BGP-4 messages, the session state machine and the Adj-RIB-Out.
//! - [`bfd`]: BFD Control packets and the session state machine (RFC 5880, 5881, 5883).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod arp;
pub mod bfd;
pub mod bgp;
mod mac;
pub mod ndp;

pub use mac::{MacAddr, MacAddrParseError};
