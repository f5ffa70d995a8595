//! Clocks: the system clock and a manual test clock.
//!
//! This is the only module that reads the wall clock. The manual clock only
//! moves when told to; its `advance_to` is served by the firing driver
//! ([`crate::run`]), which walks through every due timer at its own due
//! instant (SPEC R-X1) before the call returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::types::Millis;

/// A source of the current instant.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> Millis;

    /// The manual clock behind this clock, if it is one. The firing driver
    /// uses it to serve advances instead of sleeping.
    fn as_manual(&self) -> Option<&ManualClock> {
        None
    }
}

/// The operating system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place this crate reads the system time (see clippy.toml).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Millis {
        let ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        };
        Millis(ms)
    }
}

/// A request to move the manual clock, answered with the number of timers
/// handed to the handler on the way.
pub(crate) struct Advance {
    pub to: Millis,
    pub reply: oneshot::Sender<Result<u64>>,
}

#[derive(Debug)]
struct ManualInner {
    now: AtomicI64,
    requests: mpsc::UnboundedSender<Advance>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Advance>>>,
}

impl std::fmt::Debug for Advance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advance").field("to", &self.to).finish()
    }
}

/// A clock that moves only when advanced. Cheap to clone; clones share the
/// same time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<ManualInner>,
}

impl ManualClock {
    /// A manual clock reading `start`.
    pub fn new(start: Millis) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        ManualClock {
            inner: Arc::new(ManualInner {
                now: AtomicI64::new(start.0),
                requests: tx,
                receiver: Mutex::new(Some(rx)),
            }),
        }
    }

    /// Moves time forward to `to`, processing every timer due at or before
    /// `to` at its own due instant, in `(due, id)` order — including timers
    /// scheduled during the advance — and returns once the handler has
    /// finished them all, with how many it was given. Moving backwards is an
    /// error. Needs a running driver ([`crate::run`]) on this clock; advances
    /// requested before the driver starts wait for it.
    pub async fn advance_to(&self, to: Millis) -> Result<u64> {
        let now = self.now();
        if to < now {
            return Err(Error::ClockBackwards { now, requested: to });
        }
        let (reply, answer) = oneshot::channel();
        self.inner
            .requests
            .send(Advance { to, reply })
            .map_err(|_| Error::NoDriver)?;
        answer.await.map_err(|_| Error::NoDriver)?
    }

    /// Moves time forward by `ms` milliseconds; see [`ManualClock::advance_to`].
    pub async fn advance_by(&self, ms: i64) -> Result<u64> {
        self.advance_to(self.now().saturating_add(ms)).await
    }

    /// Sets the reading (driver only: time moves through `advance_to`).
    pub(crate) fn set(&self, t: Millis) {
        self.inner.now.store(t.0, Ordering::SeqCst);
    }

    /// Takes the request queue; one driver per clock.
    pub(crate) fn attach(&self) -> Result<mpsc::UnboundedReceiver<Advance>> {
        self.inner
            .receiver
            .lock()
            .take()
            .ok_or(Error::DriverAlreadyAttached)
    }

    /// Gives the request queue back when a driver stops.
    pub(crate) fn detach(&self, rx: mpsc::UnboundedReceiver<Advance>) {
        *self.inner.receiver.lock() = Some(rx);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        Millis(self.inner.now.load(Ordering::SeqCst))
    }

    fn as_manual(&self) -> Option<&ManualClock> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_reads_a_plausible_instant() {
        // 2020-01-01 .. 2200-01-01
        let now = SystemClock.now().0;
        assert!((1_577_836_800_000..7_258_118_400_000).contains(&now));
    }

    #[tokio::test]
    async fn r_x1_manual_clock_refuses_to_go_backwards() {
        let clock = ManualClock::new(Millis(1_000));
        let err = clock.advance_to(Millis(999)).await;
        assert!(matches!(err, Err(Error::ClockBackwards { .. })));
        assert_eq!(clock.now(), Millis(1_000));
    }

    #[test]
    fn only_one_driver_attaches() {
        let clock = ManualClock::new(Millis(0));
        let rx = clock.attach().expect("first");
        assert!(matches!(clock.attach(), Err(Error::DriverAlreadyAttached)));
        clock.detach(rx);
        assert!(clock.attach().is_ok());
    }
}
