//! The seam between the owner loop and the announcers: one declarative `set(desired)` per protocol.
//!
//! After every election the owner loop calls [`Protocols::set`] with the whole [`Desired`] state. The layer2
//! announcer always exists; BGP mode plugs in by putting a [`BgpAnnouncer`] in [`Protocols::bgp`]. Each
//! announcer converges to what it is given and must not block (hand the work to its own tasks); calling `set`
//! twice with the same state must change nothing.

use crate::election::{BgpDesired, Desired, Layer2Desired};

/// Answers ARP/NDP for the IPs it is given, and nothing else.
pub trait Layer2Announcer: Send {
    /// The IPs this node owns right now (replaces the previous set).
    fn set(&mut self, desired: &Layer2Desired);
}

/// Advertises bgp-pool IPs to this node's peers (implemented by BGP mode).
pub trait BgpAnnouncer: Send {
    /// Every bgp-pool IP in use with this node's decision, and this node's peers (replaces the previous state).
    fn set(&mut self, desired: &BgpDesired);

    /// Registers BGP mode's metrics in the speaker's registry (called once, before the first `set`).
    fn register_metrics(&self, _registry: &mut prometheus_client::registry::Registry) {}

    /// The Events BGP mode emits on its own (a BFD session to a router failed), for the owner loop to publish;
    /// called once at start.
    fn take_events(&mut self) -> Option<tokio::sync::mpsc::Receiver<crate::k8s::events::SpeakerEvent>> {
        None
    }

    /// Whether any IP is advertised right now (one input of the shutdown decision).
    fn announcing(&self) -> bool {
        false
    }

    /// Every configured peer's session in short, for this node's `ConfigurationState`; `None` when the
    /// announcer has no sessions to report.
    fn sessions(&self) -> Option<Vec<crate::status::sessions::SessionReport>> {
        None
    }

    /// Ends every session as `mode` says (routers withdraw at once, or keep the routes through a restart),
    /// bounded in time; called once when the speaker stops.
    fn shutdown(
        self: Box<Self>,
        _mode: crate::bgp::ShutdownMode,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async {})
    }
}

/// The announcers the owner loop drives.
pub struct Protocols {
    /// Layer2 mode.
    pub layer2: Box<dyn Layer2Announcer>,
    /// BGP mode, when enabled.
    pub bgp: Option<Box<dyn BgpAnnouncer>>,
}

impl std::fmt::Debug for Protocols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protocols")
            .field("bgp", &self.bgp.is_some())
            .finish_non_exhaustive()
    }
}

impl Protocols {
    /// Hands each announcer its part of `desired`.
    pub fn set(&mut self, desired: &Desired) {
        self.layer2.set(&desired.layer2);
        if let Some(bgp) = self.bgp.as_mut() {
            bgp.set(&desired.bgp);
        }
    }
}
