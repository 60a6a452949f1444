//! The RBAC evaluator against kube-apiserver's rules (table-driven), and the manifest's policy refusing what
//! the programs must not do.

use ferrolb_apiserver::AuditEntry;
use ferrolb_e2e::cluster::{CONTROLLER_USER, SPEAKER_USER};
use ferrolb_e2e::manifest::Manifest;
use ferrolb_e2e::rbac::{Policy, RbacError, Request, field_selector_name};
use serde_json::{Value, json};

const SA: &str = "system:serviceaccount:lb:ctl";

fn req(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Request {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    Request {
        user: SA.into(),
        verb: verb.into(),
        api_group: group.into(),
        resource: resource.into(),
        subresource: subresource.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn objects() -> Vec<Value> {
    vec![
        json!({"kind": "ClusterRole", "metadata": {"name": "cr"}, "rules": [
            {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]}]}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cr"},
               "subjects": [{"kind": "ServiceAccount", "name": "ctl", "namespace": "lb"}]}),
        json!({"kind": "Role", "metadata": {"name": "r", "namespace": "lb"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["config", "other"], "verbs": ["list", "watch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "rb", "namespace": "lb"},
               "roleRef": {"kind": "Role", "name": "r"},
               "subjects": [{"kind": "Group", "name": "system:serviceaccounts:lb"}]}),
        json!({"kind": "ClusterRole", "metadata": {"name": "events"}, "rules": [
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]}]}),
        json!({"kind": "RoleBinding", "metadata": {"name": "ev", "namespace": "apps"},
               "roleRef": {"kind": "ClusterRole", "name": "events"},
               "subjects": [{"kind": "User", "name": SA}]}),
    ]
}

#[test]
fn requests_are_judged_like_kube_apiserver_judges_them() {
    let policy = Policy::from_objects(&objects()).unwrap();
    let cases = [
        // ClusterRoleBinding: every namespace and across namespaces.
        (req("list", "", "services", "", ""), true),
        (req("watch", "", "services", "default", ""), true),
        (req("get", "", "services", "default", "web"), false),
        // a subresource is its own resource
        (req("patch", "", "services/status", "default", "web"), true),
        (req("patch", "", "services", "default", "web"), false),
        (req("update", "", "services/status", "default", "web"), false),
        // resourceNames: only requests that name the object
        (req("list", "", "configmaps", "lb", "config"), true),
        (req("list", "", "configmaps", "lb", ""), false),
        (req("watch", "", "configmaps", "lb", "third"), false),
        // a RoleBinding applies in its namespace only; the group of the namespace's service accounts
        (req("list", "", "configmaps", "other", "config"), false),
        (req("list", "", "configmaps", "", "config"), false),
        (req("create", "coordination.k8s.io", "leases", "lb", ""), true),
        (req("create", "", "leases", "lb", ""), false),
        // a ClusterRole bound by a RoleBinding: that namespace only
        (req("create", "events.k8s.io", "events", "apps", ""), true),
        (req("create", "events.k8s.io", "events", "default", ""), false),
        (req("create", "", "events", "apps", ""), false),
    ];
    for (r, want) in &cases {
        assert_eq!(policy.allows(r), *want, "{r}");
    }
    let mut stranger = req("list", "", "services", "", "");
    stranger.user = "system:serviceaccount:other:ctl".into();
    assert!(!policy.allows(&stranger), "another service account");
}

#[test]
fn wildcards_and_subresource_wildcards_match() {
    let objs = [
        json!({"kind": "ClusterRole", "metadata": {"name": "w"}, "rules": [
            {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["*"]}]}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "w"}, "roleRef": {"kind": "ClusterRole", "name": "w"},
               "subjects": [{"kind": "Group", "name": "system:authenticated"}]}),
    ];
    let policy = Policy::from_objects(&objs).unwrap();
    assert!(policy.allows(&req("update", "apps", "deployments/status", "x", "d")));
    assert!(!policy.allows(&req("update", "apps", "deployments", "x", "d")));
    let report = policy.audit(&[req("update", "apps", "deployments/status", "x", "d")]);
    assert_eq!(
        report.broad,
        ["ClusterRole w rule 0"],
        "wildcards are never least privilege"
    );
    assert!(!report.is_exact());
}

#[test]
fn the_audit_finds_denied_requests_and_unused_permissions() {
    let policy = Policy::from_objects(&objects()).unwrap();
    let used = [
        req("list", "", "services", "", ""),
        req("watch", "", "services", "", ""),
        req("patch", "", "services/status", "default", "web"),
        req("list", "", "configmaps", "lb", "config"),
        req("watch", "", "configmaps", "lb", "config"),
        req("create", "coordination.k8s.io", "leases", "lb", ""),
        req("create", "events.k8s.io", "events", "apps", ""),
        req("delete", "", "secrets", "lb", "x"),
    ];
    let report = policy.audit(&used);
    assert_eq!(report.denied.len(), 1);
    assert!(report.denied.iter().all(|r| r.verb == "delete"));
    let unused: Vec<String> = report.unused.iter().map(ToString::to_string).collect();
    assert_eq!(
        unused,
        [
            "Role lb/r via RoleBinding lb/rb rule 0: list core/configmaps name other",
            "Role lb/r via RoleBinding lb/rb rule 0: watch core/configmaps name other",
        ]
    );
    assert!(report.unbound_roles.is_empty());
    let report = policy.audit(&used[..7]);
    assert!(report.denied.is_empty());
    assert!(!report.is_exact());
}

#[test]
fn broken_policies_are_refused() {
    let mut objs = objects();
    objs.push(
        json!({"kind": "RoleBinding", "metadata": {"name": "x", "namespace": "lb"},
                     "roleRef": {"kind": "Role", "name": "missing"}, "subjects": []}),
    );
    assert!(matches!(
        Policy::from_objects(&objs),
        Err(RbacError::MissingRole { .. })
    ));
    let objs = [
        json!({"kind": "Role", "metadata": {"name": "r", "namespace": "a"}, "rules": []}),
        json!({"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"}}),
    ];
    assert!(matches!(
        Policy::from_objects(&objs),
        Err(RbacError::Shape { .. })
    ));
    let unbound = Policy::from_objects(&[objs[0].clone()]).unwrap();
    assert_eq!(unbound.unbound_roles, ["Role a/r"]);
}

fn entry(verb: &str, uri: &str, name: &str) -> AuditEntry {
    AuditEntry {
        seq: 0,
        time: String::new(),
        user: SA.into(),
        verb: verb.into(),
        resource_request: true,
        api_group: String::new(),
        api_version: "v1".into(),
        resource: "configmaps".into(),
        subresource: String::new(),
        namespace: "lb".into(),
        name: name.into(),
        uri: uri.into(),
        code: 200,
    }
}

#[test]
fn list_and_watch_are_named_by_their_field_selector() {
    let e = entry(
        "watch",
        "/api/v1/namespaces/lb/configmaps?fieldSelector=metadata.name%3Dconfig&watch=true",
        "",
    );
    assert_eq!(Request::from_audit(&e).unwrap().name, "config");
    let e = entry("list", "/api/v1/namespaces/lb/configmaps?labelSelector=a%3Db", "");
    assert_eq!(Request::from_audit(&e).unwrap().name, "");
    let e = entry(
        "get",
        "/api/v1/namespaces/lb/configmaps/x?fieldSelector=metadata.name%3Dy",
        "x",
    );
    assert_eq!(
        Request::from_audit(&e).unwrap().name,
        "x",
        "a get names its object"
    );
    let mut discovery = entry("get", "/api/v1", "");
    discovery.resource_request = false;
    assert!(Request::from_audit(&discovery).is_none());
    for (uri, want) in [
        ("/x?fieldSelector=metadata.name==a", Some("a")),
        ("/x?fieldSelector=type%3Dt,metadata.name%3Db", Some("b")),
        ("/x?fieldSelector=metadata.name!%3Dc", None),
        ("/x?fieldSelector=metadata.namespace%3Dd", None),
        ("/x", None),
    ] {
        assert_eq!(field_selector_name(uri).as_deref(), want, "{uri}");
    }
}

#[test]
fn the_manifest_refuses_what_the_programs_must_not_do() {
    let m = Manifest::ferrolb().unwrap();
    let policy = Policy::from_objects(&m.objects).unwrap();
    assert!(policy.unbound_roles.is_empty());
    let as_user = |user: &str, r: Request| Request {
        user: user.into(),
        ..r
    };
    for (user, r) in [
        // the speaker never writes Services, Secrets or Leases
        (
            SPEAKER_USER,
            req("patch", "", "services/status", "default", "web"),
        ),
        (
            SPEAKER_USER,
            req("get", "", "secrets", "ferrolb-system", "ferrolb-memberlist"),
        ),
        (SPEAKER_USER, req("create", "", "secrets", "ferrolb-system", "")),
        (
            SPEAKER_USER,
            req(
                "update",
                "coordination.k8s.io",
                "leases",
                "ferrolb-system",
                "ferrolb-controller",
            ),
        ),
        // only ferrolb's own objects, and only in its namespace
        (
            SPEAKER_USER,
            req("list", "", "secrets", "kube-system", "ferrolb-memberlist"),
        ),
        (
            CONTROLLER_USER,
            req("get", "", "secrets", "ferrolb-system", "other"),
        ),
        (
            CONTROLLER_USER,
            req("get", "", "secrets", "kube-system", "ferrolb-memberlist"),
        ),
        (
            CONTROLLER_USER,
            req("list", "", "configmaps", "ferrolb-system", ""),
        ),
        (
            CONTROLLER_USER,
            req(
                "update",
                "coordination.k8s.io",
                "leases",
                "ferrolb-system",
                "other",
            ),
        ),
        // no deletes, no spec writes, nothing across the board
        (
            CONTROLLER_USER,
            req("delete", "", "secrets", "ferrolb-system", "ferrolb-memberlist"),
        ),
        (CONTROLLER_USER, req("update", "", "services", "default", "web")),
        (
            CONTROLLER_USER,
            req("update", "", "services/status", "default", "web"),
        ),
        (CONTROLLER_USER, req("update", "", "nodes", "", "node1")),
        (CONTROLLER_USER, req("list", "", "pods", "", "")),
        (SPEAKER_USER, req("list", "", "pods", "", "")),
    ] {
        let r = as_user(user, r);
        assert!(!policy.allows(&r), "the manifest allows {r}");
    }
    for (user, r) in [
        (
            CONTROLLER_USER,
            req("patch", "", "services/status", "default", "web"),
        ),
        (
            SPEAKER_USER,
            req("watch", "discovery.k8s.io", "endpointslices", "", ""),
        ),
        // the Secrets of BGPPeer.passwordSecret, in ferrolb's namespace only (read, never written)
        (SPEAKER_USER, req("list", "", "secrets", "ferrolb-system", "")),
        (SPEAKER_USER, req("watch", "", "secrets", "ferrolb-system", "")),
    ] {
        let r = as_user(user, r);
        assert!(policy.allows(&r), "the manifest refuses {r}");
    }
}
