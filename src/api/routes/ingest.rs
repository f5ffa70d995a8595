//! `POST /users/track` (Braze REST shape, R-K1, R-K4) with the optional
//! `Idempotency-Key` header: a retried request with the same key is a no-op
//! that returns the first answer, for
//! [`IDEMPOTENCY_RETENTION`](crate::engine::IDEMPOTENCY_RETENTION) (the
//! engine's upkeep drops older answers).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use triggerd_core::Source;

use super::{AppState, engine_error};
use crate::api::{ApiError, ApiJson, ApiResult};
use crate::engine::ingest::{Ingested, TrackSummary, parse_track};
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

/// Longest `Idempotency-Key` accepted, in bytes.
const MAX_IDEMPOTENCY_KEY: usize = 256;

/// The request's `Idempotency-Key`, if any. A key that cannot be honoured
/// (empty, longer than [`MAX_IDEMPOTENCY_KEY`], not visible ASCII) is a 400
/// rather than ignored: ignoring it would apply a retry twice.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Ok(Some(k)),
        _ => Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))),
    }
}

/// `POST /users/track`.
pub async fn track(
    State(st): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let idem = idempotency_key(&headers)?.map(|k| keys::key(keys::kind::IDEMPOTENCY, &[k]));
    // Fast path for a retry of a request already applied; the engine checks
    // again under the request's locks (a retry racing its first attempt).
    if let Some(key) = &idem
        && let Some(prev) = st
            .engine
            .store
            .get::<StoredAnswer>(key)
            .map_err(|e| engine_error(e.into()))?
    {
        return replay(&st, prev).await;
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
    match st
        .engine
        .ingest_with(batch, now, Source::Rest, extra)
        .await
        .map_err(engine_error)?
    {
        Ingested::Applied(_) => Ok((StatusCode::CREATED, axum::Json(answer)).into_response()),
        Ingested::Replayed(bytes) => {
            let prev = crate::store::codec::decode::<StoredAnswer>(&bytes).map_err(|e| {
                engine_error(crate::engine::EngineError::Conflict(format!(
                    "the stored answer of this Idempotency-Key is unreadable: {e}"
                )))
            })?;
            replay(&st, prev).await
        }
    }
}

/// The stored first answer of an idempotent request, once it is durable.
///
/// The stored answer is visible as soon as its batch is applied, before
/// the flush that makes it durable: a retry can read it while the first
/// attempt still waits for that flush, or after the flush failed (disk
/// full: sled keeps the unflushed batch in memory until the daemon
/// restarts, and a restart loses it). Replaying then would acknowledge
/// something a crash can lose, so the replay waits for a flush of its own
/// (shared with concurrent requests) and answers 503 when that fails
/// (R-K1; found by the drill's disk-full step).
async fn replay(st: &AppState, prev: StoredAnswer) -> ApiResult<Response> {
    st.engine.commit_point().await.map_err(engine_error)?;
    let status = StatusCode::from_u16(prev.status).unwrap_or(StatusCode::CREATED);
    Ok((status, axum::Json(prev.body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn r_k1_a_replayed_answer_is_flushed_before_it_is_sent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let start = crate::engine::test_support::start();
        let engine = crate::engine::test_support::engine(dir.path(), start).await;
        let st = AppState {
            engine: engine.clone(),
            twilio_auth_token: None,
            public_url: "http://127.0.0.1:8080".into(),
        };
        let before = engine.store.group().flush_count();
        let answer = StoredAnswer {
            status: 201,
            body: serde_json::json!({"message": "success"}),
        };
        let response = replay(&st, answer).await.expect("replays");
        assert_eq!(response.status(), StatusCode::CREATED);
        assert!(
            engine.store.group().flush_count() > before,
            "the replay waited for a flush of its own"
        );
    }
}
