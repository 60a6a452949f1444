//! Layer2 mode: answer ARP (IPv4) and NDP (IPv6) for the IPs this node owns, from user space.
//!
//! ```text
//!  owner loop ──set(Layer2Desired)──▶ [Layer2] ──watch<Layer2Desired>──▶ layer2 task ◀──watch<Interfaces>── link monitor
//!                                                                          │ one watch<OwnedSet> per interface
//!                                                                          ▼
//!                                                      responder task × eligible interface (io.rs)
//!                                                      AF_PACKET ARP + NDP sockets, GARP/NA schedule
//! ```
//!
//! The layer2 task owns the per-interface owned sets: an IP is owned on an interface when this node announces
//! it, the interface is eligible and usable, and the IP's pool allows the interface. It starts a responder for
//! every eligible interface (whether up or not, so an interface coming back announces at once) and stops it
//! when the interface disappears, becomes ineligible or changes its MAC. The VIPs are never assigned to an
//! interface, so the kernel never answers for them; traffic to them is taken by kube-proxy's rules.
//!
//! - [`responder`]: the pure decision for one frame, and whether it shows an IP conflict (reported back to
//!   the owner loop as [`ConflictReport`]s).
//! - [`garp`]: the pure takeover announcement schedule.
//! - [`fastpath`]: the in-kernel ARP responder (eBPF on tcx ingress) that answers owned IPv4 addresses at
//!   kernel speed; the `AF_PACKET` responder handles everything it leaves alone.

pub mod fastpath;
pub mod garp;
mod io;
pub mod metrics;
pub mod responder;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use crate::election::Layer2Desired;
use crate::interfaces::{Interface, InterfaceFilter, Interfaces};
use crate::metrics::ProtocolLabel;
use crate::netlink::Links;
use crate::protocols::Layer2Announcer;
use crate::task::{DedicatedRuntime, TaskHandle};
use fastpath::FastPath;
pub use io::ConflictReport;
use metrics::Layer2Metrics;
use responder::OwnedSet;

/// The owner loop's handle on layer2 mode.
#[derive(Debug)]
pub struct Layer2 {
    desired: watch::Sender<Arc<Layer2Desired>>,
}

impl Layer2Announcer for Layer2 {
    fn set(&mut self, desired: &Layer2Desired) {
        self.desired.send_if_modified(|d| {
            if **d == *desired {
                false
            } else {
                *d = Arc::new(desired.clone());
                true
            }
        });
    }
}

/// Starts the layer2 task.
pub fn spawn(
    filter: InterfaceFilter,
    interfaces: watch::Receiver<Arc<Links>>,
    metrics: Layer2Metrics,
    conflicts: mpsc::Sender<ConflictReport>,
) -> (Layer2, TaskHandle) {
    let (tx, rx) = watch::channel(Arc::new(Layer2Desired::default()));
    let task = TaskHandle::spawn("layer2", run(filter, rx, interfaces, metrics, conflicts));
    (Layer2 { desired: tx }, task)
}

/// The owned set of every eligible interface (pure).
pub fn owned_sets(
    filter: &InterfaceFilter,
    all: &Interfaces,
    desired: &Layer2Desired,
) -> HashMap<u32, OwnedSet> {
    let mut sets: HashMap<u32, OwnedSet> = all
        .values()
        .filter(|i| filter.eligible(i))
        .map(|i| (i.index, OwnedSet::default()))
        .collect();
    for (ip, ann) in &desired.ips {
        for i in filter.for_announcement(all, ann) {
            if let Some(set) = sets.get_mut(&i.index) {
                match ip {
                    IpAddr::V4(v4) => {
                        set.v4.insert(*v4);
                    }
                    IpAddr::V6(v6) => {
                        set.v6.insert(*v6);
                    }
                }
            }
        }
    }
    sets
}

struct Running {
    iface: Interface,
    owned: watch::Sender<Arc<OwnedSet>>,
    _task: TaskHandle,
}

async fn run(
    filter: InterfaceFilter,
    mut desired: watch::Receiver<Arc<Layer2Desired>>,
    mut interfaces: watch::Receiver<Arc<Links>>,
    metrics: Layer2Metrics,
    conflicts: mpsc::Sender<ConflictReport>,
) {
    let mut responders = Responders::start(metrics, conflicts);
    let mut poll = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let d = desired.borrow_and_update().clone();
        let links = interfaces.borrow_and_update().clone();
        responders.converge(&owned_sets(&filter, &links.interfaces, &d), &links.interfaces);
        loop {
            tokio::select! {
                r = desired.changed() => if r.is_err() { return } else { break },
                r = interfaces.changed() => if r.is_err() { return } else { break },
                _ = poll.tick() => responders.count_fast_path(),
            }
        }
    }
}

/// The responders of every interface, their thread and the eBPF fast path.
struct Responders {
    metrics: Layer2Metrics,
    conflicts: mpsc::Sender<ConflictReport>,
    /// The responders run on their own thread: an ARP reply never waits behind watch events or elections.
    io_runtime: Option<DedicatedRuntime>,
    fast: Option<Arc<FastPath>>,
    /// Fast-path replies already counted in the metrics.
    fast_counted: u64,
    running: HashMap<u32, Running>,
}

impl Responders {
    fn start(metrics: Layer2Metrics, conflicts: mpsc::Sender<ConflictReport>) -> Responders {
        let io_runtime = match DedicatedRuntime::start("ferrolb-l2-io") {
            Ok(rt) => Some(rt),
            Err(e) => {
                tracing::warn!(error = %e, "no dedicated thread for the responders; sharing the main runtime");
                None
            }
        };
        let fast = match FastPath::load() {
            Ok(f) => {
                tracing::info!("ARP fast path loaded (eBPF, tcx ingress)");
                metrics.fast_path_enabled.set(1);
                Some(f)
            }
            Err(e) => {
                tracing::info!(error = %e, "ARP fast path unavailable; answering ARP from user space");
                None
            }
        };
        Responders {
            metrics,
            conflicts,
            io_runtime,
            fast,
            fast_counted: 0,
            running: HashMap::new(),
        }
    }

    /// One responder per interface of `sets`, each with its set: stops those whose interface went away,
    /// became ineligible or changed, updates the others, starts the new ones.
    fn converge(&mut self, sets: &HashMap<u32, OwnedSet>, all: &Interfaces) {
        self.running.retain(|index, r| {
            all.get(index)
                .is_some_and(|i| sets.contains_key(index) && same_identity(i, &r.iface))
        });
        for (index, set) in sets {
            let Some(iface) = all.get(index) else { continue };
            let set = Arc::new(set.clone());
            match self.running.get_mut(index) {
                Some(r) => {
                    r.iface = iface.clone();
                    r.owned.send_if_modified(|cur| {
                        if **cur == *set {
                            false
                        } else {
                            *cur = set.clone();
                            true
                        }
                    });
                }
                None => {
                    let (tx, rx) = watch::channel(set);
                    let fut = io::run(
                        iface.clone(),
                        rx,
                        self.metrics.clone(),
                        self.fast.clone(),
                        self.conflicts.clone(),
                    );
                    let task = match &self.io_runtime {
                        Some(rt) => TaskHandle::spawn_on(rt.handle(), "responder", fut),
                        None => TaskHandle::spawn("responder", fut),
                    };
                    let running = Running {
                        iface: iface.clone(),
                        owned: tx,
                        _task: task,
                    };
                    self.running.insert(*index, running);
                }
            }
        }
    }

    /// Replies the fast path sent count as requests received and answered.
    fn count_fast_path(&mut self) {
        let Some(f) = &self.fast else { return };
        let total = f.answered();
        let delta = total.saturating_sub(self.fast_counted);
        self.fast_counted = total;
        if delta > 0 {
            let arp = ProtocolLabel { protocol: "arp" };
            self.metrics.requests_received.get_or_create(&arp).inc_by(delta);
            self.metrics.responses_sent.get_or_create(&arp).inc_by(delta);
            self.metrics.fast_path_responses.inc_by(delta);
        }
    }
}

/// Whether a responder started for `old` still fits `new` (same name and MAC; up/down does not matter).
fn same_identity(new: &Interface, old: &Interface) -> bool {
    new.name == old.name && new.mac == old.mac
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ferrolb_proto::MacAddr;

    use super::*;
    use crate::election::Layer2Announcement;

    fn iface(index: u32, name: &str, up: bool) -> Interface {
        Interface {
            index,
            name: name.into(),
            mac: Some(MacAddr([2, 0, 0, 0, 0, u8::try_from(index).unwrap()])),
            up,
            running: up,
            broadcast: true,
            noarp: false,
            loopback: false,
            master: None,
        }
    }

    #[test]
    fn owned_sets_follow_interfaces_and_pools() {
        let all: Interfaces = [
            iface(2, "eth0", true),
            iface(3, "eth1", true),
            iface(4, "eth2", false),
            iface(5, "veth1", true),
        ]
        .into_iter()
        .map(|i| (i.index, i))
        .collect();
        let ann = |ifs: &[&str]| Layer2Announcement {
            pool: "p".into(),
            interfaces: ifs.iter().map(|s| s.to_string()).collect(),
            services: vec![],
        };
        let desired = Layer2Desired {
            ips: BTreeMap::from([
                ("192.0.2.100".parse().unwrap(), ann(&[])),
                ("2001:db8::100".parse().unwrap(), ann(&[])),
                ("192.0.2.101".parse().unwrap(), ann(&["eth1", "eth2"])),
            ]),
        };
        let sets = owned_sets(&InterfaceFilter::default(), &all, &desired);
        assert_eq!(
            sets.len(),
            3,
            "eth0, eth1 and (down) eth2 have responders; veth1 is excluded"
        );
        assert_eq!(sets[&2].len(), 2);
        assert_eq!(sets[&3].len(), 3);
        assert!(sets[&4].is_empty(), "a down interface answers nothing");
        assert!(sets[&3].v4.contains(&"192.0.2.101".parse().unwrap()));
        assert!(!sets[&2].v4.contains(&"192.0.2.101".parse().unwrap()));
    }
}
