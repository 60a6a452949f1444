//! The network side of the system: the kube-proxy stand-in for a Service, the BGP router, who answers ARP
//! for an IP, and taking the API server off the network.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ferrolb_netlab::{BgpConfig, BgpRouter, Lab, LbService, MacAddr, Peer, Router, RouterKind};

use super::{Result, System, SystemError};

/// The lab router's AS number.
pub const ROUTER_ASN: u32 = 64512;
/// The nodes' AS number (the speakers' `my-asn`).
pub const NODE_ASN: u32 = 64513;

/// nft table in the api host that takes the API server off the network.
const API_OUTAGE_TABLE: &str = "flb_e2e_api_outage";

/// The router's BGP config: AS [`ROUTER_ASN`], one passive neighbour per node (the speakers dial), routes
/// installed in its kernel.
pub fn router_config(lab: &Lab) -> BgpConfig {
    let mut cfg = BgpConfig::new(ROUTER_ASN, lab.router().ipv4());
    for n in lab.nodes() {
        cfg = cfg.peer(Peer::new(IpAddr::V4(n.ipv4()), NODE_ASN).passive());
    }
    cfg
}

impl System {
    /// Plays kube-proxy for Service `namespace/name`: DNAT from each of its load-balancer IPs (port as
    /// declared) to its nodePort on every node with an endpoint (`Local`) or on every node (`Cluster`), where
    /// the lab's backends answer with their node's name. Returns what was installed.
    pub fn serve(&self, namespace: &str, name: &str) -> Result<LbService> {
        let svc = self
            .service(namespace, name)
            .ok_or_else(|| SystemError::Api(format!("no Service {namespace}/{name}")))?;
        let vips = super::objects::ingress_of(&svc);
        let port = &svc["spec"]["ports"][0];
        let (Some(service_port), Some(node_port)) = (
            port["port"].as_u64().and_then(|p| u16::try_from(p).ok()),
            port["nodePort"].as_u64().and_then(|p| u16::try_from(p).ok()),
        ) else {
            return Err(SystemError::Api(format!(
                "Service {namespace}/{name} has no port with a nodePort: {port}"
            )));
        };
        if vips.is_empty() {
            return Err(SystemError::Api(format!(
                "Service {namespace}/{name} has no IP yet"
            )));
        }
        let mut lb = LbService::tcp(&stand_in_name(namespace, name), vips[0], service_port, node_port);
        lb.vips = vips;
        if svc["spec"]["externalTrafficPolicy"] == "Local" {
            let nodes = self.endpoint_nodes(namespace, name);
            let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
            lb = lb.on_nodes(&nodes);
        }
        self.lab().add_service(&lb)?;
        Ok(lb)
    }

    /// Removes the kube-proxy stand-in's rules and backends of Service `namespace/name`.
    pub fn unserve(&self, namespace: &str, name: &str) -> Result<()> {
        Ok(self.lab().remove_service(&stand_in_name(namespace, name))?)
    }

    /// Starts a BGP router of `kind` on the router host ([`router_config`]) and waits until every node's
    /// speaker has a session with it.
    pub fn start_router(&self, kind: RouterKind, timeout: Duration) -> Result<Router> {
        self.start_router_with(kind, timeout, router_config(self.lab()))
    }

    /// [`System::start_router`] with a configuration of the test's own (e.g. [`router_config`] with BFD).
    pub fn start_router_with(&self, kind: RouterKind, timeout: Duration, cfg: BgpConfig) -> Result<Router> {
        let router = Router::start(kind, self.lab(), "router", &cfg)?;
        let nodes = self.node_names().len();
        self.wait_until(
            &format!("{kind:?}: a session with each of the {nodes} speakers"),
            timeout,
            || Ok(router.sessions()?),
            |s| s.iter().filter(|s| s.established).count() >= nodes,
        )?;
        Ok(router)
    }

    /// The MACs that answer ARP for `ip` from the client (5 requests, 50 ms apart): empty when nobody
    /// answers, one MAC normally, several in a split brain.
    pub fn arp_macs(&self, ip: Ipv4Addr) -> Result<BTreeSet<MacAddr>> {
        Ok(self.lab().arping_macs("client", ip, 5)?)
    }

    /// Waits until exactly one node answers ARP for `ip`; returns that node and its MAC.
    pub fn wait_arp_owner(&self, ip: Ipv4Addr, timeout: Duration) -> Result<(String, MacAddr)> {
        let macs = self.wait_until(
            &format!("exactly one MAC to answer ARP for {ip}"),
            timeout,
            || self.arp_macs(ip),
            |m| m.len() == 1,
        )?;
        let mac = macs
            .into_iter()
            .next()
            .unwrap_or_else(|| unreachable!("one MAC was accepted"));
        let node = self.node_of_mac(mac).ok_or_else(|| SystemError::Tool {
            tool: "arping".into(),
            message: format!("{mac} answered for {ip}, and it is no node's MAC"),
        })?;
        Ok((node, mac))
    }

    /// Waits until nobody answers ARP for `ip`.
    pub fn wait_no_arp(&self, ip: Ipv4Addr, timeout: Duration) -> Result<()> {
        self.wait_until(
            &format!("nobody to answer ARP for {ip}"),
            timeout,
            || self.arp_macs(ip),
            BTreeSet::is_empty,
        )
        .map(drop)
    }

    /// Takes the API server off the network, as if its process had stopped: from now on every TCP segment
    /// that reaches it from outside its host (new connections, and the established ones of the programs) is
    /// answered with a reset. The server keeps its state; [`System::resume_api`] brings it back.
    pub fn stop_api(&self) -> Result<()> {
        let script = format!(
            "table inet {API_OUTAGE_TABLE}\ndelete table inet {API_OUTAGE_TABLE}\ntable inet {API_OUTAGE_TABLE} {{\n  \
             chain input {{\n    type filter hook input priority filter; policy accept;\n    \
             iifname \"eth0\" tcp dport {port} reject with tcp reset\n  }}\n}}\n",
            port = super::API_PORT
        );
        self.lab()
            .cmd("api", "nft")?
            .args(["-f", "-"])
            .stdin(script)
            .run()?;
        Ok(())
    }

    /// Ends [`System::stop_api`].
    pub fn resume_api(&self) -> Result<()> {
        self.lab()
            .cmd("api", "nft")?
            .args(["delete", "table", "inet", API_OUTAGE_TABLE])
            .run()?;
        Ok(())
    }
}

fn stand_in_name(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}
