//! The webhook [`Adapter`]: one HTTP request per attempt to the campaign's
//! URL, over a shared keep-alive connection pool.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use http::{HeaderName, HeaderValue};
use reqwest::Method;

use super::config::WebhookConfig;
use super::guard::{PublicOnlyResolver, is_private_address};
use super::signature::{SIGNATURE_HEADER, sign};
use crate::adapter::{Accepted, Adapter, Via, wrong_channel};
use crate::clock::{Clock, SystemClock};
use crate::error::{DispatchError, Result};
use crate::http::exchange;
use crate::message::{DispatchMeta, Message, WebhookMessage};
use crate::retry::HttpRetryLogic;

/// Delivers [`Message::Webhook`] to its URL.
#[derive(Clone)]
pub struct WebhookAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    secret: Option<Vec<u8>>,
    block_private_networks: bool,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAdapter")
            .field("signed", &self.inner.secret.is_some())
            .field("block_private_networks", &self.inner.block_private_networks)
            .finish()
    }
}

impl WebhookAdapter {
    /// Builds the adapter with the system clock.
    pub fn new(config: &WebhookConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Builds the adapter; `clock` gives the signature timestamp.
    pub fn with_clock(config: &WebhookConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tcp_nodelay(true)
            .user_agent(concat!("triggerd/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(config.tuning.concurrency.max(1));
        if config.block_private_networks {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        Ok(WebhookAdapter {
            inner: Arc::new(Inner {
                client: builder.build()?,
                secret: config
                    .signing_secret
                    .as_ref()
                    .filter(|s| !s.is_empty())
                    .map(|s| s.as_bytes().to_vec()),
                block_private_networks: config.block_private_networks,
                clock,
            }),
        })
    }

    fn request(
        &self,
        message: &WebhookMessage,
        meta: &DispatchMeta,
    ) -> Result<reqwest::RequestBuilder, DispatchError> {
        let url = url::Url::parse(&message.url).map_err(|e| {
            DispatchError::InvalidMessage(format!("webhook url `{}`: {e}", message.url))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(DispatchError::InvalidMessage(format!(
                "webhook url `{}` is not http(s)",
                message.url
            )));
        }
        if self.inner.block_private_networks {
            refuse_private_literal(&url)?;
        }
        let method = parse_method(&message.method)?;
        let mut headers = http::HeaderMap::new();
        for (name, value) in &message.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| DispatchError::InvalidMessage(format!("header name `{name}`")))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| DispatchError::InvalidMessage(format!("value of header `{name}`")))?;
            headers.append(name, value);
        }
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                guess_content_type(&message.body),
            );
        }
        let send_id = header_value("send_id", &meta.send_id)?;
        headers.insert("idempotency-key", send_id.clone());
        headers.insert("x-triggerd-send-id", send_id);
        headers.insert("x-triggerd-due", header_value("due", &rfc3339(meta.due))?);
        headers.insert("x-triggerd-attempt", HeaderValue::from(meta.attempt));
        if let Some(secret) = &self.inner.secret {
            let timestamp = self.inner.clock.now().timestamp();
            let signature = sign(secret, timestamp, message.body.as_bytes());
            headers.insert(SIGNATURE_HEADER, header_value("signature", &signature)?);
        }
        Ok(self
            .inner
            .client
            .request(method, url)
            .headers(headers)
            .body(message.body.clone()))
    }
}

#[async_trait]
impl Adapter for WebhookAdapter {
    fn via(&self) -> Via {
        Via::Webhook
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        let Message::Webhook(webhook) = message else {
            return Err(wrong_channel(Via::Webhook, message));
        };
        let request = self.request(webhook, meta)?;
        let clock = &self.inner.clock;
        exchange(request, &HttpRetryLogic, || clock.now()).await?;
        Ok(Accepted {
            via: Via::Webhook,
            provider_message_id: meta.send_id.clone(),
        })
    }
}

fn refuse_private_literal(url: &url::Url) -> Result<(), DispatchError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(v4)) => std::net::IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => std::net::IpAddr::V6(v6),
        _ => return Ok(()),
    };
    if is_private_address(ip) {
        return Err(DispatchError::BlockedTarget(format!(
            "`{ip}` is not a public address"
        )));
    }
    Ok(())
}

fn parse_method(method: &str) -> Result<Method, DispatchError> {
    let method = method.trim();
    if method.is_empty() {
        return Ok(Method::POST);
    }
    Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| DispatchError::InvalidMessage(format!("HTTP method `{method}`")))
}

fn header_value(what: &str, value: &str) -> Result<HeaderValue, DispatchError> {
    HeaderValue::from_str(value).map_err(|_| {
        DispatchError::InvalidMessage(format!("{what} `{value}` is not a valid header value"))
    })
}

fn guess_content_type(body: &str) -> HeaderValue {
    let trimmed = body.trim_start();
    if (trimmed.starts_with('{') || trimmed.starts_with('['))
        && serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok()
    {
        HeaderValue::from_static("application/json")
    } else {
        HeaderValue::from_static("text/plain; charset=utf-8")
    }
}

/// RFC 3339 in UTC, with milliseconds only when they are not zero.
pub(crate) fn rfc3339(instant: DateTime<Utc>) -> String {
    let format = if instant.nanosecond() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    instant.to_rfc3339_opts(format, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_defaults_to_post_and_rejects_garbage() {
        assert_eq!(parse_method(""), Ok(Method::POST));
        assert_eq!(parse_method("put"), Ok(Method::PUT));
        assert!(parse_method("BAD METHOD").is_err());
    }

    #[test]
    fn due_is_rfc3339_utc() {
        let due: DateTime<Utc> = "2026-01-05T09:00:00Z".parse().expect("instant");
        assert_eq!(rfc3339(due), "2026-01-05T09:00:00Z");
        let due: DateTime<Utc> = "2026-01-05T09:00:00.250Z".parse().expect("instant");
        assert_eq!(rfc3339(due), "2026-01-05T09:00:00.250Z");
    }

    #[test]
    fn content_type_follows_the_body() {
        assert_eq!(guess_content_type(r#"{"a":1}"#), "application/json");
        assert_eq!(guess_content_type("{not json"), "text/plain; charset=utf-8");
        assert_eq!(guess_content_type("hello"), "text/plain; charset=utf-8");
    }

    #[test]
    fn private_literals_are_refused() {
        let url = url::Url::parse("http://127.0.0.1:8080/x").expect("url");
        assert!(matches!(
            refuse_private_literal(&url),
            Err(DispatchError::BlockedTarget(_))
        ));
        let url = url::Url::parse("http://[::1]/x").expect("url");
        assert!(refuse_private_literal(&url).is_err());
        let url = url::Url::parse("http://8.8.8.8/x").expect("url");
        assert!(refuse_private_literal(&url).is_ok());
    }
}
