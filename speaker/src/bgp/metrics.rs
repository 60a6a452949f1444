//! BGP metrics (prometheus-client), registered under the `bgp` prefix of the speaker's registry.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `bgp_session_up` | gauge 0/1 | `peer` (`address:port`) |
//! | `bgp_session_state` | gauge: 1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established (RFC 4273) | `peer` |
//! | `bgp_announced_prefixes` | gauge: prefixes in the Adj-RIB-Out now | `peer` |
//! | `bgp_updates_sent_total` | counter: UPDATE messages (End-of-RIB included) | `peer` |
//! | `bgp_prefixes_sent_total` | counter: prefixes announced in UPDATEs | `peer` |
//! | `bgp_prefixes_withdrawn_total` | counter: prefixes withdrawn in UPDATEs | `peer` |
//! | `bgp_notifications_sent_total` | counter | `peer`, `code`, `subcode` |
//! | `bgp_notifications_received_total` | counter | `peer`, `code`, `subcode` |
//! | `bgp_updates_ignored_total` | counter: malformed UPDATEs received and ignored, session kept (RFC 7606) | `peer` |
//! | `bgp_peer_errors` | gauge 0/1: a configured peer that gets no session | `peer`, `reason` |
//!
//! A peer's series are removed when its session ends (peer removed from the config or node unselected).

use std::net::SocketAddr;

use ferrolb_proto::bgp::{Notification, State};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of per-peer series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeerLabels {
    /// `address:port`.
    pub peer: String,
}

/// Labels of NOTIFICATION counters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NotificationLabels {
    /// `address:port`.
    pub peer: String,
    /// Error code (RFC 4271 §4.5).
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
}

/// Labels of the peer error gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PeerErrorLabels {
    /// `address:port`.
    pub peer: String,
    /// [`super::PeerError::metric_label`].
    pub reason: String,
}

/// The BGP metric families (and BFD's, which BGP mode runs); clones share the series.
#[derive(Debug, Clone, Default)]
pub struct BgpMetrics {
    bfd: crate::bfd::BfdMetrics,
    session_up: Family<PeerLabels, Gauge>,
    session_state: Family<PeerLabels, Gauge>,
    announced_prefixes: Family<PeerLabels, Gauge>,
    updates_sent: Family<PeerLabels, Counter>,
    prefixes_sent: Family<PeerLabels, Counter>,
    prefixes_withdrawn: Family<PeerLabels, Counter>,
    notifications_sent: Family<NotificationLabels, Counter>,
    notifications_received: Family<NotificationLabels, Counter>,
    updates_ignored: Family<PeerLabels, Counter>,
    peer_errors: Family<PeerErrorLabels, Gauge>,
}

impl BgpMetrics {
    /// New, unregistered families.
    pub fn new() -> BgpMetrics {
        BgpMetrics::default()
    }

    /// Registers every family under the `bgp` prefix of `registry`, and BFD's under `bfd`.
    pub fn register(&self, registry: &mut Registry) {
        self.bfd.register(registry);
        let r = registry.sub_registry_with_prefix("bgp");
        r.register(
            "session_up",
            "Whether the BGP session with the peer is established",
            self.session_up.clone(),
        );
        r.register(
            "session_state",
            "BGP session state (1 idle, 2 connect, 3 active, 4 opensent, 5 openconfirm, 6 established)",
            self.session_state.clone(),
        );
        r.register(
            "announced_prefixes",
            "Prefixes currently advertised to the peer",
            self.announced_prefixes.clone(),
        );
        r.register(
            "updates_sent",
            "BGP UPDATE messages sent to the peer",
            self.updates_sent.clone(),
        );
        r.register(
            "prefixes_sent",
            "Prefixes announced to the peer in UPDATE messages",
            self.prefixes_sent.clone(),
        );
        r.register(
            "prefixes_withdrawn",
            "Prefixes withdrawn from the peer in UPDATE messages",
            self.prefixes_withdrawn.clone(),
        );
        r.register(
            "notifications_sent",
            "BGP NOTIFICATION messages sent to the peer",
            self.notifications_sent.clone(),
        );
        r.register(
            "notifications_received",
            "BGP NOTIFICATION messages received from the peer",
            self.notifications_received.clone(),
        );
        r.register(
            "updates_ignored",
            "Malformed BGP UPDATE messages received from the peer and ignored, the session kept up (RFC 7606)",
            self.updates_ignored.clone(),
        );
        r.register(
            "peer_errors",
            "Configured peers that get no session on this node, by reason",
            self.peer_errors.clone(),
        );
    }

    /// The BFD sessions' families.
    pub fn bfd(&self) -> &crate::bfd::BfdMetrics {
        &self.bfd
    }

    /// The series of one peer.
    pub(crate) fn peer(&self, peer: SocketAddr) -> PeerMetrics {
        PeerMetrics {
            labels: PeerLabels {
                peer: peer.to_string(),
            },
            metrics: self.clone(),
        }
    }

    /// Marks `peer` as refused for `reason` (`None`: clears every reason of `peer`).
    pub(crate) fn set_peer_error(&self, peer: SocketAddr, reason: Option<&'static str>) {
        let peer = peer.to_string();
        for r in super::PeerError::LABELS {
            let labels = PeerErrorLabels {
                peer: peer.clone(),
                reason: r.to_string(),
            };
            if Some(r) == reason {
                self.peer_errors.get_or_create(&labels).set(1);
            } else {
                self.peer_errors.remove(&labels);
            }
        }
    }
}

/// RFC 4273 `bgpPeerState` numbering.
fn state_number(state: State) -> i64 {
    match state {
        State::Idle => 1,
        State::Connect => 2,
        State::Active => 3,
        State::OpenSent => 4,
        State::OpenConfirm => 5,
        State::Established => 6,
    }
}

/// One peer's series, used by its session task.
#[derive(Debug, Clone)]
pub(crate) struct PeerMetrics {
    labels: PeerLabels,
    metrics: BgpMetrics,
}

impl PeerMetrics {
    pub(crate) fn state(&self, state: State) {
        let m = &self.metrics;
        m.session_state
            .get_or_create(&self.labels)
            .set(state_number(state));
        m.session_up
            .get_or_create(&self.labels)
            .set(i64::from(state == State::Established));
    }

    pub(crate) fn announced(&self, prefixes: usize) {
        self.metrics
            .announced_prefixes
            .get_or_create(&self.labels)
            .set(i64::try_from(prefixes).unwrap_or(i64::MAX));
    }

    pub(crate) fn updates_sent(&self, updates: usize, announced: usize, withdrawn: usize) {
        let m = &self.metrics;
        m.updates_sent.get_or_create(&self.labels).inc_by(updates as u64);
        m.prefixes_sent
            .get_or_create(&self.labels)
            .inc_by(announced as u64);
        m.prefixes_withdrawn
            .get_or_create(&self.labels)
            .inc_by(withdrawn as u64);
    }

    fn notification_labels(&self, code: u8, subcode: u8) -> NotificationLabels {
        NotificationLabels {
            peer: self.labels.peer.clone(),
            code,
            subcode,
        }
    }

    pub(crate) fn notification_sent(&self, code: u8, subcode: u8) {
        self.metrics
            .notifications_sent
            .get_or_create(&self.notification_labels(code, subcode))
            .inc();
    }

    pub(crate) fn notification_received(&self, n: &Notification) {
        self.metrics
            .notifications_received
            .get_or_create(&self.notification_labels(n.code, n.subcode))
            .inc();
    }

    pub(crate) fn update_ignored(&self) {
        self.metrics.updates_ignored.get_or_create(&self.labels).inc();
    }

    /// Removes the peer's gauges (counters stay: they are totals over the process's life).
    pub(crate) fn remove(&self) {
        let m = &self.metrics;
        m.session_up.remove(&self.labels);
        m.session_state.remove(&self.labels);
        m.announced_prefixes.remove(&self.labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn series_are_named_labelled_and_removed() {
        let mut registry = Registry::with_prefix("ferrolb_speaker");
        let metrics = BgpMetrics::new();
        metrics.register(&mut registry);
        let peer = metrics.peer("192.0.2.1:179".parse().unwrap());
        peer.state(State::Established);
        peer.announced(3);
        peer.updates_sent(2, 3, 0);
        peer.notification_sent(6, 2);
        peer.notification_received(&Notification::new(6, 4, []));
        peer.update_ignored();
        metrics.set_peer_error("[2001:db8::1]:179".parse().unwrap(), Some("no_router_id"));
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "ferrolb_speaker_bgp_session_up{peer=\"192.0.2.1:179\"} 1",
            "ferrolb_speaker_bgp_session_state{peer=\"192.0.2.1:179\"} 6",
            "ferrolb_speaker_bgp_announced_prefixes{peer=\"192.0.2.1:179\"} 3",
            "ferrolb_speaker_bgp_updates_sent_total{peer=\"192.0.2.1:179\"} 2",
            "ferrolb_speaker_bgp_prefixes_sent_total{peer=\"192.0.2.1:179\"} 3",
            "ferrolb_speaker_bgp_notifications_sent_total{peer=\"192.0.2.1:179\",code=\"6\",subcode=\"2\"} 1",
            "ferrolb_speaker_bgp_notifications_received_total{peer=\"192.0.2.1:179\",code=\"6\",subcode=\"4\"} 1",
            "ferrolb_speaker_bgp_updates_ignored_total{peer=\"192.0.2.1:179\"} 1",
            "ferrolb_speaker_bgp_peer_errors{peer=\"[2001:db8::1]:179\",reason=\"no_router_id\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        peer.remove();
        metrics.set_peer_error("[2001:db8::1]:179".parse().unwrap(), None);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(!text.contains("bgp_session_up{"), "{text}");
        assert!(!text.contains("bgp_peer_errors{"), "{text}");
        assert!(text.contains("bgp_updates_sent_total{peer=\"192.0.2.1:179\"} 2"));
    }
}
