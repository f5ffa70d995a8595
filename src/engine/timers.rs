//! The engine's view of the durable timer wheel (`triggerd-scheduler`): one
//! timer per pending send, its id the send id (32 hex digits = a `u128`),
//! its payload the user's `external_id` (so a fired timer finds its user's
//! stripe before reading anything). Instants convert to the scheduler's
//! milliseconds here and nowhere else.

use chrono::{DateTime, Utc};
use triggerd_scheduler::{Durability, Millis, Scheduler, Timer};

use super::EngineError;
use crate::clock::from_millis;

/// A timer the scheduler handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The send.
    pub send_id: String,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// The user.
    pub external_id: String,
}

/// Send timers on top of the scheduler.
#[derive(Clone)]
pub struct Timers {
    scheduler: Scheduler,
}

/// The timer id of a send id; a send id that is not 32 hex digits has none.
pub fn timer_id(send_id: &str) -> Option<u128> {
    (send_id.len() == 32)
        .then(|| u128::from_str_radix(send_id, 16).ok())
        .flatten()
}

fn err(e: triggerd_scheduler::Error) -> EngineError {
    EngineError::Timers(e.to_string())
}

impl Timers {
    /// Wraps a scheduler.
    pub fn new(scheduler: Scheduler) -> Timers {
        Timers { scheduler }
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Schedules (or reschedules) send timers, each `(send id, due,
    /// external id)`; durable with the next flush.
    pub async fn schedule(
        &self,
        items: &[(String, DateTime<Utc>, String)],
    ) -> Result<(), EngineError> {
        let timers: Vec<Timer> = items
            .iter()
            .filter_map(|(id, due, external_id)| {
                timer_id(id).map(|tid| {
                    Timer::new(
                        tid,
                        Millis(due.timestamp_millis()),
                        external_id.as_bytes().to_vec(),
                    )
                })
            })
            .collect();
        self.scheduler
            .schedule_batch(timers, Durability::Async)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Cancels send timers (waiting or in flight).
    pub async fn cancel(&self, ids: &[String]) -> Result<(), EngineError> {
        let tids: Vec<u128> = ids.iter().filter_map(|i| timer_id(i)).collect();
        self.scheduler
            .cancel_batch(&tids, Durability::Async)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Hands out up to `max` timers due at or before `upto`, oldest first.
    pub fn pop_due(&self, upto: DateTime<Utc>, max: usize) -> Result<Vec<Fired>, EngineError> {
        let fired = self
            .scheduler
            .pop_due(Millis(upto.timestamp_millis()), max)
            .map_err(err)?;
        Ok(fired
            .into_iter()
            .map(|f| Fired {
                send_id: format!("{:032x}", f.id),
                due: from_millis(f.due.0),
                external_id: String::from_utf8_lossy(&f.payload).into_owned(),
            })
            .collect())
    }

    /// The earliest due instant waiting, if any.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.scheduler.next_due().map(|m| from_millis(m.0))
    }

    /// Resolves when a timer earlier than the current next due was scheduled.
    pub async fn earlier_scheduled(&self) {
        self.scheduler.notified().await;
    }

    /// Pending send timers.
    pub fn pending(&self) -> u64 {
        self.scheduler.pending_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_ids_map_to_timer_ids_and_back() {
        let id = format!("{:032x}", 0x1234_5678_9abc_def0_u128);
        assert_eq!(timer_id(&id), Some(0x1234_5678_9abc_def0));
        assert_eq!(format!("{:032x}", timer_id(&id).expect("valid")), id);
        assert_eq!(timer_id("not-hex"), None);
        assert_eq!(timer_id("abc"), None);
    }
}
