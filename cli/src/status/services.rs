//! `ferrolb status`: the [`StatusView`] of a [`Snapshot`] — the header (leader, each component's view of the
//! configuration, BGP sessions, counts) and one [`Row`] per (Service, IP). Pure.
//!
//! Where a row's facts come from:
//! - IP: `status.loadBalancer.ingress`; POOL: the controller's `ip-allocated-from-pool` annotation, else the
//!   configured pool holding the IP;
//! - MODE: the advertisements selecting that pool in the configuration (read as the programs read it); when
//!   the configuration cannot be read or is invalid, the kinds of status objects the speakers wrote;
//! - NODES: the nodes whose `ServiceL2Status`/`ServiceBGPStatus` name the Service. Status objects are per
//!   Service, not per IP: a Service with two IPs announced by two nodes lists both nodes on both rows;
//! - PEERS: the peers of its `ServiceBGPStatus` objects, each with the session state its node's speaker
//!   reports in its `ConfigurationState` condition `BGPPeer/<peer>` (`unknown` when it reports none).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_config::Config;
use serde::Serialize;

use super::config::{self, Configuration, Loaded};
use super::snapshot::{BgpStatus, Component, ComponentState, L2Status, Lease, Read, Service, Snapshot, age};

/// Everything `ferrolb status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// ferrolb's namespace.
    pub namespace: String,
    /// The configuration's namespace.
    pub config_namespace: String,
    /// Who leads.
    pub leader: Leader,
    /// Each component's view of the configuration (`None`: not read).
    pub components: Option<Vec<ComponentLine>>,
    /// The configuration objects as this tool reads them (`None`: not read).
    pub configuration: Option<Configuration>,
    /// The BGP sessions the speakers report.
    pub sessions: Vec<SessionLine>,
    /// Counts.
    pub counts: Counts,
    /// One row per (Service, IP), and one per pending Service.
    pub rows: Vec<Row>,
    /// What is wrong (exit status 1).
    pub problems: Vec<String>,
    /// What could not be read (exit status 2).
    #[serde(rename = "notRead")]
    pub gaps: Vec<String>,
    /// What the reader should know (no effect on the exit status).
    pub notes: Vec<String>,
}

/// The controller leader, from the Lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Leader {
    /// Held and current.
    #[serde(rename_all = "camelCase")]
    Held {
        /// The holder.
        holder: String,
        /// Seconds since the last renewal.
        renewed_ago: Option<i64>,
    },
    /// The holder stopped renewing.
    #[serde(rename_all = "camelCase")]
    Expired {
        /// The last holder.
        holder: String,
        /// Seconds since it expired.
        expired_ago: i64,
    },
    /// The Lease has no holder (released).
    Vacant,
    /// The Lease does not exist.
    NoLease,
    /// The Lease could not be read.
    Unknown,
}

/// One component's `ConfigurationState`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentLine {
    /// `controller`, or `speaker <node>`.
    pub component: String,
    /// `Valid`, `Invalid`, `Unknown`.
    pub result: String,
    /// The error summary, when not valid.
    pub error: String,
}

/// One BGP session a speaker reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionLine {
    /// The speaker's node.
    pub node: String,
    /// The peer.
    pub peer: String,
    /// The BGP state.
    pub state: String,
    /// Whether it is Established.
    pub established: bool,
    /// The speaker's message.
    pub message: String,
}

/// Counts for the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// LoadBalancer Services ferrolb serves.
    pub services: usize,
    /// Of those, with at least one IP.
    pub with_ip: usize,
    /// Of those, without an IP.
    pub pending: usize,
    /// IPs in use (distinct).
    pub ips: usize,
    /// LoadBalancer Services of another load-balancer class (not shown).
    pub other_class: usize,
}

/// One (Service, IP), or a pending Service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The IP (`None`: pending).
    pub ip: Option<IpAddr>,
    /// The pool.
    pub pool: Option<String>,
    /// `layer2`, `bgp` (empty: no advertisement selects the pool; `None`: unknown).
    pub modes: Option<Vec<&'static str>>,
    /// The announcing nodes (`None`: unknown).
    pub nodes: Option<Vec<String>>,
    /// `node/interface` the layer2 nodes answer on.
    pub interfaces: Vec<String>,
    /// The BGP peers carrying it, with their session states (`None`: unknown).
    pub peers: Option<Vec<PeerCell>>,
    /// Why it is pending (the latest `AllocationFailed` Event).
    pub note: Option<String>,
}

/// A peer carrying a Service, with each advertising node's session state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerCell {
    /// The peer's name.
    pub peer: String,
    /// Each node advertising to it, by node name.
    pub sessions: Vec<PeerSession>,
}

/// One node's session to a peer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PeerSession {
    /// The node.
    pub node: String,
    /// The BGP state its speaker reports (`unknown` when it reports none).
    pub state: String,
}

/// The view of `snap` (`loaded`: its configuration, loaded by [`config::load`]).
pub fn view(snap: &Snapshot, loaded: Option<&Loaded>) -> StatusView {
    let mut v = StatusView {
        namespace: snap.namespace.clone(),
        config_namespace: snap.config_namespace.clone(),
        leader: Leader::Unknown,
        components: None,
        configuration: None,
        sessions: Vec::new(),
        counts: Counts::default(),
        rows: Vec::new(),
        problems: Vec::new(),
        gaps: Vec::new(),
        notes: Vec::new(),
    };
    let lease = take(&snap.lease, &mut v.gaps);
    let states = take(&snap.states, &mut v.gaps);
    if let (Some(None), Some([])) = (lease, states.map(Vec::as_slice)) {
        v.leader = Leader::NoLease;
        v.components = Some(Vec::new());
        v.problems.push(format!(
            "ferrolb does not run in namespace {}: no Lease {} and no ConfigurationState there \
             (--namespace names ferrolb's namespace)",
            snap.namespace, snap.lease_name
        ));
    } else {
        v.leader = leader(snap, lease, &mut v.problems);
        if let Some(states) = states {
            v.components = Some(components(states, &mut v.problems));
            v.sessions = sessions(states, &mut v.problems);
        }
    }
    configuration(snap, loaded, &mut v);
    let current = loaded.and_then(|l| l.state.current()).map(|c| &**c);
    let l2 = take(&snap.l2, &mut v.gaps);
    let bgp = take(&snap.bgp, &mut v.gaps);
    let speakers = states.is_some_and(|s| s.iter().any(|c| matches!(c.component, Component::Speaker(_))));
    if current.is_some_and(|c| !c.peers.is_empty()) && v.sessions.is_empty() && speakers {
        v.notes.push(
            "the speakers report no BGP session state (conditions BGPPeer/<peer> of their \
             ConfigurationState): PEERS show unknown"
                .to_owned(),
        );
    }
    let ctx = RowContext {
        config: current,
        l2: l2.map(|l| by_service(l.iter().map(|s| (&s.namespace, &s.service, s)))),
        bgp: bgp.map(|b| by_service(b.iter().map(|s| (&s.namespace, &s.service, s)))),
        sessions: states.map(|s| session_states(s)),
    };
    let mut ips = BTreeSet::new();
    for svc in &snap.services {
        if svc.class != snap.load_balancer_class {
            v.counts.other_class += 1;
            continue;
        }
        v.counts.services += 1;
        if svc.ips.is_empty() {
            v.counts.pending += 1;
            v.rows.push(pending_row(snap, svc));
            continue;
        }
        v.counts.with_ip += 1;
        let mut own: Vec<IpAddr> = svc.ips.clone();
        own.sort();
        own.dedup();
        for ip in own {
            ips.insert(ip);
            v.rows.push(row(&ctx, svc, ip));
        }
    }
    v.counts.ips = ips.len();
    v.rows
        .sort_by(|a, b| (&a.namespace, &a.name, a.ip).cmp(&(&b.namespace, &b.name, b.ip)));
    if v.counts.pending > 0 {
        let n = v.counts.pending;
        v.problems.push(format!("{n} Service{} pending", plural(n)));
        if let Err(gap) = &snap.failures {
            v.notes
                .push(format!("why Services are pending is not shown: {gap}"));
        }
    }
    v
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The value of a read, or `None` with its gap recorded.
fn take<'a, T>(read: &'a Read<T>, gaps: &mut Vec<String>) -> Option<&'a T> {
    match read {
        Ok(t) => Some(t),
        Err(gap) => {
            gaps.push(gap.to_string());
            None
        }
    }
}

fn leader(snap: &Snapshot, lease: Option<&Option<Lease>>, problems: &mut Vec<String>) -> Leader {
    let lease_ref = format!("Lease {}/{}", snap.namespace, snap.lease_name);
    let l = match lease {
        None => return Leader::Unknown,
        Some(None) => {
            problems.push(format!(
                "no controller leads: no {lease_ref} (no controller has run)"
            ));
            return Leader::NoLease;
        }
        Some(Some(l)) => l,
    };
    let Some(holder) = l.holder.clone().filter(|h| !h.is_empty()) else {
        problems.push(format!("no controller leads: the {lease_ref} has no holder"));
        return Leader::Vacant;
    };
    if let (Some(renewed), Some(duration)) = (l.renewed, l.duration) {
        let expired_ago = snap.now - (renewed + duration);
        if expired_ago > 0 {
            problems.push(format!(
                "no controller leads: the {lease_ref} held by {holder} expired {} ago",
                age(expired_ago)
            ));
            return Leader::Expired { holder, expired_ago };
        }
    }
    Leader::Held {
        holder,
        renewed_ago: l.renewed.map(|r| snap.now - r),
    }
}

fn components(states: &[ComponentState], problems: &mut Vec<String>) -> Vec<ComponentLine> {
    let mut sorted: Vec<&ComponentState> = states.iter().collect();
    sorted.sort_by(|a, b| (&a.component, &a.name).cmp(&(&b.component, &b.name)));
    if !sorted.iter().any(|s| s.component == Component::Controller) {
        problems
            .push("the controller reports no configuration state (no ConfigurationState controller)".into());
    }
    if !sorted
        .iter()
        .any(|s| matches!(s.component, Component::Speaker(_)))
    {
        problems
            .push("no speaker reports its configuration state (no ConfigurationState speaker-<node>)".into());
    }
    sorted
        .into_iter()
        .map(|s| {
            let component = match &s.component {
                Component::Controller => "controller".to_owned(),
                Component::Speaker(node) => format!("speaker {node}"),
                Component::Other(t) => format!("{t} {}", s.name),
            };
            let result = if s.result.is_empty() {
                "Unknown"
            } else {
                s.result.as_str()
            };
            if result != "Valid" {
                problems.push(format!("{component}: configuration {result}"));
            }
            ComponentLine {
                component,
                result: result.to_owned(),
                error: if result == "Valid" {
                    String::new()
                } else {
                    s.error.clone()
                },
            }
        })
        .collect()
}

fn sessions(states: &[ComponentState], problems: &mut Vec<String>) -> Vec<SessionLine> {
    let mut out: Vec<SessionLine> = states
        .iter()
        .filter_map(|s| match &s.component {
            Component::Speaker(node) => Some((node, s)),
            _ => None,
        })
        .flat_map(|(node, s)| {
            s.sessions.iter().map(move |x| SessionLine {
                node: node.clone(),
                peer: x.peer.clone(),
                state: x.state.clone(),
                established: x.established,
                message: x.message.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.node, &a.peer).cmp(&(&b.node, &b.peer)));
    for s in out.iter().filter(|s| !s.established) {
        problems.push(format!("BGP session of {} to {}: {}", s.node, s.peer, s.state));
    }
    out
}

/// The configuration line, with its problems and notes.
fn configuration(snap: &Snapshot, loaded: Option<&Loaded>, v: &mut StatusView) {
    if let (Some(objects), Some(loaded)) = (take(&snap.config, &mut v.gaps), loaded) {
        let summary = config::summarize(loaded, objects, &snap.config_namespace);
        v.problems.extend(summary.problems);
        v.notes.extend(summary.notes);
        v.configuration = Some(summary.configuration);
    }
}

struct RowContext<'a> {
    config: Option<&'a Config>,
    l2: Option<BTreeMap<(&'a str, &'a str), Vec<&'a L2Status>>>,
    bgp: Option<BTreeMap<(&'a str, &'a str), Vec<&'a BgpStatus>>>,
    /// (node, peer) → state.
    sessions: Option<BTreeMap<(&'a str, &'a str), &'a str>>,
}

fn by_service<'a, T>(
    items: impl Iterator<Item = (&'a String, &'a String, &'a T)>,
) -> BTreeMap<(&'a str, &'a str), Vec<&'a T>> {
    let mut m: BTreeMap<(&str, &str), Vec<&T>> = BTreeMap::new();
    for (ns, name, t) in items {
        m.entry((ns.as_str(), name.as_str())).or_default().push(t);
    }
    m
}

fn session_states(states: &[ComponentState]) -> BTreeMap<(&str, &str), &str> {
    let mut m = BTreeMap::new();
    for s in states {
        if let Component::Speaker(node) = &s.component {
            for x in &s.sessions {
                m.insert((node.as_str(), x.peer.as_str()), x.state.as_str());
            }
        }
    }
    m
}

fn row(ctx: &RowContext<'_>, svc: &Service, ip: IpAddr) -> Row {
    let key = (svc.namespace.as_str(), svc.name.as_str());
    let pool = svc.pool.clone().or_else(|| {
        ctx.config
            .and_then(|c| c.pool_containing(ip))
            .map(|p| p.name.clone())
    });
    let l2 = ctx.l2.as_ref().map(|m| m.get(&key).cloned().unwrap_or_default());
    let bgp = ctx.bgp.as_ref().map(|m| m.get(&key).cloned().unwrap_or_default());
    let configured = ctx
        .config
        .zip(pool.as_deref())
        .filter(|(c, p)| c.pool(p).is_some())
        .map(|(c, p)| c.protocols(p).into_iter().map(|p| p.as_str()).collect::<Vec<_>>());
    let modes = configured.or_else(|| {
        let (l2, bgp) = (l2.as_ref()?, bgp.as_ref()?);
        let seen: Vec<&'static str> = [("layer2", !l2.is_empty()), ("bgp", !bgp.is_empty())]
            .into_iter()
            .filter_map(|(m, yes)| yes.then_some(m))
            .collect();
        (!seen.is_empty()).then_some(seen)
    });
    let nodes = l2.as_ref().zip(bgp.as_ref()).map(|(l2, bgp)| {
        let set: BTreeSet<String> = l2
            .iter()
            .map(|s| s.node.clone())
            .chain(bgp.iter().map(|s| s.node.clone()))
            .collect();
        set.into_iter().collect()
    });
    let mut interfaces: Vec<String> = l2
        .iter()
        .flatten()
        .flat_map(|s| s.interfaces.iter().map(|i| format!("{}/{i}", s.node)))
        .collect();
    interfaces.sort();
    interfaces.dedup();
    let peers = bgp.as_ref().map(|bgp| {
        let mut by_peer: BTreeMap<&str, Vec<PeerSession>> = BTreeMap::new();
        for s in bgp {
            for p in &s.peers {
                let state = ctx
                    .sessions
                    .as_ref()
                    .and_then(|m| m.get(&(s.node.as_str(), p.as_str())))
                    .map_or("unknown", |s| *s);
                by_peer.entry(p).or_default().push(PeerSession {
                    node: s.node.clone(),
                    state: state.to_owned(),
                });
            }
        }
        by_peer
            .into_iter()
            .map(|(peer, mut sessions)| {
                sessions.sort();
                PeerCell {
                    peer: peer.to_owned(),
                    sessions,
                }
            })
            .collect()
    });
    Row {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        ip: Some(ip),
        pool,
        modes,
        nodes,
        interfaces,
        peers,
        note: None,
    }
}

fn pending_row(snap: &Snapshot, svc: &Service) -> Row {
    let note = snap.failures.as_ref().ok().and_then(|failures| {
        failures
            .iter()
            .filter(|f| f.namespace == svc.namespace && f.service == svc.name)
            .filter(|f| f.uid.as_deref().is_none_or(|u| u.is_empty() || u == svc.uid))
            .max_by_key(|f| f.time)
            .map(|f| match f.time {
                Some(t) => format!("{} ({} ago)", f.message, age(snap.now - t)),
                None => f.message.clone(),
            })
    });
    Row {
        namespace: svc.namespace.clone(),
        name: svc.name.clone(),
        ip: None,
        pool: svc.pool.clone(),
        modes: Some(Vec::new()),
        nodes: Some(Vec::new()),
        interfaces: Vec::new(),
        peers: Some(Vec::new()),
        note,
    }
}
