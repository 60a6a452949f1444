//! The membership Secret: the key the speakers authenticate their membership traffic with.
//!
//! The leader ensures it exists: 32 random bytes under `secretkey`, created when absent (and the key added
//! when the Secret exists without it). An existing key is never changed — rotating it silently would split
//! the speakers' membership — so this runs at every leadership gain and is a no-op almost always.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::leader::Leadership;

/// The data key holding the membership key.
pub const SECRET_KEY: &str = "secretkey";
/// The key's length in bytes.
pub const KEY_LEN: usize = 32;

/// What [`ensure_secret`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The Secret and its key were there: nothing written.
    Present,
    /// The Secret was created.
    Created,
    /// The Secret existed without the key: the key was added.
    KeyAdded,
}

/// Why the Secret could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// This replica is not the leader (nothing was written).
    #[error("not the leader")]
    NotLeader,
    /// The API server refused or failed.
    #[error("membership Secret {name}: {source}")]
    Api {
        /// The Secret's name.
        name: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

/// A fresh random key (the thread RNG is a CSPRNG seeded from the OS).
pub fn new_key() -> Vec<u8> {
    let mut key = vec![0u8; KEY_LEN];
    rand::fill(&mut key[..]);
    key
}

/// Ensures Secret `name` in `api`'s namespace holds a membership key. Writes only while `leadership` holds.
pub async fn ensure_secret(
    api: &Api<Secret>,
    name: &str,
    leadership: &Leadership,
) -> Result<Ensured, MembershipError> {
    let err = |source| MembershipError::Api {
        name: name.to_owned(),
        source,
    };
    match api.get_opt(name).await.map_err(err)? {
        Some(s)
            if s.data
                .as_ref()
                .is_some_and(|d| d.get(SECRET_KEY).is_some_and(|v| !v.0.is_empty())) =>
        {
            Ok(Ensured::Present)
        }
        Some(s) => {
            if !leadership.is_leader() {
                return Err(MembershipError::NotLeader);
            }
            let patch = json!({
                "metadata": {"resourceVersion": s.metadata.resource_version},
                "data": {SECRET_KEY: ByteString(new_key())},
            });
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(err)?;
            tracing::warn!(secret = name, "the membership Secret had no key: added one");
            Ok(Ensured::KeyAdded)
        }
        None => {
            if !leadership.is_leader() {
                return Err(MembershipError::NotLeader);
            }
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(name.to_owned()),
                    ..ObjectMeta::default()
                },
                data: Some(BTreeMap::from([(SECRET_KEY.to_owned(), ByteString(new_key()))])),
                type_: Some("Opaque".into()),
                ..Secret::default()
            };
            match api.create(&PostParams::default(), &secret).await {
                Ok(_) => {
                    tracing::info!(secret = name, "created the membership Secret");
                    Ok(Ensured::Created)
                }
                // Created meanwhile by someone else (a previous leader): theirs stands.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Ensured::Present),
                Err(e) => Err(err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_long_enough() {
        let (a, b) = (new_key(), new_key());
        assert_eq!(a.len(), KEY_LEN);
        assert_ne!(a, b);
    }
}
