//! The whole system in the lab, for the end-to-end tests, the benchmark and `ferrolb-lab demo`.
//!
//! ```text
//!   api: ferrolb-apiserver (this process, listening on 192.0.2.2:6443 inside the api namespace)
//!   node1: ferrolb-speaker, ferrolb-controller      node2: ferrolb-speaker, ferrolb-controller
//!   node3: ferrolb-speaker                          router: BIRD or FRR (on demand)
//!   client (same segment: arping, curl)             ext (behind the router: curl through BGP routes)
//! ```
//!
//! Every program is the built binary run as `deploy/ferrolb.yaml` runs it ([`crate::pods::process_spec`]:
//! the container's arguments and environment, its user and capabilities, its ServiceAccount's token), each in
//! its node's namespace like a hostNetwork pod. The harness also plays the parts of Kubernetes that the lab
//! has no program for: it creates the Nodes, it writes the EndpointSlices a Service's pods would have (the
//! endpoint controller), and it installs the kube-proxy stand-in's DNAT for a Service's load-balancer IP
//! ([`System::serve`]).
//!
//! Waits poll a condition with a deadline ([`System::wait`]); an interrupt flag (the demo's Ctrl-C) ends
//! them early. Dropping a [`System`] stops the programs, the API server and the lab, in that order.

pub mod ledger;
mod network;
pub mod objects;
mod programs;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};
use ferrolb_netlab::wait::Backoff;
use ferrolb_netlab::{Lab, LabError, Tool, TopologySpec};
use serde_json::{Value, json};

use crate::cluster::{Admin, CONTROLLER_USER, SPEAKER_USER};
use crate::manifest::{Container, Manifest, ManifestError};

pub use network::{NODE_ASN, ROUTER_ASN, router_config};
pub use programs::{Kind, ProgramInfo};

/// ferrolb's namespace (the manifests').
pub const NS: &str = "ferrolb-system";
/// The API server's port on the `api` host.
pub const API_PORT: u16 = 6443;
/// How long the programs may take to become ready after a start.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The install manifest, as compiled in (the demo runs from the binary alone).
const FERROLB_YAML: &str = include_str!("../../../deploy/ferrolb.yaml");

/// Why the system could not be built or did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The lab failed (set-up, a command, a probe, a daemon).
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The install manifest lacks what the harness needs.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The API server refused a request or could not start.
    #[error("API server: {0}")]
    Api(String),
    /// A condition did not hold before its deadline.
    #[error("timed out after {timeout:?} waiting for {what}{}", last.as_deref().map(|l| format!(" (last seen: {l})")).unwrap_or_default())]
    Timeout {
        /// What was waited for.
        what: String,
        /// The deadline.
        timeout: Duration,
        /// The last observation, when there is one worth showing.
        last: Option<String>,
    },
    /// A program the system runs is not running (or a request named none).
    #[error("program {0}")]
    Program(String),
    /// A tool's output was not what the harness expects.
    #[error("{tool}: {message}")]
    Tool {
        /// The tool.
        tool: String,
        /// What was wrong.
        message: String,
    },
    /// The interrupt flag was raised (Ctrl-C in the demo).
    #[error("interrupted")]
    Interrupted,
}

/// Result of the harness.
pub type Result<T, E = SystemError> = std::result::Result<T, E>;

/// What to build.
#[derive(Debug, Clone)]
pub struct SystemSpec {
    /// Number of nodes (each runs a speaker).
    pub nodes: usize,
    /// The nodes that run a controller replica (the Deployment's two replicas by default: node1, node2).
    pub controller_nodes: Vec<String>,
    /// The legacy ConfigMap's `config` text (ConfigMap `config` in ferrolb's namespace); `None`: no ConfigMap
    /// at all (the install manifest ships none).
    pub config: Option<String>,
    /// More objects to install before the programs start, as YAML (one or more documents, a `kind: List`
    /// too): metallb.io resources, the Secrets their peers name, Namespaces, a ConfigMap. Namespaced objects
    /// without a namespace go to ferrolb's. The programs are ready only once a valid configuration exists, so
    /// a configuration made of resources alone comes here.
    pub objects: Option<String>,
    /// The CustomResourceDefinitions to serve instead of the install manifest's (e.g. MetalLB's own), as
    /// YAML; `None`: the manifest's.
    pub crds: Option<String>,
    /// Labels of the Node objects besides the kubelet's, per node.
    pub node_labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Hosts that also sit on the lab's second segment (their `eth1`; see `ferrolb_netlab::topology`).
    pub second_segment: Vec<String>,
    /// Lab tools needed besides `ip` (checked by [`System::for_test`]).
    pub tools: Vec<Tool>,
    /// Who installs ferrolb.
    pub install: Install,
}

/// Who installs ferrolb into the system's API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Install {
    /// The harness: the manifest's Namespace and ConfigMap (with [`SystemSpec::config`]), then the programs.
    #[default]
    Manifest,
    /// Someone else (the kubespray role): the server also serves the install kinds (Deployments,
    /// DaemonSets, RBAC, ServiceAccounts), the harness creates only the Nodes and starts no program until
    /// [`System::start_as_applied`].
    External,
}

impl Default for SystemSpec {
    fn default() -> Self {
        SystemSpec {
            nodes: 3,
            controller_nodes: vec!["node1".into(), "node2".into()],
            config: None,
            objects: None,
            crds: None,
            node_labels: BTreeMap::new(),
            second_segment: Vec::new(),
            tools: vec![Tool::Arping, Tool::Nft, Tool::Curl],
            install: Install::Manifest,
        }
    }
}

impl SystemSpec {
    /// The default system with this config text.
    pub fn with_config(config: &str) -> Self {
        SystemSpec {
            config: Some(config.to_owned()),
            ..SystemSpec::default()
        }
    }

    /// The default system configured by these objects alone (metallb.io resources and their Secrets, no
    /// ConfigMap).
    pub fn with_objects(objects: &str) -> Self {
        SystemSpec {
            objects: Some(objects.to_owned()),
            ..SystemSpec::default()
        }
    }

    /// Serving these CRDs instead of the manifest's.
    pub fn crds(mut self, crds: &str) -> Self {
        self.crds = Some(crds.to_owned());
        self
    }

    /// With label `key: value` on Node `node`.
    pub fn node_label(mut self, node: &str, key: &str, value: &str) -> Self {
        self.node_labels
            .entry(node.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// With `hosts` on the lab's second segment too.
    pub fn second_segment(mut self, hosts: &[&str]) -> Self {
        self.second_segment = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    /// Adds tools to check for.
    pub fn tools(mut self, tools: &[Tool]) -> Self {
        self.tools.extend_from_slice(tools);
        self.tools.sort();
        self.tools.dedup();
        self
    }

    /// The lab this system needs.
    pub fn topology(&self) -> TopologySpec {
        let second: Vec<&str> = self.second_segment.iter().map(String::as_str).collect();
        TopologySpec::new(self.nodes)
            .with_api_host()
            .with_second_segment(&second)
    }
}

/// Serialises the system tests of one test binary: they measure failover and churn, and two systems
/// competing for the machine's 2 cores would measure each other.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The whole system in a lab. See the module docs.
pub struct System {
    // Dropped by hand in `Drop`: programs, then the server, then the runtime, then the lab.
    programs: Mutex<BTreeMap<String, programs::Running>>,
    server: Option<ServerHandle>,
    rt: Option<tokio::runtime::Runtime>,
    lab: Option<Lab>,
    spec: SystemSpec,
    manifest: Manifest,
    /// The controller's and the speaker's containers.
    containers: Mutex<(Container, Container)>,
    api_url: String,
    kubeconfigs: Kubeconfigs,
    interrupt: Option<Arc<AtomicBool>>,
    started: Instant,
}

#[derive(Debug, Clone)]
struct Kubeconfigs {
    admin: PathBuf,
    controller: PathBuf,
    speaker: PathBuf,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("lab", &self.lab().prefix())
            .field("api_url", &self.api_url)
            .field("programs", &self.program_names())
            .finish_non_exhaustive()
    }
}

impl System {
    /// For tests: checks root and the tools (skipping outside CI, failing under `CI=true`), builds the lab and
    /// starts everything. Panics (with the programs' logs) when the system does not come up.
    pub fn for_test(spec: SystemSpec) -> Option<System> {
        let lab = Lab::for_test(spec.topology(), &spec.tools)?;
        match System::start(lab, spec, None) {
            Ok(s) => Some(s),
            Err(e) => panic!("the system did not come up: {e}"),
        }
    }

    /// Starts the API server in `lab`'s `api` host (serving the spec's CRDs, or the manifest's), installs the
    /// namespace, the configuration (the ConfigMap, the spec's objects) and the Nodes, and starts the
    /// controllers and the speakers; returns once the Lease is held, the membership Secret has its
    /// key and every program answers its readiness probe. `interrupt` ends waits early when raised. With
    /// [`Install::External`] it returns after creating the Nodes.
    pub fn start(lab: Lab, spec: SystemSpec, interrupt: Option<Arc<AtomicBool>>) -> Result<System> {
        let manifest = Manifest::parse("deploy/ferrolb.yaml", FERROLB_YAML)?;
        let controller = manifest.container("Deployment", "ferrolb-controller", "controller")?;
        let speaker = manifest.container("DaemonSet", "ferrolb-speaker", "speaker")?;
        let api = lab
            .api()
            .ok_or_else(|| SystemError::Api("the lab has no api host".into()))?
            .clone();
        let addr = SocketAddr::from((api.ipv4(), API_PORT));
        // The runtime's threads are created inside the api namespace, so that clients built on it (the
        // tests' watchers) connect from there, where 192.0.2.2 is local.
        let rt = api
            .ns()
            .run(|| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("e2e-api")
                    .enable_all()
                    .build()
            })?
            .map_err(|e| SystemError::Api(format!("runtime: {e}")))?;
        let listener = api.ns().tcp_listener(addr)?;
        let mut crds =
            ferrolb_apiserver::resources::crds_from_yaml(spec.crds.as_deref().unwrap_or(FERROLB_YAML))
                .map_err(|e| SystemError::Api(format!("the CRDs: {e}")))?;
        if spec.install == Install::External {
            crds.extend(crate::cluster::install_kinds());
        }
        let config = ServerConfig {
            users: vec![ADMIN.into(), CONTROLLER_USER.into(), SPEAKER_USER.into()],
            // kubectl sends no token over plain HTTP: its requests are served as system:anonymous.
            allow_anonymous: true,
            // Bookmarks keep idle watches talking, so an outage of the server breaks them within seconds.
            bookmark_interval: Duration::from_secs(5),
            // the install's CRDs (metallb.io), or the spec's, established before the programs start
            crds,
            ..ServerConfig::default()
        };
        let server = rt
            .block_on(async { ApiServer::new(config)?.serve_std(listener).await })
            .map_err(|e| SystemError::Api(e.to_string()))?;
        let api_url = format!("http://{addr}");
        let write_kubeconfig = |user: &str, file: &str| -> Result<PathBuf> {
            let path = lab.dir().join(file);
            std::fs::write(&path, server.kubeconfig_for(user, &api_url))
                .map_err(|e| LabError::io(format!("writing {}", path.display()), e))?;
            Ok(path)
        };
        let kubeconfigs = Kubeconfigs {
            admin: write_kubeconfig(ADMIN, "admin.kubeconfig")?,
            controller: write_kubeconfig(CONTROLLER_USER, "controller.kubeconfig")?,
            speaker: write_kubeconfig(SPEAKER_USER, "speaker.kubeconfig")?,
        };
        let system = System {
            programs: Mutex::new(BTreeMap::new()),
            server: Some(server),
            rt: Some(rt),
            lab: Some(lab),
            spec,
            manifest,
            containers: Mutex::new((controller, speaker)),
            api_url,
            kubeconfigs,
            interrupt,
            started: Instant::now(),
        };
        system.install()?;
        if system.spec.install == Install::Manifest {
            system.start_programs()?;
        }
        Ok(system)
    }

    fn install(&self) -> Result<()> {
        let admin = self.admin();
        if self.spec.install == Install::Manifest {
            admin
                .create(self.manifest.get("Namespace", NS)?)
                .map_err(SystemError::Api)?;
        }
        if let Some(text) = &self.spec.config {
            let config_map = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "config", "namespace": NS},
                "data": {"config": text}
            });
            admin.create(&config_map).map_err(SystemError::Api)?;
        }
        if let Some(yaml) = &self.spec.objects {
            self.apply_yaml("the system's objects", yaml, NS)?;
        }
        for node in self.node_names() {
            let mut object = objects::node(self.lab(), &node);
            for (key, value) in self.spec.node_labels.get(&node).into_iter().flatten() {
                object["metadata"]["labels"][key] = json!(value);
            }
            admin.create(&object).map_err(SystemError::Api)?;
            admin
                .merge("Node", "", &node, &json!({"status": object["status"]}), true)
                .map_err(SystemError::Api)?;
        }
        Ok(())
    }

    fn start_programs(&self) -> Result<()> {
        for node in self.spec.controller_nodes.clone() {
            self.start_controller(&node)?;
        }
        for node in self.node_names() {
            self.start_speaker(&node)?;
        }
        self.wait("a controller to hold the Lease", READY_TIMEOUT, || {
            Ok(self.leader())
        })?;
        self.wait("the membership Secret to have its key", READY_TIMEOUT, || {
            Ok(self
                .admin()
                .get("Secret", NS, "ferrolb-memberlist")
                .and_then(|s| s["data"]["secretkey"].as_str().map(|_| ())))
        })?;
        if self.spec.config.is_some() || self.spec.objects.is_some() {
            self.wait_ready(READY_TIMEOUT)
        } else {
            self.wait_live(READY_TIMEOUT)
        }
    }

    /// With [`Install::External`], plays the kubelets and the workload controllers: waits (up to `timeout`)
    /// for the Deployment and the DaemonSet to be applied, starts the programs as they say (arguments,
    /// environment, ports), waits as [`System::start`] does, then writes the Deployment's and the DaemonSet's
    /// status as their controllers would (every replica and every node's Pod scheduled, ready and available).
    pub fn start_as_applied(&self, timeout: Duration) -> Result<()> {
        let admin = self.admin();
        let (deployment, daemonset) =
            self.wait("the Deployment and the DaemonSet to be applied", timeout, || {
                Ok(admin.get("Deployment", NS, "ferrolb-controller").zip(admin.get(
                    "DaemonSet",
                    NS,
                    "ferrolb-speaker",
                )))
            })?;
        let text = format!("{deployment}\n---\n{daemonset}\n");
        let applied = Manifest::parse("the applied workloads", &text)?;
        *self.containers.lock().unwrap_or_else(|e| e.into_inner()) = (
            applied.container("Deployment", "ferrolb-controller", "controller")?,
            applied.container("DaemonSet", "ferrolb-speaker", "speaker")?,
        );
        self.start_programs()?;
        // Ready (the readiness probes pass) once the role has applied the configuration too.
        self.wait_ready(READY_TIMEOUT)?;
        let replicas = self.spec.controller_nodes.len();
        let nodes = self.node_names().len();
        let generation = |o: &Value| o["metadata"]["generation"].as_i64().unwrap_or(1);
        let deployment_status = json!({"status": {
            "observedGeneration": generation(&deployment), "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": replicas, "availableReplicas": replicas,
            "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]
        }});
        let daemonset_status = json!({"status": {
            "observedGeneration": generation(&daemonset), "desiredNumberScheduled": nodes,
            "currentNumberScheduled": nodes, "updatedNumberScheduled": nodes, "numberReady": nodes,
            "numberAvailable": nodes, "numberMisscheduled": 0
        }});
        admin
            .merge("Deployment", NS, "ferrolb-controller", &deployment_status, true)
            .map_err(SystemError::Api)?;
        admin
            .merge("DaemonSet", NS, "ferrolb-speaker", &daemonset_status, true)
            .map_err(SystemError::Api)?;
        Ok(())
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        self.lab
            .as_ref()
            .unwrap_or_else(|| unreachable!("the lab lives until drop"))
    }

    /// The API server.
    pub fn server(&self) -> &ServerHandle {
        self.server
            .as_ref()
            .unwrap_or_else(|| unreachable!("the server lives until drop"))
    }

    /// The test's own hand on the API server (in-process operations with full API semantics).
    pub fn admin(&self) -> Admin<'_> {
        Admin::new(self.server())
    }

    /// Runs `f` on the runtime whose threads live in the api namespace (where clients can reach the server).
    pub fn block_on<F>(&self, f: F) -> F::Output
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let rt = self
            .rt
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime lives until drop"));
        rt.block_on(async { tokio::spawn(f).await })
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// A handle of the runtime whose threads live in the api namespace.
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.rt
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime lives until drop"))
            .handle()
            .clone()
    }

    /// A kube client for the administrator, usable on [`System::block_on`] / [`System::runtime`].
    pub fn client(&self) -> Result<kube::Client> {
        let server = self.server();
        let kubeconfig = server.kubeconfig_for(ADMIN, &self.api_url);
        self.block_on(async move {
            let kc = kube::config::Kubeconfig::from_yaml(&kubeconfig).map_err(|e| e.to_string())?;
            let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
                .await
                .map_err(|e| e.to_string())?;
            kube::Client::try_from(config).map_err(|e| e.to_string())
        })
        .map_err(SystemError::Api)
    }

    /// The API server's URL as the lab hosts reach it.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The administrator's kubeconfig (for kubectl).
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.kubeconfigs.admin
    }

    /// The install manifest the programs run from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The node names, in order.
    pub fn node_names(&self) -> Vec<String> {
        self.lab().nodes().map(|n| n.name().to_owned()).collect()
    }

    /// The node whose `eth0` has `mac`.
    pub fn node_of_mac(&self, mac: ferrolb_netlab::MacAddr) -> Option<String> {
        self.node_names()
            .into_iter()
            .find(|n| self.lab().mac(n).is_ok_and(|m| m == mac))
    }

    /// The node with IPv4 address `ip`.
    pub fn node_of_ip(&self, ip: Ipv4Addr) -> Option<String> {
        self.lab()
            .nodes()
            .find(|n| n.ipv4() == ip)
            .map(|n| n.name().to_owned())
    }

    /// Time since the system started.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Fails with [`SystemError::Interrupted`] once the interrupt flag is raised.
    pub fn check_interrupt(&self) -> Result<()> {
        match &self.interrupt {
            Some(flag) if flag.load(Ordering::Relaxed) => Err(SystemError::Interrupted),
            _ => Ok(()),
        }
    }

    /// Polls `check` (1 ms growing to 50 ms) until it returns `Some`, an error, the deadline or an interrupt.
    pub fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Result<Option<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let mut backoff = Backoff::new();
        loop {
            self.check_interrupt()?;
            if let Some(v) = check()? {
                return Ok(v);
            }
            if start.elapsed() >= timeout {
                return Err(SystemError::Timeout {
                    what: what.to_owned(),
                    timeout,
                    last: None,
                });
            }
            backoff.sleep();
        }
    }

    /// Like [`System::wait`], showing the last observation on timeout.
    pub fn wait_until<T: std::fmt::Debug>(
        &self,
        what: &str,
        timeout: Duration,
        mut observe: impl FnMut() -> Result<T>,
        mut accept: impl FnMut(&T) -> bool,
    ) -> Result<T> {
        let mut last = None;
        let r = self.wait(what, timeout, || {
            let v = observe()?;
            if accept(&v) {
                return Ok(Some(v));
            }
            last = Some(format!("{v:?}"));
            Ok(None)
        });
        match r {
            Err(SystemError::Timeout { what, timeout, .. }) => Err(SystemError::Timeout {
                what,
                timeout,
                last: last.map(|l| match l.char_indices().nth(600) {
                    Some((cut, _)) => format!("{}…", &l[..cut]),
                    None => l,
                }),
            }),
            other => other,
        }
    }

    /// The holder of the controllers' Lease, if any.
    pub fn leader(&self) -> Option<String> {
        self.admin().get("Lease", NS, "ferrolb-controller")?["spec"]["holderIdentity"]
            .as_str()
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
    }

    /// The Lease as stored.
    pub fn lease(&self) -> Option<Value> {
        self.admin().get("Lease", NS, "ferrolb-controller")
    }

    /// Stops everything and removes the lab, reporting what could not be removed.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_all_programs();
        self.stop_server();
        self.rt.take();
        match self.lab.take() {
            Some(lab) => lab.teardown().map_err(SystemError::from),
            None => Ok(()),
        }
    }

    fn stop_server(&mut self) {
        if let (Some(server), Some(rt)) = (self.server.take(), self.rt.as_ref()) {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(5), server.shutdown()).await;
            });
        }
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop_all_programs();
        self.stop_server();
        self.rt.take();
        // the lab's own Drop tears it down (keeping its directory when panicking)
        self.lab.take();
    }
}
