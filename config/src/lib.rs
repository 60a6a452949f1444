//! The validated configuration model and its decoders. Pure: no I/O.
//!
//! - [`Config`]: the model, in the shape of MetalLB's custom resources (pools, layer2 and BGP advertisements
//!   selecting pools, nodes, Services and peers; peers; BFD profiles; communities).
//! - [`ConfigState`]: the configuration objects of the cluster ([`Sources`]: the legacy ConfigMap, the
//!   `metallb.io` resources, the Secrets peers name) in, the configuration in force out, with the one rule
//!   both programs follow for invalid and deleted configurations (see [`state`]).
//! - [`resources`]: MetalLB's `metallb.io` resources decoded into the model and added up with the legacy
//!   ConfigMap (both formats at once); files of resources for the command-line tool
//!   ([`resources::load_file`]); a configuration written back as resources ([`resources::render_resources`]).
//! - [`parse`]: the ConfigMap's `config` text (MetalLB's legacy schema plus ferrolb's few additions) to a
//!   validated [`Config`] with defaults filled in, or **every** error found, each naming its path, value
//!   and line ([`ConfigErrors`]).
//! - [`render`]: a [`Config`] that the legacy schema can express back to the legacy text
//!   (`parse(&render(&c)?) == Ok(c)`).
//! - [`annotations`]: Service annotations (ferrolb's and MetalLB's spellings).
//! - [`manifest`]: the `config` text out of a ConfigMap manifest, for the command-line tool.
//!
//! The operator reference for every key is `docs/config.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod address;
pub mod annotations;
mod community;
mod decode;
mod duration;
mod error;
pub mod manifest;
mod model;
mod reader;
mod render;
pub mod resources;
mod selector;
pub mod state;
mod suggest;
mod validate;
mod yaml;

pub use address::{AddressFamily, AddressRange};
pub use community::{Community, CommunityError, WELL_KNOWN as WELL_KNOWN_COMMUNITIES, well_known};
pub use error::{ConfigError, ConfigErrors, ConfigWarning, ErrorKind, ObjectRef, WarningKind};
pub use model::{
    BfdProfile, BgpAdvertisement, Config, DEFAULT_AGGREGATION_LENGTH, DEFAULT_AGGREGATION_LENGTH_V6,
    DEFAULT_BFD_DETECT_MULTIPLIER, DEFAULT_BFD_ECHO_INTERVAL_MS, DEFAULT_BFD_INTERVAL_MS,
    DEFAULT_BFD_MINIMUM_TTL, DEFAULT_HOLD_TIME, DEFAULT_PEER_PORT, L2Advertisement, MAX_PASSWORD_LEN,
    PasswordSource, Peer, PeerPassword, Pool, PreferredNodeSelector, Protocol, ServiceAllocation, is_buggy,
};
pub use render::{NotLegacy, render};
pub use selector::{LabelSelector, LabelSelectorRequirement, SelectorOperator, matches_any};
pub use state::{ConfigMapSource, ConfigState, ResourceSource, SecretSource, Sources, Status, Update};
pub use validate::{Parsed, parse, parse_with_warnings};
pub use yaml::MAX_INPUT_BYTES;
