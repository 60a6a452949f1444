//! Conversions between ferrolb's BGP types and `netgauze-bgp-pkt`'s, so nothing outside this crate sees
//! netgauze.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netgauze_bgp_pkt as ng;
use netgauze_bgp_pkt::capabilities::{
    BgpCapability, FourOctetAsCapability, GracefulRestartAddressFamily, GracefulRestartCapability,
    MultiProtocolExtensionsCapability, UnrecognizedCapability,
};
use netgauze_bgp_pkt::nlri::{Ipv4Unicast, Ipv4UnicastAddress, Ipv6Unicast, Ipv6UnicastAddress};
use netgauze_bgp_pkt::path_attribute::{
    As2PathSegment, As4Path, As4PathSegment, AsPathSegmentType, PathAttribute, PathAttributeValue,
};
use netgauze_iana::address_family::{AddressFamily, AddressType, SubsequentAddressFamily};
use netgauze_parse_utils::WritablePdu;

use super::codec::{CodecContext, DecodeError, EncodeError, ng_notification};
use super::notification::{self as n, Notification};
use super::types::{
    AS_TRANS, AsPath, AsSegment, Capabilities, Community, Family, GracefulRestart, LargeCommunity, Message,
    MpReach, MpUnreach, Open, Origin, PathAttributes, RawCapability, RouteRefresh, SegmentKind, Update,
};
use super::update_error::{IgnoredUpdate, UpdateErrorHandling};

// ===== decoding: netgauze -> ferrolb =====

pub(crate) fn from_ng(msg: ng::BgpMessage, cxt: &CodecContext) -> Result<Message, DecodeError> {
    match msg {
        ng::BgpMessage::Open(open) => Ok(Message::Open(open_from_ng(&open))),
        ng::BgpMessage::Update(update) => update_from_ng(&update, cxt).map(Message::Update),
        ng::BgpMessage::Notification(notif) => {
            notification_from_ng(&notif)
                .map(Message::Notification)
                .ok_or(DecodeError::Malformed {
                    kind: "NOTIFICATION",
                    reason: "cannot be re-encoded".into(),
                    notification: None,
                })
        }
        ng::BgpMessage::KeepAlive => Ok(Message::Keepalive),
        ng::BgpMessage::RouteRefresh(rr) => Ok(Message::RouteRefresh(RouteRefresh {
            afi: rr.address_type().address_family().into(),
            safi: rr.address_type().subsequent_address_family().into(),
            subtype: rr.operation_type().into(),
        })),
    }
}

/// netgauze's NOTIFICATION written back to its code, subcode and data.
pub(crate) fn notification_from_ng(notif: &ng::notification::BgpNotificationMessage) -> Option<Notification> {
    let mut body = Vec::with_capacity(notif.len());
    notif.write(&mut body).ok()?;
    match body.as_slice() {
        [code, subcode, data @ ..] => Some(Notification::new(*code, *subcode, data.to_vec())),
        _ => None,
    }
}

fn family_from_ng(address_type: AddressType) -> Option<Family> {
    match address_type {
        AddressType::Ipv4Unicast => Some(Family::Ipv4Unicast),
        AddressType::Ipv6Unicast => Some(Family::Ipv6Unicast),
        _ => None,
    }
}

fn raw_capability(cap: &BgpCapability) -> Option<RawCapability> {
    let mut buf = Vec::with_capacity(cap.len());
    cap.write(&mut buf).ok()?;
    match buf.as_slice() {
        [code, _len, value @ ..] => Some(RawCapability {
            code: *code,
            value: value.to_vec(),
        }),
        _ => None,
    }
}

fn open_from_ng(open: &ng::open::BgpOpenMessage) -> Open {
    let mut caps = Capabilities::default();
    for cap in open.capabilities() {
        match cap {
            BgpCapability::MultiProtocolExtensions(mp) => match family_from_ng(mp.address_type()) {
                Some(family) if !caps.multiprotocol.contains(&family) => caps.multiprotocol.push(family),
                Some(_) => {}
                None => caps.other.extend(raw_capability(cap)),
            },
            BgpCapability::RouteRefresh => caps.route_refresh = true,
            BgpCapability::FourOctetAs(asn) => caps.four_octet_as = Some(asn.asn4()),
            BgpCapability::GracefulRestartCapability(gr) => {
                caps.graceful_restart = Some(GracefulRestart {
                    restart_state: gr.restart(),
                    notification: gr.graceful_notification(),
                    restart_time: gr.time(),
                    families: gr
                        .address_families()
                        .iter()
                        .filter_map(|f| {
                            family_from_ng(f.address_type()).map(|fam| (fam, f.forwarding_state()))
                        })
                        .collect(),
                })
            }
            other => caps.other.extend(raw_capability(other)),
        }
    }
    Open {
        my_as: open.my_as(),
        hold_time: open.hold_time(),
        router_id: open.bgp_id(),
        capabilities: caps,
    }
}

fn segments_from_ng<T: Copy + Into<u32>>(kind: AsPathSegmentType, asns: &[T]) -> AsSegment {
    AsSegment {
        kind: match kind {
            AsPathSegmentType::AsSet => SegmentKind::Set,
            AsPathSegmentType::AsSequence => SegmentKind::Sequence,
        },
        asns: asns.iter().map(|a| (*a).into()).collect(),
    }
}

fn as_path_from_ng(path: &ng::path_attribute::AsPath) -> AsPath {
    let segments = match path {
        ng::path_attribute::AsPath::As2PathSegments(segs) => segs
            .iter()
            .map(|s| segments_from_ng(s.segment_type(), s.as_numbers()))
            .collect(),
        ng::path_attribute::AsPath::As4PathSegments(segs) => segs
            .iter()
            .map(|s| segments_from_ng(s.segment_type(), s.as_numbers()))
            .collect(),
    };
    AsPath { segments }
}

/// RFC 6793 §4.2.3: on a 2-octet session, the AS_PATH's leading ASNs plus the AS4_PATH give the real path.
/// An AS4_PATH longer than the AS_PATH is ignored.
fn merge_as4_path(as_path: AsPath, as4_path: AsPath) -> AsPath {
    let (len, len4) = (as_path.len(), as4_path.len());
    if len < len4 {
        return as_path;
    }
    let mut keep = len - len4;
    let mut segments = Vec::new();
    for seg in as_path.segments {
        if keep == 0 {
            break;
        }
        match seg.kind {
            SegmentKind::Set => {
                segments.push(seg);
                keep -= 1;
            }
            SegmentKind::Sequence => {
                let take = keep.min(seg.asns.len());
                segments.push(AsSegment {
                    kind: SegmentKind::Sequence,
                    asns: seg.asns[..take].to_vec(),
                });
                keep -= take;
            }
        }
    }
    segments.extend(as4_path.segments);
    AsPath { segments }
}

/// RFC 7606 §3: a missing well-known attribute is handled by treat-as-withdraw.
fn missing_attribute(code: u8) -> DecodeError {
    DecodeError::UpdateIgnored(IgnoredUpdate {
        handling: UpdateErrorHandling::TreatAsWithdraw,
        error: Notification::new(
            n::UPDATE_MESSAGE_ERROR,
            n::update::MISSING_WELL_KNOWN_ATTRIBUTE,
            [code],
        ),
        reason: format!("well-known attribute type {code} is missing"),
    })
}

fn update_from_ng(update: &ng::update::BgpUpdateMessage, cxt: &CodecContext) -> Result<Update, DecodeError> {
    use netgauze_bgp_pkt::path_attribute::{MpReach as NgReach, MpUnreach as NgUnreach, Origin as NgOrigin};
    let mut attrs = PathAttributes::default();
    let mut as4_path = None;
    for attr in update.path_attributes() {
        let code = match attr.path_attribute_type() {
            Ok(t) => u8::from(t),
            Err(code) => code,
        };
        // Duplicates were found before netgauze parsed the message (`update_error::check`).
        match attr.value() {
            PathAttributeValue::Origin(origin) => {
                attrs.origin = Some(match origin {
                    NgOrigin::IGP => Origin::Igp,
                    NgOrigin::EGP => Origin::Egp,
                    NgOrigin::Incomplete => Origin::Incomplete,
                })
            }
            PathAttributeValue::AsPath(path) => attrs.as_path = Some(as_path_from_ng(path)),
            PathAttributeValue::As4Path(path) if !cxt.four_octet_as => {
                as4_path = Some(AsPath {
                    segments: path
                        .segments()
                        .iter()
                        .map(|s| segments_from_ng(s.segment_type(), s.as_numbers()))
                        .collect(),
                })
            }
            PathAttributeValue::NextHop(nh) => attrs.next_hop = Some(nh.next_hop()),
            PathAttributeValue::MultiExitDiscriminator(med) => attrs.med = Some(med.metric()),
            PathAttributeValue::LocalPreference(pref) => attrs.local_pref = Some(pref.metric()),
            PathAttributeValue::Communities(c) => {
                attrs.communities = c.communities().iter().map(|c| Community(c.value())).collect()
            }
            PathAttributeValue::LargeCommunities(c) => {
                attrs.large_communities = c
                    .communities()
                    .iter()
                    .map(|c| LargeCommunity {
                        global: c.global_admin(),
                        local1: c.local_data1(),
                        local2: c.local_data2(),
                    })
                    .collect()
            }
            PathAttributeValue::MpReach(NgReach::Ipv4Unicast {
                next_hop,
                next_hop_local,
                nlri,
            }) => {
                attrs.mp_reach = Some(MpReach {
                    family: Family::Ipv4Unicast,
                    next_hop: *next_hop,
                    link_local: *next_hop_local,
                    nlri: nlri
                        .iter()
                        .map(|a| IpNet::V4(a.network().address().trunc()))
                        .collect(),
                })
            }
            PathAttributeValue::MpReach(NgReach::Ipv6Unicast {
                next_hop_global,
                next_hop_local,
                nlri,
            }) => {
                attrs.mp_reach = Some(MpReach {
                    family: Family::Ipv6Unicast,
                    next_hop: IpAddr::V6(*next_hop_global),
                    link_local: *next_hop_local,
                    nlri: nlri
                        .iter()
                        .map(|a| IpNet::V6(a.network().address().trunc()))
                        .collect(),
                })
            }
            PathAttributeValue::MpUnreach(NgUnreach::Ipv4Unicast { nlri }) => {
                attrs.mp_unreach = Some(MpUnreach {
                    family: Family::Ipv4Unicast,
                    withdrawn: nlri
                        .iter()
                        .map(|a| IpNet::V4(a.network().address().trunc()))
                        .collect(),
                })
            }
            PathAttributeValue::MpUnreach(NgUnreach::Ipv6Unicast { nlri }) => {
                attrs.mp_unreach = Some(MpUnreach {
                    family: Family::Ipv6Unicast,
                    withdrawn: nlri
                        .iter()
                        .map(|a| IpNet::V6(a.network().address().trunc()))
                        .collect(),
                })
            }
            _ => attrs.other.push(code),
        }
    }
    match (attrs.as_path.take(), as4_path) {
        (Some(path), Some(path4)) => attrs.as_path = Some(merge_as4_path(path, path4)),
        (path, None) => attrs.as_path = path,
        // AS4_PATH without AS_PATH: reported below as a missing AS_PATH if routes are announced.
        (None, Some(_)) => attrs.other.push(AS4_PATH),
    }
    let nlri: Vec<Ipv4Net> = update
        .nlri()
        .iter()
        .map(|a| a.network().address().trunc())
        .collect();
    // RFC 4271 §6.3 / RFC 4760 §4: routes need ORIGIN and AS_PATH, IPv4 NLRI also NEXT_HOP.
    let announces = !nlri.is_empty() || attrs.mp_reach.as_ref().is_some_and(|r| !r.nlri.is_empty());
    let mut required = Vec::new();
    if announces {
        required.extend([
            (ORIGIN, attrs.origin.is_some()),
            (AS_PATH, attrs.as_path.is_some()),
        ]);
    }
    if !nlri.is_empty() {
        required.push((NEXT_HOP, attrs.next_hop.is_some()));
    }
    if let Some((code, _)) = required.into_iter().find(|(_, present)| !present) {
        return Err(missing_attribute(code));
    }
    Ok(Update {
        withdrawn: update
            .withdraw_routes()
            .iter()
            .map(|a| a.network().address().trunc())
            .collect(),
        attributes: attrs,
        nlri,
    })
}

const ORIGIN: u8 = 1;
const AS_PATH: u8 = 2;
const NEXT_HOP: u8 = 3;
const AS4_PATH: u8 = 17;

// ===== encoding: ferrolb -> netgauze =====

pub(crate) fn to_ng(msg: &Message, cxt: &CodecContext) -> Result<ng::BgpMessage, EncodeError> {
    Ok(match msg {
        Message::Open(open) => ng::BgpMessage::Open(open_to_ng(open)?),
        Message::Update(update) => ng::BgpMessage::Update(update_to_ng(update, cxt)?),
        Message::Notification(notif) => {
            ng::BgpMessage::Notification(ng_notification(notif).ok_or_else(|| EncodeError::Unsupported {
                kind: "NOTIFICATION",
                detail: format!("code {} subcode {}", notif.code, notif.subcode),
            })?)
        }
        Message::Keepalive => ng::BgpMessage::KeepAlive,
        Message::RouteRefresh(rr) => ng::BgpMessage::RouteRefresh(route_refresh_to_ng(rr)?),
    })
}

fn address_type(family: Family) -> AddressType {
    match family {
        Family::Ipv4Unicast => AddressType::Ipv4Unicast,
        Family::Ipv6Unicast => AddressType::Ipv6Unicast,
    }
}

fn route_refresh_to_ng(rr: &RouteRefresh) -> Result<ng::route_refresh::BgpRouteRefreshMessage, EncodeError> {
    let unsupported = || EncodeError::Unsupported {
        kind: "ROUTE-REFRESH",
        detail: format!("afi {} safi {} subtype {}", rr.afi, rr.safi, rr.subtype),
    };
    let afi = AddressFamily::try_from(rr.afi).map_err(|_| unsupported())?;
    let safi = SubsequentAddressFamily::try_from(rr.safi).map_err(|_| unsupported())?;
    let address_type = AddressType::from_afi_safi(afi, safi).map_err(|_| unsupported())?;
    let subtype = ng::iana::RouteRefreshSubcode::try_from(rr.subtype).map_err(|_| unsupported())?;
    Ok(ng::route_refresh::BgpRouteRefreshMessage::new(
        address_type,
        subtype,
    ))
}

fn open_to_ng(open: &Open) -> Result<ng::open::BgpOpenMessage, EncodeError> {
    let caps = &open.capabilities;
    let mut list: Vec<BgpCapability> = caps
        .multiprotocol
        .iter()
        .map(|f| {
            BgpCapability::MultiProtocolExtensions(MultiProtocolExtensionsCapability::new(address_type(*f)))
        })
        .collect();
    if caps.route_refresh {
        list.push(BgpCapability::RouteRefresh);
    }
    if let Some(gr) = &caps.graceful_restart {
        if gr.restart_time > 0x0fff {
            return Err(EncodeError::RestartTimeTooLarge(gr.restart_time));
        }
        let families: Vec<_> = gr
            .families
            .iter()
            .map(|(f, forwarding)| GracefulRestartAddressFamily::new(*forwarding, address_type(*f)))
            .collect();
        list.push(BgpCapability::GracefulRestartCapability(
            GracefulRestartCapability::new(gr.restart_state, gr.notification, gr.restart_time, families),
        ));
    }
    if let Some(asn) = caps.four_octet_as {
        list.push(BgpCapability::FourOctetAs(FourOctetAsCapability::new(asn)));
    }
    for raw in &caps.other {
        if raw.value.len() > usize::from(u8::MAX) {
            return Err(EncodeError::CapabilitiesTooLong { len: raw.value.len() });
        }
        list.push(BgpCapability::Unrecognized(UnrecognizedCapability::new(
            raw.code,
            raw.value.clone(),
        )));
    }
    let len: usize = list.iter().map(|c| c.len()).sum();
    if len > usize::from(u8::MAX) {
        return Err(EncodeError::CapabilitiesTooLong { len });
    }
    let params = if list.is_empty() {
        Vec::new()
    } else {
        vec![ng::open::BgpOpenMessageParameter::new_capabilities(list)]
    };
    Ok(ng::open::BgpOpenMessage::new(
        open.my_as,
        open.hold_time,
        open.router_id,
        params,
    ))
}

/// Whether netgauze accepts `prefix` as unicast NLRI (not multicast or broadcast), as the encoder will.
pub(crate) fn is_unicast_prefix(prefix: &IpNet) -> bool {
    match prefix {
        IpNet::V4(net) => Ipv4Unicast::from_net(net.trunc()).is_ok(),
        IpNet::V6(net) => Ipv6Unicast::from_net(net.trunc()).is_ok(),
    }
}

fn v4_nlri(net: &Ipv4Net, family: Family) -> Result<Ipv4UnicastAddress, EncodeError> {
    Ipv4Unicast::from_net(net.trunc())
        .map(Ipv4UnicastAddress::new_no_path_id)
        .map_err(|_| EncodeError::InvalidPrefix {
            prefix: IpNet::V4(*net),
            family,
        })
}

fn v6_nlri(net: &Ipv6Net, family: Family) -> Result<Ipv6UnicastAddress, EncodeError> {
    Ipv6Unicast::from_net(net.trunc())
        .map(|u| Ipv6UnicastAddress::new(None, u))
        .map_err(|_| EncodeError::InvalidPrefix {
            prefix: IpNet::V6(*net),
            family,
        })
}

fn v4_list(prefixes: &[IpNet], family: Family) -> Result<Vec<Ipv4UnicastAddress>, EncodeError> {
    prefixes
        .iter()
        .map(|p| match p {
            IpNet::V4(net) => v4_nlri(net, family),
            IpNet::V6(_) => Err(EncodeError::InvalidPrefix { prefix: *p, family }),
        })
        .collect()
}

fn v6_list(prefixes: &[IpNet], family: Family) -> Result<Vec<Ipv6UnicastAddress>, EncodeError> {
    prefixes
        .iter()
        .map(|p| match p {
            IpNet::V6(net) => v6_nlri(net, family),
            IpNet::V4(_) => Err(EncodeError::InvalidPrefix { prefix: *p, family }),
        })
        .collect()
}

/// A path attribute with the given flags; the extended-length flag is set when the value exceeds 255
/// bytes, and always for MP_REACH/MP_UNREACH (as FRR does, so their size never depends on the NLRI count).
fn attribute(
    optional: bool,
    transitive: bool,
    value: PathAttributeValue,
) -> Result<PathAttribute, EncodeError> {
    let always_extended = matches!(
        value,
        PathAttributeValue::MpReach(_) | PathAttributeValue::MpUnreach(_)
    );
    let flags_error = |(_, err)| EncodeError::Write {
        kind: "UPDATE",
        detail: format!("attribute flags: {err:?}"),
    };
    let short =
        PathAttribute::from(optional, transitive, false, always_extended, value).map_err(flags_error)?;
    // flags, type and a one-byte length precede the value
    if always_extended || short.len() <= 3 + usize::from(u8::MAX) {
        return Ok(short);
    }
    PathAttribute::from(optional, transitive, false, true, short.value().clone()).map_err(flags_error)
}

fn segment_kind(kind: SegmentKind) -> AsPathSegmentType {
    match kind {
        SegmentKind::Set => AsPathSegmentType::AsSet,
        SegmentKind::Sequence => AsPathSegmentType::AsSequence,
    }
}

/// AS_PATH (and AS4_PATH when a 2-octet session needs it), segments split at 255 ASNs.
fn as_path_to_ng(path: &AsPath, four_octet_as: bool) -> (PathAttributeValue, Option<PathAttributeValue>) {
    let chunks = || {
        path.segments.iter().flat_map(|s| {
            let kind = segment_kind(s.kind);
            s.asns.chunks(255).map(move |c| (kind, c))
        })
    };
    let as4: Vec<As4PathSegment> = chunks()
        .map(|(k, c)| As4PathSegment::new(k, c.to_vec()))
        .collect();
    if four_octet_as {
        return (
            PathAttributeValue::AsPath(ng::path_attribute::AsPath::As4PathSegments(as4.into())),
            None,
        );
    }
    let as2: Vec<As2PathSegment> = chunks()
        .map(|(k, c)| {
            As2PathSegment::new(
                k,
                c.iter()
                    .map(|a| u16::try_from(*a).unwrap_or(AS_TRANS))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let needs_as4 = path
        .segments
        .iter()
        .any(|s| s.asns.iter().any(|a| *a > u32::from(u16::MAX)));
    (
        PathAttributeValue::AsPath(ng::path_attribute::AsPath::As2PathSegments(as2.into())),
        needs_as4.then(|| PathAttributeValue::As4Path(As4Path::new(as4))),
    )
}

fn update_to_ng(update: &Update, cxt: &CodecContext) -> Result<ng::update::BgpUpdateMessage, EncodeError> {
    use netgauze_bgp_pkt::path_attribute::{
        Communities, LargeCommunities, LocalPreference, MpReach as NgReach, MpUnreach as NgUnreach,
        MultiExitDiscriminator, NextHop, Origin as NgOrigin,
    };
    let a = &update.attributes;
    let mut attrs = Vec::new();
    let mut as4 = None;
    if let Some(origin) = a.origin {
        let origin = match origin {
            Origin::Igp => NgOrigin::IGP,
            Origin::Egp => NgOrigin::EGP,
            Origin::Incomplete => NgOrigin::Incomplete,
        };
        attrs.push(attribute(false, true, PathAttributeValue::Origin(origin))?);
    }
    if let Some(path) = &a.as_path {
        let (value, as4_value) = as_path_to_ng(path, cxt.four_octet_as);
        attrs.push(attribute(false, true, value)?);
        as4 = as4_value;
    }
    if let Some(nh) = a.next_hop {
        attrs.push(attribute(
            false,
            true,
            PathAttributeValue::NextHop(NextHop::new(nh)),
        )?);
    }
    if let Some(med) = a.med {
        attrs.push(attribute(
            true,
            false,
            PathAttributeValue::MultiExitDiscriminator(MultiExitDiscriminator::new(med)),
        )?);
    }
    if let Some(pref) = a.local_pref {
        attrs.push(attribute(
            false,
            true,
            PathAttributeValue::LocalPreference(LocalPreference::new(pref)),
        )?);
    }
    if !a.communities.is_empty() {
        let list: Vec<_> = a
            .communities
            .iter()
            .map(|c| ng::community::Community::new(c.0))
            .collect();
        attrs.push(attribute(
            true,
            true,
            PathAttributeValue::Communities(Communities::new(list)),
        )?);
    }
    if let Some(reach) = &a.mp_reach {
        let bad_next_hop = || EncodeError::NextHopFamily {
            next_hop: reach.next_hop,
            family: reach.family,
        };
        let value = match (reach.family, reach.next_hop) {
            (Family::Ipv4Unicast, next_hop) => NgReach::Ipv4Unicast {
                next_hop,
                next_hop_local: reach.link_local,
                nlri: v4_list(&reach.nlri, reach.family)?.into(),
            },
            (Family::Ipv6Unicast, IpAddr::V6(global)) => NgReach::Ipv6Unicast {
                next_hop_global: global,
                next_hop_local: reach.link_local.filter(|ll: &Ipv6Addr| !ll.is_unspecified()),
                nlri: v6_list(&reach.nlri, reach.family)?.into(),
            },
            (Family::Ipv6Unicast, IpAddr::V4(_)) => return Err(bad_next_hop()),
        };
        attrs.push(attribute(true, false, PathAttributeValue::MpReach(value))?);
    }
    if let Some(unreach) = &a.mp_unreach {
        let value = match unreach.family {
            Family::Ipv4Unicast => NgUnreach::Ipv4Unicast {
                nlri: v4_list(&unreach.withdrawn, unreach.family)?.into(),
            },
            Family::Ipv6Unicast => NgUnreach::Ipv6Unicast {
                nlri: v6_list(&unreach.withdrawn, unreach.family)?.into(),
            },
        };
        attrs.push(attribute(true, false, PathAttributeValue::MpUnreach(value))?);
    }
    if let Some(value) = as4 {
        attrs.push(attribute(true, true, value)?);
    }
    if !a.large_communities.is_empty() {
        let list: Vec<_> = a
            .large_communities
            .iter()
            .map(|c| ng::community::LargeCommunity::new(c.global, c.local1, c.local2))
            .collect();
        attrs.push(attribute(
            true,
            true,
            PathAttributeValue::LargeCommunities(LargeCommunities::new(list)),
        )?);
    }
    let withdrawn = update
        .withdrawn
        .iter()
        .map(|p| v4_nlri(p, Family::Ipv4Unicast))
        .collect::<Result<Vec<_>, _>>()?;
    let nlri = update
        .nlri
        .iter()
        .map(|p| v4_nlri(p, Family::Ipv4Unicast))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ng::update::BgpUpdateMessage::new(withdrawn, attrs, nlri))
}
