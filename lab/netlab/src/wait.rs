//! Bounded waiting: poll a condition until it holds or a deadline passes.
//!
//! No fixed sleeps: every wait in the lab polls a condition with a short, growing interval (1 ms up
//! to 50 ms) and gives up at its deadline with [`LabError::Timeout`] naming what it waited for and
//! what it saw last.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

/// A polling interval that starts short and grows (1 ms, 2 ms, 4 ms, … capped at 50 ms).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// 1 ms growing to 50 ms.
    pub fn new() -> Self {
        Backoff {
            next: Duration::from_millis(1),
            max: Duration::from_millis(50),
        }
    }

    /// A backoff capped at `max`.
    pub fn with_max(max: Duration) -> Self {
        Backoff {
            next: Duration::from_millis(1).min(max),
            max,
        }
    }

    /// Sleeps for the current interval and grows it.
    pub fn sleep(&mut self) {
        std::thread::sleep(self.next);
        self.next = (self.next * 2).min(self.max);
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

/// Polls `check` until it returns `Ok(Some(value))`, an error, or `timeout` passes.
///
/// `Ok(None)` means "not yet". The error on timeout names `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let start = Instant::now();
    let mut backoff = Backoff::new();
    loop {
        if let Some(value) = check()? {
            return Ok(value);
        }
        if start.elapsed() >= timeout {
            return Err(LabError::Timeout {
                what: what.to_string(),
                timeout,
                detail: String::new(),
            });
        }
        backoff.sleep();
    }
}

/// Polls `observe` until `accept` holds for what it returns; on timeout the error shows the last
/// observation. Errors from `observe` count as "not yet" (and are shown if nothing better was seen).
pub fn wait_until<T: Debug>(
    what: &str,
    timeout: Duration,
    mut observe: impl FnMut() -> Result<T>,
    mut accept: impl FnMut(&T) -> bool,
) -> Result<T> {
    let start = Instant::now();
    let mut backoff = Backoff::new();
    loop {
        let last = match observe() {
            Ok(v) if accept(&v) => return Ok(v),
            Ok(v) => truncate(format!("{v:?}"), 600),
            Err(e) => truncate(e.to_string(), 600),
        };
        if start.elapsed() >= timeout {
            return Err(LabError::Timeout {
                what: what.to_string(),
                timeout,
                detail: last,
            });
        }
        backoff.sleep();
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_for_returns_the_value_once_ready() {
        let mut n = 0;
        let v = wait_for("n to reach 3", Duration::from_secs(2), || {
            n += 1;
            Ok((n >= 3).then_some(n))
        })
        .unwrap();
        assert_eq!(v, 3);
    }

    #[test]
    fn wait_until_times_out_with_the_last_observation() {
        let err = wait_until("never", Duration::from_millis(30), || Ok(7), |v| *v == 8).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("never") && msg.contains('7'), "{msg}");
    }

    #[test]
    fn wait_for_propagates_errors() {
        let err = wait_for::<()>("x", Duration::from_secs(1), || {
            Err(LabError::Invalid("boom".into()))
        });
        assert!(err.unwrap_err().to_string().contains("boom"));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé".into(), 3), "é…");
    }
}
