//! Rendezvous (highest-random-weight) hashing: which node announces a layer2 IP.
//!
//! Every candidate node gets the score `SHA-256(node + "#" + ip)` (first 8 bytes, big-endian); the highest score
//! wins, ties going to the lexically smaller name. The score depends on nothing but the pair, so every speaker
//! computes the same winner without talking to the others, a node joining moves only the IPs it now wins, a node
//! leaving moves only the IPs it held, and IPs spread over nodes like a uniform random assignment. SHA-256 (as
//! MetalLB uses) keeps the score identical across versions and architectures, which a rolling upgrade needs.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// The rendezvous score of `node` for `ip`.
pub fn score(node: &str, ip: IpAddr) -> u64 {
    score_text(node, &IpText::of(ip))
}

/// An IP's text form, formatted once for all the candidates scored for it (an election scores every node
/// for every IP: formatting, not hashing, was most of its cost).
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl IpText {
    fn of(ip: IpAddr) -> IpText {
        use std::io::Write;
        let mut buf = [0u8; 48];
        let mut w = &mut buf[..];
        // the longest IPv6 text is 45 bytes (an IPv4-mapped form), so this cannot fail
        let _ = write!(w, "{ip}");
        let len = 48 - w.len();
        IpText { buf, len }
    }

    fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

fn score_text(node: &str, ip: &IpText) -> u64 {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update(b"#");
    h.update(ip.bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The winner among `candidates` for `ip`, or `None` when there is no candidate.
pub fn owner<'a>(ip: IpAddr, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let text = IpText::of(ip);
    candidates
        .into_iter()
        .map(|n| (score_text(n, &text), n))
        // highest score; on a tie the smaller name (Reverse on the name)
        .max_by(|(sa, na), (sb, nb)| sa.cmp(sb).then_with(|| nb.cmp(na)))
        .map(|(_, n)| n)
}

/// The winner and the runner-up (the owner once the winner is gone) among `candidates` for `ip`.
pub fn owner_and_successor<'a>(
    ip: IpAddr,
    candidates: impl IntoIterator<Item = &'a str>,
) -> (Option<&'a str>, Option<&'a str>) {
    // the same order as `owner`: higher score first, then the smaller name
    let key = |s: u64, n: &'a str| (s, std::cmp::Reverse(n));
    let mut first: Option<(u64, std::cmp::Reverse<&'a str>)> = None;
    let mut second: Option<(u64, std::cmp::Reverse<&'a str>)> = None;
    let text = IpText::of(ip);
    for n in candidates {
        let k = key(score_text(n, &text), n);
        if first.is_none_or(|f| k > f) {
            second = first.replace(k);
        } else if second.is_none_or(|s| k > s) {
            second = Some(k);
        }
    }
    (first.map(|(_, n)| n.0), second.map(|(_, n)| n.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_is_stable_across_builds() {
        // Pinned values: changing the hash would move every IP during a rolling upgrade.
        let ip: IpAddr = "192.0.2.100".parse().unwrap();
        assert_eq!(score("node1", ip), score("node1", ip));
        assert_ne!(score("node1", ip), score("node2", ip));
        let mut h = Sha256::new();
        h.update(b"node1#192.0.2.100");
        let d = h.finalize();
        assert_eq!(score("node1", ip), u64::from_be_bytes(d[..8].try_into().unwrap()));
        // the text form is the standard one, for both families and the longest forms
        for ip in [
            "2001:db8::7",
            "::ffff:255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "0.0.0.0",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::of(ip).bytes(), ip.to_string().as_bytes());
        }
    }

    #[test]
    fn the_successor_is_the_owner_without_the_winner() {
        let nodes = ["n1", "n2", "n3", "n4", "n5"];
        for i in 0..50u8 {
            let ip = IpAddr::from([192, 0, 2, i]);
            let (o, s) = owner_and_successor(ip, nodes);
            assert_eq!(o, owner(ip, nodes));
            let rest: Vec<&str> = nodes.into_iter().filter(|n| Some(*n) != o).collect();
            assert_eq!(s, owner(ip, rest));
        }
        assert_eq!(
            owner_and_successor("192.0.2.1".parse().unwrap(), ["n1"]),
            (Some("n1"), None)
        );
        assert_eq!(
            owner_and_successor("192.0.2.1".parse().unwrap(), []),
            (None, None)
        );
    }

    #[test]
    fn owner_is_order_independent() {
        let ip: IpAddr = "2001:db8::7".parse().unwrap();
        let a = owner(ip, ["n1", "n2", "n3", "n4"]);
        let b = owner(ip, ["n4", "n3", "n2", "n1"]);
        assert_eq!(a, b);
        assert!(a.is_some());
        assert_eq!(owner(ip, std::iter::empty()), None);
    }
}
