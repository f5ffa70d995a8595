//! Classifying a provider's HTTP answer (vector's `RetryLogic`): one
//! [`RetryAction`] vocabulary for every HTTP adapter, with the shared
//! [`HttpRetryLogic`] (2xx success; 408, 429, 5xx retry; other statuses
//! final) that provider-specific logics refine (FCM `UNREGISTERED`, APNs 410).

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::error::{DispatchError, is_retriable_status};

/// How a provider's answer is to be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAction {
    /// The provider accepted the message.
    Successful,
    /// A transient failure: try again (after `retry_after` if given).
    Retry {
        /// Why, for logs and the explain journal.
        reason: String,
        /// The provider's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// A final refusal.
    DontRetry {
        /// Why, for logs and the explain journal.
        reason: String,
        /// The push token is gone and should be dropped.
        unregistered_token: bool,
    },
}

impl RetryAction {
    /// The error this action stands for after an answer with `status`, or
    /// `None` for [`RetryAction::Successful`].
    pub fn into_error(self, status: u16) -> Option<DispatchError> {
        match self {
            RetryAction::Successful => None,
            RetryAction::Retry {
                reason,
                retry_after,
            } => Some(DispatchError::Status {
                status,
                reason,
                retry_after,
            }),
            RetryAction::DontRetry {
                reason,
                unregistered_token: true,
            } => Some(DispatchError::UnregisteredToken { status, reason }),
            RetryAction::DontRetry { reason, .. } => Some(DispatchError::Status {
                status,
                reason,
                retry_after: None,
            }),
        }
    }
}

/// Classifies one HTTP answer of a provider.
pub trait RetryLogic: Send + Sync {
    /// `body` is the (possibly truncated) response body; `now` resolves an
    /// HTTP-date `Retry-After`.
    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> RetryAction;
}

/// The shared logic: 2xx success; 408, 429 and 5xx retried with the
/// provider's `Retry-After`; everything else final (SPEC R-X3).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpRetryLogic;

impl RetryLogic for HttpRetryLogic {
    fn classify(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> RetryAction {
        if (200..300).contains(&status) {
            return RetryAction::Successful;
        }
        let reason = excerpt(body);
        if is_retriable_status(status) {
            RetryAction::Retry {
                reason,
                retry_after: parse_retry_after(headers, now),
            }
        } else {
            RetryAction::DontRetry {
                reason,
                unregistered_token: false,
            }
        }
    }
}

/// Reads `Retry-After` as delay-seconds or an HTTP-date (a past date means
/// "now", that is zero).
pub fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some(
        at.signed_duration_since(now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The first 200 characters of a response body, for error reasons.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn now() -> DateTime<Utc> {
        "2015-10-21T07:28:00Z".parse().expect("instant")
    }

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    #[test]
    fn r_x3_retry_after_seconds_and_http_date() {
        assert_eq!(
            parse_retry_after(&with_retry_after("120"), now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(&with_retry_after("Wed, 21 Oct 2015 07:30:00 GMT"), now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after(&with_retry_after("Wed, 21 Oct 2015 07:00:00 GMT"), now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(&with_retry_after("soon"), now()), None);
        assert_eq!(parse_retry_after(&HeaderMap::new(), now()), None);
    }

    #[test]
    fn r_x3_http_logic_classifies_statuses() {
        let l = HttpRetryLogic;
        let h = with_retry_after("7");
        assert_eq!(l.classify(204, &h, b"", now()), RetryAction::Successful);
        assert_eq!(
            l.classify(429, &h, b"slow", now()),
            RetryAction::Retry {
                reason: "slow".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            l.classify(503, &HeaderMap::new(), b"", now()),
            RetryAction::Retry { .. }
        ));
        assert!(matches!(
            l.classify(404, &HeaderMap::new(), b"", now()),
            RetryAction::DontRetry { .. }
        ));
    }

    #[test]
    fn actions_map_to_consistent_errors() {
        let retry = RetryAction::Retry {
            reason: "x".into(),
            retry_after: None,
        };
        assert!(retry.into_error(503).is_some_and(|e| e.is_retriable()));
        let gone = RetryAction::DontRetry {
            reason: "gone".into(),
            unregistered_token: true,
        };
        assert!(gone.into_error(410).is_some_and(|e| e.unregistered_token()));
        assert_eq!(RetryAction::Successful.into_error(200), None);
    }

    #[test]
    fn excerpt_truncates_long_bodies() {
        let long = "é".repeat(500);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), 201);
    }
}
