//! Group commit: concurrent callers share one `sled` flush.
//!
//! A caller's writes are durable once a flush that *started after* the caller
//! asked has finished. So a caller arriving while a flush runs waits for the
//! next one, and everyone who arrived during that first flush shares the
//! next. Flushes run on a spawned task (sled's `flush_async`, which does the
//! I/O on sled's own thread pool), so a caller that is cancelled never
//! strands the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::stall::Watchdog;

#[derive(Debug, Default)]
struct Progress {
    /// Flushes started so far.
    started: u64,
    /// Highest flush number some caller waits for.
    wanted: u64,
    /// Whether the flusher task is running.
    running: bool,
}

#[derive(Clone, Debug, Default)]
struct Finished {
    /// Number of the last finished flush.
    number: u64,
    /// Its error, if it failed.
    error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    db: sled::Db,
    progress: Mutex<Progress>,
    finished: watch::Sender<Finished>,
    flushes: AtomicU64,
    watchdog: Watchdog,
}

/// Shares `sled::Db` flushes among concurrent callers. Cheap to clone; all
/// clones share one flusher.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    shared: Arc<Shared>,
}

impl GroupCommit {
    /// A group commit over `db` (the daemon's single database).
    pub fn new(db: sled::Db) -> Self {
        GroupCommit {
            shared: Arc::new(Shared {
                watchdog: Watchdog::start(db.clone()),
                db,
                progress: Mutex::new(Progress::default()),
                finished: watch::Sender::new(Finished::default()),
                flushes: AtomicU64::new(0),
            }),
        }
    }

    /// Returns once every write made to the database before this call is on
    /// disk. Must be called inside a tokio runtime.
    pub async fn flush(&self) -> Result<()> {
        let mut finished = self.shared.finished.subscribe();
        let (target, spawn) = {
            let mut p = self.shared.progress.lock();
            let target = p.started + 1;
            p.wanted = p.wanted.max(target);
            let spawn = !p.running;
            p.running = true;
            (target, spawn)
        };
        if spawn {
            tokio::spawn(Self::flusher(self.shared.clone()));
        }
        let done = finished
            .wait_for(|f| f.number >= target)
            .await
            .map_err(|_| Error::Flush("flusher stopped".into()))?;
        match &done.error {
            Some(e) => Err(Error::Flush(e.clone())),
            None => Ok(()),
        }
    }

    async fn flusher(shared: Arc<Shared>) {
        loop {
            let number = {
                let mut p = shared.progress.lock();
                if p.wanted <= p.started {
                    p.running = false;
                    return;
                }
                p.started += 1;
                p.started
            };
            let result = {
                let _writing = shared.watchdog.guard();
                shared.db.flush_async().await
            };
            shared.flushes.fetch_add(1, Ordering::Relaxed);
            shared.finished.send_replace(Finished {
                number,
                error: result.err().map(|e| e.to_string()),
            });
        }
    }

    /// Number of flushes performed so far (for tests and metrics).
    pub fn flush_count(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
    }

    /// Runs a sled write under the stall watchdog. sled 0.34.7 can deadlock
    /// its own thread pool under write load (see the `stall` module); a write
    /// wrapped here that is stuck for 250 ms makes the watchdog nudge sled
    /// until it moves. The daemon should wrap its own `apply_batch` /
    /// `transaction` calls on the shared database in this.
    pub fn write<R>(&self, f: impl FnOnce() -> R) -> R {
        let _writing = self.shared.watchdog.guard();
        f()
    }

    /// Times the watchdog had to nudge sled (for metrics; normally 0).
    pub fn stall_pokes(&self) -> u64 {
        self.shared.watchdog.pokes()
    }

    /// The database this group commit flushes.
    pub fn db(&self) -> &sled::Db {
        &self.shared.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_k1_concurrent_callers_share_flushes() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let gc = GroupCommit::new(db.clone());
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let gc = gc.clone();
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &b"v"[..]).expect("insert");
                gc.flush().await
            }));
        }
        for t in tasks {
            t.await.expect("joined").expect("flushed");
        }
        // 64 callers, far fewer flushes; each caller waited for a flush that
        // started after its call, so at least one flush happened.
        let n = gc.flush_count();
        assert!((1..64).contains(&n), "{n} flushes for 64 callers");
    }

    #[tokio::test]
    async fn a_lone_caller_gets_its_own_flush() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let gc = GroupCommit::new(db);
        gc.flush().await.expect("flush");
        gc.flush().await.expect("flush");
        assert_eq!(gc.flush_count(), 2);
    }
}
