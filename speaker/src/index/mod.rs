//! The speaker's synchronous index of the cluster, fed by watch events and owned by one task.
//!
//! ```text
//!  [ Service ]──ingress IPs──▶ services ──┐
//!  [ EndpointSlice ]──service-name──▶ endpoints (per Service) ──┤
//!  [ Node ]──labels, conditions, addresses, cordon──▶ nodes ──┼──▶ election input
//!  [ ConfigMap config ]──parse──▶ config (last valid kept) ──┤
//!  [ Secret ferrolb-memberlist ]──secretkey──▶ membership key ──┘
//! ```
//!
//! Every kind follows the watcher protocol: `Apply`/`Delete` change one object; `Init`, `InitApply`…, `InitDone`
//! replace the kind's whole content atomically at `InitDone` (objects deleted while the watch was down
//! disappear then). Until a kind's first `InitDone` it is not [`Index::synced`]. A lost watch changes nothing:
//! the index keeps the last known state, so the speaker keeps announcing. Objects are reduced to the few fields
//! the decisions need as they arrive (see [`convert`]); each update reports whether anything the election reads
//! changed, so a Node's heartbeat does not trigger a new election.

pub mod convert;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrolb_config::Config;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

use crate::election::ElectionInput;
use crate::model::{Endpoints, NodeInfo, NodeName, ServiceInfo, ServiceKey};
use convert::SliceInfo;

/// What the index watches, and how it filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSettings {
    /// The ConfigMap's name (in ferrolb's namespace).
    pub config_map: String,
    /// The key in the ConfigMap holding the config text.
    pub config_key: String,
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
            config_map: "config".into(),
            config_key: "config".into(),
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
    /// The config ConfigMap.
    ConfigMap,
    /// The membership Secret.
    Secret,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Services,
        Kind::EndpointSlices,
        Kind::Nodes,
        Kind::ConfigMap,
        Kind::Secret,
    ];

    /// The resource name (metric label).
    pub const fn resource(self) -> &'static str {
        match self {
            Kind::Services => "services",
            Kind::EndpointSlices => "endpointslices",
            Kind::Nodes => "nodes",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
        }
    }
}

/// The state of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigState {
    /// The config in use: the last valid one (empty when the ConfigMap is absent).
    pub current: Option<Arc<Config>>,
    /// Why the latest ConfigMap was rejected, while the previous valid config is kept.
    pub stale: Option<String>,
}

/// A watch event for one of the watched kinds (boxed: the objects are large and travel through a channel).
#[derive(Debug)]
pub enum IndexEvent {
    /// Services.
    Service(Box<Event<Service>>),
    /// EndpointSlices.
    Slice(Box<Event<EndpointSlice>>),
    /// Nodes.
    Node(Box<Event<Node>>),
    /// The config ConfigMap.
    ConfigMap(Box<Event<ConfigMap>>),
    /// The membership Secret.
    Secret(Box<Event<Secret>>),
}

impl IndexEvent {
    /// A Service event.
    pub fn service(e: Event<Service>) -> Self {
        IndexEvent::Service(Box::new(e))
    }
    /// An EndpointSlice event.
    pub fn slice(e: Event<EndpointSlice>) -> Self {
        IndexEvent::Slice(Box::new(e))
    }
    /// A Node event.
    pub fn node(e: Event<Node>) -> Self {
        IndexEvent::Node(Box::new(e))
    }
    /// A ConfigMap event.
    pub fn config_map(e: Event<ConfigMap>) -> Self {
        IndexEvent::ConfigMap(Box::new(e))
    }
    /// A Secret event.
    pub fn secret(e: Event<Secret>) -> Self {
        IndexEvent::Secret(Box::new(e))
    }
}

/// The index. See the module docs.
#[derive(Debug, Default)]
pub struct Index {
    settings: IndexSettings,
    services: BTreeMap<ServiceKey, ServiceInfo>,
    slices: BTreeMap<(String, String), SliceInfo>,
    endpoints: BTreeMap<ServiceKey, Endpoints>,
    nodes: BTreeMap<NodeName, NodeInfo>,
    config: ConfigState,
    key: Option<Vec<u8>>,
    synced: BTreeSet<Kind>,
    // Init..InitDone buffers, per kind
    init_services: Option<Vec<ServiceInfo>>,
    init_slices: Option<Vec<((String, String), SliceInfo)>>,
    init_nodes: Option<Vec<(NodeName, NodeInfo)>>,
    init_config: Option<Option<ConfigMap>>,
    init_secret: Option<Option<Secret>>,
}

fn ns_name<K: ResourceExt>(obj: &K) -> (String, String) {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

impl Index {
    /// An empty index.
    pub fn new(settings: IndexSettings) -> Self {
        Index {
            settings,
            ..Index::default()
        }
    }

    /// Applies one watch event. Returns whether anything the election or the membership reads changed.
    pub fn handle(&mut self, ev: IndexEvent) -> bool {
        match ev {
            IndexEvent::Service(e) => self.handle_service(*e),
            IndexEvent::Slice(e) => self.handle_slice(*e),
            IndexEvent::Node(e) => self.handle_node(*e),
            IndexEvent::ConfigMap(e) => self.handle_config(*e),
            IndexEvent::Secret(e) => self.handle_secret(*e),
        }
    }

    /// Whether every kind has been listed at least once.
    pub fn synced(&self) -> bool {
        Kind::ALL.iter().all(|k| self.synced.contains(k))
    }

    /// Kinds not listed yet.
    pub fn unsynced(&self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| !self.synced.contains(k))
            .collect()
    }

    /// ferrolb's Services with IPs.
    pub fn services(&self) -> &BTreeMap<ServiceKey, ServiceInfo> {
        &self.services
    }

    /// Endpoints per Service.
    pub fn endpoints(&self) -> &BTreeMap<ServiceKey, Endpoints> {
        &self.endpoints
    }

    /// Every Node.
    pub fn nodes(&self) -> &BTreeMap<NodeName, NodeInfo> {
        &self.nodes
    }

    /// The config state.
    pub fn config(&self) -> &ConfigState {
        &self.config
    }

    /// The membership key, if the Secret has one.
    pub fn key(&self) -> Option<&[u8]> {
        self.key.as_deref()
    }

    /// The election's input for `node` with these live `members`, if a config is loaded.
    pub fn election_input<'a>(
        &'a self,
        node: &'a str,
        members: &'a BTreeSet<NodeName>,
    ) -> Option<ElectionInput<'a>> {
        Some(ElectionInput {
            node,
            config: self.config.current.as_deref()?,
            services: &self.services,
            endpoints: &self.endpoints,
            nodes: &self.nodes,
            members,
        })
    }

    // ----- Services -----

    fn handle_service(&mut self, e: Event<Service>) -> bool {
        let class = self.settings.lb_class.clone();
        let conv = |s: &Service| convert::service(s, class.as_deref());
        match e {
            Event::Apply(s) => {
                let key = ServiceKey::new(ns_name(&s).0, ns_name(&s).1);
                match conv(&s) {
                    Some(info) => self.services.insert(key, info.clone()) != Some(info),
                    None => self.services.remove(&key).is_some(),
                }
            }
            Event::Delete(s) => {
                let (ns, name) = ns_name(&s);
                self.services.remove(&ServiceKey::new(ns, name)).is_some()
            }
            Event::Init => {
                self.init_services = Some(Vec::new());
                false
            }
            Event::InitApply(s) => {
                if let (Some(buf), Some(info)) = (self.init_services.as_mut(), conv(&s)) {
                    buf.push(info);
                }
                false
            }
            Event::InitDone => {
                let listed: BTreeMap<ServiceKey, ServiceInfo> = self
                    .init_services
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| (i.key.clone(), i))
                    .collect();
                self.synced.insert(Kind::Services);
                std::mem::replace(&mut self.services, listed) != self.services
            }
        }
    }

    // ----- EndpointSlices -----

    fn handle_slice(&mut self, e: Event<EndpointSlice>) -> bool {
        match e {
            Event::Apply(s) => {
                let key = ns_name(&s);
                match convert::slice(&s) {
                    Some(info) => self.put_slice(key, Some(info)),
                    None => self.put_slice(key, None),
                }
            }
            Event::Delete(s) => self.put_slice(ns_name(&s), None),
            Event::Init => {
                self.init_slices = Some(Vec::new());
                false
            }
            Event::InitApply(s) => {
                if let (Some(buf), Some(info)) = (self.init_slices.as_mut(), convert::slice(&s)) {
                    buf.push((ns_name(&s), info));
                }
                false
            }
            Event::InitDone => {
                let listed: BTreeMap<(String, String), SliceInfo> =
                    self.init_slices.take().unwrap_or_default().into_iter().collect();
                self.slices = listed;
                let mut endpoints: BTreeMap<ServiceKey, Endpoints> = BTreeMap::new();
                for s in self.slices.values() {
                    merge(endpoints.entry(s.service.clone()).or_default(), s);
                }
                self.synced.insert(Kind::EndpointSlices);
                std::mem::replace(&mut self.endpoints, endpoints) != self.endpoints
            }
        }
    }

    fn put_slice(&mut self, key: (String, String), info: Option<SliceInfo>) -> bool {
        let old = match info {
            Some(i) => self.slices.insert(key.clone(), i.clone()).map(|o| (o, Some(i))),
            None => self.slices.remove(&key).map(|o| (o, None)),
        };
        let mut affected: Vec<ServiceKey> = Vec::new();
        match old {
            Some((o, new)) => {
                affected.push(o.service.clone());
                if let Some(n) = new {
                    affected.push(n.service);
                }
            }
            None => {
                if let Some(s) = self.slices.get(&key) {
                    affected.push(s.service.clone());
                }
            }
        }
        affected.dedup();
        let mut changed = false;
        for svc in affected {
            changed |= self.recompute_endpoints(&svc);
        }
        changed
    }

    fn recompute_endpoints(&mut self, svc: &ServiceKey) -> bool {
        let mut e = Endpoints::default();
        for s in self.slices.values().filter(|s| &s.service == svc) {
            merge(&mut e, s);
        }
        let new = (e != Endpoints::default()).then_some(e);
        let old = match new {
            Some(e) => self.endpoints.insert(svc.clone(), e.clone()).filter(|o| *o == e),
            None => {
                return self.endpoints.remove(svc).is_some();
            }
        };
        old.is_none()
    }

    // ----- Nodes -----

    fn handle_node(&mut self, e: Event<Node>) -> bool {
        match e {
            Event::Apply(n) => {
                let info = convert::node(&n);
                self.nodes.insert(n.name_any(), info.clone()) != Some(info)
            }
            Event::Delete(n) => self.nodes.remove(&n.name_any()).is_some(),
            Event::Init => {
                self.init_nodes = Some(Vec::new());
                false
            }
            Event::InitApply(n) => {
                if let Some(buf) = self.init_nodes.as_mut() {
                    buf.push((n.name_any(), convert::node(&n)));
                }
                false
            }
            Event::InitDone => {
                let listed: BTreeMap<NodeName, NodeInfo> =
                    self.init_nodes.take().unwrap_or_default().into_iter().collect();
                self.synced.insert(Kind::Nodes);
                std::mem::replace(&mut self.nodes, listed) != self.nodes
            }
        }
    }

    // ----- ConfigMap -----

    fn handle_config(&mut self, e: Event<ConfigMap>) -> bool {
        match e {
            Event::Apply(cm) => self.set_config(Some(&cm)),
            Event::Delete(_) => self.set_config(None),
            Event::Init => {
                self.init_config = Some(None);
                false
            }
            Event::InitApply(cm) => {
                if cm.name_any() == self.settings.config_map {
                    self.init_config = Some(Some(cm));
                }
                false
            }
            Event::InitDone => {
                let cm = self.init_config.take().flatten();
                self.synced.insert(Kind::ConfigMap);
                self.set_config(cm.as_ref())
            }
        }
    }

    fn set_config(&mut self, cm: Option<&ConfigMap>) -> bool {
        if let Some(cm) = cm
            && cm.name_any() != self.settings.config_map
        {
            return false;
        }
        let text = cm
            .and_then(|c| c.data.as_ref())
            .and_then(|d| d.get(&self.settings.config_key));
        let next = match (cm, text) {
            (None, _) => {
                tracing::warn!(name = %self.settings.config_map, "the config ConfigMap is absent: no pools");
                ConfigState {
                    current: Some(Arc::new(Config::default())),
                    stale: None,
                }
            }
            (Some(_), None) => ConfigState {
                current: self.config.current.clone(),
                stale: Some(format!("the ConfigMap has no key {:?}", self.settings.config_key)),
            },
            (Some(_), Some(text)) => match ferrolb_config::parse(text) {
                Ok(c) => ConfigState {
                    current: Some(Arc::new(c)),
                    stale: None,
                },
                Err(errors) => ConfigState {
                    current: self.config.current.clone(),
                    stale: Some(errors.to_string()),
                },
            },
        };
        if let Some(why) = &next.stale {
            tracing::error!(
                name = %self.settings.config_map,
                errors = %why,
                keeping_previous = next.current.is_some(),
                "the config is invalid; keeping the last valid config"
            );
        }
        let changed = next.current != self.config.current;
        self.config = next;
        changed
    }

    // ----- Secret -----

    fn handle_secret(&mut self, e: Event<Secret>) -> bool {
        match e {
            Event::Apply(s) => self.set_secret(Some(&s)),
            Event::Delete(_) => self.set_secret(None),
            Event::Init => {
                self.init_secret = Some(None);
                false
            }
            Event::InitApply(s) => {
                if s.name_any() == self.settings.secret {
                    self.init_secret = Some(Some(s));
                }
                false
            }
            Event::InitDone => {
                let s = self.init_secret.take().flatten();
                self.synced.insert(Kind::Secret);
                self.set_secret(s.as_ref())
            }
        }
    }

    fn set_secret(&mut self, s: Option<&Secret>) -> bool {
        if let Some(s) = s
            && s.name_any() != self.settings.secret
        {
            return false;
        }
        let key = s
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(&self.settings.secret_key))
            .map(|b| b.0.clone())
            .filter(|k| !k.is_empty());
        if key.is_none() {
            tracing::error!(
                secret = %self.settings.secret,
                key = %self.settings.secret_key,
                "the membership Secret or its key is missing; speakers cannot authenticate each other"
            );
        }
        std::mem::replace(&mut self.key, key) != self.key
    }
}

fn merge(e: &mut Endpoints, s: &SliceInfo) {
    e.any_ready |= s.any_ready;
    e.ready_nodes.extend(s.ready_nodes.iter().cloned());
}

#[cfg(test)]
mod tests;
