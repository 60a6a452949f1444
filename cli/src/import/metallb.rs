//! MetalLB's custom resources (`metallb.io/v1beta1`, BGPPeer also `v1beta2`), read leniently into plain
//! structs: every value that is missing, of the wrong type or unknown becomes a [`Note`] naming the resource
//! and the field, never a failure of the whole import.
//!
//! Leniency follows what the resources are in the wild: kubespray ≥ v2.22 renders Python booleans (`True`),
//! quoted numbers (`localpref: "100"`), the misspelt `localpref` and `communities:` once per community
//! (METALLB.md §8); they are read for what the operator meant, and each quirk is reported.

use std::collections::BTreeMap;
use std::fmt;

use super::node::Node;

/// Something the import reports about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `Kind namespace/name` (or `document N` before the resource is known).
    pub resource: String,
    /// What could not be expressed, or what was read differently from MetalLB.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.resource, self.message)
    }
}

/// A Kubernetes label selector (`matchLabels`, `matchExpressions`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    /// `matchLabels`.
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`: key, operator, values.
    pub match_expressions: Vec<(String, String, Vec<String>)>,
}

impl LabelSelector {
    /// Whether the selector matches `labels` (an empty selector matches everything).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|(key, op, values)| {
                let value = labels.get(key);
                match op.as_str() {
                    "In" => value.is_some_and(|v| values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

/// The identity of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// `Kind namespace/name`.
    pub id: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
}

/// An `IPAddressPool`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAddressPool {
    /// Identity.
    pub meta: Meta,
    /// `addresses`.
    pub addresses: Vec<String>,
    /// `autoAssign` (default true).
    pub auto_assign: bool,
    /// `avoidBuggyIPs`.
    pub avoid_buggy_ips: bool,
    /// `serviceAllocation.priority`, when given.
    pub priority: Option<i64>,
    /// Whether `serviceAllocation` names namespaces or selectors (which ferrolb cannot express).
    pub restricted: bool,
}

/// The pool selection of an advertisement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolSelection {
    /// `ipAddressPools`.
    pub names: Vec<String>,
    /// `ipAddressPoolSelectors`.
    pub selectors: Vec<LabelSelector>,
}

impl PoolSelection {
    /// Whether `pool` is selected (neither names nor selectors: every pool).
    pub fn selects(&self, pool: &IpAddressPool) -> bool {
        (self.names.is_empty() && self.selectors.is_empty())
            || self.names.contains(&pool.meta.name)
            || self.selectors.iter().any(|s| s.matches(&pool.meta.labels))
    }
}

/// An `L2Advertisement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Advertisement {
    /// Identity.
    pub meta: Meta,
    /// Which pools.
    pub pools: PoolSelection,
    /// `nodeSelectors`.
    pub node_selectors: Vec<LabelSelector>,
    /// `interfaces`.
    pub interfaces: Vec<String>,
}

/// A `BGPAdvertisement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpAdvertisement {
    /// Identity.
    pub meta: Meta,
    /// Which pools.
    pub pools: PoolSelection,
    /// `aggregationLength`.
    pub aggregation_length: Option<u8>,
    /// `aggregationLengthV6`.
    pub aggregation_length_v6: Option<u8>,
    /// `localPref` (or kubespray's `localpref`).
    pub local_pref: Option<u32>,
    /// `communities`: aliases or values, every repeated `communities:` key merged.
    pub communities: Vec<String>,
}

/// A `BGPPeer` (v1beta1 or v1beta2) that ferrolb can express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpPeer {
    /// Identity.
    pub meta: Meta,
    /// `myASN`.
    pub my_asn: u32,
    /// `peerASN`.
    pub peer_asn: u32,
    /// `peerAddress`.
    pub address: String,
    /// `peerPort`.
    pub port: Option<u16>,
    /// `sourceAddress`.
    pub source_address: Option<String>,
    /// `holdTime` (a Go duration).
    pub hold_time: Option<String>,
    /// `keepaliveTime`.
    pub keepalive_time: Option<String>,
    /// `routerID`.
    pub router_id: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `bfdProfile`.
    pub bfd_profile: Option<String>,
    /// `ebgpMultiHop`.
    pub ebgp_multihop: bool,
    /// `nodeSelectors`.
    pub node_selectors: Vec<LabelSelector>,
}

/// A `BFDProfile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdProfile {
    /// Identity.
    pub meta: Meta,
    /// `receiveInterval`, `transmitInterval`, `detectMultiplier`, `echoInterval`, `minimumTtl`.
    pub numbers: BTreeMap<&'static str, u32>,
    /// `echoMode`.
    pub echo_mode: bool,
    /// `passiveMode`.
    pub passive_mode: bool,
}

/// Everything read from the input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resources {
    /// IPAddressPools, in input order.
    pub pools: Vec<IpAddressPool>,
    /// L2Advertisements.
    pub l2: Vec<L2Advertisement>,
    /// BGPAdvertisements.
    pub bgp: Vec<BgpAdvertisement>,
    /// BGPPeers that could be expressed.
    pub peers: Vec<BgpPeer>,
    /// BFDProfiles.
    pub bfd: Vec<BfdProfile>,
    /// Community aliases: name → value, with the resource that defined each.
    pub communities: BTreeMap<String, (String, String)>,
    /// Number of MetalLB configuration resources read.
    pub count: usize,
}

/// Reads fields of one resource, noting every problem against it.
struct Fields<'a> {
    id: &'a str,
    notes: &'a mut Vec<Note>,
}

impl Fields<'_> {
    fn note(&mut self, message: impl Into<String>) {
        self.notes.push(Note {
            resource: self.id.to_owned(),
            message: message.into(),
        });
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<String> {
        match node {
            Node::Null => None,
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            other => {
                self.note(format!("{field}: {} is not a string: ignored", other.brief()));
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, field: &str) -> Option<bool> {
        match node {
            Node::Null => None,
            Node::Bool(b) => Some(*b),
            Node::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Node::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            other => {
                self.note(format!("{field}: {} is not a boolean: ignored", other.brief()));
                None
            }
        }
    }

    fn number<T: TryFrom<i128>>(&mut self, node: &Node, field: &str) -> Option<T> {
        let n = match node {
            Node::Null => return None,
            Node::Int(i) => Some(*i),
            Node::Str(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        match n.and_then(|n| T::try_from(n).ok()) {
            Some(v) => Some(v),
            None => {
                self.note(format!(
                    "{field}: {} is not a number in range: ignored",
                    node.brief()
                ));
                None
            }
        }
    }

    fn strings(&mut self, node: &Node, field: &str) -> Vec<String> {
        match node {
            Node::Null => Vec::new(),
            Node::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.string(n, &format!("{field}[{i}]")))
                .collect(),
            other => {
                self.note(format!("{field}: {} is not a list: ignored", other.brief()));
                Vec::new()
            }
        }
    }

    fn selector(&mut self, node: &Node, field: &str) -> Option<LabelSelector> {
        if !matches!(node, Node::Map(_)) {
            self.note(format!(
                "{field}: {} is not a label selector: ignored",
                node.brief()
            ));
            return None;
        }
        let mut s = LabelSelector::default();
        if let Node::Map(labels) = node.get("matchLabels") {
            for (k, v) in labels {
                if let Some(v) = self.string(v, &format!("{field}.matchLabels.{k}")) {
                    s.match_labels.insert(k.clone(), v);
                }
            }
        }
        for (i, e) in node.get("matchExpressions").items().iter().enumerate() {
            let at = format!("{field}.matchExpressions[{i}]");
            let key = self
                .string(e.get("key"), &format!("{at}.key"))
                .unwrap_or_default();
            let op = self
                .string(e.get("operator"), &format!("{at}.operator"))
                .unwrap_or_default();
            let values = self.strings(e.get("values"), &format!("{at}.values"));
            s.match_expressions.push((key, op, values));
        }
        Some(s)
    }

    fn selectors(&mut self, node: &Node, field: &str) -> Vec<LabelSelector> {
        node.items()
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.selector(n, &format!("{field}[{i}]")))
            .collect()
    }

    /// A Go duration: strings as written; a bare number (kubespray renders `hold_time: 120`) as seconds.
    fn duration(&mut self, node: &Node, field: &str) -> Option<String> {
        match node {
            Node::Int(i) => {
                self.note(format!(
                    "{field}: {i} has no unit (MetalLB's API server refuses it); read as {i}s"
                ));
                Some(format!("{i}s"))
            }
            other => self.string(other, field),
        }
    }

    fn pools(&mut self, spec: &Node) -> PoolSelection {
        PoolSelection {
            names: self.strings(spec.get("ipAddressPools"), "spec.ipAddressPools"),
            selectors: self.selectors(spec.get("ipAddressPoolSelectors"), "spec.ipAddressPoolSelectors"),
        }
    }

    fn not_expressed(&mut self, spec: &Node, field: &str, consequence: &str) {
        let v = spec.get(field);
        let empty = match v {
            Node::Null => true,
            Node::Seq(s) => s.is_empty(),
            Node::Map(m) => m.is_empty(),
            Node::Str(s) => s.is_empty(),
            Node::Bool(b) => !b,
            _ => false,
        };
        if !empty {
            self.note(format!(
                "spec.{field} cannot be expressed in ferrolb's config: {consequence}"
            ));
        }
    }

    fn unknown_fields(&mut self, spec: &Node, known: &[&str]) {
        let mut seen: Vec<&str> = Vec::new();
        for k in spec.keys() {
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            if !known.contains(&k) {
                self.note(format!(
                    "spec.{k} is not a field of this kind (MetalLB's API server drops it): ignored"
                ));
            }
        }
    }
}

/// The kinds this import reads; other `metallb.io` kinds are status or runtime objects.
pub const CONFIG_KINDS: &[&str] = &[
    "IPAddressPool",
    "L2Advertisement",
    "BGPAdvertisement",
    "BGPPeer",
    "BFDProfile",
    "Community",
];

fn meta(doc: &Node, kind: &str) -> Meta {
    let m = doc.get("metadata");
    let name = m.get("name").as_str().unwrap_or_default().to_owned();
    let id = match m.get("namespace").as_str() {
        Some(ns) if !ns.is_empty() => format!("{kind} {ns}/{name}"),
        _ => format!("{kind} {name}"),
    };
    let labels = match m.get("labels") {
        Node::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    };
    Meta { id, name, labels }
}

/// Reads every MetalLB configuration resource among `docs` (a `kind: List` is flattened); everything else is
/// noted and skipped.
pub fn read(docs: &[Node], notes: &mut Vec<Note>) -> Resources {
    let mut out = Resources::default();
    let mut flat: Vec<(usize, &Node)> = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if d.get("kind").as_str() == Some("List") {
            flat.extend(d.get("items").items().iter().map(|n| (i, n)));
        } else if !d.is_null() {
            flat.push((i, d));
        }
    }
    for (i, doc) in flat {
        let kind = doc.get("kind").as_str().unwrap_or_default();
        let api_version = doc.get("apiVersion").as_str().unwrap_or_default();
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        let m = meta(doc, kind);
        if group != "metallb.io" || !CONFIG_KINDS.contains(&kind) {
            let what = if kind.is_empty() {
                format!("document {}", i + 1)
            } else {
                m.id.clone()
            };
            notes.push(Note {
                resource: what,
                message: format!("not a MetalLB configuration resource ({api_version}): ignored"),
            });
            continue;
        }
        if m.name.is_empty() {
            notes.push(Note {
                resource: format!("document {}", i + 1),
                message: format!("{kind} without metadata.name: ignored"),
            });
            continue;
        }
        out.count += 1;
        let spec = doc.get("spec");
        let mut f = Fields { id: &m.id, notes };
        match kind {
            "IPAddressPool" => read_pool(&mut f, spec, m.clone(), &mut out),
            "L2Advertisement" => read_l2(&mut f, spec, m.clone(), &mut out),
            "BGPAdvertisement" => read_bgp_adv(&mut f, spec, m.clone(), &mut out),
            "BGPPeer" => read_peer(&mut f, spec, m.clone(), &mut out),
            "BFDProfile" => read_bfd(&mut f, spec, m.clone(), &mut out),
            _ => read_community(&mut f, spec, &m, &mut out),
        }
    }
    out
}

fn read_pool(f: &mut Fields<'_>, spec: &Node, meta: Meta, out: &mut Resources) {
    f.unknown_fields(
        spec,
        &["addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"],
    );
    let addresses = f.strings(spec.get("addresses"), "spec.addresses");
    if addresses.is_empty() {
        f.note("spec.addresses is empty: the pool is skipped");
        return;
    }
    let alloc = spec.get("serviceAllocation");
    let priority = f.number::<i64>(alloc.get("priority"), "spec.serviceAllocation.priority");
    let restricted = ["namespaces", "namespaceSelectors", "serviceSelectors"]
        .iter()
        .any(|k| !alloc.get(k).items().is_empty());
    out.pools.push(IpAddressPool {
        meta,
        addresses,
        auto_assign: f.bool(spec.get("autoAssign"), "spec.autoAssign").unwrap_or(true),
        avoid_buggy_ips: f
            .bool(spec.get("avoidBuggyIPs"), "spec.avoidBuggyIPs")
            .unwrap_or(false),
        priority,
        restricted,
    });
}

fn read_l2(f: &mut Fields<'_>, spec: &Node, meta: Meta, out: &mut Resources) {
    f.unknown_fields(
        spec,
        &[
            "ipAddressPools",
            "ipAddressPoolSelectors",
            "nodeSelectors",
            "interfaces",
            "serviceSelectors",
            "preferredNodeSelectors",
        ],
    );
    f.not_expressed(
        spec,
        "serviceSelectors",
        "the pools are announced for every Service",
    );
    f.not_expressed(
        spec,
        "preferredNodeSelectors",
        "the announcing node is chosen among all eligible nodes alike",
    );
    let pools = f.pools(spec);
    let node_selectors = f.selectors(spec.get("nodeSelectors"), "spec.nodeSelectors");
    let interfaces = f.strings(spec.get("interfaces"), "spec.interfaces");
    out.l2.push(L2Advertisement {
        meta,
        pools,
        node_selectors,
        interfaces,
    });
}

fn read_bgp_adv(f: &mut Fields<'_>, spec: &Node, meta: Meta, out: &mut Resources) {
    f.unknown_fields(
        spec,
        &[
            "aggregationLength",
            "aggregationLengthV6",
            "localPref",
            "localpref",
            "communities",
            "ipAddressPools",
            "ipAddressPoolSelectors",
            "nodeSelectors",
            "peers",
            "serviceSelectors",
        ],
    );
    f.not_expressed(
        spec,
        "nodeSelectors",
        "every node that peers advertises the pools",
    );
    f.not_expressed(spec, "peers", "the pools are advertised to every peer");
    f.not_expressed(
        spec,
        "serviceSelectors",
        "the pools are advertised for every Service",
    );
    let mut local_pref = f.number::<u32>(spec.get("localPref"), "spec.localPref");
    let misspelt = spec.get("localpref");
    if !misspelt.is_null() {
        let v = f.number::<u32>(misspelt, "spec.localpref");
        if let Some(v) = v {
            f.note(format!(
                "spec.localpref (kubespray's spelling of localPref, which MetalLB's API server dropped, so \
                 MetalLB never sent it): imported as localpref {v}"
            ));
            local_pref = local_pref.or(Some(v));
        }
    }
    let lists: Vec<&Node> = spec.all("communities").collect();
    let mut communities = Vec::new();
    for l in &lists {
        communities.extend(f.strings(l, "spec.communities"));
    }
    if lists.len() > 1 {
        f.note(format!(
            "spec.communities is given {} times (kubespray's template repeats the key per community; MetalLB \
             kept only the last list): all {} communities imported",
            lists.len(),
            communities.len()
        ));
    }
    let pools = f.pools(spec);
    out.bgp.push(BgpAdvertisement {
        meta,
        pools,
        aggregation_length: f.number(spec.get("aggregationLength"), "spec.aggregationLength"),
        aggregation_length_v6: f.number(spec.get("aggregationLengthV6"), "spec.aggregationLengthV6"),
        local_pref,
        communities,
    });
}

fn read_peer(f: &mut Fields<'_>, spec: &Node, meta: Meta, out: &mut Resources) {
    f.unknown_fields(
        spec,
        &[
            "myASN",
            "peerASN",
            "dynamicASN",
            "localASN",
            "peerAddress",
            "interface",
            "sourceAddress",
            "peerPort",
            "holdTime",
            "keepaliveTime",
            "connectTime",
            "routerID",
            "nodeSelectors",
            "password",
            "passwordSecret",
            "bfdProfile",
            "enableGracefulRestart",
            "ebgpMultiHop",
            "vrf",
            "disableMP",
            "dualStackAddressFamily",
        ],
    );
    let skip = |f: &mut Fields<'_>, why: &str| f.note(format!("{why}: the peer is skipped"));
    if !spec.get("vrf").is_null() && spec.get("vrf").as_str() != Some("") {
        return skip(f, "spec.vrf (a session in a VRF) cannot be expressed");
    }
    let Some(address) = f.string(spec.get("peerAddress"), "spec.peerAddress") else {
        if !spec.get("interface").is_null() {
            return skip(f, "spec.interface (unnumbered BGP) cannot be expressed");
        }
        return skip(f, "spec.peerAddress is missing");
    };
    let Some(peer_asn) = f.number::<u32>(spec.get("peerASN"), "spec.peerASN") else {
        if !spec.get("dynamicASN").is_null() {
            return skip(
                f,
                "spec.dynamicASN (the peer's ASN learnt from its OPEN) cannot be expressed",
            );
        }
        return skip(f, "spec.peerASN is missing");
    };
    let Some(my_asn) = f.number::<u32>(spec.get("myASN"), "spec.myASN") else {
        return skip(f, "spec.myASN is missing");
    };
    f.not_expressed(spec, "localASN", "the session uses myASN");
    f.not_expressed(
        spec,
        "connectTime",
        "ferrolb's speaker retries on its own schedule",
    );
    f.not_expressed(
        spec,
        "enableGracefulRestart",
        "not configurable in ferrolb's config (the speaker decides)",
    );
    f.not_expressed(
        spec,
        "disableMP",
        "ferrolb negotiates multiprotocol BGP per family",
    );
    f.not_expressed(
        spec,
        "dualStackAddressFamily",
        "each session carries its own address family",
    );
    let secret = spec.get("passwordSecret");
    if !secret.is_null() {
        f.note(format!(
            "spec.passwordSecret ({}) cannot be read from here: the peer is imported without a password; add \
             `password` to it by hand",
            secret.get("name").as_str().unwrap_or("?")
        ));
    }
    out.peers.push(BgpPeer {
        meta,
        my_asn,
        peer_asn,
        address,
        port: f.number(spec.get("peerPort"), "spec.peerPort"),
        source_address: f.string(spec.get("sourceAddress"), "spec.sourceAddress"),
        hold_time: f.duration(spec.get("holdTime"), "spec.holdTime"),
        keepalive_time: f.duration(spec.get("keepaliveTime"), "spec.keepaliveTime"),
        router_id: f.string(spec.get("routerID"), "spec.routerID"),
        password: f
            .string(spec.get("password"), "spec.password")
            .filter(|p| !p.is_empty()),
        bfd_profile: f.string(spec.get("bfdProfile"), "spec.bfdProfile"),
        ebgp_multihop: f
            .bool(spec.get("ebgpMultiHop"), "spec.ebgpMultiHop")
            .unwrap_or(false),
        node_selectors: f.selectors(spec.get("nodeSelectors"), "spec.nodeSelectors"),
    });
}

/// BFDProfile's numeric fields and their names in the legacy config.
pub const BFD_NUMBERS: &[(&str, &str)] = &[
    ("receiveInterval", "receive-interval"),
    ("transmitInterval", "transmit-interval"),
    ("detectMultiplier", "detect-multiplier"),
    ("echoInterval", "echo-interval"),
    ("minimumTtl", "minimum-ttl"),
];

fn read_bfd(f: &mut Fields<'_>, spec: &Node, meta: Meta, out: &mut Resources) {
    let mut known: Vec<&str> = BFD_NUMBERS.iter().map(|(k, _)| *k).collect();
    known.extend(["echoMode", "passiveMode"]);
    f.unknown_fields(spec, &known);
    f.note("BFD is validated and kept, but ferrolb does not run it (docs/config.md)");
    let mut numbers = BTreeMap::new();
    for (crd, legacy) in BFD_NUMBERS {
        if let Some(v) = f.number::<u32>(spec.get(crd), &format!("spec.{crd}")) {
            numbers.insert(*legacy, v);
        }
    }
    out.bfd.push(BfdProfile {
        meta,
        numbers,
        echo_mode: f.bool(spec.get("echoMode"), "spec.echoMode").unwrap_or(false),
        passive_mode: f
            .bool(spec.get("passiveMode"), "spec.passiveMode")
            .unwrap_or(false),
    });
}

fn read_community(f: &mut Fields<'_>, spec: &Node, meta: &Meta, out: &mut Resources) {
    f.unknown_fields(spec, &["communities"]);
    for (i, c) in spec.get("communities").items().iter().enumerate() {
        let at = format!("spec.communities[{i}]");
        let name = f.string(c.get("name"), &format!("{at}.name"));
        let value = f.string(c.get("value"), &format!("{at}.value"));
        let (Some(name), Some(value)) = (name, value) else {
            f.note(format!("{at} needs a name and a value: ignored"));
            continue;
        };
        match out.communities.get(&name) {
            Some((v, by)) if *v != value => {
                let message = format!("{at}: alias {name:?} = {value} conflicts with {v} from {by}: ignored");
                f.note(message);
            }
            Some(_) => {}
            None => {
                out.communities.insert(name, (value, meta.id.clone()));
            }
        }
    }
}
