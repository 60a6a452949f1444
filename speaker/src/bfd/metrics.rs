//! BFD metrics (prometheus-client), registered under the `bfd` prefix of the speaker's registry.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `bfd_session_up` | gauge 0/1 | `peer` (the router's address) |
//! | `bfd_session_state` | gauge: 0 admindown, 1 down, 2 init, 3 up (RFC 5880's codes) | `peer` |
//! | `bfd_state_changes_total` | counter: transitions, by the state entered | `peer`, `state` |
//! | `bfd_session_down_total` | counter: the session left Up, and why | `peer`, `reason` |
//! | `bfd_packets_sent_total` | counter: Control packets sent | `peer` |
//! | `bfd_packets_received_total` | counter: Control packets accepted | `peer` |
//! | `bfd_packets_discarded_total` | counter: packets dropped (RFC 5880 §6.8.6 rules, TTL, unknown session) | `reason` |
//! | `bfd_send_errors_total` | counter: packets the kernel refused | `peer` |
//! | `bfd_detection_time_misses_total` | counter: gaps between two of our packets longer than the detection time the router applies to them (it may have declared us down) | `peer` |
//! | `bfd_transmit_delay_seconds` | histogram: how late periodic packets left after their due time | |
//!
//! A session's gauges are removed with it; counters stay (totals over the process's life).

use std::net::IpAddr;
use std::time::Duration;

use ferrolb_proto::bfd::{DownReason, State};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of per-session series.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SessionLabels {
    /// The router's address.
    pub peer: String,
}

/// Labels of the state change counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StateLabels {
    /// The router's address.
    pub peer: String,
    /// The state entered.
    pub state: &'static str,
}

/// Labels of the session down counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DownLabels {
    /// The router's address.
    pub peer: String,
    /// [`DownReason::metric_label`].
    pub reason: &'static str,
}

/// Labels of the discard counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DiscardLabels {
    /// Why.
    pub reason: &'static str,
}

/// Transmit delay buckets: 0.1 ms to 0.5 s.
const DELAY_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
];

/// The BFD metric families; clones share the series.
#[derive(Debug, Clone)]
pub struct BfdMetrics {
    session_up: Family<SessionLabels, Gauge>,
    session_state: Family<SessionLabels, Gauge>,
    state_changes: Family<StateLabels, Counter>,
    session_down: Family<DownLabels, Counter>,
    packets_sent: Family<SessionLabels, Counter>,
    packets_received: Family<SessionLabels, Counter>,
    packets_discarded: Family<DiscardLabels, Counter>,
    send_errors: Family<SessionLabels, Counter>,
    detection_time_misses: Family<SessionLabels, Counter>,
    transmit_delay: Histogram,
}

impl Default for BfdMetrics {
    fn default() -> Self {
        BfdMetrics {
            session_up: Family::default(),
            session_state: Family::default(),
            state_changes: Family::default(),
            session_down: Family::default(),
            packets_sent: Family::default(),
            packets_received: Family::default(),
            packets_discarded: Family::default(),
            send_errors: Family::default(),
            detection_time_misses: Family::default(),
            transmit_delay: Histogram::new(DELAY_BUCKETS),
        }
    }
}

/// The lowercase name of a state (metric label).
pub(crate) fn state_label(state: State) -> &'static str {
    match state {
        State::AdminDown => "admindown",
        State::Down => "down",
        State::Init => "init",
        State::Up => "up",
    }
}

impl BfdMetrics {
    /// New, unregistered families.
    pub fn new() -> BfdMetrics {
        BfdMetrics::default()
    }

    /// Registers every family under the `bfd` prefix of `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("bfd");
        r.register(
            "session_up",
            "Whether the BFD session with the router is Up",
            self.session_up.clone(),
        );
        r.register(
            "session_state",
            "BFD session state (0 admindown, 1 down, 2 init, 3 up)",
            self.session_state.clone(),
        );
        r.register(
            "state_changes",
            "BFD session state transitions, by the state entered",
            self.state_changes.clone(),
        );
        r.register(
            "session_down",
            "Times the BFD session left Up, by reason",
            self.session_down.clone(),
        );
        r.register(
            "packets_sent",
            "BFD Control packets sent to the router",
            self.packets_sent.clone(),
        );
        r.register(
            "packets_received",
            "BFD Control packets from the router accepted",
            self.packets_received.clone(),
        );
        r.register(
            "packets_discarded",
            "BFD packets discarded, by reason",
            self.packets_discarded.clone(),
        );
        r.register(
            "send_errors",
            "BFD Control packets the kernel refused to send",
            self.send_errors.clone(),
        );
        r.register(
            "detection_time_misses",
            "Gaps between two BFD packets to the router longer than the detection time it applies to them",
            self.detection_time_misses.clone(),
        );
        r.register(
            "transmit_delay_seconds",
            "How late periodic BFD packets were sent after their due time",
            self.transmit_delay.clone(),
        );
    }

    /// The series of the session with `peer`.
    pub(crate) fn session(&self, peer: IpAddr) -> SessionMetrics {
        SessionMetrics {
            labels: SessionLabels {
                peer: peer.to_string(),
            },
            metrics: self.clone(),
        }
    }

    /// A packet was discarded for `reason`.
    pub(crate) fn discarded(&self, reason: &'static str) {
        self.packets_discarded
            .get_or_create(&DiscardLabels { reason })
            .inc();
    }

    /// A periodic packet left `delay` after its due time.
    pub(crate) fn transmit_delay(&self, delay: Duration) {
        self.transmit_delay.observe(delay.as_secs_f64());
    }
}

/// One session's series, used by the BFD task.
#[derive(Debug, Clone)]
pub(crate) struct SessionMetrics {
    labels: SessionLabels,
    metrics: BfdMetrics,
}

impl SessionMetrics {
    pub(crate) fn state(&self, state: State) {
        let m = &self.metrics;
        m.session_state
            .get_or_create(&self.labels)
            .set(i64::from(state.code()));
        m.session_up
            .get_or_create(&self.labels)
            .set(i64::from(state == State::Up));
    }

    pub(crate) fn state_changed(&self, to: State) {
        self.state(to);
        self.metrics
            .state_changes
            .get_or_create(&StateLabels {
                peer: self.labels.peer.clone(),
                state: state_label(to),
            })
            .inc();
    }

    pub(crate) fn down(&self, reason: DownReason) {
        self.metrics
            .session_down
            .get_or_create(&DownLabels {
                peer: self.labels.peer.clone(),
                reason: reason.metric_label(),
            })
            .inc();
    }

    pub(crate) fn sent(&self) {
        self.metrics.packets_sent.get_or_create(&self.labels).inc();
    }

    pub(crate) fn received(&self) {
        self.metrics.packets_received.get_or_create(&self.labels).inc();
    }

    pub(crate) fn send_error(&self) {
        self.metrics.send_errors.get_or_create(&self.labels).inc();
    }

    pub(crate) fn detection_time_miss(&self) {
        self.metrics
            .detection_time_misses
            .get_or_create(&self.labels)
            .inc();
    }

    /// Removes the session's gauges.
    pub(crate) fn remove(&self) {
        self.metrics.session_up.remove(&self.labels);
        self.metrics.session_state.remove(&self.labels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;

    #[test]
    fn series_are_named_labelled_and_removed() {
        let mut registry = Registry::with_prefix("ferrolb_speaker");
        let metrics = BfdMetrics::new();
        metrics.register(&mut registry);
        let s = metrics.session("192.0.2.1".parse().unwrap());
        s.state_changed(State::Up);
        s.down(DownReason::DetectionTimeExpired);
        s.sent();
        s.received();
        s.send_error();
        s.detection_time_miss();
        metrics.discarded("ttl");
        metrics.transmit_delay(Duration::from_micros(300));
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        for line in [
            "ferrolb_speaker_bfd_session_up{peer=\"192.0.2.1\"} 1",
            "ferrolb_speaker_bfd_session_state{peer=\"192.0.2.1\"} 3",
            "ferrolb_speaker_bfd_state_changes_total{peer=\"192.0.2.1\",state=\"up\"} 1",
            "ferrolb_speaker_bfd_session_down_total{peer=\"192.0.2.1\",reason=\"detection_time_expired\"} 1",
            "ferrolb_speaker_bfd_packets_sent_total{peer=\"192.0.2.1\"} 1",
            "ferrolb_speaker_bfd_packets_received_total{peer=\"192.0.2.1\"} 1",
            "ferrolb_speaker_bfd_packets_discarded_total{reason=\"ttl\"} 1",
            "ferrolb_speaker_bfd_send_errors_total{peer=\"192.0.2.1\"} 1",
            "ferrolb_speaker_bfd_detection_time_misses_total{peer=\"192.0.2.1\"} 1",
            "ferrolb_speaker_bfd_transmit_delay_seconds_bucket{le=\"0.0005\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        s.remove();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(!text.contains("bfd_session_up{"), "{text}");
        assert!(text.contains("bfd_packets_sent_total{peer=\"192.0.2.1\"} 1"));
    }
}
