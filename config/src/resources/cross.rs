//! Checks across objects and both formats, and the assembly of the configuration: one name space per kind,
//! no shared addresses, no alias defined twice, references resolved (pools by name and labels, community
//! aliases, BFD profiles, peers), aggregation lengths against every selected pool, no duplicate peer, and no
//! LOCAL_PREF conflict. Errors are reported at the later object (the ConfigMap comes first, then the
//! resources in kind, namespace, name order), naming the earlier one; the ConfigMap's checks among its own
//! objects are `crate::parse`'s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::LegacyConfig;
use super::advertisement::{BgpDraft, L2Draft, PoolSelection};
use super::peer::{BfdDraft, CommunityDraft, PeerDraft};
use super::pool::PoolDraft;
use super::{At, error_in};
use crate::address::{AddressFamily, AddressRange};
use crate::community::Community;
use crate::decode::{Aliases, resolve_community};
use crate::error::{ErrorKind, ObjectRef, WarningKind};
use crate::model::Config;
use crate::reader::Ctx;
use crate::suggest;
use crate::yaml::{Kind, Node};

/// Every decoded resource, by kind, each kind in object order.
#[derive(Debug, Default)]
pub(crate) struct Drafts {
    pub pools: Vec<PoolDraft>,
    pub l2: Vec<L2Draft>,
    pub bgp: Vec<BgpDraft>,
    pub peers: Vec<PeerDraft>,
    pub bfd: Vec<BfdDraft>,
    pub communities: Vec<CommunityDraft>,
    /// The line of each resource's name in its file.
    pub lines: BTreeMap<ObjectRef, Option<u64>>,
}

/// Where a thing is: a resource (with a path in it) or a part of the ConfigMap.
#[derive(Debug, Clone)]
struct Owner {
    object: ObjectRef,
    path: String,
    /// Whether it is in the legacy ConfigMap.
    legacy: bool,
}

impl Owner {
    fn describe(&self) -> String {
        if self.path.is_empty() {
            self.object.to_string()
        } else {
            format!("{} ({})", self.object, self.path)
        }
    }
}

fn legacy_owner(cm: Option<&ObjectRef>, path: String) -> Option<Owner> {
    cm.map(|object| Owner {
        object: object.clone(),
        path,
        legacy: true,
    })
}

fn resource_owner(object: &ObjectRef, path: &str) -> Owner {
    Owner {
        object: object.clone(),
        path: path.to_owned(),
        legacy: false,
    }
}

pub(super) fn resolve(ctx: &mut Ctx, legacy: &LegacyConfig, d: &Drafts) -> Config {
    let cm = legacy.object.as_ref();
    let lc = &legacy.config;
    // Where each legacy object is in the ConfigMap's text.
    let legacy_pool_path = |name: &str| {
        let i = lc.pools.iter().position(|p| p.name == name).unwrap_or(0);
        format!("address-pools[{i}]")
    };

    // One name space per kind, across namespaces and formats.
    let pool_names = lc
        .pools
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            Some((
                p.name.clone(),
                legacy_owner(cm, format!("address-pools[{i}].name"))?,
            ))
        })
        .chain(
            d.pools
                .iter()
                .map(|p| (p.object.name.clone(), resource_owner(&p.object, ""))),
        );
    unique_names(ctx, &d.lines, pool_names);
    let l2_names = lc
        .l2_advertisements
        .iter()
        .filter_map(|a| {
            let path = format!(
                "{}, announcing {}",
                a.name,
                legacy_pool_path(a.pools.first().map_or("", String::as_str))
            );
            Some((a.name.clone(), legacy_owner(cm, path)?))
        })
        .chain(
            d.l2.iter()
                .map(|a| (a.object.name.clone(), resource_owner(&a.object, ""))),
        );
    unique_names(ctx, &d.lines, l2_names);
    let bgp_names = lc
        .bgp_advertisements
        .iter()
        .filter_map(|a| {
            let path = format!(
                "{}, announcing {}",
                a.name,
                legacy_pool_path(a.pools.first().map_or("", String::as_str))
            );
            Some((a.name.clone(), legacy_owner(cm, path)?))
        })
        .chain(
            d.bgp
                .iter()
                .map(|a| (a.object.name.clone(), resource_owner(&a.object, ""))),
        );
    unique_names(ctx, &d.lines, bgp_names);
    let peer_names = lc
        .peers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p.name.clone(), legacy_owner(cm, format!("peers[{i}]"))?)))
        .chain(
            d.peers
                .iter()
                .map(|p| (p.object.name.clone(), resource_owner(&p.object, ""))),
        );
    unique_names(ctx, &d.lines, peer_names);
    let bfd_names = lc
        .bfd_profiles
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            Some((
                b.name.clone(),
                legacy_owner(cm, format!("bfd-profiles[{i}].name"))?,
            ))
        })
        .chain(
            d.bfd
                .iter()
                .map(|b| (b.object.name.clone(), resource_owner(&b.object, ""))),
        );
    unique_names(ctx, &d.lines, bfd_names);

    let aliases = aliases(ctx, cm, lc, &d.communities);
    check_overlaps(ctx, cm, lc, &d.pools);

    // Every pool of both formats, in configuration order, with its labels (ConfigMap pools have none).
    let no_labels = BTreeMap::new();
    let pools: Vec<(&str, &BTreeMap<String, String>)> = lc
        .pools
        .iter()
        .map(|p| (p.name.as_str(), &no_labels))
        .chain(d.pools.iter().map(|p| (p.object.name.as_str(), &p.labels)))
        .collect();
    let peer_set: BTreeSet<&str> = lc
        .peers
        .iter()
        .map(|p| p.name.as_str())
        .chain(d.peers.iter().map(|p| p.object.name.as_str()))
        .collect();
    let bfd_set: BTreeSet<&str> = lc
        .bfd_profiles
        .iter()
        .map(|b| b.name.as_str())
        .chain(d.bfd.iter().map(|b| b.object.name.as_str()))
        .collect();
    let ranges = pool_ranges(cm, lc, &d.pools);

    let mut config = lc.clone();
    config.pools.extend(d.pools.iter().filter_map(|p| p.pool.clone()));
    config.communities = aliases.valid.clone();
    for draft in &d.l2 {
        let selected = select_pools(ctx, &draft.object, &draft.selection, &pools);
        if let Some(adv) = &draft.adv {
            config.l2_advertisements.push(crate::model::L2Advertisement {
                pools: selected,
                ..adv.clone()
            });
        }
    }
    for draft in &d.bgp {
        let selected = select_pools(ctx, &draft.object, &draft.selection, &pools);
        check_lengths(ctx, draft, &selected, &ranges);
        let mut communities: Vec<Community> = Vec::new();
        for c in &draft.communities {
            let node = Node {
                kind: Kind::Str(c.value.clone()),
                line: c.line,
                raw: None,
            };
            let before = ctx.errors.len();
            let resolved = resolve_community(ctx, &node, &c.path, c.value.trim(), &aliases);
            tag_since(ctx, before, &draft.object);
            if let Some(v) = resolved
                && !communities.contains(&v)
            {
                communities.push(v);
            }
        }
        for p in draft
            .peers
            .iter()
            .filter(|p| !peer_set.contains(p.value.as_str()))
        {
            warn_unknown(ctx, &draft.object, p, "BGPPeer");
        }
        if let Some(adv) = &draft.adv {
            config.bgp_advertisements.push(crate::model::BgpAdvertisement {
                pools: selected,
                communities,
                ..adv.clone()
            });
        }
    }
    for draft in &d.peers {
        if let Some(b) = &draft.bfd_profile
            && !bfd_set.contains(b.value.as_str())
        {
            let suggestion = suggest::closest(&b.value, bfd_set.iter().copied()).map(str::to_owned);
            let kind = ErrorKind::UnknownBfdProfile { suggestion };
            error_in(ctx, &draft.object, &b.path, Some(b.text.clone()), b.line, kind);
        }
        config.peers.extend(draft.peer.clone());
    }
    check_duplicate_peers(ctx, cm, lc, &d.peers);
    config
        .bfd_profiles
        .extend(d.bfd.iter().filter_map(|b| b.profile.clone()));
    check_local_prefs(ctx, cm, lc.bgp_advertisements.len(), &config, &d.bgp);
    config
}

fn tag_since(ctx: &mut Ctx, before: usize, object: &ObjectRef) {
    for e in &mut ctx.errors[before..] {
        e.object.get_or_insert_with(|| object.clone());
    }
}

fn warn_unknown(ctx: &mut Ctx, object: &ObjectRef, at: &At<String>, kind: &'static str) {
    ctx.warnings.push(crate::error::ConfigWarning {
        object: Some(object.clone()),
        path: at.path.clone(),
        value: Some(at.text.clone()),
        line: at.line,
        kind: WarningKind::UnknownReference { kind },
    });
}

/// Reports each name used again, at the later object, naming the first.
fn unique_names(
    ctx: &mut Ctx,
    lines: &BTreeMap<ObjectRef, Option<u64>>,
    names: impl Iterator<Item = (String, Owner)>,
) {
    let mut first: HashMap<String, Owner> = HashMap::new();
    for (name, owner) in names {
        match first.get(&name) {
            // The ConfigMap's own names are checked by the ConfigMap's parser.
            Some(f) if !(f.legacy && owner.legacy) => {
                let kind = ErrorKind::NameTaken { other: f.describe() };
                let line = lines.get(&owner.object).copied().flatten();
                error_in(ctx, &owner.object, "metadata.name", Some(name), line, kind);
            }
            Some(_) => {}
            None => {
                first.insert(name, owner);
            }
        }
    }
}

/// The aliases of both formats; an alias defined twice (in two Community objects, twice in one, or in a
/// Community and the ConfigMap's `bgp-communities`) is an error, as in MetalLB.
fn aliases(ctx: &mut Ctx, cm: Option<&ObjectRef>, lc: &Config, drafts: &[CommunityDraft]) -> Aliases {
    let mut first: HashMap<String, Owner> = HashMap::new();
    let mut out = Aliases {
        valid: lc.communities.clone(),
        declared: lc.communities.keys().cloned().collect(),
    };
    for name in lc.communities.keys() {
        if let Some(owner) = legacy_owner(cm, format!("bgp-communities.{name}")) {
            first.insert(name.clone(), owner);
        }
    }
    for draft in drafts {
        for (name, value) in &draft.aliases {
            if let Some(f) = first.get(&name.value) {
                let kind = ErrorKind::NameTaken { other: f.describe() };
                error_in(
                    ctx,
                    &draft.object,
                    &name.path,
                    Some(name.text.clone()),
                    name.line,
                    kind,
                );
                continue;
            }
            first.insert(name.value.clone(), resource_owner(&draft.object, &name.path));
            out.declared.insert(name.value.clone());
            if let Some(v) = value {
                out.valid.insert(name.value.clone(), *v);
            }
        }
    }
    out
}

/// An address range of a pool with where it was written.
struct RangeAt {
    /// Position in configuration order (the ConfigMap's entries first).
    order: usize,
    range: AddressRange,
    pool: String,
    owner: Owner,
    text: String,
    line: Option<u64>,
}

fn pool_ranges(cm: Option<&ObjectRef>, lc: &Config, pools: &[PoolDraft]) -> Vec<RangeAt> {
    let mut out = Vec::new();
    for (i, pool) in lc.pools.iter().enumerate() {
        for (j, range) in pool.addresses.iter().enumerate() {
            if let Some(owner) = legacy_owner(cm, format!("address-pools[{i}].addresses[{j}]")) {
                out.push(RangeAt {
                    order: out.len(),
                    range: *range,
                    pool: pool.name.clone(),
                    owner,
                    text: range.to_string(),
                    line: None,
                });
            }
        }
    }
    for pool in pools {
        for r in &pool.ranges {
            out.push(RangeAt {
                order: out.len(),
                range: r.value,
                pool: pool.object.name.clone(),
                owner: resource_owner(&pool.object, &r.path),
                text: r.text.clone(),
                line: r.line,
            });
        }
    }
    out
}

/// No address in two pools (nor twice in one). O(n log n): sorted by start, an entry overlaps an earlier
/// one of a set exactly when it overlaps the earlier entry of that set that reaches furthest; the resources'
/// entries are checked against both sets, the ConfigMap's against the resources' only.
fn check_overlaps(ctx: &mut Ctx, cm: Option<&ObjectRef>, lc: &Config, pools: &[PoolDraft]) {
    let mut entries = pool_ranges(cm, lc, pools);
    entries.sort_by_key(|e| (e.range, e.order));
    let mut furthest: [Option<usize>; 2] = [None, None]; // [legacy, resource]
    for i in 0..entries.len() {
        let current = &entries[i];
        let sets: &[usize] = if current.owner.legacy { &[1] } else { &[0, 1] };
        for &set in sets {
            let Some(j) = furthest[set] else { continue };
            let other = &entries[j];
            let Some(common) = other.range.intersection(&current.range) else {
                continue;
            };
            // Report at the later of the two in configuration order: resources after the ConfigMap.
            let (later, earlier) = if current.order > other.order {
                (current, other)
            } else {
                (other, current)
            };
            let kind = if later.owner.object == earlier.owner.object && !later.owner.legacy {
                ErrorKind::Overlap {
                    pool: later.pool.clone(),
                    other_pool: earlier.pool.clone(),
                    other_path: earlier.owner.path.clone(),
                    other_value: earlier.text.clone(),
                    overlap: common.to_string(),
                }
            } else {
                ErrorKind::OverlapWith {
                    other: earlier.owner.object.to_string(),
                    other_path: earlier.owner.path.clone(),
                    other_value: earlier.text.clone(),
                    overlap: common.to_string(),
                }
            };
            let (object, path, text, line) = (
                later.owner.object.clone(),
                later.owner.path.clone(),
                later.text.clone(),
                later.line,
            );
            error_in(ctx, &object, &path, Some(text), line, kind);
            break;
        }
        let set = usize::from(!current.owner.legacy);
        furthest[set] = match furthest[set] {
            Some(j) if entries[j].range.end() >= current.range.end() => Some(j),
            _ => Some(i),
        };
    }
}

/// The pools an advertisement selects, in configuration order; an unknown name selects nothing and is
/// reported as a warning (MetalLB ignores it: the pool may be created later).
fn select_pools(
    ctx: &mut Ctx,
    object: &ObjectRef,
    selection: &PoolSelection,
    pools: &[(&str, &BTreeMap<String, String>)],
) -> Vec<String> {
    for n in &selection.names {
        if !pools.iter().any(|(name, _)| *name == n.value) {
            warn_unknown(ctx, object, n, "IPAddressPool");
        }
    }
    pools
        .iter()
        .filter(|(name, labels)| {
            selection.all()
                || selection.names.iter().any(|n| n.value == *name)
                || selection.selectors.iter().any(|s| s.matches(labels))
        })
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// MetalLB's rule (`validateBGPAdvPerPool`): an aggregation length given must be at least the prefix length
/// of every CIDR (ranges as the CIDRs that cover them) of that family in every selected pool.
fn check_lengths(ctx: &mut Ctx, draft: &BgpDraft, selected: &[String], ranges: &[RangeAt]) {
    let families = [AddressFamily::V4, AddressFamily::V6];
    let keys = ["aggregationLength", "aggregationLengthV6"];
    for ((given, family), key) in draft.lengths.iter().zip(families).zip(keys) {
        let Some(length) = given else { continue };
        let most_specific = ranges
            .iter()
            .filter(|r| r.range.family() == family && selected.contains(&r.pool))
            .flat_map(|r| r.range.cidrs().into_iter().map(move |net| (net, r)))
            .filter(|(net, _)| net.prefix_len() > length.value)
            .max_by_key(|(net, _)| net.prefix_len());
        if let Some((net, r)) = most_specific {
            let kind = ErrorKind::AggregationTooShort {
                key,
                length: length.value,
                cidr: net.to_string(),
                prefix_len: net.prefix_len(),
                address_path: r.owner.describe(),
            };
            error_in(
                ctx,
                &draft.object,
                &length.path,
                Some(length.text.clone()),
                length.line,
                kind,
            );
        }
    }
}

fn check_duplicate_peers(ctx: &mut Ctx, cm: Option<&ObjectRef>, lc: &Config, drafts: &[PeerDraft]) {
    let legacy = lc
        .peers
        .iter()
        .enumerate()
        .filter_map(|(i, p)| Some((p, legacy_owner(cm, format!("peers[{i}]"))?)));
    let resources = drafts
        .iter()
        .filter_map(|d| Some((d.peer.as_ref()?, resource_owner(&d.object, ""))));
    let mut first: HashMap<_, Owner> = HashMap::new();
    for (peer, owner) in legacy.chain(resources) {
        let key = (
            peer.address,
            peer.port,
            peer.source_address,
            peer.node_selectors.clone(),
        );
        match first.get(&key) {
            Some(f) if !(f.legacy && owner.legacy) => {
                let kind = ErrorKind::DuplicatePeer { first: f.describe() };
                let value = Some(peer.address.to_string());
                error_in(ctx, &owner.object, "spec.peerAddress", value, None, kind);
            }
            Some(_) => {}
            None => {
                first.insert(key, owner);
            }
        }
    }
}

/// Pairs of BGP advertisements (earlier, later) that certainly send one prefix of a pool with different
/// LOCAL_PREF (see [`crate::model::BgpAdvertisement::local_pref_conflict`]), each pair once, with the first
/// pool where they do.
pub(crate) fn local_pref_conflicts(config: &Config) -> Vec<(usize, usize, String)> {
    let mut out: Vec<(usize, usize, String)> = Vec::new();
    for pool in &config.pools {
        let advs: Vec<usize> = (0..config.bgp_advertisements.len())
            .filter(|&i| config.bgp_advertisements[i].selects_pool(&pool.name))
            .collect();
        for (x, &a) in advs.iter().enumerate() {
            for &b in &advs[x + 1..] {
                let (adv_a, adv_b) = (&config.bgp_advertisements[a], &config.bgp_advertisements[b]);
                if adv_a.local_pref_conflict(adv_b, pool, None)
                    && !out.iter().any(|(i, j, _)| (*i, *j) == (a, b))
                {
                    out.push((a, b, pool.name.clone()));
                }
            }
        }
    }
    out
}

fn check_local_prefs(
    ctx: &mut Ctx,
    cm: Option<&ObjectRef>,
    legacy_count: usize,
    config: &Config,
    drafts: &[BgpDraft],
) {
    let show = |lp: Option<u32>| lp.map_or_else(|| "none".to_owned(), |v| v.to_string());
    // Resource advertisements follow the ConfigMap's in `config`, in draft order, valid ones only.
    let objects: Vec<&ObjectRef> = drafts
        .iter()
        .filter(|d| d.adv.is_some())
        .map(|d| &d.object)
        .collect();
    for (a, b, pool) in local_pref_conflicts(config) {
        let Some(later) = b.checked_sub(legacy_count).and_then(|i| objects.get(i)) else {
            continue; // both in the ConfigMap: its own parser reports them
        };
        let earlier = &config.bgp_advertisements[a];
        let other = match a.checked_sub(legacy_count).and_then(|i| objects.get(i)) {
            Some(object) => object.to_string(),
            None => cm.map_or_else(|| earlier.name.clone(), |cm| format!("{cm} ({})", earlier.name)),
        };
        let adv = &config.bgp_advertisements[b];
        let kind = ErrorKind::LocalPrefConflict {
            other,
            pool,
            local_pref: show(adv.local_pref),
            other_local_pref: show(earlier.local_pref),
        };
        let value = adv.local_pref.map(|v| v.to_string());
        error_in(ctx, later, "spec.localPref", value, None, kind);
    }
}
