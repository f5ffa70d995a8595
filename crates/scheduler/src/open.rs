//! Opening a sled database whose previous handle is still letting go.
//!
//! sled 0.34 takes an exclusive `flock` on its directory and releases it
//! only when the last internal reference to the database is gone. After the
//! last `Db` handle is dropped, sled's own background writers can hold that
//! reference for a few more milliseconds, so an immediate reopen in the same
//! process (a test, a bench, an in-process restart), or a new daemon started
//! while the old one is still exiting, fails with "could not acquire lock".
//! [`open_db`] retries that one error for a bounded time; every other error
//! is returned at once.

use std::time::{Duration, Instant};

/// Opens `config`, retrying while another holder still has the directory's
/// lock, for at most `wait`. The last lock error is returned when `wait`
/// runs out, so a second live daemon on the same data dir still fails.
pub fn open_db(config: &sled::Config, wait: Duration) -> sled::Result<sled::Db> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match config.open() {
            Err(e) if is_lock_contention(&e) && Instant::now() < deadline => {
                tracing::debug!(error = %e, "sled directory still locked; retrying");
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

/// True for sled's "could not acquire lock" error (an `flock` that would
/// block), the only error worth waiting out.
pub fn is_lock_contention(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_after_the_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sled::Config::new().path(dir.path().join("db"));
        let first = open_db(&config, Duration::ZERO).expect("first open");
        let t = Instant::now();
        let second = open_db(&config, Duration::from_millis(150));
        let err = second.expect_err("the lock is held");
        assert!(is_lock_contention(&err), "unexpected error {err}");
        assert!(t.elapsed() >= Duration::from_millis(150));
        drop(first);
    }

    #[test]
    fn reopening_right_after_drop_succeeds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sled::Config::new().path(dir.path().join("db"));
        for i in 0..20u32 {
            let db = open_db(&config, Duration::from_secs(10)).expect("opens");
            db.insert(i.to_be_bytes(), &b"v"[..]).expect("insert");
            db.flush().expect("flush");
            drop(db);
        }
        let db = open_db(&config, Duration::from_secs(10)).expect("opens");
        assert_eq!(db.len(), 20);
    }
}
