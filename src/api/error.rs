//! HTTP errors, always answered as JSON `{"message": "...", "errors": [...]}`
//! (Braze clients parse every answer as JSON), and the extractors
//! [`ApiJson`] and [`ApiQuery`] whose rejections use that shape.
//!
//! [`json_error_safety_net`] is the last line of defence: any error answer
//! that some layer produced without a JSON body (axum's own rejections, the
//! default 405, tower-http layers) is rewritten into the same shape.

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Name of the header carrying the epoch second at which a 429 ends.
pub const RATE_LIMIT_RESET: &str = "x-ratelimit-reset";

/// An error answer. Each variant fixes its status code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad query, too many objects).
    #[error("{message}")]
    BadRequest {
        /// Human-readable summary.
        message: String,
        /// Details, one JSON value each.
        errors: Vec<Value>,
    },
    /// 401: no key, or an unknown key.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a valid key without the right to this endpoint.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such route or resource.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists with other methods.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 413: body over the limit.
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid (e.g. `invalid campaign` with per-path errors).
    #[error("{message}")]
    Unprocessable {
        /// Human-readable summary.
        message: String,
        /// Details, e.g. `{"path":"delay","message":"…"}`.
        errors: Vec<Value>,
    },
    /// 429: rate limited or overloaded; retry after `reset_epoch_secs`.
    #[error("too many requests")]
    TooManyRequests {
        /// Epoch second sent as `X-RateLimit-Reset`.
        reset_epoch_secs: u64,
    },
    /// 503: storage (or another dependency) unavailable.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug; the message is logged, the answer stays generic.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with a message and no details.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// 422 with a message and details.
    pub fn unprocessable(message: impl Into<String>, errors: Vec<Value>) -> ApiError {
        ApiError::Unprocessable {
            message: message.into(),
            errors,
        }
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::NotFound(message.into())
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body: `{"message": …, "errors": […]}`.
    pub fn body(&self) -> Value {
        let errors = match self {
            ApiError::BadRequest { errors, .. } | ApiError::Unprocessable { errors, .. } => {
                errors.clone()
            }
            _ => Vec::new(),
        };
        let message = match self {
            ApiError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        json!({ "message": message, "errors": errors })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error answered with 500");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::TooManyRequests { reset_epoch_secs } = self {
            let headers = response.headers_mut();
            headers.insert(RATE_LIMIT_RESET, HeaderValue::from(reset_epoch_secs));
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
                limit: crate::api::limits::BODY_LIMIT_BYTES,
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(message),
            // Valid JSON of the wrong shape is a malformed request too (API.md: 400).
            _ => ApiError::bad_request(message),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(rejection.body_text())
    }
}

/// `axum::Json` with JSON error answers: malformed or wrongly shaped body
/// 400, wrong content type 415, body over the limit 413. Also a response
/// type (serializes `T` with status 200).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(value))
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Query` whose rejection is a JSON 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(value))
    }
}

/// Fallback for unknown routes: 404 JSON.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Fallback for known routes called with another method: 405 JSON.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Largest non-JSON error body kept as the message of the rewritten answer.
const MAX_REWRITTEN_BODY: usize = 16 * 1024;

/// Middleware: rewrites any 4xx/5xx answer whose body is not JSON into
/// `{"message": …, "errors": []}`, keeping status and other headers
/// (`Allow`, `X-RateLimit-Reset`, …). The message is the original text, or
/// the status's reason phrase when that was empty.
pub async fn json_error_safety_net(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let body = json!({ "message": message, "errors": [] }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let mime = ct.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_have_fixed_statuses_and_json_bodies() {
        let cases = [
            (ApiError::bad_request("bad"), 400),
            (ApiError::Unauthorized("who".into()), 401),
            (ApiError::Forbidden("no".into()), 403),
            (ApiError::not_found("gone"), 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::Conflict("clash".into()), 409),
            (ApiError::PayloadTooLarge { limit: 4 }, 413),
            (ApiError::UnsupportedMediaType("json".into()), 415),
            (
                ApiError::unprocessable("invalid campaign", vec![json!({"path":"delay"})]),
                422,
            ),
            (
                ApiError::TooManyRequests {
                    reset_epoch_secs: 7,
                },
                429,
            ),
            (ApiError::Unavailable("store".into()), 503),
            (ApiError::Internal("oops".into()), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            let body = error.body();
            assert!(body["message"].is_string(), "{body}");
            assert!(body["errors"].is_array(), "{body}");
        }
    }

    #[test]
    fn api_unprocessable_keeps_its_details() {
        let e = ApiError::unprocessable(
            "invalid campaign",
            vec![json!({"path":"delay","message":"bad"})],
        );
        assert_eq!(
            e.body(),
            json!({"message":"invalid campaign","errors":[{"path":"delay","message":"bad"}]})
        );
    }

    #[test]
    fn api_internal_errors_do_not_leak_details() {
        let body = ApiError::Internal("secret path /x".into()).body();
        assert_eq!(body["message"], "internal error");
    }

    #[test]
    fn api_429_carries_reset_header() {
        let response = ApiError::TooManyRequests {
            reset_epoch_secs: 1_767_600_000,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(RATE_LIMIT_RESET)
                .map(|v| v.as_bytes()),
            Some(&b"1767600000"[..])
        );
    }
}
