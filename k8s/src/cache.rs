//! A per-kind store following the watcher protocol, written once for every kind a program keeps.
//!
//! `Apply` and `Delete` change one entry; `Init`, `InitApply`…, `InitDone` replace the whole content
//! atomically at `InitDone` (entries deleted while the watch was down disappear then, entries unchanged by
//! the relist report no change). Until its first `InitDone` a cache is not [`Cache::synced`]. Each call
//! returns the [`Change`]s it made, so the program recomputes only what depends on them; an event that
//! changes nothing (a Node's heartbeat projected to the same value) returns none.
//!
//! Pure and synchronous: owned by one task, tested without a runtime.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use crate::watch::{Projected, WatchEvent};

/// One entry that changed: its key and the value it had before (`None`: it is new). The new value, if
/// any, is in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<K, V> {
    /// The entry's key.
    pub key: K,
    /// Its previous value.
    pub old: Option<V>,
}

/// The store. See the module docs.
#[derive(Debug, Clone)]
pub struct Cache<K, V> {
    items: BTreeMap<K, V>,
    relist: Option<BTreeMap<K, V>>,
    synced: bool,
    /// A list completed since [`Cache::expect_relist`].
    relisted: bool,
}

impl<K, V> Default for Cache<K, V> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            relist: None,
            synced: false,
            relisted: false,
        }
    }
}

impl<K: Ord + Clone, V: PartialEq> Cache<K, V> {
    /// Applies one watch event; returns what changed.
    pub fn handle(&mut self, ev: WatchEvent<Projected<K, V>>) -> Vec<Change<K, V>> {
        match ev {
            WatchEvent::Apply((key, Some(value))) => self.put(key, value).into_iter().collect(),
            WatchEvent::Apply((key, None)) | WatchEvent::Delete((key, _)) => {
                self.remove(&key).into_iter().collect()
            }
            WatchEvent::Init => {
                self.relist = Some(BTreeMap::new());
                Vec::new()
            }
            WatchEvent::InitApply((key, value)) => {
                if let (Some(buf), Some(value)) = (self.relist.as_mut(), value) {
                    buf.insert(key, value);
                }
                Vec::new()
            }
            WatchEvent::InitDone => {
                self.synced = true;
                self.relisted = true;
                let listed = self.relist.take().unwrap_or_default();
                self.replace(listed)
            }
        }
    }

    fn put(&mut self, key: K, value: V) -> Option<Change<K, V>> {
        match self.items.entry(key) {
            Entry::Occupied(e) if *e.get() == value => None,
            Entry::Occupied(mut e) => {
                let old = std::mem::replace(e.get_mut(), value);
                Some(Change {
                    key: e.key().clone(),
                    old: Some(old),
                })
            }
            Entry::Vacant(e) => {
                let key = e.key().clone();
                e.insert(value);
                Some(Change { key, old: None })
            }
        }
    }

    fn remove(&mut self, key: &K) -> Option<Change<K, V>> {
        self.items.remove(key).map(|old| Change {
            key: key.clone(),
            old: Some(old),
        })
    }

    /// Replaces the content with `listed`; the changes are found by walking both sorted maps once.
    fn replace(&mut self, listed: BTreeMap<K, V>) -> Vec<Change<K, V>> {
        let old = std::mem::replace(&mut self.items, listed);
        let mut changes = Vec::new();
        let mut old = old.into_iter().peekable();
        let mut new = self.items.iter().peekable();
        loop {
            match (old.peek(), new.peek()) {
                (None, None) => break,
                (Some(_), None) => changes.extend(old.next().map(gone)),
                (None, Some(_)) => changes.extend(new.next().map(added)),
                (Some((ok, _)), Some((nk, _))) => match ok.cmp(nk) {
                    std::cmp::Ordering::Less => changes.extend(old.next().map(gone)),
                    std::cmp::Ordering::Greater => changes.extend(new.next().map(added)),
                    std::cmp::Ordering::Equal => {
                        if let (Some((k, ov)), Some((_, nv))) = (old.next(), new.next())
                            && ov != *nv
                        {
                            changes.push(Change {
                                key: k,
                                old: Some(ov),
                            });
                        }
                    }
                },
            }
        }
        changes
    }

    /// Whether the first list is complete.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Marks the content as old: [`Cache::relisted`] is false until the next list completes (a restarted
    /// watch, e.g. for a new leadership term, whose fresh list must be waited for).
    pub fn expect_relist(&mut self) {
        self.relisted = false;
    }

    /// Whether a list completed since [`Cache::expect_relist`] (or ever, if it was never called).
    pub fn relisted(&self) -> bool {
        self.relisted
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.items.get(key)
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.items.iter()
    }

    /// Every value, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.items.values()
    }

    /// The entries as a map.
    pub fn as_map(&self) -> &BTreeMap<K, V> {
        &self.items
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn gone<K, V>((key, old): (K, V)) -> Change<K, V> {
    Change { key, old: Some(old) }
}

fn added<K: Clone, V>((key, _): (&K, &V)) -> Change<K, V> {
    Change {
        key: key.clone(),
        old: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Ev = WatchEvent<Projected<&'static str, u32>>;
    /// An event, the changes it must report, the content after it, and whether the cache is synced then.
    type Step = (
        Ev,
        Vec<(&'static str, Option<u32>)>,
        Vec<(&'static str, u32)>,
        bool,
    );

    fn keys(changes: &[Change<&'static str, u32>]) -> Vec<(&'static str, Option<u32>)> {
        changes.iter().map(|c| (c.key, c.old)).collect()
    }

    #[test]
    fn the_watcher_protocol_as_a_table() {
        let mut c: Cache<&'static str, u32> = Cache::default();
        // (event, changes it must report, content after it, synced after it)
        let steps: Vec<Step> = vec![
            (
                WatchEvent::Apply(("a", Some(1))),
                vec![("a", None)],
                vec![("a", 1)],
                false,
            ),
            (WatchEvent::Apply(("a", Some(1))), vec![], vec![("a", 1)], false),
            (
                WatchEvent::Apply(("a", Some(2))),
                vec![("a", Some(1))],
                vec![("a", 2)],
                false,
            ),
            (WatchEvent::Apply(("b", None)), vec![], vec![("a", 2)], false),
            (WatchEvent::Init, vec![], vec![("a", 2)], false),
            (
                WatchEvent::InitApply(("b", Some(5))),
                vec![],
                vec![("a", 2)],
                false,
            ),
            (WatchEvent::InitApply(("c", None)), vec![], vec![("a", 2)], false),
            (
                WatchEvent::InitDone,
                vec![("a", Some(2)), ("b", None)],
                vec![("b", 5)],
                true,
            ),
            (WatchEvent::Init, vec![], vec![("b", 5)], true),
            (
                WatchEvent::InitApply(("b", Some(5))),
                vec![],
                vec![("b", 5)],
                true,
            ),
            (WatchEvent::InitDone, vec![], vec![("b", 5)], true),
            (WatchEvent::Apply(("b", None)), vec![("b", Some(5))], vec![], true),
            (
                WatchEvent::Apply(("d", Some(7))),
                vec![("d", None)],
                vec![("d", 7)],
                true,
            ),
            (
                WatchEvent::Delete(("d", Some(7))),
                vec![("d", Some(7))],
                vec![],
                true,
            ),
            (WatchEvent::Delete(("d", None)), vec![], vec![], true),
        ];
        for (i, (ev, want, content, synced)) in steps.into_iter().enumerate() {
            let got = c.handle(ev);
            assert_eq!(keys(&got), want, "step {i}: changes");
            let now: Vec<(&str, u32)> = c.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(now, content, "step {i}: content");
            assert_eq!(c.synced(), synced, "step {i}: synced");
        }
    }

    #[test]
    fn a_relist_reports_exactly_the_difference() {
        let mut c: Cache<u32, u32> = Cache::default();
        c.handle(WatchEvent::Init);
        for k in 0..100 {
            c.handle(WatchEvent::InitApply((k, Some(k))));
        }
        assert_eq!(c.handle(WatchEvent::InitDone).len(), 100);
        c.handle(WatchEvent::Init);
        // evens kept (10 of them changed), odds gone, 100..110 new
        for k in (0..100).step_by(2) {
            let v = if k < 20 { k + 1000 } else { k };
            c.handle(WatchEvent::InitApply((k, Some(v))));
        }
        for k in 100..110 {
            c.handle(WatchEvent::InitApply((k, Some(k))));
        }
        let changes = c.handle(WatchEvent::InitDone);
        let changed = changes
            .iter()
            .filter(|ch| ch.old.is_some() && c.get(&ch.key).is_some())
            .count();
        let removed = changes.iter().filter(|ch| c.get(&ch.key).is_none()).count();
        let added = changes.iter().filter(|ch| ch.old.is_none()).count();
        assert_eq!((changed, removed, added), (10, 50, 10));
        assert_eq!(c.len(), 60);
    }
}
