//! A small YAML document tree, read with serde-saphyr, that keeps what validation needs: each node's
//! line and, for plain scalars that YAML typed as numbers or booleans, the text exactly as written.
//!
//! Invariants: loading never panics, whatever the input; nesting, node count, alias expansion and input
//! size are bounded (see [`MAX_INPUT_BYTES`] and the budget in [`options`]), so hostile input costs
//! bounded time and memory. Duplicate mapping keys are kept (not rejected) so that the config decoder
//! can report them with their path, next to every other error.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, DuplicateKeyPolicy, NonFiniteFloatPolicy, Options, Spanned};

/// The largest input accepted: a ConfigMap holds at most 1 MiB of data.
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Why a text is not YAML this crate can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    /// The parser's message, without source snippet.
    pub message: String,
    /// The 1-based line the parser stopped at, when known.
    pub line: Option<u64>,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// One YAML node with its 1-based line (when known).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub line: Option<u64>,
    /// For a plain scalar typed as a boolean or number: its text as written (`0x10`, `1.50`, `yes`).
    pub raw: Option<String>,
}

/// The shape and value of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// "a string", "a list", … for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) => "an integer",
            Kind::Float(_) => "a number",
            Kind::Str(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// The text of a scalar as a string field would read it (YAML 1.1 style, like MetalLB's yaml.v2:
    /// `password: 0x10` is the string `0x10`). `None` for null and collections.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            Kind::Str(s) => Some(s.clone()),
            Kind::Bool(b) => Some(self.raw.clone().unwrap_or_else(|| b.to_string())),
            Kind::Int(i) => Some(self.raw.clone().unwrap_or_else(|| i.to_string())),
            Kind::Float(x) => Some(self.raw.clone().unwrap_or_else(|| x.to_string())),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// A short rendering of the node for error messages: the scalar text, or `[...]`/`{...}`.
    pub fn display_value(&self) -> Option<String> {
        match &self.kind {
            Kind::Null => None,
            Kind::Seq(_) => Some("[...]".to_owned()),
            Kind::Map(_) => Some("{...}".to_owned()),
            _ => self.scalar_text(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
}

/// Parser options: YAML 1.1 booleans (as MetalLB's yaml.v2 read them), duplicate keys passed through
/// for the decoder to report, `.inf`/`.nan` kept as text, leading-zero numbers kept as text (`0755`
/// is not silently octal), and a tight budget.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = 64;
    // Every node takes at least two bytes of text, so no document within the size limit is refused.
    budget.max_nodes = MAX_INPUT_BYTES / 2;
    budget.max_documents = 1_024;
    budget.max_total_scalar_bytes = 4 * MAX_INPUT_BYTES;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 100_000;
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.leading_zero_numbers_as_strings = true;
    options.non_finite_float_policy = NonFiniteFloatPolicy::AsString;
    options.with_snippet = false;
    options
}

/// Reads one YAML document. Empty input (or only comments) is `Null`.
pub(crate) fn load(text: &str) -> Result<Node, YamlError> {
    check_size(text)?;
    let tree: Spanned<Tree> = serde_saphyr::from_str_with_options(text, options()).map_err(yaml_error)?;
    Ok(convert(text, tree))
}

/// Reads every document of a multi-document YAML stream.
pub(crate) fn load_all(text: &str) -> Result<Vec<Node>, YamlError> {
    check_size(text)?;
    let trees: Vec<Spanned<Tree>> =
        serde_saphyr::from_multiple_with_options(text, options()).map_err(yaml_error)?;
    Ok(trees.into_iter().map(|t| convert(text, t)).collect())
}

fn check_size(text: &str) -> Result<(), YamlError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(YamlError {
            message: format!(
                "input is {} bytes; a ConfigMap holds at most {MAX_INPUT_BYTES} bytes",
                text.len()
            ),
            line: None,
        });
    }
    Ok(())
}

fn yaml_error(e: serde_saphyr::Error) -> YamlError {
    let line = e.location().map(|l| l.line()).filter(|&l| l > 0);
    let mut message = e.to_string();
    // The rendered error repeats "error: line L column C:"; keep only the message.
    if let Some(rest) = message.strip_prefix("error: ") {
        message = rest.to_owned();
    }
    if let Some(idx) = message.find(": ")
        && message[..idx].starts_with("line ")
    {
        message = message[idx + 2..].to_owned();
    }
    let mut message = message.lines().next().unwrap_or_default().trim().to_owned();
    // The line is reported separately; drop a trailing " at line L, column C".
    if let Some(idx) = message.rfind(" at line ")
        && let Some((l, c)) = message[idx + 9..].split_once(", column ")
        && !l.is_empty()
        && !c.is_empty()
        && l.bytes().chain(c.bytes()).all(|b| b.is_ascii_digit())
    {
        message.truncate(idx);
    }
    YamlError { message, line }
}

/// The tree as serde sees it; converted to [`Node`] with the source text at hand.
enum Tree {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Tree>>),
    Map(Vec<(Spanned<Tree>, Spanned<Tree>)>),
}

fn convert(src: &str, tree: Spanned<Tree>) -> Node {
    let loc = tree.defined;
    let line = Some(loc.line()).filter(|&l| l > 0);
    let raw = || {
        let span = loc.span();
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        src.get(start..start.checked_add(len)?)
            .map(|s| s.trim().to_owned())
    };
    let (kind, raw) = match tree.value {
        Tree::Null => (Kind::Null, None),
        Tree::Bool(b) => (Kind::Bool(b), raw()),
        Tree::Int(i) => (Kind::Int(i), raw()),
        Tree::Float(x) => (Kind::Float(x), raw()),
        Tree::Str(s) => (Kind::Str(s), None),
        Tree::Seq(items) => (
            Kind::Seq(items.into_iter().map(|t| convert(src, t)).collect()),
            None,
        ),
        Tree::Map(entries) => (
            Kind::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (convert(src, k), convert(src, v)))
                    .collect(),
            ),
            None,
        ),
    };
    Node { kind, line, raw }
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_none<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Tree, D::Error> {
        Tree::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Tree, E> {
        Ok(Tree::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Tree, E> {
        // Beyond i128 no config value is in range anyway; keep it as a (huge) float.
        Ok(i128::try_from(v).map_or(Tree::Float(v as f64), Tree::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Tree, E> {
        Ok(Tree::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Tree, E> {
        Ok(Tree::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Tree, E> {
        Ok(Tree::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Tree::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Tree::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_value<'a>(node: &'a Node, key: &str) -> &'a Node {
        let Kind::Map(entries) = &node.kind else {
            panic!("not a map: {node:?}")
        };
        &entries
            .iter()
            .find(|(k, _)| k.scalar_text().as_deref() == Some(key))
            .expect(key)
            .1
    }

    #[test]
    fn plain_scalars_keep_their_text_and_line() {
        let doc = load("a: 0x10\nb: 1.50\nc: yes\nd: \"q\"\ne:\nf: 0755\n").unwrap();
        assert_eq!(map_value(&doc, "a").kind, Kind::Int(16));
        assert_eq!(map_value(&doc, "a").scalar_text().as_deref(), Some("0x10"));
        assert_eq!(map_value(&doc, "b").scalar_text().as_deref(), Some("1.50"));
        assert_eq!(map_value(&doc, "c").kind, Kind::Bool(true));
        assert_eq!(map_value(&doc, "c").scalar_text().as_deref(), Some("yes"));
        assert_eq!(map_value(&doc, "d").kind, Kind::Str("q".into()));
        assert!(map_value(&doc, "e").is_null());
        assert_eq!(map_value(&doc, "f").kind, Kind::Str("0755".into()));
        assert_eq!(map_value(&doc, "b").line, Some(2));
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_decoder() {
        let doc = load("a: 1\na: 2\n").unwrap();
        let Kind::Map(entries) = doc.kind else { panic!() };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn empty_input_is_null_and_bad_yaml_is_an_error_with_a_line() {
        assert!(load("").unwrap().is_null());
        assert!(load("# nothing\n").unwrap().is_null());
        let err = load("a: [1, 2\n").unwrap_err();
        assert!(!err.message.is_empty());
        assert!(
            !err.message.contains("at line"),
            "the line is kept apart: {err:?}"
        );
        let err = load("a: 1\nb: c: d\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
    }

    #[test]
    fn recursive_aliases_and_oversized_input_are_errors() {
        assert!(load("x: &a [*a]\n").is_err());
        let big = "#".repeat(MAX_INPUT_BYTES + 1);
        assert!(load(&big).unwrap_err().message.contains("at most"));
    }

    #[test]
    fn several_documents() {
        let docs = load_all("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert!(load("a: 1\n---\nb: 2\n").is_err());
    }
}
