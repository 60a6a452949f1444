//! Patch tests: RFC 7386 merge, RFC 6902 JSON patch, strategic merge directives and merge keys.

use serde_json::json;

use super::*;
use crate::kinds::config::ConfigMapStrategy;
use crate::kinds::service::ServiceStrategy;

#[test]
fn merge_patch_follows_rfc7386() {
    let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
    merge_patch(
        &mut t,
        &json!({"a": "z", "c": {"f": null}, "l": [3], "n": {"x": 1}}),
    );
    assert_eq!(t, json!({"a": "z", "c": {"d": "e"}, "l": [3], "n": {"x": 1}}));
}

#[test]
fn json_patch_ops_and_errors() {
    let t = json!({"metadata": {"labels": {"a/b": "1"}}, "list": [1, 2, 3]});
    let p = json!([
        {"op": "add", "path": "/list/1", "value": 9},
        {"op": "add", "path": "/list/-", "value": 4},
        {"op": "remove", "path": "/list/0"},
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
        {"op": "copy", "from": "/list/0", "path": "/first"},
        {"op": "move", "from": "/first", "path": "/moved"},
        {"op": "test", "path": "/moved", "value": 9},
    ]);
    let out = json_patch(&t, &p).unwrap();
    assert_eq!(
        out,
        json!({"metadata": {"labels": {"a/b": "2"}}, "list": [9, 2, 3, 4], "moved": 9})
    );
    assert!(matches!(
        json_patch(&t, &json!([{"op": "test", "path": "/list/0", "value": 5}])),
        Err(PatchError::Unprocessable(_))
    ));
    assert!(matches!(
        json_patch(&t, &json!([{"op": "remove", "path": "/nope"}])),
        Err(PatchError::Unprocessable(_))
    ));
    assert!(matches!(
        json_patch(&t, &json!({"op": "add"})),
        Err(PatchError::BadPatch(_))
    ));
    assert!(matches!(
        json_patch(&t, &json!([{"op": "frob", "path": "/a"}])),
        Err(PatchError::BadPatch(_))
    ));
}

#[test]
fn strategic_merge_merges_ports_by_key_and_honours_directives() {
    let svc = json!({"metadata": {"finalizers": ["a"], "labels": {"x": "1"}},
                     "spec": {"ports": [{"port": 80, "name": "http", "nodePort": 30080}, {"port": 443, "name": "https"}],
                              "ipFamilies": ["IPv4"]}});
    let p = json!({"metadata": {"finalizers": ["b"], "labels": {"x": null, "y": "2"}},
                   "spec": {"ports": [{"port": 80, "name": "web"}, {"port": 443, "$patch": "delete"}, {"port": 8080, "name": "alt"}],
                            "ipFamilies": ["IPv6"]}});
    let out = strategic_merge_patch(&ServiceStrategy, &svc, &p).unwrap();
    assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
    assert_eq!(out["metadata"]["labels"], json!({"y": "2"}));
    assert_eq!(
        out["spec"]["ports"],
        json!([{"port": 80, "name": "web", "nodePort": 30080}, {"port": 8080, "name": "alt"}])
    );
    assert_eq!(out["spec"]["ipFamilies"], json!(["IPv6"]));

    let p = json!({"spec": {"$setElementOrder/ports": [{"port": 8080}, {"port": 80}], "ports": [{"port": 8080, "name": "alt"}]},
                   "metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}});
    let out2 = strategic_merge_patch(&ServiceStrategy, &out, &p).unwrap();
    assert_eq!(out2["spec"]["ports"][0]["port"], 8080);
    assert_eq!(out2["metadata"]["finalizers"], json!(["a"]));

    let p = json!({"spec": {"$patch": "replace", "type": "ClusterIP"}});
    assert_eq!(
        strategic_merge_patch(&ServiceStrategy, &svc, &p).unwrap()["spec"],
        json!({"type": "ClusterIP"})
    );
    let p = json!({"spec": {"$retainKeys": ["ipFamilies"], "ipFamilies": ["IPv4"]}});
    assert_eq!(
        strategic_merge_patch(&ServiceStrategy, &svc, &p).unwrap()["spec"],
        json!({"ipFamilies": ["IPv4"]})
    );
    assert!(
        strategic_merge_patch(
            &ServiceStrategy,
            &svc,
            &json!({"spec": {"ports": [{"name": "nokey"}]}})
        )
        .is_err()
    );
    assert!(strategic_merge_patch(&ServiceStrategy, &svc, &json!([])).is_err());
}

#[test]
fn pod_template_lists_merge_by_their_keys() {
    let deploy = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "controller", "image": "a:1", "env": [{"name": "X", "value": "1"}], "ports": [{"containerPort": 7472}]}],
        "volumes": [{"name": "v", "emptyDir": {}}]}}}});
    let p = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "controller", "image": "a:2", "env": [{"name": "Y", "value": "2"}]}]}}}});
    let out = strategic_merge_patch(&ConfigMapStrategy, &deploy, &p).unwrap();
    let c = &out["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "a:2");
    assert_eq!(
        c["env"],
        json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])
    );
    assert_eq!(c["ports"], json!([{"containerPort": 7472}]));
    assert_eq!(
        out["spec"]["template"]["spec"]["volumes"],
        json!([{"name": "v", "emptyDir": {}}])
    );
}
