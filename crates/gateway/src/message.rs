//! What the daemon hands to the gateway after rendering: one [`Message`] per
//! channel, already personalised, plus the [`DispatchMeta`] of the send.
//!
//! Every message carries its own recipient (address, phone number, push
//! token or URL), so an adapter needs nothing else to make one attempt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The channel a campaign delivers on (API.md `channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An email through SMTP (or the outbox).
    Email,
    /// A text message through a Twilio-compatible API (or the outbox).
    Sms,
    /// A push notification through FCM or APNs (or the outbox).
    Push,
    /// An HTTP request to the campaign's URL.
    Webhook,
    /// A message waiting in the user's in-app queue (R-X2).
    InApp,
    /// A card in the user's content-card feed (R-X2).
    ContentCard,
}

impl Channel {
    /// The API name of the channel (`email`, `sms`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
            Channel::InApp => "in_app",
            Channel::ContentCard => "content_card",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The send this dispatch belongs to. `send_id` is the idempotency key every
/// adapter passes to its provider (R-K3); `attempt` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchMeta {
    /// Stable id of the send; the same on every attempt and after a restart.
    pub send_id: String,
    /// The campaign that planned the send.
    pub campaign_id: String,
    /// The user the send is for.
    pub external_id: String,
    /// The instant the send was due (sent as `X-Triggerd-Due` on webhooks).
    pub due: DateTime<Utc>,
    /// Which attempt this is, 1 for the first try.
    pub attempt: u32,
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    /// Recipient address (`a@example.com` or `Name <a@example.com>`).
    pub to: String,
    /// Sender; `None` uses the `from` of `[channels.email]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text body; `None` derives one from the HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Unsubscribe URL for the `List-Unsubscribe` header; the gateway fills it
    /// with a signed `/t/u/{token}` link when tracking is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_unsubscribe: Option<String>,
}

/// A rendered text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsMessage {
    /// Recipient phone number (E.164, or `whatsapp:+…`).
    pub to: String,
    /// Sender; `None` uses the `from` of `[channels.sms]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Text; URLs in it are replaced by short links before dispatch (R-P3).
    pub body: String,
}

/// The platform of a push token (API.md `push_tokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Apple devices.
    Ios,
    /// Android devices.
    Android,
    /// Web push.
    Web,
}

/// A rendered push notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushMessage {
    /// The device token.
    pub token: String,
    /// The token's platform.
    pub platform: Platform,
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Extra key/value data for the app (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A rendered webhook request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookMessage {
    /// Target URL.
    pub url: String,
    /// HTTP method; empty means `POST`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body.
    #[serde(default)]
    pub body: String,
}

fn default_method() -> String {
    "POST".to_owned()
}

/// A rendered in-app message (its content is the daemon's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InAppMessage {
    /// Rendered fields (`body`, `buttons`, …).
    pub content: Value,
}

/// A rendered content card (its content is the daemon's JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentCardMessage {
    /// Rendered fields (`title`, `body`, `url`, …).
    pub content: Value,
}

/// A rendered message of any channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Message {
    /// See [`EmailMessage`].
    Email(EmailMessage),
    /// See [`SmsMessage`].
    Sms(SmsMessage),
    /// See [`PushMessage`].
    Push(PushMessage),
    /// See [`WebhookMessage`].
    Webhook(WebhookMessage),
    /// See [`InAppMessage`].
    InApp(InAppMessage),
    /// See [`ContentCardMessage`].
    ContentCard(ContentCardMessage),
}

impl Message {
    /// The channel this message belongs to.
    pub fn channel(&self) -> Channel {
        match self {
            Message::Email(_) => Channel::Email,
            Message::Sms(_) => Channel::Sms,
            Message::Push(_) => Channel::Push,
            Message::Webhook(_) => Channel::Webhook,
            Message::InApp(_) => Channel::InApp,
            Message::ContentCard(_) => Channel::ContentCard,
        }
    }

    /// The rendered fields as the JSON object the outbox lists under
    /// `content` (API.md `GET /outbox`).
    pub fn content(&self) -> Value {
        match self {
            Message::Email(m) => json!({
                "to": m.to, "from": m.from, "subject": m.subject, "html": m.html,
                "text": m.text, "list_unsubscribe": m.list_unsubscribe,
            }),
            Message::Sms(m) => json!({"to": m.to, "from": m.from, "body": m.body}),
            Message::Push(m) => json!({
                "token": m.token, "platform": m.platform, "title": m.title,
                "body": m.body, "data": m.data,
            }),
            Message::Webhook(m) => {
                let headers: serde_json::Map<String, Value> = m
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({"url": m.url, "method": m.method, "headers": headers, "body": m.body})
            }
            Message::InApp(m) => m.content.clone(),
            Message::ContentCard(m) => m.content.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_serde_is_tagged_by_channel() {
        let m = Message::Sms(SmsMessage {
            to: "+15550001".into(),
            from: None,
            body: "hi".into(),
        });
        let v = serde_json::to_value(&m).expect("serialise");
        assert_eq!(v["channel"], "sms");
        let back: Message = serde_json::from_value(v).expect("deserialise");
        assert_eq!(back, m);
        assert_eq!(back.channel(), Channel::Sms);
    }

    #[test]
    fn webhook_method_defaults_to_post() {
        let m: WebhookMessage = serde_json::from_str(r#"{"url":"http://x"}"#).expect("deserialise");
        assert_eq!(m.method, "POST");
        assert!(m.headers.is_empty());
    }

    #[test]
    fn webhook_content_lists_headers_as_object() {
        let m = Message::Webhook(WebhookMessage {
            url: "http://x".into(),
            method: "PUT".into(),
            headers: vec![("X-A".into(), "1".into())],
            body: "{}".into(),
        });
        assert_eq!(m.content()["headers"]["X-A"], "1");
        assert_eq!(m.content()["method"], "PUT");
    }
}
