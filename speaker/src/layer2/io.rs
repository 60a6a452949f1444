//! The responder of one interface: reads ARP requests and Neighbor Solicitations, answers for owned IPs,
//! announces newly owned ones, and keeps the NIC's solicited-node multicast memberships.
//!
//! It reads the owned set from a watch channel on every frame, so an IP lost a moment ago is not answered
//! even if the frame was queued before the change was noticed.
//!
//! A frame showing another host claiming an owned IP ([`super::responder::Conflict`]) is counted, defended
//! once per [`DEFEND_INTERVAL`] with a gratuitous ARP / unsolicited NA (RFC 5227 §2.4 (b): this node keeps
//! the address and keeps announcing it), and reported to the owner loop (at most once per IP per
//! [`REPORT_INTERVAL`], which turns it into a warning and an Event on the Services).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrolb_proto::MacAddr;
use ferrolb_proto::arp::{ArpFrame, ETHERTYPE_ARP};
use ferrolb_proto::ndp::{ETHERTYPE_IPV6, NeighborAdvertisement, multicast_mac, solicited_node};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::fastpath::{FastPath, FastPathInterface};
use super::garp::GarpSchedule;
use super::metrics::Layer2Metrics;
use super::responder::{Conflict, DropReason, OwnedSet, answer_arp, answer_ndp, arp_conflict, ndp_conflict};
use crate::interfaces::Interface;
use crate::metrics::{DropLabels, ProtocolLabel};
use crate::socket::{PacketSocket, PacketType, arp_request_filter, neighbor_solicitation_filter};

/// Frames read per wake-up before other work gets a turn.
const BATCH: usize = 64;
/// How long to wait before retrying sockets that could not be opened.
const REOPEN_DELAY: Duration = Duration::from_secs(1);
/// At most one defence of an IP per this interval (RFC 5227's DEFEND_INTERVAL).
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);
/// At most one report of a conflicting IP per this interval.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// A conflict seen on an interface, for the owner loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictReport {
    /// The interface it was seen on.
    pub interface: String,
    /// The IP and the other host's MAC.
    pub conflict: Conflict,
    /// `arp` or `ndp`.
    pub protocol: &'static str,
    /// Frames of this conflict not reported since the last report.
    pub unreported: u64,
}

/// When each conflicting IP was last defended and reported.
#[derive(Debug, Default)]
struct ConflictLog {
    defended: HashMap<IpAddr, Instant>,
    reported: HashMap<IpAddr, (Instant, u64)>,
}

struct Sockets {
    arp: AsyncFd<PacketSocket>,
    ndp: AsyncFd<PacketSocket>,
}

fn open(ifindex: u32) -> io::Result<Sockets> {
    Ok(Sockets {
        arp: PacketSocket::open(ifindex, ETHERTYPE_ARP, &arp_request_filter())?.into_async()?,
        ndp: PacketSocket::open(ifindex, ETHERTYPE_IPV6, &neighbor_solicitation_filter())?.into_async()?,
    })
}

/// Runs the responder of `iface` until the task is dropped.
pub async fn run(
    iface: Interface,
    mut owned: watch::Receiver<Arc<OwnedSet>>,
    metrics: Layer2Metrics,
    fast: Option<Arc<FastPath>>,
    conflicts: mpsc::Sender<ConflictReport>,
) {
    let Some(mac) = iface.mac else { return };
    let sockets = loop {
        match open(iface.index) {
            Ok(s) => break s,
            Err(e) => {
                tracing::error!(interface = %iface.name, error = %e, "cannot open ARP/NDP sockets (CAP_NET_RAW?); retrying");
                tokio::time::sleep(REOPEN_DELAY).await;
            }
        }
    };
    let fast = fast.and_then(|f| match f.attach(iface.index, mac) {
        Ok(fp) => Some(fp),
        Err(e) => {
            tracing::info!(interface = %iface.name, error = %e, "ARP fast path not attached; answering from user space");
            None
        }
    });
    tracing::info!(interface = %iface.name, %mac, fast_path = fast.is_some(), "answering ARP and NDP");
    let mut r = Responder {
        name: iface.name.clone(),
        mac,
        metrics,
        fast,
        garp: GarpSchedule::new(),
        current: Arc::new(OwnedSet::default()),
        groups: HashMap::new(),
        buf: vec![0u8; 2048],
        conflicts,
        conflict_log: ConflictLog::default(),
    };
    r.apply(&sockets, owned.borrow_and_update().clone());
    loop {
        let next = r.garp.next_deadline();
        tokio::select! {
            changed = owned.changed() => {
                if changed.is_err() {
                    return;
                }
                r.apply(&sockets, owned.borrow_and_update().clone());
            }
            g = sockets.arp.readable() => {
                if let Ok(mut g) = g {
                    r.drain(true, &owned, &mut g);
                }
            }
            g = sockets.ndp.readable() => {
                if let Ok(mut g) = g {
                    r.drain(false, &owned, &mut g);
                }
            }
            () = sleep_opt(next) => r.announce_due(&sockets),
        }
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Responder {
    name: String,
    mac: MacAddr,
    metrics: Layer2Metrics,
    /// The in-kernel ARP responder on this interface, when available.
    fast: Option<FastPathInterface>,
    garp: GarpSchedule,
    current: Arc<OwnedSet>,
    /// Solicited-node multicast MACs joined, with how many owned IPv6 addresses need each.
    groups: HashMap<MacAddr, usize>,
    buf: Vec<u8>,
    conflicts: mpsc::Sender<ConflictReport>,
    conflict_log: ConflictLog,
}

impl Responder {
    /// Takes a new owned set: announces what was gained, forgets what was lost, updates memberships.
    fn apply(&mut self, sockets: &Sockets, next: Arc<OwnedSet>) {
        let now = Instant::now();
        let prev = std::mem::replace(&mut self.current, next);
        for ip in prev.v4.difference(&self.current.v4) {
            self.garp.cancel(&IpAddr::V4(*ip));
            if let Some(fp) = self.fast.as_mut()
                && let Err(e) = fp.remove(*ip)
            {
                tracing::error!(interface = %self.name, %ip, error = %e, "removing an IP from the ARP fast path");
            }
        }
        for ip in prev.v6.difference(&self.current.v6) {
            self.garp.cancel(&IpAddr::V6(*ip));
            let group = multicast_mac(solicited_node(*ip));
            if let Some(n) = self.groups.get_mut(&group) {
                *n -= 1;
                if *n == 0 {
                    self.groups.remove(&group);
                    if let Err(e) = sockets.ndp.get_ref().leave_multicast(group) {
                        tracing::debug!(interface = %self.name, %group, error = %e, "leaving a multicast group");
                    }
                }
            }
        }
        for ip in self.current.v4.difference(&prev.v4) {
            self.garp.start(IpAddr::V4(*ip), now);
            if let Some(fp) = self.fast.as_mut()
                && let Err(e) = fp.insert(*ip)
            {
                tracing::warn!(interface = %self.name, %ip, error = %e, "the ARP fast path cannot take an IP; user space answers it");
            }
        }
        for ip in self.current.v6.difference(&prev.v6) {
            self.garp.start(IpAddr::V6(*ip), now);
            let group = multicast_mac(solicited_node(*ip));
            let n = self.groups.entry(group).or_insert(0);
            if *n == 0
                && let Err(e) = sockets.ndp.get_ref().join_multicast(group)
            {
                tracing::warn!(interface = %self.name, %group, error = %e, "joining a multicast group");
            }
            *n += 1;
        }
        // the first round is due now: send it without waiting for the loop
        self.announce_due(sockets);
    }

    fn announce_due(&mut self, sockets: &Sockets) {
        for ip in self.garp.due(Instant::now()) {
            let (frame, protocol) = match ip {
                IpAddr::V4(v4) => (ArpFrame::gratuitous(self.mac, v4).encode(), "arp"),
                IpAddr::V6(v6) => (NeighborAdvertisement::unsolicited(self.mac, v6).encode(), "ndp"),
            };
            let socket = if ip.is_ipv4() { &sockets.arp } else { &sockets.ndp };
            match socket.get_ref().send(&frame) {
                Ok(_) => {
                    self.metrics
                        .gratuitous_sent
                        .get_or_create(&ProtocolLabel { protocol })
                        .inc();
                }
                Err(e) => tracing::debug!(interface = %self.name, %ip, error = %e, "gratuitous announcement"),
            }
        }
    }

    /// Reads and answers queued frames of one socket.
    fn drain(
        &mut self,
        arp: bool,
        owned: &watch::Receiver<Arc<OwnedSet>>,
        guard: &mut tokio::io::unix::AsyncFdReadyGuard<'_, PacketSocket>,
    ) {
        let protocol = if arp { "arp" } else { "ndp" };
        for _ in 0..BATCH {
            let (n, kind) = match guard.get_inner().recv(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    return;
                }
                Err(e) => {
                    tracing::debug!(interface = %self.name, error = %e, "receive");
                    return;
                }
            };
            if kind == PacketType::Outgoing {
                continue;
            }
            self.metrics
                .requests_received
                .get_or_create(&ProtocolLabel { protocol })
                .inc();
            let frame = self.buf.get(..n).unwrap_or_default();
            // the latest owned set, not the one last applied: a loss takes effect on the very next frame
            let (result, conflict) = {
                let set = owned.borrow();
                if arp {
                    (
                        answer_arp(frame, self.mac, &set),
                        arp_conflict(frame, self.mac, &set),
                    )
                } else {
                    (
                        answer_ndp(frame, self.mac, &set),
                        ndp_conflict(frame, self.mac, &set),
                    )
                }
            };
            if let Some(c) = conflict {
                self.conflict(guard.get_inner(), c, protocol);
            }
            match result {
                Ok(reply) => match guard.get_inner().send(&reply) {
                    Ok(_) => {
                        self.metrics
                            .responses_sent
                            .get_or_create(&ProtocolLabel { protocol })
                            .inc();
                    }
                    Err(e) => tracing::debug!(interface = %self.name, error = %e, "reply"),
                },
                Err(reason) => self.ignored(protocol, reason),
            }
        }
    }

    /// Another host claims an owned IP: count it, defend the IP (at most once per [`DEFEND_INTERVAL`]) and
    /// report it (at most once per [`REPORT_INTERVAL`]).
    fn conflict(&mut self, socket: &PacketSocket, c: Conflict, protocol: &'static str) {
        self.metrics
            .conflicts
            .get_or_create(&ProtocolLabel { protocol })
            .inc();
        let now = Instant::now();
        let log = &mut self.conflict_log;
        if log
            .defended
            .get(&c.ip)
            .is_none_or(|t| now.saturating_duration_since(*t) >= DEFEND_INTERVAL)
        {
            log.defended.insert(c.ip, now);
            let frame = match c.ip {
                IpAddr::V4(v4) => ArpFrame::gratuitous(self.mac, v4).encode(),
                IpAddr::V6(v6) => NeighborAdvertisement::unsolicited(self.mac, v6).encode(),
            };
            match socket.send(&frame) {
                Ok(_) => {
                    self.metrics
                        .gratuitous_sent
                        .get_or_create(&ProtocolLabel { protocol })
                        .inc();
                }
                Err(e) => tracing::debug!(interface = %self.name, ip = %c.ip, error = %e, "defending an IP"),
            }
        }
        let entry = log.reported.entry(c.ip).or_insert((now, u64::MAX));
        if entry.1 == u64::MAX || now.saturating_duration_since(entry.0) >= REPORT_INTERVAL {
            let unreported = if entry.1 == u64::MAX { 0 } else { entry.1 };
            *entry = (now, 0);
            let report = ConflictReport {
                interface: self.name.clone(),
                conflict: c,
                protocol,
                unreported,
            };
            // the owner loop drains its queue continuously; a full queue drops the report, not the frame
            let _ = self.conflicts.try_send(report);
        } else {
            entry.1 += 1;
        }
        // forget old conflicts: a busy segment must not grow these maps without bound
        if log.reported.len() > 4096 {
            log.reported
                .retain(|_, (t, _)| now.saturating_duration_since(*t) < REPORT_INTERVAL);
            log.defended
                .retain(|_, t| now.saturating_duration_since(*t) < DEFEND_INTERVAL);
        }
    }

    fn ignored(&self, protocol: &'static str, reason: DropReason) {
        self.metrics
            .requests_ignored
            .get_or_create(&DropLabels {
                protocol,
                reason: reason.metric_label(),
            })
            .inc();
    }
}
