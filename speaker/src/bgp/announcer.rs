//! BGP mode behind the owner loop's seam: [`BgpSpeaker`] as the [`BgpAnnouncer`] of [`crate::run`].
//!
//! The election's [`BgpDesired`] lists every bgp-pool IP in use with this node's decision; the IPs this node
//! announces (Cluster policy: while the Service has a ready endpoint anywhere; Local: while one runs here),
//! with their pools' advertisements, this node's peers and addresses become the [`BgpTarget`].

use std::future::Future;
use std::pin::Pin;

use prometheus_client::registry::Registry;

use super::desired::BgpTarget;
use super::shutdown::ShutdownMode;
use super::speaker::BgpSpeaker;
use crate::election::BgpDesired;
use crate::protocols::BgpAnnouncer;
use crate::status::sessions::SessionReport;

impl BgpTarget {
    /// What this node advertises according to the election.
    pub fn from_election(desired: &BgpDesired) -> BgpTarget {
        BgpTarget {
            node_addresses: desired.node_addresses.clone(),
            peers: desired.peers.clone(),
            prefixes: desired
                .advertised()
                .map(|(ip, p)| (*ip, p.advertisements.clone()))
                .collect(),
            bfd_profiles: desired
                .bfd_profiles
                .iter()
                .map(|p| (p.name.clone(), p.clone()))
                .collect(),
        }
    }
}

impl BgpAnnouncer for BgpSpeaker {
    fn set(&mut self, desired: &BgpDesired) {
        BgpSpeaker::set(self, &BgpTarget::from_election(desired));
    }

    fn register_metrics(&self, registry: &mut Registry) {
        self.metrics().register(registry);
    }

    fn take_events(&mut self) -> Option<tokio::sync::mpsc::Receiver<crate::k8s::events::SpeakerEvent>> {
        BgpSpeaker::take_events(self)
    }

    fn announcing(&self) -> bool {
        BgpSpeaker::announcing(self)
    }

    fn sessions(&self) -> Option<Vec<SessionReport>> {
        Some(self.session_reports())
    }

    fn shutdown(self: Box<Self>, mode: ShutdownMode) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(BgpSpeaker::shutdown_as(*self, mode))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::IpAddr;

    use ferrolb_config::BgpAdvertisement;

    use super::*;
    use crate::election::{BgpPrefix, Decision, SkipReason};

    fn prefix(decision: Decision, local_pref: Option<u32>) -> BgpPrefix {
        BgpPrefix {
            pool: "bgp".into(),
            advertisements: vec![BgpAdvertisement {
                local_pref,
                ..BgpAdvertisement::with_defaults("bgpadvertisement1", vec!["bgp".into()])
            }],
            services: Vec::new(),
            advertising_nodes: BTreeSet::new(),
            decision,
        }
    }

    #[test]
    fn only_the_ips_this_node_announces_become_prefixes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let desired = BgpDesired {
            prefixes: BTreeMap::from([
                (ip("203.0.113.10"), prefix(Decision::Announce, Some(200))),
                (
                    ip("203.0.113.11"),
                    prefix(Decision::Skip(SkipReason::NoLocalEndpoint), None),
                ),
                (
                    ip("203.0.113.12"),
                    prefix(Decision::Skip(SkipReason::NoReadyEndpoints), None),
                ),
            ]),
            peers: Vec::new(),
            node_addresses: vec![ip("192.0.2.11")],
            bfd_profiles: vec![ferrolb_config::BfdProfile::with_defaults("fast")],
        };
        let t = BgpTarget::from_election(&desired);
        assert_eq!(t.node_addresses, [ip("192.0.2.11")]);
        assert_eq!(t.prefixes.len(), 1);
        assert_eq!(t.prefixes[&ip("203.0.113.10")][0].local_pref, Some(200));
        assert_eq!(
            t.bfd_profiles["fast"],
            ferrolb_config::BfdProfile::with_defaults("fast")
        );
    }
}
