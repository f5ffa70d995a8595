//! The drill's own failures: a drill that cannot run (no daemon binary, a
//! port taken, the daemon refusing a campaign) is an error, distinct from a
//! drill that ran and found broken invariants (those are in the report).

use std::path::PathBuf;

/// Why the drill could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon binary is missing or not executable.
    #[error("daemon binary {0} not found; build it with `cargo build` or pass --daemon")]
    DaemonBinary(PathBuf),
    /// The daemon did not answer `/readyz` in time after a start.
    #[error("daemon not ready after {seconds} s (start #{start}); log tail:\n{log_tail}")]
    NotReady {
        /// Which start (1 = first).
        start: u32,
        /// How long we waited.
        seconds: u64,
        /// The end of the daemon's log.
        log_tail: String,
    },
    /// The daemon process exited while the drill expected it to run.
    #[error("daemon exited unexpectedly ({status}); log tail:\n{log_tail}")]
    DaemonExited {
        /// Exit status as printed by the OS.
        status: String,
        /// The end of the daemon's log.
        log_tail: String,
    },
    /// A setup call was refused (campaign definition, launch).
    #[error("setup request {what} failed: {status} {body}")]
    Setup {
        /// What was being set up.
        what: String,
        /// HTTP status.
        status: u16,
        /// Answer body.
        body: String,
    },
    /// An HTTP exchange with the daemon failed where no retry makes sense.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the drill was doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The daemon answered something the drill cannot read.
    #[error("unexpected answer from the daemon: {0}")]
    Protocol(String),
    /// Offline access to the daemon's database failed (corrupt-record step).
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    /// Encoding the report failed.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The drill's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps an I/O error with what the drill was doing.
pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
