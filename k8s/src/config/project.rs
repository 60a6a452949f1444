//! Configuration objects projected to what the configuration reads ([`Kept`] sources), in the watch tasks:
//! the API objects themselves never reach the programs' state.

use std::collections::BTreeMap;

use ferrolb_config::{ConfigMapSource, ObjectRef, ResourceSource, SecretSource};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::DynamicObject;

use super::{ConfigNames, Kept, ResourceKind};
use crate::watch::Projected;

/// The Secret keys a configuration reads (`BGPPeer.passwordSecret`: a `kubernetes.io/basic-auth` Secret's
/// `password`); no other Secret data is kept in memory.
const SECRET_KEYS: [&str; 1] = ["password"];

/// The legacy ConfigMap as kept (`None` when it is not the configured one).
pub fn project_config_map(cm: ConfigMap, names: &ConfigNames) -> Projected<String, Kept<ConfigMapSource>> {
    let name = cm.metadata.name.clone().unwrap_or_default();
    if name != names.config_map {
        return (name, None);
    }
    let object = ObjectRef::new(
        "ConfigMap",
        cm.metadata
            .namespace
            .clone()
            .unwrap_or_else(|| names.namespace.clone()),
        name.clone(),
    );
    let text = cm
        .data
        .and_then(|mut d: BTreeMap<String, String>| d.remove(&names.config_key));
    let kept = Kept {
        source: ConfigMapSource {
            object,
            key: names.config_key.clone(),
            text,
        },
        uid: cm.metadata.uid.unwrap_or_default(),
        resource_version: cm.metadata.resource_version.unwrap_or_default(),
    };
    (name, Some(kept))
}

/// A metallb.io resource of `kind` as kept: its spec and labels as the API server returned them.
pub fn project_resource(
    obj: DynamicObject,
    kind: &ResourceKind,
) -> Projected<String, Box<Kept<ResourceSource>>> {
    let meta = obj.metadata;
    let name = meta.name.unwrap_or_default();
    let spec = match obj.data {
        serde_json::Value::Object(mut fields) => fields.remove("spec").unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    let api_version = obj
        .types
        .map(|t| t.api_version)
        .unwrap_or_else(|| kind.api_version());
    let kept = Kept {
        source: ResourceSource {
            object: ObjectRef::new(kind.kind, meta.namespace.unwrap_or_default(), name.clone()),
            api_version,
            labels: meta.labels.unwrap_or_default(),
            spec,
        },
        uid: meta.uid.unwrap_or_default(),
        resource_version: meta.resource_version.unwrap_or_default(),
    };
    (name, Some(Box::new(kept)))
}

/// A Secret as kept: its type and only the keys a configuration reads.
pub fn project_secret(secret: Secret) -> Projected<(String, String), Kept<SecretSource>> {
    let key = (
        secret.metadata.namespace.unwrap_or_default(),
        secret.metadata.name.unwrap_or_default(),
    );
    let data = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| SECRET_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k, v.0))
        .collect();
    let kept = Kept {
        source: SecretSource {
            type_: secret.type_.unwrap_or_else(|| "Opaque".to_owned()),
            data,
        },
        uid: secret.metadata.uid.unwrap_or_default(),
        resource_version: secret.metadata.resource_version.unwrap_or_default(),
    };
    (key, Some(kept))
}
