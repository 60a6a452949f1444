//! A speaker's identity in the SWIM cluster and foca's wire codec for it.
//!
//! [`NodeId`] is `(node name, membership address, generation)`. foca's `Identity::Addr` is the node name, so two
//! identities of one node conflict and the higher generation wins: a restarted speaker (generation = its start
//! time in ms) replaces its previous identity at once, and one that was declared down renews itself with the next
//! generation and rejoins (`Identity::renew`).
//!
//! foca finds members by `Identity::addr` with a linear scan of its member list, once per update it applies (every
//! datagram carries at least its sender's). The address is therefore a [`NameKey`] — 128 bits of SipHash of the
//! node name, computed once per identity — and not the name itself, which foca would clone for every member it
//! compares: that made a datagram cost 150 µs of CPU at 1,000 members.
//!
//! [`SpeakerCodec`] is a compact big-endian encoding with checked reads only: a malformed datagram (which can
//! only come from a key holder, see [`super::auth`]) is a [`CodecError`], never a panic.

use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, BufMut};
use foca::{Header, Member, Message, State};

/// The longest node name (a DNS subdomain).
pub const MAX_NAME_LEN: usize = 253;

/// foca's address of a member: a 128-bit key of its node name (see the module docs). Two distinct names collide
/// with probability 2⁻¹²⁸ per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
// two u64s rather than a u128: 8-byte alignment keeps foca's member records at 88 bytes, not 96
pub struct NameKey(u64, u64);

impl NameKey {
    /// The key of `name`.
    pub fn of(name: &str) -> NameKey {
        // two SipHash-1-3 runs with distinct prefixes; the key never leaves the process, so the hasher's
        // output need not be stable across Rust versions
        let half = |salt: u8| {
            let mut h = std::hash::DefaultHasher::new();
            salt.hash(&mut h);
            name.hash(&mut h);
            h.finish()
        };
        NameKey(half(1), half(2))
    }
}

/// A speaker's identity. Build it with [`NodeId::new`] (which computes its [`NameKey`]); the fields are public to
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// The Kubernetes node name.
    pub name: String,
    /// Where its membership socket listens.
    pub addr: SocketAddr,
    /// Generation: higher replaces lower for the same name.
    pub generation: u64,
    key: NameKey,
}

impl NodeId {
    /// A new identity.
    pub fn new(name: impl Into<String>, addr: SocketAddr, generation: u64) -> Self {
        let name = name.into();
        NodeId {
            key: NameKey::of(&name),
            name,
            addr,
            generation,
        }
    }

    /// The key foca compares members by.
    pub fn key(&self) -> NameKey {
        self.key
    }
}

impl foca::Identity for NodeId {
    type Addr = NameKey;

    fn renew(&self) -> Option<Self> {
        Some(NodeId {
            generation: self.generation.wrapping_add(1).max(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> NameKey {
        self.key
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// Why a datagram could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Ran out of bytes.
    #[error("datagram truncated")]
    Truncated,
    /// A node name that is empty, too long or not UTF-8.
    #[error("bad node name")]
    BadName,
    /// An address family other than 4 or 6.
    #[error("bad address family {0}")]
    BadFamily(u8),
    /// An unknown message or member-state tag.
    #[error("unknown tag {0}")]
    BadTag(u8),
    /// The buffer is too small for what is being encoded.
    #[error("no room in the buffer")]
    NoRoom,
}

/// foca's codec for [`NodeId`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SpeakerCodec;

fn need(buf: &impl Buf, n: usize) -> Result<(), CodecError> {
    if buf.remaining() < n {
        Err(CodecError::Truncated)
    } else {
        Ok(())
    }
}

/// Encoded length of an identity.
pub fn id_len(id: &NodeId) -> usize {
    1 + id.name.len() + 1 + if id.addr.is_ipv4() { 4 } else { 16 } + 2 + 8
}

fn put_id(id: &NodeId, buf: &mut impl BufMut) -> Result<(), CodecError> {
    let name = id.name.as_bytes();
    let len = u8::try_from(name.len()).map_err(|_| CodecError::BadName)?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(CodecError::BadName);
    }
    if buf.remaining_mut() < id_len(id) {
        return Err(CodecError::NoRoom);
    }
    buf.put_u8(len);
    buf.put_slice(name);
    match id.addr.ip() {
        IpAddr::V4(a) => {
            buf.put_u8(4);
            buf.put_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            buf.put_u8(6);
            buf.put_slice(&a.octets());
        }
    }
    buf.put_u16(id.addr.port());
    buf.put_u64(id.generation);
    Ok(())
}

fn get_id(buf: &mut impl Buf) -> Result<NodeId, CodecError> {
    need(buf, 1)?;
    let len = usize::from(buf.get_u8());
    if len == 0 {
        return Err(CodecError::BadName);
    }
    need(buf, len + 1)?;
    let mut name = vec![0u8; len];
    buf.copy_to_slice(&mut name);
    let name = String::from_utf8(name).map_err(|_| CodecError::BadName)?;
    let ip = match buf.get_u8() {
        4 => {
            need(buf, 4)?;
            let mut o = [0u8; 4];
            buf.copy_to_slice(&mut o);
            IpAddr::V4(Ipv4Addr::from(o))
        }
        6 => {
            need(buf, 16)?;
            let mut o = [0u8; 16];
            buf.copy_to_slice(&mut o);
            IpAddr::V6(Ipv6Addr::from(o))
        }
        f => return Err(CodecError::BadFamily(f)),
    };
    need(buf, 10)?;
    let port = buf.get_u16();
    let generation = buf.get_u64();
    Ok(NodeId::new(name, SocketAddr::new(ip, port), generation))
}

const MSG_PING: u8 = 1;
const MSG_ACK: u8 = 2;
const MSG_PING_REQ: u8 = 3;
const MSG_INDIRECT_PING: u8 = 4;
const MSG_INDIRECT_ACK: u8 = 5;
const MSG_FORWARDED_ACK: u8 = 6;
const MSG_ANNOUNCE: u8 = 7;
const MSG_FEED: u8 = 8;
const MSG_GOSSIP: u8 = 9;
const MSG_BROADCAST: u8 = 10;
const MSG_TURN_UNDEAD: u8 = 11;

fn message_len(m: &Message<NodeId>) -> usize {
    1 + match m {
        Message::Ping(_) | Message::Ack(_) => 1,
        Message::PingReq { target: id, .. }
        | Message::IndirectPing { origin: id, .. }
        | Message::IndirectAck { target: id, .. }
        | Message::ForwardedAck { origin: id, .. } => id_len(id) + 1,
        _ => 0,
    }
}

impl foca::Codec<NodeId> for SpeakerCodec {
    type Error = CodecError;

    fn encode_header(&mut self, header: &Header<NodeId>, mut buf: impl BufMut) -> Result<(), CodecError> {
        let total = id_len(&header.src) + 2 + id_len(&header.dst) + message_len(&header.message);
        if buf.remaining_mut() < total {
            return Err(CodecError::NoRoom);
        }
        put_id(&header.src, &mut buf)?;
        buf.put_u16(header.src_incarnation);
        put_id(&header.dst, &mut buf)?;
        let (tag, id, probe) = match &header.message {
            Message::Ping(n) => (MSG_PING, None, Some(*n)),
            Message::Ack(n) => (MSG_ACK, None, Some(*n)),
            Message::PingReq { target, probe_number } => (MSG_PING_REQ, Some(target), Some(*probe_number)),
            Message::IndirectPing { origin, probe_number } => {
                (MSG_INDIRECT_PING, Some(origin), Some(*probe_number))
            }
            Message::IndirectAck { target, probe_number } => {
                (MSG_INDIRECT_ACK, Some(target), Some(*probe_number))
            }
            Message::ForwardedAck { origin, probe_number } => {
                (MSG_FORWARDED_ACK, Some(origin), Some(*probe_number))
            }
            Message::Announce => (MSG_ANNOUNCE, None, None),
            Message::Feed => (MSG_FEED, None, None),
            Message::Gossip => (MSG_GOSSIP, None, None),
            Message::Broadcast => (MSG_BROADCAST, None, None),
            Message::TurnUndead => (MSG_TURN_UNDEAD, None, None),
        };
        buf.put_u8(tag);
        if let Some(id) = id {
            put_id(id, &mut buf)?;
        }
        if let Some(n) = probe {
            buf.put_u8(n);
        }
        Ok(())
    }

    fn decode_header(&mut self, mut buf: impl Buf) -> Result<Header<NodeId>, CodecError> {
        let src = get_id(&mut buf)?;
        need(&buf, 2)?;
        let src_incarnation = buf.get_u16();
        let dst = get_id(&mut buf)?;
        need(&buf, 1)?;
        let tag = buf.get_u8();
        let probe = |buf: &mut dyn Buf| -> Result<u8, CodecError> {
            if buf.remaining() < 1 {
                return Err(CodecError::Truncated);
            }
            Ok(buf.get_u8())
        };
        let message = match tag {
            MSG_PING => Message::Ping(probe(&mut buf)?),
            MSG_ACK => Message::Ack(probe(&mut buf)?),
            MSG_PING_REQ => {
                let target = get_id(&mut buf)?;
                Message::PingReq {
                    target,
                    probe_number: probe(&mut buf)?,
                }
            }
            MSG_INDIRECT_PING => {
                let origin = get_id(&mut buf)?;
                Message::IndirectPing {
                    origin,
                    probe_number: probe(&mut buf)?,
                }
            }
            MSG_INDIRECT_ACK => {
                let target = get_id(&mut buf)?;
                Message::IndirectAck {
                    target,
                    probe_number: probe(&mut buf)?,
                }
            }
            MSG_FORWARDED_ACK => {
                let origin = get_id(&mut buf)?;
                Message::ForwardedAck {
                    origin,
                    probe_number: probe(&mut buf)?,
                }
            }
            MSG_ANNOUNCE => Message::Announce,
            MSG_FEED => Message::Feed,
            MSG_GOSSIP => Message::Gossip,
            MSG_BROADCAST => Message::Broadcast,
            MSG_TURN_UNDEAD => Message::TurnUndead,
            t => return Err(CodecError::BadTag(t)),
        };
        Ok(Header {
            src,
            src_incarnation,
            dst,
            message,
        })
    }

    fn encode_member(&mut self, member: &Member<NodeId>, mut buf: impl BufMut) -> Result<(), CodecError> {
        if buf.remaining_mut() < id_len(member.id()) + 3 {
            return Err(CodecError::NoRoom);
        }
        put_id(member.id(), &mut buf)?;
        buf.put_u16(member.incarnation());
        buf.put_u8(match member.state() {
            State::Alive => 0,
            State::Suspect => 1,
            State::Down => 2,
        });
        Ok(())
    }

    fn decode_member(&mut self, mut buf: impl Buf) -> Result<Member<NodeId>, CodecError> {
        let id = get_id(&mut buf)?;
        need(&buf, 3)?;
        let incarnation = buf.get_u16();
        let state = match buf.get_u8() {
            0 => State::Alive,
            1 => State::Suspect,
            2 => State::Down,
            t => return Err(CodecError::BadTag(t)),
        };
        Ok(Member::new(id, incarnation, state))
    }
}

#[cfg(test)]
mod tests {
    use foca::Codec;

    use super::*;

    fn id(name: &str, addr: &str, generation: u64) -> NodeId {
        NodeId::new(name, addr.parse().unwrap(), generation)
    }

    #[test]
    fn headers_round_trip() {
        let a = id("node1", "192.0.2.11:7946", 1_700_000_000_000);
        let b = id("node-b.example", "[2001:db8::12]:7946", 7);
        let messages = [
            Message::Ping(3),
            Message::Ack(255),
            Message::PingReq {
                target: b.clone(),
                probe_number: 9,
            },
            Message::IndirectPing {
                origin: a.clone(),
                probe_number: 1,
            },
            Message::IndirectAck {
                target: a.clone(),
                probe_number: 2,
            },
            Message::ForwardedAck {
                origin: b.clone(),
                probe_number: 4,
            },
            Message::Announce,
            Message::Feed,
            Message::Gossip,
            Message::Broadcast,
            Message::TurnUndead,
        ];
        for message in messages {
            let h = Header {
                src: a.clone(),
                src_incarnation: 42,
                dst: b.clone(),
                message,
            };
            let mut buf = Vec::new();
            SpeakerCodec.encode_header(&h, &mut buf).unwrap();
            let mut slice = &buf[..];
            assert_eq!(SpeakerCodec.decode_header(&mut slice).unwrap(), h);
            assert!(slice.is_empty());
            // every truncation is an error, never a panic
            for cut in 0..buf.len() {
                assert!(SpeakerCodec.decode_header(&buf[..cut]).is_err(), "cut at {cut}");
            }
        }
    }

    #[test]
    fn members_round_trip_and_garbage_is_rejected() {
        for state in [State::Alive, State::Suspect, State::Down] {
            let m = Member::new(id("n", "192.0.2.1:1", 3), 9, state);
            let mut buf = Vec::new();
            SpeakerCodec.encode_member(&m, &mut buf).unwrap();
            assert_eq!(SpeakerCodec.decode_member(&buf[..]).unwrap(), m);
        }
        assert_eq!(SpeakerCodec.decode_member(&[0u8][..]), Err(CodecError::BadName));
        assert_eq!(
            SpeakerCodec.decode_member(&[1, b'n', 5][..]),
            Err(CodecError::BadFamily(5))
        );
        assert_eq!(
            SpeakerCodec.decode_member(&[2, 0xff, 0xfe, 4][..]),
            Err(CodecError::BadName)
        );
        // no room: the buffer is left untouched
        let mut small = [0u8; 4];
        let m = Member::alive(id("node1", "192.0.2.11:7946", 1));
        assert_eq!(
            SpeakerCodec.encode_member(&m, &mut small[..]),
            Err(CodecError::NoRoom)
        );
    }

    #[test]
    fn identity_conflicts_go_to_the_newer_generation() {
        use foca::Identity;
        let old = id("node1", "192.0.2.11:7946", 5);
        let new = old.renew().unwrap();
        assert_eq!(new.generation, 6);
        assert_eq!(old.addr(), new.addr());
        assert_eq!(new.key(), NameKey::of("node1"));
        assert_ne!(old.addr(), id("node2", "192.0.2.11:7946", 5).addr());
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
    }
}
