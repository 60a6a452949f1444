//! What the controller tells operators in Events: the typed reasons (published by the shared
//! [`ferrolb_k8s::EventPublisher`], only while this replica leads).

use ferrolb_k8s::Regarding;

use crate::service::ServiceView;

/// The component name on every Event and log line.
pub const COMPONENT: &str = "ferrolb-controller";

/// An Event the controller emits.
pub type EventRecord = ferrolb_k8s::EventRecord<Reason>;

/// Why an Event was emitted: its `reason` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A Service got (new) IPs.
    IpAllocated,
    /// A Service could not get IPs, or its request is invalid.
    AllocationFailed,
    /// IPs were taken out of a Service's status.
    ClearAssignment,
    /// A Service uses MetalLB spellings of ferrolb's annotations.
    DeprecatedAnnotation,
    /// A configuration object is invalid; the last good config stays in force.
    InvalidConfig,
    /// The configuration was deleted; the last good config stays in force.
    ConfigDeleted,
}

impl ferrolb_k8s::Reason for Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::IpAllocated => "IPAllocated",
            Reason::AllocationFailed => "AllocationFailed",
            Reason::ClearAssignment => "ClearAssignment",
            Reason::DeprecatedAnnotation => "DeprecatedAnnotation",
            Reason::InvalidConfig => "InvalidConfig",
            Reason::ConfigDeleted => "ConfigDeleted",
        }
    }

    fn is_warning(self) -> bool {
        !matches!(self, Reason::IpAllocated | Reason::ClearAssignment)
    }

    fn action(self) -> &'static str {
        match self {
            Reason::IpAllocated | Reason::AllocationFailed | Reason::DeprecatedAnnotation => "Allocate",
            Reason::ClearAssignment => "Release",
            Reason::InvalidConfig | Reason::ConfigDeleted => "LoadConfig",
        }
    }
}

/// The Service an Event is about.
pub fn regarding(view: &ServiceView) -> Regarding {
    Regarding {
        api_version: "v1".into(),
        kind: "Service".into(),
        namespace: view.key.namespace.clone(),
        name: view.key.name.clone(),
        uid: Some(view.uid.clone()),
        resource_version: Some(view.resource_version.clone()),
    }
}

#[cfg(test)]
mod tests {
    use ferrolb_k8s::Reason as _;

    use super::*;

    #[test]
    fn warning_reasons() {
        let all = [
            Reason::IpAllocated,
            Reason::AllocationFailed,
            Reason::ClearAssignment,
            Reason::DeprecatedAnnotation,
            Reason::InvalidConfig,
            Reason::ConfigDeleted,
        ];
        let warnings: Vec<&str> = all
            .iter()
            .filter(|r| r.is_warning())
            .map(|r| r.as_str())
            .collect();
        assert_eq!(
            warnings,
            [
                "AllocationFailed",
                "DeprecatedAnnotation",
                "InvalidConfig",
                "ConfigDeleted"
            ]
        );
    }
}
