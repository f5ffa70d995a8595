//! Webhook adapter against a local receiver: headers, signature,
//! idempotency key, status classification, timeouts, private-network
//! blocking, and the retry policy's decisions over a failure sequence.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use triggerd_gateway::webhook_signature::{SIGNATURE_HEADER, verify_signature};
use triggerd_gateway::{
    Adapter, ChannelsConfig, DeliveryTuning, DispatchError, FixedClock, Gateway, GiveUpReason,
    Limited, MemoryStore, Message, RetryDecision, Via, WebhookAdapter, WebhookConfig,
    WebhookMessage,
};

use crate::support::{Recorder, Reply, closed_port, meta};

const SECRET: &str = "whsec_test_secret";

fn now() -> DateTime<Utc> {
    "2026-01-05T09:00:03Z".parse().expect("instant")
}

fn config() -> WebhookConfig {
    WebhookConfig {
        signing_secret: Some(SECRET.to_owned()),
        block_private_networks: false,
        tuning: DeliveryTuning {
            timeout: Duration::from_millis(500),
            max_attempts: 5,
            jitter: 0.0,
            backoff_initial: Duration::from_secs(30),
            ..DeliveryTuning::default()
        },
    }
}

fn message(url: String) -> Message {
    Message::Webhook(WebhookMessage {
        url,
        method: "PUT".to_owned(),
        headers: vec![
            ("X-Campaign".to_owned(), "abandoned-cart".to_owned()),
            (
                "Idempotency-Key".to_owned(),
                "forged-by-template".to_owned(),
            ),
        ],
        body: r#"{"user":"u1","cart_value":150}"#.to_owned(),
    })
}

async fn gateway(config: WebhookConfig) -> Gateway {
    Gateway::builder(
        ChannelsConfig {
            webhook: Some(config),
            ..ChannelsConfig::default()
        },
        Arc::new(MemoryStore::new()),
    )
    .clock(Arc::new(FixedClock(now())))
    .build()
    .expect("gateway")
}

#[tokio::test]
async fn r_k3_webhook_carries_idempotency_key_due_and_valid_signature() {
    let server = Recorder::start(Reply::status(200)).await;
    let gw = gateway(config()).await;
    let delivered = gw
        .dispatch(message(server.url("/hooks/cart?x=1")), &meta("snd_wh_1", 1))
        .await
        .expect("accepted");
    assert_eq!(delivered.via, Via::Webhook);
    assert_eq!(delivered.provider_message_id, "snd_wh_1");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path, "/hooks/cart?x=1");
    assert_eq!(r.text(), r#"{"user":"u1","cart_value":150}"#);
    assert_eq!(r.header("idempotency-key"), Some("snd_wh_1"));
    assert_eq!(r.headers.get_all("idempotency-key").iter().count(), 1);
    assert_eq!(r.header("x-triggerd-send-id"), Some("snd_wh_1"));
    assert_eq!(r.header("x-triggerd-due"), Some("2026-01-05T09:00:00Z"));
    assert_eq!(r.header("x-campaign"), Some("abandoned-cart"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let signature = r.header(SIGNATURE_HEADER).expect("signature header");
    assert_eq!(
        signature.split(',').next(),
        Some(format!("t={}", now().timestamp()).as_str())
    );
    assert_eq!(
        verify_signature(
            SECRET.as_bytes(),
            signature,
            &r.body,
            now(),
            Duration::from_secs(300)
        ),
        Ok(())
    );
    assert!(
        verify_signature(
            b"wrong",
            signature,
            &r.body,
            now(),
            Duration::from_secs(300)
        )
        .is_err()
    );
}

#[tokio::test]
async fn r_x3_failure_sequence_gives_backoff_retry_after_then_permanent() {
    let server = Recorder::start(Reply::status(200)).await;
    server.script([
        Reply::status(500).body("boom"),
        Reply::status(429).header("retry-after", "7"),
        Reply::status(408),
        Reply::status(503),
        Reply::status(400).body("bad payload"),
    ]);
    let gw = gateway(config()).await;
    let first = now();
    let mut at = first;
    let mut decisions = Vec::new();
    for attempt in 1..=5 {
        let err = gw
            .dispatch(message(server.url("/h")), &meta("snd_seq", attempt))
            .await
            .expect_err("scripted failure");
        let decision =
            gw.decide_retry(triggerd_gateway::Channel::Webhook, attempt, &err, first, at);
        decisions.push((err.http_status(), decision));
        if let RetryDecision::RetryAt(next) = decision {
            at = next;
        }
    }
    let s = chrono::Duration::seconds;
    assert_eq!(
        decisions,
        vec![
            (Some(500), RetryDecision::RetryAt(first + s(30))),
            (Some(429), RetryDecision::RetryAt(first + s(37))),
            (Some(408), RetryDecision::RetryAt(first + s(37 + 120))),
            (Some(503), RetryDecision::RetryAt(first + s(157 + 240))),
            (Some(400), RetryDecision::GiveUp(GiveUpReason::Permanent)),
        ]
    );
    let keys: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(keys, vec!["snd_seq"; 5], "same key on every attempt");
    let attempts: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.header("x-triggerd-attempt")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(attempts, vec!["1", "2", "3", "4", "5"]);
}

#[tokio::test]
async fn r_x3_max_attempts_counts_the_first_try() {
    let server = Recorder::start(Reply::status(502)).await;
    let mut cfg = config();
    cfg.tuning.max_attempts = 3;
    let gw = gateway(cfg).await;
    let mut last = None;
    for attempt in 1..=3 {
        let err = gw
            .dispatch(message(server.url("/h")), &meta("snd_max", attempt))
            .await
            .expect_err("502");
        last = Some(gw.decide_retry(
            triggerd_gateway::Channel::Webhook,
            attempt,
            &err,
            now(),
            now(),
        ));
        if attempt < 3 {
            assert!(matches!(last, Some(RetryDecision::RetryAt(_))));
        }
    }
    assert_eq!(
        last,
        Some(RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted))
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn r_x3_slow_receiver_times_out_and_is_retriable() {
    let server = Recorder::start(Reply::status(200).delay(Duration::from_secs(3))).await;
    let gw = gateway(config()).await;
    let started = std::time::Instant::now();
    let err = gw
        .dispatch(message(server.url("/slow")), &meta("snd_slow", 1))
        .await
        .expect_err("timeout");
    assert_eq!(err, DispatchError::Timeout(Duration::from_millis(500)));
    assert!(err.is_retriable());
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn an_endless_answer_is_read_only_in_part() {
    // A receiver that answers 200 and then streams forever: reading the
    // whole body would never end (and would hold it all in memory); the
    // adapter reads the start and lets the connection go.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let streamed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = streamed.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = vec![0u8; 64 * 1024];
        let _ = socket.read(&mut request).await;
        let head =
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
        while socket.write_all(chunk.as_bytes()).await.is_ok() {
            counter.fetch_add(8192, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let gw = gateway(config()).await;
    let receipt = gw
        .dispatch(
            message(format!("http://127.0.0.1:{port}/endless")),
            &meta("snd_endless", 1),
        )
        .await
        .expect("a 200 is a delivery, however long its body");
    assert_eq!(receipt.via, Via::Webhook);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = streamed.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent < 64 * 1024 * 1024,
        "the receiver stopped once the adapter let go ({sent} bytes written)"
    );
}

#[tokio::test]
async fn r_x3_connection_refused_is_retriable() {
    let gw = gateway(config()).await;
    let url = format!("http://127.0.0.1:{}/x", closed_port());
    let err = gw
        .dispatch(message(url), &meta("snd_refused", 1))
        .await
        .expect_err("refused");
    assert!(matches!(err, DispatchError::Connection(_)), "{err:?}");
    assert!(err.is_retriable());
}

#[tokio::test]
async fn other_4xx_and_redirects_are_permanent() {
    let server = Recorder::start(Reply::status(200)).await;
    server.script([
        Reply::status(404),
        Reply::status(302).header("location", "http://127.0.0.1:1/elsewhere"),
    ]);
    let gw = gateway(config()).await;
    for id in ["a", "b"] {
        let err = gw
            .dispatch(message(server.url("/h")), &meta(id, 1))
            .await
            .expect_err("refused");
        assert!(!err.is_retriable(), "{err:?}");
    }
    assert_eq!(server.requests().len(), 2, "redirect not followed");
}

#[tokio::test]
async fn block_private_networks_refuses_loopback_literals_and_names() {
    let server = Recorder::start(Reply::status(200)).await;
    let mut cfg = config();
    cfg.block_private_networks = true;
    let gw = gateway(cfg).await;
    for url in [
        server.url("/h"),
        format!("http://localhost:{}/h", server.addr.port()),
    ] {
        let err = gw
            .dispatch(message(url.clone()), &meta("snd_ssrf", 1))
            .await
            .expect_err("blocked");
        assert!(
            matches!(err, DispatchError::BlockedTarget(_)),
            "{url}: {err:?}"
        );
        assert!(!err.is_retriable());
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn unsigned_when_no_secret_and_concurrency_is_limited() {
    let server = Recorder::start(Reply::status(204).delay(Duration::from_millis(100))).await;
    let mut cfg = config();
    cfg.signing_secret = None;
    let adapter = WebhookAdapter::new(&cfg).expect("adapter");
    let limited = Limited::new(Arc::new(adapter), 2, Duration::from_secs(5));
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let limited = limited.clone();
        let msg = message(server.url("/h"));
        tasks.push(tokio::spawn(async move {
            limited.dispatch(&msg, &meta(&format!("c{i}"), 1)).await
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("accepted");
    }
    // 4 requests of 100 ms, 2 at a time: at least two rounds.
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header(SIGNATURE_HEADER).is_none())
    );
}
