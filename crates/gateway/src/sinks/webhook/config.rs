//! `[channels.webhook]`: signing, timeouts and attempts (the target URL is
//! always the campaign's).

use serde::Deserialize;

use crate::config::DeliveryTuning;

/// The `[channels.webhook]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Secret of the `X-Triggerd-Signature` header; no header without it.
    #[serde(default)]
    pub signing_secret: Option<String>,
    /// Refuse targets that resolve to loopback, private, link-local or
    /// otherwise non-public addresses.
    #[serde(default)]
    pub block_private_networks: bool,
    /// Timeout, concurrency and retries.
    #[serde(flatten)]
    pub tuning: DeliveryTuning,
}
