//! An in-memory [`MessageStore`] for tests, idempotent per `send_id`.

use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;

use super::{MessageStore, StoreError, StoredMessage};

/// Keeps stored messages in insertion order; a repeated `send_id` is ignored.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    messages: Arc<Mutex<Vec<StoredMessage>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything stored so far, oldest first.
    pub fn messages(&self) -> Vec<StoredMessage> {
        self.messages.lock().clone()
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn store(&self, message: StoredMessage) -> Result<(), StoreError> {
        let mut messages = self.messages.lock();
        if !messages.iter().any(|m| m.send_id == message.send_id) {
            messages.push(message);
        }
        Ok(())
    }
}
