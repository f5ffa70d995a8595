//! `[channels.sms]`.

use serde::Deserialize;

use crate::config::DeliveryTuning;

/// The SMS provider kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProvider {
    /// Twilio's Messages API or a compatible one.
    #[default]
    Twilio,
}

/// The `[channels.sms]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// Only `twilio`.
    #[serde(default)]
    pub provider: SmsProvider,
    /// API base, default `https://api.twilio.com`.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Account SID (basic-auth user and path segment).
    pub account_sid: String,
    /// Auth token (basic-auth password; also signs inbound webhooks).
    pub auth_token: String,
    /// Default sender number or messaging service.
    pub from: String,
    /// Delivery-status callback URL; `send_id=<id>` is added to its query.
    #[serde(default)]
    pub status_callback: Option<String>,
    /// Timeout, concurrency and retries.
    #[serde(flatten)]
    pub tuning: DeliveryTuning,
}

fn default_base_url() -> String {
    "https://api.twilio.com".to_owned()
}

impl SmsConfig {
    /// A configuration with default tuning and no status callback.
    pub fn new(
        base_url: impl Into<String>,
        account_sid: impl Into<String>,
        auth_token: impl Into<String>,
        from: impl Into<String>,
    ) -> Self {
        SmsConfig {
            provider: SmsProvider::Twilio,
            base_url: base_url.into(),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: from.into(),
            status_callback: None,
            tuning: DeliveryTuning::default(),
        }
    }
}
