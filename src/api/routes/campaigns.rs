//! Campaign routes (API.md "Campaigns"): define, launch, stop, delete,
//! read, list, stats, explain (R-Y1) and preview (R-Y3).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use triggerd_core::decide::fmt_instant;

use super::{AppState, engine_error};
use crate::api::{ApiError, ApiJson, ApiResult};
use crate::engine::campaigns::PutError;

/// `PUT /campaigns/{id}`: 201 new, 200 replaced, 422 with every problem.
pub async fn put(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    // Validation parses every template: seconds for megabytes of Liquid,
    // which must not hold a runtime worker (and every request behind it).
    let engine = st.engine.clone();
    let campaign_id = id.clone();
    let put = tokio::task::spawn_blocking(move || engine.put_campaign(&campaign_id, &body))
        .await
        .map_err(|e| ApiError::Internal(format!("campaign validation failed: {e}")))?;
    match put {
        Ok(out) => {
            st.engine.flush_now().await.map_err(engine_error)?;
            let code = if out.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                code,
                axum::Json(json!({
                    "id": id,
                    "status": out.status.as_str(),
                    "warnings": out.warnings.warnings,
                    "message": "success",
                })),
            )
                .into_response())
        }
        Err(PutError::Invalid(report)) => Err(ApiError::unprocessable(
            "invalid campaign",
            report
                .errors
                .iter()
                .map(|p| json!({"path": p.path, "message": p.message}))
                .collect(),
        )),
        Err(PutError::Engine(e)) => Err(engine_error(e)),
    }
}

/// `GET /campaigns/{id}`.
pub async fn get(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<ApiJson<Value>> {
    st.engine
        .campaign_json(&id)
        .map(ApiJson)
        .map_err(engine_error)
}

/// `GET /campaigns`.
pub async fn list(State(st): State<AppState>) -> ApiResult<ApiJson<Value>> {
    let mut v = st.engine.campaigns_json().map_err(engine_error)?;
    if let Value::Object(m) = &mut v {
        m.insert("message".into(), "success".into());
    }
    Ok(ApiJson(v))
}

/// `DELETE /campaigns/{id}`.
pub async fn delete(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Value>> {
    st.engine.delete_campaign(&id).await.map_err(engine_error)?;
    Ok(ApiJson(
        json!({"id": id, "deleted": true, "message": "success"}),
    ))
}

/// `POST /campaigns/{id}/launch`.
pub async fn launch(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Value>> {
    let (status, at) = st.engine.launch_campaign(&id).await.map_err(engine_error)?;
    Ok(ApiJson(
        json!({"id": id, "status": status.as_str(), "launched_at": fmt_instant(at), "message": "success"}),
    ))
}

/// `POST /campaigns/{id}/stop`.
pub async fn stop(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<ApiJson<Value>> {
    let status = st.engine.stop_campaign(&id).await.map_err(engine_error)?;
    Ok(ApiJson(
        json!({"id": id, "status": status.as_str(), "message": "success"}),
    ))
}

/// `GET /campaigns/{id}/stats`.
pub async fn stats(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Value>> {
    let mut v = st.engine.campaign_stats(&id).map_err(engine_error)?;
    if let Value::Object(m) = &mut v {
        m.insert("message".into(), "success".into());
    }
    Ok(ApiJson(v))
}

/// `GET /campaigns/{id}/users/{external_id}/explain`.
pub async fn explain(
    State(st): State<AppState>,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<ApiJson<Value>> {
    let mut v = st.engine.explain(&id, &user).map_err(engine_error)?;
    if let Value::Object(m) = &mut v {
        m.insert("message".into(), "success".into());
    }
    Ok(ApiJson(v))
}

/// `POST /campaigns/{id}/preview`.
pub async fn preview(
    State(st): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<ApiJson<Value>> {
    let mut v = st.engine.preview(&id, &body).map_err(engine_error)?;
    if let Value::Object(m) = &mut v {
        m.insert("message".into(), "success".into());
    }
    Ok(ApiJson(v))
}
