//! SDK routes (API.md "SDK", source `sdk`): sessions delivering waiting
//! in-app messages (R-X2), track, interactions (R-P4), location (R-P6) and
//! the content-card feed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use triggerd_core::Source;
use triggerd_core::event::Interaction;

use super::ingest::summary_body;
use super::{AppState, engine_error};
use crate::api::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::engine::ingest::{checked_time, parse_track};
use crate::store::keys;

fn user(id: &str) -> ApiResult<()> {
    if keys::valid_id(id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "external_id must be 1–512 bytes without NUL",
        ))
    }
}

/// `POST /sdk/v1/sessions` body.
#[derive(Debug, Deserialize)]
pub struct Session {
    /// The user.
    pub external_id: String,
    /// When the session started (default now).
    pub time: Option<Value>,
}

/// `POST /sdk/v1/sessions`.
pub async fn sessions(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<Session>,
) -> ApiResult<ApiJson<Value>> {
    user(&b.external_id)?;
    let time =
        checked_time(b.time.as_ref(), st.engine.clock.now()).map_err(ApiError::bad_request)?;
    st.engine
        .session_start(&b.external_id, time)
        .await
        .map(ApiJson)
        .map_err(engine_error)
}

/// `POST /sdk/v1/track`: `/users/track` items for one user, source `sdk`.
pub async fn track(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    let id = body
        .get("external_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("external_id is required"))?
        .to_string();
    user(&id)?;
    let with_id = |v: &Value| -> Value {
        let mut m = v.as_object().cloned().unwrap_or_default();
        m.insert("external_id".into(), Value::String(id.clone()));
        Value::Object(m)
    };
    let list = |name: &str| -> ApiResult<Vec<Value>> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.iter().map(with_id).collect()),
            Some(_) => Err(ApiError::bad_request(format!("{name} must be an array"))),
        }
    };
    let attributes = match body.get("attributes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) if m.is_empty() => Vec::new(),
        Some(v @ Value::Object(_)) => vec![with_id(v)],
        Some(_) => return Err(ApiError::bad_request("attributes must be an object")),
    };
    let mut track = Map::new();
    track.insert("attributes".into(), Value::Array(attributes));
    track.insert("events".into(), Value::Array(list("events")?));
    track.insert("purchases".into(), Value::Array(list("purchases")?));
    let now = st.engine.clock.now();
    let batch = parse_track(&Value::Object(track), now, Source::Sdk).map_err(engine_error)?;
    let answer = summary_body(&batch.summary);
    st.engine
        .ingest(batch, now, Source::Sdk)
        .await
        .map_err(engine_error)?;
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

/// `POST /sdk/v1/interactions` body.
#[derive(Debug, Deserialize)]
pub struct InteractionBody {
    /// The user.
    pub external_id: String,
    /// The send interacted with.
    pub send_id: String,
    /// `iam_view`, `iam_click`, `push_open`, `content_card_click`, …
    #[serde(rename = "type")]
    pub kind: Interaction,
    /// Button, for button clicks.
    pub button_id: Option<String>,
}

/// `POST /sdk/v1/interactions`.
pub async fn interactions(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<InteractionBody>,
) -> ApiResult<ApiJson<Value>> {
    user(&b.external_id)?;
    st.engine
        .interaction(&b.external_id, &b.send_id, b.kind, b.button_id)
        .await
        .map_err(engine_error)?;
    Ok(ApiJson(json!({"message": "success"})))
}

/// `POST /sdk/v1/location` body.
#[derive(Debug, Deserialize)]
pub struct LocationBody {
    /// The user.
    pub external_id: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// When (default now).
    pub time: Option<Value>,
}

/// `POST /sdk/v1/location`.
pub async fn location(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<LocationBody>,
) -> ApiResult<ApiJson<Value>> {
    user(&b.external_id)?;
    if !(-90.0..=90.0).contains(&b.lat) || !(-180.0..=180.0).contains(&b.lon) {
        return Err(ApiError::bad_request(
            "lat must be in [-90, 90] and lon in [-180, 180]",
        ));
    }
    let time =
        checked_time(b.time.as_ref(), st.engine.clock.now()).map_err(ApiError::bad_request)?;
    st.engine
        .location(&b.external_id, b.lat, b.lon, time)
        .await
        .map_err(engine_error)?;
    Ok(ApiJson(json!({"message": "success"})))
}

/// `GET /sdk/v1/content_cards` query.
#[derive(Debug, Deserialize)]
pub struct CardsQuery {
    /// The user.
    pub external_id: String,
}

/// `GET /sdk/v1/content_cards`.
pub async fn content_cards(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<CardsQuery>,
) -> ApiResult<ApiJson<Value>> {
    user(&q.external_id)?;
    st.engine
        .content_cards(&q.external_id)
        .map(ApiJson)
        .map_err(engine_error)
}
