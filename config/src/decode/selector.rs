//! Label selector lists: the legacy schema's `node-selectors` (of peers and of layer2 pools, spelt
//! `match-labels` / `match-expressions`) and the resources' selectors (`matchLabels` / `matchExpressions`).

use crate::error::{ErrorKind, WarningKind};
use crate::reader::{self, Ctx, child, fields, index, list};
use crate::selector::{self, LabelSelector, LabelSelectorRequirement, SelectorOperator};
use crate::suggest;
use crate::yaml::Node;

/// Keys of a node selector.
pub(crate) const SELECTOR_KEYS: &[&str] = &["match-labels", "match-expressions"];
/// Keys of a resource's label selector (`metav1.LabelSelector`).
pub(crate) const RESOURCE_SELECTOR_KEYS: &[&str] = &["matchLabels", "matchExpressions"];
/// Keys of a `match-expressions` entry.
pub(crate) const EXPRESSION_KEYS: &[&str] = &["key", "operator", "values"];

pub(super) fn decode_selectors(ctx: &mut Ctx, node: &Node, path: &str) -> Vec<LabelSelector> {
    decode_selectors_with(ctx, node, path, SELECTOR_KEYS)
}

/// A list of selectors spelt with `keys` (the labels key, then the expressions key); the invalid ones are
/// reported and left out.
pub(crate) fn decode_selectors_with(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    keys: &'static [&'static str],
) -> Vec<LabelSelector> {
    let items = list(ctx, node, path);
    let mut out: Vec<(LabelSelector, String)> = Vec::new();
    for (i, n) in items.iter().enumerate() {
        let p = index(path, i);
        let Some(s) = decode_selector(ctx, n, &p, keys) else {
            continue;
        };
        // Selectors are alternatives: a repetition adds nothing (kept once, as the resources do).
        match out.iter().find(|(o, _)| *o == s) {
            Some((_, first)) => {
                let first = first.clone();
                ctx.warn(&p, n, WarningKind::Repeated { first });
            }
            None => out.push((s, p)),
        }
    }
    out.into_iter().map(|(s, _)| s).collect()
}

/// One selector spelt with `keys`; `None` (reported) when invalid.
pub(crate) fn decode_selector(
    ctx: &mut Ctx,
    node: &Node,
    path: &str,
    keys: &'static [&'static str],
) -> Option<LabelSelector> {
    let before = ctx.errors.len();
    let f = fields(ctx, node, path, keys)?;
    let (labels_key, expressions_key) = (keys[0], keys[1]);
    let mut selector = LabelSelector::default();
    if let Some(n) = f.get(labels_key) {
        let p = f.path(labels_key);
        for (key, value) in reader::string_map(ctx, n, &p) {
            let kp = child(&p, &key);
            if let Err(reason) = selector::check_label_key(&key) {
                ctx.error_at(
                    &kp,
                    Some(key.clone()),
                    n.line,
                    ErrorKind::InvalidLabelKey { reason },
                );
            }
            // A null value is the empty label value, as in Kubernetes.
            let text = if value.is_null() {
                Some(String::new())
            } else {
                reader::string(ctx, value, &kp)
            };
            if let Some(text) = text {
                if let Err(reason) = selector::check_label_value(&text) {
                    ctx.error(&kp, value, ErrorKind::InvalidLabelValue { reason });
                }
                selector.match_labels.insert(key, text);
            }
        }
    }
    if let Some(n) = f.get(expressions_key) {
        let p = f.path(expressions_key);
        for (i, item) in list(ctx, n, &p).iter().enumerate() {
            selector
                .match_expressions
                .extend(decode_expression(ctx, item, &index(&p, i)));
        }
    }
    (ctx.errors.len() == before).then_some(selector)
}

fn decode_expression(ctx: &mut Ctx, node: &Node, path: &str) -> Option<LabelSelectorRequirement> {
    let f = fields(ctx, node, path, EXPRESSION_KEYS)?;
    let key = f.require(ctx, "key").and_then(|n| {
        let p = f.path("key");
        let key = reader::string(ctx, n, &p)?;
        match selector::check_label_key(&key) {
            Ok(()) => Some(key),
            Err(reason) => {
                ctx.error(&p, n, ErrorKind::InvalidLabelKey { reason });
                None
            }
        }
    });
    let operator = f.require(ctx, "operator").and_then(|n| {
        let p = f.path("operator");
        let text = reader::string(ctx, n, &p)?;
        let op = SelectorOperator::from_name(&text);
        if op.is_none() {
            let names = SelectorOperator::ALL.map(SelectorOperator::as_str);
            let suggestion = suggest::closest(&text, names).map(str::to_owned);
            ctx.error(&p, n, ErrorKind::InvalidOperator { suggestion });
        }
        op
    });
    let mut values = Vec::new();
    let mut values_ok = true;
    if let Some(n) = f.get("values") {
        let p = f.path("values");
        for (i, item) in list(ctx, n, &p).iter().enumerate() {
            let p = index(&p, i);
            match reader::string(ctx, item, &p) {
                Some(v) => match selector::check_label_value(&v) {
                    Ok(()) => values.push(v),
                    Err(reason) => {
                        ctx.error(&p, item, ErrorKind::InvalidLabelValue { reason });
                        values_ok = false;
                    }
                },
                None => values_ok = false,
            }
        }
    }
    let operator = operator?;
    let values_path = f.path("values");
    if operator.takes_values() && values.is_empty() && values_ok {
        ctx.error_at(
            &values_path,
            None,
            node.line,
            ErrorKind::ValuesRequired {
                operator: operator.as_str(),
            },
        );
        return None;
    }
    if !operator.takes_values() && !values.is_empty() {
        ctx.error_at(
            &values_path,
            None,
            node.line,
            ErrorKind::ValuesForbidden {
                operator: operator.as_str(),
            },
        );
        return None;
    }
    (values_ok).then_some(LabelSelectorRequirement {
        key: key?,
        operator,
        values,
    })
}
