//! R-D3 intelligent timing: the user's preferred local hour.
//!
//! The preferred hour is the most frequent local hour (in the user's zone) of
//! their engagement events (sessions, opens, clicks) in the
//! [`ENGAGEMENT_HORIZON_DAYS`] days up to and including `t`, provided there
//! are at least [`MIN_ENGAGEMENT_EVENTS`] such events; otherwise the delay's
//! `fallback_at` applies. Decision where the spec is silent: on a tie the
//! earliest hour of the local day wins (00 before 23); events after `t` are
//! ignored (a preview may pass a past `t`).

use std::fmt;

use chrono::{DateTime, Duration, Timelike, Utc};
use chrono_tz::Tz;

use super::TimeOfDay;

/// How far back engagement events count, in days (R-D3).
pub const ENGAGEMENT_HORIZON_DAYS: i64 = 90;

/// How many engagement events within the horizon are needed (R-D3).
pub const MIN_ENGAGEMENT_EVENTS: usize = 3;

/// The local time intelligent timing aims at, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntelligentChoice {
    /// Enough history: the most frequent local hour.
    PreferredHour {
        /// Local hour, `0..24`; the send aims at `hour:00`.
        hour: u32,
        /// Engagement events at that hour.
        at_hour: usize,
        /// Engagement events counted in the horizon.
        events: usize,
    },
    /// Too little history: the delay's `fallback_at`.
    Fallback {
        /// The fallback time of day.
        at: TimeOfDay,
        /// Engagement events counted in the horizon (fewer than needed).
        events: usize,
    },
}

impl IntelligentChoice {
    /// The local time of day to aim at.
    pub fn time(&self) -> TimeOfDay {
        match *self {
            IntelligentChoice::PreferredHour { hour, .. } => {
                TimeOfDay::hm(hour, 0).unwrap_or(TimeOfDay::MIDNIGHT)
            }
            IntelligentChoice::Fallback { at, .. } => at,
        }
    }

    /// True when `fallback_at` was used.
    pub fn is_fallback(&self) -> bool {
        matches!(self, IntelligentChoice::Fallback { .. })
    }
}

impl fmt::Display for IntelligentChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IntelligentChoice::PreferredHour {
                hour,
                at_hour,
                events,
            } => write!(
                f,
                "preferred hour {hour:02}:00 ({at_hour} of {events} engagement events in the last {ENGAGEMENT_HORIZON_DAYS} days)"
            ),
            IntelligentChoice::Fallback { at, events } => write!(
                f,
                "fallback_at {at} ({events} engagement events in the last {ENGAGEMENT_HORIZON_DAYS} days, {MIN_ENGAGEMENT_EVENTS} needed)"
            ),
        }
    }
}

/// R-D3: picks the preferred local hour in `tz` from `engagement` instants
/// within `[t - 90 days, t]`, or `fallback_at`.
pub fn choose(
    t: DateTime<Utc>,
    tz: Tz,
    engagement: &[DateTime<Utc>],
    fallback_at: TimeOfDay,
) -> IntelligentChoice {
    let horizon_start = t
        .checked_sub_signed(Duration::days(ENGAGEMENT_HORIZON_DAYS))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let mut per_hour = [0usize; 24];
    let mut events = 0usize;
    for e in engagement
        .iter()
        .filter(|e| horizon_start <= **e && **e <= t)
    {
        let hour = e.with_timezone(&tz).hour() as usize;
        per_hour[hour % 24] += 1;
        events += 1;
    }
    if events < MIN_ENGAGEMENT_EVENTS {
        return IntelligentChoice::Fallback {
            at: fallback_at,
            events,
        };
    }
    // Strictly greater keeps the earliest hour on ties.
    let (hour, at_hour) =
        per_hour.iter().enumerate().fold(
            (0usize, 0usize),
            |best, (h, &n)| {
                if n > best.1 { (h, n) } else { best }
            },
        );
    IntelligentChoice::PreferredHour {
        hour: hour as u32,
        at_hour,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::local::tests::utc;

    fn ten() -> TimeOfDay {
        TimeOfDay::hm(10, 0).expect("valid")
    }

    #[test]
    fn r_d3_most_frequent_local_hour_wins() {
        let t = utc("2026-06-30T12:00:00Z");
        let events = [
            utc("2026-06-01T16:10:00Z"), // 18:10 Paris
            utc("2026-06-02T16:50:00Z"), // 18:50
            utc("2026-06-03T07:00:00Z"), // 09:00
            utc("2026-06-04T16:00:00Z"), // 18:00
        ];
        let choice = choose(t, Tz::Europe__Paris, &events, ten());
        assert_eq!(
            choice,
            IntelligentChoice::PreferredHour {
                hour: 18,
                at_hour: 3,
                events: 4
            }
        );
        // The same instants read in New York prefer 12:00.
        let ny = choose(t, Tz::America__New_York, &events, ten());
        assert_eq!(ny.time(), TimeOfDay::hm(12, 0).expect("valid"));
    }

    #[test]
    fn r_d3_fewer_than_three_events_use_fallback() {
        let t = utc("2026-06-30T12:00:00Z");
        let events = [utc("2026-06-01T16:00:00Z"), utc("2026-06-02T16:00:00Z")];
        let choice = choose(t, Tz::UTC, &events, ten());
        assert_eq!(
            choice,
            IntelligentChoice::Fallback {
                at: ten(),
                events: 2
            }
        );
        assert!(choice.is_fallback());
        assert_eq!(choice.time(), ten());
    }

    #[test]
    fn r_d3_only_the_last_90_days_count() {
        let t = utc("2026-06-30T12:00:00Z");
        let events = [
            utc("2026-04-01T11:59:59Z"), // 90 days + 1 s before t: out
            utc("2026-04-01T12:00:00Z"), // exactly 90 days: in
            utc("2026-06-29T08:00:00Z"),
            utc("2026-06-30T12:00:00Z"), // at t: in
            utc("2026-06-30T12:00:01Z"), // after t: out
        ];
        let choice = choose(t, Tz::UTC, &events, ten());
        assert_eq!(
            choice,
            IntelligentChoice::PreferredHour {
                hour: 12,
                at_hour: 2,
                events: 3
            }
        );
        // Drop the in-horizon boundary event: only 2 remain, fallback.
        let choice = choose(t, Tz::UTC, &events[2..], ten());
        assert!(choice.is_fallback());
    }

    #[test]
    fn r_d3_tie_goes_to_earliest_hour_of_day() {
        let t = utc("2026-06-30T12:00:00Z");
        let events = [
            utc("2026-06-01T20:00:00Z"),
            utc("2026-06-02T20:30:00Z"),
            utc("2026-06-03T07:15:00Z"),
            utc("2026-06-04T07:45:00Z"),
        ];
        let choice = choose(t, Tz::UTC, &events, ten());
        assert_eq!(choice.time(), TimeOfDay::hm(7, 0).expect("valid"));
    }
}
