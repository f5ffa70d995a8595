//! `[channels.email]`.
//!
//! `url` forms: `smtp://host:port` (plain), `smtp://host:port?tls=starttls`
//! (STARTTLS required; `required` is a synonym, `opportunistic` upgrades only
//! when offered), `smtps://host:port` (implicit TLS); credentials as
//! `smtp://user:password@host` (percent-encoded).

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::DeliveryTuning;

/// The email provider kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailProvider {
    /// An SMTP server.
    #[default]
    Smtp,
}

/// The `[channels.email]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// Only `smtp`.
    #[serde(default)]
    pub provider: EmailProvider,
    /// The SMTP server URL (see the module docs).
    pub url: String,
    /// Default sender (`news@example.com` or `Shop <news@example.com>`).
    pub from: String,
    /// PEM file of an extra trusted root certificate (a private CA).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// Pooled connections; defaults to `concurrency`.
    #[serde(default)]
    pub pool_size: Option<u32>,
    /// Timeout, concurrency and retries.
    #[serde(flatten)]
    pub tuning: DeliveryTuning,
}

impl EmailConfig {
    /// A configuration for `url` and `from` with default tuning.
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> Self {
        EmailConfig {
            provider: EmailProvider::Smtp,
            url: url.into(),
            from: from.into(),
            tls_ca_file: None,
            pool_size: None,
            tuning: DeliveryTuning::default(),
        }
    }
}
