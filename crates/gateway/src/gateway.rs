//! [`Gateway`]: holds the configured adapters and routes each message to its
//! channel's adapter. Email, SMS and push go to their provider when their
//! `[channels.*]` section exists and to the outbox otherwise; webhooks
//! always go to their URL; in-app messages and content cards go to their
//! stores. Before routing, [`Gateway::prepare`] applies email tracking and
//! SMS short links, so the outbox shows what a provider would get.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::adapter::{Adapter, Via};
use crate::clock::{Clock, SystemClock};
use crate::config::{ChannelsConfig, DeliveryTuning};
use crate::error::{DispatchError, Result};
use crate::limits::Limited;
use crate::message::{Channel, DispatchMeta, Message};
use crate::retry::{RetryDecision, RetryPolicy};
use crate::sinks::email::{self, EmailAdapter};
use crate::sinks::push::{ApnsAdapter, FcmAdapter, PushProvider};
use crate::sinks::sms::{Shortener, TwilioAdapter, shorten_urls};
use crate::sinks::store::{MessageStore, StoreAdapter};
use crate::sinks::webhook::WebhookAdapter;
use crate::tracking::TrackingSigner;

/// A message the provider (or store) accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// Where it went (the outbox's `via`).
    pub via: Via,
    /// The provider's id for it.
    pub provider_message_id: String,
    /// The message as delivered (tracking and short links applied): what
    /// the daemon lists in its outbox.
    pub message: Message,
}

/// Routes messages to adapters; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Route {
    adapter: Limited,
    policy: RetryPolicy,
}

impl Route {
    fn new(adapter: Arc<dyn Adapter>, tuning: &DeliveryTuning) -> Self {
        Route {
            adapter: Limited::new(adapter, tuning.concurrency, tuning.timeout),
            policy: RetryPolicy::from_tuning(tuning),
        }
    }
}

struct Inner {
    email: Route,
    sms: Route,
    push: Route,
    webhook: Route,
    in_app: Route,
    content_card: Route,
    tracking: Option<TrackingSigner>,
    shortener: Option<Arc<dyn Shortener>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("email", &self.via(Channel::Email))
            .field("sms", &self.via(Channel::Sms))
            .field("push", &self.via(Channel::Push))
            .field("tracking", &self.inner.tracking.is_some())
            .field("shortener", &self.inner.shortener.is_some())
            .finish()
    }
}

impl Gateway {
    /// Starts building a gateway for `channels`, with `outbox` as the
    /// default sink.
    pub fn builder(channels: ChannelsConfig, outbox: Arc<dyn MessageStore>) -> GatewayBuilder {
        GatewayBuilder {
            channels,
            outbox,
            in_app: None,
            content_card: None,
            tracking: None,
            shortener: None,
            clock: Arc::new(SystemClock),
            store_tuning: DeliveryTuning::default(),
        }
    }

    fn route(&self, channel: Channel) -> &Route {
        let inner = &self.inner;
        match channel {
            Channel::Email => &inner.email,
            Channel::Sms => &inner.sms,
            Channel::Push => &inner.push,
            Channel::Webhook => &inner.webhook,
            Channel::InApp => &inner.in_app,
            Channel::ContentCard => &inner.content_card,
        }
    }

    /// Where messages of `channel` go.
    pub fn via(&self, channel: Channel) -> Via {
        self.route(channel).adapter.via()
    }

    /// The retry policy of `channel`.
    pub fn retry_policy(&self, channel: Channel) -> &RetryPolicy {
        &self.route(channel).policy
    }

    /// [`RetryPolicy::decide`] with `channel`'s policy.
    pub fn decide_retry(
        &self,
        channel: Channel,
        attempt: u32,
        error: &DispatchError,
        first_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> RetryDecision {
        self.retry_policy(channel)
            .decide(attempt, error, first_attempt_at, now)
    }

    /// The tracking signer, for the daemon's `/t/…` endpoints.
    pub fn tracking(&self) -> Option<&TrackingSigner> {
        self.inner.tracking.as_ref()
    }

    /// The message as it will be delivered: email text derived and tracking
    /// applied; SMS URLs shortened. Deterministic for a given send.
    pub async fn prepare(
        &self,
        message: Message,
        meta: &DispatchMeta,
    ) -> Result<Message, DispatchError> {
        match message {
            Message::Email(mail) => Ok(Message::Email(email::prepare(
                &mail,
                meta,
                self.inner.tracking.as_ref(),
            ))),
            Message::Sms(mut sms) => {
                if let Some(shortener) = &self.inner.shortener {
                    sms.body = shorten_urls(&sms.body, meta, shortener.as_ref())
                        .await
                        .map_err(|e| DispatchError::Store(e.to_string()))?;
                }
                Ok(Message::Sms(sms))
            }
            other => Ok(other),
        }
    }

    /// Prepares `message` and makes one delivery attempt on its channel's
    /// adapter, within the channel's concurrency limit and timeout.
    pub async fn dispatch(
        &self,
        message: Message,
        meta: &DispatchMeta,
    ) -> Result<Delivered, DispatchError> {
        let route = self.route(message.channel());
        let message = self.prepare(message, meta).await?;
        let result = route.adapter.dispatch(&message, meta).await;
        match &result {
            Ok(accepted) => tracing::debug!(
                send_id = %meta.send_id, via = %accepted.via, attempt = meta.attempt,
                provider_message_id = %accepted.provider_message_id, "dispatch accepted"
            ),
            Err(error) => tracing::debug!(
                send_id = %meta.send_id, via = %route.adapter.via(), attempt = meta.attempt,
                retriable = error.is_retriable(), %error, "dispatch failed"
            ),
        }
        let accepted = result?;
        Ok(Delivered {
            via: accepted.via,
            provider_message_id: accepted.provider_message_id,
            message,
        })
    }
}

/// Builds a [`Gateway`].
pub struct GatewayBuilder {
    channels: ChannelsConfig,
    outbox: Arc<dyn MessageStore>,
    in_app: Option<Arc<dyn MessageStore>>,
    content_card: Option<Arc<dyn MessageStore>>,
    tracking: Option<TrackingSigner>,
    shortener: Option<Arc<dyn Shortener>>,
    clock: Arc<dyn Clock>,
    store_tuning: DeliveryTuning,
}

impl GatewayBuilder {
    /// The user in-app queue (default: the outbox store).
    pub fn in_app_store(mut self, store: Arc<dyn MessageStore>) -> Self {
        self.in_app = Some(store);
        self
    }

    /// The content-card feed (default: the outbox store).
    pub fn content_card_store(mut self, store: Arc<dyn MessageStore>) -> Self {
        self.content_card = Some(store);
        self
    }

    /// Email tracking (open pixel, click links, unsubscribe link).
    pub fn tracking(mut self, signer: TrackingSigner) -> Self {
        self.tracking = Some(signer);
        self
    }

    /// SMS link shortener.
    pub fn shortener(mut self, shortener: Arc<dyn Shortener>) -> Self {
        self.shortener = Some(shortener);
        self
    }

    /// The clock for webhook signature timestamps and `Retry-After` dates.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Timeout, concurrency and retries of the store adapters (outbox, in-app
    /// queue, cards) and of channels routed to the outbox.
    pub fn store_tuning(mut self, tuning: DeliveryTuning) -> Self {
        self.store_tuning = tuning;
        self
    }

    /// Builds every configured adapter. Call inside a Tokio runtime (the
    /// SMTP connection pool spawns a task).
    pub fn build(self) -> Result<Gateway> {
        let outbox: Arc<dyn Adapter> = Arc::new(StoreAdapter::outbox(self.outbox.clone()));
        let to_outbox = || Route::new(outbox.clone(), &self.store_tuning);
        let clock = self.clock.clone();

        let email = match &self.channels.email {
            Some(config) => Route::new(Arc::new(EmailAdapter::new(config)?), &config.tuning),
            None => to_outbox(),
        };
        let sms = match &self.channels.sms {
            Some(config) => Route::new(
                Arc::new(TwilioAdapter::with_clock(config, clock.clone())?),
                &config.tuning,
            ),
            None => to_outbox(),
        };
        let push = match &self.channels.push {
            Some(config) => {
                let adapter: Arc<dyn Adapter> = match config.provider {
                    PushProvider::Fcm => Arc::new(FcmAdapter::with_clock(config, clock.clone())?),
                    PushProvider::Apns => Arc::new(ApnsAdapter::with_clock(config, clock.clone())?),
                };
                Route::new(adapter, &config.tuning)
            }
            None => to_outbox(),
        };
        let webhook_config = self.channels.webhook.clone().unwrap_or_default();
        let webhook = Route::new(
            Arc::new(WebhookAdapter::with_clock(&webhook_config, clock)?),
            &webhook_config.tuning,
        );
        let in_app_store = self.in_app.clone().unwrap_or_else(|| self.outbox.clone());
        let in_app = Route::new(
            Arc::new(StoreAdapter::in_app(in_app_store)),
            &self.store_tuning,
        );
        let card_store = self
            .content_card
            .clone()
            .unwrap_or_else(|| self.outbox.clone());
        let content_card = Route::new(
            Arc::new(StoreAdapter::content_card(card_store)),
            &self.store_tuning,
        );
        Ok(Gateway {
            inner: Arc::new(Inner {
                email,
                sms,
                push,
                webhook,
                in_app,
                content_card,
                tracking: self.tracking,
                shortener: self.shortener,
            }),
        })
    }
}
