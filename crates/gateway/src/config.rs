//! The `[channels.*]` sections of the configuration file (API.md) and the
//! delivery tuning every section shares.
//!
//! ```toml
//! [channels.webhook]
//! signing_secret = "…"
//! timeout = "10s"           # one attempt
//! max_attempts = 8          # first try included
//! concurrency = 64          # attempts in flight on this channel
//! block_private_networks = false
//! backoff_initial = "30s"   # delay after the first failure
//! backoff_max = "1h"        # cap of one delay
//! max_elapsed = "24h"       # no retry planned later than this after the first try
//! jitter = 0.5              # ± fraction of each delay; 0 = off
//! ```
//! The tuning keys are accepted in every channel section.

use std::time::Duration;

use serde::Deserialize;

use crate::sinks::email::EmailConfig;
use crate::sinks::push::PushConfig;
use crate::sinks::sms::SmsConfig;
use crate::sinks::webhook::WebhookConfig;

/// All `[channels.*]` sections. A missing email, SMS or push section means
/// that channel delivers to the outbox only; webhooks always go to their URL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsConfig {
    /// `[channels.email]`.
    pub email: Option<EmailConfig>,
    /// `[channels.sms]`.
    pub sms: Option<SmsConfig>,
    /// `[channels.push]`.
    pub push: Option<PushConfig>,
    /// `[channels.webhook]`.
    pub webhook: Option<WebhookConfig>,
}

/// Timeout, concurrency and retry settings of one channel.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct DeliveryTuning {
    /// Limit of one attempt (default `10s`).
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub timeout: Duration,
    /// Attempts in total, the first try included (default 8).
    pub max_attempts: u32,
    /// Attempts in flight at once on the channel (default 64).
    pub concurrency: usize,
    /// Delay after the first failed attempt (default `30s`).
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub backoff_initial: Duration,
    /// Cap of one computed delay (default `1h`).
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub backoff_max: Duration,
    /// Latest retry after the first attempt (default `24h`).
    #[serde(deserialize_with = "crate::duration::deserialize")]
    pub max_elapsed: Duration,
    /// Jitter fraction in `[0, 1)` (default 0.5; 0 turns it off); anything
    /// else, NaN included, is refused when the section is read.
    #[serde(deserialize_with = "jitter_fraction")]
    pub jitter: f64,
}

/// A jitter fraction: finite, at least 0 and below 1.
fn jitter_fraction<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(d)?;
    if (0.0..1.0).contains(&value) {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "jitter must be a fraction from 0 up to (not including) 1, not {value}"
        )))
    }
}

impl Default for DeliveryTuning {
    fn default() -> Self {
        DeliveryTuning {
            timeout: Duration::from_secs(10),
            max_attempts: 8,
            concurrency: 64,
            backoff_initial: Duration::from_secs(30),
            backoff_max: Duration::from_secs(3600),
            max_elapsed: Duration::from_secs(24 * 3600),
            jitter: 0.5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::push::PushProvider;

    #[derive(Deserialize)]
    struct Root {
        channels: ChannelsConfig,
    }

    #[test]
    fn misspelt_keys_are_refused_in_every_section_and_tuning_keys_accepted() {
        let sections = [
            "[channels.email]\nprovider = \"smtp\"\nurl = \"smtp://127.0.0.1:2525\"\nfrom = \"a@example.com\"\n",
            "[channels.sms]\nprovider = \"twilio\"\nbase_url = \"http://127.0.0.1:9000\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\nfrom = \"+1555\"\n",
            "[channels.push]\nprovider = \"fcm\"\nbase_url = \"http://127.0.0.1:9001\"\nproject_id = \"p\"\ntoken = \"b\"\n",
            "[channels.webhook]\n",
        ];
        for section in sections {
            let tuned = format!("{section}jitter = 0.1\nmax_attempts = 3\ntimeout = \"5s\"\n");
            toml::from_str::<Root>(&tuned).unwrap_or_else(|e| panic!("{tuned}: {e}"));
            for bad in ["nan", "-0.1", "1.0", "inf"] {
                let text = format!("{section}jitter = {bad}\n");
                let err = toml::from_str::<Root>(&text)
                    .err()
                    .unwrap_or_else(|| panic!("accepted: {text}"));
                assert!(err.to_string().contains("jitter must be"), "{err}");
            }
            let misspelt = format!("{section}jiter = 0.1\n");
            let err = toml::from_str::<Root>(&misspelt)
                .err()
                .unwrap_or_else(|| panic!("accepted: {misspelt}"));
            assert!(err.to_string().contains("jiter"), "{err}");
        }
    }

    #[test]
    fn parses_the_api_md_sections() {
        let text = r#"
            [channels.email]
            provider = "smtp"
            url = "smtp://127.0.0.1:2525"
            from = "news@example.com"

            [channels.sms]
            provider = "twilio"
            base_url = "http://127.0.0.1:9000"
            account_sid = "AC1"
            auth_token = "tok"
            from = "+15550000"

            [channels.push]
            provider = "fcm"
            base_url = "http://127.0.0.1:9001"
            project_id = "p1"
            token = "bearer"

            [channels.webhook]
            signing_secret = "s3cret"
            timeout = "10s"
            max_attempts = 8
            concurrency = 64
            block_private_networks = false
        "#;
        let root: Root = toml::from_str(text).expect("config parses");
        let c = root.channels;
        let email = c.email.expect("email");
        assert_eq!(email.url, "smtp://127.0.0.1:2525");
        assert_eq!(email.from, "news@example.com");
        let sms = c.sms.expect("sms");
        assert_eq!(sms.account_sid, "AC1");
        let push = c.push.expect("push");
        assert_eq!(push.provider, PushProvider::Fcm);
        assert_eq!(push.project_id.as_deref(), Some("p1"));
        let webhook = c.webhook.expect("webhook");
        assert_eq!(webhook.signing_secret.as_deref(), Some("s3cret"));
        assert_eq!(webhook.tuning.timeout, Duration::from_secs(10));
        assert_eq!(webhook.tuning.max_attempts, 8);
        assert_eq!(webhook.tuning.concurrency, 64);
        assert!(!webhook.block_private_networks);
    }

    #[test]
    fn tuning_keys_work_in_every_section() {
        let text = r#"
            [channels.push]
            provider = "apns"
            base_url = "http://127.0.0.1:9002"
            token = "jwt"
            topic = "com.example.app"
            timeout = "3s"
            max_attempts = 3
            backoff_initial = "1m"
            jitter = 0.0
        "#;
        let root: Root = toml::from_str(text).expect("config parses");
        let push = root.channels.push.expect("push");
        assert_eq!(push.provider, PushProvider::Apns);
        assert_eq!(push.tuning.timeout, Duration::from_secs(3));
        assert_eq!(push.tuning.max_attempts, 3);
        assert_eq!(push.tuning.backoff_initial, Duration::from_secs(60));
        assert_eq!(push.tuning.jitter, 0.0);
        assert_eq!(push.tuning.concurrency, 64);
    }

    #[test]
    fn bad_duration_is_a_clear_error() {
        let text = "[channels.webhook]\ntimeout = \"ten seconds\"\n";
        let err = toml::from_str::<Root>(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("ten seconds"), "{err}");
    }
}
