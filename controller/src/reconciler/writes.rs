//! Bookkeeping of status writes: which Services wait for one, which have one in flight, which got a 409 for
//! the version the index still holds (they wait for the watch to bring a newer one), and retries with backoff.
//! Pure: time is passed in.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::allocator::ServiceKey;

/// First retry delay after a failed write; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// Longest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The write queue and its companions.
#[derive(Debug, Default)]
pub struct Writes {
    queue: VecDeque<ServiceKey>,
    queued: HashSet<ServiceKey>,
    /// Key → resourceVersion the write in flight was conditioned on.
    in_flight: HashMap<ServiceKey, String>,
    /// Key → resourceVersion that got 409 Conflict: no write until the index holds a newer one.
    stale: HashMap<ServiceKey, String>,
    retries: BTreeMap<(Instant, u64), ServiceKey>,
    retry_of: HashMap<ServiceKey, (Instant, u64)>,
    failures: HashMap<ServiceKey, u32>,
    seq: u64,
}

impl Writes {
    /// Queues a write for `key` (once; a key with a write in flight is re-examined when it completes).
    pub fn request(&mut self, key: &ServiceKey) {
        if !self.in_flight.contains_key(key) && self.queued.insert(key.clone()) {
            self.queue.push_back(key.clone());
        }
    }

    /// The next queued key.
    pub fn pop(&mut self) -> Option<ServiceKey> {
        let key = self.queue.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    /// A write conditioned on `rv` was sent for `key`.
    pub fn started(&mut self, key: &ServiceKey, rv: &str) {
        self.in_flight.insert(key.clone(), rv.to_owned());
        if let Some(at) = self.retry_of.remove(key) {
            self.retries.remove(&at);
        }
    }

    /// The write for `key` completed; returns the resourceVersion it was conditioned on.
    pub fn finished(&mut self, key: &ServiceKey) -> Option<String> {
        self.in_flight.remove(key)
    }

    /// Whether `key` has a write in flight.
    pub fn in_flight(&self, key: &ServiceKey) -> bool {
        self.in_flight.contains_key(key)
    }

    /// How many writes are in flight.
    pub fn in_flight_count(&self) -> usize {
        self.in_flight.len()
    }

    /// How many keys wait in the queue.
    pub fn queued_count(&self) -> usize {
        self.queue.len()
    }

    /// `key` got 409 Conflict at `rv`.
    pub fn mark_stale(&mut self, key: &ServiceKey, rv: String) {
        self.stale.insert(key.clone(), rv);
    }

    /// The index holds a newer version of `key`.
    pub fn clear_stale(&mut self, key: &ServiceKey) {
        self.stale.remove(key);
    }

    /// Whether a write for `key` at `rv` is known to conflict.
    pub fn is_stale(&self, key: &ServiceKey, rv: &str) -> bool {
        self.stale.get(key).is_some_and(|s| s == rv)
    }

    /// A write for `key` succeeded: its backoff starts over.
    pub fn succeeded(&mut self, key: &ServiceKey) {
        self.failures.remove(key);
    }

    /// A write for `key` failed at `now`: retry after an exponential backoff. Returns the delay.
    pub fn failed(&mut self, key: &ServiceKey, now: Instant) -> Duration {
        let n = self.failures.entry(key.clone()).or_insert(0);
        let delay = MIN_BACKOFF.saturating_mul(1 << (*n).min(16)).min(MAX_BACKOFF);
        *n = n.saturating_add(1);
        self.retry_at(key, now + delay);
        delay
    }

    /// Retries `key` at `at` (replacing an earlier plan).
    pub fn retry_at(&mut self, key: &ServiceKey, at: Instant) {
        if let Some(old) = self.retry_of.remove(key) {
            self.retries.remove(&old);
        }
        self.seq += 1;
        self.retries.insert((at, self.seq), key.clone());
        self.retry_of.insert(key.clone(), (at, self.seq));
    }

    /// Keys whose retry time has come.
    pub fn due(&mut self, now: Instant) -> Vec<ServiceKey> {
        let mut out = Vec::new();
        while let Some(entry) = self.retries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.retry_of.remove(&key);
            out.push(key);
        }
        out
    }

    /// When the next retry is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.retries.keys().next().map(|(t, _)| *t)
    }

    /// Forgets everything but the writes in flight (leadership lost or regained: the new term decides anew).
    pub fn reset(&mut self) {
        let in_flight = std::mem::take(&mut self.in_flight);
        *self = Self {
            in_flight,
            ..Self::default()
        };
    }

    /// Forgets a Service that is gone (a write in flight for it still completes normally).
    pub fn forget(&mut self, key: &ServiceKey) {
        self.stale.remove(key);
        self.failures.remove(key);
        if let Some(at) = self.retry_of.remove(key) {
            self.retries.remove(&at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: &str) -> ServiceKey {
        ServiceKey::new("ns", n)
    }

    #[test]
    fn queue_dedups_and_skips_in_flight() {
        let mut w = Writes::default();
        w.request(&k("a"));
        w.request(&k("a"));
        w.request(&k("b"));
        assert_eq!(w.queued_count(), 2);
        assert_eq!(w.pop(), Some(k("a")));
        w.started(&k("a"), "5");
        w.request(&k("a"));
        assert_eq!(w.pop(), Some(k("b")));
        assert_eq!(w.pop(), None);
        assert!(w.in_flight(&k("a")));
        assert_eq!(w.finished(&k("a")).as_deref(), Some("5"));
        assert_eq!(w.in_flight_count(), 0);
    }

    #[test]
    fn stale_versions_block_until_cleared() {
        let mut w = Writes::default();
        w.mark_stale(&k("a"), "5".into());
        assert!(w.is_stale(&k("a"), "5"));
        assert!(!w.is_stale(&k("a"), "6"));
        w.clear_stale(&k("a"));
        assert!(!w.is_stale(&k("a"), "5"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let mut w = Writes::default();
        let t0 = Instant::now();
        let delays: Vec<Duration> = (0..10).map(|_| w.failed(&k("a"), t0)).collect();
        assert_eq!(delays[0], MIN_BACKOFF);
        assert_eq!(delays[1], MIN_BACKOFF * 2);
        assert_eq!(*delays.last().expect("some"), MAX_BACKOFF);
        assert_eq!(
            w.next_due(),
            Some(t0 + MAX_BACKOFF),
            "one plan per key, the latest"
        );
        assert!(w.due(t0).is_empty());
        assert_eq!(w.due(t0 + MAX_BACKOFF), [k("a")]);
        assert_eq!(w.next_due(), None);
        w.succeeded(&k("a"));
        assert_eq!(w.failed(&k("a"), t0), MIN_BACKOFF);
    }

    #[test]
    fn reset_keeps_only_in_flight() {
        let mut w = Writes::default();
        let t0 = Instant::now();
        w.request(&k("q"));
        w.started(&k("f"), "1");
        w.failed(&k("r"), t0);
        w.mark_stale(&k("s"), "1".into());
        w.reset();
        assert_eq!(w.pop(), None);
        assert_eq!(w.next_due(), None);
        assert!(!w.is_stale(&k("s"), "1"));
        assert!(w.in_flight(&k("f")));
        w.retry_at(&k("x"), t0);
        w.forget(&k("x"));
        assert_eq!(w.next_due(), None);
    }
}
