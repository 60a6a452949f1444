//! What BGP mode should do, and the routes each session advertises (pure).
//!
//! [`BgpTarget`] is the whole desired state handed to [`super::BgpSpeaker::set`]: this node's addresses, the
//! peers selected for it and the service IPs it advertises, each with its pool's bgp-advertisements.
//!
//! [`Advertisements::from_target`] turns the IPs into prefixes, once for every session: each advertisement
//! of an IP yields the IP truncated to the advertisement's aggregation length (`aggregation-length` for
//! IPv4, `aggregation-length-v6` for IPv6), for the peers the advertisement names (all when it names none).
//! Multicast and unspecified prefixes are dropped with a warning: no router would take them.
//!
//! [`session_routes`] picks, for one session, the prefixes some advertisement sends to its peer; when several
//! IPs or advertisements yield the same prefix for the peer, it is advertised once with the union of their
//! communities (standard and large, sorted) and the highest local-pref. It adds what depends on the session
//! (RFC 4271 §5.1): NEXT_HOP is the session's local address (the IPv6 one, in MP_REACH, on an IPv6 session);
//! AS_PATH is empty on iBGP and `[my-asn]` on eBGP; LOCAL_PREF is sent on iBGP only, and always there (RFC 4271
//! §5.1.5 requires it in every UPDATE to an internal peer; FRR treat-as-withdraws a route without it): the
//! advertisement's `localPref`, else [`DEFAULT_LOCAL_PREF`]. A session advertises only prefixes of its own
//! address family, unless the peer has `dualStackAddressFamily`: then the other family's
//! prefixes go too, with the node's own address of that family as next hop ([`other_family_next_hop`]): IPv6
//! prefixes over an IPv4 session in MP_REACH with the node's global IPv6 address, IPv4 prefixes over an IPv6
//! session with the node's IPv4 address as NEXT_HOP — what BIRD 2 and FRR 8 accept and install (verified in
//! the lab). An IPv4-mapped IPv6 next hop (`::ffff:192.0.2.11`) is not used: BIRD drops such routes and FRR
//! keeps them but installs nothing. A node without an address of the other family sends none of its routes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::{BfdProfile, BgpAdvertisement, Peer};
use ferrolb_proto::bgp::{Community, LargeCommunity, RouteAttributes};
use ipnet::IpNet;

/// LOCAL_PREF of a route to an iBGP peer when no advertisement of its prefix sets `localPref`: the usual
/// default of BGP implementations (FRR, BIRD), and what MetalLB in FRR mode sends.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

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
    /// The BFD profiles the peers name, by name.
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
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

/// The peers an advertisement goes to: their names, sorted (empty: every peer).
pub type PeerScope = Vec<String>;

/// Every prefix this node advertises, with its session-independent attributes per peer scope.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advertisements {
    /// Prefix → (peers → attributes, merged over the advertisements with that scope), IPv4 prefixes first.
    pub routes: BTreeMap<IpNet, BTreeMap<PeerScope, PrefixAttributes>>,
}

impl Advertisements {
    /// The prefixes for `target`'s service IPs (see the module docs).
    pub fn from_target(target: &BgpTarget) -> Advertisements {
        let mut merged: BTreeMap<IpNet, BTreeMap<PeerScope, Merged>> = BTreeMap::new();
        for (ip, advertisements) in &target.prefixes {
            for adv in advertisements {
                let Some(prefix) = aggregate(*ip, adv) else {
                    continue;
                };
                if !is_advertisable(&prefix) {
                    tracing::warn!(%ip, %prefix, "not advertising a multicast or unspecified prefix");
                    continue;
                }
                let mut scope = adv.peers.clone();
                scope.sort();
                scope.dedup();
                let entry = merged.entry(prefix).or_default().entry(scope).or_default();
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
        let attributes = |(local_pref, c, l): Merged| PrefixAttributes {
            local_pref,
            communities: c.into_iter().collect(),
            large_communities: l.into_iter().collect(),
        };
        Advertisements {
            routes: merged
                .into_iter()
                .map(|(prefix, scopes)| {
                    let scopes = scopes.into_iter().map(|(s, m)| (s, attributes(m))).collect();
                    (prefix, scopes)
                })
                .collect(),
        }
    }

    /// The attributes of `prefix` for the peer named `peer`: merged over every scope that includes it
    /// (`None` when no advertisement of it goes to that peer).
    pub fn for_peer(&self, prefix: &IpNet, peer: &str) -> Option<PrefixAttributes> {
        let mut out: Option<PrefixAttributes> = None;
        for (scope, attrs) in self.routes.get(prefix)? {
            if !(scope.is_empty() || scope.iter().any(|p| p == peer)) {
                continue;
            }
            let o = out.get_or_insert_with(PrefixAttributes::default);
            o.local_pref = o.local_pref.max(attrs.local_pref);
            o.communities.extend(attrs.communities.iter().copied());
            o.large_communities
                .extend(attrs.large_communities.iter().copied());
        }
        if let Some(o) = out.as_mut() {
            o.communities.sort();
            o.communities.dedup();
            o.large_communities.sort();
            o.large_communities.dedup();
        }
        out
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
pub struct SessionRouteContext<'a> {
    /// The peer's name (advertisements select peers by it).
    pub peer: &'a str,
    /// The session's local address: the NEXT_HOP of its own family's prefixes.
    pub local_address: IpAddr,
    /// The NEXT_HOP of the other family's prefixes, when the session carries both
    /// (`dualStackAddressFamily`); `None`: only its own family's.
    pub other_family_next_hop: Option<IpAddr>,
    /// Our ASN.
    pub local_asn: u32,
    /// The peer is in our AS.
    pub ibgp: bool,
}

/// The routes one session advertises (see the module docs).
pub fn session_routes(
    adv: &Advertisements,
    cxt: &SessionRouteContext<'_>,
) -> BTreeMap<IpNet, RouteAttributes> {
    let ipv4 = cxt.local_address.is_ipv4();
    let as_path: Vec<u32> = if cxt.ibgp { Vec::new() } else { vec![cxt.local_asn] };
    adv.routes
        .keys()
        .filter_map(|prefix| {
            let next_hop = if prefix.addr().is_ipv4() == ipv4 {
                cxt.local_address
            } else {
                cxt.other_family_next_hop?
            };
            let attrs = adv.for_peer(prefix, cxt.peer)?;
            let mut route = RouteAttributes::new(as_path.clone(), next_hop);
            route.local_pref = cxt.ibgp.then(|| attrs.local_pref.unwrap_or(DEFAULT_LOCAL_PREF));
            route.communities = attrs.communities;
            route.large_communities = attrs.large_communities;
            Some((*prefix, route))
        })
        .collect()
}

/// The next hop of the other family's prefixes on a dual-stack session from `local` (see the module docs):
/// the first global unicast address of the other family among `node_addresses`.
pub fn other_family_next_hop(local: IpAddr, node_addresses: &[IpAddr]) -> Option<IpAddr> {
    let usable = |a: &&IpAddr| {
        !a.is_loopback()
            && !a.is_unspecified()
            && !a.is_multicast()
            && match a {
                IpAddr::V4(v4) => !v4.is_link_local(),
                IpAddr::V6(v6) => !v6.is_unicast_link_local(),
            }
    };
    node_addresses
        .iter()
        .filter(usable)
        .find(|a| a.is_ipv6() != local.is_ipv6())
        .copied()
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
            ..BgpAdvertisement::with_defaults("adv", vec!["pool".into()])
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
        let v4 = &a.for_peer(&net("203.0.113.10/32"), "peer1").unwrap();
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
            a.for_peer(&net("2001:db8::100/128"), "peer1")
                .unwrap()
                .communities,
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
        let agg = &a.for_peer(&net("203.0.113.0/24"), "peer1").unwrap();
        assert_eq!(agg.local_pref, Some(300), "the highest local-pref wins");
        assert_eq!(
            agg.communities,
            [Community::new(64513, 1), Community::new(64513, 2)],
            "union, sorted, deduplicated"
        );
        assert_eq!(
            a.for_peer(&net("203.0.113.10/32"), "peer1").unwrap(),
            PrefixAttributes::default()
        );
    }

    #[test]
    fn advertisements_go_to_the_peers_they_name() {
        let to = |peers: &[&str], lp: u32, c: &str| BgpAdvertisement {
            peers: peers.iter().map(|p| p.to_string()).collect(),
            ..adv(32, 128, Some(lp), &[c])
        };
        let t = target(&[
            (
                "203.0.113.10",
                vec![to(&["a"], 100, "64513:1"), to(&["b", "a"], 200, "64513:2")],
            ),
            ("203.0.113.11", vec![to(&["b"], 300, "64513:3")]),
            ("203.0.113.12", vec![to(&[], 50, "64513:4")]),
        ]);
        let a = Advertisements::from_target(&t);
        let cxt = |peer| SessionRouteContext {
            peer,
            local_address: "192.0.2.11".parse().unwrap(),
            other_family_next_hop: None,
            local_asn: 64512,
            ibgp: true,
        };
        let to_a = session_routes(&a, &cxt("a"));
        assert_eq!(to_a.len(), 2, "{to_a:?}");
        let r = &to_a[&net("203.0.113.10/32")];
        assert_eq!(r.local_pref, Some(200), "merged over the scopes that include a");
        assert_eq!(
            r.communities,
            [Community::new(64513, 1), Community::new(64513, 2)]
        );
        assert!(
            to_a.contains_key(&net("203.0.113.12/32")),
            "no peers named: every peer"
        );
        let to_b = session_routes(&a, &cxt("b"));
        assert_eq!(
            to_b.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["203.0.113.10/32", "203.0.113.11/32", "203.0.113.12/32"]
        );
        assert_eq!(
            to_b[&net("203.0.113.10/32")].communities,
            [Community::new(64513, 2)]
        );
        let to_c = session_routes(&a, &cxt("c"));
        assert_eq!(
            to_c.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["203.0.113.12/32"]
        );
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
            peer: "peer1",
            local_address: "192.0.2.11".parse().unwrap(),
            other_family_next_hop: None,
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
            peer: "peer1",
            local_address: "2001:db8::11".parse().unwrap(),
            other_family_next_hop: None,
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

    #[test]
    fn dual_stack_sessions_carry_the_other_family_with_its_next_hop() {
        let t = target(&[
            ("203.0.113.10", vec![adv(32, 128, None, &[])]),
            ("2001:db8::100", vec![adv(32, 128, None, &[])]),
        ]);
        let a = Advertisements::from_target(&t);
        let v6_node: IpAddr = "2001:db8::11".parse().unwrap();
        let cxt = SessionRouteContext {
            peer: "peer1",
            local_address: "192.0.2.11".parse().unwrap(),
            other_family_next_hop: Some(v6_node),
            local_asn: 64513,
            ibgp: false,
        };
        let routes = session_routes(&a, &cxt);
        assert_eq!(routes.len(), 2, "both families on one IPv4 session");
        assert_eq!(routes[&net("203.0.113.10/32")].next_hop, cxt.local_address);
        assert_eq!(routes[&net("2001:db8::100/128")].next_hop, v6_node);
    }

    #[test]
    fn the_other_family_next_hop_is_the_node_global_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let node = [ip("fe80::1"), ip("192.0.2.11"), ip("2001:db8::11")];
        assert_eq!(
            other_family_next_hop(ip("192.0.2.11"), &node),
            Some(ip("2001:db8::11"))
        );
        assert_eq!(
            other_family_next_hop(ip("2001:db8::11"), &node),
            Some(ip("192.0.2.11"))
        );
        assert_eq!(
            other_family_next_hop(ip("192.0.2.11"), &[ip("192.0.2.11"), ip("fe80::1")]),
            None,
            "no global IPv6 address: no IPv6 routes (an IPv4-mapped next hop is installed by neither BIRD nor FRR)"
        );
        assert_eq!(
            other_family_next_hop(ip("2001:db8::11"), &[ip("2001:db8::11")]),
            None
        );
    }

    #[test]
    fn ibgp_routes_always_carry_local_pref() {
        // no advertisement sets localPref: iBGP still gets LOCAL_PREF (RFC 4271 §5.1.5), eBGP none
        let t = target(&[("203.0.113.10", vec![adv(32, 128, None, &[])])]);
        let a = Advertisements::from_target(&t);
        let mut cxt = SessionRouteContext {
            peer: "peer1",
            local_address: "192.0.2.11".parse().unwrap(),
            other_family_next_hop: None,
            local_asn: 64512,
            ibgp: true,
        };
        let ibgp = session_routes(&a, &cxt);
        assert_eq!(ibgp[&net("203.0.113.10/32")].local_pref, Some(DEFAULT_LOCAL_PREF));
        cxt.ibgp = false;
        assert_eq!(session_routes(&a, &cxt)[&net("203.0.113.10/32")].local_pref, None);
    }
}
