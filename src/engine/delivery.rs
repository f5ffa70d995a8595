//! From rendered message fields to the gateway's typed messages, and the
//! daemon's side of the gateway: the short-link store (R-P3) and the
//! accept-only outbox sink (the engine writes the outbox line itself, in
//! the same batch as the `sent` outcome).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};
use triggerd_core::Channel;
use triggerd_gateway::{
    ContentCardMessage, Delivered, DispatchError, DispatchMeta, EmailMessage, Gateway,
    InAppMessage, Message, MessageStore, Platform, PushMessage, RetryDecision, ShortenError,
    Shortener, SmsMessage, StoreError, StoredMessage, WebhookMessage,
};

use crate::store::profile::Profile;
use crate::store::records::ShortLink;
use crate::store::{Store, WriteSet, keys};

/// The gateway as the engine uses it.
#[derive(Clone)]
pub struct Delivery {
    gateway: Gateway,
}

/// The outbox sink of the gateway: accepts, the engine records the line.
pub struct AcceptOnly;

#[async_trait]
impl MessageStore for AcceptOnly {
    async fn store(&self, _message: StoredMessage) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Short links kept in the daemon's store, served at `/s/{code}`.
pub struct StoreShortener {
    store: Store,
    public_url: String,
}

impl StoreShortener {
    /// A shortener writing to `store`, links under `public_url`.
    pub fn new(store: Store, public_url: &str) -> StoreShortener {
        StoreShortener {
            store,
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }
}

/// The short code of a link: stable for (send, url), so a retried
/// dispatch gets the same link.
pub fn short_code(send_id: &str, url: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let digest = Sha256::digest(format!("{send_id}\0{url}").as_bytes());
    digest
        .iter()
        .take(10)
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[async_trait]
impl Shortener for StoreShortener {
    async fn shorten(&self, meta: &DispatchMeta, url: &str) -> Result<String, ShortenError> {
        let code = short_code(&meta.send_id, url);
        let mut w = WriteSet::new();
        w.put(
            keys::key(keys::kind::SHORT_LINK, &[&code]),
            &ShortLink {
                url: url.to_string(),
                send_id: meta.send_id.clone(),
            },
        );
        self.store
            .apply(w)
            .map_err(|e| ShortenError(e.to_string()))?;
        Ok(format!("{}/s/{code}", self.public_url))
    }
}

fn field(content: &Value, name: &str) -> String {
    match content.get(name) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn opt_field(content: &Value, name: &str) -> Option<String> {
    Some(field(content, name)).filter(|s| !s.is_empty())
}

impl Delivery {
    /// Wraps a built gateway.
    pub fn new(gateway: Gateway) -> Delivery {
        Delivery { gateway }
    }

    /// The gateway (tracking signer, vias).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The typed message for a channel from rendered fields and the
    /// profile's contact data. Fails when the contact is missing (the
    /// send-time checks normally catch that first).
    pub fn build_message(
        &self,
        channel: Channel,
        content: &Value,
        profile: &Profile,
    ) -> Result<Message, String> {
        Ok(match channel {
            Channel::Email => Message::Email(EmailMessage {
                to: profile
                    .email()
                    .ok_or("the profile has no email address")?
                    .to_string(),
                from: opt_field(content, "from"),
                subject: field(content, "subject"),
                html: field(content, "html"),
                text: opt_field(content, "text"),
                list_unsubscribe: None,
            }),
            Channel::Sms => Message::Sms(SmsMessage {
                to: profile
                    .phone()
                    .ok_or("the profile has no phone number")?
                    .to_string(),
                from: opt_field(content, "from"),
                body: field(content, "body"),
            }),
            Channel::Push => {
                let token = profile
                    .attributes
                    .get("push_tokens")
                    .and_then(Value::as_array)
                    .and_then(|a| a.last())
                    .ok_or("the profile has no push token")?;
                let platform = match token.get("platform").and_then(Value::as_str) {
                    Some("ios") => Platform::Ios,
                    Some("web") => Platform::Web,
                    _ => Platform::Android,
                };
                Message::Push(PushMessage {
                    token: token
                        .get("token")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    platform,
                    title: field(content, "title"),
                    body: field(content, "body"),
                    data: content.get("data").filter(|d| d.is_object()).cloned(),
                })
            }
            Channel::Webhook => {
                let headers = content
                    .get("headers")
                    .and_then(Value::as_object)
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let body = match content.get("body") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                Message::Webhook(WebhookMessage {
                    url: field(content, "url"),
                    method: opt_field(content, "method")
                        .map_or_else(|| "POST".into(), |m| m.to_ascii_uppercase()),
                    headers,
                    body,
                })
            }
            Channel::InApp => Message::InApp(InAppMessage {
                content: content.clone(),
            }),
            Channel::ContentCard => Message::ContentCard(ContentCardMessage {
                content: content.clone(),
            }),
        })
    }

    /// One dispatch attempt (tracking and short links applied first).
    pub async fn deliver(
        &self,
        message: Message,
        meta: &DispatchMeta,
    ) -> Result<Delivered, DispatchError> {
        self.gateway.dispatch(message, meta).await
    }

    /// R-X3: retry or give up.
    pub fn decide_retry(
        &self,
        channel: Channel,
        attempt: u32,
        error: &DispatchError,
        first: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> RetryDecision {
        self.gateway
            .decide_retry(gateway_channel(channel), attempt, error, first, now)
    }
}

/// The gateway's channel enum for ours.
pub fn gateway_channel(c: Channel) -> triggerd_gateway::Channel {
    match c {
        Channel::Email => triggerd_gateway::Channel::Email,
        Channel::Sms => triggerd_gateway::Channel::Sms,
        Channel::Push => triggerd_gateway::Channel::Push,
        Channel::Webhook => triggerd_gateway::Channel::Webhook,
        Channel::InApp => triggerd_gateway::Channel::InApp,
        Channel::ContentCard => triggerd_gateway::Channel::ContentCard,
    }
}

/// Shared handle type for the shortener.
pub type SharedShortener = Arc<StoreShortener>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_p3_short_codes_are_stable_per_send_and_url() {
        let a = short_code("s1", "https://x.example/a");
        assert_eq!(a, short_code("s1", "https://x.example/a"));
        assert_ne!(a, short_code("s2", "https://x.example/a"));
        assert_ne!(a, short_code("s1", "https://x.example/b"));
        assert_eq!(a.len(), 10);
    }
}
