//! Serving on a listener the caller made, graceful shutdown ending open watches, and resourceVersions from
//! an earlier run of the server answered with 410.

mod common;

use common::within;
use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig};
use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, WatchEvent, WatchParams};

#[tokio::test]
async fn serves_on_a_std_listener_and_shuts_down_open_watches() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = ApiServer::new(ServerConfig::default())
        .unwrap()
        .serve_std(listener)
        .await
        .unwrap();
    assert_eq!(handle.addr(), addr);
    assert_eq!(handle.url(), format!("http://{addr}"));
    assert!(
        handle
            .kubeconfig(ADMIN)
            .contains(&format!("server: http://{addr}"))
    );
    let client = handle.client(ADMIN).await.unwrap();
    let info = client.apiserver_version().await.unwrap();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "28"));
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let rv = handle.store().resource_version().to_string();
    let mut stream = Box::pin(api.watch(&WatchParams::default(), &rv).await.unwrap());
    within(10, "shutdown", handle.shutdown()).await;
    let end = within(10, "the watch to end", stream.try_next()).await;
    assert!(
        matches!(end, Ok(None) | Err(_)),
        "the watch must end on shutdown: {end:?}"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn versions_from_before_the_start_are_gone() {
    let (_handle, client) = common::start().await;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    // A small version, as a client of an earlier run of the server would hold.
    let old = "1".to_owned();
    let mut stream = Box::pin(api.watch(&WatchParams::default(), &old).await.unwrap());
    match within(10, "the error event", stream.try_next()).await.unwrap() {
        Some(WatchEvent::Error(s)) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }
}

#[tokio::test]
async fn serves_https_with_a_generated_ca() {
    let config = ServerConfig {
        tls: Some(ferrolb_apiserver::TlsConfig::default()),
        ..Default::default()
    };
    let (handle, client) = common::start_with(config).await;
    assert!(handle.url().starts_with("https://127.0.0.1:"), "{}", handle.url());
    assert!(handle.kubeconfig(ADMIN).contains("certificate-authority-data: "));
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    api.list(&Default::default()).await.unwrap();
    let e = handle
        .audit()
        .entries()
        .into_iter()
        .find(|e| e.verb == "list")
        .unwrap();
    assert_eq!((e.user.as_str(), e.code), (ADMIN, 200));
    // A client that does not trust the CA cannot connect.
    let mut cfg = handle.client_config(ADMIN).await.unwrap();
    cfg.root_cert = None;
    let untrusting: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(cfg).unwrap(), "default");
    assert!(untrusting.list(&Default::default()).await.is_err());
}
