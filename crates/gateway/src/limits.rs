//! Per-channel concurrency limit and timeout around any [`Adapter`].
//!
//! At most `concurrency` attempts run at once (others wait for a permit);
//! each attempt is cut off after `timeout` and reported as the retriable
//! [`DispatchError::Timeout`]. Waiting for a permit does not count against
//! the timeout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::adapter::{Accepted, Adapter, Via};
use crate::error::DispatchError;
use crate::message::{DispatchMeta, Message};

/// An adapter wrapped with a concurrency limit and a timeout.
#[derive(Clone)]
pub struct Limited {
    inner: Arc<dyn Adapter>,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl std::fmt::Debug for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limited")
            .field("via", &self.inner.via())
            .field("available_permits", &self.permits.available_permits())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Limited {
    /// Wraps `inner`; `concurrency` 0 is treated as 1.
    pub fn new(inner: Arc<dyn Adapter>, concurrency: usize, timeout: Duration) -> Self {
        Limited {
            inner,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
        }
    }

    /// The configured timeout of one attempt.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[async_trait]
impl Adapter for Limited {
    fn via(&self) -> Via {
        self.inner.via()
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| DispatchError::Connection("adapter is shutting down".into()))?;
        match tokio::time::timeout(self.timeout, self.inner.dispatch(message, meta)).await {
            Ok(result) => result,
            Err(_) => Err(DispatchError::Timeout(self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{InAppMessage, Message};
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Slow {
        running: AtomicUsize,
        peak: AtomicUsize,
        delay: Duration,
    }

    #[async_trait]
    impl Adapter for Slow {
        fn via(&self) -> Via {
            Via::InApp
        }
        async fn dispatch(&self, _: &Message, m: &DispatchMeta) -> Result<Accepted, DispatchError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Accepted {
                via: Via::InApp,
                provider_message_id: m.send_id.clone(),
            })
        }
    }

    fn meta() -> DispatchMeta {
        DispatchMeta {
            send_id: "s1".into(),
            campaign_id: "c".into(),
            external_id: "u".into(),
            due: chrono::DateTime::UNIX_EPOCH,
            attempt: 1,
        }
    }

    fn message() -> Message {
        Message::InApp(InAppMessage {
            content: serde_json::json!({}),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_never_exceeds_the_limit() {
        let slow = Arc::new(Slow {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            delay: Duration::from_millis(50),
        });
        let limited = Limited::new(slow.clone(), 3, Duration::from_secs(5));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let l = limited.clone();
            tasks.push(tokio::spawn(async move {
                l.dispatch(&message(), &meta()).await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").is_ok());
        }
        assert_eq!(slow.peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn r_x3_slow_attempt_is_a_retriable_timeout() {
        let slow = Arc::new(Slow {
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            delay: Duration::from_secs(60),
        });
        let limited = Limited::new(slow, 1, Duration::from_secs(2));
        let err = limited
            .dispatch(&message(), &meta())
            .await
            .expect_err("must time out");
        assert_eq!(err, DispatchError::Timeout(Duration::from_secs(2)));
        assert!(err.is_retriable());
    }
}
