//! Whether and how to answer one ARP request or Neighbor Solicitation (pure).
//!
//! A request is answered only when its target is an IP this node owns on the receiving interface right now;
//! the answer carries the interface's MAC. Every frame that is not answered gets a [`DropReason`] (a metric
//! label and a test assertion).
//!
//! - ARP: requests (also unicast reachability re-checks and RFC 5227 probes from `0.0.0.0`) sent to broadcast
//!   or to our MAC. A gratuitous request (`who-has X tell X`) is another host announcing `X`: never answered.
//! - NDP: solicitations for address resolution (to the target's solicited-node group), unreachability
//!   detection (unicast to the target, to our MAC) and duplicate address detection (from `::`; answered to
//!   all-nodes so the prober sees the address is taken), as RFC 4861 §7.2.4 describes.
//!
//! Every request is also checked for a [`Conflict`] ([`arp_conflict`], [`ndp_conflict`]): another host claiming
//! an IP this node owns — an ARP request whose sender is that IP, a Neighbor Solicitation from it, or a
//! duplicate address detection probe for it — from a MAC that is not this interface's.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrolb_proto::MacAddr;
use ferrolb_proto::arp::{ArpFrame, Operation};
use ferrolb_proto::ndp::{NeighborSolicitation, multicast_mac, solicited_node};

/// The IPs answered on one interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedSet {
    /// IPv4 addresses.
    pub v4: HashSet<Ipv4Addr>,
    /// IPv6 addresses.
    pub v6: HashSet<Ipv6Addr>,
}

impl OwnedSet {
    /// Number of addresses.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// True when nothing is owned.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Why a received request was not answered. Labels are metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a valid ARP request / Neighbor Solicitation.
    Malformed,
    /// A valid frame of another kind (an ARP reply, say).
    NotRequest,
    /// Sent by this host.
    FromSelf,
    /// Addressed (at the link layer or IP layer) to another host.
    NotForUs,
    /// A gratuitous ARP: another host announcing the address.
    Gratuitous,
    /// The target is not an IP this node owns on this interface right now.
    NotOwned,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 6] = [
        DropReason::Malformed,
        DropReason::NotRequest,
        DropReason::FromSelf,
        DropReason::NotForUs,
        DropReason::Gratuitous,
        DropReason::NotOwned,
    ];

    /// A short, stable label for metrics.
    pub const fn metric_label(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NotRequest => "not_request",
            DropReason::FromSelf => "from_self",
            DropReason::NotForUs => "not_for_us",
            DropReason::Gratuitous => "gratuitous",
            DropReason::NotOwned => "not_owned",
        }
    }
}

/// Another host claiming an owned IP (RFC 5227 §2.4 for IPv4; a Neighbor Solicitation from, or a duplicate
/// address detection probe for, the address for IPv6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Conflict {
    /// The owned IP.
    pub ip: IpAddr,
    /// The other host's MAC (its ARP sender hardware address, or the NS's source link-layer address).
    pub mac: MacAddr,
}

/// The conflict `frame` (an ARP request) shows on an interface with MAC `mac` owning `owned`, if any. A probe
/// (sender `0.0.0.0`) is not one: it asks, and is answered.
pub fn arp_conflict(frame: &[u8], mac: MacAddr, owned: &OwnedSet) -> Option<Conflict> {
    let req = ArpFrame::decode(frame).ok()?;
    if req.eth_src == mac || req.sender_mac == mac || !owned.v4.contains(&req.sender_ip) {
        return None;
    }
    Some(Conflict {
        ip: IpAddr::V4(req.sender_ip),
        mac: req.sender_mac,
    })
}

/// The conflict `frame` (a Neighbor Solicitation) shows on an interface with MAC `mac` owning `owned`, if any:
/// one sent from an owned address, or a duplicate address detection probe (from `::`) for one.
pub fn ndp_conflict(frame: &[u8], mac: MacAddr, owned: &OwnedSet) -> Option<Conflict> {
    let ns = NeighborSolicitation::decode(frame).ok()?;
    let other = ns.source_ll.unwrap_or(ns.eth_src);
    if ns.eth_src == mac || other == mac {
        return None;
    }
    let ip = if ns.ip_src.is_unspecified() {
        ns.target
    } else {
        ns.ip_src
    };
    owned.v6.contains(&ip).then_some(Conflict {
        ip: IpAddr::V6(ip),
        mac: other,
    })
}

/// The ARP reply to send for `frame` on an interface with MAC `mac` owning `owned`, or why not.
pub fn answer_arp(frame: &[u8], mac: MacAddr, owned: &OwnedSet) -> Result<Vec<u8>, DropReason> {
    let req = ArpFrame::decode(frame).map_err(|_| DropReason::Malformed)?;
    if req.operation != Operation::Request {
        return Err(DropReason::NotRequest);
    }
    if req.eth_src == mac || req.sender_mac == mac {
        return Err(DropReason::FromSelf);
    }
    if req.eth_dst != MacAddr::BROADCAST && req.eth_dst != mac {
        return Err(DropReason::NotForUs);
    }
    if req.is_gratuitous() && !req.sender_ip.is_unspecified() {
        return Err(DropReason::Gratuitous);
    }
    if !owned.v4.contains(&req.target_ip) {
        return Err(DropReason::NotOwned);
    }
    req.reply(mac).map(|r| r.encode()).ok_or(DropReason::NotRequest)
}

/// The Neighbor Advertisement to send for `frame` on an interface with MAC `mac` owning `owned`, or why not.
pub fn answer_ndp(frame: &[u8], mac: MacAddr, owned: &OwnedSet) -> Result<Vec<u8>, DropReason> {
    let ns = NeighborSolicitation::decode(frame).map_err(|_| DropReason::Malformed)?;
    if ns.eth_src == mac {
        return Err(DropReason::FromSelf);
    }
    let group = solicited_node(ns.target);
    let addressed = if ns.ip_dst.is_multicast() {
        ns.ip_dst == group && (ns.eth_dst == multicast_mac(group) || ns.eth_dst == mac)
    } else {
        ns.ip_dst == ns.target && ns.eth_dst == mac
    };
    if !addressed {
        return Err(DropReason::NotForUs);
    }
    if !owned.v6.contains(&ns.target) {
        return Err(DropReason::NotOwned);
    }
    Ok(ns.reply(mac).encode())
}

#[cfg(test)]
mod tests {
    use ferrolb_proto::ndp::{ALL_NODES, NeighborAdvertisement};

    use super::*;

    const US: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
    const CLIENT: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x50]);

    fn owned() -> OwnedSet {
        OwnedSet {
            v4: ["192.0.2.100".parse().unwrap()].into(),
            v6: ["2001:db8::100".parse().unwrap()].into(),
        }
    }

    fn who_has(target: &str, sender: &str, eth_dst: MacAddr) -> Vec<u8> {
        ArpFrame {
            eth_src: CLIENT,
            eth_dst,
            operation: Operation::Request,
            sender_mac: CLIENT,
            sender_ip: sender.parse().unwrap(),
            target_mac: MacAddr::ZERO,
            target_ip: target.parse().unwrap(),
        }
        .encode()
    }

    #[test]
    fn arp_requests() {
        let o = owned();
        let reply = answer_arp(&who_has("192.0.2.100", "192.0.2.50", MacAddr::BROADCAST), US, &o).unwrap();
        let r = ArpFrame::decode(&reply).unwrap();
        assert_eq!(
            (r.operation, r.sender_mac, r.eth_dst),
            (Operation::Reply, US, CLIENT)
        );
        assert_eq!(r.sender_ip.to_string(), "192.0.2.100");
        assert_eq!(r.target_ip.to_string(), "192.0.2.50");
        // unicast reachability re-check to our MAC, and an RFC 5227 probe: answered
        assert!(answer_arp(&who_has("192.0.2.100", "192.0.2.50", US), US, &o).is_ok());
        let probe = ArpFrame::decode(
            &answer_arp(&who_has("192.0.2.100", "0.0.0.0", MacAddr::BROADCAST), US, &o).unwrap(),
        )
        .unwrap();
        assert!(probe.target_ip.is_unspecified());

        let cases: [(Vec<u8>, DropReason); 6] = [
            (
                who_has("192.0.2.101", "192.0.2.50", MacAddr::BROADCAST),
                DropReason::NotOwned,
            ),
            (
                who_has("192.0.2.100", "192.0.2.50", MacAddr([2, 0, 0, 0, 0, 0x12])),
                DropReason::NotForUs,
            ),
            (
                who_has("192.0.2.100", "192.0.2.100", MacAddr::BROADCAST),
                DropReason::Gratuitous,
            ),
            (
                ArpFrame::decode(&who_has("192.0.2.50", "192.0.2.100", MacAddr::BROADCAST))
                    .unwrap()
                    .reply(MacAddr([2, 0, 0, 0, 0, 0x99]))
                    .unwrap()
                    .encode(),
                DropReason::NotRequest,
            ),
            (vec![0u8; 20], DropReason::Malformed),
            (
                ArpFrame::gratuitous(US, "192.0.2.100".parse().unwrap()).encode(),
                DropReason::FromSelf,
            ),
        ];
        for (frame, want) in cases {
            assert_eq!(answer_arp(&frame, US, &o), Err(want));
        }
        assert_eq!(
            answer_arp(
                &who_has("192.0.2.100", "192.0.2.50", MacAddr::BROADCAST),
                US,
                &OwnedSet::default()
            ),
            Err(DropReason::NotOwned),
            "nothing owned, nothing answered"
        );
    }

    fn ns(target: &str, src: &str, dst: Option<&str>, eth_dst: Option<MacAddr>) -> Vec<u8> {
        let target: Ipv6Addr = target.parse().unwrap();
        let ip_dst = dst.map(|d| d.parse().unwrap()).unwrap_or(solicited_node(target));
        let ip_src: Ipv6Addr = src.parse().unwrap();
        NeighborSolicitation {
            eth_src: CLIENT,
            eth_dst: eth_dst.unwrap_or(multicast_mac(ip_dst)),
            ip_src,
            ip_dst,
            target,
            source_ll: (!ip_src.is_unspecified()).then_some(CLIENT),
        }
        .encode()
    }

    #[test]
    fn neighbor_solicitations() {
        let o = owned();
        // address resolution
        let na = NeighborAdvertisement::decode(
            &answer_ndp(&ns("2001:db8::100", "2001:db8::50", None, None), US, &o).unwrap(),
        )
        .unwrap();
        assert_eq!(
            (na.target_ll, na.solicited, na.override_flag),
            (Some(US), true, true)
        );
        assert_eq!(na.ip_dst.to_string(), "2001:db8::50");
        // unreachability detection: unicast to the target, to our MAC
        let nud = ns("2001:db8::100", "2001:db8::50", Some("2001:db8::100"), Some(US));
        assert!(answer_ndp(&nud, US, &o).is_ok());
        // duplicate address detection: answered to all-nodes
        let dad = NeighborAdvertisement::decode(
            &answer_ndp(&ns("2001:db8::100", "::", None, None), US, &o).unwrap(),
        )
        .unwrap();
        assert_eq!((dad.ip_dst, dad.solicited), (ALL_NODES, false));

        let cases = [
            (
                ns("2001:db8::101", "2001:db8::50", None, None),
                DropReason::NotOwned,
            ),
            (
                ns(
                    "2001:db8::100",
                    "2001:db8::50",
                    Some("2001:db8::100"),
                    Some(MacAddr([2, 0, 0, 0, 0, 0x12])),
                ),
                DropReason::NotForUs,
            ),
            (
                ns("2001:db8::100", "2001:db8::50", Some("ff02::1:ff00:101"), None),
                DropReason::NotForUs,
            ),
            (
                NeighborAdvertisement::unsolicited(CLIENT, "2001:db8::100".parse().unwrap()).encode(),
                DropReason::Malformed,
            ),
        ];
        for (frame, want) in cases {
            assert_eq!(answer_ndp(&frame, US, &o), Err(want));
        }
        let mut own = ns("2001:db8::100", "2001:db8::50", None, None);
        own[6..12].copy_from_slice(&US.0);
        assert_eq!(answer_ndp(&own, US, &o), Err(DropReason::FromSelf));
    }

    #[test]
    fn conflicts_are_other_hosts_claiming_owned_ips() {
        let o = owned();
        let v4 = |s: &str| IpAddr::V4(s.parse().unwrap());
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        let conflict = |ip, mac| Some(Conflict { ip, mac });
        // (frame, expected)
        let arp = [
            // a host using 192.0.2.100 asks for its gateway, and announces it (gratuitous)
            (
                who_has("192.0.2.1", "192.0.2.100", MacAddr::BROADCAST),
                conflict(v4("192.0.2.100"), CLIENT),
            ),
            (
                who_has("192.0.2.100", "192.0.2.100", MacAddr::BROADCAST),
                conflict(v4("192.0.2.100"), CLIENT),
            ),
            // a probe asks, an ordinary request is from an address we do not own, our own GARP is ours
            (who_has("192.0.2.100", "0.0.0.0", MacAddr::BROADCAST), None),
            (who_has("192.0.2.100", "192.0.2.50", MacAddr::BROADCAST), None),
            (
                ArpFrame::gratuitous(US, "192.0.2.100".parse().unwrap()).encode(),
                None,
            ),
            (vec![0u8; 20], None),
        ];
        for (frame, want) in arp {
            assert_eq!(arp_conflict(&frame, US, &o), want);
        }
        let ndp = [
            // from the owned address, or a DAD probe for it
            (
                ns("2001:db8::1", "2001:db8::100", None, None),
                conflict(v6("2001:db8::100"), CLIENT),
            ),
            (
                ns("2001:db8::100", "::", None, None),
                conflict(v6("2001:db8::100"), CLIENT),
            ),
            // resolving our address from another one, a DAD probe for another address
            (ns("2001:db8::100", "2001:db8::50", None, None), None),
            (ns("2001:db8::101", "::", None, None), None),
        ];
        for (frame, want) in ndp {
            assert_eq!(ndp_conflict(&frame, US, &o), want);
        }
        let mut own = ns("2001:db8::1", "2001:db8::100", None, None);
        own[6..12].copy_from_slice(&US.0);
        assert_eq!(ndp_conflict(&own, US, &o), None, "from this interface");
    }
}
