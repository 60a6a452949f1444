//! The lab's shape and addressing, and the `ip` scripts that build it (pure; no I/O here).
//!
//! ```text
//!              netns <p>sw: br0 (no STP, no multicast snooping, bridge-netfilter off)
//!   p-router  p-api   p-node1 … p-nodeN  p-client      veth peers; "eth0" inside each host
//!      |        |        |         |        |
//!    router    api     node1 …   nodeN    client        192.0.2.0/24, 2001:db8::/64
//!    .1 ::1   .2 ::2  .11 ::11  .10+N     .50 ::50
//!      | eth1 198.51.100.1 / 2001:db8:1::1
//!     ext 198.51.100.10 / 2001:db8:1::10                (behind the router)
//!
//!              netns <p>sw: br1 (optional second segment, same settings)
//!   p2-node1 … p2-client                                veth peers; "eth1" inside each listed host
//!      |           |
//!    node1  …   client                                  203.0.113.128/25, 2001:db8:2::/64
//!   .139 ::11   .178 ::50                               (.128 + the host's number on the first)
//! ```
//!
//! The `api` host (control plane: the embedded API server) is optional, and so is the second segment: hosts
//! named in [`TopologySpec::second_segment`] (nodes, the client, the api host — not the router, whose `eth1`
//! leads to `ext`) get an `eth1` on a second bridge, for tests of what happens on one interface and not the
//! other (a node with two NICs). Namespaces are named
//! `<prefix><host>`; interface names repeat across namespaces, so labs with different prefixes run
//! side by side.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};

use crate::error::{LabError, Result};

/// The shared L2 segment, IPv4 (TEST-NET-1).
pub const SEGMENT_V4: Ipv4Net = ipv4net(Ipv4Addr::new(192, 0, 2, 0), 24);
/// The shared L2 segment, IPv6.
pub const SEGMENT_V6: Ipv6Net = ipv6net(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 64);
/// The link between the router and the external host, IPv4 (TEST-NET-2).
pub const EXTERNAL_V4: Ipv4Net = ipv4net(Ipv4Addr::new(198, 51, 100, 0), 24);
/// The link between the router and the external host, IPv6.
pub const EXTERNAL_V6: Ipv6Net = ipv6net(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0), 64);
/// The optional second L2 segment, IPv4: the upper half of TEST-NET-3 (pools of labs with a second
/// segment must stay out of it).
pub const SEGMENT2_V4: Ipv4Net = ipv4net(Ipv4Addr::new(203, 0, 113, 128), 25);
/// The optional second L2 segment, IPv6.
pub const SEGMENT2_V6: Ipv6Net = ipv6net(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0), 64);
/// The name of a host's interface on the second segment.
pub const SECOND_INTERFACE: &str = "eth1";
/// A conventional first load-balancer IP on the segment (layer2 tests).
pub const VIP_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
/// A conventional first load-balancer IPv6 on the segment.
pub const VIP_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
/// The largest number of nodes a lab can have (.11 … .42 on the segment).
pub const MAX_NODES: usize = 32;

const fn ipv4net(a: Ipv4Addr, len: u8) -> Ipv4Net {
    match Ipv4Net::new(a, len) {
        Ok(n) => n,
        Err(_) => panic!("bad constant prefix"),
    }
}

const fn ipv6net(a: Ipv6Addr, len: u8) -> Ipv6Net {
    match Ipv6Net::new(a, len) {
        Ok(n) => n,
        Err(_) => panic!("bad constant prefix"),
    }
}

/// What a host is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The router between the segment and the external host (runs GoBGP, BIRD or FRR).
    Router,
    /// The control-plane host (the embedded API server lives here).
    Api,
    /// A Kubernetes node (1-based index); speakers run here as hostNetwork processes.
    Node(usize),
    /// A client on the same segment (ARP/NDP checks, outage probes).
    Client,
    /// A host behind the router (BGP data-path checks).
    External,
}

/// One host of the lab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Short name (`router`, `node1`, `client`, `ext`, `api`).
    pub name: String,
    /// What the host is for.
    pub role: Role,
    /// Its IPv4 address on `eth0`.
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address on `eth0`.
    pub ipv6: Ipv6Addr,
    /// Its addresses on `eth1` when it sits on the second segment.
    pub second: Option<(Ipv4Addr, Ipv6Addr)>,
}

impl HostSpec {
    /// Whether the host sits on the shared segment (everything but `ext`).
    pub fn on_segment(&self) -> bool {
        self.role != Role::External
    }

    /// Its address of the given family.
    pub fn addr(&self, ipv6: bool) -> IpAddr {
        if ipv6 {
            IpAddr::V6(self.ipv6)
        } else {
            IpAddr::V4(self.ipv4)
        }
    }
}

/// The lab to build: how many nodes, whether there is a control-plane host, where logs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologySpec {
    /// Number of nodes (1 ..= [`MAX_NODES`]).
    pub nodes: usize,
    /// Whether to add the control-plane host `api` (192.0.2.2 / 2001:db8::2).
    pub api_host: bool,
    /// Parent directory of the lab's work directory (default `/run/ferrolb-netlab`).
    pub work_base: PathBuf,
    /// Hosts that also sit on the second segment (interface `eth1`); empty: no second segment.
    pub second_segment: Vec<String>,
}

impl TopologySpec {
    /// A lab with `nodes` nodes, a router, a client and an external host.
    pub fn new(nodes: usize) -> Self {
        TopologySpec {
            nodes,
            api_host: false,
            work_base: PathBuf::from("/run/ferrolb-netlab"),
            second_segment: Vec::new(),
        }
    }

    /// Adds the control-plane host `api`.
    pub fn with_api_host(mut self) -> Self {
        self.api_host = true;
        self
    }

    /// Puts `hosts` on the second segment too (their `eth1`; see the module docs).
    pub fn with_second_segment(mut self, hosts: &[&str]) -> Self {
        self.second_segment = hosts.iter().map(|h| (*h).to_owned()).collect();
        self
    }

    /// Puts the lab's work directory under `base` (must be traversable by user `frr` for FRR).
    pub fn with_work_base(mut self, base: impl Into<PathBuf>) -> Self {
        self.work_base = base.into();
        self
    }

    /// Rejects impossible shapes.
    pub fn validate(&self) -> Result<()> {
        if self.nodes == 0 || self.nodes > MAX_NODES {
            return Err(LabError::Invalid(format!(
                "nodes = {} (must be 1..={MAX_NODES})",
                self.nodes
            )));
        }
        let hosts = self.hosts();
        for name in &self.second_segment {
            match hosts.iter().find(|h| h.name == *name) {
                Some(h) if h.on_segment() && h.role != Role::Router => {}
                Some(_) => {
                    return Err(LabError::Invalid(format!(
                        "{name} cannot join the second segment (only nodes, the client and the api host can)"
                    )));
                }
                None => {
                    return Err(LabError::Invalid(format!(
                        "second segment: the lab has no host {name}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every host, in a stable order: router, api (if any), nodes, client, ext.
    pub fn hosts(&self) -> Vec<HostSpec> {
        let seg = |name: String, role, id: u8| HostSpec {
            second: self.second_segment.contains(&name).then(|| {
                (
                    Ipv4Addr::new(203, 0, 113, 128 + id),
                    Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, dec_as_hex(id)),
                )
            }),
            name,
            role,
            ipv4: Ipv4Addr::new(192, 0, 2, id),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, dec_as_hex(id)),
        };
        let mut hosts = vec![seg("router".into(), Role::Router, 1)];
        if self.api_host {
            hosts.push(seg("api".into(), Role::Api, 2));
        }
        for i in 1..=self.nodes {
            // validate() bounds nodes to MAX_NODES, so the id stays below 50
            let id = u8::try_from(10 + i).unwrap_or(u8::MAX);
            hosts.push(seg(format!("node{i}"), Role::Node(i), id));
        }
        hosts.push(seg("client".into(), Role::Client, 50));
        hosts.push(HostSpec {
            name: "ext".into(),
            role: Role::External,
            ipv4: Ipv4Addr::new(198, 51, 100, 10),
            ipv6: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10),
            second: None,
        });
        hosts
    }
}

/// `11` → `0x11`, so that node1 is 192.0.2.11 and 2001:db8::11.
fn dec_as_hex(id: u8) -> u16 {
    u16::from_str_radix(&id.to_string(), 16).unwrap_or(0)
}

/// The router's address towards `ext`.
pub const ROUTER_EXT_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The router's IPv6 address towards `ext`.
pub const ROUTER_EXT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
/// The segment's gateway (the router), IPv4.
pub const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The segment's gateway (the router), IPv6.
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The name of a switch port (in the switch namespace) for a host.
pub fn switch_port(host: &str) -> String {
    format!("p-{host}")
}

/// The name of a host's switch port on the second segment.
pub fn switch_port2(host: &str) -> String {
    format!("p2-{host}")
}

/// Everything needed to build a lab, as scripts and sysctl lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every namespace, switch first.
    pub namespaces: Vec<String>,
    /// Sysctls per namespace, applied before any interface is created (so `default` applies).
    pub sysctls: Vec<(String, Vec<(&'static str, &'static str)>)>,
    /// `ip -batch` run in the root namespace to create all veth pairs, directly in their namespaces.
    pub links: String,
    /// `ip -n <ns> -batch` per namespace: bridge, addresses, routes.
    pub configure: Vec<(String, String)>,
}

/// Sysctls pinned in every host namespace (IPv4 conf/all and conf/default are copied from the root
/// namespace on creation, so nothing is left to chance).
fn host_sysctls(router: bool) -> Vec<(&'static str, &'static str)> {
    let fwd = if router { "1" } else { "0" };
    let mut v = vec![
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.conf.all.arp_ignore", "0"),
        ("net.ipv4.conf.default.arp_ignore", "0"),
        ("net.ipv4.conf.all.arp_announce", "0"),
        ("net.ipv4.conf.default.arp_announce", "0"),
        ("net.ipv4.conf.all.arp_accept", "0"),
        ("net.ipv4.conf.default.arp_accept", "0"),
        ("net.ipv4.conf.all.route_localnet", "0"),
        ("net.ipv4.conf.default.route_localnet", "0"),
        ("net.ipv6.conf.all.accept_dad", "0"),
        ("net.ipv6.conf.default.accept_dad", "0"),
        ("net.ipv6.conf.all.accept_ra", "0"),
        ("net.ipv6.conf.default.accept_ra", "0"),
        ("net.ipv6.conf.all.keep_addr_on_down", "1"),
        ("net.ipv6.conf.default.keep_addr_on_down", "1"),
        ("net.ipv4.ip_forward", fwd),
        ("net.ipv6.conf.all.forwarding", fwd),
    ];
    if router {
        // ECMP hashes on L4 ports too, so one external client reaches several nodes.
        v.push(("net.ipv4.fib_multipath_hash_policy", "1"));
        v.push(("net.ipv6.fib_multipath_hash_policy", "1"));
    }
    v
}

fn switch_sysctls() -> Vec<(&'static str, &'static str)> {
    vec![
        // br_netfilter is built into the kernel: bridged frames would traverse ip/arp hooks.
        ("net.bridge.bridge-nf-call-iptables", "0"),
        ("net.bridge.bridge-nf-call-ip6tables", "0"),
        ("net.bridge.bridge-nf-call-arptables", "0"),
        // the switch has no addresses of its own: no link-local chatter from its ports
        ("net.ipv6.conf.all.disable_ipv6", "1"),
        ("net.ipv6.conf.default.disable_ipv6", "1"),
    ]
}

/// Builds the plan for `spec` with namespace names `<prefix><host>`.
pub fn plan(spec: &TopologySpec, prefix: &str) -> Plan {
    let hosts = spec.hosts();
    let sw = format!("{prefix}sw");
    let ns = |h: &HostSpec| format!("{prefix}{}", h.name);
    let mut namespaces = vec![sw.clone()];
    namespaces.extend(hosts.iter().map(ns));

    let mut sysctls = vec![(sw.clone(), switch_sysctls())];
    sysctls.extend(
        hosts
            .iter()
            .map(|h| (ns(h), host_sysctls(h.role == Role::Router))),
    );

    let mut links = String::new();
    let mut sw_script = String::from(
        "link set lo up\nlink add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0\nlink set br0 up\n",
    );
    if hosts.iter().any(|h| h.second.is_some()) {
        sw_script.push_str(
            "link add br1 type bridge stp_state 0 forward_delay 0 mcast_snooping 0\nlink set br1 up\n",
        );
    }
    let mut configure = Vec::new();
    for h in &hosts {
        let mut s = String::from("link set lo up\n");
        if h.on_segment() {
            let port = switch_port(&h.name);
            let _ = writeln!(
                links,
                "link add eth0 netns {} type veth peer name {port} netns {sw}",
                ns(h)
            );
            let _ = writeln!(sw_script, "link set {port} master br0\nlink set {port} up");
            let _ = writeln!(s, "addr add {}/24 dev eth0", h.ipv4);
            let _ = writeln!(s, "addr add {}/64 dev eth0 nodad", h.ipv6);
            let _ = writeln!(s, "link set eth0 up");
            if h.role == Role::Router {
                let _ = writeln!(s, "addr add {ROUTER_EXT_V4}/24 dev eth1");
                let _ = writeln!(s, "addr add {ROUTER_EXT_V6}/64 dev eth1 nodad");
                let _ = writeln!(s, "link set eth1 up");
            } else {
                let _ = writeln!(s, "route add default via {GATEWAY_V4}");
                let _ = writeln!(s, "route add default via {GATEWAY_V6}");
            }
            if let Some((v4, v6)) = h.second {
                let port = switch_port2(&h.name);
                let _ = writeln!(
                    links,
                    "link add {SECOND_INTERFACE} netns {} type veth peer name {port} netns {sw}",
                    ns(h)
                );
                let _ = writeln!(sw_script, "link set {port} master br1\nlink set {port} up");
                let _ = writeln!(s, "addr add {v4}/25 dev {SECOND_INTERFACE}");
                let _ = writeln!(s, "addr add {v6}/64 dev {SECOND_INTERFACE} nodad");
                let _ = writeln!(s, "link set {SECOND_INTERFACE} up");
            }
        } else {
            let router = hosts
                .iter()
                .find(|r| r.role == Role::Router)
                .map(ns)
                .unwrap_or_default();
            let _ = writeln!(
                links,
                "link add eth1 netns {router} type veth peer name eth0 netns {}",
                ns(h)
            );
            let _ = writeln!(s, "addr add {}/24 dev eth0", h.ipv4);
            let _ = writeln!(s, "addr add {}/64 dev eth0 nodad", h.ipv6);
            let _ = writeln!(s, "link set eth0 up");
            let _ = writeln!(s, "route add default via {ROUTER_EXT_V4}");
            let _ = writeln!(s, "route add default via {ROUTER_EXT_V6}");
        }
        configure.push((ns(h), s));
    }
    configure.insert(0, (sw, sw_script));
    Plan {
        namespaces,
        sysctls,
        links,
        configure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addressing_follows_the_documented_plan() {
        let hosts = TopologySpec::new(3).with_api_host().hosts();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            ["router", "api", "node1", "node2", "node3", "client", "ext"]
        );
        let node3 = &hosts[4];
        assert_eq!(node3.ipv4, Ipv4Addr::new(192, 0, 2, 13));
        assert_eq!(node3.ipv6.to_string(), "2001:db8::13");
        assert_eq!(hosts[1].ipv6.to_string(), "2001:db8::2");
        assert_eq!(hosts[5].ipv6.to_string(), "2001:db8::50");
        assert_eq!(hosts[6].ipv4, Ipv4Addr::new(198, 51, 100, 10));
        for h in &hosts {
            let (v4, v6) = if h.on_segment() {
                (SEGMENT_V4, SEGMENT_V6)
            } else {
                (EXTERNAL_V4, EXTERNAL_V6)
            };
            assert!(v4.contains(&h.ipv4) && v6.contains(&h.ipv6), "{h:?}");
        }
    }

    #[test]
    fn node_count_is_bounded() {
        assert!(TopologySpec::new(0).validate().is_err());
        assert!(TopologySpec::new(MAX_NODES + 1).validate().is_err());
        let max = TopologySpec::new(MAX_NODES);
        assert!(max.validate().is_ok());
        let last = max
            .hosts()
            .into_iter()
            .rfind(|h| matches!(h.role, Role::Node(_)))
            .unwrap();
        assert_eq!(last.ipv4, Ipv4Addr::new(192, 0, 2, 42));
        assert!(!SEGMENT_V4.contains(&VIP_V4) || last.ipv4 < VIP_V4);
    }

    #[test]
    fn plan_wires_every_segment_host_to_the_bridge() {
        let p = plan(&TopologySpec::new(2), "t-");
        assert_eq!(
            p.namespaces,
            ["t-sw", "t-router", "t-node1", "t-node2", "t-client", "t-ext"]
        );
        assert!(
            p.links
                .contains("link add eth0 netns t-node2 type veth peer name p-node2 netns t-sw")
        );
        assert!(
            p.links
                .contains("link add eth1 netns t-router type veth peer name eth0 netns t-ext")
        );
        let sw = &p.configure[0];
        assert_eq!(sw.0, "t-sw");
        assert!(sw.1.contains("mcast_snooping 0") && sw.1.contains("link set p-client master br0"));
        let node1 = p.configure.iter().find(|(n, _)| n == "t-node1").unwrap();
        assert!(node1.1.contains("addr add 2001:db8::11/64 dev eth0 nodad"));
        assert!(node1.1.contains("route add default via 192.0.2.1"));
        let router = p.configure.iter().find(|(n, _)| n == "t-router").unwrap();
        assert!(!router.1.contains("default") && router.1.contains("198.51.100.1/24 dev eth1"));
    }

    #[test]
    fn second_segment_wires_eth1_of_the_listed_hosts_to_br1() {
        let spec = TopologySpec::new(3).with_second_segment(&["node1", "node2", "client"]);
        spec.validate().unwrap();
        let hosts = spec.hosts();
        let second = |n: &str| hosts.iter().find(|h| h.name == n).unwrap().second;
        let (v4, v6) = second("node1").unwrap();
        assert_eq!(v4, Ipv4Addr::new(203, 0, 113, 139));
        assert_eq!(v6.to_string(), "2001:db8:2::11");
        assert_eq!(second("client").unwrap().0, Ipv4Addr::new(203, 0, 113, 178));
        assert!(second("node3").is_none() && second("router").is_none());
        for h in hosts.iter().filter_map(|h| h.second) {
            assert!(SEGMENT2_V4.contains(&h.0) && SEGMENT2_V6.contains(&h.1), "{h:?}");
        }
        let p = plan(&spec, "t-");
        assert!(p.configure[0].1.contains("link add br1 type bridge"));
        assert!(p.configure[0].1.contains("link set p2-client master br1"));
        assert!(
            p.links
                .contains("link add eth1 netns t-node2 type veth peer name p2-node2 netns t-sw")
        );
        assert!(!p.links.contains("p2-node3"));
        let node1 = p.configure.iter().find(|(n, _)| n == "t-node1").unwrap();
        assert!(node1.1.contains("addr add 203.0.113.139/25 dev eth1\n"));
        assert!(node1.1.contains("link set eth1 up"));
        // without a second segment, no second bridge
        assert!(!plan(&TopologySpec::new(1), "t-").configure[0].1.contains("br1"));
        // the router's eth1 leads to ext; unknown hosts are refused
        assert!(
            TopologySpec::new(1)
                .with_second_segment(&["router"])
                .validate()
                .is_err()
        );
        assert!(
            TopologySpec::new(1)
                .with_second_segment(&["node2"])
                .validate()
                .is_err()
        );
        assert!(
            TopologySpec::new(1)
                .with_second_segment(&["ext"])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn sysctls_pin_forwarding_only_on_the_router() {
        let p = plan(&TopologySpec::new(1), "t-");
        let get = |ns: &str, key: &str| {
            p.sysctls
                .iter()
                .find(|(n, _)| n == ns)
                .unwrap()
                .1
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| *v)
        };
        assert_eq!(get("t-router", "net.ipv4.ip_forward"), Some("1"));
        assert_eq!(get("t-node1", "net.ipv4.ip_forward"), Some("0"));
        assert_eq!(get("t-router", "net.ipv4.fib_multipath_hash_policy"), Some("1"));
        assert_eq!(get("t-sw", "net.bridge.bridge-nf-call-arptables"), Some("0"));
        assert_eq!(get("t-client", "net.ipv6.conf.default.accept_dad"), Some("0"));
    }
}
