//! Real BGP daemons in lab namespaces: GoBGP (`gobgpd`), BIRD 2 and FRR (zebra + bgpd), from one
//! configuration model, with one typed view of their sessions and RIBs.
//!
//! The same [`BgpConfig`] drives all three, so a test can run against each router in turn
//! ([`Router::start`] with a [`RouterKind`]). A GoBGP instance on a node doubles as a stand-in
//! speaker ([`Gobgpd::announce`]).
//!
//! Timing facts that shape the defaults (measured on the project's machine kind):
//! * BIRD and FRR dial with a 1 s connect timer here, and accept a peer's connection at once.
//! * GoBGP v3 waits 5–9 s before its *first* outgoing connection, whatever its timers say: let the
//!   other side dial (a passive gobgpd accepts at once).
//! * GoBGP dynamic neighbours cannot do TCP MD5 (no key on the listener): use explicit peers then.
//! * GoBGP never installs routes in the kernel; BIRD (kernel protocol, `merge paths`) and FRR (zebra)
//!   do, with ECMP.

mod bird;
mod frr;
mod gobgp;
mod kernel;
mod rib;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipnet::IpNet;

pub use bird::{
    Bird, bird_config, parse_bird_bfd_sessions, parse_bird_protocols, parse_bird_routes, protocol_name,
};
pub use frr::{
    Frr, frr_bfdd_config, frr_bgpd_config, parse_frr_bfd_peers, parse_frr_neighbors, parse_frr_rib,
};
pub use gobgp::{Announcement, Gobgpd, gobgp_config, parse_gobgp_neighbors, parse_gobgp_rib};
pub use kernel::{KernelRoute, parse_ip_routes};
pub use rib::{Community, LargeCommunity, Rib, RibPath};

use crate::error::Result;
use crate::lab::Lab;
use crate::wait::wait_until;

/// Which daemon plays the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouterKind {
    /// GoBGP (`gobgpd`).
    Gobgp,
    /// BIRD 2.
    Bird,
    /// FRR (zebra + bgpd).
    Frr,
}

impl RouterKind {
    /// All three.
    pub const ALL: [RouterKind; 3] = [RouterKind::Gobgp, RouterKind::Bird, RouterKind::Frr];

    /// The tool a test needs for this router.
    pub fn tool(self) -> crate::Tool {
        match self {
            RouterKind::Gobgp => crate::Tool::Gobgp,
            RouterKind::Bird => crate::Tool::Bird,
            RouterKind::Frr => crate::Tool::Frr,
        }
    }
}

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 unicast.
    Ipv4,
    /// IPv6 unicast.
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

/// A BGP neighbour with an explicit address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its address (on the segment).
    pub address: IpAddr,
    /// Its AS number (equal to ours: iBGP).
    pub asn: u32,
    /// TCP MD5 password.
    pub password: Option<String>,
    /// Never dial this peer, only accept its connection.
    pub passive: bool,
    /// Families on this session (default: the address's family).
    pub families: Vec<Family>,
    /// Hold time override (seconds).
    pub hold_time: Option<u16>,
    /// The peer's BGP port, when not 179.
    pub port: Option<u16>,
    /// Run BFD with this peer (BIRD `bfd on`, FRR `neighbor … bfd`) with the config's [`BfdTimers`]; not
    /// supported by GoBGP.
    pub bfd: bool,
    /// `ebgp-multihop`: the peer is not directly connected (BFD then runs multi-hop, RFC 5883).
    pub multihop: bool,
    /// The router's own address for the session (BIRD `local`, FRR `update-source`): multi-hop BFD needs it.
    pub local: Option<IpAddr>,
}

impl Peer {
    /// A peer at `address` in AS `asn`, carrying the address's family.
    pub fn new(address: IpAddr, asn: u32) -> Self {
        Peer {
            address,
            asn,
            password: None,
            passive: false,
            families: vec![Family::of(address)],
            hold_time: None,
            port: None,
            bfd: false,
            multihop: false,
            local: None,
        }
    }

    /// The router's own address for the session.
    pub fn local(mut self, address: IpAddr) -> Self {
        self.local = Some(address);
        self
    }

    /// With BFD.
    pub fn bfd(mut self) -> Self {
        self.bfd = true;
        self
    }

    /// As an `ebgp-multihop` peer.
    pub fn multihop(mut self) -> Self {
        self.multihop = true;
        self
    }

    /// With a TCP MD5 password.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// Passive: only accept the peer's connection.
    pub fn passive(mut self) -> Self {
        self.passive = true;
        self
    }

    /// With these families on the session.
    pub fn families(mut self, families: &[Family]) -> Self {
        self.families = families.to_vec();
        self
    }

    /// Dial the peer on `port` instead of 179.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// With a hold time (seconds; keepalive is a third of it).
    pub fn hold_time(mut self, secs: u16) -> Self {
        self.hold_time = Some(secs);
        self
    }
}

/// Neighbours accepted from a whole range (passive), e.g. every node of the segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRange {
    /// The range.
    pub range: IpNet,
    /// The peers' AS number.
    pub asn: u32,
    /// TCP MD5 password (not supported by GoBGP).
    pub password: Option<String>,
    /// Families (default: the range's family).
    pub families: Vec<Family>,
}

impl PeerRange {
    /// Peers from `range` in AS `asn`.
    pub fn new(range: IpNet, asn: u32) -> Self {
        PeerRange {
            range,
            asn,
            password: None,
            families: vec![Family::of(range.addr())],
        }
    }

    /// With a TCP MD5 password.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }
}

/// The router's BFD timers and behaviour, for every peer with [`Peer::bfd`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BfdTimers {
    /// Desired minimum transmit interval, ms.
    pub min_tx_ms: u32,
    /// Required minimum receive interval, ms.
    pub min_rx_ms: u32,
    /// Detect multiplier.
    pub multiplier: u8,
    /// What a BFD session going down does to BGP on this router.
    pub mode: BfdMode,
}

impl BfdTimers {
    /// `ms` both ways, multiplier `multiplier`, BGP taken down by a BFD failure.
    pub fn new(ms: u32, multiplier: u8) -> Self {
        BfdTimers {
            min_tx_ms: ms,
            min_rx_ms: ms,
            multiplier,
            mode: BfdMode::Down,
        }
    }
}

impl Default for BfdTimers {
    /// MetalLB's defaults: 300 ms, multiplier 3.
    fn default() -> Self {
        BfdTimers::new(300, 3)
    }
}

/// What a router does to a BGP session when its BFD session goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BfdMode {
    /// The BGP session goes down and its routes are withdrawn (BIRD `bfd on`, FRR `neighbor … bfd`).
    Down,
    /// FRR `neighbor … bfd check-control-plane-failure`: while the peer is restarting gracefully and its BFD
    /// C bit is clear, BFD Down is ignored (BIRD: same as [`BfdMode::Down`]).
    CheckControlPlaneFailure,
    /// BIRD `bfd graceful`: BFD Down starts a graceful restart instead (FRR: same as [`BfdMode::Down`]).
    Graceful,
}

/// A BFD session as the router reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdPeer {
    /// The neighbour's address.
    pub peer: IpAddr,
    /// The state as the router spells it.
    pub state: String,
    /// Whether it is Up.
    pub up: bool,
    /// The router's own address for the session, when it reports one (FRR; not the unspecified address
    /// FRR's bgpd registers before the BGP connection told it).
    pub local: Option<IpAddr>,
}

/// One BGP daemon's configuration, rendered for each router kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// Our AS number.
    pub asn: u32,
    /// Our router ID.
    pub router_id: Ipv4Addr,
    /// Hold time in seconds (default 9; keepalive = hold / 3).
    pub hold_time: u16,
    /// Seconds between connection attempts (default 1; GoBGP ignores it for the first dial).
    pub connect_retry: u16,
    /// The port to accept BGP connections on (179); `None`: do not listen (GoBGP, FRR; BIRD
    /// always listens and refuses `None`).
    pub listen_port: Option<u16>,
    /// Whether to install received routes in the kernel (BIRD, FRR; GoBGP never does).
    pub install_routes: bool,
    /// Explicit neighbours.
    pub peers: Vec<Peer>,
    /// Neighbour ranges.
    pub ranges: Vec<PeerRange>,
    /// BFD timers for the peers with [`Peer::bfd`].
    pub bfd: BfdTimers,
}

impl BgpConfig {
    /// AS `asn`, router ID `router_id`, no neighbours yet.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Self {
        BgpConfig {
            asn,
            router_id,
            hold_time: 9,
            connect_retry: 1,
            listen_port: Some(179),
            install_routes: true,
            peers: Vec::new(),
            ranges: Vec::new(),
            bfd: BfdTimers::default(),
        }
    }

    /// Sets the BFD timers.
    pub fn bfd(mut self, timers: BfdTimers) -> Self {
        self.bfd = timers;
        self
    }

    /// Whether any peer runs BFD.
    pub fn uses_bfd(&self) -> bool {
        self.peers.iter().any(|p| p.bfd)
    }

    /// The lab's router with one IPv4 session per node (nodes in AS `node_asn`).
    pub fn router_for_nodes(lab: &Lab, asn: u32, node_asn: u32) -> Self {
        let mut cfg = BgpConfig::new(asn, lab.router().ipv4());
        cfg.peers = lab
            .nodes()
            .map(|n| Peer::new(IpAddr::V4(n.ipv4()), node_asn))
            .collect();
        cfg
    }

    /// Adds an IPv6 session per node (nodes in AS `node_asn`).
    pub fn with_ipv6_sessions(mut self, lab: &Lab, node_asn: u32) -> Self {
        self.peers
            .extend(lab.nodes().map(|n| Peer::new(IpAddr::V6(n.ipv6()), node_asn)));
        self
    }

    /// A stand-in speaker on `node`: one session to the lab's router (AS `router_asn`).
    pub fn speaker_for(lab: &Lab, node: &str, asn: u32, router_asn: u32) -> Self {
        let mut cfg = BgpConfig::new(asn, lab.host(node).ipv4());
        cfg.peers
            .push(Peer::new(IpAddr::V4(lab.router().ipv4()), router_asn));
        cfg
    }

    /// Adds a neighbour.
    pub fn peer(mut self, peer: Peer) -> Self {
        self.peers.push(peer);
        self
    }

    /// Adds a neighbour range.
    pub fn range(mut self, range: PeerRange) -> Self {
        self.ranges.push(range);
        self
    }

    /// Sets the hold time (keepalive = hold / 3).
    pub fn hold_time(mut self, secs: u16) -> Self {
        self.hold_time = secs;
        self
    }

    pub(crate) fn keepalive(hold: u16) -> u16 {
        (hold / 3).max(1)
    }
}

/// A BGP session as the router reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The neighbour's address.
    pub peer: IpAddr,
    /// The router's name for the session, if it has one (BIRD protocol name).
    pub name: Option<String>,
    /// The state as the router spells it.
    pub state: String,
    /// Whether the session is Established.
    pub established: bool,
}

/// What every router runner offers.
pub trait BgpRouter {
    /// Which daemon this is.
    fn kind(&self) -> RouterKind;

    /// The sessions it knows (configured and dynamic ones).
    fn sessions(&self) -> Result<Vec<Session>>;

    /// Its BGP RIB (Loc-RIB with every received path) for `family`.
    fn rib(&self, family: Family) -> Result<Rib>;

    /// Waits until at least `count` sessions are Established.
    fn wait_established(&self, count: usize, timeout: Duration) -> Result<Vec<Session>> {
        wait_until(
            &format!("{count} established {:?} session(s)", self.kind()),
            timeout,
            || self.sessions(),
            |s| s.iter().filter(|s| s.established).count() >= count,
        )
    }

    /// Waits until the session with `peer` is Established.
    fn wait_peer_established(&self, peer: IpAddr, timeout: Duration) -> Result<Session> {
        let sessions = wait_until(
            &format!("{:?} session with {peer} to be established", self.kind()),
            timeout,
            || self.sessions(),
            |s| s.iter().any(|s| s.peer == peer && s.established),
        )?;
        sessions
            .into_iter()
            .find(|s| s.peer == peer)
            .ok_or_else(|| unreachable_session(peer))
    }

    /// Waits until `prefix`'s paths satisfy `accept` (e.g. `|p| p.len() == 3`, or `p.is_empty()`
    /// for a withdrawal). Returns the paths.
    fn wait_route(
        &self,
        prefix: IpNet,
        timeout: Duration,
        mut accept: impl FnMut(&[RibPath]) -> bool,
    ) -> Result<Vec<RibPath>>
    where
        Self: Sized,
    {
        let family = if prefix.addr().is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        };
        wait_until(
            &format!("{:?} RIB entry for {prefix}", self.kind()),
            timeout,
            || self.rib(family).map(|r| r.paths(&prefix.trunc()).to_vec()),
            |p| accept(p),
        )
    }
}

fn unreachable_session(peer: IpAddr) -> crate::LabError {
    crate::LabError::Invalid(format!("session with {peer} vanished"))
}

/// Any of the three routers, for tests that run against each in turn.
#[derive(Debug)]
pub enum Router {
    /// GoBGP.
    Gobgp(Gobgpd),
    /// BIRD 2.
    Bird(Bird),
    /// FRR.
    Frr(Frr),
}

impl Router {
    /// Starts a router of `kind` on `host` and waits until its control interface answers.
    pub fn start(kind: RouterKind, lab: &Lab, host: &str, cfg: &BgpConfig) -> Result<Router> {
        Ok(match kind {
            RouterKind::Gobgp => Router::Gobgp(Gobgpd::start(lab, host, cfg)?),
            RouterKind::Bird => Router::Bird(Bird::start(lab, host, cfg)?),
            RouterKind::Frr => Router::Frr(Frr::start(lab, host, cfg)?),
        })
    }

    /// Its BFD sessions (BIRD and FRR; GoBGP has no BFD).
    pub fn bfd_sessions(&self) -> Result<Vec<BfdPeer>> {
        match self {
            Router::Gobgp(_) => Err(crate::LabError::Invalid("GoBGP has no BFD".into())),
            Router::Bird(r) => r.bfd_sessions(),
            Router::Frr(r) => r.bfd_sessions(),
        }
    }

    /// Waits until the BFD session with `peer` satisfies `ok` (e.g. `|p| p.up`).
    pub fn wait_bfd(
        &self,
        peer: IpAddr,
        timeout: Duration,
        ok: impl Fn(&BfdPeer) -> bool,
    ) -> Result<BfdPeer> {
        let sessions = wait_until(
            &format!("{:?} BFD session with {peer}", self.kind()),
            timeout,
            || self.bfd_sessions(),
            |s| s.iter().any(|b| b.peer == peer && ok(b)),
        )?;
        sessions
            .into_iter()
            .find(|b| b.peer == peer && ok(b))
            .ok_or_else(|| unreachable_session(peer))
    }

    /// Stops the daemon(s) (SIGTERM, then SIGKILL) and reaps them.
    pub fn stop(self) -> Result<()> {
        match self {
            Router::Gobgp(r) => r.stop(),
            Router::Bird(r) => r.stop(),
            Router::Frr(r) => r.stop(),
        }
    }
}

impl BgpRouter for Router {
    fn kind(&self) -> RouterKind {
        match self {
            Router::Gobgp(r) => r.kind(),
            Router::Bird(r) => r.kind(),
            Router::Frr(r) => r.kind(),
        }
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        match self {
            Router::Gobgp(r) => r.sessions(),
            Router::Bird(r) => r.sessions(),
            Router::Frr(r) => r.sessions(),
        }
    }

    fn rib(&self, family: Family) -> Result<Rib> {
        match self {
            Router::Gobgp(r) => r.rib(family),
            Router::Bird(r) => r.rib(family),
            Router::Frr(r) => r.rib(family),
        }
    }
}

/// The file-name stem for a daemon's files in the lab directory (`router-bird`, `node1-gobgpd`).
pub(crate) fn stem(host: &str, daemon: &str) -> String {
    format!("{host}-{daemon}")
}

/// Grace period for SIGTERM before SIGKILL when stopping a daemon.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);
/// Deadline for a daemon's control interface to answer after start.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(10);
