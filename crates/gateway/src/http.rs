//! Shared plumbing of the HTTP adapters: one way to read an answer, classify
//! it with a [`RetryLogic`] and map transport failures to [`DispatchError`].

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use http::HeaderMap;

use crate::error::DispatchError;
use crate::retry::RetryLogic;
use crate::sinks::webhook::guard::blocked_in_chain;

/// Most bytes of an answer read: providers answer a few hundred bytes of
/// JSON; a webhook's receiver is anyone's server, and reading a body of
/// gigabytes whole (up to `concurrency` of them at once) would take the
/// daemon's memory. The rest is not read: the connection is dropped.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A provider's answer that was classified as a success.
pub(crate) struct Answer {
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Sends `request`, reads the answer (at most [`MAX_ANSWER_BYTES`] of its
/// body) and classifies it.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    logic: &dyn RetryLogic,
    now: impl FnOnce() -> DateTime<Utc>,
) -> Result<Answer, DispatchError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = read_capped(response).await.map_err(transport_error)?;
    match logic
        .classify(status, &headers, &body, now())
        .into_error(status)
    {
        None => Ok(Answer { headers, body }),
        Some(error) => Err(error),
    }
}

/// The first [`MAX_ANSWER_BYTES`] of an answer's body.
async fn read_capped(mut response: reqwest::Response) -> Result<Bytes, reqwest::Error> {
    let mut body = BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ANSWER_BYTES - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A failure before a complete answer arrived: retriable, except requests
/// that could not even be built.
pub(crate) fn transport_error(error: reqwest::Error) -> DispatchError {
    if let Some(reason) = blocked_in_chain(&error) {
        return DispatchError::BlockedTarget(reason);
    }
    if error.is_builder() {
        return DispatchError::InvalidMessage(error_chain(&error));
    }
    DispatchError::Connection(error_chain(&error))
}

/// `error: cause: cause`, the way reqwest hides the useful part in sources.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Joins a configured base URL and a path without doubling the slash.
pub(crate) fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_handles_slashes() {
        assert_eq!(join("http://h/", "/v1/x"), "http://h/v1/x");
        assert_eq!(join("http://h", "v1/x"), "http://h/v1/x");
    }
}
