//! FCM HTTP v1 and APNs (HTTP/2) adapters against local servers answering
//! as Google and Apple do, including unregistered tokens.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use triggerd_gateway::sinks::push::apns_id;
use triggerd_gateway::{
    ChannelsConfig, DispatchError, Gateway, MemoryStore, Message, Platform, PushConfig,
    PushMessage, PushProvider, Via,
};

use crate::support::{Recorder, Reply, meta};

async fn gateway(config: PushConfig) -> Gateway {
    Gateway::builder(
        ChannelsConfig {
            push: Some(config),
            ..ChannelsConfig::default()
        },
        Arc::new(MemoryStore::new()),
    )
    .build()
    .expect("gateway")
}

fn push(token: &str, platform: Platform) -> Message {
    Message::Push(PushMessage {
        token: token.to_owned(),
        platform,
        title: "Your cart".to_owned(),
        body: "is waiting".to_owned(),
        data: Some(json!({"deep_link": "app://cart", "items": 2})),
    })
}

fn fcm_config(server: &Recorder) -> PushConfig {
    let mut config = PushConfig::new(PushProvider::Fcm, server.base(), "ya29.token");
    config.project_id = Some("proj-1".to_owned());
    config.tuning.timeout = Duration::from_millis(500);
    config
}

fn apns_config(server: &Recorder) -> PushConfig {
    let mut config = PushConfig::new(PushProvider::Apns, server.base(), "jwt.apns");
    config.topic = Some("com.example.shop".to_owned());
    config.tuning.timeout = Duration::from_millis(500);
    config
}

const UNREGISTERED: &str = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#;

#[tokio::test]
async fn r_k3_fcm_sends_v1_request_with_bearer_and_send_id() {
    let server = Recorder::start(Reply::json(
        200,
        r#"{"name":"projects/proj-1/messages/0:1500415314455276%31bd1c9631bd1c96"}"#,
    ))
    .await;
    let gw = gateway(fcm_config(&server)).await;
    let delivered = gw
        .dispatch(push("fcm-token-1", Platform::Android), &meta("snd_fcm", 1))
        .await
        .expect("accepted");
    assert_eq!(delivered.via, Via::Fcm);
    assert_eq!(
        delivered.provider_message_id,
        "projects/proj-1/messages/0:1500415314455276%31bd1c9631bd1c96"
    );
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/projects/proj-1/messages:send");
    assert_eq!(r.header("authorization"), Some("Bearer ya29.token"));
    let body = r.json();
    assert_eq!(body["message"]["token"], "fcm-token-1");
    assert_eq!(body["message"]["notification"]["title"], "Your cart");
    assert_eq!(body["message"]["notification"]["body"], "is waiting");
    assert_eq!(body["message"]["data"]["deep_link"], "app://cart");
    assert_eq!(body["message"]["data"]["items"], "2");
    assert_eq!(body["message"]["data"]["triggerd_send_id"], "snd_fcm");
}

#[tokio::test]
async fn r_x3_fcm_unregistered_is_permanent_and_flagged_others_retried() {
    let server = Recorder::start(Reply::json(200, r#"{"name":"x"}"#)).await;
    server.script([
        Reply::json(404, UNREGISTERED),
        Reply::json(400, r#"{"error":{"code":400,"status":"INVALID_ARGUMENT"}}"#),
        Reply::json(
            429,
            r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}"#,
        )
        .header("retry-after", "30"),
        Reply::json(503, r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#),
    ]);
    let gw = gateway(fcm_config(&server)).await;
    let m = push("t", Platform::Android);
    let err = gw
        .dispatch(m.clone(), &meta("a", 1))
        .await
        .expect_err("404");
    assert!(err.unregistered_token() && !err.is_retriable(), "{err:?}");
    let err = gw
        .dispatch(m.clone(), &meta("b", 1))
        .await
        .expect_err("400");
    assert!(!err.unregistered_token() && !err.is_retriable(), "{err:?}");
    let err = gw
        .dispatch(m.clone(), &meta("c", 1))
        .await
        .expect_err("429");
    assert!(err.is_retriable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    let err = gw.dispatch(m, &meta("d", 1)).await.expect_err("503");
    assert!(err.is_retriable() && !err.unregistered_token());
}

#[tokio::test]
async fn r_k3_apns_uses_http2_with_apns_id_topic_and_bearer() {
    let server = Recorder::start(Reply::status(200).header("apns-id", &apns_id("snd_apns"))).await;
    let gw = gateway(apns_config(&server)).await;
    let delivered = gw
        .dispatch(push("a1b2c3d4", Platform::Ios), &meta("snd_apns", 1))
        .await
        .expect("accepted");
    assert_eq!(delivered.via, Via::Apns);
    assert_eq!(delivered.provider_message_id, apns_id("snd_apns"));
    let r = &server.requests()[0];
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/3/device/a1b2c3d4");
    assert_eq!(r.header("authorization"), Some("Bearer jwt.apns"));
    assert_eq!(r.header("apns-id"), Some(apns_id("snd_apns").as_str()));
    assert_eq!(r.header("apns-topic"), Some("com.example.shop"));
    assert_eq!(r.header("apns-push-type"), Some("alert"));
    let body = r.json();
    assert_eq!(body["aps"]["alert"]["title"], "Your cart");
    assert_eq!(body["aps"]["alert"]["body"], "is waiting");
    assert_eq!(body["deep_link"], "app://cart");
    assert_eq!(body["triggerd_send_id"], "snd_apns");
}

#[tokio::test]
async fn r_x3_apns_410_is_unregistered_500_retried_timeouts_retried() {
    let server = Recorder::start(Reply::status(200)).await;
    server.script([
        Reply::json(
            410,
            r#"{"reason":"Unregistered","timestamp":1767600000000}"#,
        ),
        Reply::json(400, r#"{"reason":"BadDeviceToken"}"#),
        Reply::json(500, r#"{"reason":"InternalServerError"}"#),
        Reply::json(429, r#"{"reason":"TooManyRequests"}"#).header("retry-after", "5"),
        Reply::status(200).delay(Duration::from_secs(3)),
    ]);
    let gw = gateway(apns_config(&server)).await;
    let m = push("abcdef", Platform::Ios);
    let err = gw
        .dispatch(m.clone(), &meta("a", 1))
        .await
        .expect_err("410");
    assert!(err.unregistered_token() && !err.is_retriable());
    assert_eq!(err.http_status(), Some(410));
    let err = gw
        .dispatch(m.clone(), &meta("b", 1))
        .await
        .expect_err("400");
    assert!(!err.is_retriable() && !err.unregistered_token());
    let err = gw
        .dispatch(m.clone(), &meta("c", 1))
        .await
        .expect_err("500");
    assert!(err.is_retriable());
    let err = gw
        .dispatch(m.clone(), &meta("d", 1))
        .await
        .expect_err("429");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
    let err = gw
        .dispatch(m.clone(), &meta("e", 1))
        .await
        .expect_err("slow");
    assert!(matches!(err, DispatchError::Timeout(_)));
    let bad = push("../../admin", Platform::Ios);
    let err = gw
        .dispatch(bad, &meta("f", 1))
        .await
        .expect_err("bad token");
    assert!(matches!(err, DispatchError::InvalidMessage(_)));
    assert_eq!(server.requests().len(), 5, "bad token never sent");
}
