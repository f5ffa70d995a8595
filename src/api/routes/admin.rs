//! Administration routes: users (delete, export), subscription groups,
//! frequency caps (R-F1), the outbox, and the manual test clock.

use axum::extract::State;
use chrono::Datelike;
use serde::Deserialize;
use serde_json::{Value, json};
use triggerd_core::decide::fmt_instant;
use triggerd_core::event::GroupState;
use triggerd_core::freqcap::CapRules;
use triggerd_core::{Channel, Report};

use super::{AppState, engine_error};
use crate::api::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::engine::ingest::parse_time;
use crate::store::keys;
use crate::store::profile::MAX_NAME_BYTES;
use crate::store::records::OutboxRecord;

/// `{"external_ids":[…]}`.
#[derive(Debug, Deserialize)]
pub struct ExternalIds {
    /// The users.
    #[serde(default)]
    pub external_ids: Vec<String>,
}

/// Most users one `/users/delete` or `/subscription/status/set` request
/// may name (ids, emails and phones together).
pub const MAX_USERS_PER_REQUEST: usize = 50_000;

/// `POST /users/delete`.
pub async fn delete_users(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<ExternalIds>,
) -> ApiResult<ApiJson<Value>> {
    if body.external_ids.len() > MAX_USERS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "at most 50,000 external_ids per request",
        ));
    }
    let n = st
        .engine
        .delete_users(&body.external_ids)
        .await
        .map_err(engine_error)?;
    Ok(ApiJson(json!({"deleted": n, "message": "success"})))
}

/// `POST /users/export/ids`.
pub async fn export_users(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<ExternalIds>,
) -> ApiResult<ApiJson<Value>> {
    if body.external_ids.len() > 50 * 1000 {
        return Err(ApiError::bad_request(
            "at most 50,000 external_ids per request",
        ));
    }
    st.engine
        .export_users(&body.external_ids)
        .map(ApiJson)
        .map_err(engine_error)
}

/// `POST /subscription/status/set` body.
#[derive(Debug, Deserialize)]
pub struct SubscriptionSet {
    /// The group.
    pub subscription_group_id: String,
    /// `subscribed` or `unsubscribed`.
    pub subscription_state: GroupState,
    /// Users by id.
    #[serde(default)]
    pub external_id: Vec<String>,
    /// Users by email.
    #[serde(default)]
    pub email: Vec<String>,
    /// Users by phone.
    #[serde(default)]
    pub phone: Vec<String>,
}

/// `POST /subscription/status/set`.
pub async fn set_subscription(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<SubscriptionSet>,
) -> ApiResult<ApiJson<Value>> {
    if b.subscription_group_id.trim().is_empty() {
        return Err(ApiError::bad_request("subscription_group_id is required"));
    }
    if b.subscription_group_id.len() > MAX_NAME_BYTES {
        return Err(ApiError::bad_request(format!(
            "subscription_group_id is at most {MAX_NAME_BYTES} bytes"
        )));
    }
    if b.external_id.len() + b.email.len() + b.phone.len() > MAX_USERS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "at most 50,000 external_id, email and phone entries per request",
        ));
    }
    st.engine
        .set_subscription(
            &b.subscription_group_id,
            b.subscription_state,
            &b.external_id,
            &b.email,
            &b.phone,
        )
        .await
        .map_err(engine_error)?;
    Ok(ApiJson(json!({"message": "success"})))
}

/// `PUT /frequency_caps` (R-F1).
pub async fn put_caps(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<ApiJson<Value>> {
    let caps: CapRules = serde_path_to_error::deserialize(body).map_err(|e| {
        ApiError::unprocessable(
            "invalid frequency caps",
            vec![json!({"path": e.path().to_string(), "message": e.inner().to_string()})],
        )
    })?;
    let mut report = Report::default();
    caps.validate(&mut report);
    if !report.is_valid() {
        return Err(ApiError::unprocessable(
            "invalid frequency caps",
            report
                .errors
                .iter()
                .map(|p| json!({"path": p.path, "message": p.message}))
                .collect(),
        ));
    }
    st.engine
        .set_caps(caps.clone())
        .await
        .map_err(engine_error)?;
    Ok(ApiJson(json!({"rules": caps.rules, "message": "success"})))
}

/// `GET /frequency_caps`.
pub async fn get_caps(State(st): State<AppState>) -> ApiJson<Value> {
    let caps = st.engine.caps.read().clone();
    ApiJson(json!({"rules": caps.rules, "message": "success"}))
}

/// `GET /outbox` query.
#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    /// Only this user.
    pub external_id: Option<String>,
    /// Only this campaign.
    pub campaign_id: Option<String>,
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Cursor: messages after this send.
    pub after: Option<String>,
    /// At most this many (default 1,000, at most 10,000).
    pub limit: Option<usize>,
}

/// `GET /outbox`: every sent message, oldest first.
pub async fn outbox(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<ApiJson<Value>> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let store = &st.engine.store;
    let start = match &q.after {
        None => keys::outbox(0),
        Some(send_id) => {
            let raw = store
                .get_raw(&keys::key(keys::kind::OUTBOX_BY_SEND, &[send_id]))
                .map_err(|e| engine_error(e.into()))?
                .ok_or_else(|| ApiError::bad_request(format!("unknown cursor {send_id:?}")))?;
            let seq = <[u8; 8]>::try_from(raw.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            keys::outbox(seq.saturating_add(1))
        }
    };
    let mut messages = Vec::new();
    for item in store.range_from::<OutboxRecord>(&[keys::kind::OUTBOX], &start) {
        let (_, m) = item.map_err(|e| engine_error(e.into()))?;
        if q.external_id.as_ref().is_some_and(|x| *x != m.external_id)
            || q.campaign_id.as_ref().is_some_and(|c| *c != m.campaign_id)
            || q.channel.is_some_and(|c| c != m.channel)
        {
            continue;
        }
        messages.push(json!({
            "send_id": m.send_id, "campaign_id": m.campaign_id, "external_id": m.external_id,
            "channel": m.channel.as_str(), "via": m.via, "due": fmt_instant(m.due),
            "sent_at": fmt_instant(m.sent_at), "content": m.content,
        }));
        if messages.len() >= limit {
            break;
        }
    }
    Ok(ApiJson(json!({"messages": messages, "message": "success"})))
}

/// `GET /admin/clock` (manual clock only).
pub async fn clock(State(st): State<AppState>) -> ApiResult<ApiJson<Value>> {
    let manual =
        st.engine.clock.manual().ok_or_else(|| {
            ApiError::not_found("the test clock is off (start with --clock manual)")
        })?;
    Ok(ApiJson(
        json!({"now": fmt_instant(manual.now()), "message": "success"}),
    ))
}

/// `POST /admin/clock/advance` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// Seconds to move forward.
    pub seconds: Option<f64>,
    /// Instant to move to.
    pub to: Option<Value>,
}

/// `POST /admin/clock/advance`: answers after every send due up to the new
/// time was processed, each at its own due instant (R-X1).
pub async fn advance(
    State(st): State<AppState>,
    ApiJson(body): ApiJson<Advance>,
) -> ApiResult<ApiJson<Value>> {
    let manual =
        st.engine.clock.manual().ok_or_else(|| {
            ApiError::not_found("the test clock is off (start with --clock manual)")
        })?;
    let target = match (body.seconds, body.to) {
        (Some(s), None) if s >= 0.0 && s.is_finite() => {
            // Float to integer casts saturate; the checked steps refuse what
            // chrono cannot hold, and an instant RFC 3339 cannot write (past
            // the year 9999) would fail every timestamp the daemon prints.
            chrono::Duration::try_milliseconds((s * 1000.0) as i64)
                .and_then(|step| manual.now().checked_add_signed(step))
                .filter(|t| triggerd_core::time::RFC3339_YEARS.contains(&t.year()))
                .ok_or_else(|| {
                    ApiError::bad_request("seconds would move the clock past the year 9999")
                })?
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "seconds must be a non-negative number (the clock cannot go backwards)",
            ));
        }
        (None, Some(to)) => parse_time(Some(&to))
            .map_err(ApiError::bad_request)?
            .ok_or_else(|| ApiError::bad_request("to must be an RFC 3339 instant"))?,
        _ => return Err(ApiError::bad_request("give exactly one of seconds or to")),
    };
    let fired = st.engine.advance_to(target).await.map_err(engine_error)?;
    Ok(ApiJson(
        json!({"now": fmt_instant(manual.now()), "fired": fired, "message": "success"}),
    ))
}
