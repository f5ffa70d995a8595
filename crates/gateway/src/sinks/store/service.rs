//! The [`Adapter`] in front of a [`MessageStore`]: the outbox takes every
//! channel, the in-app queue only in-app messages, the card feed only cards.

use std::sync::Arc;

use async_trait::async_trait;

use super::{MessageStore, StoredMessage};
use crate::adapter::{Accepted, Adapter, Via, wrong_channel};
use crate::error::DispatchError;
use crate::message::{DispatchMeta, Message};

/// Writes messages through a [`MessageStore`].
#[derive(Clone)]
pub struct StoreAdapter {
    store: Arc<dyn MessageStore>,
    via: Via,
}

impl std::fmt::Debug for StoreAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAdapter")
            .field("via", &self.via)
            .finish()
    }
}

impl StoreAdapter {
    /// The outbox: accepts messages of every channel.
    pub fn outbox(store: Arc<dyn MessageStore>) -> Self {
        StoreAdapter {
            store,
            via: Via::Outbox,
        }
    }

    /// The in-app queue (R-X2): accepts in-app messages.
    pub fn in_app(store: Arc<dyn MessageStore>) -> Self {
        StoreAdapter {
            store,
            via: Via::InApp,
        }
    }

    /// The content-card feed (R-X2): accepts content cards.
    pub fn content_card(store: Arc<dyn MessageStore>) -> Self {
        StoreAdapter {
            store,
            via: Via::ContentCard,
        }
    }

    fn accepts(&self, message: &Message) -> bool {
        match self.via {
            Via::InApp => matches!(message, Message::InApp(_)),
            Via::ContentCard => matches!(message, Message::ContentCard(_)),
            _ => true,
        }
    }
}

#[async_trait]
impl Adapter for StoreAdapter {
    fn via(&self) -> Via {
        self.via
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        if !self.accepts(message) {
            return Err(wrong_channel(self.via, message));
        }
        self.store
            .store(StoredMessage::new(message, meta, self.via))
            .await
            .map_err(|e| DispatchError::Store(e.0))?;
        Ok(Accepted {
            via: self.via,
            provider_message_id: meta.send_id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{InAppMessage, SmsMessage};
    use crate::sinks::store::MemoryStore;

    fn meta(id: &str) -> DispatchMeta {
        DispatchMeta {
            send_id: id.into(),
            campaign_id: "c1".into(),
            external_id: "u1".into(),
            due: chrono::DateTime::UNIX_EPOCH,
            attempt: 1,
        }
    }

    fn sms() -> Message {
        Message::Sms(SmsMessage {
            to: "+1555".into(),
            from: None,
            body: "hi".into(),
        })
    }

    #[tokio::test]
    async fn r_k3_outbox_is_idempotent_per_send_id() {
        let store = MemoryStore::new();
        let outbox = StoreAdapter::outbox(Arc::new(store.clone()));
        let first = outbox.dispatch(&sms(), &meta("s1")).await.expect("stored");
        let again = outbox.dispatch(&sms(), &meta("s1")).await.expect("stored");
        assert_eq!(first, again);
        assert_eq!(first.via, Via::Outbox);
        let stored = store.messages();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].content["body"], "hi");
        assert_eq!(stored[0].via, Via::Outbox);
    }

    #[tokio::test]
    async fn r_x2_in_app_queue_takes_only_in_app_messages() {
        let store = MemoryStore::new();
        let queue = StoreAdapter::in_app(Arc::new(store.clone()));
        assert!(queue.dispatch(&sms(), &meta("s1")).await.is_err());
        let iam = Message::InApp(InAppMessage {
            content: serde_json::json!({"body": "hello"}),
        });
        let ok = queue.dispatch(&iam, &meta("s2")).await.expect("stored");
        assert_eq!(ok.via, Via::InApp);
        assert_eq!(store.messages()[0].content["body"], "hello");
    }
}
