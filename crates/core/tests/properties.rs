//! Property test of the whole trigger-time path (`Campaign::decide`, R-W7):
//! for random zones (several with DST, one with a 30-minute shift), windows
//! (or none, wrapping midnight or not, rolling or not), delay kinds,
//! schedules (instants or local date-times) and trigger instants (biased
//! towards DST transition days), the decision equals an oracle written from
//! SPEC.md: R-S1, R-W2, the due by R-D1, R-S2, R-W3 with the next opening
//! found by minute-by-minute scanning (R-W6), R-S2 again. In particular a
//! planned due is never before the trigger, a rolled due is inside the
//! window, and refusals are only the R-W7 codes.

mod common;

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use triggerd_core::time::{Delay, Schedule, Window};
use triggerd_core::{Outcome, TriggerOutcome};

use common::{User, campaign, go};

const ZONES: [&str; 7] = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "America/Santiago",
];

/// Local dates around which clocks change in some of `ZONES` (2026).
const DST_DAYS: [&str; 6] = [
    "2026-03-08T00:00:00Z",
    "2026-03-29T00:00:00Z",
    "2026-04-05T00:00:00Z",
    "2026-09-06T00:00:00Z",
    "2026-10-25T00:00:00Z",
    "2026-11-01T00:00:00Z",
];

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn delay() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "immediate"})),
        (0u32..4 * 24 * 60).prop_map(|m| json!({"type": "after", "duration": format!("{m}m")})),
        (0usize..7, 0u32..1440).prop_map(|(w, at)| {
            json!({"type": "next_weekday", "weekday": WEEKDAYS[w], "at": hm(at)})
        }),
        (1u32..10, 0u32..1440)
            .prop_map(|(days, at)| json!({"type": "in_days", "days": days, "at": hm(at)})),
        (0u32..3, 0u32..1440).prop_map(|(days, at)| {
            json!({"type": "intelligent", "days": days, "fallback_at": hm(at)})
        }),
    ]
}

fn window() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        3 => (0u32..1440, 1u32..1440, any::<bool>()).prop_map(|(start, len, next)| {
            Some(json!({"start": hm(start), "end": hm((start + len) % 1440), "next_available": next}))
        }),
    ]
}

/// A minute-aligned trigger in 2026, half the time within two days of a
/// DST change.
fn trigger() -> impl Strategy<Value = DateTime<Utc>> {
    let year_start = common::utc("2026-01-01T00:00:00Z");
    prop_oneof![
        (0i64..365 * 24 * 60).prop_map(move |m| year_start + Duration::minutes(m)),
        (0usize..DST_DAYS.len(), -2 * 24 * 60i64..2 * 24 * 60)
            .prop_map(|(d, m)| common::utc(DST_DAYS[d]) + Duration::minutes(m)),
    ]
}

/// How the random schedule ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// Never.
    Open,
    /// Some days after the start (often before the trigger).
    DaysAfterStart(i64),
    /// Shortly after the trigger (often before the due).
    MinutesAfterTrigger(i64),
}

/// The earliest minute at or after `from` inside `window` (R-W6), by scanning.
fn scan_opening(window: &Window, from: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    (0..4 * 24 * 60)
        .map(|m| from + Duration::minutes(m))
        .find(|t| window.contains(*t, tz))
        .expect("every non-empty window opens within four days")
}

/// What SPEC.md says the decision is (outcome and planned due).
fn oracle(
    delay: &Delay,
    window: Option<&Window>,
    schedule: &Schedule,
    tz: Tz,
    t: DateTime<Utc>,
) -> (Outcome, Option<DateTime<Utc>>) {
    let end = schedule.end_instant(tz);
    let ended_by = |due: DateTime<Utc>| end.is_some_and(|e| e <= due);
    if t < schedule.start_instant(tz) || ended_by(t) {
        return (Outcome::OutsideDuration, None);
    }
    if window.is_some_and(|w| !w.contains(t, tz)) {
        return (Outcome::TriggerOutsideWindow, None);
    }
    let due = delay.due(t, tz, &[]);
    if ended_by(due) {
        return (Outcome::DelayExceedsDuration, None);
    }
    match window {
        Some(w) if !w.contains(due, tz) => {
            if !w.next_available {
                return (Outcome::DelayOutsideWindow, None);
            }
            let opening = scan_opening(w, due, tz);
            if ended_by(opening) {
                (Outcome::DelayExceedsDuration, None)
            } else {
                (Outcome::RolledToNextWindow, Some(opening))
            }
        }
        _ => (Outcome::Scheduled, Some(due)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn r_w7_decide_matches_the_spec_oracle(
        zone in 0usize..ZONES.len(),
        local_time in any::<bool>(),
        window in window(),
        delay in delay(),
        t in trigger(),
        end in prop_oneof![
            Just(End::Open),
            (1i64..400).prop_map(End::DaysAfterStart),
            (1i64..5 * 24 * 60).prop_map(End::MinutesAfterTrigger),
        ],
    ) {
        let zone_name = ZONES[zone];
        let tz: Tz = zone_name.parse().expect("known zone");
        // local_time: the user's zone, bounds as local date-times; else the
        // campaign's zone, bounds as instants. Either way local time is `tz`.
        let (campaign_zone, user_zone) = if local_time { ("UTC", Some(zone_name)) } else { (zone_name, None) };
        let start_local: NaiveDateTime = "2026-01-01T00:00:00".parse().expect("valid");
        let bound = |naive: NaiveDateTime| if local_time {
            naive.format("%Y-%m-%dT%H:%M:%S").to_string()
        } else {
            Utc.from_utc_datetime(&naive).format("%Y-%m-%dT%H:%M:%SZ").to_string()
        };
        let mut schedule = json!({"start": bound(start_local), "local_time": local_time});
        let t_local = if local_time { t.with_timezone(&tz).naive_local() } else { t.naive_utc() };
        match end {
            End::Open => {}
            End::DaysAfterStart(days) => {
                schedule["end"] = json!(bound(start_local + Duration::days(days) + Duration::minutes(days * 7)));
            }
            End::MinutesAfterTrigger(minutes) => {
                schedule["end"] = json!(bound(t_local + Duration::minutes(minutes)));
            }
        }
        let mut over = json!({"delay": delay, "schedule": schedule, "time_zone": campaign_zone});
        if let Some(w) = &window {
            over["window"] = w.clone();
        }
        let c = campaign(over);
        let mut user = User::new();
        user.zone = user_zone.map(str::to_string);
        user.launched_at = Some(common::utc("2025-01-01T00:00:00Z"));

        let decision = user.decide(&c, &go(&t.to_rfc3339()));
        prop_assert!(decision.cancellations.is_empty());
        let (outcome, due) = match decision.trigger {
            Some(TriggerOutcome::Planned(plan)) => (plan.outcome, Some(plan.due)),
            Some(TriggerOutcome::Refused { outcome, .. }) => (outcome, None),
            None => panic!("go is the trigger"),
        };

        let window: Option<Window> = c.def.window;
        let expected = oracle(&c.def.delay, window.as_ref(), &c.def.schedule, tz, t);
        prop_assert_eq!((outcome, due), expected, "zone {} t {}", zone_name, t);

        // The invariants, stated on their own.
        prop_assert!(matches!(outcome,
            Outcome::Scheduled | Outcome::RolledToNextWindow | Outcome::OutsideDuration
            | Outcome::TriggerOutsideWindow | Outcome::DelayExceedsDuration | Outcome::DelayOutsideWindow));
        if let Some(due) = due {
            prop_assert!(due >= t, "due {} before trigger {}", due, t);
            if let Some(w) = &window {
                prop_assert!(w.contains(due, tz), "due {} outside the window", due);
            }
            if let Some(end) = c.def.schedule.end_instant(tz) {
                prop_assert!(due < end);
            }
        }
    }
}
