//! The kubespray role (`deploy/kubespray`) run by `ansible-playbook` (pinned ansible-core, local connection)
//! against the embedded API server, with inventories laid out as kubespray's: kubespray v2.21's and v2.22's
//! own documentation examples (`tests/data/kubespray/`).
//!
//! - what it applies: the install (`deploy/ferrolb.yaml`, with the inventory's
//!   placement) and the configuration, which `ferrolb check-config` accepts as the cluster holds it;
//! - a second run changes nothing; `--check` reports a change without making it; a changed inventory is
//!   applied and what it no longer has is deleted; the configuration in either format;
//! - `ferrolb_enabled: false` removes everything it applied and what the programs made, and leaves Services
//!   as they were;
//! - bad variables fail the play, naming the variable, before any write reaches the cluster;
//! - the wait for the Pods times out with a clear message; ansible-lint passes.
//!
//! The programs started against what the role applied are in `e2e_kubespray.rs`. Needs kubectl and the
//! virtualenv of `scripts/ansible-venv.sh` (skipped with a reason elsewhere, failing under `CI=true`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use ferrolb_e2e::ansible::{Ansible, Inventory, PlaybookRun, role_dir};
use ferrolb_e2e::cluster::{Admin, install_kinds, monitoring_kinds};
use ferrolb_e2e::manifest::{Manifest, repo_root};
use ferrolb_e2e::programs::{kubectl_or_skip, program, run_with_deadline, text};
use serde_json::{Value, json};

const NS: &str = "ferrolb-system";
const STRICT_ARP: &str = "kube_proxy_mode: ipvs\nkube_proxy_strict_arp: true\n";

fn data(name: &str) -> String {
    let path = repo_root().join("tests/data/kubespray").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An embedded API server with the install kinds, the ansible virtualenv and kubectl.
struct Cluster {
    handle: Option<ServerHandle>,
    rt: tokio::runtime::Runtime,
    dir: PathBuf,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    ansible: Ansible,
}

impl Cluster {
    fn start(test: &str) -> Option<Cluster> {
        Cluster::start_with(test, false)
    }

    /// With `monitoring`, the server also serves the Prometheus Operator's PodMonitor and PrometheusRule.
    fn start_with(test: &str, monitoring: bool) -> Option<Cluster> {
        let kubectl = kubectl_or_skip(test)?;
        let ansible = Ansible::for_test(test)?;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let mut crds = install_kinds();
        let ferrolb_yaml = std::fs::read_to_string(repo_root().join("deploy/ferrolb.yaml")).unwrap();
        // The server starts with the CRDs established, as a cluster the role ran on before would have them;
        // the role applies them again (server-side apply takes them over).
        crds.extend(ferrolb_apiserver::resources::crds_from_yaml(&ferrolb_yaml).unwrap());
        if monitoring {
            crds.extend(monitoring_kinds());
        }
        let handle = rt.block_on(async {
            ApiServer::new(ServerConfig {
                crds,
                ..ServerConfig::default()
            })
            .unwrap()
            .bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
        });
        let dir = std::env::temp_dir().join(format!("ferrolb-kubespray-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("admin.conf");
        std::fs::write(&kubeconfig, handle.kubeconfig(ADMIN)).unwrap();
        Some(Cluster {
            handle: Some(handle),
            rt,
            dir,
            kubeconfig,
            kubectl,
            ansible,
        })
    }

    fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().unwrap()
    }

    fn admin(&self) -> Admin<'_> {
        Admin::new(self.handle())
    }

    fn inventory(&self, name: &str, addons: &str, k8s_cluster: &str) -> Inventory {
        Inventory::new(
            &self.dir.join(name),
            addons,
            k8s_cluster,
            &self.kubectl,
            &self.kubeconfig,
        )
    }

    fn play(&self, inventory: &Inventory, args: &[&str]) -> PlaybookRun {
        let run = self.ansible.playbook(inventory, args);
        eprintln!(
            "ansible-playbook {args:?}: success {} {:?}",
            run.success, run.recap
        );
        run
    }

    /// kubectl as the administrator: (success, stdout, stderr).
    fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        let out = run_with_deadline(
            Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .arg("--cache-dir")
                .arg(self.dir.join("kubectl-cache"))
                .args(args),
            Duration::from_secs(60),
        )
        .unwrap();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    fn resource_version(&self, kind: &str, ns: &str, name: &str) -> Option<String> {
        self.admin()
            .get(kind, ns, name)
            .map(|o| o["metadata"]["resourceVersion"].to_string())
    }

    /// `ferrolb check-config` on what `kubectl get <what> -o yaml` prints: (exit code, output).
    fn check_config(&self, what: &str) -> (i32, String) {
        let (ok, yaml, err) = self.kubectl(&["get", what, "-n", NS, "-o", "yaml"]);
        assert!(ok, "kubectl get {what}: {err}");
        let file = self.dir.join(format!("{}.yaml", what.replace([',', '/'], "-")));
        std::fs::write(&file, yaml).unwrap();
        let out = run_with_deadline(
            Command::new(program("ferrolb")).arg("check-config").arg(&file),
            Duration::from_secs(30),
        )
        .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", text(&out.stdout), text(&out.stderr)),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The stored object without what the server and the role's label add, for comparing with the manifest.
fn as_written(mut o: Value) -> Value {
    let meta = o["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "generation",
    ] {
        meta.remove(k);
    }
    if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
        labels.remove("app.kubernetes.io/managed-by");
    }
    o.as_object_mut().unwrap().remove("status");
    o
}

#[test]
fn a_v2_21_inventory_installs_ferrolb_and_a_second_run_changes_nothing() {
    let Some(c) = Cluster::start("v2_21") else {
        return;
    };
    let inv = c.inventory("inv", &data("v2.21-addons.yml"), STRICT_ARP);
    let first = c.play(&inv, &[]);
    first.expect_success("first run");
    assert!(first.changed() > 0, "{}", first.output);
    assert!(
        first.output.contains("no Node is registered"),
        "no kubelet here: the wait says it is skipped\n{}",
        first.output
    );

    // The install is deploy/ferrolb.yaml's, with the inventory's tolerations and the role's label.
    let manifest = Manifest::ferrolb().unwrap();
    let deployment = c.admin().get("Deployment", NS, "ferrolb-controller").unwrap();
    assert_eq!(
        deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "ferrolb-kubespray"
    );
    let mut want = manifest.get("Deployment", "ferrolb-controller").unwrap().clone();
    want["spec"]["template"]["spec"]["tolerations"] = json!([
        {"key": "node-role.kubernetes.io/master", "operator": "Equal", "value": "", "effect": "NoSchedule"},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "", "effect": "NoSchedule"}
    ]);
    assert_eq!(as_written(deployment), want);
    let daemonset = c.admin().get("DaemonSet", NS, "ferrolb-speaker").unwrap();
    let mut want = manifest.get("DaemonSet", "ferrolb-speaker").unwrap().clone();
    want["spec"]["template"]["spec"]["tolerations"] = c
        .admin()
        .get("Deployment", NS, "ferrolb-controller")
        .unwrap()["spec"]["template"]["spec"]["tolerations"]
        .clone();
    assert_eq!(as_written(daemonset), want);
    for kind_name in [
        ("ServiceAccount", "ferrolb-speaker"),
        ("Role", "ferrolb-controller"),
        ("RoleBinding", "ferrolb-speaker"),
    ] {
        assert!(
            c.admin().get(kind_name.0, NS, kind_name.1).is_some(),
            "{kind_name:?}"
        );
    }
    assert!(c.admin().get("ClusterRole", "", "ferrolb-speaker").is_some());

    // The configuration: the ConfigMap kubespray v2.21 wrote, in ferrolb's namespace.
    let cm = c
        .admin()
        .get("ConfigMap", NS, "config")
        .expect("ConfigMap config");
    let config = ferrolb_config::parse(cm["data"]["config"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("{e:?}\n{}", cm["data"]["config"]));
    let pools: Vec<&str> = config.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(pools, ["loadbalanced", "kube_service_pool"]);
    assert!(
        !config.pools[1].auto_assign,
        "kube_service_pool: auto_assign false"
    );
    // loadbalanced is the bgp pool (metallb_protocol), kube_service_pool the layer2 one
    assert_eq!(config.bgp_advertisements.len(), 1);
    assert_eq!(config.l2_advertisements.len(), 1);
    assert_eq!(config.peers.len(), 2);
    let (code, out) = c.check_config("configmap/config");
    assert_eq!(code, 0, "check-config:\n{out}");
    assert!(out.contains("peers (2)"), "{out}");

    // Nothing to do the second time.
    let second = c.play(&inv, &[]);
    second.expect_success("second run");
    assert_eq!(
        second.changed(),
        0,
        "a second run changes nothing:\n{}",
        second.output
    );

    // A new pool: --check says so and changes nothing; then it is applied.
    let grown = data("v2.21-addons.yml").replace(
        "\nmetallb_protocol: \"bgp\"",
        "\n  extra_pool:\n    ip_range:\n      - \"192.0.2.128/26\"\n    protocol: \"layer2\"\nmetallb_protocol: \"bgp\"",
    );
    inv.set_addons(&grown);
    let before = c.resource_version("ConfigMap", NS, "config");
    let check = c.play(&inv, &["--check"]);
    check.expect_success("check mode");
    assert!(check.changed() > 0, "{}", check.output);
    assert!(
        check.output.contains("extra_pool"),
        "check mode shows the change:\n{}",
        check.output
    );
    assert_eq!(
        c.resource_version("ConfigMap", NS, "config"),
        before,
        "check mode wrote"
    );
    let third = c.play(&inv, &[]);
    third.expect_success("third run");
    assert!(third.changed() > 0);
    let cm = c.admin().get("ConfigMap", NS, "config").unwrap();
    assert!(cm["data"]["config"].as_str().unwrap().contains("192.0.2.128/26"));
    assert_eq!(c.play(&inv, &[]).changed(), 0);
}

#[test]
fn a_v2_22_inventory_in_both_formats() {
    let Some(c) = Cluster::start("v2_22") else {
        return;
    };
    // By default the objects kubespray v2.22 writes, in ferrolb's namespace.
    let inv = c.inventory("inv", &data("v2.22-addons.yml"), STRICT_ARP);
    let run = c.play(&inv, &[]);
    run.expect_success("resources format");
    assert!(
        run.output.contains("peer1.source_address: not written"),
        "the note on source_address:\n{}",
        run.output
    );
    for (kind, name) in [
        ("IPAddressPool", "primary"),
        ("IPAddressPool", "pool1"),
        ("IPAddressPool", "pool2"),
        ("L2Advertisement", "primary"),
        ("BGPAdvertisement", "peer1-external"),
        ("BGPAdvertisement", "peer2-external"),
        ("BGPPeer", "peer1"),
        ("BGPPeer", "peer2"),
        ("Community", "vpn-only"),
        ("Community", "no-advertise"),
        ("Community", "well-known"),
    ] {
        assert!(c.admin().get(kind, NS, name).is_some(), "{kind} {name}");
    }
    assert!(c.admin().get("ConfigMap", NS, "config").is_none());
    let peer = c.admin().get("BGPPeer", NS, "peer1").unwrap();
    assert_eq!(peer["spec"]["holdTime"], "120s");
    assert_eq!(peer["spec"]["routerID"], "1.2.3.4");
    assert_eq!(peer["spec"]["peerASN"], 64512);
    let adv = c.admin().get("BGPAdvertisement", NS, "peer2-external").unwrap();
    assert_eq!(adv["spec"]["communities"], json!(["NO_ADVERTISE"]));
    let pool = c.admin().get("IPAddressPool", NS, "pool1").unwrap();
    assert_eq!(pool["spec"]["autoAssign"], false);
    const KINDS: &str = "ipaddresspools.metallb.io,l2advertisements.metallb.io,bgpadvertisements.metallb.io,\
                         bgppeers.metallb.io,communities.metallb.io";
    let (code, out) = c.check_config(KINDS);
    assert_eq!(code, 0, "check-config:\n{out}");
    assert!(out.contains("pools (3)"), "{out}");
    // metallb_config.controller.tolerations
    let deployment = c.admin().get("Deployment", NS, "ferrolb-controller").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["tolerations"][0]["key"],
        "node-role.kubernetes.io/control-plane"
    );
    let again = c.play(&inv, &[]);
    again.expect_success("resources again");
    assert_eq!(again.changed(), 0, "{}", again.output);

    // A peer removed from the inventory: its objects go.
    let fewer = data("v2.22-addons.yml");
    let cut = fewer.find("        peer2:").unwrap();
    inv.set_addons(&fewer[..cut]);
    c.play(&inv, &[]).expect_success("one peer less");
    assert!(c.admin().get("BGPPeer", NS, "peer2").is_none());
    assert!(c.admin().get("BGPAdvertisement", NS, "peer2-external").is_none());
    assert!(c.admin().get("BGPPeer", NS, "peer1").is_some());

    // The same inventory as ferrolb's ConfigMap: the resources go.
    inv.set_addons(&data("v2.22-addons.yml"));
    c.play(&inv, &["-e", "ferrolb_config_format=configmap"])
        .expect_success("configmap format");
    assert!(
        c.admin().get("IPAddressPool", NS, "primary").is_none(),
        "the resources are pruned"
    );
    assert!(c.admin().get("BGPPeer", NS, "peer1").is_none());
    let cm = c
        .admin()
        .get("ConfigMap", NS, "config")
        .expect("ConfigMap config");
    let text = cm["data"]["config"].as_str().unwrap();
    let config = ferrolb_config::parse(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(config.pools.len(), 3);
    assert_eq!(config.peers.len(), 2);
    let (code, out) = c.check_config("configmap/config");
    assert_eq!(code, 0, "check-config:\n{out}");
}

#[test]
fn removal_deletes_ferrolb_and_leaves_services_alone() {
    let Some(c) = Cluster::start("removal") else {
        return;
    };
    let inv = c.inventory(
        "inv",
        "ferrolb_enabled: true\nmetallb_ip_range: [\"192.0.2.64/26\"]\n",
        "kube_proxy_mode: iptables\n",
    );
    // --check on a cluster without ferrolb: everything would be created, nothing is.
    let fresh = c.play(&inv, &["--check"]);
    fresh.expect_success("check mode, not installed");
    assert!(fresh.changed() > 0);
    assert!(
        fresh.output.contains("everything would be created"),
        "{}",
        fresh.output
    );
    assert!(c.admin().get("Namespace", "", NS).is_none(), "check mode wrote");
    c.play(&inv, &[]).expect_success("install");
    // What the programs would have made, and a Service with its IP.
    c.admin()
        .create(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ferrolb-memberlist", "namespace": NS}, "data": {"secretkey": "AAAA"}}))
        .unwrap();
    c.admin()
        .create(&json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "ferrolb-controller", "namespace": NS}, "spec": {"holderIdentity": "x"}}))
        .unwrap();
    c.admin()
        .create(&json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "web"}}}))
        .unwrap();
    c.admin()
        .merge(
            "Service",
            "default",
            "web",
            &json!({"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.64"}]}}}),
            true,
        )
        .unwrap();
    let service = c.admin().get("Service", "default", "web").unwrap();

    let disabled = ["-e", "{\"ferrolb_enabled\": false}"];
    let check = c.play(&inv, &[&disabled[..], &["--check"]].concat());
    check.expect_success("removal, check mode");
    assert!(check.changed() > 0);
    assert!(
        check.output.contains("would delete namespace/ferrolb-system"),
        "{}",
        check.output
    );
    assert!(
        c.admin().get("Deployment", NS, "ferrolb-controller").is_some(),
        "check mode deleted"
    );

    let removal = c.play(&inv, &disabled);
    removal.expect_success("removal");
    assert!(removal.changed() > 0);
    for (kind, ns, name) in [
        ("Namespace", "", NS),
        ("Deployment", NS, "ferrolb-controller"),
        ("DaemonSet", NS, "ferrolb-speaker"),
        ("ConfigMap", NS, "config"),
        ("Secret", NS, "ferrolb-memberlist"),
        ("Lease", NS, "ferrolb-controller"),
        ("ClusterRole", "", "ferrolb-controller"),
        ("ClusterRoleBinding", "", "ferrolb-speaker"),
    ] {
        assert!(
            c.admin().get(kind, ns, name).is_none(),
            "{kind} {name} was not removed"
        );
    }
    assert!(
        c.admin()
            .get("CustomResourceDefinition", "", "ipaddresspools.metallb.io")
            .is_some(),
        "the CRDs stay unless ferrolb_remove_crds"
    );
    assert_eq!(
        c.admin().get("Service", "default", "web").unwrap(),
        service,
        "the Service is untouched, its status included"
    );
    let again = c.play(&inv, &disabled);
    again.expect_success("removal again");
    assert_eq!(again.changed(), 0, "{}", again.output);
}

#[test]
fn bad_variables_fail_before_the_cluster_is_touched() {
    let Some(c) = Cluster::start("bad") else {
        return;
    };
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "range backwards",
            "metallb_ip_range: [\"192.0.2.10-192.0.2.1\"]\n",
            STRICT_ARP,
            "metallb_ip_range[0]: '192.0.2.10-192.0.2.1' ends before it starts",
        ),
        (
            "not a range",
            "metallb_ip_range: [\"192.0.2.300/24\"]\n",
            STRICT_ARP,
            "metallb_ip_range[0]: '192.0.2.300/24' is not a CIDR",
        ),
        (
            "pool named twice",
            "metallb_ip_range: [\"192.0.2.0/28\"]\nmetallb_additional_address_pools:\n  loadbalanced:\n    ip_range: [\"192.0.2.16/28\"]\n    protocol: layer2\n",
            STRICT_ARP,
            "metallb_additional_address_pools.loadbalanced: pool 'loadbalanced' is named twice",
        ),
        (
            "pools overlap",
            "metallb_config:\n  address_pools:\n    a: {ip_range: [192.0.2.0/24]}\n    b: {ip_range: [192.0.2.100-192.0.2.110]}\n  layer2: [a, b]\n",
            STRICT_ARP,
            "metallb_config.address_pools.b.ip_range[0]: 192.0.2.100-192.0.2.110 overlaps pool 'a'",
        ),
        (
            "peer without ASN (v2.21)",
            "metallb_ip_range: [\"192.0.2.0/28\"]\nmetallb_protocol: bgp\nmetallb_peers:\n  - peer_address: 192.0.2.1\n    my_asn: 64513\n",
            STRICT_ARP,
            "metallb_peers[0]: peer_asn is missing",
        ),
        (
            "peer without ASN (v2.22)",
            "metallb_config:\n  address_pools:\n    a: {ip_range: [192.0.2.0/28]}\n  layer3:\n    metallb_peers:\n      router:\n        peer_address: 192.0.2.1\n        peer_asn: 64512\n        address_pool: [a]\n",
            STRICT_ARP,
            "metallb_config.layer3.metallb_peers.router: my_asn is missing",
        ),
        (
            "layer2 names no pool",
            "metallb_config:\n  address_pools:\n    a: {ip_range: [192.0.2.0/28]}\n  layer2: [b]\n",
            STRICT_ARP,
            "metallb_config.layer2[0]: 'b' is not a pool",
        ),
        (
            "both forms",
            "metallb_ip_range: [\"192.0.2.0/28\"]\nmetallb_config:\n  address_pools:\n    a: {ip_range: [192.0.2.16/28]}\n",
            STRICT_ARP,
            "metallb_ip_range: is given with metallb_config.address_pools",
        ),
        (
            "ipvs without strict ARP",
            "metallb_ip_range: [\"192.0.2.0/28\"]\n",
            "kube_proxy_mode: ipvs\nkube_proxy_strict_arp: false\n",
            "ferrolb requires kube_proxy_strict_arp = true with kube_proxy_mode = ipvs",
        ),
        (
            "MetalLB still on",
            "metallb_enabled: true\nmetallb_ip_range: [\"192.0.2.0/28\"]\n",
            STRICT_ARP,
            "metallb_enabled and ferrolb_enabled are both true",
        ),
        (
            "a port out of range",
            "metallb_ip_range: [\"192.0.2.0/28\"]\nferrolb_speaker_metrics_port: 70000\n",
            STRICT_ARP,
            "ferrolb_speaker_metrics_port=70000",
        ),
    ];
    let writes_before = write_requests(c.handle());
    for (i, (what, addons, k8s_cluster, want)) in cases.iter().enumerate() {
        let inv = c.inventory(&format!("inv{i}"), addons, k8s_cluster);
        let run = c.play(&inv, &[]);
        assert!(!run.success, "{what}: the play succeeded:\n{}", run.output);
        assert!(
            run.output.contains(want),
            "{what}: the failure does not say {want:?}:\n{}",
            run.output
        );
    }
    assert_eq!(
        write_requests(c.handle()),
        writes_before,
        "a refused inventory wrote to the cluster"
    );
    assert!(c.admin().get("Namespace", "", NS).is_none());
}

/// Requests that write (anything but get, list and watch).
fn write_requests(handle: &ServerHandle) -> usize {
    handle
        .audit()
        .entries()
        .iter()
        .filter(|e| !["get", "list", "watch"].contains(&e.verb.as_str()))
        .count()
}

/// MetalLB stopped as docs/migration.md says (controller at 0 replicas, no speaker, no webhook) lets the role
/// run, and its CRDs are taken over; anything of it still announcing or validating stops the role first.
#[test]
fn metallb_must_be_stopped_and_its_crds_are_taken_over() {
    let Some(c) = Cluster::start("metallb") else {
        return;
    };
    let inv = c.inventory("inv", "metallb_ip_range: [\"192.0.2.64/26\"]\n", STRICT_ARP);
    let admin = c.admin();
    admin
        .create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "metallb-system"}}))
        .unwrap();
    let labels = json!({"app": "metallb"});
    admin
        .create(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "controller", "namespace": "metallb-system", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}}))
        .unwrap();
    admin
        .create(&json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "speaker", "namespace": "metallb-system", "labels": labels},
            "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}}}}))
        .unwrap();
    admin
        .create(
            &json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "metallb-webhook-configuration"}, "webhooks": []}),
        )
        .unwrap();
    admin
        .merge(
            "CustomResourceDefinition",
            "",
            "bgppeers.metallb.io",
            &json!({"spec": {"conversion": {"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"],
                "clientConfig": {"service": {"namespace": "metallb-system", "name": "metallb-webhook-service", "path": "/convert"}}}}}}),
            false,
        )
        .unwrap();
    let refused = |want: &str| {
        let run = c.play(&inv, &[]);
        assert!(!run.success, "{}", run.output);
        assert!(run.output.contains(want), "no {want:?} in:\n{}", run.output);
        assert!(c.admin().get("Namespace", "", NS).is_none(), "nothing applied");
    };
    refused("MetalLB still runs in namespace metallb-system (Deployment/controller 1, DaemonSet/speaker )");
    admin
        .merge(
            "Deployment",
            "metallb-system",
            "controller",
            &json!({"spec": {"replicas": 0}}),
            false,
        )
        .unwrap();
    admin.delete("DaemonSet", "metallb-system", "speaker").unwrap();
    refused(
        "MetalLB's validating webhook (validatingwebhookconfiguration.admissionregistration.k8s.io/metallb-webhook-configuration)",
    );
    admin
        .delete(
            "ValidatingWebhookConfiguration",
            "",
            "metallb-webhook-configuration",
        )
        .unwrap();

    // Stopped: ferrolb installs, and its BGPPeer definition no longer calls MetalLB's webhook.
    let run = c.play(&inv, &["--check"]);
    run.expect_success("check mode");
    assert!(
        run.output.contains("would replace the conversion webhook"),
        "{}",
        run.output
    );
    c.play(&inv, &[]).expect_success("MetalLB stopped");
    let crd = admin
        .get("CustomResourceDefinition", "", "bgppeers.metallb.io")
        .unwrap();
    assert_eq!(crd["spec"]["conversion"], json!({"strategy": "None"}));
    assert!(admin.get("Deployment", NS, "ferrolb-controller").is_some());
    assert_eq!(c.play(&inv, &[]).changed(), 0);
}

/// The role's own settings and MetalLB's reach the workloads: namespace (bindings included), image, log level,
/// load-balancer class on both programs, ports, node selectors; without a speaker the DaemonSet goes.
#[test]
fn settings_from_the_inventory_reach_the_workloads() {
    let Some(c) = Cluster::start("settings") else {
        return;
    };
    let addons = "metallb_ip_range: [\"192.0.2.64/26\"]
metallb_loadbalancer_class: example.com/bare-metal
metallb_log_level: all
metallb_port: \"7572\"
metallb_memberlist_port: \"7947\"
metallb_speaker_nodeselector: {node-role.kubernetes.io/worker: \"\"}
ferrolb_namespace: lb-system
ferrolb_image_repo: registry.example.com/ferrolb
ferrolb_image_tag: v0.1.0-site
";
    let inv = c.inventory("inv", addons, STRICT_ARP);
    c.play(&inv, &[]).expect_success("settings");
    let ns = "lb-system";
    assert!(c.admin().get("Namespace", "", ns).is_some());
    assert!(c.admin().get("Namespace", "", NS).is_none());
    let binding = c
        .admin()
        .get("ClusterRoleBinding", "", "ferrolb-speaker")
        .unwrap();
    assert_eq!(binding["subjects"][0]["namespace"], ns);
    let args = |o: &Value| -> Vec<String> {
        o["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let deployment = c.admin().get("Deployment", ns, "ferrolb-controller").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.example.com/ferrolb:v0.1.0-site");
    assert_eq!(container["ports"][0]["containerPort"], 7572);
    assert_eq!(
        args(&deployment),
        [
            "--log-level=trace",
            "--log-format=json",
            "--metrics-addr=0.0.0.0:7572",
            "--load-balancer-class=example.com/bare-metal"
        ]
    );
    let daemonset = c.admin().get("DaemonSet", ns, "ferrolb-speaker").unwrap();
    assert_eq!(
        args(&daemonset),
        [
            "--log-level=trace",
            "--log-format=json",
            "--metrics-addr=0.0.0.0:7473",
            "--memberlist-port=7947",
            "--load-balancer-class=example.com/bare-metal"
        ]
    );
    assert_eq!(
        daemonset["spec"]["template"]["spec"]["nodeSelector"],
        json!({"node-role.kubernetes.io/worker": ""})
    );
    assert_eq!(
        daemonset["spec"]["template"]["spec"]["containers"][0]["ports"][1]["containerPort"],
        7947
    );
    let cm = c.admin().get("ConfigMap", ns, "config").unwrap();
    assert!(cm["data"]["config"].as_str().unwrap().contains("192.0.2.64/26"));

    inv.set_addons(&format!("{addons}ferrolb_speaker_enabled: false\n"));
    c.play(&inv, &[]).expect_success("without speakers");
    assert!(c.admin().get("DaemonSet", ns, "ferrolb-speaker").is_none());
    assert!(c.admin().get("Deployment", ns, "ferrolb-controller").is_some());
}

#[test]
fn the_wait_for_the_pods_times_out_with_a_clear_message() {
    let Some(c) = Cluster::start("wait") else {
        return;
    };
    // A registered Node (a kubelet), but nothing runs the Pods.
    c.admin()
        .create(&json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"kubernetes.io/os": "linux"}}}))
        .unwrap();
    let inv = c.inventory(
        "inv",
        "metallb_ip_range: [\"192.0.2.64/26\"]\nferrolb_wait_timeout: 2\n",
        STRICT_ARP,
    );
    let run = c.play(&inv, &[]);
    assert!(!run.success, "{}", run.output);
    assert!(
        run.output.contains(
            "ferrolb's controller (Deployment ferrolb-system/ferrolb-controller) is not ready after 2s"
        ),
        "{}",
        run.output
    );
}

#[test]
fn monitoring_is_applied_when_asked_and_removed_when_not() {
    let Some(c) = Cluster::start_with("monitoring", true) else {
        return;
    };
    let inv = c.inventory(
        "inv",
        "metallb_ip_range: [\"192.0.2.64/26\"]\nferrolb_monitoring_enabled: true\n",
        STRICT_ARP,
    );
    c.play(&inv, &[]).expect_success("with monitoring");
    for (kind, name) in [
        ("PodMonitor", "ferrolb-controller"),
        ("PodMonitor", "ferrolb-speaker"),
        ("PrometheusRule", "ferrolb"),
        ("ConfigMap", "ferrolb-grafana-dashboard"),
    ] {
        let o = c
            .admin()
            .get(kind, NS, name)
            .unwrap_or_else(|| panic!("{kind} {name}"));
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "ferrolb-kubespray"
        );
    }
    let again = c.play(&inv, &[]);
    again.expect_success("again");
    assert_eq!(again.changed(), 0, "{}", again.output);
    inv.set_addons("metallb_ip_range: [\"192.0.2.64/26\"]\n");
    c.play(&inv, &[]).expect_success("without monitoring");
    assert!(c.admin().get("PrometheusRule", NS, "ferrolb").is_none());
    assert!(c.admin().get("PodMonitor", NS, "ferrolb-speaker").is_none());
    assert!(
        c.admin()
            .get("ConfigMap", NS, "ferrolb-grafana-dashboard")
            .is_none()
    );
    assert!(c.admin().get("ConfigMap", NS, "config").is_some());

    // Without the Prometheus Operator the play says what is missing.
    let Some(bare) = Cluster::start("monitoring-bare") else {
        return;
    };
    let inv = bare.inventory(
        "inv",
        "metallb_ip_range: [\"192.0.2.64/26\"]\nferrolb_monitoring_enabled: true\n",
        STRICT_ARP,
    );
    let run = bare.play(&inv, &[]);
    assert!(!run.success);
    assert!(
        run.output.contains("install the Prometheus Operator first"),
        "{}",
        run.output
    );
    assert!(bare.admin().get("Namespace", "", NS).is_none());
}

#[test]
fn ansible_lint_passes() {
    let Some(ansible) = Ansible::for_test("ansible_lint_passes") else {
        return;
    };
    let home = std::env::temp_dir().join(format!("ferrolb-ansible-lint-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let role = role_dir();
    let kubespray = role.ancestors().nth(3).unwrap(); // deploy/kubespray, with .ansible-lint
    let out = run_with_deadline(
        Command::new(ansible.tool("ansible-lint"))
            .args(["--offline", "--nocolor", "--profile", "production"])
            .current_dir(kubespray)
            .env("HOME", &home)
            .env("PATH", path_with(&ansible.tool("ansible-lint"))),
        Duration::from_secs(180),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(
        out.status.success(),
        "ansible-lint:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn path_with(tool: &Path) -> std::ffi::OsString {
    let mut dirs = vec![tool.parent().unwrap().to_owned()];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}
