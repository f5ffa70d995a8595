//! # Time math of action-based delivery (SPEC.md §3 R-D, §5 R-S / R-W)
//!
//! Pure functions over UTC instants (`chrono::DateTime<Utc>`) and IANA time
//! zones (`chrono_tz::Tz`). Nothing here reads a clock: the trigger instant
//! `t`, the send-time `now` and the user's engagement history are arguments.
//!
//! - [`TimeOfDay`], [`Weekday`]: the `"09:00"` / `"tue"` strings of definitions.
//! - [`local`]: local date-time → instant (R-D2: DST gap moves forward by the
//!   gap, ambiguous time takes the earlier instant).
//! - [`zone`]: which zone applies to a user ([`Zones`], [`ZoneChoice`]).
//! - [`Delay`]: the due instant (R-D1) and intelligent timing (R-D3).
//! - [`Window`]: daily local window, membership and next opening (R-W1, R-W6).
//! - [`Schedule`]: campaign duration `[start, end)` (R-S1, R-S2).
//! - [`plan`]: the trigger-time pipeline of R-W7 ([`plan_due`]), the
//!   trigger checks R-S1/R-W2 ([`check_trigger`]) and the late-send re-check
//!   of R-X1 ([`recheck_late`]).

pub mod delay;
pub mod intelligent;
pub mod local;
pub mod plan;
pub mod schedule;
pub mod time_of_day;
pub mod weekday;
pub mod window;
pub mod zone;

#[cfg(test)]
mod proptests;

pub use delay::{Delay, DueTrace, MAX_DELAY_DAYS, Timing};
pub use intelligent::{ENGAGEMENT_HORIZON_DAYS, IntelligentChoice, MIN_ENGAGEMENT_EVENTS};
pub use local::{LocalFit, local_date, local_to_instant, local_to_instant_traced};
pub use plan::{
    LateCheck, LateDrop, TimePlan, TimeRefusal, TriggerRefusal, check_trigger, plan_due,
    recheck_late,
};
pub use schedule::{Schedule, ScheduleBound};
pub use time_of_day::TimeOfDay;
pub use weekday::Weekday;
pub use window::Window;
pub use zone::{ZoneChoice, ZoneSource, Zones, parse_zone, resolve_zone};

/// The years RFC 3339 can write (four digits): instants and dates the
/// service takes in must lie in them, in UTC, or it could not print them
/// back, store them as text and read them again (an offset can move a
/// written 9999-12-31 past it).
pub const RFC3339_YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

/// Why a time-related string of a definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not `HH:MM` or `HH:MM:SS` between 00:00 and 23:59:59.
    #[error(
        "invalid time of day {0:?}: expected \"HH:MM\" between 00:00 and 23:59 (e.g. \"09:00\")"
    )]
    TimeOfDay(String),
    /// Not a weekday name.
    #[error("invalid weekday {0:?}: expected mon, tue, wed, thu, fri, sat or sun")]
    Weekday(String),
    /// Neither an RFC 3339 instant nor a local date-time.
    #[error(
        "invalid date-time {0:?}: expected an RFC 3339 instant (\"2026-01-01T09:00:00Z\") or a local date-time (\"2026-01-01T09:00:00\")"
    )]
    DateTime(String),
    /// Not an IANA time-zone name.
    #[error("unknown time zone {0:?}: expected an IANA name such as \"Europe/Paris\" or \"UTC\"")]
    Zone(String),
}

/// Result of this module's parsers.
pub type Result<T, E = Error> = std::result::Result<T, E>;
