//! Property tests: parsers of client input never panic, and patches behave as their RFCs say.

use ferrolb_apiserver::kinds::service::ServiceStrategy;
use ferrolb_apiserver::patch::{json_patch, merge_patch, strategic_merge_patch};
use ferrolb_apiserver::request_info::{parse_query, request_info};
use ferrolb_apiserver::selector::{FieldSelector, LabelSelector};
use ferrolb_apiserver::time::parse_rfc3339;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        "[a-z$/~0-9]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z$]{1,4}|\\$patch|\\$retainKeys|port", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

proptest! {
    #[test]
    fn selector_and_query_parsers_never_panic(s in ".{0,40}") {
        let _ = LabelSelector::parse(&s);
        let _ = FieldSelector::parse(&s);
        let _ = parse_rfc3339(&s);
        let q = parse_query(Some(&s));
        let _ = request_info("GET", &format!("/api/v1/{s}"), &q);
        let _ = request_info("PATCH", &format!("/apis/{s}"), &q);
    }

    #[test]
    fn patches_never_panic(target in json_value(), patch in json_value()) {
        let mut t = target.clone();
        merge_patch(&mut t, &patch);
        let _ = json_patch(&target, &patch);
        let _ = strategic_merge_patch(&ServiceStrategy, &target, &patch);
    }

    #[test]
    fn merge_patch_is_idempotent(target in json_value(), patch in json_value()) {
        let mut once = target.clone();
        merge_patch(&mut once, &patch);
        let mut twice = once.clone();
        merge_patch(&mut twice, &patch);
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn json_patch_add_then_remove_restores(key in "[a-z]{1,8}", value in json_value(), base in prop::collection::btree_map("[A-Z]{1,3}", json_value(), 0..4)) {
        let target = Value::Object(base.into_iter().collect());
        let added = json_patch(&target, &json!([{"op": "add", "path": format!("/{key}"), "value": value}])).unwrap();
        let removed = json_patch(&added, &json!([{"op": "remove", "path": format!("/{key}")}])).unwrap();
        prop_assert_eq!(removed, target);
    }
}
