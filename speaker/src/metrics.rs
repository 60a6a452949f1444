//! The speaker's Prometheus metrics (`/metrics`, prefix `ferrolb_`).
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `ferrolb_speaker_announced` | `ip`, `protocol` | 1 for each IP this node announces |
//! | `ferrolb_speaker_announced_ips` | `protocol` | how many IPs this node announces |
//! | `ferrolb_speaker_skipped_ips` | `reason` | IPs in use that this node does not announce, by [`SkipReason`] |
//! | `ferrolb_speaker_ownership_gained_total` | | IPs this node took over |
//! | `ferrolb_speaker_config_loaded` / `_config_stale` | | a valid config is in use / the configuration is invalid or deleted (the last valid one is kept) |
//! | `ferrolb_layer2_requests_received_total` | `protocol` (`arp`, `ndp`) | ARP requests / Neighbor Solicitations read |
//! | `ferrolb_layer2_responses_sent_total` | `protocol` | replies sent |
//! | `ferrolb_layer2_requests_ignored_total` | `protocol`, `reason` | requests not answered, by `DropReason` |
//! | `ferrolb_layer2_gratuitous_sent_total` | `protocol` | gratuitous ARPs / unsolicited NAs sent |
//! | `ferrolb_layer2_fast_path_enabled` | | 1 when ARP is answered in the kernel (eBPF) for owned IPv4 addresses |
//! | `ferrolb_layer2_fast_path_responses_total` | | ARP replies the fast path sent (also counted in `responses_sent`) |
//! | `ferrolb_memberlist_members` | | live members, this node included |
//! | `ferrolb_memberlist_member_changes_total` | `change` (`up`, `down`; successor watch: `unreachable`, `reachable`, `withdrawn`) | membership changes seen |
//! | `ferrolb_memberlist_watched` | | nodes this speaker watches (it takes over their IPs) whose heartbeats arrive |
//! | `ferrolb_memberlist_watchers` | | nodes this speaker sends heartbeats to |
//! | `ferrolb_memberlist_suspicions_total` | | probes of other members that failed (suspicions raised here) |
//! | `ferrolb_memberlist_auth_failures_total` | `reason` | datagrams dropped: `unauthenticated`, `forged`, `replayed`, `stale_boot`, `no_key` |
//! | `ferrolb_memberlist_datagrams_total` | `direction` | membership datagrams sent / accepted |
//! | `ferrolb_k8s_watch_errors_total` | `resource` | watch errors (the last known state is kept; the shared watches') |
//! | `ferrolb_speaker_events_published_total`, `_events_dropped_total` | | Events written / not written (API server unreachable or queue full; the shared publisher's) |
//!
//! [`SkipReason`]: crate::election::SkipReason

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

pub use crate::layer2::metrics::Layer2Metrics;
pub use crate::membership::metrics::MembershipMetrics;

/// `protocol` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ProtocolLabel {
    /// `layer2`, `bgp`, `arp` or `ndp`.
    pub protocol: &'static str,
}

/// `ip` and `protocol` labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct IpLabels {
    /// The IP.
    pub ip: String,
    /// `layer2` or `bgp`.
    pub protocol: &'static str,
}

/// `reason` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A metric label of a reason enum.
    pub reason: &'static str,
}

/// `protocol` and `reason` labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DropLabels {
    /// `arp` or `ndp`.
    pub protocol: &'static str,
    /// Why the request was not answered.
    pub reason: &'static str,
}

/// `change` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ChangeLabel {
    /// `up`, `down`, `unreachable`, `reachable` or `withdrawn`.
    pub change: &'static str,
}

/// `direction` label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `sent` or `received`.
    pub direction: &'static str,
}

/// The owner loop's metrics (`ferrolb_speaker_*`), and each subsystem's own: [`Layer2Metrics`],
/// [`MembershipMetrics`] (BGP mode registers its `BgpMetrics` itself). Cloning shares the values.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// 1 per announced IP.
    pub announced: Family<IpLabels, Gauge>,
    /// Announced IPs per protocol.
    pub announced_ips: Family<ProtocolLabel, Gauge>,
    /// IPs in use not announced here, per reason.
    pub skipped_ips: Family<ReasonLabel, Gauge>,
    /// IPs this node took over.
    pub ownership_gained: Counter,
    /// 1 when a valid config is in use.
    pub config_loaded: Gauge,
    /// 1 when the configuration is invalid or deleted and the last valid one is kept.
    pub config_stale: Gauge,
    /// The ARP/NDP responders' metrics.
    pub layer2: Layer2Metrics,
    /// The membership's metrics.
    pub membership: MembershipMetrics,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry` (under the prefix `ferrolb`).
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics::default();
        let r = registry.sub_registry_with_prefix("ferrolb");
        {
            let s = r.sub_registry_with_prefix("speaker");
            s.register(
                "announced",
                "1 for each IP this node announces",
                m.announced.clone(),
            );
            s.register(
                "announced_ips",
                "IPs this node announces",
                m.announced_ips.clone(),
            );
            s.register(
                "skipped_ips",
                "IPs in use that this node does not announce, by reason",
                m.skipped_ips.clone(),
            );
            s.register(
                "ownership_gained",
                "IPs this node took over",
                m.ownership_gained.clone(),
            );
            s.register(
                "config_loaded",
                "1 when a valid config is in use",
                m.config_loaded.clone(),
            );
            s.register(
                "config_stale",
                "1 when the configuration is invalid or deleted and the last valid one is kept",
                m.config_stale.clone(),
            );
        }
        m.layer2.register(r.sub_registry_with_prefix("layer2"));
        m.membership.register(r.sub_registry_with_prefix("memberlist"));
        m
    }
}
