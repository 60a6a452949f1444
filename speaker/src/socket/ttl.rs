//! Datagrams with the TTL / hop limit they arrived with: what BFD needs to check that a packet was sent by a
//! directly connected neighbour (RFC 5881 §5, GTSM) or from at most `255 - minimumTtl` hops away (RFC 5883).
//!
//! No safe crate offers both halves: [`enable_receive_ttl`] sets `IP_RECVTTL` / `IPV6_RECVHOPLIMIT` (one
//! `setsockopt`), and [`recv_with_ttl`] is one `recvmsg(2)` into buffers of this module. The source address
//! and the control messages are then read from those buffers by safe code ([`parse_sockaddr`],
//! [`parse_ttl`]) that the unit tests check byte by byte, as the kernel lays them out
//! (`struct sockaddr_in`, `struct sockaddr_in6`, `struct cmsghdr` with `CMSG_ALIGN` padding).

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

use super::setsockopt;

/// A datagram received by [`recv_with_ttl`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Bytes written to the buffer.
    pub len: usize,
    /// The datagram was longer than the buffer (the rest is lost).
    pub truncated: bool,
    /// Who sent it.
    pub from: Option<SocketAddr>,
    /// Its IP TTL or IPv6 hop limit (`None`: the socket does not report it).
    pub ttl: Option<u8>,
}

/// Asks the kernel to report the TTL (`IP_RECVTTL`, IPv4) or hop limit (`IPV6_RECVHOPLIMIT`, IPv6) of every
/// datagram `socket` receives.
pub fn enable_receive_ttl(socket: &impl AsRawFd, ipv6: bool) -> io::Result<()> {
    let on: libc::c_int = 1;
    if ipv6 {
        setsockopt(socket, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)
    } else {
        setsockopt(socket, libc::IPPROTO_IP, libc::IP_RECVTTL, &on)
    }
}

/// `struct sockaddr_storage`: room and alignment for any address the kernel writes.
#[repr(C, align(8))]
struct AddrBuf([u8; size_of::<libc::sockaddr_storage>()]);

/// Room for the TTL control message (and one more, should the socket report something else too), aligned
/// like `struct cmsghdr`.
#[repr(C, align(8))]
struct ControlBuf([u8; 64]);

/// Receives one datagram into `buf` without blocking (`MSG_DONTWAIT`): `WouldBlock` when none is queued.
pub fn recv_with_ttl(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut addr = AddrBuf([0; size_of::<libc::sockaddr_storage>()]);
    let mut control = ControlBuf([0; 64]);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: all-zero bytes are a valid `msghdr` (null pointers, zero lengths); the fields that matter are
    // set just below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = addr.0.as_mut_ptr().cast();
    msg.msg_namelen = addr.0.len() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` points to `iov` (describing `buf`, exclusively borrowed), `addr` and `control`, all live
    // locals of the stated lengths that outlive the call; the kernel writes at most those lengths into them.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut msg, libc::MSG_DONTWAIT) };
    let Ok(len) = usize::try_from(n) else {
        return Err(io::Error::last_os_error());
    };
    let name_len = (msg.msg_namelen as usize).min(addr.0.len());
    let control_len = (msg.msg_controllen as usize).min(control.0.len());
    Ok(Received {
        len: len.min(buf.len()),
        truncated: msg.msg_flags & libc::MSG_TRUNC != 0,
        from: parse_sockaddr(&addr.0[..name_len]),
        ttl: parse_ttl(&control.0[..control_len]),
    })
}

/// The address in a `struct sockaddr_in` or `struct sockaddr_in6` (family in host order, port and address in
/// network order).
pub fn parse_sockaddr(b: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes([*b.first()?, *b.get(1)?]));
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match family {
        libc::AF_INET => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        libc::AF_INET6 => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(a)), port))
        }
        _ => None,
    }
}

/// `CMSG_ALIGN`: control message headers and data are aligned to the size of `size_t`.
const fn cmsg_align(len: usize) -> usize {
    (len + size_of::<usize>() - 1) & !(size_of::<usize>() - 1)
}

/// The TTL (`IPPROTO_IP`/`IP_TTL`) or hop limit (`IPPROTO_IPV6`/`IPV6_HOPLIMIT`) among the control messages
/// in `control`: each a `struct cmsghdr` (`size_t cmsg_len; int cmsg_level; int cmsg_type;`) followed by its
/// data (here an `int`), the next one at `CMSG_ALIGN(cmsg_len)`.
pub fn parse_ttl(control: &[u8]) -> Option<u8> {
    const LEN: usize = size_of::<usize>();
    const INT: usize = size_of::<libc::c_int>();
    let header = cmsg_align(LEN + 2 * INT);
    let int_at =
        |at: usize| -> Option<i32> { Some(i32::from_ne_bytes(control.get(at..at + INT)?.try_into().ok()?)) };
    let mut at = 0;
    while at + header <= control.len() {
        let len = usize::from_ne_bytes(control.get(at..at + LEN)?.try_into().ok()?);
        if len < header {
            return None; // malformed: would not advance
        }
        let (level, ty) = (int_at(at + LEN)?, int_at(at + LEN + INT)?);
        let ttl = (level == libc::IPPROTO_IP && ty == libc::IP_TTL)
            || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_HOPLIMIT);
        if ttl && len >= header + INT {
            return u8::try_from(int_at(at + header)?).ok();
        }
        at += cmsg_align(len);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, value: i32) -> Vec<u8> {
        let header = cmsg_align(size_of::<usize>() + 8);
        let mut b = Vec::new();
        b.extend_from_slice(&(header + 4).to_ne_bytes());
        b.extend_from_slice(&level.to_ne_bytes());
        b.extend_from_slice(&ty.to_ne_bytes());
        b.resize(header, 0);
        b.extend_from_slice(&value.to_ne_bytes());
        b.resize(cmsg_align(header + 4), 0);
        b
    }

    #[test]
    fn the_ttl_control_message_is_found_after_others() {
        assert_eq!(parse_ttl(&cmsg(libc::IPPROTO_IP, libc::IP_TTL, 255)), Some(255));
        assert_eq!(
            parse_ttl(&cmsg(libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, 64)),
            Some(64)
        );
        let mut two = cmsg(libc::IPPROTO_IP, libc::IP_TOS, 0xc0);
        two.extend(cmsg(libc::IPPROTO_IP, libc::IP_TTL, 254));
        assert_eq!(parse_ttl(&two), Some(254));
        assert_eq!(parse_ttl(&[]), None);
        assert_eq!(parse_ttl(&cmsg(libc::IPPROTO_IP, libc::IP_TOS, 1)), None);
        let mut zero_len = cmsg(libc::IPPROTO_IP, libc::IP_TTL, 1);
        zero_len[..size_of::<usize>()].fill(0);
        assert_eq!(parse_ttl(&zero_len), None, "a zero length never loops");
        let truncated = &cmsg(libc::IPPROTO_IP, libc::IP_TTL, 1)[..cmsg_align(size_of::<usize>() + 8) + 2];
        assert_eq!(parse_ttl(truncated), None);
    }

    #[test]
    fn socket_addresses_in_kernel_layout() {
        let mut v4 = vec![0u8; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        v4[2..4].copy_from_slice(&3784u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[192, 0, 2, 1]);
        assert_eq!(parse_sockaddr(&v4), Some("192.0.2.1:3784".parse().unwrap()));
        let mut v6 = vec![0u8; 28];
        v6[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        v6[2..4].copy_from_slice(&49152u16.to_be_bytes());
        v6[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        assert_eq!(parse_sockaddr(&v6), Some("[2001:db8::1]:49152".parse().unwrap()));
        assert_eq!(parse_sockaddr(&v6[..20]), None);
        assert_eq!(parse_sockaddr(&[0; 16]), None);
    }

    #[test]
    fn ttl_and_hop_limit_of_loopback_datagrams() {
        for (ipv6, ttl) in [(false, 255u32), (false, 17), (true, 255), (true, 3)] {
            let any = if ipv6 { "[::1]:0" } else { "127.0.0.1:0" };
            let rx = std::net::UdpSocket::bind(any).unwrap();
            enable_receive_ttl(&rx, ipv6).unwrap();
            let tx = socket2::Socket::new(
                socket2::Domain::for_address(rx.local_addr().unwrap()),
                socket2::Type::DGRAM,
                None,
            )
            .unwrap();
            if ipv6 {
                tx.set_unicast_hops_v6(ttl).unwrap();
            } else {
                tx.set_ttl_v4(ttl).unwrap();
            }
            tx.send_to(b"hello", &rx.local_addr().unwrap().into()).unwrap();
            let mut buf = [0u8; 3];
            let got = (0..200)
                .find_map(|_| match recv_with_ttl(&rx, &mut buf) {
                    Ok(r) => Some(r),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        None
                    }
                    Err(e) => panic!("{e}"),
                })
                .expect("the datagram arrives on loopback");
            assert_eq!(got.ttl, Some(ttl as u8), "ipv6 {ipv6}");
            assert_eq!((got.len, got.truncated), (3, true));
            assert_eq!(&buf, b"hel");
            let port = tx.local_addr().unwrap().as_socket().unwrap().port();
            assert_eq!(
                got.from,
                Some(SocketAddr::new(rx.local_addr().unwrap().ip(), port))
            );
        }
        let idle = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = recv_with_ttl(&idle, &mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
