//! What `ferrolb status` reads from the cluster, as plain data: the one input of the pure views
//! ([`super::services`], [`super::pools`]). Built by [`super::fetch`]; built by hand in the tests.
//!
//! Each read that may fail on its own is a [`Read`]: either what the API server returned or the [`Gap`]
//! saying which request failed and why. A view reports the gaps of the reads it uses, so a refused read
//! that a command does not need never fails that command.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ferrolb_config::Sources;

/// What the API server returned, or why it could not be read.
pub type Read<T> = Result<T, Gap>;

/// A request that failed: which one (`list servicel2statuses.metallb.io in ferrolb-system`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The request, as a verb and a resource.
    pub request: String,
    /// Why it failed.
    pub reason: GapReason,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GapReason {
    /// 403: RBAC does not allow it (the API server's message names the user).
    Forbidden(String),
    /// 404 on a list: the CustomResourceDefinition (named) is not installed.
    NoCrd(String),
    /// Anything else (the error as the client reported it).
    Failed(String),
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            GapReason::Forbidden(m) => write!(f, "cannot {}: forbidden: {m}", self.request),
            GapReason::NoCrd(crd) => write!(
                f,
                "cannot {}: the CustomResourceDefinition {crd} is not installed",
                self.request
            ),
            GapReason::Failed(m) => write!(f, "cannot {}: {m}", self.request),
        }
    }
}

/// Everything the views need, read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// When it was read, in seconds since the Unix epoch (ages are relative to it).
    pub now: i64,
    /// ferrolb's namespace: the Lease and the status objects.
    pub namespace: String,
    /// The configuration's namespace.
    pub config_namespace: String,
    /// The Lease's name.
    pub lease_name: String,
    /// The load-balancer class ferrolb serves (`None`: Services without a class).
    pub load_balancer_class: Option<String>,
    /// Every Service of type LoadBalancer, whatever its class.
    pub services: Vec<Service>,
    /// The controller's Lease (`None`: it does not exist).
    pub lease: Read<Option<Lease>>,
    /// The `ConfigurationState` objects.
    pub states: Read<Vec<ComponentState>>,
    /// The `ServiceL2Status` objects.
    pub l2: Read<Vec<L2Status>>,
    /// The `ServiceBGPStatus` objects.
    pub bgp: Read<Vec<BgpStatus>>,
    /// The configuration objects.
    pub config: Read<ConfigObjects>,
    /// The controller's `AllocationFailed` Events on Services (optional: only for the pending note).
    pub failures: Read<Vec<AllocationFailure>>,
}

/// A Service of type LoadBalancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// `spec.loadBalancerClass`.
    pub class: Option<String>,
    /// The IPs of `status.loadBalancer.ingress`.
    pub ips: Vec<IpAddr>,
    /// The pool the controller says the IPs came from (`ferrolb.io/ip-allocated-from-pool` or an alias).
    pub pool: Option<String>,
}

/// The controller's Lease.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lease {
    /// `spec.holderIdentity`.
    pub holder: Option<String>,
    /// `spec.renewTime`, in seconds since the epoch.
    pub renewed: Option<i64>,
    /// `spec.leaseDurationSeconds`.
    pub duration: Option<i64>,
}

/// A `ConfigurationState`: what one component makes of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentState {
    /// The object's name (`controller`, `speaker-<node>`).
    pub name: String,
    /// Which component.
    pub component: Component,
    /// `status.result`: `Valid`, `Invalid`, `Unknown` (empty when not written yet).
    pub result: String,
    /// `status.errorSummary` (or `lastError`).
    pub error: String,
    /// The BGP sessions a speaker reports in `status.conditions` (`BGPPeer/<peer>`).
    pub sessions: Vec<Session>,
}

/// The component a `ConfigurationState` belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    /// The controller.
    Controller,
    /// The speaker of this node.
    Speaker(String),
    /// Something else (`spec.type` as written).
    Other(String),
}

/// One BGP session of a speaker, from its `BGPPeer/<peer>` condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The peer's name.
    pub peer: String,
    /// `status` is `True`.
    pub established: bool,
    /// `reason`: the BGP state (`Established`, `Active`, `Idle`, …).
    pub state: String,
    /// `message`.
    pub message: String,
}

/// A `ServiceL2Status`: a node answers ARP/NDP for a Service's IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Status {
    /// The node.
    pub node: String,
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// The interfaces it answers on.
    pub interfaces: Vec<String>,
}

/// A `ServiceBGPStatus`: a node advertises a Service's IPs to BGP peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpStatus {
    /// The node.
    pub node: String,
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// The peers (names) it advertises them to.
    pub peers: Vec<String>,
}

/// The configuration objects, as the programs read them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigObjects {
    /// The ConfigMap, the metallb.io resources and the Secrets they name, projected as the programs project
    /// them.
    pub sources: Sources,
    /// `IPAddressPool.status` by pool name (pools whose status was written).
    pub pool_status: BTreeMap<String, PoolUsage>,
    /// The password Secrets BGPPeers name that could not be read, by (namespace, name), with why (a
    /// Secret that does not exist is simply absent from `sources`).
    pub unread_secrets: BTreeMap<(String, String), Gap>,
}

/// `IPAddressPool.status`, written by the leading controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUsage {
    /// `assignedIPv4`.
    pub assigned_v4: u128,
    /// `availableIPv4`.
    pub available_v4: u128,
    /// `assignedIPv6`.
    pub assigned_v6: u128,
    /// `availableIPv6`.
    pub available_v6: u128,
}

/// An `AllocationFailed` Event on a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationFailure {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub service: String,
    /// The Service's uid, when the Event has it.
    pub uid: Option<String>,
    /// The message.
    pub message: String,
    /// When it was last seen, in seconds since the epoch.
    pub time: Option<i64>,
}

/// `45s`, `3m`, `2h`, `5d`: an age as kubectl prints it.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..7_200 => format!("{}m", s / 60),
        7_200..172_800 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}
