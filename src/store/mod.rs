//! The daemon's storage on sled: one tree (`data`) holding every record
//! kind under a one-byte key prefix (see [`keys`]), so that all the writes
//! of one request commit in one atomic batch. Timers live in the scheduler's
//! own trees of the same database.
//!
//! Records are versioned ([`codec`]); one that fails to decode is moved to a
//! quarantine key, reported, and treated as absent, so one bad record never
//! stops the service. Values too large for one sled page are stored in
//! pieces ([`spill`]), transparently to every reader and writer here.

pub mod codec;
pub mod keys;
pub mod migrate;
pub mod profile;
pub mod records;
pub mod spill;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use codec::CodecError;

/// How long opening waits for the data dir's lock held by a daemon that is
/// still exiting; a second live daemon on the same dir fails after it.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(5);

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O error, disk full, corruption).
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// sled's log file or its directories could not be opened for syncing.
    #[error("cannot sync the database's files: {0}")]
    LogFile(#[from] std::io::Error),
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The open database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    data: sled::Tree,
    spilled: Arc<spill::Spilled>,
    group: triggerd_scheduler::GroupCommit,
}

/// Writes collected while processing, applied atomically by [`Store::apply`].
/// Sets of several units (one request's users) are joined with
/// [`WriteSet::append`]; a later write of a key wins over an earlier one.
#[derive(Default)]
pub struct WriteSet {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteSet {
    /// An empty set.
    pub fn new() -> WriteSet {
        WriteSet::default()
    }

    /// Stores a record.
    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.ops.push((key, Some(codec::encode(value))));
    }

    /// Stores raw bytes.
    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    /// Removes a record.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// Moves every write of `other` after this set's own.
    pub fn append(&mut self, mut other: WriteSet) {
        self.ops.append(&mut other.ops);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    ///
    /// sled's own flusher thread is off: every flush goes through the
    /// store's group commit, which also `fdatasync`s sled's log file (see
    /// `triggerd_scheduler::GroupCommit::syncing`). With `durability =
    /// "async"` the daemon flushes on a timer instead
    /// ([`crate::engine::ASYNC_FLUSH_EVERY`]).
    pub fn open(dir: &Path) -> Result<Store> {
        let config = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(64 * 1024 * 1024)
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None);
        // A daemon restarted while its predecessor is still exiting waits
        // for the directory lock instead of failing at once.
        let db = triggerd_scheduler::open_db(&config, OPEN_LOCK_WAIT)?;
        // sled creates its files without syncing their directory: on a new
        // data dir a power loss could lose the log file's entry, and every
        // write acknowledged in it.
        for created in [dir.join("db"), dir.to_path_buf()] {
            std::fs::File::open(&created)?.sync_all()?;
        }
        let group = triggerd_scheduler::GroupCommit::syncing(db.clone(), &config)?;
        Store::with_group(db, group)
    }

    /// Wraps an already open database; flushes are sled's own.
    pub fn from_db(db: sled::Db) -> Result<Store> {
        let group = triggerd_scheduler::GroupCommit::new(db.clone());
        Store::with_group(db, group)
    }

    fn with_group(db: sled::Db, group: triggerd_scheduler::GroupCommit) -> Result<Store> {
        let data = db.open_tree("data")?;
        migrate::run(&data)?;
        let spilled = Arc::new(spill::Spilled::default());
        Ok(Store {
            db,
            data,
            spilled,
            group,
        })
    }

    /// The group commit shared by every writer of the database (the
    /// scheduler included): concurrent flushes become one.
    pub fn group(&self) -> &triggerd_scheduler::GroupCommit {
        &self.group
    }

    /// Returns once every write made before the call is on disk (R-K1).
    /// The wait is recorded (`triggerd_commit_wait_seconds`): it is the
    /// floor of every acknowledgement's latency.
    pub async fn flush(&self) -> Result<(), triggerd_scheduler::Error> {
        let started = std::time::Instant::now();
        let result = self.group.flush().await;
        crate::metrics::record_commit_wait(started.elapsed().as_secs_f64());
        result
    }

    /// The database, for the scheduler's trees and flushes.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Reads and decodes a record; a record that fails to decode is
    /// quarantined and reported as absent.
    pub fn get<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>> {
        match self.get_raw(key)? {
            None => Ok(None),
            Some(bytes) => match codec::decode(&bytes) {
                Ok(v) => Ok(Some(v)),
                Err(e) => {
                    self.quarantine(key, &bytes, &e)?;
                    Ok(None)
                }
            },
        }
    }

    /// Reads `key` only to bring its leaf into sled's cache, so that a
    /// later read under a lock does not wait for the disk. Errors are left
    /// for that later read to report.
    pub fn prefetch(&self, key: &[u8]) {
        let _ = self.data.get(key);
    }

    /// Reads raw bytes (joined from pieces when stored so; a value whose
    /// pieces are missing is quarantined and reported as absent).
    pub fn get_raw(&self, key: &[u8]) -> Result<Option<sled::IVec>> {
        match self.data.get(key)? {
            None => Ok(None),
            Some(bytes) => self.whole(key, bytes),
        }
    }

    /// The whole value behind bytes read at `key`: the bytes themselves,
    /// or (under the writers' lock, so never two versions mixed) the pieces
    /// of the stub now at `key`, joined. A stub missing pieces is
    /// quarantined and reported as absent.
    fn whole(&self, key: &[u8], bytes: sled::IVec) -> Result<Option<sled::IVec>> {
        if spill::decode_stub(&bytes).is_none() {
            return Ok(Some(bytes));
        }
        let locked = self.spilled.lock();
        match spill::Spilled::read_locked(&locked, &self.data, key)? {
            None => Ok(None),
            Some(Ok(whole)) => Ok(Some(whole)),
            Some(Err(e)) => {
                let kept = e.partial.clone();
                self.quarantine_locked(&locked, key, kept, &CodecError::from(e))?;
                Ok(None)
            }
        }
    }

    /// True when the key exists.
    pub fn contains(&self, key: &[u8]) -> Result<bool> {
        Ok(self.data.contains_key(key)?)
    }

    /// Moves the record at `key` that failed to decode (`bytes`, whole) to
    /// the quarantine, unless a write replaced it since it was read.
    fn quarantine(&self, key: &[u8], bytes: &[u8], err: &CodecError) -> Result<()> {
        let locked = self.spilled.lock();
        match spill::Spilled::read_locked(&locked, &self.data, key)? {
            Some(Ok(now)) if now.as_ref() == bytes => {
                self.quarantine_locked(&locked, key, bytes.to_vec(), err)
            }
            _ => Ok(()), // rewritten or removed meanwhile: nothing to move
        }
    }

    fn quarantine_locked(
        &self,
        locked: &spill::Locked<'_>,
        key: &[u8],
        kept: Vec<u8>,
        err: &CodecError,
    ) -> Result<()> {
        tracing::error!(
            key = %String::from_utf8_lossy(key),
            error = %err,
            "undecodable record quarantined; the daemon keeps serving"
        );
        let mut qkey = vec![keys::kind::QUARANTINE];
        qkey.extend_from_slice(key);
        spill::Spilled::apply_locked(
            locked,
            &self.data,
            vec![(qkey, Some(kept)), (key.to_vec(), None)],
        )?;
        metrics::counter!("triggerd_quarantined_records_total").increment(1);
        Ok(())
    }

    /// Every decodable record under `prefix`, in key order.
    pub fn scan<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, T)>> + '_ {
        self.data
            .scan_prefix(prefix)
            .filter_map(move |item| match item {
                Err(e) => Some(Err(StoreError::from(e))),
                Ok((k, v)) => match self.whole(&k, v) {
                    Err(e) => Some(Err(e)),
                    Ok(None) => None,
                    Ok(Some(v)) => match codec::decode::<T>(&v) {
                        Ok(t) => Some(Ok((k, t))),
                        Err(e) => match self.quarantine(&k, &v, &e) {
                            Ok(()) => None,
                            Err(e) => Some(Err(e)),
                        },
                    },
                },
            })
    }

    /// Keys under `prefix` from `start` (inclusive) onwards, in key order.
    pub fn range_from<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, T)>> + '_ {
        let prefix = prefix.to_vec();
        self.data
            .range(start.to_vec()..)
            .take_while(move |item| {
                item.as_ref()
                    .map(|(k, _)| k.starts_with(&prefix))
                    .unwrap_or(true)
            })
            .filter_map(move |item| match item {
                Err(e) => Some(Err(StoreError::from(e))),
                Ok((k, v)) => match self.whole(&k, v) {
                    Err(e) => Some(Err(e)),
                    Ok(v) => v
                        .and_then(|v| codec::decode::<T>(&v).ok())
                        .map(|t| Ok((k, t))),
                },
            })
    }

    /// Keys only, under `prefix`.
    pub fn scan_keys(&self, prefix: &[u8]) -> impl Iterator<Item = Result<sled::IVec>> + '_ {
        self.data
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, _)| k).map_err(StoreError::from))
    }

    /// The last record under `prefix`.
    pub fn last<T: DeserializeOwned>(&self, prefix: &[u8]) -> Result<Option<(sled::IVec, T)>> {
        match self.data.scan_prefix(prefix).next_back() {
            None => Ok(None),
            Some(r) => {
                let (k, v) = r?;
                Ok(self
                    .whole(&k, v)?
                    .and_then(|v| codec::decode::<T>(&v).ok())
                    .map(|t| (k, t)))
            }
        }
    }

    /// Applies a write set atomically (not yet flushed).
    pub fn apply(&self, writes: WriteSet) -> Result<()> {
        if writes.is_empty() {
            return Ok(());
        }
        self.spilled.apply(&self.data, writes.ops)?;
        Ok(())
    }

    /// A database-wide unique, increasing id (outbox sequence numbers).
    pub fn next_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undecodable_records_are_quarantined_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        let key = keys::profile("u1");
        store.data.insert(&key, vec![42u8, 1, 2]).expect("insert");
        let got: Option<profile::Profile> = store.get(&key).expect("no error");
        assert!(got.is_none());
        assert!(!store.contains(&key).expect("reads"));
        let mut q = vec![keys::kind::QUARANTINE];
        q.extend_from_slice(&key);
        assert!(
            store.contains(&q).expect("reads"),
            "raw bytes kept under quarantine"
        );
    }

    #[test]
    fn large_records_are_stored_in_pieces_and_read_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        // A rendered email of 300 KB, as an outbox record would hold.
        let body: String = (0..300_000)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect();
        let record = serde_json::json!({ "html": body });
        let mut w = WriteSet::new();
        w.put(keys::campaign("big"), &record);
        w.put(keys::campaign("small"), &serde_json::json!({"x": 1}));
        store.apply(w).expect("applies");
        assert_eq!(
            store
                .get::<serde_json::Value>(&keys::campaign("big"))
                .expect("reads"),
            Some(record.clone())
        );
        let all: Vec<_> = store
            .scan::<serde_json::Value>(&[keys::kind::CAMPAIGN])
            .collect::<Result<Vec<_>>>()
            .expect("scans");
        assert_eq!(all.len(), 2, "pieces are not records of the kind");
        assert_eq!(all[0].1, record);
        // Nothing stored reaches sled's blob threshold, and sled wrote no
        // blob file.
        assert!(
            store
                .data
                .iter()
                .all(|kv| kv.expect("kv").1.len() <= spill::PIECE)
        );
        store.db.flush().expect("flush");
        let blobs =
            std::fs::read_dir(dir.path().join("db").join("blobs")).map_or(0, Iterator::count);
        assert_eq!(blobs, 0);
        // After a reopen the pieces are still known: removing the record
        // removes them.
        drop(all);
        drop(store);
        let store = Store::open(dir.path()).expect("reopens");
        let mut w = WriteSet::new();
        w.remove(keys::campaign("big"));
        store.apply(w).expect("applies");
        assert_eq!(store.data.scan_prefix([keys::kind::SPILL]).count(), 0);
    }

    #[test]
    fn a_record_missing_pieces_is_quarantined_not_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        let mut w = WriteSet::new();
        w.put(keys::campaign("big"), &vec![7u64; 20_000]);
        store.apply(w).expect("applies");
        store
            .data
            .remove(spill::piece_key(&keys::campaign("big"), 2))
            .expect("remove");
        let got: Option<Vec<u64>> = store.get(&keys::campaign("big")).expect("no error");
        assert!(got.is_none());
        let mut q = vec![keys::kind::QUARANTINE];
        q.extend_from_slice(&keys::campaign("big"));
        // What survived (the pieces before the gap) is kept in quarantine;
        // the record's own pieces are gone.
        let kept = store.get_raw(&q).expect("reads").expect("quarantined");
        assert_eq!(kept.len(), 2 * spill::PIECE);
        for piece in 0..5 {
            assert!(
                !store
                    .contains(&spill::piece_key(&keys::campaign("big"), piece))
                    .expect("reads")
            );
        }
    }

    /// A reader racing a writer that keeps resizing one large record never
    /// sees a mix of two versions, and never quarantines the live record.
    #[test]
    fn reads_racing_rewrites_of_a_large_record_see_whole_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        let key = keys::campaign("big");
        let version = |n: u64| vec![n; if n.is_multiple_of(2) { 20_000 } else { 6_000 }];
        let mut w = WriteSet::new();
        w.put(key.clone(), &version(0));
        store.apply(w).expect("applies");
        let writer = {
            let (store, key) = (store.clone(), key.clone());
            std::thread::spawn(move || {
                for n in 1..400u64 {
                    let mut w = WriteSet::new();
                    w.put(key.clone(), &version(n));
                    store.apply(w).expect("applies");
                }
            })
        };
        let mut reads = 0;
        while !writer.is_finished() {
            let got: Vec<u64> = store.get(&key).expect("reads").expect("never quarantined");
            let n = got[0];
            assert_eq!(got, version(n), "one whole version");
            reads += 1;
        }
        writer.join().expect("writer");
        assert!(reads > 0);
        let mut q = vec![keys::kind::QUARANTINE];
        q.extend_from_slice(&key);
        assert!(!store.contains(&q).expect("reads"));
    }

    #[test]
    fn write_sets_apply_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        let mut w = WriteSet::new();
        w.put(keys::campaign("a"), &serde_json::json!({"x":1}));
        w.put(keys::campaign("b"), &serde_json::json!({"x":2}));
        store.apply(w).expect("applies");
        let all: Vec<_> = store
            .scan::<serde_json::Value>(&[keys::kind::CAMPAIGN])
            .collect::<Result<Vec<_>>>()
            .expect("scans");
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn appended_sets_apply_in_order_later_writes_winning() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("opens");
        let mut first = WriteSet::new();
        first.put(keys::campaign("a"), &1);
        first.put(keys::campaign("b"), &1);
        let mut second = WriteSet::new();
        second.put(keys::campaign("a"), &2);
        second.remove(keys::campaign("b"));
        first.append(second);
        assert_eq!(first.len(), 4);
        store.apply(first).expect("applies");
        assert_eq!(
            store.get::<i32>(&keys::campaign("a")).expect("reads"),
            Some(2)
        );
        assert!(!store.contains(&keys::campaign("b")).expect("reads"));
    }
}
