//! Membership timings: the defaults that give fast failover without false failovers on a lossy LAN.
//!
//! Two detectors run side by side:
//!
//! - **The successor watch** ([`super::watch`]) decides failover: each IP's successor gets a heartbeat from
//!   the owner every [`Timings::heartbeat_interval`] (10 ms) and takes the IP over when nothing arrived for
//!   [`Timings::heartbeat_timeout`] (100 ms). Detection is therefore `timeout + at most one interval` after the
//!   last heartbeat, whatever the cluster's size (the simulator: p50 100 ms, p99 110 ms at 3 to 1,000 nodes).
//!   A false verdict needs 10 heartbeats lost in a row: `p¹⁰`, 10⁻¹³ at 5 % loss. Its cost is traffic: about
//!   110 datagrams/s per watched owner (100 heartbeats, 10 subscriptions) each way.
//! - **SWIM** (foca) keeps the membership and confirms deaths for everyone else: with `N` members each probing
//!   one random member per `probe_period`, the first probe of a dead node starts within about one period (the
//!   minimum of `N - 1` independent waits), fails at the end of its period, makes the node suspect, and the
//!   suspicion turns into "down" after `suspect_to_down` unless refuted, then spreads by gossip. Its traffic
//!   per node does not grow with `N` (about 40 datagrams/s at rest).
//!
//! The defaults were chosen with the virtual-time simulator ([`super::sim`], which runs the speaker's
//! membership code) and measured with real speakers in the lab (`cargo bench -p ferrolb-speaker --bench
//! failover`; figures and the model in docs/performance.md).

use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

/// The membership protocol's timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// How often each member probes one other member.
    pub probe_period: Duration,
    /// How long to wait for a direct ack before asking others to probe indirectly.
    pub probe_rtt: Duration,
    /// How many members are asked to probe indirectly.
    pub indirect_probes: usize,
    /// How long a suspect member has to refute the suspicion before it is declared down.
    pub suspect_to_down: Duration,
    /// How often pending updates are pushed to a few random members (besides riding on probes).
    pub gossip_interval: Duration,
    /// How many members each periodic gossip goes to.
    pub gossip_fanout: usize,
    /// How many times each update is sent at most, at least: larger clusters send each update
    /// [`Timings::transmissions_for`] times.
    pub max_transmissions: u8,
    /// How often seeds (Nodes) that are not members are asked to join.
    pub rejoin_interval: Duration,
    /// How long a starting speaker waits for answers before it assumes it is alone.
    pub join_timeout: Duration,
    /// After the first answer, how long a starting speaker keeps listening before it announces anything.
    pub settle: Duration,
    /// How often the successor watch pings each node it watches ([`super::watch`]).
    pub heartbeat_interval: Duration,
    /// Silence after which the watch judges a watched node unreachable.
    pub heartbeat_timeout: Duration,
    /// How long a watch verdict waits for SWIM to confirm it before it is withdrawn.
    pub watch_confirm: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            probe_period: Duration::from_millis(50),
            probe_rtt: Duration::from_millis(20),
            indirect_probes: 3,
            suspect_to_down: Duration::from_millis(150),
            gossip_interval: Duration::from_millis(10),
            gossip_fanout: 3,
            max_transmissions: 12,
            rejoin_interval: Duration::from_secs(2),
            join_timeout: Duration::from_millis(1500),
            settle: Duration::from_millis(150),
            heartbeat_interval: Duration::from_millis(10),
            heartbeat_timeout: Duration::from_millis(100),
            watch_confirm: Duration::from_secs(5),
        }
    }
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).unwrap_or(NonZeroUsize::MIN)
}

impl Timings {
    /// The successor watch's settings.
    pub fn watch_settings(&self) -> super::watch::WatchSettings {
        super::watch::WatchSettings {
            interval: self.heartbeat_interval,
            timeout: self.heartbeat_timeout,
            confirm: self.watch_confirm,
        }
    }

    /// How many times each update is sent in a cluster of `members` (this node included): SWIM's `λ·log N`
    /// with `λ = 3`, and never fewer than [`Timings::max_transmissions`]. Each node that learns an update passes
    /// it on that many times, so a given node misses it with probability about `e^-transmissions`: with 12
    /// transmissions at 5,000 nodes, some survivor missed one loss in 50 in the simulator (it learns it only
    /// when it probes the dead node itself, minutes later); with `3·ln N` ≈ 26, about 1 in 10⁸.
    pub fn transmissions_for(&self, members: usize) -> u8 {
        let wanted = (3.0 * (members.max(1) as f64).ln()).ceil();
        let wanted = u8::try_from(wanted as u64).unwrap_or(u8::MAX);
        wanted.max(self.max_transmissions).max(1)
    }

    /// foca's configuration for these timings.
    pub fn foca_config(&self) -> foca::Config {
        foca::Config {
            probe_period: self.probe_period,
            probe_rtt: self.probe_rtt,
            num_indirect_probes: nz(self.indirect_probes),
            max_transmissions: NonZeroU8::new(self.max_transmissions.max(1)).unwrap_or(NonZeroU8::MIN),
            suspect_to_down_after: self.suspect_to_down,
            // Down identities are remembered for a day; a restarted speaker comes back with a new generation.
            remove_down_after: Some(Duration::from_secs(24 * 3600)),
            max_packet_size: nz(1400),
            notify_down_members: true,
            periodic_announce: Some(foca::PeriodicParams {
                frequency: Duration::from_secs(30),
                num_members: nz(1),
            }),
            periodic_announce_to_down_members: Some(foca::PeriodicParams {
                frequency: Duration::from_secs(5),
                num_members: nz(2),
            }),
            periodic_gossip: Some(foca::PeriodicParams {
                frequency: self.gossip_interval,
                num_members: nz(self.gossip_fanout),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_sent_more_often_in_larger_clusters() {
        let t = Timings::default();
        assert_eq!(t.transmissions_for(1), 12);
        assert_eq!(t.transmissions_for(10), 12, "small clusters keep the floor");
        assert_eq!(t.transmissions_for(100), 14);
        assert_eq!(t.transmissions_for(1000), 21);
        assert_eq!(t.transmissions_for(5000), 26);
        let low = Timings {
            max_transmissions: 0,
            ..t
        };
        assert_eq!(low.transmissions_for(0), 1);
    }
}
