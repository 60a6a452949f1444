//! A speaker cluster in the lab, for the lab tests and the benchmarks: the embedded API server served in the
//! `api` host's namespace, real `ferrolb-speaker` processes in node namespaces, and helpers that act as the
//! controller (Service status, EndpointSlices) and observe the segment from the client (arping, ndisc6).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The install's CustomResourceDefinitions (metallb.io).
const CRDS: &str = include_str!("../../../deploy/kustomize/crds.yaml");

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use ferrolb_netlab::{Lab, MacAddr, Process, ProcessSpec, Tool, TopologySpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

/// ferrolb's namespace.
pub const NS: &str = "ferrolb-system";
/// The membership key the tests use.
pub const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
/// Where the API server listens (the `api` host).
pub const API_ADDR: &str = "192.0.2.2:6443";

/// The speaker binary under test.
pub fn speaker_binary() -> &'static str {
    env!("CARGO_BIN_EXE_ferrolb-speaker")
}

/// A lab with the API server and (optionally) speakers.
pub struct Cluster {
    pub lab: Lab,
    rt: tokio::runtime::Runtime,
    server: Option<ServerHandle>,
    pub client: kube::Client,
    kubeconfig: PathBuf,
    speakers: Mutex<BTreeMap<String, Process>>,
    /// Extra flags for every speaker started from now on.
    pub speaker_args: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // speakers first (they would log API errors), then the server, then the lab (its own Drop)
        self.speakers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Some(s) = self.server.take() {
            let _ = self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(3), s.shutdown()).await });
        }
    }
}

/// Serialises the lab tests and benches of one process: failover timing is measured, and two clusters
/// of speakers competing for 2 cores would measure each other.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub const LAYER2_CONFIG: &str = "address-pools:
- name: l2
  protocol: layer2
  addresses:
  - 192.0.2.100-192.0.2.119
  - 2001:db8::100/124
";

impl Cluster {
    /// A lab with `nodes` nodes, the API server with namespace, Secret, config and Nodes; no speaker yet.
    /// `None` when the lab cannot run here (skipped outside CI; a failure under CI=true).
    pub fn new(nodes: usize, tools: &[Tool], config: &str) -> Option<Cluster> {
        let lab = Lab::for_test(TopologySpec::new(nodes).with_api_host(), tools)?;
        let api = lab.api().expect("api host").ns().clone();
        // worker threads created inside the api namespace: the server and the test's client live there
        let rt = api
            .run(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
            })
            .expect("api namespace")
            .expect("runtime");
        let listener = api.tcp_listener(API_ADDR.parse().unwrap()).expect("API listener");
        let server = rt
            .block_on(async {
                tokio::spawn(async move {
                    let config = ServerConfig {
                        bookmark_interval: Duration::from_secs(5),
                        crds: ferrolb_apiserver::resources::crds_from_yaml(CRDS).expect("the install's CRDs"),
                        ..ServerConfig::default()
                    };
                    ApiServer::new(config).expect("server").serve_std(listener).await
                })
                .await
            })
            .expect("server task")
            .expect("server");
        let kubeconfig = lab.dir().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            server.kubeconfig_for(ADMIN, &format!("http://{API_ADDR}")),
        )
        .expect("kubeconfig");
        let client = rt
            .block_on(async {
                let kc = kube::config::Kubeconfig::from_yaml(
                    &server.kubeconfig_for(ADMIN, &format!("http://{API_ADDR}")),
                )
                .expect("kubeconfig");
                let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                    .await
                    .expect("config");
                kube::Client::try_from(cfg)
            })
            .expect("client");
        let c = Cluster {
            lab,
            rt,
            server: Some(server),
            client,
            kubeconfig,
            speakers: Mutex::new(BTreeMap::new()),
            speaker_args: Vec::new(),
        };
        c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}));
        c.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}));
        c.set_secret(KEY);
        c.set_config(config);
        let names: Vec<String> = c.lab.nodes().map(|n| n.name().to_owned()).collect();
        for n in names {
            c.add_node(&n);
        }
        Some(c)
    }

    /// Runs `f` on the runtime whose threads live in the api namespace.
    pub fn block<T: Send + 'static>(&self, f: impl std::future::Future<Output = T> + Send + 'static) -> T {
        self.rt.block_on(async { tokio::spawn(f).await.expect("task") })
    }

    fn create(&self, obj: serde_json::Value) {
        let client = self.client.clone();
        self.block(async move {
            let kind = obj["kind"].as_str().unwrap().to_owned();
            let ns = obj["metadata"]["namespace"].as_str().map(str::to_owned);
            let pp = PostParams::default();
            let r = match (kind.as_str(), ns) {
                ("Namespace", _) => Api::<Namespace>::all(client)
                    .create(&pp, &serde_json::from_value(obj).unwrap())
                    .await
                    .map(drop),
                ("Node", _) => Api::<Node>::all(client)
                    .create(&pp, &serde_json::from_value(obj).unwrap())
                    .await
                    .map(drop),
                ("Service", Some(ns)) => Api::<Service>::namespaced(client, &ns)
                    .create(&pp, &serde_json::from_value(obj).unwrap())
                    .await
                    .map(drop),
                (k, _) => panic!("create {k}"),
            };
            r.expect("create");
        });
    }

    fn apply<K>(&self, api: Api<K>, name: &str, obj: serde_json::Value)
    where
        K: kube::Resource
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug
            + Send
            + 'static,
        K::DynamicType: Default,
    {
        let name = name.to_owned();
        self.block(async move {
            api.patch(
                &name,
                &PatchParams::apply("ferrolb-test").force(),
                &Patch::Apply(obj),
            )
            .await
            .expect("apply");
        });
    }

    /// Sets the membership Secret's key.
    pub fn set_secret(&self, key: &[u8]) {
        use base64_like::encode;
        self.apply(
            Api::<Secret>::namespaced(self.client.clone(), NS),
            "ferrolb-memberlist",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ferrolb-memberlist", "namespace": NS},
                   "data": {"secretkey": encode(key)}}),
        );
    }

    /// Replaces the config ConfigMap's text.
    pub fn set_config(&self, text: &str) {
        self.apply(
            Api::<ConfigMap>::namespaced(self.client.clone(), NS),
            "config",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "config", "namespace": NS},
                   "data": {"config": text}}),
        );
    }

    /// Creates the Node object of lab host `name` (InternalIP = its IPv4 address).
    pub fn add_node(&self, name: &str) {
        let ip = self.lab.host(name).ipv4();
        self.create(json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}}));
        let client = self.client.clone();
        let name = name.to_owned();
        self.block(async move {
            let status = json!({"status": {"addresses": [{"type": "InternalIP", "address": ip.to_string()},
                                                         {"type": "Hostname", "address": name}],
                                           "conditions": [{"type": "Ready", "status": "True"}]}});
            Api::<Node>::all(client)
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                .await
                .expect("node status");
        });
    }

    /// Creates a LoadBalancer Service in namespace `apps` with `ips` in its status (as the controller
    /// would) and ready endpoints on `ready_on`.
    pub fn add_service(&self, name: &str, ips: &[IpAddr], local: bool, ready_on: &[&str]) {
        let families: Vec<&str> = ips
            .iter()
            .map(|ip| if ip.is_ipv4() { "IPv4" } else { "IPv6" })
            .collect();
        self.create(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"type": "LoadBalancer", "selector": {"app": name},
                     "externalTrafficPolicy": if local { "Local" } else { "Cluster" },
                     "ipFamilies": families, "ipFamilyPolicy": if ips.len() > 1 { "RequireDualStack" } else { "SingleStack" },
                     "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]}}));
        self.set_ingress(name, ips);
        self.set_endpoints(name, ready_on);
    }

    /// Writes `status.loadBalancer.ingress` of Service `apps/<name>`.
    pub fn set_ingress(&self, name: &str, ips: &[IpAddr]) {
        let client = self.client.clone();
        let name = name.to_owned();
        let ingress: Vec<serde_json::Value> = ips.iter().map(|ip| json!({"ip": ip.to_string()})).collect();
        self.block(async move {
            Api::<Service>::namespaced(client, "apps")
                .patch_status(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"loadBalancer": {"ingress": ingress}}})),
                )
                .await
                .expect("service status");
        });
    }

    /// Replaces the endpoints of Service `apps/<name>`: one ready endpoint on each of `nodes`.
    pub fn set_endpoints(&self, name: &str, nodes: &[&str]) {
        let endpoints: Vec<serde_json::Value> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"addresses": [format!("10.244.0.{}", i + 1)], "nodeName": n, "conditions": {"ready": true}}))
            .collect();
        self.apply(
            Api::<EndpointSlice>::namespaced(self.client.clone(), "apps"),
            &format!("{name}-slice"),
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": format!("{name}-slice"), "namespace": "apps",
                                "labels": {"kubernetes.io/service-name": name}},
                   "addressType": "IPv4", "endpoints": endpoints,
                   "ports": [{"port": 8080, "protocol": "TCP"}]}),
        );
    }

    /// Event notes on Service `apps/<name>`.
    pub fn service_events(&self, name: &str) -> Vec<String> {
        let client = self.client.clone();
        let name = name.to_owned();
        self.block(async move {
            let evs = Api::<k8s_openapi::api::events::v1::Event>::namespaced(client, "apps")
                .list(&Default::default())
                .await
                .expect("events");
            evs.items
                .into_iter()
                .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name.as_str()))
                .filter_map(|e| e.note)
                .collect()
        })
    }

    /// Starts the speaker of `node` and waits until it is ready. `FERROLB_SPEAKER_WRAPPER` (a command line,
    /// e.g. `valgrind --tool=massif`) runs it under a tool.
    pub fn start_speaker(&self, node: &str) {
        let wrapper: Vec<String> = std::env::var("FERROLB_SPEAKER_WRAPPER")
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let spec = match wrapper.split_first() {
            Some((tool, args)) => ProcessSpec::new(format!("{node}-speaker"), tool)
                .args(args)
                .arg(speaker_binary()),
            None => ProcessSpec::new(format!("{node}-speaker"), speaker_binary()),
        };
        let spec = spec
            .args(["--node-name", node, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--log-level", "debug"])
            .args(&self.speaker_args);
        let p = self.lab.spawn(node, &spec).expect("speaker");
        self.speakers.lock().unwrap().insert(node.to_owned(), p);
        self.wait_ready(node, Duration::from_secs(15));
    }

    /// Starts every node's speaker.
    pub fn start_all(&self) {
        let names: Vec<String> = self.lab.nodes().map(|n| n.name().to_owned()).collect();
        for n in &names {
            let spec = ProcessSpec::new(format!("{n}-speaker"), speaker_binary())
                .args(["--node-name", n, "--kubeconfig"])
                .arg(&self.kubeconfig)
                .args(["--log-level", "debug"])
                .args(&self.speaker_args);
            let p = self.lab.spawn(n, &spec).expect("speaker");
            self.speakers.lock().unwrap().insert(n.clone(), p);
        }
        for n in &names {
            self.wait_ready(n, Duration::from_secs(15));
        }
    }

    /// Stops the API server (connections close; the speakers' watches fail and retry).
    pub fn stop_api(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(5), s.shutdown()).await })
                .expect("shutdown");
        }
    }

    /// Starts `node`'s speaker again (after a kill), logging to `<node>-speaker-<n>.log`, and waits until ready.
    pub fn restart_speaker(&self, node: &str, n: usize) {
        let spec = ProcessSpec::new(format!("{node}-speaker-{n}"), speaker_binary())
            .args(["--node-name", node, "--kubeconfig"])
            .arg(&self.kubeconfig)
            .args(["--log-level", "debug"])
            .args(&self.speaker_args);
        let p = self.lab.spawn(node, &spec).expect("speaker");
        self.speakers.lock().unwrap().insert(node.to_owned(), p);
        self.wait_ready(node, Duration::from_secs(15));
    }

    /// The membership generation `node`'s speaker joined with (from its log).
    pub fn generation(&self, node: &str) -> u64 {
        let log = self.speaker_log(node);
        log.lines()
            .rev()
            .filter(|l| l.contains("joining the speaker cluster"))
            .filter_map(|l| {
                l.split("generation=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .next()
            .expect("generation in the log")
    }

    /// Stops `node`'s speaker with SIGTERM (it withdraws and leaves the cluster), waiting up to 10 s.
    pub fn stop_speaker(&self, node: &str) {
        let p = self
            .speakers
            .lock()
            .unwrap()
            .remove(node)
            .expect("running speaker");
        let status = p.stop(Duration::from_secs(10)).expect("stop");
        assert!(
            status.success(),
            "{node}'s speaker exited with {status}:\n{}",
            p.log()
        );
    }

    /// `kill -9` of `node`'s speaker.
    pub fn kill_speaker(&self, node: &str) {
        let p = self
            .speakers
            .lock()
            .unwrap()
            .remove(node)
            .expect("running speaker");
        p.kill().expect("kill");
    }

    /// The PID of `node`'s speaker.
    pub fn speaker_pid(&self, node: &str) -> u32 {
        self.speakers
            .lock()
            .unwrap()
            .get(node)
            .expect("running speaker")
            .pid()
    }

    /// The speaker's log.
    pub fn speaker_log(&self, node: &str) -> String {
        self.speakers
            .lock()
            .unwrap()
            .get(node)
            .map(|p| p.log())
            .unwrap_or_default()
    }

    /// Whether `node`'s speaker process still runs.
    pub fn speaker_running(&self, node: &str) -> bool {
        self.speakers
            .lock()
            .unwrap()
            .get(node)
            .is_some_and(|p| p.is_running())
    }

    /// GET `path` from `node`'s speaker (`127.0.0.1:7473` in its namespace): (status code, body).
    pub fn http_get(&self, node: &str, path: &str) -> Option<(u16, String)> {
        let ns = self.lab.host(node).ns().clone();
        let mut s = ns
            .tcp_connect("127.0.0.1:7473".parse().unwrap(), Duration::from_millis(300))
            .ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let code = out.split_whitespace().nth(1)?.parse().ok()?;
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Some((code, body))
    }

    /// Waits until `node`'s speaker reports ready.
    pub fn wait_ready(&self, node: &str, timeout: Duration) {
        let start = Instant::now();
        loop {
            if let Some((200, _)) = self.http_get(node, "/readyz") {
                return;
            }
            assert!(
                self.speaker_running(node),
                "{node}'s speaker exited:\n{}",
                self.speaker_log(node)
            );
            assert!(
                start.elapsed() < timeout,
                "{node}'s speaker not ready: {:?}\n{}",
                self.http_get(node, "/readyz"),
                self.speaker_log(node)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The value of metric `name` (with its labels as written, e.g. `x{a="b"}`) on `node`, summed over
    /// matching lines.
    pub fn metric(&self, node: &str, name: &str) -> f64 {
        let Some((200, body)) = self.http_get(node, "/metrics") else {
            return f64::NAN;
        };
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(k, _)| {
                *k == name || (k.starts_with(name) && !name.contains('{') && k[name.len()..].starts_with('{'))
            })
            .filter_map(|(_, v)| v.parse::<f64>().ok())
            .sum()
    }

    /// The MAC of `node`'s eth0.
    pub fn mac(&self, node: &str) -> MacAddr {
        self.lab.mac(node).expect("mac")
    }

    /// Node names in order.
    pub fn node_names(&self) -> Vec<String> {
        self.lab.nodes().map(|n| n.name().to_owned()).collect()
    }

    /// The owner the election picks for `ip` among `candidates`.
    pub fn expected_owner(ip: IpAddr, candidates: &[String]) -> String {
        ferrolb_speaker::election::rendezvous::owner(ip, candidates.iter().map(String::as_str))
            .expect("a candidate")
            .to_owned()
    }

    /// Distinct MACs answering ARP for `ip` from the client (5 requests, 50 ms apart).
    pub fn arp_macs(&self, ip: Ipv4Addr) -> BTreeSet<MacAddr> {
        self.lab.arping_macs("client", ip, 5).expect("arping")
    }

    /// Waits until exactly `node`'s MAC answers ARP for `ip`.
    pub fn wait_arp_owner(&self, ip: Ipv4Addr, node: &str, timeout: Duration) {
        let want: BTreeSet<MacAddr> = [self.mac(node)].into();
        let start = Instant::now();
        loop {
            let got = self.arp_macs(ip);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "ARP for {ip}: {got:?}, want only {node} ({want:?})"
            );
        }
    }
}

/// RFC 4648 base64 (the Secret's `data` encoding), to avoid a dependency for one call.
pub mod base64_like {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn known_vectors() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(b"f"), "Zg==");
        assert_eq!(encode(b"fo"), "Zm8=");
        assert_eq!(encode(b"foobar"), "Zm9vYmFy");
    }
}

/// A socket address on `ip` (convenience for probes).
pub fn sock(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}
