//! This node's BGP sessions as conditions of its `ConfigurationState` (pure): one condition per peer, type
//! `BGPPeer/<peer>`, what `ferrolb status` and `kubectl get configurationstate -o yaml` show.
//!
//! `status` is `True` while the session is Established. `reason` is coarse on purpose, so that a session
//! retrying a dead router does not rewrite the object at every attempt: `Established`; `Active` (trying:
//! connecting, or OPENs being exchanged); `WaitingForBFD` (its BFD session is not Up); `Invalid` (the peer
//! got no session: the message says why). `message` is the last error (with its usual cause for a failed
//! connection). `lastTransitionTime` changes only when `status` does, as Kubernetes conditions do.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The condition type prefix (`ferrolb status` reads it).
pub const CONDITION_PREFIX: &str = "BGPPeer/";

/// One peer's session as BGP mode reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// The peer's name in the configuration (`BGPPeer` name, or `peer<N>` of a ConfigMap).
    pub peer: String,
    /// The session is Established.
    pub established: bool,
    /// `Established`, `Active`, `WaitingForBFD` or `Invalid`.
    pub reason: &'static str,
    /// Why it is not up (empty when it is, or nothing went wrong yet).
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    report: SessionReport,
    since: String,
}

/// The conditions of this node's sessions, with their transition times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionConditions {
    peers: BTreeMap<String, Kept>,
}

impl SessionConditions {
    /// Takes the sessions as they are now (`now`: an RFC 3339 time); returns whether a condition changed.
    pub fn update(&mut self, reports: Vec<SessionReport>, now: &str) -> bool {
        let mut next = BTreeMap::new();
        for report in reports {
            let since = match self.peers.get(&report.peer) {
                Some(k) if k.report.established == report.established => k.since.clone(),
                _ => now.to_owned(),
            };
            next.insert(report.peer.clone(), Kept { report, since });
        }
        let changed = next != self.peers;
        self.peers = next;
        changed
    }

    /// The `status.conditions` list, sorted by peer.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.peers
                .values()
                .map(|k| {
                    json!({
                        "type": format!("{CONDITION_PREFIX}{}", k.report.peer),
                        "status": if k.report.established { "True" } else { "False" },
                        "reason": k.report.reason,
                        "message": k.report.message,
                        "lastTransitionTime": k.since,
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(peer: &str, established: bool, reason: &'static str, message: &str) -> SessionReport {
        SessionReport {
            peer: peer.into(),
            established,
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn transitions_move_the_time_and_nothing_else_does() {
        let mut c = SessionConditions::default();
        let t = [
            "2026-12-05T01:00:00Z",
            "2026-12-05T01:00:02Z",
            "2026-12-05T01:00:04Z",
        ];
        // (step, reports, changed, expected (type, status, reason, time))
        type Row = (&'static str, &'static str, &'static str, &'static str);
        let table: [(Vec<SessionReport>, bool, Vec<Row>); 3] = [
            (
                vec![
                    r("router", false, "Active", "connecting: refused"),
                    r("backup", true, "Established", ""),
                ],
                true,
                vec![
                    ("BGPPeer/backup", "True", "Established", t[0]),
                    ("BGPPeer/router", "False", "Active", t[0]),
                ],
            ),
            // the same again: no change, no write
            (
                vec![
                    r("router", false, "Active", "connecting: refused"),
                    r("backup", true, "Established", ""),
                ],
                false,
                vec![
                    ("BGPPeer/backup", "True", "Established", t[0]),
                    ("BGPPeer/router", "False", "Active", t[0]),
                ],
            ),
            // router comes up (time moves), backup waits for BFD (time moves), a reason change alone keeps it
            (
                vec![
                    r("router", true, "Established", ""),
                    r("backup", false, "WaitingForBFD", "BFD down"),
                ],
                true,
                vec![
                    ("BGPPeer/backup", "False", "WaitingForBFD", t[2]),
                    ("BGPPeer/router", "True", "Established", t[2]),
                ],
            ),
        ];
        for (i, (reports, changed, want)) in table.into_iter().enumerate() {
            let now = t[if i == 1 { 1 } else { i }];
            assert_eq!(c.update(reports, now), changed, "step {i}");
            let got: Vec<(String, String, String, String)> = c
                .to_json()
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let s = |k: &str| v[k].as_str().unwrap().to_owned();
                    (s("type"), s("status"), s("reason"), s("lastTransitionTime"))
                })
                .collect();
            let want: Vec<(String, String, String, String)> = want
                .into_iter()
                .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()))
                .collect();
            assert_eq!(got, want, "step {i}");
        }
        // a reason change without a status change keeps the time but is a change
        assert!(c.update(
            vec![
                r("router", true, "Established", ""),
                r("backup", false, "Active", "x")
            ],
            "2026-12-05T01:00:09Z"
        ));
        assert_eq!(c.to_json()[0]["lastTransitionTime"], t[2]);
        assert_eq!(c.to_json()[0]["message"], "x");
        // a peer removed: its condition goes
        assert!(c.update(vec![r("router", true, "Established", "")], "2026-12-05T01:00:10Z"));
        assert_eq!(c.to_json().as_array().unwrap().len(), 1);
    }
}
