//! Reading explain answers (R-Y1): the timeline entries, which send a
//! trigger planned, how that send ended, and the backdated R-R2 refusal.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::clock;

/// Journal entries the daemon keeps per (campaign, user) pair
/// (`JOURNAL_KEPT` in the daemon's `src/engine/user.rs`): older ones are
/// dropped, so a timeline this long may be missing its oldest decisions.
pub const JOURNAL_KEPT: usize = 100;

/// True when the timeline may have lost entries to the journal's cap.
pub(super) fn is_truncated(explain: &Value) -> bool {
    entries(explain).len() >= JOURNAL_KEPT
}

/// The timeline entries of an explain answer.
pub(super) fn entries(explain: &Value) -> &[Value] {
    explain
        .get("timeline")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A string field of a JSON object.
pub(super) fn str_of<'v>(v: &'v Value, k: &str) -> Option<&'v str> {
    v.get(k).and_then(Value::as_str)
}

/// True for the outcomes that plan a send.
pub(super) fn is_plan(outcome: &str) -> bool {
    outcome == "scheduled" || outcome == "rolled_to_next_window"
}

/// The send id a (campaign, user) timeline planned for the trigger at `t`:
/// the plan entry recorded at the event's time (the drill's event times are
/// unique per user), else the only plan entry for that due (several sends
/// rolled to one window opening share a due, so a shared due is no answer).
pub(super) fn send_for_trigger(
    explain: &Value,
    t: DateTime<Utc>,
    due: DateTime<Utc>,
) -> Option<String> {
    let plans = || {
        entries(explain)
            .iter()
            .filter(|e| str_of(e, "outcome").is_some_and(is_plan))
    };
    let by_time = plans().find(|e| str_of(e, "at").and_then(clock::parse) == Some(t));
    let by_due = || {
        let mut same = plans().filter(|e| str_of(e, "due").and_then(clock::parse) == Some(due));
        match (same.next(), same.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    };
    by_time
        .or_else(by_due)
        .and_then(|e| str_of(e, "send_id"))
        .map(str::to_string)
}

/// Daemon finding (see the crate docs): a trigger whose event time `t` is
/// earlier than a receipt recorded before the event was processed is
/// refused `not_reeligible_yet` even with re-eligibility `0s`, because the
/// trigger-time R-R2 check compares `t` with the latest receipt, not with
/// the latest receipt before `t`. Returns that receipt when the timeline
/// shows exactly this refusal for the event at `t`.
pub(super) fn backdated_refusal(explain: &Value, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let e = entries(explain).iter().find(|e| {
        str_of(e, "outcome") == Some("not_reeligible_yet")
            && str_of(e, "at").and_then(clock::parse) == Some(t)
    })?;
    let detail = str_of(e, "detail")?;
    let receipt = detail
        .strip_prefix("last receipt at ")?
        .split(';')
        .next()
        .and_then(clock::parse)?;
    (receipt > t).then_some(receipt)
}

/// The last timeline entry about a send.
pub(super) fn last_about<'v>(explain: &'v Value, send_id: &str) -> Option<&'v Value> {
    entries(explain)
        .iter()
        .rev()
        .find(|e| str_of(e, "send_id") == Some(send_id))
}

/// A one-line account of the send planned for `due` in an explain answer.
pub(super) fn describe(explain: Option<&Value>, t: DateTime<Utc>, due: DateTime<Utc>) -> String {
    let Some(x) = explain else {
        return "no explain answer".into();
    };
    let cap = if is_truncated(x) {
        " (timeline at the journal cap: older entries dropped)"
    } else {
        ""
    };
    match send_for_trigger(x, t, due) {
        None => format!(
            "no send planned for that trigger (verdict {:?}){cap}",
            str_of(x, "verdict")
        ),
        Some(sid) => {
            let trail: Vec<String> = entries(x)
                .iter()
                .filter(|e| str_of(e, "send_id") == Some(sid.as_str()))
                .map(|e| {
                    format!(
                        "{} {} ({})",
                        str_of(e, "at").unwrap_or("?"),
                        str_of(e, "outcome").unwrap_or("?"),
                        str_of(e, "detail").unwrap_or("")
                    )
                })
                .collect();
            format!("send {sid}: {}", trail.join("; "))
        }
    }
}
