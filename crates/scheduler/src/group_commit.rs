//! Group commit: concurrent callers share one `sled` flush.
//!
//! A caller's writes are durable once a flush that *started after* the caller
//! asked has finished. So a caller arriving while a flush runs waits for the
//! next one, and everyone who arrived during that first flush shares the
//! next. Flushes run on a spawned task, so a caller that is cancelled never
//! strands the others.
//!
//! The flush itself is `sled::Db::flush` on tokio's blocking pool, not
//! `flush_async`: sled 0.34.7 runs `flush_async` on its own small global
//! pool, where waiting flushes can occupy every thread while the log writes
//! they wait for sit queued behind them (the pool's idle-thread counter
//! wraps when all its threads are busy, so it stops growing). Keep every
//! flush of the shared database going through one `GroupCommit`.
//!
//! On Linux, sled 0.34's flush ends each log write with `sync_file_range`,
//! which neither persists the log file's metadata (its size, newly
//! allocated extents) nor flushes the device's write cache; sled calls
//! `fsync` only from its background flusher thread (every
//! `flush_every_ms`), when it truncates a segment, for snapshots and when
//! the database is dropped. A group commit made with
//! [`GroupCommit::syncing`] also `fdatasync`s the log file after each
//! flush, so an acknowledged write survives a power loss, not only a crash;
//! the database can then run without sled's flusher (`flush_every_ms(None)`),
//! whose pass (roll the log buffer, rewrite pages of fragmented segments
//! under sled's global lock, `fsync`) stalled every writer for ~25 ms twice
//! a second under load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::{Error, Result};

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

/// Makes sled's log file durable after sled's flush (`fdatasync`).
type SyncLog = Box<dyn Fn() -> std::io::Result<()> + Send + Sync>;

struct Shared {
    db: sled::Db,
    /// Run after each of sled's flushes, when set.
    sync_log: Option<SyncLog>,
    /// Set by the first failed sync; every later flush fails with it.
    sync_failed: Mutex<Option<String>>,
    progress: Mutex<Progress>,
    finished: watch::Sender<Finished>,
    flushes: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("syncs_log", &self.sync_log.is_some())
            .field("sync_failed", &*self.sync_failed.lock())
            .field("flushes", &self.flushes)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// One flush: sled's log buffers written, then the file synced if the
    /// group commit holds it.
    ///
    /// A failed sync is final: after an `fsync` error, Linux may have
    /// dropped the dirty pages it could not write and report the next
    /// `fsync` as a success, so nothing written before it can be trusted
    /// to be on disk. Every later flush fails with the first error; the
    /// daemon's storage watch then restarts it, and recovery reads the log
    /// again (within the same kernel, pages it could not write may still
    /// be cached and read back: the restart limits the damage, it cannot
    /// undo a failing disk).
    fn flush_and_sync(&self) -> std::result::Result<(), String> {
        if let Some(e) = &*self.sync_failed.lock() {
            return Err(e.clone());
        }
        self.db.flush().map_err(|e| e.to_string())?;
        if let Some(sync) = &self.sync_log
            && let Err(e) = sync()
        {
            let e = format!("syncing sled's log file failed (every later flush fails too): {e}");
            *self.sync_failed.lock() = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }
}

/// Shares `sled::Db` flushes among concurrent callers. Cheap to clone; all
/// clones share one flusher.
#[derive(Clone, Debug)]
pub struct GroupCommit {
    shared: Arc<Shared>,
}

impl GroupCommit {
    /// A group commit over `db` whose flushes are sled's own (see the
    /// module doc for what that leaves to sled's flusher thread).
    pub fn new(db: sled::Db) -> Self {
        Self::with_sync(db, None)
    }

    /// A group commit over `db`, opened with `config`, that also
    /// `fdatasync`s sled's log file after each flush: what it acknowledges
    /// survives a power loss without sled's flusher thread. Unix only (the
    /// log file is opened read-only, which Linux allows to sync).
    pub fn syncing(db: sled::Db, config: &sled::Config) -> std::io::Result<Self> {
        let log = std::fs::File::open(config.get_path().join("db"))?;
        Ok(Self::with_sync(db, Some(Box::new(move || log.sync_data()))))
    }

    fn with_sync(db: sled::Db, sync_log: Option<SyncLog>) -> Self {
        GroupCommit {
            shared: Arc::new(Shared {
                db,
                sync_log,
                sync_failed: Mutex::new(None),
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
            let on_disk = shared.clone();
            let result = match tokio::task::spawn_blocking(move || on_disk.flush_and_sync()).await {
                Ok(r) => r,
                Err(e) => Err(format!("flush task failed: {e}")),
            };
            shared.flushes.fetch_add(1, Ordering::Relaxed);
            shared.finished.send_replace(Finished {
                number,
                error: result.err(),
            });
        }
    }

    /// The first failed sync of sled's log file, if one failed: nothing
    /// written since can be trusted to reach the disk.
    pub fn sync_failure(&self) -> Option<String> {
        self.shared.sync_failed.lock().clone()
    }

    /// Records `why` as a failed sync of sled's log, as a failed
    /// `fdatasync` does: every later flush fails with it (the first failure
    /// recorded is kept). For fault injection in tests of code built on the
    /// group commit.
    pub fn mark_sync_failed(&self, why: impl Into<String>) {
        self.shared
            .sync_failed
            .lock()
            .get_or_insert_with(|| why.into());
    }

    /// Number of flushes performed so far (for tests and metrics).
    pub fn flush_count(&self) -> u64 {
        self.shared.flushes.load(Ordering::Relaxed)
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

    /// Each flush syncs sled's log file after sled's own flush, once per
    /// flush (the closure wraps the same `fdatasync` as `syncing`).
    #[tokio::test]
    async fn r_k1_every_flush_syncs_the_log_file_after_sleds_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sled::Config::new()
            .path(dir.path().join("db"))
            .flush_every_ms(None);
        let db = config.open().expect("db");
        let log = std::fs::File::open(config.get_path().join("db")).expect("log file");
        let syncs = Arc::new(AtomicU64::new(0));
        let (counted, flushed) = (syncs.clone(), db.clone());
        let gc = GroupCommit::with_sync(
            db.clone(),
            Some(Box::new(move || {
                // sled's flush ran first: nothing is left in its buffers.
                assert_eq!(
                    flushed.flush().expect("flush"),
                    0,
                    "sync before sled's flush"
                );
                counted.fetch_add(1, Ordering::Relaxed);
                log.sync_data()
            })),
        );
        for i in 0..3u8 {
            db.insert([i], &b"v"[..]).expect("insert");
            gc.flush().await.expect("flushed and synced");
        }
        assert_eq!(syncs.load(Ordering::Relaxed), 3);
        assert_eq!(gc.flush_count(), 3);
        assert_eq!(gc.sync_failure(), None);
    }

    #[test]
    fn syncing_needs_the_database_opened_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sled::Config::new().path(dir.path().join("db"));
        let other = sled::Config::new().temporary(true).open().expect("db");
        let err = GroupCommit::syncing(other, &config).expect_err("no log file there yet");
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn r_k1_a_failed_sync_fails_every_later_flush() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let syncs = Arc::new(AtomicU64::new(0));
        let counted = syncs.clone();
        let gc = GroupCommit::with_sync(
            db,
            Some(Box::new(move || {
                if counted.fetch_add(1, Ordering::Relaxed) == 0 {
                    Err(std::io::Error::other("EIO from the disk"))
                } else {
                    Ok(())
                }
            })),
        );
        let first = gc.flush().await.expect_err("the sync failed");
        assert!(first.to_string().contains("EIO from the disk"), "{first}");
        let later = gc.flush().await.expect_err("still failed");
        assert!(later.to_string().contains("EIO from the disk"), "{later}");
        assert!(
            gc.sync_failure()
                .is_some_and(|e| e.contains("EIO from the disk"))
        );
        assert_eq!(
            syncs.load(Ordering::Relaxed),
            1,
            "not retried: a later fsync may report success for pages the failed one dropped"
        );
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
