//! The Twilio [`Adapter`]: one `Messages.json` request per attempt.
//!
//! Twilio has no idempotency key on this endpoint; the `send_id` travels in
//! the `StatusCallback` URL (when configured) and in an `Idempotency-Key`
//! header that compatible providers may honour (R-K3).

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::config::SmsConfig;
use crate::adapter::{Accepted, Adapter, Via, wrong_channel};
use crate::clock::{Clock, SystemClock};
use crate::error::{DispatchError, Error, Result};
use crate::http::{exchange, join};
use crate::message::{DispatchMeta, Message};
use crate::retry::HttpRetryLogic;

/// Delivers [`Message::Sms`] through a Twilio-compatible API.
#[derive(Clone)]
pub struct TwilioAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    endpoint: String,
    account_sid: String,
    auth_token: String,
    from: String,
    status_callback: Option<url::Url>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TwilioAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioAdapter")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Created {
    sid: Option<String>,
}

impl TwilioAdapter {
    /// Builds the adapter with the system clock.
    pub fn new(config: &SmsConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds the adapter; `clock` resolves HTTP-date `Retry-After`.
    pub fn with_clock(config: &SmsConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        if config.account_sid.is_empty() || config.account_sid.contains(['/', '?', '#']) {
            return Err(Error::config(
                "channels.sms.account_sid",
                "missing or malformed",
            ));
        }
        url::Url::parse(&config.base_url)
            .map_err(|e| Error::config("channels.sms.base_url", e.to_string()))?;
        let status_callback = config
            .status_callback
            .as_deref()
            .map(url::Url::parse)
            .transpose()
            .map_err(|e| Error::config("channels.sms.status_callback", e.to_string()))?;
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("triggerd/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TwilioAdapter {
            inner: Arc::new(Inner {
                client,
                endpoint: join(
                    &config.base_url,
                    &format!("2010-04-01/Accounts/{}/Messages.json", config.account_sid),
                ),
                account_sid: config.account_sid.clone(),
                auth_token: config.auth_token.clone(),
                from: config.from.clone(),
                status_callback,
                clock,
            }),
        })
    }
}

/// The `application/x-www-form-urlencoded` body of a Messages request.
fn form_body(to: &str, from: &str, body: &str, callback: Option<&url::Url>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", to)
        .append_pair("From", from)
        .append_pair("Body", body);
    if let Some(callback) = callback {
        form.append_pair("StatusCallback", callback.as_str());
    }
    form.finish()
}

#[async_trait]
impl Adapter for TwilioAdapter {
    fn via(&self) -> Via {
        Via::Twilio
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        let Message::Sms(sms) = message else {
            return Err(wrong_channel(Via::Twilio, message));
        };
        let inner = &self.inner;
        let from = sms
            .from
            .as_deref()
            .filter(|f| !f.is_empty())
            .unwrap_or(&inner.from);
        let callback = inner.status_callback.as_ref().map(|callback| {
            let mut callback = callback.clone();
            callback
                .query_pairs_mut()
                .append_pair("send_id", &meta.send_id);
            callback
        });
        let form = form_body(&sms.to, from, &sms.body, callback.as_ref());
        let request = inner
            .client
            .post(&inner.endpoint)
            .basic_auth(&inner.account_sid, Some(&inner.auth_token))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header("Idempotency-Key", &meta.send_id)
            .body(form);
        let answer = exchange(request, &HttpRetryLogic, || inner.clock.now()).await?;
        let sid = serde_json::from_slice::<Created>(&answer.body)
            .ok()
            .and_then(|c| c.sid)
            .unwrap_or_else(|| meta.send_id.clone());
        Ok(Accepted {
            via: Via::Twilio,
            provider_message_id: sid,
        })
    }
}
