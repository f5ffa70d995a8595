//! The crate's two error types: [`Error`] for building adapters from
//! configuration, and [`DispatchError`] for one failed delivery attempt,
//! which carries the retry decision (`is_retriable`, `retry_after`,
//! `unregistered_token`).

use std::time::Duration;

/// `Result` with the gateway's configuration [`Error`] by default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An adapter could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is missing or malformed.
    #[error("invalid configuration `{field}`: {reason}")]
    Config {
        /// The offending key, e.g. `channels.email.url`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    /// A file named by the configuration could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Why one delivery attempt failed. One call to an adapter is one attempt;
/// [`crate::RetryPolicy::decide`] turns this into "retry at T" or "give up".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The attempt did not finish within the channel's timeout (retriable).
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The provider could not be reached: DNS, connect, TLS, reset (retriable).
    #[error("connection failed: {0}")]
    Connection(String),
    /// The provider answered with a non-success HTTP status. Retriable for
    /// 408, 429 and 5xx (R-X3); other statuses are permanent.
    #[error("provider answered HTTP {status}: {reason}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// A short excerpt of the provider's explanation.
        reason: String,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The push provider says the device token is gone (FCM `UNREGISTERED`,
    /// APNs 410): permanent, and the daemon should drop the token.
    #[error("push token unregistered (HTTP {status}): {reason}")]
    UnregisteredToken {
        /// The HTTP status code (404/400 for FCM, 410 for APNs).
        status: u16,
        /// The provider's reason.
        reason: String,
    },
    /// The SMTP server refused: 4xx replies are transient, 5xx permanent.
    #[error("SMTP server refused{}: {reason}", code.map(|c| format!(" with {c}")).unwrap_or_default())]
    Smtp {
        /// The SMTP reply code, when the server answered.
        code: Option<u16>,
        /// Whether the refusal is final (5xx) rather than transient (4xx).
        permanent: bool,
        /// The server's text.
        reason: String,
    },
    /// The message cannot be sent as it is: bad address, bad header, wrong
    /// channel for this adapter (permanent).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The target resolves to a loopback or private address while
    /// `block_private_networks` is on (permanent).
    #[error("target blocked: {0}")]
    BlockedTarget(String),
    /// The daemon's store refused the write (retriable).
    #[error("store failed: {0}")]
    Store(String),
}

impl DispatchError {
    /// Whether another attempt may succeed (SPEC R-X3: connection errors,
    /// timeouts, 408, 429, 5xx; SMTP 4xx; store failures).
    pub fn is_retriable(&self) -> bool {
        match self {
            DispatchError::Timeout(_) | DispatchError::Connection(_) | DispatchError::Store(_) => {
                true
            }
            DispatchError::Status { status, .. } => is_retriable_status(*status),
            DispatchError::Smtp { permanent, .. } => !permanent,
            DispatchError::UnregisteredToken { .. }
            | DispatchError::InvalidMessage(_)
            | DispatchError::BlockedTarget(_) => false,
        }
    }

    /// How long the provider asked us to wait before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            DispatchError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the push token should be dropped by the daemon.
    pub fn unregistered_token(&self) -> bool {
        matches!(self, DispatchError::UnregisteredToken { .. })
    }

    /// The HTTP status the provider answered, if it answered over HTTP.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            DispatchError::Status { status, .. }
            | DispatchError::UnregisteredToken { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// 408, 429 and every 5xx are worth retrying (SPEC R-X3).
pub fn is_retriable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> DispatchError {
        DispatchError::Status {
            status: code,
            reason: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn r_x3_transient_statuses_are_retriable() {
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert!(status(code).is_retriable(), "{code}");
        }
        for code in [300, 400, 401, 403, 404, 409, 410, 422] {
            assert!(!status(code).is_retriable(), "{code}");
        }
    }

    #[test]
    fn r_x3_connection_and_timeout_are_retriable() {
        assert!(DispatchError::Timeout(Duration::from_secs(1)).is_retriable());
        assert!(DispatchError::Connection("reset".into()).is_retriable());
        assert!(!DispatchError::InvalidMessage("x".into()).is_retriable());
        assert!(!DispatchError::BlockedTarget("x".into()).is_retriable());
    }

    #[test]
    fn smtp_4xx_retriable_5xx_permanent() {
        let t = DispatchError::Smtp {
            code: Some(451),
            permanent: false,
            reason: "later".into(),
        };
        let p = DispatchError::Smtp {
            code: Some(550),
            permanent: true,
            reason: "no such user".into(),
        };
        assert!(t.is_retriable());
        assert!(!p.is_retriable());
        assert_eq!(p.to_string(), "SMTP server refused with 550: no such user");
    }

    #[test]
    fn unregistered_token_is_permanent_and_flagged() {
        let e = DispatchError::UnregisteredToken {
            status: 410,
            reason: "Unregistered".into(),
        };
        assert!(!e.is_retriable());
        assert!(e.unregistered_token());
        assert_eq!(e.http_status(), Some(410));
    }
}
