//! FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with a
//! bearer token. FCM has no idempotency key; the `send_id` rides in the
//! message data as `triggerd_send_id` (R-K3).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};

use super::config::PushConfig;
use super::{SEND_ID_KEY, data_object};
use crate::adapter::{Accepted, Adapter, Via, wrong_channel};
use crate::clock::{Clock, SystemClock};
use crate::error::{DispatchError, Error, Result};
use crate::http::{exchange, join};
use crate::message::{DispatchMeta, Message, PushMessage};
use crate::retry::excerpt;
use crate::retry::{HttpRetryLogic, RetryAction, RetryLogic};

/// FCM answers: 404 or an `UNREGISTERED` error code means the token is
/// gone; the rest as [`HttpRetryLogic`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FcmRetryLogic;

impl RetryLogic for FcmRetryLogic {
    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> RetryAction {
        if !(200..300).contains(&status) && (status == 404 || has_unregistered_code(body)) {
            return RetryAction::DontRetry {
                reason: excerpt(body),
                unregistered_token: true,
            };
        }
        HttpRetryLogic.classify(status, headers, body, now)
    }
}

fn has_unregistered_code(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    value["error"]["details"].as_array().is_some_and(|details| {
        details
            .iter()
            .any(|d| d["errorCode"].as_str() == Some("UNREGISTERED"))
    })
}

/// Delivers [`Message::Push`] through FCM.
#[derive(Clone)]
pub struct FcmAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    endpoint: String,
    token: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for FcmAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FcmAdapter")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl FcmAdapter {
    /// Builds the adapter with the system clock.
    pub fn new(config: &PushConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds the adapter; `clock` resolves HTTP-date `Retry-After`.
    pub fn with_clock(config: &PushConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let project = config
            .project_id
            .as_deref()
            .filter(|p| !p.is_empty() && !p.contains(['/', '?', '#']))
            .ok_or_else(|| Error::config("channels.push.project_id", "required for fcm"))?;
        url::Url::parse(config.base_url())
            .map_err(|e| Error::config("channels.push.base_url", e.to_string()))?;
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(FcmAdapter {
            inner: Arc::new(Inner {
                client,
                endpoint: join(
                    config.base_url(),
                    &format!("v1/projects/{project}/messages:send"),
                ),
                token: config.token.clone(),
                clock,
            }),
        })
    }
}

/// The FCM v1 request body. Data values must be strings: non-strings are
/// sent as their JSON text.
fn fcm_body(push: &PushMessage, meta: &DispatchMeta) -> Value {
    let mut data: serde_json::Map<String, Value> = data_object(push.data.as_ref())
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect();
    data.insert(SEND_ID_KEY.to_owned(), Value::String(meta.send_id.clone()));
    json!({
        "message": {
            "token": push.token,
            "notification": {"title": push.title, "body": push.body},
            "data": data,
        }
    })
}

#[async_trait]
impl Adapter for FcmAdapter {
    fn via(&self) -> Via {
        Via::Fcm
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        let Message::Push(push) = message else {
            return Err(wrong_channel(Via::Fcm, message));
        };
        let inner = &self.inner;
        let request = inner
            .client
            .post(&inner.endpoint)
            .bearer_auth(&inner.token)
            .json(&fcm_body(push, meta));
        let answer = exchange(request, &FcmRetryLogic, || inner.clock.now()).await?;
        let name = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| meta.send_id.clone());
        Ok(Accepted {
            via: Via::Fcm,
            provider_message_id: name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Platform;

    fn now() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    #[test]
    fn r_k3_body_carries_send_id_and_string_data() {
        let push = PushMessage {
            token: "tok".into(),
            platform: Platform::Android,
            title: "T".into(),
            body: "B".into(),
            data: Some(json!({"n": 3, "s": "x", "aps": {"x": 1}})),
        };
        let meta = DispatchMeta {
            send_id: "snd".into(),
            campaign_id: "c".into(),
            external_id: "u".into(),
            due: DateTime::UNIX_EPOCH,
            attempt: 1,
        };
        let body = fcm_body(&push, &meta);
        assert_eq!(body["message"]["token"], "tok");
        assert_eq!(body["message"]["data"]["n"], "3");
        assert_eq!(body["message"]["data"]["s"], "x");
        assert_eq!(body["message"]["data"][SEND_ID_KEY], "snd");
        assert!(body["message"]["data"].get("aps").is_none());
    }

    #[test]
    fn unregistered_answers_are_flagged() {
        let unregistered = br#"{"error":{"code":404,"status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;
        let action = FcmRetryLogic.classify(400, &HeaderMap::new(), unregistered, now());
        assert!(matches!(
            action,
            RetryAction::DontRetry {
                unregistered_token: true,
                ..
            }
        ));
        let action = FcmRetryLogic.classify(404, &HeaderMap::new(), b"", now());
        assert!(matches!(
            action,
            RetryAction::DontRetry {
                unregistered_token: true,
                ..
            }
        ));
        let action = FcmRetryLogic.classify(400, &HeaderMap::new(), b"{}", now());
        assert!(matches!(
            action,
            RetryAction::DontRetry {
                unregistered_token: false,
                ..
            }
        ));
        let action = FcmRetryLogic.classify(503, &HeaderMap::new(), b"", now());
        assert!(matches!(action, RetryAction::Retry { .. }));
    }
}
