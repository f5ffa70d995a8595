//! Operations: `GET /healthz` (alive), `GET /readyz` (200 once recovery is
//! done), `GET /metrics` (Prometheus text), and the shutdown signal the
//! server waits for (SIGTERM or SIGINT).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::error::ApiError;

/// A shared "recovery is done" flag. Starts false; the engine calls
/// [`Readiness::set_ready`] once the store is open and recovery finished.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A flag that is not ready yet.
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Marks the daemon ready: `/readyz` answers 200 from now on.
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Marks the daemon not ready (e.g. while shutting down).
    pub fn set_not_ready(&self) {
        self.0.store(false, Ordering::Release);
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct OpsState {
    readiness: Readiness,
    metrics: PrometheusHandle,
}

/// The three operations routes, with their state applied.
pub fn routes(readiness: Readiness, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(OpsState { readiness, metrics })
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<OpsState>) -> Response {
    if state.readiness.is_ready() {
        axum::Json(json!({ "status": "ready" })).into_response()
    } else {
        ApiError::Unavailable("not ready: recovery in progress".into()).into_response()
    }
}

async fn metrics_text(State(state): State<OpsState>) -> Response {
    let body = crate::metrics::render(&state.metrics);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Resolves when the process receives SIGTERM or SIGINT (Ctrl-C). Give it
/// to [`crate::api::serve`] as its `shutdown`: the server stops accepting,
/// finishes in-flight requests, then returns.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_starts_false_and_is_shared_between_clones() {
        let flag = Readiness::new();
        let seen_by_server = flag.clone();
        assert!(!seen_by_server.is_ready());
        flag.set_ready();
        assert!(seen_by_server.is_ready());
        flag.set_not_ready();
        assert!(!seen_by_server.is_ready());
    }
}
