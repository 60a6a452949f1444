//! Who announces what: a pure, deterministic function of the cluster view, identical on every speaker.
//!
//! For each load-balancer IP in use ([`elect`]):
//!
//! 1. The IP must lie in a pool of the current config; an IP outside every pool (unassigned, foreign, or left
//!    over from an old config) is never announced.
//! 2. Services using the IP with no ready (or serving) endpoint do not count; with none left, nobody announces.
//! 3. The advertisements that apply are those selecting the IP's pool and every Service using the IP
//!    (`serviceSelectors`); the IP is announced in layer2 mode when a layer2 advertisement applies, in BGP
//!    mode when a BGP advertisement applies, in both when both do, and not at all when none does.
//! 4. **layer2**: the eligible nodes are the live members of the speaker cluster, with a Node object, without
//!    `NetworkUnavailable`, without the exclude-from-external-load-balancers label, selected by the node
//!    selectors of at least one applying layer2 advertisement, and — for each `externalTrafficPolicy: Local`
//!    Service on the IP — running a ready endpoint of it. The owner is the eligible node with the highest
//!    [`rendezvous::score`]; it alone answers ARP/NDP, on the interfaces of the applying advertisements that
//!    select it (all eligible interfaces if one of them names none). Services sharing an IP share its owner
//!    because the election is per IP. The runner-up is the IP's successor, the node that takes it over when
//!    the owner dies; it watches the owner ([`crate::membership::watch`]).
//! 5. **bgp**: every node passing the same checks except membership (BGP sessions carry their own liveness),
//!    selected by at least one applying BGP advertisement, advertises the IP with the attributes of the
//!    applying advertisements that select it; the result lists every such node, for the BGP announcer and
//!    for tests.
//!
//! A node that does not announce an IP gets a [`SkipReason`] per mode: its own first failing check, or
//! [`SkipReason::OtherOwner`] when it is eligible but loses the hash; [`IpDecision::decision`] sums them up
//! (announced in some mode, or the first mode's reason).

mod desired;
pub mod rendezvous;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::{BgpAdvertisement, Config, L2Advertisement, Pool, Protocol};

pub use desired::{
    BgpDesired, BgpPrefix, Decision, Desired, IpDecision, Layer2Announcement, Layer2Desired, SkipReason,
};

use crate::model::{Endpoints, NodeInfo, NodeName, ServiceInfo, ServiceKey, TrafficPolicy};

/// Everything the election reads.
#[derive(Debug, Clone, Copy)]
pub struct ElectionInput<'a> {
    /// This node's name.
    pub node: &'a str,
    /// The current (valid) config.
    pub config: &'a Config,
    /// ferrolb's Services with load-balancer IPs.
    pub services: &'a BTreeMap<ServiceKey, ServiceInfo>,
    /// Endpoints per Service (absent: none).
    pub endpoints: &'a BTreeMap<ServiceKey, Endpoints>,
    /// Every Node.
    pub nodes: &'a BTreeMap<NodeName, NodeInfo>,
    /// Live members of the speaker cluster, this node included when it is live.
    pub members: &'a BTreeSet<NodeName>,
}

impl<'a> ElectionInput<'a> {
    fn endpoints(&self, key: &ServiceKey) -> Option<&'a Endpoints> {
        let all: &'a BTreeMap<ServiceKey, Endpoints> = self.endpoints;
        all.get(key)
    }

    fn has_ready(&self, svc: &ServiceInfo) -> bool {
        self.endpoints(&svc.key).is_some_and(|e| e.any_ready)
    }

    fn labels(&self, node: &str) -> Option<&'a BTreeMap<String, String>> {
        let nodes: &'a BTreeMap<NodeName, NodeInfo> = self.nodes;
        nodes.get(node).map(|n| &n.labels)
    }
}

/// One IP in use, with what the decisions about it read.
struct IpContext<'a, 'b> {
    ip: IpAddr,
    pool: &'a Pool,
    keys: &'b [ServiceKey],
    /// The endpoints of the Local Services with a ready endpoint (each node must run one of each).
    local: Vec<&'a Endpoints>,
}

/// Runs the election over every IP in use.
pub fn elect(input: &ElectionInput<'_>) -> Desired {
    let mut by_ip: BTreeMap<IpAddr, Vec<&ServiceInfo>> = BTreeMap::new();
    for svc in input.services.values() {
        for ip in &svc.ips {
            by_ip.entry(*ip).or_default().push(svc);
        }
    }
    let peers = own_peers(input);
    let mut out = Desired {
        bgp: BgpDesired {
            bfd_profiles: input
                .config
                .bfd_profiles
                .iter()
                .filter(|b| peers.iter().any(|p| p.bfd_profile.as_ref() == Some(&b.name)))
                .cloned()
                .collect(),
            peers,
            node_addresses: input
                .nodes
                .get(input.node)
                .map(|n| n.addresses.clone())
                .unwrap_or_default(),
            ..BgpDesired::default()
        },
        ..Desired::default()
    };
    for (ip, services) in by_ip {
        let keys: Vec<ServiceKey> = {
            let mut k: Vec<ServiceKey> = services.iter().map(|s| s.key.clone()).collect();
            k.sort();
            k
        };
        let mut decided = IpDecision {
            pool: None,
            services: keys.clone(),
            owner: None,
            successor: None,
            layer2: None,
            bgp: None,
            decision: Decision::Skip(SkipReason::NotInPool),
        };
        let Some(pool) = input.config.pool_containing(ip) else {
            out.decisions.insert(ip, decided);
            continue;
        };
        decided.pool = Some(pool.name.clone());
        let selects_all =
            |selects: &dyn Fn(&BTreeMap<String, String>) -> bool| services.iter().all(|s| selects(&s.labels));
        let l2: Vec<&L2Advertisement> = input
            .config
            .l2_advertisements_for(&pool.name)
            .filter(|a| selects_all(&|l| a.selects_service(l)))
            .collect();
        let bgp: Vec<&BgpAdvertisement> = input
            .config
            .bgp_advertisements_for(&pool.name)
            .filter(|a| selects_all(&|l| a.selects_service(l)))
            .collect();
        if l2.is_empty() && bgp.is_empty() {
            decided.decision = Decision::Skip(SkipReason::NotAdvertised);
            out.decisions.insert(ip, decided);
            continue;
        }
        let Some(local) = serving(input, &services) else {
            let no_endpoints = Some(Decision::Skip(SkipReason::NoReadyEndpoints));
            decided.layer2 = no_endpoints.filter(|_| !l2.is_empty());
            decided.bgp = no_endpoints.filter(|_| !bgp.is_empty());
            decided.decision = Decision::Skip(SkipReason::NoReadyEndpoints);
            if !bgp.is_empty() {
                out.bgp.prefixes.insert(
                    ip,
                    bgp_prefix(pool, &keys, BTreeSet::new(), Vec::new(), decided.decision),
                );
            }
            out.decisions.insert(ip, decided);
            continue;
        };
        let cx = IpContext {
            ip,
            pool,
            keys: &keys,
            local,
        };
        if !l2.is_empty() {
            let (owner, successor, decision) = elect_layer2(input, &cx, &l2, &mut out.layer2);
            decided.owner = owner;
            decided.successor = successor;
            decided.layer2 = Some(decision);
        }
        if !bgp.is_empty() {
            decided.bgp = Some(elect_bgp(input, &cx, &bgp, &mut out.bgp));
        }
        decided.decision = [decided.layer2, decided.bgp]
            .into_iter()
            .flatten()
            .find(|d| d.is_announce())
            .or(decided.layer2)
            .or(decided.bgp)
            .unwrap_or(Decision::Skip(SkipReason::NotAdvertised));
        out.decisions.insert(ip, decided);
    }
    out
}

/// The node checks shared by both modes, in the order a [`SkipReason`] reports them. `selected` says
/// whether an applying advertisement selects the node (given its labels).
fn check_node(
    input: &ElectionInput<'_>,
    node: &str,
    selected: &dyn Fn(&BTreeMap<String, String>) -> bool,
    local: &[&Endpoints],
    needs_membership: bool,
) -> Result<(), SkipReason> {
    let Some(info) = input.nodes.get(node) else {
        return Err(SkipReason::UnknownNode);
    };
    if needs_membership && !input.members.contains(node) {
        return Err(SkipReason::NotMember);
    }
    if info.network_unavailable {
        return Err(SkipReason::NetworkUnavailable);
    }
    if info.excluded_from_lb() {
        return Err(SkipReason::ExcludedByLabel);
    }
    if !selected(&info.labels) {
        return Err(SkipReason::NodeNotSelected);
    }
    if !local.iter().all(|e| e.ready_nodes.contains(node)) {
        return Err(SkipReason::NoLocalEndpoint);
    }
    Ok(())
}

/// The Local Services' endpoints among the Services that count for an IP (those with a ready endpoint);
/// `None` when none counts.
fn serving<'a>(input: &ElectionInput<'a>, services: &[&'a ServiceInfo]) -> Option<Vec<&'a Endpoints>> {
    let ready: Vec<&ServiceInfo> = services.iter().copied().filter(|s| input.has_ready(s)).collect();
    if ready.is_empty() {
        return None;
    }
    Some(
        ready
            .iter()
            .filter(|s| s.traffic_policy == TrafficPolicy::Local)
            .filter_map(|s| input.endpoints(&s.key))
            .collect(),
    )
}

fn elect_layer2(
    input: &ElectionInput<'_>,
    cx: &IpContext<'_, '_>,
    advs: &[&L2Advertisement],
    layer2: &mut Layer2Desired,
) -> (Option<NodeName>, Option<NodeName>, Decision) {
    let selected = |labels: &BTreeMap<String, String>| advs.iter().any(|a| a.selects_node(labels));
    let eligible = input
        .members
        .iter()
        .map(String::as_str)
        .filter(|n| check_node(input, n, &selected, &cx.local, true).is_ok());
    let (owner, successor) = rendezvous::owner_and_successor(cx.ip, eligible);
    let (owner, successor) = (owner.map(str::to_owned), successor.map(str::to_owned));
    let decision = match (&owner, check_node(input, input.node, &selected, &cx.local, true)) {
        (Some(o), Ok(())) if o == input.node => Decision::Announce,
        (_, Err(reason)) => Decision::Skip(reason),
        (Some(_), Ok(())) => Decision::Skip(SkipReason::OtherOwner),
        // unreachable in practice: this node is eligible, so there is an owner
        (None, Ok(())) => Decision::Skip(SkipReason::NoEligibleNode),
    };
    let decision = match (decision, &owner) {
        // a node that cannot announce reports "nobody can" when that is the real problem
        (Decision::Skip(SkipReason::NoLocalEndpoint), None) => Decision::Skip(SkipReason::NoEligibleNode),
        (d, _) => d,
    };
    if decision.is_announce() {
        layer2.ips.insert(
            cx.ip,
            Layer2Announcement {
                pool: cx.pool.name.clone(),
                interfaces: interfaces_for(input, advs),
                services: cx.keys.to_vec(),
            },
        );
    }
    (owner, successor, decision)
}

/// The interfaces this node answers on: those of the applying advertisements that select it, all eligible
/// interfaces (empty) when one of them names none.
fn interfaces_for(input: &ElectionInput<'_>, advs: &[&L2Advertisement]) -> Vec<String> {
    let labels = input.labels(input.node);
    let mine = advs.iter().filter(|a| labels.is_some_and(|l| a.selects_node(l)));
    let mut out: Vec<String> = Vec::new();
    for a in mine {
        if a.interfaces.is_empty() {
            return Vec::new();
        }
        for i in &a.interfaces {
            if !out.contains(i) {
                out.push(i.clone());
            }
        }
    }
    out
}

fn elect_bgp(
    input: &ElectionInput<'_>,
    cx: &IpContext<'_, '_>,
    advs: &[&BgpAdvertisement],
    bgp: &mut BgpDesired,
) -> Decision {
    let selected = |labels: &BTreeMap<String, String>| advs.iter().any(|a| a.selects_node(labels));
    let nodes: BTreeSet<NodeName> = input
        .nodes
        .keys()
        .filter(|n| check_node(input, n, &selected, &cx.local, false).is_ok())
        .cloned()
        .collect();
    let decision = match check_node(input, input.node, &selected, &cx.local, false) {
        Ok(()) => Decision::Announce,
        Err(r) => Decision::Skip(r),
    };
    let labels = input.labels(input.node);
    let mine: Vec<BgpAdvertisement> = advs
        .iter()
        .filter(|a| labels.is_some_and(|l| a.selects_node(l)))
        .map(|a| (*a).clone())
        .collect();
    bgp.prefixes
        .insert(cx.ip, bgp_prefix(cx.pool, cx.keys, nodes, mine, decision));
    decision
}

fn bgp_prefix(
    pool: &Pool,
    keys: &[ServiceKey],
    advertising_nodes: BTreeSet<NodeName>,
    advertisements: Vec<BgpAdvertisement>,
    decision: Decision,
) -> BgpPrefix {
    BgpPrefix {
        pool: pool.name.clone(),
        advertisements,
        services: keys.to_vec(),
        advertising_nodes,
        decision,
    }
}

fn own_peers(input: &ElectionInput<'_>) -> Vec<ferrolb_config::Peer> {
    let Some(info) = input.nodes.get(input.node) else {
        return Vec::new();
    };
    input
        .config
        .peers
        .iter()
        .filter(|p| p.selects_node(&info.labels))
        .cloned()
        .collect()
}

/// The modes an IP's decision covers (for logs and metrics).
pub fn protocols(d: &IpDecision) -> Vec<Protocol> {
    let mut out = Vec::new();
    if d.layer2.is_some() {
        out.push(Protocol::Layer2);
    }
    if d.bgp.is_some() {
        out.push(Protocol::Bgp);
    }
    out
}

#[cfg(test)]
mod tests;
