//! The load generator: a few workers, each owning a disjoint set of users
//! (so one user's requests are sequential and their order is known), send
//! a bounded stream of mixed ingest requests — attribute updates, trigger
//! events carrying a unique token (some with an attribute update in the
//! same request, R-T7), and exception events aimed at an earlier token —
//! retrying each until acknowledged, and keep the ledger.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::api::{Api, TrackOutcome};
use crate::campaigns::{CANCEL_EVENT, DrillCampaign, Plan, TOKEN_PROPERTY};
use crate::clock;
use crate::ledger::{Ack, CancelRec, Ledger, TriggerRec, UserRec};

/// How long one request is retried before it is recorded unacknowledged.
const ACK_DEADLINE: Duration = Duration::from_secs(90);

/// What one worker needs.
pub struct WorkerSpec {
    /// Worker number (part of tokens and idempotency keys).
    pub worker: u32,
    /// The users it owns.
    pub users: Vec<String>,
    /// The campaigns.
    pub campaigns: Arc<Vec<DrillCampaign>>,
    /// The daemon.
    pub api: Api,
    /// Pause between two requests.
    pub interval: Duration,
    /// When to stop.
    pub until: Instant,
    /// Seed of its choices.
    pub seed: u64,
    /// Requests sent so far, all workers (progress).
    pub sent: Arc<AtomicU64>,
}

struct UserState {
    last_time: Option<DateTime<Utc>>,
    /// Indexes into the worker's triggers, acknowledged and not yet aimed at.
    cancellable: Vec<usize>,
}

fn event_time(state: &mut UserState) -> DateTime<Utc> {
    let now = clock::now_ms();
    let t = match state.last_time {
        Some(last) if last >= now => last + chrono::Duration::milliseconds(1),
        _ => now,
    };
    state.last_time = Some(t);
    t
}

fn ack_of(outcome: &TrackOutcome, ledger: &mut Ledger, what: &str) -> Ack {
    match outcome {
        TrackOutcome::Acked { at, attempts, .. } => Ack::Acked {
            at: *at,
            attempts: *attempts,
        },
        TrackOutcome::Refused { status, body } => {
            ledger.counts.refused += 1;
            ledger.refusals.push(format!("{what}: {status} {body}"));
            Ack::Unacked
        }
        TrackOutcome::GaveUp { .. } => Ack::Unacked,
    }
}

fn note_event(rec: &mut UserRec, name: &str, ack: Ack) {
    if ack.retried() {
        *rec.events_retried.entry(name.to_string()).or_default() += 1;
    }
    let map = match ack {
        Ack::Acked { .. } => &mut rec.events_acked,
        Ack::Unacked => &mut rec.events_unacked,
    };
    *map.entry(name.to_string()).or_default() += 1;
}

fn note_seq(rec: &mut UserRec, seq: u64, ack: Ack) {
    match ack {
        Ack::Acked { .. } => {
            rec.last_seq = Some(seq);
            rec.later_unacked_seqs.clear();
        }
        Ack::Unacked => rec.later_unacked_seqs.push(seq),
    }
}

/// Runs one worker until `until`; returns its ledger.
pub async fn run_worker(spec: WorkerSpec) -> Ledger {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut ledger = Ledger::default();
    let mut states: BTreeMap<String, UserState> = spec
        .users
        .iter()
        .map(|u| {
            ledger.users.insert(u.clone(), UserRec::default());
            (
                u.clone(),
                UserState {
                    last_time: None,
                    cancellable: Vec::new(),
                },
            )
        })
        .collect();
    let mut next = Instant::now();
    let mut n: u64 = 0;
    while Instant::now() < spec.until && !spec.users.is_empty() {
        next = next.max(Instant::now() - spec.interval) + spec.interval;
        tokio::time::sleep_until(next.into()).await;
        if Instant::now() >= spec.until {
            break;
        }
        n += 1;
        spec.sent.fetch_add(1, Ordering::Relaxed);
        let user = spec.users[rng.gen_range(0..spec.users.len())].clone();
        let Some(state) = states.get_mut(&user) else {
            continue;
        };
        let key = format!("drill-{:x}-w{}-{n}", spec.seed, spec.worker);
        let roll: u32 = rng.gen_range(0..100);
        let now = clock::now_ms();
        // A cancel aims at a trigger due from 1 s ago on: some land before
        // the due (must cancel), some race the dispatch.
        state
            .cancellable
            .retain(|i| match ledger.triggers[*i].plan {
                Plan::Due { due, .. } => due + chrono::Duration::seconds(1) >= now,
                Plan::Refused(_) => false,
            });
        if roll < 20 && !state.cancellable.is_empty() {
            let pick = rng.gen_range(0..state.cancellable.len());
            let idx = state.cancellable.swap_remove(pick);
            let token = ledger.triggers[idx].token.clone();
            let x = event_time(state);
            let body = json!({"events": [{
                "external_id": user, "name": CANCEL_EVENT, "time": clock::fmt(x),
                "properties": { TOKEN_PROPERTY: token }
            }]});
            let sent_at = clock::now();
            let outcome = spec.api.track(&body, &key, ACK_DEADLINE).await;
            let ack = ack_of(&outcome, &mut ledger, "cancel");
            ledger.count_request(ack);
            if ack.at().is_some() {
                ledger.counts.cancels_acked += 1;
            }
            if let Some(rec) = ledger.users.get_mut(&user) {
                note_event(rec, CANCEL_EVENT, ack);
            }
            ledger.triggers[idx].cancel = Some(CancelRec { x, sent_at, ack });
        } else if roll < 70 {
            let ci = rng.gen_range(0..spec.campaigns.len());
            let campaign = &spec.campaigns[ci];
            let token = format!("k{:x}w{}n{n}", spec.seed & 0xffff, spec.worker);
            let t = event_time(state);
            let mut body = json!({"events": [{
                "external_id": user, "name": campaign.trigger, "time": clock::fmt(t),
                "properties": { TOKEN_PROPERTY: token, "n": n }
            }]});
            let with_attr = rng.gen_bool(0.3);
            if with_attr && let Some(obj) = body.as_object_mut() {
                obj.insert(
                    "attributes".into(),
                    json!([{"external_id": user, "drill_seq": n}]),
                );
            }
            let sent_at = clock::now();
            let outcome = spec.api.track(&body, &key, ACK_DEADLINE).await;
            let ack = ack_of(&outcome, &mut ledger, "trigger");
            ledger.count_request(ack);
            if ack.at().is_some() {
                ledger.counts.triggers_acked += 1;
                if with_attr {
                    ledger.counts.attributes_acked += 1;
                }
            }
            if let Some(rec) = ledger.users.get_mut(&user) {
                note_event(rec, &campaign.trigger, ack);
                if with_attr {
                    note_seq(rec, n, ack);
                }
            }
            let plan = campaign.plan(t);
            // Sends rolled to the next window opening stay pending to the
            // end (R-W3 checked there), so they are not cancel targets.
            if ack.at().is_some() && matches!(plan, Plan::Due { rolled: false, .. }) {
                state.cancellable.push(ledger.triggers.len());
            }
            ledger.triggers.push(TriggerRec {
                token,
                user: user.clone(),
                campaign: ci,
                t,
                sent_at,
                ack,
                plan,
                cancel: None,
            });
        } else {
            let body = json!({"attributes": [{
                "external_id": user, "drill_seq": n, "drill_visits": {"inc": 1}
            }]});
            let outcome = spec.api.track(&body, &key, ACK_DEADLINE).await;
            let ack = ack_of(&outcome, &mut ledger, "attributes");
            ledger.count_request(ack);
            if ack.at().is_some() {
                ledger.counts.attributes_acked += 1;
            }
            if let Some(rec) = ledger.users.get_mut(&user) {
                note_seq(rec, n, ack);
                match ack {
                    Ack::Acked { .. } => rec.visits_acked += 1,
                    Ack::Unacked => rec.visits_unacked += 1,
                }
                if ack.retried() {
                    rec.visits_retried += 1;
                }
            }
        }
    }
    ledger
}

/// The users of a drill, split among `workers` (user i goes to i mod w).
pub fn split_users(users: u32, workers: u32) -> Vec<Vec<String>> {
    let w = workers.max(1);
    let mut out = vec![Vec::new(); w as usize];
    for i in 0..users {
        out[(i % w) as usize].push(format!("drill-u{i:04}"));
    }
    out
}

/// A JSON value's integer (attributes come back as numbers).
pub fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_f64().map(|f| f as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_split_without_overlap() {
        let parts = split_users(10, 3);
        assert_eq!(parts.len(), 3);
        let mut all: Vec<String> = parts.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10);
        assert_eq!(parts[0][1], "drill-u0003");
    }

    #[test]
    fn r_e2_event_times_strictly_increase_per_user() {
        let mut s = UserState {
            last_time: None,
            cancellable: Vec::new(),
        };
        let a = event_time(&mut s);
        let b = event_time(&mut s);
        let c = event_time(&mut s);
        assert!(a < b && b < c, "{a} {b} {c}");
    }
}
