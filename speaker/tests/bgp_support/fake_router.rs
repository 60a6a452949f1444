//! A scripted BGP router on loopback, built on ferrolb-proto: it accepts the speaker's connection, plays
//! its side of the handshake, and lets a test read and send messages, or raw bytes.

#![allow(dead_code)] // each test binary uses a part

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrolb_proto::bgp::{
    Capabilities, CodecContext, Family, Framer, GracefulRestart, Message, Open, Update,
};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on every wait of the fake router.
pub const WAIT: Duration = Duration::from_secs(5);

/// A listening fake router.
pub struct FakeRouter {
    listener: TcpListener,
    pub asn: u32,
    pub router_id: Ipv4Addr,
}

impl FakeRouter {
    /// Listens on `ip`, an ephemeral port; with a TCP MD5 key for `md5.0` if given.
    pub async fn bind(ip: IpAddr, asn: u32, md5: Option<(IpAddr, &str)>) -> FakeRouter {
        let socket = Socket::new(
            Domain::for_address(SocketAddr::new(ip, 0)),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .unwrap();
        socket.set_reuse_address(true).unwrap();
        if let Some((peer, key)) = md5 {
            ferrolb_speaker::bgp::sockopt::set_tcp_md5sig(&socket, peer, key.as_bytes()).unwrap();
        }
        socket.bind(&SocketAddr::new(ip, 0).into()).unwrap();
        socket.listen(16).unwrap();
        socket.set_nonblocking(true).unwrap();
        let listener = TcpListener::from_std(socket.into()).unwrap();
        FakeRouter {
            listener,
            asn,
            router_id: Ipv4Addr::new(192, 0, 2, 1),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// The next connection, within `within`.
    pub async fn accept_within(&self, within: Duration) -> Option<FakeConn> {
        match tokio::time::timeout(within, self.listener.accept()).await {
            Ok(Ok((stream, _))) => Some(FakeConn::new(stream)),
            _ => None,
        }
    }

    /// The next connection (panics after [`WAIT`]).
    pub async fn accept(&self) -> FakeConn {
        self.accept_within(WAIT).await.expect("the speaker connects")
    }

    /// Accepts and completes the handshake with graceful restart and IPv4 + IPv6 unicast.
    pub async fn accept_established(&self, hold_time: u16) -> (FakeConn, Open) {
        let mut conn = self.accept().await;
        let open = conn.handshake(self.asn, self.router_id, hold_time).await;
        (conn, open)
    }
}

/// One accepted connection.
pub struct FakeConn {
    pub stream: TcpStream,
    framer: Framer,
    pub cxt: CodecContext,
}

impl FakeConn {
    fn new(stream: TcpStream) -> FakeConn {
        FakeConn {
            stream,
            framer: Framer::new(),
            cxt: CodecContext::default(),
        }
    }

    /// The next message, or `None` if the connection closed (or nothing came within `within`).
    pub async fn recv_within(&mut self, within: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + within;
        let mut buf = vec![0u8; 65536];
        loop {
            if let Some(raw) = self.framer.next_message().expect("the speaker frames correctly") {
                return Some(Message::decode(raw, &self.cxt).expect("the speaker's message decodes"));
            }
            match tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.framer.push(&buf[..n]),
            }
        }
    }

    /// The next message (panics if none within [`WAIT`]).
    pub async fn recv(&mut self) -> Message {
        self.recv_within(WAIT).await.expect("a message from the speaker")
    }

    /// The next message that is not a KEEPALIVE.
    pub async fn recv_significant(&mut self) -> Message {
        loop {
            match self.recv().await {
                Message::Keepalive => continue,
                m => return m,
            }
        }
    }

    pub async fn send(&mut self, msg: Message) {
        let bytes = msg.encode(&self.cxt).unwrap();
        self.send_raw(&bytes).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Receives the speaker's OPEN, answers with ours and a KEEPALIVE, and waits for its KEEPALIVE.
    pub async fn handshake(&mut self, asn: u32, router_id: Ipv4Addr, hold_time: u16) -> Open {
        let Message::Open(theirs) = self.recv().await else {
            panic!("OPEN first")
        };
        let caps = Capabilities {
            multiprotocol: vec![Family::Ipv4Unicast, Family::Ipv6Unicast],
            route_refresh: true,
            graceful_restart: Some(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 120,
                families: vec![],
            }),
            ..Capabilities::default()
        };
        self.send(Message::Open(Open::new(asn, hold_time, router_id, caps)))
            .await;
        self.send(Message::Keepalive).await;
        assert_eq!(
            self.recv().await,
            Message::Keepalive,
            "KEEPALIVE confirms our OPEN"
        );
        theirs
    }

    /// Receives the speaker's OPEN and answers with an OPEN from AS `asn` (which the speaker refuses).
    pub async fn handshake_refused(&mut self, asn: u32) {
        let Message::Open(_) = self.recv().await else {
            panic!("OPEN first")
        };
        let caps = Capabilities {
            multiprotocol: vec![Family::Ipv4Unicast],
            ..Capabilities::default()
        };
        self.send(Message::Open(Open::new(
            asn,
            9,
            Ipv4Addr::new(192, 0, 2, 1),
            caps,
        )))
        .await;
    }

    /// UPDATEs up to and including the End-of-RIB of `family`.
    pub async fn recv_until_end_of_rib(&mut self, family: Family) -> Vec<Update> {
        let mut updates = Vec::new();
        loop {
            match self.recv_significant().await {
                Message::Update(u) => {
                    let eor = u.is_end_of_rib() == Some(family);
                    updates.push(u);
                    if eor {
                        return updates;
                    }
                }
                other => panic!("expected UPDATEs, got {other:?}"),
            }
        }
    }

    /// Waits for the speaker to close the connection; returns the messages sent before.
    pub async fn until_closed(&mut self) -> Vec<Message> {
        let mut seen = Vec::new();
        while let Some(m) = self.recv_within(WAIT).await {
            seen.push(m);
            assert!(seen.len() < 1000, "the connection stays open");
        }
        seen
    }
}
