//! The ferrolb speaker: announces service IPs by layer2 (ARP/NDP) or BGP.

#![deny(unsafe_code)]

pub mod bgp;
