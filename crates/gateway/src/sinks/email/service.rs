//! The email [`Adapter`]: one SMTP transaction per attempt over a pooled
//! `lettre` transport.

use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;

use super::compose::{compose, message_id};
use super::config::EmailConfig;
use super::transport::{self, Transport};
use crate::adapter::{Accepted, Adapter, Via, wrong_channel};
use crate::error::{DispatchError, Error, Result};
use crate::http::error_chain;
use crate::message::{DispatchMeta, Message};

/// Delivers [`Message::Email`] through an SMTP server.
#[derive(Clone)]
pub struct EmailAdapter {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    default_from: Mailbox,
}

impl std::fmt::Debug for EmailAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailAdapter")
            .field("from", &self.inner.default_from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailAdapter {
    /// Builds the adapter (no connection is opened until the first send).
    /// Must be called inside a Tokio runtime (the connection pool's task).
    pub fn new(config: &EmailConfig) -> Result<Self> {
        let default_from = config
            .from
            .trim()
            .parse()
            .map_err(|e| Error::config("channels.email.from", format!("{e}")))?;
        Ok(EmailAdapter {
            inner: Arc::new(Inner {
                transport: transport::build(config)?,
                default_from,
            }),
        })
    }

    /// Checks that the server answers (a `NOOP` on a pooled connection).
    pub async fn test_connection(&self) -> Result<bool, DispatchError> {
        self.inner.transport.test_connection().await
    }
}

#[async_trait]
impl Adapter for EmailAdapter {
    fn via(&self) -> Via {
        Via::Smtp
    }

    async fn dispatch(
        &self,
        message: &Message,
        meta: &DispatchMeta,
    ) -> Result<Accepted, DispatchError> {
        let Message::Email(email) = message else {
            return Err(wrong_channel(Via::Smtp, message));
        };
        let mime = compose(email, meta, &self.inner.default_from)?;
        self.inner
            .transport
            .send(mime.envelope(), &mime.formatted())
            .await?;
        Ok(Accepted {
            via: Via::Smtp,
            provider_message_id: message_id(&meta.send_id),
        })
    }
}

/// Maps a `lettre` error: 4xx replies transient, 5xx permanent; timeouts,
/// connection and TLS failures retriable; what the client refuses to do
/// with this server (non-ASCII without `SMTPUTF8`/`8BITMIME`, no common
/// authentication mechanism, STARTTLS not offered) permanent.
pub(crate) fn smtp_error(error: &lettre::transport::smtp::Error) -> DispatchError {
    let code = error
        .status()
        .and_then(|code| code.to_string().parse::<u16>().ok());
    if error.is_permanent() || error.is_transient() {
        return DispatchError::Smtp {
            code,
            permanent: error.is_permanent(),
            reason: error_chain(error),
        };
    }
    if error.is_client() {
        return DispatchError::Smtp {
            code: None,
            permanent: true,
            reason: error_chain(error),
        };
    }
    DispatchError::Connection(error_chain(error))
}
