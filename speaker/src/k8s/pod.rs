//! The own Pod, read once at shutdown: whether it is being deleted through the API (a restart) or not (a
//! node shutdown, a reboot, an eviction by the kubelet, a kill). See [`crate::bgp::shutdown`].

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;

use crate::bgp::PodSign;

/// How long the shutdown waits for the API server: a node going down may already have lost it, and the
/// BGP sessions must close well inside the pod's grace period.
pub const POD_READ_TIMEOUT: Duration = Duration::from_millis(500);

/// The sign of pod `name` (`--pod-name`) in `namespace`: one GET, bounded by [`POD_READ_TIMEOUT`].
pub async fn pod_sign(client: &kube::Client, namespace: &str, name: Option<&str>) -> PodSign {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return PodSign::Unknown("no --pod-name".into());
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let unknown = |why: String| PodSign::Unknown(format!("pod {name} could not be read ({why})"));
    match tokio::time::timeout(POD_READ_TIMEOUT, api.get(name)).await {
        Ok(Ok(pod)) => sign_of(name, &pod),
        Ok(Err(kube::Error::Api(s))) => unknown(format!("{} {}: {}", s.code, s.reason, s.message)),
        Ok(Err(e)) => unknown(e.to_string()),
        Err(_) => unknown(format!("no answer within {} ms", POD_READ_TIMEOUT.as_millis())),
    }
}

/// Whether `pod` is being deleted (pure).
pub fn sign_of(name: &str, pod: &Pod) -> PodSign {
    if pod.metadata.deletion_timestamp.is_some() {
        PodSign::Deleting(name.to_owned())
    } else {
        PodSign::NotDeleting(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deletion_timestamp_is_the_sign() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "spk-1", "namespace": "ferrolb-system"}
        }))
        .unwrap();
        assert_eq!(sign_of("spk-1", &pod), PodSign::NotDeleting("spk-1".into()));
        pod.metadata.deletion_timestamp =
            serde_json::from_value(serde_json::json!("2026-11-25T10:00:05Z")).unwrap();
        assert_eq!(sign_of("spk-1", &pod), PodSign::Deleting("spk-1".into()));
    }
}
