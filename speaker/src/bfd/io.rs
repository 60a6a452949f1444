//! The BFD sockets: one receive socket per port and family (bound to the wildcard address, reporting each
//! packet's TTL), one transmit socket per session (bound to the session's source address and a port of its own
//! in 49152–65535, TTL / hop limit 255, DSCP CS6).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ferrolb_proto::bfd::{SOURCE_PORTS, TTL};
use socket2::{Domain, Protocol, Socket, Type};

use crate::bgp::SocketFactory;
use crate::socket::ttl::enable_receive_ttl;

/// DSCP CS6 (network control), as routers mark their BFD packets.
const TOS_CS6: u32 = 0xc0;
/// Source ports tried before giving up.
const PORT_ATTEMPTS: u32 = 64;

/// Why a BFD socket could not be made. The labels are log labels.
#[derive(Debug, thiserror::Error)]
pub enum BfdSocketError {
    /// Creating or configuring the socket failed.
    #[error("BFD socket: {what}: {source}")]
    Socket {
        /// Which step.
        what: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The receive port is taken (another BFD daemon on the node?) or cannot be bound.
    #[error("binding UDP port {port} to receive BFD packets: {source}")]
    ReceivePort {
        /// 3784 or 4784.
        port: u16,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The configured source address cannot be bound.
    #[error("binding BFD source address {addr}: {source}")]
    Bind {
        /// The address.
        addr: IpAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// No free source port found.
    #[error("no free BFD source port in 49152-65535 after {PORT_ATTEMPTS} attempts")]
    NoSourcePort,
}

fn step(what: &'static str) -> impl FnOnce(io::Error) -> BfdSocketError {
    move |source| BfdSocketError::Socket { what, source }
}

fn udp(factory: &SocketFactory, ipv6: bool) -> Result<Socket, BfdSocketError> {
    let domain = if ipv6 { Domain::IPV6 } else { Domain::IPV4 };
    let socket = factory
        .create(domain, Type::DGRAM, Some(Protocol::UDP))
        .map_err(step("create"))?;
    socket.set_nonblocking(true).map_err(step("non-blocking"))?;
    Ok(socket)
}

/// The socket that receives every BFD packet of one family sent to `port` (3784 or 4784), with its TTL.
/// Non-blocking; to be registered with a runtime.
pub fn receive_socket(
    factory: &SocketFactory,
    ipv6: bool,
    port: u16,
) -> Result<std::net::UdpSocket, BfdSocketError> {
    let socket = udp(factory, ipv6)?;
    let any = if ipv6 {
        socket.set_only_v6(true).map_err(step("IPV6_V6ONLY"))?;
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    enable_receive_ttl(&socket, ipv6).map_err(step("IP_RECVTTL / IPV6_RECVHOPLIMIT"))?;
    socket
        .bind(&SocketAddr::new(any, port).into())
        .map_err(|source| BfdSocketError::ReceivePort { port, source })?;
    Ok(socket.into())
}

/// The socket one session sends from: `local` (or the kernel's choice when `local` is not on this node and not
/// `required`), a free port in 49152–65535 tried from one derived from `seed`, TTL / hop limit 255.
pub fn transmit_socket(
    factory: &SocketFactory,
    peer: IpAddr,
    local: Option<IpAddr>,
    required: bool,
    seed: u32,
) -> Result<std::net::UdpSocket, BfdSocketError> {
    let ipv6 = peer.is_ipv6();
    let socket = udp(factory, ipv6)?;
    if ipv6 {
        socket
            .set_unicast_hops_v6(u32::from(TTL))
            .map_err(step("IPV6_UNICAST_HOPS"))?;
        let _ = socket.set_tclass_v6(TOS_CS6);
    } else {
        socket.set_ttl_v4(u32::from(TTL)).map_err(step("IP_TTL"))?;
        let _ = socket.set_tos_v4(TOS_CS6);
    }
    let unspecified = if ipv6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let mut addr = local.filter(|a| a.is_ipv6() == ipv6).unwrap_or(unspecified);
    let span = u32::from(SOURCE_PORTS.end() - SOURCE_PORTS.start()) + 1;
    for attempt in 0..PORT_ATTEMPTS {
        let offset = (seed.wrapping_add(attempt.wrapping_mul(7919))) % span;
        let port = SOURCE_PORTS.start() + offset as u16;
        match socket.bind(&SocketAddr::new(addr, port).into()) {
            Ok(()) => return Ok(socket.into()),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable && !required && addr != unspecified => {
                tracing::debug!(%peer, %addr, "BFD source address is not local; the kernel chooses");
                addr = unspecified;
            }
            Err(source) => return Err(BfdSocketError::Bind { addr, source }),
        }
    }
    Err(BfdSocketError::NoSourcePort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_sockets_use_ttl_255_and_distinct_high_ports() {
        let f = SocketFactory::default();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let a = transmit_socket(&f, lo, Some(lo), true, 1).unwrap();
        let b = transmit_socket(&f, lo, Some(lo), true, 1).unwrap();
        let (pa, pb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_ne!(pa.port(), pb.port(), "the second takes the next free port");
        for p in [pa, pb] {
            assert!(SOURCE_PORTS.contains(&p.port()) && p.ip() == lo, "{p}");
        }
        assert_eq!(a.ttl().unwrap(), 255);
        // a node address that is not local: the kernel chooses, unless required
        let foreign: IpAddr = "192.0.2.250".parse().unwrap();
        let c = transmit_socket(&f, lo, Some(foreign), false, 9).unwrap();
        assert!(c.local_addr().unwrap().ip().is_unspecified());
        assert!(matches!(
            transmit_socket(&f, lo, Some(foreign), true, 9),
            Err(BfdSocketError::Bind { .. })
        ));
        let v6 = transmit_socket(&f, "::1".parse().unwrap(), None, false, 3).unwrap();
        assert!(v6.local_addr().unwrap().is_ipv6());
    }
}
