use serde_json::json;

use super::*;

#[test]
fn secrets_merge_string_data_and_default_type() {
    let r = crate::resources::Registry::builtin();
    let def = r.get("", "v1", "secrets").unwrap();
    let mut s = json!({"stringData": {"key": "ferrolb"}, "data": {"other": "eA=="}});
    set_defaults(def, &mut s);
    assert_eq!(
        s,
        json!({"type": "Opaque", "data": {"other": "eA==", "key": "ZmVycm9sYg=="}})
    );
}
