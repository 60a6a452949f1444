//! The validated pool/peer model and its MetalLB-compatible ConfigMap parser. Pure: no I/O.
//!
//! - [`parse`]: the ConfigMap's `config` text (MetalLB's legacy schema plus ferrolb's few additions) to a
//!   validated [`Config`] with defaults filled in, or **every** error found, each naming its path, value
//!   and line ([`ConfigErrors`]).
//! - [`render`]: a [`Config`] back to the legacy text (`parse(&render(&c)) == Ok(c)`).
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
mod selector;
mod suggest;
mod validate;
mod yaml;

pub use address::{AddressFamily, AddressRange};
pub use community::{Community, CommunityError, WELL_KNOWN as WELL_KNOWN_COMMUNITIES, well_known};
pub use error::{ConfigError, ConfigErrors, ConfigWarning, ErrorKind, WarningKind};
pub use model::{
    BfdProfile, BgpAdvertisement, Config, DEFAULT_AGGREGATION_LENGTH, DEFAULT_AGGREGATION_LENGTH_V6,
    DEFAULT_BFD_DETECT_MULTIPLIER, DEFAULT_BFD_ECHO_INTERVAL_MS, DEFAULT_BFD_INTERVAL_MS,
    DEFAULT_BFD_MINIMUM_TTL, DEFAULT_HOLD_TIME, DEFAULT_PEER_PORT, Layer2Options, MAX_PASSWORD_LEN, Peer,
    Pool, Protocol, is_buggy,
};
pub use render::render;
pub use selector::{LabelSelectorRequirement, NodeSelector, SelectorOperator, matches_any};
pub use validate::{Parsed, parse, parse_with_warnings};
pub use yaml::MAX_INPUT_BYTES;
