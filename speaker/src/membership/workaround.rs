//! A guard against a foca 2.0 quirk: when a suspicion timer fires for a member that has since refuted it,
//! foca correctly keeps the member alive but still sends it `TurnUndead` (with `notify_down_members`), which
//! makes the healthy member drop its identity and rejoin. [`keep_outgoing`] drops a `TurnUndead` addressed to a
//! member foca still considers active; a `TurnUndead` to a member that really is down still goes out.

use foca::{BroadcastHandler, Codec, Foca, Message, State};
use rand::RngExt;

use super::identity::{NodeId, SpeakerCodec};

/// Whether the datagram foca wants to send to `to` should really go out.
pub fn keep_outgoing<R, B>(foca: &Foca<NodeId, SpeakerCodec, R, B>, to: &NodeId, data: &[u8]) -> bool
where
    R: RngExt,
    B: BroadcastHandler<NodeId>,
    B::Error: core::error::Error + 'static,
{
    let Ok(header) = SpeakerCodec.decode_header(data) else {
        return true;
    };
    if header.message != Message::TurnUndead {
        return true;
    }
    !foca
        .iter_membership_state()
        .any(|m| m.id() == to && m.state() != State::Down)
}
