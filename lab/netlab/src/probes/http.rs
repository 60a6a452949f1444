//! `curl` through a VIP, from any lab host (as an operator would check a Service).

use std::net::IpAddr;
use std::time::Duration;

use crate::error::Result;
use crate::lab::Lab;

/// Options for [`Lab::curl_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurlOptions {
    /// Whole-transfer timeout (`curl -m`).
    pub timeout: Duration,
    /// Fixed source port (`--local-port`); `None` lets the kernel pick a random one, which varies
    /// the ECMP hash from one call to the next.
    pub local_port: Option<u16>,
}

impl Default for CurlOptions {
    fn default() -> Self {
        CurlOptions {
            timeout: Duration::from_secs(3),
            local_port: None,
        }
    }
}

/// `http://ip:port/`, with brackets for IPv6.
pub fn http_url(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/"),
    }
}

impl Lab {
    /// `curl` `url` from `from`; returns the body (trimmed). Fails with curl's message on any error.
    pub fn curl(&self, from: &str, url: &str) -> Result<String> {
        self.curl_with(from, url, &CurlOptions::default())
    }

    /// `curl` with options.
    pub fn curl_with(&self, from: &str, url: &str, opts: &CurlOptions) -> Result<String> {
        let secs = format!("{:.3}", opts.timeout.as_secs_f64());
        let mut cmd = self.cmd(from, "curl")?.args(["-sS", "-g", "-m", &secs]);
        if let Some(port) = opts.local_port {
            cmd = cmd.args(["--local-port", &port.to_string()]);
        }
        let out = cmd
            .arg(url)
            .timeout(opts.timeout + Duration::from_secs(2))
            .run()?;
        Ok(out.stdout.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            http_url("192.0.2.100".parse().unwrap(), 80),
            "http://192.0.2.100:80/"
        );
        assert_eq!(
            http_url("2001:db8::100".parse().unwrap(), 8080),
            "http://[2001:db8::100]:8080/"
        );
    }
}
