//! A mixed load: 10,000 ConfigMaps created, half of them updated and a fifth deleted by 8 concurrent
//! writers over HTTP, while 20 watchers (all namespaces, one namespace, a label selector) follow. Every
//! watcher must see exactly the writes in its selection, in resourceVersion order, ending in the
//! server's final state. Run time: a few seconds in release, well under a minute in debug on 2 cores.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{start_with, within};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::core::ObjectList;
use serde_json::json;

const OBJECTS: usize = 10_000;
const NAMESPACES: usize = 4;
const WRITERS: usize = 8;

fn namespace_of(i: usize) -> String {
    format!("load-{}", i / (OBJECTS / NAMESPACES))
}

fn shard_of(i: usize) -> usize {
    i % 4
}

/// Writes per object: create, update if even, delete if a multiple of 5.
fn writes_for(i: usize) -> usize {
    1 + usize::from(i.is_multiple_of(2)) + usize::from(i.is_multiple_of(5))
}

#[derive(Debug, Clone)]
enum Selection {
    All,
    Namespace(String),
    Shard(usize),
}

impl Selection {
    fn contains(&self, i: usize) -> bool {
        match self {
            Selection::All => true,
            Selection::Namespace(ns) => namespace_of(i) == *ns,
            Selection::Shard(s) => shard_of(i) == *s,
        }
    }
}

struct Seen {
    events: usize,
    state: BTreeMap<(String, String), String>,
}

/// Follows one watch from `from_rv` until it has seen the last write (announced on `until`), checking order
/// and consistency.
async fn follow(
    api: Api<ConfigMap>,
    params: WatchParams,
    from_rv: String,
    mut until: tokio::sync::watch::Receiver<u64>,
) -> Seen {
    let mut stream = api.watch(&params, &from_rv).await.expect("start watch").boxed();
    let mut last: u64 = from_rv.parse().unwrap();
    let mut seen = Seen {
        events: 0,
        state: BTreeMap::new(),
    };
    while last < *until.borrow_and_update() {
        let ev = stream
            .try_next()
            .await
            .expect("watch stream")
            .expect("watch ended before the last write");
        let (kind, obj) = match ev {
            WatchEvent::Added(o) => ("ADDED", o),
            WatchEvent::Modified(o) => ("MODIFIED", o),
            WatchEvent::Deleted(o) => ("DELETED", o),
            WatchEvent::Bookmark(b) => {
                let rv: u64 = b.metadata.resource_version.parse().unwrap();
                assert!(rv >= last, "bookmark went back from {last} to {rv}");
                last = rv;
                continue;
            }
            WatchEvent::Error(e) => panic!("watch error: {e:?}"),
        };
        let rv: u64 = obj.metadata.resource_version.clone().unwrap().parse().unwrap();
        assert!(rv > last, "event {kind} at {rv} after {last}: reordered");
        last = rv;
        seen.events += 1;
        let key = (
            obj.metadata.namespace.clone().unwrap(),
            obj.metadata.name.clone().unwrap(),
        );
        match kind {
            "ADDED" => assert!(seen.state.insert(key, rv.to_string()).is_none(), "ADDED twice"),
            "MODIFIED" => assert!(
                seen.state.insert(key, rv.to_string()).is_some(),
                "MODIFIED before ADDED"
            ),
            _ => assert!(seen.state.remove(&key).is_some(), "DELETED unknown object"),
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_objects_and_twenty_watchers_lose_nothing() {
    let config = ferrolb_apiserver::ServerConfig {
        bookmark_interval: Duration::from_millis(250),
        ..Default::default()
    };
    let (server, client) = start_with(config).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    for n in 0..NAMESPACES {
        nss.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": format!("load-{n}")}})).unwrap(),
        )
        .await
        .unwrap();
    }
    let start_rv = server.store().resource_version();
    let all: Api<ConfigMap> = Api::all(client.clone());
    let mut selections = Vec::new();
    for w in 0..20 {
        selections.push(match w % 4 {
            0 | 1 => Selection::All,
            2 => Selection::Namespace(format!("load-{}", w % NAMESPACES)),
            _ => Selection::Shard(w % 4),
        });
    }

    // The watchers start first, from the resourceVersion before the load, and follow it as it happens.
    let (until_tx, until_rx) = tokio::sync::watch::channel(u64::MAX);
    let mut watchers = Vec::new();
    for sel in &selections {
        let (api, params) = match sel {
            Selection::All => (all.clone(), WatchParams::default().timeout(290)),
            Selection::Namespace(ns) => (
                Api::namespaced(client.clone(), ns),
                WatchParams::default().timeout(290),
            ),
            Selection::Shard(s) => (
                all.clone(),
                WatchParams::default().timeout(290).labels(&format!("shard={s}")),
            ),
        };
        watchers.push(tokio::spawn(follow(
            api,
            params,
            start_rv.to_string(),
            until_rx.clone(),
        )));
    }
    let t0 = Instant::now();
    let mut writers = Vec::new();
    for t in 0..WRITERS {
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            for i in (t..OBJECTS).step_by(WRITERS) {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace_of(i));
                let name = format!("cm-{i}");
                let cm = json!({"metadata": {"name": name, "labels": {"shard": shard_of(i).to_string()}}, "data": {"v": "0"}});
                api.create(&PostParams::default(), &serde_json::from_value(cm).unwrap()).await.unwrap();
                if i.is_multiple_of(2) {
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&json!({"data": {"v": "1"}}))).await.unwrap();
                }
                if i.is_multiple_of(5) {
                    api.delete(&name, &DeleteParams::default()).await.unwrap();
                }
            }
        }));
    }
    let writers_done = async {
        for w in writers {
            w.await.unwrap();
        }
    };
    within(300, "writers", writers_done).await;
    let write_time = t0.elapsed();
    until_tx.send_replace(server.store().resource_version());
    let mut results = Vec::new();
    for w in watchers {
        results.push(within(300, "watchers", w).await.unwrap());
    }
    let total = t0.elapsed();

    let final_list: ObjectList<ConfigMap> = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(final_list.items.len(), OBJECTS - OBJECTS / 5);
    for (sel, seen) in selections.iter().zip(&results) {
        let expected: usize = (0..OBJECTS).filter(|&i| sel.contains(i)).map(writes_for).sum();
        assert_eq!(seen.events, expected, "{sel:?}: lost or extra events");
        let want: BTreeMap<(String, String), String> = final_list
            .items
            .iter()
            .filter(|o| {
                let i: usize = o.metadata.name.as_ref().unwrap()["cm-".len()..].parse().unwrap();
                sel.contains(i)
            })
            .map(|o| {
                (
                    (
                        o.metadata.namespace.clone().unwrap(),
                        o.metadata.name.clone().unwrap(),
                    ),
                    o.metadata.resource_version.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(seen.state, want, "{sel:?}: final state differs");
    }
    let writes: usize = (0..OBJECTS).map(writes_for).sum();
    let events: usize = results.iter().map(|s| s.events).sum();
    println!(
        "load: {writes} writes by {WRITERS} writers in {:.2}s ({:.0}/s); {events} events to 20 watchers, all done after {:.2}s",
        write_time.as_secs_f64(),
        writes as f64 / write_time.as_secs_f64(),
        total.as_secs_f64()
    );
}
