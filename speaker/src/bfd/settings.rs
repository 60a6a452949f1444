//! From a peer's BFD profile to the settings of its BFD session (pure).
//!
//! - One BFD session per router address and encapsulation ([`BfdKey`]): BGP peers that share an address (other
//!   ports) share it, with the first one's settings.
//! - Single hop (RFC 5881, UDP 3784, TTL 255 required) unless the peer is `ebgp-multihop`: then multi-hop
//!   (RFC 5883, UDP 4784, packets with a TTL below the profile's `minimum-ttl` discarded).
//! - Timers from the profile (`transmit-interval`, `receive-interval`, `detect-multiplier`); `passive-mode`
//!   waits for the router to speak first. `echo-mode` is refused ([`ConfigError::EchoModeUnsupported`]): the
//!   Echo function is not implemented, and a session that silently ran without it would detect more slowly
//!   than the operator asked for.
//! - The source address is the BGP session's (`source-address`, else the node's address of the router's
//!   family): routers find the BFD session of a BGP neighbour by that address.

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_config::{BfdProfile, Peer};
use ferrolb_proto::bfd::{ConfigError, Hop, Intervals, Role, SessionConfig};

/// The identity of a BFD session: the router's address and the encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BfdKey {
    /// The router's address.
    pub peer: IpAddr,
    /// RFC 5883 multi-hop (UDP 4784) rather than RFC 5881 single hop (UDP 3784).
    pub multihop: bool,
}

impl std::fmt::Display for BfdKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hop = if self.multihop { "multi-hop" } else { "single-hop" };
        write!(f, "{} ({hop})", self.peer)
    }
}

/// Everything one BFD session runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BfdSettings {
    /// The profile's name (logs).
    pub profile: String,
    /// The router's address.
    pub peer: IpAddr,
    /// The address to send from (`None`: the kernel chooses).
    pub local: Option<IpAddr>,
    /// Whether failing to bind `local` is an error (an explicit `source-address`) rather than a reason to let
    /// the kernel choose.
    pub local_required: bool,
    /// Timers.
    pub intervals: Intervals,
    /// Active or passive.
    pub role: Role,
    /// Single hop, or multi-hop with its minimum TTL.
    pub hop: Hop,
}

impl BfdSettings {
    /// The session's identity.
    pub fn key(&self) -> BfdKey {
        BfdKey {
            peer: self.peer,
            multihop: matches!(self.hop, Hop::Multi { .. }),
        }
    }

    /// Whether going from `self` to `other` needs a new session (anything but the timers changed); a change of
    /// the timers alone is applied to the running session with a Poll Sequence.
    pub fn needs_new_session(&self, other: &BfdSettings) -> bool {
        (self.local, self.local_required, self.role, self.hop)
            != (other.local, other.local_required, other.role, other.hop)
    }

    /// The state machine's configuration with this discriminator and jitter seed.
    pub fn session_config(&self, local_discriminator: u32, seed: u64) -> SessionConfig {
        SessionConfig {
            intervals: self.intervals,
            role: self.role,
            hop: self.hop,
            seed,
            ..SessionConfig::new(local_discriminator)
        }
    }
}

/// The BFD settings of `peer`'s session with `profile`, sending from `local` (see the module docs).
pub fn resolve(
    profile: &BfdProfile,
    peer: &Peer,
    local: Option<IpAddr>,
    local_required: bool,
) -> Result<BfdSettings, ConfigError> {
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let intervals = Intervals {
        desired_min_tx: ms(profile.transmit_interval_ms),
        required_min_rx: ms(profile.receive_interval_ms),
        detect_mult: u8::try_from(profile.detect_multiplier).unwrap_or(u8::MAX),
    };
    let hop = if peer.ebgp_multihop {
        Hop::Multi {
            minimum_ttl: u8::try_from(profile.minimum_ttl).unwrap_or(u8::MAX),
        }
    } else {
        Hop::Single
    };
    let settings = BfdSettings {
        profile: profile.name.clone(),
        peer: peer.address,
        local,
        local_required,
        intervals,
        role: if profile.passive_mode {
            Role::Passive
        } else {
            Role::Active
        },
        hop,
    };
    let mut check = settings.session_config(1, 0);
    check.echo_mode = profile.echo_mode;
    check.validate()?;
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(address: &str, multihop: bool) -> Peer {
        Peer {
            name: "peer1".into(),
            address: address.parse().unwrap(),
            port: 179,
            asn: 64512,
            my_asn: 64513,
            source_address: None,
            hold_time: Duration::from_secs(90),
            keepalive_time: Duration::from_secs(30),
            router_id: None,
            password: None,
            bfd_profile: Some("fast".into()),
            ebgp_multihop: multihop,
            dual_stack_address_family: false,
            node_selectors: Vec::new(),
            connect_time: None,
            graceful_restart: true,
        }
    }

    fn profile() -> BfdProfile {
        BfdProfile {
            receive_interval_ms: 100,
            transmit_interval_ms: 50,
            detect_multiplier: 3,
            ..BfdProfile::with_defaults("fast")
        }
    }

    #[test]
    fn single_hop_profile_timers_and_source() {
        let local = Some("192.0.2.11".parse().unwrap());
        let s = resolve(&profile(), &peer("192.0.2.1", false), local, false).unwrap();
        assert_eq!(
            s.key(),
            BfdKey {
                peer: "192.0.2.1".parse().unwrap(),
                multihop: false
            }
        );
        assert_eq!(s.hop, Hop::Single);
        assert_eq!(s.role, Role::Active);
        assert_eq!(s.local, local);
        assert_eq!(
            s.intervals,
            Intervals {
                desired_min_tx: Duration::from_millis(50),
                required_min_rx: Duration::from_millis(100),
                detect_mult: 3
            }
        );
        let c = s.session_config(7, 9);
        assert_eq!((c.local_discriminator, c.seed, c.echo_mode), (7, 9, false));
        assert_eq!(s.key().to_string(), "192.0.2.1 (single-hop)");
    }

    #[test]
    fn multihop_uses_the_minimum_ttl_and_passive_mode() {
        let p = BfdProfile {
            passive_mode: true,
            minimum_ttl: 250,
            ..profile()
        };
        let s = resolve(&p, &peer("2001:db8::1", true), None, false).unwrap();
        assert_eq!(s.hop, Hop::Multi { minimum_ttl: 250 });
        assert!(s.key().multihop);
        assert_eq!(s.role, Role::Passive);
    }

    #[test]
    fn echo_mode_is_refused_with_a_reason() {
        let p = BfdProfile {
            echo_mode: true,
            ..profile()
        };
        let err = resolve(&p, &peer("192.0.2.1", false), None, false).unwrap_err();
        assert_eq!(err, ConfigError::EchoModeUnsupported);
        assert!(err.to_string().contains("echo mode is not supported"), "{err}");
    }

    #[test]
    fn only_a_change_of_timers_keeps_the_session() {
        let a = resolve(&profile(), &peer("192.0.2.1", false), None, false).unwrap();
        let mut b = a.clone();
        b.intervals.detect_mult = 5;
        assert!(!a.needs_new_session(&b));
        b.role = Role::Passive;
        assert!(a.needs_new_session(&b));
        let mut c = a.clone();
        c.local = Some("192.0.2.11".parse().unwrap());
        assert!(a.needs_new_session(&c));
    }
}
