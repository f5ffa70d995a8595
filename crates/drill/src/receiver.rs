//! The webhook receiver the drill's campaigns point at: an axum server on
//! 127.0.0.1 that records every request (send id, idempotency key, due,
//! drill token, arrival instant, the status it answered) and fails on
//! command: down (listener closed, connections refused), answering 500, or
//! answering 429 with `Retry-After`. A one-shot tap reports the next request
//! to the chaos controller, optionally holding the answer until released,
//! so a kill lands while the daemon waits for the provider (inside dispatch).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::net::TcpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock;
use crate::error::{Result, io};

/// How the receiver answers right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Fault {
    /// Answers 200.
    None,
    /// Listener closed: connections are refused.
    Down,
    /// Answers 500.
    Error500,
    /// Answers 429 with `Retry-After: seconds`.
    TooManyRequests {
        /// The `Retry-After` value.
        retry_after: u64,
    },
}

/// One request the receiver saw.
#[derive(Debug, Clone, Serialize)]
pub struct Arrival {
    /// Arrival order.
    pub seq: u64,
    /// When the request reached the handler.
    pub at: DateTime<Utc>,
    /// `X-Triggerd-Send-Id`.
    pub send_id: Option<String>,
    /// `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// `X-Triggerd-Due`, parsed.
    pub due: Option<DateTime<Utc>>,
    /// `X-Triggerd-Attempt`.
    pub attempt: Option<u32>,
    /// The drill's token (rendered from the trigger's properties).
    pub token: Option<String>,
    /// The user (rendered from the profile).
    pub user: Option<String>,
    /// The campaign (rendered from `campaign.id`).
    pub campaign: Option<String>,
    /// The status the receiver answered.
    pub status: u16,
    /// The `Retry-After` it sent, if any.
    pub retry_after: Option<u64>,
}

impl Arrival {
    /// True when the receiver accepted the request (2xx).
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What the tap reports: a request has arrived.
#[derive(Debug)]
pub struct TapHit {
    /// The send it carries.
    pub send_id: Option<String>,
    /// When it arrived.
    pub at: DateTime<Utc>,
    release: Option<oneshot::Sender<()>>,
}

impl TapHit {
    /// Lets a held request answer (no-op for an immediate tap).
    pub fn release(mut self) {
        if let Some(r) = self.release.take() {
            let _ = r.send(());
        }
    }
}

/// How the tap treats the request it catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapKind {
    /// The answer waits until the hit is released (the daemon is killed
    /// while it waits for the provider).
    Hold,
    /// The request is answered at once; the controller is told meanwhile.
    Immediate,
}

struct Tap {
    kind: TapKind,
    report: oneshot::Sender<TapHit>,
}

struct Shared {
    fault: Mutex<Fault>,
    log: Mutex<Vec<Arrival>>,
    tap: Mutex<Option<Tap>>,
    seq: AtomicU64,
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// The running receiver.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::sync::Mutex<Option<Server>>,
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .filter(|s| !s.is_empty())
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let at = clock::now();
    let fault = *shared.fault.lock();
    let (status, retry_after) = match fault {
        Fault::None | Fault::Down => (StatusCode::OK, None),
        Fault::Error500 => (StatusCode::INTERNAL_SERVER_ERROR, None),
        Fault::TooManyRequests { retry_after } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(retry_after))
        }
    };
    let arrival = Arrival {
        seq: shared.seq.fetch_add(1, Ordering::SeqCst),
        at,
        send_id: header(&headers, "x-triggerd-send-id"),
        idempotency_key: header(&headers, "idempotency-key"),
        due: header(&headers, "x-triggerd-due").and_then(|d| clock::parse(&d)),
        attempt: header(&headers, "x-triggerd-attempt").and_then(|a| a.parse().ok()),
        token: header(&headers, "x-drill-token"),
        user: header(&headers, "x-drill-user"),
        campaign: header(&headers, "x-drill-campaign"),
        status: status.as_u16(),
        retry_after,
    };
    let send_id = arrival.send_id.clone();
    shared.log.lock().push(arrival);
    let tap = if status == StatusCode::OK {
        shared.tap.lock().take()
    } else {
        None
    };
    if let Some(tap) = tap {
        match tap.kind {
            TapKind::Immediate => {
                let _ = tap.report.send(TapHit {
                    send_id,
                    at,
                    release: None,
                });
            }
            TapKind::Hold => {
                let (tx, rx) = oneshot::channel();
                let hit = TapHit {
                    send_id,
                    at,
                    release: Some(tx),
                };
                if tap.report.send(hit).is_ok() {
                    // Bounded: the controller releases right after the kill.
                    let _ = tokio::time::timeout(Duration::from_secs(20), rx).await;
                }
            }
        }
    }
    let mut resp = (status, "{}").into_response();
    if let Some(secs) = retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

async fn serve(addr: SocketAddr, shared: Arc<Shared>) -> Result<Server> {
    let mut last_err = None;
    // After a down phase the port may linger briefly; retry the bind.
    for _ in 0..50 {
        let socket = TcpSocket::new_v4().map_err(io("receiver socket"))?;
        socket
            .set_reuseaddr(true)
            .map_err(io("receiver SO_REUSEADDR"))?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(listener) => {
                let app = Router::new().fallback(handle).with_state(shared);
                let (stop, stopped) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
                return Ok(Server { stop, task });
            }
            Err(e) => {
                last_err = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Err(io(format!("binding the receiver to {addr}"))(
        last_err.unwrap_or_else(|| std::io::Error::other("bind failed")),
    ))
}

impl Receiver {
    /// Starts a receiver on an ephemeral loopback port.
    pub async fn start() -> Result<Receiver> {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("receiver bind"))?;
        let addr = probe.local_addr().map_err(io("receiver address"))?;
        drop(probe);
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            log: Mutex::new(Vec::new()),
            tap: Mutex::new(None),
            seq: AtomicU64::new(0),
        });
        let server = serve(addr, shared.clone()).await?;
        Ok(Receiver {
            addr,
            shared,
            server: tokio::sync::Mutex::new(Some(server)),
        })
    }

    /// The URL campaigns post to.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Switches the failure mode (closing or reopening the listener for
    /// [`Fault::Down`]).
    pub async fn set_fault(&self, fault: Fault) -> Result<()> {
        let mut server = self.server.lock().await;
        if fault == Fault::Down {
            if let Some(s) = server.take() {
                let _ = s.stop.send(());
                let mut task = s.task;
                if tokio::time::timeout(Duration::from_secs(3), &mut task)
                    .await
                    .is_err()
                {
                    task.abort();
                }
            }
        } else if server.is_none() {
            *server = Some(serve(self.addr, self.shared.clone()).await?);
        }
        *self.shared.fault.lock() = fault;
        Ok(())
    }

    /// The current failure mode.
    pub fn fault(&self) -> Fault {
        *self.shared.fault.lock()
    }

    /// Reports the next request answered 200 (see [`TapKind`]). Arming
    /// again replaces an unfired tap.
    pub fn arm_tap(&self, kind: TapKind) -> oneshot::Receiver<TapHit> {
        let (report, rx) = oneshot::channel();
        *self.shared.tap.lock() = Some(Tap { kind, report });
        rx
    }

    /// Removes an unfired tap.
    pub fn disarm_tap(&self) {
        self.shared.tap.lock().take();
    }

    /// A copy of every request seen so far, in arrival order.
    pub fn log(&self) -> Vec<Arrival> {
        self.shared.log.lock().clone()
    }

    /// Requests seen so far.
    pub fn count(&self) -> usize {
        self.shared.log.lock().len()
    }

    /// When the last request arrived.
    pub fn last_arrival(&self) -> Option<DateTime<Utc>> {
        self.shared.log.lock().last().map(|a| a.at)
    }

    /// Stops serving.
    pub async fn shutdown(&self) {
        let _ = self.set_fault(Fault::Down).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(client: &reqwest::Client, url: &str) -> reqwest::Result<reqwest::Response> {
        client
            .post(url)
            .header("X-Triggerd-Send-Id", "s1")
            .header("Idempotency-Key", "s1")
            .header("X-Triggerd-Due", "2026-01-05T10:00:00Z")
            .header("X-Drill-Token", "tok")
            .body("{}")
            .send()
            .await
    }

    #[tokio::test]
    async fn records_requests_and_fails_on_command() {
        let r = Receiver::start().await.expect("starts");
        let client = reqwest::Client::new();
        let url = r.url();
        assert_eq!(post(&client, &url).await.expect("ok").status(), 200);
        r.set_fault(Fault::TooManyRequests { retry_after: 3 })
            .await
            .expect("fault");
        let resp = post(&client, &url).await.expect("answer");
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "3");
        r.set_fault(Fault::Down).await.expect("down");
        let fresh = reqwest::Client::new();
        assert!(post(&fresh, &url).await.is_err(), "connection refused");
        r.set_fault(Fault::None).await.expect("up");
        assert_eq!(post(&fresh, &url).await.expect("ok").status(), 200);
        let log = r.log();
        assert_eq!(log.len(), 3);
        assert_eq!(log[0].send_id.as_deref(), Some("s1"));
        assert_eq!(log[0].token.as_deref(), Some("tok"));
        assert!(log[0].accepted() && !log[1].accepted() && log[2].accepted());
        assert_eq!(log[1].retry_after, Some(3));
        assert_eq!(log[0].due, clock::parse("2026-01-05T10:00:00Z"));
    }

    #[tokio::test]
    async fn a_hold_tap_keeps_the_answer_until_released() {
        let r = Receiver::start().await.expect("starts");
        let hit = r.arm_tap(TapKind::Hold);
        let url = r.url();
        let req = tokio::spawn(async move { post(&reqwest::Client::new(), &url).await });
        let hit = hit.await.expect("tap fired");
        assert_eq!(hit.send_id.as_deref(), Some("s1"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!req.is_finished(), "answer held");
        hit.release();
        let resp = req.await.expect("join").expect("answer");
        assert_eq!(resp.status(), 200);
    }
}
