//! Who announces what: a pure, deterministic function of the cluster view, identical on every speaker.
//!
//! For each load-balancer IP in use ([`elect`]):
//!
//! 1. The IP must lie in a pool of the current config; its pool's protocol decides the rest. An IP outside every
//!    pool (unassigned, foreign, or left over from an old config) is never announced.
//! 2. Services using the IP with no ready (or serving) endpoint do not count; with none left, nobody announces.
//! 3. **layer2**: the eligible nodes are the live members of the speaker cluster, with a Node object, without
//!    `NetworkUnavailable`, without the exclude-from-external-load-balancers label, selected by the pool's node
//!    selectors, and — for each `externalTrafficPolicy: Local` Service on the IP — running a ready endpoint of it.
//!    The owner is the eligible node with the highest [`rendezvous::score`]; it alone answers ARP/NDP. Services
//!    sharing an IP share its owner because the election is per IP. The runner-up is the IP's successor, the
//!    node that takes it over when the owner dies; it watches the owner ([`crate::membership::watch`]).
//! 4. **bgp**: every node passing the same checks except membership (BGP sessions carry their own liveness)
//!    advertises the IP; the result lists them all, for the BGP announcer and for tests.
//!
//! A node that does not announce an IP gets a [`SkipReason`]: its own first failing check, or
//! [`SkipReason::OtherOwner`] when it is eligible but loses the hash.

mod desired;
pub mod rendezvous;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::{Config, NodeSelector, Pool, Protocol, matches_any};

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
}

/// Runs the election over every IP in use.
pub fn elect(input: &ElectionInput<'_>) -> Desired {
    let mut by_ip: BTreeMap<IpAddr, Vec<&ServiceInfo>> = BTreeMap::new();
    for svc in input.services.values() {
        for ip in &svc.ips {
            by_ip.entry(*ip).or_default().push(svc);
        }
    }
    let mut out = Desired {
        bgp: BgpDesired {
            peers: own_peers(input),
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
        let Some(pool) = input.config.pool_containing(ip) else {
            out.decisions.insert(
                ip,
                IpDecision {
                    pool: None,
                    protocol: None,
                    services: keys,
                    owner: None,
                    successor: None,
                    decision: Decision::Skip(SkipReason::NotInPool),
                },
            );
            continue;
        };
        let decision = match pool.protocol {
            Protocol::Layer2 => elect_layer2(input, ip, pool, &services, &keys, &mut out.layer2),
            Protocol::Bgp => elect_bgp(input, ip, pool, &services, &keys, &mut out.bgp),
        };
        out.decisions.insert(ip, decision);
    }
    out
}

/// The node checks shared by both protocols, in the order a [`SkipReason`] reports them.
fn check_node(
    input: &ElectionInput<'_>,
    node: &str,
    selectors: &[NodeSelector],
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
    if !matches_any(selectors, &info.labels) {
        return Err(SkipReason::NodeNotSelected);
    }
    if !local.iter().all(|e| e.ready_nodes.contains(node)) {
        return Err(SkipReason::NoLocalEndpoint);
    }
    Ok(())
}

/// The Services that count for an IP (those with a ready endpoint) and the Local ones' endpoints.
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
    ip: IpAddr,
    pool: &Pool,
    services: &[&ServiceInfo],
    keys: &[ServiceKey],
    layer2: &mut Layer2Desired,
) -> IpDecision {
    let decided = |owner: Option<NodeName>, successor: Option<NodeName>, decision| IpDecision {
        pool: Some(pool.name.clone()),
        protocol: Some(Protocol::Layer2),
        services: keys.to_vec(),
        owner,
        successor,
        decision,
    };
    let Some(local) = serving(input, services) else {
        return decided(None, None, Decision::Skip(SkipReason::NoReadyEndpoints));
    };
    let selectors = &pool.layer2.node_selectors;
    let eligible = input
        .members
        .iter()
        .map(String::as_str)
        .filter(|n| check_node(input, n, selectors, &local, true).is_ok());
    let (owner, successor) = rendezvous::owner_and_successor(ip, eligible);
    let (owner, successor) = (owner.map(str::to_owned), successor.map(str::to_owned));
    let decision = match (&owner, check_node(input, input.node, selectors, &local, true)) {
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
            ip,
            Layer2Announcement {
                pool: pool.name.clone(),
                interfaces: pool.layer2.interfaces.clone(),
                services: keys.to_vec(),
            },
        );
    }
    decided(owner, successor, decision)
}

fn elect_bgp(
    input: &ElectionInput<'_>,
    ip: IpAddr,
    pool: &Pool,
    services: &[&ServiceInfo],
    keys: &[ServiceKey],
    bgp: &mut BgpDesired,
) -> IpDecision {
    let (advertising_nodes, decision) = match serving(input, services) {
        None => (BTreeSet::new(), Decision::Skip(SkipReason::NoReadyEndpoints)),
        Some(local) => {
            let nodes: BTreeSet<NodeName> = input
                .nodes
                .keys()
                .filter(|n| check_node(input, n, &[], &local, false).is_ok())
                .cloned()
                .collect();
            let decision = match check_node(input, input.node, &[], &local, false) {
                Ok(()) => Decision::Announce,
                Err(r) => Decision::Skip(r),
            };
            (nodes, decision)
        }
    };
    bgp.prefixes.insert(
        ip,
        BgpPrefix {
            pool: pool.name.clone(),
            advertisements: pool.bgp_advertisements.clone(),
            services: keys.to_vec(),
            advertising_nodes,
            decision,
        },
    );
    IpDecision {
        pool: Some(pool.name.clone()),
        protocol: Some(Protocol::Bgp),
        services: keys.to_vec(),
        owner: None,
        successor: None,
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

#[cfg(test)]
mod tests;
