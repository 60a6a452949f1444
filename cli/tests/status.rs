//! The `ferrolb status` binary, run as an operator runs it (a kubeconfig, `$KUBECONFIG`, `--context`),
//! against the embedded API server with the install's CRDs, seeded as a running ferrolb leaves a cluster:
//! Services with IPs and one pending (with the controller's Event), IPAddressPools with and without status,
//! ConfigurationStates with BGP session conditions, status objects, the Lease. Then against servers
//! without ferrolb, and no server at all.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};
use serde_json::{Value, json};

const NS: &str = "ferrolb-system";

async fn server(crds: bool) -> (ServerHandle, Client) {
    let config = ServerConfig {
        crds: if crds {
            ferrolb_apiserver::resources::crds_from_yaml(include_str!("../../deploy/ferrolb.yaml"))
                .expect("the install's CRDs")
        } else {
            Vec::new()
        },
        ..ServerConfig::default()
    };
    let handle = ApiServer::new(config)
        .expect("config")
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let client = handle.client(ADMIN).await.expect("client");
    (handle, client)
}

/// A kubeconfig file for `url` as the admin; removed on drop.
struct Kubeconfig(PathBuf);

impl Kubeconfig {
    fn write(text: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "ferrolb-status-{}-{}.kubeconfig",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).expect("write the kubeconfig");
        Kubeconfig(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }
}

impl Drop for Kubeconfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `ferrolb` with `args` (and `KUBECONFIG` when given) off the server's runtime.
async fn ferrolb(args: &[&str], kubeconfig_env: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let env = kubeconfig_env.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrolb"));
        cmd.args(&args)
            .env_remove("KUBECONFIG")
            .env("HOME", std::env::temp_dir());
        if let Some(k) = env {
            cmd.env("KUBECONFIG", k);
        }
        cmd.output().expect("run ferrolb")
    })
    .await
    .expect("the blocking task")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The cells of the table row that starts with `first`.
fn row(stdout: &str, first: &str) -> Vec<String> {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in\n{stdout}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Creates `object` (of `api_version`/`kind`, stored as `plural`), then writes its `status` if it has one.
async fn put(client: &Client, plural: &str, mut object: Value) -> Value {
    let (group, version) = match object["apiVersion"].as_str().expect("apiVersion").split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap_or_default().to_owned(),
        ),
    };
    let kind = object["kind"].as_str().expect("kind").to_owned();
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, &version, &kind), plural);
    let ns = object["metadata"]["namespace"].as_str().unwrap_or(NS).to_owned();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let status = object.as_object_mut().and_then(|o| o.remove("status"));
    let obj: DynamicObject = serde_json::from_value(object).expect("object");
    let name = obj.metadata.name.clone().expect("name");
    let created = api.create(&PostParams::default(), &obj).await.expect("create");
    let created = match status {
        Some(status) => api
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .expect("status"),
        None => created,
    };
    serde_json::to_value(created).expect("JSON")
}

async fn namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).expect("namespace");
    api.create(&PostParams::default(), &ns).await.expect("namespace");
}

/// A LoadBalancer Service, with `ip` in its status and the controller's pool annotation.
async fn service(client: &Client, ns: &str, name: &str, ip_and_pool: Option<(&str, &str)>) -> Service {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let mut svc = json!({"metadata": {"name": name, "namespace": ns},
                         "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}});
    if let Some((_, pool)) = ip_and_pool {
        svc["metadata"]["annotations"] = json!({"ferrolb.io/ip-allocated-from-pool": pool});
    }
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(svc).expect("Service"),
        )
        .await
        .expect("create Service");
    let Some((ip, _)) = ip_and_pool else {
        return created;
    };
    let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": ip}]}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .expect("Service status")
}

fn session(peer: &str, state: &str) -> Value {
    let up = if state == "Established" { "True" } else { "False" };
    json!({"type": format!("BGPPeer/{peer}"), "status": up, "reason": state, "message": "",
           "lastTransitionTime": "2025-01-01T00:00:00Z"})
}

/// What a running ferrolb leaves in a cluster (see the module docs).
async fn seed(client: &Client) {
    namespace(client, NS).await;
    namespace(client, "prod").await;
    let pools = "ipaddresspools";
    put(
        client,
        pools,
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": "default", "namespace": NS},
        "spec": {"addresses": ["192.0.2.100-192.0.2.109", "2001:db8::100/124"]},
        "status": {"assignedIPv4": 1, "availableIPv4": 9, "assignedIPv6": 0, "availableIPv6": 16}}),
    )
    .await;
    put(
        client,
        pools,
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
        "metadata": {"name": "routed", "namespace": NS},
        "spec": {"addresses": ["203.0.113.10/32"], "autoAssign": false}}),
    )
    .await;
    put(
        client,
        "l2advertisements",
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "L2Advertisement",
        "metadata": {"name": "l2", "namespace": NS}, "spec": {"ipAddressPools": ["default"]}}),
    )
    .await;
    put(
        client,
        "bgpadvertisements",
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
        "metadata": {"name": "bgp", "namespace": NS}, "spec": {"ipAddressPools": ["routed"]}}),
    )
    .await;
    put(
        client,
        "bgppeers",
        json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": {"name": "router", "namespace": NS},
        "spec": {"myASN": 64513, "peerASN": 64512, "peerAddress": "192.0.2.1",
                 "passwordSecret": {"name": "bgp-auth"}}}),
    )
    .await;
    put(
        client,
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
        "metadata": {"name": "bgp-auth", "namespace": NS}, "stringData": {"password": "s3cret"}}),
    )
    .await;
    put(
        client,
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "unrelated", "namespace": NS}, "stringData": {"key": "value"}}),
    )
    .await;
    service(client, "default", "web", Some(("192.0.2.100", "default"))).await;
    service(client, "prod", "api", Some(("203.0.113.10", "routed"))).await;
    let other = service(client, "default", "other", None).await;
    // the Event as the controller writes it (events.k8s.io/v1); the tool reads core/v1
    put(
        client,
        "events",
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "other.1", "namespace": "default"},
        "eventTime": MicroTime(k8s_openapi::jiff::Timestamp::now()),
        "reportingController": "ferrolb-controller", "reportingInstance": "ctrl-1", "action": "Allocate",
        "reason": "AllocationFailed", "type": "Warning",
        "note": "Failed to allocate IP: address pool \"gold\" does not exist",
        "regarding": {"apiVersion": "v1", "kind": "Service", "namespace": "default", "name": "other",
                      "uid": other.metadata.uid}}),
    )
    .await;
    let states = "configurationstates";
    put(
        client,
        states,
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "ConfigurationState",
        "metadata": {"name": "controller", "namespace": NS}, "spec": {"type": "Controller"},
        "status": {"result": "Valid", "errorSummary": "", "validConfig": true}}),
    )
    .await;
    for (node, state) in [("node1", "Established"), ("node2", "Active")] {
        put(
            client,
            states,
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "ConfigurationState",
            "metadata": {"name": format!("speaker-{node}"), "namespace": NS},
            "spec": {"type": "Speaker", "nodeName": node},
            "status": {"result": "Valid", "errorSummary": "", "conditions": [session("router", state)]}}),
        )
        .await;
        put(
            client,
            "servicebgpstatuses",
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "ServiceBGPStatus",
            "metadata": {"name": format!("bgp-{node}"), "namespace": NS,
                         "labels": {"metallb.io/node": node, "metallb.io/service-namespace": "prod",
                                    "metallb.io/service-name": "api"}},
            "status": {"node": node, "serviceName": "api", "serviceNamespace": "prod", "peers": ["router"]}}),
        )
        .await;
    }
    put(
        client,
        "servicel2statuses",
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "ServiceL2Status",
        "metadata": {"name": "l2-web", "namespace": NS,
                     "labels": {"metallb.io/node": "node2", "metallb.io/service-namespace": "default",
                                "metallb.io/service-name": "web"}},
        "status": {"node": "node2", "serviceName": "web", "serviceNamespace": "default",
                   "interfaces": [{"name": "eth0"}]}}),
    )
    .await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("ferrolb-controller".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("ctrl-1".into()),
            renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            lease_duration_seconds: Some(15),
            ..Default::default()
        }),
    };
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("Lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_running_ferrolb() {
    let (handle, client) = server(true).await;
    seed(&client).await;
    let kubeconfig = Kubeconfig::write(&handle.kubeconfig(ADMIN));
    handle.audit().take();

    let out = ferrolb(&["status", "--kubeconfig", kubeconfig.path()], None).await;
    let stdout = text(&out.stdout);
    // read-only, exactly what docs/verify.md lists for an operator's RBAC
    let requests: BTreeSet<(String, String, String, String)> = handle
        .audit()
        .take()
        .into_iter()
        .filter(|e| e.resource_request)
        .map(|e| (e.verb, e.api_group, e.resource, e.namespace))
        .collect();
    let request = |verb: &str, group: &str, resource: &str, ns: &str| {
        (
            verb.to_owned(),
            group.to_owned(),
            resource.to_owned(),
            ns.to_owned(),
        )
    };
    let mut want = BTreeSet::from([
        // kube-apiserver's request info gives a Namespace's own name as its namespace
        request("get", "", "namespaces", NS),
        request("list", "", "services", ""),
        request("list", "", "events", ""),
        request("get", "coordination.k8s.io", "leases", NS),
        request("list", "", "configmaps", NS),
        request("get", "", "secrets", NS),
    ]);
    for plural in [
        "configurationstates",
        "servicel2statuses",
        "servicebgpstatuses",
        "ipaddresspools",
        "l2advertisements",
        "bgpadvertisements",
        "bgppeers",
        "bfdprofiles",
        "communities",
    ] {
        want.insert(request("list", "metallb.io", plural, NS));
    }
    assert_eq!(requests, want, "only the Secret a BGPPeer names is read, by name");
    assert!(!stdout.contains("s3cret"), "{stdout}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "pending and a session down\n{stdout}{}",
        text(&out.stderr)
    );
    for line in [
        "Leader:         ctrl-1 (renewed ",
        "Configuration:  1 BGPAdvertisement, 1 BGPPeer, 2 IPAddressPools, 1 L2Advertisement: valid, 2 pools\n",
        "Components:     controller Valid, speakers Valid on 2 of 2 nodes\n",
        "BGP sessions:   1 of 2 Established\n                node2 to router: Active\n",
        "Services:       3 LoadBalancer: 2 with an IP (2 IPs), 1 pending\n",
        "Pending:\n  default/other: Failed to allocate IP: address pool \"gold\" does not exist (",
        "Problems:\n  BGP session of node2 to router: Active\n  1 Service pending\n",
    ] {
        assert!(stdout.contains(line), "no {line:?} in\n{stdout}");
    }
    assert_eq!(
        row(&stdout, "default/web"),
        ["default/web", "192.0.2.100", "default", "layer2", "node2", "-"]
    );
    assert_eq!(
        row(&stdout, "prod/api"),
        [
            "prod/api",
            "203.0.113.10",
            "routed",
            "bgp",
            "node1,node2",
            "router(node1=Established,node2=Active)"
        ]
    );
    assert_eq!(
        row(&stdout, "default/other"),
        ["default/other", "<pending>", "-", "-", "-", "-"]
    );
    assert!(!stdout.contains("Not read"), "{stdout}");

    // $KUBECONFIG and --context, wide, flags after the subcommand
    let out = ferrolb(
        &["status", "-o", "wide", "--context", "ferrolb-lab"],
        Some(kubeconfig.path()),
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(row(&stdout, "default/web")[5], "node2/eth0", "{stdout}");

    let out = ferrolb(
        &["status", "pools", "-o", "json", "--kubeconfig", kubeconfig.path()],
        None,
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let rows = doc["rows"].as_array().expect("rows");
    let summary: Vec<(String, String, u64, u64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default().to_owned(),
                r["family"].as_str().unwrap_or_default().to_owned(),
                r["assigned"].as_u64().unwrap_or(99),
                r["available"].as_u64().unwrap_or(99),
                r["counted"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let s = |n: &str, f: &str, a, v, c: &str| (n.to_owned(), f.to_owned(), a, v, c.to_owned());
    assert_eq!(
        summary,
        [
            s("default", "IPv4", 1, 9, "status"),
            s("default", "IPv6", 0, 16, "status"),
            s("routed", "IPv4", 1, 0, "services"),
        ],
        "the controller's status where written, else counted from the Services"
    );
    assert_eq!(rows[2]["modes"], json!(["bgp"]));

    let out = ferrolb(
        &["status", "--kubeconfig", kubeconfig.path(), "--context", "nope"],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("ferrolb: kubeconfig ") && stderr.contains("nope"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_ferrolb() {
    let (handle, client) = server(false).await;
    let kubeconfig = Kubeconfig::write(&handle.kubeconfig(ADMIN));
    let args = ["status", "--kubeconfig", kubeconfig.path()];
    let run = || ferrolb(&args, None);

    let out = run().await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ferrolb: ferrolb is not installed: namespace ferrolb-system does not exist (--namespace names \
         ferrolb's namespace)\n"
    );
    assert!(out.stdout.is_empty());

    namespace(&client, NS).await;
    let out = run().await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "ferrolb: ferrolb is not installed: the CustomResourceDefinition configurationstates.metallb.io does \
         not exist (kubectl apply -f deploy/ferrolb.yaml installs it)\n"
    );

    // the CRDs installed, the programs never run
    let (handle, client) = server(true).await;
    namespace(&client, NS).await;
    let kubeconfig = Kubeconfig::write(&handle.kubeconfig(ADMIN));
    let out = ferrolb(&["status", "--kubeconfig", kubeconfig.path()], None).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "Problems:\n  ferrolb does not run in namespace ferrolb-system: no Lease ferrolb-controller and no \
             ConfigurationState there (--namespace names ferrolb's namespace)\n  no configuration in namespace \
             ferrolb-system: no ConfigMap and no metallb.io resources\n"
        ),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_api_server() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let kubeconfig = Kubeconfig::write(&ferrolb_apiserver::kubeconfig_yaml(
        &format!("http://{addr}"),
        "ops",
        "t",
    ));
    let out = ferrolb(
        &[
            "status",
            "pools",
            "--kubeconfig",
            kubeconfig.path(),
            "--timeout",
            "5",
        ],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("ferrolb: API server http://{addr}"))
            && stderr.contains(": cannot list services (all namespaces): "),
        "{stderr}"
    );
}
