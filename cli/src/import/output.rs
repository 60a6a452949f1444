//! The legacy config built from the MetalLB resources, and the ConfigMap manifest around it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Target;
use super::metallb::{BgpAdvertisement, IpAddressPool, LabelSelector, Note, Resources};

/// The config text and, per list entry, the resource it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The legacy `config` text.
    pub text: String,
    pools: Vec<String>,
    peers: Vec<String>,
    bfd: Vec<String>,
}

impl Built {
    /// The resource behind a config path such as `address-pools[2].addresses[0]`.
    pub fn source_of(&self, path: &str) -> Option<&str> {
        let (list, rest) = path.split_once('[')?;
        let index: usize = rest.split_once(']')?.0.parse().ok()?;
        let sources = match list {
            "address-pools" => &self.pools,
            "peers" => &self.peers,
            "bfd-profiles" => &self.bfd,
            _ => return None,
        };
        sources.get(index).map(String::as_str)
    }
}

#[derive(Serialize)]
struct OutConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    peers: Vec<OutPeer>,
    #[serde(rename = "bgp-communities", skip_serializing_if = "BTreeMap::is_empty")]
    communities: BTreeMap<String, String>,
    #[serde(rename = "address-pools", skip_serializing_if = "Vec::is_empty")]
    pools: Vec<OutPool>,
    #[serde(rename = "bfd-profiles", skip_serializing_if = "Vec::is_empty")]
    bfd: Vec<OutBfd>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutBfd {
    name: String,
    #[serde(flatten)]
    numbers: BTreeMap<&'static str, u32>,
    #[serde(skip_serializing_if = "is_false")]
    echo_mode: bool,
    #[serde(skip_serializing_if = "is_false")]
    passive_mode: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutPool {
    name: String,
    protocol: &'static str,
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_assign: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    avoid_buggy_ips: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bgp_advertisements: Vec<OutAdvertisement>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interfaces: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<OutSelector>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
struct OutAdvertisement {
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregation_length: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregation_length_v6: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    localpref: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    communities: Vec<String>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
struct OutSelector {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    match_labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    match_expressions: Vec<OutExpression>,
}

#[derive(Serialize, Clone, PartialEq, Eq)]
struct OutExpression {
    key: String,
    operator: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    values: Vec<String>,
}

impl From<&LabelSelector> for OutSelector {
    fn from(s: &LabelSelector) -> Self {
        OutSelector {
            match_labels: s.match_labels.clone(),
            match_expressions: s
                .match_expressions
                .iter()
                .map(|(key, operator, values)| OutExpression {
                    key: key.clone(),
                    operator: operator.clone(),
                    values: values.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutPeer {
    peer_address: String,
    peer_asn: u32,
    my_asn: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keepalive_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    router_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bfd_profile: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    ebgp_multihop: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<OutSelector>,
}

fn note(notes: &mut Vec<Note>, resource: &str, message: impl Into<String>) {
    notes.push(Note {
        resource: resource.to_owned(),
        message: message.into(),
    });
}

/// The pools in the order ferrolb should try them: pools with a `serviceAllocation.priority` first, by
/// priority (0 last, as MetalLB sorts them), then the others in input order.
fn pool_order(pools: &[IpAddressPool]) -> Vec<&IpAddressPool> {
    let mut ordered: Vec<&IpAddressPool> = pools.iter().collect();
    ordered.sort_by_key(|p| match p.priority {
        Some(n) if n > 0 => (0, n),
        Some(_) => (1, 0),
        None => (2, 0),
    });
    ordered
}

fn advertisement(adv: &BgpAdvertisement, resources: &Resources, notes: &mut Vec<Note>) -> OutAdvertisement {
    let mut communities = Vec::new();
    for c in &adv.communities {
        let literal = c
            .split(':')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && c.split(':').count() == 2;
        let large = c
            .strip_prefix("large:")
            .is_some_and(|rest| rest.split(':').count() == 3);
        if literal || large || resources.communities.contains_key(c) {
            if !communities.contains(c) {
                communities.push(c.clone());
            }
        } else if ferrolb_config::well_known(c).is_some() {
            note(
                notes,
                &adv.meta.id,
                format!("community {c:?} has no Community alias; ferrolb knows it as a well-known name"),
            );
            communities.push(c.clone());
        } else {
            note(
                notes,
                &adv.meta.id,
                format!("community {c:?} is neither a Community alias nor a value: dropped"),
            );
        }
    }
    OutAdvertisement {
        aggregation_length: adv.aggregation_length,
        aggregation_length_v6: adv.aggregation_length_v6,
        localpref: adv.local_pref,
        communities,
    }
}

/// Builds the legacy config from `resources`, noting what cannot be expressed.
pub fn build(resources: &Resources, notes: &mut Vec<Note>) -> Built {
    for ad in resources
        .l2
        .iter()
        .map(|a| (&a.meta.id, &a.pools))
        .chain(resources.bgp.iter().map(|a| (&a.meta.id, &a.pools)))
    {
        for name in &ad.1.names {
            if !resources.pools.iter().any(|p| p.meta.name == *name) {
                note(
                    notes,
                    ad.0,
                    format!("spec.ipAddressPools names {name:?}, which is not in the input"),
                );
            }
        }
    }
    let mut pools = Vec::new();
    let mut pool_sources = Vec::new();
    for pool in pool_order(&resources.pools) {
        let l2: Vec<_> = resources.l2.iter().filter(|a| a.pools.selects(pool)).collect();
        let bgp: Vec<_> = resources.bgp.iter().filter(|a| a.pools.selects(pool)).collect();
        let id = &pool.meta.id;
        if let Some(p) = pool.priority.filter(|p| *p != 0) {
            note(
                notes,
                id,
                format!(
                    "spec.serviceAllocation.priority {p} is expressed by the pool's position in the list"
                ),
            );
        }
        let auto_assign = pool.auto_assign && !pool.restricted;
        if pool.restricted {
            let what = if pool.auto_assign {
                "imported with auto-assign: false, so only Services that ask for it (annotation \
                 ferrolb.io/address-pool) get its addresses"
            } else {
                "its auto-assign is off already; any Service that asks for it (annotation \
                 ferrolb.io/address-pool) gets its addresses"
            };
            note(
                notes,
                id,
                format!(
                    "spec.serviceAllocation limits the pool to some namespaces or Services, which ferrolb's \
                     config cannot express: {what}"
                ),
            );
        }
        let mut out = OutPool {
            name: pool.meta.name.clone(),
            protocol: "layer2",
            addresses: pool.addresses.clone(),
            auto_assign: (!auto_assign).then_some(false),
            avoid_buggy_ips: pool.avoid_buggy_ips,
            bgp_advertisements: Vec::new(),
            interfaces: Vec::new(),
            node_selectors: Vec::new(),
        };
        match (l2.is_empty(), bgp.is_empty()) {
            (true, true) => note(
                notes,
                id,
                "no L2Advertisement or BGPAdvertisement selects the pool (MetalLB assigns its addresses but \
                 announces none): imported as layer2",
            ),
            (false, false) => {
                let names: Vec<&str> = l2.iter().map(|a| a.meta.id.as_str()).collect();
                note(
                    notes,
                    id,
                    format!(
                        "announced both by layer2 ({}) and BGP: a ferrolb pool is announced one way: imported as \
                         bgp, the layer2 announcement dropped",
                        names.join(", ")
                    ),
                );
            }
            _ => {}
        }
        if bgp.is_empty() {
            // Node and interface restrictions: the union over the advertisements (one without any means all).
            if !l2.iter().any(|a| a.node_selectors.is_empty()) {
                for a in &l2 {
                    for s in &a.node_selectors {
                        let s = OutSelector::from(s);
                        if !out.node_selectors.contains(&s) {
                            out.node_selectors.push(s);
                        }
                    }
                }
            }
            if !l2.iter().any(|a| a.interfaces.is_empty()) {
                for a in &l2 {
                    for i in &a.interfaces {
                        if !out.interfaces.contains(i) {
                            out.interfaces.push(i.clone());
                        }
                    }
                }
            }
        } else {
            out.protocol = "bgp";
            for a in &bgp {
                let adv = advertisement(a, resources, notes);
                if !out.bgp_advertisements.contains(&adv) {
                    out.bgp_advertisements.push(adv);
                }
            }
        }
        pools.push(out);
        pool_sources.push(id.clone());
    }
    let peers: Vec<OutPeer> = resources
        .peers
        .iter()
        .map(|p| OutPeer {
            peer_address: p.address.clone(),
            peer_asn: p.peer_asn,
            my_asn: p.my_asn,
            peer_port: p.port,
            source_address: p.source_address.clone(),
            hold_time: p.hold_time.clone(),
            keepalive_time: p.keepalive_time.clone(),
            router_id: p.router_id.clone(),
            password: p.password.clone(),
            bfd_profile: p.bfd_profile.clone(),
            ebgp_multihop: p.ebgp_multihop,
            node_selectors: p.node_selectors.iter().map(OutSelector::from).collect(),
        })
        .collect();
    let bfd = resources
        .bfd
        .iter()
        .map(|b| OutBfd {
            name: b.meta.name.clone(),
            numbers: b.numbers.clone(),
            echo_mode: b.echo_mode,
            passive_mode: b.passive_mode,
        })
        .collect();
    let config = OutConfig {
        peers,
        communities: resources
            .communities
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect(),
        pools,
        bfd,
    };
    // Plain structs of strings, numbers and lists always serialize; an empty config is the fallback.
    let text = serde_saphyr::to_string(&config).unwrap_or_default();
    Built {
        text,
        pools: pool_sources,
        peers: resources.peers.iter().map(|p| p.meta.id.clone()).collect(),
        bfd: resources.bfd.iter().map(|b| b.meta.id.clone()).collect(),
    }
}

/// The ConfigMap manifest holding `config`.
pub fn config_map(config: &str, target: &Target, count: usize) -> String {
    let mut out = format!(
        "# Converted by `ferrolb import-metallb` from {count} MetalLB resource{}; check what it reported.\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {}\n  namespace: {}\ndata:\n",
        if count == 1 { "" } else { "s" },
        target.name,
        target.namespace
    );
    if config.trim().is_empty() {
        out.push_str("  config: \"\"\n");
        return out;
    }
    out.push_str("  config: |\n");
    for line in config.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
