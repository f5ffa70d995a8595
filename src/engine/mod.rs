//! The engine: per-user ordered processing of ingest and fired sends, on
//! top of the store, the scheduler and the gateway (DESIGN.md "Data flow").
//!
//! Ordering: every unit of work on a user holds that user's *stripe* lock
//! (hash of `external_id` → one of [`STRIPES`] mutexes). That is the shard
//! seam of DESIGN.md: users are independent, and nothing a stripe needs
//! lives in another stripe.
//!
//! Durability (R-K1): units write without flushing; a request is answered
//! after one group-committed flush that covers every unit it ran.

pub mod campaigns;
pub mod commit;
pub mod delivery;
pub mod explain;
pub mod fire;
pub mod ingest;
pub mod registry;
pub mod sdk;
pub mod stats;
#[cfg(test)]
pub(crate) mod test_support;
pub mod timers;
pub mod tracking;
pub mod user;
pub mod users;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use triggerd_core::freqcap::CapRules;

use crate::clock::Clock;
use crate::store::{Store, StoreError, keys};
pub use registry::{CampaignEntry, Registry};
pub use timers::Timers;

/// How often the daemon flushes with `durability = "async"`: an
/// acknowledged write is on disk within about this long. (The store turns
/// sled's own flusher thread, which did this, off: see `Store::open`.)
pub const ASYNC_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// How long the answer of a request with an `Idempotency-Key` is kept: a
/// retry within it replays the answer, a later one is applied as new.
/// (Clients retry within seconds to minutes; Stripe keeps keys 24 h.)
pub const IDEMPOTENCY_RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// Number of user stripes (per-user ordering locks).
pub const STRIPES: u16 = 64;

/// Engine failures.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed (disk full, I/O error).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The timer store failed.
    #[error("timer store: {0}")]
    Timers(String),
    /// Not found (campaign, user, send).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The request is invalid.
    #[error("{0}")]
    Invalid(String),
}

impl From<sled::Error> for EngineError {
    fn from(e: sled::Error) -> Self {
        EngineError::Store(StoreError::Sled(e))
    }
}

/// Engine settings from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Base URL of tracking and short links.
    pub public_url: String,
    /// Flush before acknowledging (R-K1) when true; `async` durability when false.
    pub flush: bool,
    /// How long outbox lines are kept.
    pub outbox_retention: chrono::Duration,
}

/// The shared engine state.
pub struct EngineInner {
    /// The database.
    pub store: Store,
    /// Campaigns and the trigger index.
    pub registry: Registry,
    /// Global frequency caps (R-F1).
    pub caps: RwLock<CapRules>,
    /// Durable timers of pending sends.
    pub timers: Timers,
    /// Channel adapters.
    pub gateway: delivery::Delivery,
    /// The clock.
    pub clock: Clock,
    /// Settings.
    pub settings: EngineSettings,
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// Held by the counter fold and by counter reads (see [`stats`]).
    stats_fold: Mutex<()>,
}

/// The engine handle (cheap to clone).
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::ops::Deref for Engine {
    type Target = EngineInner;
    fn deref(&self) -> &EngineInner {
        &self.inner
    }
}

/// A send id from a millisecond timestamp and random bits (see
/// [`EngineInner::new_send_id`]).
pub fn time_ordered_id(millis: i64, random: u128) -> String {
    const RANDOM_BITS: u32 = 80;
    let ms = (millis.max(0) as u128) & ((1 << 48) - 1);
    format!(
        "{:032x}",
        ms << RANDOM_BITS | (random & ((1 << RANDOM_BITS) - 1))
    )
}

/// Normalises a phone number for lookups: digits and a leading `+` only.
pub fn normalize_phone(phone: &str) -> String {
    let trimmed = phone.trim().trim_start_matches("whatsapp:");
    let mut out = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        if c.is_ascii_digit() || (i == 0 && c == '+') {
            out.push(c);
        }
    }
    out
}

impl Engine {
    /// Builds the engine and loads campaigns and frequency caps from the store.
    pub fn new(
        store: Store,
        timers: Timers,
        gateway: delivery::Delivery,
        clock: Clock,
        settings: EngineSettings,
    ) -> Result<Engine, EngineError> {
        let inner = EngineInner {
            registry: Registry::new(),
            caps: RwLock::new(CapRules::default()),
            timers,
            gateway,
            clock,
            settings,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            stats_fold: Mutex::new(()),
            store,
        };
        let engine = Engine {
            inner: Arc::new(inner),
        };
        engine.load_campaigns()?;
        let folded = engine.fold_counters()?;
        if folded > 0 {
            tracing::debug!(folded, "counter deltas folded at startup");
        }
        if let Some(caps) = engine
            .store
            .get::<CapRules>(&keys::key(keys::kind::META, &["frequency_caps"]))?
        {
            *engine.caps.write() = caps;
        }
        Ok(engine)
    }

    /// Flushes to disk when durability is `flush` (shared by concurrent callers).
    ///
    /// With `async` durability nothing is flushed here, but once a sync of
    /// the log has failed (see `GroupCommit::sync_failure`) nothing is
    /// acknowledged either: the writes could never reach the disk.
    pub async fn commit_point(&self) -> Result<(), EngineError> {
        if self.settings.flush {
            self.store
                .flush()
                .await
                .map_err(|e| EngineError::Timers(e.to_string()))?;
        } else if let Some(e) = self.store.group().sync_failure() {
            return Err(EngineError::Timers(e));
        }
        Ok(())
    }

    /// Flushes unconditionally (shutdown, clock persistence).
    pub async fn flush_now(&self) -> Result<(), EngineError> {
        self.store
            .flush()
            .await
            .map_err(|e| EngineError::Timers(e.to_string()))
    }
}

impl EngineInner {
    /// The stripe of a user.
    pub fn stripe_of(&self, external_id: &str) -> u16 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        external_id.hash(&mut h);
        (h.finish() % u64::from(STRIPES)) as u16
    }

    /// The stripe of an `Idempotency-Key` record: every request carrying
    /// that key takes it too, whatever its users.
    pub fn stripe_of_key(&self, key: &[u8]) -> u16 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % u64::from(STRIPES)) as u16
    }

    /// Locks a user's stripe for one unit of work.
    pub async fn lock_user(&self, external_id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock_stripe(self.stripe_of(external_id)).await
    }

    /// Locks one stripe. Code that holds several takes them in increasing
    /// stripe order.
    pub async fn lock_stripe(&self, stripe: u16) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripes[usize::from(stripe)].lock().await
    }

    /// A new, stable send id (32 hex digits = the timer id): the clock's
    /// milliseconds in the top 48 bits and 80 random bits below (the shape
    /// of a UUIDv7). New sends' records and timer index entries then land
    /// next to each other at the end of their key ranges instead of on
    /// random pages, which keeps sled's working set small under load.
    pub fn new_send_id(&self) -> String {
        time_ordered_id(self.clock.now().timestamp_millis(), rand::random::<u128>())
    }
}

impl Engine {
    /// Background upkeep: the pending-sends gauge and outbox retention.
    pub async fn run_upkeep(self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(10));
        loop {
            tick.tick().await;
            metrics::gauge!("triggerd_pending_sends").set(self.timers.pending() as f64);
            if let Err(e) = self.trim_outbox() {
                tracing::warn!(error = %e, "outbox retention pass failed");
            }
            if let Err(e) = self.trim_idempotency() {
                tracing::warn!(error = %e, "idempotency retention pass failed");
            }
        }
    }

    /// With `durability = "async"`, flushes every [`ASYNC_FLUSH_EVERY`]
    /// until aborted; with `flush` durability every acknowledgement flushes
    /// already, and this returns at once.
    pub async fn run_async_flush(self) {
        if self.settings.flush {
            return;
        }
        let mut tick = tokio::time::interval(ASYNC_FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match self.flush_now().await {
                // Once per failure, not twice a second until the restart.
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "periodic flush failed");
                    failing = true;
                }
                Err(_) => {}
                Ok(()) => failing = false,
            }
        }
    }

    /// Removes stored answers of `Idempotency-Key` requests older than
    /// [`IDEMPOTENCY_RETENTION`], oldest first, at most 10,000 per call;
    /// answers the number removed. Records written before the time index
    /// existed have no entry in it and are kept.
    pub fn trim_idempotency(&self) -> Result<usize, EngineError> {
        let cutoff = (self.clock.now() - IDEMPOTENCY_RETENTION).timestamp_millis();
        let mut w = crate::store::WriteSet::new();
        let mut n = 0;
        for entry in self.store.scan_keys(&[keys::kind::IDEMPOTENCY_BY_TIME]) {
            let entry = entry?;
            let Some((at, record_key)) = keys::split_idempotency_by_time(&entry) else {
                w.remove(entry.to_vec());
                continue;
            };
            if at >= cutoff || n >= 10_000 {
                break;
            }
            w.remove(record_key.to_vec());
            w.remove(entry.to_vec());
            n += 1;
        }
        self.store.apply(w)?;
        Ok(n)
    }

    /// Removes outbox lines older than the retention (oldest first).
    pub fn trim_outbox(&self) -> Result<usize, EngineError> {
        let cutoff = self.clock.now() - self.settings.outbox_retention;
        let mut w = crate::store::WriteSet::new();
        let mut n = 0;
        for item in self
            .store
            .scan::<crate::store::records::OutboxRecord>(&[keys::kind::OUTBOX])
        {
            let (k, rec) = item?;
            if rec.sent_at >= cutoff || n >= 10_000 {
                break;
            }
            w.remove(k.to_vec());
            w.remove(keys::key(keys::kind::OUTBOX_BY_SEND, &[&rec.send_id]));
            n += 1;
        }
        self.store.apply(w)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Durability;
    use crate::engine::test_support;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn r_k1_async_durability_flushes_on_a_timer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine =
            test_support::engine_with(dir.path(), test_support::start(), Durability::Async).await;
        let before = engine.store.group().flush_count();
        let task = tokio::spawn(engine.clone().run_async_flush());
        tokio::time::sleep(ASYNC_FLUSH_EVERY * 3 + std::time::Duration::from_millis(200)).await;
        task.abort();
        let flushes = engine.store.group().flush_count() - before;
        // Ticks at 0, 0.5, 1.0 and 1.5 s.
        assert!(flushes >= 3, "{flushes} flushes in 1.7 s");
    }

    #[tokio::test]
    async fn r_k1_flush_durability_needs_no_flush_timer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = test_support::engine(dir.path(), test_support::start()).await;
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            engine.clone().run_async_flush(),
        )
        .await
        .expect("returns at once: every acknowledgement flushes");
    }

    /// Posts one event for `user` through the engine, as `/users/track` does.
    async fn track(engine: &Engine, user: &str) -> Result<(), EngineError> {
        let body = serde_json::json!({"events": [{"external_id": user, "name": "e"}]});
        let now = test_support::start();
        let batch = ingest::parse_track(&body, now, triggerd_core::Source::Rest)?;
        engine
            .ingest(batch, now, triggerd_core::Source::Rest)
            .await
            .map(|_| ())
    }

    #[tokio::test]
    async fn r_k1_nothing_is_acknowledged_after_a_failed_sync_of_the_log() {
        for durability in [Durability::Flush, Durability::Async] {
            let dir = tempfile::tempdir().expect("tempdir");
            let engine =
                test_support::engine_with(dir.path(), test_support::start(), durability).await;
            track(&engine, "before").await.expect("acknowledged");
            engine
                .store
                .group()
                .mark_sync_failed("injected: fdatasync failed (EIO)");
            match track(&engine, "after").await {
                // Mapped to 503 by the API (`api::routes`).
                Err(EngineError::Timers(why)) => {
                    assert!(why.contains("injected"), "{durability:?}: {why}");
                }
                other => panic!("{durability:?}: acknowledged after a failed sync: {other:?}"),
            }
            assert!(
                engine.flush_now().await.is_err(),
                "{durability:?}: explicit flushes fail too"
            );
        }
    }

    #[test]
    fn send_ids_sort_by_time_and_stay_unique_within_a_millisecond() {
        let a = time_ordered_id(1_700_000_000_000, u128::MAX);
        let b = time_ordered_id(1_700_000_000_001, 0);
        assert!(a < b, "{a} sorts before {b}");
        assert_eq!(a.len(), 32);
        let c = time_ordered_id(1_700_000_000_001, 1);
        assert_ne!(b, c, "random bits tell apart sends of one millisecond");
        assert!(super::timers::timer_id(&c).is_some());
        // Before the epoch (a test clock set far back) still gives an id.
        assert_eq!(time_ordered_id(-5, 7), format!("{:032x}", 7));
    }
}
