//! The daemon's clock: the system clock, or the manual test clock of
//! API.md (`--clock manual`), whose time only moves when
//! `POST /admin/clock/advance` says so. This is the only module that reads
//! the system time (see `clippy.toml`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

/// A source of "now".
#[derive(Clone)]
pub enum Clock {
    /// Wall-clock time.
    System,
    /// The manual test clock.
    Manual(Arc<ManualClock>),
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now_ms: AtomicI64,
    /// Serialises advances: one `advance` at a time.
    pub advance_lock: tokio::sync::Mutex<()>,
}

impl ManualClock {
    /// A manual clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now_ms: AtomicI64::new(start.timestamp_millis()),
            advance_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Sets the time (the advance driver moves it to each due instant).
    pub fn set(&self, t: DateTime<Utc>) {
        self.now_ms.store(t.timestamp_millis(), Ordering::SeqCst);
    }

    /// The time.
    pub fn now(&self) -> DateTime<Utc> {
        from_millis(self.now_ms.load(Ordering::SeqCst))
    }
}

/// Milliseconds since the epoch to an instant (saturating at the epoch).
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl Clock {
    /// The current instant, with millisecond precision.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            #[allow(clippy::disallowed_methods)]
            Clock::System => from_millis(Utc::now().timestamp_millis()),
            Clock::Manual(m) => m.now(),
        }
    }

    /// The manual clock, when this is one.
    pub fn manual(&self) -> Option<&Arc<ManualClock>> {
        match self {
            Clock::Manual(m) => Some(m),
            Clock::System => None,
        }
    }
}
