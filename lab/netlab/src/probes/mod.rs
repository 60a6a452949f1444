//! Probes, used the way an operator would: Habets `arping`, `ndisc6`, `curl`, the client's
//! neighbour table, `tcpdump` captures, an in-process TCP/UDP loop that measures the outage a
//! client sees, and `ip monitor route` for when a router's kernel routes changed.

mod capture;
mod http;
mod l2;
mod outage;
mod routes;

use std::fmt;
use std::str::FromStr;

pub use capture::Capture;
pub use http::{CurlOptions, http_url};
pub use l2::{Neighbor, parse_arping_macs, parse_ndisc6_macs, parse_neighbors};
pub use outage::{Outage, OutageProbe, ProbeOptions, ProbeProto, ProbeReport, Sample, SampleResult};
pub use routes::{RouteEvent, RouteMonitor, parse_route_monitor};

use crate::error::{LabError, Result};

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = LabError;

    /// Accepts `aa:bb:cc:dd:ee:ff` in either case.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || LabError::parse("MAC address", format!("`{s}` is not aa:bb:cc:dd:ee:ff"));
        let mut out = [0u8; 6];
        let mut parts = s.trim().split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

/// The `address` of the first link in `ip -j link show` output.
pub fn parse_link_mac(json: &str) -> Result<MacAddr> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| LabError::parse("ip -j link", e.to_string()))?;
    v.get(0)
        .and_then(|l| l.get("address"))
        .and_then(|a| a.as_str())
        .ok_or_else(|| LabError::parse("ip -j link", "no link address"))?
        .parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trips_and_rejects_garbage() {
        let m: MacAddr = "3A:17:b4:33:97:77".parse().unwrap();
        assert_eq!(m.to_string(), "3a:17:b4:33:97:77");
        for bad in [
            "",
            "3a:17:b4:33:97",
            "3a:17:b4:33:97:77:00",
            "3a:17:b4:33:97:7",
            "zz:17:b4:33:97:77",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn link_mac_from_ip_json() {
        let json = r#"[{"ifindex":2,"ifname":"eth0","address":"96:1b:15:36:7b:73","broadcast":"ff:ff:ff:ff:ff:ff"}]"#;
        assert_eq!(parse_link_mac(json).unwrap().to_string(), "96:1b:15:36:7b:73");
        assert!(parse_link_mac("[]").is_err());
        assert!(parse_link_mac("not json").is_err());
    }
}
