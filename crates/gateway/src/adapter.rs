//! The one trait every channel adapter implements, and what an accepted
//! attempt returns.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::DispatchError;
use crate::message::{DispatchMeta, Message};

/// Where a message went; the daemon records it as `via` in the outbox
/// (API.md `GET /outbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The built-in outbox (no provider configured for the channel).
    Outbox,
    /// An SMTP server.
    Smtp,
    /// The campaign's webhook URL.
    Webhook,
    /// A Twilio-compatible SMS API.
    Twilio,
    /// Firebase Cloud Messaging HTTP v1.
    Fcm,
    /// Apple Push Notification service.
    Apns,
    /// The user's in-app queue.
    InApp,
    /// The user's content-card feed.
    ContentCard,
}

impl Via {
    /// The name recorded in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Outbox => "outbox",
            Via::Smtp => "smtp",
            Via::Webhook => "webhook",
            Via::Twilio => "twilio",
            Via::Fcm => "fcm",
            Via::Apns => "apns",
            Via::InApp => "in_app",
            Via::ContentCard => "content_card",
        }
    }
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider took the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// The adapter that delivered it.
    pub via: Via,
    /// The provider's id for the message (Twilio `sid`, FCM `name`, APNs
    /// `apns-id`, the email `Message-ID`; the `send_id` where the provider
    /// has none).
    pub provider_message_id: String,
}

/// One channel adapter. One call is one attempt: no retry, no sleep inside.
/// The message carries its recipient; `meta.send_id` is the idempotency key
/// passed to the provider (R-K3).
#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// The adapter's name in the outbox.
    fn via(&self) -> Via;

    /// Makes one delivery attempt.
    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError>;
}

/// The error an adapter returns when handed another channel's message.
pub(crate) fn wrong_channel(via: Via, message: &Message) -> DispatchError {
    DispatchError::InvalidMessage(format!(
        "the {via} adapter cannot deliver {} messages",
        message.channel()
    ))
}
