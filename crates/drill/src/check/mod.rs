//! The end-of-drill invariants (SPEC §11, R-K1–R-K3, with R-E2, R-W3,
//! R-X1, R-X3, R-Y1): the ledger's expectations against the receiver's log,
//! the kill log, and what the daemon reports (stats, exported profiles,
//! explain timelines).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::campaigns::DrillCampaign;
use crate::chaos::KillRecord;
use crate::classify::{Expect, classify};
use crate::clock;
use crate::findings::{Findings, quantile};
use crate::ledger::{Ack, Ledger, TriggerRec};
use crate::receiver::Arrival;

mod deliveries;
mod timeline;
mod views;

use timeline::{backdated_refusal, describe, last_about, send_for_trigger, str_of};

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
    /// Trigger events on record twice after a retried request, whose extra
    /// decision is not visible at the receiver (a send cancelled with the
    /// original by the same token's exception, a pending send, or a second
    /// refusal): each widens the upper bounds of the stats by one.
    hidden_twice: HashMap<(usize, String), u64>,
}

/// The ledger with every trigger's expectation.
pub struct Checker<'a> {
    ledger: &'a Ledger,
    campaigns: &'a [DrillCampaign],
    expects: Vec<Expect>,
    tolerance: Duration,
    strict: bool,
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
        self.exports(&mut f, ev, &mut tally);
        self.stats(&mut f, ev, &tally);
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
            if r.ack.retried() || r.ack == Ack::Unacked {
                f.known_issue(self.strict, "retried_request_applied_twice", detail);
            } else {
                f.sends.duplicate_other_key += 1;
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
}

#[cfg(test)]
mod tests;
