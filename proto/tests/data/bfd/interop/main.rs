//! One ferrolb BFD session (single hop, 100 ms × 3) over real UDP sockets against a router, with a script:
//! at 5 s the intervals go to 300 ms (a Poll Sequence), at 7 s back to 100 ms, at 9 s AdminDown, at 11 s
//! AdminUp; it prints every event and exits after SECONDS, which the router must detect.
//!
//! usage: bfd-interop LOCAL-IP PEER-IP DISCRIMINATOR SECONDS
//!
//! The received TTL is taken as 255 (std sockets cannot read it); the router and this driver share a veth.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ferrolb_proto::bfd::{Action, Diag, Intervals, SINGLE_HOP_PORT, Session, SessionConfig, TTL};

fn intervals(ms: u64) -> Intervals {
    Intervals {
        desired_min_tx: Duration::from_millis(ms),
        required_min_rx: Duration::from_millis(ms),
        detect_mult: 3,
    }
}

/// Sends the packets and prints the other actions.
fn carry_out(actions: Vec<Action>, tx: &UdpSocket, peer: IpAddr, t0: Instant, sent: &mut u32) {
    for action in actions {
        match action {
            Action::Send(bytes) => {
                tx.send_to(&bytes, SocketAddr::new(peer, SINGLE_HOP_PORT))
                    .expect("send");
                *sent += 1;
            }
            other => println!("{:7.3} {other:?}", t0.elapsed().as_secs_f64()),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let local: IpAddr = args[1].parse().expect("local address");
    let peer: IpAddr = args[2].parse().expect("peer address");
    let discriminator: u32 = args[3].parse().expect("discriminator");
    let end = Duration::from_secs(args[4].parse().expect("seconds"));
    let rx = UdpSocket::bind(SocketAddr::new(local, SINGLE_HOP_PORT)).expect("bind 3784");
    let tx = UdpSocket::bind(SocketAddr::new(local, 49152)).expect("bind 49152");
    tx.set_ttl(u32::from(TTL)).expect("TTL 255");
    let t0 = Instant::now();
    let mut config = SessionConfig::new(discriminator);
    config.intervals = intervals(100);
    let mut s = Session::new(config, t0).expect("valid");
    let mut script = vec![(5, "300 ms"), (7, "100 ms"), (9, "admin down"), (11, "admin up")];
    let mut buf = [0u8; 1500];
    let (mut sent, mut received) = (0u32, 0u32);
    while t0.elapsed() < end {
        if let Some(&(at, what)) = script.first()
            && t0.elapsed() >= Duration::from_secs(at)
        {
            script.remove(0);
            let now = Instant::now();
            println!("{:7.3} script: {what}", (now - t0).as_secs_f64());
            let actions = match what {
                "300 ms" => s
                    .set_intervals(now, intervals(300))
                    .map(|()| Vec::new())
                    .expect("valid"),
                "100 ms" => s
                    .set_intervals(now, intervals(100))
                    .map(|()| Vec::new())
                    .expect("valid"),
                "admin down" => s.admin_down(now, Diag::AdministrativelyDown),
                _ => s.admin_up(now),
            };
            carry_out(actions, &tx, peer, t0, &mut sent);
        }
        let now = Instant::now();
        let wait = s
            .next_deadline()
            .map_or(Duration::from_millis(50), |d| d.saturating_duration_since(now))
            .clamp(Duration::from_micros(100), Duration::from_millis(50));
        rx.set_read_timeout(Some(wait)).expect("timeout");
        if let Ok((n, from)) = rx.recv_from(&mut buf)
            && from.ip() == peer
        {
            received += 1;
            match s.receive(Instant::now(), &buf[..n], TTL) {
                Ok(actions) => carry_out(actions, &tx, peer, t0, &mut sent),
                Err(discard) => println!("{:7.3} discarded: {discard}", t0.elapsed().as_secs_f64()),
            }
        }
        let now = Instant::now();
        if s.next_deadline().is_some_and(|d| d <= now) {
            let actions = s.on_timer(now);
            carry_out(actions, &tx, peer, t0, &mut sent);
        }
    }
    println!(
        "end: {:?}, peer {:?}, transmit interval {:?}, detection time {:?}, {sent} sent, {received} received",
        s.state(),
        s.remote(),
        s.transmit_interval(),
        s.detection_time()
    );
}
