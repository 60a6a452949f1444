//! The owner: the single piece of state the speaker's main loop mutates (synchronous, no I/O).
//!
//! It takes [`Input`]s — watch events, membership views, link states — and [`Owner::step`] turns what
//! changed into [`Step`]s: the new desired state for the announcers (only when it changed), Events for IPs this
//! node just took over, and commands for the membership task (key, addresses, seeds, step aside / return, and the
//! owners this node is successor to, which its membership watches).
//!
//! Nothing is announced before the speaker is **ready**: every watched kind listed once, the link state known,
//! and the membership settled. From then on a lost watch or an unreachable API server changes nothing: the
//! last known state stays in force. A node whose every eligible interface is down steps aside (leaves the
//! membership, so the others re-elect at once) and returns when one comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::election::{Decision, Desired, SkipReason, elect};
use crate::index::{Index, IndexEvent, IndexSettings, Kind};
use crate::interfaces::InterfaceFilter;
use crate::k8s::events::{Reason, SpeakerEvent, service_event};
use crate::membership::{Control, View};
use crate::metrics::{IpLabels, Metrics, ProtocolLabel, ReasonLabel};
use crate::netlink::Links;
use crate::status::{self, StatusReport};
use ferrolb_k8s::config::configuration_state;

/// What the owner needs to know about this node.
#[derive(Debug, Clone)]
pub struct OwnerSettings {
    /// This node's name.
    pub node: String,
    /// Interfaces to announce on.
    pub filter: InterfaceFilter,
    /// Membership port (the same on every node).
    pub memberlist_port: u16,
    /// This node's membership address, if given (else its Node's first InternalIP).
    pub memberlist_addr: Option<IpAddr>,
}

/// One input of the owner loop.
#[derive(Debug)]
pub enum Input {
    /// A watch event.
    Index(IndexEvent),
    /// A new membership view.
    Membership(View),
    /// A new link state.
    Links(Arc<Links>),
}

/// What the speaker waits for before it announces anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// The first list of a watched kind.
    FirstList(Kind),
    /// The network links (rtnetlink's first dump).
    Links,
    /// The membership Secret's key.
    MembershipKey,
    /// This node's address: its Node has no InternalIP or ExternalIP (and no `--memberlist-addr`).
    NodeAddress(String),
    /// The membership to settle after joining.
    Membership,
    /// A valid configuration (the state's summary says why there is none).
    Config(String),
}

impl std::fmt::Display for Waiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Waiting::FirstList(kind) => write!(f, "the first list of {}", kind.resource()),
            Waiting::Links => f.write_str("the network links"),
            Waiting::MembershipKey => f.write_str("the membership Secret's key"),
            Waiting::NodeAddress(node) => write!(
                f,
                "this node's address (Node {node} has no InternalIP or ExternalIP; or give --memberlist-addr)"
            ),
            Waiting::Membership => f.write_str("the membership to settle"),
            Waiting::Config(summary) => write!(f, "a valid configuration ({summary})"),
        }
    }
}

/// What one step asks the loop to do.
#[derive(Debug, Default)]
pub struct Step {
    /// The new desired state, when it changed.
    pub desired: Option<Desired>,
    /// Events to write.
    pub events: Vec<SpeakerEvent>,
    /// Commands for the membership task.
    pub membership: Vec<Control>,
    /// What the status objects should say (every step once the index has synced).
    pub status: Option<StatusReport>,
    /// Whether [`Step::status`] has the Services' objects (the speaker is ready and decided).
    pub decided: bool,
}

/// The owner's state. See the module docs.
#[derive(Debug)]
pub struct Owner {
    settings: OwnerSettings,
    index: Index,
    view: View,
    links: Arc<Links>,
    metrics: Metrics,
    last: Option<Desired>,
    sent_key: Option<Vec<u8>>,
    sent_addr: Option<SocketAddr>,
    sent_seeds: Vec<(String, SocketAddr)>,
    sent_watch: BTreeSet<String>,
    stepped_aside: bool,
}

impl Owner {
    /// A new owner.
    pub fn new(settings: OwnerSettings, index: IndexSettings, metrics: Metrics) -> Owner {
        Owner {
            settings,
            index: Index::new(index),
            view: View::default(),
            links: Arc::new(Links::default()),
            metrics,
            last: None,
            sent_key: None,
            sent_addr: None,
            sent_seeds: Vec::new(),
            sent_watch: BTreeSet::new(),
            stepped_aside: false,
        }
    }

    /// The index (read-only).
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Takes one input. Returns whether a step may have something to do.
    pub fn input(&mut self, input: Input) -> bool {
        match input {
            Input::Index(ev) => self.index.handle(ev),
            Input::Membership(v) => {
                let changed = v != self.view;
                self.view = v;
                changed
            }
            Input::Links(l) => {
                let changed = *l != *self.links;
                self.links = l;
                changed
            }
        }
    }

    /// Whether the speaker is ready to announce (and `/readyz` says so).
    pub fn ready(&self) -> bool {
        self.index.synced() && self.links.known && self.view.settled && self.index.config().loaded()
    }

    /// What it waits for before it is ready (empty when ready), for `/readyz` and the tests.
    pub fn waiting_for(&self) -> Vec<Waiting> {
        let mut w: Vec<Waiting> = self
            .index
            .unsynced()
            .into_iter()
            .map(Waiting::FirstList)
            .collect();
        if !self.links.known {
            w.push(Waiting::Links);
        }
        if self.index.key().is_none() && self.sent_key.is_none() {
            w.push(Waiting::MembershipKey);
        }
        if self.index.synced() && self.own_address().is_none() {
            w.push(Waiting::NodeAddress(self.settings.node.clone()));
        }
        if !self.view.settled {
            w.push(Waiting::Membership);
        }
        if self.index.synced() && !self.index.config().loaded() {
            w.push(Waiting::Config(self.index.config().summary()));
        }
        w
    }

    /// This node's membership address.
    fn own_address(&self) -> Option<SocketAddr> {
        let ip = self.settings.memberlist_addr.or_else(|| {
            self.index
                .nodes()
                .get(&self.settings.node)
                .and_then(|n| n.addresses.first().copied())
        })?;
        Some(SocketAddr::new(ip, self.settings.memberlist_port))
    }

    /// The other nodes' membership addresses (same family as ours when they have one).
    fn seeds(&self, own: Option<SocketAddr>) -> Vec<(String, SocketAddr)> {
        let v6 = own.is_some_and(|a| a.is_ipv6());
        self.index
            .nodes()
            .iter()
            .filter(|(name, _)| **name != self.settings.node)
            .filter_map(|(name, n)| {
                let ip = n
                    .addresses
                    .iter()
                    .find(|a| a.is_ipv6() == v6)
                    .or_else(|| n.addresses.first())?;
                Some((name.clone(), SocketAddr::new(*ip, self.settings.memberlist_port)))
            })
            .collect()
    }

    fn membership_commands(&mut self) -> Vec<Control> {
        let mut out = Vec::new();
        let key = self.index.key().map(<[u8]>::to_vec);
        if key.is_some() && key != self.sent_key {
            out.push(Control::Key(key.clone()));
            self.sent_key = key;
        }
        let addr = self.own_address();
        if let Some(a) = addr
            && Some(a) != self.sent_addr
        {
            out.push(Control::Address(a));
            self.sent_addr = Some(a);
        }
        let seeds = self.seeds(addr);
        if seeds != self.sent_seeds {
            out.push(Control::Seeds(seeds.clone()));
            self.sent_seeds = seeds;
        }
        if self.links.known {
            let can = self.settings.filter.can_announce(&self.links.interfaces);
            if !can && !self.stepped_aside {
                tracing::warn!("no eligible interface is up: this node steps aside");
                self.stepped_aside = true;
                out.push(Control::StepAside);
            } else if can && self.stepped_aside {
                tracing::info!("an eligible interface is up again: this node returns");
                self.stepped_aside = false;
                out.push(Control::Return);
            }
        }
        out
    }

    /// Another host claims an IP this node announces: a warning, and a Warning Event `IPConflict` on each
    /// Service using the IP (this node keeps the IP and keeps announcing it, RFC 5227 §2.4 (b)).
    pub fn conflict_events(&self, r: &crate::layer2::ConflictReport) -> Vec<SpeakerEvent> {
        let ip = r.conflict.ip;
        let mac = r.conflict.mac;
        let services = self
            .last
            .as_ref()
            .and_then(|d| d.layer2.ips.get(&ip))
            .map(|a| a.services.clone())
            .unwrap_or_default();
        tracing::warn!(
            %ip,
            %mac,
            interface = %r.interface,
            protocol = r.protocol,
            frames_since_last_report = r.unreported,
            services = services.len(),
            "IP conflict: another host claims an IP this node announces; it was defended and stays announced"
        );
        let note = format!(
            "IP conflict: {ip} is also claimed by MAC {mac} on node {} interface {} ({}); this node keeps \
             announcing it and defended it — remove the address from that host or from the pool",
            self.settings.node,
            r.interface,
            if r.protocol == "arp" { "ARP" } else { "NDP" },
        );
        services
            .iter()
            .map(|key| {
                let uid = self.index.services().get(key).and_then(|s| s.uid.clone());
                service_event(key, uid, Reason::IpConflict, note.clone())
            })
            .collect()
    }

    /// Turns what changed into actions.
    pub fn step(&mut self) -> Step {
        let mut step = Step {
            membership: self.membership_commands(),
            ..Step::default()
        };
        self.metrics
            .config_loaded
            .set(i64::from(self.index.config().loaded()));
        self.metrics
            .config_stale
            .set(i64::from(self.index.config().stale()));
        if self.index.synced() {
            let name = ferrolb_k8s::announcements::speaker_state_name(&self.settings.node);
            let state = configuration_state(&name, "Speaker", Some(&self.settings.node), self.index.config());
            step.status = Some(StatusReport {
                state,
                ..StatusReport::default()
            });
        }
        if !self.ready() {
            return step;
        }
        let members: BTreeSet<String> = self.view.live.clone();
        let Some(input) = self.index.election_input(&self.settings.node, &members) else {
            return step;
        };
        let desired = elect(&input);
        // the owners whose IPs this node would take over: the membership watches them
        let watch: BTreeSet<String> = desired
            .decisions
            .values()
            .filter(|d| d.successor.as_deref() == Some(self.settings.node.as_str()))
            .filter_map(|d| d.owner.clone())
            .collect();
        if watch != self.sent_watch {
            step.membership.push(Control::Watch(watch.clone()));
            self.sent_watch = watch;
        }
        step.decided = true;
        if let Some(report) = step.status.as_mut() {
            (report.l2, report.bgp) =
                status::services(&self.settings.node, &desired, &self.settings.filter, &self.links);
        }
        if self.last.as_ref() == Some(&desired) {
            return step;
        }
        if let Some(report) = step.status.as_mut() {
            let before = self.last.as_ref().map(|d| &d.layer2.ips);
            report.takeovers = desired
                .layer2
                .ips
                .iter()
                .filter(|(ip, _)| !before.is_some_and(|b| b.contains_key(ip)))
                .flat_map(|(_, ann)| ann.services.iter().cloned())
                .collect();
        }
        step.events = self.changes(&desired);
        self.record(&desired);
        self.last = Some(desired.clone());
        step.desired = Some(desired);
        step
    }

    /// Logs gained and lost IPs and builds the Events for gained ones.
    fn changes(&self, desired: &Desired) -> Vec<SpeakerEvent> {
        let before = self.last.as_ref().map(|d| &d.layer2.ips);
        let mut events = Vec::new();
        for (ip, ann) in &desired.layer2.ips {
            if before.is_some_and(|b| b.contains_key(ip)) {
                continue;
            }
            let interfaces: Vec<String> = self
                .settings
                .filter
                .for_announcement(&self.links.interfaces, ann)
                .map(|i| i.name.clone())
                .collect();
            let ifs = if interfaces.is_empty() {
                "none (no usable interface)".to_owned()
            } else {
                interfaces.join(",")
            };
            tracing::info!(%ip, pool = %ann.pool, interfaces = %ifs, services = ann.services.len(), "announcing");
            self.metrics.ownership_gained.inc();
            for key in &ann.services {
                let uid = self.index.services().get(key).and_then(|s| s.uid.clone());
                let note = format!(
                    "announcing {ip} from node {} interface {ifs} with protocol layer2",
                    self.settings.node
                );
                events.push(service_event(key, uid, Reason::NodeAssigned, note));
            }
        }
        if let Some(b) = before {
            for ip in b.keys().filter(|ip| !desired.layer2.ips.contains_key(ip)) {
                let why = desired.decisions.get(ip).map(|d| match d.decision {
                    Decision::Skip(r) => r.metric_label(),
                    Decision::Announce => "announced",
                });
                tracing::info!(%ip, reason = why.unwrap_or("no longer in use"), "no longer announcing");
            }
        }
        events
    }

    /// Updates the announcement metrics.
    fn record(&self, desired: &Desired) {
        let old: BTreeSet<(IpAddr, &'static str)> = self.last.as_ref().map(announced).unwrap_or_default();
        let new = announced(desired);
        for (ip, protocol) in old.difference(&new) {
            self.metrics.announced.remove(&IpLabels {
                ip: ip.to_string(),
                protocol,
            });
        }
        for (ip, protocol) in new.difference(&old) {
            self.metrics
                .announced
                .get_or_create(&IpLabels {
                    ip: ip.to_string(),
                    protocol,
                })
                .set(1);
        }
        for protocol in ["layer2", "bgp"] {
            let n = new.iter().filter(|(_, p)| *p == protocol).count();
            self.metrics
                .announced_ips
                .get_or_create(&ProtocolLabel { protocol })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut skipped: BTreeMap<SkipReason, i64> = SkipReason::ALL.iter().map(|r| (*r, 0)).collect();
        for d in desired.decisions.values() {
            if let Decision::Skip(r) = d.decision {
                *skipped.entry(r).or_default() += 1;
            }
        }
        for (r, n) in skipped {
            self.metrics
                .skipped_ips
                .get_or_create(&ReasonLabel {
                    reason: r.metric_label(),
                })
                .set(n);
        }
    }
}

fn announced(d: &Desired) -> BTreeSet<(IpAddr, &'static str)> {
    d.layer2
        .ips
        .keys()
        .map(|ip| (*ip, "layer2"))
        .chain(d.bgp.advertised().map(|(ip, _)| (*ip, "bgp")))
        .collect()
}

#[cfg(test)]
mod tests;
