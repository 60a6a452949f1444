//! The membership task over real UDP on loopback: speakers find each other from their seeds, a speaker that
//! vanishes is noticed within the failover budget, one that leaves is gone at once, a speaker with another
//! key never gets in, and the successor watch drops a silent owner by itself (SWIM follows).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrolb_speaker::membership::{self, Control, MembershipSettings, Timings, View};
use ferrolb_speaker::metrics::MembershipMetrics;
use ferrolb_speaker::task::TaskHandle;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

struct Member {
    name: String,
    ctl: mpsc::Sender<Control>,
    view: watch::Receiver<View>,
    metrics: MembershipMetrics,
    task: Option<TaskHandle>,
}

fn base_port() -> u16 {
    // distinct per test process, away from the well-known 7946
    20000 + u16::try_from(std::process::id() % 20000).unwrap_or(0)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

async fn start(name: &str, port: u16, key: &[u8], seeds: &[(String, u16)]) -> Member {
    let metrics = MembershipMetrics::default();
    let (ctl, view, task) = membership::spawn(
        MembershipSettings {
            node: name.into(),
            port,
            bind: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            timings: Timings::default(),
        },
        metrics.clone(),
    );
    ctl.send(Control::Key(Some(key.to_vec()))).await.unwrap();
    ctl.send(Control::Seeds(
        seeds.iter().map(|(n, p)| (n.clone(), addr(*p))).collect(),
    ))
    .await
    .unwrap();
    ctl.send(Control::Address(addr(port))).await.unwrap();
    Member {
        name: name.into(),
        ctl,
        view,
        metrics,
        task: Some(task),
    }
}

async fn wait_live(m: &mut Member, want: &[&str], within: Duration) -> Duration {
    let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
    let t0 = Instant::now();
    let deadline = t0 + within;
    loop {
        {
            let v = m.view.borrow_and_update();
            if v.settled && v.live == want {
                return t0.elapsed();
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            tokio::time::timeout(left, m.view.changed()).await.is_ok(),
            "{}: live {:?}, want {want:?}",
            m.name,
            m.view.borrow().live
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_detect_losses_and_reject_strangers() {
    let key = b"a shared membership key";
    let p = base_port();
    let seeds = |me: usize| -> Vec<(String, u16)> {
        (0..3)
            .filter(|i| *i != me)
            .map(|i| (format!("n{i}"), p + u16::try_from(i).unwrap()))
            .collect()
    };
    let mut a = start("n0", p, key, &seeds(0)).await;
    let mut b = start("n1", p + 1, key, &seeds(1)).await;
    let mut c = start("n2", p + 2, key, &seeds(2)).await;
    for m in [&mut a, &mut b, &mut c] {
        wait_live(m, &["n0", "n1", "n2"], Duration::from_secs(5)).await;
    }

    // a stranger with another key: rejected and counted, never a member
    let mut stranger_seeds = seeds(3);
    stranger_seeds.truncate(2);
    let stranger = start("n3", p + 3, b"another key", &stranger_seeds).await;
    let t0 = Instant::now();
    while a
        .metrics
        .auth_failures
        .get_or_create(&ferrolb_speaker::metrics::ReasonLabel { reason: "forged" })
        .get()
        == 0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no forged datagram counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!a.view.borrow().live.contains("n3"));
    assert_eq!(
        stranger.view.borrow().live,
        BTreeSet::from(["n3".to_owned()]),
        "alone"
    );

    // n2 vanishes without a word (its task is aborted): noticed within the failover budget
    drop(c.task.take());
    let took = wait_live(&mut a, &["n0", "n1"], Duration::from_secs(3)).await;
    eprintln!("a silent member was declared down after {took:?}");
    assert!(took < Duration::from_secs(1), "detection took {took:?}");
    wait_live(&mut b, &["n0", "n1"], Duration::from_secs(1)).await;

    // n1 leaves gracefully: gone at once
    let t0 = Instant::now();
    b.ctl.send(Control::Leave).await.unwrap();
    wait_live(&mut a, &["n0"], Duration::from_secs(1)).await;
    let took = t0.elapsed();
    eprintln!("a leaving member was gone after {took:?}");
    assert!(took < Duration::from_millis(200), "leave took {took:?}");
}

/// Waits until `what(m)` holds.
async fn wait_metric(m: &Member, what: &str, within: Duration, ok: impl Fn(&MembershipMetrics) -> bool) {
    let t0 = Instant::now();
    while !ok(&m.metrics) {
        assert!(t0.elapsed() < within, "{}: {what}", m.name);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn changes(m: &Member, change: &'static str) -> u64 {
    m.metrics
        .member_changes
        .get_or_create(&ferrolb_speaker::metrics::ChangeLabel { change })
        .get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_successor_watch_drops_a_silent_owner_by_itself() {
    let key = b"a shared membership key";
    let p = base_port() + 10;
    let names = ["w0", "w1", "w2"];
    let seeds = |me: usize| -> Vec<(String, u16)> {
        (0..3)
            .filter(|i| *i != me)
            .map(|i| (names[i].to_owned(), p + u16::try_from(i).unwrap()))
            .collect()
    };
    let mut a = start("w0", p, key, &seeds(0)).await;
    let mut b = start("w1", p + 1, key, &seeds(1)).await;
    let mut c = start("w2", p + 2, key, &seeds(2)).await;
    for m in [&mut a, &mut b, &mut c] {
        wait_live(m, &names, Duration::from_secs(5)).await;
    }
    // w0 is w2's successor (as the owner task would say); heartbeats start flowing
    a.ctl
        .send(Control::Watch(BTreeSet::from(["w2".to_owned()])))
        .await
        .unwrap();
    wait_metric(&c, "a watcher", Duration::from_secs(3), |m| m.watchers.get() == 1).await;
    wait_metric(&a, "heartbeats from w2", Duration::from_secs(3), |m| {
        m.watched.get() == 1
    })
    .await;
    assert_eq!(b.metrics.watched.get(), 0, "w1 watches nobody");

    // w2 vanishes: w0 judges it unreachable itself; w1 learns it from SWIM
    drop(c.task.take());
    wait_live(&mut a, &["w0", "w1"], Duration::from_secs(3)).await;
    assert_eq!(
        changes(&a, "unreachable"),
        1,
        "w0 dropped w2 on the watch's verdict"
    );
    wait_live(&mut b, &["w0", "w1"], Duration::from_secs(3)).await;
    assert_eq!(changes(&b, "unreachable"), 0);
    assert_eq!(changes(&b, "down"), 1, "SWIM declared w2 down at w1");
    // SWIM's verdict reaches w0 too and ends the watch's
    wait_metric(&a, "w2 down by SWIM", Duration::from_secs(3), |m| {
        m.member_changes
            .get_or_create(&ferrolb_speaker::metrics::ChangeLabel { change: "down" })
            .get()
            == 1
    })
    .await;
    assert_eq!(changes(&a, "reachable"), 0);
    assert_eq!(changes(&a, "withdrawn"), 0);
}
