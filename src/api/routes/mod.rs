//! The engine's HTTP routes (API.md), grouped by area. Every handler takes
//! its body as [`ApiJson`](crate::api::ApiJson) and answers JSON; engine
//! errors map to API errors in one place ([`engine_error`]).

pub mod admin;
pub mod campaigns;
pub mod ingest;
pub mod sdk;
pub mod tracking;

use axum::Router;
use axum::routing::{get, post, put};

use crate::api::ApiError;
use crate::engine::{Engine, EngineError};

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// Twilio auth token for `X-Twilio-Signature` on `/inbound/sms`, when configured.
    pub twilio_auth_token: Option<String>,
    /// Public base URL (the URL Twilio signs is built from it).
    pub public_url: String,
}

/// Maps an engine error to its HTTP answer.
pub fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
        EngineError::Invalid(msg) => ApiError::bad_request(msg),
        EngineError::Conflict(msg) => ApiError::Conflict(msg),
        EngineError::Store(err) => {
            tracing::error!(error = %err, "storage failed; answering 503");
            ApiError::Unavailable(format!("storage unavailable: {err}"))
        }
        EngineError::Timers(err) => {
            tracing::error!(error = %err, "timer store failed; answering 503");
            ApiError::Unavailable(format!("storage unavailable: {err}"))
        }
    }
}

/// Every engine route, with its state applied.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/users/track", post(ingest::track))
        .route("/users/delete", post(admin::delete_users))
        .route("/users/export/ids", post(admin::export_users))
        .route("/subscription/status/set", post(admin::set_subscription))
        .route("/campaigns", get(campaigns::list))
        .route(
            "/campaigns/{id}",
            put(campaigns::put)
                .get(campaigns::get)
                .delete(campaigns::delete),
        )
        .route("/campaigns/{id}/launch", post(campaigns::launch))
        .route("/campaigns/{id}/stop", post(campaigns::stop))
        .route("/campaigns/{id}/stats", get(campaigns::stats))
        .route("/campaigns/{id}/preview", post(campaigns::preview))
        .route(
            "/campaigns/{id}/users/{external_id}/explain",
            get(campaigns::explain),
        )
        .route("/frequency_caps", put(admin::put_caps).get(admin::get_caps))
        .route("/outbox", get(admin::outbox))
        .route("/admin/clock", get(admin::clock))
        .route("/admin/clock/advance", post(admin::advance))
        .route("/sdk/v1/sessions", post(sdk::sessions))
        .route("/sdk/v1/track", post(sdk::track))
        .route("/sdk/v1/interactions", post(sdk::interactions))
        .route("/sdk/v1/location", post(sdk::location))
        .route("/sdk/v1/content_cards", get(sdk::content_cards))
        .route("/geofences/{id}", put(tracking::put_geofence))
        .route("/t/o/{token}", get(tracking::open))
        .route("/t/c/{token}", get(tracking::click))
        .route(
            "/t/u/{token}",
            get(tracking::unsubscribe_page).post(tracking::unsubscribe),
        )
        .route("/s/{code}", get(tracking::short_link))
        .route("/inbound/sms", post(tracking::inbound_sms))
        .with_state(state)
}
