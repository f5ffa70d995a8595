//! Webhook adapter: the campaign's URL, method, headers and rendered body,
//! plus `Idempotency-Key: <send_id>`, `X-Triggerd-Send-Id`, `X-Triggerd-Due`
//! (RFC 3339) and an HMAC-SHA256 signature header (see [`signature`] for how
//! a receiver verifies it). 2xx is accepted; 408, 429, 5xx, connection
//! failures and timeouts are retriable; other statuses (including
//! redirects, which are not followed) are final. Without a `Content-Type`
//! among the campaign headers, a body that parses as a JSON object or array
//! is sent as `application/json`, anything else as `text/plain`.

mod config;
pub(crate) mod guard;
mod service;
pub mod signature;

pub use config::WebhookConfig;
pub use guard::is_private_address;
pub use service::WebhookAdapter;
