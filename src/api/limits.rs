//! Request limits (API.md, Authentication): bodies up to 4 MiB (else 413),
//! an optional per-key rate limit (`[server] rate_limit` requests/s, token
//! bucket, 0 = none) and a global in-flight cap that sheds load with 429
//! instead of queueing without bound. Every 429 carries
//! `X-RateLimit-Reset` (epoch seconds).
//!
//! Rate limiting measures real elapsed time (`std::time::Instant`), also
//! under the manual test clock: it protects the machine, not the rules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::auth::Caller;
use super::error::ApiError;

/// Largest accepted request body: 4 MiB.
pub const BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Default number of requests processed at once before shedding load.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 1024;

/// The epoch second at or after `now + wait` (rounded up), for `X-RateLimit-Reset`.
// Rate-limit windows are wall-clock by nature (clients compare the header
// with their own clock), also under the manual test clock.
#[allow(clippy::disallowed_methods)]
pub fn reset_epoch_after(wait: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    (now + wait).as_secs_f64().ceil() as u64
}

/// Announced bodies up to this size are read and discarded before the 413
/// is sent, so that the client, still writing, sees the answer instead of
/// a connection reset. Larger ones are refused at once.
pub const DRAIN_LIMIT_BYTES: usize = 2 * BODY_LIMIT_BYTES;

/// Longest time spent discarding a refused body.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Middleware: answers 413 when `Content-Length` announces a body over
/// [`BODY_LIMIT_BYTES`], before any handler runs. Bodies without a length
/// are capped while they are read (`RequestBodyLimitLayer` in the shell;
/// extractors then reject with 413).
pub async fn reject_oversized_body(req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(len) if len > BODY_LIMIT_BYTES as u64 => {
            if len <= DRAIN_LIMIT_BYTES as u64 {
                let drain = axum::body::to_bytes(req.into_body(), DRAIN_LIMIT_BYTES);
                // Whatever happens while discarding, the answer is the same.
                let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
            }
            ApiError::PayloadTooLarge {
                limit: BODY_LIMIT_BYTES,
            }
            .into_response()
        }
        _ => next.run(req).await,
    }
}

/// One key's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

/// Per-key token buckets: `per_second` tokens a second, bursts up to
/// `per_second` requests. Keys are the configured ones, so the map is bounded.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: u32,
    buckets: Mutex<HashMap<Caller, Bucket>>,
}

impl RateLimiter {
    /// A limiter allowing `per_second` requests/s per key; `None` for 0 (no limit).
    pub fn new(per_second: u32) -> Option<RateLimiter> {
        (per_second > 0).then(|| RateLimiter {
            per_second,
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `caller` at `now`, or says how long until one is
    /// available. Anonymous callers (public endpoints) are not limited.
    pub fn check(&self, caller: Caller, now: Instant) -> Result<(), Duration> {
        if caller == Caller::Anonymous {
            return Ok(());
        }
        let rate = f64::from(self.per_second);
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(caller).or_insert(Bucket {
            tokens: rate,
            refilled_at: now,
        });
        let elapsed = now
            .saturating_duration_since(bucket.refilled_at)
            .as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Middleware: applies the [`RateLimiter`] to the [`Caller`] set by the auth
/// middleware (which must run first).
pub async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    req: Request,
    next: Next,
) -> Response {
    let caller = req
        .extensions()
        .get::<Caller>()
        .copied()
        .unwrap_or(Caller::Anonymous);
    match limiter.check(caller, Instant::now()) {
        Ok(()) => next.run(req).await,
        Err(wait) => ApiError::TooManyRequests {
            reset_epoch_secs: reset_epoch_after(wait),
        }
        .into_response(),
    }
}

/// Caps the number of requests in flight; over the cap, answers 429 at once.
#[derive(Debug, Clone)]
pub struct OverloadGuard {
    permits: Arc<Semaphore>,
}

impl OverloadGuard {
    /// A guard admitting `max_in_flight` requests at once (at least 1).
    pub fn new(max_in_flight: usize) -> OverloadGuard {
        OverloadGuard {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }

    /// Requests admitted right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Paths never shed, so probes and scrapes see an overloaded daemon as alive.
fn never_shed(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Middleware: admits the request if a slot is free, else 429.
pub async fn shed_overload(
    State(guard): State<OverloadGuard>,
    req: Request,
    next: Next,
) -> Response {
    if never_shed(req.uri().path()) {
        return next.run(req).await;
    }
    match guard.permits.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            tracing::warn!("overloaded: request shed with 429");
            ApiError::TooManyRequests {
                reset_epoch_secs: reset_epoch_after(Duration::from_secs(1)),
            }
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Caller = Caller::Api { key: 0 };

    #[test]
    fn rate_limit_zero_means_none() {
        assert!(RateLimiter::new(0).is_none());
    }

    #[test]
    fn rate_limit_allows_a_burst_then_refuses_until_refill() {
        let limiter = RateLimiter::new(3).expect("limited");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check(KEY, t0), Ok(()));
        }
        let wait = limiter.check(KEY, t0).expect_err("bucket empty");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
        assert_eq!(
            limiter.check(KEY, t0 + Duration::from_millis(340)),
            Ok(()),
            "one token back after 1/3 s"
        );
        assert!(limiter.check(KEY, t0 + Duration::from_millis(340)).is_err());
    }

    #[test]
    fn rate_limit_is_per_key_and_skips_anonymous() {
        let limiter = RateLimiter::new(1).expect("limited");
        let t0 = Instant::now();
        assert_eq!(limiter.check(KEY, t0), Ok(()));
        assert!(limiter.check(KEY, t0).is_err());
        assert_eq!(limiter.check(Caller::Api { key: 1 }, t0), Ok(()));
        assert_eq!(limiter.check(Caller::Sdk { key: 0 }, t0), Ok(()));
        for _ in 0..10 {
            assert_eq!(limiter.check(Caller::Anonymous, t0), Ok(()));
        }
    }

    #[test]
    fn rate_limit_bucket_never_exceeds_one_second_of_tokens() {
        let limiter = RateLimiter::new(2).expect("limited");
        let t0 = Instant::now();
        assert_eq!(limiter.check(KEY, t0), Ok(()));
        let later = t0 + Duration::from_secs(60);
        assert_eq!(limiter.check(KEY, later), Ok(()));
        assert_eq!(limiter.check(KEY, later), Ok(()));
        assert!(
            limiter.check(KEY, later).is_err(),
            "burst capped at the rate"
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)]
    fn reset_epoch_is_in_the_future() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after epoch")
            .as_secs();
        let reset = reset_epoch_after(Duration::from_millis(1500));
        assert!(reset > now && reset <= now + 3, "{reset} vs {now}");
    }
}
