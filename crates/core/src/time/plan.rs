//! The time checks of a decision, in the order of R-W7 and R-X.
//!
//! - [`check_trigger`]: R-S1 `outside_duration`, then R-W2
//!   `trigger_outside_window`, on the trigger instant.
//! - [`plan_due`]: the due instant by R-D1–R-D3; R-S2 on it
//!   (`delay_exceeds_duration`); R-W3 (roll to the next opening or
//!   `delay_outside_window`); R-S2 again on a rolled due.
//! - [`recheck_late`]: send-time step 2 of R-X and R-X1 for a send processed
//!   after its due instant.
//!
//! These return small enums of their own; the decision code maps them to
//! outcome codes (each variant names the code SPEC.md gives it).

use chrono::{DateTime, Utc};

use super::{Delay, DueTrace, Schedule, Window, ZoneChoice, Zones};

/// Why a trigger instant is refused before any due is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerRefusal {
    /// R-S1: trigger outside `[start, end)`: `outside_duration`.
    OutsideDuration,
    /// R-W2: trigger at a local time outside the window: `trigger_outside_window`.
    TriggerOutsideWindow,
}

impl TriggerRefusal {
    /// The SPEC.md outcome code.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            TriggerRefusal::OutsideDuration => "outside_duration",
            TriggerRefusal::TriggerOutsideWindow => "trigger_outside_window",
        }
    }
}

/// R-S1 then R-W2 on the trigger instant `t`, in the local zone.
pub fn check_trigger(
    window: Option<&Window>,
    schedule: &Schedule,
    t: DateTime<Utc>,
    zone: &ZoneChoice,
) -> Result<(), TriggerRefusal> {
    if !schedule.contains(t, zone.tz) {
        return Err(TriggerRefusal::OutsideDuration);
    }
    if window.is_some_and(|w| !w.contains(t, zone.tz)) {
        return Err(TriggerRefusal::TriggerOutsideWindow);
    }
    Ok(())
}

/// Why a due instant cannot be used (R-S2, R-W3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRefusal {
    /// R-S2: the due instant is at or after the schedule end.
    DelayExceedsDuration {
        /// The due instant by R-D1–R-D3.
        due: DateTime<Utc>,
    },
    /// R-W3: due outside the window and `next_available` is false (or the
    /// window is empty, which validation refuses).
    DelayOutsideWindow {
        /// The due instant by R-D1–R-D3.
        due: DateTime<Utc>,
    },
    /// R-W3 then R-S2: the next window opening is at or after the schedule
    /// end.
    OutsideDurationAfterRoll {
        /// The due instant by R-D1–R-D3.
        due: DateTime<Utc>,
        /// Where the roll would have moved it.
        rolled_to: DateTime<Utc>,
    },
}

impl TimeRefusal {
    /// The SPEC.md outcome code: R-S2 at trigger time is
    /// `delay_exceeds_duration`, also after a roll.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            TimeRefusal::DelayExceedsDuration { .. }
            | TimeRefusal::OutsideDurationAfterRoll { .. } => "delay_exceeds_duration",
            TimeRefusal::DelayOutsideWindow { .. } => "delay_outside_window",
        }
    }
}

/// The result of [`plan_due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePlan {
    /// A send is planned at `due`.
    Due {
        /// The final due instant (after any roll).
        due: DateTime<Utc>,
        /// True when R-W3 moved it to the next window opening
        /// (`rolled_to_next_window`), else `scheduled`.
        rolled: bool,
        /// The unrolled due and how it was computed.
        trace: DueTrace,
    },
    /// No send: the reason, and how the unrolled due was computed.
    Refused {
        /// Why.
        reason: TimeRefusal,
        /// The unrolled due and how it was computed.
        trace: DueTrace,
    },
}

/// R-W7 from the due instant on, for a trigger at `t` that passed
/// [`check_trigger`]: the due by R-D1–R-D3 (intelligent timing in
/// `zones.intelligent`, the rest in `zones.local`); R-S2 on it; R-W3 in
/// `zones.local` (roll when `next_available`, else refuse); R-S2 on a rolled
/// due. `engagement` is the user's engagement history (R-D3).
pub fn plan_due(
    delay: &Delay,
    window: Option<&Window>,
    schedule: &Schedule,
    t: DateTime<Utc>,
    zones: &Zones,
    engagement: &[DateTime<Utc>],
) -> TimePlan {
    let trace = delay.due_traced(t, zones.for_delay(delay).tz, engagement);
    let due = trace.due;
    let tz = zones.local.tz;
    if schedule.ends_before(due, tz) {
        return TimePlan::Refused {
            reason: TimeRefusal::DelayExceedsDuration { due },
            trace,
        };
    }
    let Some(window) = window.filter(|w| !w.contains(due, tz)) else {
        return TimePlan::Due {
            due,
            rolled: false,
            trace,
        };
    };
    if !window.next_available {
        return TimePlan::Refused {
            reason: TimeRefusal::DelayOutsideWindow { due },
            trace,
        };
    }
    let reason = match window.next_opening(due, tz) {
        Some(rolled_to) if !schedule.ends_before(rolled_to, tz) => {
            return TimePlan::Due {
                due: rolled_to,
                rolled: true,
                trace,
            };
        }
        Some(rolled_to) => TimeRefusal::OutsideDurationAfterRoll { due, rolled_to },
        None => TimeRefusal::DelayOutsideWindow { due },
    };
    TimePlan::Refused { reason, trace }
}

/// Why a late send is dropped at send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateDrop {
    /// R-S2 at send time (`now` outside `[start, end)`, or the rolled
    /// instant at or after `end`): `outside_duration`.
    OutsideDuration,
    /// R-W3 without `next_available`: `delay_outside_window`.
    DelayOutsideWindow,
}

impl LateDrop {
    /// The SPEC.md outcome code.
    pub fn outcome_code(&self) -> &'static str {
        match self {
            LateDrop::OutsideDuration => "outside_duration",
            LateDrop::DelayOutsideWindow => "delay_outside_window",
        }
    }
}

/// The result of [`recheck_late`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateCheck {
    /// Send now.
    Ok,
    /// Outside the window with `next_available`: plan it again at `to`
    /// (`rolled_to_next_window`); the schedule end was checked on `to`.
    Rolled {
        /// The next window opening.
        to: DateTime<Utc>,
    },
    /// Do not send.
    Drop(LateDrop),
}

/// Send-time step 2 of R-X and R-X1, at `now` in the local zone: R-S2
/// (`now` must be in `[start, end)`; a definition edited to start later also
/// drops), then the window (a late send never lands outside it: roll with
/// `next_available`, R-S2 on the rolled instant, else drop). Safe to call for
/// every send: an on-time send's due already fits the window.
pub fn recheck_late(
    window: Option<&Window>,
    schedule: &Schedule,
    now: DateTime<Utc>,
    zone: &ZoneChoice,
) -> LateCheck {
    let tz = zone.tz;
    if !schedule.contains(now, tz) {
        return LateCheck::Drop(LateDrop::OutsideDuration);
    }
    let Some(window) = window.filter(|w| !w.contains(now, tz)) else {
        return LateCheck::Ok;
    };
    if !window.next_available {
        return LateCheck::Drop(LateDrop::DelayOutsideWindow);
    }
    match window.next_opening(now, tz) {
        Some(to) if !schedule.ends_before(to, tz) => LateCheck::Rolled { to },
        Some(_) => LateCheck::Drop(LateDrop::OutsideDuration),
        None => LateCheck::Drop(LateDrop::DelayOutsideWindow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::local::tests::utc;
    use crate::time::{Timing, resolve_zone};
    use chrono_tz::Tz;

    fn delay(json: &str) -> Delay {
        serde_json::from_str(json).expect("valid delay")
    }

    fn window(json: &str) -> Window {
        serde_json::from_str(json).expect("valid window")
    }

    fn schedule(json: &str) -> Schedule {
        serde_json::from_str(json).expect("valid schedule")
    }

    fn paris() -> Zones {
        Zones::resolve(Some("Europe/Paris"), Tz::UTC, true)
    }

    #[test]
    fn r_w7_trigger_checks_duration_before_window() {
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-02-01T00:00:00Z"}"#);
        let w = window(r#"{"start":"09:00","end":"17:00"}"#);
        let zone = ZoneChoice::campaign(Tz::UTC);
        let late_night_after_end = utc("2026-02-01T23:00:00Z");
        assert_eq!(
            check_trigger(Some(&w), &s, late_night_after_end, &zone),
            Err(TriggerRefusal::OutsideDuration)
        );
        assert_eq!(
            check_trigger(Some(&w), &s, utc("2026-01-05T20:00:00Z"), &zone),
            Err(TriggerRefusal::TriggerOutsideWindow)
        );
        assert_eq!(
            check_trigger(Some(&w), &s, utc("2026-01-05T10:00:00Z"), &zone),
            Ok(())
        );
        assert_eq!(
            check_trigger(None, &s, utc("2026-01-05T20:00:00Z"), &zone),
            Ok(())
        );
    }

    #[test]
    fn r_w2_trigger_window_reads_users_local_time() {
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        let w = window(r#"{"start":"09:00","end":"17:00"}"#);
        let t = utc("2026-01-05T08:30:00Z"); // 09:30 Paris, 08:30 UTC
        let user = resolve_zone(Some("Europe/Paris"), Tz::UTC, true);
        assert_eq!(check_trigger(Some(&w), &s, t, &user), Ok(()));
        let campaign = resolve_zone(Some("Europe/Paris"), Tz::UTC, false);
        assert_eq!(
            check_trigger(Some(&w), &s, t, &campaign),
            Err(TriggerRefusal::TriggerOutsideWindow)
        );
    }

    #[test]
    fn r_w7_due_inside_window_is_scheduled_unrolled() {
        let d = delay(r#"{"type":"after","duration":"1h"}"#);
        let w = window(r#"{"start":"09:00","end":"21:00","next_available":true}"#);
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        let t = utc("2026-01-05T10:00:00Z"); // 11:00 Paris
        let plan = plan_due(&d, Some(&w), &s, t, &paris(), &[]);
        assert!(matches!(
            plan,
            TimePlan::Due { due, rolled: false, trace }
                if due == utc("2026-01-05T11:00:00Z") && trace.due == due
        ));
    }

    #[test]
    fn r_s2_delay_exceeds_duration_before_any_roll() {
        let d = delay(r#"{"type":"after","duration":"2d"}"#);
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-06T00:00:00Z"}"#);
        let t = utc("2026-01-04T00:00:00Z");
        let plan = plan_due(&d, None, &s, t, &paris(), &[]);
        assert_eq!(
            plan,
            TimePlan::Refused {
                reason: TimeRefusal::DelayExceedsDuration {
                    due: utc("2026-01-06T00:00:00Z")
                },
                trace: d.due_traced(t, Tz::Europe__Paris, &[]),
            }
        );
        if let TimePlan::Refused { reason, .. } = plan {
            assert_eq!(reason.outcome_code(), "delay_exceeds_duration");
        }
    }

    #[test]
    fn r_w3_outside_window_without_next_available_is_refused() {
        let d = delay(r#"{"type":"after","duration":"10h"}"#);
        let w = window(r#"{"start":"09:00","end":"21:00"}"#);
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        let t = utc("2026-01-05T14:00:00Z"); // due 00:00Z = 01:00 Paris
        let plan = plan_due(&d, Some(&w), &s, t, &paris(), &[]);
        assert!(matches!(
            plan,
            TimePlan::Refused { reason: TimeRefusal::DelayOutsideWindow { due }, .. }
                if due == utc("2026-01-06T00:00:00Z")
        ));
    }

    #[test]
    fn r_w3_rolls_to_next_window_then_r_s2_again() {
        let d = delay(r#"{"type":"after","duration":"10h"}"#);
        let w = window(r#"{"start":"09:00","end":"21:00","next_available":true}"#);
        let t = utc("2026-01-05T14:00:00Z"); // due 01:00 Paris on the 6th
        // Open-ended: rolls to 09:00 Paris = 08:00Z.
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        let plan = plan_due(&d, Some(&w), &s, t, &paris(), &[]);
        assert!(matches!(
            plan,
            TimePlan::Due { due, rolled: true, trace }
                if due == utc("2026-01-06T08:00:00Z") && trace.due == utc("2026-01-06T00:00:00Z")
        ));
        // The schedule ends between the unrolled due and the opening.
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-06T08:00:00Z"}"#);
        let plan = plan_due(&d, Some(&w), &s, t, &paris(), &[]);
        assert!(matches!(
            plan,
            TimePlan::Refused {
                reason: TimeRefusal::OutsideDurationAfterRoll { due, rolled_to: to },
                ..
            } if due == utc("2026-01-06T00:00:00Z") && to == utc("2026-01-06T08:00:00Z")
        ));
    }

    #[test]
    fn r_w7_intelligent_uses_users_zone_and_window_uses_local_zone() {
        // Campaign zone UTC, local_time false: window read in UTC, intelligent
        // timing in the user's Paris zone.
        let zones = Zones::resolve(Some("Europe/Paris"), Tz::UTC, false);
        let d = delay(r#"{"type":"intelligent","days":0,"fallback_at":"10:00"}"#);
        let w = window(r#"{"start":"09:30","end":"12:00","next_available":true}"#);
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        let t = utc("2026-01-05T06:00:00Z");
        // Fallback 10:00 Paris = 09:00Z: outside 09:30–12:00 UTC, rolls to 09:30Z.
        let plan = plan_due(&d, Some(&w), &s, t, &zones, &[]);
        match plan {
            TimePlan::Due { due, rolled, trace } => {
                assert_eq!(trace.due, utc("2026-01-05T09:00:00Z"));
                assert!(trace.used_fallback());
                assert!(matches!(trace.timing, Timing::Intelligent { .. }));
                assert!(rolled);
                assert_eq!(due, utc("2026-01-05T09:30:00Z"));
            }
            other => panic!("expected a due, got {other:?}"),
        }
    }

    #[test]
    fn r_w1_empty_window_never_rolls() {
        // Validation refuses start == end; the pipeline still answers sanely.
        let d = delay(r#"{"type":"after","duration":"1h"}"#);
        let w = window(r#"{"start":"09:00","end":"09:00","next_available":true}"#);
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z"}"#);
        let t = utc("2026-01-05T10:00:00Z");
        let plan = plan_due(&d, Some(&w), &s, t, &paris(), &[]);
        assert!(matches!(
            plan,
            TimePlan::Refused {
                reason: TimeRefusal::DelayOutsideWindow { .. },
                ..
            }
        ));
        let zone = ZoneChoice::campaign(Tz::UTC);
        assert_eq!(
            recheck_late(Some(&w), &s, t, &zone),
            LateCheck::Drop(LateDrop::DelayOutsideWindow)
        );
    }

    #[test]
    fn r_x1_late_send_inside_window_and_duration_goes_now() {
        let w = window(r#"{"start":"09:00","end":"21:00","next_available":false}"#);
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-02-01T00:00:00Z"}"#);
        let zone = ZoneChoice::campaign(Tz::UTC);
        assert_eq!(
            recheck_late(Some(&w), &s, utc("2026-01-05T10:00:00Z"), &zone),
            LateCheck::Ok
        );
        assert_eq!(
            recheck_late(None, &s, utc("2026-01-05T23:00:00Z"), &zone),
            LateCheck::Ok
        );
    }

    #[test]
    fn r_x1_late_send_outside_window_rolls_or_drops() {
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-02-01T00:00:00Z"}"#);
        let zone = ZoneChoice::campaign(Tz::UTC);
        let now = utc("2026-01-05T22:00:00Z");
        let rolling = window(r#"{"start":"09:00","end":"21:00","next_available":true}"#);
        assert_eq!(
            recheck_late(Some(&rolling), &s, now, &zone),
            LateCheck::Rolled {
                to: utc("2026-01-06T09:00:00Z")
            }
        );
        let strict = window(r#"{"start":"09:00","end":"21:00"}"#);
        assert_eq!(
            recheck_late(Some(&strict), &s, now, &zone),
            LateCheck::Drop(LateDrop::DelayOutsideWindow)
        );
    }

    #[test]
    fn r_s2_late_send_after_end_or_rolled_past_end_is_outside_duration() {
        let s = schedule(r#"{"start":"2026-01-01T00:00:00Z","end":"2026-01-06T00:00:00Z"}"#);
        let zone = ZoneChoice::campaign(Tz::UTC);
        assert_eq!(
            recheck_late(None, &s, utc("2026-01-06T00:00:00Z"), &zone),
            LateCheck::Drop(LateDrop::OutsideDuration)
        );
        let rolling = window(r#"{"start":"09:00","end":"21:00","next_available":true}"#);
        let drop = recheck_late(Some(&rolling), &s, utc("2026-01-05T22:00:00Z"), &zone);
        assert_eq!(drop, LateCheck::Drop(LateDrop::OutsideDuration));
        assert_eq!(LateDrop::OutsideDuration.outcome_code(), "outside_duration");
    }
}
