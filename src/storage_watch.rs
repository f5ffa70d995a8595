//! Recovery from a failed store without an operator (issue 6, disk full).
//!
//! After an I/O error in its log (a full disk, most often) sled refuses
//! every later write of that open database, even once space returns. The
//! daemon keeps answering — `503` for anything that needs the store, which
//! clients retry — and this watchdog:
//!
//! 1. notices the failure (a flush of the store fails, or the sync of its
//!    log file did once), logs it once at `ERROR` and takes `/readyz` down;
//! 2. checks every second whether the data dir accepts writes again (a
//!    probe file of [`PROBE_BYTES`], synced and removed);
//! 3. then asks the daemon to restart itself: the server stops, and the
//!    process re-executes its own binary with the same arguments, which
//!    reopens and recovers the store like any restart.
//!
//! Nothing acknowledged is lost on the way: a request is answered only
//! after its writes were flushed (R-K1), and recovery after the restart is
//! the same as after a crash (R-K2).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::store::Store;

/// Size of the probe written to tell that space returned (sled needs room
/// for whole log segments, not a few bytes).
pub const PROBE_BYTES: usize = 4 << 20;

/// Watches `store` until it fails and `data_dir` takes writes again, then
/// returns: the caller restarts the daemon. `on_failure` runs once, when
/// the failure is first seen.
pub async fn wait_for_recoverable_failure(
    store: Store,
    data_dir: PathBuf,
    every: Duration,
    on_failure: impl FnOnce(),
) {
    let error = loop {
        tokio::time::sleep(every).await;
        // Through the group commit: it also syncs sled's log file, and
        // remembers a failed sync that sled itself never sees.
        if let Err(e) = store.group().flush().await {
            break e.to_string();
        }
    };
    tracing::error!(
        error = %error,
        data_dir = %data_dir.display(),
        "storage failed: requests that write are refused with 503 until the data dir accepts writes again; the daemon then restarts itself to reopen the store"
    );
    metrics::counter!("triggerd_storage_failures_total").increment(1);
    on_failure();
    loop {
        tokio::time::sleep(every).await;
        let dir = data_dir.clone();
        match tokio::task::spawn_blocking(move || probe_space(&dir)).await {
            Ok(Ok(())) => break,
            Ok(Err(e)) => tracing::debug!(error = %e, "data dir still refuses writes"),
            Err(e) => tracing::debug!(error = %e, "probe task failed"),
        }
    }
    tracing::warn!("the data dir accepts writes again: restarting to reopen the store");
}

/// Writes, syncs and removes a probe file in `dir`.
pub fn probe_space(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(".triggerd-space-probe");
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0u8; PROBE_BYTES])?;
        file.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Replaces this process with a fresh run of the same binary and
/// arguments (same pid, same environment). Returns only on failure.
pub fn reexec() -> std::io::Error {
    reexec_with(&[])
}

/// [`reexec`] with `extra` variables added to the environment.
pub fn reexec_with(extra: &[(&str, &str)]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return e,
    };
    std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .envs(extra.iter().copied())
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        probe_space(dir.path()).expect("space");
        assert_eq!(std::fs::read_dir(dir.path()).expect("lists").count(), 0);
        assert!(probe_space(&dir.path().join("missing")).is_err());
    }

    #[tokio::test]
    async fn a_healthy_store_is_not_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        let watch = wait_for_recoverable_failure(
            store,
            dir.path().to_path_buf(),
            Duration::from_millis(10),
            || panic!("a healthy store was reported failed"),
        );
        let timed_out = tokio::time::timeout(Duration::from_millis(300), watch).await;
        assert!(timed_out.is_err(), "the watch keeps watching");
    }
}
