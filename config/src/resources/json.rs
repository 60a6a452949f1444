//! JSON (as the API server returns a resource's spec) to the YAML tree the `reader` machinery reads.
//! Nothing is lost that the decoders look at: objects keep their keys, numbers their value; there are no
//! lines.

use crate::yaml::{Kind, Node};

/// The tree of a JSON value.
pub(crate) fn to_node(value: &serde_json::Value) -> Node {
    let kind = match value {
        serde_json::Value::Null => Kind::Null,
        serde_json::Value::Bool(b) => Kind::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Kind::Int(i.into()),
            (None, Some(u)) => Kind::Int(u.into()),
            (None, None) => Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Kind::Str(s.clone()),
        serde_json::Value::Array(items) => Kind::Seq(items.iter().map(to_node).collect()),
        serde_json::Value::Object(map) => Kind::Map(
            map.iter()
                .map(|(k, v)| (leaf(Kind::Str(k.clone())), to_node(v)))
                .collect(),
        ),
    };
    leaf(kind)
}

fn leaf(kind: Kind) -> Node {
    Node {
        kind,
        line: None,
        raw: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_json_type() {
        let v: serde_json::Value = serde_json::json!({
            "a": [1, -2, 18446744073709551615u64, 1.5, true, null, "x"],
        });
        let Kind::Map(entries) = to_node(&v).kind else {
            panic!()
        };
        let Kind::Seq(items) = &entries[0].1.kind else {
            panic!()
        };
        let kinds: Vec<&Kind> = items.iter().map(|n| &n.kind).collect();
        assert_eq!(
            kinds,
            [
                &Kind::Int(1),
                &Kind::Int(-2),
                &Kind::Int(i128::from(u64::MAX)),
                &Kind::Float(1.5),
                &Kind::Bool(true),
                &Kind::Null,
                &Kind::Str("x".into()),
            ]
        );
        assert!(items.iter().all(|n| n.line.is_none()));
    }
}
