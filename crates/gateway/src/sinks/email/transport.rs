//! Builds the SMTP transport from `[channels.email]`: the [`SmtpPool`] of
//! `TCP_NODELAY` connections for plain and STARTTLS servers, `lettre`'s own
//! pooled transport for implicit TLS (`smtps://`).

use lettre::address::Envelope;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::config::EmailConfig;
use super::pool::{SmtpPool, Upgrade};
use super::service::smtp_error;
use crate::error::{DispatchError, Error, Result};

/// Where emails are sent.
pub(crate) enum Transport {
    /// Plain or STARTTLS: our pool of `TCP_NODELAY` connections.
    Pooled(SmtpPool),
    /// Implicit TLS: `lettre`'s pooled transport.
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    /// One SMTP transaction.
    pub(crate) async fn send(
        &self,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<(), DispatchError> {
        match self {
            Transport::Pooled(pool) => pool.send(envelope, email).await,
            Transport::Lettre(transport) => transport
                .send_raw(envelope, email)
                .await
                .map(drop)
                .map_err(|e| smtp_error(&e)),
        }
    }

    /// Whether the server answers.
    pub(crate) async fn test_connection(&self) -> Result<bool, DispatchError> {
        match self {
            Transport::Pooled(pool) => pool.test_connection().await,
            Transport::Lettre(transport) => transport
                .test_connection()
                .await
                .map_err(|e| smtp_error(&e)),
        }
    }
}

const FIELD: &str = "channels.email.url";

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Opportunistic,
    Implicit,
}

/// The transport for `config`. `lettre`'s pool runs on Tokio: call inside
/// a runtime.
pub(crate) fn build(config: &EmailConfig) -> Result<Transport> {
    let url = url::Url::parse(&config.url).map_err(|e| Error::config(FIELD, e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| Error::config(FIELD, "no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls_param = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.to_ascii_lowercase());
    let security = match (url.scheme(), tls_param.as_deref()) {
        ("smtp", None | Some("none")) => Security::Plain,
        ("smtp", Some("starttls" | "required")) => Security::StartTls,
        ("smtp", Some("opportunistic")) => Security::Opportunistic,
        ("smtps", None | Some("implicit" | "wrapper")) => Security::Implicit,
        (scheme, tls) => {
            return Err(Error::config(
                FIELD,
                format!("unsupported scheme `{scheme}` with tls={tls:?}"),
            ));
        }
    };
    let port = url.port().unwrap_or(match security {
        Security::Plain => 25,
        Security::StartTls | Security::Opportunistic => 587,
        Security::Implicit => 465,
    });
    let credentials = if url.username().is_empty() {
        None
    } else {
        let user = percent_decode(url.username())?;
        let password = percent_decode(url.password().unwrap_or(""))?;
        Some(Credentials::new(user, password))
    };
    let pool_size = config
        .pool_size
        .unwrap_or(u32::try_from(config.tuning.concurrency).unwrap_or(u32::MAX))
        .max(1);
    let upgrade = match security {
        Security::Plain => Upgrade::None,
        Security::StartTls => Upgrade::Required(tls_parameters(&host, config)?),
        Security::Opportunistic => Upgrade::Opportunistic(tls_parameters(&host, config)?),
        Security::Implicit => {
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
                .port(port)
                .timeout(Some(config.tuning.timeout))
                .pool_config(PoolConfig::new().max_size(pool_size))
                .tls(Tls::Wrapper(tls_parameters(&host, config)?));
            if let Some(credentials) = credentials {
                builder = builder.credentials(credentials);
            }
            return Ok(Transport::Lettre(builder.build()));
        }
    };
    Ok(Transport::Pooled(SmtpPool::new(
        host,
        port,
        upgrade,
        credentials,
        usize::try_from(pool_size).unwrap_or(usize::MAX),
    )))
}

fn tls_parameters(host: &str, config: &EmailConfig) -> Result<TlsParameters> {
    let mut builder = TlsParameters::builder(host.to_owned());
    if let Some(path) = &config.tls_ca_file {
        let pem = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| Error::config("channels.email.tls_ca_file", e.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build()
        .map_err(|e| Error::config(FIELD, format!("TLS setup: {e}")))
}

/// `%XX` decoding of a URL's user or password (`+` stays `+`).
fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| Error::config(FIELD, "credentials are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepts_the_documented_url_forms() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:p%40ss@127.0.0.1:2525",
            "smtp://127.0.0.1:2525?tls=starttls",
            "smtp://127.0.0.1?tls=opportunistic",
            "smtps://127.0.0.1:4650",
        ] {
            let config = EmailConfig::new(url, "a@example.com");
            assert!(build(&config).is_ok(), "{url}");
        }
    }

    #[tokio::test]
    async fn refuses_unknown_schemes_and_tls_modes() {
        for url in ["http://x", "smtp://x?tls=maybe", "smtp:///nohost"] {
            let config = EmailConfig::new(url, "a@example.com");
            assert!(build(&config).is_err(), "{url}");
        }
    }

    #[test]
    fn percent_decoding_of_credentials() {
        assert_eq!(percent_decode("p%40ss%2Fw").ok().as_deref(), Some("p@ss/w"));
        assert_eq!(percent_decode("100%").ok().as_deref(), Some("100%"));
    }
}
