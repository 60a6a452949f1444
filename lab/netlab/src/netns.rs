//! Doing things inside a lab network namespace from the test process itself.
//!
//! A scratch thread enters `/run/netns/<name>` with `setns(2)`, does its work and ends; the rest of
//! the process stays where it was. A socket created on such a thread belongs to that namespace for
//! its whole life, wherever it is used afterwards — so in-process servers (the embedded API server,
//! backends, probes) can live in lab namespaces without extra programs.
//!
//! ```no_run
//! # use ferrolb_netlab::Netns;
//! # fn f() -> ferrolb_netlab::Result<()> {
//! let api = Netns::new("flb-1-0-api");
//! let listener = api.tcp_listener("192.0.2.2:6443".parse().unwrap())?;
//! listener.set_nonblocking(true).unwrap(); // then e.g. tokio::net::TcpListener::from_std(listener)
//! # Ok(()) }
//! ```
//!
//! `/proc/sys/net` shows the namespace of the thread that opens it, so sysctls are written the same
//! way, without spawning `sysctl`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::sched::CloneFlags;

use crate::error::{LabError, Result};

/// A named network namespace (as created by `ip netns add`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// The namespace `/run/netns/<name>`.
    pub fn new(name: impl Into<String>) -> Self {
        Netns { name: name.into() }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its bind-mount path.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Whether the namespace exists.
    pub fn exists(&self) -> bool {
        self.path().exists()
    }

    /// Moves the calling thread into the namespace (for threads that belong to this crate only).
    fn enter(&self) -> Result<()> {
        let file = File::open(self.path()).map_err(|e| LabError::Netns {
            ns: self.name.clone(),
            reason: e.to_string(),
        })?;
        nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| LabError::Netns {
            ns: self.name.clone(),
            reason: e.to_string(),
        })
    }

    /// Runs `f` on a scratch thread inside the namespace and returns its result. A panic in `f`
    /// is propagated to the caller.
    pub fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> T + Send,
    {
        std::thread::scope(|s| {
            let handle = s.spawn(|| self.enter().map(|()| f()));
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Spawns a long-lived thread inside the namespace. The thread stays in the namespace; it must
    /// be bounded in time by `f` itself.
    pub fn spawn<T, F>(&self, thread_name: &str, f: F) -> Result<JoinHandle<Result<T>>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let ns = self.clone();
        std::thread::Builder::new()
            .name(thread_name.to_string())
            .spawn(move || ns.enter().map(|()| f()))
            .map_err(|e| LabError::io(format!("spawning thread {thread_name} in {}", self.name), e))
    }

    /// A TCP listener bound to `addr` inside the namespace (blocking; call `set_nonblocking` before
    /// handing it to an async runtime).
    pub fn tcp_listener(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.run(|| TcpListener::bind(addr))?
            .map_err(|e| LabError::io(format!("binding TCP {addr} in {}", self.name), e))
    }

    /// A TCP connection to `addr` made from inside the namespace.
    pub fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> Result<TcpStream> {
        self.run(|| TcpStream::connect_timeout(&addr, timeout))?
            .map_err(|e| LabError::io(format!("connecting TCP to {addr} from {}", self.name), e))
    }

    /// Waits until something accepts TCP connections on `addr`, as seen from inside the namespace
    /// (readiness of an API server, a metrics endpoint, …).
    pub fn wait_tcp(&self, addr: SocketAddr, timeout: Duration) -> Result<()> {
        crate::wait::wait_for(
            &format!("TCP {addr} to accept connections from {}", self.name),
            timeout,
            || {
                Ok(self
                    .tcp_connect(addr, Duration::from_millis(200))
                    .is_ok()
                    .then_some(()))
            },
        )
    }

    /// A UDP socket bound to `addr` inside the namespace.
    pub fn udp_socket(&self, addr: SocketAddr) -> Result<UdpSocket> {
        self.run(|| UdpSocket::bind(addr))?
            .map_err(|e| LabError::io(format!("binding UDP {addr} in {}", self.name), e))
    }

    /// Any socket, created inside the namespace (for raw or packet sockets and custom options).
    pub fn socket(
        &self,
        domain: socket2::Domain,
        ty: socket2::Type,
        protocol: Option<socket2::Protocol>,
    ) -> Result<socket2::Socket> {
        self.run(|| socket2::Socket::new(domain, ty, protocol))?
            .map_err(|e| LabError::io(format!("creating {domain:?} {ty:?} socket in {}", self.name), e))
    }

    /// Writes sysctls (`net.ipv4.conf.all.rp_filter` style keys) inside the namespace.
    pub fn write_sysctls(&self, entries: &[(&str, &str)]) -> Result<()> {
        self.run(|| {
            for (key, value) in entries {
                std::fs::write(sysctl_path(key), value)
                    .map_err(|e| LabError::io(format!("sysctl {key}={value} in {}", self.name), e))?;
            }
            Ok(())
        })?
    }

    /// Reads a sysctl inside the namespace.
    pub fn read_sysctl(&self, key: &str) -> Result<String> {
        self.run(|| std::fs::read_to_string(sysctl_path(key)))?
            .map(|v| v.trim().to_string())
            .map_err(|e| LabError::io(format!("reading sysctl {key} in {}", self.name), e))
    }

    /// The namespace's identity (inode of its nsfs file), to recognise processes inside it.
    pub fn inode(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(self.path())
            .map(|m| m.ino())
            .map_err(|e| LabError::io(format!("stat {}", self.path().display()), e))
    }
}

/// `net.ipv4.conf.eth0.rp_filter` → `/proc/sys/net/ipv4/conf/eth0/rp_filter`.
fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// PIDs of processes whose network namespace has the given nsfs inode (scans /proc).
pub fn pids_in_netns_inode(inode: u64) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .map(|link| link.to_string_lossy() == format!("net:[{inode}]"))
                .unwrap_or(false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(
            sysctl_path("net.ipv4.conf.all.rp_filter"),
            PathBuf::from("/proc/sys/net/ipv4/conf/all/rp_filter")
        );
    }

    #[test]
    fn entering_a_missing_namespace_names_it() {
        let err = Netns::new("flb-no-such-ns").run(|| ()).unwrap_err();
        assert!(err.to_string().contains("flb-no-such-ns"), "{err}");
    }
}
