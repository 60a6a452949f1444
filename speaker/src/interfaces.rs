//! Which network interfaces the speaker answers ARP/NDP on (pure).
//!
//! An interface is **eligible** when it is broadcast-capable, not loopback, not `NOARP`, not enslaved to a
//! bridge or bond (its master answers instead), has an Ethernet address, its name matches the include patterns
//! (default: every name) and none of the exclude patterns (default: [`DEFAULT_EXCLUDES`] — container, CNI,
//! tunnel and kube-proxy devices, as MetalLB excludes them). It is **usable** while it is administratively up
//! and has carrier. A layer2 IP is answered on the usable eligible interfaces its pool allows (a pool's
//! `interfaces` list narrows them). A node with no usable eligible interface cannot announce anything and steps
//! aside.
//!
//! Patterns are shell-style globs: `*` matches any run of characters, `?` one character.

use std::collections::BTreeMap;

use ferrolb_proto::MacAddr;

use crate::election::Layer2Announcement;

/// Interface names excluded by default.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    "lo",
    "docker*",
    "cbr*",
    "dummy*",
    "virbr*",
    "lxcbr*",
    "veth*",
    "cali*",
    "tunl*",
    "flannel*",
    "kube-ipvs*",
    "cni*",
    "nodelocaldns*",
    "lxc*",
    "vxlan*",
    "cilium*",
    "weave*",
    "genev_sys*",
];

/// Whether `name` matches the glob `pattern`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // iterative matcher with backtracking on the last '*'
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A network interface as netlink reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// Ethernet address, if it has one.
    pub mac: Option<MacAddr>,
    /// `IFF_UP`.
    pub up: bool,
    /// `IFF_RUNNING` (carrier).
    pub running: bool,
    /// `IFF_BROADCAST`.
    pub broadcast: bool,
    /// `IFF_NOARP`.
    pub noarp: bool,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// The index of its master (bridge, bond), if enslaved.
    pub master: Option<u32>,
}

impl Interface {
    /// Up and with carrier.
    pub fn usable(&self) -> bool {
        self.up && self.running
    }
}

/// Interfaces by index.
pub type Interfaces = BTreeMap<u32, Interface>;

/// Include and exclude patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceFilter {
    /// Names to consider (empty: all).
    pub include: Vec<String>,
    /// Names never to use.
    pub exclude: Vec<String>,
}

impl Default for InterfaceFilter {
    fn default() -> Self {
        InterfaceFilter {
            include: Vec::new(),
            exclude: DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl InterfaceFilter {
    /// Whether `i` may ever be announced on (see the module docs).
    pub fn eligible(&self, i: &Interface) -> bool {
        i.broadcast
            && !i.loopback
            && !i.noarp
            && i.master.is_none()
            && i.mac.is_some_and(|m| !m.is_zero())
            && (self.include.is_empty() || self.include.iter().any(|p| glob_match(p, &i.name)))
            && !self.exclude.iter().any(|p| glob_match(p, &i.name))
    }

    /// Eligible and usable interfaces.
    pub fn announcing<'a>(&'a self, all: &'a Interfaces) -> impl Iterator<Item = &'a Interface> + 'a {
        all.values().filter(|i| self.eligible(i) && i.usable())
    }

    /// The interfaces an IP is answered on.
    pub fn for_announcement<'a>(
        &'a self,
        all: &'a Interfaces,
        ann: &'a Layer2Announcement,
    ) -> impl Iterator<Item = &'a Interface> + 'a {
        self.announcing(all)
            .filter(|i| ann.interfaces.is_empty() || ann.interfaces.contains(&i.name))
    }

    /// Whether this node can announce at all (some eligible interface is usable).
    pub fn can_announce(&self, all: &Interfaces) -> bool {
        self.announcing(all).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(index: u32, name: &str) -> Interface {
        Interface {
            index,
            name: name.into(),
            mac: Some(MacAddr([2, 0, 0, 0, 0, u8::try_from(index).unwrap()])),
            up: true,
            running: true,
            broadcast: true,
            noarp: false,
            loopback: false,
            master: None,
        }
    }

    #[test]
    fn globs() {
        for (p, n, want) in [
            ("veth*", "veth1234", true),
            ("veth*", "eth0", false),
            ("lo", "lo", true),
            ("lo", "lo0", false),
            ("*", "", true),
            ("e?h0", "eth0", true),
            ("*ipvs*", "kube-ipvs0", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("", "x", false),
        ] {
            assert_eq!(glob_match(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn eligibility_follows_flags_names_and_masters() {
        let f = InterfaceFilter::default();
        assert!(f.eligible(&iface(2, "eth0")));
        assert!(f.eligible(&iface(3, "bond0")));
        for name in [
            "lo",
            "docker0",
            "veth9a",
            "cni0",
            "flannel.1",
            "cali123",
            "kube-ipvs0",
        ] {
            assert!(!f.eligible(&iface(4, name)), "{name}");
        }
        let enslaved = Interface {
            master: Some(3),
            ..iface(5, "eth1")
        };
        let noarp = Interface {
            noarp: true,
            ..iface(6, "wg0")
        };
        let p2p = Interface {
            broadcast: false,
            ..iface(7, "tun0")
        };
        let no_mac = Interface {
            mac: None,
            ..iface(8, "eth2")
        };
        for i in [enslaved, noarp, p2p, no_mac] {
            assert!(!f.eligible(&i), "{}", i.name);
        }
        let only_eth1 = InterfaceFilter {
            include: vec!["eth1".into()],
            ..InterfaceFilter::default()
        };
        assert!(!only_eth1.eligible(&iface(2, "eth0")));
        assert!(only_eth1.eligible(&iface(2, "eth1")));
    }

    #[test]
    fn announcing_needs_up_and_carrier_and_honours_pool_interfaces() {
        let f = InterfaceFilter::default();
        let mut all: Interfaces = [iface(2, "eth0"), iface(3, "eth1"), iface(1, "lo")]
            .into_iter()
            .map(|i| (i.index, i))
            .collect();
        assert!(f.can_announce(&all));
        let ann = Layer2Announcement {
            pool: "p".into(),
            interfaces: vec!["eth1".into()],
            services: vec![],
        };
        let names = |all: &Interfaces, a: &Layer2Announcement| -> Vec<String> {
            f.for_announcement(all, a).map(|i| i.name.clone()).collect()
        };
        assert_eq!(names(&all, &ann), ["eth1"]);
        all.get_mut(&3).unwrap().running = false;
        assert!(names(&all, &ann).is_empty());
        let any = Layer2Announcement {
            interfaces: vec![],
            ..ann
        };
        assert_eq!(names(&all, &any), ["eth0"]);
        all.get_mut(&2).unwrap().up = false;
        assert!(!f.can_announce(&all), "only lo left");
    }
}
