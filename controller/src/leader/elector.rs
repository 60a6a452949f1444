//! The I/O side of leader election: reads and writes the Lease, publishes leadership.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use tokio::sync::watch;

use super::decide::{Decision, LeaseRecord, Observer, Timings, decide};

/// Whether this replica leads, shared with everything that writes.
///
/// Two views of one fact: [`Leadership::is_leader`] is the fence, exact to the instant (checked right before
/// each write); [`Leadership::subscribe`] publishes the *term* — `Some(n)` while leading, a new `n` each time
/// leadership is (re)gained, `None` while standing by — for tasks that must reset or resynchronise.
#[derive(Clone, Debug)]
pub struct Leadership {
    valid_until: Arc<Mutex<Option<Instant>>>,
    rx: watch::Receiver<Option<u64>>,
    /// Keeps the channel open for [`Leadership::always`], which has no elector.
    _sender: Option<Arc<watch::Sender<Option<u64>>>>,
}

impl Leadership {
    /// True while the last successful renewal is younger than the renew deadline. Check it right before a write.
    pub fn is_leader(&self) -> bool {
        self.valid_until().is_some_and(|t| Instant::now() < t)
    }

    /// Until when this replica may act without another successful renewal (`None`: not leading).
    pub fn valid_until(&self) -> Option<Instant> {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The published term: `Some(n)` while leading, `None` while standing by. Loss is also reported by
    /// [`Leadership::is_leader`] at once, before it is published here.
    pub fn term(&self) -> Option<u64> {
        *self.rx.borrow()
    }

    /// A receiver that changes when leadership is gained (a new term) or lost.
    pub fn subscribe(&self) -> watch::Receiver<Option<u64>> {
        self.rx.clone()
    }

    /// A leadership that is always held (term 1): for a single replica run without election, and tests.
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(Some(1));
        Self {
            valid_until: Arc::new(Mutex::new(Some(far_future()))),
            rx,
            _sender: Some(Arc::new(tx)),
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Campaigns for and holds one Lease. Run it with [`LeaderElector::run`].
#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    timings: Timings,
    observer: Observer,
    valid_until: Arc<Mutex<Option<Instant>>>,
    tx: watch::Sender<Option<u64>>,
    term: u64,
}

impl LeaderElector {
    /// An elector for the Lease `name` in `api`'s namespace, campaigning as `identity`. The timings should
    /// have passed [`Timings::validate`].
    pub fn new(api: Api<Lease>, name: &str, identity: &str, timings: Timings) -> (Self, Leadership) {
        let (tx, rx) = watch::channel(None);
        let valid_until = Arc::new(Mutex::new(None));
        let leadership = Leadership {
            valid_until: valid_until.clone(),
            rx,
            _sender: None,
        };
        let elector = Self {
            api,
            name: name.to_string(),
            identity: identity.to_string(),
            timings,
            observer: Observer::default(),
            valid_until,
            tx,
            term: 0,
        };
        (elector, leadership)
    }

    /// Campaigns and renews until `shutdown` completes, then releases the Lease if held. Whoever completes
    /// `shutdown` must first have stopped every write made under this leadership (the release lets a standby
    /// take over at once).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let sent = Instant::now();
            // One attempt may take up to the renew deadline (client-go's bound for renewing); the fence does
            // not depend on it: `is_leader` turns false at `sent + renew_deadline` of the last success.
            let attempt = tokio::select! {
                r = tokio::time::timeout(self.timings.renew_deadline, self.try_acquire_or_renew()) => r,
                () = &mut shutdown => {
                    self.release().await;
                    return;
                }
            };
            match attempt {
                Ok(Ok(Some(decision))) => self.won(decision, sent + self.timings.renew_deadline),
                Ok(Ok(None)) => self.check_expiry(),
                Ok(Err(e)) => {
                    tracing::warn!(lease = %self.name, error = %e, "lease update failed");
                    self.check_expiry();
                }
                Err(_) => {
                    tracing::warn!(lease = %self.name, "lease update timed out");
                    self.check_expiry();
                }
            }
            let pause = if self.published().is_some() {
                self.timings.retry_period.saturating_sub(sent.elapsed())
            } else {
                jittered(self.timings.retry_period)
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = &mut shutdown => {
                    self.release().await;
                    return;
                }
            }
        }
    }

    fn published(&self) -> Option<u64> {
        *self.tx.borrow()
    }

    /// A write succeeded: we lead until `until`. A renewal continues the published term; taking the Lease
    /// (or renewing after leadership was given up) starts a new one.
    fn won(&mut self, decision: Decision, until: Instant) {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(until);
        let continuing = decision == Decision::Renew && self.published().is_some();
        if !continuing {
            self.term += 1;
            tracing::info!(lease = %self.name, identity = %self.identity, term = self.term, "became leader");
            self.tx.send_replace(Some(self.term));
        }
    }

    /// Stops leading: the fence closes first, then the loss is published.
    fn lose(&mut self, why: &str) {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.published().is_some() {
            tracing::warn!(lease = %self.name, identity = %self.identity, why, "lost leadership");
            self.tx.send_replace(None);
        }
    }

    /// Gives leadership up (shutdown): as [`LeaderElector::lose`], logged as the normal event it is.
    fn step_down(&mut self) {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.published().is_some() {
            tracing::info!(lease = %self.name, identity = %self.identity, "stepping down");
            self.tx.send_replace(None);
        }
    }

    fn until(&self) -> Option<Instant> {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops leadership once the renew deadline passed without a successful renewal.
    fn check_expiry(&mut self) {
        let held = self.until().is_some() || self.published().is_some();
        if held && self.until().is_none_or(|t| Instant::now() >= t) {
            self.lose("renew deadline passed without a successful renewal");
        }
    }

    /// One round: read, decide, write. `Some(decision)` when our write succeeded.
    async fn try_acquire_or_renew(&mut self) -> Result<Option<Decision>, kube::Error> {
        let now = Instant::now();
        let current = self.api.get_opt(&self.name).await?;
        self.observer.observe(current.as_ref().map(record_of), now);
        let decision = decide(&self.identity, &self.observer, now);
        let written = match &decision {
            Decision::Wait { holder, .. } => {
                if self.until().is_some() || self.published().is_some() {
                    // Someone else holds it now: we lost it, whatever our deadline says.
                    tracing::warn!(lease = %self.name, %holder, "another replica holds the lease");
                    self.lose("another replica holds the lease");
                }
                return Ok(None);
            }
            Decision::Create => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(None, 0)),
                };
                conflict_is_none(self.api.create(&PostParams::default(), &lease).await)?
            }
            Decision::Renew | Decision::Acquire { .. } => {
                let Some(mut lease) = current else {
                    return Ok(None);
                };
                let old = lease.spec.take().unwrap_or_default();
                let transitions = old.lease_transitions.unwrap_or(0);
                let spec = match &decision {
                    Decision::Renew => self.spec(old.acquire_time, transitions),
                    Decision::Acquire { previous } => {
                        tracing::info!(lease = %self.name, previous = ?previous, "taking over the lease");
                        self.spec(None, transitions.saturating_add(1))
                    }
                    Decision::Create | Decision::Wait { .. } => unreachable!("handled above"),
                };
                lease.spec = Some(spec);
                // `lease.metadata.resourceVersion` is the one we read: the replace is conditional on it.
                conflict_is_none(self.api.replace(&self.name, &PostParams::default(), &lease).await)?
            }
        };
        Ok(written.map(|lease| {
            self.observer.observe(Some(record_of(&lease)), now);
            decision
        }))
    }

    fn spec(&self, acquire_time: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.timings.lease_duration_seconds()),
            acquire_time: Some(acquire_time.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Stops acting, then clears the holder so that a standby can take over at once.
    async fn release(&mut self) {
        let held = self.until().is_some() || self.published().is_some();
        self.step_down();
        if !held {
            return;
        }
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return;
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        match self.api.replace(&self.name, &PostParams::default(), &lease).await {
            Ok(_) => tracing::info!(lease = %self.name, "released the lease"),
            Err(e) => tracing::warn!(lease = %self.name, error = %e, "could not release the lease"),
        }
    }
}

fn record_of(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseRecord {
        holder: spec.holder_identity,
        lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
        transitions: spec.lease_transitions.unwrap_or(0),
        renew_time: spec.renew_time.map(|t| t.0.to_string()),
        resource_version: lease.metadata.resource_version.clone(),
    }
}

/// A 409 (someone else wrote first, or created it first) is a lost round, not an error.
fn conflict_is_none(r: Result<Lease, kube::Error>) -> Result<Option<Lease>, kube::Error> {
    match r {
        Ok(l) => Ok(Some(l)),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(None),
        Err(e) => Err(e),
    }
}

/// client-go's JitterUntil factor 1.2: a pause in `[d, 1.2 d)`.
fn jittered(d: Duration) -> Duration {
    d + d.mul_f64(0.2 * rand::random::<f64>())
}
