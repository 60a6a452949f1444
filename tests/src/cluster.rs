//! The embedded API server set up for the install manifests.
//!
//! ferrolb-apiserver serves the kinds ferrolb's programs use. The manifests also hold ServiceAccounts, RBAC
//! objects, a Deployment and a DaemonSet: those are served here as schemaless custom resources under their
//! real group, version and plural (kubectl finds them by discovery and applies them like any object). Their
//! schemas are checked separately, against the k8s-openapi types ([`unknown_fields`]).

use std::sync::Arc;

use ferrolb_apiserver::ServerHandle;
use ferrolb_apiserver::defaults::Target;
use ferrolb_apiserver::ops::{Patch, PatchType, WriteOpts};
use ferrolb_apiserver::resources::ResourceDef;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// The users the programs run as (the manifests' ServiceAccounts).
pub const CONTROLLER_USER: &str = "system:serviceaccount:ferrolb-system:ferrolb-controller";
/// The speaker's user.
pub const SPEAKER_USER: &str = "system:serviceaccount:ferrolb-system:ferrolb-speaker";

fn crd(group: &str, plural: &str, kind: &str, namespaced: bool, status: bool) -> CustomResourceDefinition {
    let mut version = json!({
        "name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
    });
    if status {
        version["subresources"] = json!({"status": {}});
    }
    let name = if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    };
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "names": {"plural": plural, "singular": kind.to_ascii_lowercase(), "kind": kind},
            "versions": [version]
        }
    }))
    .unwrap_or_else(|e| unreachable!("a literal CRD decodes: {e}"))
}

/// The install kinds the embedded server does not build in, as CRDs under their real group/version/plural.
pub fn install_kinds() -> Vec<CustomResourceDefinition> {
    const RBAC: &str = "rbac.authorization.k8s.io";
    vec![
        crd("", "serviceaccounts", "ServiceAccount", true, false),
        crd(RBAC, "roles", "Role", true, false),
        crd(RBAC, "rolebindings", "RoleBinding", true, false),
        crd(RBAC, "clusterroles", "ClusterRole", false, false),
        crd(RBAC, "clusterrolebindings", "ClusterRoleBinding", false, false),
        crd("apps", "deployments", "Deployment", true, true),
        crd("apps", "daemonsets", "DaemonSet", true, true),
        // what the kubespray role looks for before installing (MetalLB's webhook)
        crd(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            "ValidatingWebhookConfiguration",
            false,
            false,
        ),
    ]
}

/// The Prometheus Operator's kinds deploy/monitoring uses, as schemaless CRDs (the operator's own schemas
/// are not needed to store them).
pub fn monitoring_kinds() -> Vec<CustomResourceDefinition> {
    const GROUP: &str = "monitoring.coreos.com";
    vec![
        crd(GROUP, "podmonitors", "PodMonitor", true, false),
        crd(GROUP, "prometheusrules", "PrometheusRule", true, false),
    ]
}

/// Group, version and plural of a manifest kind (the ones ferrolb's manifests use).
pub fn gvr(kind: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match kind {
        "Namespace" => ("", "v1", "namespaces"),
        "ServiceAccount" => ("", "v1", "serviceaccounts"),
        "ConfigMap" => ("", "v1", "configmaps"),
        "Secret" => ("", "v1", "secrets"),
        "Service" => ("", "v1", "services"),
        "Node" => ("", "v1", "nodes"),
        "Pod" => ("", "v1", "pods"),
        "EndpointSlice" => ("discovery.k8s.io", "v1", "endpointslices"),
        "Lease" => ("coordination.k8s.io", "v1", "leases"),
        "Role" => ("rbac.authorization.k8s.io", "v1", "roles"),
        "RoleBinding" => ("rbac.authorization.k8s.io", "v1", "rolebindings"),
        "ClusterRole" => ("rbac.authorization.k8s.io", "v1", "clusterroles"),
        "ClusterRoleBinding" => ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
        "Deployment" => ("apps", "v1", "deployments"),
        "DaemonSet" => ("apps", "v1", "daemonsets"),
        "CustomResourceDefinition" => ("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        "IPAddressPool" => ("metallb.io", "v1beta1", "ipaddresspools"),
        "L2Advertisement" => ("metallb.io", "v1beta1", "l2advertisements"),
        "BGPAdvertisement" => ("metallb.io", "v1beta1", "bgpadvertisements"),
        "BGPPeer" => ("metallb.io", "v1beta2", "bgppeers"),
        "BFDProfile" => ("metallb.io", "v1beta1", "bfdprofiles"),
        "Community" => ("metallb.io", "v1beta1", "communities"),
        "ServiceL2Status" => ("metallb.io", "v1beta1", "servicel2statuses"),
        "ServiceBGPStatus" => ("metallb.io", "v1beta1", "servicebgpstatuses"),
        "ConfigurationState" => ("metallb.io", "v1beta1", "configurationstates"),
        "PodMonitor" => ("monitoring.coreos.com", "v1", "podmonitors"),
        "ValidatingWebhookConfiguration" => (
            "admissionregistration.k8s.io",
            "v1",
            "validatingwebhookconfigurations",
        ),
        "PrometheusRule" => ("monitoring.coreos.com", "v1", "prometheusrules"),
        _ => return None,
    })
}

/// The fields of `object` that the Kubernetes type `T` does not know (paths such as
/// `spec.template.spec.containers[0].securityContext.capabilites`): a typo the real API server would drop
/// (or refuse under strict field validation). Found by decoding into `T`, encoding again and comparing.
pub fn unknown_fields<T: DeserializeOwned + Serialize>(object: &Value) -> Result<Vec<String>, String> {
    let typed: T = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    missing(object, &back, String::new(), &mut out);
    Ok(out)
}

fn missing(original: &Value, round: &Value, path: String, out: &mut Vec<String>) {
    match (original, round) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(w) => missing(v, w, p, out),
                    // Empty values may be dropped by the round trip without losing anything.
                    None if is_empty(v) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, v) in a.iter().enumerate() {
                if let Some(w) = b.get(i) {
                    missing(v, w, format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Checks one manifest object against its Kubernetes type: the unknown fields, or an error when it does
/// not decode or is of a kind the manifests should not hold.
pub fn check_schema(object: &Value) -> Result<Vec<String>, String> {
    use k8s_openapi::api::{apps, core, rbac};
    match object["kind"].as_str().unwrap_or_default() {
        "Namespace" => unknown_fields::<core::v1::Namespace>(object),
        "ServiceAccount" => unknown_fields::<core::v1::ServiceAccount>(object),
        "ConfigMap" => unknown_fields::<core::v1::ConfigMap>(object),
        "Role" => unknown_fields::<rbac::v1::Role>(object),
        "RoleBinding" => unknown_fields::<rbac::v1::RoleBinding>(object),
        "ClusterRole" => unknown_fields::<rbac::v1::ClusterRole>(object),
        "ClusterRoleBinding" => unknown_fields::<rbac::v1::ClusterRoleBinding>(object),
        "Deployment" => unknown_fields::<apps::v1::Deployment>(object),
        "DaemonSet" => unknown_fields::<apps::v1::DaemonSet>(object),
        "CustomResourceDefinition" => unknown_fields::<
            k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        >(object),
        other => Err(format!("kind {other:?} is not expected in the manifests")),
    }
}

/// The test's own hand on the server: creates, patches, reads and deletes objects through the server's
/// operations (full API semantics and watch events, no HTTP, not audited), for tests whose server listens
/// where the test process cannot connect (inside a network namespace).
#[derive(Debug, Clone, Copy)]
pub struct Admin<'a> {
    handle: &'a ServerHandle,
}

impl<'a> Admin<'a> {
    /// The admin of `handle`'s server.
    pub fn new(handle: &'a ServerHandle) -> Self {
        Admin { handle }
    }

    fn def(&self, kind: &str) -> Result<Arc<ResourceDef>, String> {
        let (g, v, plural) = gvr(kind).ok_or_else(|| format!("kind {kind} is not known to the tests"))?;
        self.handle
            .ops()
            .registry
            .get(g, v, plural)
            .ok_or_else(|| format!("{g}/{v} {plural} is not served"))
    }

    /// Creates `object` (its kind and namespace from the object itself).
    pub fn create(&self, object: &Value) -> Result<Value, String> {
        let kind = object["kind"].as_str().unwrap_or_default();
        let def = self.def(kind)?;
        let ns = object["metadata"]["namespace"].as_str();
        self.handle
            .ops()
            .create(&def, ns, object.clone(), &WriteOpts::default())
            .map(|w| w.object)
            .map_err(|e| format!("creating {kind} {}: {e:?}", object["metadata"]["name"]))
    }

    /// A JSON merge patch of the object, or of its status.
    pub fn merge(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        patch: &Value,
        status: bool,
    ) -> Result<Value, String> {
        let def = self.def(kind)?;
        let body = patch.to_string();
        let target = if status { Target::Status } else { Target::Main };
        self.handle
            .ops()
            .patch(
                &def,
                namespace,
                name,
                Patch {
                    ptype: PatchType::Merge,
                    body: body.as_bytes(),
                },
                target,
                &WriteOpts::default(),
            )
            .map(|w| w.object)
            .map_err(|e| format!("patching {kind} {namespace}/{name}: {e}"))
    }

    /// Deletes the object.
    pub fn delete(&self, kind: &str, namespace: &str, name: &str) -> Result<(), String> {
        let def = self.def(kind)?;
        self.handle
            .ops()
            .delete(&def, namespace, name, &json!({}))
            .map(|_| ())
            .map_err(|e| format!("deleting {kind} {namespace}/{name}: {e}"))
    }

    /// The stored object, if any.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let (g, v, plural) = gvr(kind)?;
        self.handle.get(g, v, plural, namespace, name)
    }

    /// Every stored object of `kind` in `namespace`, as the kind's version presents it.
    pub fn list(&self, kind: &str, namespace: &str) -> Vec<Value> {
        let Ok(def) = self.def(kind) else {
            return Vec::new();
        };
        self.handle
            .store()
            .objects(&def.storage, Some(namespace))
            .iter()
            .filter_map(|o| def.to_external(o).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_found_and_empty_values_are_not() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "a", "labels": {}, "nmespace": "x"}, "data": {"k": "v"}, "dta": 1});
        let mut found = check_schema(&cm).unwrap();
        found.sort();
        assert_eq!(found, ["dta".to_owned(), "metadata.nmespace".to_owned()]);
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "s"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "c", "securityContext": {"capabilites": {"add": ["NET_RAW"]}}}]}}}});
        assert_eq!(
            check_schema(&ds).unwrap(),
            ["spec.template.spec.containers[0].securityContext.capabilites".to_owned()]
        );
        assert!(check_schema(&json!({"kind": "Pod"})).is_err());
        assert_eq!(install_kinds().len(), 8);
        assert_eq!(gvr("DaemonSet"), Some(("apps", "v1", "daemonsets")));
    }
}
