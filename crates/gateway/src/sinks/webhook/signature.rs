//! The webhook signature header, and how a receiver verifies it.
//!
//! Every webhook request made with a configured `signing_secret` carries
//!
//! ```text
//! X-Triggerd-Signature: t=1767603600,v1=5f2b…(64 hex digits)
//! ```
//!
//! where `t` is the Unix time (seconds) of the attempt and `v1` is the
//! lowercase hex HMAC-SHA256, keyed with the secret, of the bytes
//! `"{t}.{body}"` (the decimal timestamp, a dot, then the raw request body
//! exactly as received). To verify a request, a receiver:
//!
//! 1. reads the header and splits it on `,` into `key=value` pairs; takes `t`
//!    and every `v1` (several `v1` may appear while a secret is rotated);
//! 2. computes `HMAC-SHA256(secret, t + "." + raw_body)` in hex;
//! 3. compares it with each `v1` in constant time; one match is required;
//! 4. rejects the request when `|now − t|` exceeds a tolerance (5 minutes is
//!    usual), which stops replays of a captured request;
//! 5. deduplicates on `Idempotency-Key` (the `send_id`): a retry of the same
//!    send carries the same key, a new `t` and a new signature.
//!
//! [`verify_signature`] does steps 1–4 in Rust:
//!
//! ```
//! use triggerd_gateway::webhook_signature::{sign, verify_signature};
//! let body = br#"{"hello":"world"}"#;
//! let header = sign(b"s3cret", 1_767_603_600, body);
//! let now = chrono::DateTime::from_timestamp(1_767_603_630, 0).expect("instant");
//! assert!(verify_signature(b"s3cret", &header, body, now, std::time::Duration::from_secs(300)).is_ok());
//! assert!(verify_signature(b"wrong", &header, body, now, std::time::Duration::from_secs(300)).is_err());
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "X-Triggerd-Signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("malformed signature header")]
    Malformed,
    /// No `v1` matches the body and timestamp.
    #[error("signature does not match")]
    Mismatch,
    /// The timestamp is further from now than the tolerance.
    #[error("signature timestamp is outside the tolerance")]
    Expired,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks a received header against the raw body: the HMAC must match one
/// `v1` and `t` must be within `tolerance` of `now`.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                )
            }
            "v1" => candidates.push(hex::decode(value).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = candidates
        .iter()
        .any(|candidate| mac(secret, timestamp, body).verify_slice(candidate).is_ok());
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let age = now.timestamp().abs_diff(timestamp);
    if age > tolerance.as_secs() {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).expect("instant")
    }

    const FIVE_MIN: Duration = Duration::from_secs(300);

    #[test]
    fn signature_has_the_documented_shape() {
        let h = sign(b"k", 42, b"body");
        let (t, v1) = h.split_once(",v1=").expect("two parts");
        assert_eq!(t, "t=42");
        assert_eq!(v1.len(), 64);
        // HMAC-SHA256("k", "42.body") computed independently.
        let mut m = HmacSha256::new_from_slice(b"k").expect("key");
        m.update(b"42.body");
        assert_eq!(v1, hex::encode(m.finalize().into_bytes()));
    }

    #[test]
    fn verify_accepts_the_signed_body_only() {
        let h = sign(b"k", 1000, b"body");
        assert_eq!(
            verify_signature(b"k", &h, b"body", at(1010), FIVE_MIN),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"k", &h, b"bodY", at(1010), FIVE_MIN),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", &h, b"body", at(1010), FIVE_MIN),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn verify_refuses_a_moved_timestamp_and_old_requests() {
        let h = sign(b"k", 1000, b"body");
        let moved = h.replace("t=1000", "t=1001");
        assert_eq!(
            verify_signature(b"k", &moved, b"body", at(1001), FIVE_MIN),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"k", &h, b"body", at(1000 + 301), FIVE_MIN),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn verify_accepts_any_of_several_v1_and_rejects_garbage() {
        let good = sign(b"new", 5, b"x");
        let old = sign(b"old", 5, b"x");
        let both = format!("{},{}", old, good.trim_start_matches("t=5,"));
        assert_eq!(
            verify_signature(b"new", &both, b"x", at(5), FIVE_MIN),
            Ok(())
        );
        assert_eq!(
            verify_signature(b"k", "garbage", b"x", at(5), FIVE_MIN),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature(b"k", "t=5", b"x", at(5), FIVE_MIN),
            Err(SignatureError::Malformed)
        );
    }
}
