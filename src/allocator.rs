//! Allocator settings of the daemon (mimalloc, installed in `main.rs`).
//!
//! mimalloc returns freed pages to the OS only after its `purge_delay`
//! (1 s by default in v3). Under steady ingest that delay keeps a second's
//! worth of freed sled nodes and request buffers resident: 358–374 MB RSS
//! with 1.1 M users and as many pending sends, against 300 MB at 100 ms
//! and 261 MB at 0 (`cargo bench --bench ingest`, same host, same hour).
//! Purging at once cost 15–30 % of ingest throughput; 100 ms cost nothing
//! measurable (15.0 k events/s against 14.6–14.9 k at 1 s).
//!
//! mimalloc reads its options from the environment only when the process
//! starts, and setting them from Rust needs `unsafe` (which the workspace
//! forbids), so `triggerd serve` re-executes itself once with the setting
//! added when the operator has not chosen one: same pid, arguments and
//! environment otherwise. An explicit `MIMALLOC_PURGE_DELAY` always wins.

use std::ffi::OsString;

/// The variables `serve` runs with unless the environment sets them.
pub const DEFAULTS: [(&str, &str); 1] = [("MIMALLOC_PURGE_DELAY", "100")];

/// The defaults that `get` (an environment lookup) does not set.
pub fn missing(get: impl Fn(&str) -> Option<OsString>) -> Vec<(&'static str, &'static str)> {
    DEFAULTS
        .iter()
        .copied()
        .filter(|(name, _)| get(name).is_none())
        .collect()
}

/// Re-executes the process with the missing defaults; returns (and the
/// process carries on with mimalloc's own defaults) when nothing is
/// missing or the exec fails.
pub fn apply_defaults() {
    let missing = missing(|name| std::env::var_os(name));
    if missing.is_empty() {
        return;
    }
    let error = crate::storage_watch::reexec_with(&missing);
    eprintln!("triggerd: could not re-execute with allocator settings ({error}); carrying on");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_setting_wins_and_nothing_is_re_executed() {
        assert!(missing(|_| Some(OsString::from("1000"))).is_empty());
        assert_eq!(missing(|_| None), DEFAULTS.to_vec());
    }
}
