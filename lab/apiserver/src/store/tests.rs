//! Store tests: versions and events, history limits and compaction, consistent paginated lists.

use serde_json::{Value, json};

use super::*;
use crate::defaults::service::Allocator;

fn store(limit: usize) -> Store {
    Store::new(
        ["configmaps".to_owned()],
        Allocator::new(&[], 30000..=32767),
        History {
            max_events: limit,
            ..History::default()
        },
    )
}

fn cm(ns: &str, name: &str, v: u32) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": ns, "name": name}, "data": {"v": v.to_string()}})
}

fn put(s: &Store, ns: &str, name: &str, v: u32) -> u64 {
    s.write(|t| t.put("configmaps", ns, name, cm(ns, name, v)));
    s.resource_version()
}

fn names(p: &ListPage) -> Vec<String> {
    p.items
        .iter()
        .map(|o| {
            format!(
                "{}/{}={}",
                o["metadata"]["namespace"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap(),
                o["data"]["v"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn writes_get_increasing_versions_and_events() {
    let s = store(100);
    let start = s.resource_version();
    let r1 = put(&s, "a", "x", 1);
    let r2 = put(&s, "a", "x", 2);
    assert!(r2 > r1);
    let gone = s.write(|t| t.remove("configmaps", "a", "x")).unwrap();
    assert_eq!(
        gone["metadata"]["resourceVersion"],
        s.resource_version().to_string()
    );
    let inner = s.lock();
    let evs = inner.tables["configmaps"].events_after(start, 10).unwrap();
    let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EventType::Added, EventType::Modified, EventType::Deleted]
    );
    assert_eq!(evs[1].prev.as_ref().unwrap()["data"]["v"], "1");
    assert_eq!(inner.tables["configmaps"].events_after(r2, 10).unwrap().len(), 1);
    assert!(
        inner.tables["configmaps"].events_after(start - 1, 10).is_none(),
        "versions before the start are gone"
    );
}

#[test]
fn history_limit_and_compaction_expire_old_versions() {
    let s = store(2);
    let r1 = put(&s, "a", "x", 1);
    put(&s, "a", "x", 2);
    put(&s, "a", "x", 3);
    {
        let inner = s.lock();
        assert!(inner.tables["configmaps"].events_after(r1 - 1, 10).is_none());
        assert_eq!(
            inner.tables["configmaps"].events_after(r1 + 1, 10).unwrap().len(),
            1
        );
    }
    let now = s.resource_version();
    s.compact();
    let inner = s.lock();
    assert!(inner.tables["configmaps"].events_after(now - 1, 10).is_none());
    assert_eq!(inner.tables["configmaps"].events_after(now, 10).unwrap().len(), 0);
}

#[test]
fn history_older_than_the_window_is_compacted() {
    let s = Store::new(
        ["configmaps".to_owned()],
        Allocator::new(&[], 30000..=32767),
        History {
            max_events: 100,
            window: std::time::Duration::ZERO,
        },
    );
    let r1 = put(&s, "a", "x", 1);
    // Wait (a few nanoseconds) until the clock has moved past the first event.
    let t0 = std::time::Instant::now();
    while std::time::Instant::now() == t0 {
        std::hint::spin_loop();
    }
    put(&s, "a", "x", 2);
    let inner = s.lock();
    assert!(inner.tables["configmaps"].events_after(r1 - 1, 10).is_none());
    assert_eq!(inner.tables["configmaps"].events_after(r1, 10).unwrap().len(), 1);
}

#[test]
fn paginated_lists_are_consistent_snapshots() {
    let s = store(1000);
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        put(&s, "ns1", name, i as u32);
    }
    put(&s, "ns2", "a", 9);
    let all = |_: &Value| true;
    let opts = ListOptions {
        namespace: Some("ns1".into()),
        limit: Some(2),
        ..Default::default()
    };
    let p1 = s.list("configmaps", &opts, &all, true).unwrap();
    assert_eq!(names(&p1), ["ns1/a=0", "ns1/b=1"]);
    assert_eq!(p1.remaining, Some(2));
    // Changes after the first page are not visible in later pages of the same list.
    put(&s, "ns1", "c", 77);
    s.write(|t| t.remove("configmaps", "ns1", "d"));
    put(&s, "ns1", "bb", 5);
    let opts2 = ListOptions {
        continue_token: p1.continue_token.clone(),
        limit: Some(10),
        ..opts.clone()
    };
    let p2 = s.list("configmaps", &opts2, &all, true).unwrap();
    assert_eq!(names(&p2), ["ns1/c=2", "ns1/d=3"]);
    assert_eq!(p2.rv, p1.rv);
    assert!(p2.continue_token.is_none());
    // Exact reads the past; a fresh list sees the present.
    let exact = s
        .list(
            "configmaps",
            &ListOptions {
                rv: RvMatch::Exact(p1.rv),
                ..Default::default()
            },
            &all,
            false,
        )
        .unwrap();
    assert_eq!(
        names(&exact),
        ["ns1/a=0", "ns1/b=1", "ns1/c=2", "ns1/d=3", "ns2/a=9"]
    );
    let now = s
        .list("configmaps", &ListOptions::default(), &all, false)
        .unwrap();
    assert_eq!(
        names(&now),
        ["ns1/a=0", "ns1/b=1", "ns1/bb=5", "ns1/c=77", "ns2/a=9"]
    );
    // After compaction the old token is expired.
    s.compact();
    let err = s.list("configmaps", &opts2, &all, true).unwrap_err();
    assert_eq!((err.code, err.reason), (410, "Expired"));
    let err = s
        .list(
            "configmaps",
            &ListOptions {
                rv: RvMatch::NotOlderThan(s.resource_version() + 5),
                ..Default::default()
            },
            &all,
            false,
        )
        .unwrap_err();
    assert_eq!(err.code, 504);
    let bad = ListOptions {
        continue_token: Some("!!".into()),
        ..Default::default()
    };
    assert_eq!(s.list("configmaps", &bad, &all, false).unwrap_err().code, 400);
}

#[test]
fn base64_round_trips() {
    for s in ["", "a", "ab", "abc", "abcd", "hello world\u{0}"] {
        assert_eq!(
            list::base64_decode(&list::base64_encode(s.as_bytes())).unwrap(),
            s.as_bytes()
        );
    }
    assert_eq!(list::base64_encode(b"ferrolb"), "ZmVycm9sYg==");
}
