//! Helpers for the engine's unit tests: a real engine (store, timers,
//! gateway) on a temp data dir with the manual clock.

use chrono::{DateTime, Utc};

use super::Engine;

/// The instant the engine tests start their manual clock at.
pub fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-05T10:00:00Z")
        .expect("valid")
        .to_utc()
}

/// Opens a daemon's engine on `dir` with the manual clock at `start`.
pub async fn engine(dir: &std::path::Path, start: DateTime<Utc>) -> Engine {
    engine_with(dir, start, crate::config::Durability::Flush).await
}

/// [`engine`] with the given durability.
pub async fn engine_with(
    dir: &std::path::Path,
    start: DateTime<Utc>,
    durability: crate::config::Durability,
) -> Engine {
    let flags = crate::config::Layer {
        data_dir: Some(dir.to_path_buf()),
        clock: Some(crate::config::ClockMode::Manual),
        clock_start: Some(start),
        durability: Some(durability),
        ..Default::default()
    };
    let settings = crate::config::Settings::merge(
        flags,
        crate::config::Layer::default(),
        crate::config::FileConfig::default(),
        None,
    )
    .expect("settings");
    crate::daemon::open(&settings).await.expect("opens").engine
}
