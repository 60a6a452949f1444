//! The ARP/NDP responders' metrics (`ferrolb_layer2_*`; the table is in [`crate::metrics`]).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::{DropLabels, ProtocolLabel};

/// Layer2 mode's metrics. Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct Layer2Metrics {
    /// ARP requests / NSs read, per protocol.
    pub requests_received: Family<ProtocolLabel, Counter>,
    /// Replies sent, per protocol.
    pub responses_sent: Family<ProtocolLabel, Counter>,
    /// Requests not answered, per protocol and reason.
    pub requests_ignored: Family<DropLabels, Counter>,
    /// Gratuitous ARPs / unsolicited NAs sent, per protocol.
    pub gratuitous_sent: Family<ProtocolLabel, Counter>,
    /// 1 when ARP is answered in the kernel (eBPF).
    pub fast_path_enabled: Gauge,
    /// ARP replies sent by the in-kernel fast path.
    pub fast_path_responses: Counter,
    /// Frames of other hosts claiming an owned IP, per protocol.
    pub conflicts: Family<ProtocolLabel, Counter>,
}

impl Layer2Metrics {
    /// Registers them in `r` (the `ferrolb_layer2` sub-registry).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "requests_received",
            "ARP requests and Neighbor Solicitations read",
            self.requests_received.clone(),
        );
        r.register(
            "responses_sent",
            "ARP replies and Neighbor Advertisements sent",
            self.responses_sent.clone(),
        );
        r.register(
            "requests_ignored",
            "ARP/NDP requests not answered, by reason",
            self.requests_ignored.clone(),
        );
        r.register(
            "fast_path_enabled",
            "1 when ARP is answered in the kernel (eBPF) for owned IPv4 addresses",
            self.fast_path_enabled.clone(),
        );
        r.register(
            "fast_path_responses",
            "ARP replies sent by the in-kernel fast path (also counted in responses_sent)",
            self.fast_path_responses.clone(),
        );
        // both series exist from the start (an alert on them must not depend on a first conflict)
        for protocol in ["arp", "ndp"] {
            self.conflicts
                .get_or_create(&ProtocolLabel { protocol })
                .inc_by(0);
        }
        r.register(
            "conflicts",
            "ARP/NDP frames of another host claiming an IP this node announces (an IP conflict)",
            self.conflicts.clone(),
        );
        r.register(
            "gratuitous_sent",
            "Gratuitous ARPs and unsolicited Neighbor Advertisements sent",
            self.gratuitous_sent.clone(),
        );
    }
}
