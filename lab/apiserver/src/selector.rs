//! Label selectors (equality- and set-based) and field selectors, parsed as `k8s.io/apimachinery/pkg/labels`
//! and `pkg/fields` parse them.
//!
//! Label grammar: requirements separated by `,`; each is `key`, `!key`, `key=v`, `key==v`, `key!=v`,
//! `key in (v1,v2)` or `key notin (v1,v2)`. Field grammar: `path=v`, `path==v`, `path!=v` separated by `,`,
//! with `\,`, `\=` and `\\` escapes in values.

use std::collections::BTreeMap;

/// A parse error naming the offending selector text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Label selector syntax error.
    #[error("unable to parse requirement: {0}")]
    Label(String),
    /// Field selector syntax error.
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    Field(String, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut reqs = Vec::new();
        let mut rest = s.trim();
        while !rest.is_empty() {
            let (req, tail) = parse_requirement(rest)?;
            reqs.push(req);
            rest = tail.trim_start();
            if let Some(t) = rest.strip_prefix(',') {
                rest = t.trim_start();
                if rest.is_empty() {
                    return Err(SelectorError::Label(format!(
                        "found '', expected: identifier after ',' in {s:?}"
                    )));
                }
            } else if !rest.is_empty() {
                return Err(SelectorError::Label(format!(
                    "found '{rest}', expected: ',' or end of string"
                )));
            }
        }
        Ok(LabelSelector { reqs })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|r| {
            let v = labels.get(&r.key);
            match &r.op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Eq(want) => v == Some(want),
                Op::NotEq(want) => v != Some(want),
                Op::In(set) => v.is_some_and(|v| set.contains(v)),
                Op::NotIn(set) => v.is_none_or(|v| !set.contains(v)),
            }
        })
    }

    /// Whether this selector has no requirement.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn take_word(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !is_key_char(c)).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn parse_requirement(s: &str) -> Result<(Requirement, &str), SelectorError> {
    if let Some(t) = s.strip_prefix('!') {
        let (key, tail) = take_word(t.trim_start());
        check_key(key)?;
        return Ok((
            Requirement {
                key: key.to_owned(),
                op: Op::NotExists,
            },
            tail,
        ));
    }
    let (key, tail) = take_word(s);
    check_key(key)?;
    let t = tail.trim_start();
    let key = key.to_owned();
    for (tok, neg) in [("!=", true), ("==", false), ("=", false)] {
        if let Some(t) = t.strip_prefix(tok) {
            let (val, tail) = take_word(t.trim_start());
            check_value(val)?;
            let op = if neg {
                Op::NotEq(val.to_owned())
            } else {
                Op::Eq(val.to_owned())
            };
            return Ok((Requirement { key, op }, tail));
        }
    }
    let (word, after) = take_word(t);
    match word {
        "in" | "notin" if after.starts_with([' ', '(']) => {
            let after = after.trim_start();
            let inner = after
                .strip_prefix('(')
                .ok_or_else(|| SelectorError::Label(format!("found '{after}', expected: '('")))?;
            let close = inner
                .find(')')
                .ok_or_else(|| SelectorError::Label("found '', expected: ')'".to_owned()))?;
            let mut vals = Vec::new();
            for v in inner[..close].split(',') {
                let v = v.trim();
                check_value(v)?;
                vals.push(v.to_owned());
            }
            let op = if word == "in" {
                Op::In(vals)
            } else {
                Op::NotIn(vals)
            };
            Ok((Requirement { key, op }, &inner[close + 1..]))
        }
        _ => Ok((Requirement { key, op: Op::Exists }, tail)),
    }
}

fn check_key(key: &str) -> Result<(), SelectorError> {
    if crate::validate::qualified_name(key).is_empty() {
        Ok(())
    } else {
        Err(SelectorError::Label(format!("key {key:?}: invalid label key")))
    }
}

fn check_value(v: &str) -> Result<(), SelectorError> {
    if crate::validate::label_value(v).is_empty() {
        Ok(())
    } else {
        Err(SelectorError::Label(format!(
            "values[0][{v}]: invalid label value"
        )))
    }
}

/// One `path op value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field path, e.g. `metadata.name`.
    pub field: String,
    /// The wanted value.
    pub value: String,
    /// `!=` instead of `=`.
    pub negated: bool,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// The terms, all of which must hold.
    pub terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter.
    pub fn parse(s: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for part in split_unescaped(s, ',') {
            if part.is_empty() {
                continue;
            }
            let (field, value, negated) = if let Some(i) = find_unescaped(&part, "!=") {
                (&part[..i], &part[i + 2..], true)
            } else if let Some(i) = find_unescaped(&part, "==") {
                (&part[..i], &part[i + 2..], false)
            } else if let Some(i) = find_unescaped(&part, "=") {
                (&part[..i], &part[i + 1..], false)
            } else {
                return Err(SelectorError::Field(s.to_owned(), part.clone()));
            };
            terms.push(FieldTerm {
                field: field.trim().to_owned(),
                value: unescape(value),
                negated,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether the object satisfies every term; `get` returns a field's value as a string ("" when absent).
    pub fn matches(&self, get: impl Fn(&str) -> String) -> bool {
        self.terms.iter().all(|t| (get(&t.field) == t.value) != t.negated)
    }

    /// The value an `=` term requires for `field`, if any (e.g. a watch on one `metadata.name`).
    pub fn required(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && !t.negated)
            .map(|t| t.value.as_str())
    }
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut esc = false;
    for c in s.chars() {
        if esc {
            if let Some(o) = out.last_mut() {
                o.push('\\');
                o.push(c);
            }
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(String::new());
        } else if let Some(o) = out.last_mut() {
            o.push(c);
        }
    }
    out
}

fn find_unescaped(s: &str, pat: &str) -> Option<usize> {
    let mut esc = false;
    for (i, c) in s.char_indices() {
        if esc {
            esc = false;
            continue;
        }
        if c == '\\' {
            esc = true;
        } else if s[i..].starts_with(pat) {
            return Some(i);
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut esc = false;
    for c in s.chars() {
        if esc || c != '\\' {
            out.push(c);
            esc = false;
        } else {
            esc = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selectors_match_like_apimachinery() {
        let l = labels(&[("app", "web"), ("tier", "front"), ("ferrolb.io/pool", "a")]);
        let cases = [
            ("", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web, api)", true),
            ("app in (api)", false),
            ("app notin (api)", true),
            ("missing notin (api)", true),
            ("missing in (api)", false),
            ("app=web,tier=front", true),
            ("app=web, tier=back", false),
            ("ferrolb.io/pool=a", true),
            ("app = web", true),
        ];
        for (sel, want) in cases {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&l), want, "{sel:?}");
        }
    }

    #[test]
    fn bad_label_selectors_are_rejected() {
        for bad in [
            "app=web,",
            "=web",
            "app in web",
            "app in (a",
            "app=we b",
            "-bad=x",
            "app=web x",
        ] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn field_selectors_parse_and_match() {
        let f = FieldSelector::parse("metadata.name=web,metadata.namespace!=kube-system").unwrap();
        assert_eq!(f.required("metadata.name"), Some("web"));
        let get = |ns: &'static str| {
            move |p: &str| {
                if p == "metadata.name" {
                    "web".to_owned()
                } else {
                    ns.to_owned()
                }
            }
        };
        assert!(f.matches(get("default")));
        assert!(!f.matches(get("kube-system")));
        let esc = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(esc.terms[0].value, "a,b");
        assert!(FieldSelector::parse("metadata.name").is_err());
        assert!(FieldSelector::parse("").unwrap().terms.is_empty());
    }
}
