//! Short links for SMS (R-P3): the [`Shortener`] trait the daemon
//! implements (it serves `GET /s/{code}` and emits `sms_short_link_click`),
//! [`shorten_urls`] that replaces every URL of a body, and a deterministic
//! in-memory [`MemoryShortener`] for tests.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use regex::Regex;
use sha2::{Digest, Sha256};

use crate::message::DispatchMeta;

/// The shortener could not record a link; the attempt is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot shorten link: {0}")]
pub struct ShortenError(pub String);

/// Turns a long URL of a send into a short one.
#[async_trait]
pub trait Shortener: Send + Sync + 'static {
    /// The short URL for `url` in the send `meta`. Must be idempotent: the
    /// same (`send_id`, `url`) gives the same short URL on every attempt.
    async fn shorten(&self, meta: &DispatchMeta, url: &str) -> Result<String, ShortenError>;
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bhttps?://[^\s<>"']+"#).unwrap_or_else(|_| unreachable!("constant regex"))
});

/// Replaces every http(s) URL of `body` by its short link. Trailing
/// punctuation (`.`, `,`, `)`, …) stays outside the link.
pub async fn shorten_urls(
    body: &str,
    meta: &DispatchMeta,
    shortener: &dyn Shortener,
) -> Result<String, ShortenError> {
    let mut out = String::with_capacity(body.len());
    let mut last = 0;
    for found in URL.find_iter(body) {
        let url = found
            .as_str()
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '}']);
        out.push_str(&body[last..found.start()]);
        out.push_str(&shortener.shorten(meta, url).await?);
        last = found.start() + url.len();
    }
    out.push_str(&body[last..]);
    Ok(out)
}

/// What a short code stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLink {
    /// The send whose body carried the link.
    pub send_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The user.
    pub external_id: String,
    /// The original URL.
    pub url: String,
}

/// A deterministic in-memory shortener: the code is the first 48 bits of
/// SHA-256(`send_id` NUL `url`) in base64url, the link `{base}/s/{code}`.
#[derive(Debug, Clone)]
pub struct MemoryShortener {
    base: String,
    links: Arc<Mutex<HashMap<String, ShortLink>>>,
}

impl MemoryShortener {
    /// Short links under `base` (e.g. the daemon's `public_url`).
    pub fn new(base: &str) -> Self {
        MemoryShortener {
            base: base.trim_end_matches('/').to_owned(),
            links: Arc::default(),
        }
    }

    /// The link behind `code`.
    pub fn resolve(&self, code: &str) -> Option<ShortLink> {
        self.links.lock().get(code).cloned()
    }
}

#[async_trait]
impl Shortener for MemoryShortener {
    async fn shorten(&self, meta: &DispatchMeta, url: &str) -> Result<String, ShortenError> {
        let mut hasher = Sha256::new();
        hasher.update(meta.send_id.as_bytes());
        hasher.update([0]);
        hasher.update(url.as_bytes());
        let code = URL_SAFE_NO_PAD.encode(&hasher.finalize()[..6]);
        self.links.lock().insert(
            code.clone(),
            ShortLink {
                send_id: meta.send_id.clone(),
                campaign_id: meta.campaign_id.clone(),
                external_id: meta.external_id.clone(),
                url: url.to_owned(),
            },
        );
        Ok(format!("{}/s/{code}", self.base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(send_id: &str) -> DispatchMeta {
        DispatchMeta {
            send_id: send_id.into(),
            campaign_id: "c".into(),
            external_id: "u".into(),
            due: chrono::DateTime::UNIX_EPOCH,
            attempt: 1,
        }
    }

    #[tokio::test]
    async fn r_p3_urls_are_replaced_and_punctuation_kept() {
        let s = MemoryShortener::new("https://t.example/");
        let body = "Cart: https://shop.example/cart?id=1&x=2. Or (http://a.example/b), bye";
        let out = shorten_urls(body, &meta("s1"), &s)
            .await
            .expect("shortened");
        assert!(!out.contains("shop.example"), "{out}");
        assert!(!out.contains("a.example"));
        assert!(out.starts_with("Cart: https://t.example/s/"));
        assert!(out.contains(". Or (https://t.example/s/"));
        assert!(out.ends_with("), bye"));
        let code = out["Cart: https://t.example/s/".len()..]
            .split('.')
            .next()
            .expect("code");
        let link = s.resolve(code).expect("known code");
        assert_eq!(link.url, "https://shop.example/cart?id=1&x=2");
        assert_eq!(link.send_id, "s1");
    }

    #[tokio::test]
    async fn r_p3_shortening_is_deterministic_per_send() {
        let s = MemoryShortener::new("https://t.example");
        let a = s
            .shorten(&meta("s1"), "https://x.example")
            .await
            .expect("a");
        let again = s
            .shorten(&meta("s1"), "https://x.example")
            .await
            .expect("b");
        let other = s
            .shorten(&meta("s2"), "https://x.example")
            .await
            .expect("c");
        assert_eq!(a, again);
        assert_ne!(a, other);
    }

    #[tokio::test]
    async fn body_without_urls_is_unchanged() {
        let s = MemoryShortener::new("https://t.example");
        let out = shorten_urls("no links here", &meta("s"), &s)
            .await
            .expect("ok");
        assert_eq!(out, "no links here");
    }
}
