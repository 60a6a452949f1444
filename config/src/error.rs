//! Config errors and warnings. Every error names the object holding the culprit when it is known (the
//! ConfigMap, a resource), the path inside it (`address-pools[2].addresses[0]`), the value as written (never a
//! password), the line in the config text when known, and what is wrong.

use std::fmt;
use std::net::IpAddr;

use crate::model::Protocol;

/// What is wrong with one value of the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not YAML.
    #[error("not valid YAML: {message}")]
    Yaml {
        /// The YAML parser's message.
        message: String,
    },
    /// A key the schema does not know.
    #[error("unknown key{}", did_you_mean(suggestion.as_deref()))]
    UnknownKey {
        /// The closest known key, if any is close.
        suggestion: Option<String>,
    },
    /// A key given twice in one mapping.
    #[error("duplicate key (also given on line {first_line})")]
    DuplicateKey {
        /// Line of the first occurrence (0 when unknown).
        first_line: u64,
    },
    /// A required key is absent (or null).
    #[error("missing required key")]
    MissingKey,
    /// The value has the wrong YAML type.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// What the schema wants ("a string", "a list", …).
        expected: &'static str,
        /// What the text has.
        found: &'static str,
    },
    /// An empty string or list where one is not allowed.
    #[error("must not be empty")]
    Empty,
    /// A number outside its allowed range.
    #[error("must be between {min} and {max}")]
    OutOfRange {
        /// Smallest allowed value.
        min: u64,
        /// Largest allowed value.
        max: u64,
    },
    /// `protocol` is neither `layer2` nor `bgp`.
    #[error("unknown protocol, expected layer2 or bgp{}", did_you_mean(suggestion.as_deref()))]
    UnknownProtocol {
        /// The closest protocol name, if close.
        suggestion: Option<String>,
    },
    /// An `addresses` entry that is neither a CIDR nor a `start-end` range.
    #[error("not a CIDR or an address range (write e.g. 192.0.2.0/24 or 192.0.2.10-192.0.2.20)")]
    MalformedAddresses,
    /// A single address without a prefix length.
    #[error("a single address needs a prefix length: write {suggestion}")]
    BareAddress {
        /// The address as a host CIDR (`/32` or `/128`).
        suggestion: String,
    },
    /// A CIDR whose address or prefix length is invalid.
    #[error("invalid CIDR: {reason}")]
    InvalidCidr {
        /// What is wrong with it.
        reason: String,
    },
    /// A range bound that is not an IP address.
    #[error("invalid range: {bound:?} is not an IP address")]
    InvalidRangeBound {
        /// The offending bound.
        bound: String,
    },
    /// A range whose end comes before its start.
    #[error("range end {end} is before its start {start}")]
    RangeEndBeforeStart {
        /// First address.
        start: IpAddr,
        /// Last address.
        end: IpAddr,
    },
    /// A range with one IPv4 and one IPv6 bound.
    #[error("range mixes IPv4 and IPv6 ({start} - {end})")]
    MixedFamilies {
        /// First address.
        start: IpAddr,
        /// Last address.
        end: IpAddr,
    },
    /// Two address entries (in one pool or two) share addresses.
    #[error("pool {pool:?} overlaps pool {other_pool:?} ({other_path} = {other_value}) on {overlap}")]
    Overlap {
        /// The pool holding this entry.
        pool: String,
        /// The pool holding the other entry (may be the same pool).
        other_pool: String,
        /// Path of the other entry.
        other_path: String,
        /// The other entry as written.
        other_value: String,
        /// The addresses both contain, as a CIDR or a `start-end` range.
        overlap: String,
    },
    /// Not an IP address.
    #[error("not an IP address")]
    InvalidIp,
    /// Not an IPv4 address (router-id).
    #[error("not an IPv4 address")]
    NotIpv4,
    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`).
    #[error("IPv4-mapped IPv6 addresses are not accepted; write the IPv4 address")]
    MappedIpv4,
    /// `source-address` and `peer-address` of different families.
    #[error("source-address is IPv{source_version} but peer-address {peer} is IPv{peer_version}")]
    FamilyMismatch {
        /// The peer address.
        peer: IpAddr,
        /// 4 or 6.
        source_version: u8,
        /// 4 or 6.
        peer_version: u8,
    },
    /// A malformed Go-style duration (`90s`, `1m30s`).
    #[error("invalid duration: {reason} (write e.g. 90s or 1m30s)")]
    InvalidDuration {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `hold-time` neither 0 nor at least 3 s.
    #[error("hold-time must be 0 (no hold timer) or at least 3s")]
    HoldTimeTooShort {
        /// The hold time in whole seconds.
        seconds: u64,
    },
    /// `hold-time` beyond what the BGP OPEN message carries.
    #[error("hold-time must be at most 65535s (BGP carries it in 16 bits)")]
    HoldTimeTooLong,
    /// `keepalive-time` not shorter than `hold-time`.
    #[error("keepalive-time must be shorter than hold-time ({hold_seconds}s)")]
    KeepaliveNotBelowHold {
        /// The peer's hold time in seconds.
        hold_seconds: u64,
    },
    /// `keepalive-time` set while `hold-time` is 0 (RFC 4271: no keepalives then).
    #[error("keepalive-time must be 0 when hold-time is 0 (no keepalives are sent then)")]
    KeepaliveWithoutHold,
    /// `keepalive-time` 0 while `hold-time` is not: the session would expire.
    #[error("keepalive-time 0 sends no keepalives, so the peer's hold timer ({hold_seconds}s) would expire")]
    KeepaliveZero {
        /// The peer's hold time in seconds.
        hold_seconds: u64,
    },
    /// `ebgp-multihop` on an iBGP peer (`peer-asn` equal to `my-asn`), as MetalLB rejects it.
    #[error("ebgp-multihop applies to eBGP peers only; this peer is iBGP (peer-asn equals my-asn {asn})")]
    MultihopForIbgp {
        /// The shared ASN.
        asn: u32,
    },
    /// A TCP MD5 password longer than the kernel accepts.
    #[error("password is {len} bytes; TCP MD5 keys hold at most 80")]
    PasswordTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// `bfd-profile` names no profile under `bfd-profiles`.
    #[error("unknown bfd-profile{}", did_you_mean(suggestion.as_deref()))]
    UnknownBfdProfile {
        /// The closest profile name, if close.
        suggestion: Option<String>,
    },
    /// A name (pool, BFD profile, community alias) that could not be referred to reliably.
    #[error("invalid name: {reason}")]
    InvalidName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A name (pool, BFD profile) used twice.
    #[error("duplicate name (first used at {first})")]
    DuplicateName {
        /// Path of the first use.
        first: String,
    },
    /// Two peers with the same address, port, source address and node selectors.
    #[error("duplicate peer: same peer-address, peer-port, source-address and node-selectors as {first}")]
    DuplicatePeer {
        /// Path of the first peer.
        first: String,
    },
    /// A value given twice in a list that must not repeat.
    #[error("duplicate value (first given at {first})")]
    DuplicateValue {
        /// Path of the first occurrence.
        first: String,
    },
    /// A malformed community value.
    #[error("invalid community: {reason}")]
    InvalidCommunity {
        /// What is wrong with it.
        reason: String,
    },
    /// A community name that is neither an alias, a literal nor a well-known name.
    #[error(
        "unknown community (not an alias of bgp-communities or of a Community resource, nor a well-known name){}",
        did_you_mean(suggestion.as_deref())
    )]
    UnknownCommunity {
        /// The closest alias or well-known name, if close.
        suggestion: Option<String>,
    },
    /// An aggregation length shorter than the prefix of one of the pool's CIDRs.
    #[error(
        "{key} {length} is shorter than the prefix {cidr} of this pool (from {address_path}); \
         the aggregate would cover addresses outside the pool"
    )]
    AggregationTooShort {
        /// `aggregation-length` or `aggregation-length-v6`.
        key: &'static str,
        /// The aggregation length.
        length: u8,
        /// The pool CIDR (or the range's CIDR) it cannot cover.
        cidr: String,
        /// That CIDR's prefix length.
        prefix_len: u8,
        /// Path of the address entry.
        address_path: String,
    },
    /// A pool key that only applies to the other protocol.
    #[error("only valid in a {protocol} pool")]
    WrongProtocol {
        /// The protocol the key belongs to.
        protocol: Protocol,
    },
    /// A label selector operator other than In, NotIn, Exists, DoesNotExist.
    #[error("invalid operator, expected In, NotIn, Exists or DoesNotExist{}", did_you_mean(suggestion.as_deref()))]
    InvalidOperator {
        /// The closest operator, if close.
        suggestion: Option<String>,
    },
    /// In/NotIn without values.
    #[error("operator {operator} needs at least one value")]
    ValuesRequired {
        /// The operator.
        operator: &'static str,
    },
    /// Exists/DoesNotExist with values.
    #[error("operator {operator} takes no values")]
    ValuesForbidden {
        /// The operator.
        operator: &'static str,
    },
    /// A label key that Kubernetes would reject.
    #[error("invalid label key: {reason}")]
    InvalidLabelKey {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A label value that Kubernetes would reject.
    #[error("invalid label value: {reason}")]
    InvalidLabelValue {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A network interface name Linux would reject.
    #[error("invalid interface name: {reason}")]
    InvalidInterfaceName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The ConfigMap has no key holding the config text.
    #[error("the ConfigMap has no key {key:?}")]
    MissingConfigKey {
        /// The key looked for.
        key: String,
    },
    /// A name used by another object of the same kind (another namespace, or the other format).
    #[error("name already used by {other}")]
    NameTaken {
        /// The other object, and where in it.
        other: String,
    },
    /// An address entry sharing addresses with an entry of another object.
    #[error("overlaps {other} ({other_path} = {other_value}) on {overlap}")]
    OverlapWith {
        /// The other object.
        other: String,
        /// Path of the other entry.
        other_path: String,
        /// The other entry as written.
        other_value: String,
        /// The addresses both contain.
        overlap: String,
    },
    /// A field MetalLB documents that ferrolb cannot honour; the configuration is refused rather than
    /// half-applied.
    #[error("not supported by ferrolb: {reason}")]
    Unsupported {
        /// Why, and what to write instead.
        reason: &'static str,
    },
    /// Two fields of which at most one may be given.
    #[error("cannot be given together with {other}")]
    MutuallyExclusive {
        /// The other field.
        other: &'static str,
    },
    /// `passwordSecret` names a Secret that does not exist.
    #[error(
        "Secret {secret} not found (it must be a kubernetes.io/basic-auth Secret in the peer's namespace)"
    )]
    SecretNotFound {
        /// `namespace/name`.
        secret: String,
    },
    /// `passwordSecret` names a Secret in another namespace than the peer's.
    #[error("the Secret must be in the peer's namespace {namespace}")]
    SecretOtherNamespace {
        /// The peer's namespace.
        namespace: String,
    },
    /// The Secret is not of type `kubernetes.io/basic-auth`.
    #[error("Secret {secret} has type {found:?}; it must be kubernetes.io/basic-auth")]
    SecretWrongType {
        /// `namespace/name`.
        secret: String,
        /// Its type.
        found: String,
    },
    /// The Secret has no usable `password` key.
    #[error("Secret {secret}: {reason}")]
    SecretPassword {
        /// `namespace/name`.
        secret: String,
        /// What is wrong with its `password` key.
        reason: &'static str,
    },
    /// `serviceSelectors` on a BGP advertisement that aggregates (MetalLB's rule).
    #[error(
        "serviceSelectors need host routes: {key} must be left at its default ({default}), not {length}; \
         an aggregated route carries the addresses of other Services too"
    )]
    ServiceSelectorsWithAggregation {
        /// `aggregationLength` or `aggregationLengthV6`.
        key: &'static str,
        /// The length given.
        length: u8,
        /// 32 or 128.
        default: u8,
    },
    /// Two BGP advertisements that would send one prefix of a pool to one peer from one node with different
    /// LOCAL_PREF values (MetalLB's `validateBGPAdvPerPool`).
    #[error(
        "localPref {local_pref} conflicts with localPref {other_local_pref} of {other} for pool {pool:?}: \
         both send the same prefixes to the same peers from the same nodes, and a BGP route carries one \
         LOCAL_PREF (give them different aggregation lengths, peers or nodeSelectors, or the same localPref)"
    )]
    LocalPrefConflict {
        /// The other advertisement.
        other: String,
        /// The pool both select.
        pool: String,
        /// This advertisement's (`none` when not given).
        local_pref: String,
        /// The other's.
        other_local_pref: String,
    },
    /// A value outside a fixed set.
    #[error("must be one of: {allowed}")]
    NotOneOf {
        /// The values allowed, as written.
        allowed: &'static str,
    },
    /// A duration that must be whole seconds.
    #[error("must be a whole number of seconds")]
    NotWholeSeconds,
    /// An object that is not one of the configuration kinds (or versions) ferrolb reads.
    #[error(
        "{api_version} {kind} is not a configuration kind ferrolb reads (metallb.io/v1beta1 IPAddressPool, \
         L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile, Community; metallb.io/v1beta2 BGPPeer){hint}"
    )]
    UnknownKind {
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
        /// What to use instead, when known.
        hint: &'static str,
    },
    /// Every configuration object was deleted: the last valid configuration stays in force.
    #[error(
        "deleted; the last valid configuration stays in force and nothing is withdrawn \
         (to remove every pool, apply a configuration without pools)"
    )]
    SourceDeleted,
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default()
}

impl ErrorKind {
    /// A short stable label for metrics (`ferrolb_config_errors_total{reason=...}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Yaml { .. } => "yaml",
            Self::UnknownKey { .. } => "unknown_key",
            Self::DuplicateKey { .. } => "duplicate_key",
            Self::MissingKey => "missing_key",
            Self::WrongType { .. } => "wrong_type",
            Self::Empty => "empty",
            Self::OutOfRange { .. } => "out_of_range",
            Self::UnknownProtocol { .. } => "unknown_protocol",
            Self::MalformedAddresses
            | Self::BareAddress { .. }
            | Self::InvalidCidr { .. }
            | Self::InvalidRangeBound { .. }
            | Self::RangeEndBeforeStart { .. }
            | Self::MixedFamilies { .. } => "invalid_addresses",
            Self::Overlap { .. } => "overlap",
            Self::InvalidIp | Self::NotIpv4 | Self::MappedIpv4 | Self::FamilyMismatch { .. } => "invalid_ip",
            Self::InvalidDuration { .. }
            | Self::HoldTimeTooShort { .. }
            | Self::HoldTimeTooLong
            | Self::KeepaliveNotBelowHold { .. }
            | Self::KeepaliveWithoutHold
            | Self::KeepaliveZero { .. } => "invalid_timer",
            Self::PasswordTooLong { .. } => "password_too_long",
            Self::MultihopForIbgp { .. } => "multihop_for_ibgp",
            Self::UnknownBfdProfile { .. } => "unknown_bfd_profile",
            Self::DuplicateName { .. } | Self::DuplicatePeer { .. } | Self::DuplicateValue { .. } => {
                "duplicate"
            }
            Self::InvalidCommunity { .. } | Self::UnknownCommunity { .. } => "invalid_community",
            Self::AggregationTooShort { .. } => "aggregation_too_short",
            Self::WrongProtocol { .. } => "wrong_protocol",
            Self::InvalidOperator { .. }
            | Self::ValuesRequired { .. }
            | Self::ValuesForbidden { .. }
            | Self::InvalidLabelKey { .. }
            | Self::InvalidLabelValue { .. } => "invalid_selector",
            Self::InvalidName { .. } => "invalid_name",
            Self::InvalidInterfaceName { .. } => "invalid_interface",
            Self::MissingConfigKey { .. } => "missing_config_key",
            Self::NameTaken { .. } => "duplicate",
            Self::OverlapWith { .. } => "overlap",
            Self::Unsupported { .. } | Self::UnknownKind { .. } => "unsupported",
            Self::MutuallyExclusive { .. } => "conflicting_fields",
            Self::SecretNotFound { .. }
            | Self::SecretOtherNamespace { .. }
            | Self::SecretWrongType { .. }
            | Self::SecretPassword { .. } => "secret",
            Self::ServiceSelectorsWithAggregation { .. } => "service_selectors_with_aggregation",
            Self::LocalPrefConflict { .. } => "local_pref_conflict",
            Self::NotWholeSeconds => "invalid_timer",
            Self::NotOneOf { .. } => "wrong_type",
            Self::SourceDeleted => "source_deleted",
        }
    }
}

/// A Kubernetes object holding configuration (`ConfigMap ferrolb-system/config`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// Its kind (`ConfigMap`, `IPAddressPool`, …).
    pub kind: String,
    /// Its namespace (empty for cluster-scoped objects).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ObjectRef {
    /// A namespaced object.
    pub fn new(kind: impl Into<String>, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One error: where, what was written, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The object holding the culprit, when known (not for bare config text).
    pub object: Option<ObjectRef>,
    /// Path of the culprit, e.g. `address-pools[2].addresses[0]`; empty for the whole document.
    pub path: String,
    /// The offending value as written, when it is a scalar (never a password).
    pub value: Option<String>,
    /// 1-based line in the config text, when known.
    pub line: Option<u64>,
    /// What is wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        write_entry(f, &self.path, self.value.as_deref(), self.line, &self.kind)
    }
}

impl ConfigError {
    /// The same error, located in `object`.
    pub fn in_object(mut self, object: &ObjectRef) -> Self {
        self.object = Some(object.clone());
        self
    }

    /// An error about a whole object (no path inside it).
    pub fn object(object: ObjectRef, kind: ErrorKind) -> Self {
        Self {
            object: Some(object),
            path: String::new(),
            value: None,
            line: None,
            kind,
        }
    }
}

impl std::error::Error for ConfigError {}

fn write_entry(
    f: &mut fmt::Formatter<'_>,
    path: &str,
    value: Option<&str>,
    line: Option<u64>,
    what: &dyn fmt::Display,
) -> fmt::Result {
    f.write_str(if path.is_empty() { "config" } else { path })?;
    if let Some(value) = value {
        write!(f, " = {value:?}")?;
    }
    write!(f, ": {what}")?;
    if let Some(line) = line {
        write!(f, " (line {line})")?;
    }
    Ok(())
}

/// Every error found in a config, in the order of the text (errors without a line last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// The errors, ordered by object, then by line (errors without a line last in their object).
    pub fn new(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by(|a, b| {
            (&a.object, a.line.unwrap_or(u64::MAX)).cmp(&(&b.object, b.line.unwrap_or(u64::MAX)))
        });
        Self(errors)
    }

    /// The errors.
    pub fn as_slice(&self) -> &[ConfigError] {
        &self.0
    }

    /// The errors, owned.
    pub fn into_vec(self) -> Vec<ConfigError> {
        self.0
    }

    /// How many errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for an `Err` returned by [`crate::parse`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Something accepted (as MetalLB accepted it) that is probably not what was meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A CIDR with host bits set; like MetalLB, the whole network is used.
    #[error("host bits are set; the pool uses the whole network {network}")]
    HostBitsSet {
        /// The network actually used.
        network: String,
    },
    /// A timer that is not whole seconds; BGP timers are, so it was rounded down.
    #[error("BGP timers are whole seconds; rounded down to {seconds}s")]
    RoundedDown {
        /// The value used.
        seconds: u64,
    },
    /// `avoid-buggy-ips` on a pool without IPv4 addresses does nothing.
    #[error("avoid-buggy-ips only affects IPv4 addresses and this pool has none")]
    AvoidBuggyIpsWithoutIpv4,
    /// A value given twice in a list where it means nothing more the second time (MetalLB accepts it); the
    /// repetition is ignored.
    #[error("repeats {first}; ignored (it adds nothing)")]
    Repeated {
        /// Where it was first given.
        first: String,
    },
    /// A reference to an object that does not exist; as in MetalLB it selects nothing (the object may be
    /// created later).
    #[error("no {kind} has this name: it selects nothing until one is created (as in MetalLB)")]
    UnknownReference {
        /// `IPAddressPool` or `BGPPeer`.
        kind: &'static str,
    },
}

/// A warning: the config is valid, but this looks unintended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The object holding the value, when known.
    pub object: Option<ObjectRef>,
    /// Path of the value.
    pub path: String,
    /// The value as written.
    pub value: Option<String>,
    /// 1-based line in the config text, when known.
    pub line: Option<u64>,
    /// What looks wrong.
    pub kind: WarningKind,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        write_entry(f, &self.path, self.value.as_deref(), self.line, &self.kind)
    }
}
