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
use crate::store::WriteSet;
use crate::store::records::Counters;

/// The writes of one or more units, not yet committed.
#[derive(Default)]
pub struct Staged {
    /// Send timers to schedule: (send id, due, external id).
    pub timers: Vec<(String, DateTime<Utc>, String)>,
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
            mut writes,
            counters,
            cancels,
            outcomes,
        } = staged;
        // 1. timers
        if !timers.is_empty() {
            self.timers.schedule(&timers).await?;
        }
        // 2. records, with their counter changes as one delta record
        self.stage_counter_deltas(counters, &mut writes)?;
        self.store.apply(writes)?;
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
