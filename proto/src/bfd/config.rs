//! Session configuration and its validation.

use std::time::Duration;

use super::packet::AuthType;

/// The timer parameters of a session (MetalLB's BFDProfile `transmitInterval`, `receiveInterval`,
/// `detectMultiplier`). They can be changed on a running session with [`super::Session::set_intervals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Intervals {
    /// bfd.DesiredMinTxInterval once Up: how often we would like to send (before jitter). While the session
    /// is not Up at least 1 s is advertised and used (RFC 5880 §6.8.3).
    pub desired_min_tx: Duration,
    /// bfd.RequiredMinRxInterval: how often we can take the peer's packets.
    pub required_min_rx: Duration,
    /// bfd.DetectMult: how many of our packets the peer may miss before declaring the session down.
    pub detect_mult: u8,
}

impl Default for Intervals {
    /// MetalLB's defaults: 300 ms both ways, multiplier 3.
    fn default() -> Self {
        Intervals {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_mult: 3,
        }
    }
}

impl Intervals {
    /// Checks the values: intervals from 1 µs to 2³²−1 µs (the wire's range), multiplier at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for interval in [self.desired_min_tx, self.required_min_rx] {
            if micros(interval).is_none_or(|us| us == 0) {
                return Err(ConfigError::Interval(interval));
            }
        }
        if self.detect_mult == 0 {
            return Err(ConfigError::ZeroDetectMult);
        }
        Ok(())
    }
}

/// Whole microseconds of `d`, if they fit the wire's 32 bits.
pub(crate) fn micros(d: Duration) -> Option<u32> {
    u32::try_from(d.as_micros()).ok()
}

/// Which encapsulation the session runs over; it decides the receive TTL check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hop {
    /// RFC 5881 single hop (UDP port 3784): packets are sent with TTL / hop limit 255, and a packet received
    /// with anything but 255 is discarded (we apply this with and without authentication; RFC 5881 §5 only
    /// allows accepting other values when authenticated).
    Single,
    /// RFC 5883 multi-hop (UDP port 4784): packets are sent with TTL / hop limit 255, and a packet received
    /// with a TTL below `minimum_ttl` is discarded (MetalLB's `minimumTtl`, default 254).
    Multi {
        /// The lowest TTL / hop limit accepted.
        minimum_ttl: u8,
    },
}

impl Hop {
    /// The UDP destination port of the encapsulation.
    pub const fn port(self) -> u16 {
        match self {
            Hop::Single => super::SINGLE_HOP_PORT,
            Hop::Multi { .. } => super::MULTI_HOP_PORT,
        }
    }

    /// The lowest TTL / hop limit accepted.
    pub const fn minimum_ttl(self) -> u8 {
        match self {
            Hop::Single => 255,
            Hop::Multi { minimum_ttl } => minimum_ttl,
        }
    }
}

/// Who speaks first (RFC 5880 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Send from the start (at the slow 1 s rate until Up).
    Active,
    /// Send nothing until a packet from the peer is received, and stop again when the peer's discriminator
    /// is forgotten (a detection time without its packets). MetalLB's `passiveMode`.
    Passive,
}

/// The authentication a session uses (RFC 5880 §6.7): one key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthConfig {
    /// Keyed SHA1 or Meticulous Keyed SHA1; the other types are refused by [`SessionConfig::validate`].
    pub auth_type: AuthType,
    /// Auth Key ID sent and required.
    pub key_id: u8,
    /// The secret, 1 to 20 bytes (padded with zeros to 20 in the hash).
    pub key: Vec<u8>,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the secret
        f.debug_struct("AuthConfig")
            .field("auth_type", &self.auth_type)
            .field("key_id", &self.key_id)
            .field("key", &format_args!("<{} bytes>", self.key.len()))
            .finish()
    }
}

/// What a BFD session needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionConfig {
    /// bfd.LocalDiscr: non-zero and unique among the speaker's sessions (RFC 5880 suggests random).
    pub local_discriminator: u32,
    /// Timer parameters.
    pub intervals: Intervals,
    /// Active or passive.
    pub role: Role,
    /// Single hop or multi-hop.
    pub hop: Hop,
    /// Authentication, or none.
    pub auth: Option<AuthConfig>,
    /// MetalLB's `echoMode`: the Echo function is not implemented, so `true` is refused
    /// ([`ConfigError::EchoModeUnsupported`]) rather than silently ignored.
    pub echo_mode: bool,
    /// Demand mode for our side (the D bit): not implemented, so `true` is refused
    /// ([`ConfigError::DemandModeUnsupported`]). A peer's D bit is honoured (RFC 5880 §6.6).
    pub demand_mode: bool,
    /// Seed of the transmit jitter and of the first authentication sequence number (use something per
    /// node and peer).
    pub seed: u64,
}

impl SessionConfig {
    /// An active single-hop session without authentication, with MetalLB's default intervals.
    pub fn new(local_discriminator: u32) -> SessionConfig {
        SessionConfig {
            local_discriminator,
            intervals: Intervals::default(),
            role: Role::Active,
            hop: Hop::Single,
            auth: None,
            echo_mode: false,
            demand_mode: false,
            seed: u64::from(local_discriminator),
        }
    }

    /// Checks the configuration; [`super::Session::new`] refuses an invalid one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.local_discriminator == 0 {
            return Err(ConfigError::ZeroDiscriminator);
        }
        self.intervals.validate()?;
        if self.echo_mode {
            return Err(ConfigError::EchoModeUnsupported);
        }
        if self.demand_mode {
            return Err(ConfigError::DemandModeUnsupported);
        }
        if let Hop::Multi { minimum_ttl: 0 } = self.hop {
            return Err(ConfigError::MinimumTtl);
        }
        if let Some(auth) = &self.auth {
            match auth.auth_type {
                AuthType::KeyedSha1 | AuthType::MeticulousKeyedSha1 => {}
                other => return Err(ConfigError::AuthTypeUnsupported(other)),
            }
            if !(1..=20).contains(&auth.key.len()) {
                return Err(ConfigError::AuthKeyLength(auth.key.len()));
            }
        }
        Ok(())
    }
}

/// Why a [`SessionConfig`] or [`Intervals`] is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The local discriminator must be non-zero (RFC 5880 §6.8.1).
    #[error("local discriminator 0 is not allowed")]
    ZeroDiscriminator,
    /// An interval is zero or longer than the wire's 2³²−1 µs.
    #[error("interval {0:?} must be from 1 µs to 4294.967295 s")]
    Interval(Duration),
    /// The detection multiplier must be at least 1.
    #[error("detect multiplier 0 is not allowed")]
    ZeroDetectMult,
    /// The Echo function is not implemented.
    #[error("echo mode is not supported: BFD sessions use asynchronous mode with control packets only")]
    EchoModeUnsupported,
    /// Demand mode is not implemented for our side.
    #[error("demand mode is not supported: BFD sessions use asynchronous mode")]
    DemandModeUnsupported,
    /// A multi-hop minimum TTL of 0 would accept anything; use 1 to mean that.
    #[error("minimum TTL 0 is not allowed (1 accepts every packet)")]
    MinimumTtl,
    /// Only Keyed SHA1 and Meticulous Keyed SHA1 are implemented (the two RFC 5880 §6.7 requires); simple
    /// password sends the key in clear and MD5 is no longer considered secure.
    #[error(
        "BFD authentication {0} is not supported: use keyed SHA1 or meticulous keyed SHA1 \
         (simple password sends the key in clear, MD5 is not implemented)"
    )]
    AuthTypeUnsupported(AuthType),
    /// The key is empty or longer than SHA1's 20 bytes.
    #[error("authentication key of {0} bytes: must be 1 to 20 bytes")]
    AuthKeyLength(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        let ok = SessionConfig::new(1);
        assert_eq!(ok.validate(), Ok(()));
        let check = |f: &dyn Fn(&mut SessionConfig), err| {
            let mut c = ok.clone();
            f(&mut c);
            assert_eq!(c.validate(), Err(err));
        };
        check(&|c| c.local_discriminator = 0, ConfigError::ZeroDiscriminator);
        check(&|c| c.intervals.detect_mult = 0, ConfigError::ZeroDetectMult);
        check(
            &|c| c.intervals.desired_min_tx = Duration::ZERO,
            ConfigError::Interval(Duration::ZERO),
        );
        let long = Duration::from_micros(u64::from(u32::MAX) + 1);
        check(
            &|c| c.intervals.required_min_rx = long,
            ConfigError::Interval(long),
        );
        let sub_micro = Duration::from_nanos(999);
        check(
            &|c| c.intervals.required_min_rx = sub_micro,
            ConfigError::Interval(sub_micro),
        );
        check(&|c| c.echo_mode = true, ConfigError::EchoModeUnsupported);
        check(&|c| c.demand_mode = true, ConfigError::DemandModeUnsupported);
        check(
            &|c| c.hop = Hop::Multi { minimum_ttl: 0 },
            ConfigError::MinimumTtl,
        );
        for refused in [
            AuthType::SimplePassword,
            AuthType::KeyedMd5,
            AuthType::MeticulousKeyedMd5,
        ] {
            check(
                &|c| {
                    c.auth = Some(AuthConfig {
                        auth_type: refused,
                        key_id: 1,
                        key: b"k".to_vec(),
                    })
                },
                ConfigError::AuthTypeUnsupported(refused),
            );
        }
        for len in [0, 21] {
            check(
                &|c| {
                    c.auth = Some(AuthConfig {
                        auth_type: AuthType::KeyedSha1,
                        key_id: 1,
                        key: vec![7; len],
                    })
                },
                ConfigError::AuthKeyLength(len),
            );
        }
        let mut c = ok.clone();
        c.hop = Hop::Multi { minimum_ttl: 254 };
        c.intervals.desired_min_tx = Duration::from_micros(u64::from(u32::MAX));
        c.auth = Some(AuthConfig {
            auth_type: AuthType::MeticulousKeyedSha1,
            key_id: 1,
            key: vec![7; 20],
        });
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn the_secret_is_not_printed() {
        let auth = AuthConfig {
            auth_type: AuthType::KeyedSha1,
            key_id: 1,
            key: b"hunter2".to_vec(),
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("<7 bytes>"),
            "{shown}"
        );
    }
}
