//! Renders a [`Config`] back to the legacy `config` text, when the legacy schema can express it: each pool
//! announced by exactly one layer2 advertisement or by BGP advertisements only, each advertisement for one
//! pool, without Service selection (and, for BGP, without node or peer selection), no `serviceAllocation`, and
//! inline passwords. Otherwise [`NotLegacy`] says what cannot be expressed.
//!
//! Invariant: `parse(&render(&c)?) == Ok(c)` for every config `c` that `parse` returned (a property test
//! checks it). Values equal to their defaults are left out, address ranges are written as a CIDR when they
//! are exactly one, communities as literal values (the alias table is kept under `bgp-communities`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::duration::format_secs;
use crate::model::{
    BfdProfile, BgpAdvertisement, Config, DEFAULT_AGGREGATION_LENGTH, DEFAULT_AGGREGATION_LENGTH_V6,
    DEFAULT_BFD_DETECT_MULTIPLIER, DEFAULT_BFD_ECHO_INTERVAL_MS, DEFAULT_BFD_INTERVAL_MS,
    DEFAULT_BFD_MINIMUM_TTL, DEFAULT_HOLD_TIME, DEFAULT_PEER_PORT, L2Advertisement, PasswordSource, Peer,
    Pool,
};
use crate::selector::LabelSelector;

/// Why a config cannot be written in the legacy schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the legacy ConfigMap schema cannot express this: {0}")]
pub struct NotLegacy(pub String);

/// The config as legacy YAML (the ConfigMap's `config` value).
pub fn render(config: &Config) -> Result<String, NotLegacy> {
    let mut pools = Vec::new();
    for pool in &config.pools {
        pools.push(legacy_pool(config, pool)?);
    }
    for peer in &config.peers {
        if let Some(p) = &peer.password
            && p.source != PasswordSource::Inline
        {
            return Err(NotLegacy(format!(
                "peer {} takes its password from a Secret",
                peer.name
            )));
        }
        let why = if peer.connect_time.is_some() {
            Some("has a connect time")
        } else if !peer.graceful_restart {
            Some("has graceful restart off (legacy peers always have it)")
        } else if peer.dual_stack_address_family {
            Some("carries both address families")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(NotLegacy(format!("peer {} {why}", peer.name)));
        }
    }
    let out = Out {
        peers: config.peers.iter().map(OutPeer::from).collect(),
        pools,
        communities: config
            .communities
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_string()))
            .collect(),
        bfd_profiles: config.bfd_profiles.iter().map(OutBfd::from).collect(),
    };
    if out.peers.is_empty()
        && out.pools.is_empty()
        && out.communities.is_empty()
        && out.bfd_profiles.is_empty()
    {
        return Ok(String::new());
    }
    serde_saphyr::to_string(&out).map_err(|e| NotLegacy(format!("YAML output failed: {e}")))
}

/// A pool with its announcement folded in, as the legacy schema writes it.
fn legacy_pool<'a>(config: &'a Config, pool: &'a Pool) -> Result<OutPool<'a>, NotLegacy> {
    let l2: Vec<&L2Advertisement> = config.l2_advertisements_for(&pool.name).collect();
    let bgp: Vec<&BgpAdvertisement> = config.bgp_advertisements_for(&pool.name).collect();
    let fail = |why: &str| Err(NotLegacy(format!("pool {}: {why}", pool.name)));
    if pool.service_allocation.is_some() {
        return fail("it has a serviceAllocation");
    }
    let single = |pools: &[String]| pools.len() == 1;
    let (protocol, advertisements, l2_adv) = match (l2.as_slice(), bgp.is_empty()) {
        ([], true) => return fail("no advertisement announces it"),
        ([adv], true)
            if single(&adv.pools)
                && adv.service_selectors.is_empty()
                && adv.preferred_node_selectors.is_empty() =>
        {
            ("layer2", Vec::new(), Some(*adv))
        }
        ([], false)
            if bgp.iter().all(|a| {
                single(&a.pools)
                    && a.node_selectors.is_empty()
                    && a.peers.is_empty()
                    && a.service_selectors.is_empty()
            }) =>
        {
            let only_default =
                bgp.len() == 1 && bgp[0].same_attributes(&BgpAdvertisement::with_defaults("", Vec::new()));
            let advs = if only_default {
                Vec::new()
            } else {
                bgp.iter().map(|a| OutAdvertisement::from(*a)).collect()
            };
            ("bgp", advs, None)
        }
        _ => return fail("its advertisements select several pools, nodes, peers or Services, or mix modes"),
    };
    Ok(OutPool {
        name: &pool.name,
        protocol,
        addresses: pool.addresses.iter().map(ToString::to_string).collect(),
        auto_assign: (!pool.auto_assign).then_some(false),
        avoid_buggy_ips: pool.avoid_buggy_ips,
        bgp_advertisements: advertisements,
        interfaces: l2_adv.map_or(&[][..], |a| &a.interfaces),
        node_selectors: l2_adv
            .map(|a| a.node_selectors.iter().map(OutSelector::from).collect())
            .unwrap_or_default(),
    })
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct Out<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    peers: Vec<OutPeer<'a>>,
    #[serde(rename = "address-pools", skip_serializing_if = "Vec::is_empty")]
    pools: Vec<OutPool<'a>>,
    #[serde(rename = "bgp-communities", skip_serializing_if = "BTreeMap::is_empty")]
    communities: BTreeMap<&'a str, String>,
    #[serde(rename = "bfd-profiles", skip_serializing_if = "Vec::is_empty")]
    bfd_profiles: Vec<OutBfd<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutPeer<'a> {
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
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bfd_profile: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    ebgp_multihop: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<OutSelector<'a>>,
}

impl<'a> From<&'a Peer> for OutPeer<'a> {
    fn from(p: &'a Peer) -> Self {
        Self {
            peer_address: p.address.to_string(),
            peer_asn: p.asn,
            my_asn: p.my_asn,
            peer_port: (p.port != DEFAULT_PEER_PORT).then_some(p.port),
            source_address: p.source_address.map(|a| a.to_string()),
            hold_time: (p.hold_time != DEFAULT_HOLD_TIME).then(|| format_secs(p.hold_time)),
            keepalive_time: (p.keepalive_time != Peer::default_keepalive(p.hold_time))
                .then(|| format_secs(p.keepalive_time)),
            router_id: p.router_id.map(|r| r.to_string()),
            password: p.password.as_ref().map(|p| p.value.as_str()),
            bfd_profile: p.bfd_profile.as_deref(),
            ebgp_multihop: p.ebgp_multihop,
            node_selectors: p.node_selectors.iter().map(OutSelector::from).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutSelector<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    match_labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    match_expressions: Vec<OutExpression<'a>>,
}

#[derive(Serialize)]
struct OutExpression<'a> {
    key: &'a str,
    operator: &'static str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    values: &'a [String],
}

impl<'a> From<&'a LabelSelector> for OutSelector<'a> {
    fn from(s: &'a LabelSelector) -> Self {
        Self {
            match_labels: &s.match_labels,
            match_expressions: s
                .match_expressions
                .iter()
                .map(|e| OutExpression {
                    key: &e.key,
                    operator: e.operator.as_str(),
                    values: &e.values,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutPool<'a> {
    name: &'a str,
    protocol: &'static str,
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_assign: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    avoid_buggy_ips: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bgp_advertisements: Vec<OutAdvertisement>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    interfaces: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<OutSelector<'a>>,
}

#[derive(Serialize)]
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

impl From<&BgpAdvertisement> for OutAdvertisement {
    fn from(a: &BgpAdvertisement) -> Self {
        Self {
            aggregation_length: (a.aggregation_length != DEFAULT_AGGREGATION_LENGTH)
                .then_some(a.aggregation_length),
            aggregation_length_v6: (a.aggregation_length_v6 != DEFAULT_AGGREGATION_LENGTH_V6)
                .then_some(a.aggregation_length_v6),
            localpref: a.local_pref,
            communities: a.communities.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct OutBfd<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    receive_interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transmit_interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detect_multiplier: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    echo_interval: Option<u32>,
    #[serde(skip_serializing_if = "is_false")]
    echo_mode: bool,
    #[serde(skip_serializing_if = "is_false")]
    passive_mode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_ttl: Option<u32>,
}

impl<'a> From<&'a BfdProfile> for OutBfd<'a> {
    fn from(b: &'a BfdProfile) -> Self {
        let unless = |v: u32, default: u32| (v != default).then_some(v);
        Self {
            name: &b.name,
            receive_interval: unless(b.receive_interval_ms, DEFAULT_BFD_INTERVAL_MS),
            transmit_interval: unless(b.transmit_interval_ms, DEFAULT_BFD_INTERVAL_MS),
            detect_multiplier: unless(b.detect_multiplier, DEFAULT_BFD_DETECT_MULTIPLIER),
            echo_interval: unless(b.echo_interval_ms, DEFAULT_BFD_ECHO_INTERVAL_MS),
            echo_mode: b.echo_mode,
            passive_mode: b.passive_mode,
            minimum_ttl: unless(b.minimum_ttl, DEFAULT_BFD_MINIMUM_TTL),
        }
    }
}
