//! The `bpf(2)` calls of the ARP fast path: maps, program load, and tcx attachment (Linux 6.6+).
//!
//! Every call passes a zeroed, 8-byte-aligned `bpf_attr` buffer with the command's fields written at their
//! UAPI offsets, and pointers to buffers whose sizes were checked against what the kernel will read or
//! write. A tcx link is owned by its file descriptor: when the speaker exits, even by `kill -9`, the kernel
//! detaches the program, so a dead speaker never keeps answering.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;

/// `BPF_MAP_TYPE_HASH`.
pub const MAP_TYPE_HASH: u32 = 1;
/// `BPF_MAP_TYPE_ARRAY`.
pub const MAP_TYPE_ARRAY: u32 = 2;
/// `BPF_PROG_TYPE_SCHED_CLS`.
const PROG_TYPE_SCHED_CLS: u32 = 3;
/// `BPF_TCX_INGRESS`.
const ATTACH_TCX_INGRESS: u32 = 46;

/// A `bpf_attr` (the kernel accepts a shorter struct when the tail it does not get would be zero).
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }

    fn u32(mut self, offset: usize, v: u32) -> Attr {
        self.0[offset..offset + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }

    fn u64(mut self, offset: usize, v: u64) -> Attr {
        self.0[offset..offset + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
}

fn fd_u32(fd: &OwnedFd) -> u32 {
    u32::try_from(fd.as_raw_fd()).unwrap_or(u32::MAX)
}

fn ptr<T>(p: *const T) -> u64 {
    p as usize as u64
}

/// Runs `bpf(cmd, attr)`.
///
/// # Safety
///
/// Every pointer the caller wrote into `attr` must point to a buffer that lives until this call returns and
/// whose size is at least what command `cmd` makes the kernel read or write through it; every descriptor in
/// it must be open.
unsafe fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised, 8-byte-aligned buffer of the size passed; the pointers inside it
    // are valid for the command by this function's contract.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let raw = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A BPF map with fixed key and value sizes.
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    key_size: usize,
    value_size: usize,
}

impl Map {
    /// Creates a map.
    pub fn create(map_type: u32, key_size: u32, value_size: u32, max_entries: u32) -> io::Result<Map> {
        let mut attr = Attr::new()
            .u32(0, map_type)
            .u32(4, key_size)
            .u32(8, value_size)
            .u32(12, max_entries);
        // SAFETY: BPF_MAP_CREATE reads only the four integers written above; no pointer in `attr`.
        let fd = owned(unsafe { bpf(BPF_MAP_CREATE, &mut attr) }?)?;
        Ok(Map {
            fd,
            key_size: key_size as usize,
            value_size: value_size as usize,
        })
    }

    fn check(&self, key: &[u8], value: Option<usize>) -> io::Result<()> {
        if key.len() != self.key_size || value.is_some_and(|v| v != self.value_size) {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        Ok(())
    }

    /// Inserts or replaces `key`.
    pub fn update(&self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.check(key, Some(value.len()))?;
        let mut attr = Attr::new()
            .u32(0, fd_u32(&self.fd))
            .u64(8, ptr(key.as_ptr()))
            .u64(16, ptr(value.as_ptr()));
        // SAFETY: `check` proved `key` is key_size and `value` value_size bytes, what the kernel reads
        // through the two pointers; both borrows outlive the call; the map's descriptor is open (owned).
        unsafe { bpf(BPF_MAP_UPDATE_ELEM, &mut attr) }.map(drop)
    }

    /// Removes `key` (no error when it is absent).
    pub fn delete(&self, key: &[u8]) -> io::Result<()> {
        self.check(key, None)?;
        let mut attr = Attr::new().u32(0, fd_u32(&self.fd)).u64(8, ptr(key.as_ptr()));
        // SAFETY: `check` proved `key` is key_size bytes, what the kernel reads; the borrow outlives the call.
        match unsafe { bpf(BPF_MAP_DELETE_ELEM, &mut attr) } {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r.map(drop),
        }
    }

    /// Reads `key` into `value`.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> io::Result<()> {
        self.check(key, Some(value.len()))?;
        let mut attr = Attr::new()
            .u32(0, fd_u32(&self.fd))
            .u64(8, ptr(key.as_ptr()))
            .u64(16, ptr(value.as_mut_ptr()));
        // SAFETY: `check` proved `key` is key_size bytes (read) and `value` value_size bytes (written by the
        // kernel through a pointer from `as_mut_ptr` of an exclusive borrow); both outlive the call.
        unsafe { bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) }.map(drop)
    }

    /// The descriptor, to embed in a program.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Loads a `SCHED_CLS` program from encoded instructions; on a verifier rejection the error carries the
/// verifier's log.
pub fn load_sched_cls(insns: &[[u8; 8]], license: &CStr) -> io::Result<OwnedFd> {
    let mut log = vec![0u8; 64 * 1024];
    let count = u32::try_from(insns.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"ferrolb_arp");
    let mut attr = Attr::new()
        .u32(0, PROG_TYPE_SCHED_CLS)
        .u32(4, count)
        .u64(8, ptr(insns.as_ptr()))
        .u64(16, ptr(license.as_ptr()))
        .u32(24, 1)
        .u32(28, u32::try_from(log.len()).unwrap_or(0))
        .u64(32, ptr(log.as_mut_ptr()));
    attr.0[48..64].copy_from_slice(&name);
    // SAFETY: `insns` holds `count` 8-byte instructions (read), `license` is NUL-terminated (read), `log` is
    // `log.len()` bytes, the size passed, written by the kernel through an exclusive borrow; all outlive the
    // call.
    match unsafe { bpf(BPF_PROG_LOAD, &mut attr) } {
        Ok(fd) => owned(fd),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            Err(io::Error::new(
                e.kind(),
                format!(
                    "{e}; verifier: {}",
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ),
            ))
        }
    }
}

/// Attaches `prog` to the ingress of interface `ifindex` with a tcx link; dropping the returned descriptor
/// detaches it.
pub fn attach_tcx_ingress(prog: &OwnedFd, ifindex: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::new()
        .u32(0, fd_u32(prog))
        .u32(4, ifindex)
        .u32(8, ATTACH_TCX_INGRESS);
    // SAFETY: BPF_LINK_CREATE reads the program's descriptor (open: borrowed from an OwnedFd) and two
    // integers; no pointer in `attr`.
    owned(unsafe { bpf(BPF_LINK_CREATE, &mut attr) }?)
}
