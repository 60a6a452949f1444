//! The allocator's typed errors. Their `Display` is written for operators (it ends up in Service events);
//! `metric_label()` is a stable label for failure counters.

use std::fmt;
use std::net::IpAddr;

use super::types::{BackendKey, IpFamily, IpFamilyPolicy, Port, ServiceKey};

/// Why a Service cannot get (or keep) an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The Service pins a pool the configuration does not have.
    #[error("address pool {pool:?} does not exist")]
    UnknownPool {
        /// The pinned pool.
        pool: String,
    },
    /// The Service asks for a pool (by annotation or by requested IPs) whose `serviceAllocation` does not
    /// admit it.
    #[error(
        "address pool {pool:?} does not admit this Service (its serviceAllocation selects other namespaces or Services)"
    )]
    PoolNotAllowed {
        /// The pool.
        pool: String,
    },
    /// Every pool the Service may use is out of addresses of a family.
    #[error("no free {family} address left in {}", PoolList(pools))]
    PoolExhausted {
        /// The family that ran out.
        family: IpFamily,
        /// The pools tried, in the order tried.
        pools: Vec<String>,
    },
    /// No pool the Service may use has addresses of the family it needs.
    #[error("{}", no_pool_for_family(*family, pools))]
    NoPoolForFamily {
        /// The family.
        family: IpFamily,
        /// The pools the Service may use (auto-assign pools, or the one it pins).
        pools: Vec<String>,
    },
    /// An IP lies in no address pool.
    #[error("{ip} is not in any address pool")]
    NotInAnyPool {
        /// The IP.
        ip: IpAddr,
    },
    /// An IP lies in a pool other than the one the Service pins.
    #[error("{ip} is in address pool {actual:?}, but the Service is pinned to pool {pool:?}")]
    NotInPinnedPool {
        /// The IP.
        ip: IpAddr,
        /// The pinned pool.
        pool: String,
        /// The pool the IP belongs to.
        actual: String,
    },
    /// An IPv4 address ending in .0 or .255 in a pool with avoid-buggy-ips.
    #[error("{ip} ends in .0 or .255, which address pool {pool:?} never hands out (avoid-buggy-ips is set)")]
    AvoidedAddress {
        /// The IP.
        ip: IpAddr,
        /// Its pool.
        pool: String,
    },
    /// A Service's IPs would come from two pools; all of a Service's IPs come from one pool.
    #[error(
        "{ip} is in address pool {pool:?} but {other_ip} is in pool {other_pool:?}; \
         a Service's addresses must all come from one pool"
    )]
    SplitAcrossPools {
        /// The IP that does not fit.
        ip: IpAddr,
        /// Its pool.
        pool: String,
        /// The Service's other IP.
        other_ip: IpAddr,
        /// That IP's pool.
        other_pool: String,
    },
    /// A Service would hold two IPs of one family.
    #[error("{ip} would be a second {family} address; a Service has at most one address per family")]
    DuplicateFamily {
        /// The extra IP.
        ip: IpAddr,
        /// Its family.
        family: IpFamily,
    },
    /// The IP is used by other Services and one side has no sharing key.
    #[error(
        "{ip} is already in use by {}; to share an IP, every Service on it needs the same \
         allow-shared-ip key",
        ServiceList(by)
    )]
    IpInUse {
        /// The IP.
        ip: IpAddr,
        /// The Services using it.
        by: Vec<ServiceKey>,
    },
    /// Both sides allow sharing, but a sharing rule forbids this pair.
    #[error("{ip} cannot be shared with {with}: {rule}")]
    SharingConflict {
        /// The IP.
        ip: IpAddr,
        /// The Service it conflicts with.
        with: ServiceKey,
        /// The rule that fails.
        rule: SharingRule,
    },
    /// RequireDualStack cannot be met.
    #[error("RequireDualStack cannot be satisfied: {reason}")]
    DualStackUnsatisfiable {
        /// Why.
        reason: DualStackFailure,
    },
    /// The request contradicts itself.
    #[error("invalid request: {problem}")]
    InvalidRequest {
        /// What is wrong.
        problem: RequestProblem,
    },
}

impl AllocError {
    /// A stable, low-cardinality label for failure counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            AllocError::UnknownPool { .. } => "unknown_pool",
            AllocError::PoolNotAllowed { .. } => "pool_not_allowed",
            AllocError::PoolExhausted { .. } => "pool_exhausted",
            AllocError::NoPoolForFamily { .. } => "no_pool_for_family",
            AllocError::NotInAnyPool { .. } => "not_in_any_pool",
            AllocError::NotInPinnedPool { .. } => "not_in_pinned_pool",
            AllocError::AvoidedAddress { .. } => "avoided_address",
            AllocError::SplitAcrossPools { .. } => "split_across_pools",
            AllocError::DuplicateFamily { .. } => "duplicate_family",
            AllocError::IpInUse { .. } => "ip_in_use",
            AllocError::SharingConflict { .. } => "sharing_conflict",
            AllocError::DualStackUnsatisfiable { .. } => "dual_stack_unsatisfiable",
            AllocError::InvalidRequest { .. } => "invalid_request",
        }
    }
}

/// The sharing rule that keeps two Services off one IP. It describes the other Service (the one already
/// on the IP); the Service being assigned knows its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SharingRule {
    /// Their sharing keys differ.
    DifferentKey {
        /// The other Service's key.
        theirs: String,
    },
    /// Both expose this `(protocol, port)`.
    PortOverlap {
        /// The port.
        port: Port,
    },
    /// Their traffic policies or selectors differ.
    DifferentBackend {
        /// The other Service's backend key.
        theirs: BackendKey,
    },
}

impl fmt::Display for SharingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharingRule::DifferentKey { theirs } => {
                write!(f, "its allow-shared-ip key is {theirs:?}, a different one")
            }
            SharingRule::PortOverlap { port } => write!(f, "both Services use port {port}"),
            SharingRule::DifferentBackend { theirs } => write!(
                f,
                "Services sharing an IP need the same traffic policy and selector, and it has {theirs}"
            ),
        }
    }
}

/// Why RequireDualStack cannot be met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DualStackFailure {
    /// No pool the Service may use has addresses of both families.
    NoPoolWithBothFamilies {
        /// The pools the Service may use.
        pools: Vec<String>,
    },
    /// Every pool with both families is out of addresses of `family`.
    Exhausted {
        /// The family that ran out.
        family: IpFamily,
        /// The pools with both families, in the order tried.
        pools: Vec<String>,
    },
}

impl fmt::Display for DualStackFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DualStackFailure::NoPoolWithBothFamilies { pools } if pools.is_empty() => {
                f.write_str("no address pool may be used by this Service")
            }
            DualStackFailure::NoPoolWithBothFamilies { pools } => write!(
                f,
                "no address pool this Service may use has both IPv4 and IPv6 addresses (pools: {})",
                Quoted(pools)
            ),
            DualStackFailure::Exhausted { family, pools } => {
                write!(f, "no free {family} address left in {}", PoolList(pools))
            }
        }
    }
}

/// A request that contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestProblem {
    /// More than two requested IPs.
    TooManyIps {
        /// How many were requested.
        count: usize,
    },
    /// Two requested IPs of one family.
    TwoIpsOfFamily {
        /// The family.
        family: IpFamily,
    },
    /// A requested IP of a family the policy does not allow.
    FamilyNotAllowed {
        /// The IP.
        ip: IpAddr,
        /// The Service's primary family.
        primary: IpFamily,
    },
    /// SingleStack with two requested IPs.
    TwoIpsForSingleStack,
    /// RequireDualStack with fewer than one requested IP per family.
    DualStackNeedsTwoIps,
}

impl fmt::Display for RequestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestProblem::TooManyIps { count } => {
                write!(
                    f,
                    "{count} IPs requested; at most two (one per family) are allowed"
                )
            }
            RequestProblem::TwoIpsOfFamily { family } => {
                write!(
                    f,
                    "two {family} addresses requested; request at most one per family"
                )
            }
            RequestProblem::FamilyNotAllowed { ip, primary } => write!(
                f,
                "{ip} was requested but this {} Service is {primary}",
                IpFamilyPolicy::SingleStack
            ),
            RequestProblem::TwoIpsForSingleStack => {
                write!(
                    f,
                    "two IPs requested for a {} Service",
                    IpFamilyPolicy::SingleStack
                )
            }
            RequestProblem::DualStackNeedsTwoIps => write!(
                f,
                "a {} Service that requests IPs must request one IPv4 and one IPv6 address",
                IpFamilyPolicy::RequireDualStack
            ),
        }
    }
}

/// Why a set of pools was refused. Nothing changes when `set_pools` returns one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolsError {
    /// A pool without a name.
    #[error("address pool #{index} has no name")]
    EmptyName {
        /// Its position (0-based) in the list.
        index: usize,
    },
    /// Two pools with one name.
    #[error("address pool {name:?} is defined twice")]
    DuplicateName {
        /// The name.
        name: String,
    },
    /// A range whose ends are of different families.
    #[error("address pool {pool:?}, range #{index} ({range}): both ends must be of the same IP family")]
    MixedFamilies {
        /// The pool.
        pool: String,
        /// The range's position (0-based).
        index: usize,
        /// The range, as `start-end`.
        range: String,
    },
    /// A range whose start is above its end.
    #[error("address pool {pool:?}, range #{index} ({range}): the start is above the end")]
    Reversed {
        /// The pool.
        pool: String,
        /// The range's position (0-based).
        index: usize,
        /// The range, as `start-end`.
        range: String,
    },
    /// Two ranges share addresses.
    #[error("address pool {pool:?} range {range} overlaps pool {other_pool:?} range {other_range}")]
    Overlap {
        /// One pool.
        pool: String,
        /// Its range, as `start-end`.
        range: String,
        /// The other pool (may be the same pool).
        other_pool: String,
        /// The other range.
        other_range: String,
    },
}

impl PoolsError {
    /// A stable, low-cardinality label for failure counters.
    pub fn metric_label(&self) -> &'static str {
        match self {
            PoolsError::EmptyName { .. } => "empty_pool_name",
            PoolsError::DuplicateName { .. } => "duplicate_pool_name",
            PoolsError::MixedFamilies { .. } => "mixed_family_range",
            PoolsError::Reversed { .. } => "reversed_range",
            PoolsError::Overlap { .. } => "overlapping_ranges",
        }
    }
}

fn no_pool_for_family(family: IpFamily, pools: &[String]) -> String {
    if pools.is_empty() {
        format!("no address pool may be used for {family} (no pool has auto-assign enabled)")
    } else {
        format!(
            "no address pool this Service may use has {family} addresses (pools: {})",
            Quoted(pools)
        )
    }
}

struct PoolList<'a>(&'a [String]);

impl fmt::Display for PoolList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("any address pool"),
            [one] => write!(f, "address pool {one:?}"),
            many => write!(f, "address pools {}", Quoted(many)),
        }
    }
}

struct Quoted<'a>(&'a [String]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p:?}")?;
        }
        Ok(())
    }
}

struct ServiceList<'a>(&'a [ServiceKey]);

impl fmt::Display for ServiceList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(if i + 1 == n { " and " } else { ", " })?;
            }
            write!(f, "Service {s}")?;
        }
        Ok(())
    }
}
