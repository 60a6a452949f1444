//! Layer-2 probes: Habets `arping` (who answers, how many MACs), gratuitous ARP, `ndisc6`, and the
//! neighbour table of a host.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use super::MacAddr;
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::wait::wait_until;

/// An entry of a host's neighbour (ARP / NDP) table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// The neighbour's IP.
    pub ip: IpAddr,
    /// Its link-layer address, if resolved.
    pub mac: Option<MacAddr>,
    /// NUD states (`REACHABLE`, `STALE`, `FAILED`, …).
    pub states: Vec<String>,
}

/// MACs in Habets `arping` output (`42 bytes from aa:bb:… (192.0.2.100): index=0 …`), in order of
/// appearance, duplicates kept.
pub fn parse_arping_macs(output: &str) -> Vec<MacAddr> {
    output
        .lines()
        .filter_map(|l| l.split_once(" bytes from ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// MACs in `ndisc6` output (`Target link-layer address: CE:AF:…`).
pub fn parse_ndisc6_macs(output: &str) -> Vec<MacAddr> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Target link-layer address:"))
        .filter_map(|m| m.trim().parse().ok())
        .collect()
}

/// Entries of `ip -j neigh show` output. Entries without a parseable `dst` are skipped.
pub fn parse_neighbors(json: &str) -> Result<Vec<Neighbor>> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| LabError::parse("ip -j neigh", e.to_string()))?;
    let entries = v
        .as_array()
        .ok_or_else(|| LabError::parse("ip -j neigh", "not a list"))?;
    Ok(entries
        .iter()
        .filter_map(|e| {
            let ip = e.get("dst")?.as_str()?.parse().ok()?;
            let mac = e
                .get("lladdr")
                .and_then(|m| m.as_str())
                .and_then(|m| m.parse().ok());
            let states = e
                .get("state")
                .and_then(|s| s.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            Some(Neighbor { ip, mac, states })
        })
        .collect())
}

impl Lab {
    /// `arping` from `from` for `ip`: the MAC of the first answer, `None` if nobody answers
    /// (3 requests, 100 ms apart).
    pub fn arping_mac(&self, from: &str, ip: Ipv4Addr) -> Result<Option<MacAddr>> {
        let out = self
            .cmd(from, "arping")?
            .args(["-i", "eth0", "-c", "3", "-C", "1", "-W", "0.1"])
            .arg(ip.to_string())
            .output()?;
        Ok(parse_arping_macs(&out.stdout).into_iter().next())
    }

    /// `arping` from `from` for `ip` with `count` requests 50 ms apart: every distinct MAC that
    /// answered (empty: none; more than one: split brain).
    pub fn arping_macs(&self, from: &str, ip: Ipv4Addr, count: u32) -> Result<BTreeSet<MacAddr>> {
        self.arping_macs_on(from, "eth0", ip, count)
    }

    /// [`Lab::arping_macs`] out of `from`'s interface `iface` (e.g. `eth1` on the second segment).
    pub fn arping_macs_on(
        &self,
        from: &str,
        iface: &str,
        ip: Ipv4Addr,
        count: u32,
    ) -> Result<BTreeSet<MacAddr>> {
        let out = self
            .cmd(from, "arping")?
            .args(["-i", iface, "-c", &count.max(1).to_string(), "-W", "0.05"])
            .arg(ip.to_string())
            .output()?;
        Ok(parse_arping_macs(&out.stdout).into_iter().collect())
    }

    /// Sends one request-form gratuitous ARP for `ip` from `host` (`who-has ip tell ip`, which
    /// Linux honours even within the neighbour locktime), whether or not `host` owns `ip`.
    pub fn send_garp(&self, host: &str, ip: Ipv4Addr) -> Result<()> {
        // Habets arping exits 1 because nobody answers a GARP: only a spawn error or timeout counts.
        self.cmd(host, "arping")?
            .args([
                "-q",
                "-U",
                "-S",
                &ip.to_string(),
                "-i",
                "eth0",
                "-c",
                "1",
                "-w",
                "0",
            ])
            .arg(ip.to_string())
            .output()
            .map(drop)
    }

    /// `ndisc6` from `from` for `ip`: the MAC of the first Neighbor Advertisement, if any.
    pub fn ndisc_mac(&self, from: &str, ip: Ipv6Addr) -> Result<Option<MacAddr>> {
        let out = self
            .cmd(from, "ndisc6")?
            .args(["-1", "-n", "-r", "3", "-w", "200"])
            .arg(ip.to_string())
            .arg("eth0")
            .output()?;
        Ok(parse_ndisc6_macs(&out.stdout).into_iter().next())
    }

    /// `ndisc6 -m` from `from` for `ip`: every distinct MAC that answered within 300 ms.
    pub fn ndisc_macs(&self, from: &str, ip: Ipv6Addr) -> Result<BTreeSet<MacAddr>> {
        let out = self
            .cmd(from, "ndisc6")?
            .args(["-m", "-n", "-r", "1", "-w", "300"])
            .arg(ip.to_string())
            .arg("eth0")
            .output()?;
        Ok(parse_ndisc6_macs(&out.stdout).into_iter().collect())
    }

    /// `host`'s neighbour entry for `ip` on `eth0`, if any.
    pub fn neighbor(&self, host: &str, ip: IpAddr) -> Result<Option<Neighbor>> {
        let out = self.ip(
            host,
            &["-j", "neigh", "show", "to", &ip.to_string(), "dev", "eth0"],
        )?;
        Ok(parse_neighbors(&out.stdout)?.into_iter().find(|n| n.ip == ip))
    }

    /// Makes `host` resolve `ip` (one UDP datagram to the discard port) and waits (≤ 3 s) until
    /// its neighbour table has a MAC for it. Returns that entry.
    pub fn resolve_neighbor(&self, host: &str, ip: IpAddr) -> Result<Neighbor> {
        let ns = self.try_host(host)?.ns().clone();
        let target = SocketAddr::new(ip, 9);
        let any: SocketAddr = if ip.is_ipv4() {
            "0.0.0.0:0".parse()
        } else {
            "[::]:0".parse()
        }
        .map_err(|_| LabError::Invalid("wildcard address".into()))?;
        ns.run(|| UdpSocket::bind(any).and_then(|s| s.send_to(b"flb-resolve", target)))?
            .map_err(|e| LabError::io(format!("sending to {target} from {host}"), e))?;
        let found = wait_until(
            &format!("{host} to resolve {ip}"),
            Duration::from_secs(3),
            || self.neighbor(host, ip),
            |n| n.as_ref().is_some_and(|n| n.mac.is_some()),
        )?;
        found.ok_or_else(|| LabError::Invalid(format!("{host} has no neighbour entry for {ip}")))
    }

    /// Waits until `host`'s neighbour entry for `ip` carries `mac`.
    pub fn wait_neighbor_mac(
        &self,
        host: &str,
        ip: IpAddr,
        mac: MacAddr,
        timeout: Duration,
    ) -> Result<Neighbor> {
        let found = wait_until(
            &format!("{host}'s neighbour entry for {ip} to become {mac}"),
            timeout,
            || self.neighbor(host, ip),
            |n| n.as_ref().is_some_and(|n| n.mac == Some(mac)),
        )?;
        found.ok_or_else(|| LabError::Invalid(format!("{host} has no neighbour entry for {ip}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arping_output_yields_every_answer() {
        let out = "ARPING 192.0.2.100\n\
            42 bytes from 1e:1d:c8:7a:0b:48 (192.0.2.100): index=0 time=10.275 usec\n\
            42 bytes from ce:af:3f:b2:ca:a0 (192.0.2.100): index=1 time=51.947 usec\n\
            42 bytes from 1e:1d:c8:7a:0b:48 (192.0.2.100): index=2 time=7.722 usec\n\n\
            --- 192.0.2.100 statistics ---\n3 packets transmitted, 6 packets received\n";
        let macs = parse_arping_macs(out);
        assert_eq!(macs.len(), 3);
        assert_eq!(macs[1].to_string(), "ce:af:3f:b2:ca:a0");
        assert!(parse_arping_macs("ARPING 192.0.2.199\nTimeout\n").is_empty());
        assert!(parse_arping_macs("42 bytes from garbage (x)\n").is_empty());
    }

    #[test]
    fn ndisc6_output_yields_the_target_mac() {
        let out = "Soliciting 2001:db8::100 (2001:db8::100) on eth0...\n\
            Target link-layer address: CE:AF:3F:B2:CA:A0\n from 2001:db8::100\n";
        assert_eq!(parse_ndisc6_macs(out)[0].to_string(), "ce:af:3f:b2:ca:a0");
        assert!(parse_ndisc6_macs("Timed out.\nNo response.\n").is_empty());
    }

    #[test]
    fn neighbors_from_ip_json() {
        let json = r#"[{"dst":"192.0.2.100","dev":"eth0","lladdr":"da:21:b3:3c:dc:9d","state":["STALE"]},
                       {"dst":"192.0.2.99","dev":"eth0","state":["FAILED"]},{"dst":"junk"}]"#;
        let n = parse_neighbors(json).unwrap();
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].mac.unwrap().to_string(), "da:21:b3:3c:dc:9d");
        assert_eq!(n[0].states, ["STALE"]);
        assert_eq!(n[1].mac, None);
        assert!(parse_neighbors("{}").is_err());
    }
}
