//! GoBGP (`gobgpd` + the `gobgp` CLI) as router or as stand-in speaker.
//!
//! The gRPC API listens on a unix socket in the lab directory, so the CLI runs from the test's own
//! namespace. gobgpd never touches the kernel's routing table. Remember GoBGP's 5–9 s delay before
//! its first outgoing connection: let the other side dial.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use serde_json::Value;

use super::{
    BgpConfig, BgpRouter, Community, Family, LargeCommunity, READY_TIMEOUT, Rib, RibPath, RouterKind,
    STOP_GRACE, Session, stem,
};
use crate::cmd::{Cmd, CmdOutput};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::prereq::tool_path;
use crate::supervisor::{Process, ProcessSpec};

fn afi_safi(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4-unicast",
        Family::Ipv6 => "ipv6-unicast",
    }
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The gobgpd TOML configuration for `cfg`. GoBGP cannot do TCP MD5 on dynamic neighbours.
pub fn gobgp_config(cfg: &BgpConfig) -> Result<String> {
    if cfg.uses_bfd() {
        return Err(LabError::Invalid(
            "GoBGP has no BFD: no peer may ask for it".into(),
        ));
    }
    let mut t = String::new();
    let port = cfg.listen_port.map_or(-1, i32::from);
    let _ = writeln!(
        t,
        "[global.config]\n  as = {}\n  router-id = \"{}\"\n  port = {port}",
        cfg.asn, cfg.router_id
    );
    for p in &cfg.peers {
        let hold = p.hold_time.unwrap_or(cfg.hold_time);
        let _ = writeln!(
            t,
            "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}",
            p.address, p.asn
        );
        if let Some(pw) = &p.password {
            let _ = writeln!(t, "    auth-password = {}", toml_str(pw));
        }
        let _ = writeln!(
            t,
            "  [neighbors.timers.config]\n    hold-time = {hold}\n    keepalive-interval = {}\n    connect-retry = {}",
            BgpConfig::keepalive(hold),
            cfg.connect_retry.max(1)
        );
        if p.passive || p.port.is_some() {
            let _ = writeln!(t, "  [neighbors.transport.config]");
            if p.passive {
                let _ = writeln!(t, "    passive-mode = true");
            }
            if let Some(port) = p.port {
                let _ = writeln!(t, "    remote-port = {port}");
            }
        }
        for f in &p.families {
            let _ = writeln!(
                t,
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{}\"",
                afi_safi(*f)
            );
        }
    }
    for (i, r) in cfg.ranges.iter().enumerate() {
        if r.password.is_some() {
            return Err(LabError::Invalid(format!(
                "GoBGP cannot use a TCP MD5 password with dynamic neighbours ({}): use explicit peers",
                r.range
            )));
        }
        let group = format!("range{i}");
        let _ = writeln!(
            t,
            "\n[[peer-groups]]\n  [peer-groups.config]\n    peer-group-name = \"{group}\"\n    peer-as = {}",
            r.asn
        );
        let _ = writeln!(
            t,
            "  [peer-groups.timers.config]\n    hold-time = {}\n    keepalive-interval = {}",
            cfg.hold_time,
            BgpConfig::keepalive(cfg.hold_time)
        );
        for f in &r.families {
            let _ = writeln!(
                t,
                "  [[peer-groups.afi-safis]]\n    [peer-groups.afi-safis.config]\n      afi-safi-name = \"{}\"",
                afi_safi(*f)
            );
        }
        let _ = writeln!(
            t,
            "\n[[dynamic-neighbors]]\n  [dynamic-neighbors.config]\n    prefix = \"{}\"\n    peer-group = \"{group}\"",
            r.range
        );
    }
    Ok(t)
}

/// Sessions in `gobgp -j neighbor` output.
pub fn parse_gobgp_neighbors(json: &str) -> Result<Vec<Session>> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| LabError::parse("gobgp -j neighbor", e.to_string()))?;
    let list = v
        .as_array()
        .ok_or_else(|| LabError::parse("gobgp -j neighbor", "not a list"))?;
    Ok(list
        .iter()
        .filter_map(|n| {
            let addr = n
                .pointer("/state/neighbor_address")
                .or_else(|| n.pointer("/conf/neighbor_address"))
                .and_then(Value::as_str)?;
            let peer = addr.parse().ok()?;
            let state = match n.pointer("/state/session_state") {
                Some(Value::Number(x)) => match x.as_u64() {
                    Some(1) => "idle",
                    Some(2) => "connect",
                    Some(3) => "active",
                    Some(4) => "opensent",
                    Some(5) => "openconfirm",
                    Some(6) => "established",
                    _ => "unknown",
                }
                .to_string(),
                Some(Value::String(s)) => s.to_ascii_lowercase(),
                _ => "unknown".to_string(),
            };
            Some(Session {
                peer,
                name: None,
                established: state == "established",
                state,
            })
        })
        .collect())
}

/// The RIB in `gobgp -j global rib -a <family>` output.
pub fn parse_gobgp_rib(json: &str) -> Result<Rib> {
    let tool = "gobgp -j global rib";
    let v: Value = serde_json::from_str(json).map_err(|e| LabError::parse(tool, e.to_string()))?;
    let obj = match &v {
        Value::Object(o) => o,
        Value::Null => return Ok(Rib::default()),
        _ => return Err(LabError::parse(tool, "not an object")),
    };
    let mut rib = Rib::default();
    for (prefix, paths) in obj {
        let Ok(prefix) = prefix.parse::<IpNet>() else {
            continue;
        };
        for p in paths.as_array().into_iter().flatten() {
            let mut path = RibPath {
                best: p.get("best").and_then(Value::as_bool).unwrap_or(false),
                peer: p
                    .get("neighbor-ip")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok()),
                ..RibPath::default()
            };
            for a in p.get("attrs").and_then(Value::as_array).into_iter().flatten() {
                apply_attr(&mut path, a);
            }
            rib.push(prefix, path);
        }
    }
    Ok(rib)
}

fn apply_attr(path: &mut RibPath, a: &Value) {
    let u32_of = |v: Option<&Value>| v.and_then(Value::as_u64).and_then(|x| u32::try_from(x).ok());
    match a.get("type").and_then(Value::as_u64) {
        Some(2) => {
            for seg in a.get("as_paths").and_then(Value::as_array).into_iter().flatten() {
                path.as_path.extend(
                    seg.get("asns")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| u32_of(Some(x))),
                );
            }
        }
        Some(3 | 14) => {
            if let Some(nh) = a
                .get("nexthop")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpAddr>().ok())
            {
                path.next_hop = Some(nh);
            }
        }
        Some(4) => path.med = u32_of(a.get("metric")),
        Some(5) => path.local_pref = u32_of(a.get("value")),
        Some(8) => {
            path.communities = a
                .get("communities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| u32_of(Some(c)).map(Community))
                .collect();
        }
        Some(32) => {
            path.large_communities = a
                .get("value")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some(LargeCommunity::new(
                        u32_of(c.get("ASN"))?,
                        u32_of(c.get("LocalData1"))?,
                        u32_of(c.get("LocalData2"))?,
                    ))
                })
                .collect();
        }
        _ => {}
    }
}

/// A route for a GoBGP stand-in speaker to advertise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The prefix (/32 or /128 for a VIP).
    pub prefix: IpNet,
    /// Explicit next hop (needed for IPv6 over an IPv6 session; default: our address).
    pub next_hop: Option<IpAddr>,
    /// Communities.
    pub communities: Vec<Community>,
    /// Large communities.
    pub large_communities: Vec<LargeCommunity>,
    /// LOCAL_PREF (only meaningful towards iBGP peers).
    pub local_pref: Option<u32>,
}

impl Announcement {
    /// Advertise `prefix` with nothing else set.
    pub fn new(prefix: IpNet) -> Self {
        Announcement {
            prefix,
            next_hop: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
            local_pref: None,
        }
    }

    fn family_arg(&self) -> &'static str {
        if self.prefix.addr().is_ipv4() {
            "ipv4"
        } else {
            "ipv6"
        }
    }

    /// The `gobgp global rib add` arguments.
    pub fn cli_args(&self) -> Vec<String> {
        let mut a = vec![
            "global".into(),
            "rib".into(),
            "add".into(),
            "-a".into(),
            self.family_arg().into(),
            self.prefix.to_string(),
        ];
        if let Some(nh) = self.next_hop {
            a.extend(["nexthop".into(), nh.to_string()]);
        }
        let join = |v: Vec<String>| v.join(",");
        if !self.communities.is_empty() {
            a.extend([
                "community".into(),
                join(self.communities.iter().map(ToString::to_string).collect()),
            ]);
        }
        if !self.large_communities.is_empty() {
            a.extend([
                "large-community".into(),
                join(self.large_communities.iter().map(ToString::to_string).collect()),
            ]);
        }
        if let Some(lp) = self.local_pref {
            a.extend(["local-pref".into(), lp.to_string()]);
        }
        a
    }
}

/// A running gobgpd.
#[derive(Debug)]
pub struct Gobgpd {
    host: String,
    socket: PathBuf,
    process: Process,
}

impl Gobgpd {
    /// Writes the configuration, starts gobgpd on `host` and waits until its API answers.
    pub fn start(lab: &Lab, host: &str, cfg: &BgpConfig) -> Result<Gobgpd> {
        let name = stem(host, "gobgpd");
        let conf = lab.dir().join(format!("{name}.toml"));
        std::fs::write(&conf, gobgp_config(cfg)?)
            .map_err(|e| LabError::io(format!("writing {}", conf.display()), e))?;
        let socket = lab.dir().join(format!("{name}.sock"));
        let spec = ProcessSpec::new(&name, tool_path("gobgpd"))
            .arg("-f")
            .arg(&conf)
            .args(["-p", "--pprof-disable", "-l", "info"])
            .arg(format!("--api-hosts=unix://{}", socket.display()));
        let process = lab.spawn(host, &spec)?;
        let g = Gobgpd {
            host: host.to_string(),
            socket,
            process,
        };
        g.process.wait_ready("gobgpd's API", READY_TIMEOUT, || {
            g.cli(&["global"]).is_ok_and(|o| o.success())
        })?;
        Ok(g)
    }

    /// Runs the `gobgp` CLI against this daemon; returns its output whatever the exit status.
    pub fn cli(&self, args: &[&str]) -> Result<CmdOutput> {
        Cmd::new(tool_path("gobgp"))
            .arg(format!("--target=unix://{}", self.socket.display()))
            .args(args)
            .output()
    }

    fn cli_ok(&self, args: &[&str]) -> Result<CmdOutput> {
        self.cli(args)?.ok()
    }

    /// Advertises a route (stand-in speaker).
    pub fn announce(&self, a: &Announcement) -> Result<()> {
        let args = a.cli_args();
        self.cli_ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .map(drop)
    }

    /// Withdraws a route advertised with [`Gobgpd::announce`].
    pub fn withdraw(&self, prefix: IpNet) -> Result<()> {
        let fam = if prefix.addr().is_ipv4() { "ipv4" } else { "ipv6" };
        self.cli_ok(&["global", "rib", "del", "-a", fam, &prefix.to_string()])
            .map(drop)
    }

    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The supervised process (PID, log, kill).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// SIGTERM (then SIGKILL) and reap.
    pub fn stop(self) -> Result<()> {
        self.process.stop(STOP_GRACE).map(drop)
    }
}

impl BgpRouter for Gobgpd {
    fn kind(&self) -> RouterKind {
        RouterKind::Gobgp
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        self.process.ensure_running("gobgpd sessions")?;
        parse_gobgp_neighbors(&self.cli_ok(&["-j", "neighbor"])?.stdout)
    }

    fn rib(&self, family: Family) -> Result<Rib> {
        let fam = if family == Family::Ipv4 { "ipv4" } else { "ipv6" };
        parse_gobgp_rib(&self.cli_ok(&["-j", "global", "rib", "-a", fam])?.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routers::{Peer, PeerRange};

    #[test]
    fn config_renders_peers_timers_md5_and_ranges() {
        let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
            .peer(
                Peer::new("192.0.2.11".parse().unwrap(), 64513)
                    .password("s3\"cret")
                    .passive(),
            )
            .peer(
                Peer::new("2001:db8::11".parse().unwrap(), 64513)
                    .hold_time(30)
                    .port(1790),
            )
            .range(PeerRange::new("192.0.2.0/24".parse().unwrap(), 64513));
        let t = gobgp_config(&cfg).unwrap();
        assert!(t.contains("remote-port = 1790"));
        let quiet = gobgp_config(&BgpConfig {
            listen_port: None,
            ..cfg.clone()
        })
        .unwrap();
        assert!(quiet.contains("port = -1"));
        assert!(t.contains("as = 64512\n  router-id = \"192.0.2.1\"\n  port = 179"));
        assert!(t.contains(
            "neighbor-address = \"192.0.2.11\"\n    peer-as = 64513\n    auth-password = \"s3\\\"cret\""
        ));
        assert!(t.contains("passive-mode = true"));
        assert!(t.contains("hold-time = 30\n    keepalive-interval = 10"));
        assert!(t.contains("afi-safi-name = \"ipv6-unicast\""));
        assert!(t.contains("prefix = \"192.0.2.0/24\"\n    peer-group = \"range0\""));
    }

    #[test]
    fn md5_on_ranges_is_refused() {
        let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
            .range(PeerRange::new("192.0.2.0/24".parse().unwrap(), 64513).password("x"));
        assert!(gobgp_config(&cfg).unwrap_err().to_string().contains("MD5"));
    }

    #[test]
    fn rib_json_is_read_fully() {
        let json = r#"{"192.0.2.101/32":[{"nlri":{"prefix":"192.0.2.101/32"},"age":1,"best":true,"attrs":[
            {"type":1,"value":2},{"type":2,"as_paths":[{"segment_type":2,"num":3,"asns":[64513,65000,65001]}]},
            {"type":4,"metric":10},{"type":5,"value":200},{"type":8,"communities":[4227923975,4294967041]},
            {"type":32,"value":[{"ASN":64513,"LocalData1":1,"LocalData2":2}]},{"type":3,"nexthop":"192.0.2.11"}],
            "stale":false,"source-id":"192.0.2.11","neighbor-ip":"192.0.2.11"}],
          "2001:db8::100/128":[{"best":false,"attrs":[{"type":14,"nexthop":"2001:db8::11","afi":2,"safi":1}],"neighbor-ip":"2001:db8::11"}],
          "junk":[{"best":true}]}"#;
        let rib = parse_gobgp_rib(json).unwrap();
        assert_eq!(rib.len(), 2);
        let p = &rib.paths(&"192.0.2.101/32".parse().unwrap())[0];
        assert!(p.best);
        assert_eq!(p.as_path, [64513, 65000, 65001]);
        assert_eq!((p.med, p.local_pref), (Some(10), Some(200)));
        assert_eq!(p.communities, [Community::new(64513, 7), Community::NO_EXPORT]);
        assert_eq!(p.large_communities, [LargeCommunity::new(64513, 1, 2)]);
        assert_eq!(p.next_hop, Some("192.0.2.11".parse().unwrap()));
        let v6 = &rib.paths(&"2001:db8::100/128".parse().unwrap())[0];
        assert_eq!(v6.next_hop, Some("2001:db8::11".parse().unwrap()));
        assert!(parse_gobgp_rib("null").unwrap().is_empty());
        assert!(parse_gobgp_rib("[1]").is_err());
    }

    #[test]
    fn neighbors_json_states() {
        let json = r#"[{"conf":{"neighbor_address":"192.0.2.11"},"state":{"neighbor_address":"192.0.2.11","session_state":6}},
                       {"conf":{"neighbor_address":"2001:db8::11"},"state":{"session_state":3}},{"state":{}}]"#;
        let s = parse_gobgp_neighbors(json).unwrap();
        assert_eq!(s.len(), 2);
        assert!(s[0].established);
        assert_eq!(s[1].state, "active");
        assert!(!s[1].established);
    }

    #[test]
    fn announcement_cli_args() {
        let mut a = Announcement::new("2001:db8::100/128".parse().unwrap());
        a.next_hop = Some("2001:db8::11".parse().unwrap());
        a.communities = vec![Community::new(64513, 1), Community::NO_EXPORT];
        a.large_communities = vec![LargeCommunity::new(64513, 1, 2)];
        assert_eq!(
            a.cli_args().join(" "),
            "global rib add -a ipv6 2001:db8::100/128 nexthop 2001:db8::11 community 64513:1,65535:65281 large-community 64513:1:2"
        );
    }
}
