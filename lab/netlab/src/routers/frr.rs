//! FRR as router: zebra + bgpd (+ bfdd when a peer runs BFD) run directly in the router's namespace, in
//! the foreground, with a private socket directory owned by user `frr` (the daemons drop privileges to
//! it), and `vtysh --vty_socket` from the test's namespace. Connect timer 1 s; ECMP up to 16 paths,
//! installed by zebra. BFD peers use one bfdd profile (`flb`) with the config's timers.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde_json::Value;

use super::{
    BfdMode, BfdPeer, BgpConfig, BgpRouter, Family, LargeCommunity, READY_TIMEOUT, Rib, RibPath, RouterKind,
    STOP_GRACE, Session, stem,
};
use crate::cmd::{Cmd, CmdOutput};
use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::prereq::{frr_user, tool_path};
use crate::supervisor::{Process, ProcessSpec};

fn afi(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    }
}

fn check_password(pw: &str) -> Result<&str> {
    if pw.is_empty() || pw.chars().any(char::is_whitespace) {
        return Err(LabError::Invalid(format!(
            "FRR password `{pw}` must be one non-empty word"
        )));
    }
    Ok(pw)
}

/// The bgpd configuration for `cfg` (`hostname` is the lab host's name).
pub fn frr_bgpd_config(cfg: &BgpConfig, hostname: &str) -> Result<String> {
    let mut c = format!(
        "hostname {hostname}\n!\nrouter bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n \
         no bgp default ipv4-unicast\n no bgp network import-check\n timers bgp {} {}\n",
        cfg.asn,
        cfg.router_id,
        BgpConfig::keepalive(cfg.hold_time),
        cfg.hold_time
    );
    let retry = cfg.connect_retry.max(1);
    let mut activate: Vec<(Family, String)> = Vec::new();
    for p in &cfg.peers {
        let a = p.address;
        let _ = writeln!(
            c,
            " neighbor {a} remote-as {}\n neighbor {a} timers connect {retry}",
            p.asn
        );
        if let Some(port) = p.port {
            let _ = writeln!(c, " neighbor {a} port {port}");
        }
        if let Some(h) = p.hold_time {
            let _ = writeln!(c, " neighbor {a} timers {} {h}", BgpConfig::keepalive(h));
        }
        if let Some(pw) = &p.password {
            let _ = writeln!(c, " neighbor {a} password {}", check_password(pw)?);
        }
        if p.passive {
            let _ = writeln!(c, " neighbor {a} passive");
        }
        if p.multihop {
            let _ = writeln!(c, " neighbor {a} ebgp-multihop 255");
        }
        if let Some(local) = p.local {
            let _ = writeln!(c, " neighbor {a} update-source {local}");
        }
        if p.bfd {
            let _ = writeln!(c, " neighbor {a} bfd\n neighbor {a} bfd profile {BFD_PROFILE}");
            if cfg.bfd.mode == BfdMode::CheckControlPlaneFailure {
                let _ = writeln!(c, " neighbor {a} bfd check-control-plane-failure");
            }
        }
        activate.extend(p.families.iter().map(|f| (*f, a.to_string())));
    }
    for (i, r) in cfg.ranges.iter().enumerate() {
        let g = format!("RANGE{i}");
        let _ = writeln!(
            c,
            " neighbor {g} peer-group\n neighbor {g} remote-as {}\n neighbor {g} timers connect {retry}",
            r.asn
        );
        if let Some(pw) = &r.password {
            let _ = writeln!(c, " neighbor {g} password {}", check_password(pw)?);
        }
        let _ = writeln!(c, " bgp listen range {} peer-group {g}", r.range);
        activate.extend(r.families.iter().map(|f| (*f, g.clone())));
    }
    for fam in [Family::Ipv4, Family::Ipv6] {
        let _ = writeln!(
            c,
            " !\n address-family {} unicast\n  maximum-paths 16\n  maximum-paths ibgp 16",
            afi(fam)
        );
        if !cfg.install_routes {
            let _ = writeln!(c, "  table-map FLB-NO-FIB");
        }
        for (_, n) in activate.iter().filter(|(f, _)| *f == fam) {
            let _ = writeln!(c, "  neighbor {n} activate");
        }
        let _ = writeln!(c, " exit-address-family");
    }
    if !cfg.install_routes {
        let _ = writeln!(c, "!\nroute-map FLB-NO-FIB deny 10");
    }
    Ok(c)
}

/// The bfdd profile the BFD peers use.
const BFD_PROFILE: &str = "flb";

/// The bfdd configuration for `cfg`: one profile with its BFD timers.
pub fn frr_bfdd_config(cfg: &BgpConfig, hostname: &str) -> String {
    let t = cfg.bfd;
    format!(
        "hostname {hostname}\n!\nbfd\n profile {BFD_PROFILE}\n  transmit-interval {}\n  receive-interval {}\n  \
         detect-multiplier {}\n !\n!\n",
        t.min_tx_ms, t.min_rx_ms, t.multiplier
    )
}

/// BFD sessions in `show bfd peers json` output.
pub fn parse_frr_bfd_peers(json: &str) -> Result<Vec<BfdPeer>> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| LabError::parse("vtysh show bfd peers json", e.to_string()))?;
    let list = v
        .as_array()
        .ok_or_else(|| LabError::parse("vtysh show bfd peers json", "not a list"))?;
    Ok(list
        .iter()
        .filter_map(|p| {
            let peer = p.get("peer")?.as_str()?.parse().ok()?;
            let state = p.get("status")?.as_str()?.to_string();
            let local = p
                .get("local")
                .and_then(Value::as_str)
                .and_then(|l| l.parse::<IpAddr>().ok())
                .filter(|l| !l.is_unspecified());
            Some(BfdPeer {
                peer,
                up: state == "up",
                state,
                local,
            })
        })
        .collect())
}

/// Sessions in `show bgp neighbors json` output.
pub fn parse_frr_neighbors(json: &str) -> Result<Vec<Session>> {
    let v: Value = serde_json::from_str(json)
        .map_err(|e| LabError::parse("vtysh show bgp neighbors json", e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| LabError::parse("vtysh show bgp neighbors json", "not an object"))?;
    Ok(obj
        .iter()
        .filter_map(|(addr, n)| {
            let peer = addr.parse().ok()?;
            let state = n
                .get("bgpState")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            Some(Session {
                peer,
                name: None,
                established: state == "Established",
                state,
            })
        })
        .collect())
}

fn frr_path(p: &Value) -> RibPath {
    let u32_of = |v: Option<&Value>| v.and_then(Value::as_u64).and_then(|x| u32::try_from(x).ok());
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let as_path = match p.get("aspath") {
        Some(a) => {
            let mut asns = Vec::new();
            for seg in a.get("segments").and_then(Value::as_array).into_iter().flatten() {
                asns.extend(
                    seg.get("list")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| u32_of(Some(x))),
                );
            }
            asns
        }
        None => p
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or("")
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|t| t.parse().ok())
            .collect(),
    };
    let best = match p.get("bestpath") {
        Some(Value::Bool(b)) => *b,
        Some(b) => b.get("overall").and_then(Value::as_bool).unwrap_or(false),
        None => false,
    };
    let hops = p.get("nexthops").and_then(Value::as_array);
    let next_hop = hops
        .into_iter()
        .flatten()
        .filter(|h| h.get("scope").and_then(Value::as_str) != Some("link-local"))
        .find_map(|h| h.get("ip").and_then(Value::as_str)?.parse::<IpAddr>().ok());
    RibPath {
        next_hop,
        peer: p
            .pointer("/peer/peerId")
            .or_else(|| p.get("peerId"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok()),
        as_path,
        local_pref: u32_of(p.get("locPrf")).or_else(|| u32_of(p.get("localpref"))),
        med: u32_of(p.get("metric")).or_else(|| u32_of(p.get("med"))),
        communities: strings(p.pointer("/community/list"))
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect(),
        large_communities: strings(p.pointer("/largeCommunity/list"))
            .iter()
            .filter_map(|c| c.parse::<LargeCommunity>().ok())
            .collect(),
        best,
    }
}

/// The RIB in `show bgp <afi> unicast json detail` output (FRR 8: each prefix maps to a list whose
/// first element describes the prefix; FRR 9+: to an object with `paths`).
pub fn parse_frr_rib(json: &str) -> Result<Rib> {
    let tool = "vtysh show bgp … json detail";
    let v: Value = serde_json::from_str(json).map_err(|e| LabError::parse(tool, e.to_string()))?;
    let mut rib = Rib::default();
    let Some(routes) = v.get("routes").and_then(Value::as_object) else {
        return if v.is_object() {
            Ok(rib)
        } else {
            Err(LabError::parse(tool, "not an object"))
        };
    };
    for (prefix, entry) in routes {
        let Ok(prefix) = prefix.parse::<IpNet>() else {
            continue;
        };
        let paths: Vec<&Value> = match entry {
            Value::Array(items) => items.iter().filter(|i| i.get("nexthops").is_some()).collect(),
            Value::Object(_) => entry
                .get("paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect(),
            _ => Vec::new(),
        };
        for p in paths {
            rib.push(prefix, frr_path(p));
        }
    }
    Ok(rib)
}

/// Running FRR daemons (zebra + bgpd).
#[derive(Debug)]
pub struct Frr {
    host: String,
    asn: u32,
    dir: PathBuf,
    bgpd: Process,
    bfdd: Option<Process>,
    zebra: Process,
}

fn write_frr_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LabError::io(format!("writing {}", path.display()), e))
}

impl Frr {
    /// Writes the configuration, starts zebra then bgpd on `host` and waits until bgpd answers.
    pub fn start(lab: &Lab, host: &str, cfg: &BgpConfig) -> Result<Frr> {
        let bgpd_conf = frr_bgpd_config(cfg, host)?;
        let (uid, gid) =
            frr_user().ok_or_else(|| LabError::Prerequisites("user `frr` (Debian package frr)".into()))?;
        // the daemons run as `frr`: their directory must be theirs, and every parent traversable
        let dir = lab.dir().join(stem(host, "frr"));
        std::fs::create_dir_all(&dir).map_err(|e| LabError::io(format!("creating {}", dir.display()), e))?;
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| LabError::io(format!("chown frr {}", dir.display()), e))?;
        write_frr_file(&dir.join("zebra.conf"), &format!("hostname {host}\n"))?;
        write_frr_file(&dir.join("bgpd.conf"), &bgpd_conf)?;
        write_frr_file(&dir.join("bfdd.conf"), &frr_bfdd_config(cfg, host))?;
        let zserv = dir.join("zserv.api");
        let daemon = |name: &str| {
            ProcessSpec::new(stem(host, &format!("frr-{name}")), tool_path(name))
                .args(["-P", "0", "-f"])
                .arg(dir.join(format!("{name}.conf")))
                .arg("-i")
                .arg(dir.join(format!("{name}.pid")))
                .arg("-z")
                .arg(&zserv)
                .arg("--vty_socket")
                .arg(&dir)
                .args(["--log", "stdout"])
        };
        let zebra = lab.spawn(host, &daemon("zebra"))?;
        zebra.wait_ready("zebra's zserv.api socket", READY_TIMEOUT, || zserv.exists())?;
        let bfdd = if cfg.uses_bfd() {
            let ctl = dir.join("bfdd.sock");
            let bfdd = lab.spawn(host, &daemon("bfdd").arg("--bfdctl").arg(&ctl))?;
            bfdd.wait_ready("bfdd's control socket", READY_TIMEOUT, || ctl.exists())?;
            Some(bfdd)
        } else {
            None
        };
        let port = cfg.listen_port.unwrap_or(0).to_string(); // bgpd -p 0: do not listen
        let bgpd = lab.spawn(host, &daemon("bgpd").args(["-p", &port]))?;
        let frr = Frr {
            host: host.to_string(),
            asn: cfg.asn,
            dir,
            bgpd,
            bfdd,
            zebra,
        };
        frr.bgpd.wait_ready("bgpd's vty", READY_TIMEOUT, || {
            frr.vtysh("show bgp summary json")
                .is_ok_and(|o| o.success() && o.stdout.trim_start().starts_with('{'))
        })?;
        Ok(frr)
    }

    /// Runs one `vtysh -c` command against bgpd; returns its output whatever the exit status.
    pub fn vtysh(&self, command: &str) -> Result<CmdOutput> {
        self.vtysh_daemon("bgpd", command)
    }

    /// Runs one `vtysh -c` command against `daemon` (`bgpd`, `bfdd`, `zebra`).
    pub fn vtysh_daemon(&self, daemon: &str, command: &str) -> Result<CmdOutput> {
        Cmd::new(tool_path("vtysh"))
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-d", daemon, "-c", command])
            .output()
    }

    /// Its BFD sessions (`show bfd peers json`); none without bfdd.
    pub fn bfd_sessions(&self) -> Result<Vec<BfdPeer>> {
        let Some(bfdd) = &self.bfdd else {
            return Ok(Vec::new());
        };
        bfdd.ensure_running("FRR BFD sessions")?;
        parse_frr_bfd_peers(&self.vtysh_daemon("bfdd", "show bfd peers json")?.ok()?.stdout)
    }

    /// Changes bgpd's running configuration: `configure terminal`, then `lines` in order (e.g.
    /// `router bgp 64512`, `neighbor 192.0.2.11 password s3cret`). Fails with vtysh's output when a line
    /// is refused.
    pub fn configure(&self, lines: &[&str]) -> Result<()> {
        let mut cmd = Cmd::new(tool_path("vtysh"))
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-d", "bgpd", "-c", "configure terminal"]);
        for line in lines {
            cmd = cmd.args(["-c", line]);
        }
        let out = cmd.output()?;
        // vtysh exits 0 even when a line is refused; it says so on its output
        let text = format!("{}{}", out.stdout, out.stderr);
        if !out.success() || text.contains('%') {
            return Err(LabError::Invalid(format!(
                "vtysh configure {lines:?}: {}",
                text.trim()
            )));
        }
        Ok(())
    }

    /// Sets (or, with `None`, removes) the TCP MD5 password of neighbour `peer` at run time. FRR resets
    /// the session; its listening socket takes the new key at once.
    pub fn set_password(&self, peer: IpAddr, password: Option<&str>) -> Result<()> {
        let router = format!("router bgp {}", self.asn);
        let line = match password {
            Some(pw) => format!("neighbor {peer} password {}", check_password(pw)?),
            None => format!("no neighbor {peer} password"),
        };
        self.configure(&[&router, &line])
    }

    /// How many times the session with `peer` has been established since bgpd started
    /// (`connectionsEstablished` of `show bgp neighbors <peer> json`): a session that went down and came
    /// back counts once more, however briefly it was down.
    pub fn connections_established(&self, peer: IpAddr) -> Result<u64> {
        let tool = "vtysh show bgp neighbors <peer> json";
        let out = self.vtysh(&format!("show bgp neighbors {peer} json"))?.ok()?;
        let v: Value = serde_json::from_str(&out.stdout).map_err(|e| LabError::parse(tool, e.to_string()))?;
        v.get(peer.to_string())
            .and_then(|n| n.get("connectionsEstablished"))
            .and_then(Value::as_u64)
            .ok_or_else(|| LabError::parse(tool, format!("no connectionsEstablished for {peer}")))
    }

    /// The host it runs on.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bgpd process.
    pub fn bgpd(&self) -> &Process {
        &self.bgpd
    }

    /// The zebra process.
    pub fn zebra(&self) -> &Process {
        &self.zebra
    }

    /// Stops bgpd, bfdd, then zebra (SIGTERM, then SIGKILL), and reaps them.
    pub fn stop(self) -> Result<()> {
        let b = self.bgpd.stop(STOP_GRACE);
        let f = self.bfdd.map_or(Ok(()), |p| p.stop(STOP_GRACE).map(drop));
        let z = self.zebra.stop(STOP_GRACE);
        b.and(f).and(z).map(drop)
    }
}

impl BgpRouter for Frr {
    fn kind(&self) -> RouterKind {
        RouterKind::Frr
    }

    fn sessions(&self) -> Result<Vec<Session>> {
        self.bgpd.ensure_running("FRR sessions")?;
        parse_frr_neighbors(&self.vtysh("show bgp neighbors json")?.ok()?.stdout)
    }

    fn rib(&self, family: Family) -> Result<Rib> {
        let out = self
            .vtysh(&format!("show bgp {} unicast json detail", afi(family)))?
            .ok()?;
        parse_frr_rib(&out.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routers::{Community, Peer, PeerRange};

    #[test]
    fn config_activates_each_family_and_sets_timers() {
        let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
            .peer(
                Peer::new("192.0.2.11".parse().unwrap(), 64513)
                    .password("s3cret")
                    .hold_time(30),
            )
            .peer(
                Peer::new("2001:db8::11".parse().unwrap(), 64513)
                    .passive()
                    .port(1791),
            )
            .range(PeerRange::new("192.0.2.0/24".parse().unwrap(), 64513).password("pw"));
        let c = frr_bgpd_config(&cfg, "router").unwrap();
        assert!(c.contains(" neighbor 2001:db8::11 port 1791\n"));
        assert!(c.contains("router bgp 64512\n bgp router-id 192.0.2.1\n no bgp ebgp-requires-policy"));
        assert!(c.contains(" timers bgp 3 9\n"));
        assert!(c.contains(" neighbor 192.0.2.11 timers connect 1\n neighbor 192.0.2.11 timers 10 30\n"));
        assert!(c.contains(" neighbor 192.0.2.11 password s3cret\n"));
        assert!(c.contains(" neighbor 2001:db8::11 passive\n"));
        assert!(c.contains(" bgp listen range 192.0.2.0/24 peer-group RANGE0\n"));
        let v4 = c
            .split("address-family ipv4 unicast")
            .nth(1)
            .unwrap()
            .split("exit-address-family")
            .next()
            .unwrap();
        assert!(v4.contains("neighbor 192.0.2.11 activate") && v4.contains("neighbor RANGE0 activate"));
        assert!(!v4.contains("2001:db8::11"));
        assert!(!c.contains("table-map"));
        let c = frr_bgpd_config(
            &BgpConfig {
                install_routes: false,
                ..cfg
            },
            "router",
        )
        .unwrap();
        assert!(c.contains("  table-map FLB-NO-FIB") && c.contains("route-map FLB-NO-FIB deny 10"));
    }

    #[test]
    fn bfd_peers_use_the_profile_and_bfdd_has_the_timers() {
        use crate::routers::BfdTimers;
        let cfg = BgpConfig::new(64512, "192.0.2.1".parse().unwrap())
            .peer(Peer::new("192.0.2.11".parse().unwrap(), 64513).bfd())
            .peer(
                Peer::new("198.51.100.11".parse().unwrap(), 64513)
                    .bfd()
                    .multihop()
                    .local("192.0.2.1".parse().unwrap()),
            )
            .bfd(BfdTimers {
                mode: BfdMode::CheckControlPlaneFailure,
                ..BfdTimers::new(50, 3)
            });
        let c = frr_bgpd_config(&cfg, "router").unwrap();
        assert!(c.contains(" neighbor 192.0.2.11 bfd\n neighbor 192.0.2.11 bfd profile flb\n"));
        assert!(c.contains(" neighbor 192.0.2.11 bfd check-control-plane-failure\n"));
        assert!(c.contains(" neighbor 198.51.100.11 ebgp-multihop 255\n"));
        assert!(c.contains(" neighbor 198.51.100.11 update-source 192.0.2.1\n"));
        let b = frr_bfdd_config(&cfg, "router");
        assert!(b.contains(
            " profile flb\n  transmit-interval 50\n  receive-interval 50\n  detect-multiplier 3\n"
        ));
        let peers = parse_frr_bfd_peers(
            r#"[{"multihop":false,"peer":"192.0.2.11","local":"192.0.2.1","status":"up"},
                {"multihop":false,"peer":"2001:db8::11","status":"down"}]"#,
        )
        .unwrap();
        assert!(peers[0].up && !peers[1].up);
        assert_eq!(peers[1].state, "down");
        assert_eq!(peers[0].local, Some("192.0.2.1".parse().unwrap()));
        assert_eq!(peers[1].local, None);
        assert!(parse_frr_bfd_peers("{}").is_err());
    }

    #[test]
    fn passwords_must_be_one_word() {
        let cfg = BgpConfig::new(1, "192.0.2.1".parse().unwrap())
            .peer(Peer::new("192.0.2.11".parse().unwrap(), 2).password("a b"));
        assert!(frr_bgpd_config(&cfg, "r").is_err());
    }

    #[test]
    fn rib_json_detail_fr8_and_frr9_shapes() {
        let frr8 = r#"{"vrfId":0,"routes":{"192.0.2.101/32":[{"prefix":"192.0.2.101/32","version":2},
            {"aspath":{"string":"64513 65000","segments":[{"type":"as-sequence","list":[64513,65000]}],"length":2},
             "metric":10,"locPrf":150,"bestpath":{"overall":true},"community":{"string":"64513:7 no-export","list":["64513:7","noExport"]},
             "largeCommunity":{"string":"64513:1:2","list":["64513:1:2"]},
             "nexthops":[{"ip":"192.0.2.11","afi":"ipv4","used":true}],"peer":{"peerId":"192.0.2.11"}},
            {"aspath":{"segments":[{"type":"as-sequence","list":[64513]}]},"multipath":true,
             "nexthops":[{"ip":"192.0.2.12","afi":"ipv4"}],"peer":{"peerId":"192.0.2.12"}}],
          "bad":[]}}"#;
        let rib = parse_frr_rib(frr8).unwrap();
        let p = rib.paths(&"192.0.2.101/32".parse().unwrap());
        assert_eq!(p.len(), 2);
        assert!(p[0].best && !p[1].best);
        assert_eq!(p[0].as_path, [64513, 65000]);
        assert_eq!((p[0].med, p[0].local_pref), (Some(10), Some(150)));
        assert_eq!(p[0].communities, [Community::new(64513, 7), Community::NO_EXPORT]);
        assert_eq!(p[0].large_communities, [LargeCommunity::new(64513, 1, 2)]);
        assert_eq!(p[1].peer, Some("192.0.2.12".parse().unwrap()));
        let frr9 = r#"{"routes":{"2001:db8::100/128":{"prefix":"2001:db8::100/128","paths":[
            {"aspath":{"segments":[]},"bestpath":{"overall":true},
             "nexthops":[{"ip":"fe80::1","scope":"link-local"},{"ip":"2001:db8::11","scope":"global"}]}]}}}"#;
        let rib = parse_frr_rib(frr9).unwrap();
        assert_eq!(rib.next_hops(&"2001:db8::100/128".parse().unwrap()).len(), 1);
        assert_eq!(
            rib.best(&"2001:db8::100/128".parse().unwrap()).unwrap().next_hop,
            Some("2001:db8::11".parse().unwrap())
        );
        assert!(parse_frr_rib("{}").unwrap().is_empty());
        assert!(parse_frr_rib("[]").is_err());
    }

    #[test]
    fn neighbors_json_states() {
        let s = parse_frr_neighbors(
            r#"{"192.0.2.11":{"bgpState":"Established"},"RANGE0":{},"2001:db8::11":{"bgpState":"Active"}}"#,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.iter().any(|s| s.established));
        assert!(s.iter().any(|s| s.state == "Active"));
    }
}
