//! When a host's kernel routes changed: `ip -ts monitor route` in the host's namespace, each change with
//! the kernel notification's wall-clock time (microseconds, UTC), e.g. the instant the router's FIB lost
//! a dead node's next hop. Polling `ip route` would add its own period to every figure.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ipnet::IpNet;

use crate::error::Result;
use crate::lab::Lab;
use crate::prereq::tool_path;
use crate::supervisor::{Process, ProcessSpec};

/// One route notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEvent {
    /// When `ip` printed it (wall clock).
    pub at: SystemTime,
    /// The route was deleted (else added or replaced).
    pub deleted: bool,
    /// Its destination.
    pub dst: IpNet,
    /// Its gateways (one, several for ECMP, none for a connected route or a nexthop-group id).
    pub next_hops: Vec<IpAddr>,
}

/// A running `ip -ts monitor route`. Dropping it stops the monitor.
#[derive(Debug)]
pub struct RouteMonitor {
    process: Process,
}

impl RouteMonitor {
    /// Every notification so far.
    pub fn events(&self) -> Vec<RouteEvent> {
        parse_route_monitor(&self.process.log())
    }

    /// Stops `ip`.
    pub fn stop(self) -> Result<()> {
        self.process.stop(Duration::from_secs(2)).map(drop)
    }
}

impl Lab {
    /// Starts `ip -ts monitor route` on `host` (log `<dir>/<name>.log`, timestamps in UTC). It takes a few
    /// milliseconds to subscribe: start it before the changes to watch.
    pub fn monitor_routes(&self, host: &str, name: &str) -> Result<RouteMonitor> {
        let spec = ProcessSpec::new(name, tool_path("ip"))
            .args(["-ts", "monitor", "route"])
            .env("TZ", "UTC");
        let process = self.spawn(host, &spec)?;
        process.ensure_running("ip monitor")?;
        Ok(RouteMonitor { process })
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-12-04T23:22:20.476374` (UTC) as a time.
fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let micros: u64 = format!("{frac:0<6}").get(..6)?.parse().ok()?;
    let secs = days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?) + Duration::from_micros(micros))
}

/// The gateway of `via X` in a route line or a `nexthop via X` line.
fn via(line: &str) -> Option<IpAddr> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == "via")?;
    let next = words.next()?;
    // `via inet6 2001:db8::11` (an IPv6 gateway of an IPv4 route)
    let addr = if next == "inet" || next == "inet6" {
        words.next()?
    } else {
        next
    };
    addr.parse().ok()
}

/// Notifications in `ip -ts monitor route` output: `[timestamp] [Deleted ]<dst> …` lines, ECMP gateways on
/// the tab-indented `nexthop via …` lines that follow.
pub fn parse_route_monitor(text: &str) -> Vec<RouteEvent> {
    let mut out: Vec<RouteEvent> = Vec::new();
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) {
            if let (Some(last), Some(gw)) = (out.last_mut(), via(line)) {
                last.next_hops.push(gw);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((ts, route)) = rest.split_once(']') else {
            continue;
        };
        let Some(at) = parse_timestamp(ts) else { continue };
        let route = route.trim_start();
        let (deleted, route) = match route.strip_prefix("Deleted ") {
            Some(r) => (true, r),
            None => (false, route),
        };
        let Some(dst) = route.split_whitespace().next() else {
            continue;
        };
        // local/broadcast/multicast routes start with their type; skip them
        let dst = match dst.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => match dst.parse::<IpAddr>() {
                Ok(a) => IpNet::from(a),
                Err(_) => continue,
            },
        };
        out.push(RouteEvent {
            at,
            deleted,
            dst,
            next_hops: via(route).into_iter().collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecmp_replacements_and_deletions() {
        let text = "[2026-12-04T23:22:20.480298] 192.0.2.0/24 dev d0 proto kernel scope link src 192.0.2.1 
[2026-12-04T23:22:20.480305] broadcast 192.0.2.255 dev d0 table local proto kernel scope link src 192.0.2.1 
[2026-12-04T23:22:20.490628] 192.0.2.100 proto bird metric 32 
\tnexthop via 192.0.2.11 dev d0 weight 1 
\tnexthop via 192.0.2.12 dev d0 weight 1 
[2026-12-04T23:22:20.506349] 192.0.2.100 via 192.0.2.12 dev d0 proto bird metric 32 
[2026-12-04T23:22:21.008618] Deleted 2001:db8::100 via 2001:db8::12 dev eth0 proto bird metric 32 pref medium
garbage
";
        let e = parse_route_monitor(text);
        assert_eq!(e.len(), 4, "{e:?}");
        assert_eq!(e[0].dst, "192.0.2.0/24".parse::<IpNet>().unwrap());
        assert!(e[0].next_hops.is_empty());
        assert_eq!(e[1].next_hops.len(), 2);
        assert_eq!(e[2].next_hops, ["192.0.2.12".parse::<IpAddr>().unwrap()]);
        assert!(e[3].deleted && e[3].dst == "2001:db8::100/128".parse::<IpNet>().unwrap());
        let gap = e[3].at.duration_since(e[2].at).unwrap();
        assert_eq!(gap, Duration::from_micros(502_269));
        assert_eq!(
            e[1].at.duration_since(UNIX_EPOCH).unwrap(),
            Duration::from_micros(1_796_426_540_490_628)
        );
    }
}
