//! The speaker's Events: their reasons, published by the shared [`ferrolb_k8s::EventPublisher`]
//! (`events.k8s.io/v1`, bounded queue, dropped and counted when the API server is unreachable — never holding
//! up the owner loop).

use ferrolb_k8s::Regarding;

use crate::model::ServiceKey;

/// The `reportingController` of the speaker's Events.
pub const REPORTING_CONTROLLER: &str = "ferrolb-speaker";

/// An Event the speaker emits.
pub type SpeakerEvent = ferrolb_k8s::EventRecord<Reason>;

/// Why the speaker emits an Event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// This node started announcing a Service's IP (MetalLB's `nodeAssigned`).
    NodeAssigned,
    /// The BFD session with a router went down because the path failed; its BGP sessions were closed (an Event
    /// on the Node).
    BfdSessionDown,
    /// Another host claims a Service's IP that this node announces (ARP/NDP from another MAC).
    IpConflict,
}

impl ferrolb_k8s::Reason for Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::NodeAssigned => "nodeAssigned",
            Reason::BfdSessionDown => "bfdSessionDown",
            Reason::IpConflict => "IPConflict",
        }
    }

    fn is_warning(self) -> bool {
        match self {
            Reason::NodeAssigned => false,
            Reason::BfdSessionDown | Reason::IpConflict => true,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Reason::NodeAssigned => "Announce",
            Reason::BfdSessionDown => "DetectPathFailure",
            Reason::IpConflict => "DefendAddress",
        }
    }
}

/// The Event about Service `key` (uid `uid`).
pub fn service_event(key: &ServiceKey, uid: Option<String>, reason: Reason, note: String) -> SpeakerEvent {
    SpeakerEvent {
        regarding: Regarding {
            api_version: "v1".into(),
            kind: "Service".into(),
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid,
            resource_version: None,
        },
        reason,
        note,
    }
}

/// The Event about this node, `v1 Node <node>` (cluster-scoped: the Event goes to the `default` namespace).
pub fn node_event(node: &str, reason: Reason, note: String) -> SpeakerEvent {
    SpeakerEvent {
        regarding: Regarding {
            api_version: "v1".into(),
            kind: "Node".into(),
            name: node.to_owned(),
            ..Regarding::default()
        },
        reason,
        note,
    }
}

#[cfg(test)]
mod tests {
    use ferrolb_k8s::Reason as _;
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    #[test]
    fn events_name_the_service_and_the_reporter() {
        let ev = service_event(
            &ServiceKey::new("apps", "web"),
            Some("u-1".into()),
            Reason::NodeAssigned,
            "announcing 192.0.2.100 from node n1 interface eth0 with protocol layer2".into(),
        );
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let e = ev.to_event(REPORTING_CONTROLLER, "n1", 0, now);
        assert_eq!(e.metadata.namespace.as_deref(), Some("apps"));
        assert!(e.metadata.name.as_deref().unwrap().starts_with("web."));
        let r = e.regarding.unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("Service"), Some("web"), Some("u-1"))
        );
        assert_eq!(e.reporting_instance.as_deref(), Some("n1"));
        assert_eq!(e.reason.as_deref(), Some("nodeAssigned"));
        assert_eq!(e.type_.as_deref(), Some("Normal"));
        assert!(!Reason::NodeAssigned.is_warning());
    }

    #[test]
    fn bfd_events_are_warnings_about_the_node() {
        let ev = node_event(
            "n1",
            Reason::BfdSessionDown,
            "BFD session with router 192.0.2.1 went down".into(),
        );
        let e = ev.to_event(
            REPORTING_CONTROLLER,
            "n1",
            0,
            Timestamp::from_second(1_700_000_000).unwrap(),
        );
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        let r = e.regarding.unwrap();
        assert_eq!(
            (r.api_version.as_deref(), r.kind.as_deref(), r.name.as_deref()),
            (Some("v1"), Some("Node"), Some("n1"))
        );
        assert_eq!(r.namespace, None);
        assert_eq!(e.reason.as_deref(), Some("bfdSessionDown"));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
    }
}
