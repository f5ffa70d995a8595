//! Store adapters: the outbox (the default sink of every channel), the
//! in-app queue and the content-card feed all write a [`StoredMessage`]
//! through the same small [`MessageStore`] trait that the daemon implements
//! on its own storage. [`MemoryStore`] is an in-memory implementation for
//! tests.

mod memory;
mod service;

pub use memory::MemoryStore;
pub use service::StoreAdapter;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapter::Via;
use crate::message::{Channel, DispatchMeta, Message};

/// One delivered message as a store keeps it (API.md `GET /outbox` item,
/// without `sent_at`, which the daemon stamps on its own clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// The send's idempotency key; a second write with the same id must be a
    /// no-op (a crash may repeat a dispatch, R-K3).
    pub send_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The user.
    pub external_id: String,
    /// The channel of the message.
    pub channel: Channel,
    /// `outbox`, `in_app` or `content_card`.
    pub via: Via,
    /// When the send was due.
    pub due: DateTime<Utc>,
    /// The rendered fields ([`Message::content`]).
    pub content: serde_json::Value,
}

impl StoredMessage {
    /// The record of `message` delivered through `via`.
    pub fn new(message: &Message, meta: &DispatchMeta, via: Via) -> Self {
        StoredMessage {
            send_id: meta.send_id.clone(),
            campaign_id: meta.campaign_id.clone(),
            external_id: meta.external_id.clone(),
            channel: message.channel(),
            via,
            due: meta.due,
            content: message.content(),
        }
    }
}

/// The store refused a write; the attempt is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Where the outbox, the in-app queue or the card feed keeps messages.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Durably records `message`. Idempotent per `send_id`.
    async fn store(&self, message: StoredMessage) -> Result<(), StoreError>;
}
