//! RBAC proven, not guessed: the real `ferrolb-controller` (two replicas) and `ferrolb-speaker` (three nodes)
//! run as `deploy/ferrolb.yaml` runs them — the containers' arguments and environment, downward API
//! resolved, nothing else but `KUBECONFIG` — each as its ServiceAccount, against the embedded API server in a
//! network-namespace lab. A representative scenario is driven (install, config change, Services with IPs,
//! EndpointSlices moving between nodes, Events, the membership Secret created and completed, a leader
//! failover, a BGP Service, shutdown as Kubernetes does it: the speakers' Pods deleted, then SIGTERM, each
//! speaker reading its Pod); then every request in the audit log must be allowed by the manifest's Roles,
//! and every permission the Roles grant must have been used.
//!
//! Needs root (network namespaces; the speaker's ARP sockets) and arping: skipped with a reason elsewhere,
//! failing under `CI=true`. Takes about 20–40 s.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use ferrolb_e2e::cluster::{Admin, CONTROLLER_USER, SPEAKER_USER};
use ferrolb_e2e::manifest::{Container, Manifest, PodFacts};
use ferrolb_e2e::pods::{Security, http_get, process_spec};
use ferrolb_e2e::rbac::{Policy, Request};
use ferrolb_netlab::wait::wait_for;
use ferrolb_netlab::{Lab, MacAddr, Process, Tool, TopologySpec};
use serde_json::{Value, json};

const NS: &str = "ferrolb-system";
const WAIT: Duration = Duration::from_secs(30);
const VIP_WEB: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const VIP_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 101);
const VIP_ROUTED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

/// Two layer2 IPs, and a bgp pool without peers: every node still announces its IP (no session to send it
/// to), so on SIGTERM each speaker has routes to keep or withdraw and reads its Pod.
const FIRST_CONFIG: &str = "address-pools:\n- name: first\n  protocol: layer2\n  auto-assign: false\n  addresses:\n  - 192.0.2.240/28\n";
const TEST_CONFIG: &str = "address-pools:\n- name: web\n  protocol: layer2\n  addresses:\n  - 192.0.2.100-192.0.2.101\n- name: routed\n  protocol: bgp\n  auto-assign: false\n  addresses:\n  - 203.0.113.10/32\n";

/// The programs of the scenario, with their logs for failure messages.
struct Programs {
    controllers: Vec<(String, Process)>,
    speakers: Vec<(String, Process)>,
}

impl Programs {
    fn logs(&self) -> String {
        self.controllers
            .iter()
            .chain(&self.speakers)
            .map(|(n, p)| format!("--- {n} ({})\n{}\n", p.log_path().display(), p.log_tail(25)))
            .collect()
    }
}

fn pod(namespace: &str, name: &str, lab: &Lab, node: &str) -> PodFacts {
    let ip = lab.host(node).ipv4().to_string();
    PodFacts {
        namespace: namespace.into(),
        name: name.into(),
        node_name: node.into(),
        host_ip: ip.clone(),
        pod_ip: ip,
    }
}

fn node_object(lab: &Lab, name: &str) -> Value {
    let h = lab.host(name);
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": h.ipv4().to_string()},
                {"type": "InternalIP", "address": h.ipv6().to_string()},
                {"type": "Hostname", "address": name}
            ],
            "conditions": [{"type": "Ready", "status": "True"}]
        }
    })
}

fn service(name: &str, local: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": if local { "Local" } else { "Cluster" },
            "selector": {"app": name},
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
        }
    })
}

/// The Pod the DaemonSet controller would create for its template on `node` (the scheduler's binding
/// included), named as `process_spec` runs it.
fn daemon_pod(manifest: &Manifest, name: &str, node: &str) -> Value {
    let ds = manifest.get("DaemonSet", "ferrolb-speaker").unwrap();
    let template = &ds["spec"]["template"];
    let mut spec = template["spec"].clone();
    spec["nodeName"] = json!(node);
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": template["metadata"]["labels"]},
        "spec": spec
    })
}

fn endpoint_slice(service: &str, node: &str, address: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-1"), "namespace": "default",
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": true, "serving": true}, "nodeName": node}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
    })
}

fn ingress_ip(admin: &Admin<'_>, name: &str) -> Option<String> {
    admin.get("Service", "default", name)?["status"]["loadBalancer"]["ingress"][0]["ip"]
        .as_str()
        .map(str::to_owned)
}

/// Waits for `what`, panicking with the programs' logs on timeout.
fn wait<T>(programs: &Programs, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    wait_for(what, WAIT, || Ok(check())).unwrap_or_else(|e| panic!("{e}\n{}", programs.logs()))
}

fn probe_ok(lab: &Lab, node: &str, container: &Container, probe: &str) -> bool {
    let (path, port) = container
        .http_probe(probe)
        .unwrap_or_else(|| panic!("{}: no httpGet {probe}", container.object));
    let addr = SocketAddr::from((lab.host(node).ipv4(), port));
    matches!(http_get(lab.host(node).ns(), addr, &path), Ok((200, _)))
}

fn arp_owner(lab: &Lab, ip: Ipv4Addr) -> Option<MacAddr> {
    lab.arping_mac("client", ip).ok().flatten()
}

fn start_server(lab: &Lab, rt: &tokio::runtime::Runtime) -> (ServerHandle, String) {
    let api = lab.api().expect("the lab has an api host");
    let addr = SocketAddr::from((api.ipv4(), 6443));
    let listener = api.ns().tcp_listener(addr).expect("listen in the api namespace");
    let config = ServerConfig {
        users: vec![ADMIN.into(), CONTROLLER_USER.into(), SPEAKER_USER.into()],
        allow_anonymous: false,
        // the install's CRDs, as `kubectl apply -f deploy/ferrolb.yaml` would have established them
        crds: ferrolb_apiserver::resources::crds_from_yaml(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/ferrolb.yaml"))
                .expect("deploy/ferrolb.yaml"),
        )
        .expect("the manifest's CRDs"),
        ..ServerConfig::default()
    };
    let handle = rt
        .block_on(ApiServer::new(config).expect("server").serve_std(listener))
        .expect("serve");
    (handle, format!("http://{addr}"))
}

#[test]
fn the_programs_need_exactly_the_manifest_rbac() {
    let Some(lab) = Lab::for_test(TopologySpec::new(3).with_api_host(), &[Tool::Arping]) else {
        return;
    };
    let manifest = Manifest::ferrolb().expect("deploy/ferrolb.yaml");
    let controller = manifest
        .container("Deployment", "ferrolb-controller", "controller")
        .unwrap();
    let speaker = manifest
        .container("DaemonSet", "ferrolb-speaker", "speaker")
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (handle, url) = start_server(&lab, &rt);
    let admin = Admin::new(&handle);

    // The install: the namespace from the manifest and a first ConfigMap of the operator's; the cluster's
    // Nodes; a membership Secret an operator created empty (the leader must add the key: get + patch).
    admin.create(manifest.get("Namespace", NS).unwrap()).unwrap();
    admin
        .create(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "config", "namespace": NS},
                        "data": {"config": FIRST_CONFIG}}))
        .unwrap();
    for n in ["node1", "node2", "node3"] {
        let node = node_object(&lab, n);
        admin.create(&node).unwrap();
        admin
            .merge("Node", "", n, &json!({"status": node["status"]}), true)
            .unwrap();
    }
    admin
        .create(&json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                        "metadata": {"name": "ferrolb-memberlist", "namespace": NS}}))
        .unwrap();

    let kubeconfig = |user: &str, file: &str| {
        let path = lab.dir().join(file);
        std::fs::write(&path, handle.kubeconfig_for(user, &url)).unwrap();
        path
    };
    let controller_kc = kubeconfig(CONTROLLER_USER, "controller.kubeconfig");
    let speaker_kc = kubeconfig(SPEAKER_USER, "speaker.kubeconfig");
    let mut programs = Programs {
        controllers: Vec::new(),
        speakers: Vec::new(),
    };
    for node in ["node1", "node2"] {
        let name = format!("ferrolb-controller-{node}");
        let spec = process_spec(&name, &controller, &pod(NS, &name, &lab, node), &controller_kc).unwrap();
        programs
            .controllers
            .push((node.into(), lab.spawn(node, &spec).unwrap()));
    }
    for node in ["node1", "node2", "node3"] {
        let name = format!("ferrolb-speaker-{node}");
        admin.create(&daemon_pod(&manifest, &name, node)).unwrap();
        let spec = process_spec(&name, &speaker, &pod(NS, &name, &lab, node), &speaker_kc).unwrap();
        programs
            .speakers
            .push((node.into(), lab.spawn(node, &spec).unwrap()));
    }

    // Leader election, the Secret completed by the leader, and every probe of the manifest answering.
    let holder = |admin: &Admin<'_>| {
        admin.get("Lease", NS, "ferrolb-controller")?["spec"]["holderIdentity"]
            .as_str()
            .map(str::to_owned)
    };
    let first_leader = wait(&programs, "a controller holds the Lease", || holder(&admin));
    wait(&programs, "the membership Secret has its key", || {
        admin.get("Secret", NS, "ferrolb-memberlist")?["data"]["secretkey"]
            .as_str()
            .map(|_| ())
    });
    for (node, _) in &programs.controllers {
        for probe in ["livenessProbe", "readinessProbe"] {
            wait(&programs, &format!("controller on {node}: {probe}"), || {
                probe_ok(&lab, node, &controller, probe).then_some(())
            });
        }
    }
    for (node, _) in &programs.speakers {
        for probe in ["livenessProbe", "readinessProbe"] {
            wait(&programs, &format!("speaker on {node}: {probe}"), || {
                probe_ok(&lab, node, &speaker, probe).then_some(())
            });
        }
    }

    // Each program runs as its securityContext says: the controller as user 65532 without capabilities,
    // the speaker as root with NET_RAW, NET_ADMIN and BPF only; both without privilege escalation.
    for (procs, container) in [
        (&programs.controllers, &controller),
        (&programs.speakers, &speaker),
    ] {
        let security = Security::of(container).unwrap();
        for (node, p) in procs {
            security
                .check_process(p.pid())
                .unwrap_or_else(|e| panic!("{} on {node}: {e}", container.object));
        }
    }

    // The operator's config replaces the first one.
    admin
        .merge(
            "ConfigMap",
            NS,
            "config",
            &json!({"data": {"config": TEST_CONFIG}}),
            false,
        )
        .unwrap();

    // A pool written as an IPAddressPool: read like the ConfigMap, its usage written to its status.
    admin
        .create(
            &json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                        "metadata": {"name": "spare", "namespace": NS},
                        "spec": {"addresses": ["198.51.100.200/31"], "autoAssign": false}}),
        )
        .unwrap();
    wait(&programs, "the IPAddressPool's status says 2 available", || {
        let pool = admin.get("IPAddressPool", NS, "spare")?;
        (pool["status"]["availableIPv4"] == 2 && pool["status"]["assignedIPv4"] == 0).then_some(())
    });

    // A Cluster Service: an IP, announced by one node.
    admin.create(&service("web", false)).unwrap();
    admin
        .create(&endpoint_slice("web", "node2", "10.244.2.5"))
        .unwrap();
    let ip = wait(&programs, "web gets an IP", || ingress_ip(&admin, "web"));
    assert_eq!(ip, VIP_WEB.to_string());
    let macs: BTreeMap<MacAddr, &str> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| (lab.mac(n).unwrap(), *n))
        .collect();
    let owner = wait(&programs, "a node answers ARP for web's IP", || {
        arp_owner(&lab, VIP_WEB)
    });
    assert!(macs.contains_key(&owner), "ARP answered by {owner}, not a node");
    // The manifest's capabilities are enough for the speaker's eBPF ARP fast path.
    for (node, p) in &programs.speakers {
        let log = std::fs::read_to_string(p.log_path()).unwrap_or_default();
        assert!(
            log.contains("ARP fast path loaded"),
            "the speaker on {node} has no ARP fast path with the manifest's capabilities:\n{}",
            p.log_tail(10)
        );
    }

    // A Local Service: announced where its endpoint is; the endpoint moves to node3 and back. Every
    // takeover is its own Event (a create; the speaker keeps no series, so it needs no patch).
    admin.create(&service("local", true)).unwrap();
    admin
        .create(&endpoint_slice("local", "node1", "10.244.1.7"))
        .unwrap();
    let ip = wait(&programs, "local gets an IP", || ingress_ip(&admin, "local"));
    assert_eq!(ip, VIP_LOCAL.to_string());
    for node in ["node1", "node3", "node1"] {
        admin
            .merge(
                "EndpointSlice",
                "default",
                "local-1",
                &json!({"endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": true}, "nodeName": node}]}),
                false,
            )
            .unwrap();
        let want = lab.mac(node).unwrap();
        wait(&programs, &format!("{node} answers ARP for local's IP"), || {
            (arp_owner(&lab, VIP_LOCAL) == Some(want)).then_some(())
        });
    }
    let audit = handle.audit();
    wait(&programs, "an Event for each of the three takeovers", || {
        (audit.count(|e| e.user == SPEAKER_USER && e.verb == "create" && e.resource == "events") >= 4)
            .then_some(())
    });
    wait(&programs, "the controller's Events", || {
        (audit.count(|e| e.user == CONTROLLER_USER && e.verb == "create" && e.resource == "events") > 0)
            .then_some(())
    });
    // The status objects: local's ServiceL2Status names node1 (the others' were removed at each takeover),
    // and every component's ConfigurationState says Valid.
    wait(&programs, "local's ServiceL2Status names node1 alone", || {
        let objects = admin.list("ServiceL2Status", NS);
        let local: Vec<&Value> = objects
            .iter()
            .filter(|o| o["status"]["serviceName"] == "local")
            .collect();
        (local.len() == 1 && local[0]["status"]["node"] == "node1").then_some(())
    });
    for name in ["controller", "speaker-node1", "speaker-node2", "speaker-node3"] {
        wait(&programs, &format!("ConfigurationState {name} is Valid"), || {
            (admin.get("ConfigurationState", NS, name)?["status"]["result"] == "Valid").then_some(())
        });
    }

    // The Secret is lost; the leader stops; the standby takes the Lease and creates a new Secret.
    admin.delete("Secret", NS, "ferrolb-memberlist").unwrap();
    let leader_index = programs
        .controllers
        .iter()
        .position(|(node, _)| {
            let pod = format!("ferrolb-controller-{node}");
            first_leader == pod || first_leader.starts_with(&format!("{pod}_"))
        })
        .unwrap_or_else(|| panic!("the holder {first_leader:?} is none of the controllers"));
    let (_, leader) = programs.controllers.remove(leader_index);
    leader.stop(Duration::from_secs(10)).unwrap();
    let second = wait(&programs, "the standby takes the Lease", || {
        holder(&admin).filter(|h| *h != first_leader && !h.is_empty())
    });
    assert!(second.starts_with("ferrolb-controller-"), "{second}");
    wait(&programs, "the new leader creates the membership Secret", || {
        admin.get("Secret", NS, "ferrolb-memberlist")?["data"]["secretkey"]
            .as_str()
            .map(|_| ())
    });

    // A BGP Service: every node announces its IP (the pool has no peers to send it to).
    let mut routed = service("routed", false);
    routed["metadata"]["annotations"] = json!({"metallb.universe.tf/address-pool": "routed"});
    admin.create(&routed).unwrap();
    admin
        .create(&endpoint_slice("routed", "node3", "10.244.3.9"))
        .unwrap();
    let ip = wait(&programs, "routed gets an IP", || ingress_ip(&admin, "routed"));
    assert_eq!(ip, VIP_ROUTED.to_string());
    wait(&programs, "every node's ServiceBGPStatus of routed", || {
        let n = admin
            .list("ServiceBGPStatus", NS)
            .iter()
            .filter(|o| o["status"]["serviceName"] == "routed")
            .count();
        (n == 3).then_some(())
    });

    // Services deleted: their status objects go too. Then everything stops as Kubernetes stops pods: a
    // speaker's Pod is deleted through the API (graceful deletion, as an uninstall or a rolling update does)
    // before its SIGTERM.
    admin.delete("Service", "default", "web").unwrap();
    admin.delete("Service", "default", "routed").unwrap();
    wait(&programs, "the status objects of web and routed are gone", || {
        let left = |kind: &str| {
            admin
                .list(kind, NS)
                .iter()
                .filter(|o| ["web", "routed"].contains(&o["status"]["serviceName"].as_str().unwrap_or("")))
                .count()
        };
        (left("ServiceL2Status") + left("ServiceBGPStatus") == 0).then_some(())
    });
    // routed again, so that every speaker announces something when it stops (and reads its Pod)
    admin.create(&routed).unwrap();
    let ip = wait(&programs, "routed gets an IP again", || {
        ingress_ip(&admin, "routed")
    });
    assert_eq!(ip, VIP_ROUTED.to_string());
    wait(&programs, "every node's ServiceBGPStatus of routed again", || {
        let n = admin
            .list("ServiceBGPStatus", NS)
            .iter()
            .filter(|o| o["status"]["serviceName"] == "routed")
            .count();
        (n == 3).then_some(())
    });
    // node3 dies with its speaker and is deleted from the cluster: the leader removes what it left behind.
    let (_, gone) = programs.speakers.iter().find(|(n, _)| n == "node3").unwrap();
    gone.kill().unwrap();
    admin.delete("Node", "", "node3").unwrap();
    wait(
        &programs,
        "node3's status objects and ConfigurationState are removed",
        || {
            let left = ["ServiceL2Status", "ServiceBGPStatus"]
                .iter()
                .flat_map(|k| admin.list(k, NS))
                .filter(|o| o["metadata"]["labels"]["metallb.io/node"] == "node3")
                .count();
            (left == 0 && admin.get("ConfigurationState", NS, "speaker-node3").is_none()).then_some(())
        },
    );
    for (_, p) in &programs.controllers {
        p.stop(Duration::from_secs(10)).unwrap();
    }
    for (node, p) in programs.speakers.iter().filter(|(n, _)| n != "node3") {
        let name = format!("ferrolb-speaker-{node}");
        admin.delete("Pod", NS, &name).unwrap();
        let pod = admin
            .get("Pod", NS, &name)
            .expect("a deleted pod stays until its grace period ends");
        assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod}");
        p.stop(Duration::from_secs(10)).unwrap();
        let log = std::fs::read_to_string(p.log_path()).unwrap_or_default();
        assert!(
            log.contains(&format!("pod {name} is being deleted")),
            "the speaker on {node} did not read its Pod:\n{}",
            p.log_tail(10)
        );
    }
    let entries = audit.entries();
    rt.block_on(handle.shutdown());

    // The audit, both ways.
    let others: Vec<&str> = entries
        .iter()
        .map(|e| e.user.as_str())
        .filter(|u| *u != CONTROLLER_USER && *u != SPEAKER_USER)
        .collect();
    assert!(others.is_empty(), "requests from other users: {others:?}");
    let failed: Vec<String> = entries
        .iter()
        .filter(|e| e.code == 401 || e.code == 403)
        .map(|e| format!("{} {} {}", e.user, e.verb, e.uri))
        .collect();
    assert!(failed.is_empty(), "unauthenticated requests: {failed:?}");
    let requests: Vec<Request> = entries.iter().filter_map(Request::from_audit).collect();
    let mut distinct: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *distinct.entry(r.to_string()).or_default() += 1;
    }
    eprintln!("{} requests, {} distinct:", requests.len(), distinct.len());
    for (r, n) in &distinct {
        eprintln!("  {n:5} {r}");
    }
    let policy = Policy::from_objects(&manifest.objects).expect("the manifest's RBAC");
    let report = policy.audit(&requests);
    assert!(report.is_exact(), "the manifest's RBAC is not exact:\n{report}");
}
