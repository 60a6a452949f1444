//! What BGP mode should do, and the routes each session advertises (pure).
//!
//! [`BgpTarget`] is the whole desired state handed to [`super::BgpSpeaker::set`]: this node's addresses, the
//! peers selected for it and the service IPs it advertises, each with its pool's bgp-advertisements.
//!
//! [`Advertisements::from_target`] turns the IPs into prefixes, once for every session: each advertisement
//! of an IP yields the IP truncated to the advertisement's aggregation length (`aggregation-length` for
//! IPv4, `aggregation-length-v6` for IPv6). When several IPs or advertisements yield the same prefix, the
//! prefix is advertised once with the union of their communities (standard and large, sorted) and the
//! highest local-pref. Multicast and unspecified prefixes are dropped with a warning: no router would take
//! them.
//!
//! [`session_routes`] adds what depends on the session (RFC 4271 §5.1): NEXT_HOP is the session's local
//! address (the IPv6 one, in MP_REACH, on an IPv6 session); AS_PATH is empty on iBGP and `[my-asn]` on eBGP;
//! LOCAL_PREF is sent on iBGP only. A session advertises only prefixes of its own address family.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::{BgpAdvertisement, Peer};
use ferrolb_proto::bgp::{Community, LargeCommunity, RouteAttributes};
use ipnet::IpNet;

/// The whole desired state of BGP mode on this node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BgpTarget {
    /// This node's addresses (InternalIPs first): the router ID falls back to the first IPv4 one, and a
    /// session without `source-address` connects from the first one of the peer's family.
    pub node_addresses: Vec<IpAddr>,
    /// The config's peers whose node selectors select this node, in config order.
    pub peers: Vec<Peer>,
    /// The service IPs this node advertises, each with its pool's bgp-advertisements.
    pub prefixes: BTreeMap<IpAddr, Vec<BgpAdvertisement>>,
}

/// The attributes of one advertised prefix that do not depend on the session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Hash)]
pub struct PrefixAttributes {
    /// LOCAL_PREF for iBGP sessions (the highest of the advertisements that yield the prefix).
    pub local_pref: Option<u32>,
    /// Standard communities, sorted, without duplicates.
    pub communities: Vec<Community>,
    /// Large communities, sorted, without duplicates.
    pub large_communities: Vec<LargeCommunity>,
}

/// Local-pref, communities and large communities of one prefix, being merged.
type Merged = (Option<u32>, BTreeSet<Community>, BTreeSet<LargeCommunity>);

/// Every prefix this node advertises, with its session-independent attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advertisements {
    /// Prefix → attributes, IPv4 prefixes first.
    pub routes: BTreeMap<IpNet, PrefixAttributes>,
}

impl Advertisements {
    /// The prefixes for `target`'s service IPs (see the module docs).
    pub fn from_target(target: &BgpTarget) -> Advertisements {
        let mut merged: BTreeMap<IpNet, Merged> = BTreeMap::new();
        for (ip, advertisements) in &target.prefixes {
            for adv in advertisements {
                let Some(prefix) = aggregate(*ip, adv) else {
                    continue;
                };
                if !is_advertisable(&prefix) {
                    tracing::warn!(%ip, %prefix, "not advertising a multicast or unspecified prefix");
                    continue;
                }
                let entry = merged.entry(prefix).or_default();
                entry.0 = entry.0.max(adv.local_pref);
                for c in &adv.communities {
                    match *c {
                        ferrolb_config::Community::Standard(v) => {
                            entry.1.insert(Community(v));
                        }
                        ferrolb_config::Community::Large(global, local1, local2) => {
                            entry.2.insert(LargeCommunity {
                                global,
                                local1,
                                local2,
                            });
                        }
                    }
                }
            }
        }
        Advertisements {
            routes: merged
                .into_iter()
                .map(|(prefix, (local_pref, c, l))| {
                    let attrs = PrefixAttributes {
                        local_pref,
                        communities: c.into_iter().collect(),
                        large_communities: l.into_iter().collect(),
                    };
                    (prefix, attrs)
                })
                .collect(),
        }
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether nothing is advertised.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

/// `ip` truncated to the advertisement's aggregation length for its family (`None` if the length is out of
/// range, which a validated config never has).
fn aggregate(ip: IpAddr, adv: &BgpAdvertisement) -> Option<IpNet> {
    let len = match ip {
        IpAddr::V4(_) => adv.aggregation_length,
        IpAddr::V6(_) => adv.aggregation_length_v6,
    };
    IpNet::new(ip, len).ok().map(|n| n.trunc())
}

/// Unicast prefixes only: not multicast, not the unspecified address as a host route.
fn is_advertisable(prefix: &IpNet) -> bool {
    let host = prefix.prefix_len() == prefix.max_prefix_len();
    !(prefix.network().is_multicast() || host && prefix.network().is_unspecified())
}

/// What a session contributes to its routes' attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRouteContext {
    /// The session's local address: the NEXT_HOP, and the family advertised.
    pub local_address: IpAddr,
    /// Our ASN.
    pub local_asn: u32,
    /// The peer is in our AS.
    pub ibgp: bool,
}

/// The routes one session advertises (see the module docs).
pub fn session_routes(adv: &Advertisements, cxt: &SessionRouteContext) -> BTreeMap<IpNet, RouteAttributes> {
    let ipv4 = cxt.local_address.is_ipv4();
    let as_path: Vec<u32> = if cxt.ibgp { Vec::new() } else { vec![cxt.local_asn] };
    adv.routes
        .iter()
        .filter(|(prefix, _)| prefix.addr().is_ipv4() == ipv4)
        .map(|(prefix, attrs)| {
            let mut route = RouteAttributes::new(as_path.clone(), cxt.local_address);
            route.local_pref = if cxt.ibgp { attrs.local_pref } else { None };
            route.communities = attrs.communities.clone();
            route.large_communities = attrs.large_communities.clone();
            (*prefix, route)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(len4: u8, len6: u8, local_pref: Option<u32>, communities: &[&str]) -> BgpAdvertisement {
        BgpAdvertisement {
            aggregation_length: len4,
            aggregation_length_v6: len6,
            local_pref,
            communities: communities.iter().map(|c| c.parse().unwrap()).collect(),
        }
    }

    fn target(entries: &[(&str, Vec<BgpAdvertisement>)]) -> BgpTarget {
        BgpTarget {
            prefixes: entries
                .iter()
                .map(|(ip, a)| (ip.parse().unwrap(), a.clone()))
                .collect(),
            ..BgpTarget::default()
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn host_routes_carry_communities_and_local_pref() {
        let t = target(&[
            (
                "203.0.113.10",
                vec![adv(32, 128, Some(200), &["64513:1", "large:64513:1:2"])],
            ),
            ("2001:db8::100", vec![adv(32, 128, None, &["65535:65281"])]),
        ]);
        let a = Advertisements::from_target(&t);
        assert_eq!(a.len(), 2);
        let v4 = &a.routes[&net("203.0.113.10/32")];
        assert_eq!(v4.local_pref, Some(200));
        assert_eq!(v4.communities, [Community::new(64513, 1)]);
        assert_eq!(
            v4.large_communities,
            [LargeCommunity {
                global: 64513,
                local1: 1,
                local2: 2
            }]
        );
        assert_eq!(
            a.routes[&net("2001:db8::100/128")].communities,
            [Community::NO_EXPORT]
        );
    }

    #[test]
    fn aggregation_merges_ips_and_advertisements_into_one_prefix() {
        let t = target(&[
            (
                "203.0.113.10",
                vec![adv(24, 128, Some(100), &["64513:2"]), adv(32, 128, None, &[])],
            ),
            (
                "203.0.113.77",
                vec![adv(24, 128, Some(300), &["64513:1", "64513:2"])],
            ),
            ("2001:db8::1:5", vec![adv(32, 64, None, &[])]),
        ]);
        let a = Advertisements::from_target(&t);
        let keys: Vec<String> = a.routes.keys().map(ToString::to_string).collect();
        assert_eq!(keys, ["203.0.113.0/24", "203.0.113.10/32", "2001:db8::/64"]);
        let agg = &a.routes[&net("203.0.113.0/24")];
        assert_eq!(agg.local_pref, Some(300), "the highest local-pref wins");
        assert_eq!(
            agg.communities,
            [Community::new(64513, 1), Community::new(64513, 2)],
            "union, sorted, deduplicated"
        );
        assert_eq!(a.routes[&net("203.0.113.10/32")], PrefixAttributes::default());
    }

    #[test]
    fn multicast_and_unspecified_prefixes_are_not_advertised() {
        let t = target(&[
            ("224.0.0.1", vec![adv(32, 128, None, &[])]),
            ("0.0.0.0", vec![adv(32, 128, None, &[])]),
            ("ff02::1", vec![adv(32, 128, None, &[])]),
            ("198.51.100.1", vec![adv(32, 128, None, &[])]),
        ]);
        let a = Advertisements::from_target(&t);
        assert_eq!(
            a.routes.keys().copied().collect::<Vec<_>>(),
            [net("198.51.100.1/32")]
        );
    }

    #[test]
    fn ebgp_routes_have_our_asn_and_no_local_pref() {
        let t = target(&[
            ("203.0.113.10", vec![adv(32, 128, Some(200), &["64513:1"])]),
            ("2001:db8::100", vec![adv(32, 128, Some(200), &[])]),
        ]);
        let a = Advertisements::from_target(&t);
        let cxt = SessionRouteContext {
            local_address: "192.0.2.11".parse().unwrap(),
            local_asn: 4_200_000_001,
            ibgp: false,
        };
        let routes = session_routes(&a, &cxt);
        assert_eq!(routes.len(), 1, "IPv4 session: IPv4 prefixes only");
        let r = &routes[&net("203.0.113.10/32")];
        assert_eq!(r.as_path, [4_200_000_001]);
        assert_eq!(r.next_hop, cxt.local_address);
        assert_eq!(r.local_pref, None);
        assert_eq!(r.communities, [Community::new(64513, 1)]);
    }

    #[test]
    fn ibgp_routes_have_an_empty_path_and_local_pref() {
        let t = target(&[
            ("203.0.113.10", vec![adv(32, 128, Some(200), &[])]),
            ("2001:db8::100", vec![adv(32, 128, Some(150), &[])]),
        ]);
        let a = Advertisements::from_target(&t);
        let cxt = SessionRouteContext {
            local_address: "2001:db8::11".parse().unwrap(),
            local_asn: 64512,
            ibgp: true,
        };
        let routes = session_routes(&a, &cxt);
        assert_eq!(routes.len(), 1, "IPv6 session: IPv6 prefixes only");
        let r = &routes[&net("2001:db8::100/128")];
        assert!(r.as_path.is_empty());
        assert_eq!(r.local_pref, Some(150));
        assert_eq!(r.next_hop, cxt.local_address, "IPv6 next hop in MP_REACH");
    }
}
