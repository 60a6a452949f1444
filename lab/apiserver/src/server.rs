//! Starting the server and talking to it: [`ServerConfig`] (version, service CIDRs, users, custom
//! resources), [`ApiServer::serve`] on a listener the caller made (for instance inside a network
//! namespace) or on an address, and the [`ServerHandle`] with its URL, kubeconfigs, store, audit log and
//! graceful shutdown (also on drop).

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::AuditLog;
use crate::defaults::service::Allocator;
use crate::http::{AppState, Tokens, handle};
use crate::meta::random_suffix;
use crate::ops::{Ops, WriteOpts};
use crate::resources::{Registry, RegistryError};
use crate::store::Store;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding or configuring the listener failed.
    #[error("listener {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or configuration could not be made.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A custom resource definition was rejected.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The audit file could not be created.
    #[error("audit file {path}: {source}")]
    AuditFile {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A bootstrap object was rejected (a bug or an impossible service CIDR).
    #[error("bootstrap object {0}: {1}")]
    Bootstrap(String, crate::error::ApiError),
    /// A CustomResourceDefinition of [`ServerConfig::crds`] was refused, as kube-apiserver would refuse it.
    #[error("custom resource definition {name}: {error}")]
    Crd {
        /// `metadata.name` of the CRD.
        name: String,
        /// Why (usually 422 with the causes).
        error: crate::error::ApiError,
    },
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Emulated Kubernetes minor version (1.28 by default: no `ipMode`).
    pub version_minor: u32,
    /// Service CIDRs, primary family first (one per family).
    pub service_cidrs: Vec<IpNet>,
    /// Node port range.
    pub node_port_range: RangeInclusive<u16>,
    /// Events kept per resource for watch resumption (older ones are compacted: 410).
    pub history: crate::store::History,
    /// Interval between watch bookmarks (kube-apiserver: about a minute).
    pub bookmark_interval: Duration,
    /// Custom resources to serve.
    pub crds: Vec<CustomResourceDefinition>,
    /// Users with a generated bearer token each (more can be added through the handle).
    pub users: Vec<String>,
    /// Serve requests without a token as `system:anonymous`.
    pub allow_anonymous: bool,
    /// Append audit entries as JSON lines to this file.
    pub audit_file: Option<PathBuf>,
    /// Serve HTTPS with a CA generated at start (plain HTTP when `None`).
    pub tls: Option<TlsConfig>,
}

/// HTTPS settings.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// Names and addresses for the serving certificate besides `localhost`, `127.0.0.1`, `::1` and the
    /// listener's own address (e.g. the address a network namespace reaches the server at).
    pub extra_sans: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            version_minor: 28,
            service_cidrs: vec![
                "10.96.0.0/12"
                    .parse()
                    .unwrap_or_else(|_| unreachable!("valid literal")),
                "fd00:10:96::/112"
                    .parse()
                    .unwrap_or_else(|_| unreachable!("valid literal")),
            ],
            node_port_range: 30000..=32767,
            history: crate::store::History::default(),
            bookmark_interval: Duration::from_secs(60),
            crds: Vec::new(),
            users: vec!["admin".to_owned()],
            allow_anonymous: true,
            audit_file: None,
            tls: None,
        }
    }
}

/// A configured, not yet serving, API server.
#[derive(Debug)]
pub struct ApiServer {
    ops: Ops,
    config: ServerConfig,
    audit: AuditLog,
}

/// The user name of the built-in administrator token.
pub const ADMIN: &str = "admin";

impl ApiServer {
    /// Builds the store, registers resources and creates the bootstrap objects (namespaces `default`,
    /// `kube-system`, `kube-public`, `kube-node-lease`; Service `default/kubernetes`).
    pub fn new(config: ServerConfig) -> Result<Self, StartError> {
        let registry = Registry::builtin();
        let (emulated, crds): (Vec<_>, Vec<_>) = config
            .crds
            .iter()
            .cloned()
            .partition(|c| crate::kinds::custom::is_builtin_group(&c.spec.group));
        for crd in &emulated {
            let json = serde_json::to_value(crd).map_err(|e| RegistryError::BadDefinition(e.to_string()))?;
            let defs =
                crate::kinds::custom::defs_for_crd(&json, true, false, config.version_minor, &|_, _| false);
            if defs.is_empty() {
                return Err(RegistryError::NoServedVersion(crd.spec.names.plural.clone()).into());
            }
            for def in defs {
                registry.insert(def)?;
            }
        }
        let storages = registry
            .storages()
            .iter()
            .map(|d| d.storage.clone())
            .collect::<Vec<_>>();
        let alloc = Allocator::new(&config.service_cidrs, config.node_port_range.clone());
        let store = Arc::new(Store::new(storages, alloc, config.history));
        let ops = Ops {
            store,
            registry: Arc::new(registry),
            minor: config.version_minor,
            namespace_gc: None,
        };
        let audit = match &config.audit_file {
            Some(p) => AuditLog::with_file(p).map_err(|source| StartError::AuditFile {
                path: p.clone(),
                source,
            })?,
            None => AuditLog::default(),
        };
        let server = ApiServer { ops, config, audit };
        server.bootstrap()?;
        server.install_crds(&crds)?;
        Ok(server)
    }

    fn bootstrap(&self) -> Result<(), StartError> {
        let ns_def = self.ops.registry.builtin_def("", "namespaces");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let obj = json!({"metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}});
            self.ops
                .create(&ns_def, None, obj, &WriteOpts::default())
                .map_err(|e| StartError::Bootstrap(format!("namespace {ns}"), e))?;
        }
        let svc_def = self.ops.registry.builtin_def("", "services");
        let svc = json!({"metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                         "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
        self.ops
            .create(&svc_def, Some("default"), svc, &WriteOpts::default())
            .map_err(|e| StartError::Bootstrap("service default/kubernetes".into(), e))?;
        Ok(())
    }

    /// Creates the CRDs of [`ServerConfig::crds`] (other than emulated built-in kinds) through the API, and runs
    /// the CRD controller until they are established: they are served from the first request.
    fn install_crds(&self, crds: &[CustomResourceDefinition]) -> Result<(), StartError> {
        let def = self
            .ops
            .registry
            .builtin_def("apiextensions.k8s.io", "customresourcedefinitions");
        for crd in crds {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let body = serde_json::to_value(crd).map_err(|e| RegistryError::BadDefinition(e.to_string()))?;
            self.ops
                .create(&def, None, body, &WriteOpts::default())
                .map_err(|error| StartError::Crd { name, error })?;
        }
        let mut controller = crate::crd::controller::CrdController::default();
        // names, then establishing, then serving: a few passes settle every CRD
        for _ in 0..4 {
            controller.reconcile(&self.ops);
        }
        Ok(())
    }

    /// The store (usable before serving, e.g. to preload objects).
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// Binds `addr` and serves.
    pub async fn bind(self, addr: SocketAddr) -> Result<ServerHandle, StartError> {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        self.serve(l).await
    }

    /// Serves on a std listener (e.g. one created inside a network namespace).
    pub async fn serve_std(self, listener: std::net::TcpListener) -> Result<ServerHandle, StartError> {
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let l = listener
            .set_nonblocking(true)
            .and_then(|()| tokio::net::TcpListener::from_std(listener))
            .map_err(|source| StartError::Listen { addr, source })?;
        self.serve(l).await
    }

    /// Serves on a tokio listener.
    pub async fn serve(mut self, listener: tokio::net::TcpListener) -> Result<ServerHandle, StartError> {
        let local = listener.local_addr().map_err(|source| StartError::Listen {
            addr: "?".into(),
            source,
        })?;
        let advertised = match local {
            SocketAddr::V4(a) if a.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], a.port())),
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
            }
            a => a,
        };
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (gc_tx, gc_rx) = tokio::sync::mpsc::unbounded_channel();
        self.ops.namespace_gc = Some(gc_tx);
        let gc = tokio::spawn(namespace_controller(self.ops.clone(), gc_rx));
        let crds = tokio::spawn(crd_controller(self.ops.clone(), shutdown_rx.clone()));
        let tokens = Tokens::default();
        for u in &self.config.users {
            tokens.insert(&new_token(), u);
        }
        let state = Arc::new(AppState {
            ops: self.ops.clone(),
            audit: self.audit.clone(),
            tokens,
            allow_anonymous: self.config.allow_anonymous,
            bookmark_interval: self.config.bookmark_interval,
            shutdown: shutdown_rx.clone(),
            server_address: advertised.to_string(),
        });
        let router = axum::Router::new().fallback(handle).with_state(state.clone());
        let stop = async move {
            let mut stop = shutdown_rx;
            let _ = stop.wait_for(|s| *s).await;
        };
        let (scheme, ca_pem, task) = match &self.config.tls {
            None => {
                use axum::serve::ListenerExt;
                let listener = listener.tap_io(|tcp| {
                    // Small watch chunks and request/response pairs must not wait for delayed ACKs.
                    let _ = tcp.set_nodelay(true);
                });
                let task = tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
                        tracing::warn!(error = %e, "API server stopped with an error");
                    }
                });
                ("http", None, task)
            }
            Some(tls) => {
                let mut sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
                if !local.ip().is_unspecified() {
                    sans.push(local.ip().to_string());
                }
                sans.extend(tls.extra_sans.iter().cloned());
                sans.dedup();
                let material = crate::tls::generate(&sans)?;
                let listener = crate::tls::TlsListener::new(listener, &material);
                let task = tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
                        tracing::warn!(error = %e, "API server stopped with an error");
                    }
                });
                ("https", Some(material.ca_pem), task)
            }
        };
        tracing::info!(%advertised, "API server listening");
        Ok(ServerHandle {
            url: format!("{scheme}://{advertised}"),
            ca_pem,
            addr: local,
            state,
            shutdown: shutdown_tx,
            task: Some(task),
            gc,
            crds,
        })
    }
}

/// How long a deleted namespace stays `Terminating` before its content and itself are purged (the real
/// namespace controller takes about as long; deletions that follow in the same `kubectl delete -f` see
/// their objects still there).
const NAMESPACE_PURGE_DELAY: Duration = Duration::from_millis(500);

/// The namespace controller: purges each terminating namespace after a short delay.
async fn namespace_controller(ops: Ops, mut rx: tokio::sync::mpsc::UnboundedReceiver<String>) {
    while let Some(name) = rx.recv().await {
        tokio::time::sleep(NAMESPACE_PURGE_DELAY).await;
        ops.purge_namespace(&name);
    }
}

/// How often the CRD controller looks again while a CRD's instances wait for their finalizers.
const CRD_CLEANUP_POLL: Duration = Duration::from_millis(200);

/// The CRD controller: a pass whenever the CRD table changes, polling while a deletion waits.
async fn crd_controller(ops: Ops, mut shutdown: watch::Receiver<bool>) {
    let def = ops
        .registry
        .builtin_def("apiextensions.k8s.io", "customresourcedefinitions");
    let Some(mut changes) = ops.store.subscribe(&def.storage) else {
        return;
    };
    let mut controller = crate::crd::controller::CrdController::default();
    loop {
        changes.borrow_and_update();
        let again = controller.reconcile(&ops);
        let poll = if again {
            CRD_CLEANUP_POLL
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

fn new_token() -> String {
    random_suffix(32)
}

/// A running server. Dropping it stops the server.
#[derive(Debug)]
pub struct ServerHandle {
    url: String,
    ca_pem: Option<String>,
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    gc: JoinHandle<()>,
    crds: JoinHandle<()>,
}

impl ServerHandle {
    /// `http://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Object operations (create/update/patch/delete with full API semantics).
    pub fn ops(&self) -> &Ops {
        &self.state.ops
    }

    /// The store (read objects, force compaction, write counters).
    pub fn store(&self) -> &Arc<Store> {
        &self.state.ops.store
    }

    /// Forgets all watch history: watches and continue tokens from older resourceVersions get 410.
    pub fn compact(&self) {
        self.store().compact();
    }

    /// One object in its served form, e.g. `get("", "v1", "services", "default", "kubernetes")`.
    pub fn get(
        &self,
        group: &str,
        version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let def = self.state.ops.registry.get(group, version, plural)?;
        let ns = if def.namespaced { namespace } else { "" };
        self.store()
            .get(&def.storage, ns, name)
            .and_then(|o| def.to_external(&o).ok())
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.state.audit
    }

    /// The bearer token of `user`, creating one when the user has none.
    pub fn token(&self, user: &str) -> String {
        if let Some(t) = self.state.tokens.token_of(user) {
            return t;
        }
        let t = new_token();
        self.state.tokens.insert(&t, user);
        t
    }

    /// A kubeconfig (YAML) for `user` against this server's URL.
    pub fn kubeconfig(&self, user: &str) -> String {
        self.kubeconfig_for(user, &self.url)
    }

    /// A kubeconfig for `user` with another server URL (e.g. the address seen from a network namespace;
    /// with TLS that address must be in the certificate: [`TlsConfig::extra_sans`]).
    pub fn kubeconfig_for(&self, user: &str, server_url: &str) -> String {
        kubeconfig_yaml_with_ca(server_url, user, &self.token(user), self.ca_pem.as_deref())
    }

    /// The CA certificate (PEM) when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// A `kube::Config` for `user`.
    pub async fn client_config(&self, user: &str) -> Result<kube::Config, kube::config::KubeconfigError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig(user))?;
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await
    }

    /// A `kube::Client` for `user`.
    pub async fn client(&self, user: &str) -> Result<kube::Client, kube::Error> {
        let cfg = self
            .client_config(user)
            .await
            .map_err(kube::Error::InferKubeconfig)?;
        kube::Client::try_from(cfg)
    }

    /// Stops accepting requests, ends watches, and waits (at most 5 s) for the server task.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(mut t) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut t)
                .await
                .is_err()
        {
            t.abort();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.gc.abort();
        self.crds.abort();
        self.shutdown.send_replace(true);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// A kubeconfig that kube and kubectl accept: one cluster, one user with a bearer token, one context.
pub fn kubeconfig_yaml(server_url: &str, user: &str, token: &str) -> String {
    kubeconfig_yaml_with_ca(server_url, user, token, None)
}

/// [`kubeconfig_yaml`] with the cluster's CA certificate (PEM) for an HTTPS server.
pub fn kubeconfig_yaml_with_ca(server_url: &str, user: &str, token: &str, ca_pem: Option<&str>) -> String {
    let ca = ca_pem
        .map(|pem| {
            format!(
                "    certificate-authority-data: {}\n",
                crate::store::list::base64_encode(pem.as_bytes())
            )
        })
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrolb-lab\n  cluster:\n    server: {server_url}\n{ca}\
         contexts:\n- name: ferrolb-lab\n  context:\n    cluster: ferrolb-lab\n    user: {user:?}\n    namespace: default\n\
         current-context: ferrolb-lab\nusers:\n- name: {user:?}\n  user:\n    token: {token}\npreferences: {{}}\n"
    )
}
