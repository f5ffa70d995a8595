//! # triggerd-gateway — channel adapters behind one trait, with one retry policy
//!
//! The gateway turns a rendered [`Message`] into one delivery attempt on the
//! channel's provider and reports either [`Accepted`] or a [`DispatchError`]
//! that knows whether it is worth retrying. It never sleeps and never retries
//! by itself: [`RetryPolicy::decide`] is a pure function of (attempt number,
//! error, first attempt instant, now) that answers [`RetryDecision::RetryAt`]
//! or [`RetryDecision::GiveUp`], and the daemon turns a retry into a durable
//! timer on its own clock (SPEC R-X3), so retries survive restarts.
//!
//! Layout (every adapter is shaped alike, after vector's sinks):
//! - [`adapter`]: the [`Adapter`] trait, [`Accepted`], [`Via`];
//! - [`message`]: what the daemon hands over after rendering;
//! - [`retry`]: [`RetryPolicy`] (on the `backoff` crate), [`RetryLogic`] and
//!   [`RetryAction`] that classify provider answers;
//! - [`limits`]: per-channel concurrency limit and timeout;
//! - [`sinks`]: one folder per adapter (`config`, `service`, helpers):
//!   webhook, email (SMTP), SMS (Twilio), push (FCM, APNs) and the store
//!   adapter behind the outbox, in-app queue and content-card feed;
//! - [`tracking`]: signed open/click/unsubscribe tokens and HTML rewriting;
//! - [`gateway`]: [`Gateway`] routes a message to the configured adapter,
//!   falling back to the outbox.
//!
//! Rule ids (`R-…`) refer to `SPEC.md`: R-X3 (retries), R-K3 (idempotency
//! keys), R-P1..R-P3 (receipts, tracking, short links).

pub mod adapter;
pub mod clock;
pub mod config;
pub mod duration;
pub mod error;
pub mod gateway;
mod http;
pub mod limits;
pub mod message;
pub mod retry;
pub mod sinks;
pub mod tracking;

pub use adapter::{Accepted, Adapter, Via};
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::{ChannelsConfig, DeliveryTuning};
pub use error::{DispatchError, Error, Result};
pub use gateway::{Delivered, Gateway, GatewayBuilder};
pub use limits::Limited;
pub use message::{
    Channel, ContentCardMessage, DispatchMeta, EmailMessage, InAppMessage, Message, Platform,
    PushMessage, SmsMessage, WebhookMessage,
};
pub use retry::{GiveUpReason, RetryAction, RetryDecision, RetryLogic, RetryPolicy};
pub use sinks::email::{EmailAdapter, EmailConfig};
pub use sinks::push::{ApnsAdapter, FcmAdapter, PushConfig, PushProvider};
pub use sinks::sms::{
    MemoryShortener, ShortenError, Shortener, SmsConfig, TwilioAdapter, twilio_signature,
};
pub use sinks::store::{MemoryStore, MessageStore, StoreAdapter, StoreError, StoredMessage};
pub use sinks::webhook::{WebhookAdapter, WebhookConfig, signature as webhook_signature};
pub use tracking::{TokenError, TrackKind, TrackingClaims, TrackingSigner};
