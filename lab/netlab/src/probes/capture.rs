//! Packet captures with `tcpdump` on a host's `eth0` (e.g. to see the gratuitous ARP or the
//! unsolicited Neighbor Advertisement a speaker sends on takeover).

use std::time::Duration;

use crate::error::Result;
use crate::lab::Lab;
use crate::prereq::tool_path;
use crate::supervisor::{Process, ProcessSpec};

/// A running capture. Dropping it stops `tcpdump`.
#[derive(Debug)]
pub struct Capture {
    process: Process,
}

/// Whether a line of tcpdump's combined output is a packet (not a banner or a summary).
fn is_packet_line(line: &str) -> bool {
    !(line.trim().is_empty()
        || line.starts_with("tcpdump:")
        || line.starts_with("listening on")
        || line.contains("packets captured")
        || line.contains("packets received by filter")
        || line.contains("packets dropped by kernel"))
}

impl Capture {
    /// Packet lines captured so far (`tcpdump -nn -e` format: MACs, then the decoded packet).
    pub fn lines(&self) -> Vec<String> {
        self.process
            .log()
            .lines()
            .filter(|l| is_packet_line(l))
            .map(str::to_string)
            .collect()
    }

    /// Waits until a captured line satisfies `pred`; returns it.
    pub fn wait_for_line(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String> {
        crate::wait::wait_for(what, timeout, || {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return Ok(Some(l));
            }
            self.process.ensure_running(what)?;
            Ok(None)
        })
    }

    /// Stops tcpdump and returns every packet line.
    pub fn stop(self) -> Result<Vec<String>> {
        self.process.stop(Duration::from_secs(2))?;
        Ok(self.lines())
    }
}

impl Lab {
    /// Starts `tcpdump -l -nn -e -i eth0 <filter>` on `host` (log `<dir>/<name>.log`) and waits
    /// until the capture is live.
    pub fn capture(&self, host: &str, name: &str, filter: &str) -> Result<Capture> {
        self.capture_on(host, "eth0", name, filter)
    }

    /// [`Lab::capture`] on `host`'s interface `iface`.
    pub fn capture_on(&self, host: &str, iface: &str, name: &str, filter: &str) -> Result<Capture> {
        let spec = ProcessSpec::new(name, tool_path("tcpdump"))
            .args(["-l", "-nn", "-e", "-i", iface])
            .args(filter.split_whitespace());
        let process = self.spawn(host, &spec)?;
        process.wait_for_log("listening on", Duration::from_secs(5))?;
        Ok(Capture { process })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_are_not_packets() {
        assert!(!is_packet_line(
            "tcpdump: verbose output suppressed, use -v[v]... for full protocol decode"
        ));
        assert!(!is_packet_line(
            "listening on eth0, link-type EN10MB (Ethernet), snapshot length 262144 bytes"
        ));
        assert!(!is_packet_line("2 packets captured"));
        assert!(is_packet_line(
            "16:47:41.1 da:21:b3:3c:dc:9d > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 192.0.2.100 tell 192.0.2.100, length 28"
        ));
    }
}
