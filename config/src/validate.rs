//! The entry points: YAML text → decoded objects → checks across objects (duplicate names, overlapping
//! addresses, duplicate peers) → a [`Config`], or every error found.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::decode::{self, Draft, Located};
use crate::error::{ConfigErrors, ConfigWarning, ErrorKind};
use crate::model::Config;
use crate::reader::Ctx;
use crate::yaml;

/// A valid config with the warnings found on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The validated config.
    pub config: Config,
    /// Things accepted that look unintended (host bits in a CIDR, rounded timers, …).
    pub warnings: Vec<ConfigWarning>,
}

/// Parses and validates the ConfigMap's `config` text (MetalLB's legacy schema plus ferrolb's additions).
/// Returns every error found, not just the first. Empty text is a valid config with no pools.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    parse_with_warnings(text).map(|p| p.config)
}

/// Like [`parse`], also returning warnings for a valid config.
pub fn parse_with_warnings(text: &str) -> Result<Parsed, ConfigErrors> {
    let mut ctx = Ctx::default();
    let root = match yaml::load(text) {
        Ok(root) => root,
        Err(e) => {
            ctx.error_at("", None, e.line, ErrorKind::Yaml { message: e.message });
            return Err(ConfigErrors::new(ctx.errors));
        }
    };
    let draft = decode::decode(&mut ctx, &root);
    check_names(&mut ctx, draft.pools.iter().filter_map(|p| p.name.as_ref()));
    check_names(
        &mut ctx,
        draft.bfd_profiles.iter().filter_map(|b| b.name.as_ref()),
    );
    check_overlaps(&mut ctx, &draft);
    check_duplicate_peers(&mut ctx, &draft);
    if !ctx.errors.is_empty() {
        return Err(ConfigErrors::new(ctx.errors));
    }
    let origins: Vec<(String, Option<u64>)> = draft
        .pools
        .iter()
        .filter_map(|p| p.pool.as_ref())
        .filter(|p| p.protocol == crate::model::Protocol::Bgp)
        .flat_map(|p| p.advertisement_origins.iter().cloned())
        .collect();
    let config = draft.into_config();
    check_local_prefs(&mut ctx, &config, &origins);
    if !ctx.errors.is_empty() {
        return Err(ConfigErrors::new(ctx.errors));
    }
    let mut warnings = ctx.warnings;
    warnings.sort_by_key(|w| w.line.unwrap_or(u64::MAX));
    Ok(Parsed { config, warnings })
}

fn check_names<'a>(ctx: &mut Ctx, names: impl Iterator<Item = &'a Located<String>>) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for name in names {
        match seen.entry(name.value.as_str()) {
            Entry::Occupied(first) => {
                let kind = ErrorKind::DuplicateName {
                    first: (*first.get()).to_owned(),
                };
                ctx.error_at(&name.path, Some(name.text.clone()), name.line, kind);
            }
            Entry::Vacant(slot) => {
                slot.insert(&name.path);
            }
        }
    }
}

/// Reports every address entry that shares addresses with an entry before it in address order, at
/// whichever of the two comes later in the config, naming both pools and the common addresses.
/// O(n log n): after sorting, an entry overlaps some earlier entry exactly when it overlaps the earlier
/// entry of its family that reaches furthest.
fn check_overlaps(ctx: &mut Ctx, draft: &Draft) {
    struct Item<'a> {
        order: (usize, usize),
        pool: String,
        range: &'a Located<crate::address::AddressRange>,
    }
    let mut entries: Vec<Item<'_>> = Vec::new();
    for (p, pool) in draft.pools.iter().enumerate() {
        let name = pool
            .name
            .as_ref()
            .map_or_else(|| format!("address-pools[{p}]"), |n| n.value.clone());
        for (r, range) in pool.ranges.iter().enumerate() {
            entries.push(Item {
                order: (p, r),
                pool: name.clone(),
                range,
            });
        }
    }
    entries.sort_by_key(|e| (e.range.value, e.order));
    let mut reach: Option<usize> = None;
    for i in 0..entries.len() {
        let current = &entries[i];
        if let Some(j) = reach {
            let furthest = &entries[j];
            if furthest.range.value.family() != current.range.value.family() {
                reach = None;
            } else if let Some(common) = furthest.range.value.intersection(&current.range.value) {
                let (later, earlier) = if current.order > furthest.order {
                    (current, furthest)
                } else {
                    (furthest, current)
                };
                let kind = ErrorKind::Overlap {
                    pool: later.pool.clone(),
                    other_pool: earlier.pool.clone(),
                    other_path: earlier.range.path.clone(),
                    other_value: earlier.range.text.clone(),
                    overlap: common.to_string(),
                };
                ctx.error_at(
                    &later.range.path,
                    Some(later.range.text.clone()),
                    later.range.line,
                    kind,
                );
            }
        }
        reach = match reach {
            Some(j) if entries[j].range.value.end() >= current.range.value.end() => Some(j),
            _ => Some(i),
        };
    }
}

/// MetalLB's rule that one prefix carries one LOCAL_PREF: two `bgp-advertisements` of one pool with the same
/// aggregation length for a family of the pool and different `localpref` (see
/// [`crate::model::BgpAdvertisement::local_pref_conflict`]).
fn check_local_prefs(ctx: &mut Ctx, config: &Config, origins: &[(String, Option<u64>)]) {
    let show = |lp: Option<u32>| lp.map_or_else(|| "none".to_owned(), |v| v.to_string());
    for (a, b, pool) in crate::resources::local_pref_conflicts(config) {
        let (Some((path_a, _)), Some((path_b, line_b))) = (origins.get(a), origins.get(b)) else {
            continue;
        };
        let (adv_a, adv_b) = (&config.bgp_advertisements[a], &config.bgp_advertisements[b]);
        let kind = ErrorKind::LocalPrefConflict {
            other: path_a.clone(),
            pool,
            local_pref: show(adv_b.local_pref),
            other_local_pref: show(adv_a.local_pref),
        };
        ctx.error_at(path_b, adv_b.local_pref.map(|v| v.to_string()), *line_b, kind);
    }
}

fn check_duplicate_peers(ctx: &mut Ctx, draft: &Draft) {
    let mut seen: HashMap<_, &str> = HashMap::new();
    for draft in &draft.peers {
        let Some(peer) = &draft.peer else { continue };
        let key = (peer.address, peer.port, peer.source_address, &peer.node_selectors);
        match seen.entry(key) {
            Entry::Occupied(first) => {
                let kind = ErrorKind::DuplicatePeer {
                    first: (*first.get()).to_owned(),
                };
                ctx.error_at(&draft.path, Some(peer.address.to_string()), draft.line, kind);
            }
            Entry::Vacant(slot) => {
                slot.insert(draft.path.as_str());
            }
        }
    }
}
