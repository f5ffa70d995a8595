//! APNs over HTTP/2: `POST {base}/3/device/{token}` with `apns-id` derived
//! from the `send_id` (R-K3), `apns-topic`, `apns-push-type: alert` and a
//! bearer token. Every connection is HTTP/2 (prior knowledge on `http://`
//! bases, ALPN `h2` on `https://`).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::PushConfig;
use super::{SEND_ID_KEY, data_object};
use crate::adapter::{Accepted, Adapter, Via, wrong_channel};
use crate::clock::{Clock, SystemClock};
use crate::error::{DispatchError, Error, Result};
use crate::http::{exchange, join};
use crate::message::{DispatchMeta, Message, PushMessage};
use crate::retry::{HttpRetryLogic, RetryAction, RetryLogic, excerpt};

/// The `apns-id` of a send: the `send_id` itself when it is a UUID, else a
/// UUID-shaped id made of the first 128 bits of SHA-256(`send_id`) with the
/// version (8, RFC 9562 custom) and variant bits set. Stable across
/// attempts and restarts.
pub fn apns_id(send_id: &str) -> String {
    if is_uuid(send_id) {
        return send_id.to_ascii_lowercase();
    }
    let digest = Sha256::digest(send_id.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// APNs answers: 410 (`Unregistered`) means the token is gone; the rest as
/// [`HttpRetryLogic`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ApnsRetryLogic;

impl RetryLogic for ApnsRetryLogic {
    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> RetryAction {
        if status == 410 {
            return RetryAction::DontRetry {
                reason: excerpt(body),
                unregistered_token: true,
            };
        }
        HttpRetryLogic.classify(status, headers, body, now)
    }
}

/// Delivers [`Message::Push`] through APNs.
#[derive(Clone)]
pub struct ApnsAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    base_url: String,
    token: String,
    topic: Option<String>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ApnsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsAdapter")
            .field("base_url", &self.inner.base_url)
            .field("topic", &self.inner.topic)
            .finish_non_exhaustive()
    }
}

impl ApnsAdapter {
    /// Builds the adapter with the system clock.
    pub fn new(config: &PushConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds the adapter; `clock` resolves HTTP-date `Retry-After`.
    pub fn with_clock(config: &PushConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        url::Url::parse(config.base_url())
            .map_err(|e| Error::config("channels.push.base_url", e.to_string()))?;
        let client = reqwest::Client::builder()
            .http2_prior_knowledge()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ApnsAdapter {
            inner: Arc::new(Inner {
                client,
                base_url: config.base_url().to_owned(),
                token: config.token.clone(),
                topic: config.topic.clone().filter(|t| !t.is_empty()),
                clock,
            }),
        })
    }
}

/// The APNs payload: `aps.alert` plus the message data at the top level and
/// the `send_id` under `triggerd_send_id`.
fn apns_body(push: &PushMessage, meta: &DispatchMeta) -> Value {
    let mut body = data_object(push.data.as_ref());
    body.insert(
        "aps".to_owned(),
        json!({"alert": {"title": push.title, "body": push.body}}),
    );
    body.insert(SEND_ID_KEY.to_owned(), Value::String(meta.send_id.clone()));
    Value::Object(body)
}

#[async_trait]
impl Adapter for ApnsAdapter {
    fn via(&self) -> Via {
        Via::Apns
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        let Message::Push(push) = message else {
            return Err(wrong_channel(Via::Apns, message));
        };
        if push.token.is_empty() || !push.token.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(DispatchError::InvalidMessage(format!(
                "APNs device token `{}` is not hexadecimal",
                push.token
            )));
        }
        let inner = &self.inner;
        let id = apns_id(&meta.send_id);
        let mut request = inner
            .client
            .post(join(&inner.base_url, &format!("3/device/{}", push.token)))
            .bearer_auth(&inner.token)
            .header("apns-id", &id)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .json(&apns_body(push, meta));
        if let Some(topic) = &inner.topic {
            request = request.header("apns-topic", topic);
        }
        let answer = exchange(request, &ApnsRetryLogic, || inner.clock.now()).await?;
        let provider_id = answer
            .headers
            .get("apns-id")
            .and_then(|v| v.to_str().ok())
            .map_or(id, str::to_owned);
        Ok(Accepted {
            via: Via::Apns,
            provider_message_id: provider_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_k3_apns_id_is_a_stable_uuid() {
        let id = apns_id("snd_01");
        assert_eq!(id, apns_id("snd_01"));
        assert_ne!(id, apns_id("snd_02"));
        assert!(is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "8", "version nibble");
        assert!("89ab".contains(&id[19..20]), "variant bits");
        let uuid = "123E4567-E89B-12D3-A456-426614174000";
        assert_eq!(apns_id(uuid), uuid.to_ascii_lowercase());
    }

    #[test]
    fn gone_token_is_flagged() {
        let now = DateTime::UNIX_EPOCH;
        let a =
            ApnsRetryLogic.classify(410, &HeaderMap::new(), br#"{"reason":"Unregistered"}"#, now);
        assert!(matches!(
            a,
            RetryAction::DontRetry {
                unregistered_token: true,
                ..
            }
        ));
        let a = ApnsRetryLogic.classify(
            400,
            &HeaderMap::new(),
            br#"{"reason":"BadDeviceToken"}"#,
            now,
        );
        assert!(matches!(
            a,
            RetryAction::DontRetry {
                unregistered_token: false,
                ..
            }
        ));
        let a = ApnsRetryLogic.classify(429, &HeaderMap::new(), b"", now);
        assert!(matches!(a, RetryAction::Retry { .. }));
    }
}
