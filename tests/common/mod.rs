//! Test harness: starts the real `triggerd` binary on a temporary data dir
//! with the manual clock, and talks to it over HTTP as a user would.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The API key every test daemon accepts.
pub const KEY: &str = "test-key";
/// The SDK key every test daemon accepts.
pub const SDK_KEY: &str = "sdk-key";

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running daemon.
pub struct Daemon {
    child: Option<Child>,
    /// Its port.
    pub port: u16,
    /// Its data dir.
    pub dir: PathBuf,
    clock_start: String,
    extra: Vec<String>,
    http: reqwest::Client,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Daemon {
    /// Starts a daemon with the manual clock at `clock_start`.
    pub async fn start(dir: &Path, clock_start: &str) -> Daemon {
        Daemon::start_with(dir, clock_start, &[]).await
    }

    /// Starts a daemon with extra `serve` arguments.
    pub async fn start_with(dir: &Path, clock_start: &str, extra: &[&str]) -> Daemon {
        let mut d = Daemon {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            clock_start: clock_start.to_string(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        };
        d.spawn().await;
        d
    }

    async fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!("daemon-{}.log", self.port)))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_triggerd"))
            .arg("serve")
            .args(["--data-dir", self.dir.join("data").to_str().expect("utf8")])
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--api-key", KEY, "--sdk-key", SDK_KEY])
            .args(["--clock", "manual", "--clock-start", &self.clock_start])
            .args(&self.extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("daemon starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = self.http.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daemon not ready in 30 s; log: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("daemon-{}.log", self.port)))
            .unwrap_or_default()
    }

    /// SIGKILL (a crash), then start again on the same data dir.
    pub async fn crash_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            c.wait().expect("reaped");
        }
        self.port = free_port();
        self.spawn().await;
    }

    /// Restarts with another `--clock-start` (downtime for the test clock).
    pub async fn restart_at(&mut self, clock_start: &str) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill");
            c.wait().expect("reaped");
        }
        self.clock_start = clock_start.to_string();
        self.port = free_port();
        self.spawn().await;
    }

    /// SIGTERM and the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = c.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        c.wait().expect("exits")
    }

    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A request with the API key.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    /// GET with the API key, expecting 200.
    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(s, 200, "GET {path}: {v}");
        v
    }

    /// POST with the API key, expecting 2xx.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert!((200..300).contains(&s), "POST {path}: {s} {v}");
        v
    }

    /// An SDK request.
    pub async fn sdk(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .header("X-Sdk-Key", SDK_KEY);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// A raw GET without key (tracking links).
    pub async fn get_public(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("request")
    }

    /// Defines and launches a campaign.
    pub async fn campaign(&self, id: &str, def: Value) {
        let (s, v) = self
            .call(reqwest::Method::PUT, &format!("/campaigns/{id}"), Some(def))
            .await;
        assert!(s == 200 || s == 201, "PUT campaign {id}: {s} {v}");
        self.post(&format!("/campaigns/{id}/launch"), json!({}))
            .await;
    }

    /// `POST /users/track`.
    pub async fn track(&self, body: Value) -> Value {
        let (s, v) = self
            .call(reqwest::Method::POST, "/users/track", Some(body))
            .await;
        assert_eq!(s, 201, "track: {v}");
        v
    }

    /// One custom event for a user at an instant.
    pub async fn event(&self, user: &str, name: &str, time: &str, props: Value) -> Value {
        self.track(json!({"events":[{"external_id": user, "name": name, "time": time, "properties": props}]})).await
    }

    /// Sets attributes of a user.
    pub async fn attrs(&self, user: &str, attrs: Value) -> Value {
        let mut a = attrs.as_object().cloned().expect("object");
        a.insert("external_id".into(), json!(user));
        self.track(json!({"attributes":[a]})).await
    }

    /// Moves the test clock to an instant; returns how many sends fired.
    pub async fn advance_to(&self, to: &str) -> u64 {
        let v = self.post("/admin/clock/advance", json!({"to": to})).await;
        v["fired"].as_u64().expect("fired")
    }

    /// Messages in the outbox (optionally filtered by a query string).
    pub async fn outbox(&self, query: &str) -> Vec<Value> {
        self.get(&format!("/outbox{query}")).await["messages"]
            .as_array()
            .cloned()
            .expect("messages")
    }

    /// The explain answer of a pair.
    pub async fn explain(&self, campaign: &str, user: &str) -> Value {
        self.get(&format!("/campaigns/{campaign}/users/{user}/explain"))
            .await
    }

    /// The outcome codes of a pair's timeline, in order.
    pub async fn timeline(&self, campaign: &str, user: &str) -> Vec<String> {
        self.explain(campaign, user).await["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|e| e["outcome"].as_str().expect("outcome").to_string())
            .collect()
    }

    /// Campaign stats.
    pub async fn stats(&self, campaign: &str) -> Value {
        self.get(&format!("/campaigns/{campaign}/stats")).await
    }
}

/// A minimal email campaign triggered by a custom event.
pub fn email_campaign(event: &str, extra: Value) -> Value {
    let mut base = json!({
        "name": format!("on {event}"),
        "channel": "email",
        "message": {"subject": "Hello {{ ${first_name} | default: 'there' }}", "html": "<p>Hi</p>"},
        "triggers": [{"type": "custom_event", "name": event}],
        "schedule": {"start": "2026-01-01T00:00:00Z"}
    });
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}
