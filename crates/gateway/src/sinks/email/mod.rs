//! Email adapter: SMTP through `lettre` (plain, STARTTLS, implicit TLS,
//! authentication, pooled `TCP_NODELAY` connections), multipart HTML + text, a stable
//! `Message-ID` derived from the `send_id` (R-K3) and `List-Unsubscribe`.
//!
//! [`prepare`] is applied by the gateway before routing, so the outbox shows
//! the same content an SMTP server would get: a text part derived from the
//! HTML when none is given, tracked links, the open pixel and the signed
//! unsubscribe link (R-P2).

mod compose;
mod config;
mod html_text;
mod pool;
mod service;
mod transport;

pub use compose::{compose, message_id};
pub use config::{EmailConfig, EmailProvider};
pub use html_text::html_to_text;
pub use service::EmailAdapter;

use crate::message::{DispatchMeta, EmailMessage};
use crate::tracking::TrackingSigner;

/// The email as it is delivered: text derived from the (untracked) HTML
/// when missing; with tracking, links rewritten to `/t/c/…`, the open pixel
/// added and `list_unsubscribe` set to `/t/u/…` unless already given.
/// Deterministic, so a retried attempt sends identical content.
pub fn prepare(
    email: &EmailMessage,
    meta: &DispatchMeta,
    tracking: Option<&TrackingSigner>,
) -> EmailMessage {
    let mut prepared = email.clone();
    if prepared.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
        prepared.text = Some(html_to_text(&email.html));
    }
    if let Some(signer) = tracking {
        prepared.html = signer.track_html(&email.html, meta);
        if prepared.list_unsubscribe.is_none() {
            prepared.list_unsubscribe = Some(signer.unsubscribe_url(meta));
        }
    }
    prepared
}
