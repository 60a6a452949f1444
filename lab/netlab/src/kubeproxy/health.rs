//! The stand-in's health endpoint, answering as kube-proxy's does (`pkg/proxy/healthcheck/proxy_health.go`,
//! read from Kubernetes' sources; the same since 1.28).
//!
//! kube-proxy serves `--healthz-bind-address` (default `0.0.0.0:10256`, which Go listens on dual-stack):
//!
//! - `GET /healthz`: `200` unless an update was queued and not applied for longer than the health timeout
//!   (the rules are stale) or the Node is not eligible (being deleted, or tainted
//!   `ToBeDeletedByClusterAutoscaler`): then `503`. Body
//!   `{"lastUpdated": "…","currentTime": "…", "nodeEligible": true}`; when healthy `lastUpdated` equals
//!   `currentTime`, otherwise it is the last sync.
//! - `GET /livez`: the staleness check alone; the body has no `nodeEligible`.
//! - Both with `Content-Type: application/json` and `X-Content-Type-Options: nosniff`, any method. Other paths
//!   get Go's `404 page not found`.
//! - The times are Go's `time.Time.String()` (kube-proxy formats them with `%q`), not RFC 3339:
//!   `"2020-06-03 23:59:53.688063083 +0000 UTC m=+202.631797660"` — wall clock, then the monotonic reading
//!   in seconds since the process started. A time never set is `"0001-01-01 00:00:00 +0000 UTC"`.
//!
//! [`HealthModel`] is kube-proxy's `ProxyHealthServer` state with time passed in; [`HealthServer`] serves it
//! in a node's namespace, one short-lived thread per connection (HTTP/1.1 keep-alive honoured).

use std::io::{Read, Write};
use std::net::{Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{LabError, Result};
use crate::netns::Netns;

/// kube-proxy's health port.
pub const HEALTH_PORT: u16 = 10256;
/// kube-proxy's health timeout at defaults (2 × the iptables sync period of 30 s).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);

/// What a node's kube-proxy health endpoint reports; set with [`crate::Lab::set_kube_proxy_health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeProxyHealth {
    /// Rules in sync: `200`.
    Healthy,
    /// An update has been waiting for longer than the health timeout (stale rules): `503` from `/healthz` and
    /// `/livez`, `lastUpdated` at the last sync, in the past.
    Stale,
    /// The Node is being deleted (or tainted for deletion): `/healthz` `503` with `"nodeEligible": false`;
    /// `/livez` still `200`.
    NotEligible,
    /// kube-proxy is down: nothing listens on port 10256 (connections are refused).
    Down,
}

/// An instant as kube-proxy's clock gives it: wall clock plus monotonic reading since the process started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall clock.
    pub wall: SystemTime,
    /// Monotonic reading (since the process started).
    pub mono: Duration,
}

impl Stamp {
    /// Go's `time.Time.String()` of this instant in UTC.
    pub fn go_string(&self) -> String {
        format!(
            "{} m=+{}.{:09}",
            go_wall(self.wall),
            self.mono.as_secs(),
            self.mono.subsec_nanos()
        )
    }
}

/// Go's `time.Time.String()` of a wall-clock time in UTC, without a monotonic reading:
/// `2006-01-02 15:04:05.999999999 +0000 UTC` (fraction without trailing zeros, none if zero).
pub fn go_wall(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    let mut frac = format!("{:09}", d.subsec_nanos());
    while frac.ends_with('0') {
        frac.pop();
    }
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    format!(
        "{y:04}-{m:02}-{day:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Go's zero `time.Time`.
pub const GO_ZERO_TIME: &str = "0001-01-01 00:00:00 +0000 UTC";

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (era * 400 + yoe + i64::from(m <= 2), m, d)
}

/// kube-proxy's health state (`ProxyHealthServer`, one IP family), time passed in.
#[derive(Debug, Clone)]
pub struct HealthModel {
    timeout: Duration,
    last_updated: Option<Stamp>,
    oldest_pending: Option<Stamp>,
    node_eligible: bool,
}

/// An HTTP answer: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl HealthModel {
    /// A kube-proxy that just started: healthy, eligible, never synced.
    pub fn new(timeout: Duration) -> Self {
        HealthModel {
            timeout,
            last_updated: None,
            oldest_pending: None,
            node_eligible: true,
        }
    }

    /// The rules were applied (`Updated`).
    pub fn updated(&mut self, now: Stamp) {
        self.oldest_pending = None;
        self.last_updated = Some(now);
    }

    /// A change arrived that is not applied yet (`QueuedUpdate`): only the oldest counts.
    pub fn queued(&mut self, at: Stamp) {
        self.oldest_pending.get_or_insert(at);
    }

    /// The Node's eligibility (`SyncNode`).
    pub fn set_node_eligible(&mut self, eligible: bool) {
        self.node_eligible = eligible;
    }

    /// `isHealthy`: whether the rules are fresh, and the last sync.
    fn is_healthy(&self, now: Stamp) -> (bool, Option<Stamp>) {
        let stale = self
            .oldest_pending
            .is_some_and(|p| now.mono.saturating_sub(p.mono) >= self.timeout);
        (!stale, self.last_updated)
    }

    /// The answer to a request for `path` (query string already removed).
    pub fn answer(&self, path: &str, now: Stamp) -> Answer {
        let time = |t: Option<Stamp>| t.map_or_else(|| GO_ZERO_TIME.to_owned(), |t| t.go_string());
        let json = "application/json";
        match path {
            "/healthz" => {
                let (fresh, last) = self.is_healthy(now);
                let healthy = fresh && self.node_eligible;
                let last = if healthy { Some(now) } else { last };
                Answer {
                    status: if healthy { 200 } else { 503 },
                    content_type: json,
                    body: format!(
                        "{{\"lastUpdated\": {:?},\"currentTime\": {:?}, \"nodeEligible\": {}}}",
                        time(last),
                        time(Some(now)),
                        self.node_eligible
                    ),
                }
            }
            "/livez" => {
                let (healthy, last) = self.is_healthy(now);
                let last = if healthy { Some(now) } else { last };
                Answer {
                    status: if healthy { 200 } else { 503 },
                    content_type: json,
                    body: format!(
                        "{{\"lastUpdated\": {:?},\"currentTime\": {:?}}}",
                        time(last),
                        time(Some(now))
                    ),
                }
            }
            _ => Answer {
                status: 404,
                content_type: "text/plain; charset=utf-8",
                body: "404 page not found\n".to_owned(),
            },
        }
    }
}

/// An HTTP-date (`Date` header).
fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = secs / 86_400;
    let (y, m, d) = civil_from_days(i64::try_from(days).unwrap_or(0));
    let rem = secs % 86_400;
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[usize::try_from(days % 7).unwrap_or(0)],
        MONTHS[usize::try_from(m - 1).unwrap_or(0)],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The bytes of a response as Go's `net/http` sends it; `head`: no body.
pub fn render(a: &Answer, date: SystemTime, head: bool) -> Vec<u8> {
    let reason = match a.status {
        200 => "OK",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nX-Content-Type-Options: nosniff\r\nDate: {}\r\n\
         Content-Length: {}\r\n\r\n",
        a.status,
        a.content_type,
        http_date(date),
        a.body.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(a.body.as_bytes());
    }
    out
}

/// A request head: method, path without the query, whether the connection stays open, body length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Path without the query string.
    pub path: String,
    /// HTTP/1.1 without `Connection: close` (or HTTP/1.0 with `Connection: keep-alive`).
    pub keep_alive: bool,
    /// `Content-Length` of a body to skip.
    pub body: usize,
}

/// Parses a request head (up to and excluding the blank line); `None` if it is not HTTP.
pub fn parse_request(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target, version) = (first.next()?, first.next()?, first.next()?);
    if !version.starts_with("HTTP/1.") || first.next().is_some() {
        return None;
    }
    let mut keep_alive = version == "HTTP/1.1";
    let mut body = 0;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else { continue };
        let v = v.trim();
        if k.eq_ignore_ascii_case("connection") {
            keep_alive =
                !v.eq_ignore_ascii_case("close") && (keep_alive || v.eq_ignore_ascii_case("keep-alive"));
        } else if k.eq_ignore_ascii_case("content-length") {
            body = v.parse().ok()?;
        }
    }
    let path = target.split('?').next().unwrap_or(target).to_owned();
    Some(Request {
        method: method.to_owned(),
        path,
        keep_alive,
        body,
    })
}

/// How long the stand-in's kube-proxy "has been running" when the lab starts it: its monotonic clock starts
/// here, so a test can make it stale at once (a real kube-proxy cannot be stale in its first 60 s).
pub const PROCESS_AGE: Duration = Duration::from_secs(600);

/// A node's health model and the clock of its (stand-in) kube-proxy process.
#[derive(Debug)]
pub(crate) struct NodeHealth {
    pub(crate) model: Mutex<HealthModel>,
    started: Instant,
}

impl NodeHealth {
    pub(crate) fn new() -> Arc<NodeHealth> {
        Arc::new(NodeHealth {
            model: Mutex::new(HealthModel::new(HEALTH_TIMEOUT)),
            started: Instant::now(),
        })
    }

    /// Now, as this kube-proxy's clock says.
    pub(crate) fn now(&self) -> Stamp {
        Stamp {
            wall: SystemTime::now(),
            mono: PROCESS_AGE + self.started.elapsed(),
        }
    }

    /// An instant `ago` before now.
    pub(crate) fn ago(&self, ago: Duration) -> Stamp {
        let now = self.now();
        Stamp {
            wall: now.wall.checked_sub(ago).unwrap_or(now.wall),
            mono: now.mono.saturating_sub(ago),
        }
    }

    pub(crate) fn model(&self) -> std::sync::MutexGuard<'_, HealthModel> {
        self.model.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The endpoint on one node: `[::]:10256` (dual-stack) in its namespace.
#[derive(Debug)]
pub(crate) struct HealthServer {
    stop: Arc<AtomicBool>,
    listener: TcpListener,
    thread: Option<JoinHandle<()>>,
}

impl HealthServer {
    pub(crate) fn start(ns: &Netns, node: &str, health: Arc<NodeHealth>) -> Result<HealthServer> {
        use socket2::{Domain, Protocol, Socket, Type};
        let addr = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), HEALTH_PORT);
        let sock: Socket = ns.socket(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
        let io = |e| LabError::io(format!("kube-proxy health {addr} in {}", ns.name()), e);
        sock.set_only_v6(false).map_err(io)?;
        sock.set_reuse_address(true).map_err(io)?;
        sock.bind(&addr.into()).map_err(io)?;
        sock.listen(64).map_err(io)?;
        let listener: TcpListener = sock.into();
        let l = listener.try_clone().map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kube-proxy-health-{node}"))
            .spawn(move || serve(&l, &health, &st))
            .map_err(|e| LabError::io(format!("kube-proxy health thread on {node}"), e))?;
        Ok(HealthServer {
            stop,
            listener,
            thread: Some(thread),
        })
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // shutdown(2) on a listening socket wakes a blocked accept(2); the socket closes with the last clone
        let _ = socket2::SockRef::from(&self.listener).shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: &TcpListener, health: &Arc<NodeHealth>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((conn, _)) = listener.accept() else {
            // woken by shutdown (the loop ends), or a transient error such as EMFILE: don't spin
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let h = health.clone();
        // one short-lived thread per connection, bounded by its socket timeouts and request count
        let _ = std::thread::Builder::new()
            .name("kube-proxy-health-conn".into())
            .spawn(move || connection(conn, &h));
    }
}

/// Answers up to 100 requests on one connection; an idle connection closes after 1 s (so a lab's teardown
/// is not held up by a client's open connection).
fn connection(mut conn: TcpStream, health: &NodeHealth) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 2048];
    for _ in 0..100 {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if buf.len() > 16 * 1024 {
                return;
            }
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let Some(req) = parse_request(&head) else {
            let _ =
                conn.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        };
        // skip a body (kube-proxy ignores it)
        while buf.len() < req.body {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..req.body);
        let now = health.now();
        let answer = health.model().answer(&req.path, now);
        if conn
            .write_all(&render(&answer, now.wall, req.method == "HEAD"))
            .is_err()
            || !req.keep_alive
        {
            break;
        }
    }
    let _ = conn.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(unix: f64, mono: f64) -> Stamp {
        Stamp {
            wall: UNIX_EPOCH + Duration::from_secs_f64(unix),
            mono: Duration::from_secs_f64(mono),
        }
    }

    #[test]
    fn times_are_formatted_as_go_prints_them() {
        // as curl showed a real kube-proxy's (cilium/cilium#11733): 2020-06-03 23:59:53.688063083 … m=+202.631797660
        let t = Stamp {
            wall: UNIX_EPOCH + Duration::new(1_591_228_793, 688_063_083),
            mono: Duration::new(202, 631_797_660),
        };
        assert_eq!(
            t.go_string(),
            "2020-06-03 23:59:53.688063083 +0000 UTC m=+202.631797660"
        );
        // trailing zeros of the fraction are dropped, a zero fraction entirely; the monotonic part keeps 9 digits
        assert_eq!(
            stamp(951_782_400.5, 3.0).go_string(),
            "2000-02-29 00:00:00.5 +0000 UTC m=+3.000000000"
        );
        assert_eq!(
            go_wall(UNIX_EPOCH + Duration::from_secs(4_102_444_799)),
            "2099-12-31 23:59:59 +0000 UTC"
        );
        assert_eq!(go_wall(UNIX_EPOCH), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(1_591_228_793)),
            "Wed, 03 Jun 2020 23:59:53 GMT"
        );
    }

    #[test]
    fn healthy_stale_and_ineligible_answer_like_kube_proxy() {
        let mut m = HealthModel::new(Duration::from_secs(60));
        // just started: healthy, never synced
        let now = stamp(1_700_000_000.25, 1.0);
        let a = m.answer("/healthz", now);
        assert_eq!(a.status, 200);
        assert_eq!(a.content_type, "application/json");
        let t = now.go_string();
        assert_eq!(
            a.body,
            format!("{{\"lastUpdated\": \"{t}\",\"currentTime\": \"{t}\", \"nodeEligible\": true}}")
        );
        m.updated(stamp(1_700_000_010.0, 11.0));
        // a change queued 59 s ago is not late yet
        m.queued(stamp(1_700_000_020.0, 21.0));
        assert_eq!(m.answer("/healthz", stamp(1_700_000_079.0, 80.0)).status, 200);
        // at 60 s it is: 503, lastUpdated = the last sync
        let late = stamp(1_700_000_080.0, 81.0);
        let a = m.answer("/healthz", late);
        assert_eq!(a.status, 503);
        assert_eq!(
            a.body,
            format!(
                "{{\"lastUpdated\": \"2023-11-14 22:13:30 +0000 UTC m=+11.000000000\",\"currentTime\": \"{}\", \"nodeEligible\": true}}",
                late.go_string()
            )
        );
        let l = m.answer("/livez", late);
        assert_eq!(l.status, 503);
        assert!(!l.body.contains("nodeEligible"), "{}", l.body);
        // a later queued change does not reset the oldest; an update does
        m.queued(stamp(1_700_000_081.0, 82.0));
        assert_eq!(m.answer("/livez", late).status, 503);
        m.updated(late);
        assert_eq!(m.answer("/healthz", late).status, 200);
        // a Node being deleted: /healthz 503 with the last sync and nodeEligible false; /livez 200
        m.set_node_eligible(false);
        let later = stamp(1_700_000_090.0, 91.0);
        let a = m.answer("/healthz", later);
        assert_eq!(a.status, 503);
        assert!(
            a.body
                .starts_with(&format!("{{\"lastUpdated\": \"{}\"", late.go_string())),
            "{}",
            a.body
        );
        assert!(a.body.ends_with("\"nodeEligible\": false}"), "{}", a.body);
        assert_eq!(m.answer("/livez", later).status, 200);
        // anything else: Go's 404
        let nf = m.answer("/healthz/", later);
        assert_eq!((nf.status, nf.body.as_str()), (404, "404 page not found\n"));
    }

    #[test]
    fn never_synced_and_stale_reports_go_zero_time() {
        let mut m = HealthModel::new(Duration::from_secs(60));
        m.queued(stamp(1_700_000_000.0, 0.5));
        let a = m.answer("/livez", stamp(1_700_000_100.0, 100.5));
        assert_eq!(a.status, 503);
        assert!(
            a.body
                .starts_with("{\"lastUpdated\": \"0001-01-01 00:00:00 +0000 UTC\","),
            "{}",
            a.body
        );
    }

    #[test]
    fn requests_are_parsed_and_responses_rendered() {
        let r = parse_request("GET /healthz?verbose=1 HTTP/1.1\r\nHost: 127.0.0.1:10256\r\nUser-Agent: x")
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.path.as_str(), r.keep_alive, r.body),
            ("GET", "/healthz", true, 0)
        );
        let r = parse_request("GET /livez HTTP/1.1\r\nconnection: Close").unwrap();
        assert!(!r.keep_alive);
        let r = parse_request("HEAD /livez HTTP/1.0").unwrap();
        assert!(!r.keep_alive);
        let r =
            parse_request("POST /healthz HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3").unwrap();
        assert!(r.keep_alive);
        assert_eq!(r.body, 3);
        assert_eq!(parse_request("hello"), None);
        assert_eq!(parse_request("GET / SPDY/3"), None);
        let a = Answer {
            status: 503,
            content_type: "application/json",
            body: "{}".into(),
        };
        let date = UNIX_EPOCH + Duration::from_secs(1_591_228_793);
        let text = String::from_utf8(render(&a, date, false)).unwrap();
        assert_eq!(
            text,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n\
             Date: Wed, 03 Jun 2020 23:59:53 GMT\r\nContent-Length: 2\r\n\r\n{}"
        );
        assert!(
            String::from_utf8(render(&a, date, true))
                .unwrap()
                .ends_with("Content-Length: 2\r\n\r\n")
        );
    }
}
