//! NOTIFICATION messages and the error codes of RFC 4271 §4.5 (with RFC 4486, RFC 7313, RFC 8203,
//! RFC 8538 and RFC 9234 subcodes).

use std::fmt;

/// Message Header Error (1).
pub const MESSAGE_HEADER_ERROR: u8 = 1;
/// OPEN Message Error (2).
pub const OPEN_MESSAGE_ERROR: u8 = 2;
/// UPDATE Message Error (3).
pub const UPDATE_MESSAGE_ERROR: u8 = 3;
/// Hold Timer Expired (4).
pub const HOLD_TIMER_EXPIRED: u8 = 4;
/// Finite State Machine Error (5).
pub const FSM_ERROR: u8 = 5;
/// Cease (6).
pub const CEASE: u8 = 6;
/// ROUTE-REFRESH Message Error (7).
pub const ROUTE_REFRESH_ERROR: u8 = 7;

/// Message Header Error subcodes.
pub mod header {
    /// Connection Not Synchronized.
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Bad Message Length (data: the length field).
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Bad Message Type (data: the type field).
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes.
pub mod open {
    /// Unsupported Version Number (data: the largest version supported, 2 octets).
    pub const UNSUPPORTED_VERSION: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492; data: the capabilities).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// UPDATE Message Error subcodes.
pub mod update {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// Missing Well-known Attribute (data: the type code).
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Finite State Machine Error subcodes (RFC 6608).
pub mod fsm {
    /// Unspecified.
    pub const UNSPECIFIED: u8 = 0;
    /// Receive Unexpected Message in OpenSent State.
    pub const UNEXPECTED_IN_OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const UNEXPECTED_IN_OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const UNEXPECTED_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486).
pub mod cease {
    /// Maximum Number of Prefixes Reached.
    pub const MAX_PREFIXES: u8 = 1;
    /// Administrative Shutdown.
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DECONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538; data: the code, subcode and data of the NOTIFICATION it stands for).
    pub const HARD_RESET: u8 = 9;
    /// BFD Down (RFC 9384).
    pub const BFD_DOWN: u8 = 10;

    /// Whether RFC 8538 §5.1 says a Cease with this subcode is sent as Hard Reset once the N bit is
    /// negotiated: the session is meant to end for good, so the peer must not keep the routes. Administrative
    /// Reset is left to the operator there; ferrolb sends it as a graceful Cease.
    pub const fn hard_reset_suggested(subcode: u8) -> bool {
        matches!(
            subcode,
            MAX_PREFIXES | ADMINISTRATIVE_SHUTDOWN | PEER_DECONFIGURED | HARD_RESET | BFD_DOWN
        )
    }
}

/// A NOTIFICATION message: error code, subcode and data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode (0 = unspecific).
    pub subcode: u8,
    /// Diagnostic data, meaning depends on the code.
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with the given code, subcode and data.
    pub fn new(code: u8, subcode: u8, data: impl Into<Vec<u8>>) -> Notification {
        Notification {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// Hold Timer Expired.
    pub fn hold_timer_expired() -> Notification {
        Notification::new(HOLD_TIMER_EXPIRED, 0, [])
    }

    /// Cease / Administrative Shutdown, with an optional RFC 8203 shutdown message (truncated to 255 bytes).
    pub fn administrative_shutdown(message: &str) -> Notification {
        let mut data = Vec::new();
        if !message.is_empty() {
            let mut end = message.len().min(255);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            data.push(end as u8);
            data.extend_from_slice(&message.as_bytes()[..end]);
        }
        Notification::new(CEASE, cease::ADMINISTRATIVE_SHUTDOWN, data)
    }

    /// Cease / Administrative Reset (RFC 4486): with the N bit negotiated, the peer keeps our routes as
    /// stale until we reconnect and send End-of-RIB (RFC 8538 §4).
    pub fn administrative_reset() -> Notification {
        Notification::new(CEASE, cease::ADMINISTRATIVE_RESET, [])
    }

    /// Cease / Hard Reset standing for `inner` (RFC 8538 §3: the data carries its code, subcode and data).
    pub fn hard_reset(inner: &Notification) -> Notification {
        let mut data = Vec::with_capacity(inner.data.len() + 2);
        data.extend_from_slice(&[inner.code, inner.subcode]);
        data.extend_from_slice(&inner.data);
        Notification::new(CEASE, cease::HARD_RESET, data)
    }

    /// The NOTIFICATION a Hard Reset stands for, if this is one with at least a code and subcode.
    pub fn hard_reset_cause(&self) -> Option<Notification> {
        match (self.code, self.subcode, self.data.as_slice()) {
            (CEASE, cease::HARD_RESET, [code, subcode, data @ ..]) => {
                Some(Notification::new(*code, *subcode, data.to_vec()))
            }
            _ => None,
        }
    }

    /// What goes on the wire for this NOTIFICATION on a session with (`true`) or without the N bit
    /// negotiated: with it, a Cease that RFC 8538 §5.1 wants to end the session for good is wrapped in a
    /// Hard Reset; everything else is sent as it is.
    pub fn for_session(&self, graceful_notification: bool) -> Notification {
        if graceful_notification
            && self.code == CEASE
            && self.subcode != cease::HARD_RESET
            && cease::hard_reset_suggested(self.subcode)
        {
            Notification::hard_reset(self)
        } else {
            self.clone()
        }
    }

    /// The error code's name.
    pub fn code_name(&self) -> &'static str {
        match self.code {
            MESSAGE_HEADER_ERROR => "Message Header Error",
            OPEN_MESSAGE_ERROR => "OPEN Message Error",
            UPDATE_MESSAGE_ERROR => "UPDATE Message Error",
            HOLD_TIMER_EXPIRED => "Hold Timer Expired",
            FSM_ERROR => "Finite State Machine Error",
            CEASE => "Cease",
            ROUTE_REFRESH_ERROR => "ROUTE-REFRESH Message Error",
            _ => "unknown error code",
        }
    }

    /// The subcode's name, or `"unspecific"` / `"unknown subcode"`.
    pub fn subcode_name(&self) -> &'static str {
        if self.subcode == 0 {
            return "unspecific";
        }
        match (self.code, self.subcode) {
            (MESSAGE_HEADER_ERROR, 1) => "Connection Not Synchronized",
            (MESSAGE_HEADER_ERROR, 2) => "Bad Message Length",
            (MESSAGE_HEADER_ERROR, 3) => "Bad Message Type",
            (OPEN_MESSAGE_ERROR, 1) => "Unsupported Version Number",
            (OPEN_MESSAGE_ERROR, 2) => "Bad Peer AS",
            (OPEN_MESSAGE_ERROR, 3) => "Bad BGP Identifier",
            (OPEN_MESSAGE_ERROR, 4) => "Unsupported Optional Parameter",
            (OPEN_MESSAGE_ERROR, 6) => "Unacceptable Hold Time",
            (OPEN_MESSAGE_ERROR, 7) => "Unsupported Capability",
            (OPEN_MESSAGE_ERROR, 11) => "Role Mismatch",
            (UPDATE_MESSAGE_ERROR, 1) => "Malformed Attribute List",
            (UPDATE_MESSAGE_ERROR, 2) => "Unrecognized Well-known Attribute",
            (UPDATE_MESSAGE_ERROR, 3) => "Missing Well-known Attribute",
            (UPDATE_MESSAGE_ERROR, 4) => "Attribute Flags Error",
            (UPDATE_MESSAGE_ERROR, 5) => "Attribute Length Error",
            (UPDATE_MESSAGE_ERROR, 6) => "Invalid ORIGIN Attribute",
            (UPDATE_MESSAGE_ERROR, 8) => "Invalid NEXT_HOP Attribute",
            (UPDATE_MESSAGE_ERROR, 9) => "Optional Attribute Error",
            (UPDATE_MESSAGE_ERROR, 10) => "Invalid Network Field",
            (UPDATE_MESSAGE_ERROR, 11) => "Malformed AS_PATH",
            (FSM_ERROR, 1) => "Receive Unexpected Message in OpenSent State",
            (FSM_ERROR, 2) => "Receive Unexpected Message in OpenConfirm State",
            (FSM_ERROR, 3) => "Receive Unexpected Message in Established State",
            (CEASE, 1) => "Maximum Number of Prefixes Reached",
            (CEASE, 2) => "Administrative Shutdown",
            (CEASE, 3) => "Peer De-configured",
            (CEASE, 4) => "Administrative Reset",
            (CEASE, 5) => "Connection Rejected",
            (CEASE, 6) => "Other Configuration Change",
            (CEASE, 7) => "Connection Collision Resolution",
            (CEASE, 8) => "Out of Resources",
            (CEASE, 9) => "Hard Reset",
            (CEASE, 10) => "BFD Down",
            (ROUTE_REFRESH_ERROR, 1) => "Invalid Message Length",
            _ => "unknown subcode",
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) / {} ({})",
            self.code_name(),
            self.code,
            self.subcode_name(),
            self.subcode
        )?;
        if !self.data.is_empty() {
            f.write_str(", data ")?;
            for b in &self.data {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8538_hard_reset_wraps_only_the_ceases_meant_to_end_the_session() {
        // (subcode, wrapped with N negotiated)
        for (subcode, wrapped) in [
            (cease::MAX_PREFIXES, true),
            (cease::ADMINISTRATIVE_SHUTDOWN, true),
            (cease::PEER_DECONFIGURED, true),
            (cease::ADMINISTRATIVE_RESET, false),
            (cease::CONNECTION_REJECTED, false),
            (cease::OTHER_CONFIGURATION_CHANGE, false),
            (cease::CONNECTION_COLLISION_RESOLUTION, false),
            (cease::OUT_OF_RESOURCES, false),
            (cease::HARD_RESET, false),
            (cease::BFD_DOWN, true),
        ] {
            let n = Notification::new(CEASE, subcode, [1, 2]);
            assert_eq!(n.for_session(false), n, "without N: as it is");
            let wire = n.for_session(true);
            if wrapped {
                assert_eq!((wire.code, wire.subcode), (CEASE, cease::HARD_RESET), "{n}");
                assert_eq!(wire.data, [CEASE, subcode, 1, 2]);
                assert_eq!(wire.hard_reset_cause(), Some(n));
            } else {
                assert_eq!(wire, n);
            }
        }
        let hold = Notification::hold_timer_expired();
        assert_eq!(
            hold.for_session(true),
            hold,
            "errors other than Cease stay graceful"
        );
        assert_eq!(
            Notification::new(CEASE, cease::HARD_RESET, [6]).hard_reset_cause(),
            None
        );
        assert_eq!(
            Notification::administrative_reset().to_string(),
            "Cease (6) / Administrative Reset (4)"
        );
    }
}
