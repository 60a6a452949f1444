//! `L2Advertisement` and `BGPAdvertisement` (metallb.io/v1beta1). Their pool selection (`ipAddressPools`,
//! `ipAddressPoolSelectors`; neither: every pool) and `communities` are resolved in `cross`, once every pool
//! and alias of both formats is known.

use super::read;
use super::{At, Input};
use crate::decode::decode_interfaces;
use crate::decode::selector::{RESOURCE_SELECTOR_KEYS, decode_selector};
use crate::error::{ErrorKind, ObjectRef};
use crate::model::{
    BgpAdvertisement, DEFAULT_AGGREGATION_LENGTH, DEFAULT_AGGREGATION_LENGTH_V6, L2Advertisement,
    PreferredNodeSelector,
};
use crate::reader::{self, Ctx, Fields, fields, index, list};
use crate::selector::LabelSelector;
use crate::yaml::Node;

/// Fields of `L2Advertisement.spec`.
const L2_KEYS: &[&str] = &[
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "interfaces",
    "serviceSelectors",
    "preferredNodeSelectors",
];
/// Fields of `BGPAdvertisement.spec`.
const BGP_KEYS: &[&str] = &[
    "aggregationLength",
    "aggregationLengthV6",
    "localPref",
    "communities",
    "ipAddressPools",
    "ipAddressPoolSelectors",
    "nodeSelectors",
    "peers",
    "serviceSelectors",
];
/// Fields of a `preferredNodeSelectors` entry.
const PREFERENCE_KEYS: &[&str] = &["weight", "preference"];

/// Which pools an advertisement selects: by name or by labels; neither selects every pool.
#[derive(Debug, Default)]
pub(crate) struct PoolSelection {
    pub names: Vec<At<String>>,
    pub selectors: Vec<LabelSelector>,
}

impl PoolSelection {
    fn read(ctx: &mut Ctx, f: &Fields<'_>) -> Self {
        Self {
            names: read::names(ctx, f, "ipAddressPools"),
            selectors: read::selectors(ctx, f, "ipAddressPoolSelectors"),
        }
    }

    /// Whether it selects every pool.
    pub fn all(&self) -> bool {
        self.names.is_empty() && self.selectors.is_empty()
    }
}

#[derive(Debug)]
pub(crate) struct L2Draft {
    pub object: ObjectRef,
    pub selection: PoolSelection,
    /// Without its pools (resolved later); `None` when the object has errors.
    pub adv: Option<L2Advertisement>,
}

#[derive(Debug)]
pub(crate) struct BgpDraft {
    pub object: ObjectRef,
    pub selection: PoolSelection,
    /// Without its pools and communities (resolved later); `None` when the object has errors.
    pub adv: Option<BgpAdvertisement>,
    pub communities: Vec<At<String>>,
    /// `aggregationLength` and `aggregationLengthV6` when given, for the checks against the pools.
    pub lengths: [Option<At<u8>>; 2],
    pub peers: Vec<At<String>>,
}

pub(super) fn decode_l2(ctx: &mut Ctx, input: &Input) -> L2Draft {
    let before = ctx.errors.len();
    let mut draft = L2Draft {
        object: input.object.clone(),
        selection: PoolSelection::default(),
        adv: None,
    };
    let spec = input.spec_or_empty();
    let Some(f) = fields(ctx, &spec, "spec", L2_KEYS) else {
        return draft;
    };
    draft.selection = PoolSelection::read(ctx, &f);
    let node_selectors = read::selectors(ctx, &f, "nodeSelectors");
    let interfaces = f
        .get("interfaces")
        .map(|n| decode_interfaces(ctx, n, &f.path("interfaces")))
        .unwrap_or_default();
    let service_selectors = read::selectors(ctx, &f, "serviceSelectors");
    let mut preferred = Vec::new();
    if let Some(n) = f.get("preferredNodeSelectors") {
        let p = f.path("preferredNodeSelectors");
        for (i, item) in list(ctx, n, &p).iter().enumerate() {
            preferred.extend(decode_preference(ctx, item, &index(&p, i)));
        }
    }
    if ctx.errors.len() == before {
        draft.adv = Some(L2Advertisement {
            name: input.object.name.clone(),
            pools: Vec::new(),
            node_selectors,
            interfaces,
            service_selectors,
            preferred_node_selectors: preferred,
        });
    }
    draft
}

fn decode_preference(ctx: &mut Ctx, node: &Node, path: &str) -> Option<PreferredNodeSelector> {
    let f = fields(ctx, node, path, PREFERENCE_KEYS)?;
    let weight = f
        .require(ctx, "weight")
        .and_then(|n| reader::integer(ctx, n, &f.path("weight"), 1, 100));
    let preference = f
        .require(ctx, "preference")
        .and_then(|n| decode_selector(ctx, n, &f.path("preference"), RESOURCE_SELECTOR_KEYS));
    Some(PreferredNodeSelector {
        weight: u8::try_from(weight?).ok()?,
        preference: preference?,
    })
}

pub(super) fn decode_bgp(ctx: &mut Ctx, input: &Input) -> BgpDraft {
    let before = ctx.errors.len();
    let mut draft = BgpDraft {
        object: input.object.clone(),
        selection: PoolSelection::default(),
        adv: None,
        communities: Vec::new(),
        lengths: [None, None],
        peers: Vec::new(),
    };
    let spec = input.spec_or_empty();
    let Some(f) = fields(ctx, &spec, "spec", BGP_KEYS) else {
        return draft;
    };
    draft.selection = PoolSelection::read(ctx, &f);
    // The CRD's bounds: aggregationLength has minimum 1; aggregationLengthV6 none.
    let mut length = |key: &'static str, min: u64, max: u8| -> Option<u8> {
        let node = f.get(key)?;
        let path = f.path(key);
        let v = reader::integer(ctx, node, &path, min, u64::from(max))? as u8;
        Some(v).inspect(|v| {
            let at = At {
                value: *v,
                path,
                text: v.to_string(),
                line: node.line,
            };
            draft.lengths[usize::from(key != "aggregationLength")] = Some(at);
        })
    };
    let v4 = length("aggregationLength", 1, 32).unwrap_or(DEFAULT_AGGREGATION_LENGTH);
    let v6 = length("aggregationLengthV6", 0, 128).unwrap_or(DEFAULT_AGGREGATION_LENGTH_V6);
    // An omitempty uint32: 0 is "not given".
    let local_pref = reader::optional(ctx, &f, "localPref", None, |ctx, n, p| {
        reader::integer(ctx, n, p, 0, u64::from(u32::MAX)).map(|v| (v != 0).then_some(v as u32))
    });
    draft.communities = read::names(ctx, &f, "communities");
    let node_selectors = read::selectors(ctx, &f, "nodeSelectors");
    draft.peers = read::names(ctx, &f, "peers");
    let service_selectors = read::selectors(ctx, &f, "serviceSelectors");
    if !service_selectors.is_empty() {
        for (key, length, default) in [
            ("aggregationLength", v4, DEFAULT_AGGREGATION_LENGTH),
            ("aggregationLengthV6", v6, DEFAULT_AGGREGATION_LENGTH_V6),
        ] {
            if length != default
                && let Some(n) = f.get(key)
            {
                let kind = ErrorKind::ServiceSelectorsWithAggregation { key, length, default };
                ctx.error(&f.path(key), n, kind);
            }
        }
    }
    if ctx.errors.len() == before
        && let Some(local_pref) = local_pref
    {
        draft.adv = Some(BgpAdvertisement {
            name: input.object.name.clone(),
            pools: Vec::new(),
            aggregation_length: v4,
            aggregation_length_v6: v6,
            local_pref,
            communities: Vec::new(),
            node_selectors,
            peers: draft.peers.iter().map(|p| p.value.clone()).collect(),
            service_selectors,
        });
    }
    draft
}
