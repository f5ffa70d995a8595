//! The ledger the load generator keeps: every request it made, whether the
//! daemon acknowledged it, and what each acknowledged trigger must cause.
//! Requests that were never acknowledged are kept too: their effects are
//! allowed but not required.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::campaigns::Plan;

/// How a request ended, from the drill's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ack {
    /// 201 at this instant, after this many attempts.
    Acked {
        /// When the drill read the 201.
        at: DateTime<Utc>,
        /// Attempts (1 = the first try was answered).
        attempts: u32,
    },
    /// Never acknowledged: may or may not have been applied.
    Unacked,
}

impl Ack {
    /// The acknowledgement instant.
    pub fn at(&self) -> Option<DateTime<Utc>> {
        match self {
            Ack::Acked { at, .. } => Some(*at),
            Ack::Unacked => None,
        }
    }

    /// True when the first attempt did not get the answer (it may have been
    /// applied before a crash; the retry carried the same idempotency key).
    pub fn retried(&self) -> bool {
        matches!(self, Ack::Acked { attempts, .. } if *attempts > 1)
    }
}

/// A cancel (exception event) aimed at one trigger's token.
#[derive(Debug, Clone, Serialize)]
pub struct CancelRec {
    /// The exception event's time (`x` of R-E2).
    pub x: DateTime<Utc>,
    /// When the request was first sent.
    pub sent_at: DateTime<Utc>,
    /// Its acknowledgement.
    pub ack: Ack,
}

/// One trigger event the drill sent.
#[derive(Debug, Clone, Serialize)]
pub struct TriggerRec {
    /// Unique token carried in its properties and rendered into the webhook.
    pub token: String,
    /// The user.
    pub user: String,
    /// Index into the campaign set.
    pub campaign: usize,
    /// The event's time (`t`).
    pub t: DateTime<Utc>,
    /// When the request was first sent.
    pub sent_at: DateTime<Utc>,
    /// Its acknowledgement.
    pub ack: Ack,
    /// What the rules say it causes.
    #[serde(skip)]
    pub plan: Plan,
    /// The cancel aimed at it, if any.
    pub cancel: Option<CancelRec>,
}

/// Per-user facts for the export check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserRec {
    /// Acknowledged custom events per name.
    pub events_acked: BTreeMap<String, u64>,
    /// Unacknowledged custom events per name (may or may not count).
    pub events_unacked: BTreeMap<String, u64>,
    /// `drill_seq` of the last acknowledged update that set it.
    pub last_seq: Option<u64>,
    /// `drill_seq` values of unacknowledged updates after that one.
    pub later_unacked_seqs: Vec<u64>,
    /// Acknowledged `drill_visits` increments.
    pub visits_acked: u64,
    /// Unacknowledged increments.
    pub visits_unacked: u64,
    /// Custom events per name acknowledged only after a retry (the first
    /// attempt may have been applied before a crash).
    pub events_retried: BTreeMap<String, u64>,
    /// Increments acknowledged only after a retry.
    pub visits_retried: u64,
}

/// Request counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestCounts {
    /// Acknowledged on the first attempt.
    pub acked_first_try: u64,
    /// Acknowledged after retries (first attempt lost to a kill or 503).
    pub acked_after_retry: u64,
    /// Never acknowledged before the deadline.
    pub gave_up: u64,
    /// Refused with a 4xx (a drill or daemon bug).
    pub refused: u64,
    /// Trigger events acknowledged.
    pub triggers_acked: u64,
    /// Exception events acknowledged.
    pub cancels_acked: u64,
    /// Attribute updates acknowledged.
    pub attributes_acked: u64,
}

/// The whole ledger.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Every trigger sent, acknowledged or not.
    pub triggers: Vec<TriggerRec>,
    /// Per-user facts.
    pub users: BTreeMap<String, UserRec>,
    /// Counters.
    pub counts: RequestCounts,
    /// Details of 4xx refusals.
    pub refusals: Vec<String>,
}

impl Ledger {
    /// Adds a request outcome to the counters.
    pub fn count_request(&mut self, ack: Ack) {
        match ack {
            Ack::Acked { attempts: 1, .. } => self.counts.acked_first_try += 1,
            Ack::Acked { .. } => self.counts.acked_after_retry += 1,
            Ack::Unacked => self.counts.gave_up += 1,
        }
    }

    /// Folds another worker's ledger into this one.
    pub fn merge(&mut self, other: Ledger) {
        self.triggers.extend(other.triggers);
        self.users.extend(other.users);
        let c = &mut self.counts;
        let o = other.counts;
        c.acked_first_try += o.acked_first_try;
        c.acked_after_retry += o.acked_after_retry;
        c.gave_up += o.gave_up;
        c.refused += o.refused;
        c.triggers_acked += o.triggers_acked;
        c.cancels_acked += o.cancels_acked;
        c.attributes_acked += o.attributes_acked;
        self.refusals.extend(other.refusals);
    }

    /// Acknowledged requests in all.
    pub fn acked(&self) -> u64 {
        self.counts.acked_first_try + self.counts.acked_after_retry
    }
}
