//! Shared helpers for the API server's integration tests: a server on 127.0.0.1:0 and kube clients.

#![allow(dead_code)]

pub mod kubectl;

use std::future::Future;
use std::time::Duration;

use ferrolb_apiserver::{ADMIN, ApiServer, ServerConfig, ServerHandle};

/// A server with default settings and fast bookmarks.
pub async fn start() -> (ServerHandle, kube::Client) {
    start_with(ServerConfig {
        bookmark_interval: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await
}

/// A server with `config`, and an admin client.
pub async fn start_with(config: ServerConfig) -> (ServerHandle, kube::Client) {
    let server = ApiServer::new(config).expect("server config");
    let handle = server
        .bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let client = handle.client(ADMIN).await.expect("client");
    (handle, client)
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `fut` with a deadline.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s: {what}"))
}

/// Creates a CustomResourceDefinition through the API and waits (at most 10 s) until it is Established.
pub async fn install_crd(
    client: &kube::Client,
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, PostParams};
    use kube::runtime::wait::{await_condition, conditions};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd.metadata.name.clone().expect("CRD name");
    api.create(&PostParams::default(), crd).await.expect("create CRD");
    within(
        10,
        "CRD established",
        await_condition(api.clone(), &name, conditions::is_crd_established()),
    )
    .await
    .expect("watch CRD");
    api.get(&name).await.expect("get CRD")
}

/// A CRD from MetalLB's published manifests (`tests/data`).
pub fn metallb_crd(
    file: &str,
) -> k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("test data");
    ferrolb_apiserver::resources::crds_from_yaml(&text)
        .expect("CRD YAML")
        .remove(0)
}

/// The HTTP status of a kube API error (panics on other errors).
pub fn api_error(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("not an API error: {other:?}"),
    }
}
