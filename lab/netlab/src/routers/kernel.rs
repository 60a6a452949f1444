//! A host's kernel routing table (`ip -j route`), e.g. the router's FIB after BIRD or FRR
//! installed the routes the speakers advertised (ECMP: several next hops).

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::wait::wait_until;

/// One kernel route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRoute {
    /// Destination (`default` is 0.0.0.0/0 or ::/0).
    pub dst: IpNet,
    /// Who installed it (`kernel`, `bird`, `bgp`, `boot`, …).
    pub protocol: Option<String>,
    /// Gateways: one for a plain route, several for ECMP; empty for a connected route.
    pub next_hops: Vec<IpAddr>,
}

/// Routes in `ip -j route show` output (`ipv6` selects how `default` and bare hosts are read).
pub fn parse_ip_routes(json: &str, ipv6: bool) -> Result<Vec<KernelRoute>> {
    let tool = "ip -j route";
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| LabError::parse(tool, e.to_string()))?;
    let entries = v.as_array().ok_or_else(|| LabError::parse(tool, "not a list"))?;
    let gateway = |o: &serde_json::Value| {
        o.get("gateway")
            .and_then(|g| g.as_str())
            .and_then(|g| g.parse().ok())
    };
    Ok(entries
        .iter()
        .filter_map(|e| {
            let dst = parse_dst(e.get("dst")?.as_str()?, ipv6)?;
            let protocol = e.get("protocol").and_then(|p| p.as_str()).map(str::to_string);
            let mut next_hops: Vec<IpAddr> = gateway(e).into_iter().collect();
            if let Some(hops) = e.get("nexthops").and_then(|n| n.as_array()) {
                next_hops.extend(hops.iter().filter_map(gateway));
            }
            Some(KernelRoute {
                dst,
                protocol,
                next_hops,
            })
        })
        .collect())
}

fn parse_dst(dst: &str, ipv6: bool) -> Option<IpNet> {
    if dst == "default" {
        return Some(if ipv6 {
            "::/0".parse().ok()?
        } else {
            "0.0.0.0/0".parse().ok()?
        });
    }
    dst.parse::<IpNet>()
        .ok()
        .or_else(|| dst.parse::<IpAddr>().ok().map(IpNet::from))
}

impl Lab {
    /// The main routing table of `host` for one family.
    pub fn kernel_routes(&self, host: &str, ipv6: bool) -> Result<Vec<KernelRoute>> {
        let out = self.ip(
            host,
            &[
                if ipv6 { "-6" } else { "-4" },
                "-j",
                "route",
                "show",
                "table",
                "main",
            ],
        )?;
        parse_ip_routes(&out.stdout, ipv6)
    }

    /// The route for exactly `prefix` in `host`'s main table, if any.
    pub fn kernel_route(&self, host: &str, prefix: IpNet) -> Result<Option<KernelRoute>> {
        let prefix = prefix.trunc();
        Ok(self
            .kernel_routes(host, matches!(prefix, IpNet::V6(_)))?
            .into_iter()
            .find(|r| r.dst == prefix))
    }

    /// Waits until `host` has a route for `prefix` with exactly `next_hops` gateways (0: until
    /// the route is gone).
    pub fn wait_kernel_next_hops(
        &self,
        host: &str,
        prefix: IpNet,
        next_hops: usize,
        timeout: Duration,
    ) -> Result<Option<KernelRoute>> {
        wait_until(
            &format!("{host}'s kernel route {prefix} with {next_hops} next hop(s)"),
            timeout,
            || self.kernel_route(host, prefix),
            |r| match r {
                None => next_hops == 0,
                Some(r) => r.next_hops.len() == next_hops,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecmp_and_plain_routes() {
        let json = r#"[{"dst":"192.0.2.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"192.0.2.1","flags":[]},
            {"dst":"192.0.2.100","protocol":"bird","metric":32,"flags":[],"nexthops":[
              {"gateway":"192.0.2.11","dev":"eth0","weight":1,"flags":[]},
              {"gateway":"192.0.2.12","dev":"eth0","weight":1,"flags":[]}]},
            {"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]"#;
        let r = parse_ip_routes(json, false).unwrap();
        assert_eq!(r.len(), 3);
        assert!(r[0].next_hops.is_empty());
        assert_eq!(r[1].dst, "192.0.2.100/32".parse::<IpNet>().unwrap());
        assert_eq!(r[1].protocol.as_deref(), Some("bird"));
        assert_eq!(r[1].next_hops.len(), 2);
        assert_eq!(r[2].dst, "0.0.0.0/0".parse::<IpNet>().unwrap());
        assert_eq!(r[2].next_hops, vec!["192.0.2.1".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn ipv6_hosts_and_garbage() {
        let json = r#"[{"dst":"2001:db8::100","protocol":"bgp","gateway":"2001:db8::11"},{"dst":"default"},{"x":1}]"#;
        let r = parse_ip_routes(json, true).unwrap();
        assert_eq!(r[0].dst, "2001:db8::100/128".parse::<IpNet>().unwrap());
        assert_eq!(r[1].dst, "::/0".parse::<IpNet>().unwrap());
        assert_eq!(r.len(), 2);
        assert!(parse_ip_routes("{", false).is_err());
    }
}
