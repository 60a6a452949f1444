//! Opening the TCP connection to a peer: socket options first (TCP MD5, TTL, DSCP CS6, no Nagle), then bind
//! and a non-blocking connect.
//!
//! Sockets come from a [`SocketFactory`], by default an ordinary socket in the process's own network namespace
//! (TCP for BGP, UDP for BFD). Tests that run several speakers in one process pass a factory that creates each
//! node's sockets inside that node's network namespace; the rest of the code does not care where a socket was
//! made.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

use super::peer::Transport;
use super::sockopt;

/// DSCP CS6 (network control), as routers mark their own BGP packets.
const TOS_CS6: u32 = 0xc0;

/// The function behind a [`SocketFactory`].
type MakeSocket = dyn Fn(Domain, Type, Option<Protocol>) -> io::Result<Socket> + Send + Sync;

/// Creates the (blocking, unbound) sockets of the speaker's sessions: TCP for BGP connections, UDP for BFD. It
/// must return promptly: it runs on the session's task.
#[derive(Clone)]
pub struct SocketFactory(Arc<MakeSocket>);

impl SocketFactory {
    /// A factory from a function (`socket(2)`'s domain, type and protocol).
    pub fn new(
        f: impl Fn(Domain, Type, Option<Protocol>) -> io::Result<Socket> + Send + Sync + 'static,
    ) -> SocketFactory {
        SocketFactory(Arc::new(f))
    }

    /// A socket of this domain, type and protocol.
    pub fn create(&self, domain: Domain, ty: Type, protocol: Option<Protocol>) -> io::Result<Socket> {
        (self.0)(domain, ty, protocol)
    }
}

impl Default for SocketFactory {
    /// Sockets in the process's own network namespace.
    fn default() -> Self {
        SocketFactory::new(Socket::new)
    }
}

impl fmt::Debug for SocketFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SocketFactory")
    }
}

/// Why a connection could not be made. The labels are metric and log labels.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The socket could not be created or configured.
    #[error("socket for {remote}: {what}: {source}")]
    Socket {
        /// The peer.
        remote: SocketAddr,
        /// Which step.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The configured source address cannot be bound.
    #[error("binding source address {addr} for {remote}: {source}")]
    Bind {
        /// The peer.
        remote: SocketAddr,
        /// The source address.
        addr: IpAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The peer did not accept the connection.
    #[error("connecting to {remote}: {source}")]
    Connect {
        /// The peer.
        remote: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl ConnectError {
    /// The router answered with a reset (connection refused).
    pub fn is_refused(&self) -> bool {
        matches!(self, ConnectError::Connect { source, .. } if source.kind() == io::ErrorKind::ConnectionRefused)
    }

    /// A short, stable label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ConnectError::Socket { .. } => "socket",
            ConnectError::Bind { .. } => "bind",
            ConnectError::Connect { .. } => "connect",
        }
    }
}

/// Creates, configures, binds and connects a socket to `t.remote`.
pub async fn connect(t: &Transport, factory: &SocketFactory) -> Result<TcpStream, ConnectError> {
    let socket = configured_socket(t, factory)?;
    let socket = TcpSocket::from_std_stream(std::net::TcpStream::from(socket));
    socket
        .connect(t.remote)
        .await
        .map_err(|source| ConnectError::Connect {
            remote: t.remote,
            source,
        })
}

/// The socket with every option set and bound, ready to connect (public for tests).
pub fn configured_socket(t: &Transport, factory: &SocketFactory) -> Result<Socket, ConnectError> {
    let remote = t.remote;
    let err = |what| move |source| ConnectError::Socket { remote, what, source };
    let socket = factory
        .create(Domain::for_address(remote), Type::STREAM, Some(Protocol::TCP))
        .map_err(err("create"))?;
    socket.set_nonblocking(true).map_err(err("non-blocking"))?;
    if let Some(password) = &t.md5_password {
        sockopt::set_tcp_md5sig(&socket, remote.ip(), password.as_bytes()).map_err(err("TCP_MD5SIG"))?;
    }
    if let Some(ttl) = t.ttl {
        match remote {
            SocketAddr::V4(_) => socket.set_ttl_v4(ttl).map_err(err("IP_TTL"))?,
            SocketAddr::V6(_) => socket
                .set_unicast_hops_v6(ttl)
                .map_err(err("IPV6_UNICAST_HOPS"))?,
        }
    }
    // best effort: a router still works without priority marking or with Nagle
    let _ = match remote {
        SocketAddr::V4(_) => socket.set_tos_v4(TOS_CS6),
        SocketAddr::V6(_) => socket.set_tclass_v6(TOS_CS6),
    };
    let _ = socket.set_tcp_nodelay(true);
    if let Some(addr) = t.bind {
        match socket.bind(&SocketAddr::new(addr, 0).into()) {
            Ok(()) => {}
            Err(source) if t.bind_required || source.kind() != io::ErrorKind::AddrNotAvailable => {
                return Err(ConnectError::Bind { remote, addr, source });
            }
            Err(_) => {
                tracing::debug!(%remote, %addr, "node address is not local; the kernel chooses the source");
            }
        }
    }
    Ok(socket)
}
