//! The HTTP shell: everything around the route handlers.
//!
//! [`Shell::wrap`] takes a router of handlers (ingest, campaigns, SDK,
//! tracking, outbox, admin — any state already applied with
//! `Router::with_state`) and returns the complete app:
//!
//! - the operations routes `/healthz`, `/readyz`, `/metrics` ([`ops`]);
//! - JSON 404 for unknown routes and JSON 405 for wrong methods;
//! - authentication, storing an [`auth::Caller`] in the request extensions;
//! - the body limit (4 MiB → 413), the optional per-key rate limit and the
//!   overload guard (429 with `X-RateLimit-Reset`) ([`limits`]);
//! - `triggerd_http_requests_total{route,status}` by route template;
//! - a safety net turning any non-JSON error answer into JSON ([`error`]).
//!
//! Handlers should take their body as [`ApiJson`] and return
//! [`ApiResult`], so their own errors have the same shape.

pub mod auth;
pub mod error;
pub mod limits;
pub mod ops;
pub mod routes;
pub mod server;

pub use server::serve;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

pub use auth::Caller;
pub use error::{ApiError, ApiJson, ApiQuery, ApiResult};
pub use ops::Readiness;

use crate::config::Settings;
use crate::metrics::MetricsError;

/// What the shell needs to know; built from [`Settings`] or by hand in tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellConfig {
    /// Accepted API keys (`Authorization: Bearer`).
    pub api_keys: Vec<String>,
    /// Accepted SDK keys (`X-Sdk-Key`).
    pub sdk_keys: Vec<String>,
    /// Requests per second per key; 0 = no limit.
    pub rate_limit: u32,
    /// Requests processed at once before answering 429.
    pub max_in_flight: usize,
}

impl ShellConfig {
    /// The shell configuration of resolved settings.
    pub fn from_settings(settings: &Settings) -> ShellConfig {
        ShellConfig {
            api_keys: settings.api_keys.clone(),
            sdk_keys: settings.sdk_keys.clone(),
            rate_limit: settings.rate_limit,
            max_in_flight: limits::DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// The shared pieces of the HTTP shell. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shell {
    keys: Arc<auth::KeyRing>,
    limiter: Option<Arc<limits::RateLimiter>>,
    overload: limits::OverloadGuard,
    readiness: Readiness,
    metrics: PrometheusHandle,
}

impl Shell {
    /// Builds the shell; installs the process-wide metrics recorder on first use.
    pub fn new(config: &ShellConfig) -> Result<Shell, MetricsError> {
        Ok(Shell {
            keys: Arc::new(auth::KeyRing::new(&config.api_keys, &config.sdk_keys)),
            limiter: limits::RateLimiter::new(config.rate_limit).map(Arc::new),
            overload: limits::OverloadGuard::new(config.max_in_flight),
            readiness: Readiness::new(),
            metrics: crate::metrics::install()?,
        })
    }

    /// The flag behind `/readyz`; call `set_ready()` once recovery is done.
    pub fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// The Prometheus handle (for upkeep, see [`crate::metrics::spawn_upkeep`]).
    pub fn metrics_handle(&self) -> PrometheusHandle {
        self.metrics.clone()
    }

    /// The complete app around `routes`. `routes` must have no fallback of
    /// its own and must not define `/healthz`, `/readyz` or `/metrics`.
    pub fn wrap(&self, routes: Router) -> Router {
        let app = routes
            .merge(ops::routes(self.readiness.clone(), self.metrics.clone()))
            .fallback(error::not_found)
            .method_not_allowed_fallback(error::method_not_allowed);
        // Outermost first.
        let layers = ServiceBuilder::new()
            .layer(middleware::from_fn(error::json_error_safety_net))
            .layer(middleware::from_fn(count_http_request))
            .layer(TraceLayer::new_for_http())
            .layer(middleware::from_fn_with_state(
                self.overload.clone(),
                limits::shed_overload,
            ))
            .layer(middleware::from_fn_with_state(
                self.keys.clone(),
                auth::require_key,
            ))
            .option_layer(
                self.limiter
                    .clone()
                    .map(|limiter| middleware::from_fn_with_state(limiter, limits::rate_limit)),
            )
            .layer(middleware::from_fn(limits::reject_oversized_body))
            .layer(DefaultBodyLimit::disable())
            .layer(RequestBodyLimitLayer::new(limits::BODY_LIMIT_BYTES));
        app.layer(layers)
    }
}

/// Route label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Middleware: counts the answer under its route template.
async fn count_http_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string());
    let response = next.run(req).await;
    crate::metrics::record_http_request(
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        response.status().as_u16(),
    );
    response
}
