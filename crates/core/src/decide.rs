//! Trigger-time decisions (R-W7): given a campaign, the user's profile and
//! (campaign, user) state, and one event, what happens — nothing, a refusal
//! with its outcome, a planned send with its due instant, and which pending
//! sends the event cancels (R-E2, R-E4, R-E6).
//!
//! Pure: nothing is read or written. The daemon applies the [`Decision`];
//! a preview (R-Y3) is the same call with nothing applied.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::campaign::{Campaign, CampaignStatus, Channel, launched_by};
use crate::event::{Event, Source};
use crate::matcher::MatcherKind;
use crate::outcome::Outcome;
use crate::segment::ProfileView;
use crate::time::{self, TimePlan, TimeRefusal, ZoneChoice, Zones};
use crate::trigger::TriggerMatch;

/// A send that is planned and not finished, as the decision needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingSend {
    /// The stable send id.
    pub send_id: String,
    /// When the triggering event happened.
    pub trigger_time: DateTime<Utc>,
    /// When the send is due.
    pub due: DateTime<Utc>,
    /// The triggering event's properties (R-E6 correlation; `event_properties` at render).
    pub trigger_properties: Value,
}

/// Most sends of one campaign that may be pending for one user at once
/// (R-R4 with re-eligibility: each trigger plans its own send). Past it a
/// trigger is `already_pending`, so that a client sending the trigger event
/// in a loop cannot grow one user's state (rewritten whole on each change)
/// without bound. A bound beyond SPEC.md, which sets none: a campaign with
/// a short re-eligibility and a long delay could legitimately plan more,
/// e.g. `after: 0s` with a 7-day delay and over 100 triggers a week; the
/// README lists it among the limits.
pub const MAX_PENDING_PER_PAIR: usize = 100;

/// What the rules need to know of one (campaign, user) pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairState {
    /// Sends planned and not finished.
    pub pending: Vec<PendingSend>,
    /// The last receipt (`sent` or `control_group`), for R-R1/R-R2.
    pub last_receipt: Option<DateTime<Utc>>,
}

/// Everything a trigger-time decision reads besides the event.
#[derive(Clone, Copy)]
pub struct TriggerContext<'a> {
    /// The campaign.
    pub campaign: &'a Campaign,
    /// Its status.
    pub status: CampaignStatus,
    /// When it was launched.
    pub launched_at: Option<DateTime<Utc>>,
    /// The profile, already including the triggering event (R-A2).
    pub profile: &'a dyn ProfileView,
    /// The user's `time_zone` attribute, if any.
    pub user_zone: Option<&'a str>,
    /// The user's engagement instants (sessions, opens, clicks) for R-D3.
    pub engagement: &'a [DateTime<Utc>],
    /// The pair's state before this event.
    pub state: &'a PairState,
    /// When the event is processed. R-R2 is judged at the later of the
    /// event's time and this instant: an event processed late (a client
    /// retry after a timeout, a restart) is not refused against a receipt
    /// that came after the event but before it was processed.
    pub processed_at: DateTime<Utc>,
}

/// A planned send (R-W7 success).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `scheduled` or `rolled_to_next_window`.
    pub outcome: Outcome,
    /// The final due instant.
    pub due: DateTime<Utc>,
    /// The zone used for local times.
    pub zone: ZoneChoice,
    /// How the due instant was computed, for explain.
    pub detail: String,
}

/// What happened to the trigger part of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerOutcome {
    /// The event triggered and a send is planned.
    Planned(Plan),
    /// The event was of a trigger's kind but was refused.
    Refused {
        /// The outcome code.
        outcome: Outcome,
        /// A one-line reason for explain.
        detail: String,
    },
}

impl TriggerOutcome {
    /// The outcome code.
    pub fn outcome(&self) -> Outcome {
        match self {
            TriggerOutcome::Planned(p) => p.outcome,
            TriggerOutcome::Refused { outcome, .. } => *outcome,
        }
    }
}

/// A pending send the event ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    /// Which send.
    pub send_id: String,
    /// `cancelled_by_exception` (R-E2) or `rescheduled` (R-E4).
    pub outcome: Outcome,
}

/// The full decision for one (campaign, user, event).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// `None` when the event is not of any trigger's kind (nothing to record
    /// for the trigger part).
    pub trigger: Option<TriggerOutcome>,
    /// Pending sends this event ends.
    pub cancellations: Vec<Cancellation>,
    /// R-E5: the event performed this campaign's exception event and
    /// cancelled a pending send: emit `exception_event` for the campaign.
    pub emit_exception_event: bool,
}

impl Decision {
    /// True when the decision changes nothing and records nothing.
    pub fn is_empty(&self) -> bool {
        self.trigger.is_none() && self.cancellations.is_empty()
    }
}

impl Campaign {
    /// Does `event` match one of this campaign's exceptions? (R-E1: a
    /// `conversion` exception matches any of the conversion events.)
    /// Returns, for each pending send, whether the exception may cancel it (R-E6).
    fn exception_targets<'s>(
        &self,
        event: &Event,
        pending: &'s [PendingSend],
    ) -> Vec<&'s PendingSend> {
        let mut out: Vec<&PendingSend> = Vec::new();
        for m in &self.exceptions {
            let hit = if m.definition().kind == MatcherKind::Conversion {
                self.conversions.iter().any(|c| c.matches(event))
            } else {
                m.matches(event)
            };
            if !hit {
                continue;
            }
            for p in pending {
                // R-E2: only sends whose trigger happened strictly before the exception.
                if p.trigger_time < event.time
                    && m.correlates(&event.properties, &p.trigger_properties)
                    && !out.iter().any(|o| o.send_id == p.send_id)
                {
                    out.push(p);
                }
            }
        }
        out
    }

    /// How the event relates to the triggers: the best match over all of them.
    fn trigger_match(&self, event: &Event) -> TriggerMatch {
        let mut best = TriggerMatch::No;
        for t in &self.triggers {
            match t.matches(event) {
                TriggerMatch::Yes => return TriggerMatch::Yes,
                TriggerMatch::FiltersFailed => best = TriggerMatch::FiltersFailed,
                TriggerMatch::No => {}
            }
        }
        best
    }

    /// The zone for local times of this campaign for a user (see SPEC "local time").
    pub fn zone_for(&self, user_zone: Option<&str>) -> ZoneChoice {
        time::resolve_zone(user_zone, self.tz, self.def.schedule.local_time)
    }

    /// R-W7: decides what `event` does for this campaign and user.
    pub fn decide(&self, ctx: &TriggerContext<'_>, event: &Event) -> Decision {
        let targets = self.exception_targets(event, &ctx.state.pending);
        let matched = self.trigger_match(event);
        let trigger = (matched != TriggerMatch::No)
            .then(|| self.decide_trigger(ctx, event, matched, &targets));
        let rescheduling =
            matches!(trigger, Some(TriggerOutcome::Planned(_))) && !targets.is_empty();
        let cancel_outcome = if rescheduling {
            Outcome::Rescheduled
        } else {
            Outcome::CancelledByException
        };
        let cancellations: Vec<Cancellation> = targets
            .iter()
            .map(|p| Cancellation {
                send_id: p.send_id.clone(),
                outcome: cancel_outcome,
            })
            .collect();
        Decision {
            emit_exception_event: !cancellations.is_empty(),
            trigger,
            cancellations,
        }
    }

    fn decide_trigger(
        &self,
        ctx: &TriggerContext<'_>,
        event: &Event,
        matched: TriggerMatch,
        exception_targets: &[&PendingSend],
    ) -> TriggerOutcome {
        let refuse = |outcome: Outcome, detail: String| TriggerOutcome::Refused { outcome, detail };
        let t = event.time;
        match ctx.status {
            CampaignStatus::Active => {}
            CampaignStatus::Draft => {
                return refuse(
                    Outcome::CampaignStopped,
                    "campaign is a draft: not launched".into(),
                );
            }
            CampaignStatus::Stopped => {
                return refuse(Outcome::CampaignStopped, "campaign is stopped".into());
            }
        }
        if !launched_by(ctx.launched_at, t) {
            return refuse(
                Outcome::BeforeLaunch,
                format!(
                    "event at {} is before the campaign's launch at {}",
                    Rfc3339(t),
                    ctx.launched_at
                        .map_or_else(|| "never".to_string(), fmt_instant)
                ),
            );
        }
        if matched == TriggerMatch::FiltersFailed {
            return refuse(
                Outcome::PropertyFiltersNotMet,
                format!(
                    "{} did not meet the trigger's property filters",
                    event.label()
                ),
            );
        }
        if self.def.channel == Channel::InApp && event.source != Source::Sdk {
            return refuse(
                Outcome::IamRequiresSdkEvent,
                format!(
                    "in-app campaigns are triggered by SDK events only; this event came from {}",
                    event.source.as_str()
                ),
            );
        }
        let zones = Zones::resolve(ctx.user_zone, self.tz, self.def.schedule.local_time);
        let zone = &zones.local;
        if !self.def.schedule.contains(t, zone.tz) {
            return refuse(
                Outcome::OutsideDuration,
                format!(
                    "trigger at {} is outside the campaign's schedule ({})",
                    Rfc3339(t),
                    zone
                ),
            );
        }
        if let Some(w) = &self.def.window
            && !w.contains(t, zone.tz)
        {
            return refuse(
                Outcome::TriggerOutsideWindow,
                format!(
                    "trigger at {} local is outside the window {}–{} ({})",
                    t.with_timezone(&zone.tz).format("%H:%M"),
                    w.start,
                    w.end,
                    zone
                ),
            );
        }
        if let Some(seg) = &self.segment
            && !seg.matches(ctx.profile, t)
        {
            return refuse(
                Outcome::NotInSegment,
                "user is not in the campaign's segment".into(),
            );
        }
        // R-E4: the pending sends this event cancels are replaced by the new plan.
        let still_pending = ctx
            .state
            .pending
            .iter()
            .filter(|p| !exception_targets.iter().any(|x| x.send_id == p.send_id))
            .count();
        match (&self.def.reeligibility, ctx.state.last_receipt) {
            (None, Some(r)) => {
                return refuse(
                    Outcome::NotReeligible,
                    format!(
                        "user already received this campaign at {} and it has no re-eligibility",
                        Rfc3339(r)
                    ),
                );
            }
            (Some(re), Some(r)) if t.max(ctx.processed_at) < r + re.after.to_chrono() => {
                return refuse(
                    Outcome::NotReeligibleYet,
                    format!(
                        "last receipt at {}; re-eligible {} later, at {}",
                        Rfc3339(r),
                        re.after,
                        Rfc3339(r + re.after.to_chrono())
                    ),
                );
            }
            _ => {}
        }
        if self.def.reeligibility.is_none() && still_pending > 0 {
            return refuse(
                Outcome::AlreadyPending,
                "a send of this campaign is already pending for this user".into(),
            );
        }
        if still_pending >= MAX_PENDING_PER_PAIR {
            return refuse(
                Outcome::AlreadyPending,
                format!(
                    "{still_pending} sends of this campaign are already pending for this user, \
                     the most one user may have"
                ),
            );
        }
        let delay_zone = zones.for_delay(&self.def.delay).clone();
        // Windows are read in the local zone, which differs from the delay's
        // zone for intelligent timing without `local_time`.
        let window_zone = &zones.local;
        match time::plan_due(
            &self.def.delay,
            self.def.window.as_ref(),
            &self.def.schedule,
            t,
            &zones,
            ctx.engagement,
        ) {
            TimePlan::Due { due, rolled, trace } => TriggerOutcome::Planned(Plan {
                outcome: if rolled {
                    Outcome::RolledToNextWindow
                } else {
                    Outcome::Scheduled
                },
                due,
                detail: {
                    // One allocation, sized for the usual detail (hot path).
                    let mut detail = String::with_capacity(if rolled { 192 } else { 96 });
                    let _ = if rolled {
                        write!(
                            detail,
                            "{}: due {} ({}) was outside the window, rolled to the next opening {} (window in {})",
                            trace.timing,
                            Rfc3339(trace.due),
                            &delay_zone,
                            Rfc3339(due),
                            window_zone
                        )
                    } else {
                        write!(
                            detail,
                            "{}: due {} ({})",
                            trace.timing,
                            Rfc3339(due),
                            &delay_zone
                        )
                    };
                    detail
                },
                zone: delay_zone,
            }),
            TimePlan::Refused { reason, trace } => {
                let (outcome, detail) = match reason {
                    TimeRefusal::DelayExceedsDuration { due } => (
                        Outcome::DelayExceedsDuration,
                        format!(
                            "{}: due {} is at or after the campaign's end",
                            trace.timing,
                            Rfc3339(due)
                        ),
                    ),
                    TimeRefusal::DelayOutsideWindow { due } => {
                        return refuse(
                            Outcome::DelayOutsideWindow,
                            format!(
                                "{}: due {} ({} local, window in {}) is outside the window and next_available is false",
                                trace.timing,
                                Rfc3339(due),
                                due.with_timezone(&window_zone.tz).format("%H:%M"),
                                window_zone
                            ),
                        );
                    }
                    TimeRefusal::OutsideDurationAfterRoll { due, rolled_to } => (
                        Outcome::DelayExceedsDuration,
                        format!(
                            "due {} was outside the window; the next opening {} is at or after the campaign's end",
                            Rfc3339(due),
                            Rfc3339(rolled_to)
                        ),
                    ),
                };
                refuse(outcome, format!("{detail} ({})", &delay_zone))
            }
        }
    }
}

/// `2026-01-05T09:00:00Z` (milliseconds when not zero), as API answers print.
pub fn fmt_instant(t: DateTime<Utc>) -> String {
    Rfc3339(t).to_string()
}

/// Displays an instant as [`fmt_instant`] does, without an intermediate
/// `String` (decisions format their details on the hot path): RFC 3339 in
/// UTC with `Z`, fractional seconds only when not zero, in 3, 6 or 9 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub DateTime<Utc>);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let Ok(year) = u32::try_from(t.year()) else {
            return f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        };
        // Years chrono prints with a sign, and leap seconds (`:60`), are rare:
        // let chrono print them.
        if year > 9999 || t.nanosecond() >= 1_000_000_000 {
            return f.write_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        // Digits written into a stack buffer: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
        let mut buf = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, t.month());
        put(8, 2, t.day());
        put(11, 2, t.hour());
        put(14, 2, t.minute());
        put(17, 2, t.second());
        let nanos = t.nanosecond();
        put(20, 9, nanos);
        let digits = match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        };
        let end = if digits == 0 { 19 } else { 20 + digits };
        buf[end] = b'Z';
        // Only ASCII digits and separators were written.
        f.write_str(std::str::from_utf8(&buf[..=end]).map_err(|_| fmt::Error)?)
    }
}

/// "zone Europe/Paris (user's)" and the like, for explain details.
pub fn zone_label(zone: &ZoneChoice) -> String {
    zone.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn rfc3339_display_matches_chrono_auto_si() {
        let base = Utc
            .with_ymd_and_hms(2026, 3, 8, 7, 5, 9)
            .single()
            .expect("valid");
        for extra in [
            Duration::zero(),
            Duration::milliseconds(250),
            Duration::microseconds(1_500),
            Duration::nanoseconds(7),
            Duration::nanoseconds(1_000_000_000 - 1),
            Duration::days(-740_000),
            Duration::days(3_000_000),
        ] {
            let t = base + extra;
            assert_eq!(
                Rfc3339(t).to_string(),
                t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "{t:?}"
            );
        }
        let leap = DateTime::parse_from_rfc3339("2016-12-31T23:59:60.5Z")
            .expect("chrono reads leap seconds")
            .to_utc();
        assert_eq!(Rfc3339(leap).to_string(), "2016-12-31T23:59:60.500Z");
        assert_eq!(fmt_instant(base), "2026-03-08T07:05:09Z");
    }
}
