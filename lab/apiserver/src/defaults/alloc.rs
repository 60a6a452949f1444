//! Service cluster IPs (per family, from a service CIDR) and node ports (from 30000–32767), allocated and
//! released as kube-apiserver's bitmap allocators do: a requested value is reserved if free and in range,
//! otherwise the next free value after a rotating cursor is taken.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnet::IpNet;

/// IP family names as the API spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `IPv4`.
    V4,
    /// `IPv6`.
    V6,
}

impl Family {
    /// `IPv4` / `IPv6`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    /// Parses `IPv4` / `IPv6`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }

    /// The family of an address.
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
}

/// Why an allocation failed (rendered into the field error the real server gives).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The value is held by another object.
    #[error("provided {0} is already allocated")]
    Taken(&'static str),
    /// The value is outside the configured range.
    #[error("provided {what} is not in the valid range. The range of valid {what}s is {range}")]
    OutOfRange {
        /// `IP` or `port`.
        what: &'static str,
        /// The range, e.g. `10.96.0.0/12`.
        range: String,
    },
    /// No family range configured.
    #[error("not configured on this cluster")]
    NoFamily,
    /// The range is full.
    #[error("range is full")]
    Full,
}

/// One value taken since the journal was started.
#[derive(Debug, Clone, Copy)]
enum Taken {
    Ip(IpAddr),
    Port(u16),
}

/// A journaled change.
#[derive(Debug, Clone)]
enum Change {
    Took(Taken),
    Released(Taken, String),
}

#[derive(Debug, Clone)]
struct IpRange {
    net: IpNet,
    cursor: u128,
    size: u128,
}

/// Cluster IP and node port allocations, owned by `namespace/name` strings.
#[derive(Debug, Clone)]
pub struct Allocator {
    ranges: Vec<IpRange>,
    ips: HashMap<IpAddr, String>,
    ports: HashMap<u16, String>,
    port_range: RangeInclusive<u16>,
    port_cursor: u16,
    journal: Option<Vec<Change>>,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(fam: Family, v: u128) -> IpAddr {
    match fam {
        Family::V4 => IpAddr::V4((v as u32).into()),
        Family::V6 => IpAddr::V6(v.into()),
    }
}

impl Allocator {
    /// Allocators for service CIDRs (primary family first) and a node port range.
    pub fn new(cidrs: &[IpNet], port_range: RangeInclusive<u16>) -> Self {
        let ranges = cidrs
            .iter()
            .map(|n| {
                let host_bits = u32::from(n.max_prefix_len() - n.prefix_len());
                // Network address and (IPv4) broadcast are never handed out; sizes are capped like the real
                // allocator's 2^16 limit on IPv6 bitmaps would be pointless here, so only overflow is guarded.
                let size = if host_bits >= 127 {
                    u128::MAX
                } else {
                    1u128 << host_bits
                };
                IpRange {
                    net: *n,
                    cursor: 1,
                    size,
                }
            })
            .collect();
        let port_cursor = *port_range.start();
        Allocator {
            ranges,
            ips: HashMap::new(),
            ports: HashMap::new(),
            port_range,
            port_cursor,
            journal: None,
        }
    }

    /// Starts recording newly taken values, so that [`Allocator::rollback`] can give them back.
    pub fn begin(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Keeps what was taken since [`Allocator::begin`].
    pub fn commit(&mut self) {
        self.journal = None;
    }

    /// Undoes everything taken or released since [`Allocator::begin`].
    pub fn rollback(&mut self) {
        let journal = self.journal.take().unwrap_or_default();
        for c in journal.into_iter().rev() {
            match c {
                Change::Took(Taken::Ip(ip)) => {
                    self.ips.remove(&ip);
                }
                Change::Took(Taken::Port(p)) => {
                    self.ports.remove(&p);
                }
                Change::Released(Taken::Ip(ip), owner) => {
                    self.ips.insert(ip, owner);
                }
                Change::Released(Taken::Port(p), owner) => {
                    self.ports.insert(p, owner);
                }
            }
        }
    }

    /// Whether a journal is open (an enclosing dry run will roll back).
    pub fn journaling(&self) -> bool {
        self.journal.is_some()
    }

    fn took(&mut self, t: Taken) {
        if let Some(j) = self.journal.as_mut() {
            j.push(Change::Took(t));
        }
    }

    fn released(&mut self, t: Taken, owner: &str) {
        if let Some(j) = self.journal.as_mut() {
            j.push(Change::Released(t, owner.to_owned()));
        }
    }

    /// The configured families, primary first.
    pub fn families(&self) -> Vec<Family> {
        self.ranges
            .iter()
            .map(|r| {
                if r.net.addr().is_ipv4() {
                    Family::V4
                } else {
                    Family::V6
                }
            })
            .collect()
    }

    /// The CIDR of a family, for messages.
    pub fn cidr(&self, fam: Family) -> Option<IpNet> {
        self.ranges
            .iter()
            .find(|r| Family::of(&r.net.addr()) == fam)
            .map(|r| r.net)
    }

    fn usable(r: &IpRange, offset: u128) -> bool {
        let v4 = r.net.addr().is_ipv4();
        offset >= 1 && (offset < r.size - u128::from(v4) || r.size <= 2)
    }

    /// Reserves a requested IP for `owner` (idempotent for the same owner).
    pub fn reserve_ip(&mut self, ip: IpAddr, owner: &str) -> Result<(), AllocError> {
        let fam = Family::of(&ip);
        let r = self
            .ranges
            .iter()
            .find(|r| Family::of(&r.net.addr()) == fam)
            .ok_or(AllocError::NoFamily)?;
        let offset = to_u128(ip).wrapping_sub(to_u128(r.net.network()));
        if !r.net.contains(&ip) || !Self::usable(r, offset) {
            return Err(AllocError::OutOfRange {
                what: "IP",
                range: r.net.to_string(),
            });
        }
        match self.ips.get(&ip) {
            Some(o) if o != owner => Err(AllocError::Taken("IP")),
            Some(_) => Ok(()),
            None => {
                self.ips.insert(ip, owner.to_owned());
                self.took(Taken::Ip(ip));
                Ok(())
            }
        }
    }

    /// Allocates the next free IP of a family.
    pub fn allocate_ip(&mut self, fam: Family, owner: &str) -> Result<IpAddr, AllocError> {
        let idx = self
            .ranges
            .iter()
            .position(|r| Family::of(&r.net.addr()) == fam)
            .ok_or(AllocError::NoFamily)?;
        let r = &self.ranges[idx];
        let base = to_u128(r.net.network());
        let tries = r.size.min(1 << 22);
        let mut off = r.cursor;
        for _ in 0..tries {
            if off >= r.size {
                off = 1;
            }
            let ip = from_u128(fam, base + off);
            if Self::usable(r, off) && !self.ips.contains_key(&ip) {
                self.ips.insert(ip, owner.to_owned());
                self.took(Taken::Ip(ip));
                self.ranges[idx].cursor = off + 1;
                return Ok(ip);
            }
            off += 1;
        }
        Err(AllocError::Full)
    }

    /// Releases an IP held by `owner`.
    pub fn release_ip(&mut self, ip: IpAddr, owner: &str) {
        if self.ips.get(&ip).is_some_and(|o| o == owner) {
            self.ips.remove(&ip);
            self.released(Taken::Ip(ip), owner);
        }
    }

    /// Reserves a requested node port for `owner` (idempotent for the same owner).
    pub fn reserve_port(&mut self, port: u16, owner: &str) -> Result<(), AllocError> {
        if !self.port_range.contains(&port) {
            let range = format!("{}-{}", self.port_range.start(), self.port_range.end());
            return Err(AllocError::OutOfRange { what: "port", range });
        }
        match self.ports.get(&port) {
            Some(o) if o != owner => Err(AllocError::Taken("port")),
            Some(_) => Ok(()),
            None => {
                self.ports.insert(port, owner.to_owned());
                self.took(Taken::Port(port));
                Ok(())
            }
        }
    }

    /// Allocates the next free node port.
    pub fn allocate_port(&mut self, owner: &str) -> Result<u16, AllocError> {
        let (lo, hi) = (*self.port_range.start(), *self.port_range.end());
        let mut p = self.port_cursor;
        for _ in 0..=u32::from(hi - lo) {
            if p > hi || p < lo {
                p = lo;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = self.ports.entry(p) {
                e.insert(owner.to_owned());
                self.took(Taken::Port(p));
                self.port_cursor = p.wrapping_add(1);
                return Ok(p);
            }
            p = p.wrapping_add(1);
        }
        Err(AllocError::Full)
    }

    /// Releases a node port held by `owner`.
    pub fn release_port(&mut self, port: u16, owner: &str) {
        if self.ports.get(&port).is_some_and(|o| o == owner) {
            self.ports.remove(&port);
            self.released(Taken::Port(port), owner);
        }
    }

    /// Number of IPs and ports held (for tests).
    pub fn in_use(&self) -> (usize, usize) {
        (self.ips.len(), self.ports.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_reserves_and_releases() {
        let mut a = Allocator::new(
            &[
                "10.96.0.0/30".parse().unwrap(),
                "fd00:10:96::/126".parse().unwrap(),
            ],
            30000..=30002,
        );
        assert_eq!(a.families(), vec![Family::V4, Family::V6]);
        // /30: .1 and .2 usable (network and broadcast excluded).
        assert_eq!(a.allocate_ip(Family::V4, "a").unwrap().to_string(), "10.96.0.1");
        assert_eq!(
            a.reserve_ip("10.96.0.1".parse().unwrap(), "b"),
            Err(AllocError::Taken("IP"))
        );
        assert!(a.reserve_ip("10.96.0.1".parse().unwrap(), "a").is_ok());
        assert!(matches!(
            a.reserve_ip("10.96.0.3".parse().unwrap(), "b"),
            Err(AllocError::OutOfRange { .. })
        ));
        assert!(matches!(
            a.reserve_ip("192.0.2.1".parse().unwrap(), "b"),
            Err(AllocError::OutOfRange { .. })
        ));
        assert_eq!(a.allocate_ip(Family::V4, "b").unwrap().to_string(), "10.96.0.2");
        assert_eq!(a.allocate_ip(Family::V4, "c"), Err(AllocError::Full));
        a.release_ip("10.96.0.1".parse().unwrap(), "a");
        assert_eq!(a.allocate_ip(Family::V4, "c").unwrap().to_string(), "10.96.0.1");
        assert_eq!(
            a.allocate_ip(Family::V6, "c").unwrap().to_string(),
            "fd00:10:96::1"
        );
        assert_eq!(a.allocate_port("a").unwrap(), 30000);
        assert_eq!(a.reserve_port(30000, "b"), Err(AllocError::Taken("port")));
        assert!(a.reserve_port(30002, "b").is_ok());
        assert_eq!(a.allocate_port("c").unwrap(), 30001);
        assert_eq!(a.allocate_port("d"), Err(AllocError::Full));
        assert!(matches!(
            a.reserve_port(8080, "d"),
            Err(AllocError::OutOfRange { .. })
        ));
        a.release_port(30001, "c");
        assert_eq!(a.allocate_port("d").unwrap(), 30001);
        a.begin();
        a.release_port(30001, "d");
        a.reserve_port(30001, "e").unwrap();
        assert_eq!(
            a.allocate_ip(Family::V6, "e").unwrap().to_string(),
            "fd00:10:96::2"
        );
        a.rollback();
        assert_eq!(
            a.in_use(),
            (3, 3),
            "taken values are given back, released ones taken again"
        );
        assert_eq!(a.reserve_port(30001, "e"), Err(AllocError::Taken("port")));
        assert!(a.reserve_port(30001, "d").is_ok());
        let mut single = Allocator::new(&["10.96.0.0/12".parse().unwrap()], 30000..=32767);
        assert_eq!(single.allocate_ip(Family::V6, "x"), Err(AllocError::NoFamily));
    }
}
