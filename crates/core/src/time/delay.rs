//! R-D1 delay kinds and their due instant; R-D3 intelligent timing through
//! [`super::intelligent`]; local times placed by R-D2.
//!
//! Serde shape (API.md): `{"type":"immediate"}`,
//! `{"type":"after","duration":"90m"}`,
//! `{"type":"next_weekday","weekday":"tue","at":"09:00"}`,
//! `{"type":"in_days","days":2,"at":"09:00"}`,
//! `{"type":"intelligent","days":0,"fallback_at":"10:00"}` (`days` defaults
//! to 0). Unknown fields are refused.

use std::fmt;

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::intelligent::{self, IntelligentChoice};
use super::local::{LocalFit, local_date, local_to_instant_traced};
use super::{TimeOfDay, Weekday};
use crate::Span;
use crate::validation::{Report, join};

/// Longest delay a definition may ask for, in days (about ten years): longer
/// ones are refused by [`Delay::validate`] as certainly a mistake.
pub const MAX_DELAY_DAYS: u32 = 3650;

/// When a send is due relative to its trigger (R-D1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delay {
    /// Due at the trigger instant. (A struct variant so that unknown fields
    /// are refused here too; write it `Delay::Immediate {}`.)
    Immediate {},
    /// Due an exact duration after the trigger (`d` = 24 h, no calendar).
    After {
        /// The duration, e.g. `"90m"`.
        duration: Span,
    },
    /// Due on the next local date strictly after the trigger's local date
    /// that falls on `weekday`, at local time `at`.
    NextWeekday {
        /// The weekday, e.g. `"tue"`.
        weekday: Weekday,
        /// Local time of day.
        at: TimeOfDay,
    },
    /// Due on the trigger's local date plus `days` (≥ 1), at local time `at`.
    InDays {
        /// Calendar days to add, at least 1.
        days: u32,
        /// Local time of day.
        at: TimeOfDay,
    },
    /// R-D3: at the user's preferred local hour, on or after the trigger's
    /// local date plus `days`, strictly after the trigger.
    Intelligent {
        /// Calendar days to add before looking for the preferred hour.
        #[serde(default)]
        days: u32,
        /// Local time used when the user has too little engagement history.
        fallback_at: TimeOfDay,
    },
}

impl Default for Delay {
    /// `immediate`, the default of API.md.
    fn default() -> Self {
        Delay::Immediate {}
    }
}

/// How a due instant was obtained, for the explain timeline (R-Y1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// `immediate`: due at the trigger.
    Immediate,
    /// `after`: trigger plus an exact duration.
    After {
        /// The delay.
        duration: Span,
    },
    /// `next_weekday` / `in_days`: a local date at a local time.
    AtLocal {
        /// Local date of the send.
        date: NaiveDate,
        /// Local time asked for.
        at: TimeOfDay,
        /// How R-D2 placed it.
        fit: LocalFit,
    },
    /// `intelligent`: preferred hour or fallback on a local date.
    Intelligent {
        /// Which time and why.
        choice: IntelligentChoice,
        /// Local date of the send.
        date: NaiveDate,
        /// How R-D2 placed it.
        fit: LocalFit,
    },
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fit_note = |f: &mut fmt::Formatter<'_>, at: TimeOfDay, fit: LocalFit| match fit {
            LocalFit::Exact => Ok(()),
            other => write!(f, "; {at} {other}"),
        };
        match *self {
            Timing::Immediate => f.write_str("immediate"),
            Timing::After { duration } => write!(f, "after {duration}"),
            Timing::AtLocal { date, at, fit } => {
                write!(f, "at {at} local on {date}")?;
                fit_note(f, at, fit)
            }
            Timing::Intelligent { choice, date, fit } => {
                write!(
                    f,
                    "intelligent timing: {choice}, at {} local on {date}",
                    choice.time()
                )?;
                fit_note(f, choice.time(), fit)
            }
        }
    }
}

/// A due instant with how it was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueTrace {
    /// The due instant by R-D1–R-D3, before any window roll.
    pub due: DateTime<Utc>,
    /// How it was computed.
    pub timing: Timing,
}

impl DueTrace {
    /// True when intelligent timing used `fallback_at` (too little history).
    pub fn used_fallback(&self) -> bool {
        matches!(self.timing, Timing::Intelligent { choice, .. } if choice.is_fallback())
    }
}

impl Delay {
    /// True for `{"type":"immediate"}` (R-E1 forbids exceptions then).
    pub fn is_immediate(&self) -> bool {
        matches!(self, Delay::Immediate {})
    }

    /// R-D1: the due instant of a trigger at `t`, with local times read in
    /// `tz` (for intelligent timing pass the user's zone, see
    /// [`super::Zones::for_delay`]). `engagement` is the user's engagement
    /// history, used by intelligent timing only.
    pub fn due(&self, t: DateTime<Utc>, tz: Tz, engagement: &[DateTime<Utc>]) -> DateTime<Utc> {
        self.due_traced(t, tz, engagement).due
    }

    /// R-D1–R-D3 like [`Delay::due`], with the trace explain needs.
    ///
    /// The due instant is never before `t`: in a zone whose clocks fall back
    /// across midnight a local date-time of a later date can precede `t`;
    /// `next_weekday` / `in_days` then take `t` itself, intelligent timing the
    /// next day. Dates beyond chrono's range saturate at its maximum.
    pub fn due_traced(&self, t: DateTime<Utc>, tz: Tz, engagement: &[DateTime<Utc>]) -> DueTrace {
        match *self {
            Delay::Immediate {} => DueTrace {
                due: t,
                timing: Timing::Immediate,
            },
            Delay::After { duration } => DueTrace {
                due: t
                    .checked_add_signed(duration.to_chrono())
                    .unwrap_or(DateTime::<Utc>::MAX_UTC),
                timing: Timing::After { duration },
            },
            Delay::NextWeekday { weekday, at } => {
                let today = local_date(t, tz);
                let ahead = (7 + weekday.chrono().num_days_from_monday()
                    - today.weekday().num_days_from_monday())
                    % 7;
                let ahead = if ahead == 0 { 7 } else { ahead };
                at_local(
                    t,
                    tz,
                    today.checked_add_days(Days::new(u64::from(ahead))),
                    at,
                )
            }
            Delay::InDays { days, at } => {
                let today = local_date(t, tz);
                at_local(
                    t,
                    tz,
                    today.checked_add_days(Days::new(u64::from(days))),
                    at,
                )
            }
            Delay::Intelligent { days, fallback_at } => {
                let choice = intelligent::choose(t, tz, engagement, fallback_at);
                intelligent_due(t, tz, days, choice)
            }
        }
    }

    /// The shortest delay any trigger can get, on the wall clock, for the
    /// R-S2 warning "no user can receive it": `after` is exact; `next_weekday`
    /// and `in_days` assume a trigger just before local midnight; intelligent
    /// timing may aim at 00:00. A DST jump in between can make the real delay
    /// shorter by the gap (usually 1 hour).
    pub fn shortest(&self) -> Span {
        const DAY_SECS: i64 = 86_400;
        match *self {
            Delay::Immediate {} => Span::ZERO,
            Delay::After { duration } => duration,
            Delay::NextWeekday { at, .. } => Span::from_secs(i64::from(at.seconds_from_midnight())),
            Delay::InDays { days, at } => Span::from_secs(
                (i64::from(days) - 1).max(0) * DAY_SECS + i64::from(at.seconds_from_midnight()),
            ),
            Delay::Intelligent { days, .. } => {
                Span::from_secs((i64::from(days) - 1).max(0) * DAY_SECS)
            }
        }
    }

    /// Checks what serde cannot: `in_days.days` at least 1, and no delay
    /// longer than [`MAX_DELAY_DAYS`]. `path` is the delay's path (`delay`).
    pub fn validate(&self, path: &str, report: &mut Report) {
        let max_days = |days: u32, report: &mut Report| {
            if days > MAX_DELAY_DAYS {
                report.error(
                    join(path, "days"),
                    format!("days must be at most {MAX_DELAY_DAYS}"),
                );
            }
        };
        match *self {
            Delay::Immediate {} | Delay::NextWeekday { .. } => {}
            Delay::After { duration } => {
                let max = Span::from_secs(i64::from(MAX_DELAY_DAYS) * 86_400);
                if duration > max {
                    report.error(
                        join(path, "duration"),
                        format!("duration must be at most {max}"),
                    );
                }
            }
            Delay::InDays { days, .. } => {
                if days < 1 {
                    report.error(
                        join(path, "days"),
                        "days must be at least 1 for in_days (use intelligent with days 0 for the same day)",
                    );
                }
                max_days(days, report);
            }
            Delay::Intelligent { days, .. } => max_days(days, report),
        }
    }
}

/// `date` at local time `at` by R-D2, never before `t`.
fn at_local(t: DateTime<Utc>, tz: Tz, date: Option<NaiveDate>, at: TimeOfDay) -> DueTrace {
    let Some(date) = date else {
        return DueTrace {
            due: DateTime::<Utc>::MAX_UTC,
            timing: Timing::AtLocal {
                date: NaiveDate::MAX,
                at,
                fit: LocalFit::Exact,
            },
        };
    };
    let (due, fit) = local_to_instant_traced(date.and_time(at.to_naive()), tz);
    DueTrace {
        due: due.max(t),
        timing: Timing::AtLocal { date, at, fit },
    }
}

/// R-D3: the first `choice` time on or after local date of `t` plus `days`
/// that is strictly after `t`.
fn intelligent_due(t: DateTime<Utc>, tz: Tz, days: u32, choice: IntelligentChoice) -> DueTrace {
    let time = choice.time().to_naive();
    let mut date = local_date(t, tz).checked_add_days(Days::new(u64::from(days)));
    // Two dates always suffice (the next local date is after `t`), three in
    // a zone falling back across midnight.
    for _ in 0..3 {
        let Some(d) = date else { break };
        let (due, fit) = local_to_instant_traced(d.and_time(time), tz);
        if due > t {
            return DueTrace {
                due,
                timing: Timing::Intelligent {
                    choice,
                    date: d,
                    fit,
                },
            };
        }
        date = d.succ_opt();
    }
    DueTrace {
        due: DateTime::<Utc>::MAX_UTC,
        timing: Timing::Intelligent {
            choice,
            date: NaiveDate::MAX,
            fit: LocalFit::Exact,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::local::tests::utc;

    fn delay(json: &str) -> Delay {
        serde_json::from_str(json).expect("valid delay")
    }

    fn local(t: DateTime<Utc>, tz: Tz) -> String {
        t.with_timezone(&tz).format("%Y-%m-%d %a %H:%M").to_string()
    }

    #[test]
    fn r_d1_serde_shapes_of_every_kind() {
        for json in [
            r#"{"type":"immediate"}"#,
            r#"{"type":"after","duration":"90m"}"#,
            r#"{"type":"next_weekday","weekday":"tue","at":"09:00"}"#,
            r#"{"type":"in_days","days":2,"at":"09:00"}"#,
            r#"{"type":"intelligent","days":0,"fallback_at":"10:00"}"#,
        ] {
            let d = delay(json);
            assert_eq!(serde_json::to_string(&d).expect("serializes"), json);
        }
        assert_eq!(
            delay(r#"{"type":"intelligent","fallback_at":"10:00"}"#),
            Delay::Intelligent {
                days: 0,
                fallback_at: TimeOfDay::hm(10, 0).expect("valid")
            }
        );
        assert_eq!(Delay::default(), Delay::Immediate {});
    }

    #[test]
    fn r_d1_serde_refuses_unknown_fields_and_bad_values() {
        for bad in [
            r#"{"type":"immediate","duration":"1h"}"#,
            r#"{"type":"after","duration":"90m","at":"09:00"}"#,
            r#"{"type":"after","duration":"90x"}"#,
            r#"{"type":"next_weekday","weekday":"tues","at":"09:00"}"#,
            r#"{"type":"in_days","days":-1,"at":"09:00"}"#,
            r#"{"type":"in_days","days":1,"at":"9h"}"#,
            r#"{"type":"later"}"#,
            r#"{"duration":"90m"}"#,
        ] {
            assert!(
                serde_json::from_str::<Delay>(bad).is_err(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn r_d1_immediate_is_due_at_trigger() {
        let t = utc("2026-01-05T10:00:00.123Z");
        assert_eq!(Delay::Immediate {}.due(t, Tz::Europe__Paris, &[]), t);
    }

    #[test]
    fn r_d1_after_is_exact_even_across_dst() {
        let d = delay(r#"{"type":"after","duration":"1d"}"#);
        // 24 h later, although the Paris wall clock moves 25 h ahead.
        let t = utc("2026-03-28T12:00:00Z");
        assert_eq!(
            d.due(t, Tz::Europe__Paris, &[]),
            utc("2026-03-29T12:00:00Z")
        );
        let d = delay(r#"{"type":"after","duration":"90m"}"#);
        assert_eq!(d.due(t, Tz::UTC, &[]), utc("2026-03-28T13:30:00Z"));
    }

    #[test]
    fn r_d1_next_weekday_same_weekday_goes_to_following_week() {
        let d = delay(r#"{"type":"next_weekday","weekday":"tue","at":"09:00"}"#);
        // Tuesday 2026-01-06 08:00 Paris, before 09:00: still the next Tuesday.
        let t = utc("2026-01-06T07:00:00Z");
        let due = d.due(t, Tz::Europe__Paris, &[]);
        assert_eq!(local(due, Tz::Europe__Paris), "2026-01-13 Tue 09:00");
        // Monday → the next day.
        let t = utc("2026-01-05T22:00:00Z"); // Mon 23:00 Paris
        let due = d.due(t, Tz::Europe__Paris, &[]);
        assert_eq!(due, utc("2026-01-06T08:00:00Z"));
    }

    #[test]
    fn r_d1_next_weekday_uses_local_date_of_trigger() {
        let d = delay(r#"{"type":"next_weekday","weekday":"wed","at":"09:00"}"#);
        // 2026-01-06T23:30Z is Tuesday in UTC but Wednesday 00:30 in Paris.
        let t = utc("2026-01-06T23:30:00Z");
        assert_eq!(
            local(d.due(t, Tz::UTC, &[]), Tz::UTC),
            "2026-01-07 Wed 09:00"
        );
        assert_eq!(
            local(d.due(t, Tz::Europe__Paris, &[]), Tz::Europe__Paris),
            "2026-01-14 Wed 09:00"
        );
    }

    #[test]
    fn r_d1_next_weekday_across_month_and_year_end() {
        let d = delay(r#"{"type":"next_weekday","weekday":"mon","at":"08:30"}"#);
        // Thursday 2026-12-31 → Monday 2027-01-04.
        let t = utc("2026-12-31T15:00:00Z");
        let ny = Tz::America__New_York;
        assert_eq!(local(d.due(t, ny, &[]), ny), "2027-01-04 Mon 08:30");
        // Friday 2026-01-30 → Monday 2026-02-02.
        let t = utc("2026-01-30T15:00:00Z");
        assert_eq!(local(d.due(t, ny, &[]), ny), "2026-02-02 Mon 08:30");
    }

    #[test]
    fn r_d1_next_weekday_at_in_dst_gap_moves_forward() {
        // Sunday 2026-03-08 02:30 does not exist in New York.
        let d = delay(r#"{"type":"next_weekday","weekday":"sun","at":"02:30"}"#);
        let t = utc("2026-03-06T15:00:00Z"); // Friday
        let trace = d.due_traced(t, Tz::America__New_York, &[]);
        assert_eq!(trace.due, utc("2026-03-08T07:30:00Z")); // 03:30 EDT
        assert!(trace.timing.to_string().contains("moved forward by 1h"));
    }

    #[test]
    fn r_d1_in_days_adds_local_calendar_days() {
        let d = delay(r#"{"type":"in_days","days":2,"at":"09:00"}"#);
        let paris = Tz::Europe__Paris;
        // Friday 2026-03-27 → Sunday 2026-03-29 09:00 CEST (after spring-forward).
        let t = utc("2026-03-27T18:00:00Z");
        assert_eq!(d.due(t, paris, &[]), utc("2026-03-29T07:00:00Z"));
        // Across the 29 February of 2028.
        let d = delay(r#"{"type":"in_days","days":1,"at":"09:00"}"#);
        let t = utc("2028-02-28T12:00:00Z");
        assert_eq!(local(d.due(t, paris, &[]), paris), "2028-02-29 Tue 09:00");
        let d = delay(r#"{"type":"in_days","days":2,"at":"09:00"}"#);
        assert_eq!(local(d.due(t, paris, &[]), paris), "2028-03-01 Wed 09:00");
    }

    #[test]
    fn r_d1_in_days_at_ambiguous_time_takes_earlier() {
        let d = delay(r#"{"type":"in_days","days":1,"at":"01:30"}"#);
        let t = utc("2026-10-31T16:00:00Z"); // Saturday in New York
        let trace = d.due_traced(t, Tz::America__New_York, &[]);
        assert_eq!(trace.due, utc("2026-11-01T05:30:00Z")); // 01:30 EDT
        assert!(matches!(
            trace.timing,
            Timing::AtLocal {
                fit: LocalFit::EarlierOfTwo,
                ..
            }
        ));
    }

    #[test]
    fn r_d3_intelligent_preferred_hour_same_day_when_still_ahead() {
        let d = delay(r#"{"type":"intelligent","days":0,"fallback_at":"10:00"}"#);
        let history = [
            utc("2026-05-01T16:20:00Z"),
            utc("2026-05-02T16:40:00Z"),
            utc("2026-05-03T16:05:00Z"),
        ]; // 18:xx Paris
        let t = utc("2026-06-01T08:00:00Z"); // 10:00 Paris
        let trace = d.due_traced(t, Tz::Europe__Paris, &history);
        assert_eq!(trace.due, utc("2026-06-01T16:00:00Z")); // 18:00 Paris
        assert!(!trace.used_fallback());
        assert!(trace.timing.to_string().contains("preferred hour 18:00"));
    }

    #[test]
    fn r_d3_intelligent_due_is_strictly_after_trigger() {
        let d = delay(r#"{"type":"intelligent","days":0,"fallback_at":"10:00"}"#);
        // Trigger exactly at the fallback time: tomorrow, not now.
        let t = utc("2026-06-01T10:00:00Z");
        assert_eq!(d.due(t, Tz::UTC, &[]), utc("2026-06-02T10:00:00Z"));
        // One millisecond earlier: today.
        let t = utc("2026-06-01T09:59:59.999Z");
        assert_eq!(d.due(t, Tz::UTC, &[]), utc("2026-06-01T10:00:00Z"));
    }

    #[test]
    fn r_d3_intelligent_days_offset_and_fallback() {
        let d = delay(r#"{"type":"intelligent","days":2,"fallback_at":"10:00"}"#);
        let t = utc("2026-06-01T23:00:00Z");
        let trace = d.due_traced(t, Tz::UTC, &[utc("2026-05-30T07:00:00Z")]);
        assert_eq!(trace.due, utc("2026-06-03T10:00:00Z"));
        assert!(trace.used_fallback());
        assert!(trace.timing.to_string().contains("fallback_at 10:00"));
    }

    #[test]
    fn r_d3_intelligent_reads_hours_in_given_zone() {
        let d = delay(r#"{"type":"intelligent","days":1,"fallback_at":"10:00"}"#);
        let history = [
            utc("2026-05-01T13:00:00Z"),
            utc("2026-05-02T13:30:00Z"),
            utc("2026-05-03T13:59:00Z"),
        ];
        let t = utc("2026-06-01T12:00:00Z");
        // 13:xx UTC is 18:xx–19:xx in Kolkata (+05:30): hours 18, 19, 19.
        let due = d.due(t, Tz::Asia__Kolkata, &history);
        assert_eq!(local(due, Tz::Asia__Kolkata), "2026-06-02 Tue 19:00");
    }

    #[test]
    fn r_s2_shortest_delay_per_kind() {
        assert_eq!(Delay::Immediate {}.shortest(), Span::ZERO);
        assert_eq!(
            delay(r#"{"type":"after","duration":"90m"}"#).shortest(),
            Span::from_secs(5400)
        );
        assert_eq!(
            delay(r#"{"type":"next_weekday","weekday":"tue","at":"09:00"}"#).shortest(),
            Span::from_secs(9 * 3600)
        );
        assert_eq!(
            delay(r#"{"type":"in_days","days":3,"at":"09:30"}"#).shortest(),
            Span::from_secs(2 * 86_400 + 9 * 3600 + 1800)
        );
        assert_eq!(
            delay(r#"{"type":"intelligent","days":0,"fallback_at":"10:00"}"#).shortest(),
            Span::ZERO
        );
        assert_eq!(
            delay(r#"{"type":"intelligent","days":2,"fallback_at":"10:00"}"#).shortest(),
            Span::from_secs(86_400)
        );
    }

    #[test]
    fn r_d1_validate_in_days_needs_at_least_one_day() {
        let mut report = Report::default();
        delay(r#"{"type":"in_days","days":0,"at":"09:00"}"#).validate("delay", &mut report);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(report.errors[0].path, "delay.days");
        let mut report = Report::default();
        delay(r#"{"type":"in_days","days":1,"at":"09:00"}"#).validate("delay", &mut report);
        assert!(report.errors.is_empty());
    }

    #[test]
    fn r_d1_validate_refuses_absurdly_long_delays() {
        let mut report = Report::default();
        delay(r#"{"type":"after","duration":"3651d"}"#).validate("delay", &mut report);
        delay(r#"{"type":"in_days","days":4000,"at":"09:00"}"#).validate("delay", &mut report);
        let paths: Vec<_> = report.errors.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["delay.duration", "delay.days"]);
        // Durations past a century are refused when parsed (Span::MAX_DAYS)…
        assert!(
            serde_json::from_str::<Delay>(r#"{"type":"after","duration":"99999999999d"}"#).is_err()
        );
        // …and the math saturates instead of panicking near chrono's end.
        let longest = delay(r#"{"type":"after","duration":"36525d"}"#);
        assert_eq!(
            longest.due(
                DateTime::<Utc>::MAX_UTC - chrono::Duration::days(1),
                Tz::UTC,
                &[]
            ),
            DateTime::<Utc>::MAX_UTC
        );
        let huge = Delay::InDays {
            days: u32::MAX,
            at: TimeOfDay::MIDNIGHT,
        };
        assert_eq!(
            huge.due(utc("2026-01-01T00:00:00Z"), Tz::UTC, &[]),
            DateTime::<Utc>::MAX_UTC
        );
    }
}
