//! `[channels.push]`.

use serde::Deserialize;

use crate::config::DeliveryTuning;

/// Which push service the section configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushProvider {
    /// Firebase Cloud Messaging HTTP v1.
    Fcm,
    /// Apple Push Notification service (HTTP/2).
    Apns,
}

/// The `[channels.push]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// `fcm` or `apns`.
    pub provider: PushProvider,
    /// API base; defaults to Google's or Apple's production endpoint. An
    /// `http://` base talks HTTP/2 with prior knowledge to APNs (tests).
    #[serde(default)]
    pub base_url: Option<String>,
    /// FCM project id (required for `fcm`).
    #[serde(default)]
    pub project_id: Option<String>,
    /// Bearer token (FCM OAuth access token, APNs provider JWT).
    pub token: String,
    /// `apns-topic` (the app's bundle id) for APNs.
    #[serde(default)]
    pub topic: Option<String>,
    /// Timeout, concurrency and retries.
    #[serde(flatten)]
    pub tuning: DeliveryTuning,
}

impl PushConfig {
    /// A configuration with default tuning.
    pub fn new(
        provider: PushProvider,
        base_url: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        PushConfig {
            provider,
            base_url: Some(base_url.into()),
            project_id: None,
            token: token.into(),
            topic: None,
            tuning: DeliveryTuning::default(),
        }
    }

    /// The configured base URL or the provider's production endpoint.
    pub fn base_url(&self) -> &str {
        match (&self.base_url, self.provider) {
            (Some(base), _) => base,
            (None, PushProvider::Fcm) => "https://fcm.googleapis.com",
            (None, PushProvider::Apns) => "https://api.push.apple.com",
        }
    }
}
