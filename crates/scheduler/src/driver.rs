//! The firing driver: hands due timers to an async handler as time passes.
//!
//! On the system clock it sleeps until the next due instant (or until a
//! write makes an earlier one), then pops and handles what is due. On a
//! manual clock it fires what is due at the clock's current reading (late
//! timers after downtime fire at once, oldest first) and otherwise serves
//! `advance_to` requests, stepping the clock through each due instant.
//! The handler completes or reschedules the timers itself; the driver only
//! hands them out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Advance, Clock, ManualClock};
use crate::error::{Error, Result};
use crate::scheduler::Scheduler;
use crate::types::{Fired, Millis};

/// Longest sleep when nothing is scheduled (a write wakes the driver sooner).
const IDLE: Duration = Duration::from_secs(3_600);

/// Runs the firing loop until `shutdown` resolves (checked between handler
/// calls, so a batch in hand is always finished). Timers are handed out at
/// most `Config::fire_batch` at a time; on a manual clock every batch shares
/// one due instant.
pub async fn run<H, F, S>(
    scheduler: Scheduler,
    clock: Arc<dyn Clock>,
    handler: H,
    shutdown: S,
) -> Result<()>
where
    H: Fn(Vec<Fired>) -> F,
    F: Future<Output = ()>,
    S: Future<Output = ()>,
{
    match clock.as_manual() {
        Some(manual) => {
            let manual = manual.clone();
            let rx = manual.attach()?;
            let mut rx_slot = Some(rx);
            let result = run_manual(&scheduler, &manual, &handler, shutdown, &mut rx_slot).await;
            if let Some(rx) = rx_slot {
                manual.detach(rx);
            }
            result
        }
        None => run_system(&scheduler, clock.as_ref(), &handler, shutdown).await,
    }
}

async fn run_system<H, F, S>(
    scheduler: &Scheduler,
    clock: &dyn Clock,
    handler: &H,
    shutdown: S,
) -> Result<()>
where
    H: Fn(Vec<Fired>) -> F,
    F: Future<Output = ()>,
    S: Future<Output = ()>,
{
    let batch = scheduler.config().fire_batch.max(1);
    tokio::pin!(shutdown);
    loop {
        let now = clock.now();
        let fired = scheduler.pop_due(now, batch)?;
        if !fired.is_empty() {
            handler(fired).await;
            continue;
        }
        let sleep = match scheduler.next_due() {
            Some(due) => {
                Duration::from_millis(due.saturating_since(now).clamp(1, 3_600_000) as u64)
            }
            None => IDLE,
        };
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = scheduler.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

async fn run_manual<H, F, S>(
    scheduler: &Scheduler,
    clock: &ManualClock,
    handler: &H,
    shutdown: S,
    rx: &mut Option<tokio::sync::mpsc::UnboundedReceiver<Advance>>,
) -> Result<()>
where
    H: Fn(Vec<Fired>) -> F,
    F: Future<Output = ()>,
    S: Future<Output = ()>,
{
    let batch = scheduler.config().fire_batch.max(1);
    tokio::pin!(shutdown);
    loop {
        // Whatever is due at the current reading (late after downtime, or
        // scheduled due now) fires at the current reading.
        let fired = scheduler.pop_due(clock.now(), batch)?;
        if !fired.is_empty() {
            handler(fired).await;
            continue;
        }
        let Some(requests) = rx.as_mut() else {
            return Ok(());
        };
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            _ = scheduler.notified() => {}
            request = requests.recv() => match request {
                Some(Advance { to, reply }) => {
                    let result = advance(scheduler, clock, handler, to, batch).await;
                    let _ = reply.send(result);
                }
                None => return Ok(()),
            },
        }
    }
}

/// Steps the clock through every due instant up to `to` (R-X1).
async fn advance<H, F>(
    scheduler: &Scheduler,
    clock: &ManualClock,
    handler: &H,
    to: Millis,
    batch: usize,
) -> Result<u64>
where
    H: Fn(Vec<Fired>) -> F,
    F: Future<Output = ()>,
{
    let start = clock.now();
    if to < start {
        return Err(Error::ClockBackwards {
            now: start,
            requested: to,
        });
    }
    let mut fired_total = 0u64;
    while let Some(due) = scheduler.next_due().filter(|d| *d <= to) {
        let at = due.max(clock.now());
        clock.set(at);
        let fired = scheduler.pop_due(at, batch)?;
        if fired.is_empty() {
            // The estimate was a slot of cancelled timers or a group whose
            // timers are all gone; popping has cleared it. Look again.
            continue;
        }
        fired_total += fired.len() as u64;
        handler(fired).await;
    }
    clock.set(to);
    Ok(fired_total)
}
