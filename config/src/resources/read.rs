//! Field readers shared by the resource decoders, on top of `crate::reader`: strings as the API server types
//! them, lists of names and of selectors without repeats (MetalLB's `validateDuplicate` and
//! `validateLabelSelectorDuplicate`).

use super::At;
use crate::decode::selector::{RESOURCE_SELECTOR_KEYS, decode_selector};
use crate::error::{ErrorKind, WarningKind};
use crate::reader::{self, Ctx, Fields, index, list};
use crate::selector::LabelSelector;
use crate::yaml::{Kind, Node};

/// A string field. The API server refuses a number or boolean in a string field (`holdTime: 90`,
/// `password: 1234`), so they are errors here too.
pub(crate) fn text(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    match &node.kind {
        Kind::Str(s) => Some(s.clone()),
        _ => {
            ctx.error(
                path,
                node,
                ErrorKind::WrongType {
                    expected: "a string",
                    found: node.type_name(),
                },
            );
            None
        }
    }
}

/// An optional string field; an empty string counts as not given (MetalLB's `omitempty` strings).
pub(crate) fn optional_text(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Option<Option<At<String>>> {
    let Some(node) = f.get(key) else {
        return Some(None);
    };
    let path = f.path(key);
    let value = text(ctx, node, &path)?;
    Some((!value.is_empty()).then(|| At {
        text: value.clone(),
        value,
        path,
        line: node.line,
    }))
}

/// An optional boolean field (default false).
pub(crate) fn flag(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Option<bool> {
    reader::optional(ctx, f, key, false, reader::boolean)
}

/// A list of non-empty names; a name repeated is kept once, with a warning (MetalLB accepts repetitions).
pub(crate) fn names(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Vec<At<String>> {
    let Some(node) = f.get(key) else {
        return Vec::new();
    };
    let path = f.path(key);
    let mut out: Vec<At<String>> = Vec::new();
    for (i, item) in list(ctx, node, &path).iter().enumerate() {
        let p = index(&path, i);
        let Some(name) = text(ctx, item, &p) else { continue };
        if name.trim().is_empty() {
            ctx.error(&p, item, ErrorKind::Empty);
        } else if let Some(first) = out.iter().find(|n| n.value == name) {
            let kind = WarningKind::Repeated {
                first: first.path.clone(),
            };
            ctx.warn(&p, item, kind);
        } else {
            out.push(At {
                text: name.clone(),
                value: name,
                path: p,
                line: item.line,
            });
        }
    }
    out
}

/// A list of label selectors (`matchLabels`, `matchExpressions`); a selector repeated is kept once, with a
/// warning (they are alternatives: a repetition adds nothing, and MetalLB accepts it).
pub(crate) fn selectors(ctx: &mut Ctx, f: &Fields<'_>, key: &str) -> Vec<LabelSelector> {
    let Some(node) = f.get(key) else {
        return Vec::new();
    };
    let path = f.path(key);
    let mut out: Vec<(LabelSelector, String)> = Vec::new();
    for (i, item) in list(ctx, node, &path).iter().enumerate() {
        let p = index(&path, i);
        let Some(s) = decode_selector(ctx, item, &p, RESOURCE_SELECTOR_KEYS) else {
            continue;
        };
        if let Some((_, first)) = out.iter().find(|(o, _)| *o == s) {
            let kind = WarningKind::Repeated { first: first.clone() };
            ctx.warn(&p, item, kind);
        } else {
            out.push((s, p));
        }
    }
    out.into_iter().map(|(s, _)| s).collect()
}
