//! The speaker's synchronous index of the cluster, fed by watch events and owned by one task.
//!
//! ```text
//!  [ Service ]──ingress IPs, labels──▶ services ──┐
//!  [ EndpointSlice ]──service-name──▶ endpoints (per Service) ──┤
//!  [ Node ]──labels, conditions, addresses, cordon──▶ nodes ──┼──▶ election input
//!  [ configuration objects ]──ConfigSources──▶ ConfigState (last valid kept) ──┤
//!  [ Secret ferrolb-memberlist ]──secretkey──▶ membership key ──┘
//! ```
//!
//! Each kind is a [`Cache`] of the shared layer (the watcher protocol written once: `Init`…`InitDone`
//! replaces a kind atomically; until a kind's first list it is not [`Index::synced`]). Objects arrive already
//! reduced to the few fields the decisions need ([`convert`], in the watch tasks). A lost watch changes
//! nothing: the index keeps the last known state, so the speaker keeps announcing. The configuration goes
//! through the same [`ConfigState`] as the controller's: an invalid or deleted configuration leaves the last
//! valid one in force, and nothing is withdrawn. Each update reports whether anything the election reads
//! changed, so a Node's heartbeat does not trigger a new election.

pub mod convert;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferrolb_config::{ConfigState, Update};
use ferrolb_k8s::config::{ConfigEvent, ConfigNames, ConfigSources, project_config_map};
use ferrolb_k8s::watch::Projected;
use ferrolb_k8s::{Cache, Change, WatchEvent};
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::election::ElectionInput;
use crate::model::{Endpoints, NodeInfo, NodeName, ServiceInfo, ServiceKey};
use convert::SliceInfo;

/// What the index watches, and how it filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSettings {
    /// ferrolb's own namespace: the membership Secret, the speaker's Pod and its status objects.
    pub namespace: String,
    /// The configuration objects (their namespace, the ConfigMap and its key).
    pub config: ConfigNames,
    /// The membership Secret's name.
    pub secret: String,
    /// The key in the Secret holding the membership key.
    pub secret_key: String,
    /// `--load-balancer-class`: only Services with this class (none: only Services without a class).
    pub lb_class: Option<String>,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            namespace: ConfigNames::default().namespace,
            config: ConfigNames::default(),
            secret: "ferrolb-memberlist".into(),
            secret_key: "secretkey".into(),
            lb_class: None,
        }
    }
}

/// The kinds the speaker watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Services (all namespaces).
    Services,
    /// EndpointSlices (all namespaces).
    EndpointSlices,
    /// Nodes.
    Nodes,
    /// The configuration objects.
    Config,
    /// The membership Secret.
    Secret,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Services,
        Kind::EndpointSlices,
        Kind::Nodes,
        Kind::Config,
        Kind::Secret,
    ];

    /// The resource name (metric label, readiness message).
    pub const fn resource(self) -> &'static str {
        match self {
            Kind::Services => "services",
            Kind::EndpointSlices => "endpointslices",
            Kind::Nodes => "nodes",
            Kind::Config => "configuration objects",
            Kind::Secret => "secrets",
        }
    }
}

/// A watch event of one of the watched kinds, its object already projected.
#[derive(Debug)]
pub enum IndexEvent {
    /// Services.
    Service(WatchEvent<Projected<ServiceKey, ServiceInfo>>),
    /// EndpointSlices.
    Slice(WatchEvent<Projected<(String, String), SliceInfo>>),
    /// Nodes.
    Node(WatchEvent<Projected<NodeName, NodeInfo>>),
    /// The configuration objects.
    Config(ConfigEvent),
    /// The membership Secret: its key, when it has one.
    Secret(WatchEvent<Projected<String, Vec<u8>>>),
}

impl IndexEvent {
    /// A Service watch event, projected with `settings`' load-balancer class.
    pub fn from_service(settings: &IndexSettings, e: kube::runtime::watcher::Event<Service>) -> Self {
        let class = settings.lb_class.clone();
        IndexEvent::Service(
            WatchEvent::from_watcher(e).map(|s| convert::project_service(s, class.as_deref())),
        )
    }

    /// An EndpointSlice watch event, projected.
    pub fn from_slice(e: kube::runtime::watcher::Event<EndpointSlice>) -> Self {
        IndexEvent::Slice(WatchEvent::from_watcher(e).map(convert::project_slice))
    }

    /// A Node watch event, projected.
    pub fn from_node(e: kube::runtime::watcher::Event<Node>) -> Self {
        IndexEvent::Node(WatchEvent::from_watcher(e).map(convert::project_node))
    }

    /// A ConfigMap watch event, projected with `settings`' names.
    pub fn from_config_map(settings: &IndexSettings, e: kube::runtime::watcher::Event<ConfigMap>) -> Self {
        let names = &settings.config;
        IndexEvent::Config(ConfigEvent::ConfigMap(
            WatchEvent::from_watcher(e).map(|cm| project_config_map(cm, names)),
        ))
    }

    /// A Secret watch event, projected with `settings`' Secret and key names.
    pub fn from_secret(settings: &IndexSettings, e: kube::runtime::watcher::Event<Secret>) -> Self {
        IndexEvent::Secret(
            WatchEvent::from_watcher(e)
                .map(|s| convert::project_secret(s, &settings.secret, &settings.secret_key)),
        )
    }
}

/// The index. See the module docs.
#[derive(Debug, Default)]
pub struct Index {
    settings: IndexSettings,
    services: Cache<ServiceKey, ServiceInfo>,
    slices: Cache<(String, String), StoredSlice>,
    /// The node names the slices name, each kept once.
    node_names: NodeNames,
    /// The slices of each Service (so one slice's change touches its Service only).
    slices_of: BTreeMap<ServiceKey, BTreeSet<(String, String)>>,
    endpoints: BTreeMap<ServiceKey, Endpoints>,
    nodes: Cache<NodeName, NodeInfo>,
    sources: ConfigSources,
    config: ConfigState,
    secret: Cache<String, Vec<u8>>,
}

impl Index {
    /// An empty index.
    pub fn new(settings: IndexSettings) -> Self {
        Index {
            settings,
            ..Index::default()
        }
    }

    /// The settings.
    pub fn settings(&self) -> &IndexSettings {
        &self.settings
    }

    /// Applies one watch event. Returns whether anything the election, the membership or the status objects
    /// read changed (the configuration's status included: invalid, deleted, valid again).
    pub fn handle(&mut self, ev: IndexEvent) -> bool {
        match ev {
            IndexEvent::Service(e) => {
                let changes = self.services.handle(e);
                // a Service that became (or stopped being) one of ferrolb's gets (or drops) its endpoints
                for c in &changes {
                    self.recompute_endpoints(&c.key);
                }
                !changes.is_empty()
            }
            IndexEvent::Slice(e) => {
                let names = &mut self.node_names;
                let e = e.map(|(key, info)| (key, info.map(|i| StoredSlice::new(i, names))));
                let changes = self.slices.handle(e);
                self.slices_changed(&changes)
            }
            IndexEvent::Node(e) => !self.nodes.handle(e).is_empty(),
            IndexEvent::Config(e) => self.sources.handle(e) && self.config_changed(),
            IndexEvent::Secret(e) => {
                let changed = !self.secret.handle(e).is_empty();
                if changed && self.key().is_none() {
                    tracing::error!(
                        secret = %self.settings.secret,
                        key = %self.settings.secret_key,
                        "the membership Secret or its key is missing; speakers cannot authenticate each other"
                    );
                }
                changed
            }
        }
    }

    /// Whether every kind has been listed at least once.
    pub fn synced(&self) -> bool {
        self.unsynced().is_empty()
    }

    /// Kinds not listed yet.
    pub fn unsynced(&self) -> Vec<Kind> {
        let synced = |k: Kind| match k {
            Kind::Services => self.services.synced(),
            Kind::EndpointSlices => self.slices.synced(),
            Kind::Nodes => self.nodes.synced(),
            Kind::Config => self.sources.synced(),
            Kind::Secret => self.secret.synced(),
        };
        Kind::ALL.into_iter().filter(|k| !synced(*k)).collect()
    }

    /// ferrolb's Services with IPs.
    pub fn services(&self) -> &BTreeMap<ServiceKey, ServiceInfo> {
        self.services.as_map()
    }

    /// Endpoints per Service.
    pub fn endpoints(&self) -> &BTreeMap<ServiceKey, Endpoints> {
        &self.endpoints
    }

    /// Every Node.
    pub fn nodes(&self) -> &BTreeMap<NodeName, NodeInfo> {
        self.nodes.as_map()
    }

    /// The configuration's state: what is in force, and whether it is stale.
    pub fn config(&self) -> &ConfigState {
        &self.config
    }

    /// The membership key, if the Secret has one.
    pub fn key(&self) -> Option<&[u8]> {
        self.secret.values().next().map(Vec::as_slice)
    }

    /// The election's input for `node` with these live `members`, if a config is in force.
    pub fn election_input<'a>(
        &'a self,
        node: &'a str,
        members: &'a BTreeSet<NodeName>,
    ) -> Option<ElectionInput<'a>> {
        Some(ElectionInput {
            node,
            config: self.config.current()?.as_ref(),
            services: self.services.as_map(),
            endpoints: &self.endpoints,
            nodes: self.nodes.as_map(),
            members,
        })
    }

    /// The configuration objects changed: the shared state machine decides what is in force.
    fn config_changed(&mut self) -> bool {
        if !self.sources.synced() {
            return false;
        }
        match self.config.update(&self.sources.sources()) {
            Update::Switched(config) => {
                tracing::info!(
                    pools = config.pools.len(),
                    peers = config.peers.len(),
                    "configuration loaded"
                );
                true
            }
            // the configuration in force is the same, but its status (stale, the errors) is not: the metrics and
            // the ConfigurationState say so
            Update::Restored => {
                tracing::info!("the configuration is valid again; the configuration in force is unchanged");
                true
            }
            Update::Invalid | Update::Deleted => {
                for e in self.config.errors() {
                    tracing::error!("configuration: {e}");
                }
                tracing::error!("the configuration is {}", self.config.summary());
                true
            }
            Update::Unchanged => false,
        }
    }

    /// Recomputes the endpoints of the Services whose slices changed.
    fn slices_changed(&mut self, changes: &[Change<(String, String), StoredSlice>]) -> bool {
        let mut affected: BTreeSet<ServiceKey> = BTreeSet::new();
        for c in changes {
            if let Some(old) = &c.old {
                if let Some(set) = self.slices_of.get_mut(&old.service) {
                    set.remove(&c.key);
                    if set.is_empty() {
                        self.slices_of.remove(&old.service);
                    }
                }
                affected.insert(old.service.clone());
            }
            if let Some(new) = self.slices.get(&c.key) {
                self.slices_of
                    .entry(new.service.clone())
                    .or_default()
                    .insert(c.key.clone());
                affected.insert(new.service.clone());
            }
        }
        let mut changed = false;
        for svc in affected {
            changed |= self.recompute_endpoints(&svc);
        }
        changed
    }

    /// The merged endpoints of `svc`, kept only while it is one of ferrolb's Services (the election reads no
    /// other): most Services of a cluster are not LoadBalancers, and their merged sets would cost more memory
    /// than everything else together.
    fn recompute_endpoints(&mut self, svc: &ServiceKey) -> bool {
        if self.services.get(svc).is_none() {
            return self.endpoints.remove(svc).is_some();
        }
        let mut e = Endpoints::default();
        for key in self.slices_of.get(svc).into_iter().flatten() {
            if let Some(s) = self.slices.get(key) {
                merge(&mut e, s, &self.node_names);
            }
        }
        if e == Endpoints::default() {
            return self.endpoints.remove(svc).is_some();
        }
        self.endpoints.insert(svc.clone(), e.clone()).as_ref() != Some(&e)
    }
}

fn merge(e: &mut Endpoints, s: &StoredSlice, names: &NodeNames) {
    e.any_ready |= s.any_ready;
    e.ready_nodes
        .extend(s.nodes.iter().map(|id| names.name(*id).to_owned()));
}

/// An EndpointSlice as the index keeps it: its Service, whether an endpoint is ready, and the nodes with a
/// ready endpoint as [`NodeNames`] ids (a cluster's slices name the same few node names again and again: 50,000
/// slices of 20 endpoints kept as `String`s cost more than the rest of the speaker together).
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredSlice {
    service: ServiceKey,
    any_ready: bool,
    nodes: Box<[u32]>,
}

impl StoredSlice {
    fn new(info: SliceInfo, names: &mut NodeNames) -> StoredSlice {
        StoredSlice {
            service: info.service,
            any_ready: info.any_ready,
            nodes: info.ready_nodes.iter().map(|n| names.id(n)).collect(),
        }
    }
}

/// Node names, each kept once and named by a `u32`. Names are never forgotten: a cluster's node names are few
/// (one per node it ever had while this speaker ran).
#[derive(Debug, Default)]
struct NodeNames {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl NodeNames {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests;
