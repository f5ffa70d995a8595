//! The scheduler: durable timers in one sled tree, a bounded window of them
//! in memory.
//!
//! Disk is the truth, memory is a window (as in restate's timer service):
//! groups of timers are stored in order of their earliest due; the loader
//! pages groups into the in-memory wheel as the consumer asks for later
//! instants. The *cursor* (a group key) splits the two worlds: every group
//! whose key is below it is loaded (its live timers are resident), every
//! group at or above it is not, so every unloaded timer is due at or after
//! the cursor's due. A new timer due before the cursor's due goes into
//! memory as well as to disk; one due later goes to disk only (its group key
//! lands above the cursor, as group sequence numbers only grow). Only timers
//! due before the cursor's due are handed out, so the `(due, id)` order
//! holds across memory and disk.
//!
//! Restart is construction: nothing is resident, the cursor is at the
//! beginning of time, and the first `pop_due` pages in the oldest groups, so
//! overdue timers (including those handed out but never completed) fire
//! first. Startup reads the index run headers (with the pages of big runs'
//! filters and fences) and one group key, nothing else.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::codec::{
    FORMAT_VERSION, FORMATS_READ, Kind, Record, StoredTimer, decode_group, encode_group,
};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::group_commit::GroupCommit;
use crate::grouping::{GroupPolicy, cut};
use crate::horizon::{Horizon, horizon_key};
use crate::index::{IdIndex, Version, compact};
use crate::keys::{GroupKey, format_key};
use crate::parallel;
use crate::types::{
    Durability, Fired, Millis, PendingTimer, Scheduled, Timer, TimerId, TimerState,
};
use crate::window::{Resident, Window};

/// Name of the sled tree holding all scheduler data.
pub const TREE_NAME: &str = "timers.store";

/// Counters describing the scheduler's current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Pending timers (waiting or in flight).
    pub pending: u64,
    /// Timers held in memory.
    pub resident: usize,
    /// Timers handed out and not completed.
    pub in_flight: usize,
    /// Runs in the id index.
    pub index_runs: usize,
    /// Bytes the id index holds in memory: bloom filters, chunk fences and
    /// the records of runs small enough to live in their header.
    pub index_filter_bytes: usize,
}

/// A timer's current version, wherever it lives.
#[derive(Clone, Copy, Debug)]
struct Existing {
    version: Version,
    resident: bool,
}

impl Existing {
    /// The version of a resident timer.
    fn resident(r: &Resident) -> Self {
        Existing {
            version: Version {
                seq: r.seq,
                due: r.due,
                group: r.group,
            },
            resident: true,
        }
    }
}

/// Timers paged in per loader call (at least): big enough to amortise the
/// scan, small enough that the first fire after a restart comes quickly.
const LOAD_STEP: usize = 1_024;

fn pending_key() -> Vec<u8> {
    let mut k = vec![crate::keys::META_PREFIX];
    k.extend_from_slice(b"pending");
    k
}

/// Key of the highest cursor any run of the process reached: groups at or
/// above it were never loaded, hence never deleted.
fn loaded_high_key() -> Vec<u8> {
    let mut k = vec![crate::keys::META_PREFIX];
    k.extend_from_slice(b"loaded_high");
    k
}

/// One timer of a schedule batch after deduplication.
struct Staged {
    id: TimerId,
    due: Millis,
    payload: Vec<u8>,
    replaces: Option<Existing>,
    dirty: bool,
}

pub(crate) struct State {
    index: IdIndex,
    window: Window,
    /// Groups with a smaller key are loaded; the others are not.
    cursor: GroupKey,
    /// Highest cursor ever reached (persisted); see [`loaded_high_key`].
    loaded_high: GroupKey,
    /// Earliest `min_due` of an unloaded group, if any.
    next_unloaded: Option<Millis>,
    pending: u64,
    /// Latest instant a consumer asked about (the "present" for grouping).
    reference: Millis,
    /// Versions below it are dead without tombs (see [`crate::horizon`]).
    horizon: Horizon,
}

impl State {
    /// Whether a group is on disk. Every group below the cursor that still
    /// exists is tracked by the window; groups at or above the highest
    /// cursor ever reached were never loaded, so never deleted. Only groups
    /// in between (an earlier run of the process may have deleted them) need
    /// a read.
    fn group_exists(&self, tree: &sled::Tree, group: &GroupKey) -> Result<bool> {
        if *group < self.cursor {
            Ok(self.window.tracks(group))
        } else if *group >= self.loaded_high {
            Ok(true)
        } else {
            Ok(tree.contains_key(group.encode())?)
        }
    }

    fn next_due(&self) -> Option<Millis> {
        match (self.window.min_waiting_due(), self.next_unloaded) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    cfg: Config,
    policy: GroupPolicy,
    state: Arc<Mutex<State>>,
    notify: Notify,
    commit: GroupCommit,
    compactor: Option<Compactor>,
}

/// Durable timer scheduler. Cheap to clone; clones share one scheduler.
/// Open at most one per database.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Scheduler {
    /// Opens the scheduler's tree (`timers.store`) inside the caller's
    /// database, with its own [`GroupCommit`].
    pub fn open(db: sled::Db, cfg: Config) -> Result<Scheduler> {
        let commit = GroupCommit::new(db.clone());
        Self::open_with_commit(db, cfg, commit)
    }

    /// Like [`Scheduler::open`], sharing the caller's [`GroupCommit`] so that
    /// the daemon's writes and the scheduler's share flushes.
    pub fn open_with_commit(db: sled::Db, cfg: Config, commit: GroupCommit) -> Result<Scheduler> {
        let tree = db.open_tree(TREE_NAME)?;
        // The format found (none: a new store); written as current below,
        // once the store is upgraded.
        let found = match tree.get(format_key())? {
            Some(v) if v.len() == 1 && FORMATS_READ.contains(&v[0]) => Some(v[0]),
            None => None,
            Some(v) => {
                return Err(Error::UnsupportedFormat {
                    found: v.first().copied().unwrap_or(0),
                    supported: FORMAT_VERSION,
                });
            }
        };
        let started = std::time::Instant::now();
        let mut index = IdIndex::load(&tree)?;
        if !cfg.compaction {
            // No compactor to hand unfinished deletions to: finish them now.
            for (run, marker) in index.take_leftovers() {
                crate::index::purge_run(&tree, run, &marker, &AtomicBool::new(false))?;
            }
        }
        tracing::info!(
            runs = index.runs().len(),
            filter_bytes = index.memory(),
            ms = started.elapsed().as_millis() as u64,
            "timer index loaded"
        );
        let next_unloaded = first_group_from(&tree, Millis::MIN)?;
        let loaded_high = match tree.get(loaded_high_key())? {
            Some(v) => GroupKey::decode(&v)?,
            // Version 1 stores written before the highest loader cursor was
            // kept may have deleted groups without leaving it: put it just
            // above every group the index refers to (found by review: with
            // the beginning of time instead, a deleted group counted as on
            // disk, so its dead timer looked pending and a new schedule of
            // it was taken for a no-op). Stored before the format, so a
            // crash in between redoes it.
            None if found == Some(1) => {
                let high =
                    index
                        .highest_put_group(&tree)?
                        .map_or(GroupKey::first_at(Millis::MIN), |g| GroupKey {
                            min_due: g.min_due,
                            gseq: g.gseq.saturating_add(1),
                        });
                tree.insert(loaded_high_key(), high.encode().to_vec())?;
                high
            }
            // Later stores keep it from their first load on: none, nothing
            // was ever loaded, so no group was ever deleted.
            None => GroupKey::first_at(Millis::MIN),
        };
        if found != Some(FORMAT_VERSION) {
            tree.insert(format_key(), &[FORMAT_VERSION][..])?;
            if let Some(from) = found {
                tracing::info!(from, to = FORMAT_VERSION, "timer store format upgraded");
            }
        }
        let pending = match tree.get(pending_key())? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::corrupt("pending count", "bad width"))?,
            ),
            None => 0,
        };
        let horizon = Horizon::load(&tree)?;
        let state = Arc::new(Mutex::new(State {
            index,
            window: Window::new(),
            cursor: GroupKey::first_at(Millis::MIN),
            loaded_high,
            next_unloaded,
            pending,
            reference: Millis::MIN,
            horizon,
        }));
        let compactor = cfg
            .compaction
            .then(|| Compactor::spawn(db.clone(), tree.clone(), state.clone()));
        let policy = cfg.group_policy();
        Ok(Scheduler {
            inner: Arc::new(Inner {
                db,
                tree,
                cfg,
                policy,
                state,
                notify: Notify::new(),
                commit,
                compactor,
            }),
        })
    }

    /// The group commit this scheduler flushes through.
    pub fn group_commit(&self) -> &GroupCommit {
        &self.inner.commit
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    async fn settle(&self, durability: Durability) -> Result<()> {
        match durability {
            Durability::Flush => self.inner.commit.flush().await,
            Durability::Async => Ok(()),
        }
    }

    /// Schedules one timer; see [`Scheduler::schedule_batch`].
    pub async fn schedule(&self, timer: Timer, durability: Durability) -> Result<Scheduled> {
        let mut out = self.schedule_batch(vec![timer], durability).await?;
        out.pop()
            .ok_or_else(|| Error::corrupt("schedule", "no outcome"))
    }

    /// Schedules timers, idempotent by id: an id pending with the same due is
    /// left alone, an id pending with another due is rescheduled (also when
    /// in flight: that is how a retry is planned), a new id is created. Items
    /// apply in order, so a later item for the same id wins. All of it is one
    /// atomic write; with [`Durability::Flush`] it is on disk on return.
    pub async fn schedule_batch(
        &self,
        timers: Vec<Timer>,
        durability: Durability,
    ) -> Result<Vec<Scheduled>> {
        let (outcomes, wrote) = self.inner.write_schedule(timers)?;
        if wrote {
            self.settle(durability).await?;
        }
        Ok(outcomes)
    }

    /// Cancels a pending timer (waiting or in flight). Returns whether one
    /// was pending.
    pub async fn cancel(&self, id: TimerId, durability: Durability) -> Result<bool> {
        Ok(self.cancel_batch(&[id], durability).await? == 1)
    }

    /// Cancels pending timers in one atomic write. Returns how many were
    /// pending.
    pub async fn cancel_batch(&self, ids: &[TimerId], durability: Durability) -> Result<usize> {
        let n = self.inner.write_removal(ids, false)?;
        if n > 0 {
            self.settle(durability).await?;
        }
        Ok(n)
    }

    /// Removes timers that were handed out by [`Scheduler::pop_due`] and are
    /// still in flight, in one atomic write. Ids not in flight (unknown,
    /// already completed, rescheduled since) are ignored. Returns how many
    /// were completed.
    pub async fn complete(&self, ids: &[TimerId], durability: Durability) -> Result<usize> {
        let n = self.inner.write_removal(ids, true)?;
        if n > 0 {
            self.settle(durability).await?;
        }
        Ok(n)
    }

    /// The pending timer with this id, if any.
    pub fn get(&self, id: TimerId) -> Result<Option<PendingTimer>> {
        self.inner.get(id)
    }

    /// Number of pending timers (waiting or in flight).
    pub fn pending_count(&self) -> u64 {
        self.inner.state.lock().pending
    }

    /// Hands out up to `max` timers due at or before `upto` that are not in
    /// flight, in `(due, id)` order, and marks them in flight. Returns fewer
    /// than `max` only when no more are due. They are not
    /// handed out again until completed (gone), rescheduled or cancelled, or
    /// the process restarts (then they fire again: at-least-once).
    pub fn pop_due(&self, upto: Millis, max: usize) -> Result<Vec<Fired>> {
        self.inner.pop_due(upto, max)
    }

    /// The earliest due among timers not in flight (a lower bound when the
    /// next memory slot holds only cancelled timers), or `None` when nothing
    /// waits.
    pub fn next_due(&self) -> Option<Millis> {
        self.inner.state.lock().next_due()
    }

    /// Resolves after a write moved [`Scheduler::next_due`] earlier. One
    /// notification is kept if nobody is waiting (tokio `notify_one`), so a
    /// consumer that checks `next_due` and then awaits this never misses one.
    pub fn notified(&self) -> Notified<'_> {
        self.inner.notify.notified()
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        let st = self.inner.state.lock();
        Stats {
            pending: st.pending,
            resident: st.window.len(),
            in_flight: st.window.in_flight(),
            index_runs: st.index.runs().len(),
            index_filter_bytes: st.index.memory(),
        }
    }
}

fn first_group_from(tree: &sled::Tree, from: Millis) -> Result<Option<Millis>> {
    let start = GroupKey::first_at(from).encode();
    match tree
        .range(start.as_slice()..GroupKey::keyspace_end().as_slice())
        .next()
    {
        Some(item) => Ok(Some(GroupKey::decode(&item?.0)?.min_due)),
        None => Ok(None),
    }
}

impl Inner {
    /// The current version of each id (`None`: no live timer), in order:
    /// resident ones from memory, the others from the index, on several
    /// threads when there are many (see [`crate::parallel`]).
    fn existing_many(&self, st: &State, ids: &[TimerId]) -> Result<Vec<Option<Existing>>> {
        let mut out: Vec<Option<Existing>> = Vec::with_capacity(ids.len());
        let mut stored: Vec<(usize, TimerId)> = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            out.push(st.window.get(id).map(Existing::resident));
            if out[i].is_none() {
                stored.push((i, id));
            }
        }
        let found = parallel::try_map(&stored, |&(_, id)| Self::lookup_stored(&self.tree, st, id))?;
        for ((i, _), version) in stored.into_iter().zip(found) {
            out[i] = version.map(|version| Existing {
                version,
                resident: false,
            });
        }
        Ok(out)
    }

    /// The live stored version of a timer that is not resident: the index's
    /// answer, unless the horizon covers it.
    fn lookup_stored(tree: &sled::Tree, st: &State, id: TimerId) -> Result<Option<Version>> {
        Ok(st
            .index
            .lookup(tree, id, |g| st.group_exists(tree, g))?
            .filter(|v| !st.horizon.covers(id, v.due, v.group.gseq)))
    }

    fn wake_compactor(&self) {
        if let Some(c) = &self.compactor {
            c.wake();
        }
    }

    /// Stages the death of `dead` timers: deletion of the groups it empties,
    /// and a tomb for every timer whose group survives (a deleted group
    /// needs no tombs: lookups check that a version's group exists) unless
    /// `horizon` (the one this write stores) covers it.
    fn stage_deaths(
        st: &State,
        dead: &[(TimerId, Existing)],
        horizon: &Horizon,
        batch: &mut sled::Batch,
    ) -> Vec<Record> {
        let mut drops: HashMap<GroupKey, u32> = HashMap::new();
        for (_, e) in dead.iter().filter(|(_, e)| e.resident) {
            *drops.entry(e.version.group).or_insert(0) += 1;
        }
        let mut emptied = HashSet::new();
        for (group, n) in drops {
            if st.window.live_in(&group) <= n {
                batch.remove(group.encode().to_vec());
                emptied.insert(group);
            }
        }
        dead.iter()
            .filter(|(_, e)| !(e.resident && emptied.contains(&e.version.group)))
            .filter(|(id, e)| !horizon.covers(*id, e.version.due, e.version.group.gseq))
            .map(|(id, e)| tomb(*id, e.version))
            .collect()
    }

    fn stage_pending(batch: &mut sled::Batch, pending: u64) {
        batch.insert(pending_key(), pending.to_be_bytes().to_vec());
    }

    fn write_schedule(&self, timers: Vec<Timer>) -> Result<(Vec<Scheduled>, bool)> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let before = st.next_due();
        let mut outcomes = Vec::with_capacity(timers.len());
        let mut slot_of: HashMap<TimerId, usize> = HashMap::with_capacity(timers.len());
        let mut staged: Vec<Staged> = Vec::with_capacity(timers.len());
        let mut first_seen = HashSet::with_capacity(timers.len());
        let unique: Vec<TimerId> = timers
            .iter()
            .map(|t| t.id)
            .filter(|id| first_seen.insert(*id))
            .collect();
        // In the order of the ids' first appearances, as the loop meets them.
        let mut found = self.existing_many(st, &unique)?.into_iter();
        for t in timers {
            if let Some(&i) = slot_of.get(&t.id) {
                let s = &mut staged[i];
                if s.due == t.due {
                    outcomes.push(Scheduled::Unchanged);
                } else {
                    s.due = t.due;
                    s.payload = t.payload;
                    s.dirty = true;
                    outcomes.push(Scheduled::Rescheduled);
                }
                continue;
            }
            let existing = found
                .next()
                .ok_or_else(|| Error::corrupt("lookup", "fewer answers than ids"))?;
            let (outcome, dirty) = match existing {
                Some(e) if e.version.due == t.due => (Scheduled::Unchanged, false),
                Some(_) => (Scheduled::Rescheduled, true),
                None => (Scheduled::Created, true),
            };
            outcomes.push(outcome);
            slot_of.insert(t.id, staged.len());
            staged.push(Staged {
                id: t.id,
                due: t.due,
                payload: t.payload,
                replaces: existing,
                dirty,
            });
        }
        let mut writes: Vec<Staged> = staged.into_iter().filter(|s| s.dirty).collect();
        if writes.is_empty() {
            return Ok((outcomes, false));
        }
        writes.sort_unstable_by_key(|s| (s.due, s.id));

        let mut batch = sled::Batch::default();
        let replaced: Vec<(TimerId, Existing)> = writes
            .iter()
            .filter_map(|s| s.replaces.map(|e| (s.id, e)))
            .collect();
        let mut records = Self::stage_deaths(st, &replaced, &st.horizon, &mut batch);
        let untombed = (replaced.len() - records.len()) as u64;
        records.reserve(writes.len());

        // Split at the cursor: timers due before it go to groups born loaded.
        let split = writes.partition_point(|s| s.due < st.cursor.min_due);
        let created = (writes.len() - replaced.len()) as u64;
        let mut memory_groups: Vec<(GroupKey, Vec<StoredTimer>)> = Vec::new();
        let mut first_disk_due: Option<Millis> = None;
        let disk_part = writes.split_off(split);
        for (part, resident) in [(writes, true), (disk_part, false)] {
            let dues: Vec<(Millis, usize)> =
                part.iter().map(|s| (s.due, s.payload.len())).collect();
            let mut part = part.into_iter();
            for range in cut(&dues, st.reference, &self.policy) {
                let key = GroupKey {
                    min_due: dues[range.start].0,
                    gseq: self.db.generate_id()?,
                };
                let mut group = Vec::with_capacity(range.len());
                for s in part.by_ref().take(range.len()) {
                    let seq = self.db.generate_id()?;
                    records.push(Record {
                        id: s.id,
                        seq,
                        kind: Kind::Put,
                        due: s.due,
                        group: key,
                    });
                    group.push(StoredTimer {
                        due: s.due.0,
                        id: s.id,
                        seq,
                        payload: s.payload,
                    });
                }
                batch.insert(key.encode().to_vec(), encode_group(&group)?);
                if resident {
                    memory_groups.push((key, group));
                } else if first_disk_due.is_none() {
                    first_disk_due = Some(key.min_due);
                }
            }
        }
        let run = IdIndex::stage_run(self.db.generate_id()?, records, &mut batch)?;
        Self::stage_pending(&mut batch, st.pending + created);
        self.tree.apply_batch(batch)?;

        // Applied: now mirror it in memory.
        st.index.add(run);
        st.index.note_untombed_deaths(untombed);
        for (id, e) in &replaced {
            if e.resident {
                st.window.remove(*id);
            }
        }
        for (key, group) in memory_groups {
            for t in group {
                st.window.insert(
                    t.id,
                    Resident {
                        due: Millis(t.due),
                        seq: t.seq,
                        group: key,
                        payload: t.payload,
                        in_flight: false,
                    },
                );
            }
        }
        if let Some(d) = first_disk_due {
            st.next_unloaded = Some(st.next_unloaded.map_or(d, |n| n.min(d)));
        }
        st.pending += created;
        let after = st.next_due();
        drop(guard);
        if after.is_some() && (before.is_none() || after < before) {
            self.notify.notify_one();
        }
        self.wake_compactor();
        Ok((outcomes, true))
    }

    /// Cancels (`only_in_flight == false`) or completes (`true`) timers.
    fn write_removal(&self, ids: &[TimerId], only_in_flight: bool) -> Result<usize> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        let mut seen = HashSet::with_capacity(ids.len());
        let unique: Vec<TimerId> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let victims: Vec<(TimerId, Existing)> = if only_in_flight {
            unique
                .iter()
                .filter_map(|&id| {
                    let r = st.window.get(id).filter(|r| r.in_flight)?;
                    Some((id, Existing::resident(r)))
                })
                .collect()
        } else {
            let found = self.existing_many(st, &unique)?;
            unique
                .into_iter()
                .zip(found)
                .filter_map(|(id, e)| Some((id, e?)))
                .collect()
        };
        if victims.is_empty() {
            return Ok(0);
        }
        let mut batch = sled::Batch::default();
        // Cancels move the horizon too: the daemon cancels a fired timer
        // once its send is done.
        let horizon = self.advance_horizon(st, &victims, &mut batch)?;
        let records = Self::stage_deaths(st, &victims, &horizon, &mut batch);
        let untombed = (victims.len() - records.len()) as u64;
        let run = IdIndex::stage_run(self.db.generate_id()?, records, &mut batch)?;
        let pending = st.pending.saturating_sub(victims.len() as u64);
        Self::stage_pending(&mut batch, pending);
        self.tree.apply_batch(batch)?;
        st.horizon = horizon;
        st.index.add(run);
        st.index.note_untombed_deaths(untombed);
        for (id, e) in &victims {
            if e.resident {
                st.window.remove(*id);
            }
        }
        st.pending = pending;
        drop(guard);
        self.wake_compactor();
        Ok(victims.len())
    }

    /// The horizon after removing `victims`: the lowest `(due, id)` that
    /// stays live, in memory or not yet paged in, with a fresh group
    /// sequence (every group written so far has a smaller one). Staged into
    /// `batch` when it moved. (Only in-flight victims are left out of the
    /// minimum; a waiting victim still counts, which only lowers it.)
    fn advance_horizon(
        &self,
        st: &State,
        victims: &[(TimerId, Existing)],
        batch: &mut sled::Batch,
    ) -> Result<Horizon> {
        let leaving: HashSet<TimerId> = victims.iter().map(|(id, _)| *id).collect();
        // Every group at or above the cursor is unloaded and holds timers
        // due at or after the cursor's due; every live timer of a group
        // below it is resident.
        let unloaded = (st.cursor.min_due, TimerId::MIN);
        let (due, id) = st
            .window
            .lowest_live(&leaving)
            .map_or(unloaded, |low| low.min(unloaded));
        if !st.horizon.is_below(due, id) {
            return Ok(st.horizon); // no fresh sequence needed
        }
        let horizon = st.horizon.advanced(due, id, self.db.generate_id()?);
        batch.insert(horizon_key(), horizon.encode());
        Ok(horizon)
    }

    fn read_stored(&self, id: TimerId, v: Version) -> Result<StoredTimer> {
        let bytes = self.tree.get(v.group.encode())?.ok_or_else(|| {
            Error::corrupt("group", format!("{:?} missing for timer {id}", v.group))
        })?;
        decode_group(&bytes)?
            .into_iter()
            .find(|t| t.id == id && t.seq == v.seq)
            .ok_or_else(|| Error::corrupt("group", format!("timer {id} missing from its group")))
    }

    fn get(&self, id: TimerId) -> Result<Option<PendingTimer>> {
        let st = self.state.lock();
        let (version, state) = match st.window.get(id) {
            Some(r) if !r.in_flight => {
                return Ok(Some(PendingTimer {
                    timer: Timer::new(id, r.due, r.payload.clone()),
                    state: TimerState::Waiting,
                }));
            }
            // In flight: the payload went to the consumer; read it back.
            Some(r) => (Existing::resident(r).version, TimerState::InFlight),
            None => match Self::lookup_stored(&self.tree, &st, id)? {
                Some(v) => (v, TimerState::Waiting),
                None => return Ok(None),
            },
        };
        let t = self.read_stored(id, version)?;
        Ok(Some(PendingTimer {
            timer: Timer::new(id, Millis(t.due), t.payload),
            state,
        }))
    }

    fn pop_due(&self, upto: Millis, max: usize) -> Result<Vec<Fired>> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.reference = st.reference.max(upto);
        // At least 1 ms past `upto`: once the loader has read everything it
        // moves the cursor just past the last group loaded, and only timers
        // due before the cursor are handed out, so a timer due exactly at
        // `upto` in the last group needs the cursor beyond `upto`.
        let target = upto.saturating_add(self.cfg.lookahead_ms.max(1));
        let want = max.max(LOAD_STEP);
        let mut must_load = false;
        let mut out = Vec::new();
        loop {
            self.load(st, target, must_load, want)?;
            let limit = upto.min(st.cursor.min_due.saturating_add(-1));
            st.window.expire(limit, max - out.len());
            out.extend(st.window.take_ready(max - out.len(), limit));
            if out.len() < max && st.next_unloaded.is_some_and(|d| d <= upto) {
                // Everything resident and due is handed out, yet more is due
                // on disk: page in more (at least one group, even over the
                // memory budget), so that a call never returns short while
                // timers are due.
                must_load = true;
                continue;
            }
            return Ok(out);
        }
    }

    /// Pages groups in, in key order, until the cursor reaches `target`, or
    /// memory is over budget, or `want` timers were paged in by this call.
    /// With `must`, pages in at least one group if any remains.
    fn load(&self, st: &mut State, target: Millis, must: bool, want: usize) -> Result<()> {
        if st.cursor.min_due >= target && !must {
            return Ok(());
        }
        let start = st.cursor.encode();
        let end = GroupKey::keyspace_end();
        let mut deletes = sled::Batch::default();
        let mut loaded_groups = 0usize;
        let mut loaded_timers = 0usize;
        let mut last_loaded: Option<GroupKey> = None;
        let mut stopped_at: Option<GroupKey> = None;
        for item in self.tree.range(start.as_slice()..end.as_slice()) {
            let (k, v) = item?;
            let key = GroupKey::decode(&k)?;
            let enough = key.min_due >= target
                || st.window.len() >= self.cfg.memory_budget
                || loaded_timers >= want;
            if enough && (loaded_groups > 0 || !must) {
                stopped_at = Some(key);
                break;
            }
            st.window.track_group(key);
            for t in decode_group(&v)? {
                loaded_timers += 1;
                if st.horizon.covers(t.id, Millis(t.due), key.gseq)
                    || st.index.is_tombed(&self.tree, t.id, t.seq)?
                {
                    continue;
                }
                if let Some(r) = st.window.get(t.id) {
                    tracing::warn!(
                        id = t.id,
                        resident = r.seq,
                        stored = t.seq,
                        "two live versions of one timer; keeping the resident one"
                    );
                    continue;
                }
                st.window.insert(
                    t.id,
                    Resident {
                        due: Millis(t.due),
                        seq: t.seq,
                        group: key,
                        payload: t.payload,
                        in_flight: false,
                    },
                );
            }
            if st.window.live_in(&key) == 0 {
                st.window.untrack_group(&key);
                deletes.remove(k);
            }
            loaded_groups += 1;
            last_loaded = Some(key);
        }
        match stopped_at {
            Some(next) => {
                st.cursor = st.cursor.max(next);
                st.next_unloaded = Some(next.min_due);
            }
            None => {
                // Nothing left on disk: move past everything loaded and up to
                // the target (later writes get larger group sequences).
                let past_last = last_loaded.map_or(st.cursor, |k| GroupKey {
                    min_due: k.min_due,
                    gseq: k.gseq.saturating_add(1),
                });
                st.cursor = st.cursor.max(GroupKey::first_at(target)).max(past_last);
                st.next_unloaded = None;
            }
        }
        if st.cursor > st.loaded_high {
            // Persisted with (before) any deletion of the groups it covers.
            st.loaded_high = st.cursor;
            deletes.insert(loaded_high_key(), st.cursor.encode().to_vec());
        }
        self.tree.apply_batch(deletes)?;
        Ok(())
    }
}

fn tomb(id: TimerId, v: Version) -> Record {
    Record {
        id,
        seq: v.seq,
        kind: Kind::Tomb,
        due: v.due,
        group: v.group,
    }
}

/// Background threads merging index runs: one takes any due merge, the
/// other only merges of small runs; after a start that found deletions of
/// merged runs unfinished, a third finishes them and exits.
struct Compactor {
    stop: Arc<AtomicBool>,
    wake: Vec<mpsc::Sender<()>>,
    handles: Vec<JoinHandle<()>>,
}

impl Compactor {
    fn spawn(db: sled::Db, tree: sled::Tree, state: Arc<Mutex<State>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let mut wake = Vec::new();
        let mut handles = Vec::new();
        for small_only in [false, true] {
            let (tx, rx) = mpsc::channel::<()>();
            let (db, tree, state, flag) = (db.clone(), tree.clone(), state.clone(), stop.clone());
            let spawned = std::thread::Builder::new()
                .name("timers-compactor".into())
                .spawn(move || Self::work(&db, &tree, &state, &flag, &rx, small_only));
            match spawned {
                Ok(h) => {
                    wake.push(tx);
                    handles.push(h);
                }
                Err(e) => tracing::error!(error = %e, "index compactor did not start"),
            }
        }
        // Deletions a previous process left unfinished, on a thread of their
        // own: deleting a big merged run key by key takes seconds, and the
        // merges should not wait for it (no header refers to these runs, so
        // nothing else touches their keys).
        let leftovers = state.lock().index.take_leftovers();
        if !leftovers.is_empty() {
            let (tree, flag) = (tree.clone(), stop.clone());
            let spawned = std::thread::Builder::new()
                .name("timers-purge".into())
                .spawn(move || {
                    Self::purge_each(&tree, leftovers, &flag);
                });
            match spawned {
                Ok(h) => handles.push(h),
                // Their markers stay: the next start finds them again.
                Err(e) => tracing::error!(error = %e, "deleting merge leftovers did not start"),
            }
        }
        Compactor {
            stop,
            wake,
            handles,
        }
    }

    fn wake(&self) {
        for tx in &self.wake {
            let _ = tx.send(());
        }
    }

    /// Deletes each run (id and marker) in turn, logging failures; `false`
    /// when `stop` cut it short.
    fn purge_each(
        tree: &sled::Tree,
        runs: impl IntoIterator<Item = crate::index::Leftover>,
        stop: &AtomicBool,
    ) -> bool {
        for (run, marker) in runs {
            match crate::index::purge_run(tree, run, &marker, stop) {
                Ok(true) => {}
                Ok(false) => return false,
                Err(e) => tracing::error!(error = %e, run, "deleting a merged run failed"),
            }
        }
        true
    }

    fn work(
        db: &sled::Db,
        tree: &sled::Tree,
        state: &Mutex<State>,
        stop: &AtomicBool,
        rx: &mpsc::Receiver<()>,
        small_only: bool,
    ) {
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            while rx.try_recv().is_ok() {}
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let (inputs, live) = {
                    let mut st = state.lock();
                    let Some(inputs) = st.index.claim(small_only) else {
                        break;
                    };
                    let live = compact::Liveness {
                        horizon: st.horizon,
                        stored_from: st.loaded_high,
                    };
                    (inputs, live)
                };
                let ids: Vec<u64> = inputs.iter().map(|r| r.id).collect();
                let result = db
                    .generate_id()
                    .map_err(Error::from)
                    .and_then(|out| compact::merge(tree, &inputs, out, &live, stop));
                let mut st = state.lock();
                match result {
                    Ok(Some(merged)) => {
                        if let Err(e) = tree.apply_batch(merged.swap) {
                            tracing::error!(error = %e, "index compaction swap failed");
                            st.index.release(&ids);
                            return;
                        }
                        st.index.replace(&ids, merged.output);
                        drop(st);
                        // No lookup can reach the inputs any more; their
                        // chunks go key by key (what a crash or a stop
                        // cuts short is finished after the next start).
                        let retired = merged.retired.into_iter().map(|run| {
                            let marker =
                                crate::keys::RunKey { run }.encode(crate::keys::RETIRED_RUN_PREFIX);
                            (run, marker.to_vec())
                        });
                        if !Self::purge_each(tree, retired, stop) {
                            return;
                        }
                    }
                    Ok(None) => {
                        st.index.release(&ids);
                        return;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "index compaction failed");
                        st.index.release(&ids);
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{ChunkKey, PENDING_RUN_PREFIX, RunKey};

    /// A database holding the debris of a merge that never swapped in.
    fn db_with_debris() -> (sled::Db, Vec<u8>) {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree(TREE_NAME).expect("tree");
        let marker = RunKey { run: 42 }.encode(PENDING_RUN_PREFIX).to_vec();
        tree.insert(&marker, &[][..]).expect("marker");
        for last_id in 0..100u128 {
            let chunk = ChunkKey { run: 42, last_id }.encode();
            tree.insert(chunk, vec![1u8; 64]).expect("chunk");
        }
        (db, marker)
    }

    #[test]
    fn the_compactor_deletes_debris_left_by_an_earlier_process() {
        let (db, marker) = db_with_debris();
        let sched = Scheduler::open(db.clone(), Config::default()).expect("opens");
        let tree = db.open_tree(TREE_NAME).expect("tree");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tree.contains_key(&marker).expect("read") {
            assert!(std::time::Instant::now() < deadline, "debris never deleted");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (lo, hi) = ChunkKey::run_range(42);
        assert_eq!(tree.range(lo..hi).count(), 0);
        drop(sched);
    }

    #[test]
    fn older_stores_are_upgraded_and_an_unknown_version_refused() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree(TREE_NAME).expect("tree");
        for older in [1u8, 2] {
            tree.insert(format_key(), &[older][..]).expect("format");
            drop(Scheduler::open(db.clone(), Config::default()).expect("opens an older store"));
            let stored = tree.get(format_key()).expect("read").expect("format key");
            assert_eq!(stored.as_ref(), [FORMAT_VERSION], "from version {older}");
        }
        tree.insert(format_key(), &[FORMAT_VERSION + 1][..])
            .expect("format");
        match Scheduler::open(db, Config::default()) {
            Err(Error::UnsupportedFormat { found, supported }) => {
                assert_eq!((found, supported), (FORMAT_VERSION + 1, FORMAT_VERSION));
            }
            other => panic!("opened an unknown format: {other:?}"),
        }
    }

    #[test]
    fn r_x1_a_timer_due_exactly_now_fires_with_no_lookahead() {
        // Found by review: with `lookahead_ms = 0` the last group's timer due
        // exactly at `upto` was never handed out.
        let db = sled::Config::new().temporary(true).open().expect("db");
        let cfg = Config {
            lookahead_ms: 0,
            ..Config::default()
        };
        let sched = Scheduler::open(db, cfg).expect("opens");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(sched.schedule(crate::Timer::new(1, Millis(87), vec![]), Durability::Async))
            .expect("schedules");
        let fired = sched.pop_due(Millis(87), 1).expect("pops");
        assert_eq!(fired.iter().map(|f| f.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn without_a_compactor_open_deletes_the_debris_itself() {
        let (db, marker) = db_with_debris();
        let cfg = Config {
            compaction: false,
            ..Config::default()
        };
        let _sched = Scheduler::open(db.clone(), cfg).expect("opens");
        let tree = db.open_tree(TREE_NAME).expect("tree");
        assert!(!tree.contains_key(&marker).expect("read"));
        let (lo, hi) = ChunkKey::run_range(42);
        assert_eq!(tree.range(lo..hi).count(), 0);
    }
}
