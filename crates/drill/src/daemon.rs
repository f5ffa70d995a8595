//! The daemon under test as a child process: start on a fixed data dir and
//! port, time restart → `/readyz` 200, SIGKILL, SIGTERM (graceful, exit
//! status checked). Output of every start is appended to one log file.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::error::{Error, Result, io};

/// How long one start may take before the drill gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a SIGTERM may take before the drill kills the process.
const TERM_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything needed to (re)start the daemon the same way.
#[derive(Debug, Clone)]
pub struct DaemonSpec {
    /// The `triggerd` binary.
    pub bin: PathBuf,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// `--listen`.
    pub listen: SocketAddr,
    /// `--api-key`.
    pub api_key: String,
    /// `--config`.
    pub config: PathBuf,
    /// Where stdout and stderr go (appended).
    pub log: PathBuf,
}

/// The outcome of a SIGTERM.
#[derive(Debug, Clone)]
pub struct Termination {
    /// Exit code (None: killed by a signal, or it had to be SIGKILLed).
    pub code: Option<i32>,
    /// Signal to exit.
    pub took: Duration,
    /// True when the process did not exit within the timeout and was
    /// SIGKILLed.
    pub timed_out: bool,
}

/// The running (or stopped) daemon.
pub struct Daemon {
    spec: DaemonSpec,
    child: Option<Child>,
    starts: u32,
    http: reqwest::Client,
}

/// The last `lines` lines of a log file (for error messages).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Daemon {
    /// A daemon that is not started yet.
    pub fn new(spec: DaemonSpec) -> Result<Daemon> {
        if !spec.bin.is_file() {
            return Err(Error::DaemonBinary(spec.bin.clone()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()?;
        Ok(Daemon {
            spec,
            child: None,
            starts: 0,
            http,
        })
    }

    /// The spec it runs with.
    pub fn spec(&self) -> &DaemonSpec {
        &self.spec
    }

    /// Base URL of its HTTP API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.spec.listen)
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Starts it and waits for `/readyz` 200; returns the time from spawn
    /// to ready.
    pub async fn start(&mut self) -> Result<Duration> {
        self.starts += 1;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log)
            .map_err(io("opening the daemon log"))?;
        let log2 = log.try_clone().map_err(io("daemon log handle"))?;
        let started = Instant::now();
        let child = Command::new(&self.spec.bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.spec.data_dir)
            .arg("--listen")
            .arg(self.spec.listen.to_string())
            .arg("--api-key")
            .arg(&self.spec.api_key)
            .arg("--config")
            .arg(&self.spec.config)
            .arg("--durability")
            .arg("flush")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .kill_on_drop(true)
            .spawn()
            .map_err(io(format!("starting {}", self.spec.bin.display())))?;
        self.child = Some(child);
        let url = format!("{}/readyz", self.base_url());
        loop {
            if let Ok(r) = self.http.get(&url).send().await
                && r.status().as_u16() == 200
            {
                return Ok(started.elapsed());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(Error::DaemonExited {
                    status: status.to_string(),
                    log_tail: log_tail(&self.spec.log, 30),
                });
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::NotReady {
                    start: self.starts,
                    seconds: READY_TIMEOUT.as_secs(),
                    log_tail: log_tail(&self.spec.log, 30),
                });
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL, and waits until the process is gone (its sled lock freed).
    pub async fn sigkill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.map_err(io("SIGKILL of the daemon"))?;
        }
        Ok(())
    }

    /// SIGTERM and waits for the exit (SIGKILL after a timeout).
    pub async fn sigterm(&mut self) -> Result<Termination> {
        let Some(mut child) = self.child.take() else {
            return Ok(Termination {
                code: Some(0),
                took: Duration::ZERO,
                timed_out: false,
            });
        };
        let started = Instant::now();
        if let Some(pid) = child.id() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await
                .map_err(io("running kill -TERM"))?;
            if !status.success() {
                return Err(Error::Protocol(format!(
                    "kill -TERM {pid} failed: {status}"
                )));
            }
        }
        match tokio::time::timeout(TERM_TIMEOUT, child.wait()).await {
            Ok(status) => {
                let status = status.map_err(io("waiting for the daemon"))?;
                Ok(Termination {
                    code: status.code(),
                    took: started.elapsed(),
                    timed_out: false,
                })
            }
            Err(_) => {
                child
                    .kill()
                    .await
                    .map_err(io("SIGKILL after SIGTERM timeout"))?;
                Ok(Termination {
                    code: None,
                    took: started.elapsed(),
                    timed_out: true,
                })
            }
        }
    }

    /// True while the child runs (a crash shows here).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Exit status if the child exited on its own.
    pub fn exited(&mut self) -> Option<String> {
        let c = self.child.as_mut()?;
        match c.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// How many times it was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }
}

/// A free loopback port (bound, read, released).
pub fn free_addr() -> Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("probing a free port"))?;
    l.local_addr().map_err(io("probing a free port"))
}
