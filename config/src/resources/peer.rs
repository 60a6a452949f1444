//! `BGPPeer` (metallb.io/v1beta2, and the deprecated v1beta1 with its smaller set of fields), `BFDProfile`
//! and `Community` (metallb.io/v1beta1).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::read::{self, text};
use super::{At, Input, Secrets, V1BETA1};
use crate::address::AddressFamily;
use crate::community::Community;
use crate::decode::peer::{decode_ip, timer};
use crate::error::{ErrorKind, ObjectRef, WarningKind};
use crate::model::{
    BfdProfile, DEFAULT_BFD_DETECT_MULTIPLIER, DEFAULT_BFD_ECHO_INTERVAL_MS, DEFAULT_BFD_INTERVAL_MS,
    DEFAULT_BFD_MINIMUM_TTL, DEFAULT_HOLD_TIME, DEFAULT_PEER_PORT, MAX_PASSWORD_LEN, PasswordSource, Peer,
    PeerPassword,
};
use crate::reader::{self, Ctx, Fields, fields, index, list, optional};
use crate::yaml::Node;

/// Fields of `BGPPeer.spec` in v1beta2.
const PEER_KEYS: &[&str] = &[
    "myASN",
    "peerASN",
    "dynamicASN",
    "localASN",
    "peerAddress",
    "interface",
    "sourceAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "connectTime",
    "routerID",
    "nodeSelectors",
    "password",
    "passwordSecret",
    "bfdProfile",
    "enableGracefulRestart",
    "ebgpMultiHop",
    "vrf",
    "disableMP",
    "dualStackAddressFamily",
];
/// Fields of `BGPPeer.spec` in v1beta1 (deprecated; no Secret, no timers beyond hold and keepalive).
const PEER_KEYS_V1BETA1: &[&str] = &[
    "myASN",
    "peerASN",
    "peerAddress",
    "sourceAddress",
    "peerPort",
    "holdTime",
    "keepaliveTime",
    "routerID",
    "nodeSelectors",
    "password",
    "bfdProfile",
    "ebgpMultiHop",
];
/// Fields of `spec.passwordSecret` (a `SecretReference`).
const SECRET_REF_KEYS: &[&str] = &["name", "namespace"];
/// Fields of `BFDProfile.spec`.
const BFD_KEYS: &[&str] = &[
    "receiveInterval",
    "transmitInterval",
    "detectMultiplier",
    "echoInterval",
    "echoMode",
    "passiveMode",
    "minimumTtl",
];
/// Fields of `Community.spec` and of one of its aliases.
const COMMUNITY_KEYS: &[&str] = &["communities"];
const ALIAS_KEYS: &[&str] = &["name", "value"];
/// The Secret type and key of `passwordSecret`.
const BASIC_AUTH: &str = "kubernetes.io/basic-auth";

#[derive(Debug)]
pub(crate) struct PeerDraft {
    pub object: ObjectRef,
    /// `None` when the object has errors; its `bfd_profile` is checked later.
    pub peer: Option<Peer>,
    pub bfd_profile: Option<At<String>>,
}

#[derive(Debug)]
pub(crate) struct BfdDraft {
    pub object: ObjectRef,
    pub profile: Option<BfdProfile>,
}

#[derive(Debug)]
pub(crate) struct CommunityDraft {
    pub object: ObjectRef,
    /// Every alias with a name, and its value when valid.
    pub aliases: Vec<(At<String>, Option<Community>)>,
}

fn asn(ctx: &mut Ctx, node: &Node, path: &str) -> Option<u32> {
    // 0 is MetalLB's "missing local ASN" / "missing peer ASN".
    reader::integer(ctx, node, path, 1, u64::from(u32::MAX)).map(|v| v as u32)
}

pub(super) fn decode_peer(ctx: &mut Ctx, input: &Input, secrets: &Secrets) -> PeerDraft {
    let before = ctx.errors.len();
    let mut draft = PeerDraft {
        object: input.object.clone(),
        peer: None,
        bfd_profile: None,
    };
    let keys = if input.api_version == V1BETA1 {
        PEER_KEYS_V1BETA1
    } else {
        PEER_KEYS
    };
    let spec = input.spec_or_empty();
    let Some(f) = fields(ctx, &spec, "spec", keys) else {
        return draft;
    };
    let my_asn = f
        .require(ctx, "myASN")
        .and_then(|n| asn(ctx, n, &f.path("myASN")));
    let dynamic = read::optional_text(ctx, &f, "dynamicASN").flatten();
    let peer_asn = match (f.get("peerASN"), &dynamic) {
        (Some(_), Some(d)) => {
            let kind = ErrorKind::MutuallyExclusive { other: "peerASN" };
            ctx.error_at(&d.path, Some(d.text.clone()), d.line, kind);
            None
        }
        (Some(n), None) => asn(ctx, n, &f.path("peerASN")),
        (None, Some(d)) => match d.value.as_str() {
            // "internal": the peer's ASN must be ours — exactly peerASN = myASN.
            "internal" => my_asn,
            "external" => {
                let reason = "dynamicASN external: the speaker checks the peer's OPEN against one ASN; \
                              write the router's peerASN";
                ctx.error_at(
                    &d.path,
                    Some(d.text.clone()),
                    d.line,
                    ErrorKind::Unsupported { reason },
                );
                None
            }
            _ => {
                let kind = ErrorKind::NotOneOf {
                    allowed: "internal, external",
                };
                ctx.error_at(&d.path, Some(d.text.clone()), d.line, kind);
                None
            }
        },
        (None, None) => {
            f.missing(ctx, "peerASN");
            None
        }
    };
    let refusals: [(&str, &'static str); 3] = [
        (
            "localASN",
            "localASN: ferrolb's speaker takes its ASN per peer; write the local ASN as myASN",
        ),
        (
            "interface",
            "interface (BGP unnumbered): the speaker dials peerAddress; write the router's address",
        ),
        (
            "vrf",
            "vrf: the speaker peers from the default VRF only; leave vrf empty",
        ),
    ];
    for (key, reason) in refusals {
        let given = match f.get(key) {
            Some(n) if key == "localASN" => reader::integer(ctx, n, &f.path(key), 0, u64::from(u32::MAX))
                .is_some_and(|v| v != 0)
                .then_some(n),
            Some(n) => text(ctx, n, &f.path(key))
                .is_some_and(|t| !t.is_empty())
                .then_some(n),
            None => None,
        };
        if let Some(n) = given {
            ctx.error(&f.path(key), n, ErrorKind::Unsupported { reason });
        }
    }
    let address = match f.get("peerAddress") {
        Some(n) => decode_ip(ctx, n, &f.path("peerAddress")),
        None => {
            if f.get("interface").is_none() {
                f.missing(ctx, "peerAddress");
            }
            None
        }
    };
    let source_address = optional(ctx, &f, "sourceAddress", None, |ctx, n, p| {
        match text(ctx, n, p)?.as_str() {
            "" => Some(None),
            _ => decode_ip(ctx, n, p).map(Some),
        }
    });
    if let (Some(peer), Some(Some(source))) = (address, source_address)
        && AddressFamily::of(peer) != AddressFamily::of(source)
        && let Some(n) = f.get("sourceAddress")
    {
        let version = |ip: IpAddr| if ip.is_ipv4() { 4 } else { 6 };
        let kind = ErrorKind::FamilyMismatch {
            peer,
            source_version: version(source),
            peer_version: version(peer),
        };
        ctx.error(&f.path("sourceAddress"), n, kind);
    }
    // The CRD's bounds (0..=16384); 0 is "not given" (an omitempty integer), so the default port.
    let port = optional(ctx, &f, "peerPort", DEFAULT_PEER_PORT, |ctx, n, p| {
        let v = reader::integer(ctx, n, p, 0, 16_384)? as u16;
        Some(if v == 0 { DEFAULT_PEER_PORT } else { v })
    });
    let timers = timers(ctx, &f, input.api_version == V1BETA1);
    let connect_time = optional(ctx, &f, "connectTime", None, |ctx, n, p| {
        let d = timer(ctx, n, p)?;
        if d.subsec_nanos() != 0 {
            ctx.error(p, n, ErrorKind::NotWholeSeconds);
            return None;
        }
        if !(1..=65_535).contains(&d.as_secs()) {
            ctx.error(p, n, ErrorKind::OutOfRange { min: 1, max: 65_535 });
            return None;
        }
        Some(Some(d))
    });
    let router_id = optional(ctx, &f, "routerID", None, |ctx, n, p| {
        if text(ctx, n, p)?.is_empty() {
            return Some(None);
        }
        match decode_ip(ctx, n, p)? {
            IpAddr::V4(v4) => Some(Some(v4)),
            IpAddr::V6(_) => {
                ctx.error(p, n, ErrorKind::NotIpv4);
                None
            }
        }
    });
    let node_selectors = read::selectors(ctx, &f, "nodeSelectors");
    let password = password(ctx, &f, &input.object, secrets);
    draft.bfd_profile = read::optional_text(ctx, &f, "bfdProfile").flatten();
    let graceful_restart = read::flag(ctx, &f, "enableGracefulRestart");
    let ebgp_multihop = read::flag(ctx, &f, "ebgpMultiHop");
    if let (Some(true), Some(peer_asn), Some(my_asn), Some(n)) =
        (ebgp_multihop, peer_asn, my_asn, f.get("ebgpMultiHop"))
        && peer_asn == my_asn
    {
        let kind = ErrorKind::MultihopForIbgp { asn: my_asn };
        ctx.error(&f.path("ebgpMultiHop"), n, kind);
    }
    // disableMP (deprecated) asks for one address family per session: what the speaker does anyway.
    let disable_mp = read::flag(ctx, &f, "disableMP");
    let dual_stack = read::flag(ctx, &f, "dualStackAddressFamily");
    if let (Some(true), Some(true), Some(n)) = (disable_mp, dual_stack, f.get("dualStackAddressFamily")) {
        let kind = ErrorKind::MutuallyExclusive {
            other: "disableMP: true",
        };
        ctx.error(&f.path("dualStackAddressFamily"), n, kind);
    }
    if ctx.errors.len() == before
        && let (Some(my_asn), Some(asn), Some(address), Some(port)) = (my_asn, peer_asn, address, port)
        && let (Some(source_address), Some((hold_time, keepalive_time))) = (source_address, timers)
        && let (Some(connect_time), Some(router_id), Some(password)) = (connect_time, router_id, password)
        && let (Some(graceful_restart), Some(ebgp_multihop), Some(dual_stack)) =
            (graceful_restart, ebgp_multihop, dual_stack)
    {
        draft.peer = Some(Peer {
            name: input.object.name.clone(),
            address,
            port,
            asn,
            my_asn,
            source_address,
            hold_time,
            keepalive_time,
            router_id,
            password,
            bfd_profile: draft.bfd_profile.as_ref().map(|b| b.value.clone()),
            ebgp_multihop,
            node_selectors,
            connect_time,
            graceful_restart,
            dual_stack_address_family: dual_stack,
        });
    }
    draft
}

/// `holdTime` and `keepaliveTime` as MetalLB reads a BGPPeer (`parseTimers`): neither gives 90 s / 30 s,
/// one alone gives the other (keepalive = hold / 3, hold = 3 × keepalive); then the ConfigMap's checks
/// (whole seconds, hold 0 or 3..=65535 s, keepalive below hold, both 0 or neither).
///
/// A zero `keepaliveTime` is "not given": MetalLB's converter writes `keepaliveTime: 0s` for a peer without
/// one and its native mode treats 0 as unset. In v1beta1 a zero `holdTime` is "not given" too (a Go value
/// field serialized as `0s` when unset); in v1beta2 `holdTime: 0s` asks for no hold timer (RFC 4271).
fn timers(ctx: &mut Ctx, f: &Fields<'_>, v1beta1: bool) -> Option<(Duration, Duration)> {
    let read = |ctx: &mut Ctx, key: &str| match f.get(key) {
        None => Some(None),
        Some(n) => timer(ctx, n, &f.path(key)).map(|d| {
            let unset = d.is_zero() && (key == "keepaliveTime" || v1beta1);
            (!unset).then_some((d, n))
        }),
    };
    let (hold, keepalive) = (read(ctx, "holdTime")?, read(ctx, "keepaliveTime")?);
    let (hold_raw, keepalive_raw) = match (hold, keepalive) {
        (None, None) => (DEFAULT_HOLD_TIME, Peer::default_keepalive(DEFAULT_HOLD_TIME)),
        (Some((h, _)), None) => (h, h / 3),
        (None, Some((k, _))) => (k.saturating_mul(3), k),
        (Some((h, _)), Some((k, _))) => (h, k),
    };
    // Errors about the hold time go where it was written, or to the keepalive it was derived from.
    let (hold_key, hold_node) = match (hold, keepalive) {
        (Some((_, n)), _) => ("holdTime", Some(n)),
        (None, Some((_, n))) => ("keepaliveTime", Some(n)),
        (None, None) => ("holdTime", None),
    };
    let secs = hold_raw.as_secs();
    let hold_error = if hold_raw != Duration::ZERO && secs < 3 {
        Some(ErrorKind::HoldTimeTooShort { seconds: secs })
    } else if secs > u64::from(u16::MAX) {
        Some(ErrorKind::HoldTimeTooLong)
    } else {
        None
    };
    if let (Some(kind), Some(n)) = (hold_error, hold_node) {
        ctx.error(&f.path(hold_key), n, kind);
        return None;
    }
    let hold_secs = secs;
    let k = keepalive_raw.as_secs();
    let keepalive_error = match (hold_secs, k) {
        (0, 0) if keepalive_raw == Duration::ZERO => None,
        (0, _) => Some(ErrorKind::KeepaliveWithoutHold),
        (_, 0) => Some(ErrorKind::KeepaliveZero {
            hold_seconds: hold_secs,
        }),
        (h, k) if k >= h => Some(ErrorKind::KeepaliveNotBelowHold { hold_seconds: h }),
        _ => None,
    };
    if let Some(kind) = keepalive_error {
        let (key, node) = match (keepalive, hold) {
            (Some((_, n)), _) => ("keepaliveTime", n),
            (None, Some((_, n))) => ("holdTime", n),
            (None, None) => return None,
        };
        ctx.error(&f.path(key), node, kind);
        return None;
    }
    for (given, key) in [(hold, "holdTime"), (keepalive, "keepaliveTime")] {
        if let Some((d, n)) = given
            && d.subsec_nanos() != 0
        {
            ctx.warn(&f.path(key), n, WarningKind::RoundedDown { seconds: d.as_secs() });
        }
    }
    Some((Duration::from_secs(hold_secs), Duration::from_secs(k)))
}

/// `password` or `passwordSecret` (a `kubernetes.io/basic-auth` Secret in the peer's namespace, key
/// `password`), at most one; `Some(None)` when neither is given. Passwords are never echoed.
fn password(
    ctx: &mut Ctx,
    f: &Fields<'_>,
    object: &ObjectRef,
    secrets: &Secrets,
) -> Option<Option<PeerPassword>> {
    let inline = match f.get("password") {
        None => None,
        Some(n) => {
            let p = f.path("password");
            let value = text(ctx, n, &p)?;
            if value.len() > MAX_PASSWORD_LEN {
                ctx.error_at(&p, None, n.line, ErrorKind::PasswordTooLong { len: value.len() });
                return None;
            }
            (!value.is_empty()).then(|| PeerPassword::inline(value))
        }
    };
    let Some(node) = f.get("passwordSecret") else {
        return Some(inline);
    };
    let path = f.path("passwordSecret");
    let secret_ref = fields(ctx, node, &path, SECRET_REF_KEYS)?;
    let name = read::optional_text(ctx, &secret_ref, "name")?;
    let namespace = read::optional_text(ctx, &secret_ref, "namespace")?;
    // An empty reference is MetalLB's "no Secret".
    let Some(name) = name else {
        return Some(inline);
    };
    if inline.is_some() {
        let kind = ErrorKind::MutuallyExclusive { other: "password" };
        ctx.error_at(&path, None, node.line, kind);
        return None;
    }
    if let Some(ns) = &namespace
        && ns.value != object.namespace
    {
        let kind = ErrorKind::SecretOtherNamespace {
            namespace: object.namespace.clone(),
        };
        ctx.error_at(&ns.path, Some(ns.text.clone()), ns.line, kind);
        return None;
    }
    let secret_name = format!("{}/{}", object.namespace, name.value);
    let fail = |ctx: &mut Ctx, kind| {
        ctx.error_at(&name.path, Some(name.text.clone()), name.line, kind);
        None
    };
    let Some(secret) = secrets.get(&(object.namespace.clone(), name.value.clone())) else {
        return fail(ctx, ErrorKind::SecretNotFound { secret: secret_name });
    };
    if secret.type_ != BASIC_AUTH {
        let kind = ErrorKind::SecretWrongType {
            secret: secret_name,
            found: secret.type_.clone(),
        };
        return fail(ctx, kind);
    }
    let reason = match secret.data.get("password").map(|v| String::from_utf8(v.clone())) {
        None => "it has no key \"password\"",
        Some(Err(_)) => "its password is not UTF-8 text",
        Some(Ok(v)) if v.is_empty() => "its password is empty",
        Some(Ok(v)) if v.len() > MAX_PASSWORD_LEN => {
            "its password is longer than 80 bytes (the TCP MD5 limit)"
        }
        Some(Ok(value)) => {
            return Some(Some(PeerPassword {
                value,
                source: PasswordSource::Secret { name: name.value },
            }));
        }
    };
    fail(
        ctx,
        ErrorKind::SecretPassword {
            secret: secret_name,
            reason,
        },
    )
}

pub(super) fn decode_bfd(ctx: &mut Ctx, input: &Input) -> BfdDraft {
    let before = ctx.errors.len();
    let mut draft = BfdDraft {
        object: input.object.clone(),
        profile: None,
    };
    let spec = input.spec_or_empty();
    let Some(f) = fields(ctx, &spec, "spec", BFD_KEYS) else {
        return draft;
    };
    let ms = |min: u64, max: u64| {
        move |ctx: &mut Ctx, n: &Node, p: &str| reader::integer(ctx, n, p, min, max).map(|v| v as u32)
    };
    let receive = optional(
        ctx,
        &f,
        "receiveInterval",
        DEFAULT_BFD_INTERVAL_MS,
        ms(10, 60_000),
    );
    let transmit = optional(
        ctx,
        &f,
        "transmitInterval",
        DEFAULT_BFD_INTERVAL_MS,
        ms(10, 60_000),
    );
    let multiplier = optional(
        ctx,
        &f,
        "detectMultiplier",
        DEFAULT_BFD_DETECT_MULTIPLIER,
        ms(2, 255),
    );
    let echo_interval = optional(
        ctx,
        &f,
        "echoInterval",
        DEFAULT_BFD_ECHO_INTERVAL_MS,
        ms(10, 60_000),
    );
    let echo_mode = read::flag(ctx, &f, "echoMode");
    if echo_mode == Some(true)
        && let Some(n) = f.get("echoMode")
    {
        let reason = "echoMode: ferrolb's BFD sends no echo packets (RFC 5880 §6.4); leave echoMode off";
        ctx.error(&f.path("echoMode"), n, ErrorKind::Unsupported { reason });
    }
    let passive_mode = read::flag(ctx, &f, "passiveMode");
    let minimum_ttl = optional(ctx, &f, "minimumTtl", DEFAULT_BFD_MINIMUM_TTL, ms(1, 254));
    if ctx.errors.len() == before
        && let (Some(r), Some(t), Some(m), Some(e), Some(passive_mode), Some(minimum_ttl)) = (
            receive,
            transmit,
            multiplier,
            echo_interval,
            passive_mode,
            minimum_ttl,
        )
    {
        draft.profile = Some(BfdProfile {
            name: input.object.name.clone(),
            receive_interval_ms: r,
            transmit_interval_ms: t,
            detect_multiplier: m,
            echo_interval_ms: e,
            echo_mode: false,
            passive_mode,
            minimum_ttl,
        });
    }
    draft
}

pub(super) fn decode_community(ctx: &mut Ctx, input: &Input) -> CommunityDraft {
    let mut draft = CommunityDraft {
        object: input.object.clone(),
        aliases: Vec::new(),
    };
    let spec = input.spec_or_empty();
    let Some(f) = fields(ctx, &spec, "spec", COMMUNITY_KEYS) else {
        return draft;
    };
    let Some(n) = f.get("communities") else {
        return draft;
    };
    let path = f.path("communities");
    for (i, item) in list(ctx, n, &path).iter().enumerate() {
        let p = index(&path, i);
        let Some(a) = fields(ctx, item, &p, ALIAS_KEYS) else {
            continue;
        };
        let name = a.require(ctx, "name").and_then(|n| {
            let np = a.path("name");
            let value = text(ctx, n, &np)?;
            if value.trim().is_empty() {
                ctx.error(&np, n, ErrorKind::Empty);
                return None;
            }
            if let Err(reason) = reader::check_name(&value) {
                ctx.error(&np, n, ErrorKind::InvalidName { reason });
                return None;
            }
            Some(At {
                text: value.clone(),
                value,
                path: np,
                line: n.line,
            })
        });
        let value = a.require(ctx, "value").and_then(|n| {
            let vp = a.path("value");
            let value = text(ctx, n, &vp)?;
            Community::from_str(&value)
                .map_err(|e| ctx.error(&vp, n, ErrorKind::InvalidCommunity { reason: e.0 }))
                .ok()
        });
        if let Some(name) = name {
            draft.aliases.push((name, value));
        }
    }
    draft
}
