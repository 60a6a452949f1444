//! The validated config model, in the shape of MetalLB's custom resources: what the controller allocates from
//! and what the speaker announces. Both configuration formats (the legacy ConfigMap and, later, the
//! `metallb.io` resources) decode into it; nothing downstream knows which one was used.
//!
//! ```text
//!  Pool ◀──selects── L2Advertisement  (nodes, interfaces, Services)
//!   ▲
//!   └────selects── BgpAdvertisement ──selects──▶ Peer (none: every peer)   (nodes, Services, attributes)
//! ```
//!
//! A pool is announced in layer2 mode by every [`L2Advertisement`] that selects it and in BGP mode by every
//! [`BgpAdvertisement`] that selects it; a pool selected by none is allocated from but not announced.
//!
//! Invariants of a [`Config`] returned by [`crate::parse`] (and the other entry points): pool, advertisement,
//! peer and BFD profile names are unique and non-empty; no two address ranges overlap (within or across
//! pools); every range is one family with `start <= end`; advertisements name only existing pools (in pool
//! order) and peers; every aggregation length is at least the prefix length of every CIDR of each pool it
//! applies to (ranges count as the CIDRs that summarize them); community aliases are resolved; every
//! `bfd_profile` reference names a profile; timers are whole seconds with `hold_time` 0 or in 3..=65535 s and
//! `keepalive_time < hold_time` (both 0 when hold is 0); defaults are filled in (see the `DEFAULT_*`
//! constants); no two BGP advertisements of one pool certainly send one prefix to one peer from one node
//! with different `local_pref` (see [`BgpAdvertisement::local_pref_conflict`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::address::{AddressFamily, AddressRange};
use crate::community::Community;
use crate::selector::{LabelSelector, matches_any};

/// BGP hold time when `hold-time` is not given.
pub const DEFAULT_HOLD_TIME: Duration = Duration::from_secs(90);
/// BGP port when `peer-port` is not given.
pub const DEFAULT_PEER_PORT: u16 = 179;
/// IPv4 aggregation length when `aggregation-length` is not given.
pub const DEFAULT_AGGREGATION_LENGTH: u8 = 32;
/// IPv6 aggregation length when `aggregation-length-v6` is not given.
pub const DEFAULT_AGGREGATION_LENGTH_V6: u8 = 128;
/// The longest TCP MD5 key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_PASSWORD_LEN: usize = 80;
/// BFD receive/transmit interval when not given, in milliseconds.
pub const DEFAULT_BFD_INTERVAL_MS: u32 = 300;
/// BFD echo interval when not given, in milliseconds.
pub const DEFAULT_BFD_ECHO_INTERVAL_MS: u32 = 50;
/// BFD detect multiplier when not given.
pub const DEFAULT_BFD_DETECT_MULTIPLIER: u32 = 3;
/// BFD minimum TTL when not given.
pub const DEFAULT_BFD_MINIMUM_TTL: u32 = 254;

/// The whole validated config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Address pools, in config order.
    pub pools: Vec<Pool>,
    /// Layer2 advertisements, in config order.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// BGP advertisements, in config order.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// BGP peers, in config order.
    pub peers: Vec<Peer>,
    /// BFD profiles, in config order.
    pub bfd_profiles: Vec<BfdProfile>,
    /// Community aliases as declared (already resolved in advertisements).
    pub communities: BTreeMap<String, Community>,
}

impl Config {
    /// The pool with this name.
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// The pool whose ranges contain `ip` (at most one: ranges never overlap).
    pub fn pool_containing(&self, ip: IpAddr) -> Option<&Pool> {
        self.pools.iter().find(|p| p.contains(ip))
    }

    /// The BFD profile with this name.
    pub fn bfd_profile(&self, name: &str) -> Option<&BfdProfile> {
        self.bfd_profiles.iter().find(|p| p.name == name)
    }

    /// The peer with this name.
    pub fn peer(&self, name: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// The layer2 advertisements that select pool `pool`, in config order.
    pub fn l2_advertisements_for<'a>(&'a self, pool: &str) -> impl Iterator<Item = &'a L2Advertisement> {
        self.l2_advertisements
            .iter()
            .filter(move |a| a.selects_pool(pool))
    }

    /// The BGP advertisements that select pool `pool`, in config order.
    pub fn bgp_advertisements_for<'a>(&'a self, pool: &str) -> impl Iterator<Item = &'a BgpAdvertisement> {
        self.bgp_advertisements
            .iter()
            .filter(move |a| a.selects_pool(pool))
    }

    /// The pools offered, in order, to a Service that names no pool and requests no address (see
    /// [`ServiceAllocation`] for MetalLB's rule): the `auto_assign` pools with a service allocation that
    /// admits the Service, by priority (lowest first, 0 last, ties in configuration order), then the
    /// `auto_assign` pools without one, in configuration order.
    pub fn auto_assign_order(
        &self,
        namespace: &str,
        namespace_labels: &BTreeMap<String, String>,
        service_labels: &BTreeMap<String, String>,
    ) -> Vec<&Pool> {
        let mut pinned: Vec<(u32, &Pool)> = self
            .pools
            .iter()
            .filter(|p| p.auto_assign)
            .filter_map(|p| {
                let a = p.service_allocation.as_ref()?;
                a.admits(namespace, namespace_labels, service_labels)
                    .then_some((a.priority, p))
            })
            .collect();
        // Stable: equal priorities keep configuration order; 0 sorts after every positive priority.
        pinned.sort_by_key(|(priority, _)| (*priority == 0, *priority));
        pinned
            .into_iter()
            .map(|(_, p)| p)
            .chain(
                self.pools
                    .iter()
                    .filter(|p| p.auto_assign && p.service_allocation.is_none()),
            )
            .collect()
    }

    /// The modes pool `pool` is announced in (none: allocated from, never announced).
    pub fn protocols(&self, pool: &str) -> Vec<Protocol> {
        let mut out = Vec::new();
        if self.l2_advertisements_for(pool).next().is_some() {
            out.push(Protocol::Layer2);
        }
        if self.bgp_advertisements_for(pool).next().is_some() {
            out.push(Protocol::Bgp);
        }
        out
    }
}

/// How addresses are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// ARP (IPv4) and NDP (IPv6) answered by one node per address.
    Layer2,
    /// Routes advertised to BGP peers.
    Bgp,
}

impl Protocol {
    /// The name used in the legacy config and in metrics: `layer2` or `bgp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Layer2 => "layer2",
            Self::Bgp => "bgp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address pool (MetalLB's `IPAddressPool`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Unique, non-empty name (the `ferrolb.io/address-pool` annotation value).
    pub name: String,
    /// The addresses, as inclusive ranges, in config order (CIDRs become their first..=last address).
    pub addresses: Vec<AddressRange>,
    /// Whether Services without a pool annotation get addresses from this pool (default true).
    pub auto_assign: bool,
    /// Skip IPv4 addresses ending in `.0` or `.255` (default false).
    pub avoid_buggy_ips: bool,
    /// Which Services may take addresses from the pool, and in which order pools are tried; `None`: any
    /// Service, in config order.
    pub service_allocation: Option<ServiceAllocation>,
}

impl Pool {
    /// Whether `ip` lies in one of the pool's ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addresses.iter().any(|r| r.contains(ip))
    }

    /// Whether `ip` may be handed out: it is in the pool and not skipped by `avoid-buggy-ips`.
    pub fn is_assignable(&self, ip: IpAddr) -> bool {
        self.contains(ip) && !(self.avoid_buggy_ips && is_buggy(ip))
    }

    /// Whether the pool has addresses of this family.
    pub fn has_family(&self, family: AddressFamily) -> bool {
        self.addresses.iter().any(|r| r.family() == family)
    }

    /// Number of addresses of this family (saturating at `u128::MAX`).
    pub fn len(&self, family: AddressFamily) -> u128 {
        self.addresses
            .iter()
            .filter(|r| r.family() == family)
            .fold(0u128, |n, r| n.saturating_add(r.len()))
    }

    /// Number of addresses of this family that may be handed out (`avoid-buggy-ips` applied).
    pub fn assignable_len(&self, family: AddressFamily) -> u128 {
        self.addresses
            .iter()
            .filter(|r| r.family() == family)
            .fold(0u128, |n, r| {
                let skipped = if self.avoid_buggy_ips { r.buggy_len() } else { 0 };
                n.saturating_add(r.len() - skipped)
            })
    }

    /// True when the pool has no addresses (never for a parsed config).
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// Whether a Service may take addresses from this pool at all (see [`ServiceAllocation`]); always
    /// true for a pool without a service allocation.
    pub fn admits(
        &self,
        namespace: &str,
        namespace_labels: &BTreeMap<String, String>,
        service_labels: &BTreeMap<String, String>,
    ) -> bool {
        self.service_allocation
            .as_ref()
            .is_none_or(|a| a.admits(namespace, namespace_labels, service_labels))
    }
}

/// Whether an address is one some old clients mishandle: an IPv4 address ending in `.0` or `.255`.
pub fn is_buggy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

/// `IPAddressPool.spec.serviceAllocation`: which Services may use a pool, and in which order pools are tried
/// for Services that name none. MetalLB's meaning (`internal/allocator`, `pinnedPoolsForService`,
/// `isPoolCompatibleWithService`, and the priority-only rule of MetalLB PR #2714):
///
/// - **Who may use the pool** ([`ServiceAllocation::admits`]): when `namespaces` or `namespace_selectors` are
///   given, only Services whose namespace is listed or whose namespace's labels match a selector; when
///   `service_selectors` are given, only Services whose labels match one of them; both conditions when both
///   are given. A Service the pool does not admit never gets its addresses, not even when it names the pool
///   (annotation) or requests one of its addresses: it stays pending, as in MetalLB.
/// - **Order** ([`Config::auto_assign_order`]): a Service that names no pool and requests no address is
///   offered first the `auto_assign` pools with a service allocation that admit it, lowest `priority` first
///   and priority 0 ("not set") after every positive priority; then the `auto_assign` pools without a service
///   allocation. A pool with an allocation that does not admit the Service is never offered.
///
/// Deviations, both towards determinism and safety: MetalLB breaks priority ties and orders the pools
/// without allocation at random (Go map order); ferrolb uses configuration order
/// ([`Config::pools`]). MetalLB resolves `namespace_selectors` to the namespaces existing at configuration
/// time and, when none matches, treats the pool as not restricted to namespaces; ferrolb matches the
/// Service's namespace labels when it allocates, so such a pool admits no namespace until one matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceAllocation {
    /// Pools with a priority are tried before the others, lowest value first; 0 means none (tried after
    /// every positive priority).
    pub priority: u32,
    /// Namespaces whose Services may use the pool (with `namespace_selectors`: either matches).
    pub namespaces: Vec<String>,
    /// Namespaces (by their labels) whose Services may use the pool.
    pub namespace_selectors: Vec<LabelSelector>,
    /// Services (by their labels) that may use the pool.
    pub service_selectors: Vec<LabelSelector>,
}

impl ServiceAllocation {
    /// Whether a Service in namespace `namespace` (whose labels are `namespace_labels`) with labels
    /// `service_labels` may take addresses from the pool. See the type's docs.
    pub fn admits(
        &self,
        namespace: &str,
        namespace_labels: &BTreeMap<String, String>,
        service_labels: &BTreeMap<String, String>,
    ) -> bool {
        let restricts_namespaces = !self.namespaces.is_empty() || !self.namespace_selectors.is_empty();
        let namespace_ok = !restricts_namespaces
            || self.namespaces.iter().any(|n| n == namespace)
            || self
                .namespace_selectors
                .iter()
                .any(|s| s.matches(namespace_labels));
        namespace_ok && matches_any(&self.service_selectors, service_labels)
    }
}

/// A weighted preference for the node that announces an address in layer2 mode
/// (`L2Advertisement.spec.preferredNodeSelectors`, modelled on Kubernetes' `PreferredSchedulingTerm`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PreferredNodeSelector {
    /// 1..=100, added to the score of every node the preference matches.
    pub weight: u8,
    /// The nodes it prefers.
    pub preference: LabelSelector,
}

/// Announcement of pools in layer2 mode (MetalLB's `L2Advertisement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Advertisement {
    /// Unique name.
    pub name: String,
    /// The pools it announces, resolved to names, in pool order.
    pub pools: Vec<String>,
    /// Nodes that may announce; empty means every node, otherwise any selector must match.
    pub node_selectors: Vec<LabelSelector>,
    /// Interfaces to announce on; empty means every eligible interface.
    pub interfaces: Vec<String>,
    /// Services it applies to; empty means every Service, otherwise any selector must match.
    pub service_selectors: Vec<LabelSelector>,
    /// Preferences for the announcing node (MetalLB ≥ v0.16): among the eligible nodes, those with the
    /// highest summed `weight` of matching preferences are elected first (then the usual hash order).
    /// Empty: no preference. Preferences never make an ineligible node eligible.
    pub preferred_node_selectors: Vec<PreferredNodeSelector>,
}

impl L2Advertisement {
    /// The preference score of a node with these labels: the sum of the weights of the preferences it
    /// matches (0 when none does).
    pub fn preference_score(&self, labels: &BTreeMap<String, String>) -> u32 {
        self.preferred_node_selectors
            .iter()
            .filter(|p| p.preference.matches(labels))
            .map(|p| u32::from(p.weight))
            .sum()
    }

    /// Whether it announces pool `pool`.
    pub fn selects_pool(&self, pool: &str) -> bool {
        self.pools.iter().any(|p| p == pool)
    }

    /// Whether it applies to a node with these labels.
    pub fn selects_node(&self, labels: &BTreeMap<String, String>) -> bool {
        matches_any(&self.node_selectors, labels)
    }

    /// Whether it applies to a Service with these labels.
    pub fn selects_service(&self, labels: &BTreeMap<String, String>) -> bool {
        matches_any(&self.service_selectors, labels)
    }
}

/// Announcement of pools in BGP mode (MetalLB's `BGPAdvertisement`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// Unique name.
    pub name: String,
    /// The pools it announces, resolved to names, in pool order.
    pub pools: Vec<String>,
    /// Prefix length IPv4 addresses are advertised with (0..=32, default 32).
    pub aggregation_length: u8,
    /// Prefix length IPv6 addresses are advertised with (0..=128, default 128).
    pub aggregation_length_v6: u8,
    /// LOCAL_PREF attribute (iBGP only); `None` when not given (a resource's `localPref: 0` is not given,
    /// as in MetalLB, whose field is an omitempty integer).
    pub local_pref: Option<u32>,
    /// Communities attached, aliases resolved, in config order.
    pub communities: Vec<Community>,
    /// Nodes that advertise; empty means every node, otherwise any selector must match.
    pub node_selectors: Vec<LabelSelector>,
    /// Names of the peers that receive it; empty means every peer.
    pub peers: Vec<String>,
    /// Services it applies to; empty means every Service, otherwise any selector must match. Only with the
    /// default aggregation lengths (32 and 128), as MetalLB requires: an aggregate covers other Services.
    pub service_selectors: Vec<LabelSelector>,
}

impl BgpAdvertisement {
    /// An advertisement with this name for these pools, and every default.
    pub fn with_defaults(name: impl Into<String>, pools: Vec<String>) -> Self {
        Self {
            name: name.into(),
            pools,
            aggregation_length: DEFAULT_AGGREGATION_LENGTH,
            aggregation_length_v6: DEFAULT_AGGREGATION_LENGTH_V6,
            local_pref: None,
            communities: Vec::new(),
            node_selectors: Vec::new(),
            peers: Vec::new(),
            service_selectors: Vec::new(),
        }
    }

    /// The aggregation length for an address family.
    pub fn aggregation_length_for(&self, family: AddressFamily) -> u8 {
        match family {
            AddressFamily::V4 => self.aggregation_length,
            AddressFamily::V6 => self.aggregation_length_v6,
        }
    }

    /// Whether it announces pool `pool`.
    pub fn selects_pool(&self, pool: &str) -> bool {
        self.pools.iter().any(|p| p == pool)
    }

    /// Whether it applies to a node with these labels.
    pub fn selects_node(&self, labels: &BTreeMap<String, String>) -> bool {
        matches_any(&self.node_selectors, labels)
    }

    /// Whether it applies to a Service with these labels.
    pub fn selects_service(&self, labels: &BTreeMap<String, String>) -> bool {
        matches_any(&self.service_selectors, labels)
    }

    /// Whether the peer named `peer` receives it.
    pub fn selects_peer(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|p| p == peer)
    }

    /// Whether this advertisement and `other`, both selecting `pool`, would send one prefix to one peer from
    /// one node with different LOCAL_PREF values — MetalLB's rule (`validateBGPAdvPerPool`) that one BGP
    /// update carries one local preference. They conflict when their `local_pref` differ, their aggregation
    /// lengths are equal for a family the pool has addresses of, their peers overlap (either list empty, or
    /// a common name), and a node and a Service exist that both select: `node_labels` decides for one node
    /// (`None`: decided from the configuration alone, counting only certain overlaps — equal selector lists
    /// or an empty one — of nodes and of Services).
    ///
    /// MetalLB compares the nodes existing when the configuration is validated; the configuration alone
    /// cannot know them, so `ferrolb_config` reports the certain conflicts and the speaker must check the
    /// others with its node's labels (`Some`).
    pub fn local_pref_conflict(
        &self,
        other: &Self,
        pool: &Pool,
        node_labels: Option<&BTreeMap<String, String>>,
    ) -> bool {
        if self.local_pref == other.local_pref {
            return false;
        }
        let same_prefix = [AddressFamily::V4, AddressFamily::V6]
            .into_iter()
            .any(|f| pool.has_family(f) && self.aggregation_length_for(f) == other.aggregation_length_for(f));
        let peers_overlap = self.peers.is_empty()
            || other.peers.is_empty()
            || self.peers.iter().any(|p| other.peers.contains(p));
        let certain = |a: &[LabelSelector], b: &[LabelSelector]| a.is_empty() || b.is_empty() || a == b;
        let nodes_overlap = match node_labels {
            Some(labels) => self.selects_node(labels) && other.selects_node(labels),
            None => certain(&self.node_selectors, &other.node_selectors),
        };
        same_prefix
            && peers_overlap
            && nodes_overlap
            && certain(&self.service_selectors, &other.service_selectors)
    }

    /// Whether its route attributes (aggregation, local-pref, communities) equal `other`'s.
    pub fn same_attributes(&self, other: &Self) -> bool {
        self.aggregation_length == other.aggregation_length
            && self.aggregation_length_v6 == other.aggregation_length_v6
            && self.local_pref == other.local_pref
            && self.communities == other.communities
    }
}

/// A TCP MD5 password and where it came from (never printed by `Debug`).
#[derive(Clone, PartialEq, Eq)]
pub struct PeerPassword {
    /// The key (1 to 80 bytes).
    pub value: String,
    /// Where it was read.
    pub source: PasswordSource,
}

impl PeerPassword {
    /// A password written in the peer's configuration.
    pub fn inline(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            source: PasswordSource::Inline,
        }
    }
}

impl fmt::Debug for PeerPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerPassword")
            .field("value", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// Where a peer's password was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// Written in the peer's configuration.
    Inline,
    /// The `password` key of this `kubernetes.io/basic-auth` Secret, in the namespace of the `BGPPeer` that
    /// names it (`spec.passwordSecret`).
    Secret {
        /// The Secret's name.
        name: String,
    },
}

/// A BGP peer.
#[derive(Clone, PartialEq, Eq)]
pub struct Peer {
    /// Unique name (the `BGPPeer`'s; `peer<N>` for the legacy ConfigMap's N-th peer, as MetalLB's converter
    /// names it).
    pub name: String,
    /// The router's address.
    pub address: IpAddr,
    /// The router's TCP port (default 179).
    pub port: u16,
    /// The router's ASN.
    pub asn: u32,
    /// Our ASN.
    pub my_asn: u32,
    /// Local address to connect from (same family as `address`); `None` lets the kernel choose.
    pub source_address: Option<IpAddr>,
    /// Proposed hold time: whole seconds, 0 or 3..=65535 (default 90 s).
    pub hold_time: Duration,
    /// Keepalive interval: whole seconds, below `hold_time` (default `hold_time / 3`).
    pub keepalive_time: Duration,
    /// BGP identifier; `None` means the node's IPv4 address.
    pub router_id: Option<Ipv4Addr>,
    /// TCP MD5 password (at most 80 bytes); `None` when not given or empty.
    pub password: Option<PeerPassword>,
    /// Name of a profile in [`Config::bfd_profiles`].
    pub bfd_profile: Option<String>,
    /// `ebgp-multihop` as given (default false; only allowed for eBGP peers, `asn != my_asn`).
    pub ebgp_multihop: bool,
    /// MetalLB's `dualStackAddressFamily` (default false): one session carries both IPv4 and IPv6 unicast
    /// (multiprotocol BGP for the family that is not the session's). Without it a session carries only the
    /// routes of its own address's family. The legacy ConfigMap cannot set it.
    pub dual_stack_address_family: bool,
    /// Nodes that peer with this router; empty means every node.
    pub node_selectors: Vec<LabelSelector>,
    /// How long to wait between connection attempts (`BGPPeer.spec.connectTime`, whole seconds in
    /// 1..=65535); `None`: the speaker's own retry schedule.
    pub connect_time: Option<Duration>,
    /// Whether to negotiate BGP graceful restart (RFC 4724) so that the router keeps the routes while the
    /// speaker restarts. A `BGPPeer` has it only with `enableGracefulRestart: true` (MetalLB's default is
    /// off); a legacy ConfigMap peer always has it (ferrolb's behaviour for that format, which has no key).
    pub graceful_restart: bool,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("name", &self.name)
            .field("address", &self.address)
            .field("port", &self.port)
            .field("asn", &self.asn)
            .field("my_asn", &self.my_asn)
            .field("source_address", &self.source_address)
            .field("hold_time", &self.hold_time)
            .field("keepalive_time", &self.keepalive_time)
            .field("router_id", &self.router_id)
            .field("password", &self.password)
            .field("bfd_profile", &self.bfd_profile)
            .field("ebgp_multihop", &self.ebgp_multihop)
            .field("dual_stack_address_family", &self.dual_stack_address_family)
            .field("node_selectors", &self.node_selectors)
            .field("connect_time", &self.connect_time)
            .field("graceful_restart", &self.graceful_restart)
            .finish()
    }
}

impl Peer {
    /// The keepalive interval used when `keepalive-time` is not given: a third of the hold time, rounded
    /// down to whole seconds.
    pub fn default_keepalive(hold_time: Duration) -> Duration {
        Duration::from_secs(hold_time.as_secs() / 3)
    }

    /// Whether this peer applies to a node with these labels.
    pub fn selects_node(&self, labels: &BTreeMap<String, String>) -> bool {
        matches_any(&self.node_selectors, labels)
    }
}

/// A BFD profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// Unique name.
    pub name: String,
    /// Minimum receive interval, ms (10..=60000, default 300).
    pub receive_interval_ms: u32,
    /// Minimum transmit interval, ms (10..=60000, default 300).
    pub transmit_interval_ms: u32,
    /// Detect multiplier (2..=255, default 3).
    pub detect_multiplier: u32,
    /// Echo interval, ms (10..=60000, default 50).
    pub echo_interval_ms: u32,
    /// Echo mode (default false).
    pub echo_mode: bool,
    /// Passive mode (default false).
    pub passive_mode: bool,
    /// Minimum TTL of incoming packets (1..=254, default 254).
    pub minimum_ttl: u32,
}

impl BfdProfile {
    /// A profile with this name and every default.
    pub fn with_defaults(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            receive_interval_ms: DEFAULT_BFD_INTERVAL_MS,
            transmit_interval_ms: DEFAULT_BFD_INTERVAL_MS,
            detect_multiplier: DEFAULT_BFD_DETECT_MULTIPLIER,
            echo_interval_ms: DEFAULT_BFD_ECHO_INTERVAL_MS,
            echo_mode: false,
            passive_mode: false,
            minimum_ttl: DEFAULT_BFD_MINIMUM_TTL,
        }
    }
}
