//! A [`Config`] written as `metallb.io` resources (multi-document YAML), what `ferrolb import-metallb` prints
//! for a legacy ConfigMap — the direction of MetalLB's `configmaptocrs`, with the same object names
//! (`l2advertisement<N>`, `bgpadvertisement<N>`, `peer<N>`, one `Community` named `communities`).
//!
//! Invariant (a property test checks it): for every config `c` that [`crate::parse`] returns,
//! `load_file(&render_resources(&with_object_names(&c).0, ns)?)` gives `with_object_names(&c).0` back, up to
//! the order of objects (resources are ordered by name). Values equal to MetalLB's defaults are left out;
//! everything ferrolb means differently from MetalLB's default is written out (`enableGracefulRestart: true`
//! for a legacy peer, whose sessions always have it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::address::AddressRange;
use crate::model::{
    BfdProfile, BgpAdvertisement, Config, DEFAULT_AGGREGATION_LENGTH, DEFAULT_AGGREGATION_LENGTH_V6,
    DEFAULT_BFD_DETECT_MULTIPLIER, DEFAULT_BFD_ECHO_INTERVAL_MS, DEFAULT_BFD_INTERVAL_MS,
    DEFAULT_BFD_MINIMUM_TTL, DEFAULT_PEER_PORT, L2Advertisement, PasswordSource, Peer, Pool,
    PreferredNodeSelector, ServiceAllocation,
};
use crate::selector::LabelSelector;

/// Why a configuration cannot be written as resources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the metallb.io resources cannot express this: {0}")]
pub struct NotExpressible(pub String);

/// An object renamed to a Kubernetes object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// `IPAddressPool`, `BFDProfile`, …
    pub kind: &'static str,
    /// The name in the configuration.
    pub from: String,
    /// The object's name.
    pub to: String,
}

/// The configuration with every object name a Kubernetes object name (a DNS-1123 subdomain), as
/// `configmaptocrs` ≥ v0.13.11 makes them (lower case, `_` and other characters to `-`; a number is added
/// when two names would meet), references followed; and the renames, for the operator (a Service naming a
/// renamed pool in its annotation must be changed).
pub fn with_object_names(config: &Config) -> (Config, Vec<Rename>) {
    let mut out = config.clone();
    let mut renames = Vec::new();
    let mut rename = |kind: &'static str, names: Vec<String>| -> BTreeMap<String, String> {
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let mut map = BTreeMap::new();
        // Valid names keep theirs; the others take what is left.
        for name in names.iter().filter(|n| is_object_name(n)) {
            taken.insert(name.clone());
        }
        for name in names {
            if is_object_name(&name) {
                continue;
            }
            let base = object_name(&name);
            let mut candidate = base.clone();
            let mut n = 2;
            while taken.contains(&candidate) {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            taken.insert(candidate.clone());
            renames.push(Rename {
                kind,
                from: name.clone(),
                to: candidate.clone(),
            });
            map.insert(name, candidate);
        }
        map
    };
    let pools = rename(
        "IPAddressPool",
        config.pools.iter().map(|p| p.name.clone()).collect(),
    );
    let bfd = rename(
        "BFDProfile",
        config.bfd_profiles.iter().map(|b| b.name.clone()).collect(),
    );
    let peers = rename("BGPPeer", config.peers.iter().map(|p| p.name.clone()).collect());
    let l2 = rename(
        "L2Advertisement",
        config.l2_advertisements.iter().map(|a| a.name.clone()).collect(),
    );
    let bgp = rename(
        "BGPAdvertisement",
        config.bgp_advertisements.iter().map(|a| a.name.clone()).collect(),
    );
    let map = |m: &BTreeMap<String, String>, s: &mut String| {
        if let Some(to) = m.get(s) {
            s.clone_from(to);
        }
    };
    for p in &mut out.pools {
        map(&pools, &mut p.name);
    }
    for b in &mut out.bfd_profiles {
        map(&bfd, &mut b.name);
    }
    for p in &mut out.peers {
        map(&peers, &mut p.name);
        if let Some(b) = &mut p.bfd_profile {
            map(&bfd, b);
        }
    }
    for a in &mut out.l2_advertisements {
        map(&l2, &mut a.name);
        a.pools.iter_mut().for_each(|p| map(&pools, p));
    }
    for a in &mut out.bgp_advertisements {
        map(&bgp, &mut a.name);
        a.pools.iter_mut().for_each(|p| map(&pools, p));
        a.peers.iter_mut().for_each(|p| map(&peers, p));
    }
    (out, renames)
}

/// Whether `name` is a Kubernetes object name (DNS-1123 subdomain).
pub fn is_object_name(name: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok)
}

fn object_name(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed: String = mapped
        .split('-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let mut out: String = trimmed.chars().take(240).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { "object".to_owned() } else { out }
}

/// The configuration as resources in `namespace`, one YAML document each (pools, advertisements, peers,
/// BFD profiles, the aliases). Object names must be Kubernetes names (see [`with_object_names`]).
pub fn render_resources(config: &Config, namespace: &str) -> Result<String, NotExpressible> {
    let mut docs: Vec<String> = Vec::new();
    let mut push = |kind: &'static str, name: &str, api_version: &'static str, spec: &dyn erased::Spec| {
        if !is_object_name(name) {
            return Err(NotExpressible(format!(
                "{kind} {name:?}: not a Kubernetes object name"
            )));
        }
        let text = spec.to_yaml(&Meta {
            api_version,
            kind,
            name,
            namespace,
        })?;
        docs.push(text);
        Ok(())
    };
    for pool in &config.pools {
        push("IPAddressPool", &pool.name, V1BETA1, &PoolSpec::from(pool))?;
    }
    for adv in &config.l2_advertisements {
        push("L2Advertisement", &adv.name, V1BETA1, &L2Spec::new(adv)?)?;
    }
    for adv in &config.bgp_advertisements {
        push("BGPAdvertisement", &adv.name, V1BETA1, &BgpSpec::new(adv)?)?;
    }
    for peer in &config.peers {
        push("BGPPeer", &peer.name, V1BETA2, &PeerSpec::new(peer)?)?;
    }
    for bfd in &config.bfd_profiles {
        push("BFDProfile", &bfd.name, V1BETA1, &BfdSpec::new(bfd)?)?;
    }
    if !config.communities.is_empty() {
        let spec = CommunitySpec {
            communities: config
                .communities
                .iter()
                .map(|(name, value)| Alias {
                    name,
                    value: value.to_string(),
                })
                .collect(),
        };
        push("Community", "communities", V1BETA1, &spec)?;
    }
    // The Secrets peers take their passwords from, so that the resources stand on their own.
    let mut secret_docs: Vec<String> = Vec::new();
    let mut secrets: BTreeMap<&str, &str> = BTreeMap::new();
    for peer in &config.peers {
        if let Some(pw) = &peer.password
            && let PasswordSource::Secret { name } = &pw.source
            && secrets
                .insert(name, &pw.value)
                .is_some_and(|other| other != pw.value)
        {
            return Err(NotExpressible(format!("Secret {name}: two passwords")));
        }
    }
    for (name, password) in secrets {
        if !is_object_name(name) {
            return Err(NotExpressible(format!(
                "Secret {name:?}: not a Kubernetes object name"
            )));
        }
        let secret = SecretDoc {
            api_version: "v1",
            kind: "Secret",
            metadata: erased::Metadata { name, namespace },
            type_: "kubernetes.io/basic-auth",
            string_data: BTreeMap::from([("password", password)]),
        };
        let text = serde_saphyr::to_string(&secret)
            .map_err(|e| NotExpressible(format!("YAML output failed: {e}")))?;
        secret_docs.push(text);
    }
    docs.extend(secret_docs);
    Ok(docs.join("---\n"))
}

const V1BETA1: &str = "metallb.io/v1beta1";
const V1BETA2: &str = "metallb.io/v1beta2";

struct Meta<'a> {
    api_version: &'static str,
    kind: &'static str,
    name: &'a str,
    namespace: &'a str,
}

/// Serializing a document whatever its spec type.
mod erased {
    use serde::Serialize;

    use super::{Meta, NotExpressible};

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc<'a, S: Serialize> {
        api_version: &'a str,
        kind: &'a str,
        metadata: Metadata<'a>,
        spec: &'a S,
    }

    #[derive(Serialize)]
    pub(super) struct Metadata<'a> {
        pub(super) name: &'a str,
        pub(super) namespace: &'a str,
    }

    pub(super) trait Spec {
        fn to_yaml(&self, meta: &Meta<'_>) -> Result<String, NotExpressible>;
    }

    impl<S: Serialize> Spec for S {
        fn to_yaml(&self, meta: &Meta<'_>) -> Result<String, NotExpressible> {
            let doc = Doc {
                api_version: meta.api_version,
                kind: meta.kind,
                metadata: Metadata {
                    name: meta.name,
                    namespace: meta.namespace,
                },
                spec: self,
            };
            serde_saphyr::to_string(&doc).map_err(|e| NotExpressible(format!("YAML output failed: {e}")))
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PoolSpec<'a> {
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_assign: Option<bool>,
    #[serde(rename = "avoidBuggyIPs", skip_serializing_if = "is_false")]
    avoid_buggy_ips: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_allocation: Option<AllocationSpec<'a>>,
}

impl<'a> From<&'a Pool> for PoolSpec<'a> {
    fn from(p: &'a Pool) -> Self {
        Self {
            addresses: p.addresses.iter().map(AddressRange::to_string).collect(),
            auto_assign: (!p.auto_assign).then_some(false),
            avoid_buggy_ips: p.avoid_buggy_ips,
            service_allocation: p.service_allocation.as_ref().map(AllocationSpec::from),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AllocationSpec<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    priority: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    namespaces: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    namespace_selectors: Vec<Selector<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    service_selectors: Vec<Selector<'a>>,
}

impl<'a> From<&'a ServiceAllocation> for AllocationSpec<'a> {
    fn from(a: &'a ServiceAllocation) -> Self {
        Self {
            priority: (a.priority != 0).then_some(a.priority),
            namespaces: &a.namespaces,
            namespace_selectors: selectors(&a.namespace_selectors),
            service_selectors: selectors(&a.service_selectors),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector<'a> {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    match_labels: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    match_expressions: Vec<Expression<'a>>,
}

#[derive(Serialize)]
struct Expression<'a> {
    key: &'a str,
    operator: &'static str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    values: &'a [String],
}

fn selector(s: &LabelSelector) -> Selector<'_> {
    Selector {
        match_labels: &s.match_labels,
        match_expressions: s
            .match_expressions
            .iter()
            .map(|e| Expression {
                key: &e.key,
                operator: e.operator.as_str(),
                values: &e.values,
            })
            .collect(),
    }
}

fn selectors(list: &[LabelSelector]) -> Vec<Selector<'_>> {
    list.iter().map(selector).collect()
}

/// An advertisement's pools: by name; an advertisement of no pool cannot be written (no list means all).
fn pool_names<'a>(kind: &str, name: &str, pools: &'a [String]) -> Result<&'a [String], NotExpressible> {
    if pools.is_empty() {
        return Err(NotExpressible(format!(
            "{kind} {name} selects no pool (a resource without ipAddressPools selects every pool)"
        )));
    }
    Ok(pools)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct L2Spec<'a> {
    ip_address_pools: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<Selector<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    interfaces: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    service_selectors: Vec<Selector<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    preferred_node_selectors: Vec<Preference<'a>>,
}

#[derive(Serialize)]
struct Preference<'a> {
    weight: u8,
    preference: Selector<'a>,
}

impl<'a> L2Spec<'a> {
    fn new(a: &'a L2Advertisement) -> Result<Self, NotExpressible> {
        Ok(Self {
            ip_address_pools: pool_names("L2Advertisement", &a.name, &a.pools)?,
            node_selectors: selectors(&a.node_selectors),
            interfaces: &a.interfaces,
            service_selectors: selectors(&a.service_selectors),
            preferred_node_selectors: a
                .preferred_node_selectors
                .iter()
                .map(|p: &PreferredNodeSelector| Preference {
                    weight: p.weight,
                    preference: selector(&p.preference),
                })
                .collect(),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BgpSpec<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    aggregation_length: Option<u8>,
    #[serde(rename = "aggregationLengthV6", skip_serializing_if = "Option::is_none")]
    aggregation_length_v6: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_pref: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    communities: Vec<String>,
    ip_address_pools: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<Selector<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    peers: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    service_selectors: Vec<Selector<'a>>,
}

impl<'a> BgpSpec<'a> {
    fn new(a: &'a BgpAdvertisement) -> Result<Self, NotExpressible> {
        if a.local_pref == Some(0) {
            return Err(NotExpressible(format!(
                "BGPAdvertisement {}: localpref 0 (MetalLB's localPref 0 means not given)",
                a.name
            )));
        }
        if a.aggregation_length == 0 {
            return Err(NotExpressible(format!(
                "BGPAdvertisement {}: aggregation-length 0 (the CRD's minimum is 1)",
                a.name
            )));
        }
        Ok(Self {
            aggregation_length: (a.aggregation_length != DEFAULT_AGGREGATION_LENGTH)
                .then_some(a.aggregation_length),
            aggregation_length_v6: (a.aggregation_length_v6 != DEFAULT_AGGREGATION_LENGTH_V6)
                .then_some(a.aggregation_length_v6),
            local_pref: a.local_pref,
            communities: a.communities.iter().map(ToString::to_string).collect(),
            ip_address_pools: pool_names("BGPAdvertisement", &a.name, &a.pools)?,
            node_selectors: selectors(&a.node_selectors),
            peers: &a.peers,
            service_selectors: selectors(&a.service_selectors),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerSpec<'a> {
    #[serde(rename = "myASN")]
    my_asn: u32,
    #[serde(rename = "peerASN")]
    peer_asn: u32,
    peer_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_port: Option<u16>,
    hold_time: String,
    keepalive_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    connect_time: Option<String>,
    #[serde(rename = "routerID", skip_serializing_if = "Option::is_none")]
    router_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_selectors: Vec<Selector<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_secret: Option<SecretRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bfd_profile: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    enable_graceful_restart: bool,
    #[serde(rename = "ebgpMultiHop", skip_serializing_if = "is_false")]
    ebgp_multihop: bool,
    #[serde(skip_serializing_if = "is_false")]
    dual_stack_address_family: bool,
}

#[derive(Serialize)]
struct SecretRef<'a> {
    name: &'a str,
}

impl<'a> PeerSpec<'a> {
    fn new(p: &'a Peer) -> Result<Self, NotExpressible> {
        if p.port > 16_384 {
            return Err(NotExpressible(format!(
                "BGPPeer {}: peer-port {} (MetalLB's BGPPeer CRD allows at most 16384)",
                p.name, p.port
            )));
        }
        let (password, password_secret) = match &p.password {
            None => (None, None),
            Some(pw) => match &pw.source {
                PasswordSource::Inline => (Some(pw.value.as_str()), None),
                PasswordSource::Secret { name } => (None, Some(SecretRef { name })),
            },
        };
        Ok(Self {
            my_asn: p.my_asn,
            peer_asn: p.asn,
            peer_address: p.address.to_string(),
            source_address: p.source_address.map(|a| a.to_string()),
            peer_port: (p.port != DEFAULT_PEER_PORT).then_some(p.port),
            hold_time: format!("{}s", p.hold_time.as_secs()),
            keepalive_time: format!("{}s", p.keepalive_time.as_secs()),
            connect_time: p.connect_time.map(|d| format!("{}s", d.as_secs())),
            router_id: p.router_id.map(|r| r.to_string()),
            node_selectors: selectors(&p.node_selectors),
            password,
            password_secret,
            bfd_profile: p.bfd_profile.as_deref(),
            enable_graceful_restart: p.graceful_restart,
            ebgp_multihop: p.ebgp_multihop,
            dual_stack_address_family: p.dual_stack_address_family,
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BfdSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    receive_interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transmit_interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detect_multiplier: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    echo_interval: Option<u32>,
    #[serde(skip_serializing_if = "is_false")]
    passive_mode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    minimum_ttl: Option<u32>,
}

impl BfdSpec {
    fn new(b: &BfdProfile) -> Result<Self, NotExpressible> {
        if b.echo_mode {
            return Err(NotExpressible(format!(
                "BFDProfile {}: echo-mode (ferrolb refuses echoMode in a BFDProfile: its BFD sends no echo packets)",
                b.name
            )));
        }
        let unless = |v: u32, default: u32| (v != default).then_some(v);
        Ok(Self {
            receive_interval: unless(b.receive_interval_ms, DEFAULT_BFD_INTERVAL_MS),
            transmit_interval: unless(b.transmit_interval_ms, DEFAULT_BFD_INTERVAL_MS),
            detect_multiplier: unless(b.detect_multiplier, DEFAULT_BFD_DETECT_MULTIPLIER),
            echo_interval: unless(b.echo_interval_ms, DEFAULT_BFD_ECHO_INTERVAL_MS),
            passive_mode: b.passive_mode,
            minimum_ttl: unless(b.minimum_ttl, DEFAULT_BFD_MINIMUM_TTL),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecretDoc<'a> {
    api_version: &'static str,
    kind: &'static str,
    metadata: erased::Metadata<'a>,
    #[serde(rename = "type")]
    type_: &'static str,
    string_data: BTreeMap<&'static str, &'a str>,
}

#[derive(Serialize)]
struct CommunitySpec<'a> {
    communities: Vec<Alias<'a>>,
}

#[derive(Serialize)]
struct Alias<'a> {
    name: &'a str,
    value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_read_as_other_types_stay_strings() {
        let mut text = String::from("address-pools:\n");
        let names = [
            "no", "yes", "on", "off", "true", "null", "123", "1e3", "0x10", "y", "n",
        ];
        for (i, name) in names.iter().enumerate() {
            text.push_str(&format!(
                "- {{name: '{name}', protocol: layer2, addresses: [192.0.2.{i}/32]}}\n"
            ));
        }
        let config = crate::parse(&text).unwrap();
        let yaml = render_resources(&config, "ns").unwrap();
        let back = super::super::load_file(&yaml).unwrap().result.unwrap().config;
        let mut want: Vec<&str> = names.to_vec();
        want.sort_unstable();
        let got: Vec<&str> = back.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(got, want, "{yaml}");
        assert!(back.l2_advertisements.iter().all(|a| a.pools.len() == 1));
    }

    #[test]
    fn object_names_as_configmaptocrs_makes_them() {
        assert_eq!(object_name("extra_pool"), "extra-pool");
        assert_eq!(object_name("My Pool!"), "my-pool");
        assert_eq!(object_name("__"), "object");
        let config = crate::parse(
            "address-pools:\n- {name: a_b, protocol: layer2, addresses: [192.0.2.0/28]}\n\
             - {name: a-b, protocol: layer2, addresses: [192.0.2.16/28]}\n",
        )
        .unwrap();
        let (renamed, renames) = with_object_names(&config);
        assert_eq!(renamed.pools[0].name, "a-b-2", "a-b is taken");
        assert_eq!(renamed.l2_advertisements[0].pools, ["a-b-2"]);
        assert_eq!(
            renames,
            [Rename {
                kind: "IPAddressPool",
                from: "a_b".into(),
                to: "a-b-2".into()
            }]
        );
    }
}
