//! Property tests of the time math against brute-force oracles that scan the
//! timeline minute by minute (R-D1–R-D3, R-D2, R-W3, R-W6, R-W7, R-S2).
//!
//! The oracles share no code with the implementation beyond reading a wall
//! clock (`with_timezone`): local date-times are placed by scanning UTC
//! minutes for the reading, window openings by scanning for the first
//! reading inside. Instants are drawn near the real DST transitions of the
//! zones under test (found by scanning too) as well as uniformly.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Days, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::{
    Delay, LateCheck, LateDrop, Schedule, TimeOfDay, TimePlan, TimeRefusal, Weekday, Window,
    ZoneChoice, ZoneSource, Zones, local_to_instant,
};
use crate::Span;

/// Zones with DST (northern and southern, 1 h and 30 min), odd offsets
/// (+05:30, +05:45, +12:45/+13:45, -03:30/-02:30) and UTC.
const ZONES: [Tz; 10] = [
    Tz::UTC,
    Tz::America__New_York,
    Tz::Europe__Paris,
    Tz::Asia__Kolkata,
    Tz::Pacific__Chatham,
    Tz::Australia__Lord_Howe,
    Tz::Australia__Sydney,
    Tz::America__St_Johns,
    Tz::Asia__Kathmandu,
    Tz::America__Los_Angeles,
];

/// Times of day around which DST transitions happen, plus ordinary ones.
const NOTABLE_MINUTES: [u32; 18] = [
    0, 30, 60, 90, 120, 130, 135, 150, 165, 180, 210, 225, 240, 300, 540, 1020, 1320, 1439,
];

const MINUTE: i64 = 60;

fn ts(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("test instant in range")
}

fn first_instant() -> i64 {
    NaiveDate::from_ymd_opt(2025, 1, 1)
        .expect("valid")
        .and_hms_opt(0, 0, 0)
        .expect("valid")
        .and_utc()
        .timestamp()
}

const SPAN_SECS: i64 = 4 * 366 * 86_400;

/// Every offset change of each zone in 2025–2028, found by an hourly scan
/// refined to the minute.
fn transitions() -> &'static Vec<Vec<i64>> {
    static CACHE: OnceLock<Vec<Vec<i64>>> = OnceLock::new();
    CACHE.get_or_init(|| {
        let offset = |tz: Tz, s: i64| ts(s).with_timezone(&tz).offset().to_string();
        ZONES
            .iter()
            .map(|&tz| {
                let mut found = Vec::new();
                let mut s = first_instant();
                while s < first_instant() + SPAN_SECS {
                    if offset(tz, s) != offset(tz, s + 3600) {
                        let mut m = s;
                        while offset(tz, m) == offset(tz, s) {
                            m += MINUTE;
                        }
                        found.push(m);
                    }
                    s += 3600;
                }
                found
            })
            .collect()
    })
}

/// An instant near a transition of `zone` (or uniform when the zone has
/// none or `uniform`), with an optional millisecond part.
fn pick_instant(
    zone: usize,
    uniform: bool,
    selector: u32,
    around: i64,
    millis: u32,
) -> DateTime<Utc> {
    let list = &transitions()[zone];
    let secs = if uniform || list.is_empty() {
        first_instant() + i64::from(selector) % SPAN_SECS
    } else {
        list[selector as usize % list.len()] + around
    };
    ts(secs) + Duration::milliseconds(i64::from(millis))
}

/// The wall-clock reading of `t` in `tz`.
fn reading(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// Oracle for R-D2, by scanning UTC minutes: the earliest instant reading
/// `naive`; in a gap, the instant reading `naive + gap`.
fn scan_local_to_instant(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    let from = naive.and_utc() - Duration::hours(15);
    let mut previous = from;
    for m in 0..(30 * 60) {
        let u = from + Duration::minutes(m);
        let r = reading(u, tz);
        if r == naive {
            return u;
        }
        if r > naive {
            // `naive` was skipped: the gap started one minute after the
            // previous reading; move forward by the part of the gap before
            // `naive`, on the new clock.
            let gap_start = reading(previous, tz) + Duration::minutes(1);
            return u + (naive - gap_start);
        }
        previous = u;
    }
    panic!("oracle scanned 30 h around {naive} in {tz} without reaching it")
}

/// Independent window membership, in seconds of the day.
fn oracle_inside(window: &Window, t: DateTime<Utc>, tz: Tz) -> bool {
    let tod = i64::from(reading(t, tz).num_seconds_from_midnight());
    let start = i64::from(window.start.seconds_from_midnight());
    let end = i64::from(window.end.seconds_from_midnight());
    (tod - start).rem_euclid(86_400) < (end - start).rem_euclid(86_400)
}

/// Oracle for R-W6: `from` itself, else the first whole minute after it
/// that reads inside (window bounds and transitions are whole minutes).
fn scan_next_opening(window: &Window, from: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    if oracle_inside(window, from, tz) {
        return from;
    }
    let first = ts(from.timestamp().div_euclid(MINUTE) * MINUTE + MINUTE);
    (0..4 * 1440)
        .map(|m| first + Duration::minutes(m))
        .find(|&u| oracle_inside(window, u, tz))
        .expect("a non-empty window opens within 4 days")
}

/// Oracle for R-D1/R-D3 built on the scanning R-D2 oracle.
fn oracle_due(
    delay: &Delay,
    t: DateTime<Utc>,
    tz: Tz,
    engagement: &[DateTime<Utc>],
) -> DateTime<Utc> {
    let today = reading(t, tz).date();
    match *delay {
        Delay::Immediate {} => t,
        Delay::After { duration } => t + duration.to_chrono(),
        Delay::NextWeekday { weekday, at } => {
            let mut date = today + Days::new(1);
            while date.weekday() != weekday.chrono() {
                date = date + Days::new(1);
            }
            scan_local_to_instant(date.and_time(at.to_naive()), tz).max(t)
        }
        Delay::InDays { days, at } => {
            let date = today + Days::new(u64::from(days));
            scan_local_to_instant(date.and_time(at.to_naive()), tz).max(t)
        }
        Delay::Intelligent { days, fallback_at } => {
            let recent: Vec<u32> = engagement
                .iter()
                .filter(|&&e| e <= t && t - e <= Duration::days(90))
                .map(|&e| reading(e, tz).hour())
                .collect();
            let time = if recent.len() >= 3 {
                let count = |h: u32| recent.iter().filter(|&&x| x == h).count();
                let best = (0..24).map(count).max().unwrap_or(0);
                let hour = (0..24).find(|&h| count(h) == best).unwrap_or(0);
                TimeOfDay::hm(hour, 0).expect("hour < 24")
            } else {
                fallback_at
            };
            (0..4)
                .map(|k| today + Days::new(u64::from(days) + k))
                .map(|date| scan_local_to_instant(date.and_time(time.to_naive()), tz))
                .find(|&due| due > t)
                .expect("a later date reads after t")
        }
    }
}

fn time_of_day() -> impl Strategy<Value = TimeOfDay> {
    prop_oneof![prop::sample::select(NOTABLE_MINUTES.to_vec()), 0u32..1440,]
        .prop_map(|m| TimeOfDay::hm(m / 60, m % 60).expect("minute of day"))
}

fn window() -> impl Strategy<Value = Window> {
    (time_of_day(), time_of_day(), any::<bool>()).prop_map(|(start, end, next_available)| {
        let end = if start == end {
            let m = (end.seconds_from_midnight() / 60 + 45) % 1440;
            TimeOfDay::hm(m / 60, m % 60).expect("minute of day")
        } else {
            end
        };
        Window {
            start,
            end,
            next_available,
        }
    })
}

fn delay() -> impl Strategy<Value = Delay> {
    let weekday =
        (0u8..7).prop_map(|d| Weekday(chrono::Weekday::try_from(d).expect("0..7 is a weekday")));
    prop_oneof![
        Just(Delay::Immediate {}),
        (0i64..3 * 86_400).prop_map(|s| Delay::After {
            duration: Span::from_secs(s)
        }),
        (weekday, time_of_day()).prop_map(|(weekday, at)| Delay::NextWeekday { weekday, at }),
        (1u32..5, time_of_day()).prop_map(|(days, at)| Delay::InDays { days, at }),
        (0u32..3, time_of_day())
            .prop_map(|(days, fallback_at)| Delay::Intelligent { days, fallback_at }),
    ]
}

/// (zone index, uniform?, selector, seconds around a transition, millis).
fn instant_parts() -> impl Strategy<Value = (usize, bool, u32, i64, u32)> {
    (
        0..ZONES.len(),
        prop::bool::weighted(0.3),
        any::<u32>(),
        -3 * 86_400i64..3 * 86_400,
        prop_oneof![Just(0u32), 0u32..1000],
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn r_d2_local_to_instant_matches_minute_scan(
        (zone, uniform, selector, _, _) in instant_parts(),
        delta_minutes in -240i64..240,
    ) {
        let tz = ZONES[zone];
        let list = &transitions()[zone];
        // Local readings around a transition, gap and overlap included:
        // counted on the wall clock from the last reading before the change.
        let naive = if uniform || list.is_empty() {
            let base = pick_instant(zone, true, selector, 0, 0);
            reading(base, tz).with_second(0).expect("valid")
        } else {
            let change = ts(list[selector as usize % list.len()]);
            reading(change - Duration::minutes(1), tz) + Duration::minutes(1)
        } + Duration::minutes(delta_minutes);
        prop_assert_eq!(local_to_instant(naive, tz), scan_local_to_instant(naive, tz));
    }

    #[test]
    fn r_w6_next_opening_matches_minute_scan(
        (zone, uniform, selector, around, millis) in instant_parts(),
        w in window(),
    ) {
        let tz = ZONES[zone];
        let after = pick_instant(zone, uniform, selector, around, millis);
        let opening = w.next_opening(after, tz);
        prop_assert_eq!(opening, Some(scan_next_opening(&w, after, tz)));
    }

    #[test]
    fn r_w7_plan_due_matches_brute_force(
        (zone, uniform, selector, around, millis) in instant_parts(),
        user_zone in 0..ZONES.len(),
        d in delay(),
        w in prop::option::weighted(0.8, window()),
        end_after in prop::option::of(0i64..6 * 86_400),
        history in prop::collection::vec(-86_400i64..100 * 86_400, 0..8),
    ) {
        let tz = ZONES[zone];
        let user_tz = ZONES[user_zone];
        let t = pick_instant(zone, uniform, selector, around, millis);
        let engagement: Vec<_> = history.iter().map(|&s| t - Duration::seconds(s)).collect();
        let end = end_after.map(|s| t + Duration::seconds(s));
        let schedule = Schedule {
            end: end.map(super::ScheduleBound::Instant),
            ..Schedule::from_instant(t - Duration::days(1))
        };
        let zones = Zones {
            local: ZoneChoice::campaign(tz),
            intelligent: ZoneChoice { tz: user_tz, source: ZoneSource::User },
        };
        let delay_tz = if matches!(d, Delay::Intelligent { .. }) { user_tz } else { tz };
        let unrolled = oracle_due(&d, t, delay_tz, &engagement);

        let plan = super::plan_due(&d, w.as_ref(), &schedule, t, &zones, &engagement);

        let ended = |x: DateTime<Utc>| end.is_some_and(|e| e <= x);
        let expected = if ended(unrolled) {
            Err(TimeRefusal::DelayExceedsDuration { due: unrolled })
        } else {
            match w {
                Some(w) if !oracle_inside(&w, unrolled, tz) => {
                    if !w.next_available {
                        Err(TimeRefusal::DelayOutsideWindow { due: unrolled })
                    } else {
                        let rolled = scan_next_opening(&w, unrolled, tz);
                        if ended(rolled) {
                            Err(TimeRefusal::OutsideDurationAfterRoll {
                                due: unrolled,
                                rolled_to: rolled,
                            })
                        } else {
                            Ok((rolled, true))
                        }
                    }
                }
                _ => Ok((unrolled, false)),
            }
        };
        match plan {
            TimePlan::Due { due, rolled, trace } => {
                prop_assert_eq!(trace.due, unrolled);
                prop_assert!(due >= t, "due {} before trigger {}", due, t);
                if let Some(w) = w {
                    prop_assert!(oracle_inside(&w, due, tz), "due {} outside {:?}", due, w);
                }
                prop_assert_eq!(Ok((due, rolled)), expected);
            }
            TimePlan::Refused { reason, trace } => {
                prop_assert_eq!(trace.due, unrolled);
                prop_assert_eq!(Err(reason), expected);
            }
        }
    }

    #[test]
    fn r_x1_late_recheck_matches_brute_force(
        (zone, uniform, selector, around, millis) in instant_parts(),
        w in prop::option::weighted(0.8, window()),
        end_after in prop::option::of(-86_400i64..3 * 86_400),
    ) {
        let tz = ZONES[zone];
        let now = pick_instant(zone, uniform, selector, around, millis);
        let end = end_after.map(|s| now + Duration::seconds(s));
        let schedule = Schedule {
            end: end.map(super::ScheduleBound::Instant),
            ..Schedule::from_instant(now - Duration::days(2))
        };
        let ended = |x: DateTime<Utc>| end.is_some_and(|e| e <= x);
        let expected = if ended(now) {
            LateCheck::Drop(LateDrop::OutsideDuration)
        } else {
            match w {
                Some(w) if !oracle_inside(&w, now, tz) => {
                    if !w.next_available {
                        LateCheck::Drop(LateDrop::DelayOutsideWindow)
                    } else {
                        let to = scan_next_opening(&w, now, tz);
                        if ended(to) {
                            LateCheck::Drop(LateDrop::OutsideDuration)
                        } else {
                            LateCheck::Rolled { to }
                        }
                    }
                }
                _ => LateCheck::Ok,
            }
        };
        let got = super::recheck_late(w.as_ref(), &schedule, now, &ZoneChoice::campaign(tz));
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn oracle_finds_transitions_of_dst_zones() {
    let counts: Vec<usize> = transitions().iter().map(Vec::len).collect();
    // UTC, Kolkata and Kathmandu never change; the DST zones twice a year.
    assert_eq!(counts, [0, 8, 8, 0, 8, 8, 8, 8, 0, 8]);
}
