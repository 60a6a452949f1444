//! Reads the [`Snapshot`]: read-only requests, all at once — `list` on every kind, `get` on ferrolb's
//! Namespace, the Lease and the Secrets BGPPeers name for their password. The configuration objects are
//! projected by `ferrolb_k8s::config`, as the programs project them.
//!
//! What stops the command ([`FetchError`], exit status 2): the Services cannot be listed (the API server is
//! unreachable, the credentials are refused, or RBAC forbids it), ferrolb's namespace does not exist, or the
//! `ConfigurationState` CRD is not installed. Every other failed read becomes a [`Gap`] in the snapshot.
//! A metallb.io configuration kind whose CRD is missing counts as empty, as in the programs.

use std::time::{SystemTime, UNIX_EPOCH};

use ferrolb_config::Sources;
use ferrolb_k8s::config::{
    ConfigNames, IP_ADDRESS_POOL, RESOURCE_KINDS, configuration_state_resource, project_config_map,
    project_resource, project_secret,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, Service};
use kube::api::{DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client};

use super::objects;
use super::snapshot::{ConfigObjects, Gap, GapReason, Read, Snapshot};

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// ferrolb's namespace.
    pub namespace: String,
    /// The configuration's namespace.
    pub config_namespace: String,
    /// The legacy ConfigMap's name.
    pub config_map: String,
    /// The controller's Lease.
    pub lease_name: String,
    /// The load-balancer class ferrolb serves.
    pub load_balancer_class: Option<String>,
}

/// Why there is nothing to show.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// ferrolb is not installed (where `--namespace` says).
    #[error("ferrolb is not installed: {0}")]
    NotInstalled(String),
    /// The Services could not be read.
    #[error("{0}")]
    Services(Gap),
}

/// Reads everything `ferrolb status` shows.
pub async fn snapshot(client: &Client, t: &Target) -> Result<Snapshot, FetchError> {
    let (namespace, services, lease, states, l2, bgp, config, failures) = tokio::join!(
        namespace_exists(client, &t.namespace),
        services(client),
        lease(client, t),
        list(
            client,
            &t.namespace,
            configuration_state_resource(),
            objects::component_state
        ),
        list(
            client,
            &t.namespace,
            status_resource("ServiceL2Status", "servicel2statuses"),
            objects::l2_status
        ),
        list(
            client,
            &t.namespace,
            status_resource("ServiceBGPStatus", "servicebgpstatuses"),
            objects::bgp_status
        ),
        config(client, t),
        failures(client),
    );
    let services = services.map_err(FetchError::Services)?;
    if namespace == Some(false) {
        return Err(FetchError::NotInstalled(format!(
            "namespace {} does not exist (--namespace names ferrolb's namespace)",
            t.namespace
        )));
    }
    if let Err(Gap {
        reason: GapReason::NoCrd(crd),
        ..
    }) = &states
    {
        return Err(FetchError::NotInstalled(format!(
            "the CustomResourceDefinition {crd} does not exist (kubectl apply -f deploy/ferrolb.yaml installs it)"
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(Snapshot {
        now,
        namespace: t.namespace.clone(),
        config_namespace: t.config_namespace.clone(),
        lease_name: t.lease_name.clone(),
        load_balancer_class: t.load_balancer_class.clone(),
        services,
        lease,
        states,
        l2: l2.map(|s| s.into_iter().flatten().collect()),
        bgp: bgp.map(|s| s.into_iter().flatten().collect()),
        config,
        failures,
    })
}

fn status_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("metallb.io", "v1beta1", kind), plural)
}

/// `group/plural` as kubectl names a resource (`servicel2statuses.metallb.io`, `services`).
fn resource_name(r: &ApiResource) -> String {
    if r.group.is_empty() {
        r.plural.clone()
    } else {
        format!("{}.{}", r.plural, r.group)
    }
}

/// The failed `request`: 403 forbidden, 404 a missing CRD (`crd`: the resource is a custom one), or other.
fn gap(request: String, crd: Option<String>, e: &kube::Error) -> Gap {
    let reason = match (e, crd) {
        (kube::Error::Api(s), _) if s.code == 403 => GapReason::Forbidden(s.message.clone()),
        (kube::Error::Api(s), Some(crd)) if s.code == 404 => GapReason::NoCrd(crd),
        (kube::Error::Api(s), _) => GapReason::Failed(format!("{} (HTTP {})", s.message, s.code)),
        _ => GapReason::Failed(error_chain(e)),
    };
    Gap { request, reason }
}

/// The error and its sources, each once: `HyperError: client error (Connect): tcp connect error: …`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `Some(false)` when the namespace certainly does not exist (listing in it would just return nothing);
/// `None` when that cannot be told (e.g. `get namespaces` is not allowed).
async fn namespace_exists(client: &Client, name: &str) -> Option<bool> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get_opt(name).await.ok().map(|ns| ns.is_some())
}

async fn services(client: &Client) -> Read<Vec<super::snapshot::Service>> {
    let api: Api<Service> = Api::all(client.clone());
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| gap("list services (all namespaces)".into(), None, &e))?;
    Ok(list.items.into_iter().filter_map(objects::service).collect())
}

async fn lease(client: &Client, t: &Target) -> Read<Option<super::snapshot::Lease>> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &t.namespace);
    let request = format!(
        "get leases.coordination.k8s.io {} in {}",
        t.lease_name, t.namespace
    );
    let lease = api
        .get_opt(&t.lease_name)
        .await
        .map_err(|e| gap(request, None, &e))?;
    Ok(lease.map(objects::lease))
}

/// Every object of a custom resource in `namespace`, each read by `read`.
async fn list<T>(
    client: &Client,
    namespace: &str,
    resource: ApiResource,
    read: fn(&DynamicObject) -> T,
) -> Read<Vec<T>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let name = resource_name(&resource);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| gap(format!("list {name} in {namespace}"), Some(name.clone()), &e))?;
    Ok(list.items.iter().map(read).collect())
}

/// The configuration objects: the ConfigMap, the six metallb.io kinds, the password Secrets they name.
async fn config(client: &Client, t: &Target) -> Read<ConfigObjects> {
    let ns = t.config_namespace.as_str();
    let names = ConfigNames {
        namespace: ns.to_owned(),
        config_map: t.config_map.clone(),
        ..ConfigNames::default()
    };
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let by_name = ListParams::default().fields(&format!("metadata.name={}", t.config_map));
    let kinds = futures::future::join_all(RESOURCE_KINDS.iter().map(|kind| {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &kind.api_resource());
        async move { (kind, api.list(&ListParams::default()).await) }
    }));
    let (cms, kinds) = tokio::join!(cms.list(&by_name), kinds);
    let cms = cms.map_err(|e| gap(format!("list configmaps ({}) in {ns}", t.config_map), None, &e))?;
    let mut out = ConfigObjects {
        sources: Sources {
            config_map: cms
                .items
                .into_iter()
                .find_map(|cm| project_config_map(cm, &names).1.map(|k| k.source)),
            ..Sources::default()
        },
        ..ConfigObjects::default()
    };
    for (kind, result) in kinds {
        let items = match result {
            Ok(list) => list.items,
            Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
            Err(e) => {
                let name = format!("{}.metallb.io", kind.plural);
                return Err(gap(format!("list {name} in {ns}"), Some(name), &e));
            }
        };
        for obj in items {
            if std::ptr::eq(kind, &RESOURCE_KINDS[IP_ADDRESS_POOL])
                && let Some(usage) = objects::pool_usage(&obj)
            {
                out.pool_status
                    .insert(obj.metadata.name.clone().unwrap_or_default(), usage);
            }
            if let (_, Some(kept)) = project_resource(obj, kind) {
                out.sources.resources.push(kept.source);
            }
        }
    }
    // Only the Secrets the BGPPeers name, each by name: the programs keep nothing else of any Secret.
    let wanted = super::config::password_secrets(&out.sources);
    let gets = futures::future::join_all(wanted.into_iter().map(|(ns, name)| {
        let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
        async move {
            let got = api.get_opt(&name).await;
            (ns, name, got)
        }
    }))
    .await;
    for (ns, name, got) in gets {
        match got {
            Ok(Some(secret)) => {
                if let (key, Some(kept)) = project_secret(secret) {
                    out.sources.secrets.insert(key, kept.source);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let gap = gap(format!("get secrets {name} in {ns}"), None, &e);
                out.unread_secrets.insert((ns, name), gap);
            }
        }
    }
    Ok(out)
}

/// The controller's `AllocationFailed` Events on Services (core/v1, which every server selects by these
/// fields).
async fn failures(client: &Client) -> Read<Vec<super::snapshot::AllocationFailure>> {
    let api: Api<Event> = Api::all(client.clone());
    let params = ListParams::default().fields("reason=AllocationFailed,involvedObject.kind=Service");
    let list = api
        .list(&params)
        .await
        .map_err(|e| gap("list events (all namespaces)".into(), None, &e))?;
    Ok(list.items.into_iter().map(objects::allocation_failure).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16, message: &str) -> kube::Error {
        let status: kube::core::Status =
            serde_json::from_value(serde_json::json!({"code": code, "message": message})).expect("Status");
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn failed_requests_say_why() {
        let crd = || Some("servicel2statuses.metallb.io".to_owned());
        let request = "list servicel2statuses.metallb.io in ferrolb-system";
        let cases = [
            (
                api_error(
                    403,
                    "servicel2statuses.metallb.io is forbidden: User \"ops\" cannot list resource \
                     \"servicel2statuses\" in API group \"metallb.io\" in the namespace \"ferrolb-system\"",
                ),
                crd(),
                "cannot list servicel2statuses.metallb.io in ferrolb-system: forbidden: \
                 servicel2statuses.metallb.io is forbidden: User \"ops\" cannot list resource \
                 \"servicel2statuses\" in API group \"metallb.io\" in the namespace \"ferrolb-system\"",
            ),
            (
                api_error(404, "404 page not found"),
                crd(),
                "cannot list servicel2statuses.metallb.io in ferrolb-system: the CustomResourceDefinition \
                 servicel2statuses.metallb.io is not installed",
            ),
            (
                api_error(404, "the server could not find the requested resource"),
                None,
                "cannot list servicel2statuses.metallb.io in ferrolb-system: the server could not find the \
                 requested resource (HTTP 404)",
            ),
        ];
        for (error, crd, want) in cases {
            let got = gap(request.to_owned(), crd, &error).to_string();
            assert_eq!(got, want);
        }
    }
}
