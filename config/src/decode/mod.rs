//! The legacy schema: MetalLB's ConfigMap `config` keys (v0.12, as kubespray ≤ v2.21 renders them) plus
//! ferrolb's optional additions, decoded object by object into the model. Each object is checked on its
//! own here (formats, ranges, references to aliases and BFD profiles, aggregation lengths against the
//! pool's CIDRs); checks across objects (duplicate names, overlaps, duplicate peers) are in
//! `validate`. An object with any error yields no model value but still yields what the cross-object
//! checks need (its name, its address ranges), so one run reports everything.

pub(crate) mod peer;
pub(crate) mod selector;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use self::peer::{decode_bfd, decode_peer};
use self::selector::decode_selectors;
use crate::address::{self, AddressFamily, AddressRange};
use crate::community::{self, Community};
use crate::error::{ErrorKind, WarningKind};
use crate::model::{
    BfdProfile, BgpAdvertisement, Config, DEFAULT_AGGREGATION_LENGTH, DEFAULT_AGGREGATION_LENGTH_V6,
    L2Advertisement, Peer, Pool, Protocol,
};
use crate::reader::{self, Ctx, child, fields, index, list, optional};
use crate::selector::LabelSelector;
use crate::suggest;
use crate::yaml::Node;

/// Top-level keys.
pub(crate) const TOP_KEYS: &[&str] = &["peers", "address-pools", "bgp-communities", "bfd-profiles"];
/// Keys of an `address-pools` entry (`interfaces` and `node-selectors` are ferrolb additions).
pub(crate) const POOL_KEYS: &[&str] = &[
    "name",
    "protocol",
    "addresses",
    "auto-assign",
    "avoid-buggy-ips",
    "bgp-advertisements",
    "interfaces",
    "node-selectors",
];
/// Keys of a `bgp-advertisements` entry.
pub(crate) const ADVERTISEMENT_KEYS: &[&str] = &[
    "aggregation-length",
    "aggregation-length-v6",
    "localpref",
    "communities",
];
/// A value with where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Located<T> {
    pub value: T,
    pub path: String,
    pub text: String,
    pub line: Option<u64>,
}

/// A legacy pool: the pool itself and how it is announced (its protocol, and the advertisement settings the
/// legacy schema keeps inside the pool), mapped to advertisements by `validate`.
#[derive(Debug)]
pub(crate) struct LegacyPool {
    pub pool: Pool,
    pub protocol: Protocol,
    /// bgp: the pool's `bgp-advertisements` (names and pools are filled in later); layer2: empty.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// Where each of `bgp_advertisements` was written (the pool itself for the default one).
    pub advertisement_origins: Vec<(String, Option<u64>)>,
    /// layer2: ferrolb's `interfaces` addition.
    pub interfaces: Vec<String>,
    /// layer2: ferrolb's `node-selectors` addition.
    pub node_selectors: Vec<LabelSelector>,
}

#[derive(Debug, Default)]
pub(crate) struct PoolDraft {
    pub pool: Option<LegacyPool>,
    pub name: Option<Located<String>>,
    pub ranges: Vec<Located<AddressRange>>,
}

#[derive(Debug)]
pub(crate) struct PeerDraft {
    pub peer: Option<Peer>,
    pub path: String,
    pub line: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct BfdDraft {
    pub profile: Option<BfdProfile>,
    pub name: Option<Located<String>>,
}

/// Everything decoded from the document, ready for the cross-object checks.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub pools: Vec<PoolDraft>,
    pub peers: Vec<PeerDraft>,
    pub bfd_profiles: Vec<BfdDraft>,
    pub communities: BTreeMap<String, Community>,
}

impl Draft {
    /// The model of a draft without errors (every object has its model value), in MetalLB's shape as
    /// MetalLB's converter (configmaptocrs) lays it out: each pool becomes a pool; a layer2 pool gets one
    /// `L2Advertisement` (`l2advertisement<N>`, with ferrolb's `interfaces` and `node-selectors`), a bgp pool
    /// one `BGPAdvertisement` per `bgp-advertisements` entry (`bgpadvertisement<N>`), N counting from 1 over
    /// the pools in order; peers are `peer<N>`.
    pub(crate) fn into_config(self) -> Config {
        let mut config = Config {
            peers: self.peers.into_iter().filter_map(|p| p.peer).collect(),
            bfd_profiles: self.bfd_profiles.into_iter().filter_map(|b| b.profile).collect(),
            communities: self.communities,
            ..Config::default()
        };
        for legacy in self.pools.into_iter().filter_map(|p| p.pool) {
            let pools = vec![legacy.pool.name.clone()];
            match legacy.protocol {
                Protocol::Layer2 => {
                    let n = config.l2_advertisements.len() + 1;
                    config.l2_advertisements.push(L2Advertisement {
                        name: format!("l2advertisement{n}"),
                        pools,
                        node_selectors: legacy.node_selectors,
                        interfaces: legacy.interfaces,
                        service_selectors: Vec::new(),
                        preferred_node_selectors: Vec::new(),
                    });
                }
                Protocol::Bgp => {
                    for adv in legacy.bgp_advertisements {
                        let n = config.bgp_advertisements.len() + 1;
                        config.bgp_advertisements.push(BgpAdvertisement {
                            name: format!("bgpadvertisement{n}"),
                            pools: pools.clone(),
                            ..adv
                        });
                    }
                }
            }
            config.pools.push(legacy.pool);
        }
        config
    }
}

/// Community aliases: the valid ones, and every declared name (so a reference to an alias whose value
/// is invalid is not reported a second time as unknown).
pub(crate) struct Aliases {
    pub(crate) valid: BTreeMap<String, Community>,
    pub(crate) declared: BTreeSet<String>,
}

pub(crate) fn decode(ctx: &mut Ctx, root: &Node) -> Draft {
    if root.is_null() {
        return Draft::default();
    }
    let Some(top) = fields(ctx, root, "", TOP_KEYS) else {
        return Draft::default();
    };
    let aliases = match top.get("bgp-communities") {
        Some(node) => decode_aliases(ctx, node, "bgp-communities"),
        None => Aliases {
            valid: BTreeMap::new(),
            declared: BTreeSet::new(),
        },
    };
    let bfd_profiles: Vec<BfdDraft> = top
        .get("bfd-profiles")
        .map(|node| {
            let path = top.path("bfd-profiles");
            let items = list(ctx, node, &path);
            items
                .iter()
                .enumerate()
                .map(|(i, n)| decode_bfd(ctx, n, &index(&path, i)))
                .collect()
        })
        .unwrap_or_default();
    let bfd_names: BTreeSet<String> = bfd_profiles
        .iter()
        .filter_map(|b| b.name.as_ref())
        .map(|n| n.value.clone())
        .collect();
    let pools = top
        .get("address-pools")
        .map(|node| {
            let path = top.path("address-pools");
            let items = list(ctx, node, &path);
            items
                .iter()
                .enumerate()
                .map(|(i, n)| decode_pool(ctx, n, &index(&path, i), &aliases))
                .collect()
        })
        .unwrap_or_default();
    let peers = top
        .get("peers")
        .map(|node| {
            let path = top.path("peers");
            let items = list(ctx, node, &path);
            items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let mut draft = decode_peer(ctx, n, &index(&path, i), &bfd_names);
                    if let Some(peer) = &mut draft.peer {
                        // MetalLB's converter (configmaptocrs) names the N-th peer `peer<N>`.
                        peer.name = format!("peer{}", i + 1);
                    }
                    draft
                })
                .collect()
        })
        .unwrap_or_default();
    Draft {
        pools,
        peers,
        bfd_profiles,
        communities: aliases.valid,
    }
}

fn decode_aliases(ctx: &mut Ctx, node: &Node, path: &str) -> Aliases {
    let mut aliases = Aliases {
        valid: BTreeMap::new(),
        declared: BTreeSet::new(),
    };
    for (name, value) in reader::string_map(ctx, node, path) {
        let path = child(path, &name);
        aliases.declared.insert(name.clone());
        if name.trim().is_empty() {
            ctx.error_at(&path, Some(name.clone()), value.line, ErrorKind::Empty);
            continue;
        }
        if let Err(reason) = reader::check_name(&name) {
            ctx.error_at(
                &path,
                Some(name.clone()),
                value.line,
                ErrorKind::InvalidName { reason },
            );
            continue;
        }
        let Some(text) = (if value.is_null() {
            ctx.error(&path, value, ErrorKind::MissingKey);
            None
        } else {
            reader::string(ctx, value, &path)
        }) else {
            continue;
        };
        match Community::from_str(&text) {
            Ok(c) => {
                aliases.valid.insert(name, c);
            }
            Err(e) => ctx.error(&path, value, ErrorKind::InvalidCommunity { reason: e.0 }),
        }
    }
    aliases
}

fn decode_pool(ctx: &mut Ctx, node: &Node, path: &str, aliases: &Aliases) -> PoolDraft {
    let before = ctx.errors.len();
    let mut draft = PoolDraft::default();
    let Some(f) = fields(ctx, node, path, POOL_KEYS) else {
        return draft;
    };

    let name = f.require(ctx, "name").and_then(|n| {
        let p = f.path("name");
        let value = reader::name(ctx, n, &p)?;
        draft.name = Some(Located {
            value: value.clone(),
            path: p,
            text: value.clone(),
            line: n.line,
        });
        Some(value)
    });
    let protocol = f
        .require(ctx, "protocol")
        .and_then(|n| decode_protocol(ctx, n, &f.path("protocol")));

    if let Some(n) = f.require(ctx, "addresses") {
        let p = f.path("addresses");
        let items = list(ctx, n, &p);
        if items.is_empty() && matches!(n.kind, crate::yaml::Kind::Seq(_)) {
            ctx.error(&p, n, ErrorKind::Empty);
        }
        for (i, item) in items.iter().enumerate() {
            let p = index(&p, i);
            let Some(text) = reader::string(ctx, item, &p) else {
                continue;
            };
            match address::parse_entry(&text) {
                Ok((range, host_bits)) => {
                    if let Some(net) = host_bits {
                        ctx.warn(
                            &p,
                            item,
                            WarningKind::HostBitsSet {
                                network: net.to_string(),
                            },
                        );
                    }
                    draft.ranges.push(Located {
                        value: range,
                        path: p,
                        text,
                        line: item.line,
                    });
                }
                Err(kind) => ctx.error(&p, item, kind),
            }
        }
    }
    let auto_assign = optional(ctx, &f, "auto-assign", true, reader::boolean);
    let avoid_buggy_ips = optional(ctx, &f, "avoid-buggy-ips", false, reader::boolean);
    if avoid_buggy_ips == Some(true)
        && !draft.ranges.is_empty()
        && draft.ranges.iter().all(|r| r.value.family() == AddressFamily::V6)
        && let Some(n) = f.get("avoid-buggy-ips")
    {
        ctx.warn(
            &f.path("avoid-buggy-ips"),
            n,
            WarningKind::AvoidBuggyIpsWithoutIpv4,
        );
    }

    // Protocol-specific keys: reported when given for the other protocol, decoded otherwise.
    let mut advertisements = Vec::new();
    let mut origins = Vec::new();
    if let Some(n) = f.get("bgp-advertisements") {
        let p = f.path("bgp-advertisements");
        if protocol == Some(Protocol::Layer2) {
            ctx.error(
                &p,
                n,
                ErrorKind::WrongProtocol {
                    protocol: Protocol::Bgp,
                },
            );
        } else {
            let most_specific = [
                most_specific(&draft.ranges, AddressFamily::V4),
                most_specific(&draft.ranges, AddressFamily::V6),
            ];
            for (i, item) in list(ctx, n, &p).iter().enumerate() {
                let path = index(&p, i);
                let adv = decode_advertisement(ctx, item, &path, aliases, &most_specific);
                if adv.is_some() {
                    origins.push((path, item.line));
                }
                advertisements.extend(adv);
            }
        }
    }
    let (mut interfaces, mut node_selectors) = (Vec::new(), Vec::new());
    for key in ["interfaces", "node-selectors"] {
        let Some(n) = f.get(key) else { continue };
        let p = f.path(key);
        if protocol == Some(Protocol::Bgp) {
            ctx.error(
                &p,
                n,
                ErrorKind::WrongProtocol {
                    protocol: Protocol::Layer2,
                },
            );
        } else if key == "interfaces" {
            interfaces = decode_interfaces(ctx, n, &p);
        } else {
            node_selectors = decode_selectors(ctx, n, &p);
        }
    }
    if protocol == Some(Protocol::Bgp) && advertisements.is_empty() {
        // MetalLB: a bgp pool without (or with an empty list of) advertisements gets one with defaults.
        advertisements.push(BgpAdvertisement::with_defaults("", Vec::new()));
        origins.push((path.to_owned(), node.line));
    }

    if ctx.errors.len() == before
        && let (Some(name), Some(protocol), Some(auto_assign), Some(avoid_buggy_ips)) =
            (name, protocol, auto_assign, avoid_buggy_ips)
    {
        draft.pool = Some(LegacyPool {
            pool: Pool {
                name,
                addresses: draft.ranges.iter().map(|r| r.value).collect(),
                auto_assign,
                avoid_buggy_ips,
                service_allocation: None,
            },
            protocol,
            bgp_advertisements: advertisements,
            advertisement_origins: origins,
            interfaces,
            node_selectors,
        });
    }
    draft
}

fn decode_protocol(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Protocol> {
    let text = reader::string(ctx, node, path)?;
    match text.as_str() {
        "layer2" => Some(Protocol::Layer2),
        "bgp" => Some(Protocol::Bgp),
        other => {
            let suggestion = match other.to_ascii_lowercase().as_str() {
                "l2" | "arp" | "ndp" | "layer-2" | "layer_2" => Some("layer2"),
                _ => suggest::closest(other, ["layer2", "bgp"]),
            };
            ctx.error(
                path,
                node,
                ErrorKind::UnknownProtocol {
                    suggestion: suggestion.map(str::to_owned),
                },
            );
            None
        }
    }
}

fn decode_advertisement(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    aliases: &Aliases,
    most_specific: &[Option<MostSpecific>; 2],
) -> Option<BgpAdvertisement> {
    let before = ctx.errors.len();
    let f = fields(ctx, node, path, ADVERTISEMENT_KEYS)?;
    let len = |max: u8| {
        move |ctx: &mut Ctx, n: &Node, p: &str| reader::integer(ctx, n, p, 0, u64::from(max)).map(|v| v as u8)
    };
    let v4 = optional(ctx, &f, "aggregation-length", DEFAULT_AGGREGATION_LENGTH, len(32));
    let v6 = optional(
        ctx,
        &f,
        "aggregation-length-v6",
        DEFAULT_AGGREGATION_LENGTH_V6,
        len(128),
    );
    let local_pref = optional(ctx, &f, "localpref", None, |ctx, n, p| {
        reader::integer(ctx, n, p, 0, u64::from(u32::MAX)).map(|v| Some(v as u32))
    });
    let mut communities = Vec::new();
    let mut seen = HashSet::new();
    if let Some(n) = f.get("communities") {
        let p = f.path("communities");
        for (i, item) in list(ctx, n, &p).iter().enumerate() {
            let p = index(&p, i);
            let Some(text) = reader::non_empty_string(ctx, item, &p) else {
                continue;
            };
            if let Some(c) = resolve_community(ctx, item, &p, text.trim(), aliases)
                && seen.insert(c)
            {
                communities.push(c);
            }
        }
    }
    let adv = BgpAdvertisement {
        aggregation_length: v4?,
        aggregation_length_v6: v6?,
        local_pref: local_pref?,
        communities,
        ..BgpAdvertisement::with_defaults("", Vec::new())
    };
    // The defaults (32, 128) cover any CIDR, so only given lengths can be too short.
    let checks = [
        ("aggregation-length", adv.aggregation_length, &most_specific[0]),
        (
            "aggregation-length-v6",
            adv.aggregation_length_v6,
            &most_specific[1],
        ),
    ];
    for (key, length, most_specific) in checks {
        if let Some(n) = f.get(key) {
            check_aggregation(ctx, &f.path(key), n, key, length, most_specific.as_ref());
        }
    }
    (ctx.errors.len() == before).then_some(adv)
}

/// The most specific CIDR of a pool's entries of one family (ranges count as the CIDRs that exactly cover
/// them, as MetalLB summarizes them), with the path of its entry; the first in config order on ties.
#[derive(Debug, Clone)]
pub(crate) struct MostSpecific {
    net: ipnet::IpNet,
    path: String,
}

fn most_specific(ranges: &[Located<AddressRange>], family: AddressFamily) -> Option<MostSpecific> {
    let mut best: Option<MostSpecific> = None;
    for range in ranges.iter().filter(|r| r.value.family() == family) {
        for net in range.value.cidrs() {
            if best
                .as_ref()
                .is_none_or(|b| net.prefix_len() > b.net.prefix_len())
            {
                best = Some(MostSpecific {
                    net,
                    path: range.path.clone(),
                });
            }
        }
    }
    best
}

/// An aggregation length must be at least the prefix length of every CIDR of the pool, or the aggregate
/// would cover addresses outside the pool. The error names the most specific CIDR.
fn check_aggregation(
    ctx: &mut Ctx,
    path: &str,
    node: &Node,
    key: &'static str,
    length: u8,
    most_specific: Option<&MostSpecific>,
) {
    if let Some(m) = most_specific.filter(|m| m.net.prefix_len() > length) {
        let kind = ErrorKind::AggregationTooShort {
            key,
            length,
            cidr: m.net.to_string(),
            prefix_len: m.net.prefix_len(),
            address_path: m.path.clone(),
        };
        ctx.error(path, node, kind);
    }
}

/// Alias first (as MetalLB), then a literal, then a well-known name.
pub(crate) fn resolve_community(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    text: &str,
    aliases: &Aliases,
) -> Option<Community> {
    if let Some(c) = aliases.valid.get(text) {
        return Some(*c);
    }
    if aliases.declared.contains(text) {
        return None; // the alias's own value is invalid and already reported
    }
    if community::looks_literal(text) {
        return match Community::from_str(text) {
            Ok(c) => Some(c),
            Err(e) => {
                ctx.error(path, node, ErrorKind::InvalidCommunity { reason: e.0 });
                None
            }
        };
    }
    if let Some(c) = community::well_known(text) {
        return Some(c);
    }
    let names = aliases
        .declared
        .iter()
        .map(String::as_str)
        .chain(community::WELL_KNOWN.iter().map(|(n, _)| *n));
    let suggestion = suggest::closest(text, names).map(str::to_owned);
    ctx.error(path, node, ErrorKind::UnknownCommunity { suggestion });
    None
}

pub(crate) fn decode_interfaces(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut first_at: HashMap<String, String> = HashMap::new();
    for (i, item) in list(ctx, node, path).iter().enumerate() {
        let p = index(path, i);
        let Some(name) = reader::non_empty_string(ctx, item, &p) else {
            continue;
        };
        if let Err(reason) = check_interface_name(&name) {
            ctx.error(&p, item, ErrorKind::InvalidInterfaceName { reason });
        } else if let Some(first) = first_at.get(&name) {
            ctx.error(&p, item, ErrorKind::DuplicateValue { first: first.clone() });
        } else {
            first_at.insert(name.clone(), p);
            out.push(name);
        }
    }
    out
}

/// Linux interface names: 1 to 15 bytes, no `/`, no whitespace, not `.` or `..`.
fn check_interface_name(name: &str) -> Result<(), &'static str> {
    if name.len() > 15 {
        return Err("longer than 15 bytes (Linux IFNAMSIZ)");
    }
    if name == "." || name == ".." {
        return Err("\".\" and \"..\" are not interface names");
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err("contains '/', ':', whitespace or a control character");
    }
    Ok(())
}
