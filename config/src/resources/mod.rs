//! MetalLB's `metallb.io` configuration resources (the CRDs of MetalLB ≥ v0.13, what kubespray ≥ v2.22
//! renders) decoded into the model, and added up with the legacy ConfigMap into one [`Config`].
//!
//! ```text
//!  ResourceSource.spec (JSON, no lines) ─┐
//!  documents of a file (YAML, lines) ────┴─▶ Node ─▶ pool / advertisement / peer ─▶ drafts ─┐
//!  legacy ConfigMap text ─▶ crate::parse ─▶ Config ─────────────────────────────────────────┤
//!                                   cross: names, overlaps, references, localPref ◀────────┘ ─▶ Config
//! ```
//!
//! Every field is read with the `reader` machinery of the ConfigMap decoder, so errors have the same shape:
//! the object, the path in the resource's own spelling (`spec.addresses[1]`), the value, the line when the
//! resource came from a file, and what is wrong. Every error is reported, not just the first. A field MetalLB
//! documents is honoured with MetalLB's meaning or refused naming the object and the field
//! ([`ErrorKind::Unsupported`]); an unknown field is an error (a real API server prunes it or, under kubectl's
//! default strict field validation, refuses it — either way MetalLB never saw it).
//!
//! **Both formats add up.** The ConfigMap is mapped as ever (pools, `l2advertisement<N>`,
//! `bgpadvertisement<N>`, `peer<N>`, its BFD profiles and aliases) and the resources are added to it: the
//! ConfigMap's objects first, then the resources by kind, namespace and name (a total order, so the same
//! objects always give the same configuration). Each kind has one name space across both formats and every
//! namespace: a name used twice is an error naming both objects; so is an address shared by two pools and a
//! community alias defined twice. An advertisement without pool selection selects every pool of both
//! formats; a resource's `communities` may use the aliases of both formats, the ConfigMap's only its own.

mod advertisement;
mod cross;
mod file;
mod json;
mod peer;
mod pool;
mod read;
mod render;

use std::collections::BTreeMap;

use crate::error::{ConfigError, ConfigErrors, ConfigWarning, ErrorKind, ObjectRef};
use crate::model::Config;
use crate::reader::Ctx;
use crate::state::{SecretSource, Sources};
use crate::validate::{Parsed, parse_with_warnings};
use crate::yaml::{Kind, Node};

pub(crate) use self::cross::local_pref_conflicts;
pub use self::file::{FileLoad, load_file};
pub(crate) use self::json::to_node;
pub use self::render::{NotExpressible, Rename, is_object_name, render_resources, with_object_names};

/// `metallb.io/v1beta1`.
pub(crate) const V1BETA1: &str = "metallb.io/v1beta1";
/// `metallb.io/v1beta2` (BGPPeer only).
pub(crate) const V1BETA2: &str = "metallb.io/v1beta2";

/// One resource, its spec as a tree (with lines when it came from a file).
#[derive(Debug, Clone)]
pub(crate) struct Input {
    pub object: ObjectRef,
    pub api_version: String,
    pub labels: BTreeMap<String, String>,
    pub spec: Node,
    /// The line of the object's name in its file, for errors about the whole object.
    pub line: Option<u64>,
}

impl Input {
    /// The spec, or an empty mapping when it is absent (MetalLB's zero values then apply).
    fn spec_or_empty(&self) -> Node {
        if self.spec.is_null() {
            Node {
                kind: Kind::Map(Vec::new()),
                line: self.line,
                raw: None,
            }
        } else {
            self.spec.clone()
        }
    }
}

/// The legacy ConfigMap.
#[derive(Debug, Clone)]
pub(crate) struct Legacy {
    pub object: ObjectRef,
    pub key: String,
    pub text: Option<String>,
    /// Added to the lines of the config text (a file whose `config: |` block maps line for line).
    pub line_offset: Option<u64>,
}

/// The Secrets by (namespace, name).
pub(crate) type Secrets = BTreeMap<(String, String), SecretSource>;

/// [`crate::state::load`]: the objects the API server returned.
pub(crate) fn load(sources: &Sources) -> Result<Parsed, ConfigErrors> {
    let legacy = sources.config_map.as_ref().map(|cm| Legacy {
        object: cm.object.clone(),
        key: cm.key.clone(),
        text: cm.text.clone(),
        line_offset: None,
    });
    let inputs = sources
        .resources
        .iter()
        .map(|r| Input {
            object: r.object.clone(),
            api_version: r.api_version.clone(),
            labels: r.labels.clone(),
            spec: to_node(&r.spec),
            line: None,
        })
        .collect();
    load_inputs(legacy, inputs, &sources.secrets)
}

/// The configuration of a legacy ConfigMap and resources together, or every error found.
pub(crate) fn load_inputs(
    legacy: Option<Legacy>,
    mut inputs: Vec<Input>,
    secrets: &Secrets,
) -> Result<Parsed, ConfigErrors> {
    let mut ctx = Ctx::default();
    let legacy = legacy.map(|l| load_legacy(&mut ctx, l));
    inputs.sort_by(|a, b| a.object.cmp(&b.object));
    let mut drafts = cross::Drafts::default();
    for input in &inputs {
        drafts.lines.insert(input.object.clone(), input.line);
        let before = (ctx.errors.len(), ctx.warnings.len());
        match (input.object.kind.as_str(), input.api_version.as_str()) {
            ("IPAddressPool", V1BETA1) => drafts.pools.push(pool::decode(&mut ctx, input)),
            ("L2Advertisement", V1BETA1) => drafts.l2.push(advertisement::decode_l2(&mut ctx, input)),
            ("BGPAdvertisement", V1BETA1) => drafts.bgp.push(advertisement::decode_bgp(&mut ctx, input)),
            ("BGPPeer", V1BETA1 | V1BETA2) => drafts.peers.push(peer::decode_peer(&mut ctx, input, secrets)),
            ("BFDProfile", V1BETA1) => drafts.bfd.push(peer::decode_bfd(&mut ctx, input)),
            ("Community", V1BETA1) => drafts.communities.push(peer::decode_community(&mut ctx, input)),
            (kind, api_version) => {
                let hint = match kind {
                    "AddressPool" => {
                        "; MetalLB removed AddressPool in v0.14: write an IPAddressPool and an L2Advertisement \
                         or BGPAdvertisement"
                    }
                    _ => "",
                };
                let kind = ErrorKind::UnknownKind {
                    api_version: api_version.to_owned(),
                    kind: kind.to_owned(),
                    hint,
                };
                ctx.error_at("", None, input.line, kind);
            }
        }
        tag(&mut ctx, before, &input.object);
    }
    // An invalid ConfigMap has reported its errors; the resources are still checked on their own.
    let legacy = legacy.and_then(Result::ok).unwrap_or_default();
    let config = cross::resolve(&mut ctx, &legacy, &drafts);
    match config {
        config if ctx.errors.is_empty() => {
            let mut warnings = ctx.warnings;
            warnings.sort_by(|a, b| {
                (&a.object, a.line.unwrap_or(u64::MAX)).cmp(&(&b.object, b.line.unwrap_or(u64::MAX)))
            });
            Ok(Parsed { config, warnings })
        }
        _ => Err(ConfigErrors::new(ctx.errors)),
    }
}

/// The legacy ConfigMap's configuration and the object it came from (`object` is `None` when there is no
/// ConfigMap).
#[derive(Debug, Default)]
pub(crate) struct LegacyConfig {
    pub object: Option<ObjectRef>,
    pub config: Config,
}

/// Parses the ConfigMap's text; its errors and warnings go to `ctx`, located in the ConfigMap.
fn load_legacy(ctx: &mut Ctx, legacy: Legacy) -> Result<LegacyConfig, ()> {
    let Some(text) = &legacy.text else {
        let kind = ErrorKind::MissingConfigKey { key: legacy.key };
        ctx.errors.push(ConfigError::object(legacy.object, kind));
        return Err(());
    };
    let shift = |line: Option<u64>| match (line, legacy.line_offset) {
        (Some(l), Some(offset)) => Some(l + offset),
        (line, _) => line,
    };
    match parse_with_warnings(text) {
        Ok(parsed) => {
            ctx.warnings
                .extend(parsed.warnings.into_iter().map(|w| ConfigWarning {
                    object: Some(legacy.object.clone()),
                    line: shift(w.line),
                    ..w
                }));
            Ok(LegacyConfig {
                object: Some(legacy.object),
                config: parsed.config,
            })
        }
        Err(errors) => {
            ctx.errors.extend(errors.into_iter().map(|e| ConfigError {
                line: shift(e.line),
                ..e.in_object(&legacy.object)
            }));
            Err(())
        }
    }
}

/// Locates the errors and warnings recorded since `before` in `object`.
fn tag(ctx: &mut Ctx, before: (usize, usize), object: &ObjectRef) {
    for e in &mut ctx.errors[before.0..] {
        e.object.get_or_insert_with(|| object.clone());
    }
    for w in &mut ctx.warnings[before.1..] {
        w.object.get_or_insert_with(|| object.clone());
    }
}

/// A value located in an object.
#[derive(Debug, Clone)]
pub(crate) struct At<T> {
    pub value: T,
    pub path: String,
    pub text: String,
    pub line: Option<u64>,
}

/// Records an error located in `object`.
pub(crate) fn error_in(
    ctx: &mut Ctx,
    object: &ObjectRef,
    path: &str,
    value: Option<String>,
    line: Option<u64>,
    kind: ErrorKind,
) {
    ctx.errors.push(ConfigError {
        object: Some(object.clone()),
        path: path.to_owned(),
        value,
        line,
        kind,
    });
}
