//! The pure part of leader election: what to do with the Lease as we see it now.

use std::time::{Duration, Instant};

/// The election timings, client-go's defaults unless configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How long a Lease stays valid after its holder last renewed it (written into the Lease, whole seconds).
    pub lease_duration: Duration,
    /// How long a leader keeps acting without a successful renewal. Must be shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Election timings that break client-go's constraints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimingsError {
    /// `retry_period` is zero.
    #[error("the retry period must be positive")]
    ZeroRetryPeriod,
    /// `renew_deadline <= retry_period`.
    #[error(
        "the renew deadline ({renew_deadline:?}) must be longer than the retry period ({retry_period:?})"
    )]
    RenewDeadlineTooShort {
        /// The renew deadline.
        renew_deadline: Duration,
        /// The retry period.
        retry_period: Duration,
    },
    /// `lease_duration <= renew_deadline`.
    #[error(
        "the lease duration ({lease_duration:?}) must be longer than the renew deadline ({renew_deadline:?})"
    )]
    LeaseDurationTooShort {
        /// The lease duration.
        lease_duration: Duration,
        /// The renew deadline.
        renew_deadline: Duration,
    },
    /// The Lease stores whole seconds (`spec.leaseDurationSeconds`, an int32).
    #[error("the lease duration ({0:?}) must be a whole number of seconds between 1 and 2147483647")]
    LeaseDurationNotWholeSeconds(Duration),
}

impl Timings {
    /// Checks client-go's constraints: `lease_duration > renew_deadline > retry_period > 0`, and that the
    /// lease duration is whole seconds (what the Lease can hold, so that other replicas expire it exactly
    /// when we think they do).
    pub fn validate(&self) -> Result<(), TimingsError> {
        if self.retry_period.is_zero() {
            return Err(TimingsError::ZeroRetryPeriod);
        }
        if self.renew_deadline <= self.retry_period {
            return Err(TimingsError::RenewDeadlineTooShort {
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
            });
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(TimingsError::LeaseDurationTooShort {
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
            });
        }
        let secs = self.lease_duration.as_secs();
        if self.lease_duration.subsec_nanos() != 0 || secs == 0 || secs > i32::MAX as u64 {
            return Err(TimingsError::LeaseDurationNotWholeSeconds(self.lease_duration));
        }
        Ok(())
    }

    /// The lease duration as written into the Lease.
    pub fn lease_duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// The fields of a Lease that election looks at.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    /// `spec.holderIdentity`; `None` or empty means free.
    pub holder: Option<String>,
    /// `spec.leaseDurationSeconds`.
    pub lease_duration_seconds: i32,
    /// `spec.leaseTransitions`.
    pub transitions: i32,
    /// `spec.renewTime`, as written (compared for change only, never against our clock).
    pub renew_time: Option<String>,
    /// `metadata.resourceVersion`.
    pub resource_version: Option<String>,
}

impl LeaseRecord {
    fn holder(&self) -> Option<&str> {
        self.holder.as_deref().filter(|h| !h.is_empty())
    }

    fn duration(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.lease_duration_seconds).unwrap_or(0))
    }
}

/// Remembers, by our own clock, when the Lease's record last changed — and when it disappeared.
#[derive(Clone, Debug, Default)]
pub struct Observer {
    /// The last record seen and when it changed.
    last: Option<(LeaseRecord, Instant)>,
    /// Since when the Lease has been absent (reads of a deleted Lease), if it is now.
    absent_since: Option<Instant>,
}

impl Observer {
    /// Records the Lease as read at `now` (`None`: it does not exist). The observation time moves only when
    /// the record changed. A deleted Lease is remembered with its last holder: that holder may still be
    /// acting, so it keeps its claim for a full lease duration after we saw the Lease go.
    pub fn observe(&mut self, record: Option<LeaseRecord>, now: Instant) {
        match record {
            None => {
                self.absent_since.get_or_insert(now);
            }
            Some(r) => {
                self.absent_since = None;
                match &self.last {
                    Some((prev, _)) if *prev == r => {}
                    _ => self.last = Some((r, now)),
                }
            }
        }
    }

    /// The record last observed and when it changed (also while the Lease is absent).
    pub fn last(&self) -> Option<(&LeaseRecord, Instant)> {
        self.last.as_ref().map(|(r, t)| (r, *t))
    }

    /// Whether the last read found no Lease.
    pub fn absent(&self) -> bool {
        self.absent_since.is_some()
    }
}

/// What to do with the Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease: create it with us as holder.
    Create,
    /// We hold it: renew it, keeping `acquireTime` and the transition count.
    Renew,
    /// It is free or expired: take it over (transitions + 1, new `acquireTime`).
    Acquire {
        /// The previous holder, if any (for logs).
        previous: Option<String>,
    },
    /// Another replica holds it (or held it until it was deleted) and, by our clock, its claim has not
    /// expired.
    Wait {
        /// The holder.
        holder: String,
        /// When its claim expires unless renewed meanwhile.
        expires: Instant,
    },
}

/// Decides, client-go style, from what `observer` saw and our `identity`, at `now`.
///
/// Expiry is judged only by our clock: a record held by another replica expires `leaseDurationSeconds`
/// after we saw it change. client-go creates a deleted Lease at once; we do that only when the last holder we
/// saw was us or nobody. When another replica held it, its claim lasts a full lease duration from the moment
/// we saw the Lease gone, since it may still be acting — so deleting the Lease never makes two leaders.
pub fn decide(identity: &str, observer: &Observer, now: Instant) -> Decision {
    let last = observer.last();
    if let Some(gone) = observer.absent_since {
        return match last.and_then(|(r, _)| r.holder().map(|h| (h, r.duration()))) {
            Some((h, duration)) if h != identity && now < gone + duration => Decision::Wait {
                holder: h.to_string(),
                expires: gone + duration,
            },
            _ => Decision::Create,
        };
    }
    let Some((record, observed_at)) = last else {
        return Decision::Create;
    };
    match record.holder() {
        None => Decision::Acquire { previous: None },
        Some(h) if h == identity => Decision::Renew,
        Some(h) => {
            let expires = observed_at + record.duration();
            if expires > now {
                Decision::Wait {
                    holder: h.to_string(),
                    expires,
                }
            } else {
                Decision::Acquire {
                    previous: Some(h.to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(holder: Option<&str>, secs: i32, renew: &str) -> LeaseRecord {
        LeaseRecord {
            holder: holder.map(str::to_string),
            lease_duration_seconds: secs,
            transitions: 0,
            renew_time: Some(renew.into()),
            resource_version: Some(renew.into()),
        }
    }

    #[test]
    fn decisions_table() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // (case, record seen at t0, now, expected)
        let cases: Vec<(&str, Option<LeaseRecord>, Instant, Decision)> = vec![
            ("no lease", None, t0, Decision::Create),
            (
                "free lease",
                Some(rec(None, 15, "a")),
                t0,
                Decision::Acquire { previous: None },
            ),
            (
                "empty holder is free",
                Some(rec(Some(""), 15, "a")),
                t0,
                Decision::Acquire { previous: None },
            ),
            (
                "ours",
                Some(rec(Some("me"), 15, "a")),
                t0 + s(100),
                Decision::Renew,
            ),
            (
                "other, fresh",
                Some(rec(Some("other"), 15, "a")),
                t0 + s(14),
                Decision::Wait {
                    holder: "other".into(),
                    expires: t0 + s(15),
                },
            ),
            (
                "other, expired by our clock",
                Some(rec(Some("other"), 15, "a")),
                t0 + s(15),
                Decision::Acquire {
                    previous: Some("other".into()),
                },
            ),
            (
                "other, uses the lease's own duration",
                Some(rec(Some("other"), 60, "a")),
                t0 + s(30),
                Decision::Wait {
                    holder: "other".into(),
                    expires: t0 + s(60),
                },
            ),
            (
                "negative duration counts as zero",
                Some(rec(Some("other"), -5, "a")),
                t0,
                Decision::Acquire {
                    previous: Some("other".into()),
                },
            ),
        ];
        for (case, record, now, want) in cases {
            let mut o = Observer::default();
            o.observe(record, t0);
            assert_eq!(decide("me", &o, now), want, "{case}");
        }
    }

    #[test]
    fn observation_time_moves_only_when_the_record_changes() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut o = Observer::default();
        o.observe(Some(rec(Some("other"), 15, "r1")), t0);
        // Same record read again later: the holder did not renew, expiry stays at t0 + 15 s.
        o.observe(Some(rec(Some("other"), 15, "r1")), t0 + s(10));
        assert_eq!(
            decide("me", &o, t0 + s(16)),
            Decision::Acquire {
                previous: Some("other".into())
            }
        );
        // The holder renewed (new renewTime): expiry moves to 15 s after we saw the change.
        o.observe(Some(rec(Some("other"), 15, "r2")), t0 + s(16));
        assert_eq!(
            decide("me", &o, t0 + s(20)),
            Decision::Wait {
                holder: "other".into(),
                expires: t0 + s(31)
            }
        );
    }

    #[test]
    fn a_deleted_lease_keeps_its_last_holder_for_a_lease_duration() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut o = Observer::default();
        o.observe(Some(rec(Some("other"), 15, "r1")), t0);
        // Deleted: seen gone at t0 + 5. The other replica may still act until at most t0 + 5 + 15.
        o.observe(None, t0 + s(5));
        assert!(o.absent());
        assert_eq!(
            decide("me", &o, t0 + s(6)),
            Decision::Wait {
                holder: "other".into(),
                expires: t0 + s(20)
            }
        );
        // Still gone later: the absence time does not move.
        o.observe(None, t0 + s(12));
        assert_eq!(decide("me", &o, t0 + s(20)), Decision::Create);
        // Recreated by someone else: that record counts from when we saw it.
        o.observe(Some(rec(Some("third"), 15, "x1")), t0 + s(21));
        assert!(!o.absent());
        assert_eq!(
            decide("me", &o, t0 + s(22)),
            Decision::Wait {
                holder: "third".into(),
                expires: t0 + s(36)
            }
        );
    }

    #[test]
    fn a_deleted_lease_we_held_or_nobody_held_is_recreated_at_once() {
        let t0 = Instant::now();
        for holder in [Some("me"), None, Some("")] {
            let mut o = Observer::default();
            o.observe(Some(rec(holder, 15, "r1")), t0);
            o.observe(None, t0);
            assert_eq!(decide("me", &o, t0), Decision::Create, "{holder:?}");
        }
        let mut never = Observer::default();
        never.observe(None, t0);
        assert_eq!(decide("me", &never, t0), Decision::Create);
    }

    #[test]
    fn timings_are_checked() {
        assert_eq!(Timings::default().validate(), Ok(()));
        assert_eq!(Timings::default().lease_duration_seconds(), 15);
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let bad = [
            Timings {
                lease_duration: s(10),
                renew_deadline: s(10),
                retry_period: s(2),
            },
            Timings {
                lease_duration: s(15),
                renew_deadline: s(2),
                retry_period: s(2),
            },
            Timings {
                lease_duration: s(15),
                renew_deadline: s(10),
                retry_period: s(0),
            },
            Timings {
                lease_duration: ms(1500),
                renew_deadline: s(1),
                retry_period: ms(200),
            },
        ];
        for t in bad {
            assert!(t.validate().is_err(), "{t:?}");
        }
        let short = Timings {
            lease_duration: s(2),
            renew_deadline: ms(1500),
            retry_period: ms(200),
        };
        assert_eq!(short.validate(), Ok(()));
    }
}
