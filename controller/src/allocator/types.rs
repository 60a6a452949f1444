//! The allocator's own input and output types: Services as the allocator sees them, pools, results and
//! counters. No Kubernetes types: the controller maps its objects onto these.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// Identifies a Service: `namespace/name`. Ordered by namespace, then name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
}

impl ServiceKey {
    /// The key of Service `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// One `(protocol, port)` a Service exposes on its load-balancer IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// The protocol.
    pub protocol: Protocol,
    /// The port number.
    pub port: u16,
}

impl Port {
    /// TCP port `port`.
    pub fn tcp(port: u16) -> Self {
        Self {
            protocol: Protocol::Tcp,
            port,
        }
    }
    /// UDP port `port`.
    pub fn udp(port: u16) -> Self {
        Self {
            protocol: Protocol::Udp,
            port,
        }
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// An IP family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `ip`.
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }
    /// The other family.
    pub fn other(self) -> Self {
        match self {
            IpFamily::V4 => IpFamily::V6,
            IpFamily::V6 => IpFamily::V4,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// The Service's `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IpFamilyPolicy {
    /// One IP of the Service's first family.
    #[default]
    SingleStack,
    /// One IP of each family from one pool when a pool can give both, else one of the first family.
    PreferDualStack,
    /// One IP of each family from one pool, or nothing.
    RequireDualStack,
}

impl fmt::Display for IpFamilyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamilyPolicy::SingleStack => "SingleStack",
            IpFamilyPolicy::PreferDualStack => "PreferDualStack",
            IpFamilyPolicy::RequireDualStack => "RequireDualStack",
        })
    }
}

/// Where a Service's traffic goes, as far as IP sharing cares: Services may share an IP only with equal
/// backend keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum BackendKey {
    /// `externalTrafficPolicy: Cluster`: any node may forward the traffic.
    #[default]
    Cluster,
    /// `externalTrafficPolicy: Local`, with the Service's pod selector in a canonical text form (for example
    /// `app=web,tier=front`, keys sorted): only nodes with a local endpoint may receive the traffic, so
    /// Services sharing the IP must select the same pods.
    Local {
        /// The canonical selector.
        selector: String,
    },
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendKey::Cluster => f.write_str("externalTrafficPolicy Cluster"),
            BackendKey::Local { selector } => {
                write!(f, "externalTrafficPolicy Local with selector {selector:?}")
            }
        }
    }
}

/// A Service as the allocator sees it: its key plus everything that decides which IPs it may get.
///
/// Build one with [`ServiceRequest::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRequest {
    /// The Service.
    pub key: ServiceKey,
    /// The `(protocol, port)` pairs it exposes (duplicates are ignored).
    pub ports: Vec<Port>,
    /// The sharing key (`allow-shared-ip` annotation). `None` or an empty string: the Service shares its IP
    /// with nobody.
    pub sharing_key: Option<String>,
    /// Where its traffic goes (external traffic policy and, for `Local`, the selector).
    pub backend: BackendKey,
    /// `spec.ipFamilyPolicy`.
    pub family_policy: IpFamilyPolicy,
    /// `spec.ipFamilies`; the first entry is the primary family. Empty means `[IPv4]`.
    pub families: Vec<IpFamily>,
    /// Requested IPs (`spec.loadBalancerIP` or the `loadBalancerIPs` annotation), at most one per family.
    pub requested_ips: Vec<IpAddr>,
    /// The pool the Service is pinned to (`address-pool` annotation).
    pub requested_pool: Option<String>,
    /// What the pools' `serviceAllocation` says about this Service.
    pub access: PoolAccess,
}

/// What the pools' `serviceAllocation` says about one Service (computed by the controller from the
/// Service's namespace and labels and its namespace's labels). Pools without `serviceAllocation` are open to
/// every Service and appear in neither list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolAccess {
    /// Restricted pools that admit the Service, in the order to try them (priority order): tried before any
    /// other pool.
    pub preferred: Vec<String>,
    /// Restricted pools that do not admit it: never used, not even when requested.
    pub denied: Vec<String>,
}

impl ServiceRequest {
    /// A single-stack IPv4 Service `namespace/name` with no ports, no sharing key, `Cluster` backend, no
    /// requested IP and no pinned pool.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            key: ServiceKey::new(namespace, name),
            ports: Vec::new(),
            sharing_key: None,
            backend: BackendKey::Cluster,
            family_policy: IpFamilyPolicy::SingleStack,
            families: vec![IpFamily::V4],
            requested_ips: Vec::new(),
            requested_pool: None,
            access: PoolAccess::default(),
        }
    }
    /// With these ports.
    pub fn with_ports(mut self, ports: impl IntoIterator<Item = Port>) -> Self {
        self.ports = ports.into_iter().collect();
        self
    }
    /// With this sharing key.
    pub fn with_sharing_key(mut self, key: impl Into<String>) -> Self {
        self.sharing_key = Some(key.into());
        self
    }
    /// With this backend key.
    pub fn with_backend(mut self, backend: BackendKey) -> Self {
        self.backend = backend;
        self
    }
    /// With this family policy and these families (primary first).
    pub fn with_families(
        mut self,
        policy: IpFamilyPolicy,
        families: impl IntoIterator<Item = IpFamily>,
    ) -> Self {
        self.family_policy = policy;
        self.families = families.into_iter().collect();
        self
    }
    /// Requesting these IPs.
    pub fn with_requested_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.requested_ips = ips.into_iter().collect();
        self
    }
    /// With what the pools' `serviceAllocation` says about it.
    pub fn with_access(mut self, access: PoolAccess) -> Self {
        self.access = access;
        self
    }
    /// Pinned to this pool.
    pub fn with_pool(mut self, pool: impl Into<String>) -> Self {
        self.requested_pool = Some(pool.into());
        self
    }
    /// The primary family: the first of `families`, IPv4 when there is none.
    pub fn primary_family(&self) -> IpFamily {
        self.families.first().copied().unwrap_or(IpFamily::V4)
    }
}

/// An address pool, as the allocator needs it. The controller maps the config model onto this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolDef {
    /// The pool's name (unique).
    pub name: String,
    /// Whether Services that neither pin this pool nor request an IP in it may get addresses from it.
    pub auto_assign: bool,
    /// Whether IPv4 addresses ending in `.0` or `.255` are never handed out from this pool.
    pub avoid_buggy_ips: bool,
    /// The pool's address ranges in config order, each inclusive and of one family. Ranges must not overlap,
    /// within this pool or with other pools.
    pub ranges: Vec<RangeInclusive<IpAddr>>,
    /// The pool has a `serviceAllocation`: only the Services it admits use it, first (see [`PoolAccess`]);
    /// it is not among the pools every Service may fall back to.
    pub restricted: bool,
}

impl PoolDef {
    /// An auto-assign pool without avoid-buggy-ips.
    pub fn new(name: impl Into<String>, ranges: impl IntoIterator<Item = RangeInclusive<IpAddr>>) -> Self {
        Self {
            name: name.into(),
            auto_assign: true,
            avoid_buggy_ips: false,
            ranges: ranges.into_iter().collect(),
            restricted: false,
        }
    }
}

/// A Service's current assignment: its IPs (primary family first) and the pool they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The pool all of the IPs come from.
    pub pool: String,
    /// One or two IPs, at most one per family, the Service's primary family first.
    pub ips: Vec<IpAddr>,
}

/// Per-family address counters of one pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FamilyStats {
    /// Usable addresses (addresses skipped by avoid-buggy-ips excluded). Saturates at `u128::MAX`.
    pub total: u128,
    /// Distinct addresses held by at least one Service (a shared IP counts once).
    pub in_use: u128,
    /// `total - in_use`.
    pub available: u128,
}

/// The counters of one pool, for metrics. Reading them is O(1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// IPv4 counters.
    pub ipv4: FamilyStats,
    /// IPv6 counters.
    pub ipv6: FamilyStats,
    /// Services holding an assignment from this pool.
    pub services: usize,
}

impl PoolStats {
    /// The counters of `family`.
    pub fn family(&self, family: IpFamily) -> FamilyStats {
        match family {
            IpFamily::V4 => self.ipv4,
            IpFamily::V6 => self.ipv6,
        }
    }
}

/// An IP taken away from a Service (by [`crate::allocator::Allocator::set_pools`]) or not restored to it
/// (by [`crate::allocator::Allocator::restore`]), with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedIp {
    /// The IP.
    pub ip: IpAddr,
    /// Why the Service may not keep it.
    pub reason: crate::allocator::AllocError,
}

/// A Service that lost some or all of its IPs; the controller clears them from its status, tells the
/// operator why, and calls `assign` for it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The Service.
    pub key: ServiceKey,
    /// The IPs it lost, with reasons.
    pub revoked: Vec<RevokedIp>,
    /// What it still holds, if anything.
    pub kept: Option<Assignment>,
}

/// A Service's sharing attributes, normalized (ports deduplicated, empty sharing key = none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharingAttrs {
    /// Sorted, without duplicates.
    pub(crate) ports: Vec<Port>,
    pub(crate) key: Option<String>,
    pub(crate) backend: BackendKey,
}

impl SharingAttrs {
    pub(crate) fn of(req: &ServiceRequest) -> Self {
        let mut ports = req.ports.clone();
        ports.sort_unstable();
        ports.dedup();
        Self {
            ports,
            key: req.sharing_key.clone().filter(|k| !k.is_empty()),
            backend: req.backend.clone(),
        }
    }
}
