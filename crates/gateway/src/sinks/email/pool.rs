//! A pool of SMTP connections whose sockets have `TCP_NODELAY` set.
//!
//! `lettre` writes a message's content and its terminating `.` in two
//! writes; on a socket with Nagle's algorithm the second one waits for the
//! server's delayed ACK (about 40 ms on Linux), which caps a connection at
//! some 25 messages/s. `lettre`'s own transport offers no socket options,
//! so plain and STARTTLS connections are opened here (then handed to
//! `lettre`'s `AsyncSmtpConnection`, which speaks the protocol) and pooled:
//! a connection returns to the pool after a successful transaction, is
//! dropped after any error, is checked with `NOOP` when it sat idle for a
//! while and closed when it sat idle too long.

use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use parking_lot::Mutex;

use crate::error::DispatchError;

/// Idle time after which a pooled connection is checked with `NOOP`.
const CHECK_AFTER: Duration = Duration::from_secs(5);
/// Idle time after which a pooled connection is closed instead of reused.
const CLOSE_AFTER: Duration = Duration::from_secs(60);

/// How a pooled connection is secured.
pub(crate) enum Upgrade {
    /// Stay in plain text.
    None,
    /// STARTTLS, failing when the server does not offer it.
    Required(TlsParameters),
    /// STARTTLS when the server offers it.
    Opportunistic(TlsParameters),
}

/// Pooled plain or STARTTLS connections to one server.
pub(crate) struct SmtpPool {
    host: String,
    port: u16,
    hello: ClientId,
    upgrade: Upgrade,
    credentials: Option<Credentials>,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpPool {
    pub(crate) fn new(
        host: String,
        port: u16,
        upgrade: Upgrade,
        credentials: Option<Credentials>,
        max_idle: usize,
    ) -> Self {
        SmtpPool {
            host,
            port,
            hello: ClientId::default(),
            upgrade,
            credentials,
            max_idle: max_idle.max(1),
            idle: Mutex::new(Vec::new()),
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, DispatchError> {
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| DispatchError::Connection(format!("{}:{}: {e}", self.host, self.port)))?;
        stream
            .set_nodelay(true)
            .map_err(|e| DispatchError::Connection(e.to_string()))?;
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                .await
                .map_err(|e| super::service::smtp_error(&e))?;
        match &self.upgrade {
            Upgrade::None => {}
            Upgrade::Opportunistic(_) if !connection.can_starttls() => {}
            Upgrade::Required(parameters) | Upgrade::Opportunistic(parameters) => connection
                .starttls(parameters.clone(), &self.hello)
                .await
                .map_err(|e| super::service::smtp_error(&e))?,
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(DEFAULT_MECHANISMS, credentials)
                .await
                .map_err(|e| super::service::smtp_error(&e))?;
        }
        Ok(connection)
    }

    /// A live connection: a recent idle one, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, DispatchError> {
        loop {
            let Some((mut connection, since)) = self.idle.lock().pop() else {
                return self.connect().await;
            };
            let idle_for = since.elapsed();
            if idle_for > CLOSE_AFTER {
                connection.abort().await;
                continue;
            }
            if idle_for < CHECK_AFTER || connection.test_connected().await {
                return Ok(connection);
            }
        }
    }

    fn checkin(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push((connection, Instant::now()));
        }
    }

    /// One SMTP transaction (`MAIL`, `RCPT`, `DATA`).
    pub(crate) async fn send(
        &self,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<(), DispatchError> {
        let mut connection = self.checkout().await?;
        match connection.send(envelope, email).await {
            Ok(_) => {
                self.checkin(connection);
                Ok(())
            }
            // lettre aborts the connection on every error; it is dropped.
            Err(e) => Err(super::service::smtp_error(&e)),
        }
    }

    /// Whether the server answers `NOOP` on a pooled connection.
    pub(crate) async fn test_connection(&self) -> Result<bool, DispatchError> {
        let mut connection = self.checkout().await?;
        let alive = connection.test_connected().await;
        if alive {
            self.checkin(connection);
        }
        Ok(alive)
    }
}
