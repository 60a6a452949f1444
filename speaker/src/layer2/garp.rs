//! When to announce a newly owned IP (pure): gratuitous ARP / unsolicited NA at once, then repeated.
//!
//! One announcement may be lost, and a switch or host may be busy; repeating at [`ROUNDS`] (0, 0.25, 0.75 and
//! 2 s after takeover) makes it very likely every neighbour cache and switch table moved within a fraction of
//! a second, without flooding the segment. An IP that is lost before its rounds are done is not announced
//! again.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Offsets from takeover at which an IP is announced.
pub const ROUNDS: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(750),
    Duration::from_millis(2000),
];

/// Pending announcements of one interface.
#[derive(Debug, Default)]
pub struct GarpSchedule {
    pending: HashMap<IpAddr, (Instant, usize)>,
}

impl GarpSchedule {
    /// An empty schedule.
    pub fn new() -> Self {
        GarpSchedule::default()
    }

    /// `ip` was just taken over at `now`: its first round is due at once.
    pub fn start(&mut self, ip: IpAddr, now: Instant) {
        self.pending.insert(ip, (now, 0));
    }

    /// `ip` is no longer owned.
    pub fn cancel(&mut self, ip: &IpAddr) {
        self.pending.remove(ip);
    }

    /// The IPs due at `now`, each advanced to its next round.
    pub fn due(&mut self, now: Instant) -> Vec<IpAddr> {
        let mut out = Vec::new();
        self.pending.retain(|ip, (since, round)| {
            let Some(offset) = ROUNDS.get(*round) else {
                return false;
            };
            if *since + *offset <= now {
                out.push(*ip);
                *round += 1;
            }
            *round < ROUNDS.len()
        });
        out.sort();
        out
    }

    /// When the next round is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter_map(|(since, round)| ROUNDS.get(*round).map(|o| *since + *o))
            .min()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_then_done() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.100".parse().unwrap();
        let other: IpAddr = "2001:db8::100".parse().unwrap();
        let mut s = GarpSchedule::new();
        s.start(ip, t0);
        assert_eq!(s.next_deadline(), Some(t0));
        assert_eq!(s.due(t0), [ip]);
        assert_eq!(s.due(t0), Vec::<IpAddr>::new(), "not again before the next round");
        s.start(other, t0 + Duration::from_millis(100));
        let mut sent = 1;
        let mut t = t0;
        while let Some(next) = s.next_deadline() {
            t = next;
            sent += s.due(t).iter().filter(|x| **x == ip).count();
        }
        assert_eq!(sent, ROUNDS.len());
        assert!(s.is_empty());
        assert_eq!(t, t0 + Duration::from_millis(2100), "the other IP's last round");
    }

    #[test]
    fn a_lost_ip_is_not_announced_again() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.100".parse().unwrap();
        let mut s = GarpSchedule::new();
        s.start(ip, t0);
        s.due(t0);
        s.cancel(&ip);
        assert!(s.due(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(s.next_deadline(), None);
    }
}
