//! Signed tracking tokens for email opens, clicks and unsubscribes (SPEC
//! R-P2): the format, the signer and the verifier. The daemon serves
//! `GET {public_url}/t/o/{token}` (open pixel), `GET {public_url}/t/c/{token}`
//! (click redirect) and `{public_url}/t/u/{token}` (unsubscribe) and calls
//! [`TrackingSigner::verify`] on the token.
//!
//! ## Token format
//! `token = base64url(claims_json) "." base64url(mac)`, both without
//! padding, where `claims_json` is a compact object
//! `{"k":"o|c|u","s":send_id,"c":campaign_id,"e":external_id,"a":alias,"u":url}`
//! (`a` and `u` only on clicks) and `mac` is the first 16 bytes of
//! `HMAC-SHA256(secret, "t1." + base64url(claims_json))`. Every character is
//! in `[A-Za-z0-9_.-]`, so a token is safe in a URL path. Changing any
//! character of either part fails verification; the click target is inside
//! the signed claims, so `/t/c` is not an open redirect. Tokens are
//! deterministic: the same send and link always give the same token, so a
//! retried dispatch carries identical links.

mod rewrite;

pub(crate) use rewrite::decode_entities;
pub use rewrite::{add_open_pixel, rewrite_links};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::message::DispatchMeta;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a token (128 bits).
const MAC_LEN: usize = 16;
/// Domain separation of tracking MACs from other uses of the secret.
const MAC_PREFIX: &[u8] = b"t1.";

/// What a token tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrackKind {
    /// The open pixel (`/t/o`): `email_open`.
    #[serde(rename = "o")]
    Open,
    /// A rewritten link (`/t/c`): `email_click`, `email_click_alias`.
    #[serde(rename = "c")]
    Click,
    /// The `List-Unsubscribe` link (`/t/u`).
    #[serde(rename = "u")]
    Unsubscribe,
}

impl TrackKind {
    /// The path segment the daemon serves this kind under (`o`, `c`, `u`).
    pub fn path_segment(self) -> &'static str {
        match self {
            TrackKind::Open => "o",
            TrackKind::Click => "c",
            TrackKind::Unsubscribe => "u",
        }
    }
}

/// What a token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingClaims {
    /// Open, click or unsubscribe.
    #[serde(rename = "k")]
    pub kind: TrackKind,
    /// The send.
    #[serde(rename = "s")]
    pub send_id: String,
    /// The campaign (so attribution survives the outbox's retention).
    #[serde(rename = "c")]
    pub campaign_id: String,
    /// The user.
    #[serde(rename = "e")]
    pub external_id: String,
    /// Link alias (clicks): `data-link-alias` of the link, else `link_<n>`.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Redirect target (clicks).
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl TrackingClaims {
    /// Claims of `kind` for the send described by `meta`.
    pub fn for_send(kind: TrackKind, meta: &DispatchMeta) -> Self {
        TrackingClaims {
            kind,
            send_id: meta.send_id.clone(),
            campaign_id: meta.campaign_id.clone(),
            external_id: meta.external_id.clone(),
            alias: None,
            url: None,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `payload.mac` in base64url, or the claims do not parse.
    #[error("malformed tracking token")]
    Malformed,
    /// The MAC does not match: forged or altered.
    #[error("tracking token signature does not match")]
    BadSignature,
    /// A valid token of another kind (e.g. an open token on `/t/c`).
    #[error("tracking token is for {0:?}, not this endpoint")]
    WrongKind(TrackKind),
}

/// Signs and verifies tracking tokens and builds tracking URLs.
#[derive(Clone)]
pub struct TrackingSigner {
    secret: std::sync::Arc<[u8]>,
    public_url: String,
}

impl std::fmt::Debug for TrackingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackingSigner")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl TrackingSigner {
    /// A signer for links under `public_url` (API.md `[server] public_url`).
    /// The secret must be at least 16 bytes.
    pub fn new(secret: impl AsRef<[u8]>, public_url: &str) -> Result<Self> {
        let secret = secret.as_ref();
        if secret.len() < 16 {
            return Err(Error::config(
                "tracking secret",
                "must be at least 16 bytes",
            ));
        }
        let parsed = url::Url::parse(public_url)
            .map_err(|e| Error::config("server.public_url", e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::config("server.public_url", "must be http(s)"));
        }
        Ok(TrackingSigner {
            secret: secret.into(),
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The base URL, without a trailing slash.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(MAC_PREFIX);
        mac.update(payload.as_bytes());
        mac
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &TrackingClaims) -> String {
        // Serialising a struct of strings into JSON cannot fail.
        let json = serde_json::to_vec(claims).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&tag[..MAC_LEN]))
    }

    /// The claims of an authentic token.
    pub fn verify(&self, token: &str) -> Result<TrackingClaims, TokenError> {
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        if tag.len() != MAC_LEN {
            return Err(TokenError::Malformed);
        }
        self.mac(payload)
            .verify_truncated_left(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
    }

    /// [`verify`](Self::verify), also requiring the token's kind (the
    /// endpoint it was presented to).
    pub fn verify_kind(&self, token: &str, kind: TrackKind) -> Result<TrackingClaims, TokenError> {
        let claims = self.verify(token)?;
        if claims.kind != kind {
            return Err(TokenError::WrongKind(claims.kind));
        }
        Ok(claims)
    }

    /// `{public_url}/t/{o|c|u}/{token}`.
    pub fn url(&self, claims: &TrackingClaims) -> String {
        format!(
            "{}/t/{}/{}",
            self.public_url,
            claims.kind.path_segment(),
            self.sign(claims)
        )
    }

    /// The open pixel URL of a send.
    pub fn open_url(&self, meta: &DispatchMeta) -> String {
        self.url(&TrackingClaims::for_send(TrackKind::Open, meta))
    }

    /// The click URL of a link of a send.
    pub fn click_url(&self, meta: &DispatchMeta, alias: &str, target: &str) -> String {
        let mut claims = TrackingClaims::for_send(TrackKind::Click, meta);
        claims.alias = Some(alias.to_owned());
        claims.url = Some(target.to_owned());
        self.url(&claims)
    }

    /// The unsubscribe URL of a send.
    pub fn unsubscribe_url(&self, meta: &DispatchMeta) -> String {
        self.url(&TrackingClaims::for_send(TrackKind::Unsubscribe, meta))
    }

    /// The HTML with every http(s) link rewritten to a click URL and the
    /// open pixel added.
    pub fn track_html(&self, html: &str, meta: &DispatchMeta) -> String {
        let rewritten = rewrite_links(html, |alias, target| {
            if target.starts_with(&self.public_url) {
                None
            } else {
                Some(self.click_url(meta, alias, target))
            }
        });
        add_open_pixel(&rewritten, &self.open_url(meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TrackingSigner {
        TrackingSigner::new("0123456789abcdef-secret", "https://t.example.com/").expect("signer")
    }

    fn meta() -> DispatchMeta {
        DispatchMeta {
            send_id: "snd_1".into(),
            campaign_id: "cmp".into(),
            external_id: "u1".into(),
            due: chrono::DateTime::UNIX_EPOCH,
            attempt: 1,
        }
    }

    fn token_of(url: &str) -> &str {
        url.rsplit('/').next().expect("token")
    }

    #[test]
    fn r_p2_click_token_round_trips_send_alias_and_target() {
        let s = signer();
        let url = s.click_url(&meta(), "cta", "https://shop.example.com/cart?a=1&b=2");
        assert!(url.starts_with("https://t.example.com/t/c/"));
        let token = token_of(&url);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "{token}"
        );
        let claims = s.verify_kind(token, TrackKind::Click).expect("valid");
        assert_eq!(claims.send_id, "snd_1");
        assert_eq!(claims.campaign_id, "cmp");
        assert_eq!(claims.external_id, "u1");
        assert_eq!(claims.alias.as_deref(), Some("cta"));
        assert_eq!(
            claims.url.as_deref(),
            Some("https://shop.example.com/cart?a=1&b=2")
        );
    }

    #[test]
    fn r_p2_tokens_are_deterministic() {
        let s = signer();
        assert_eq!(s.open_url(&meta()), s.open_url(&meta()));
    }

    #[test]
    fn r_p2_tampered_payload_is_refused() {
        let s = signer();
        let token = s.sign(&TrackingClaims {
            url: Some("https://good.example".into()),
            alias: Some("a".into()),
            ..TrackingClaims::for_send(TrackKind::Click, &meta())
        });
        let (_, tag) = token.split_once('.').expect("two parts");
        let evil = TrackingClaims {
            url: Some("https://evil.example".into()),
            alias: Some("a".into()),
            ..TrackingClaims::for_send(TrackKind::Click, &meta())
        };
        let evil_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&evil).expect("json"));
        let forged = format!("{evil_payload}.{tag}");
        assert_eq!(s.verify(&forged), Err(TokenError::BadSignature));
    }

    #[test]
    fn r_p2_every_single_character_change_is_refused() {
        let s = signer();
        let token = s.sign(&TrackingClaims::for_send(TrackKind::Open, &meta()));
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            let mut altered = bytes.to_vec();
            altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).expect("ascii");
            assert!(s.verify(&altered).is_err(), "position {i} accepted");
        }
    }

    #[test]
    fn r_p2_other_secret_and_wrong_kind_are_refused() {
        let token = signer().sign(&TrackingClaims::for_send(TrackKind::Open, &meta()));
        let other =
            TrackingSigner::new("another-secret-of-16+", "https://t.example.com").expect("signer");
        assert_eq!(other.verify(&token), Err(TokenError::BadSignature));
        assert_eq!(
            signer().verify_kind(&token, TrackKind::Click),
            Err(TokenError::WrongKind(TrackKind::Open))
        );
        assert_eq!(signer().verify("nodot"), Err(TokenError::Malformed));
        assert_eq!(signer().verify("a.b"), Err(TokenError::Malformed));
    }

    #[test]
    fn short_secret_is_refused() {
        assert!(TrackingSigner::new("short", "https://x").is_err());
        assert!(TrackingSigner::new("0123456789abcdef", "ftp://x").is_err());
    }

    #[test]
    fn r_p2_track_html_rewrites_links_and_adds_pixel() {
        let s = signer();
        let html = r#"<html><body><p><a href="https://a.example/x?y=1&amp;z=2">A</a>
            <a data-link-alias="buy" href='https://b.example'>B</a>
            <a href="mailto:x@y">mail</a> <a href="https://t.example.com/t/c/already">T</a></p></body></html>"#;
        let out = s.track_html(html, &meta());
        assert!(out.contains(r#"href="mailto:x@y""#));
        assert!(out.contains(r#"href="https://t.example.com/t/c/already""#));
        assert!(!out.contains("a.example"));
        assert!(!out.contains("b.example"));
        let tokens: Vec<&str> = out
            .match_indices("https://t.example.com/t/c/")
            .map(|(i, p)| {
                let rest = &out[i + p.len()..];
                &rest[..rest.find(['"', '\'']).expect("quote")]
            })
            .filter(|t| *t != "already")
            .collect();
        assert_eq!(tokens.len(), 2);
        let first = s.verify(tokens[0]).expect("valid");
        assert_eq!(first.alias.as_deref(), Some("link_1"));
        assert_eq!(first.url.as_deref(), Some("https://a.example/x?y=1&z=2"));
        let second = s.verify(tokens[1]).expect("valid");
        assert_eq!(second.alias.as_deref(), Some("buy"));
        let pixel = format!(r#"<img src="{}""#, s.open_url(&meta()));
        let at = out.find(&pixel).expect("pixel present");
        assert!(at < out.find("</body>").expect("body end"));
    }
}
