//! A watchdog for a known deadlock in sled 0.34.7.
//!
//! sled runs both log-buffer writes and file truncations on one global
//! thread pool. When the tail segment of the log is freed, sled queues a
//! truncation; a writer that then needs a new segment waits for it while
//! holding the segment accountant's lock. Pool threads already running
//! buffer writes block on that lock, and if every pool thread is blocked
//! the queued truncation never runs (fixed upstream after 0.34 by a
//! dedicated truncation thread, sled PR #1269; 0.34.7 is the last 0.34).
//!
//! sled's pool grows only when a task is submitted. So when a write has been
//! stuck for a while, this watchdog submits one: it polls `flush_async` once
//! (which queues a flush task and may start a pool thread). Each poke lets
//! the queue advance by one task; a few pokes reach the truncation and the
//! deadlock dissolves. Writes are marked with [`Watchdog::guard`].

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// How long a write may take before the watchdog pokes sled's pool.
const STUCK_AFTER: Duration = Duration::from_millis(250);
/// How often the watchdog looks.
const TICK: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Shared {
    db: sled::Db,
    epoch: Instant,
    active: AtomicUsize,
    /// Start of the latest write, in ms since `epoch`.
    started: AtomicU64,
    pokes: AtomicU64,
}

/// Tracks sled writes in progress; a thread pokes sled when one is stuck.
#[derive(Clone, Debug)]
pub(crate) struct Watchdog {
    shared: Arc<Shared>,
}

/// Marks a write in progress until dropped.
pub(crate) struct WriteGuard<'a> {
    shared: &'a Shared,
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
    }
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

impl Watchdog {
    /// Starts the watchdog thread for `db`; it stops when the last clone of
    /// the watchdog is dropped.
    pub fn start(db: sled::Db) -> Self {
        let shared = Arc::new(Shared {
            db,
            epoch: Instant::now(),
            active: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            pokes: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&shared);
        let spawned = std::thread::Builder::new()
            .name("sled-watchdog".into())
            .spawn(move || Self::watch(&weak));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "sled watchdog thread did not start");
        }
        Watchdog { shared }
    }

    fn watch(weak: &Weak<Shared>) {
        loop {
            std::thread::sleep(TICK);
            let Some(shared) = weak.upgrade() else {
                return;
            };
            if shared.active.load(Ordering::SeqCst) == 0 {
                continue;
            }
            let now = shared.epoch.elapsed().as_millis() as u64;
            let started = shared.started.load(Ordering::SeqCst);
            if now.saturating_sub(started) >= STUCK_AFTER.as_millis() as u64 {
                shared.pokes.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("sled write stuck; poking sled's thread pool");
                poke(&shared.db);
            }
        }
    }

    /// Marks a sled write in progress.
    pub fn guard(&self) -> WriteGuard<'_> {
        let now = self.shared.epoch.elapsed().as_millis() as u64;
        self.shared.started.store(now, Ordering::SeqCst);
        self.shared.active.fetch_add(1, Ordering::SeqCst);
        WriteGuard {
            shared: &self.shared,
        }
    }

    /// How many times the watchdog has poked sled.
    pub fn pokes(&self) -> u64 {
        self.shared.pokes.load(Ordering::Relaxed)
    }
}

/// Submits one task to sled's thread pool without waiting for it.
fn poke(db: &sled::Db) {
    let waker = Waker::from(Arc::new(NoopWake));
    let mut cx = Context::from_waker(&waker);
    let mut flush = Box::pin(db.flush_async());
    // The first poll submits the flush to sled's pool; its result is not
    // needed, and dropping the future does not cancel the submitted task.
    if let Poll::Ready(Err(e)) = flush.as_mut().poll(&mut cx) {
        tracing::warn!(error = %e, "sled watchdog poke failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_write_gets_poked_and_an_idle_one_does_not() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let dog = Watchdog::start(db);
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(dog.pokes(), 0);
        let guard = dog.guard();
        std::thread::sleep(Duration::from_millis(600));
        drop(guard);
        assert!(dog.pokes() >= 1);
    }
}
