//! The HTTP shell of API.md, tested two ways:
//!
//! - end to end against the real `triggerd` binary (started on a free port
//!   with a temporary data dir): operations routes, JSON errors, auth, body
//!   limit, API key generation, key precedence and SIGTERM;
//! - in process, with test routes plugged into `Shell::wrap` the way the
//!   engine's routes are: `ApiJson` rejections, rate limit, overload guard
//!   and route-template metrics.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Notify;
use triggerd::api::{ApiJson, ApiResult, Caller, Shell, ShellConfig};

const API_KEY: &str = "test-api-key";
const SDK_KEY: &str = "test-sdk-key";
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// A running `triggerd serve` child process.
struct Daemon {
    child: Child,
    base: String,
    /// The log line that announced the address.
    listening_line: String,
    stdout: mpsc::Receiver<String>,
}

impl Daemon {
    /// Starts the binary with `args` after `serve`, on a free port, and waits
    /// for its "listening on" log line.
    fn start(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_triggerd"));
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("TRIGGERD_") || name.starts_with("MIMALLOC_") {
                command.env_remove(name);
            }
        }
        command.envs(envs.iter().copied());
        let mut child = command.spawn().expect("starts triggerd");
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        let (out_tx, stdout) = mpsc::channel();
        // From here on, Drop kills the child if anything fails.
        let mut daemon = Daemon {
            child,
            base: String::new(),
            listening_line: String::new(),
            stdout,
        };
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = out_tx.send(line);
            }
        });
        let (err_tx, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[triggerd] {line}");
                let _ = err_tx.send(line);
            }
        });

        let deadline = Instant::now() + Duration::from_secs(30);
        while daemon.base.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = stderr
                .recv_timeout(left)
                .expect("triggerd logs 'listening on ADDR' within 30 s");
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                daemon.base = format!("http://{addr}");
                daemon.listening_line = line;
            }
        }
        daemon
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Waits up to 10 s for a stdout line that starts with `prefix`.
    fn wait_stdout_line(&self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGTERM; returns the exit code and every stdout line not yet taken.
    fn terminate(mut self) -> (Option<i32>, Vec<String>) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("runs kill");
        assert!(status.success(), "kill -TERM delivered");
        let deadline = Instant::now() + Duration::from_secs(15);
        let code = loop {
            if let Some(exit) = self.child.try_wait().expect("waits") {
                break exit.code();
            }
            assert!(
                Instant::now() < deadline,
                "triggerd exits within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // The process is gone: the reader thread ends at end of file.
        let mut rest = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        (code, rest)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks the API.md error shape and returns the body.
async fn json_error(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
    let body: Value = response.json().await.expect("a JSON body");
    assert!(body["message"].is_string(), "message in {body}");
    assert!(body["errors"].is_array(), "errors in {body}");
    body
}

const GENERATED_PREFIX: &str = "Generated API key (stored in ";

fn has_generated_key_line(lines: &[String]) -> bool {
    lines.iter().any(|l| l.starts_with(GENERATED_PREFIX))
}

#[tokio::test]
async fn api_shell_end_to_end_with_the_real_binary() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let daemon = Daemon::start(&data_dir, &["--sdk-key", SDK_KEY], &[]);
    let http = reqwest::Client::new();

    // Generated API key: printed once on stdout, stored 0600 in the data dir.
    let line = daemon
        .wait_stdout_line(GENERATED_PREFIX)
        .expect("the generated key is printed");
    let key = line
        .rsplit(": ")
        .next()
        .expect("key after ': '")
        .to_string();
    let stored = std::fs::read_to_string(data_dir.join("api_key")).expect("api_key file");
    assert_eq!(stored.trim(), key);
    assert!(
        line.contains(&data_dir.join("api_key").display().to_string()),
        "{line}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join("api_key"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Operations routes need no key.
    let health = http
        .get(daemon.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(
        health.json::<Value>().await.expect("json"),
        json!({"status":"ok"})
    );
    let ready = http
        .get(daemon.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);

    // Unknown route (authenticated): 404 JSON. Trailing slash: no route.
    for path in ["/nope", "/healthz/"] {
        let response = http
            .get(daemon.url(path))
            .bearer_auth(&key)
            .send()
            .await
            .expect("request");
        json_error(response, StatusCode::NOT_FOUND).await;
    }

    // Wrong method on a known route: 405 JSON, with Allow.
    let response = http
        .post(daemon.url("/healthz"))
        .send()
        .await
        .expect("request");
    assert!(response.headers().contains_key("allow"));
    json_error(response, StatusCode::METHOD_NOT_ALLOWED).await;

    // REST without a key, or with a wrong one: 401 JSON.
    let response = http
        .get(daemon.url("/campaigns"))
        .send()
        .await
        .expect("request");
    json_error(response, StatusCode::UNAUTHORIZED).await;
    let response = http
        .post(daemon.url("/users/track"))
        .bearer_auth("not-a-key")
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    json_error(response, StatusCode::UNAUTHORIZED).await;

    // SDK key on a REST route: 403 JSON (either header).
    let response = http
        .post(daemon.url("/users/track"))
        .bearer_auth(SDK_KEY)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    json_error(response, StatusCode::FORBIDDEN).await;
    let response = http
        .get(daemon.url("/campaigns"))
        .header("X-Sdk-Key", SDK_KEY)
        .send()
        .await
        .expect("request");
    json_error(response, StatusCode::FORBIDDEN).await;

    // Body over 4 MiB: 413 JSON before any handler runs.
    let response = http
        .post(daemon.url("/users/track"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(vec![b' '; BODY_LIMIT + 1])
        .send()
        .await
        .expect("request");
    json_error(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // A write, acknowledged after its flush (timed in the metrics below).
    let response = http
        .post(daemon.url("/users/track"))
        .bearer_auth(&key)
        .json(&json!({"events": [{"external_id": "u1", "name": "e"}]}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::CREATED);

    // Metrics by route template (unmatched routes share one label, `unmatched`).
    let metrics = http
        .get(daemon.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for needle in [
        "triggerd_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "triggerd_http_requests_total{route=\"/users/track\",status=\"401\"}",
        "triggerd_pending_sends 0",
        "triggerd_sends_scheduled_total 0",
        "triggerd_commit_wait_seconds_bucket{le=\"5\"}",
    ] {
        assert!(metrics.contains(needle), "missing {needle:?} in\n{metrics}");
    }

    // SIGTERM: exit code 0; the key line was the only stdout output.
    let (code, rest) = daemon.terminate();
    assert_eq!(code, Some(0));
    assert!(!has_generated_key_line(&rest), "printed once: {rest:?}");

    // Restart on the same data dir: the key is reused and not printed again.
    let again = Daemon::start(&data_dir, &[], &[]);
    let response = http
        .get(again.url("/nope"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "old key still valid"
    );
    let (code, lines) = again.terminate();
    assert_eq!(code, Some(0));
    assert!(
        !has_generated_key_line(&lines),
        "printed only once: {lines:?}"
    );
}

#[tokio::test]
async fn cli_keys_flag_beats_env_and_adds_to_config_file_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("triggerd.toml");
    std::fs::write(&config, "[auth]\napi_keys = [\"file-key\"]\n").expect("write config");
    let config_arg = config.display().to_string();
    let daemon = Daemon::start(
        &tmp.path().join("data"),
        &["--config", &config_arg, "--api-key", "flag-key"],
        &[("TRIGGERD_API_KEY", "env-key")],
    );
    let http = reqwest::Client::new();
    for (key, status) in [
        ("file-key", StatusCode::NOT_FOUND),
        ("flag-key", StatusCode::NOT_FOUND),
        ("env-key", StatusCode::UNAUTHORIZED),
    ] {
        let response = http
            .get(daemon.url("/nope"))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "key {key}");
    }
    assert!(!tmp.path().join("data").join("api_key").exists());
    let (code, lines) = daemon.terminate();
    assert_eq!(code, Some(0));
    assert!(
        !has_generated_key_line(&lines),
        "keys configured: none generated"
    );
}

#[tokio::test]
async fn cli_env_vars_used_when_no_flag_including_json_logs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(
        &tmp.path().join("data"),
        &[],
        &[
            ("TRIGGERD_API_KEY", "env-key"),
            ("TRIGGERD_SDK_KEY", "s1,s2"),
        ],
    );
    let http = reqwest::Client::new();
    let response = http
        .get(daemon.url("/nope"))
        .bearer_auth("env-key")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = http
        .get(daemon.url("/campaigns"))
        .header("X-Sdk-Key", "s2")
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "s2 is a known SDK key"
    );
    assert_eq!(daemon.terminate().0, Some(0));
}

// ---- In process: the shell around plugged-in routes ----

/// Serves `routes` wrapped by a shell built from `config`; returns the base URL.
async fn serve_in_process(config: ShellConfig, routes: Router) -> (String, Shell) {
    let shell = Shell::new(&config).expect("shell");
    let app = shell.wrap(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(triggerd::api::serve(listener, app, std::future::pending()));
    (format!("http://{addr}"), shell)
}

fn shell_config(rate_limit: u32, max_in_flight: usize) -> ShellConfig {
    ShellConfig {
        api_keys: vec![API_KEY.into()],
        sdk_keys: vec![SDK_KEY.into()],
        rate_limit,
        max_in_flight,
    }
}

#[derive(serde::Deserialize)]
struct Track {
    external_id: String,
}

async fn echo_track(
    axum::Extension(caller): axum::Extension<Caller>,
    ApiJson(body): ApiJson<Track>,
) -> ApiResult<ApiJson<Value>> {
    Ok(ApiJson(
        json!({"message":"success","external_id":body.external_id,"caller":format!("{caller:?}")}),
    ))
}

fn test_routes() -> Router {
    Router::new()
        .route("/users/track", post(echo_track))
        .route("/sdk/v1/track", post(echo_track))
        .route("/campaigns/{id}", get(|| async { "ok" }))
}

#[tokio::test]
async fn api_json_rejections_are_json_with_api_md_statuses() {
    let (base, shell) = serve_in_process(shell_config(0, 64), test_routes()).await;
    let http = reqwest::Client::new();
    let track = format!("{base}/users/track");

    let ok = http
        .post(&track)
        .bearer_auth(API_KEY)
        .json(&json!({"external_id":"u1"}))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), StatusCode::OK);
    let body: Value = ok.json().await.expect("json");
    assert_eq!(body["external_id"], "u1");
    assert_eq!(body["caller"], "Api { key: 0 }", "handlers see the caller");

    let cases: [(&str, Vec<u8>, StatusCode); 4] = [
        (
            "application/json",
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            b"{\"external_id\":5}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            b"{\"external_id\":\"u1\"}".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        ("application/json", Vec::new(), StatusCode::BAD_REQUEST),
    ];
    for (content_type, body, status) in cases {
        let response = http
            .post(&track)
            .bearer_auth(API_KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        json_error(response, status).await;
    }

    // A chunked body (no Content-Length) over the limit: 413 while reading.
    let (status, body) = post_chunked(&base, "/users/track", BODY_LIMIT + 1).await;
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(
        body["message"].is_string() && body["errors"].is_array(),
        "{body}"
    );

    // SDK route: SDK key accepted.
    let response = http
        .post(format!("{base}/sdk/v1/track"))
        .header("X-Sdk-Key", SDK_KEY)
        .json(&json!({"external_id":"u2"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["caller"], "Sdk { key: 0 }");

    // Route templates label the metrics, not raw paths.
    let response = http
        .get(format!("{base}/campaigns/abc"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let metrics = triggerd::metrics::render(&shell.metrics_handle());
    assert!(
        metrics.contains("triggerd_http_requests_total{route=\"/campaigns/{id}\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("/campaigns/abc"),
        "raw path must not be a label"
    );
}

/// POSTs `body_len` spaces with `Transfer-Encoding: chunked` (1 MiB
/// chunks) over a raw connection, reading the answer while writing; returns
/// the status and the body text.
async fn post_chunked(base: &str, path: &str, body_len: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let write = tokio::spawn(async move {
        let mut wire = head.into_bytes();
        let mut left = body_len;
        while left > 0 {
            let n = left.min(1024 * 1024);
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            wire.resize(wire.len() + n, b' ');
            wire.extend_from_slice(b"\r\n");
            left -= n;
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        // The server may answer and close before reading everything.
        let _ = writer.write_all(&wire).await;
    });
    let mut raw = Vec::new();
    let _ = reader.read_to_end(&mut raw).await;
    let _ = write.await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP status line in {text:?}"));
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[tokio::test]
async fn api_rate_limit_answers_429_with_reset() {
    let (base, _shell) = serve_in_process(shell_config(2, 64), test_routes()).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/campaigns/x");
    let mut statuses = Vec::new();
    let mut reset = None;
    for _ in 0..4 {
        let response = http
            .get(&url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .expect("request");
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            reset = response
                .headers()
                .get("x-ratelimit-reset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            json_error(response, StatusCode::TOO_MANY_REQUESTS).await;
        }
    }
    assert_eq!(
        &statuses[..2],
        [StatusCode::OK, StatusCode::OK],
        "burst of the rate"
    );
    assert!(
        statuses[2..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    #[allow(clippy::disallowed_methods)] // compares with the wall-clock reset header
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after epoch")
        .as_secs();
    let reset = reset.expect("X-RateLimit-Reset in epoch seconds");
    assert!(reset >= now && reset <= now + 2, "{reset} vs {now}");

    // Another key has its own bucket; public routes are not limited.
    let response = http
        .post(format!("{base}/sdk/v1/track"))
        .header("X-Sdk-Key", SDK_KEY)
        .json(&json!({"external_id":"u"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    for _ in 0..5 {
        let response = http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn api_overload_sheds_with_429_instead_of_queueing() {
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (entered_in, release_in) = (entered.clone(), release.clone());
    let routes = Router::new().route(
        "/slow",
        get(move || {
            let (entered, release) = (entered_in.clone(), release_in.clone());
            async move {
                entered.notify_one();
                release.notified().await;
                "done"
            }
        }),
    );
    let (base, shell) = serve_in_process(shell_config(0, 1), routes).await;
    let http = reqwest::Client::new();
    let first = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/slow"));
        async move {
            http.get(url)
                .bearer_auth(API_KEY)
                .send()
                .await
                .expect("request")
                .status()
        }
    });
    entered.notified().await;

    let response = http
        .get(format!("{base}/slow"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .expect("request");
    assert!(response.headers().contains_key("x-ratelimit-reset"));
    json_error(response, StatusCode::TOO_MANY_REQUESTS).await;
    let health = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("request");
    assert_eq!(health.status(), StatusCode::OK, "probes are never shed");

    release.notify_one();
    assert_eq!(first.await.expect("joins"), StatusCode::OK);
    let readyz = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("request");
    json_error(readyz, StatusCode::SERVICE_UNAVAILABLE).await;
    shell.readiness().set_ready();
    let readyz = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        readyz.status(),
        StatusCode::OK,
        "ready once recovery says so"
    );
}

/// `triggerd::allocator`: `serve` runs with mimalloc's purge delay at
/// 100 ms (it re-executes itself once to set it) unless the environment
/// chose a value, which wins.
#[test]
fn serve_runs_with_the_allocator_default_unless_the_environment_sets_it() {
    for (envs, expected) in [
        (vec![], "MIMALLOC_PURGE_DELAY=100"),
        (
            vec![("MIMALLOC_PURGE_DELAY", "7")],
            "MIMALLOC_PURGE_DELAY=7",
        ),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let daemon = Daemon::start(&dir.path().join("data"), &[], &envs);
        let environ =
            std::fs::read(format!("/proc/{}/environ", daemon.child.id())).expect("environ");
        let settings: Vec<String> = environ
            .split(|b| *b == 0)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .filter(|v| v.starts_with("MIMALLOC_"))
            .collect();
        assert_eq!(settings, vec![expected.to_string()]);
    }
}
