//! `/metrics` (Prometheus text), `/healthz` (the process runs) and `/readyz` (the speaker announces).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::task::TaskHandle;

/// Readiness as the owner loop reports it: `Ok(())` or what it is waiting for.
pub type Readiness = Result<(), String>;

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    ready: watch::Receiver<Readiness>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the metrics address {addr}: {source}")]
pub struct HttpError {
    /// The address.
    pub addr: SocketAddr,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr` and serves until the handle is dropped.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    ready: watch::Receiver<Readiness>,
) -> Result<TaskHandle, HttpError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError { addr, source })?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { registry, ready });
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    Ok(TaskHandle::spawn("http", async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    }))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        crate::metrics::render(&s.registry),
    )
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match &*s.ready.borrow() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: waiting for {why}\n"),
        ),
    }
}
