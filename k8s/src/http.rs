//! The health and metrics endpoints both programs serve: `/metrics` (Prometheus text), `/healthz` (the process
//! serves) and `/readyz` (200 once the program is ready, else 503 saying what it waits for).

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

/// Readiness as the program reports it: ready, or what it is waiting for.
pub type Readiness = Result<(), String>;

/// Where to serve.
#[derive(Debug)]
pub enum Listen {
    /// Not at all.
    Off,
    /// Bind this address.
    Addr(SocketAddr),
    /// Serve on this listener (already bound; e.g. port 0 in tests).
    Listener(std::net::TcpListener),
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the metrics address {addr}: {source}")]
pub struct HttpError {
    /// The address.
    pub addr: String,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

#[derive(Clone)]
struct AppState {
    registry: Arc<Registry>,
    ready: watch::Receiver<Readiness>,
}

/// Serves the three endpoints until the handle is dropped (`None` for [`Listen::Off`]).
pub async fn serve(
    listen: Listen,
    registry: Arc<Registry>,
    ready: watch::Receiver<Readiness>,
) -> Result<Option<TaskHandle>, HttpError> {
    let listener = match listen {
        Listen::Off => return Ok(None),
        Listen::Addr(addr) => tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| HttpError {
                addr: addr.to_string(),
                source,
            })?,
        Listen::Listener(l) => {
            let addr = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            l.set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(l))
                .map_err(|source| HttpError { addr, source })?
        }
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    }
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { registry, ready });
    Ok(Some(TaskHandle::spawn("http", async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    })))
}

/// `registry` in the OpenMetrics text format (empty if encoding fails).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        render(&s.registry),
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

/// Publishes `readiness` to the server's receiver, only when it changed.
pub fn set_readiness(tx: &watch::Sender<Readiness>, readiness: Readiness) {
    tx.send_if_modified(|r| {
        if *r == readiness {
            false
        } else {
            *r = readiness;
            true
        }
    });
}
