//! `IPAddressPool` (metallb.io/v1beta1): `addresses`, `autoAssign`, `avoidBuggyIPs`, `serviceAllocation`.

use std::collections::BTreeMap;

use super::read::{self, text};
use super::{At, Input};
use crate::address::{self, AddressFamily, AddressRange};
use crate::error::{ErrorKind, ObjectRef, WarningKind};
use crate::model::{Pool, ServiceAllocation};
use crate::reader::{self, Ctx, fields, index, list, optional};
use crate::yaml::{Kind, Node};

/// Fields of `IPAddressPool.spec`.
const SPEC_KEYS: &[&str] = &["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"];
/// Fields of `spec.serviceAllocation`.
const ALLOCATION_KEYS: &[&str] = &["priority", "namespaces", "namespaceSelectors", "serviceSelectors"];

/// A decoded pool: the model value when it has no error, and what the cross-object checks need in any case.
#[derive(Debug)]
pub(crate) struct PoolDraft {
    pub object: ObjectRef,
    pub labels: BTreeMap<String, String>,
    pub pool: Option<Pool>,
    pub ranges: Vec<At<AddressRange>>,
}

pub(super) fn decode(ctx: &mut Ctx, input: &Input) -> PoolDraft {
    let before = ctx.errors.len();
    let mut draft = PoolDraft {
        object: input.object.clone(),
        labels: input.labels.clone(),
        pool: None,
        ranges: Vec::new(),
    };
    let spec = input.spec_or_empty();
    let Some(f) = fields(ctx, &spec, "spec", SPEC_KEYS) else {
        return draft;
    };
    if let Some(n) = f.require(ctx, "addresses") {
        let p = f.path("addresses");
        let items = list(ctx, n, &p);
        if items.is_empty() && matches!(n.kind, Kind::Seq(_)) {
            // MetalLB: "pool has no prefixes defined".
            ctx.error(&p, n, ErrorKind::Empty);
        }
        for (i, item) in items.iter().enumerate() {
            let p = index(&p, i);
            let Some(entry) = text(ctx, item, &p) else {
                continue;
            };
            match address::parse_entry(&entry) {
                Ok((range, host_bits)) => {
                    if let Some(net) = host_bits {
                        let network = net.to_string();
                        ctx.warn(&p, item, WarningKind::HostBitsSet { network });
                    }
                    draft.ranges.push(At {
                        value: range,
                        path: p,
                        text: entry,
                        line: item.line,
                    });
                }
                Err(kind) => ctx.error(&p, item, kind),
            }
        }
    }
    let auto_assign = optional(ctx, &f, "autoAssign", true, reader::boolean);
    let avoid_buggy_ips = read::flag(ctx, &f, "avoidBuggyIPs");
    if avoid_buggy_ips == Some(true)
        && !draft.ranges.is_empty()
        && draft.ranges.iter().all(|r| r.value.family() == AddressFamily::V6)
        && let Some(n) = f.get("avoidBuggyIPs")
    {
        ctx.warn(&f.path("avoidBuggyIPs"), n, WarningKind::AvoidBuggyIpsWithoutIpv4);
    }
    let allocation = match f.get("serviceAllocation") {
        None => Some(None),
        Some(n) => decode_allocation(ctx, n, &f.path("serviceAllocation")).map(Some),
    };
    if ctx.errors.len() == before
        && let (Some(auto_assign), Some(avoid_buggy_ips), Some(service_allocation)) =
            (auto_assign, avoid_buggy_ips, allocation)
    {
        draft.pool = Some(Pool {
            name: input.object.name.clone(),
            addresses: draft.ranges.iter().map(|r| r.value).collect(),
            auto_assign,
            avoid_buggy_ips,
            service_allocation,
        });
    }
    draft
}

/// `serviceAllocation`: MetalLB's `int` priority (a negative one has no defined order there, so it is
/// refused), namespaces without repeats, selectors.
fn decode_allocation(ctx: &mut Ctx, node: &Node, path: &str) -> Option<ServiceAllocation> {
    let before = ctx.errors.len();
    let f = fields(ctx, node, path, ALLOCATION_KEYS)?;
    let priority = optional(ctx, &f, "priority", 0, |ctx, n, p| {
        reader::integer(ctx, n, p, 0, u64::from(u32::MAX)).map(|v| v as u32)
    });
    let namespaces = read::names(ctx, &f, "namespaces");
    let namespace_selectors = read::selectors(ctx, &f, "namespaceSelectors");
    let service_selectors = read::selectors(ctx, &f, "serviceSelectors");
    (ctx.errors.len() == before).then(|| ServiceAllocation {
        priority: priority.unwrap_or_default(),
        namespaces: namespaces.into_iter().map(|n| n.value).collect(),
        namespace_selectors,
        service_selectors,
    })
}
