//! The drill's webhook campaigns and what the rules (SPEC §3, §5, §6) say
//! each trigger must cause, computed independently of the daemon.
//!
//! - one campaign per delay of [`crate::DrillConfig::delays`] (`after`
//!   delays, R-D1), each triggered by its own custom event;
//! - one campaign with a daily UTC window that closes in the middle of the
//!   load phase (`next_available: true`): triggers outside it record
//!   `trigger_outside_window` (R-W2), dues after it roll to the next
//!   opening (R-W3);
//! - every campaign has the exception `drill_cancel` correlated on the
//!   trigger's `token` property (R-E6), so one cancel targets one trigger;
//! - re-eligibility `0s` lets every trigger plan its own send (R-R4)
//!   without R-R3 ever refusing one at send time, which keeps the ledger
//!   exact. (`1s` would make the outcome of two sends of one user due
//!   within a second depend on delivery timing.)

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Timelike, Utc};
use serde_json::{Value, json};

use crate::clock;

/// The exception event every campaign shares.
pub const CANCEL_EVENT: &str = "drill_cancel";
/// The trigger property the exception correlates on.
pub const TOKEN_PROPERTY: &str = "token";

/// A daily window in UTC, `[start, end)` in minutes of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Opening, minutes after midnight UTC.
    pub start_min: u32,
    /// Closing, minutes after midnight UTC (may be < start: wraps).
    pub end_min: u32,
}

impl Window {
    fn minute_of(t: DateTime<Utc>) -> u32 {
        t.hour() * 60 + t.minute()
    }

    /// R-W1/R-W6: is the instant inside (start included, end excluded)?
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let m = Self::minute_of(t);
        if self.start_min < self.end_min {
            self.start_min <= m && m < self.end_min
        } else {
            m >= self.start_min || m < self.end_min
        }
    }

    /// R-W3/R-W6: the earliest instant at or after `t` that is inside.
    pub fn next_opening(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.contains(t) {
            return t;
        }
        let midnight = t.duration_trunc(TimeDelta::days(1)).unwrap_or(t);
        let today = midnight + Duration::minutes(i64::from(self.start_min));
        if today > t {
            today
        } else {
            today + Duration::days(1)
        }
    }

    /// The instant the window closes after `opening` (an instant inside).
    pub fn closing_after(&self, inside: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = inside.duration_trunc(TimeDelta::days(1)).unwrap_or(inside);
        let today = midnight + Duration::minutes(i64::from(self.end_min));
        if today > inside {
            today
        } else {
            today + Duration::days(1)
        }
    }

    fn hhmm(min: u32) -> String {
        format!("{:02}:{:02}", min / 60, min % 60)
    }

    /// Places a window whose closing minute falls near the middle of
    /// `[start, start + duration)`, open for about a quarter of it (at
    /// least one minute), so triggers fall before, inside and after it.
    pub fn around(start: DateTime<Utc>, duration_s: u64) -> Window {
        let mid = start + Duration::seconds(i64::try_from(duration_s / 2).unwrap_or(60));
        let minute = |t: DateTime<Utc>| t.duration_trunc(TimeDelta::minutes(1)).unwrap_or(t);
        let mut end = minute(mid + Duration::seconds(30));
        if end <= start {
            end = minute(start) + Duration::minutes(1);
        }
        let len = i64::try_from((duration_s / 240).max(1)).unwrap_or(1);
        let open = end - Duration::minutes(len);
        Window {
            start_min: Self::minute_of(open),
            end_min: Self::minute_of(end),
        }
    }
}

/// What the rules say a trigger at `t` causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Not planned, with the outcome code the daemon must count.
    Refused(&'static str),
    /// A send due at this instant (rolled when a window moved it).
    Due {
        /// The due instant.
        due: DateTime<Utc>,
        /// True when R-W3 moved it to the next opening.
        rolled: bool,
    },
}

/// One drill campaign.
#[derive(Debug, Clone)]
pub struct DrillCampaign {
    /// Campaign id.
    pub id: String,
    /// Name of the custom event that triggers it.
    pub trigger: String,
    /// `after` delay in seconds.
    pub delay_s: u64,
    /// Daily window, if any.
    pub window: Option<Window>,
}

impl DrillCampaign {
    /// R-W7 order for this campaign shape: R-W2 on the trigger, R-D1
    /// delay, R-W3 roll.
    pub fn plan(&self, t: DateTime<Utc>) -> Plan {
        let due = t + Duration::seconds(i64::try_from(self.delay_s).unwrap_or(0));
        match &self.window {
            None => Plan::Due { due, rolled: false },
            Some(w) if !w.contains(t) => Plan::Refused("trigger_outside_window"),
            Some(w) => {
                let opening = w.next_opening(due);
                Plan::Due {
                    due: opening,
                    rolled: opening != due,
                }
            }
        }
    }

    /// The JSON definition (`PUT /campaigns/{id}`).
    pub fn definition(&self, receiver_url: &str, schedule_start: DateTime<Utc>) -> Value {
        let token = format!("{{{{ event_properties.${{{TOKEN_PROPERTY}}} }}}}");
        let mut def = json!({
            "name": format!("drill {}", self.id),
            "channel": "webhook",
            "message": {
                "url": receiver_url,
                "method": "POST",
                "headers": {
                    "Content-Type": "application/json",
                    "X-Drill-Token": token,
                    "X-Drill-User": "{{ ${external_id} }}",
                    "X-Drill-Campaign": "{{ campaign.id }}"
                },
                "body": format!(
                    "{{\"token\":\"{token}\",\"user\":\"{{{{ ${{external_id}} }}}}\",\"send\":\"{{{{ send.id }}}}\",\"due\":\"{{{{ send.due }}}}\",\"seq\":\"{{{{ custom_attribute.${{drill_seq}} }}}}\"}}"
                )
            },
            "triggers": [{"type": "custom_event", "name": self.trigger}],
            "delay": {"type": "after", "duration": format!("{}s", self.delay_s)},
            "exceptions": [{"type": "custom_event", "name": CANCEL_EVENT, "correlate_on": TOKEN_PROPERTY}],
            "schedule": {"start": clock::fmt(schedule_start)},
            "time_zone": "UTC",
            "reeligibility": {"after": "0s"}
        });
        if let (Some(w), Some(obj)) = (&self.window, def.as_object_mut()) {
            obj.insert(
                "window".into(),
                json!({"start": Window::hhmm(w.start_min), "end": Window::hhmm(w.end_min), "next_available": true}),
            );
        }
        def
    }
}

/// The campaigns of a drill: one per delay, plus the window campaign.
pub fn campaign_set(delays: &[u64], window: Window) -> Vec<DrillCampaign> {
    let mut set: Vec<DrillCampaign> = delays
        .iter()
        .map(|d| DrillCampaign {
            id: format!("drill-d{d}"),
            trigger: format!("drill_trigger_d{d}"),
            delay_s: *d,
            window: None,
        })
        .collect();
    set.push(DrillCampaign {
        id: "drill-window".into(),
        trigger: "drill_trigger_window".into(),
        delay_s: 5.min(delays.iter().copied().max().unwrap_or(5)),
        window: Some(window),
    });
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        clock::parse(s).expect("instant")
    }

    fn win() -> DrillCampaign {
        DrillCampaign {
            id: "w".into(),
            trigger: "t".into(),
            delay_s: 5,
            window: Some(Window {
                start_min: 10 * 60,
                end_min: 10 * 60 + 2,
            }),
        }
    }

    #[test]
    fn r_w2_trigger_outside_the_window_is_refused() {
        assert_eq!(
            win().plan(at("2026-01-05T09:59:59.999Z")),
            Plan::Refused("trigger_outside_window")
        );
        assert_eq!(
            win().plan(at("2026-01-05T10:02:00Z")),
            Plan::Refused("trigger_outside_window")
        );
    }

    #[test]
    fn r_w3_due_after_the_closing_rolls_to_the_next_opening() {
        assert_eq!(
            win().plan(at("2026-01-05T10:00:10Z")),
            Plan::Due {
                due: at("2026-01-05T10:00:15Z"),
                rolled: false
            }
        );
        assert_eq!(
            win().plan(at("2026-01-05T10:01:56Z")),
            Plan::Due {
                due: at("2026-01-06T10:00:00Z"),
                rolled: true
            }
        );
    }

    #[test]
    fn r_w1_windows_wrapping_midnight() {
        let w = Window {
            start_min: 23 * 60,
            end_min: 60,
        };
        assert!(w.contains(at("2026-01-05T23:30:00Z")));
        assert!(w.contains(at("2026-01-06T00:59:59Z")));
        assert!(!w.contains(at("2026-01-06T01:00:00Z")));
        assert_eq!(
            w.next_opening(at("2026-01-06T01:00:00Z")),
            at("2026-01-06T23:00:00Z")
        );
        assert_eq!(
            w.closing_after(at("2026-01-05T23:30:00Z")),
            at("2026-01-06T01:00:00Z")
        );
    }

    #[test]
    fn the_window_closes_inside_the_load_phase() {
        for start in [
            "2026-01-05T10:00:50Z",
            "2026-01-05T10:00:00Z",
            "2026-01-05T23:59:10Z",
        ] {
            let s = at(start);
            for dur in [70u64, 120, 600] {
                let w = Window::around(s, dur);
                let close = w.closing_after(w.next_opening(s));
                assert!(close > s, "{start} {dur}: closes after the start");
                assert!(
                    close <= s + Duration::seconds(dur as i64),
                    "{start} {dur}: closes before the load ends ({close})"
                );
            }
        }
    }

    #[test]
    fn definitions_carry_the_drill_headers_and_exception() {
        let c = &campaign_set(
            &[2],
            Window {
                start_min: 0,
                end_min: 1,
            },
        )[0];
        let d = c.definition("http://127.0.0.1:1/hook", at("2026-01-05T00:00:00Z"));
        assert_eq!(
            d["message"]["headers"]["X-Drill-Token"],
            "{{ event_properties.${token} }}"
        );
        assert_eq!(d["exceptions"][0]["correlate_on"], "token");
        assert_eq!(d["delay"]["duration"], "2s");
        let body = d["message"]["body"].as_str().expect("body");
        assert!(
            body.contains("{{ send.id }}") && body.contains("{{ ${external_id} }}"),
            "{body}"
        );
    }
}
