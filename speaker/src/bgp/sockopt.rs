//! TCP MD5 signatures (RFC 2385) on a BGP socket: the one `setsockopt(TCP_MD5SIG)` the speaker needs,
//! which no safe crate offers.
//!
//! The option value is built as plain bytes in the kernel's layout (`struct tcp_md5sig`,
//! include/uapi/linux/tcp.h), by safe code that the unit tests check byte by byte; the only `unsafe` is the
//! system call that hands those bytes to the kernel. The key must be set before `connect`, so that the SYN
//! is already signed, and it applies to segments exchanged with exactly `peer` (a /32 or /128).

#![allow(unsafe_code)]

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// The longest key Linux accepts (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// `sizeof(struct tcp_md5sig)`: a 128-byte `sockaddr_storage`, flags, prefix length, key length,
/// interface index and the 80-byte key.
const MD5SIG_LEN: usize = 216;
const OFFSET_KEYLEN: usize = 130;
const OFFSET_KEY: usize = 136;

/// `struct tcp_md5sig` as bytes, aligned like the kernel's `__kernel_sockaddr_storage`.
#[repr(C, align(8))]
struct Md5Sig([u8; MD5SIG_LEN]);

/// The option value for `peer` and `key` (1..=80 bytes, checked by the caller).
fn md5sig(peer: IpAddr, key: &[u8]) -> Md5Sig {
    let mut buf = [0u8; MD5SIG_LEN];
    // tcpm_addr: a sockaddr_in or sockaddr_in6 (family in host order, port 0, address in network order)
    match peer {
        IpAddr::V4(v4) => {
            buf[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            buf[4..8].copy_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            buf[..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
            buf[8..24].copy_from_slice(&v6.octets());
        }
    }
    // tcpm_flags 0 and tcpm_prefixlen 0: the key applies to the full address; tcpm_ifindex 0: any device
    let len = key.len().min(MAX_KEY_LEN);
    buf[OFFSET_KEYLEN..OFFSET_KEYLEN + 2].copy_from_slice(&(len as u16).to_ne_bytes());
    buf[OFFSET_KEY..OFFSET_KEY + len].copy_from_slice(&key[..len]);
    Md5Sig(buf)
}

/// Sets the TCP MD5 key for segments to and from `peer` on `socket` (before `connect`, or on a listener
/// before `accept`).
pub fn set_tcp_md5sig(socket: &impl AsRawFd, peer: IpAddr, key: &[u8]) -> io::Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TCP MD5 key of {} bytes: must be 1 to {MAX_KEY_LEN}", key.len()),
        ));
    }
    let sig = md5sig(peer, key);
    // SAFETY: `sig` is an initialised buffer of exactly MD5SIG_LEN bytes laid out as the kernel's
    // `struct tcp_md5sig`; it outlives the call, and the kernel only copies `optlen` bytes from it.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_MD5SIG,
            sig.0.as_ptr().cast(),
            MD5SIG_LEN as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_struct_tcp_md5sig_for_ipv4() {
        let sig = md5sig("192.0.2.1".parse().unwrap(), b"s3cret");
        let b = &sig.0;
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET as u16);
        assert_eq!(&b[2..4], &[0, 0], "port 0");
        assert_eq!(&b[4..8], &[192, 0, 2, 1]);
        assert!(b[8..128].iter().all(|&x| x == 0));
        assert_eq!((b[128], b[129]), (0, 0), "flags, prefix length");
        assert_eq!(u16::from_ne_bytes([b[130], b[131]]), 6);
        assert_eq!(&b[132..136], &[0; 4], "ifindex");
        assert_eq!(&b[136..142], b"s3cret");
        assert!(b[142..].iter().all(|&x| x == 0));
        assert_eq!(std::mem::align_of::<Md5Sig>(), 8);
    }

    #[test]
    fn layout_matches_struct_tcp_md5sig_for_ipv6() {
        let sig = md5sig("2001:db8::1".parse().unwrap(), &[7u8; 80]);
        let b = &sig.0;
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), libc::AF_INET6 as u16);
        assert_eq!(&b[4..8], &[0; 4], "flow info");
        assert_eq!(&b[8..12], &[0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(b[23], 1);
        assert_eq!(&b[24..28], &[0; 4], "scope id");
        assert_eq!(u16::from_ne_bytes([b[130], b[131]]), 80);
        assert!(b[136..216].iter().all(|&x| x == 7));
    }

    #[test]
    fn empty_and_oversized_keys_are_refused() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for key in [&[][..], &[1u8; 81][..]] {
            let err = set_tcp_md5sig(&s, "127.0.0.1".parse().unwrap(), key).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
    }
}
