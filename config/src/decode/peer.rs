//! `peers` and `bfd-profiles` entries.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::selector::decode_selectors;
use super::{BfdDraft, Located, PeerDraft};
use crate::address::AddressFamily;
use crate::duration;
use crate::error::{ErrorKind, WarningKind};
use crate::model::{
    BfdProfile, DEFAULT_BFD_DETECT_MULTIPLIER, DEFAULT_BFD_ECHO_INTERVAL_MS, DEFAULT_BFD_INTERVAL_MS,
    DEFAULT_BFD_MINIMUM_TTL, DEFAULT_HOLD_TIME, DEFAULT_PEER_PORT, MAX_PASSWORD_LEN, PasswordSource, Peer,
    PeerPassword,
};
use crate::reader::{self, Ctx, fields, optional};
use crate::suggest;
use crate::yaml::Node;

/// Keys of a `peers` entry.
pub(crate) const PEER_KEYS: &[&str] = &[
    "peer-address",
    "peer-asn",
    "my-asn",
    "peer-port",
    "source-address",
    "hold-time",
    "keepalive-time",
    "router-id",
    "password",
    "bfd-profile",
    "ebgp-multihop",
    "node-selectors",
];
/// Keys of a `bfd-profiles` entry.
pub(crate) const BFD_KEYS: &[&str] = &[
    "name",
    "receive-interval",
    "transmit-interval",
    "detect-multiplier",
    "echo-interval",
    "echo-mode",
    "passive-mode",
    "minimum-ttl",
];

pub(crate) fn decode_ip(ctx: &mut Ctx, node: &Node, path: &str) -> Option<IpAddr> {
    let text = reader::string(ctx, node, path)?;
    match IpAddr::from_str(text.trim()) {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_some() => {
            ctx.error(path, node, ErrorKind::MappedIpv4);
            None
        }
        Ok(ip) => Some(ip),
        Err(_) => {
            ctx.error(path, node, ErrorKind::InvalidIp);
            None
        }
    }
}

fn asn(ctx: &mut Ctx, node: &Node, path: &str) -> Option<u32> {
    reader::integer(ctx, node, path, 1, u64::from(u32::MAX)).map(|v| v as u32)
}

/// A BGP timer: a Go duration, used in whole seconds (rounded down with a warning, as MetalLB rounds).
pub(crate) fn timer(ctx: &mut Ctx, node: &Node, path: &str) -> Option<Duration> {
    let text = reader::string(ctx, node, path)?;
    match duration::parse(&text) {
        Ok(d) => Some(d),
        Err(reason) => {
            ctx.error(path, node, ErrorKind::InvalidDuration { reason });
            None
        }
    }
}

pub(super) fn decode_peer(ctx: &mut Ctx, node: &Node, path: &str, bfd_names: &BTreeSet<String>) -> PeerDraft {
    let before = ctx.errors.len();
    let mut draft = PeerDraft {
        peer: None,
        path: path.to_owned(),
        line: node.line,
    };
    let Some(f) = fields(ctx, node, path, PEER_KEYS) else {
        return draft;
    };

    let address = f
        .require(ctx, "peer-address")
        .and_then(|n| decode_ip(ctx, n, &f.path("peer-address")));
    let asn_ = f
        .require(ctx, "peer-asn")
        .and_then(|n| asn(ctx, n, &f.path("peer-asn")));
    let my_asn = f
        .require(ctx, "my-asn")
        .and_then(|n| asn(ctx, n, &f.path("my-asn")));
    let port = optional(ctx, &f, "peer-port", DEFAULT_PEER_PORT, |ctx, n, p| {
        reader::integer(ctx, n, p, 1, u64::from(u16::MAX)).map(|v| v as u16)
    });
    let source_address = optional(ctx, &f, "source-address", None, |ctx, n, p| {
        decode_ip(ctx, n, p).map(Some)
    });
    if let (Some(peer), Some(Some(source))) = (address, source_address)
        && AddressFamily::of(peer) != AddressFamily::of(source)
        && let Some(n) = f.get("source-address")
    {
        let version = |ip: IpAddr| if ip.is_ipv4() { 4 } else { 6 };
        let kind = ErrorKind::FamilyMismatch {
            peer,
            source_version: version(source),
            peer_version: version(peer),
        };
        ctx.error(&f.path("source-address"), n, kind);
    }

    let hold_time = match f.get("hold-time") {
        None => Some(DEFAULT_HOLD_TIME),
        Some(n) => {
            let p = f.path("hold-time");
            timer(ctx, n, &p).and_then(|d| {
                let secs = d.as_secs();
                if d != Duration::ZERO && secs < 3 {
                    ctx.error(&p, n, ErrorKind::HoldTimeTooShort { seconds: secs });
                    return None;
                }
                if secs > u64::from(u16::MAX) {
                    ctx.error(&p, n, ErrorKind::HoldTimeTooLong);
                    return None;
                }
                if d.subsec_nanos() != 0 {
                    ctx.warn(&p, n, WarningKind::RoundedDown { seconds: secs });
                }
                Some(Duration::from_secs(secs))
            })
        }
    };
    let keepalive_time = match (f.get("keepalive-time"), hold_time) {
        (None, Some(hold)) => Some(Peer::default_keepalive(hold)),
        (None, None) => None,
        (Some(n), hold) => {
            let p = f.path("keepalive-time");
            timer(ctx, n, &p).and_then(|d| {
                let secs = d.as_secs();
                let hold = hold?.as_secs();
                let kind = match (hold, secs) {
                    (0, 0) if d == Duration::ZERO => None,
                    (0, _) => Some(ErrorKind::KeepaliveWithoutHold),
                    (_, 0) => Some(ErrorKind::KeepaliveZero { hold_seconds: hold }),
                    (h, k) if k >= h => Some(ErrorKind::KeepaliveNotBelowHold { hold_seconds: h }),
                    _ => None,
                };
                if let Some(kind) = kind {
                    ctx.error(&p, n, kind);
                    return None;
                }
                if d.subsec_nanos() != 0 {
                    ctx.warn(&p, n, WarningKind::RoundedDown { seconds: secs });
                }
                Some(Duration::from_secs(secs))
            })
        }
    };
    let router_id = optional(ctx, &f, "router-id", None, |ctx, n, p| {
        match decode_ip(ctx, n, p)? {
            IpAddr::V4(v4) => Some(Some(v4)),
            IpAddr::V6(_) => {
                ctx.error(p, n, ErrorKind::NotIpv4);
                None
            }
        }
    });
    let password = optional(ctx, &f, "password", None, |ctx, n, p| {
        let text = reader::string(ctx, n, p)?;
        if text.len() > MAX_PASSWORD_LEN {
            // Never echo a password.
            ctx.error_at(p, None, n.line, ErrorKind::PasswordTooLong { len: text.len() });
            return None;
        }
        Some((!text.is_empty()).then_some(PeerPassword {
            value: text,
            source: PasswordSource::Inline,
        }))
    });
    let bfd_profile = optional(ctx, &f, "bfd-profile", None, |ctx, n, p| {
        let name = reader::string(ctx, n, p)?;
        if name.is_empty() {
            return Some(None);
        }
        if bfd_names.contains(&name) {
            return Some(Some(name));
        }
        let suggestion = suggest::closest(&name, bfd_names.iter().map(String::as_str)).map(str::to_owned);
        ctx.error(p, n, ErrorKind::UnknownBfdProfile { suggestion });
        None
    });
    let ebgp_multihop = optional(ctx, &f, "ebgp-multihop", false, reader::boolean);
    if let (Some(true), Some(asn), Some(my_asn), Some(n)) =
        (ebgp_multihop, asn_, my_asn, f.get("ebgp-multihop"))
        && asn == my_asn
    {
        ctx.error(&f.path("ebgp-multihop"), n, ErrorKind::MultihopForIbgp { asn });
    }
    let node_selectors = f
        .get("node-selectors")
        .map(|n| decode_selectors(ctx, n, &f.path("node-selectors")));

    if ctx.errors.len() == before
        && let (Some(address), Some(asn), Some(my_asn), Some(port), Some(source_address)) =
            (address, asn_, my_asn, port, source_address)
        && let (Some(hold_time), Some(keepalive_time), Some(router_id), Some(password)) =
            (hold_time, keepalive_time, router_id, password)
        && let (Some(bfd_profile), Some(ebgp_multihop)) = (bfd_profile, ebgp_multihop)
    {
        draft.peer = Some(Peer {
            name: String::new(),
            address,
            port,
            asn,
            my_asn,
            source_address,
            hold_time,
            keepalive_time,
            router_id,
            password,
            bfd_profile,
            ebgp_multihop,
            dual_stack_address_family: false,
            node_selectors: node_selectors.unwrap_or_default(),
            connect_time: None,
            // ferrolb's behaviour for the legacy format, which has no key for it.
            graceful_restart: true,
        });
    }
    draft
}

pub(super) fn decode_bfd(ctx: &mut Ctx, node: &Node, path: &str) -> BfdDraft {
    let before = ctx.errors.len();
    let mut draft = BfdDraft::default();
    let Some(f) = fields(ctx, node, path, BFD_KEYS) else {
        return draft;
    };
    let name = f.require(ctx, "name").and_then(|n| {
        let p = f.path("name");
        let value = reader::name(ctx, n, &p)?;
        draft.name = Some(Located {
            value: value.clone(),
            path: p,
            text: value.clone(),
            line: n.line,
        });
        Some(value)
    });
    let ms = |min: u64, max: u64| {
        move |ctx: &mut Ctx, n: &Node, p: &str| reader::integer(ctx, n, p, min, max).map(|v| v as u32)
    };
    let receive = optional(
        ctx,
        &f,
        "receive-interval",
        DEFAULT_BFD_INTERVAL_MS,
        ms(10, 60_000),
    );
    let transmit = optional(
        ctx,
        &f,
        "transmit-interval",
        DEFAULT_BFD_INTERVAL_MS,
        ms(10, 60_000),
    );
    let multiplier = optional(
        ctx,
        &f,
        "detect-multiplier",
        DEFAULT_BFD_DETECT_MULTIPLIER,
        ms(2, 255),
    );
    let echo_interval = optional(
        ctx,
        &f,
        "echo-interval",
        DEFAULT_BFD_ECHO_INTERVAL_MS,
        ms(10, 60_000),
    );
    let echo_mode = optional(ctx, &f, "echo-mode", false, reader::boolean);
    let passive_mode = optional(ctx, &f, "passive-mode", false, reader::boolean);
    let minimum_ttl = optional(ctx, &f, "minimum-ttl", DEFAULT_BFD_MINIMUM_TTL, ms(1, 254));
    if ctx.errors.len() == before
        && let (Some(name), Some(r), Some(t), Some(m), Some(e)) =
            (name, receive, transmit, multiplier, echo_interval)
        && let (Some(echo_mode), Some(passive_mode), Some(minimum_ttl)) =
            (echo_mode, passive_mode, minimum_ttl)
    {
        draft.profile = Some(BfdProfile {
            name,
            receive_interval_ms: r,
            transmit_interval_ms: t,
            detect_multiplier: m,
            echo_interval_ms: e,
            echo_mode,
            passive_mode,
            minimum_ttl,
        });
    }
    draft
}
