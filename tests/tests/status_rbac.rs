//! The RBAC that docs/verify.md gives operators for `ferrolb status`, proven rather than guessed: the real
//! `ferrolb` binary runs as a user bound to exactly the documented ClusterRole and Role (read from the
//! document), against the embedded API server with the install's CRDs and a BGPPeer naming a password
//! Secret; every request it makes must be allowed, and every permission granted must be used.
//! No root and no network namespace: about a second.

use std::process::Command;
use std::time::Duration;

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig};
use ferrolb_e2e::programs::{program, run_with_deadline};
use ferrolb_e2e::rbac::{Policy, Request};
use kube::api::{DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::{Value, json};

const VERIFY_MD: &str = include_str!("../../docs/verify.md");
const FERROLB_YAML: &str = include_str!("../../deploy/ferrolb.yaml");
const NS: &str = "ferrolb-system";
const USER: &str = "ops";

/// The YAML block after "What it needs." in docs/verify.md.
fn documented_roles() -> Vec<Value> {
    let (_, after) = VERIFY_MD
        .split_once("**What it needs.**")
        .expect("verify.md has the section");
    let (_, block) = after.split_once("```yaml\n").expect("a YAML block");
    let (yaml, _) = block.split_once("```").expect("the block ends");
    serde_saphyr::from_multiple(yaml).expect("the documented RBAC is YAML")
}

fn bindings() -> Vec<Value> {
    let subjects = json!([{"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}]);
    vec![
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "ferrolb-status"}, "subjects": subjects,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ferrolb-status"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "ferrolb-status", "namespace": NS}, "subjects": subjects,
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "ferrolb-status"}}),
    ]
}

async fn create(client: &Client, plural: &str, object: Value) {
    let (group, version) = match object["apiVersion"].as_str().unwrap_or_default().split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), "v1".to_owned()),
    };
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, &version, &kind), plural);
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let obj: DynamicObject = serde_json::from_value(object).expect("object");
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {kind}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_rbac_is_exact() {
    let config = ServerConfig {
        crds: ferrolb_apiserver::resources::crds_from_yaml(FERROLB_YAML).expect("the install's CRDs"),
        ..ServerConfig::default()
    };
    let handle = ApiServer::new(config)
        .expect("config")
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let admin = handle.client(ADMIN).await.expect("client");
    create(
        &admin,
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
    )
    .await;
    create(
        &admin,
        "bgppeers",
        json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer", "metadata": {"name": "router", "namespace": NS},
               "spec": {"myASN": 64513, "peerASN": 64512, "peerAddress": "192.0.2.1",
                        "passwordSecret": {"name": "bgp-auth"}}}),
    )
    .await;
    create(
        &admin,
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
               "metadata": {"name": "bgp-auth", "namespace": NS}, "stringData": {"password": "s3cret"}}),
    )
    .await;
    let kubeconfig =
        std::env::temp_dir().join(format!("ferrolb-status-rbac-{}.kubeconfig", std::process::id()));
    std::fs::write(&kubeconfig, handle.kubeconfig(USER)).expect("kubeconfig");
    handle.audit().take();

    let ferrolb = program("ferrolb");
    for args in [&["status"][..], &["status", "pools"][..]] {
        let mut cmd = Command::new(&ferrolb);
        cmd.args(args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env_remove("KUBECONFIG");
        let out = tokio::task::spawn_blocking(move || run_with_deadline(&mut cmd, Duration::from_secs(30)))
            .await
            .expect("the blocking task")
            .expect("ferrolb ran");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_ne!(
            out.status.code(),
            Some(2),
            "{args:?}:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !stdout.contains("Not read") && !stdout.contains("taken as a valid password Secret"),
            "{args:?}:\n{stdout}"
        );
    }
    let _ = std::fs::remove_file(&kubeconfig);

    let requests: Vec<Request> = handle
        .audit()
        .take()
        .iter()
        .filter(|e| e.user == USER)
        .filter_map(Request::from_audit)
        .collect();
    let mut objects = documented_roles();
    objects.extend(bindings());
    let policy = Policy::from_objects(&objects).expect("the documented RBAC");
    let report = policy.audit(&requests);
    assert!(report.is_exact(), "the documented RBAC is not exact:\n{report}");
}
