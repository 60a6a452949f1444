//! BIRD 2 as router: one `bgp` protocol per peer (dial after 1 s, retry every second; peers are
//! directly connected, also for iBGP), `neighbor range` for dynamic peers, and kernel protocols
//! that install BGP routes with merged (ECMP) paths. Its control socket lives in the lab
//! directory; `birdc` talks to it from the test's namespace.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

use super::{
    BfdMode, BfdPeer, BgpConfig, BgpRouter, Community, Family, LargeCommunity, READY_TIMEOUT, Rib, RibPath,
    RouterKind, STOP_GRACE, Session, stem,
};
use crate::cmd::{Cmd, CmdOutput};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::prereq::tool_path;
use crate::supervisor::{Process, ProcessSpec};

fn bird_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The protocol name BIRD knows a peer by (`p_192_0_2_11`, `p_2001_db8__11`).
pub fn protocol_name(addr: IpAddr) -> String {
    format!("p_{}", addr.to_string().replace(['.', ':'], "_"))
}

/// The peer's channels; a multi-hop peer's next hops are resolved through the connected routes
/// (`protocol direct`).
fn channels(out: &mut String, families: &[Family], multihop: bool) {
    let gateway = if multihop { "recursive" } else { "direct" };
    for f in families {
        let name = if *f == Family::Ipv4 { "ipv4" } else { "ipv6" };
        let _ = writeln!(out, "  {name} {{ import all; export none; gateway {gateway}; }};");
    }
}

fn timers(
    out: &mut String,
    local: Option<IpAddr>,
    asn: u32,
    port: u16,
    hold: u16,
    retry: u16,
    multihop: bool,
) {
    let local = local.map(|a| format!(" {a}")).unwrap_or_default();
    let hop = if multihop { "multihop" } else { "direct" };
    let _ = writeln!(
        out,
        "  local{local} port {port} as {asn};\n  {hop};\n  hold time {hold}; keepalive time {};\n  connect delay time 1; connect retry time {}; error wait time 1, 10;",
        BgpConfig::keepalive(hold),
        retry.max(1)
    );
}

/// `protocol bfd` with the config's timers, for single-hop and multi-hop sessions.
fn bfd_protocol(out: &mut String, cfg: &BgpConfig) {
    let t = cfg.bfd;
    let opts = format!(
        "min rx interval {} ms; min tx interval {} ms; idle tx interval 1000 ms; multiplier {};",
        t.min_rx_ms, t.min_tx_ms, t.multiplier
    );
    let _ = writeln!(
        out,
        "protocol bfd {{\n  interface \"*\" {{ {opts} }};\n  multihop {{ {opts} }};\n}}"
    );
}

/// The BIRD configuration for `cfg`. BIRD always listens, so `listen_port: None` is refused.
pub fn bird_config(cfg: &BgpConfig) -> Result<String> {
    let port = cfg
        .listen_port
        .ok_or_else(|| LabError::Invalid("BIRD cannot run without listening (listen_port: None)".into()))?;
    let mut c = format!(
        "log stderr all;\nrouter id {};\nprotocol device {{ }}\n",
        cfg.router_id
    );
    if cfg.install_routes {
        for fam in ["ipv4", "ipv6"] {
            let _ = writeln!(
                c,
                "protocol kernel {{ {fam} {{ import none; export where source = RTS_BGP; }}; merge paths on; }}"
            );
        }
    }
    if cfg.uses_bfd() {
        bfd_protocol(&mut c, cfg);
    }
    if cfg.peers.iter().any(|p| p.multihop) {
        let _ = writeln!(c, "protocol direct {{ ipv4; ipv6; }}");
    }
    for p in &cfg.peers {
        let _ = writeln!(c, "protocol bgp {} {{", protocol_name(p.address));
        timers(
            &mut c,
            p.local,
            cfg.asn,
            port,
            p.hold_time.unwrap_or(cfg.hold_time),
            cfg.connect_retry,
            p.multihop,
        );
        if p.bfd {
            let mode = if cfg.bfd.mode == BfdMode::Graceful {
                "graceful"
            } else {
                "on"
            };
            let _ = writeln!(c, "  bfd {mode};");
        }
        let remote = p.port.map(|n| format!(" port {n}")).unwrap_or_default();
        let _ = writeln!(c, "  neighbor {}{remote} as {};", p.address, p.asn);
        if let Some(pw) = &p.password {
            let _ = writeln!(c, "  password {};", bird_str(pw));
        }
        if p.passive {
            let _ = writeln!(c, "  passive on;");
        }
        channels(&mut c, &p.families, p.multihop);
        let _ = writeln!(c, "}}");
    }
    for (i, r) in cfg.ranges.iter().enumerate() {
        let _ = writeln!(c, "protocol bgp range{i} {{");
        timers(
            &mut c,
            None,
            cfg.asn,
            port,
            cfg.hold_time,
            cfg.connect_retry,
            false,
        );
        let _ = writeln!(
            c,
            "  neighbor range {} as {};\n  dynamic name \"dyn{i}_\";",
            r.range, r.asn
        );
        if let Some(pw) = &r.password {
            let _ = writeln!(c, "  password {};", bird_str(pw));
        }
        channels(&mut c, &r.families, false);
        let _ = writeln!(c, "}}");
    }
    Ok(c)
}

/// BFD sessions in `birdc show bfd sessions` output (`IP address  Interface  State  Since  Interval  Timeout`).
pub fn parse_bird_bfd_sessions(text: &str) -> Vec<BfdPeer> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let peer: IpAddr = cols.next()?.parse().ok()?;
            // the interface column is empty for multi-hop sessions
            let state = cols.find(|c| ["Up", "Down", "Init", "AdminDown"].contains(c))?;
            Some(BfdPeer {
                peer,
                state: state.to_string(),
                up: state == "Up",
                local: None,
            })
        })
        .collect()
}

/// BGP sessions in `birdc show protocols all` output (protocols without a neighbour address, such
/// as a dynamic range's listener, are skipped).
pub fn parse_bird_protocols(text: &str) -> Vec<Session> {
    let mut out = Vec::new();
    let mut current: Option<(String, bool)> = None; // (name, is BGP)
    let mut state = String::new();
    let mut peer: Option<IpAddr> = None;
    let mut flush = |name: Option<(String, bool)>, state: &str, peer: Option<IpAddr>| {
        if let (Some((name, true)), Some(peer)) = (name, peer) {
            let state = if state.is_empty() {
                "unknown".to_string()
            } else {
                state.to_string()
            };
            out.push(Session {
                peer,
                name: Some(name),
                established: state == "Established",
                state,
            });
        }
    };
    for line in text.lines() {
        if line.is_empty() || line.starts_with("BIRD ") || line.starts_with("Name ") {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            flush(current.take(), &state, peer.take());
            state.clear();
            let mut cols = line.split_whitespace();
            let name = cols.next().unwrap_or_default().to_string();
            current = Some((name, cols.next() == Some("BGP")));
        } else if let Some(s) = line.trim().strip_prefix("BGP state:") {
            state = s.trim().to_string();
        } else if let Some(a) = line.trim().strip_prefix("Neighbor address:") {
            peer = a
                .split_whitespace()
                .next()
                .and_then(|a| a.split('%').next()?.parse().ok());
        }
    }
    flush(current.take(), &state, peer.take());
    out
}

fn parse_pairs(s: &str) -> Vec<String> {
    s.split(')')
        .filter_map(|g| g.split_once('(').map(|(_, inner)| inner.trim().to_string()))
        .collect()
}

/// `unicast [proto time] * (100) …`: the first line of a further path for the same prefix.
fn is_path_header(trimmed: &str) -> bool {
    let (kind, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    !kind.is_empty() && kind.chars().all(|c| c.is_ascii_alphabetic()) && rest.trim_start().starts_with('[')
}

/// The RIB in `birdc show route all` output. `peers` maps protocol names to neighbour addresses.
pub fn parse_bird_routes(text: &str, peers: &HashMap<String, IpAddr>) -> Rib {
    let mut rib = Rib::default();
    let mut prefix: Option<IpNet> = None;
    let mut path: Option<RibPath> = None;
    let mut finish = |prefix: Option<IpNet>, path: Option<RibPath>| {
        if let (Some(pfx), Some(p)) = (prefix, path) {
            rib.push(pfx, p);
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        let indented = line.starts_with(char::is_whitespace);
        let new_prefix =
            !indented && !line.starts_with("Table ") && !line.starts_with("BIRD ") && !trimmed.is_empty();
        if new_prefix || (indented && is_path_header(trimmed)) {
            let mut tokens = trimmed.split_whitespace();
            if new_prefix {
                let Some(pfx) = tokens.next().and_then(|t| t.parse::<IpNet>().ok()) else {
                    finish(prefix.take(), path.take());
                    continue;
                };
                finish(prefix.replace(pfx), path.take());
            } else {
                finish(prefix, path.take());
            }
            let proto = trimmed
                .split_once('[')
                .and_then(|(_, r)| r.split_whitespace().next())
                .unwrap_or("");
            path = Some(RibPath {
                best: trimmed.contains("] *"),
                peer: peers.get(proto).copied(),
                ..RibPath::default()
            });
            continue;
        }
        let Some(p) = path.as_mut() else { continue };
        if let Some(v) = trimmed.strip_prefix("via ") {
            if p.next_hop.is_none() {
                p.next_hop = v.split_whitespace().next().and_then(|a| a.parse().ok());
            }
        } else if let Some(v) = trimmed.strip_prefix("BGP.next_hop:") {
            p.next_hop = v
                .split_whitespace()
                .next()
                .and_then(|a| a.parse().ok())
                .or(p.next_hop);
        } else if let Some(v) = trimmed.strip_prefix("BGP.as_path:") {
            p.as_path = v
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|t| t.parse().ok())
                .collect();
        } else if let Some(v) = trimmed.strip_prefix("BGP.local_pref:") {
            p.local_pref = v.trim().parse().ok();
        } else if let Some(v) = trimmed.strip_prefix("BGP.med:") {
            p.med = v.trim().parse().ok();
        } else if let Some(v) = trimmed.strip_prefix("BGP.community:") {
            p.communities = parse_pairs(v)
                .iter()
                .filter_map(|g| g.replace(',', ":").parse::<Community>().ok())
                .collect();
        } else if let Some(v) = trimmed.strip_prefix("BGP.large_community:") {
            p.large_communities = parse_pairs(v)
                .iter()
                .filter_map(|g| g.parse::<LargeCommunity>().ok())
                .collect();
        }
    }
    finish(prefix, path);
    rib
}

/// A running BIRD.
#[derive(Debug)]
pub struct Bird {
    host: String,
    socket: PathBuf,
    process: Process,
}

impl Bird {
    /// Writes the configuration, starts `bird -f` on `host` and waits until its socket answers.
    pub fn start(lab: &Lab, host: &str, cfg: &BgpConfig) -> Result<Bird> {
        let name = stem(host, "bird");
        let conf = lab.dir().join(format!("{name}.conf"));
        std::fs::write(&conf, bird_config(cfg)?)
            .map_err(|e| LabError::io(format!("writing {}", conf.display()), e))?;
        let socket = lab.dir().join(format!("{name}.ctl"));
        let spec = ProcessSpec::new(&name, tool_path("bird"))
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-s")
            .arg(&socket);
        let process = lab.spawn(host, &spec)?;
        let b = Bird {
            host: host.to_string(),
            socket,
            process,
        };
        b.process.wait_ready("BIRD's control socket", READY_TIMEOUT, || {
            b.birdc(&["show", "status"])
                .is_ok_and(|o| o.success() && o.stdout.contains("Daemon is up"))
        })?;
        Ok(b)
    }

    /// Runs `birdc` against this daemon; returns its output whatever the exit status.
    pub fn birdc(&self, args: &[&str]) -> Result<CmdOutput> {
        Cmd::new(tool_path("birdc"))
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .output()
    }

    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The supervised process.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// SIGTERM (then SIGKILL) and reap.
    pub fn stop(self) -> Result<()> {
        self.process.stop(STOP_GRACE).map(drop)
    }
}

impl Bird {
    /// Its BFD sessions (`birdc show bfd sessions`).
    pub fn bfd_sessions(&self) -> Result<Vec<BfdPeer>> {
        self.process.ensure_running("BIRD BFD sessions")?;
        Ok(parse_bird_bfd_sessions(
            &self.birdc(&["show", "bfd", "sessions"])?.ok()?.stdout,
        ))
    }
}

impl BgpRouter for Bird {
    fn kind(&self) -> RouterKind {
        RouterKind::Bird
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        self.process.ensure_running("BIRD sessions")?;
        Ok(parse_bird_protocols(
            &self.birdc(&["show", "protocols", "all"])?.ok()?.stdout,
        ))
    }

    fn rib(&self, family: Family) -> Result<Rib> {
        let peers: HashMap<String, IpAddr> = self
            .sessions()?
            .into_iter()
            .filter_map(|s| Some((s.name?, s.peer)))
            .collect();
        let table = if family == Family::Ipv4 {
            "master4"
        } else {
            "master6"
        };
        let out = self.birdc(&["show", "route", "all", "table", table])?.ok()?;
        Ok(parse_bird_routes(&out.stdout, &peers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routers::{Peer, PeerRange};

    #[test]
    fn config_has_fast_timers_md5_ranges_and_ecmp_kernel_export() {
        let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
            .peer(Peer::new("192.0.2.11".parse().unwrap(), 64513).password("s3cret"))
            .peer(Peer::new("2001:db8::11".parse().unwrap(), 64513).passive())
            .peer(Peer::new("192.0.2.12".parse().unwrap(), 64513).port(1791))
            .range(PeerRange::new("192.0.2.0/24".parse().unwrap(), 64513));
        assert!(
            bird_config(&BgpConfig {
                listen_port: None,
                ..cfg.clone()
            })
            .is_err()
        );
        let c = bird_config(&BgpConfig {
            listen_port: Some(1790),
            ..cfg
        })
        .unwrap();
        assert!(c.contains("  local port 1790 as 64512;"));
        assert!(c.contains("  neighbor 192.0.2.12 port 1791 as 64513;"));
        assert!(c.contains("router id 192.0.2.1;"));
        assert!(c.contains("export where source = RTS_BGP; }; merge paths on; }"));
        assert!(c.contains("protocol bgp p_192_0_2_11 {"));
        assert!(c.contains("connect delay time 1; connect retry time 1;"));
        assert!(c.contains("password \"s3cret\";"));
        assert!(c.contains("protocol bgp p_2001_db8__11 {") && c.contains("passive on;"));
        assert!(c.contains("ipv6 { import all; export none; gateway direct; };"));
        assert!(c.contains("neighbor range 192.0.2.0/24 as 64513;"));
    }

    #[test]
    fn bfd_config_has_the_timers_and_bfd_on_per_peer() {
        use crate::routers::BfdTimers;
        let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
            .peer(Peer::new("192.0.2.11".parse().unwrap(), 64513).bfd())
            .peer(
                Peer::new("198.51.100.11".parse().unwrap(), 64513)
                    .bfd()
                    .multihop()
                    .local("192.0.2.1".parse().unwrap()),
            )
            .peer(Peer::new("192.0.2.12".parse().unwrap(), 64513))
            .bfd(BfdTimers::new(100, 3));
        let c = bird_config(&cfg).unwrap();
        assert!(c.contains(
            "interface \"*\" { min rx interval 100 ms; min tx interval 100 ms; idle tx interval 1000 ms; multiplier 3; };"
        ));
        assert!(c.contains("  multihop { min rx interval 100 ms;"));
        assert_eq!(c.matches("  bfd on;").count(), 2);
        assert!(c.contains("  local 192.0.2.1 port 179 as 64512;\n  multihop;"));
        assert!(c.contains("gateway recursive;") && c.contains("protocol direct { ipv4; ipv6; }"));
        let graceful = bird_config(&cfg.clone().bfd(BfdTimers {
            mode: BfdMode::Graceful,
            ..BfdTimers::new(100, 3)
        }))
        .unwrap();
        assert_eq!(graceful.matches("  bfd graceful;").count(), 2);
        let none = bird_config(&BgpConfig::new(64512, "192.0.2.1".parse().unwrap())).unwrap();
        assert!(!none.contains("protocol bfd"));
    }

    #[test]
    fn bfd_sessions_become_peers() {
        let text = "BIRD 2.0.12 ready.
bfd1:
IP address                Interface  State      Since         Interval  Timeout
192.0.2.11                eth0       Up         15:42:50.633    0.100    0.300
2001:db8::12              eth0       Down       15:42:50.633    1.000    0.000
198.51.100.11                        Init       15:42:50.633    1.000    3.000
";
        let s = parse_bird_bfd_sessions(text);
        assert_eq!(s.len(), 3);
        assert!(s[0].up && s[0].peer == "192.0.2.11".parse::<IpAddr>().unwrap());
        assert_eq!((s[1].state.as_str(), s[1].up), ("Down", false));
        assert_eq!(s[2].state, "Init");
    }

    const PROTOCOLS: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     15:42:49.866  
p_2001_db8__11 BGP        ---        up     15:42:50.633  Established   
  BGP state:          Established
    Neighbor address: 2001:db8::11
    Neighbor AS:      64513
  Channel ipv6
    State:          UP
p_192_0_2_12 BGP        ---        start  15:42:50.633  Active        Socket: Connection refused
  BGP state:          Active
    Neighbor address: 192.0.2.12
range0     BGP        ---        start  15:42:50.633  Passive
  BGP state:          Passive
";

    #[test]
    fn protocols_become_sessions() {
        let s = parse_bird_protocols(PROTOCOLS);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].peer, "2001:db8::11".parse::<IpAddr>().unwrap());
        assert!(s[0].established);
        assert_eq!(s[1].state, "Active");
        assert_eq!(s[1].name.as_deref(), Some("p_192_0_2_12"));
    }

    const ROUTES: &str = "BIRD 2.0.12 ready.
Table master4:
192.0.2.101/32       unicast [p_192_0_2_11 15:42:21.279] * (100) [AS65001?]
\tvia 192.0.2.11 on eth0
\tType: BGP univ
\tBGP.origin: Incomplete
\tBGP.as_path: 64513 65000 65001
\tBGP.next_hop: 192.0.2.11
\tBGP.med: 10
\tBGP.local_pref: 100
\tBGP.community: (64513,7) (65535,65281)
\tBGP.large_community: (64513, 1, 2)
                     unicast [p_192_0_2_12 15:42:18.187] (100) [AS64513?]
\tvia 192.0.2.12 on eth0
\tType: BGP univ
\tBGP.as_path: 64513
\tBGP.next_hop: 192.0.2.12
\tBGP.local_pref: 100
192.0.2.102/32       unicast [dyn0_1 15:42:18.187] * (100) [AS64513i]
\tvia 192.0.2.13 on eth0
\tBGP.as_path: 64513 {65010 65011}
";

    #[test]
    fn routes_become_a_rib() {
        let peers = HashMap::from([("p_192_0_2_11".to_string(), "192.0.2.11".parse().unwrap())]);
        let rib = parse_bird_routes(ROUTES, &peers);
        assert_eq!(rib.len(), 2);
        let p = rib.paths(&"192.0.2.101/32".parse().unwrap());
        assert_eq!(p.len(), 2);
        assert!(p[0].best && !p[1].best);
        assert_eq!(p[0].peer, Some("192.0.2.11".parse().unwrap()));
        assert_eq!(p[1].peer, None);
        assert_eq!(p[0].as_path, [64513, 65000, 65001]);
        assert_eq!((p[0].med, p[0].local_pref), (Some(10), Some(100)));
        assert_eq!(p[0].communities, [Community::new(64513, 7), Community::NO_EXPORT]);
        assert_eq!(p[0].large_communities, [LargeCommunity::new(64513, 1, 2)]);
        assert_eq!(p[1].next_hop, Some("192.0.2.12".parse().unwrap()));
        let q = &rib.paths(&"192.0.2.102/32".parse().unwrap())[0];
        assert_eq!(q.as_path, [64513, 65010, 65011]);
        assert_eq!(q.next_hop, Some("192.0.2.13".parse().unwrap()));
        assert!(parse_bird_routes("garbage\n\tBGP.med: x\n", &peers).is_empty());
    }
}
