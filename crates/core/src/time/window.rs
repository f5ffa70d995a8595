//! Daily sending windows (R-W1, R-W6).
//!
//! `{"start":"09:00","end":"17:00","next_available":false}`: an instant is
//! inside when its local time-of-day is in `[start, end)`; `end < start`
//! wraps midnight; `start == end` is invalid (an empty window, inside
//! nothing). Membership reads the local wall clock (R-W6): R-D2 is not
//! applied to window bounds, so on a spring-forward night a 02:30–05:00
//! window opens at 03:00, the first reading inside it.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::TimeOfDay;
use super::local::{first_offset_change, offset_at};
use crate::Span;
use crate::validation::Report;

/// Windows shorter than this draw a validation warning.
const SHORT_WINDOW: Span = Span::from_secs(3600);

/// Zone offset changes crossed at most while looking for an opening; real
/// zones change a few times a year, so 8 is far more than one day needs.
const MAX_OFFSET_CHANGES: usize = 8;

/// A daily local-time window (R-W1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// First local time inside the window.
    pub start: TimeOfDay,
    /// First local time after the window (excluded).
    pub end: TimeOfDay,
    /// R-W3: move a due instant outside the window to the next opening
    /// instead of refusing it.
    #[serde(default)]
    pub next_available: bool,
}

impl Window {
    /// True when `start == end`, an invalid window that contains nothing.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// How long the window is open each (non-DST) day.
    pub fn open_length(&self) -> Span {
        let start = i64::from(self.start.seconds_from_midnight());
        let end = i64::from(self.end.seconds_from_midnight());
        Span::from_secs((end - start).rem_euclid(86_400))
    }

    /// R-W1: is local time-of-day `time` in `[start, end)` (wrapping midnight
    /// when `end < start`)?
    pub fn contains_time(&self, time: NaiveTime) -> bool {
        let start = self.start.to_naive();
        let end = self.end.to_naive();
        if start < end {
            start <= time && time < end
        } else if end < start {
            start <= time || time < end
        } else {
            false
        }
    }

    /// R-W1/R-W6: is `instant` inside the window, read on the wall clock of `tz`?
    pub fn contains(&self, instant: DateTime<Utc>, tz: Tz) -> bool {
        self.contains_time(instant.with_timezone(&tz).time())
    }

    /// R-W6: the earliest instant at or after `after` that is inside the
    /// window (`after` itself when inside). `None` only for an empty window
    /// or beyond chrono's date range.
    ///
    /// Computed, not scanned: within a stretch of constant UTC offset the
    /// answer is the next local `start`; when the zone's offset changes
    /// before that, the search restarts at the change (found by bisection),
    /// where the wall clock may already read inside the window. This equals
    /// a minute-by-minute scan (property-tested).
    pub fn next_opening(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if self.is_empty() {
            return None;
        }
        let start = self.start.to_naive();
        let mut from = after;
        for _ in 0..MAX_OFFSET_CHANGES {
            if self.contains(from, tz) {
                return Some(from);
            }
            let offset = offset_at(from, tz);
            let local = from.with_timezone(&tz).naive_local();
            let date = if local.time() < start {
                local.date()
            } else {
                local.date().succ_opt()?
            };
            // The instant the wall clock would read `date start` if the
            // offset stayed as it is.
            let candidate = date.and_time(start).checked_sub_offset(offset)?.and_utc();
            match first_offset_change(tz, from, candidate) {
                None => return Some(candidate),
                Some(change) => from = change,
            }
        }
        None
    }

    /// R-W1 checks serde cannot do: `start == end` is an error; a window
    /// open less than an hour a day draws a warning. `path` is `window`.
    pub fn validate(&self, path: &str, report: &mut Report) {
        if self.is_empty() {
            report.error(path, "window.start and window.end must differ");
        } else if self.open_length() < SHORT_WINDOW {
            report.warn(
                path,
                format!(
                    "the window is open only {} a day; sends due outside it are {}",
                    self.open_length(),
                    if self.next_available {
                        "moved to the next opening"
                    } else {
                        "refused (delay_outside_window)"
                    }
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::local::tests::utc;

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: start.parse().expect("valid start"),
            end: end.parse().expect("valid end"),
            next_available: true,
        }
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid")
    }

    #[test]
    fn r_w1_start_included_end_excluded() {
        let w = window("09:00", "17:00");
        assert!(w.contains_time(hm(9, 0)));
        assert!(w.contains_time(hm(16, 59)));
        assert!(!w.contains_time(hm(17, 0)));
        assert!(!w.contains_time(hm(8, 59)));
        assert!(w.contains_time(NaiveTime::from_hms_milli_opt(16, 59, 59, 999).expect("valid")));
    }

    #[test]
    fn r_w1_window_across_midnight_wraps() {
        let w = window("22:00", "06:00");
        assert!(w.contains_time(hm(22, 0)));
        assert!(w.contains_time(hm(23, 59)));
        assert!(w.contains_time(hm(0, 0)));
        assert!(w.contains_time(hm(5, 59)));
        assert!(!w.contains_time(hm(6, 0)));
        assert!(!w.contains_time(hm(12, 0)));
        assert_eq!(w.open_length(), Span::from_secs(8 * 3600));
    }

    #[test]
    fn r_w1_empty_window_contains_nothing_and_is_invalid() {
        let w = window("09:00", "09:00");
        assert!(!w.contains_time(hm(9, 0)));
        assert_eq!(w.next_opening(utc("2026-01-01T00:00:00Z"), Tz::UTC), None);
        let mut report = Report::default();
        w.validate("window", &mut report);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].message,
            "window.start and window.end must differ"
        );
    }

    #[test]
    fn r_w1_short_window_warns() {
        let mut report = Report::default();
        window("09:00", "09:30").validate("window", &mut report);
        assert!(report.is_valid());
        assert_eq!(report.warnings.len(), 1);
        assert!(report.warnings[0].message.contains("30m"));
        let mut report = Report::default();
        window("23:30", "00:30").validate("window", &mut report);
        assert!(report.warnings.is_empty() && report.errors.is_empty());
    }

    #[test]
    fn r_w1_serde_shape_and_default() {
        let w: Window = serde_json::from_str(r#"{"start":"09:00","end":"21:00"}"#).expect("valid");
        assert!(!w.next_available);
        assert_eq!(
            serde_json::to_string(&w).expect("serializes"),
            r#"{"start":"09:00","end":"21:00","next_available":false}"#
        );
        assert!(
            serde_json::from_str::<Window>(
                r#"{"start":"09:00","end":"21:00","nextavailable":true}"#
            )
            .is_err()
        );
    }

    #[test]
    fn r_w6_membership_reads_local_wall_clock() {
        let w = window("09:00", "17:00");
        // 08:30Z is 09:30 in Paris (winter) and 03:30 in New York.
        let t = utc("2026-01-05T08:30:00Z");
        assert!(w.contains(t, Tz::Europe__Paris));
        assert!(!w.contains(t, Tz::America__New_York));
        assert!(!w.contains(t, Tz::UTC));
        // Kolkata +05:30: 03:30Z is 09:00 local.
        assert!(w.contains(utc("2026-01-05T03:30:00Z"), Tz::Asia__Kolkata));
        assert!(!w.contains(utc("2026-01-05T03:29:59Z"), Tz::Asia__Kolkata));
    }

    #[test]
    fn r_w6_next_opening_is_after_itself_when_inside() {
        let w = window("09:00", "17:00");
        let t = utc("2026-01-05T10:15:30.250Z");
        assert_eq!(w.next_opening(t, Tz::UTC), Some(t));
    }

    #[test]
    fn r_w6_next_opening_same_day_or_next_day() {
        let w = window("09:00", "17:00");
        let paris = Tz::Europe__Paris;
        assert_eq!(
            w.next_opening(utc("2026-01-05T06:00:00Z"), paris), // 07:00 Paris
            Some(utc("2026-01-05T08:00:00Z"))
        );
        assert_eq!(
            w.next_opening(utc("2026-01-05T16:00:00Z"), paris), // 17:00 Paris
            Some(utc("2026-01-06T08:00:00Z"))
        );
        // Across midnight: a 22:00–06:00 window at 12:00 opens at 22:00.
        let night = window("22:00", "06:00");
        assert_eq!(
            night.next_opening(utc("2026-01-05T12:00:00Z"), Tz::UTC),
            Some(utc("2026-01-05T22:00:00Z"))
        );
    }

    #[test]
    fn r_w6_window_on_spring_forward_night_opens_at_0300() {
        let w = window("02:30", "05:00");
        let ny = Tz::America__New_York;
        // 2026-03-08 01:00 EST; 02:00 EST jumps to 03:00 EDT (07:00Z).
        let opened = w.next_opening(utc("2026-03-08T06:00:00Z"), ny);
        assert_eq!(opened, Some(utc("2026-03-08T07:00:00Z")));
        // Paris, 2026-03-29: the jump is at 01:00Z, 03:00 CEST.
        let opened = w.next_opening(utc("2026-03-28T23:00:00Z"), Tz::Europe__Paris);
        assert_eq!(opened, Some(utc("2026-03-29T01:00:00Z")));
    }

    #[test]
    fn r_w6_window_inside_the_gap_skips_to_next_day() {
        // 02:10–02:50 never shows on the New York wall clock on 2026-03-08.
        let w = window("02:10", "02:50");
        let ny = Tz::America__New_York;
        let opened = w.next_opening(utc("2026-03-08T06:00:00Z"), ny);
        assert_eq!(opened, Some(utc("2026-03-09T06:10:00Z"))); // 02:10 EDT
    }

    #[test]
    fn r_w6_fall_back_night_reopens_when_clock_reads_inside_again() {
        // New York 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST.
        let w = window("01:00", "01:30");
        let ny = Tz::America__New_York;
        // At 01:45 EDT (05:45Z) the wall clock returns to 01:00 at 06:00Z.
        assert_eq!(
            w.next_opening(utc("2026-11-01T05:45:00Z"), ny),
            Some(utc("2026-11-01T06:00:00Z"))
        );
        // Paris 2026-10-25: 03:00 CEST (01:00Z) falls back to 02:00 CET.
        let w = window("02:00", "02:15");
        assert_eq!(
            w.next_opening(utc("2026-10-25T00:20:00Z"), Tz::Europe__Paris), // 02:20 CEST
            Some(utc("2026-10-25T01:00:00Z"))
        );
    }
}
