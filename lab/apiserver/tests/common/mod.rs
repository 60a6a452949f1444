//! Shared helpers for the API server's integration tests: a server on 127.0.0.1:0 and kube clients.

#![allow(dead_code)]

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
