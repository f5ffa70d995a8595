//! Log output: `tracing-subscriber` writing to stderr as text or JSON lines,
//! filtered by `RUST_LOG` (default `info`). Stdout stays free for the one
//! line that prints a generated API key.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use crate::config::LogFormat;

/// The global subscriber could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("cannot install the log subscriber: {0}")]
pub struct LoggingError(String);

/// The filter from `RUST_LOG`; an unset variable means `info`, and invalid
/// directives are skipped rather than fatal.
pub fn env_filter() -> EnvFilter {
    EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy()
}

/// Installs the global subscriber. Call once, early in `main`.
pub fn init(format: LogFormat) -> Result<(), LoggingError> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|e| LoggingError(e.to_string()))
}
