//! The membership task: foca, its timers, the authenticated UDP socket and the published [`View`].

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, Timer};
use rand::rngs::StdRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::auth::{Key, Keys, Opener, Sealer};
use super::identity::{NodeId, SpeakerCodec};
use super::timing::Timings;
use super::workaround::keep_outgoing;
use super::{Control, View};
use crate::metrics::{ChangeLabel, Metrics};
use crate::task::TaskHandle;

/// The largest foca payload: leaves room for the authentication header (up to 277 bytes with a 253-byte
/// node name) and tag within a 1,500-byte MTU after IP and UDP headers.
const MAX_PAYLOAD: usize = 1100;
/// Receive buffer: larger than any valid datagram, so oversized ones are seen whole and rejected.
const RECV_BUF: usize = 4096;

/// How the membership task is set up.
#[derive(Debug, Clone)]
pub struct MembershipSettings {
    /// This node's name.
    pub node: String,
    /// UDP port (default 7946).
    pub port: u16,
    /// Address to bind; `None`: every address (`[::]`, or `0.0.0.0` without IPv6).
    pub bind: Option<IpAddr>,
    /// Protocol timings.
    pub timings: Timings,
}

type SpeakerFoca = Foca<NodeId, SpeakerCodec, StdRng, NoCustomBroadcast>;

/// Starts the membership task.
pub fn spawn(
    settings: MembershipSettings,
    metrics: Metrics,
) -> (mpsc::Sender<Control>, watch::Receiver<View>, TaskHandle) {
    let (ctl_tx, ctl_rx) = mpsc::channel(64);
    let (view_tx, view_rx) = watch::channel(View::default());
    let task = TaskHandle::spawn("membership", run(settings, metrics, ctl_rx, view_tx));
    (ctl_tx, view_rx, task)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(1)
}

struct Runner {
    settings: MembershipSettings,
    metrics: Metrics,
    keys: Keys,
    sealer: Sealer,
    opener: Opener,
    address: Option<SocketAddr>,
    seeds: Vec<(String, SocketAddr)>,
    foca: Option<SpeakerFoca>,
    rt: AccumulatingRuntime<NodeId>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    timer_events: HashMap<u64, Timer<NodeId>>,
    timer_seq: u64,
    started_at: Option<Instant>,
    active_since: Option<Instant>,
    settled: bool,
    stepped_aside: bool,
    /// When each active member was first seen active; members seen after this node settled count as live
    /// only `settle` later (a joining speaker needs that long before it announces anything itself).
    up_since: HashMap<String, Instant>,
    last_join_announce: Option<Instant>,
    last_publish: Option<Instant>,
    view_tx: watch::Sender<View>,
    buf: Vec<u8>,
}

async fn run(
    settings: MembershipSettings,
    metrics: Metrics,
    mut ctl: mpsc::Receiver<Control>,
    view_tx: watch::Sender<View>,
) {
    let boot = now_ms();
    let mut r = Runner {
        sealer: Sealer::new(settings.node.clone(), boot),
        settings,
        metrics,
        keys: Keys::default(),
        opener: Opener::new(),
        address: None,
        seeds: Vec::new(),
        foca: None,
        rt: AccumulatingRuntime::new(),
        timers: BinaryHeap::new(),
        timer_events: HashMap::new(),
        timer_seq: 0,
        started_at: None,
        active_since: None,
        settled: false,
        stepped_aside: false,
        up_since: HashMap::new(),
        last_join_announce: None,
        last_publish: None,
        view_tx,
        buf: vec![0u8; RECV_BUF],
    };
    let mut socket: Option<UdpSocket> = None;
    let mut rejoin = tokio::time::interval(r.settings.timings.rejoin_interval);
    rejoin.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let next_timer = r.timers.peek().map(|Reverse((at, _))| *at);
        let settle_at = r.settle_deadline();
        let join_at = r.next_join_announce();
        let mature_at = r.next_maturity();
        tokio::select! {
            c = ctl.recv() => match c {
                None | Some(Control::Leave) => {
                    r.leave();
                    r.flush(socket.as_ref());
                    return;
                }
                Some(c) => {
                    r.control(c);
                    if socket.is_none() && r.ready_to_start() {
                        match bind(&r.settings) {
                            Ok(s) => {
                                socket = Some(s);
                                r.start();
                            }
                            Err(e) => tracing::error!(port = r.settings.port, error = %e, "cannot bind the membership socket; retrying"),
                        }
                    }
                }
            },
            ready = readable(socket.as_ref()) => {
                if ready.is_ok()
                    && let Some(s) = socket.as_ref()
                {
                    r.receive(s);
                }
            }
            () = sleep_opt(next_timer) => r.fire_timers(),
            () = sleep_opt(settle_at) => r.check_settled(),
            () = sleep_opt(join_at) => {
                r.last_join_announce = Some(Instant::now());
                r.announce_missing();
            }
            () = sleep_opt(mature_at) => r.publish(),
            _ = rejoin.tick() => {
                if socket.is_none() && r.ready_to_start() {
                    // a failed bind is retried here
                    if let Ok(s) = bind(&r.settings) {
                        socket = Some(s);
                        r.start();
                    }
                }
                r.announce_missing();
            }
        }
        r.flush(socket.as_ref());
    }
}

async fn readable(s: Option<&UdpSocket>) -> std::io::Result<()> {
    match s {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn bind(s: &MembershipSettings) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let make = |addr: SocketAddr| -> std::io::Result<UdpSocket> {
        let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            sock.set_only_v6(false)?;
        }
        sock.set_reuse_address(true)?;
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        UdpSocket::from_std(sock.into())
    };
    match s.bind {
        Some(ip) => make(SocketAddr::new(ip, s.port)),
        None => make(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), s.port))
            .or_else(|_| make(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), s.port))),
    }
}

/// An IPv4 peer as the (possibly dual-stack IPv6) socket must address it.
fn wire_addr(socket: &UdpSocket, to: SocketAddr) -> SocketAddr {
    match (socket.local_addr(), to) {
        (Ok(SocketAddr::V6(_)), SocketAddr::V4(v4)) => {
            SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
        }
        _ => to,
    }
}

impl Runner {
    fn ready_to_start(&self) -> bool {
        self.keys.has_key() && self.address.is_some()
    }

    fn identity(&self) -> Option<&NodeId> {
        self.foca.as_ref().map(|f| f.identity())
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::Key(Some(k)) => self.keys.set(Some(Key::new(k)), std::time::Instant::now()),
            Control::Key(None) => {
                if self.keys.has_key() {
                    tracing::warn!("the membership Secret or its key is gone; keeping the last key");
                }
            }
            Control::Address(addr) => {
                if self.address == Some(addr) {
                    return;
                }
                self.address = Some(addr);
                let renamed = self
                    .identity()
                    .map(|id| NodeId::new(id.name.clone(), addr, id.generation + 1));
                if let (Some(new), Some(foca)) = (renamed, self.foca.as_mut()) {
                    tracing::info!(%addr, "membership address changed");
                    let _ = foca.change_identity(new, &mut self.rt);
                }
            }
            Control::Seeds(seeds) => {
                let new: Vec<(String, SocketAddr)> = seeds
                    .into_iter()
                    .filter(|(n, _)| *n != self.settings.node)
                    .collect();
                let added: Vec<(String, SocketAddr)> =
                    new.iter().filter(|s| !self.seeds.contains(s)).cloned().collect();
                self.seeds = new;
                for (name, addr) in added {
                    self.announce_to(&name, addr);
                }
            }
            Control::StepAside => {
                if !self.stepped_aside {
                    tracing::warn!("stepping aside: leaving the speaker cluster until an interface is back");
                    self.stepped_aside = true;
                    if let Some(f) = self.foca.as_mut() {
                        let _ = f.leave_cluster(&mut self.rt);
                    }
                }
            }
            Control::Return => {
                if self.stepped_aside {
                    self.stepped_aside = false;
                    let renewed = self
                        .identity()
                        .map(|id| NodeId::new(id.name.clone(), id.addr, (id.generation + 1).max(now_ms())));
                    if let (Some(new), Some(foca)) = (renewed, self.foca.as_mut()) {
                        tracing::info!(generation = new.generation, "rejoining the speaker cluster");
                        let _ = foca.change_identity(new, &mut self.rt);
                    }
                    self.announce_all();
                }
            }
            Control::Leave => self.leave(),
        }
    }

    fn start(&mut self) {
        let Some(addr) = self.address else { return };
        let config = foca::Config {
            max_packet_size: std::num::NonZeroUsize::new(MAX_PAYLOAD).unwrap_or(std::num::NonZeroUsize::MIN),
            ..self.settings.timings.foca_config()
        };
        let id = NodeId::new(self.settings.node.clone(), addr, now_ms());
        tracing::info!(node = %id.name, %addr, generation = id.generation, "joining the speaker cluster");
        self.foca = Some(Foca::new(id, config, rand::make_rng(), SpeakerCodec));
        self.started_at = Some(Instant::now());
        if self.stepped_aside
            && let Some(f) = self.foca.as_mut()
        {
            let _ = f.leave_cluster(&mut self.rt);
        }
        self.announce_all();
        self.publish();
    }

    fn announce_to(&mut self, name: &str, addr: SocketAddr) {
        if self.stepped_aside {
            return;
        }
        if let Some(f) = self.foca.as_mut() {
            let _ = f.announce(NodeId::new(name, addr, 0), &mut self.rt);
        }
    }

    fn announce_all(&mut self) {
        for (name, addr) in self.seeds.clone() {
            self.announce_to(&name, addr);
        }
    }

    /// Asks seeds that are not active members to let us in.
    fn announce_missing(&mut self) {
        let active = self.active_names();
        for (name, addr) in self.seeds.clone() {
            if !active.contains(&name) {
                self.announce_to(&name, addr);
            }
        }
    }

    fn leave(&mut self) {
        if let Some(f) = self.foca.as_mut() {
            let _ = f.leave_cluster(&mut self.rt);
        }
        self.stepped_aside = true;
    }

    fn active_names(&self) -> BTreeSet<String> {
        self.foca
            .iter()
            .flat_map(|f| f.iter_members().map(|m| m.id().name.clone()))
            .collect()
    }

    fn receive(&mut self, socket: &UdpSocket) {
        // drain everything that is queued, then let the loop flush the replies
        for _ in 0..256 {
            let (n, from) = match socket.try_recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "membership socket receive");
                    return;
                }
            };
            let Some(data) = self.buf.get(..n) else { continue };
            let opened = match self.opener.open(&self.keys, data, std::time::Instant::now()) {
                Ok(o) => o,
                Err(e) => {
                    self.metrics.auth_failure(e.metric_label());
                    tracing::debug!(%from, reason = e.metric_label(), "dropped a membership datagram");
                    continue;
                }
            };
            self.metrics.datagram("received");
            if let Some(f) = self.foca.as_mut()
                && let Err(e) = f.handle_data(opened.payload, &mut self.rt)
            {
                tracing::trace!(%from, error = %e, "foca rejected a datagram");
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            if let Some(t) = self.timer_events.remove(&id) {
                due.push(t);
            }
        }
        // foca prefers timers that fall due together in its own order (indirect probes before the next probe)
        due.sort();
        if let Some(f) = self.foca.as_mut() {
            for t in due {
                if let Err(e) = f.handle_timer(t, &mut self.rt) {
                    tracing::trace!(error = %e, "foca timer");
                }
            }
        }
    }

    /// While joining, seeds that have not answered are asked again this often (they may be starting too).
    fn next_join_announce(&self) -> Option<Instant> {
        if self.settled || self.foca.is_none() || self.stepped_aside {
            return None;
        }
        let every = (self.settings.timings.settle / 2).max(std::time::Duration::from_millis(20));
        Some(self.last_join_announce.or(self.started_at)? + every)
    }

    /// When the next recently seen member becomes live: the earliest maturity the last published view does
    /// not reflect yet (possibly already past, if another event won the race at that instant).
    fn next_maturity(&self) -> Option<Instant> {
        if !self.settled {
            return None;
        }
        let published = self.last_publish?;
        self.up_since
            .values()
            .map(|t| *t + self.settings.timings.settle)
            .filter(|t| *t > published)
            .min()
    }

    fn settle_deadline(&self) -> Option<Instant> {
        if self.settled {
            return None;
        }
        let started = self.started_at?;
        let timeout = started + self.settings.timings.join_timeout;
        Some(match self.active_since {
            Some(a) => timeout.min(a + self.settings.timings.settle),
            None => timeout,
        })
    }

    fn check_settled(&mut self) {
        if self.settled {
            return;
        }
        if self.settle_deadline().is_some_and(|d| d <= Instant::now()) {
            self.settled = true;
            // members heard from while joining are live from now on
            let earlier = Instant::now()
                .checked_sub(self.settings.timings.settle)
                .unwrap_or_else(Instant::now);
            for t in self.up_since.values_mut() {
                *t = earlier;
            }
            tracing::info!(members = self.active_names().len() + 1, "membership settled");
        }
    }

    /// Sends what foca produced, schedules its timers and publishes the view if it changed.
    fn flush(&mut self, socket: Option<&UdpSocket>) {
        while let Some((to, data)) = self.rt.to_send() {
            let Some(foca) = self.foca.as_ref() else { continue };
            if !keep_outgoing(foca, &to, &data) {
                continue;
            }
            let (Some(s), Some(datagram)) = (socket, self.sealer.seal(&self.keys, &data)) else {
                continue;
            };
            match s.try_send_to(&datagram, wire_addr(s, to.addr)) {
                Ok(_) => self.metrics.datagram("sent"),
                Err(e) => tracing::trace!(to = %to.addr, error = %e, "membership send"),
            }
        }
        let now = Instant::now();
        while let Some((after, timer)) = self.rt.to_schedule() {
            self.timer_seq += 1;
            self.timers.push(Reverse((now + after, self.timer_seq)));
            self.timer_events.insert(self.timer_seq, timer);
        }
        let mut changed = false;
        while let Some(n) = self.rt.to_notify() {
            changed |= !matches!(
                n,
                OwnedNotification::DataReceived(_) | OwnedNotification::DataSent(_)
            );
            match n {
                OwnedNotification::MemberUp(id) => {
                    self.up_since.entry(id.name.clone()).or_insert_with(Instant::now);
                    tracing::info!(member = %id.name, addr = %id.addr, "member up");
                    self.metrics
                        .member_changes
                        .get_or_create(&ChangeLabel { change: "up" })
                        .inc();
                }
                OwnedNotification::MemberDown(id) => {
                    self.up_since.remove(&id.name);
                    tracing::warn!(member = %id.name, "member down");
                    self.metrics
                        .member_changes
                        .get_or_create(&ChangeLabel { change: "down" })
                        .inc();
                }
                OwnedNotification::Rename(old, new) => {
                    tracing::debug!(member = %new.name, old = old.generation, new = new.generation, "member renewed");
                }
                OwnedNotification::Active => {
                    self.active_since.get_or_insert_with(Instant::now);
                }
                OwnedNotification::Idle => tracing::info!("no other live member"),
                OwnedNotification::Defunct => tracing::debug!("this node's identity is down"),
                OwnedNotification::Rejoin(id) => {
                    tracing::warn!(
                        generation = id.generation,
                        "this node was declared down; rejoined"
                    );
                }
                OwnedNotification::ProbeFailed(_, id) => {
                    tracing::debug!(member = %id.name, "probe failed: suspect");
                    self.metrics.suspicions.inc();
                }
                OwnedNotification::DataReceived(_) | OwnedNotification::DataSent(_) => {}
            }
        }
        self.check_settled();
        if changed || self.view_tx.borrow().settled != self.settled {
            self.publish();
        }
    }

    fn publish(&mut self) {
        let now = Instant::now();
        self.last_publish = Some(now);
        let settle = self.settings.timings.settle;
        let mut live: BTreeSet<String> = self
            .active_names()
            .into_iter()
            .filter(|n| self.up_since.get(n).is_some_and(|t| *t + settle <= now))
            .collect();
        let running = self.foca.is_some();
        if running && !self.stepped_aside {
            live.insert(self.settings.node.clone());
        }
        self.metrics
            .members
            .set(i64::try_from(live.len()).unwrap_or(i64::MAX));
        let view = View {
            running,
            settled: self.settled,
            live,
        };
        self.view_tx.send_if_modified(|v| {
            if *v == view {
                false
            } else {
                *v = view;
                true
            }
        });
    }
}
