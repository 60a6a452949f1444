//! Session configuration, its validation, and the connect-retry backoff.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::bgp::types::Family;

/// Graceful restart as ferrolb announces it (RFC 4724).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GracefulRestartConfig {
    /// How long the peer should keep our routes after the session drops, in seconds (at most 4095).
    pub restart_time: u16,
    /// R bit: set in the first OPEN after the speaker restarted.
    pub restarting: bool,
    /// F bit for every family: forwarding was preserved (the data path does not depend on the speaker).
    pub forwarding_preserved: bool,
}

/// Connect-retry backoff: after the n-th consecutive failure the next attempt waits
/// `min(max, initial × 2^(n-1))`, scaled by a jitter factor drawn uniformly from 0.75–1.0 (RFC 4271 §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
}

impl Default for Backoff {
    /// 1 s doubling up to 120 s.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
        }
    }
}

/// What a BGP session needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS number.
    pub local_asn: u32,
    /// The peer's AS number; an OPEN with another one is refused with Bad Peer AS.
    pub peer_asn: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds: 0 (no keepalives, no hold timer) or at least 3.
    pub hold_time: u16,
    /// Keepalive interval in seconds; `None` means a third of the negotiated hold time. It is capped at a
    /// third of the negotiated hold time so the peer's hold timer never expires.
    pub keepalive_time: Option<u16>,
    /// Families to negotiate (multiprotocol capabilities), at least one.
    pub families: Vec<Family>,
    /// Graceful restart capability to announce, if any.
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Set the N bit in the graceful restart capability (RFC 8538, ignored without `graceful_restart`). Once
    /// both sides set it, a NOTIFICATION other than Cease / Hard Reset also lets the peer keep our routes, and
    /// the session sends Hard Reset where RFC 8538 §5.1 says to (Administrative Shutdown, Peer
    /// De-configured, …), so that those still withdraw at once.
    pub graceful_notification: bool,
    /// How long a TCP connect may take before it counts as failed.
    pub connect_timeout: Duration,
    /// Hold timer while waiting for the peer's OPEN (RFC 4271 §8 suggests 4 minutes).
    pub open_hold_time: Duration,
    /// Connect-retry backoff.
    pub backoff: Backoff,
    /// Seed of the jitter generator (use something per node and peer, so speakers do not retry in step).
    pub jitter_seed: u64,
}

impl SessionConfig {
    /// A configuration with ferrolb's defaults: hold time 90 s, keepalive hold/3, IPv4 and IPv6 unicast,
    /// no graceful restart (and no N bit), 10 s connect timeout, 240 s OPEN hold time, backoff 1 s to 120 s.
    pub fn new(local_asn: u32, peer_asn: u32, router_id: Ipv4Addr) -> SessionConfig {
        SessionConfig {
            local_asn,
            peer_asn,
            router_id,
            hold_time: 90,
            keepalive_time: None,
            families: Family::ALL.to_vec(),
            graceful_restart: None,
            graceful_notification: false,
            connect_timeout: Duration::from_secs(10),
            open_hold_time: Duration::from_secs(240),
            backoff: Backoff::default(),
            jitter_seed: 0,
        }
    }

    /// Whether the session is internal BGP (same AS on both sides).
    pub fn is_ibgp(&self) -> bool {
        self.local_asn == self.peer_asn
    }

    /// Checks the configuration; [`super::Session::new`] refuses an invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_asn == 0 || self.peer_asn == 0 {
            return Err(ConfigError::ZeroAsn);
        }
        if self.router_id.is_unspecified() || self.router_id.is_multicast() || self.router_id.is_broadcast() {
            return Err(ConfigError::RouterId(self.router_id));
        }
        if matches!(self.hold_time, 1 | 2) {
            return Err(ConfigError::HoldTime(self.hold_time));
        }
        if self.keepalive_time == Some(0) && self.hold_time != 0 {
            return Err(ConfigError::KeepaliveZero);
        }
        if self.families.is_empty() {
            return Err(ConfigError::NoFamilies);
        }
        if let Some(gr) = &self.graceful_restart
            && gr.restart_time > 0x0fff
        {
            return Err(ConfigError::RestartTime(gr.restart_time));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return Err(ConfigError::Backoff(self.backoff));
        }
        if self.connect_timeout.is_zero() || self.open_hold_time.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        Ok(())
    }
}

/// Why a [`SessionConfig`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// AS number 0 is reserved.
    #[error("AS number 0 is reserved")]
    ZeroAsn,
    /// The router ID must be a unicast, non-zero IPv4 address.
    #[error("router ID {0} is not a non-zero unicast address")]
    RouterId(Ipv4Addr),
    /// Hold times of 1 and 2 s are forbidden (RFC 4271 §4.2).
    #[error("hold time {0} s: must be 0 or at least 3 s")]
    HoldTime(u16),
    /// A zero keepalive interval with a non-zero hold time would let the peer's hold timer expire.
    #[error("keepalive time 0 s with a non-zero hold time")]
    KeepaliveZero,
    /// No family to negotiate.
    #[error("no address family configured")]
    NoFamilies,
    /// Graceful restart time does not fit in 12 bits.
    #[error("graceful restart time {0} s exceeds 4095 s")]
    RestartTime(u16),
    /// Backoff bounds are zero or inverted.
    #[error("connect-retry backoff {0:?} must start above zero and not exceed its maximum")]
    Backoff(Backoff),
    /// A zero connect timeout or OPEN hold time.
    #[error("connect timeout and OPEN hold time must be above zero")]
    ZeroTimeout,
}

/// SplitMix64: a tiny, seedable generator for backoff jitter, so the state machine stays pure.
#[derive(Debug, Clone)]
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new(seed: u64) -> Jitter {
        Jitter(seed)
    }

    /// The next 64 random bits (also used by the BFD session's transmit jitter).
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The delay before the next attempt after `failures` consecutive failures (at least 1).
    pub(crate) fn backoff(&mut self, backoff: &Backoff, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        let base = backoff.initial.saturating_mul(1u32 << exp).min(backoff.max);
        // factor in [750, 1000] per mille
        let per_mille = 750 + (self.next() % 251) as u32;
        base * per_mille / 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_with_jitter_in_range() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(120),
        };
        let mut j = Jitter::new(42);
        for failures in 1..=40u32 {
            let base = Duration::from_secs(1u64 << failures.saturating_sub(1).min(31)).min(b.max);
            let d = j.backoff(&b, failures);
            assert!(
                d <= base && d >= base * 3 / 4,
                "failures {failures}: {d:?} vs base {base:?}"
            );
        }
    }

    #[test]
    fn jitter_is_deterministic_per_seed_and_varies_between_seeds() {
        let b = Backoff::default();
        let run = |seed| {
            let mut j = Jitter::new(seed);
            (1..=8).map(|f| j.backoff(&b, f)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = SessionConfig::new(64513, 64512, Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(ok.validate(), Ok(()));
        let mut c = ok.clone();
        c.hold_time = 2;
        assert_eq!(c.validate(), Err(ConfigError::HoldTime(2)));
        c.hold_time = 0;
        assert_eq!(c.validate(), Ok(()));
        let mut c = ok.clone();
        c.families.clear();
        assert_eq!(c.validate(), Err(ConfigError::NoFamilies));
        let mut c = ok.clone();
        c.router_id = Ipv4Addr::UNSPECIFIED;
        assert_eq!(c.validate(), Err(ConfigError::RouterId(Ipv4Addr::UNSPECIFIED)));
        let mut c = ok.clone();
        c.keepalive_time = Some(0);
        assert_eq!(c.validate(), Err(ConfigError::KeepaliveZero));
        let mut c = ok.clone();
        c.peer_asn = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroAsn));
        let mut c = ok.clone();
        c.graceful_restart = Some(GracefulRestartConfig {
            restart_time: 5000,
            restarting: false,
            forwarding_preserved: true,
        });
        assert_eq!(c.validate(), Err(ConfigError::RestartTime(5000)));
        let mut c = ok;
        c.backoff = Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(1),
        };
        assert!(matches!(c.validate(), Err(ConfigError::Backoff(_))));
    }
}
