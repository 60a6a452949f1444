//! Raw `AF_PACKET` sockets bound to one interface: the only `unsafe` code of the speaker.
//!
//! A [`PacketSocket`] receives the frames of one EtherType on one interface, filtered in the kernel by a
//! classic BPF program ([`arp_request_filter`], [`neighbor_solicitation_filter`]) so user space only wakes for
//! what it may answer, and sends whole Ethernet frames out of that interface. It is non-blocking; the layer2
//! tasks drive it through tokio's `AsyncFd`. Frames the host itself sends are not delivered back
//! (`PACKET_IGNORE_OUTGOING`, and [`PacketType::Outgoing`] where the kernel predates it).
//!
//! Set-up order matters: the socket is created with protocol 0 (it receives nothing), the filter is attached,
//! then it is bound to the EtherType and interface, so no unfiltered frame from any interface is ever queued.
//!
//! Every `unsafe` block is a libc call on a descriptor this module owns, with pointers to properly sized,
//! initialised locals; each says so in its `// SAFETY:` line. [`bpf`] holds the `bpf(2)` calls of the ARP fast
//! path, and [`ttl`] the `recvmsg(2)` that reads a BFD packet's TTL, under the same rules.

#![allow(unsafe_code)]

pub mod bpf;
pub mod ttl;

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use ferrolb_proto::MacAddr;

/// `SOL_PACKET` option: ignore frames this host sends (Linux 4.20).
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `SOL_PACKET` option: join a link-layer multicast group.
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
/// `SOL_PACKET` option: leave a link-layer multicast group.
const PACKET_DROP_MEMBERSHIP: libc::c_int = 2;
/// `packet_mreq.mr_type` for a multicast address.
const PACKET_MR_MULTICAST: libc::c_ushort = 0;

/// How a received frame reached this host (`sll_pkttype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Addressed to this host.
    Host,
    /// Broadcast.
    Broadcast,
    /// Multicast.
    Multicast,
    /// Addressed to another host (promiscuous mode).
    OtherHost,
    /// Sent by this host.
    Outgoing,
    /// Anything else.
    Other(u8),
}

impl From<u8> for PacketType {
    fn from(t: u8) -> Self {
        match t {
            0 => PacketType::Host,
            1 => PacketType::Broadcast,
            2 => PacketType::Multicast,
            3 => PacketType::OtherHost,
            4 => PacketType::Outgoing,
            o => PacketType::Other(o),
        }
    }
}

/// One instruction of a classic BPF program (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

const LDH_ABS: u16 = 0x28; // BPF_LD | BPF_H | BPF_ABS
const LDB_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> BpfInsn {
    BpfInsn { code, jt, jf, k }
}

/// Accepts ARP requests (EtherType 0x0806, operation 1) and drops everything else.
pub fn arp_request_filter() -> Vec<BpfInsn> {
    vec![
        insn(LDH_ABS, 0, 0, 12),   // EtherType
        insn(JEQ_K, 0, 3, 0x0806), // ARP?
        insn(LDH_ABS, 0, 0, 20),   // ARP operation
        insn(JEQ_K, 0, 1, 1),      // request?
        insn(RET_K, 0, 0, 0xffff), // accept
        insn(RET_K, 0, 0, 0),      // drop
    ]
}

/// Accepts ICMPv6 Neighbor Solicitations without extension headers (EtherType 0x86dd, next header 58,
/// ICMPv6 type 135) and drops everything else.
pub fn neighbor_solicitation_filter() -> Vec<BpfInsn> {
    vec![
        insn(LDH_ABS, 0, 0, 12),   // EtherType
        insn(JEQ_K, 0, 5, 0x86dd), // IPv6?
        insn(LDB_ABS, 0, 0, 20),   // next header
        insn(JEQ_K, 0, 3, 58),     // ICMPv6?
        insn(LDB_ABS, 0, 0, 54),   // ICMPv6 type
        insn(JEQ_K, 0, 1, 135),    // Neighbor Solicitation?
        insn(RET_K, 0, 0, 0xffff), // accept
        insn(RET_K, 0, 0, 0),      // drop
    ]
}

/// A non-blocking `AF_PACKET` socket bound to one EtherType on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn setsockopt<T>(fd: &impl AsRawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let len = libc::socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `fd` is an open socket we own; `value` points to a live, initialised `T` of `len` bytes that the
    // kernel only reads during the call.
    check(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) }).map(drop)
}

impl PacketSocket {
    /// Opens a socket for `ethertype` frames on interface `ifindex`, filtered by `filter`.
    pub fn open(ifindex: u32, ethertype: u16, filter: &[BpfInsn]) -> io::Result<PacketSocket> {
        // SAFETY: socket(2) takes no pointers; the returned descriptor is checked before use.
        let raw = check(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        })?;
        // SAFETY: `raw` is a fresh, valid descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let prog: Vec<libc::sock_filter> = filter
            .iter()
            .map(|i| libc::sock_filter {
                code: i.code,
                jt: i.jt,
                jf: i.jf,
                k: i.k,
            })
            .collect();
        let fprog = libc::sock_fprog {
            len: u16::try_from(prog.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
            filter: prog.as_ptr().cast_mut(),
        };
        // the kernel copies the program during the call; `prog` outlives it
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)?;
        // best effort: older kernels deliver outgoing frames, which `recv` reports as `Outgoing`
        let _ = setsockopt(&fd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &1 as &libc::c_int);

        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as libc::c_ushort;
        sll.sll_protocol = ethertype.to_be();
        sll.sll_ifindex = i32::try_from(ifindex).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(20);
        // SAFETY: `sll` is an initialised sockaddr_ll of `len` bytes; the kernel only reads it.
        check(unsafe { libc::bind(fd.as_raw_fd(), (&sll as *const libc::sockaddr_ll).cast(), len) })?;
        Ok(PacketSocket { fd, ifindex })
    }

    /// Registers the socket with tokio's reactor for readiness (read interest only: sends never block long
    /// enough to wait for).
    pub fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<PacketSocket>> {
        // SAFETY: `self.fd` is an open descriptor owned by `self`; it stays open, unchanged, for as long as the
        // `AsyncFd` owns `self`, and `as_raw_fd` always returns that same descriptor.
        unsafe { tokio::io::unix::AsyncFd::register_with_interest(self, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// The interface it is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn membership(&self, op: libc::c_int, mac: MacAddr) -> io::Result<()> {
        let mut address = [0u8; 8];
        address[..6].copy_from_slice(&mac.0);
        let mreq = libc::packet_mreq {
            mr_ifindex: i32::try_from(self.ifindex).unwrap_or(0),
            mr_type: PACKET_MR_MULTICAST,
            mr_alen: 6,
            mr_address: address,
        };
        setsockopt(&self.fd, libc::SOL_PACKET, op, &mreq)
    }

    /// Joins the link-layer multicast group `mac` on the interface (so the NIC delivers it).
    pub fn join_multicast(&self, mac: MacAddr) -> io::Result<()> {
        self.membership(PACKET_ADD_MEMBERSHIP, mac)
    }

    /// Leaves the link-layer multicast group `mac`.
    pub fn leave_multicast(&self, mac: MacAddr) -> io::Result<()> {
        self.membership(PACKET_DROP_MEMBERSHIP, mac)
    }

    /// Reads one frame into `buf` (`WouldBlock` when none is queued). Returns its length (truncated to
    /// `buf`) and how it reached the host.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, PacketType)> {
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        let mut len = libc::socklen_t::try_from(size_of::<libc::sockaddr_ll>()).unwrap_or(20);
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `sll`/`len` are live locals of the sizes
        // given; the kernel writes at most that much.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = usize::try_from(n).unwrap_or(0).min(buf.len());
        Ok((n, PacketType::from(sll.sll_pkttype)))
    }

    /// Sends one Ethernet frame out of the interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        // SAFETY: `frame` is valid for reads of `frame.len()` bytes for the duration of the call.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(usize::try_from(n).unwrap_or(0))
        }
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over `pkt` (enough of the interpreter for our programs).
    fn run(prog: &[BpfInsn], pkt: &[u8]) -> u32 {
        let (mut pc, mut a) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            match i.code {
                LDH_ABS => {
                    let k = i.k as usize;
                    let Some(b) = pkt.get(k..k + 2) else { return 0 };
                    a = u32::from(u16::from_be_bytes([b[0], b[1]]));
                }
                LDB_ABS => {
                    let Some(b) = pkt.get(i.k as usize) else { return 0 };
                    a = u32::from(*b);
                }
                JEQ_K => {
                    pc += usize::from(if a == i.k { i.jt } else { i.jf });
                }
                RET_K => return i.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn arp_filter_keeps_requests_only() {
        use ferrolb_proto::arp::ArpFrame;
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        let garp = ArpFrame::gratuitous(mac, "192.0.2.100".parse().unwrap()).encode();
        assert_eq!(run(&arp_request_filter(), &garp), 0xffff, "a request");
        let reply = ArpFrame::decode(&garp)
            .unwrap()
            .reply(MacAddr([2, 0, 0, 0, 0, 2]))
            .unwrap()
            .encode();
        assert_eq!(run(&arp_request_filter(), &reply), 0, "a reply");
        assert_eq!(run(&arp_request_filter(), &[0u8; 10]), 0, "short");
    }

    #[test]
    fn ndp_filter_keeps_solicitations_only() {
        use ferrolb_proto::ndp::{
            NeighborAdvertisement, NeighborSolicitation, multicast_mac, solicited_node,
        };
        let target: std::net::Ipv6Addr = "2001:db8::100".parse().unwrap();
        let ns = NeighborSolicitation {
            eth_src: MacAddr([2, 0, 0, 0, 0, 1]),
            eth_dst: multicast_mac(solicited_node(target)),
            ip_src: "2001:db8::50".parse().unwrap(),
            ip_dst: solicited_node(target),
            target,
            source_ll: Some(MacAddr([2, 0, 0, 0, 0, 1])),
        }
        .encode();
        assert_eq!(run(&neighbor_solicitation_filter(), &ns), 0xffff);
        let na = NeighborAdvertisement::unsolicited(MacAddr([2, 0, 0, 0, 0, 2]), target).encode();
        assert_eq!(run(&neighbor_solicitation_filter(), &na), 0);
        let arp =
            ferrolb_proto::arp::ArpFrame::gratuitous(MacAddr([2; 6]), "192.0.2.1".parse().unwrap()).encode();
        assert_eq!(run(&neighbor_solicitation_filter(), &arp), 0);
    }
}
