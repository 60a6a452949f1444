//! The ARP fast path: an eBPF program on each announcing interface's ingress (tcx) that answers ARP requests
//! for owned IPv4 addresses inside the kernel, as fast as the kernel answers for its own addresses.
//!
//! A user-space responder pays a thread wake-up for every request (tens of µs on a virtual machine); the
//! kernel answers its own ARP in a few µs. The program below closes that gap. It is deliberately small and
//! answers only what is certain — a well-formed Ethernet/IPv4 ARP request addressed to this host or
//! broadcast, not gratuitous, whose target is in the `owned` map for the receiving interface — by rewriting
//! the request into the reply in place and sending it back out of the same interface. Everything else goes
//! on, untouched, to the kernel and to the `AF_PACKET` responder, which still handles every other case (and
//! all of NDP) exactly as before, with its drop reasons and metrics.
//!
//! The owned map is written by the responder of each interface as its owned set changes, so a loss stops the
//! fast path in the same step that stops the user-space path. The program is attached with tcx links owned by
//! the speaker's file descriptors: when the speaker exits — even by `kill -9` — the kernel detaches it. Where
//! eBPF or tcx is unavailable (before Linux 6.6, or without `CAP_BPF`/`CAP_NET_ADMIN`), the speaker logs it
//! and answers from user space alone.
//!
//! ```text
//!  map owned:    key = ifindex (u32, host order) ‖ IPv4 (4 bytes, network order)   value = MAC ‖ 0 0
//!  map answered: key = 0 (u32)                                                      value = replies (u64)
//! ```

use std::collections::HashSet;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use ferrolb_proto::MacAddr;

use crate::socket::bpf::{self, MAP_TYPE_ARRAY, MAP_TYPE_HASH, Map};

/// Most (interface, IP) pairs the owned map holds.
pub const MAX_ENTRIES: u32 = 65_536;

/// One eBPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

impl Insn {
    /// The 8-byte encoding (little-endian machines; the fast path is only enabled on those).
    pub fn encode(&self) -> [u8; 8] {
        let o = self.off.to_le_bytes();
        let i = self.imm.to_le_bytes();
        [
            self.code,
            (self.src << 4) | (self.dst & 0x0f),
            o[0],
            o[1],
            i[0],
            i[1],
            i[2],
            i[3],
        ]
    }
}

// opcodes
const LDXW: u8 = 0x61;
const LDXB: u8 = 0x71;
const STXW: u8 = 0x63;
const STXB: u8 = 0x73;
const STW: u8 = 0x62;
const STB: u8 = 0x72;
const MOV64X: u8 = 0xbf;
const MOV64K: u8 = 0xb7;
const ADD64K: u8 = 0x07;
const JGTX: u8 = 0x2d;
const JGTK: u8 = 0x25;
const JNEK: u8 = 0x55;
const JEQK: u8 = 0x15;
const JEQX: u8 = 0x1d;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const LDDW: u8 = 0x18;
const ATOMIC_DW: u8 = 0xdb;
/// `BPF_PSEUDO_MAP_FD`: the immediate of a `LDDW` is a map descriptor.
const PSEUDO_MAP_FD: u8 = 1;
const HELPER_MAP_LOOKUP: i32 = 1;
const HELPER_REDIRECT: i32 = 23;
/// `TCX_NEXT`: let the next program (or the stack) have the packet.
const TCX_NEXT: i32 = -1;

// `struct __sk_buff` fields
const SKB_PKT_TYPE: i16 = 4;
const SKB_IFINDEX: i16 = 40;
const SKB_DATA: i16 = 76;
const SKB_DATA_END: i16 = 80;

/// A tiny assembler: instructions, with forward jumps to named labels patched at the end.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    fixups: Vec<(usize, &'static str)>,
    labels: Vec<(&'static str, usize)>,
}

impl Asm {
    fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) -> &mut Self {
        self.insns.push(Insn {
            code,
            dst,
            src,
            off,
            imm,
        });
        self
    }

    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, label: &'static str) -> &mut Self {
        self.fixups.push((self.insns.len(), label));
        self.op(code, dst, src, 0, imm)
    }

    fn label(&mut self, name: &'static str) -> &mut Self {
        self.labels.push((name, self.insns.len()));
        self
    }

    fn map_fd(&mut self, dst: u8, fd: i32) -> &mut Self {
        self.op(LDDW, dst, PSEUDO_MAP_FD, 0, fd).op(0, 0, 0, 0, 0)
    }

    /// Loads `data` into r2 and `data_end` into r3, and jumps to `pass` unless 42 bytes are there.
    fn packet(&mut self) -> &mut Self {
        self.op(LDXW, 2, 6, SKB_DATA, 0)
            .op(LDXW, 3, 6, SKB_DATA_END, 0)
            .op(MOV64X, 4, 2, 0, 0)
            .op(ADD64K, 4, 0, 0, 42)
            .jump(JGTX, 4, 3, 0, "pass")
    }

    fn finish(mut self) -> Vec<Insn> {
        for (at, name) in std::mem::take(&mut self.fixups) {
            let target = self
                .labels
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, i)| *i)
                .unwrap_or_else(|| unreachable!("label {name} is defined below"));
            let off = i64::try_from(target).unwrap_or(0) - i64::try_from(at).unwrap_or(0) - 1;
            self.insns[at].off = i16::try_from(off).unwrap_or(0);
        }
        self.insns
    }
}

/// The fast-path program, with the descriptors of its two maps.
pub fn program(owned_map: i32, answered_map: i32) -> Vec<Insn> {
    let mut a = Asm::default();
    a.op(MOV64X, 6, 1, 0, 0); // r6 = ctx
    a.packet();
    // Ethernet/IPv4 ARP request: ethertype 08 06, htype 00 01, ptype 08 00, hlen 6, plen 4, op 00 01
    let header = [
        (12, 0x08),
        (13, 0x06),
        (14, 0),
        (15, 1),
        (16, 0x08),
        (17, 0),
        (18, 6),
        (19, 4),
        (20, 0),
        (21, 1),
    ];
    for (offset, byte) in header {
        a.op(LDXB, 5, 2, offset, 0).jump(JNEK, 5, 0, byte, "pass");
    }
    // addressed to this host or broadcast (PACKET_HOST = 0, PACKET_BROADCAST = 1)
    a.op(LDXW, 5, 6, SKB_PKT_TYPE, 0).jump(JGTK, 5, 0, 1, "pass");
    // r7 = sender IP, r8 = target IP; a gratuitous ARP (sender = target) is not a question
    a.op(LDXW, 7, 2, 28, 0)
        .op(LDXW, 8, 2, 38, 0)
        .jump(JEQX, 7, 8, 0, "pass");
    // key = ifindex ‖ target IP, at fp-8
    a.op(LDXW, 9, 6, SKB_IFINDEX, 0)
        .op(STXW, 10, 9, -8, 0)
        .op(STXW, 10, 8, -4, 0)
        .map_fd(1, owned_map)
        .op(MOV64X, 2, 10, 0, 0)
        .op(ADD64K, 2, 0, 0, -8)
        .op(CALL, 0, 0, 0, HELPER_MAP_LOOKUP)
        .jump(JEQK, 0, 0, 0, "pass");
    // owned: turn the request into the reply (packet pointers are reloaded after the helper call)
    a.packet();
    for i in 0..6 {
        // sender MAC → Ethernet destination and target MAC
        a.op(LDXB, 5, 2, 22 + i, 0)
            .op(STXB, 2, 5, i, 0)
            .op(STXB, 2, 5, 32 + i, 0);
    }
    for i in 0..6 {
        // our MAC (the map value) → Ethernet source and sender MAC
        a.op(LDXB, 5, 0, i, 0)
            .op(STXB, 2, 5, 6 + i, 0)
            .op(STXB, 2, 5, 22 + i, 0);
    }
    a.op(STB, 2, 0, 21, 2) // operation: reply
        .op(STXW, 2, 8, 28, 0) // sender IP = the target asked about
        .op(STXW, 2, 7, 38, 0); // target IP = the asker (0.0.0.0 for a probe, as Linux answers)
    // count it
    a.op(STW, 10, 0, -16, 0)
        .map_fd(1, answered_map)
        .op(MOV64X, 2, 10, 0, 0)
        .op(ADD64K, 2, 0, 0, -16)
        .op(CALL, 0, 0, 0, HELPER_MAP_LOOKUP)
        .jump(JEQK, 0, 0, 0, "send")
        .op(MOV64K, 1, 0, 0, 1)
        .op(ATOMIC_DW, 0, 1, 0, 0);
    // back out of the interface it came in on
    a.label("send")
        .op(MOV64X, 1, 9, 0, 0)
        .op(MOV64K, 2, 0, 0, 0)
        .op(CALL, 0, 0, 0, HELPER_REDIRECT)
        .op(EXIT, 0, 0, 0, 0);
    a.label("pass").op(MOV64K, 0, 0, 0, TCX_NEXT).op(EXIT, 0, 0, 0, 0);
    a.finish()
}

/// The loaded program and its maps, shared by every interface.
#[derive(Debug)]
pub struct FastPath {
    owned: Map,
    answered: Map,
    prog: OwnedFd,
}

fn owned_key(ifindex: u32, ip: Ipv4Addr) -> [u8; 8] {
    let mut k = [0u8; 8];
    k[..4].copy_from_slice(&ifindex.to_ne_bytes());
    k[4..].copy_from_slice(&ip.octets());
    k
}

impl FastPath {
    /// Creates the maps and loads the program (it answers nothing until attached and given entries).
    pub fn load() -> io::Result<Arc<FastPath>> {
        if cfg!(target_endian = "big") {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "big-endian host"));
        }
        let owned = Map::create(MAP_TYPE_HASH, 8, 8, MAX_ENTRIES)?;
        let answered = Map::create(MAP_TYPE_ARRAY, 4, 8, 1)?;
        let insns: Vec<[u8; 8]> = program(owned.raw_fd(), answered.raw_fd())
            .iter()
            .map(Insn::encode)
            .collect();
        let prog = bpf::load_sched_cls(&insns, c"Apache-2.0")?;
        Ok(Arc::new(FastPath {
            owned,
            answered,
            prog,
        }))
    }

    /// Replies sent by the program so far (all interfaces).
    pub fn answered(&self) -> u64 {
        let mut v = [0u8; 8];
        match self.answered.lookup(&0u32.to_ne_bytes(), &mut v) {
            Ok(()) => u64::from_ne_bytes(v),
            Err(_) => 0,
        }
    }

    /// Attaches the program to interface `ifindex` (with MAC `mac`).
    pub fn attach(self: &Arc<Self>, ifindex: u32, mac: MacAddr) -> io::Result<FastPathInterface> {
        let link = bpf::attach_tcx_ingress(&self.prog, ifindex)?;
        Ok(FastPathInterface {
            fp: self.clone(),
            ifindex,
            mac,
            entries: HashSet::new(),
            _link: link,
        })
    }
}

/// The fast path on one interface: its owned entries and its tcx link. Dropping it removes the entries and
/// detaches the program.
#[derive(Debug)]
pub struct FastPathInterface {
    fp: Arc<FastPath>,
    ifindex: u32,
    mac: MacAddr,
    entries: HashSet<Ipv4Addr>,
    _link: OwnedFd,
}

impl FastPathInterface {
    /// Answers for `ip` from now on.
    pub fn insert(&mut self, ip: Ipv4Addr) -> io::Result<()> {
        let mut value = [0u8; 8];
        value[..6].copy_from_slice(&self.mac.0);
        self.fp.owned.update(&owned_key(self.ifindex, ip), &value)?;
        self.entries.insert(ip);
        Ok(())
    }

    /// Stops answering for `ip` at once.
    pub fn remove(&mut self, ip: Ipv4Addr) -> io::Result<()> {
        self.entries.remove(&ip);
        self.fp.owned.delete(&owned_key(self.ifindex, ip))
    }
}

impl Drop for FastPathInterface {
    fn drop(&mut self) {
        for ip in std::mem::take(&mut self.entries) {
            let _ = self.fp.owned.delete(&owned_key(self.ifindex, ip));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_as_the_kernel_expects() {
        let i = Insn {
            code: LDXW,
            dst: 2,
            src: 6,
            off: 76,
            imm: 0,
        };
        assert_eq!(i.encode(), [0x61, 0x62, 76, 0, 0, 0, 0, 0]);
        let lddw = Insn {
            code: LDDW,
            dst: 1,
            src: PSEUDO_MAP_FD,
            off: 0,
            imm: 7,
        };
        assert_eq!(lddw.encode(), [0x18, 0x11, 0, 0, 7, 0, 0, 0]);
        let minus_one = Insn {
            code: MOV64K,
            dst: 0,
            src: 0,
            off: 0,
            imm: -1,
        };
        assert_eq!(minus_one.encode(), [0xb7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn every_jump_lands_inside_the_program_and_it_ends_in_exit() {
        let p = program(3, 4);
        assert!(p.len() < 4096);
        for (pc, i) in p.iter().enumerate() {
            if matches!(i.code, JGTX | JGTK | JNEK | JEQK | JEQX) {
                let target = i64::try_from(pc).unwrap() + 1 + i64::from(i.off);
                assert!(
                    target > i64::try_from(pc).unwrap() && target < i64::try_from(p.len()).unwrap(),
                    "jump at {pc}"
                );
                assert_ne!(
                    p[usize::try_from(target).unwrap()].code,
                    0,
                    "jump into a LDDW at {pc}"
                );
            }
        }
        assert_eq!(p.last().map(|i| i.code), Some(EXIT));
        assert_eq!(p.iter().filter(|i| i.code == LDDW).count(), 2, "two maps");
        let pass = p.len() - 2;
        assert_eq!((p[pass].code, p[pass].imm), (MOV64K, TCX_NEXT));
    }

    #[test]
    fn keys_put_the_address_in_network_order() {
        let k = owned_key(7, Ipv4Addr::new(192, 0, 2, 100));
        assert_eq!(&k[4..], &[192, 0, 2, 100]);
        assert_eq!(u32::from_ne_bytes(k[..4].try_into().unwrap()), 7);
    }
}
