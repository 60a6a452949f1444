//! kube-runtime's watcher and reflector against the server: initial list (paginated and streaming),
//! events, resuming after the watch connection ends, and a 410 forcing a re-list.

mod common;

use std::collections::BTreeMap;

use common::{eventually, start, within};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;

fn cm(name: &str, v: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "t"}}, "data": {"v": v}}))
        .unwrap()
}

#[tokio::test]
async fn watcher_lists_in_pages_then_streams_events() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), "0"))
            .await
            .unwrap();
    }
    let mut events = watcher(api.clone(), watcher::Config::default().page_size(3)).boxed();
    let mut listed = Vec::new();
    loop {
        match within(5, "initial list", events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => listed.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(listed, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
    assert_eq!(
        server.audit().count_verb("list", "configmaps"),
        3,
        "7 objects in pages of 3"
    );

    api.create(&PostParams::default(), &cm("late", "1"))
        .await
        .unwrap();
    api.delete("c0", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match within(5, "watch events", events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::Apply(o) => seen.push(format!("apply {}", o.metadata.name.unwrap())),
            watcher::Event::Delete(o) => seen.push(format!("delete {}", o.metadata.name.unwrap())),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["apply late", "delete c0"]);
}

#[tokio::test]
async fn watcher_resumes_after_the_watch_ends_without_relisting() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let (reader, writer) = reflector::store();
    // The server ends each watch after one second; the watcher must resume from its resourceVersion.
    let stream = reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().timeout(1)),
    )
    .applied_objects();
    let task = tokio::spawn(stream.for_each(|_| async {}));
    reader.wait_until_ready().await.unwrap();
    for round in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("r{round}"), "x"))
            .await
            .unwrap();
        let before = server.audit().count_verb("watch", "configmaps");
        eventually(5, "a new watch", || async {
            (server.audit().count_verb("watch", "configmaps") > before).then_some(())
        })
        .await;
    }
    let names = eventually(5, "all objects in the reflector", || async {
        let mut n: Vec<String> = reader
            .state()
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect();
        n.sort();
        (n.len() == 3).then_some(n)
    })
    .await;
    assert_eq!(names, ["r0", "r1", "r2"]);
    assert_eq!(
        server.audit().count_verb("list", "configmaps"),
        1,
        "resumed watches must not re-list"
    );
    assert!(server.audit().count_verb("watch", "configmaps") >= 3);
    // Every resumed watch asked for a resourceVersion, none for the initial state.
    for e in server.audit().entries().iter().filter(|e| e.verb == "watch") {
        assert!(
            e.uri.contains("resourceVersion=")
                && !e.uri.contains("resourceVersion=0&")
                && !e.uri.ends_with("resourceVersion=0"),
            "{}",
            e.uri
        );
    }
    task.abort();
}

#[tokio::test]
async fn compaction_gives_410_and_the_watcher_relists() {
    let (server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("keep", "1"))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let errs = errors.clone();
    let stream = reflector(writer, watcher(api.clone(), watcher::Config::default()));
    let task = tokio::spawn(stream.for_each(move |e| {
        if let Err(err) = e {
            errs.lock().unwrap().push(err.to_string());
        }
        async {}
    }));
    reader.wait_until_ready().await.unwrap();
    eventually(5, "the watch", || async {
        (server.audit().count_verb("watch", "configmaps") == 1).then_some(())
    })
    .await;
    // A write followed at once by compaction, with no await in between (current-thread runtime): the open
    // watch has not read the event and must get a 410 ERROR event, then the watcher lists again.
    server
        .ops()
        .create(
            &server.ops().registry.get("", "v1", "configmaps").unwrap(),
            Some("default"),
            json!({"metadata": {"name": "during"}, "data": {}}),
            &Default::default(),
        )
        .unwrap();
    server.compact();
    eventually(5, "a re-list", || async {
        (server.audit().count_verb("list", "configmaps") == 2).then_some(())
    })
    .await;
    let names = eventually(5, "both objects", || async {
        let mut n: Vec<String> = reader
            .state()
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect();
        n.sort();
        (n.len() == 2).then_some(n)
    })
    .await;
    assert_eq!(names, ["during", "keep"]);
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.iter().any(|e| e.contains("410") || e.contains("too old")),
        "{errors:?}"
    );
    task.abort();
}

#[tokio::test]
async fn streaming_lists_are_refused_where_the_watch_list_gate_is_off() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut events = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    match within(5, "the refused watch", events.next()).await {
        Some(Err(watcher::Error::WatchStartFailed(kube::Error::Api(s)))) => assert_eq!(s.code, 422),
        other => panic!("a 1.28 server refuses sendInitialEvents, got {other:?}"),
    }
}

#[tokio::test]
async fn streaming_list_uses_send_initial_events() {
    let config = ferrolb_apiserver::ServerConfig {
        version_minor: 34,
        bookmark_interval: std::time::Duration::from_millis(200),
        ..Default::default()
    };
    let (server, client) = common::start_with(config).await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..3 {
        api.create(&PostParams::default(), &cm(&format!("s{i}"), "0"))
            .await
            .unwrap();
    }
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut listed = Vec::new();
    loop {
        match within(5, "streaming list", events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => listed.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(listed, ["s0", "s1", "s2"]);
    assert_eq!(server.audit().count_verb("list", "configmaps"), 0);
    let w = server
        .audit()
        .entries()
        .into_iter()
        .find(|e| e.verb == "watch")
        .unwrap();
    assert!(w.uri.contains("sendInitialEvents=true"), "{}", w.uri);
    api.create(&PostParams::default(), &cm("after", "1"))
        .await
        .unwrap();
    match within(5, "event after the initial list", events.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        watcher::Event::Apply(o) => assert_eq!(o.metadata.name.as_deref(), Some("after")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn label_selected_watch_sees_objects_enter_and_leave() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut events = watcher(
        api.clone(),
        watcher::Config::default().labels("app=t,tier in (a)"),
    )
    .boxed();
    assert!(matches!(
        within(5, "init", events.try_next()).await.unwrap().unwrap(),
        watcher::Event::Init
    ));
    assert!(matches!(
        within(5, "init done", events.try_next()).await.unwrap().unwrap(),
        watcher::Event::InitDone
    ));
    let mut obj = cm("sel", "1");
    api.create(&PostParams::default(), &obj).await.unwrap();
    obj.metadata.labels = Some(BTreeMap::from([
        ("app".into(), "t".into()),
        ("tier".into(), "a".into()),
    ]));
    let cur = api.get("sel").await.unwrap();
    obj.metadata.resource_version = cur.metadata.resource_version;
    let entered = api.replace("sel", &PostParams::default(), &obj).await.unwrap();
    match within(5, "enter", events.try_next()).await.unwrap().unwrap() {
        watcher::Event::Apply(o) => {
            assert_eq!(o.metadata.resource_version, entered.metadata.resource_version)
        }
        other => panic!("unexpected {other:?}"),
    }
    obj.metadata.labels = Some(BTreeMap::from([("app".into(), "t".into())]));
    obj.metadata.resource_version = entered.metadata.resource_version;
    api.replace("sel", &PostParams::default(), &obj).await.unwrap();
    match within(5, "leave", events.try_next()).await.unwrap().unwrap() {
        watcher::Event::Delete(o) => assert_eq!(o.metadata.name.as_deref(), Some("sel")),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn metadata_watcher_gets_partial_objects() {
    let (_server, client) = start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.create(&PostParams::default(), &cm("m0", "0")).await.unwrap();
    let meta: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(api.clone().into_client(), "default");
    let mut events = watcher(meta, watcher::Config::default()).boxed();
    let mut listed = Vec::new();
    loop {
        match within(5, "metadata list", events.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => listed.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(listed, ["m0"]);
    api.create(&PostParams::default(), &cm("m1", "1")).await.unwrap();
    match within(5, "metadata event", events.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        watcher::Event::Apply(o) => {
            assert_eq!(o.metadata.name.as_deref(), Some("m1"));
            assert_eq!(o.types.unwrap().kind, "PartialObjectMetadata");
        }
        other => panic!("unexpected {other:?}"),
    }
}
