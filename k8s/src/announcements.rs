//! The status objects that say who announces what — `ServiceL2Status` and `ServiceBGPStatus`, one per (node,
//! Service), labelled as MetalLB's speakers label theirs — shared by the speakers that write them and the
//! controller that removes those of deleted nodes.

use kube::core::{ApiResource, GroupVersionKind};

/// The label naming an object's node.
pub const NODE_LABEL: &str = "metallb.io/node";
/// The label naming an object's Service's namespace.
pub const SERVICE_NAMESPACE_LABEL: &str = "metallb.io/service-namespace";
/// The label naming an object's Service.
pub const SERVICE_NAME_LABEL: &str = "metallb.io/service-name";

/// `metallb.io/v1beta1` `ServiceL2Status`.
pub fn l2_status_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metallb.io", "v1beta1", "ServiceL2Status"),
        "servicel2statuses",
    )
}

/// `metallb.io/v1beta1` `ServiceBGPStatus`.
pub fn bgp_status_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("metallb.io", "v1beta1", "ServiceBGPStatus"),
        "servicebgpstatuses",
    )
}

/// The name of a speaker's `ConfigurationState` (MetalLB's spelling).
pub fn speaker_state_name(node: &str) -> String {
    format!("speaker-{node}")
}
