//! `POST /users/track` (Braze REST shape, R-K1, R-K4) with the optional
//! `Idempotency-Key` header: a retried request with the same key is a no-op
//! that returns the first answer.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use triggerd_core::Source;

use super::{AppState, engine_error};
use crate::api::{ApiJson, ApiResult};
use crate::engine::ingest::{TrackSummary, parse_track};
use crate::store::keys;

/// A stored first answer of an idempotent request.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredAnswer {
    /// Status code.
    pub status: u16,
    /// Body.
    pub body: Value,
}

/// The Braze-shaped answer of a track request.
pub fn summary_body(s: &TrackSummary) -> Value {
    json!({
        "message": "success",
        "attributes_processed": s.attributes_processed,
        "events_processed": s.events_processed,
        "purchases_processed": s.purchases_processed,
        "errors": s.errors,
    })
}

/// `POST /users/track`.
pub async fn track(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .map(|k| keys::key(keys::kind::IDEMPOTENCY, &[k]));
    if let Some(key) = &idem
        && let Some(prev) = st
            .engine
            .store
            .get::<StoredAnswer>(key)
            .map_err(|e| engine_error(e.into()))?
    {
        let status = StatusCode::from_u16(prev.status).unwrap_or(StatusCode::CREATED);
        return Ok((status, axum::Json(prev.body)).into_response());
    }
    let now = st.engine.clock.now();
    let batch = parse_track(&body, now, Source::Rest).map_err(engine_error)?;
    let answer = summary_body(&batch.summary);
    let extra = idem.map(|key| {
        (
            key,
            StoredAnswer {
                status: 201,
                body: answer.clone(),
            },
        )
    });
    st.engine
        .ingest_with(batch, now, Source::Rest, extra)
        .await
        .map_err(engine_error)?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}
