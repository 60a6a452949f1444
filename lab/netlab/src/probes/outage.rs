//! The outage a client sees: a bounded loop of TCP or UDP probes (one every 10 ms by default) from a
//! lab host to a VIP, recording who answered and when.
//!
//! A TCP probe connects, sends `GET / HTTP/1.0`, reads until the server closes and takes the last
//! line of the body as the responder (the kube-proxy stand-in's backends answer with their node's
//! name). A UDP probe sends `flb-probe <seq>` and waits for a reply carrying the same sequence
//! number (`<responder> flb-probe <seq>`); late replies to earlier probes are ignored. The analysis
//! ([`ProbeReport::outages`]) is pure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};
use crate::lab::Lab;
use crate::netns::Netns;

/// The hard cap on one probe loop.
pub const MAX_PROBE_DURATION: Duration = Duration::from_secs(600);

/// Transport of the probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeProto {
    /// A new TCP connection per probe (HTTP/1.0 request).
    Tcp,
    /// One datagram per probe.
    Udp,
}

/// Timing of the probe loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeOptions {
    /// Time between probe starts (10 ms).
    pub interval: Duration,
    /// How long one probe may take before it counts as failed (50 ms).
    pub timeout: Duration,
    /// The loop ends by itself after this long (60 s; at most [`MAX_PROBE_DURATION`]).
    pub max_duration: Duration,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(50),
            max_duration: Duration::from_secs(60),
        }
    }
}

/// What one probe saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleResult {
    /// An answer from `responder` after `rtt`.
    Ok { responder: String, rtt: Duration },
    /// No (valid) answer: `timeout`, `refused`, `reset`, `unreachable`, `empty` or an I/O message.
    Failed(String),
}

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When it was sent, since the loop started.
    pub at: Duration,
    /// What came back.
    pub result: SampleResult,
}

impl Sample {
    /// Whether the probe was answered.
    pub fn ok(&self) -> bool {
        matches!(self.result, SampleResult::Ok { .. })
    }

    /// Who answered, if anyone.
    pub fn responder(&self) -> Option<&str> {
        match &self.result {
            SampleResult::Ok { responder, .. } => Some(responder),
            SampleResult::Failed(_) => None,
        }
    }
}

/// A run of failed probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// When the last answered probe before the run was sent (`None`: failing from the start).
    pub last_ok: Option<Duration>,
    /// When the first failed probe was sent.
    pub first_failed: Duration,
    /// When the first answered probe after the run was sent (`None`: never recovered).
    pub recovered: Option<Duration>,
    /// How many probes failed.
    pub failed: usize,
}

impl Outage {
    /// First failure to recovery: the outage the client saw, to within one probe interval plus
    /// one probe timeout. `None` if it never recovered.
    pub fn duration(&self) -> Option<Duration> {
        self.recovered.map(|r| r.saturating_sub(self.first_failed))
    }
}

/// Everything a probe loop recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// The target.
    pub target: SocketAddr,
    /// The transport.
    pub proto: ProbeProto,
    /// Every probe, in order.
    pub samples: Vec<Sample>,
}

impl ProbeReport {
    /// Number of answered probes.
    pub fn successes(&self) -> usize {
        self.samples.iter().filter(|s| s.ok()).count()
    }

    /// Number of failed probes.
    pub fn failures(&self) -> usize {
        self.samples.len() - self.successes()
    }

    /// Every run of consecutive failures, in order.
    pub fn outages(&self) -> Vec<Outage> {
        let mut out = Vec::new();
        let mut last_ok = None;
        let mut current: Option<Outage> = None;
        for s in &self.samples {
            if s.ok() {
                if let Some(mut o) = current.take() {
                    o.recovered = Some(s.at);
                    out.push(o);
                }
                last_ok = Some(s.at);
            } else {
                match &mut current {
                    Some(o) => o.failed += 1,
                    None => {
                        current = Some(Outage {
                            last_ok,
                            first_failed: s.at,
                            recovered: None,
                            failed: 1,
                        })
                    }
                }
            }
        }
        out.extend(current);
        out
    }

    /// The longest outage (an unrecovered one counts as longest).
    pub fn longest_outage(&self) -> Option<Outage> {
        self.outages()
            .into_iter()
            .max_by_key(|o| (o.recovered.is_none(), o.duration()))
    }

    /// Who answered over time: `(when, responder)` each time the responder changed.
    pub fn responder_changes(&self) -> Vec<(Duration, String)> {
        let mut out: Vec<(Duration, String)> = Vec::new();
        for s in &self.samples {
            if let Some(r) = s.responder()
                && out.last().is_none_or(|(_, prev)| prev != r)
            {
                out.push((s.at, r.to_string()));
            }
        }
        out
    }

    /// The responder of the last answered probe.
    pub fn last_responder(&self) -> Option<&str> {
        self.samples.iter().rev().find_map(Sample::responder)
    }
}

/// A running probe loop. Stop it with [`OutageProbe::stop`]; dropping it also stops the loop.
#[derive(Debug)]
pub struct OutageProbe {
    target: SocketAddr,
    proto: ProbeProto,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    handle: Option<JoinHandle<Result<Result<()>>>>,
}

impl OutageProbe {
    /// Starts probing `target` from inside `ns`.
    pub fn start(
        ns: &Netns,
        target: SocketAddr,
        proto: ProbeProto,
        opts: ProbeOptions,
    ) -> Result<OutageProbe> {
        if opts.interval.is_zero() || opts.timeout.is_zero() {
            return Err(LabError::Invalid(format!(
                "probe interval and timeout must be > 0: {opts:?}"
            )));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, st) = (samples.clone(), stop.clone());
        let handle = ns.spawn(&format!("probe-{target}"), move || {
            run_loop(target, proto, opts, &st, &s)
        })?;
        Ok(OutageProbe {
            target,
            proto,
            stop,
            samples,
            handle: Some(handle),
        })
    }

    /// What was recorded so far (the loop keeps running).
    pub fn snapshot(&self) -> ProbeReport {
        ProbeReport {
            target: self.target,
            proto: self.proto,
            samples: self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Waits until the samples satisfy `pred` (the loop keeps running), bounded by `timeout`.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&ProbeReport) -> bool,
    ) -> Result<()> {
        crate::wait::wait_for(what, timeout, || Ok(pred(&self.snapshot()).then_some(())))
    }

    /// Stops the loop and returns everything it recorded.
    pub fn stop(mut self) -> Result<ProbeReport> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join()
                .map_err(|_| LabError::Invalid(format!("probe thread for {} panicked", self.target)))???;
        }
        Ok(self.snapshot())
    }
}

impl Drop for OutageProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run_loop(
    target: SocketAddr,
    proto: ProbeProto,
    opts: ProbeOptions,
    stop: &AtomicBool,
    samples: &Mutex<Vec<Sample>>,
) -> Result<()> {
    let start = Instant::now();
    let max = opts.max_duration.min(MAX_PROBE_DURATION);
    let udp = match proto {
        ProbeProto::Udp => {
            let any = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let sock =
                UdpSocket::bind(any).map_err(|e| LabError::io(format!("probe socket for {target}"), e))?;
            Some(sock)
        }
        ProbeProto::Tcp => None,
    };
    let mut seq: u64 = 0;
    let mut next = start;
    while !stop.load(Ordering::Relaxed) && start.elapsed() < max {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        let sent = Instant::now();
        seq += 1;
        let result = match &udp {
            Some(sock) => udp_probe(sock, target, seq, opts.timeout),
            None => tcp_probe(target, opts.timeout),
        };
        let result = match result {
            Ok(responder) if !responder.is_empty() => SampleResult::Ok {
                responder,
                rtt: sent.elapsed(),
            },
            Ok(_) => SampleResult::Failed("empty".into()),
            Err(e) => SampleResult::Failed(classify(&e)),
        };
        samples.lock().unwrap_or_else(|e| e.into_inner()).push(Sample {
            at: sent - start,
            result,
        });
        // keep the cadence; after a slow probe, skip the slots it overran
        next += opts.interval;
        let now = Instant::now();
        if next < now {
            next = now;
        }
    }
    Ok(())
}

fn tcp_probe(target: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream.set_write_timeout(Some(left()))?;
    stream.write_all(b"GET / HTTP/1.0\r\nUser-Agent: flb-probe\r\n\r\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        stream.set_read_timeout(Some(left()))?;
        match stream.read(&mut chunk)? {
            0 => break,
            n if buf.len() < 64 * 1024 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let body = text.split_once("\r\n\r\n").map_or(&*text, |(_, b)| b);
    Ok(body
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string())
}

fn udp_probe(sock: &UdpSocket, target: SocketAddr, seq: u64, timeout: Duration) -> std::io::Result<String> {
    let deadline = Instant::now() + timeout;
    let payload = format!("flb-probe {seq}");
    sock.send_to(payload.as_bytes(), target)?;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        sock.set_read_timeout(Some(left))?;
        let (n, _) = sock.recv_from(&mut buf)?;
        let reply = String::from_utf8_lossy(&buf[..n]);
        if let Some(responder) = reply.trim().strip_suffix(payload.as_str()) {
            return Ok(responder.trim().to_string());
        }
        // a late reply to an earlier probe: keep waiting for ours
    }
}

fn classify(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => "timeout".into(),
        K::ConnectionRefused => "refused".into(),
        K::ConnectionReset | K::ConnectionAborted => "reset".into(),
        K::HostUnreachable | K::NetworkUnreachable => "unreachable".into(),
        _ => e.to_string(),
    }
}

impl Lab {
    /// Starts an outage probe loop from `from` to `target`.
    pub fn start_probe(
        &self,
        from: &str,
        target: SocketAddr,
        proto: ProbeProto,
        opts: ProbeOptions,
    ) -> Result<OutageProbe> {
        OutageProbe::start(self.try_host(from)?.ns(), target, proto, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(pattern: &str) -> ProbeReport {
        // one char per 10 ms probe: a/b = answered by node a/b, x = failed
        let samples = pattern
            .chars()
            .enumerate()
            .map(|(i, c)| Sample {
                at: Duration::from_millis(10 * i as u64),
                result: if c == 'x' {
                    SampleResult::Failed("timeout".into())
                } else {
                    SampleResult::Ok {
                        responder: format!("node{c}"),
                        rtt: Duration::from_micros(200),
                    }
                },
            })
            .collect();
        ProbeReport {
            target: "192.0.2.100:80".parse().unwrap(),
            proto: ProbeProto::Tcp,
            samples,
        }
    }

    #[test]
    fn no_failures_no_outage() {
        let r = report("aaaa");
        assert!(r.outages().is_empty());
        assert_eq!(r.longest_outage(), None);
        assert_eq!((r.successes(), r.failures()), (4, 0));
    }

    #[test]
    fn outages_are_runs_of_failures() {
        let r = report("aaxxxbbxb");
        let o = r.outages();
        assert_eq!(o.len(), 2);
        assert_eq!(
            o[0],
            Outage {
                last_ok: Some(Duration::from_millis(10)),
                first_failed: Duration::from_millis(20),
                recovered: Some(Duration::from_millis(50)),
                failed: 3
            }
        );
        assert_eq!(o[0].duration(), Some(Duration::from_millis(30)));
        assert_eq!(r.longest_outage().unwrap().failed, 3);
        assert_eq!(
            r.responder_changes()
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>(),
            ["nodea", "nodeb"]
        );
        assert_eq!(r.last_responder(), Some("nodeb"));
    }

    #[test]
    fn unrecovered_and_initial_failures() {
        let r = report("xxaax");
        let o = r.outages();
        assert_eq!(o[0].last_ok, None);
        assert_eq!(o[0].duration(), Some(Duration::from_millis(20)));
        assert_eq!(o[1].recovered, None);
        assert_eq!(
            r.longest_outage().unwrap().recovered,
            None,
            "unrecovered counts as longest"
        );
    }

    #[test]
    fn errors_are_classified() {
        assert_eq!(classify(&std::io::ErrorKind::TimedOut.into()), "timeout");
        assert_eq!(classify(&std::io::ErrorKind::ConnectionRefused.into()), "refused");
    }
}
