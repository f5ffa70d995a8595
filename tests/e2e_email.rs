//! Email end to end through a real SMTP server process (aiosmtpd, installed
//! by `make deps`): the daemon renders, tracks and delivers; the open pixel
//! and a click come back as `email_open` / `email_click` (R-P1, R-P2).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, free_port};
use serde_json::{Value, json};

struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sink(dir: &std::path::Path, port: u16) -> Sink {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/gateway/tests/smtp_sink.py"
    );
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "aiosmtpd is missing: run `make deps` (python3 -m pip install aiosmtpd==1.4.6)"
    );
    let child = Command::new("python3")
        .args([
            script,
            "--port",
            &port.to_string(),
            "--dir",
            dir.to_str().expect("utf8"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp sink starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "SMTP sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Sink(child)
}

fn received(dir: &std::path::Path) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect()
}

#[tokio::test]
async fn r_p2_email_through_smtp_with_tracked_open_and_click() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mail_dir = dir.path().join("mail");
    std::fs::create_dir_all(&mail_dir).expect("mail dir");
    let smtp_port = free_port();
    let _sink = start_sink(&mail_dir, smtp_port);
    let config = dir.path().join("triggerd.toml");
    std::fs::write(
        &config,
        format!("[channels.email]\nprovider = \"smtp\"\nurl = \"smtp://127.0.0.1:{smtp_port}\"\nfrom = \"shop@example.com\"\n"),
    )
    .expect("config");
    let d = Daemon::start_with(
        dir.path(),
        "2026-01-05T08:00:00Z",
        &["--config", config.to_str().expect("utf8")],
    )
    .await;
    let def: Value =
        serde_json::from_str(include_str!("../examples/campaigns/abandoned_cart.json"))
            .expect("example");
    d.campaign("cart", def).await;
    d.campaign(
        "clicked",
        json!({"name":"clicked","channel":"content_card","message":{"title":"Still thinking?","body":"x"},
               "triggers":[{"type":"campaign_interaction","campaign_id":"cart","interaction":"email_click"}],
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    d.attrs("u1", json!({"email":"ann@example.com","first_name":"Ann"}))
        .await;
    d.event(
        "u1",
        "abandoned_cart",
        "2026-01-05T08:00:00Z",
        json!({"cart_value":150,"cart_id":"A"}),
    )
    .await;
    assert_eq!(d.advance_to("2026-01-05T09:00:00Z").await, 1);
    let mails = received(&mail_dir);
    assert_eq!(mails.len(), 1, "one mail at the SMTP server");
    let mail = &mails[0];
    assert_eq!(mail["rcpt_tos"], json!(["ann@example.com"]));
    let raw = mail["data"].as_str().expect("raw");
    assert!(raw.contains("You left 150$ behind"), "{raw}");
    let out = d.outbox("?campaign_id=cart").await;
    assert_eq!(out[0]["via"], "smtp");
    let send_id = out[0]["send_id"].as_str().expect("send id");
    assert!(raw.contains(send_id), "Message-ID derives from the send id");
    let html = out[0]["content"]["html"].as_str().expect("html");
    let pixel = html
        .split("<img src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("pixel");
    let link = html
        .split("href=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("link");
    assert_eq!(d.get_public(pixel).await.status(), 200);
    let click = d.get_public(link).await;
    assert_eq!(click.status(), 302);
    assert_eq!(
        click.headers()["location"],
        "https://shop.example.com/cart/A"
    );
    let forged = link.replace("/t/c/", "/t/c/x");
    assert_eq!(
        d.get_public(&forged).await.status(),
        404,
        "a forged token records nothing"
    );
    let tl = d.timeline("cart", "u1").await;
    assert_eq!(tl, ["scheduled", "sent"]);
    d.advance_to("2026-01-05T09:00:01Z").await;
    let (_, cards) = d
        .sdk(
            reqwest::Method::GET,
            "/sdk/v1/content_cards?external_id=u1",
            None,
        )
        .await;
    assert_eq!(
        cards["cards"][0]["content"]["title"], "Still thinking?",
        "email_click triggered a campaign"
    );
    let export = d
        .post("/users/export/ids", json!({"external_ids":["u1"]}))
        .await;
    assert_eq!(export["users"][0]["email"], "ann@example.com");

    // The List-Unsubscribe link: a GET (a person, or a mail scanner
    // fetching links) shows a page and changes nothing; the one-click POST
    // (RFC 8058) unsubscribes.
    let unsubscribe = raw
        .lines()
        .find_map(|l| l.strip_prefix("List-Unsubscribe: <"))
        .and_then(|l| l.split('>').next())
        .expect("a List-Unsubscribe header");
    let page = d.get_public(unsubscribe).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("page")
            .contains("<form method=\"post\">")
    );
    let subscribed = |export: &Value| export["users"][0]["email_subscribe"].clone();
    let export = d
        .post("/users/export/ids", json!({"external_ids":["u1"]}))
        .await;
    assert_ne!(subscribed(&export), "unsubscribed", "a GET changes nothing");
    let one_click = reqwest::Client::new()
        .post(unsubscribe)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .expect("posted");
    assert_eq!(one_click.status(), 200);
    let export = d
        .post("/users/export/ids", json!({"external_ids":["u1"]}))
        .await;
    assert_eq!(subscribed(&export), "unsubscribed");
}
