//! Ingest benchmark (issue 5): the real release daemon on a temp data dir,
//! 100 active campaigns, batches of 75 events over HTTP with
//! `durability = "flush"`.
//!
//! Phases:
//! 1. saturation: `CONNS` concurrent clients post as fast as acknowledged;
//!    events/s and latency percentiles;
//! 2. half rate: the same load paced at half the measured throughput
//!    (or at `TRIGGERD_BENCH_HALF_RATE` events/s); latency percentiles
//!    (target p99 ≤ 25 ms);
//! 3. scale, on a fresh data dir: `TRIGGERD_BENCH_USERS` users (default
//!    1,000,000) each with one pending send; daemon RSS; two restarts to
//!    `/readyz`.
//!
//! Run with `cargo bench --bench ingest` (or `make bench`). Loopback only,
//! bounded in time and count.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const KEY: &str = "bench-key";
const CAMPAIGNS: usize = 100;
const BATCH: usize = 75;
const CONNS: usize = 32;
const PHASE: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The daemon under test, killed when dropped: a run that fails or is cut
/// short (a panic, a closed stdout) leaves no daemon behind.
struct Daemon(Child);

impl Daemon {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the daemon on `dir`; its log (warnings, and the recovery line)
/// goes to `dir/daemon.log`.
fn start(dir: &std::path::Path, port: u16) -> Daemon {
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_triggerd"))
        .args([
            "serve",
            "--data-dir",
            dir.to_str().expect("utf8"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--api-key", KEY, "--durability", &durability()])
        .env("RUST_LOG", "warn,triggerd::daemon=info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(Daemon)
        .expect("daemon starts")
}

async fn wait_ready(http: &reqwest::Client, base: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "daemon not ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `flush` unless `TRIGGERD_BENCH_DURABILITY=async`.
fn durability() -> String {
    std::env::var("TRIGGERD_BENCH_DURABILITY").unwrap_or_else(|_| "flush".into())
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn batch(seq: u64, users: u64) -> Value {
    let events: Vec<Value> = (0..BATCH as u64)
        .map(|i| {
            let n = seq.wrapping_mul(BATCH as u64).wrapping_add(i);
            let user = n.wrapping_mul(2_654_435_761) % users;
            json!({"external_id": format!("user{user}"), "name": format!("ev{}", n % CAMPAIGNS as u64),
                   "properties": {"value": n % 500, "sku": "abc"}})
        })
        .collect();
    json!({ "events": events })
}

/// The `p` quantile of latencies sorted ascending.
fn pct(sorted: &[(f64, f64)], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].1
}

/// Posts batches for `PHASE`; `pace` = batches per second for all clients (None: as fast as possible).
async fn phase(
    http: &reqwest::Client,
    base: &str,
    users: u64,
    pace: Option<f64>,
) -> (f64, Vec<(f64, f64)>) {
    let seq = Arc::new(AtomicU64::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNS {
        let (http, base, seq, acked) = (http.clone(), base.to_string(), seq.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let interval = pace.map(|p| Duration::from_secs_f64(CONNS as f64 / p));
            let mut next = Instant::now()
                + interval.map_or(Duration::ZERO, |i| i.mul_f64(c as f64 / CONNS as f64));
            while start.elapsed() < PHASE {
                if let Some(i) = interval {
                    let now = Instant::now();
                    if next > now {
                        tokio::time::sleep(next - now).await;
                    }
                    next += i;
                }
                let body = batch(seq.fetch_add(1, Ordering::Relaxed), users);
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/users/track"))
                    .bearer_auth(KEY)
                    .json(&body)
                    .send()
                    .await;
                if let Ok(r) = r
                    && r.status() == 201
                {
                    acked.fetch_add(BATCH as u64, Ordering::Relaxed);
                    lat.push((
                        t.duration_since(start).as_secs_f64(),
                        t.elapsed().as_secs_f64() * 1000.0,
                    ));
                }
            }
            lat
        }));
    }
    let mut all: Vec<(f64, f64)> = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let rate = acked.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.1.total_cmp(&b.1));
    (rate, all)
}

/// Where in the phase the slowest requests started (seconds from its
/// start): stalls show up as clusters.
fn slowest(lat: &[(f64, f64)]) -> String {
    lat.iter()
        .rev()
        .take(8)
        .map(|(at, ms)| format!("{ms:.0} ms @ {at:.1} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts and launches the `CAMPAIGNS` campaigns: campaign `c{i}` plans a
/// send a week out for every `ev{i}` event.
async fn launch_campaigns(http: &reqwest::Client, base: &str) {
    for i in 0..CAMPAIGNS {
        let def = json!({"name": format!("c{i}"), "channel": "webhook",
            "message": {"url": "http://127.0.0.1:9/never", "body": "{{ event_properties.${value} }}"},
            "triggers": [{"type":"custom_event","name": format!("ev{i}"),
                          "property_filters":[{"property":"value","op":"lt","value":1000}]}],
            "delay": {"type":"after","duration":"7d"}, "reeligibility": {"after":"1s"},
            "schedule": {"start":"2020-01-01T00:00:00Z"}});
        http.put(format!("{base}/campaigns/c{i}"))
            .bearer_auth(KEY)
            .json(&def)
            .send()
            .await
            .expect("put");
        http.post(format!("{base}/campaigns/c{i}/launch"))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("launch");
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; test runners that list or smoke-run
    // bench targets (`cargo test --all-targets`, nextest) get nothing to run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNS)
        .build()
        .expect("client");
    let mut child = start(dir.path(), port);
    wait_ready(&http, &base).await;
    launch_campaigns(&http, &base).await;
    let users = 100_000;
    let (rate, lat) = phase(&http, &base, users, None).await;
    println!(
        "ingest saturation: {rate:.0} events/s acknowledged (durability {}), batches of {BATCH}, {CONNS} clients, {CAMPAIGNS} active campaigns",
        durability()
    );
    println!(
        "  latency ms: p50 {:.1}  p99 {:.1}  max {:.1}",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    // `TRIGGERD_BENCH_HALF_RATE` (events/s) pins the second phase's load,
    // to compare latency across builds at the same rate.
    let half = std::env::var("TRIGGERD_BENCH_HALF_RATE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(rate / 2.0)
        / BATCH as f64;
    let (rate2, lat2) = phase(&http, &base, users, Some(half)).await;
    println!("ingest at half rate: {rate2:.0} events/s");
    println!(
        "  latency ms: p50 {:.1}  p99 {:.1}  max {:.1}",
        pct(&lat2, 0.5),
        pct(&lat2, 0.99),
        pct(&lat2, 1.0)
    );
    println!("  slowest: {}", slowest(&lat2));
    println!("  daemon RSS after load: {:.0} MB", rss_mb(child.id()));

    // Scale: one pending send per user.
    let scale: u64 = std::env::var("TRIGGERD_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    drop(child);
    if scale == 0 {
        return;
    }
    // On a fresh data dir, so the size is exactly `scale` users with one
    // pending send each (the phases above leave 100,000 more users and
    // their sends behind).
    drop(dir);
    let dir = tempfile::tempdir().expect("tempdir");
    child = start(dir.path(), port);
    wait_ready(&http, &base).await;
    launch_campaigns(&http, &base).await;
    let t0 = Instant::now();
    let mut posted = 0u64;
    let mut set = tokio::task::JoinSet::new();
    while posted < scale {
        let n = (scale - posted).min(BATCH as u64);
        let events: Vec<Value> = (posted..posted + n)
            .map(|u| json!({"external_id": format!("scale{u}"), "name": format!("ev{}", u % CAMPAIGNS as u64), "properties": {"value": 1}}))
            .collect();
        posted += n;
        let (http, base) = (http.clone(), base.clone());
        set.spawn(async move {
            let r = http
                .post(format!("{base}/users/track"))
                .bearer_auth(KEY)
                .json(&json!({"events": events}))
                .send()
                .await;
            match r {
                Ok(r) if r.status() == 201 => {}
                Ok(r) => eprintln!("scale request answered {}", r.status()),
                Err(e) => eprintln!("scale request failed: {e}"),
            }
        });
        while set.len() >= CONNS {
            set.join_next().await;
        }
    }
    while set.join_next().await.is_some() {}
    println!(
        "scale: {scale} users with one pending send each (fresh data dir), loaded in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    println!("  daemon RSS: {:.0} MB", rss_mb(child.id()));
    // Two restarts: sled replays its whole log since the previous start on
    // the first (it snapshots its page table only when opening), so the
    // second shows a restart after a recent one.
    for which in ["first restart", "second restart"] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.0.wait();
        child = start(dir.path(), port);
        let ready = wait_ready(&http, &base).await;
        println!(
            "  {which} to /readyz: {:.0} ms; RSS after it {:.0} MB",
            ready.as_secs_f64() * 1000.0,
            rss_mb(child.id())
        );
        let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| l.contains("store recovered")) {
            println!("    daemon: {}", line.trim());
        }
    }
    drop(child);
}
