//! Committing units of work (R-K1, R-K2): what one or more users' units
//! leave behind ([`Staged`]) is written in a fixed order — timers first,
//! then every record in one atomic sled batch, then timer cancellations —
//! so a crash at any point leaves no pending send without its timer (a
//! timer without its send record is an orphan the fire path drops).
//!
//! A request that touches several users stages all of them and commits
//! once: one timer batch, one record batch, and the request's idempotency
//! record inside that same batch, so a retried request is applied entirely
//! or not at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use triggerd_core::Outcome;

use super::{EngineError, EngineInner};
use crate::store::records::Counters;
use crate::store::{WriteSet, keys};

/// The writes of one or more units, not yet committed.
#[derive(Default)]
pub struct Staged {
    /// Send timers to schedule: (send id, due, external id).
    pub timers: Vec<(String, DateTime<Utc>, String)>,
    /// Records, written in one atomic batch.
    pub writes: WriteSet,
    /// Counter deltas by (campaign, stripe).
    pub counters: HashMap<(String, u16), Counters>,
    /// Send timers to cancel once the records are written.
    pub cancels: Vec<String>,
    /// Outcomes decided, for the metrics.
    pub outcomes: Vec<Outcome>,
}

impl Staged {
    /// Adds counter deltas of a campaign in a stripe.
    pub fn add_counters(&mut self, campaign_id: &str, stripe: u16, delta: &Counters) {
        self.counters
            .entry((campaign_id.to_string(), stripe))
            .or_default()
            .add(delta);
    }
}

impl EngineInner {
    /// Writes staged units. The caller holds the stripe lock of every user
    /// staged (which is what keeps the per-stripe counter totals exact).
    /// Nothing is flushed: the caller decides (R-K1).
    pub async fn commit_staged(&self, staged: Staged) -> Result<(), EngineError> {
        let Staged {
            timers,
            mut writes,
            counters,
            cancels,
            outcomes,
        } = staged;
        // 1. timers
        if !timers.is_empty() {
            self.timers.schedule(&timers).await?;
        }
        // 2. records, with the counter totals they lead to
        let mut totals = Vec::with_capacity(counters.len());
        for ((campaign_id, stripe), delta) in counters {
            let mut total = self.counter_total(&campaign_id, stripe)?;
            total.add(&delta);
            writes.put(
                keys::with_seq(
                    keys::key(keys::kind::STATS, &[&campaign_id]),
                    u64::from(stripe),
                ),
                &total,
            );
            totals.push(((campaign_id, stripe), total));
        }
        self.store.apply(writes)?;
        // Only now that the batch is written do the in-memory totals move,
        // so a failed write (disk full) cannot make them drift from disk.
        self.set_counter_totals(totals);
        // 3. cancellations
        if !cancels.is_empty() {
            self.timers.cancel(&cancels).await?;
        }
        for o in &outcomes {
            metrics::counter!("triggerd_outcomes_total", "outcome" => o.as_str()).increment(1);
        }
        Ok(())
    }
}
