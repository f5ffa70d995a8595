//! A webhook campaign delivered to a real local HTTP server: headers,
//! signature, idempotency key stable across a retry planned on the test
//! clock (R-X3, R-K3), and the `webhook_received` event (R-P1).

mod common;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::Daemon;
use serde_json::json;

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    fail_first: Arc<Mutex<u32>>,
}

async fn hook(State(s): State<Seen>, headers: HeaderMap, body: String) -> StatusCode {
    s.requests.lock().expect("lock").push((headers, body));
    let mut f = s.fail_first.lock().expect("lock");
    if *f > 0 {
        *f -= 1;
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

#[tokio::test]
async fn r_x3_r_p1_webhook_retried_with_the_same_key_then_received_event() {
    let seen = Seen {
        fail_first: Arc::new(Mutex::new(1)),
        ..Seen::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .route("/hook", post(hook))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("triggerd.toml");
    std::fs::write(
        &config,
        "[channels.webhook]\nsigning_secret = \"s3cret\"\nbackoff_initial = \"30s\"\njitter = 0.0\nmax_attempts = 3\n",
    )
    .expect("config");
    let d = Daemon::start_with(
        dir.path(),
        "2026-01-05T08:00:00Z",
        &["--config", config.to_str().expect("utf8")],
    )
    .await;
    d.campaign(
        "hook",
        json!({"name":"hook","channel":"webhook",
               "message":{"url": format!("http://127.0.0.1:{port}/hook"),
                          "headers":{"Content-Type":"application/json","X-Tier":"{{ custom_attribute.${tier} }}"},
                          "body":"{\"user\":\"{{ ${external_id} }}\",\"cart\":{{ event_properties.${cart_value} }}}"},
               "triggers":[{"type":"custom_event","name":"checkout_started"}],
               "delay":{"type":"after","duration":"10m"},
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    d.campaign(
        "after_hook",
        json!({"name":"after","channel":"content_card","message":{"title":"Thanks","body":"We got it"},
               "triggers":[{"type":"campaign_interaction","campaign_id":"hook","interaction":"webhook_received"}],
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    d.attrs("u1", json!({"tier":"gold"})).await;
    d.event(
        "u1",
        "checkout_started",
        "2026-01-05T08:00:00Z",
        json!({"cart_value": 42}),
    )
    .await;

    assert_eq!(d.advance_to("2026-01-05T08:10:00Z").await, 1);
    assert_eq!(
        seen.requests.lock().expect("lock").len(),
        1,
        "first attempt made"
    );
    let e = d.explain("hook", "u1").await;
    assert_eq!(e["verdict"], "pending");
    assert_eq!(e["timeline"][1]["outcome"], "retry_scheduled");
    assert_eq!(
        e["pending"][0]["due"], "2026-01-05T08:10:30Z",
        "backoff 30 s on the test clock"
    );

    d.advance_to("2026-01-05T08:11:00Z").await;
    let reqs = seen.requests.lock().expect("lock").clone();
    assert_eq!(reqs.len(), 2, "retried once");
    let (h1, b1) = &reqs[0];
    let (h2, b2) = &reqs[1];
    let send_id = e["pending"][0]["send_id"].as_str().expect("send id");
    for h in [h1, h2] {
        assert_eq!(h["idempotency-key"], send_id);
        assert_eq!(h["x-triggerd-send-id"], send_id);
        assert_eq!(h["x-triggerd-due"], "2026-01-05T08:10:00Z");
        assert_eq!(h["x-tier"], "gold");
        assert!(h.get("x-triggerd-signature").is_some(), "signed: {h:?}");
    }
    assert_eq!(b1, b2);
    let body: serde_json::Value = serde_json::from_str(b1).expect("JSON body");
    assert_eq!(body, json!({"user":"u1","cart":42}));
    assert_eq!(d.explain("hook", "u1").await["verdict"], "sent");
    let out = d.outbox("?campaign_id=hook").await;
    assert_eq!(out[0]["via"], "webhook");
    assert_eq!(out[0]["sent_at"], "2026-01-05T08:10:30Z");
    // R-P1: webhook_received triggered the content-card campaign.
    d.advance_to("2026-01-05T08:12:00Z").await;
    let (s, cards) = d
        .sdk(
            reqwest::Method::GET,
            "/sdk/v1/content_cards?external_id=u1",
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cards["cards"][0]["content"]["title"], "Thanks");
}
