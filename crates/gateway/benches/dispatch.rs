//! Dispatch throughput on 2 worker threads (harness-less, short runs):
//!
//! - `webhook`: signed webhook requests through [`Gateway::dispatch`] to a
//!   local keep-alive HTTP/1.1 server (axum) in the same process, 64 in
//!   flight (goal ≥ 20,000 messages/s);
//! - `email/rust-sink`: tracked multipart emails through the pooled SMTP
//!   adapter to a minimal SMTP sink written below (goal ≥ 2,000/s);
//! - `email/aiosmtpd`: the same to the real aiosmtpd server of the tests,
//!   when python3 has it (aiosmtpd itself is then the bottleneck).
//!
//! `cargo bench -p triggerd-gateway --bench dispatch [-- FILTER]`; set
//! `BENCH_MESSAGES` to change the message count of a round (default
//! 40,000 webhooks, 10,000 emails). Client and servers share the same two
//! worker threads, so the figures include the servers' own cost.
//!
//! Under `cargo test --all-targets` (no `--bench` flag) it only makes a
//! 200-message smoke run of each bench.
//!
//! Two figures per line: wall-clock messages/s, and messages per 2
//! CPU-seconds of this process (user + system time from `/proc/self/stat`),
//! which estimates the rate on 2 dedicated cores when the machine is shared
//! with other work (a loaded machine makes the wall-clock figure meaningless).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use triggerd_gateway::{
    ChannelsConfig, DeliveryTuning, DispatchMeta, EmailConfig, EmailMessage, Gateway, MemoryStore,
    Message, TrackingSigner, WebhookConfig, WebhookMessage,
};

const IN_FLIGHT: usize = 64;
const ROUNDS: usize = 3;

fn meta(i: usize) -> DispatchMeta {
    DispatchMeta {
        send_id: format!("snd_{i:08}"),
        campaign_id: "cmp_bench".to_owned(),
        external_id: format!("u{i}"),
        due: chrono::DateTime::UNIX_EPOCH,
        attempt: 1,
    }
}

/// Whether cargo runs us as a benchmark (`cargo bench` passes `--bench`);
/// under `cargo test --all-targets` the bench only makes a small smoke run.
fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn count(default: usize) -> usize {
    if !benchmarking() {
        return 200;
    }
    std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rounds() -> usize {
    if benchmarking() { ROUNDS } else { 1 }
}

/// CPU time (user + system) this process has used, from `/proc/self/stat`.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); index 0 here is field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    const TICKS_PER_SECOND: u64 = 100;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SECOND,
    ))
}

/// Wall-clock and CPU-normalised rates of one round.
#[derive(Clone, Copy)]
struct Rate {
    wall: f64,
    two_cores: f64,
}

/// Sends `total` messages with `in_flight` concurrent senders.
async fn run(
    gateway: &Gateway,
    total: usize,
    in_flight: usize,
    make: fn(usize) -> Message,
) -> Rate {
    let started = Instant::now();
    let cpu_before = cpu_time();
    let mut tasks = Vec::with_capacity(in_flight);
    for worker in 0..in_flight {
        let gateway = gateway.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = worker;
            while i < total {
                if let Err(e) = gateway.dispatch(make(i), &meta(i)).await {
                    panic!("dispatch {i} failed: {e}");
                }
                i += in_flight;
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            panic!("sender failed: {e}");
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, cpu_time()) {
        (Some(before), Some(after)) => (after - before).as_secs_f64(),
        _ => f64::NAN,
    };
    Rate {
        wall: total as f64 / wall,
        two_cores: total as f64 / (cpu / 2.0),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn report(name: &str, goal: f64, rates: &[Rate]) {
    let wall = median(&mut rates.iter().map(|r| r.wall).collect::<Vec<_>>());
    let cpu = median(&mut rates.iter().map(|r| r.two_cores).collect::<Vec<_>>());
    println!(
        "{name:<16} wall {wall:>8.0} msg/s | per 2 CPU-s {cpu:>8.0} msg | goal {goal:>6.0} ({}) | {} rounds, medians",
        if wall >= goal {
            "met on wall clock"
        } else if cpu >= goal {
            "met per CPU time"
        } else {
            "missed"
        },
        rates.len()
    );
}

fn webhook_message(i: usize) -> Message {
    Message::Webhook(WebhookMessage {
        url: WEBHOOK_URL.get().cloned().unwrap_or_default(),
        method: "POST".to_owned(),
        headers: vec![("X-Campaign".to_owned(), "bench".to_owned())],
        body: format!(r#"{{"user":"u{i}","event":"abandoned_cart","cart_value":150}}"#),
    })
}

static WEBHOOK_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();

async fn bench_webhook() {
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        std::hint::black_box(body.len());
        axum::http::StatusCode::NO_CONTENT
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let _ = WEBHOOK_URL.set(format!("http://{addr}/hook"));
    let config = WebhookConfig {
        signing_secret: Some("whsec_bench".to_owned()),
        block_private_networks: false,
        tuning: DeliveryTuning {
            concurrency: IN_FLIGHT,
            ..DeliveryTuning::default()
        },
    };
    let gateway = Gateway::builder(
        ChannelsConfig {
            webhook: Some(config),
            ..ChannelsConfig::default()
        },
        Arc::new(MemoryStore::new()),
    )
    .build()
    .expect("gateway");
    let total = count(40_000);
    run(
        &gateway,
        count(2_000).min(2_000),
        IN_FLIGHT,
        webhook_message,
    )
    .await; // warm the pool
    let mut rates = Vec::new();
    for _ in 0..rounds() {
        rates.push(run(&gateway, total, IN_FLIGHT, webhook_message).await);
    }
    report("webhook", 20_000.0, &rates);
}

fn email_message(i: usize) -> Message {
    Message::Email(EmailMessage {
        to: format!("user{i}@example.com"),
        from: None,
        subject: "You left 150$ behind".to_owned(),
        html: r#"<html><body><p>Hi Ann,</p><p><a href="https://shop.example/cart?id=42">Back to cart</a> or <a href="https://shop.example/new">see what's new</a>.</p></body></html>"#.to_owned(),
        text: None,
        list_unsubscribe: None,
    })
}

/// A minimal SMTP server: accepts every command, swallows DATA.
async fn rust_smtp_sink() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = smtp_session(socket).await;
            });
        }
    });
    port
}

async fn smtp_session(socket: tokio::net::TcpStream) -> std::io::Result<()> {
    socket.set_nodelay(true)?;
    let (read, mut write) = socket.into_split();
    let mut lines = AsyncBufReader::new(read);
    write.write_all(b"220 bench ESMTP\r\n").await?;
    let mut line = String::new();
    let mut in_data = false;
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == ".\r\n" {
                in_data = false;
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-bench\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "DATA" => {
                in_data = true;
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        write.write_all(reply).await?;
    }
}

fn email_gateway(port: u16, pool: u32) -> Gateway {
    let mut config = EmailConfig::new(format!("smtp://127.0.0.1:{port}"), "news@shop.example");
    config.pool_size = Some(pool);
    config.tuning.concurrency = IN_FLIGHT;
    Gateway::builder(
        ChannelsConfig {
            email: Some(config),
            ..ChannelsConfig::default()
        },
        Arc::new(MemoryStore::new()),
    )
    .tracking(
        TrackingSigner::new("bench-tracking-secret-0123", "https://t.example").expect("signer"),
    )
    .build()
    .expect("gateway")
}

async fn bench_email_rust_sink() {
    let port = rust_smtp_sink().await;
    let gateway = email_gateway(port, 32);
    let total = count(10_000);
    run(&gateway, count(500).min(500), 32, email_message).await;
    let mut rates = Vec::new();
    for _ in 0..rounds() {
        rates.push(run(&gateway, total, 32, email_message).await);
    }
    report("email/rust-sink", 2_000.0, &rates);
}

async fn bench_email_aiosmtpd() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return println!("email/aiosmtpd     skipped: {e}"),
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let child = Command::new("python3")
        .arg(&script)
        .args(["--port", &port.to_string()])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return println!("email/aiosmtpd     skipped: python3 not found");
    };
    let ready = child.stdout.take().is_some_and(|out| {
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).is_ok() && line.trim() == "READY"
    });
    if ready {
        let gateway = email_gateway(port, 8);
        let total = count(10_000).min(500);
        run(&gateway, count(100).min(100), 8, email_message).await;
        let rate = run(&gateway, total, 8, email_message).await;
        println!(
            "email/aiosmtpd   wall {:>8.0} msg/s (the Python server, which parses and writes a file per message, is the bottleneck)",
            rate.wall
        );
    } else {
        println!("email/aiosmtpd     skipped: aiosmtpd missing (make deps)");
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // `cargo bench … -- webhook` runs only the benches whose name contains
    // the filter (cargo's own `--bench` flag is ignored).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return; // a test lister asking for tests: this binary has none
    }
    let filter = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    if !benchmarking() {
        println!("smoke run (cargo test): 200 messages each, figures not meaningful");
    }
    let wanted = |name: &str| name.contains(filter.as_str());
    runtime.block_on(async {
        if wanted("webhook") {
            bench_webhook().await;
        }
        if wanted("email/rust-sink") {
            bench_email_rust_sink().await;
        }
        if wanted("email/aiosmtpd") {
            bench_email_aiosmtpd().await;
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}
