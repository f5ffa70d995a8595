//! Authentication (API.md, Authentication).
//!
//! - REST and admin endpoints need `Authorization: Bearer <api key>`; no or
//!   an unknown key is `401`, an SDK key is `403`.
//! - SDK endpoints (`/sdk/v1/…`) take `X-Sdk-Key: <sdk key>` (an API key is
//!   accepted too, in either header).
//! - `/healthz`, `/readyz`, `/metrics`, `/t/…`, `/s/…` and `/inbound/sms`
//!   need no key (tokens and provider signatures protect them).
//!
//! The middleware runs before routing decisions are visible to the caller,
//! so an unauthenticated request to an unknown REST path gets `401`, not
//! `404`. It inserts the [`Caller`] into the request extensions for the
//! handlers (an SDK caller's rights are narrower) and for the rate limiter.
//! Keys are compared as SHA-256 digests in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// Header carrying an SDK key.
pub const SDK_KEY_HEADER: &str = "x-sdk-key";

/// Who is calling, as established by the auth middleware. Always present in
/// the request extensions of routes wrapped by the shell
/// (`axum::Extension<Caller>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    /// A public endpoint: no key asked for.
    Anonymous,
    /// The API key at this index of `Settings::api_keys`.
    Api {
        /// Index of the key in the configured list.
        key: usize,
    },
    /// The SDK key at this index of `Settings::sdk_keys`.
    Sdk {
        /// Index of the key in the configured list.
        key: usize,
    },
}

/// Which key an endpoint requires, decided from its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key.
    Public,
    /// An SDK key or an API key.
    Sdk,
    /// An API key (REST and admin endpoints; everything not listed elsewhere).
    Rest,
}

/// Classifies a request path.
pub fn access_for(path: &str) -> Access {
    const PUBLIC_EXACT: [&str; 4] = ["/healthz", "/readyz", "/metrics", "/inbound/sms"];
    const PUBLIC_PREFIXES: [&str; 2] = ["/t/", "/s/"];
    if PUBLIC_EXACT.contains(&path) || PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p)) {
        Access::Public
    } else if path == "/sdk/v1" || path.starts_with("/sdk/v1/") {
        Access::Sdk
    } else {
        Access::Rest
    }
}

/// The configured keys, kept as SHA-256 digests.
#[derive(Clone)]
pub struct KeyRing {
    api: Vec<[u8; 32]>,
    sdk: Vec<[u8; 32]>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("api_keys", &self.api.len())
            .field("sdk_keys", &self.sdk.len())
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Index of the first matching digest, after comparing against all of them.
fn find(digests: &[[u8; 32]], presented: &[u8; 32]) -> Option<usize> {
    let mut found = None;
    for (index, candidate) in digests.iter().enumerate() {
        if digests_equal(candidate, presented) && found.is_none() {
            found = Some(index);
        }
    }
    found
}

impl KeyRing {
    /// Builds the ring from the configured keys.
    pub fn new(api_keys: &[String], sdk_keys: &[String]) -> KeyRing {
        KeyRing {
            api: api_keys.iter().map(|k| digest(k)).collect(),
            sdk: sdk_keys.iter().map(|k| digest(k)).collect(),
        }
    }

    /// Which configured key `presented` is, if any (API keys first).
    pub fn identify(&self, presented: &str) -> Option<Caller> {
        let presented = digest(presented);
        let api = find(&self.api, &presented);
        let sdk = find(&self.sdk, &presented);
        match (api, sdk) {
            (Some(key), _) => Some(Caller::Api { key }),
            (None, Some(key)) => Some(Caller::Sdk { key }),
            (None, None) => None,
        }
    }

    /// Decides a request: the caller, or the 401/403 to answer.
    pub fn authorize(&self, access: Access, headers: &HeaderMap) -> Result<Caller, ApiError> {
        if access == Access::Public {
            return Ok(Caller::Anonymous);
        }
        // REST takes the API key as a bearer token only (API.md); SDK
        // endpoints take `X-Sdk-Key`, or an API key as a bearer token (a
        // server acting for its users), and ignore another `Authorization`
        // scheme when `X-Sdk-Key` is there.
        let presented = match access {
            Access::Rest => match bearer_token(headers)? {
                Some(key) => Some(key),
                None => {
                    // An SDK key sent its usual way: say why it cannot work.
                    let sdk = sdk_key(headers)?.and_then(|k| self.identify(k));
                    if let Some(Caller::Sdk { .. }) = sdk {
                        return Err(sdk_key_confined());
                    }
                    None
                }
            },
            _ => match sdk_key(headers)? {
                Some(key) => Some(key),
                None => bearer_token(headers)?,
            },
        };
        let Some(presented) = presented else {
            return Err(ApiError::Unauthorized(match access {
                Access::Rest => "missing API key: send Authorization: Bearer <api key>".into(),
                _ => "missing SDK key: send X-Sdk-Key: <sdk key>".into(),
            }));
        };
        match (access, self.identify(presented)) {
            (_, None) => Err(ApiError::Unauthorized("invalid key".into())),
            (Access::Rest, Some(Caller::Sdk { .. })) => Err(sdk_key_confined()),
            (_, Some(caller)) => Ok(caller),
        }
    }
}

/// The 403 of an SDK key presented to a REST endpoint.
fn sdk_key_confined() -> ApiError {
    ApiError::Forbidden("an SDK key can only call /sdk/v1 endpoints".into())
}

/// The key of `Authorization: Bearer <key>`; another scheme is a 401.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || ApiError::Unauthorized("expected Authorization: Bearer <api key>".into());
    let text = value.to_str().map_err(|_| malformed())?.trim();
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(Some(token))
}

fn sdk_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match headers.get(SDK_KEY_HEADER) {
        None => Ok(None),
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::Unauthorized("invalid key".into()))?
                .trim();
            Ok((!key.is_empty()).then_some(key))
        }
    }
}

/// Middleware: authorizes the request, stores its [`Caller`], or answers 401/403.
pub async fn require_key(
    State(ring): State<Arc<KeyRing>>,
    mut req: Request,
    next: Next,
) -> Response {
    let access = access_for(req.uri().path());
    match ring.authorize(access, req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ring() -> KeyRing {
        KeyRing::new(&["api-1".into(), "api-2".into()], &["sdk-1".into()])
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    #[test]
    fn auth_paths_are_classified_as_api_md_lists_them() {
        for public in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/t/o/abc",
            "/t/c/x",
            "/s/xyz",
            "/inbound/sms",
        ] {
            assert_eq!(access_for(public), Access::Public, "{public}");
        }
        for sdk in ["/sdk/v1/sessions", "/sdk/v1/content_cards", "/sdk/v1"] {
            assert_eq!(access_for(sdk), Access::Sdk, "{sdk}");
        }
        for rest in [
            "/users/track",
            "/campaigns/x",
            "/admin/clock",
            "/outbox",
            "/t",
            "/sdk/v2/x",
            "/healthz/x",
            "/inbound/sms2",
        ] {
            assert_eq!(access_for(rest), Access::Rest, "{rest}");
        }
    }

    #[test]
    fn auth_rest_needs_a_bearer_api_key() {
        let ring = ring();
        assert_eq!(
            ring.authorize(Access::Rest, &headers(&[("authorization", "Bearer api-2")])),
            Ok(Caller::Api { key: 1 })
        );
        assert_eq!(
            ring.authorize(
                Access::Rest,
                &headers(&[("authorization", "bearer  api-1 ")])
            ),
            Ok(Caller::Api { key: 0 }),
            "scheme is case-insensitive, spaces trimmed"
        );
        for bad in [
            headers(&[]),
            headers(&[("authorization", "Bearer nope")]),
            headers(&[("authorization", "Basic YXBpLTE=")]),
            headers(&[("authorization", "Bearer")]),
        ] {
            let err = ring.authorize(Access::Rest, &bad).expect_err("refused");
            assert_eq!(err.status().as_u16(), 401, "{bad:?}");
        }
        // API.md: REST takes the API key as a bearer token only.
        let err = ring
            .authorize(Access::Rest, &headers(&[("x-sdk-key", "api-1")]))
            .expect_err("an API key in X-Sdk-Key is refused on REST");
        assert_eq!(err.status().as_u16(), 401);
    }

    #[test]
    fn auth_sdk_key_on_rest_endpoint_is_forbidden() {
        let ring = ring();
        for h in [
            headers(&[("authorization", "Bearer sdk-1")]),
            headers(&[("x-sdk-key", "sdk-1")]),
        ] {
            let err = ring.authorize(Access::Rest, &h).expect_err("refused");
            assert_eq!(err.status().as_u16(), 403);
        }
    }

    #[test]
    fn auth_sdk_endpoints_take_sdk_or_api_keys() {
        let ring = ring();
        assert_eq!(
            ring.authorize(Access::Sdk, &headers(&[("x-sdk-key", "sdk-1")])),
            Ok(Caller::Sdk { key: 0 })
        );
        assert_eq!(
            ring.authorize(Access::Sdk, &headers(&[("x-sdk-key", "api-1")])),
            Ok(Caller::Api { key: 0 })
        );
        assert_eq!(
            ring.authorize(Access::Sdk, &headers(&[("authorization", "Bearer api-2")])),
            Ok(Caller::Api { key: 1 })
        );
        assert_eq!(
            ring.authorize(
                Access::Sdk,
                &headers(&[("x-sdk-key", "sdk-1"), ("authorization", "Basic YXBpLTE=")])
            ),
            Ok(Caller::Sdk { key: 0 }),
            "another Authorization scheme does not hide X-Sdk-Key"
        );
        let err = ring
            .authorize(Access::Sdk, &headers(&[("x-sdk-key", "wrong")]))
            .expect_err("refused");
        assert_eq!(err.status().as_u16(), 401);
        let err = ring
            .authorize(Access::Sdk, &headers(&[]))
            .expect_err("refused");
        assert_eq!(err.status().as_u16(), 401);
    }

    #[test]
    fn auth_public_endpoints_need_no_key() {
        assert_eq!(
            ring().authorize(Access::Public, &headers(&[])),
            Ok(Caller::Anonymous)
        );
    }

    #[test]
    fn auth_digest_comparison_matches_only_equal_keys() {
        let a = digest("k");
        assert!(digests_equal(&a, &digest("k")));
        assert!(!digests_equal(&a, &digest("k ")));
        assert_eq!(find(&[digest("x"), a, a], &a), Some(1), "first match wins");
        assert_eq!(find(&[digest("x")], &a), None);
    }
}
