//! Failure injection: cutting a host's link, and dropping frames on the switch.
//!
//! Drops are nft rules in the switch namespace (`bridge` family, forward hook), so they act on the
//! wire between hosts and never touch the hosts' own rule sets (the kube-proxy stand-in's, or the
//! product's). The kernel has no netem: loss is `numgen random mod 100 < N drop`.

use std::fmt::Write as _;

use crate::cmd::nft_script;
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::topology::{GATEWAY_V4, GATEWAY_V6, Role, SECOND_INTERFACE, switch_port, switch_port2};

/// nft table in the switch namespace that holds the faults.
pub const FAULT_TABLE: &str = "flb_faults";

/// A frame-dropping rule on the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Drop `percent`% of UDP datagrams to `port` (e.g. 7946, memberlist), optionally only those
    /// sent by host `from`.
    DropUdp {
        port: u16,
        percent: u8,
        from: Option<String>,
    },
    /// Drop `percent`% of UDP datagrams to `port` that leave the switch towards host `to` (e.g. the BFD
    /// packets a router sends to one node).
    DropUdpTo { port: u16, percent: u8, to: String },
    /// Drop `percent`% of TCP segments to or from `port` (e.g. 179, BGP), optionally only from `from`.
    DropTcp {
        port: u16,
        percent: u8,
        from: Option<String>,
    },
    /// Drop every ARP frame sent by `from`.
    DropArp { from: String },
    /// Drop every Neighbor Solicitation / Advertisement sent by `from`.
    DropNdp { from: String },
    /// Drop everything sent by `from` (a one-way partition).
    DropAllFrom { from: String },
}

fn chance(percent: u8) -> Result<String> {
    match percent {
        0 | 101.. => Err(LabError::Invalid(format!(
            "drop percentage {percent} (must be 1..=100)"
        ))),
        100 => Ok(String::new()),
        p => Ok(format!(" numgen random mod 100 < {p}")),
    }
}

fn iif(from: Option<&str>) -> String {
    from.map(|h| format!("iifname \"{}\" ", switch_port(h)))
        .unwrap_or_default()
}

/// The nft script for the switch's fault table (replaces any previous faults atomically).
pub fn fault_ruleset(faults: &[Fault]) -> Result<String> {
    let mut rules = String::new();
    for f in faults {
        let _ = match f {
            Fault::DropUdp { port, percent, from } => {
                writeln!(
                    rules,
                    "    {}udp dport {port}{} drop",
                    iif(from.as_deref()),
                    chance(*percent)?
                )
            }
            Fault::DropUdpTo { port, percent, to } => writeln!(
                rules,
                "    oifname \"{}\" udp dport {port}{} drop",
                switch_port(to),
                chance(*percent)?
            ),
            Fault::DropTcp { port, percent, from } => {
                let c = chance(*percent)?;
                let i = iif(from.as_deref());
                writeln!(
                    rules,
                    "    {i}tcp dport {port}{c} drop\n    {i}tcp sport {port}{c} drop"
                )
            }
            Fault::DropArp { from } => writeln!(rules, "    {}ether type arp drop", iif(Some(from))),
            Fault::DropNdp { from } => writeln!(
                rules,
                "    {}icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} drop",
                iif(Some(from))
            ),
            Fault::DropAllFrom { from } => writeln!(rules, "    {}drop", iif(Some(from))),
        };
    }
    Ok(format!(
        "table bridge {FAULT_TABLE}\ndelete table bridge {FAULT_TABLE}\ntable bridge {FAULT_TABLE} {{\n  \
         chain forward {{\n    type filter hook forward priority 0; policy accept;\n{rules}  }}\n}}\n"
    ))
}

impl Lab {
    /// Replaces the switch's faults with `faults` (an empty list clears them).
    pub fn set_faults(&self, faults: &[Fault]) -> Result<()> {
        for host in faults.iter().filter_map(|f| match f {
            Fault::DropUdp { from, .. } | Fault::DropTcp { from, .. } => from.as_deref(),
            Fault::DropUdpTo { to, .. } => Some(to.as_str()),
            Fault::DropArp { from } | Fault::DropNdp { from } | Fault::DropAllFrom { from } => Some(from),
        }) {
            self.try_host(host)?;
        }
        nft_script(self.switch().name(), &fault_ruleset(faults)?)
    }

    /// Removes every fault.
    pub fn clear_faults(&self) -> Result<()> {
        self.set_faults(&[])
    }

    /// Cuts `host` off the segment: link down on its switch port and on its `eth0` (and the same for its
    /// `eth1` on the second segment, if it has one).
    pub fn cut_link(&self, host: &str) -> Result<()> {
        let h = self.try_host(host)?;
        if h.role() == Role::External {
            return Err(LabError::Invalid(
                "ext is not on the switch; cut the router's eth1 instead".into(),
            ));
        }
        self.ip("switch", &["link", "set", &switch_port(host), "down"])?;
        self.ip(host, &["link", "set", "eth0", "down"])?;
        if h.second().is_some() {
            self.ip("switch", &["link", "set", &switch_port2(host), "down"])?;
            self.ip(host, &["link", "set", SECOND_INTERFACE, "down"])?;
        }
        Ok(())
    }

    /// Reconnects `host`: links up again and its default routes restored (the kernel drops routes
    /// through a link that goes down; addresses stay, `keep_addr_on_down` is pinned).
    pub fn restore_link(&self, host: &str) -> Result<()> {
        let h = self.try_host(host)?;
        if h.role() == Role::External {
            return Err(LabError::Invalid("ext is not on the switch".into()));
        }
        self.ip("switch", &["link", "set", &switch_port(host), "up"])?;
        self.ip(host, &["link", "set", "eth0", "up"])?;
        if h.second().is_some() {
            self.ip("switch", &["link", "set", &switch_port2(host), "up"])?;
            self.ip(host, &["link", "set", SECOND_INTERFACE, "up"])?;
        }
        // the router has no default route; its connected routes come back with the link
        if h.role() != Role::Router {
            self.ip(
                host,
                &["route", "replace", "default", "via", &GATEWAY_V4.to_string()],
            )?;
            self.ip(
                host,
                &[
                    "-6",
                    "route",
                    "replace",
                    "default",
                    "via",
                    &GATEWAY_V6.to_string(),
                ],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_matches_each_fault() {
        let s = fault_ruleset(&[
            Fault::DropUdp {
                port: 7946,
                percent: 30,
                from: None,
            },
            Fault::DropUdp {
                port: 7946,
                percent: 100,
                from: Some("node1".into()),
            },
            Fault::DropTcp {
                port: 179,
                percent: 100,
                from: Some("node2".into()),
            },
            Fault::DropArp { from: "node3".into() },
            Fault::DropNdp { from: "node3".into() },
            Fault::DropAllFrom {
                from: "client".into(),
            },
            Fault::DropUdpTo {
                port: 3784,
                percent: 100,
                to: "node1".into(),
            },
        ])
        .unwrap();
        assert!(s.contains("    udp dport 7946 numgen random mod 100 < 30 drop\n"));
        assert!(s.contains("    iifname \"p-node1\" udp dport 7946 drop\n"));
        assert!(s.contains("    iifname \"p-node2\" tcp sport 179 drop\n"));
        assert!(s.contains("    iifname \"p-node3\" ether type arp drop\n"));
        assert!(s.contains("nd-neighbor-solicit, nd-neighbor-advert"));
        assert!(s.contains("    iifname \"p-client\" drop\n"));
        assert!(s.contains("    oifname \"p-node1\" udp dport 3784 drop\n"));
        assert!(s.contains("type filter hook forward priority 0; policy accept;"));
    }

    #[test]
    fn percentages_are_checked() {
        assert!(
            fault_ruleset(&[Fault::DropUdp {
                port: 1,
                percent: 0,
                from: None
            }])
            .is_err()
        );
        assert!(
            fault_ruleset(&[Fault::DropUdp {
                port: 1,
                percent: 101,
                from: None
            }])
            .is_err()
        );
        assert!(fault_ruleset(&[]).unwrap().contains("policy accept"));
    }
}
