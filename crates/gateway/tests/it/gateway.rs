//! Routing: channels without a section deliver to the outbox (with the same
//! tracking and short links a provider would get); in-app and content cards
//! go to their stores; webhooks always go to their URL.

use std::sync::Arc;

use serde_json::json;
use triggerd_gateway::{
    Channel, ChannelsConfig, ContentCardMessage, EmailMessage, Gateway, InAppMessage,
    MemoryShortener, MemoryStore, Message, Platform, PushMessage, SmsMessage, TrackKind,
    TrackingSigner, Via, WebhookMessage,
};

use crate::support::{Recorder, Reply, meta};

#[tokio::test]
async fn r_x2_default_routes_outbox_in_app_cards_and_webhook() {
    let outbox = MemoryStore::new();
    let in_app = MemoryStore::new();
    let cards = MemoryStore::new();
    let signer =
        TrackingSigner::new("tracking-secret-0123456789", "http://127.0.0.1:8080").expect("signer");
    let gw = Gateway::builder(ChannelsConfig::default(), Arc::new(outbox.clone()))
        .in_app_store(Arc::new(in_app.clone()))
        .content_card_store(Arc::new(cards.clone()))
        .tracking(signer.clone())
        .shortener(Arc::new(MemoryShortener::new("http://127.0.0.1:8080")))
        .build()
        .expect("gateway");
    for channel in [Channel::Email, Channel::Sms, Channel::Push] {
        assert_eq!(gw.via(channel), Via::Outbox, "{channel}");
    }
    assert_eq!(gw.via(Channel::Webhook), Via::Webhook);
    assert_eq!(gw.via(Channel::InApp), Via::InApp);
    assert_eq!(gw.via(Channel::ContentCard), Via::ContentCard);

    let email = Message::Email(EmailMessage {
        to: "a@gmail.com".into(),
        from: None,
        subject: "Hi".into(),
        html: r#"<p><a href="https://shop.example/x">go</a></p>"#.into(),
        text: None,
        list_unsubscribe: None,
    });
    let sms = Message::Sms(SmsMessage {
        to: "+1555".into(),
        from: None,
        body: "see https://shop.example/y".into(),
    });
    let push = Message::Push(PushMessage {
        token: "tok".into(),
        platform: Platform::Web,
        title: "T".into(),
        body: "B".into(),
        data: None,
    });
    for (i, message) in [email, sms, push].into_iter().enumerate() {
        let delivered = gw
            .dispatch(message, &meta(&format!("snd_{i}"), 1))
            .await
            .expect("outbox accepts");
        assert_eq!(delivered.via, Via::Outbox);
    }
    let stored = outbox.messages();
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|m| m.via == Via::Outbox));
    let html = stored[0].content["html"].as_str().expect("html");
    assert!(
        html.contains(r#"<img src="http://127.0.0.1:8080/t/o/"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="http://127.0.0.1:8080/t/c/"#),
        "{html}"
    );
    let click = html
        .split(r#"href="http://127.0.0.1:8080/t/c/"#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("click token");
    let claims = signer.verify_kind(click, TrackKind::Click).expect("valid");
    assert_eq!(claims.url.as_deref(), Some("https://shop.example/x"));
    assert_eq!(stored[0].content["text"], "go (https://shop.example/x)");
    let sms_body = stored[1].content["body"].as_str().expect("body");
    assert!(
        sms_body.starts_with("see http://127.0.0.1:8080/s/"),
        "{sms_body}"
    );
    assert_eq!(stored[2].channel, Channel::Push);

    let iam = Message::InApp(InAppMessage {
        content: json!({"body": "Welcome back"}),
    });
    let card = Message::ContentCard(ContentCardMessage {
        content: json!({"title": "Sale", "body": "-20%"}),
    });
    assert_eq!(
        gw.dispatch(iam, &meta("snd_iam", 1))
            .await
            .expect("queued")
            .via,
        Via::InApp
    );
    assert_eq!(
        gw.dispatch(card, &meta("snd_card", 1))
            .await
            .expect("stored")
            .via,
        Via::ContentCard
    );
    assert_eq!(in_app.messages()[0].content["body"], "Welcome back");
    assert_eq!(cards.messages()[0].content["title"], "Sale");
    assert_eq!(outbox.messages().len(), 3, "stores stay separate");

    let server = Recorder::start(Reply::status(200)).await;
    let hook = Message::Webhook(WebhookMessage {
        url: server.url("/hook"),
        method: String::new(),
        headers: Vec::new(),
        body: "ping".into(),
    });
    let delivered = gw.dispatch(hook, &meta("snd_hook", 1)).await.expect("sent");
    assert_eq!(delivered.via, Via::Webhook);
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert!(
        r.header("x-triggerd-signature").is_none(),
        "no secret configured"
    );
}
