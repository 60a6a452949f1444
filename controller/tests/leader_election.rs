//! The Lease elector against the embedded API server: one leader at a time, fast takeover after a release, a
//! crashed leader's fence honoured to the millisecond, a deleted Lease never giving two leaders, and the
//! Lease's fields as client-go writes them.

mod controller_common;

use std::time::{Duration, Instant};

use controller_common::*;
use ferrolb_controller::leader::{LeaderElector, Leadership, Timings};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const LEASE: &str = "test-lease";

struct Candidate {
    leadership: Leadership,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Long leases with fast retries: a takeover within seconds can only come from a release, and a loaded machine
/// cannot make a healthy leader miss its renew deadline.
fn long_timings() -> Timings {
    Timings {
        lease_duration: Duration::from_secs(10),
        renew_deadline: Duration::from_secs(7),
        retry_period: Duration::from_millis(100),
    }
}

impl Candidate {
    fn start(lab: &Lab, identity: &str, timings: Timings) -> Self {
        let api: Api<Lease> = Api::namespaced(lab.client.clone(), SYSTEM);
        let (elector, leadership) = LeaderElector::new(api, LEASE, identity, timings);
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(elector.run(async {
            let _ = rx.await;
        }));
        Self {
            leadership,
            stop: Some(stop),
            task,
        }
    }

    async fn release(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        within(5, "the elector to release", self.task)
            .await
            .expect("elector");
    }
}

async fn lease(lab: &Lab) -> Option<Lease> {
    Api::<Lease>::namespaced(lab.client.clone(), SYSTEM)
        .get_opt(LEASE)
        .await
        .expect("get")
}

/// Polls both candidates every millisecond for `d`, failing if both lead at one instant; returns whether
/// `a` and `b` led at some point.
async fn never_both(
    a: &Leadership,
    b: &Leadership,
    d: Duration,
    until: impl Fn(bool, bool) -> bool,
) -> (bool, bool) {
    let end = Instant::now() + d;
    let (mut a_led, mut b_led) = (false, false);
    while Instant::now() < end {
        let (x, y) = (a.is_leader(), b.is_leader());
        assert!(!(x && y), "two leaders at once");
        a_led |= x;
        b_led |= y;
        if until(x, y) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    (a_led, b_led)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_then_a_fast_takeover_after_release() {
    let lab = Lab::start().await;
    let a = Candidate::start(&lab, "a", long_timings());
    eventually(5, "a to lead", || async {
        a.leadership.is_leader().then_some(())
    })
    .await;
    let b = Candidate::start(&lab, "b", long_timings());
    let (_, b_led) = never_both(
        &a.leadership,
        &b.leadership,
        Duration::from_millis(1500),
        |_, _| false,
    )
    .await;
    assert!(!b_led, "b must wait while a renews");
    assert_eq!(a.leadership.term(), Some(1));
    assert_eq!(b.leadership.term(), None);
    let l = lease(&lab).await.and_then(|l| l.spec).expect("lease");
    assert_eq!(l.holder_identity.as_deref(), Some("a"));
    assert_eq!(l.lease_duration_seconds, Some(10));
    assert_eq!(l.lease_transitions, Some(0));
    let acquired = l.acquire_time.clone();
    assert!(
        l.renew_time.expect("renewed").0 > acquired.clone().expect("acquired").0,
        "renewals move renewTime only"
    );

    let released = Instant::now();
    let a_leadership = a.leadership.clone();
    a.release().await;
    assert!(!a_leadership.is_leader() && a_leadership.term().is_none());
    eventually(5, "b to lead", || async {
        b.leadership.is_leader().then_some(())
    })
    .await;
    let took = released.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "a release hands over at the next retry, not at expiry (10 s): took {took:?}"
    );
    let l = lease(&lab).await.and_then(|l| l.spec).expect("lease");
    assert_eq!(l.holder_identity.as_deref(), Some("b"));
    assert_eq!(l.lease_transitions, Some(1));
    b.release().await;
    let l = lease(&lab).await.and_then(|l| l.spec).expect("lease");
    assert_eq!(l.holder_identity, None, "released on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_leader_is_not_replaced_before_its_fence_closes() {
    let lab = Lab::start().await;
    let a = Candidate::start(&lab, "a", fast_timings());
    eventually(5, "a to lead", || async {
        a.leadership.is_leader().then_some(())
    })
    .await;
    let b = Candidate::start(&lab, "b", fast_timings());
    never_both(
        &a.leadership,
        &b.leadership,
        Duration::from_millis(300),
        |_, _| false,
    )
    .await;
    // Crash: the elector stops without releasing; its Leadership handle keeps its last deadline.
    a.task.abort();
    let fence = a.leadership.valid_until().expect("was leading");
    let (_, b_led) = never_both(&a.leadership, &b.leadership, Duration::from_secs(5), |_, y| y).await;
    assert!(b_led, "b takes over after the lease expires");
    assert!(Instant::now() >= fence, "b led only after a's fence closed");
    b.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_lease_never_makes_two_leaders() {
    let lab = Lab::start().await;
    let a = Candidate::start(&lab, "a", long_timings());
    eventually(5, "a to lead", || async {
        a.leadership.is_leader().then_some(())
    })
    .await;
    let b = Candidate::start(&lab, "b", long_timings());
    never_both(
        &a.leadership,
        &b.leadership,
        Duration::from_millis(300),
        |_, _| false,
    )
    .await;
    let api: Api<Lease> = Api::namespaced(lab.client.clone(), SYSTEM);
    api.delete(LEASE, &DeleteParams::default()).await.expect("delete");
    let (_, b_led) = never_both(
        &a.leadership,
        &b.leadership,
        Duration::from_millis(2500),
        |_, _| false,
    )
    .await;
    assert!(!b_led, "the holder recreates its Lease; the standby waits");
    assert!(a.leadership.is_leader());
    let l = lease(&lab).await.and_then(|l| l.spec).expect("recreated");
    assert_eq!(l.holder_identity.as_deref(), Some("a"));
    a.release().await;
    b.release().await;
}
