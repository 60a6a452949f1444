//! The membership task: the I/O around the [`Engine`] — the authenticated UDP socket, the clock, the
//! published [`View`], logs and metrics.
//!
//! When a deadline wakes the task, it first reads whatever the socket holds, then runs what is due: after a
//! stall of the process, answers that arrived meanwhile count before any timer judges their silence.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until};

use super::auth::{Key, Keys, Opener, Sealer};
use super::engine::{Engine, Note};
use super::metrics::MembershipMetrics;
use super::timing::Timings;
use super::watch::WatchEvent;
use super::{Control, View};
use crate::metrics::ChangeLabel;
use crate::task::TaskHandle;

/// Receive buffer: larger than any valid datagram, so oversized ones are seen whole and rejected.
const RECV_BUF: usize = 4096;
/// Datagrams read per wake-up before the loop turns (and flushes replies).
const RECV_BATCH: usize = 256;

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

/// Starts the membership task.
pub fn spawn(
    settings: MembershipSettings,
    metrics: MembershipMetrics,
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
    metrics: MembershipMetrics,
    origin: Instant,
    engine: Engine,
    keys: Keys,
    sealer: Sealer,
    opener: Opener,
    socket: Option<UdpSocket>,
    view_tx: watch::Sender<View>,
    buf: Vec<u8>,
}

async fn run(
    settings: MembershipSettings,
    metrics: MembershipMetrics,
    mut ctl: mpsc::Receiver<Control>,
    view_tx: watch::Sender<View>,
) {
    let boot = now_ms();
    let mut r = Runner {
        sealer: Sealer::new(settings.node.clone(), boot),
        engine: Engine::new(settings.node.clone(), settings.timings, boot),
        origin: Instant::now(),
        settings,
        metrics,
        keys: Keys::default(),
        opener: Opener::new(),
        socket: None,
        view_tx,
        buf: vec![0u8; RECV_BUF],
    };
    let mut bind_retry = tokio::time::interval(r.settings.timings.rejoin_interval);
    bind_retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = r.engine.next_deadline().map(|d| r.origin + d);
        tokio::select! {
            c = ctl.recv() => match c {
                None | Some(Control::Leave) => {
                    r.engine.leave(r.now());
                    r.flush();
                    return;
                }
                Some(c) => {
                    r.control(c);
                    r.try_start();
                }
            },
            ready = readable(r.socket.as_ref()) => {
                if ready.is_ok() {
                    r.receive();
                }
            }
            () = sleep_opt(deadline) => {
                r.receive();
                r.engine.poll(r.now());
            }
            _ = bind_retry.tick(), if r.socket.is_none() => r.try_start(),
        }
        r.flush();
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
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn control(&mut self, c: Control) {
        match &c {
            Control::Key(Some(k)) => self
                .keys
                .set(Some(Key::new(k.clone())), std::time::Instant::now()),
            Control::Key(None) if self.keys.has_key() => {
                tracing::warn!("the membership Secret or its key is gone; keeping the last key");
            }
            _ => {}
        }
        let now = self.now();
        self.engine.control(c, now);
    }

    /// Binds and starts once there is a key and an address; a failed bind is retried.
    fn try_start(&mut self) {
        if self.socket.is_some() || !self.engine.ready_to_start() {
            return;
        }
        match bind(&self.settings) {
            Ok(s) => {
                self.socket = Some(s);
                let now = self.now();
                self.engine.start(now, rand::make_rng());
            }
            Err(e) => {
                tracing::error!(port = self.settings.port, error = %e, "cannot bind the membership socket; retrying");
            }
        }
    }

    /// Reads everything queued (bounded), then lets the loop flush the replies.
    fn receive(&mut self) {
        let Some(socket) = self.socket.as_ref() else {
            return;
        };
        for _ in 0..RECV_BATCH {
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
            let now = self.origin.elapsed();
            self.engine.handle(opened.sender, from, opened.payload, now);
        }
    }

    /// Sends what the engine produced, logs its notes and publishes the view if it changed.
    fn flush(&mut self) {
        for o in self.engine.take_outgoing() {
            let (Some(s), Some(datagram)) = (self.socket.as_ref(), self.sealer.seal(&self.keys, &o.payload))
            else {
                continue;
            };
            match s.try_send_to(&datagram, wire_addr(s, o.to)) {
                Ok(_) => self.metrics.datagram("sent"),
                Err(e) => tracing::trace!(to = %o.to, error = %e, "membership send"),
            }
        }
        for n in self.engine.take_notes() {
            self.note(n);
        }
        // the task publishes whole views; the simulator reads the changes
        drop(self.engine.take_changes());
        let (watched, watchers) = self.engine.watch_counts();
        self.metrics
            .watched
            .set(i64::try_from(watched).unwrap_or(i64::MAX));
        self.metrics
            .watchers
            .set(i64::try_from(watchers).unwrap_or(i64::MAX));
        if self.engine.view_changed() {
            let view = self.engine.view();
            self.metrics
                .members
                .set(i64::try_from(view.live.len()).unwrap_or(i64::MAX));
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

    fn change(&self, change: &'static str) {
        self.metrics
            .member_changes
            .get_or_create(&ChangeLabel { change })
            .inc();
    }

    fn note(&self, n: Note) {
        match n {
            Note::Joining(id) => {
                tracing::info!(node = %id.name, addr = %id.addr, generation = id.generation, "joining the speaker cluster");
            }
            Note::AddressChanged(id) => tracing::info!(addr = %id.addr, "membership address changed"),
            Note::MemberUp(id) => {
                tracing::info!(member = %id.name, addr = %id.addr, "member up");
                self.change("up");
            }
            Note::MemberDown(id) => {
                tracing::warn!(member = %id.name, "member down");
                self.change("down");
            }
            Note::Renamed(id) => {
                tracing::debug!(member = %id.name, generation = id.generation, "member renewed");
            }
            Note::Idle => tracing::info!("no other live member"),
            Note::Rejoined(id) => {
                tracing::warn!(
                    generation = id.generation,
                    "this node was declared down; rejoined"
                );
            }
            Note::ProbeFailed(id) => {
                tracing::debug!(member = %id.name, "probe failed: suspect");
                self.metrics.suspicions.inc();
            }
            Note::Settled(members) => tracing::info!(members, "membership settled"),
            Note::SteppedAside => {
                tracing::warn!("stepping aside: leaving the speaker cluster until an interface is back");
            }
            Note::Returned(id) => {
                tracing::info!(generation = id.generation, "rejoining the speaker cluster");
            }
            Note::Watch(WatchEvent::Unreachable(m)) => {
                tracing::warn!(member = %m, "no heartbeat answer: taking over its IPs");
                self.change("unreachable");
            }
            Note::Watch(WatchEvent::Reachable(m)) => {
                tracing::info!(member = %m, "heartbeat answered again");
                self.change("reachable");
            }
            Note::Watch(WatchEvent::Withdrawn(m)) => {
                tracing::warn!(member = %m, "heartbeats unanswered but the cluster sees it alive: left to SWIM");
                self.change("withdrawn");
            }
            Note::Foca(e) => tracing::trace!(error = %e, "foca"),
        }
    }
}
