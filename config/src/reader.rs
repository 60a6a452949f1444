//! Typed reads from the YAML tree that never stop at the first problem: each read either yields a value
//! or records an error (with path, value and line) in [`Ctx`] and yields `None`, so the decoder goes on
//! and reports everything.

use std::collections::HashMap;

use crate::error::{ConfigError, ConfigWarning, ErrorKind, WarningKind};
use crate::suggest;
use crate::yaml::{Kind, Node};

/// Errors and warnings collected while decoding.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigWarning>,
}

impl Ctx {
    /// Records an error about `node` (its value and line are reported).
    pub fn error(&mut self, path: &str, node: &Node, kind: ErrorKind) {
        self.errors.push(ConfigError {
            object: None,
            path: path.to_owned(),
            value: node.display_value(),
            line: node.line,
            kind,
        });
    }

    /// Records an error with an explicit value and line.
    pub fn error_at(&mut self, path: &str, value: Option<String>, line: Option<u64>, kind: ErrorKind) {
        self.errors.push(ConfigError {
            object: None,
            path: path.to_owned(),
            value,
            line,
            kind,
        });
    }

    /// Records a warning about `node`.
    pub fn warn(&mut self, path: &str, node: &Node, kind: WarningKind) {
        self.warnings.push(ConfigWarning {
            object: None,
            path: path.to_owned(),
            value: node.display_value(),
            line: node.line,
            kind,
        });
    }
}

/// `parent.key`, or `parent["key"]` when the key is not a plain word (label keys, odd aliases).
pub(crate) fn child(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// `parent[i]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// A mapping whose keys were checked against a schema: unknown and duplicate keys are already reported.
#[derive(Debug)]
pub(crate) struct Fields<'n> {
    path: String,
    node: &'n Node,
    entries: Vec<(&'static str, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The value of a key, unless absent or null (null means "not given", as in MetalLB).
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, v)| *k == key && !v.is_null())
            .map(|(_, v)| *v)
    }

    /// The path of a key of this mapping.
    pub fn path(&self, key: &str) -> String {
        child(&self.path, key)
    }

    /// Records `MissingKey` for an absent required key.
    pub fn missing(&self, ctx: &mut Ctx, key: &str) {
        ctx.error_at(&self.path(key), None, self.node.line, ErrorKind::MissingKey);
    }

    /// The value of a required key, recording `MissingKey` if absent.
    pub fn require(&self, ctx: &mut Ctx, key: &str) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() {
            self.missing(ctx, key);
        }
        node
    }
}

/// Reads a mapping with the given known keys. Unknown keys (with the closest known key suggested) and
/// duplicate keys are recorded; `None` (with an error) when the node is not a mapping.
pub(crate) fn fields<'n>(
    ctx: &mut Ctx,
    node: &'n Node,
    path: &str,
    known: &[&'static str],
) -> Option<Fields<'n>> {
    let Kind::Map(entries) = &node.kind else {
        ctx.error(
            path,
            node,
            ErrorKind::WrongType {
                expected: "a mapping",
                found: node.type_name(),
            },
        );
        return None;
    };
    let mut fields = Fields {
        path: path.to_owned(),
        node,
        entries: Vec::new(),
    };
    let mut first_lines: Vec<(&'static str, Option<u64>)> = Vec::new();
    for (key, value) in entries {
        let Some(text) = key_text(ctx, key, path) else {
            continue;
        };
        match known.iter().find(|k| **k == text) {
            Some(&k) => {
                if let Some((_, first)) = first_lines.iter().find(|(seen, _)| *seen == k) {
                    let kind = ErrorKind::DuplicateKey {
                        first_line: first.unwrap_or(0),
                    };
                    ctx.error_at(&child(path, k), None, key.line, kind);
                } else {
                    first_lines.push((k, key.line));
                    fields.entries.push((k, value));
                }
            }
            None => {
                let suggestion = suggest::closest(&text, known.iter().copied()).map(str::to_owned);
                ctx.error_at(
                    &child(path, &text),
                    None,
                    key.line,
                    ErrorKind::UnknownKey { suggestion },
                );
            }
        }
    }
    Some(fields)
}

/// A mapping with arbitrary string keys (labels, community aliases), duplicates reported.
pub(crate) fn string_map<'n>(ctx: &mut Ctx, node: &'n Node, path: &str) -> Vec<(String, &'n Node)> {
    let Kind::Map(entries) = &node.kind else {
        ctx.error(
            path,
            node,
            ErrorKind::WrongType {
                expected: "a mapping",
                found: node.type_name(),
            },
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut first_lines: HashMap<String, Option<u64>> = HashMap::new();
    for (key, value) in entries {
        let Some(text) = key_text(ctx, key, path) else {
            continue;
        };
        if let Some(first) = first_lines.get(&text) {
            let kind = ErrorKind::DuplicateKey {
                first_line: first.unwrap_or(0),
            };
            ctx.error_at(&child(path, &text), None, key.line, kind);
            continue;
        }
        first_lines.insert(text.clone(), key.line);
        out.push((text, value));
    }
    out
}

fn key_text(ctx: &mut Ctx, key: &Node, path: &str) -> Option<String> {
    let text = key.scalar_text();
    if text.is_none() {
        ctx.error(
            path,
            key,
            ErrorKind::WrongType {
                expected: "a string key",
                found: key.type_name(),
            },
        );
    }
    text
}

/// The items of a list; records `WrongType` (and yields nothing) for anything else.
pub(crate) fn list<'n>(ctx: &mut Ctx, node: &'n Node, path: &str) -> &'n [Node] {
    match &node.kind {
        Kind::Seq(items) => items,
        _ => {
            ctx.error(
                path,
                node,
                ErrorKind::WrongType {
                    expected: "a list",
                    found: node.type_name(),
                },
            );
            &[]
        }
    }
}

/// A scalar read as text (numbers and booleans as written, like MetalLB's yaml.v2 does for string
/// fields).
pub(crate) fn string(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    let text = node.scalar_text();
    if text.is_none() {
        ctx.error(
            path,
            node,
            ErrorKind::WrongType {
                expected: "a string",
                found: node.type_name(),
            },
        );
    }
    text
}

/// A non-empty (after trimming) string.
pub(crate) fn non_empty_string(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    let text = string(ctx, node, path)?;
    if text.trim().is_empty() {
        ctx.error(path, node, ErrorKind::Empty);
        return None;
    }
    Some(text)
}

/// A name others refer to (pool, BFD profile, community alias): non-empty, without surrounding
/// whitespace (references are trimmed, so such a name could never be referred to) or control characters.
pub(crate) fn name(ctx: &mut Ctx, node: &Node, path: &str) -> Option<String> {
    let text = non_empty_string(ctx, node, path)?;
    match check_name(&text) {
        Ok(()) => Some(text),
        Err(reason) => {
            ctx.error(path, node, ErrorKind::InvalidName { reason });
            None
        }
    }
}

/// See [`name`].
pub(crate) fn check_name(text: &str) -> Result<(), &'static str> {
    if text.trim() != text {
        return Err("leading or trailing whitespace");
    }
    if text.chars().any(char::is_control) {
        return Err("control character");
    }
    Ok(())
}

/// `true` or `false` (YAML 1.1 spellings such as `yes` included, as yaml.v2 read them).
pub(crate) fn boolean(ctx: &mut Ctx, node: &Node, path: &str) -> Option<bool> {
    match node.kind {
        Kind::Bool(b) => Some(b),
        _ => {
            ctx.error(
                path,
                node,
                ErrorKind::WrongType {
                    expected: "true or false",
                    found: node.type_name(),
                },
            );
            None
        }
    }
}

/// An integer in `min..=max`.
pub(crate) fn integer(ctx: &mut Ctx, node: &Node, path: &str, min: u64, max: u64) -> Option<u64> {
    let out_of_range = ErrorKind::OutOfRange { min, max };
    match &node.kind {
        Kind::Int(i) => match u64::try_from(*i) {
            Ok(v) if (min..=max).contains(&v) => Some(v),
            _ => {
                ctx.error(path, node, out_of_range);
                None
            }
        },
        // A plain integer too large for the YAML reader arrives as a float; it is out of range too.
        Kind::Float(_)
            if node.raw.as_deref().is_some_and(|r| {
                let digits = r.strip_prefix(['-', '+']).unwrap_or(r);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            }) =>
        {
            ctx.error(path, node, out_of_range);
            None
        }
        _ => {
            ctx.error(
                path,
                node,
                ErrorKind::WrongType {
                    expected: "an integer",
                    found: node.type_name(),
                },
            );
            None
        }
    }
}

/// Reads an optional field with `read`, falling back to `default` when absent; `None` on error.
pub(crate) fn optional<T>(
    ctx: &mut Ctx,
    fields: &Fields<'_>,
    key: &str,
    default: T,
    read: impl FnOnce(&mut Ctx, &Node, &str) -> Option<T>,
) -> Option<T> {
    match fields.get(key) {
        Some(node) => read(ctx, node, &fields.path(key)),
        None => Some(default),
    }
}
