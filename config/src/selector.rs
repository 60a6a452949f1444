//! Label selectors (of nodes, Services, namespaces and pools), read from the legacy schema's keys
//! (`match-labels`, `match-expressions` of `key`/`operator`/`values`) or the resources' (`matchLabels`,
//! `matchExpressions`).
//!
//! Semantics follow `metav1.LabelSelector`: a selector matches when every `match-labels` pair and every
//! expression holds; a selector with neither matches every object; a list of selectors matches when any
//! selector matches, and an empty list matches every object. Keys and values are checked as Kubernetes
//! checks them.

use std::collections::BTreeMap;
use std::fmt;

/// One label selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LabelSelector {
    /// Labels that must be present with exactly these values.
    pub match_labels: BTreeMap<String, String>,
    /// Expressions that must all hold.
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `match-expressions` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// How the label is tested.
    pub operator: SelectorOperator,
    /// Values for `In` and `NotIn` (non-empty); empty for `Exists` and `DoesNotExist`.
    pub values: Vec<String>,
}

/// A label selector operator (spelt exactly as Kubernetes spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SelectorOperator {
    /// The label is present and its value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl SelectorOperator {
    /// All operators, in Kubernetes' spelling.
    pub const ALL: [Self; 4] = [Self::In, Self::NotIn, Self::Exists, Self::DoesNotExist];

    /// The operator's name as written in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
        }
    }

    /// Parses the exact spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the operator takes values (In, NotIn).
    pub fn takes_values(self) -> bool {
        matches!(self, Self::In | Self::NotIn)
    }
}

impl fmt::Display for SelectorOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl LabelSelector {
    /// Whether a node with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| e.matches(labels))
    }
}

impl LabelSelectorRequirement {
    /// Whether the expression holds for these labels.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            SelectorOperator::In => value.is_some_and(|v| self.values.contains(v)),
            SelectorOperator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            SelectorOperator::Exists => value.is_some(),
            SelectorOperator::DoesNotExist => value.is_none(),
        }
    }
}

/// Whether a list of selectors selects a node: an empty list selects every node, otherwise any
/// selector must match.
pub fn matches_any(selectors: &[LabelSelector], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

/// Checks a label key as Kubernetes does: an optional DNS-subdomain prefix and `/`, then a name of at most
/// 63 characters of alphanumerics, `-`, `_`, `.`, beginning and ending with an alphanumeric.
pub(crate) fn check_label_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("the prefix before '/' is empty");
        }
        if prefix.len() > 253 {
            return Err("the prefix is longer than 253 characters");
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !prefix.split('.').all(label_ok) {
            return Err("the prefix must be a lowercase DNS subdomain (like example.com)");
        }
    }
    if name.is_empty() {
        return Err("the name is empty");
    }
    check_name(name).map_err(|_| {
        "the name must be at most 63 characters of letters, digits, '-', '_' or '.', \
         beginning and ending with a letter or digit"
    })
}

/// Checks a label value: empty, or at most 63 characters like a key's name part.
pub(crate) fn check_label_value(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(value).map_err(|_| {
        "must be at most 63 characters of letters, digits, '-', '_' or '.', \
         beginning and ending with a letter or digit"
    })
}

fn check_name(name: &str) -> Result<(), ()> {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    let ok = name.len() <= 63
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn selector_semantics() {
        let node = labels(&[("kubernetes.io/hostname", "n1"), ("kubernetes.io/arch", "amd64")]);
        let everyone = LabelSelector::default();
        assert!(everyone.matches(&node));
        assert!(matches_any(&[], &node));
        let by_host = LabelSelector {
            match_labels: labels(&[("kubernetes.io/hostname", "n1")]),
            match_expressions: vec![],
        };
        assert!(by_host.matches(&node));
        assert!(!by_host.matches(&labels(&[("kubernetes.io/hostname", "n2")])));
        let cases = [
            (
                expr("kubernetes.io/arch", SelectorOperator::In, &["arm64", "amd64"]),
                true,
            ),
            (
                expr("kubernetes.io/arch", SelectorOperator::In, &["arm64"]),
                false,
            ),
            (expr("missing", SelectorOperator::In, &["x"]), false),
            (
                expr("kubernetes.io/arch", SelectorOperator::NotIn, &["arm64"]),
                true,
            ),
            (expr("missing", SelectorOperator::NotIn, &["x"]), true),
            (
                expr("kubernetes.io/arch", SelectorOperator::NotIn, &["amd64"]),
                false,
            ),
            (expr("kubernetes.io/arch", SelectorOperator::Exists, &[]), true),
            (expr("missing", SelectorOperator::Exists, &[]), false),
            (expr("missing", SelectorOperator::DoesNotExist, &[]), true),
            (
                expr("kubernetes.io/arch", SelectorOperator::DoesNotExist, &[]),
                false,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.matches(&node), want, "{e:?}");
        }
        let other = LabelSelector {
            match_labels: labels(&[("kubernetes.io/hostname", "n9")]),
            match_expressions: vec![],
        };
        assert!(matches_any(&[other.clone(), by_host], &node));
        assert!(!matches_any(&[other], &node));
    }

    #[test]
    fn label_keys_and_values() {
        for good in [
            "kubernetes.io/hostname",
            "app",
            "a.b_c-d",
            "node-role.kubernetes.io/control-plane",
        ] {
            assert_eq!(check_label_key(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/x",
            "Example.com/x",
            "a/",
            "-a",
            "a b",
            &"x".repeat(64),
            "ex_ample.com/x",
        ] {
            assert!(check_label_key(bad).is_err(), "{bad}");
        }
        assert_eq!(check_label_value(""), Ok(()));
        assert_eq!(check_label_value("amd64"), Ok(()));
        assert!(check_label_value("a b").is_err());
        assert!(check_label_value("-a").is_err());
    }
}
