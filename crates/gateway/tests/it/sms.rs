//! Twilio adapter against a local server answering as Twilio's Messages API.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use triggerd_gateway::{
    ChannelsConfig, DispatchError, Gateway, MemoryShortener, MemoryStore, Message, SmsConfig,
    SmsMessage, Via,
};

use crate::support::{Recorder, Reply, meta};

const PATH: &str = "/2010-04-01/Accounts/AC123/Messages.json";

fn config(server: &Recorder) -> SmsConfig {
    let mut config = SmsConfig::new(server.base(), "AC123", "tok_secret", "+15550000000");
    config.status_callback = Some("https://triggerd.example/inbound/sms/status".to_owned());
    config.tuning.timeout = Duration::from_millis(500);
    config
}

async fn gateway(config: SmsConfig, shortener: &MemoryShortener) -> Gateway {
    Gateway::builder(
        ChannelsConfig {
            sms: Some(config),
            ..ChannelsConfig::default()
        },
        Arc::new(MemoryStore::new()),
    )
    .shortener(Arc::new(shortener.clone()))
    .build()
    .expect("gateway")
}

fn sms(body: &str) -> Message {
    Message::Sms(SmsMessage {
        to: "+15551234567".to_owned(),
        from: None,
        body: body.to_owned(),
    })
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn r_p3_sms_posts_form_with_basic_auth_short_links_and_callback() {
    let server = Recorder::start(Reply::json(
        201,
        r#"{"sid":"SM0123456789","status":"queued"}"#,
    ))
    .await;
    let shortener = MemoryShortener::new("https://triggerd.example");
    let gw = gateway(config(&server), &shortener).await;
    let delivered = gw
        .dispatch(
            sms("Your cart: https://shop.example/cart?id=42&u=1 - see you!"),
            &meta("snd_sms_1", 1),
        )
        .await
        .expect("accepted");
    assert_eq!(delivered.via, Via::Twilio);
    assert_eq!(delivered.provider_message_id, "SM0123456789");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, PATH);
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("AC123:tok_secret")
    );
    assert_eq!(r.header("authorization"), Some(expected_auth.as_str()));
    let form = r.form();
    assert_eq!(field(&form, "To"), Some("+15551234567"));
    assert_eq!(field(&form, "From"), Some("+15550000000"));
    let body = field(&form, "Body").expect("Body");
    assert!(
        body.starts_with("Your cart: https://triggerd.example/s/"),
        "{body}"
    );
    assert!(body.ends_with(" - see you!"));
    assert!(!body.contains("shop.example"));
    let code = body["Your cart: https://triggerd.example/s/".len()..]
        .split(' ')
        .next()
        .expect("code");
    let link = shortener.resolve(code).expect("short link recorded");
    assert_eq!(link.url, "https://shop.example/cart?id=42&u=1");
    assert_eq!(link.send_id, "snd_sms_1");
    assert_eq!(
        field(&form, "StatusCallback"),
        Some("https://triggerd.example/inbound/sms/status?send_id=snd_sms_1")
    );
    // The delivered message (what the outbox lists) carries the short link.
    let Message::Sms(delivered_sms) = &delivered.message else {
        panic!("sms expected");
    };
    assert_eq!(delivered_sms.body, body);
}

#[tokio::test]
async fn r_x3_twilio_errors_are_classified() {
    let server = Recorder::start(Reply::json(201, r#"{"sid":"SM1"}"#)).await;
    server.script([
        Reply::json(
            400,
            r#"{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}"#,
        ),
        Reply::json(429, r#"{"code":20429,"message":"Too Many Requests"}"#)
            .header("retry-after", "3"),
        Reply::status(500),
        Reply::status(200).delay(Duration::from_secs(3)),
    ]);
    let shortener = MemoryShortener::new("https://t");
    let gw = gateway(config(&server), &shortener).await;
    let err = gw
        .dispatch(sms("hi"), &meta("a", 1))
        .await
        .expect_err("400");
    assert!(!err.is_retriable());
    assert!(err.to_string().contains("21211"), "{err}");
    let err = gw
        .dispatch(sms("hi"), &meta("b", 1))
        .await
        .expect_err("429");
    assert!(err.is_retriable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    let err = gw
        .dispatch(sms("hi"), &meta("c", 1))
        .await
        .expect_err("500");
    assert!(err.is_retriable());
    let err = gw
        .dispatch(sms("hi"), &meta("d", 1))
        .await
        .expect_err("slow");
    assert!(matches!(err, DispatchError::Timeout(_)));
    let ok = gw.dispatch(sms("hi"), &meta("e", 1)).await.expect("201");
    assert_eq!(ok.provider_message_id, "SM1");
}
