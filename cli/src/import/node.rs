//! A YAML document as a tree that keeps what a plain map would lose: repeated keys, in order.
//!
//! kubespray's MetalLB templates write `communities:` once per community inside one mapping; a YAML reader
//! that refuses duplicates (or keeps only the last) could not see what the operator listed. [`Node`] keeps
//! every entry, and [`Node::all`] returns every value of a key.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, entries in order, repeated keys kept.
    Map(Vec<(String, Node)>),
}

/// The empty node returned for missing keys.
pub static NULL: Node = Node::Null;

impl Node {
    /// Parses every document of `text` (repeated keys kept).
    pub fn parse_documents(text: &str) -> Result<Vec<Node>, String> {
        let mut options = serde_saphyr::Options::default();
        options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
        serde_saphyr::from_multiple_with_options(text, options).map_err(|e| e.to_string())
    }

    /// The first value of `key` ([`NULL`] when absent or not a mapping).
    pub fn get(&self, key: &str) -> &Node {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        let entries: &[(String, Node)] = match self {
            Node::Map(m) => m,
            _ => &[],
        };
        entries.iter().filter(move |(k, _)| k == key).map(|(_, v)| v)
    }

    /// The mapping's keys, in order, repeats included.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            Node::Map(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether the node is `null` or absent.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// The string value (numbers and booleans are not strings here).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The sequence's items, or nothing.
    pub fn items(&self) -> &[Node] {
        match self {
            Node::Seq(s) => s,
            _ => &[],
        }
    }

    /// A short rendering for messages.
    pub fn brief(&self) -> String {
        match self {
            Node::Null => "null".into(),
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => f.to_string(),
            Node::Str(s) => format!("{s:?}"),
            Node::Seq(s) => format!("a list of {}", s.len()),
            Node::Map(_) => "a mapping".into(),
        }
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        i128::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        // Keys as written: a key `n` or `on` is a name here, not YAML 1.1's boolean.
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            entries.push((k, v));
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_kept_in_order() {
        let docs = Node::parse_documents(
            "spec:\n  communities:\n  - a\n  communities:\n  - b\n  n: 3\n  t: True\n  e:\n---\n---\nx: 1\n",
        )
        .unwrap();
        let spec = docs[0].get("spec");
        let all: Vec<&Node> = spec.all("communities").collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].items()[0].as_str(), Some("b"));
        assert_eq!(spec.get("n"), &Node::Int(3));
        assert_eq!(spec.get("t"), &Node::Bool(true));
        assert!(spec.get("e").is_null());
        assert!(spec.get("missing").is_null());
        assert_eq!(spec.keys(), ["communities", "communities", "n", "t", "e"]);
        assert!(docs.iter().any(|d| d.get("x") == &Node::Int(1)));
        assert!(Node::parse_documents("a: [").is_err());
    }
}
