//! Email adapter against a real SMTP server process (aiosmtpd): plain,
//! STARTTLS with authentication, implicit TLS, pooled concurrent sends,
//! tracking links and SMTP error classification. When aiosmtpd is missing
//! these tests fail with a message that says how to install it.

use std::sync::Arc;
use std::time::Duration;

use triggerd_gateway::sinks::email::message_id;
use triggerd_gateway::{
    Adapter, ChannelsConfig, DispatchError, EmailAdapter, EmailConfig, EmailMessage, Gateway,
    MemoryStore, Message, TrackKind, TrackingSigner, Via,
};

use crate::support::{SmtpMode, SmtpSink, TlsFiles, closed_port, mail_header, mail_part, meta};

const PUBLIC_URL: &str = "https://triggerd.example";

fn signer() -> TrackingSigner {
    TrackingSigner::new("tracking-secret-0123456789", PUBLIC_URL).expect("signer")
}

fn email(to: &str) -> Message {
    Message::Email(EmailMessage {
        to: to.to_owned(),
        from: None,
        subject: "You left 150$ behind".to_owned(),
        html: r#"<html><body><p>Hi Ann,</p><p><a href="https://shop.example/cart?id=42&amp;u=1">Back to cart</a> or <a data-link-alias="browse" href="https://shop.example/new">see what's new</a>.</p></body></html>"#.to_owned(),
        text: None,
        list_unsubscribe: None,
    })
}

fn config(url: String) -> EmailConfig {
    let mut config = EmailConfig::new(url, "Shop <news@shop.example>");
    config.tuning.timeout = Duration::from_secs(5);
    config
}

async fn gateway(config: EmailConfig) -> Gateway {
    Gateway::builder(
        ChannelsConfig {
            email: Some(config),
            ..ChannelsConfig::default()
        },
        Arc::new(MemoryStore::new()),
    )
    .tracking(signer())
    .build()
    .expect("gateway")
}

/// The tokens of every `{PUBLIC_URL}/t/{kind}/{token}` in `text`.
fn tokens(text: &str, kind: &str) -> Vec<String> {
    let prefix = format!("{PUBLIC_URL}/t/{kind}/");
    text.match_indices(&prefix)
        .map(|(i, p)| {
            text[i + p.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn r_p2_real_smtp_gets_multipart_tracked_mail_with_stable_message_id() {
    let sink = SmtpSink::start(SmtpMode::Plain, None, None);
    let gw = gateway(config(format!("smtp://127.0.0.1:{}", sink.port))).await;
    let delivered = gw
        .dispatch(email("Ann <ann@example.com>"), &meta("snd_mail_1", 1))
        .await
        .expect("accepted");
    assert_eq!(delivered.via, Via::Smtp);
    assert_eq!(delivered.provider_message_id, "<snd_mail_1@triggerd>");

    let messages = sink.wait_for(1);
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m["mail_from"], "news@shop.example");
    assert_eq!(m["rcpt_tos"][0], "ann@example.com");
    assert_eq!(mail_header(m, "Message-ID"), Some("<snd_mail_1@triggerd>"));
    assert_eq!(mail_header(m, "Subject"), Some("You left 150$ behind"));
    assert_eq!(mail_header(m, "X-Triggerd-Send-Id"), Some("snd_mail_1"));
    assert_eq!(m["content_type"], "multipart/alternative");

    let html = mail_part(m, "text/html").expect("html part");
    let opens = tokens(html, "o");
    assert_eq!(opens.len(), 1, "one open pixel: {html}");
    assert!(html.contains(&format!(r#"<img src="{PUBLIC_URL}/t/o/{}""#, opens[0])));
    let open = signer()
        .verify_kind(&opens[0], TrackKind::Open)
        .expect("open token");
    assert_eq!(open.send_id, "snd_mail_1");
    assert_eq!(open.campaign_id, "cmp_1");
    assert_eq!(open.external_id, "u1");
    assert!(
        !html.contains("https://shop.example"),
        "links rewritten: {html}"
    );
    let clicks: Vec<_> = tokens(html, "c")
        .iter()
        .map(|t| {
            signer()
                .verify_kind(t, TrackKind::Click)
                .expect("click token")
        })
        .collect();
    assert_eq!(clicks.len(), 2);
    assert_eq!(clicks[0].alias.as_deref(), Some("link_1"));
    assert_eq!(
        clicks[0].url.as_deref(),
        Some("https://shop.example/cart?id=42&u=1")
    );
    assert_eq!(clicks[1].alias.as_deref(), Some("browse"));

    let text = mail_part(m, "text/plain").expect("text part");
    assert!(
        text.contains("Back to cart (https://shop.example/cart?id=42&u=1)"),
        "text derived from HTML: {text}"
    );
    let unsubscribe = mail_header(m, "List-Unsubscribe").expect("List-Unsubscribe");
    let unsub = tokens(unsubscribe, "u");
    assert_eq!(unsub.len(), 1, "{unsubscribe}");
    assert!(
        signer()
            .verify_kind(&unsub[0], TrackKind::Unsubscribe)
            .is_ok()
    );
    assert_eq!(
        mail_header(m, "List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );

    // A retry of the same send carries the same Message-ID and links.
    gw.dispatch(email("Ann <ann@example.com>"), &meta("snd_mail_1", 2))
        .await
        .expect("accepted again");
    let messages = sink.wait_for(2);
    assert_eq!(
        mail_header(&messages[1], "Message-ID"),
        Some("<snd_mail_1@triggerd>")
    );
    assert_eq!(mail_part(&messages[1], "text/html"), Some(html));
}

#[tokio::test]
async fn real_smtp_starttls_with_auth() {
    let tls = TlsFiles::generate();
    let sink = SmtpSink::start(SmtpMode::StartTls, Some(&tls), Some("mailer:s3cr%t"));
    let mut cfg = config(format!(
        "smtp://mailer:s3cr%25t@127.0.0.1:{}?tls=starttls",
        sink.port
    ));
    cfg.tls_ca_file = Some(tls.cert.clone());
    let adapter = EmailAdapter::new(&cfg).expect("adapter");
    let accepted = adapter
        .dispatch(&email("bob@example.com"), &meta("snd_tls", 1))
        .await
        .expect("accepted over STARTTLS");
    assert_eq!(accepted.provider_message_id, message_id("snd_tls"));
    let messages = sink.wait_for(1);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["login"], "mailer");
}

#[tokio::test]
async fn real_smtp_starttls_refuses_an_untrusted_certificate() {
    let tls = TlsFiles::generate();
    let sink = SmtpSink::start(SmtpMode::StartTls, Some(&tls), None);
    let cfg = config(format!("smtp://127.0.0.1:{}?tls=starttls", sink.port));
    let adapter = EmailAdapter::new(&cfg).expect("adapter");
    let err = adapter
        .dispatch(&email("bob@example.com"), &meta("snd_untrusted", 1))
        .await
        .expect_err("certificate not trusted");
    assert!(matches!(err, DispatchError::Connection(_)), "{err:?}");
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn real_smtp_implicit_tls() {
    let tls = TlsFiles::generate();
    let sink = SmtpSink::start(SmtpMode::Implicit, Some(&tls), None);
    let mut cfg = config(format!("smtps://127.0.0.1:{}", sink.port));
    cfg.tls_ca_file = Some(tls.cert.clone());
    let adapter = EmailAdapter::new(&cfg).expect("adapter");
    adapter
        .dispatch(&email("carol@example.com"), &meta("snd_smtps", 1))
        .await
        .expect("accepted over implicit TLS");
    let messages = sink.wait_for(1);
    assert_eq!(messages[0]["rcpt_tos"][0], "carol@example.com");
}

#[tokio::test]
async fn r_x3_smtp_4xx_transient_5xx_permanent_refused_retriable() {
    let sink = SmtpSink::start(SmtpMode::Plain, None, None);
    let gw = gateway(config(format!("smtp://127.0.0.1:{}", sink.port))).await;
    let err = gw
        .dispatch(email("tempfail@example.com"), &meta("t", 1))
        .await
        .expect_err("451");
    assert_eq!(
        (
            err.is_retriable(),
            matches!(
                err,
                DispatchError::Smtp {
                    code: Some(451),
                    ..
                }
            )
        ),
        (true, true),
        "{err:?}"
    );
    let err = gw
        .dispatch(email("reject@example.com"), &meta("r", 1))
        .await
        .expect_err("550");
    assert!(
        !err.is_retriable()
            && matches!(
                err,
                DispatchError::Smtp {
                    code: Some(550),
                    ..
                }
            ),
        "{err:?}"
    );
    let err = gw
        .dispatch(email("not an address"), &meta("x", 1))
        .await
        .expect_err("invalid");
    assert!(matches!(err, DispatchError::InvalidMessage(_)));
    // The pool recovers: a good message still goes through afterwards.
    gw.dispatch(email("ok@example.com"), &meta("ok", 1))
        .await
        .expect("accepted");
    assert_eq!(sink.wait_for(1).len(), 1);

    let down = gateway(config(format!("smtp://127.0.0.1:{}", closed_port()))).await;
    let err = down
        .dispatch(email("ok@example.com"), &meta("down", 1))
        .await
        .expect_err("refused");
    assert!(err.is_retriable(), "{err:?}");
}

#[tokio::test]
async fn pooled_concurrent_sends_all_arrive() {
    let sink = SmtpSink::start(SmtpMode::Plain, None, None);
    let mut cfg = config(format!("smtp://127.0.0.1:{}", sink.port));
    cfg.pool_size = Some(4);
    let gw = gateway(cfg).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let gw = gw.clone();
        tasks.push(tokio::spawn(async move {
            gw.dispatch(
                email(&format!("user{i}@example.com")),
                &meta(&format!("snd_{i}"), 1),
            )
            .await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("accepted");
    }
    let messages = sink.wait_for(40);
    assert_eq!(messages.len(), 40);
    let mut ids: Vec<&str> = messages
        .iter()
        .filter_map(|m| mail_header(m, "Message-ID"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "one distinct Message-ID per send");
}

#[tokio::test]
async fn starttls_required_fails_for_good_opportunistic_falls_back_to_plain() {
    let sink = SmtpSink::start(SmtpMode::Plain, None, None);
    let required = EmailAdapter::new(&config(format!(
        "smtp://127.0.0.1:{}?tls=starttls",
        sink.port
    )))
    .expect("adapter");
    let err = required
        .dispatch(&email("dan@example.com"), &meta("snd_req", 1))
        .await
        .expect_err("server offers no STARTTLS");
    assert!(!err.is_retriable(), "{err:?}");
    let opportunistic = EmailAdapter::new(&config(format!(
        "smtp://127.0.0.1:{}?tls=opportunistic",
        sink.port
    )))
    .expect("adapter");
    opportunistic
        .dispatch(&email("dan@example.com"), &meta("snd_opp", 1))
        .await
        .expect("plain fallback");
    assert_eq!(opportunistic.test_connection().await, Ok(true));
    let messages = sink.wait_for(1);
    assert_eq!(messages.len(), 1);
    assert_eq!(
        mail_header(&messages[0], "Message-ID"),
        Some("<snd_opp@triggerd>")
    );
}
