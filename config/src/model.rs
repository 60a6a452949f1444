//! The validated config model: what the controller allocates from and what the speaker announces.
//!
//! Invariants of a [`Config`] returned by [`crate::parse`]: pool names are unique and non-empty; no two
//! address ranges overlap (within or across pools); every range is one family with `start <= end`; a bgp
//! pool has at least one advertisement and a layer2 pool none; every aggregation length is at least the
//! prefix length of every CIDR of its pool (ranges count as the CIDRs that summarize them); community
//! aliases are resolved; every `bfd-profile` reference names a profile; timers are whole seconds with
//! `hold_time` 0 or in 3..=65535 s and `keepalive_time < hold_time` (both 0 when hold is 0); defaults are
//! filled in (see the `DEFAULT_*` constants).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::address::{AddressFamily, AddressRange};
use crate::community::Community;
use crate::selector::NodeSelector;

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
    /// Address pools, in config order (the controller tries them in this order).
    pub pools: Vec<Pool>,
    /// BGP peers, in config order.
    pub peers: Vec<Peer>,
    /// BFD profiles, in config order.
    pub bfd_profiles: Vec<BfdProfile>,
    /// Community aliases as declared under `bgp-communities` (already resolved in advertisements).
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
}

/// How a pool's addresses are announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// ARP (IPv4) and NDP (IPv6) answered by one node per address.
    Layer2,
    /// Routes advertised to BGP peers.
    Bgp,
}

impl Protocol {
    /// The name used in the config: `layer2` or `bgp`.
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

/// An address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// Unique, non-empty name (the `ferrolb.io/address-pool` annotation value).
    pub name: String,
    /// Layer2 or BGP.
    pub protocol: Protocol,
    /// The addresses, as inclusive ranges, in config order (CIDRs become their first..=last address).
    pub addresses: Vec<AddressRange>,
    /// Whether Services without a pool annotation get addresses from this pool (default true).
    pub auto_assign: bool,
    /// Skip IPv4 addresses ending in `.0` or `.255` (default false).
    pub avoid_buggy_ips: bool,
    /// How a bgp pool is advertised; at least one for bgp (one with defaults when none is given),
    /// always empty for layer2.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// ferrolb's layer2 options (always default for a bgp pool).
    pub layer2: Layer2Options,
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
}

/// Whether an address is one some old clients mishandle: an IPv4 address ending in `.0` or `.255`.
pub fn is_buggy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

/// ferrolb's per-pool layer2 options (an addition to MetalLB's legacy schema).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layer2Options {
    /// Interfaces to announce on; empty means every eligible interface.
    pub interfaces: Vec<String>,
    /// Nodes that may announce; empty means every node, otherwise any selector must match.
    pub node_selectors: Vec<NodeSelector>,
}

/// How a bgp pool's addresses are advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// Prefix length IPv4 addresses are advertised with (0..=32, default 32).
    pub aggregation_length: u8,
    /// Prefix length IPv6 addresses are advertised with (0..=128, default 128).
    pub aggregation_length_v6: u8,
    /// LOCAL_PREF attribute (iBGP only); `None` when not given.
    pub local_pref: Option<u32>,
    /// Communities attached, aliases resolved, in config order.
    pub communities: Vec<Community>,
}

impl Default for BgpAdvertisement {
    fn default() -> Self {
        Self {
            aggregation_length: DEFAULT_AGGREGATION_LENGTH,
            aggregation_length_v6: DEFAULT_AGGREGATION_LENGTH_V6,
            local_pref: None,
            communities: Vec::new(),
        }
    }
}

impl BgpAdvertisement {
    /// The aggregation length for an address family.
    pub fn aggregation_length_for(&self, family: AddressFamily) -> u8 {
        match family {
            AddressFamily::V4 => self.aggregation_length,
            AddressFamily::V6 => self.aggregation_length_v6,
        }
    }
}

/// A BGP peer.
#[derive(Clone, PartialEq, Eq)]
pub struct Peer {
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
    pub password: Option<String>,
    /// Name of a profile in [`Config::bfd_profiles`].
    pub bfd_profile: Option<String>,
    /// `ebgp-multihop` as given (default false; only allowed for eBGP peers, `asn != my_asn`).
    pub ebgp_multihop: bool,
    /// Nodes that peer with this router; empty means every node.
    pub node_selectors: Vec<NodeSelector>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("address", &self.address)
            .field("port", &self.port)
            .field("asn", &self.asn)
            .field("my_asn", &self.my_asn)
            .field("source_address", &self.source_address)
            .field("hold_time", &self.hold_time)
            .field("keepalive_time", &self.keepalive_time)
            .field("router_id", &self.router_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("bfd_profile", &self.bfd_profile)
            .field("ebgp_multihop", &self.ebgp_multihop)
            .field("node_selectors", &self.node_selectors)
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
        crate::selector::matches_any(&self.node_selectors, labels)
    }
}

/// A BFD profile (validated and carried for compatibility; see docs/config.md).
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
