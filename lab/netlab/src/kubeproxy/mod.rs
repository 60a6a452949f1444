//! The kube-proxy stand-in (lab equipment only; the product does not ship it).
//!
//! The lab has no kube-proxy, so for each Service with a load-balancer IP it installs, on every
//! node, nft DNAT from `VIP:port` to the node's own address at the Service's nodePort, where a tiny
//! in-process backend (a thread whose socket lives in the node's namespace) answers with the node's
//! name: HTTP/1.0 for TCP (`curl` prints `node2`), `<node> <payload>` for UDP. Traffic reaching a
//! node for the VIP — whether the node owns the VIP or not — is thus served by that node, which is
//! what the layer2 and BGP tests observe.
//!
//! Like kube-proxy, the stand-in serves its health endpoint on every node, port 10256 ([`health`]: the
//! same status codes, headers and body), from the first Service it installs (or the first
//! [`Lab::set_kube_proxy_health`]); installing rules counts as a sync. Tests make a node's kube-proxy
//! stale, not eligible or down with [`Lab::set_kube_proxy_health`].

pub mod health;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use self::health::{HealthServer, KubeProxyHealth, NodeHealth};
use crate::cmd::nft_script;
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::netns::Netns;

/// nft table the stand-in owns on each node.
pub const NFT_TABLE: &str = "flb_kube_proxy";

/// Transport of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl L4Proto {
    fn nft(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
        }
    }
}

/// A Service of type LoadBalancer as kube-proxy would see it (one port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbService {
    /// Name (unique within the lab).
    pub name: String,
    /// Its load-balancer IPs (either family).
    pub vips: Vec<IpAddr>,
    /// The Service port.
    pub port: u16,
    /// The port's transport.
    pub proto: L4Proto,
    /// The nodePort the backends listen on.
    pub node_port: u16,
    /// The nodes with a ready endpoint (`None`: every node). Like kube-proxy with
    /// `externalTrafficPolicy: Local`, the other nodes neither DNAT nor answer.
    pub nodes: Option<Vec<String>>,
}

impl LbService {
    /// A TCP Service `name` on `vip:port` with nodePort `node_port`.
    pub fn tcp(name: &str, vip: IpAddr, port: u16, node_port: u16) -> Self {
        LbService {
            name: name.into(),
            vips: vec![vip],
            port,
            proto: L4Proto::Tcp,
            node_port,
            nodes: None,
        }
    }

    /// A UDP Service.
    pub fn udp(name: &str, vip: IpAddr, port: u16, node_port: u16) -> Self {
        LbService {
            name: name.into(),
            vips: vec![vip],
            port,
            proto: L4Proto::Udp,
            node_port,
            nodes: None,
        }
    }

    /// Served only by `nodes` (the others have no endpoint).
    pub fn on_nodes(mut self, nodes: &[&str]) -> Self {
        self.nodes = Some(nodes.iter().map(|n| n.to_string()).collect());
        self
    }

    /// Whether `node` serves this Service.
    pub fn served_by(&self, node: &str) -> bool {
        self.nodes.as_ref().is_none_or(|n| n.iter().any(|x| x == node))
    }
}

/// The nft script that (re)defines the stand-in's table on a node with addresses `v4`/`v6`.
pub fn nft_ruleset<'a>(
    services: impl IntoIterator<Item = &'a LbService>,
    v4: Ipv4Addr,
    v6: Ipv6Addr,
) -> String {
    let mut rules = String::new();
    for svc in services {
        for vip in &svc.vips {
            let (p, port, np) = (svc.proto.nft(), svc.port, svc.node_port);
            let _ = match vip {
                IpAddr::V4(a) => writeln!(rules, "    ip daddr {a} {p} dport {port} dnat ip to {v4}:{np}"),
                IpAddr::V6(a) => writeln!(
                    rules,
                    "    ip6 daddr {a} {p} dport {port} dnat ip6 to [{v6}]:{np}"
                ),
            };
        }
    }
    // nft 1.0.6 wants closing braces on their own lines; declaring before deleting makes the
    // delete valid when the table does not exist yet, and the whole file is applied atomically.
    format!(
        "table inet {NFT_TABLE}\ndelete table inet {NFT_TABLE}\ntable inet {NFT_TABLE} {{\n  \
         chain prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n{rules}  }}\n  \
         chain output {{\n    type nat hook output priority -100; policy accept;\n{rules}  }}\n}}\n"
    )
}

/// A backend: threads answering with the node's name on one socket.
#[derive(Debug)]
struct Backend {
    stop: Arc<AtomicBool>,
    listener: Option<TcpListener>,
    thread: Option<JoinHandle<()>>,
}

impl Backend {
    fn start(ns: &Netns, node: &str, addr: SocketAddr, proto: L4Proto) -> Result<Backend> {
        let stop = Arc::new(AtomicBool::new(false));
        let name = node.to_string();
        let st = stop.clone();
        match proto {
            L4Proto::Tcp => {
                let listener = ns.tcp_listener(addr)?;
                let l = listener
                    .try_clone()
                    .map_err(|e| LabError::io(format!("backend {addr}"), e))?;
                let thread = std::thread::Builder::new()
                    .name(format!("backend-{node}-{addr}"))
                    .spawn(move || serve_tcp(&l, &name, &st))
                    .map_err(|e| LabError::io(format!("backend thread {addr}"), e))?;
                Ok(Backend {
                    stop,
                    listener: Some(listener),
                    thread: Some(thread),
                })
            }
            L4Proto::Udp => {
                let sock = ns.udp_socket(addr)?;
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .map_err(|e| LabError::io(format!("backend {addr}"), e))?;
                let thread = std::thread::Builder::new()
                    .name(format!("backend-{node}-{addr}"))
                    .spawn(move || serve_udp(&sock, &name, &st))
                    .map_err(|e| LabError::io(format!("backend thread {addr}"), e))?;
                Ok(Backend {
                    stop,
                    listener: None,
                    thread: Some(thread),
                })
            }
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(l) = &self.listener {
            // shutdown(2) on a listening socket wakes a blocked accept(2) with an error
            let _ = socket2::SockRef::from(l).shutdown(Shutdown::Both);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.listener = None;
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve_tcp(listener: &TcpListener, node: &str, stop: &AtomicBool) {
    let body = format!("{node}\n");
    let response = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    while !stop.load(Ordering::Relaxed) {
        let Ok((conn, _)) = listener.accept() else {
            // woken by shutdown (the loop ends), or a transient error such as EMFILE: don't spin
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let response = response.clone();
        // one short-lived thread per connection, bounded by its socket timeouts
        let _ = std::thread::Builder::new()
            .name("backend-conn".into())
            .spawn(move || answer(conn, &response));
    }
}

fn answer(mut conn: TcpStream, response: &str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
    let mut req = Vec::new();
    let mut chunk = [0u8; 1024];
    // read the request head (or whatever arrives first), then answer and close
    while req.len() < 16 * 1024 && !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&chunk[..n]),
        }
    }
    let _ = conn.write_all(response.as_bytes());
    let _ = conn.shutdown(Shutdown::Both);
}

fn serve_udp(sock: &UdpSocket, node: &str, stop: &AtomicBool) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let mut reply = format!("{node} ").into_bytes();
        reply.extend_from_slice(&buf[..n.min(1400)]);
        let _ = sock.send_to(&reply, from);
    }
}

/// The stand-in's state in a lab: services and their backends, and each node's health endpoint.
#[derive(Debug, Default)]
pub(crate) struct Services {
    entries: BTreeMap<String, (LbService, Vec<Backend>)>,
    /// Per node: kube-proxy's health state (kept while it is down).
    health: BTreeMap<String, Arc<NodeHealth>>,
    /// Per node: the endpoint, while kube-proxy is up.
    servers: BTreeMap<String, HealthServer>,
}

impl Services {
    pub(crate) fn stop_all(&mut self) {
        self.servers.clear();
        for (_, (_, backends)) in std::mem::take(&mut self.entries) {
            drop(backends);
        }
    }
}

impl Lab {
    /// Installs (or replaces) a Service on every node that serves it: backends on each node's own
    /// address at the nodePort, and DNAT from each VIP:port to it.
    pub fn add_service(&self, svc: &LbService) -> Result<()> {
        if svc.vips.is_empty() {
            return Err(LabError::Invalid(format!(
                "service {} has no load-balancer IP",
                svc.name
            )));
        }
        for n in svc.nodes.iter().flatten() {
            self.try_host(n)?;
        }
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        services.entries.remove(&svc.name); // stops old backends first (same ports)
        let mut backends = Vec::new();
        for node in self.nodes().filter(|n| svc.served_by(n.name())) {
            let mut families: Vec<bool> = svc.vips.iter().map(IpAddr::is_ipv6).collect();
            families.sort();
            families.dedup();
            for v6 in families {
                let addr = SocketAddr::new(node.addr(v6), svc.node_port);
                backends.push(Backend::start(node.ns(), node.name(), addr, svc.proto)?);
            }
        }
        services.entries.insert(svc.name.clone(), (svc.clone(), backends));
        self.apply_nft(&mut services)
    }

    /// Removes a Service (backends and DNAT rules).
    pub fn remove_service(&self, name: &str) -> Result<()> {
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        if services.entries.remove(name).is_none() {
            return Err(LabError::Invalid(format!(
                "no service `{name}` in lab {}",
                self.prefix()
            )));
        }
        self.apply_nft(&mut services)
    }

    /// Sets what `node`'s kube-proxy health endpoint reports (see [`KubeProxyHealth`]); starts the endpoints
    /// on every node if they are not running yet.
    pub fn set_kube_proxy_health(&self, node: &str, state: KubeProxyHealth) -> Result<()> {
        let host = self.try_host(node)?;
        let mut services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        self.ensure_health(&mut services)?;
        let Some(h) = services.health.get(node).cloned() else {
            return Err(LabError::Invalid(format!(
                "{node} is not a node of lab {}",
                self.prefix()
            )));
        };
        {
            let mut m = h.model();
            match state {
                KubeProxyHealth::Healthy => {
                    m.updated(h.now());
                    m.set_node_eligible(true);
                }
                KubeProxyHealth::Stale => {
                    // a change has waited past the health timeout since the last sync
                    m.updated(h.ago(health::HEALTH_TIMEOUT + Duration::from_secs(5)));
                    m.queued(h.ago(health::HEALTH_TIMEOUT + Duration::from_secs(1)));
                    m.set_node_eligible(true);
                }
                KubeProxyHealth::NotEligible => m.set_node_eligible(false),
                KubeProxyHealth::Down => {}
            }
        }
        if state == KubeProxyHealth::Down {
            services.servers.remove(node);
        } else if !services.servers.contains_key(node) {
            services
                .servers
                .insert(node.to_owned(), HealthServer::start(host.ns(), node, h)?);
        }
        Ok(())
    }

    /// Starts the health endpoints of nodes that have none yet (kube-proxy starts with the lab's first use of
    /// the stand-in).
    fn ensure_health(&self, services: &mut Services) -> Result<()> {
        for node in self.nodes() {
            if services.health.contains_key(node.name()) {
                continue;
            }
            let h = NodeHealth::new();
            services.servers.insert(
                node.name().to_owned(),
                HealthServer::start(node.ns(), node.name(), h.clone())?,
            );
            services.health.insert(node.name().to_owned(), h);
        }
        Ok(())
    }

    fn apply_nft(&self, services: &mut Services) -> Result<()> {
        self.ensure_health(services)?;
        for node in self.nodes() {
            let script = nft_ruleset(
                services
                    .entries
                    .values()
                    .map(|(s, _)| s)
                    .filter(|s| s.served_by(node.name())),
                node.ipv4(),
                node.ipv6(),
            );
            nft_script(node.ns().name(), &script)?;
            // rules applied: a sync, as kube-proxy's Updated()
            if let Some(h) = services.health.get(node.name()) {
                let now = h.now();
                h.model().updated(now);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_dnats_each_vip_to_the_node_address() {
        let mut svc = LbService::tcp("web", "192.0.2.100".parse().unwrap(), 80, 30080);
        svc.vips.push("2001:db8::100".parse().unwrap());
        let dns = LbService::udp("dns", "203.0.113.5".parse().unwrap(), 53, 30053);
        let s = nft_ruleset(
            [&svc, &dns],
            Ipv4Addr::new(192, 0, 2, 12),
            "2001:db8::12".parse().unwrap(),
        );
        assert!(s.starts_with("table inet flb_kube_proxy\ndelete table inet flb_kube_proxy\n"));
        assert!(s.contains("ip daddr 192.0.2.100 tcp dport 80 dnat ip to 192.0.2.12:30080\n"));
        assert!(s.contains("ip6 daddr 2001:db8::100 tcp dport 80 dnat ip6 to [2001:db8::12]:30080\n"));
        assert!(s.contains("ip daddr 203.0.113.5 udp dport 53 dnat ip to 192.0.2.12:30053\n"));
        assert_eq!(
            s.matches("dnat ip to 192.0.2.12:30080").count(),
            2,
            "prerouting and output"
        );
        assert!(
            s.lines().all(|l| !l.contains("} }")),
            "closing braces on their own lines"
        );
    }

    #[test]
    fn empty_ruleset_still_defines_the_table() {
        let s = nft_ruleset([], Ipv4Addr::new(192, 0, 2, 11), "2001:db8::11".parse().unwrap());
        assert!(s.contains("chain prerouting") && !s.contains("dnat"));
    }
}
