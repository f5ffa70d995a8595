//! Local wall-clock readings and their instants (R-D2).
//!
//! R-D2: a local date-time that does not exist (DST gap) moves forward by the
//! length of the gap (02:30 on a spring-forward night becomes 03:30); an
//! ambiguous one (fall-back) takes the earlier instant. This applies to
//! points in time (`at`, `fallback_at`, schedule bounds), not to windows
//! (R-W6, see [`super::window`]).

use std::fmt;

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc,
};
use chrono_tz::{GapInfo, Tz};

use crate::Span;

/// How a local date-time was placed on the timeline by R-D2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalFit {
    /// The local time exists exactly once.
    Exact,
    /// The local time fell in a DST gap and was moved forward by `by`.
    ShiftedForward {
        /// Length of the gap (usually 1 hour).
        by: Span,
    },
    /// The local time occurred twice (fall-back); the earlier was taken.
    EarlierOfTwo,
}

impl fmt::Display for LocalFit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalFit::Exact => f.write_str("exact"),
            LocalFit::ShiftedForward { by } => {
                write!(f, "does not exist that day (DST), moved forward by {by}")
            }
            LocalFit::EarlierOfTwo => f.write_str("occurs twice that day (DST), earlier taken"),
        }
    }
}

/// The local calendar date of `t` in `tz`.
pub fn local_date(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The UTC offset in force at `t` in `tz`.
pub fn offset_at(t: DateTime<Utc>, tz: Tz) -> FixedOffset {
    tz.offset_from_utc_datetime(&t.naive_utc()).fix()
}

/// R-D2: the instant of local date-time `naive` in `tz`. A nonexistent local
/// time moves forward by the gap; an ambiguous one takes the earlier instant.
pub fn local_to_instant(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    local_to_instant_traced(naive, tz).0
}

/// R-D2 like [`local_to_instant`], also telling how the time was placed.
pub fn local_to_instant_traced(naive: NaiveDateTime, tz: Tz) -> (DateTime<Utc>, LocalFit) {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => (dt.to_utc(), LocalFit::Exact),
        LocalResult::Ambiguous(a, b) => (a.min(b).to_utc(), LocalFit::EarlierOfTwo),
        LocalResult::None => gap_forward(naive, tz),
    }
}

/// A local time inside a gap, read with the offset in force just before the
/// gap: that instant lies after the transition, where the clock reads
/// `naive + gap`.
fn gap_forward(naive: NaiveDateTime, tz: Tz) -> (DateTime<Utc>, LocalFit) {
    let as_utc = naive.and_utc();
    let before = GapInfo::new(&naive, &tz)
        .and_then(|gap| gap.begin)
        .map(|(_, offset)| offset.fix())
        // No tz data before the gap: probe 15 h earlier than any reading of
        // `naive` could be (offsets stay within ±14 h).
        .unwrap_or_else(|| {
            offset_at(
                as_utc
                    .checked_sub_signed(Duration::hours(15))
                    .unwrap_or(as_utc),
                tz,
            )
        });
    let instant = as_utc
        .checked_sub_signed(Duration::seconds(i64::from(before.local_minus_utc())))
        .unwrap_or(as_utc);
    let after = offset_at(instant, tz);
    let gap_secs = i64::from(after.local_minus_utc() - before.local_minus_utc());
    (
        instant,
        LocalFit::ShiftedForward {
            by: Span::from_secs(gap_secs.max(0)),
        },
    )
}

/// The first instant in `(from, to]` whose offset differs from the offset at
/// `from`, when `to` has another offset; found by bisection over
/// milliseconds (about 30 zone look-ups for a day), not by scanning.
pub(crate) fn first_offset_change(
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let offset = offset_at(from, tz);
    if offset_at(to, tz) == offset {
        return None;
    }
    let mut lo = from.timestamp_millis();
    let mut hi = to.timestamp_millis();
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let mid_t = DateTime::from_timestamp_millis(mid)?;
        if offset_at(mid_t, tz) == offset {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    DateTime::from_timestamp_millis(hi)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::NaiveTime;

    pub(crate) fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").expect("test date-time")
    }

    pub(crate) fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .to_utc()
    }

    #[test]
    fn r_d2_spring_forward_gap_moves_forward_by_gap() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        let (t, fit) = local_to_instant_traced(naive("2026-03-08T02:30"), Tz::America__New_York);
        assert_eq!(t, utc("2026-03-08T07:30:00Z")); // 03:30 EDT
        assert_eq!(
            t.with_timezone(&Tz::America__New_York).time(),
            NaiveTime::from_hms_opt(3, 30, 0).expect("valid")
        );
        assert_eq!(
            fit,
            LocalFit::ShiftedForward {
                by: Span::from_secs(3600)
            }
        );
        // Paris, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
        let t = local_to_instant(naive("2026-03-29T02:00"), Tz::Europe__Paris);
        assert_eq!(t, utc("2026-03-29T01:00:00Z")); // 03:00 CEST
        let t = local_to_instant(naive("2026-03-29T02:59"), Tz::Europe__Paris);
        assert_eq!(t, utc("2026-03-29T01:59:00Z")); // 03:59 CEST
    }

    #[test]
    fn r_d2_half_hour_gap_moves_forward_by_half_an_hour() {
        // Lord Howe Island, 2026-10-04: 02:00 (+10:30) jumps to 02:30 (+11:00).
        let (t, fit) = local_to_instant_traced(naive("2026-10-04T02:10"), Tz::Australia__Lord_Howe);
        assert_eq!(
            fit,
            LocalFit::ShiftedForward {
                by: Span::from_secs(1800)
            }
        );
        assert_eq!(
            t.with_timezone(&Tz::Australia__Lord_Howe).naive_local(),
            naive("2026-10-04T02:40")
        );
    }

    #[test]
    fn r_d2_fall_back_ambiguity_takes_earlier_instant() {
        // New York, 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
        let (t, fit) = local_to_instant_traced(naive("2026-11-01T01:30"), Tz::America__New_York);
        assert_eq!(t, utc("2026-11-01T05:30:00Z"));
        assert_eq!(fit, LocalFit::EarlierOfTwo);
        // Paris, 2026-10-25: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET).
        let (t, fit) = local_to_instant_traced(naive("2026-10-25T02:30"), Tz::Europe__Paris);
        assert_eq!(t, utc("2026-10-25T00:30:00Z"));
        assert_eq!(fit, LocalFit::EarlierOfTwo);
    }

    #[test]
    fn r_d2_ordinary_local_time_is_exact() {
        let (t, fit) = local_to_instant_traced(naive("2026-07-01T09:00"), Tz::Europe__Paris);
        assert_eq!(t, utc("2026-07-01T07:00:00Z"));
        assert_eq!(fit, LocalFit::Exact);
        let t = local_to_instant(naive("2026-07-01T09:00"), Tz::Asia__Kolkata);
        assert_eq!(t, utc("2026-07-01T03:30:00Z"));
    }

    #[test]
    fn r_w6_first_offset_change_finds_the_transition_instant() {
        let tz = Tz::America__New_York;
        let found =
            first_offset_change(tz, utc("2026-03-08T00:00:00Z"), utc("2026-03-09T00:00:00Z"));
        assert_eq!(found, Some(utc("2026-03-08T07:00:00Z")));
        assert_eq!(
            first_offset_change(tz, utc("2026-03-09T00:00:00Z"), utc("2026-03-10T00:00:00Z")),
            None
        );
    }
}
