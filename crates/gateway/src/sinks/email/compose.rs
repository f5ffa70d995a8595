//! Builds the MIME message: `multipart/alternative` (text, then HTML), a
//! `Message-ID` derived from the `send_id`, `List-Unsubscribe` (with
//! RFC 8058 one-click for http(s) links) and `X-Triggerd-Send-Id`.

use lettre::Message as MimeMessage;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use sha2::{Digest, Sha256};

use super::html_text::html_to_text;
use crate::error::DispatchError;
use crate::message::{DispatchMeta, EmailMessage};

/// `<{send_id}@triggerd>`: stable across attempts and restarts (R-K3). A
/// `send_id` with characters not allowed in a message id is replaced by
/// `h` + 32 hex digits of its SHA-256.
pub fn message_id(send_id: &str) -> String {
    let safe = !send_id.is_empty()
        && send_id.len() <= 200
        && send_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+=!#$%&'*/?^`{|}~".contains(c))
        && !send_id.starts_with('.')
        && !send_id.ends_with('.')
        && !send_id.contains("..");
    if safe {
        format!("<{send_id}@triggerd>")
    } else {
        let digest = Sha256::digest(send_id.as_bytes());
        format!("<h{}@triggerd>", hex::encode(&digest[..16]))
    }
}

macro_rules! text_header {
    ($name:ident, $header:literal) => {
        #[derive(Debug, Clone)]
        struct $name(String);

        impl Header for $name {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($header)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($name(s.to_owned()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), self.0.clone())
            }
        }
    };
}

text_header!(ListUnsubscribe, "List-Unsubscribe");
text_header!(ListUnsubscribePost, "List-Unsubscribe-Post");
text_header!(SendIdHeader, "X-Triggerd-Send-Id");

fn mailbox(what: &str, text: &str) -> Result<Mailbox, DispatchError> {
    text.trim()
        .parse()
        .map_err(|e| DispatchError::InvalidMessage(format!("{what} address `{text}`: {e}")))
}

/// The MIME message for `email`, sent from `email.from` or `default_from`.
pub fn compose(
    email: &EmailMessage,
    meta: &DispatchMeta,
    default_from: &Mailbox,
) -> Result<MimeMessage, DispatchError> {
    let from = match email.from.as_deref().filter(|f| !f.trim().is_empty()) {
        Some(from) => mailbox("from", from)?,
        None => default_from.clone(),
    };
    let to = mailbox("to", &email.to)?;
    let text = match email.text.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(text) => text.to_owned(),
        None => html_to_text(&email.html),
    };
    let mut builder = MimeMessage::builder()
        .message_id(Some(message_id(&meta.send_id)))
        .from(from)
        .to(to)
        .subject(email.subject.clone());
    builder = builder.header(SendIdHeader(meta.send_id.clone()));
    if let Some(link) = email.list_unsubscribe.as_deref().filter(|l| !l.is_empty()) {
        builder = builder.header(ListUnsubscribe(format!("<{link}>")));
        if link.starts_with("https://") || link.starts_with("http://") {
            builder = builder.header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()));
        }
    }
    builder
        .multipart(MultiPart::alternative_plain_html(text, email.html.clone()))
        .map_err(|e| DispatchError::InvalidMessage(format!("email: {e}")))
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

    fn email() -> EmailMessage {
        EmailMessage {
            to: "Ann <ann@example.com>".into(),
            from: None,
            subject: "Héllo".into(),
            html: "<p>Hi <b>Ann</b></p>".into(),
            text: None,
            list_unsubscribe: Some("https://t.example/t/u/tok".into()),
        }
    }

    #[test]
    fn r_k3_message_id_is_stable_and_valid() {
        assert_eq!(message_id("snd_01HX"), "<snd_01HX@triggerd>");
        assert_eq!(message_id("a b"), message_id("a b"));
        assert!(message_id("a b").starts_with("<h"));
        assert_ne!(message_id("a b"), message_id("a  b"));
        assert!(message_id("x..y").starts_with("<h"));
    }

    #[test]
    fn composed_message_has_both_parts_and_headers() {
        let from: Mailbox = "news@example.com".parse().expect("mailbox");
        let mime = compose(&email(), &meta("snd_1"), &from).expect("compose");
        let raw = String::from_utf8(mime.formatted()).expect("utf8");
        assert!(raw.contains("Message-ID: <snd_1@triggerd>"), "{raw}");
        assert!(raw.contains("List-Unsubscribe: <https://t.example/t/u/tok>"));
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("X-Triggerd-Send-Id: snd_1"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain"));
        assert!(raw.contains("text/html"));
        assert!(raw.contains("From: news@example.com"));
    }

    #[test]
    fn bad_recipient_is_a_permanent_error() {
        let from: Mailbox = "news@example.com".parse().expect("mailbox");
        let mut bad = email();
        bad.to = "not an address".into();
        let err = compose(&bad, &meta("s"), &from).expect_err("invalid");
        assert!(!err.is_retriable());
    }
}
