//! From a configured peer and this node to everything one session runs with (pure).
//!
//! - Router ID: the peer's `router-id`, else the node's first IPv4 address (no IPv4 address: an error).
//! - Source: `source-address` (bound, or the connection fails), else the node's first address of the peer's
//!   family (bound if the kernel has it, else the kernel chooses), else the kernel chooses.
//! - TTL: 1 for eBGP without `ebgp-multihop` (directly connected, as RFC 4271 peers expect), 255 with it;
//!   the system default for iBGP.
//! - Timers from the config (hold time, keepalive); one address family, the peer address's, or both with
//!   `dualStackAddressFamily` (see [`super::desired`] for the next hops of the other family); graceful restart
//!   with forwarding preserved (the data path does not run through the speaker).
//!
//! - BFD: a peer with a `bfd-profile` gets a BFD session ([`crate::bfd::settings`]) from the same source
//!   address, and its BGP session depends on it ([`PeerSettings::bfd`]); the profile's timers are not part of
//!   the BGP settings, so changing them never resets BGP. `echo-mode` is refused: the peer gets no session.
//!
//! Sessions are keyed by the peer's address and port ([`PeerSettings::key`]): any other change to a peer
//! changes its [`PeerSettings`] and resets that one session.

use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use std::collections::BTreeMap;

use ferrolb_config::{BfdProfile, Peer};
use ferrolb_proto::bgp::{Backoff, ConfigError, Family, GracefulRestartConfig, Session, SessionConfig};

use crate::bfd::{BfdKey, BfdSettings};

/// How sessions behave beyond what the config says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Graceful restart time announced to peers (seconds, at most 4095): how long they keep our routes
    /// while the speaker restarts.
    pub graceful_restart_time: u16,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
    /// How long to wait for the peer's OPEN once connected.
    pub open_hold_time: Duration,
    /// Reconnect backoff after failures.
    pub backoff: Backoff,
}

impl Default for SessionOptions {
    /// Restart time 120 s, connect timeout 10 s, OPEN wait 240 s (RFC 4271), backoff 1 s doubling to 30 s.
    fn default() -> Self {
        SessionOptions {
            graceful_restart_time: 120,
            connect_timeout: Duration::from_secs(10),
            open_hold_time: Duration::from_secs(240),
            backoff: Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(30),
            },
        }
    }
}

/// How the TCP connection to a peer is made.
#[derive(Clone, PartialEq, Eq)]
pub struct Transport {
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Local address to bind before connecting.
    pub bind: Option<IpAddr>,
    /// Whether a failure to bind `bind` fails the connection (an explicit `source-address`) or lets the
    /// kernel choose (the node's address, which may not be local, e.g. behind NAT).
    pub bind_required: bool,
    /// TCP MD5 key.
    pub md5_password: Option<String>,
    /// IP TTL / IPv6 hop limit of our packets; `None` keeps the system default.
    pub ttl: Option<u32>,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("remote", &self.remote)
            .field("bind", &self.bind)
            .field("bind_required", &self.bind_required)
            .field("md5_password", &self.md5_password.as_ref().map(|_| "<redacted>"))
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Everything one session runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSettings {
    /// The peer's name in the config (advertisements select peers by it).
    pub name: String,
    /// The state machine's configuration.
    pub session: SessionConfig,
    /// The TCP connection.
    pub transport: Transport,
    /// The BFD session the BGP session depends on: it starts only while that one is Up, and ends when it fails.
    pub bfd: Option<BfdKey>,
    /// With `dualStackAddressFamily`: the next hop of the other family's routes
    /// ([`super::desired::other_family_next_hop`]); `None`: the session carries its own family only.
    pub other_family_next_hop: Option<IpAddr>,
}

/// A peer's settings and, with a BFD profile, its BFD session's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The BGP session's.
    pub settings: PeerSettings,
    /// The BFD session's.
    pub bfd: Option<BfdSettings>,
}

impl PeerSettings {
    /// The session's identity: the peer's address and port.
    pub fn key(&self) -> SocketAddr {
        self.transport.remote
    }
}

/// Why a configured peer gets no session on this node. The labels are metric labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// No `router-id` configured and the node has no IPv4 address to use instead.
    #[error("peer {peer}: no router-id configured and node has no IPv4 address to use as one")]
    NoRouterId {
        /// The peer.
        peer: SocketAddr,
    },
    /// The session configuration is refused by the state machine.
    #[error("peer {peer}: {source}")]
    Session {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        #[source]
        source: ConfigError,
    },
    /// Another peer of the config has the same address and port on this node; the first one is used.
    #[error("peer {peer} is configured more than once for this node; using the first")]
    Duplicate {
        /// The peer.
        peer: SocketAddr,
    },
    /// The peer names a BFD profile the configuration does not have.
    #[error("peer {peer}: unknown bfd-profile {profile:?}")]
    UnknownBfdProfile {
        /// The peer.
        peer: SocketAddr,
        /// The name.
        profile: String,
    },
    /// The peer needs BFD, but BFD could not start on this node.
    #[error("peer {peer}: {reason}")]
    BfdUnavailable {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The peer's BFD profile asks for what ferrolb's BFD cannot do (`echo-mode`).
    #[error("peer {peer}: bfd-profile {profile:?}: {source}")]
    Bfd {
        /// The peer.
        peer: SocketAddr,
        /// The profile.
        profile: String,
        /// Why.
        #[source]
        source: ferrolb_proto::bfd::ConfigError,
    },
}

impl PeerError {
    /// A short, stable label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            PeerError::NoRouterId { .. } => "no_router_id",
            PeerError::Session { .. } => "invalid_session",
            PeerError::Duplicate { .. } => "duplicate",
            PeerError::UnknownBfdProfile { .. } => "unknown_bfd_profile",
            PeerError::BfdUnavailable { .. } => "bfd_unavailable",
            PeerError::Bfd {
                source: ferrolb_proto::bfd::ConfigError::EchoModeUnsupported,
                ..
            } => "bfd_echo_mode",
            PeerError::Bfd { .. } => "invalid_bfd",
        }
    }

    /// Every label [`PeerError::metric_label`] returns.
    pub const LABELS: [&'static str; 7] = [
        "no_router_id",
        "invalid_session",
        "duplicate",
        "unknown_bfd_profile",
        "bfd_unavailable",
        "bfd_echo_mode",
        "invalid_bfd",
    ];
}

/// The settings of `peer`'s session on a node named `node` with `node_addresses`, its BFD profile (if any)
/// looked up in `bfd_profiles`.
pub fn resolve(
    peer: &Peer,
    node: &str,
    node_addresses: &[IpAddr],
    bfd_profiles: &BTreeMap<String, BfdProfile>,
    options: &SessionOptions,
) -> Result<Resolved, PeerError> {
    let remote = SocketAddr::new(peer.address, peer.port);
    let router_id = peer
        .router_id
        .or_else(|| first_ipv4(node_addresses))
        .ok_or(PeerError::NoRouterId { peer: remote })?;
    let family = if peer.address.is_ipv4() {
        Family::Ipv4Unicast
    } else {
        Family::Ipv6Unicast
    };
    let hold_time = u16::try_from(peer.hold_time.as_secs()).unwrap_or(u16::MAX);
    let keepalive = u16::try_from(peer.keepalive_time.as_secs()).unwrap_or(u16::MAX);
    let mut session = SessionConfig::new(peer.my_asn, peer.asn, router_id);
    session.hold_time = hold_time;
    session.keepalive_time = Some(if hold_time == 0 { 0 } else { keepalive });
    session.families = if peer.dual_stack_address_family {
        vec![Family::Ipv4Unicast, Family::Ipv6Unicast]
    } else {
        vec![family]
    };
    // No N bit (RFC 8538): a restart keeps the routes anyway by closing without a NOTIFICATION (RFC 4724),
    // and with N negotiated a router would also keep them after a hold timer expiry — a node that lost power
    // would stay a next hop for the restart time on top of the hold time.
    session.graceful_notification = false;
    // Graceful restart as the peer asks (a `BGPPeer`'s `enableGracefulRestart`; ConfigMap peers always).
    session.graceful_restart = peer.graceful_restart.then(|| GracefulRestartConfig {
        restart_time: options.graceful_restart_time.min(0x0fff),
        restarting: false,
        forwarding_preserved: true,
    });
    session.connect_timeout = options.connect_timeout;
    session.open_hold_time = options.open_hold_time;
    session.backoff = options.backoff;
    // `connectTime` (FRR's `timers connect`): a fixed time between attempts, which also bounds each attempt
    if let Some(every) = peer.connect_time {
        session.connect_timeout = every;
        session.backoff = Backoff {
            initial: every,
            max: every,
        };
    }
    session.jitter_seed = jitter_seed(node, remote);
    // the state machine refuses what it cannot run with; report it now rather than at start
    Session::new(session.clone()).map_err(|source| PeerError::Session { peer: remote, source })?;

    let (bind, bind_required) = match peer.source_address {
        Some(src) => (Some(src), true),
        None => (
            node_addresses
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == peer.address.is_ipv4()),
            false,
        ),
    };
    let ebgp = peer.asn != peer.my_asn;
    let ttl = match (ebgp, peer.ebgp_multihop) {
        (true, false) => Some(1),
        (true, true) => Some(255),
        (false, _) => None,
    };
    let bfd = match &peer.bfd_profile {
        None => None,
        Some(name) => {
            let profile = bfd_profiles
                .get(name)
                .ok_or_else(|| PeerError::UnknownBfdProfile {
                    peer: remote,
                    profile: name.clone(),
                })?;
            let settings =
                crate::bfd::settings::resolve(profile, peer, bind, bind_required).map_err(|source| {
                    PeerError::Bfd {
                        peer: remote,
                        profile: name.clone(),
                        source,
                    }
                })?;
            Some(settings)
        }
    };
    Ok(Resolved {
        settings: PeerSettings {
            name: peer.name.clone(),
            session,
            transport: Transport {
                remote,
                bind,
                bind_required,
                md5_password: peer.password.as_ref().map(|p| p.value.clone()),
                ttl,
            },
            bfd: bfd.as_ref().map(BfdSettings::key),
            other_family_next_hop: bind
                .filter(|_| peer.dual_stack_address_family)
                .and_then(|local| super::desired::other_family_next_hop(local, node_addresses)),
        },
        bfd,
    })
}

fn first_ipv4(addresses: &[IpAddr]) -> Option<Ipv4Addr> {
    addresses.iter().find_map(|a| match a {
        IpAddr::V4(v4) => Some(*v4),
        IpAddr::V6(_) => None,
    })
}

/// A per node and peer seed, so that speakers do not retry in step.
fn jitter_seed(node: &str, remote: SocketAddr) -> u64 {
    let mut h = DefaultHasher::new();
    (node, remote).hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str, asn: u32, my_asn: u32) -> Peer {
        Peer {
            name: "peer1".into(),
            address: address.parse().unwrap(),
            port: 179,
            asn,
            my_asn,
            source_address: None,
            hold_time: Duration::from_secs(90),
            keepalive_time: Duration::from_secs(30),
            router_id: None,
            password: None,
            bfd_profile: None,
            ebgp_multihop: false,
            dual_stack_address_family: false,
            node_selectors: Vec::new(),
            connect_time: None,
            graceful_restart: true,
        }
    }

    /// The BGP settings alone, no BFD profiles.
    fn resolve_bgp(
        peer: &Peer,
        node: &str,
        addresses: &[IpAddr],
        options: &SessionOptions,
    ) -> Result<PeerSettings, PeerError> {
        resolve(peer, node, addresses, &BTreeMap::new(), options).map(|r| r.settings)
    }

    fn node() -> Vec<IpAddr> {
        vec!["2001:db8::11".parse().unwrap(), "192.0.2.11".parse().unwrap()]
    }

    #[test]
    fn ebgp_direct_peer_gets_ttl_1_node_router_id_and_node_source() {
        let s = resolve_bgp(
            &peer("192.0.2.1", 64512, 64513),
            "node1",
            &node(),
            &SessionOptions::default(),
        )
        .unwrap();
        assert_eq!(s.key(), "192.0.2.1:179".parse().unwrap());
        assert_eq!(s.session.router_id, Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!((s.session.local_asn, s.session.peer_asn), (64513, 64512));
        assert_eq!((s.session.hold_time, s.session.keepalive_time), (90, Some(30)));
        assert_eq!(s.session.families, [Family::Ipv4Unicast]);
        let gr = s.session.graceful_restart.unwrap();
        assert!(gr.forwarding_preserved && !gr.restarting);
        assert!(!s.session.graceful_notification, "no N bit of RFC 8538");
        assert_eq!(gr.restart_time, 120);
        assert_eq!(s.transport.ttl, Some(1));
        assert_eq!(s.transport.bind, Some("192.0.2.11".parse().unwrap()));
        assert!(!s.transport.bind_required);
    }

    #[test]
    fn multihop_ibgp_source_address_password_and_port() {
        let mut p = peer("2001:db8::1", 64512, 64512);
        p.port = 1790;
        p.source_address = Some("2001:db8::99".parse().unwrap());
        p.password = Some(ferrolb_config::PeerPassword {
            value: "s3cret".into(),
            source: ferrolb_config::PasswordSource::Inline,
        });
        p.router_id = Some(Ipv4Addr::new(198, 51, 100, 7));
        p.hold_time = Duration::ZERO;
        p.keepalive_time = Duration::ZERO;
        let s = resolve_bgp(&p, "node1", &node(), &SessionOptions::default()).unwrap();
        assert_eq!(s.key(), "[2001:db8::1]:1790".parse().unwrap());
        assert_eq!(s.transport.ttl, None, "iBGP keeps the system TTL");
        assert_eq!(s.transport.bind, Some("2001:db8::99".parse().unwrap()));
        assert!(s.transport.bind_required);
        assert_eq!(s.session.router_id, Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(s.session.families, [Family::Ipv6Unicast]);
        assert_eq!((s.session.hold_time, s.session.keepalive_time), (0, Some(0)));
        assert!(!format!("{s:?}").contains("s3cret"), "the password is redacted");

        let mut p = peer("192.0.2.1", 64512, 64513);
        p.ebgp_multihop = true;
        let s = resolve_bgp(&p, "node1", &node(), &SessionOptions::default()).unwrap();
        assert_eq!(s.transport.ttl, Some(255));
    }

    #[test]
    fn graceful_restart_and_connect_time_follow_the_peer() {
        let opts = SessionOptions::default();
        let mut p = peer("192.0.2.1", 64512, 64513);
        let s = resolve_bgp(&p, "node1", &node(), &opts).unwrap();
        assert!(s.session.graceful_restart.is_some(), "ConfigMap peers: on");
        assert_eq!(s.session.connect_timeout, opts.connect_timeout);
        assert_eq!(s.session.backoff, opts.backoff);
        // a BGPPeer without enableGracefulRestart, with connectTime: 5s
        p.graceful_restart = false;
        p.connect_time = Some(Duration::from_secs(5));
        let s = resolve_bgp(&p, "node1", &node(), &opts).unwrap();
        assert_eq!(s.session.graceful_restart, None, "no capability announced");
        assert_eq!(s.session.connect_timeout, Duration::from_secs(5));
        let every = Duration::from_secs(5);
        assert_eq!(
            s.session.backoff,
            Backoff {
                initial: every,
                max: every
            }
        );
    }

    #[test]
    fn ipv6_only_node_needs_a_configured_router_id() {
        let v6_only = vec!["2001:db8::11".parse().unwrap()];
        let err = resolve_bgp(
            &peer("2001:db8::1", 64512, 64513),
            "n",
            &v6_only,
            &SessionOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.metric_label(), "no_router_id");
        assert!(err.to_string().contains("[2001:db8::1]:179"), "{err}");
        // with no address of the peer's family, the kernel chooses the source
        let mut p = peer("2001:db8::1", 64512, 64513);
        p.router_id = Some(Ipv4Addr::new(192, 0, 2, 11));
        let s = resolve_bgp(
            &p,
            "n",
            &["192.0.2.11".parse().unwrap()],
            &SessionOptions::default(),
        )
        .unwrap();
        assert_eq!(s.transport.bind, None);
    }

    #[test]
    fn settings_differ_when_any_peer_field_does_and_seeds_differ_per_node() {
        let o = SessionOptions::default();
        let base = resolve_bgp(&peer("192.0.2.1", 64512, 64513), "node1", &node(), &o).unwrap();
        let mut p = peer("192.0.2.1", 64512, 64513);
        p.hold_time = Duration::from_secs(30);
        p.keepalive_time = Duration::from_secs(10);
        let changed = resolve_bgp(&p, "node1", &node(), &o).unwrap();
        assert_eq!(base.key(), changed.key());
        assert_ne!(base, changed);
        let other_node = resolve_bgp(&peer("192.0.2.1", 64512, 64513), "node2", &node(), &o).unwrap();
        assert_ne!(base.session.jitter_seed, other_node.session.jitter_seed);
    }

    #[test]
    fn invalid_session_configs_are_reported() {
        let err = resolve_bgp(
            &peer("192.0.2.1", 64512, 0),
            "n",
            &node(),
            &SessionOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err.metric_label(), "invalid_session");
    }

    #[test]
    fn a_bfd_profile_gives_a_bfd_session_from_the_bgp_source_address() {
        let profiles = BTreeMap::from([(
            "fast".to_string(),
            BfdProfile {
                transmit_interval_ms: 100,
                ..BfdProfile::with_defaults("fast")
            },
        )]);
        let mut p = peer("192.0.2.1", 64512, 64513);
        p.bfd_profile = Some("fast".into());
        let r = resolve(&p, "node1", &node(), &profiles, &SessionOptions::default()).unwrap();
        let bfd = r.bfd.clone().unwrap();
        assert_eq!(r.settings.bfd, Some(bfd.key()));
        assert_eq!(
            bfd.local,
            Some("192.0.2.11".parse().unwrap()),
            "the BGP session's source"
        );
        assert_eq!(bfd.intervals.desired_min_tx, Duration::from_millis(100));
        // another profile's timers change the BFD settings only
        let slower = BTreeMap::from([("fast".to_string(), BfdProfile::with_defaults("fast"))]);
        let r2 = resolve(&p, "node1", &node(), &slower, &SessionOptions::default()).unwrap();
        assert_eq!(r.settings, r2.settings);
        assert_ne!(r.bfd, r2.bfd);

        p.bfd_profile = Some("nope".into());
        let err = resolve(&p, "node1", &node(), &profiles, &SessionOptions::default()).unwrap_err();
        assert_eq!(err.metric_label(), "unknown_bfd_profile");
    }

    #[test]
    fn echo_mode_is_refused_and_the_peer_gets_no_session() {
        let profiles = BTreeMap::from([(
            "echo".to_string(),
            BfdProfile {
                echo_mode: true,
                ..BfdProfile::with_defaults("echo")
            },
        )]);
        let mut p = peer("192.0.2.1", 64512, 64513);
        p.bfd_profile = Some("echo".into());
        let err = resolve(&p, "node1", &node(), &profiles, &SessionOptions::default()).unwrap_err();
        assert_eq!(err.metric_label(), "bfd_echo_mode");
        assert!(PeerError::LABELS.contains(&err.metric_label()));
        assert!(
            err.to_string()
                .contains("bfd-profile \"echo\": echo mode is not supported"),
            "{err}"
        );
    }

    #[test]
    fn dual_stack_sessions_negotiate_both_families() {
        let mut p = peer("192.0.2.1", 64512, 64513);
        p.dual_stack_address_family = true;
        let s = resolve_bgp(&p, "node1", &node(), &SessionOptions::default()).unwrap();
        assert_eq!(s.session.families, [Family::Ipv4Unicast, Family::Ipv6Unicast]);
        assert_eq!(s.other_family_next_hop, Some("2001:db8::11".parse().unwrap()));
        p.dual_stack_address_family = false;
        let s = resolve_bgp(&p, "node1", &node(), &SessionOptions::default()).unwrap();
        assert_eq!(s.other_family_next_hop, None);
    }
}
