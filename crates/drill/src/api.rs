//! The drill's HTTP client of the daemon: setup calls that must succeed,
//! ingest with retry until acknowledged (same `Idempotency-Key` on every
//! attempt), and the read endpoints the checks use.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock;
use crate::error::{Error, Result};

/// One attempt's limit: a stalled daemon counts as a failed attempt.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// The daemon's API as the drill uses it.
#[derive(Clone)]
pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

/// How an ingest request ended.
#[derive(Debug, Clone)]
pub enum TrackOutcome {
    /// 201: on disk (R-K1).
    Acked {
        /// When the drill read the 201.
        at: DateTime<Utc>,
        /// Attempts made (1 = no retry).
        attempts: u32,
        /// The answer body.
        body: Value,
    },
    /// A 4xx: the daemon refused the request for good.
    Refused {
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
    /// No acknowledgement before the deadline.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

impl Api {
    /// A client of the daemon at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: String, key: String) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api { base, key, http })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// A call that must answer 2xx (setup), retried while the daemon
    /// restarts.
    pub async fn must(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.send_json(method.clone(), path, body).await {
                Ok((s, v)) if (200..300).contains(&s) => return Ok(v),
                Ok((s, v)) if s < 500 => {
                    return Err(Error::Setup {
                        what: format!("{method} {path}"),
                        status: s,
                        body: v.to_string(),
                    });
                }
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok((s, v)) => {
                    return Err(Error::Setup {
                        what: format!("{method} {path}"),
                        status: s,
                        body: v.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET` that must succeed.
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.must(reqwest::Method::GET, path, None).await
    }

    /// `POST /users/track` until a 201 (or a 4xx, or `deadline`), with the
    /// same idempotency key on every attempt.
    pub async fn track(
        &self,
        body: &Value,
        idempotency_key: &str,
        deadline: Duration,
    ) -> TrackOutcome {
        let started = Instant::now();
        let mut attempts = 0u32;
        let mut pause = Duration::from_millis(20);
        loop {
            attempts += 1;
            let result = self
                .http
                .post(self.url("/users/track"))
                .bearer_auth(&self.key)
                .header("Idempotency-Key", idempotency_key)
                .json(body)
                .send()
                .await;
            let last = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.text().await {
                        Ok(text) if status == 201 => {
                            return TrackOutcome::Acked {
                                at: clock::now(),
                                attempts,
                                body: serde_json::from_str(&text).unwrap_or(Value::Null),
                            };
                        }
                        Ok(text) if (400..500).contains(&status) && status != 429 => {
                            return TrackOutcome::Refused { status, body: text };
                        }
                        Ok(text) => format!("{status} {text}"),
                        Err(e) => format!("{status} unreadable body: {e}"),
                    }
                }
                Err(e) => e.to_string(),
            };
            if started.elapsed() >= deadline {
                return TrackOutcome::GaveUp { attempts, last };
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// `POST /users/track` once, returning the status (disk-full step).
    pub async fn track_once(
        &self,
        body: &Value,
        idempotency_key: &str,
    ) -> std::result::Result<(u16, String), String> {
        let resp = self
            .http
            .post(self.url("/users/track"))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    /// `GET /campaigns/{id}/stats`.
    pub async fn stats(&self, campaign: &str) -> Result<Value> {
        self.get(&format!("/campaigns/{campaign}/stats")).await
    }

    /// `GET /campaigns/{id}/users/{uid}/explain` (None on 404).
    pub async fn explain(&self, campaign: &str, user: &str) -> Result<Option<Value>> {
        let (s, v) = self
            .send_json(
                reqwest::Method::GET,
                &format!("/campaigns/{campaign}/users/{user}/explain"),
                None,
            )
            .await?;
        match s {
            200 => Ok(Some(v)),
            404 => Ok(None),
            _ => Err(Error::Protocol(format!(
                "explain {campaign}/{user}: {s} {v}"
            ))),
        }
    }

    /// `POST /users/export/ids` for some users.
    pub async fn export(&self, users: &[String]) -> Result<Value> {
        self.must(
            reqwest::Method::POST,
            "/users/export/ids",
            Some(&serde_json::json!({ "external_ids": users })),
        )
        .await
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> Result<String> {
        let resp = self.http.get(self.url("/metrics")).send().await?;
        Ok(resp.text().await?)
    }

    /// `GET /healthz` status (None when unreachable).
    pub async fn healthz(&self) -> Option<u16> {
        self.http
            .get(self.url("/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }
}

/// The value of a Prometheus counter or gauge line `name{...} value` (sum
/// over label sets).
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sum_adds_label_sets_and_ignores_prefixes() {
        let text = "# TYPE x counter\nx{a=\"1\"} 2\nx{a=\"2\"} 3\nx_total 7\nx 1\n";
        assert_eq!(metric_sum(text, "x"), 6.0);
        assert_eq!(metric_sum(text, "x_total"), 7.0);
        assert_eq!(metric_sum(text, "y"), 0.0);
    }
}
