//! The end-of-drill invariants (SPEC §11, R-K1–R-K3, with R-E2, R-W3,
//! R-X1, R-X3, R-Y1): the ledger's expectations against the receiver's log,
//! the kill log, and what the daemon reports (stats, exported profiles,
//! explain timelines).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::campaigns::{CANCEL_EVENT, DrillCampaign};
use crate::chaos::{KillKind, KillRecord};
use crate::classify::{Expect, classify};
use crate::clock;
use crate::findings::{Findings, quantile};
use crate::ledger::{Ack, Ledger, TriggerRec};
use crate::load::as_u64;
use crate::receiver::Arrival;

/// Slack for "a late send never lands outside the window": the check runs
/// at fire time, the request reaches the receiver a little later.
const WINDOW_DISPATCH_SLACK: Duration = Duration::seconds(2);

/// What the daemon and the receiver reported, gathered after the drain.
#[derive(Debug, Default)]
pub struct Evidence {
    /// Every webhook request the receiver saw.
    pub arrivals: Vec<Arrival>,
    /// Every kill.
    pub kills: Vec<KillRecord>,
    /// `GET /campaigns/{id}/stats` per campaign id.
    pub stats: BTreeMap<String, Value>,
    /// Exported profile per user (absent: the daemon does not know it).
    pub exports: BTreeMap<String, Value>,
    /// Explain answers per (campaign id, user).
    pub explains: BTreeMap<(String, String), Value>,
}

/// Per (campaign index, user) adjustments found while checking tokens.
#[derive(Debug, Default)]
struct Tally {
    /// Sends planned beyond one per token (a request applied twice).
    extra_plans: HashMap<(usize, String), u64>,
    /// Triggers refused by the backdated R-R2 comparison.
    backdated: HashMap<(usize, String), u64>,
    /// Their indexes in the ledger.
    backdated_tokens: HashSet<usize>,
}

/// The ledger with every trigger's expectation.
pub struct Checker<'a> {
    ledger: &'a Ledger,
    campaigns: &'a [DrillCampaign],
    expects: Vec<Expect>,
    tolerance: Duration,
    strict: bool,
}

fn entries(explain: &Value) -> &[Value] {
    explain
        .get("timeline")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn str_of<'v>(v: &'v Value, k: &str) -> Option<&'v str> {
    v.get(k).and_then(Value::as_str)
}

fn is_plan(outcome: &str) -> bool {
    outcome == "scheduled" || outcome == "rolled_to_next_window"
}

/// The send id a (campaign, user) timeline planned for the trigger at `t`:
/// the plan entry recorded at the event's time (the drill's event times are
/// unique per user), else the only plan entry for that due (several sends
/// rolled to one window opening share a due, so a shared due is no answer).
fn send_for_trigger(explain: &Value, t: DateTime<Utc>, due: DateTime<Utc>) -> Option<String> {
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
fn backdated_refusal(explain: &Value, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
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
fn last_about<'v>(explain: &'v Value, send_id: &str) -> Option<&'v Value> {
    entries(explain)
        .iter()
        .rev()
        .find(|e| str_of(e, "send_id") == Some(send_id))
}

impl<'a> Checker<'a> {
    /// Classifies every trigger at `horizon`.
    pub fn new(
        ledger: &'a Ledger,
        campaigns: &'a [DrillCampaign],
        horizon: DateTime<Utc>,
        tolerance: Duration,
        strict: bool,
    ) -> Checker<'a> {
        let expects = ledger
            .triggers
            .iter()
            .map(|r| classify(r, horizon, tolerance))
            .collect();
        Checker {
            ledger,
            campaigns,
            expects,
            tolerance,
            strict,
        }
    }

    /// Tokens that must be delivered and are not yet (drain progress).
    pub fn undelivered(&self, arrivals: &[Arrival]) -> Vec<&TriggerRec> {
        let delivered: BTreeSet<&str> = arrivals
            .iter()
            .filter(|a| a.accepted())
            .filter_map(|a| a.token.as_deref())
            .collect();
        self.ledger
            .triggers
            .iter()
            .zip(&self.expects)
            .filter(|(r, e)| {
                matches!(e, Expect::Deliver { .. }) && !delivered.contains(r.token.as_str())
            })
            .map(|(r, _)| r)
            .collect()
    }

    /// The latest due of a send that must be delivered.
    pub fn last_due(&self) -> Option<DateTime<Utc>> {
        self.expects
            .iter()
            .filter_map(|e| match e {
                Expect::Deliver { due } | Expect::CancelRace { due } => Some(*due),
                _ => None,
            })
            .max()
    }

    /// Sends expected pending at the end (rolled past the drill).
    pub fn expected_pending(&self) -> u64 {
        self.expects
            .iter()
            .filter(|e| matches!(e, Expect::Pending { .. }))
            .count() as u64
    }

    /// The (campaign, user) pairs whose explain the checks read: the sample
    /// users' pairs, and the pairs of every trigger that must be resolved
    /// through its timeline (expected delivered or raced, and not delivered).
    pub fn explain_pairs(
        &self,
        arrivals: &[Arrival],
        sample: &[String],
    ) -> BTreeSet<(String, String)> {
        let delivered: BTreeSet<&str> = arrivals
            .iter()
            .filter(|a| a.accepted())
            .filter_map(|a| a.token.as_deref())
            .collect();
        let sample: BTreeSet<&str> = sample.iter().map(String::as_str).collect();
        let mut pairs = BTreeSet::new();
        for (r, e) in self.ledger.triggers.iter().zip(&self.expects) {
            let cid = self.campaigns[r.campaign].id.clone();
            let unresolved = e.due().is_some() && !delivered.contains(r.token.as_str());
            if unresolved || sample.contains(r.user.as_str()) {
                pairs.insert((cid, r.user.clone()));
            }
        }
        pairs
    }

    /// Runs every check.
    pub fn check(&self, ev: &Evidence, sample: &[String]) -> Findings {
        let mut f = Findings::default();
        let mut by_token: HashMap<&str, Vec<&Arrival>> = HashMap::new();
        for a in &ev.arrivals {
            match a.token.as_deref() {
                Some(t) => by_token.entry(t).or_default().push(a),
                None => f.violate(
                    "phantom_delivery",
                    format!(
                        "request without a drill token: send {:?} at {}",
                        a.send_id, a.at
                    ),
                ),
            }
        }
        let known: BTreeSet<&str> = self
            .ledger
            .triggers
            .iter()
            .map(|r| r.token.as_str())
            .collect();
        for (token, list) in &by_token {
            if !known.contains(token) {
                f.violate(
                    "phantom_delivery",
                    format!("token {token} was never sent ({} requests)", list.len()),
                );
            }
        }
        for a in &ev.arrivals {
            if a.idempotency_key != a.send_id || a.send_id.is_none() {
                f.violate(
                    "idempotency_key_mismatch",
                    format!(
                        "send id {:?} with Idempotency-Key {:?} (token {:?})",
                        a.send_id, a.idempotency_key, a.token
                    ),
                );
            }
        }
        let mut tally = Tally::default();
        let mut lateness = Vec::new();
        for (i, (r, e)) in self.ledger.triggers.iter().zip(&self.expects).enumerate() {
            let arrivals = by_token.get(r.token.as_str()).cloned().unwrap_or_default();
            let (extra, backdated) = self.per_token(&mut f, r, *e, &arrivals, ev, &mut lateness);
            let key = (r.campaign, r.user.clone());
            if extra > 0 {
                *tally.extra_plans.entry(key.clone()).or_default() += extra;
            }
            if backdated {
                *tally.backdated.entry(key).or_default() += 1;
                tally.backdated_tokens.insert(i);
            }
        }
        f.sends.lateness_p50_ms = quantile(&lateness, 0.5);
        f.sends.lateness_p99_ms = quantile(&lateness, 0.99);
        f.sends.lateness_max_ms = quantile(&lateness, 1.0);
        self.duplicates(&mut f, ev);
        self.retry_after(&mut f, ev);
        self.stats(&mut f, ev, &tally);
        self.exports(&mut f, ev, &tally);
        self.explains(&mut f, ev, sample, &tally);
        f
    }

    /// Checks one trigger; returns how many extra sends it planned (more
    /// than one send id for one token), and whether the daemon refused it
    /// by the backdated R-R2 comparison (see [`backdated_refusal`]).
    fn per_token(
        &self,
        f: &mut Findings,
        r: &TriggerRec,
        e: Expect,
        arrivals: &[&Arrival],
        ev: &Evidence,
        lateness: &mut Vec<f64>,
    ) -> (u64, bool) {
        let campaign = &self.campaigns[r.campaign];
        let accepted: Vec<&&Arrival> = arrivals.iter().filter(|a| a.accepted()).collect();
        let send_ids: BTreeSet<&str> = arrivals
            .iter()
            .filter_map(|a| a.send_id.as_deref())
            .collect();
        // Never early: every attempt, against the ledger's own due.
        let plan_due = match r.plan {
            crate::campaigns::Plan::Due { due, .. } => Some(due),
            crate::campaigns::Plan::Refused(_) => None,
        };
        if let Some(due) = plan_due {
            if let Some(a) = arrivals.iter().find(|a| a.at + self.tolerance < due) {
                f.sends.early += 1;
                f.violate(
                    "delivered_early",
                    format!(
                        "token {} send {:?} arrived {} before its due {} ({} ms early)",
                        r.token,
                        a.send_id,
                        clock::fmt(a.at),
                        clock::fmt(due),
                        (due - a.at).num_milliseconds()
                    ),
                );
            }
            if let Some(a) = arrivals.iter().find(|a| a.due.is_some_and(|d| d != due)) {
                f.violate(
                    "due_mismatch",
                    format!(
                        "token {}: X-Triggerd-Due {:?} but the rules give {}",
                        r.token,
                        a.due.map(clock::fmt),
                        clock::fmt(due)
                    ),
                );
            }
        }
        let extra = send_ids.len().saturating_sub(1) as u64;
        if extra > 0 {
            let detail = format!(
                "token {} (user {}) delivered under send ids {send_ids:?}",
                r.token, r.user
            );
            f.sends.duplicate_other_key += 1;
            if r.ack.retried() || r.ack == Ack::Unacked {
                f.known_issue(self.strict, "retried_request_applied_twice", detail);
            } else {
                f.violate("duplicate_other_key", detail);
            }
        }
        if let (Some(w), Some(first)) = (&campaign.window, accepted.first())
            && !w.contains(first.at)
            && !w.contains(first.at - WINDOW_DISPATCH_SLACK)
        {
            if first.attempt.unwrap_or(1) <= 1 {
                f.violate(
                    "delivered_outside_window",
                    format!(
                        "token {} first delivered at {}",
                        r.token,
                        clock::fmt(first.at)
                    ),
                );
            } else {
                f.notes.push(format!(
                    "token {}: a retry (attempt {:?}) landed outside the window at {}",
                    r.token,
                    first.attempt,
                    clock::fmt(first.at)
                ));
            }
        }
        let explain = ev.explains.get(&(campaign.id.clone(), r.user.clone()));
        // A planned trigger the daemon refused by the backdated R-R2
        // comparison: counted apart whatever its class (see
        // `backdated_refusal`).
        if e.due().is_some()
            && accepted.is_empty()
            && let Some(receipt) = explain.and_then(|x| backdated_refusal(x, r.t))
        {
            f.per_campaign
                .entry(campaign.id.clone())
                .or_default()
                .triggers += 1;
            self.note_backdated(f, r, receipt);
            return (extra, true);
        }
        let pc = f.per_campaign.entry(campaign.id.clone()).or_default();
        pc.delay_s = campaign.delay_s;
        if r.ack.at().is_some() {
            pc.triggers += 1;
        }
        match e {
            Expect::Deliver { .. } => {
                pc.expected += 1;
                pc.delivered += u64::from(!accepted.is_empty());
            }
            Expect::Cancel { .. } => pc.cancelled += 1,
            Expect::CancelRace { .. } => pc.races += 1,
            Expect::Pending { .. } => pc.pending += 1,
            Expect::Refused { .. } => pc.refused += 1,
            Expect::Unacked => {}
        }
        match e {
            Expect::Deliver { due } => {
                f.sends.expected += 1;
                if let Some(first) = accepted.first() {
                    f.sends.delivered += 1;
                    lateness.push((first.at - due).num_milliseconds() as f64);
                } else {
                    let late_roll = explain.and_then(|x| {
                        let sid = send_for_trigger(x, r.t, due)?;
                        let last = last_about(x, &sid)?;
                        let closing = campaign.window.map(|w| w.closing_after(due))?;
                        (str_of(last, "outcome") == Some("rolled_to_next_window")
                            && str_of(last, "at")
                                .and_then(clock::parse)
                                .is_some_and(|at| at >= closing))
                        .then_some(())
                    });
                    if late_roll.is_some() {
                        f.sends.late_rolls += 1;
                    } else {
                        f.sends.lost += 1;
                        f.violate(
                            "lost_send",
                            format!(
                                "token {} (campaign {}, user {}, due {}) never delivered; daemon says: {}",
                                r.token,
                                campaign.id,
                                r.user,
                                clock::fmt(due),
                                describe(explain, r.t, due)
                            ),
                        );
                    }
                }
            }
            Expect::Cancel { due } => {
                f.sends.cancel_expected += 1;
                if let Some(a) = accepted.first() {
                    f.sends.cancelled_but_delivered += 1;
                    let acked = r.cancel.as_ref().and_then(|c| c.ack.at());
                    f.violate(
                        "delivered_after_cancel",
                        format!(
                            "token {} delivered at {} though its exception was acknowledged at {:?}, before the due {}",
                            r.token,
                            clock::fmt(a.at),
                            acked.map(clock::fmt),
                            clock::fmt(due)
                        ),
                    );
                } else if let Some(x) = explain {
                    let cancelled = send_for_trigger(x, r.t, due).and_then(|sid| {
                        last_about(x, &sid)
                            .and_then(|l| str_of(l, "outcome"))
                            .map(str::to_string)
                    });
                    if let Some(outcome) = cancelled
                        && outcome != "cancelled_by_exception"
                    {
                        f.violate(
                            "explain_disagrees",
                            format!(
                                "token {}: cancelled before its due but explain says {outcome}",
                                r.token
                            ),
                        );
                    }
                }
            }
            Expect::CancelRace { due } => {
                f.sends.cancel_races += 1;
                if !accepted.is_empty() {
                    f.sends.cancel_races_delivered += 1;
                } else {
                    let outcome = explain.and_then(|x| {
                        let sid = send_for_trigger(x, r.t, due)?;
                        last_about(x, &sid)
                            .and_then(|l| str_of(l, "outcome"))
                            .map(str::to_string)
                    });
                    if outcome.as_deref() != Some("cancelled_by_exception") {
                        f.sends.lost += 1;
                        f.violate(
                            "lost_send",
                            format!(
                                "token {} (cancel raced the due {}) neither delivered nor cancelled; daemon says: {}",
                                r.token,
                                clock::fmt(due),
                                describe(explain, r.t, due)
                            ),
                        );
                    }
                }
            }
            Expect::Pending { due } => {
                f.sends.pending_rolled += 1;
                if !arrivals.is_empty() {
                    f.violate(
                        "delivered_early",
                        format!(
                            "token {} rolled to {} was delivered",
                            r.token,
                            clock::fmt(due)
                        ),
                    );
                }
            }
            Expect::Refused { outcome } => {
                f.sends.not_planned += 1;
                if !arrivals.is_empty() {
                    f.violate(
                        "unexpected_delivery",
                        format!(
                            "token {} should be refused ({outcome}) but was sent",
                            r.token
                        ),
                    );
                }
            }
            Expect::Unacked => {
                f.sends.unacked += 1;
                if !accepted.is_empty() {
                    f.sends.unacked_delivered += 1;
                }
            }
        }
        (extra, false)
    }

    fn note_backdated(&self, f: &mut Findings, r: &TriggerRec, receipt: DateTime<Utc>) {
        f.sends.reeligibility_backdated += 1;
        let detail = format!(
            "token {} (user {}, event time {}) refused not_reeligible_yet against a receipt at {} recorded after the event, with re-eligibility 0s",
            r.token,
            r.user,
            clock::fmt(r.t),
            clock::fmt(receipt)
        );
        f.known_issue(self.strict, "reeligibility_backdated", detail);
    }

    /// Same send id accepted more than once: allowed only across a crash.
    fn duplicates(&self, f: &mut Findings, ev: &Evidence) {
        let mut by_send: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
        for a in ev.arrivals.iter().filter(|a| a.accepted()) {
            if let Some(s) = a.send_id.as_deref() {
                by_send.entry(s).or_default().push(a);
            }
        }
        for (send, list) in by_send {
            if list.len() < 2 {
                continue;
            }
            f.sends.duplicated_sends += 1;
            for pair in list.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let between: Vec<&KillRecord> = ev
                    .kills
                    .iter()
                    .filter(|k| k.separates(a.at, b.at))
                    .collect();
                if between.iter().any(|k| k.done.is_sigkill()) {
                    f.sends.duplicate_same_key += 1;
                } else if between.iter().any(|k| k.done == KillKind::Sigterm) {
                    f.violate(
                        "duplicate_across_sigterm",
                        format!(
                            "send {send} delivered at {} and again at {} with only a graceful stop between",
                            clock::fmt(a.at),
                            clock::fmt(b.at)
                        ),
                    );
                } else {
                    f.violate(
                        "duplicate_without_crash",
                        format!(
                            "send {send} delivered at {} and again at {} with no kill between",
                            clock::fmt(a.at),
                            clock::fmt(b.at)
                        ),
                    );
                }
            }
        }
    }

    /// R-X3: the attempt after a 429 waits for its `Retry-After` (unless a
    /// crash lost the answer).
    fn retry_after(&self, f: &mut Findings, ev: &Evidence) {
        let mut by_send: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
        for a in &ev.arrivals {
            if let Some(s) = a.send_id.as_deref() {
                by_send.entry(s).or_default().push(a);
            }
        }
        for (send, list) in by_send {
            for pair in list.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let Some(secs) = a.retry_after else { continue };
                if ev.kills.iter().any(|k| k.separates(a.at, b.at)) {
                    continue;
                }
                f.sends.retry_after_checked += 1;
                let earliest = a.at + Duration::seconds(secs as i64);
                if b.at + self.tolerance < earliest {
                    f.violate(
                        "retry_after_ignored",
                        format!(
                            "send {send}: 429 with Retry-After {secs} at {}, next attempt at {}",
                            clock::fmt(a.at),
                            clock::fmt(b.at)
                        ),
                    );
                }
            }
        }
    }

    /// R-Y2 counters against the ledger.
    fn stats(&self, f: &mut Findings, ev: &Evidence, tally: &Tally) {
        for (ci, c) in self.campaigns.iter().enumerate() {
            let Some(s) = ev.stats.get(&c.id) else {
                f.violate("stats_missing", format!("no stats for {}", c.id));
                continue;
            };
            let mine = || {
                self.ledger
                    .triggers
                    .iter()
                    .zip(&self.expects)
                    .enumerate()
                    .filter(move |(i, (r, _))| {
                        r.campaign == ci && !tally.backdated_tokens.contains(i)
                    })
                    .map(|(_, pair)| pair)
            };
            let planned = |e: &Expect| e.due().is_some();
            let acked_planned = mine().filter(|(_, e)| planned(e)).count() as u64;
            let unacked_planned = mine()
                .filter(|(r, e)| {
                    **e == Expect::Unacked && matches!(r.plan, crate::campaigns::Plan::Due { .. })
                })
                .count() as u64;
            let acked_refused = mine()
                .filter(|(_, e)| matches!(e, Expect::Refused { .. }))
                .count() as u64;
            let unacked_refused = mine()
                .filter(|(r, e)| {
                    **e == Expect::Unacked && matches!(r.plan, crate::campaigns::Plan::Refused(_))
                })
                .count() as u64;
            let sum_for = |m: &HashMap<(usize, String), u64>| -> u64 {
                m.iter()
                    .filter(|((k, _), _)| *k == ci)
                    .map(|(_, n)| n)
                    .sum()
            };
            let dup = sum_for(&tally.extra_plans);
            let backdated = sum_for(&tally.backdated);
            let scheduled = s.get("scheduled").and_then(as_u64).unwrap_or(0);
            let lo = acked_planned + dup;
            let hi = lo + unacked_planned;
            if scheduled < lo {
                f.violate(
                    "lost_event",
                    format!("{}: stats count {scheduled} planned sends, the ledger has {lo} acknowledged", c.id),
                );
            } else if scheduled > hi {
                f.violate(
                    "stats_mismatch",
                    format!(
                        "{}: stats count {scheduled} planned sends, at most {hi} possible",
                        c.id
                    ),
                );
            }
            let outcomes = s
                .get("outcomes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let refused = outcomes
                .get("trigger_outside_window")
                .and_then(as_u64)
                .unwrap_or(0);
            if refused < acked_refused || refused > acked_refused + unacked_refused {
                f.violate(
                    "stats_mismatch",
                    format!(
                        "{}: trigger_outside_window {refused}, the ledger says {acked_refused} (+{unacked_refused} unacknowledged)",
                        c.id
                    ),
                );
            }
            for (k, v) in &outcomes {
                if k == "not_reeligible_yet" && as_u64(v).unwrap_or(0) <= backdated {
                    continue;
                }
                if !matches!(
                    k.as_str(),
                    "sent" | "cancelled_by_exception" | "trigger_outside_window"
                ) {
                    f.violate(
                        "unexpected_outcome",
                        format!("{}: {} send(s) ended {k}", c.id, as_u64(v).unwrap_or(0)),
                    );
                }
            }
            let pending = s.get("pending").and_then(as_u64).unwrap_or(0);
            let p_lo = mine()
                .filter(|(_, e)| matches!(e, Expect::Pending { .. }))
                .count() as u64;
            let p_hi = p_lo
                + f.sends.late_rolls
                + unacked_planned
                + mine()
                    .filter(|(_, e)| matches!(e, Expect::CancelRace { .. }))
                    .count() as u64;
            if pending < p_lo || pending > p_hi {
                f.violate(
                    "stats_pending_mismatch",
                    format!(
                        "{}: {pending} pending, expected between {p_lo} and {p_hi}",
                        c.id
                    ),
                );
            }
        }
    }

    /// R-K1: every acknowledged event and attribute update is in the
    /// exported profile, exactly once.
    fn exports(&self, f: &mut Findings, ev: &Evidence, tally: &Tally) {
        for (user, rec) in &self.ledger.users {
            let names: BTreeSet<&String> = rec
                .events_acked
                .keys()
                .chain(rec.events_unacked.keys())
                .collect();
            if names.is_empty() && rec.last_seq.is_none() && rec.later_unacked_seqs.is_empty() {
                continue;
            }
            f.sends.users_exported += 1;
            let Some(profile) = ev.exports.get(user) else {
                if rec.events_acked.values().sum::<u64>() > 0 || rec.last_seq.is_some() {
                    f.violate("lost_event", format!("user {user} unknown to the daemon"));
                }
                continue;
            };
            let counts: BTreeMap<&str, u64> = profile
                .get("custom_events")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| {
                            Some((str_of(e, "name")?, e.get("count").and_then(as_u64)?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            for name in names {
                let acked = rec.events_acked.get(name).copied().unwrap_or(0);
                let unacked = rec.events_unacked.get(name).copied().unwrap_or(0);
                let dup: u64 = if name == CANCEL_EVENT {
                    0
                } else {
                    self.campaigns
                        .iter()
                        .position(|c| &c.trigger == name)
                        .and_then(|ci| tally.extra_plans.get(&(ci, user.clone())))
                        .copied()
                        .unwrap_or(0)
                };
                let got = counts.get(name.as_str()).copied().unwrap_or(0);
                if got < acked + dup {
                    f.violate(
                        "lost_event",
                        format!("user {user}: {got} {name} events on record, {acked} acknowledged"),
                    );
                } else if got > acked + dup + unacked {
                    let detail = format!(
                        "user {user}: {got} {name} events on record, {acked} acknowledged + {unacked} unacknowledged"
                    );
                    let retried = rec.events_retried.get(name).copied().unwrap_or(0);
                    if got - (acked + dup + unacked) <= retried {
                        f.known_issue(self.strict, "retried_request_applied_twice", detail);
                    } else {
                        f.violate("event_applied_twice", detail);
                    }
                }
            }
            let attrs = profile.get("custom_attributes");
            let seq = attrs.and_then(|a| a.get("drill_seq")).and_then(as_u64);
            let allowed: Vec<Option<u64>> = std::iter::once(rec.last_seq)
                .chain(rec.later_unacked_seqs.iter().map(|s| Some(*s)))
                .collect();
            if !allowed.contains(&seq) {
                f.violate(
                    "lost_attribute_update",
                    format!(
                        "user {user}: drill_seq is {seq:?}, the last acknowledged update set {:?}",
                        rec.last_seq
                    ),
                );
            }
            let visits = attrs
                .and_then(|a| a.get("drill_visits"))
                .and_then(as_u64)
                .unwrap_or(0);
            let detail = format!(
                "user {user}: drill_visits is {visits}, {} increments acknowledged (+{} not, {} after a retry)",
                rec.visits_acked, rec.visits_unacked, rec.visits_retried
            );
            let most = rec.visits_acked + rec.visits_unacked;
            if visits < rec.visits_acked {
                f.violate("lost_attribute_update", detail);
            } else if visits > most && visits - most <= rec.visits_retried {
                f.known_issue(self.strict, "retried_request_applied_twice", detail);
            } else if visits > most {
                f.violate("attribute_applied_twice", detail);
            }
        }
    }

    /// R-Y1: for the sample users, each campaign's explain timeline agrees
    /// with the ledger and with what the receiver accepted.
    fn explains(&self, f: &mut Findings, ev: &Evidence, sample: &[String], tally: &Tally) {
        for user in sample {
            for (ci, c) in self.campaigns.iter().enumerate() {
                let mine: Vec<(&TriggerRec, &Expect)> = self
                    .ledger
                    .triggers
                    .iter()
                    .zip(&self.expects)
                    .enumerate()
                    .filter(|(i, (r, _))| {
                        r.campaign == ci && &r.user == user && !tally.backdated_tokens.contains(i)
                    })
                    .map(|(_, pair)| pair)
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let Some(x) = ev.explains.get(&(c.id.clone(), user.clone())) else {
                    f.violate("explain_missing", format!("no explain for {}/{user}", c.id));
                    continue;
                };
                f.sends.explain_pairs_checked += 1;
                let plans: BTreeSet<&str> = entries(x)
                    .iter()
                    .filter(|e| str_of(e, "outcome").is_some_and(is_plan))
                    .filter_map(|e| str_of(e, "send_id"))
                    .collect();
                let pair = (ci, user.clone());
                let acked = mine.iter().filter(|(_, e)| e.due().is_some()).count() as u64
                    + tally.extra_plans.get(&pair).copied().unwrap_or(0);
                let unacked = mine
                    .iter()
                    .filter(|(r, e)| {
                        **e == Expect::Unacked
                            && matches!(r.plan, crate::campaigns::Plan::Due { .. })
                    })
                    .count() as u64;
                let n = plans.len() as u64;
                if n < acked || n > acked + unacked {
                    f.violate(
                        "explain_disagrees",
                        format!("{}/{user}: timeline plans {n} sends, the ledger {acked} (+{unacked} unacknowledged)", c.id),
                    );
                }
                let refused = entries(x)
                    .iter()
                    .filter(|e| str_of(e, "outcome") == Some("trigger_outside_window"))
                    .count() as u64;
                let want_refused = mine
                    .iter()
                    .filter(|(_, e)| matches!(e, Expect::Refused { .. }))
                    .count() as u64;
                if refused < want_refused {
                    f.violate(
                        "explain_disagrees",
                        format!("{}/{user}: {refused} trigger_outside_window entries, {want_refused} expected", c.id),
                    );
                }
                let sent: BTreeSet<&str> = entries(x)
                    .iter()
                    .filter(|e| str_of(e, "outcome") == Some("sent"))
                    .filter_map(|e| str_of(e, "send_id"))
                    .collect();
                let received: BTreeSet<&str> = ev
                    .arrivals
                    .iter()
                    .filter(|a| {
                        a.accepted()
                            && a.user.as_deref() == Some(user)
                            && a.campaign.as_deref() == Some(c.id.as_str())
                    })
                    .filter_map(|a| a.send_id.as_deref())
                    .collect();
                for s in received.difference(&sent) {
                    let last = last_about(x, s).and_then(|l| str_of(l, "outcome"));
                    if last == Some("cancelled_by_exception") {
                        f.sends.explain_race_disagreements += 1;
                    } else {
                        f.violate(
                            "explain_disagrees",
                            format!(
                                "{}/{user}: the receiver accepted send {s}, explain says {last:?}",
                                c.id
                            ),
                        );
                    }
                }
                for s in sent.difference(&received) {
                    f.violate(
                        "explain_disagrees",
                        format!("{}/{user}: explain says send {s} was sent, the receiver never accepted it", c.id),
                    );
                }
                let must_pend = mine
                    .iter()
                    .any(|(_, e)| matches!(e, Expect::Pending { .. }));
                let verdict = str_of(x, "verdict").unwrap_or("");
                if must_pend && verdict != "pending" {
                    f.violate(
                        "explain_disagrees",
                        format!("{}/{user}: a send is rolled past the drill but the verdict is {verdict}", c.id),
                    );
                }
            }
        }
    }
}

/// A one-line account of the send planned for `due` in an explain answer.
fn describe(explain: Option<&Value>, t: DateTime<Utc>, due: DateTime<Utc>) -> String {
    let Some(x) = explain else {
        return "no explain answer".into();
    };
    match send_for_trigger(x, t, due) {
        None => format!(
            "no send planned for that due (verdict {:?})",
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

#[cfg(test)]
mod tests;
