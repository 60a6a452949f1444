//! Helpers shared by the lab's self-tests.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ferrolb_netlab::Lab;

/// Sends one UDP datagram from `from` to `to`'s address (family `v6`) at `port`, and says whether
/// it arrived (with `from`'s address as source) within `wait`.
pub fn udp_reaches(lab: &Lab, from: &str, to: &str, port: u16, v6: bool, wait: Duration) -> bool {
    let dst = SocketAddr::new(lab.host(to).addr(v6), port);
    let rx = lab.host(to).ns().udp_socket(dst).expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let any: SocketAddr = if v6 {
        "[::]:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    };
    let tx = lab.host(from).ns().udp_socket(any).expect("bind sender");
    let expected_src: IpAddr = lab.host(from).addr(v6);
    let start = Instant::now();
    let mut buf = [0u8; 64];
    // resend every 100 ms: the first datagram may wait for ARP/NDP resolution
    let mut next_send = start;
    while start.elapsed() < wait {
        if Instant::now() >= next_send {
            tx.send_to(b"ping", dst).expect("send");
            next_send += Duration::from_millis(100);
        }
        if let Ok((n, src)) = rx.recv_from(&mut buf) {
            return &buf[..n] == b"ping" && src.ip() == expected_src;
        }
    }
    false
}

/// Prints a timing line on the real stderr (past libtest's capture, so it always shows).
pub fn timing(what: &str, d: Duration) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "timing: {what}: {:.3} s",
        d.as_secs_f64()
    );
}
