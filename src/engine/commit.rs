//! Committing units of work (R-K1, R-K2): what one or more users' units
//! leave behind ([`Staged`]) is written in a fixed order — timers of new
//! sends first, then every record in one atomic sled batch, then the moves
//! of existing sends' timers (window rolls, retries) and timer
//! cancellations — so a crash at any point leaves no pending send without
//! its timer (a timer without its send record is an orphan the fire path
//! drops), and no timer due after the instant its send's records say: a
//! crash between a move's records and its timer leaves the timer early, and
//! the fire path moves it on without sending (a timer moved first and
//! records lost would leave the send's records pointing at an instant
//! nothing fires at — found by the short drill: a window roll's timer moved
//! to the next day while its records still said the retry instant).
//!
//! A request that touches several users stages all of them and commits
//! once: one timer batch, one record batch, and the request's idempotency
//! record inside that same batch, so a retried request is applied entirely
//! or not at all.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use triggerd_core::Outcome;

use super::{EngineError, EngineInner};
use crate::store::WriteSet;
use crate::store::records::Counters;

/// The writes of one or more units, not yet committed.
#[derive(Default)]
pub struct Staged {
    /// Timers of new sends: (send id, due, external id); written first.
    pub timers: Vec<(String, DateTime<Utc>, String)>,
    /// Timers of existing sends moved to a new due (same shape); written
    /// after the records.
    pub moved: Vec<(String, DateTime<Utc>, String)>,
    /// Records, written in one atomic batch.
    pub writes: WriteSet,
    /// Counter deltas by campaign (written as one delta record).
    pub counters: HashMap<String, Counters>,
    /// Send timers to cancel once the records are written.
    pub cancels: Vec<String>,
    /// Outcomes decided, for the metrics.
    pub outcomes: Vec<Outcome>,
}

impl Staged {
    /// Adds counter deltas of a campaign.
    pub fn add_counters(&mut self, campaign_id: &str, delta: &Counters) {
        self.counters
            .entry(campaign_id.to_string())
            .or_default()
            .add(delta);
    }
}

impl EngineInner {
    /// Writes staged units. The caller holds the stripe lock of every user
    /// staged. Nothing is flushed: the caller decides (R-K1).
    pub async fn commit_staged(&self, staged: Staged) -> Result<(), EngineError> {
        let Staged {
            timers,
            moved,
            mut writes,
            counters,
            cancels,
            outcomes,
        } = staged;
        // 1. timers of new sends
        if !timers.is_empty() {
            self.timers.schedule(&timers).await?;
        }
        // 2. records, with their counter changes as one delta record
        self.stage_counter_deltas(counters, &mut writes)?;
        self.store.apply(writes)?;
        // 3. moves of existing sends' timers, then cancellations
        if !moved.is_empty() {
            self.timers.schedule(&moved).await?;
        }
        if !cancels.is_empty() {
            self.timers.cancel(&cancels).await?;
        }
        for o in &outcomes {
            metrics::counter!("triggerd_outcomes_total", "outcome" => o.as_str()).increment(1);
        }
        Ok(())
    }
}
