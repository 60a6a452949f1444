//! The OPEN ferrolb sends, and the checks and negotiation applied to the peer's OPEN (RFC 4271 §6.2,
//! RFC 4760, RFC 5492, RFC 6286, RFC 6793).

use std::net::Ipv4Addr;

use super::config::SessionConfig;
use crate::bgp::codec::CodecContext;
use crate::bgp::notification::{self as n, Notification};
use crate::bgp::types::{Capabilities, Family, GracefulRestart, Open};

/// What both sides agreed on when the session came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's AS number.
    pub peer_asn: u32,
    /// The peer's BGP identifier.
    pub peer_router_id: Ipv4Addr,
    /// Negotiated hold time in seconds: the smaller of both proposals; 0 means no hold timer.
    pub hold_time: u16,
    /// Interval between our KEEPALIVEs in seconds; 0 when the hold time is 0.
    pub keepalive_time: u16,
    /// Families both sides announced (IPv4 unicast only if the peer announced no multiprotocol capability).
    pub families: Vec<Family>,
    /// Both sides announced 4-octet AS support.
    pub four_octet_as: bool,
    /// The peer accepts ROUTE-REFRESH.
    pub route_refresh: bool,
    /// The peer's graceful restart capability, if it announced one.
    pub graceful_restart: Option<GracefulRestart>,
    /// Both sides set the N bit of the graceful restart capability (RFC 8538): a NOTIFICATION other than
    /// Cease / Hard Reset no longer makes the peer withdraw our routes.
    pub graceful_notification: bool,
}

impl Negotiated {
    /// The encoding context for UPDATEs on this session.
    pub fn codec(&self) -> CodecContext {
        CodecContext {
            four_octet_as: self.four_octet_as,
        }
    }
}

/// Why the peer's OPEN is refused; [`OpenError::notification`] is what to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The peer's AS is not the configured one.
    #[error("peer AS {got} is not the configured {expected}")]
    BadPeerAs {
        /// Configured peer ASN.
        expected: u32,
        /// ASN in the OPEN.
        got: u32,
    },
    /// The identifier is zero, multicast, broadcast, or equals ours on an iBGP session (RFC 6286).
    #[error("peer BGP identifier {0} is not acceptable")]
    BadRouterId(Ipv4Addr),
    /// Hold time 1 or 2 s.
    #[error("peer hold time {0} s is unacceptable (must be 0 or at least 3 s)")]
    HoldTime(u16),
    /// No family in common.
    #[error("no address family in common: we announce {ours:?}, the peer {theirs:?}")]
    NoCommonFamily {
        /// Our families.
        ours: Vec<Family>,
        /// The peer's families.
        theirs: Vec<Family>,
    },
}

impl OpenError {
    /// The NOTIFICATION to send (OPEN Message Error with the matching subcode).
    pub fn notification(&self) -> Notification {
        match self {
            OpenError::BadPeerAs { .. } => Notification::new(n::OPEN_MESSAGE_ERROR, n::open::BAD_PEER_AS, []),
            OpenError::BadRouterId(id) => {
                Notification::new(n::OPEN_MESSAGE_ERROR, n::open::BAD_BGP_IDENTIFIER, id.octets())
            }
            OpenError::HoldTime(t) => Notification::new(
                n::OPEN_MESSAGE_ERROR,
                n::open::UNACCEPTABLE_HOLD_TIME,
                t.to_be_bytes(),
            ),
            OpenError::NoCommonFamily { ours, .. } => {
                // RFC 5492 §3: the data field lists the capabilities that caused the error.
                let mut data = Vec::new();
                for family in ours {
                    let [a, b] = family.afi().to_be_bytes();
                    data.extend_from_slice(&[1, 4, a, b, 0, family.safi()]);
                }
                Notification::new(n::OPEN_MESSAGE_ERROR, n::open::UNSUPPORTED_CAPABILITY, data)
            }
        }
    }
}

/// The OPEN ferrolb sends: multiprotocol for each configured family, route refresh, graceful restart if
/// configured, and always 4-octet AS.
pub(crate) fn local_open(config: &SessionConfig) -> Open {
    let graceful_restart = config.graceful_restart.map(|gr| GracefulRestart {
        restart_state: gr.restarting,
        notification: config.graceful_notification,
        restart_time: gr.restart_time,
        families: config
            .families
            .iter()
            .map(|f| (*f, gr.forwarding_preserved))
            .collect(),
    });
    let capabilities = Capabilities {
        multiprotocol: config.families.clone(),
        route_refresh: true,
        graceful_restart,
        ..Capabilities::default()
    };
    Open::new(config.local_asn, config.hold_time, config.router_id, capabilities)
}

/// Checks the peer's OPEN against the configuration and computes what the session runs with.
pub(crate) fn negotiate(config: &SessionConfig, peer: &Open) -> Result<Negotiated, OpenError> {
    let got = peer.asn();
    if got != config.peer_asn {
        return Err(OpenError::BadPeerAs {
            expected: config.peer_asn,
            got,
        });
    }
    let id = peer.router_id;
    if id.is_unspecified()
        || id.is_multicast()
        || id.is_broadcast()
        || (config.is_ibgp() && id == config.router_id)
    {
        return Err(OpenError::BadRouterId(id));
    }
    if matches!(peer.hold_time, 1 | 2) {
        return Err(OpenError::HoldTime(peer.hold_time));
    }
    let caps = &peer.capabilities;
    // RFC 4760 §8: a peer without the multiprotocol capability speaks IPv4 unicast only.
    let theirs = if caps.multiprotocol.is_empty() {
        vec![Family::Ipv4Unicast]
    } else {
        caps.multiprotocol.clone()
    };
    let families: Vec<Family> = config
        .families
        .iter()
        .copied()
        .filter(|f| theirs.contains(f))
        .collect();
    if families.is_empty() {
        return Err(OpenError::NoCommonFamily {
            ours: config.families.clone(),
            theirs,
        });
    }
    let hold_time = config.hold_time.min(peer.hold_time);
    let keepalive_time = match hold_time {
        0 => 0,
        hold => config.keepalive_time.map_or(hold / 3, |k| k.min(hold / 3)).max(1),
    };
    Ok(Negotiated {
        peer_asn: got,
        peer_router_id: id,
        hold_time,
        keepalive_time,
        families,
        four_octet_as: caps.four_octet_as.is_some(),
        route_refresh: caps.route_refresh,
        graceful_restart: caps.graceful_restart.clone(),
        graceful_notification: config.graceful_restart.is_some()
            && config.graceful_notification
            && caps.graceful_restart.as_ref().is_some_and(|gr| gr.notification),
    })
}
