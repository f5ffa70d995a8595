//! Public value types: instants, timers, fired timers, durability and outcomes.

use std::fmt;

/// Identifier of a timer. The daemon maps its send ids onto it.
pub type TimerId = u128;

/// An instant: milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub i64);

impl Millis {
    /// The earliest representable instant.
    pub const MIN: Millis = Millis(i64::MIN);
    /// The latest representable instant.
    pub const MAX: Millis = Millis(i64::MAX);

    /// This instant moved by `ms` milliseconds, saturating at the ends.
    pub fn saturating_add(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, saturating.
    pub fn saturating_since(self, earlier: Millis) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A timer to schedule: fire `payload` under `id` at `due`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Identity; scheduling the same id again is idempotent or a reschedule.
    pub id: TimerId,
    /// When it fires.
    pub due: Millis,
    /// Opaque bytes handed back when it fires.
    pub payload: Vec<u8>,
}

impl Timer {
    /// Shorthand constructor.
    pub fn new(id: TimerId, due: Millis, payload: impl Into<Vec<u8>>) -> Self {
        Timer {
            id,
            due,
            payload: payload.into(),
        }
    }
}

/// A timer handed to the consumer by [`crate::Scheduler::pop_due`]. It stays
/// in flight (not handed out again) until completed, rescheduled, cancelled
/// or the process restarts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The timer's id.
    pub id: TimerId,
    /// The instant it was due (never later than the instant it was handed out).
    pub due: Millis,
    /// The payload given when it was scheduled.
    pub payload: Vec<u8>,
}

/// Where a pending timer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerState {
    /// Waiting for its due instant (or waiting to be handed out).
    Waiting,
    /// Handed out by `pop_due` and not yet completed.
    InFlight,
}

/// A pending timer as returned by [`crate::Scheduler::get`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTimer {
    /// The timer itself.
    pub timer: Timer,
    /// Whether it has been handed out.
    pub state: TimerState,
}

/// How durable a write must be before the call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Return once the write is on disk. Concurrent callers share one flush
    /// (group commit, see [`crate::GroupCommit`]).
    #[default]
    Flush,
    /// Return once the write is applied in sled's memory; it reaches disk with
    /// the next flush of the database (the caller's own group commit, or
    /// sled's periodic background flush). Use this to write timers together
    /// with other records and flush once.
    Async,
}

/// What scheduling one timer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheduled {
    /// The id was not pending; a new timer was created.
    Created,
    /// The id was pending with another due; it now fires at the new due (with
    /// the new payload). An in-flight timer becomes waiting again.
    Rescheduled,
    /// The id was already pending with the same due: nothing changed (the
    /// payload given is ignored).
    Unchanged,
}
