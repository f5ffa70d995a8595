//! Merging index runs (size-tiered compaction).
//!
//! Runs fall in size classes of powers of four, from the one-record run of
//! a single cancel up; eight runs of one class merge into one, so a record
//! is rewritten about `log8(total / batch)` times and a lookup checks at
//! most seven filters per class (13–20 runs in all in the benches, about 90
//! at worst for 10 M records; runs holding only puts or only tombs are
//! skipped by the lookups that cannot need them). When tombs make up more
//! than half of all records, everything merges; so it does when dead
//! records (tombs, and the puts of versions that died without one, counted
//! in memory since the last full merge) make up three quarters. A merge
//! drops the records the completion horizon covers and those whose group
//! is gone (it reads a group's existence only below the highest loader
//! cursor: see [`Liveness`]). Small runs get no class of
//! their own: when every run under 1,024 records shared one, the run their
//! merges built was merged again with each seven new ones, so a record
//! written by a single cancel was rewritten about seventy times before it
//! left the class.
//!
//! Two workers merge: one takes any due merge; the other, once 24 runs are
//! waiting, merges runs under 65,536 records, so that a long merge of big
//! runs never lets the small ones (one per write call) pile up and slow
//! every lookup, while in the common case only one core compacts.
//!
//! A merge streams the inputs in `(id, seq, kind)` order and writes output
//! chunks and bloom pages under a pending marker; the swap (output header
//! in, input headers and the marker out, a retired marker per input in) is
//! one small atomic batch, and the inputs' chunks and pages are deleted
//! after it one key at a time ([`super::purge_run`]): sled holds its
//! process-wide write lock for a whole batch, and one batch deleting a
//! merged run of millions of records stalled every writer for most of a
//! second (one of 2,048 keys, 33 ms of the daemon's ingest). A
//! pending marker found at startup means the output is debris to delete; a
//! retired marker, that an input's deletion was cut short (a crash, or a
//! shutdown: a deletion stops when the compactor is told to). No header
//! refers to either, so the compactor deletes them in the background when
//! it starts and restarts do not wait for it. Records whose
//! group no longer exists are dropped: loads never read a deleted group and
//! lookups check that the group of a version exists, so such records are
//! garbage.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Run, RunBuilder};
use crate::codec::{ChunkView, Record};
use crate::error::Result;
use crate::horizon::Horizon;
use crate::keys::{ChunkKey, GroupKey, PENDING_RUN_PREFIX, RETIRED_RUN_PREFIX, RUN_PREFIX, RunKey};

/// Runs per class that trigger a merge.
const FANOUT: usize = 8;
/// Free runs above which the quick lane starts helping.
const QUICK_LANE_RUNS: usize = 24;
/// Runs below this many records are merged by the quick lane too.
const LANE_LIMIT: u64 = 65_536;
/// Group-existence answers a merge remembers (bounded memory).
const GROUP_CACHE: usize = 65_536;

fn class(records: u64) -> u32 {
    (64 - records.leading_zeros()) / 2
}

/// Chooses runs to merge among those not `busy` (being merged already), if
/// any merge is due; with `small_only`, only a merge of runs under
/// [`LANE_LIMIT`] records. `untombed` counts versions that died without a
/// tomb since the last full merge (their group emptied, or the completion
/// horizon covers them): their put records are garbage a merge drops once
/// the group is gone, and with dead records making up more than three
/// quarters of the index everything merges, even a single run.
pub(crate) fn pick(
    runs: &[Arc<Run>],
    busy: &HashSet<u64>,
    small_only: bool,
    untombed: u64,
) -> Option<Vec<Arc<Run>>> {
    let free: Vec<&Arc<Run>> = runs.iter().filter(|r| !busy.contains(&r.id)).collect();
    if small_only && free.len() < QUICK_LANE_RUNS {
        return None; // the main lane keeps up; don't take its core
    }
    let total: u64 = free.iter().map(|r| r.records()).sum();
    let tombs: u64 = free.iter().map(|r| r.tombs).sum();
    // Tombs can outlive a full merge (their puts' groups still exist), so
    // that trigger needs a floor. The count of untombed deaths starts again
    // at each full merge, so that one needs none; it waits for three
    // quarters of the index to be dead (a timer completed in order is then
    // rewritten about a third of a time on average, against once at one
    // half: 15–25 % of the fire + complete bench).
    let by_tombs = free.len() > 1 && total > 4096 && tombs.saturating_mul(2) > total;
    let dead = tombs.saturating_add(untombed);
    let by_deaths = untombed > 0 && dead.saturating_mul(4) > total.saturating_mul(3);
    if !small_only && busy.is_empty() && (by_tombs || by_deaths) {
        return Some(free.into_iter().cloned().collect());
    }
    let mut by_class: HashMap<u32, Vec<Arc<Run>>> = HashMap::new();
    for r in free {
        let c = class(r.records());
        if !small_only || r.records() < LANE_LIMIT {
            by_class.entry(c).or_default().push(r.clone());
        }
    }
    by_class
        .into_iter()
        .filter(|(_, v)| v.len() >= FANOUT)
        .min_by_key(|(c, _)| *c)
        .map(|(_, v)| v)
}

/// Streams one run's records in order.
pub(crate) struct Cursor {
    chunks: Option<sled::Iter>,
    current: Option<sled::IVec>,
    pos: usize,
}

impl Cursor {
    pub(crate) fn new(tree: &sled::Tree, run: &Run) -> Self {
        match run.inline() {
            Some(bytes) => Cursor {
                chunks: None,
                current: Some(sled::IVec::from(bytes)),
                pos: 0,
            },
            None => {
                let (lo, hi) = ChunkKey::run_range(run.id);
                Cursor {
                    chunks: Some(tree.range(lo..hi)),
                    current: None,
                    pos: 0,
                }
            }
        }
    }

    pub(crate) fn next(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(chunk) = &self.current {
                let view = ChunkView::new(chunk)?;
                if self.pos < view.len() {
                    self.pos += 1;
                    return Ok(Some(view.get(self.pos - 1)?));
                }
            }
            match self.chunks.as_mut().and_then(Iterator::next) {
                Some(item) => {
                    let (_, v) = item?;
                    self.current = Some(v);
                    self.pos = 0;
                }
                None => return Ok(None),
            }
        }
    }
}

/// What a merge knows, without reading sled, about which records are
/// garbage.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Liveness {
    /// Versions it covers are dead without tombs (a horizon read at any
    /// earlier moment is safe, as it only grows).
    pub horizon: Horizon,
    /// Every group at or above this key that was ever written is still on
    /// disk: groups are deleted only once paged in, below the highest loader
    /// cursor (the scheduler's `loaded_high`, which only grows). So a merge
    /// reads the existence of groups below it only. A group deleted while
    /// the merge runs keeps its records one merge longer, which is harmless.
    pub stored_from: GroupKey,
}

impl Liveness {
    /// Knows nothing: every group's existence is read.
    #[cfg(test)]
    pub const READ_ALL: Liveness = Liveness {
        horizon: Horizon::NONE,
        stored_from: GroupKey {
            min_due: crate::types::Millis(i64::MAX),
            gseq: u64::MAX,
        },
    };
}

/// Result of a merge, ready to swap in.
pub(crate) struct Merged {
    /// The output run (none when every record was dropped).
    pub output: Option<Run>,
    /// The batch that swaps the output in and the inputs out.
    pub swap: sled::Batch,
    /// Input runs whose chunks and pages to delete once the swap is
    /// applied (see [`super::purge_run`]).
    pub retired: Vec<u64>,
}

/// Merges `inputs` into run `out_id`, dropping records whose group is gone
/// and records of versions the horizon covers (dead without a tomb); see
/// [`Liveness`]. Returns `None` if `stop` was raised (the partial output is
/// removed).
pub(crate) fn merge(
    tree: &sled::Tree,
    inputs: &[Arc<Run>],
    out_id: u64,
    live: &Liveness,
    stop: &AtomicBool,
) -> Result<Option<Merged>> {
    let marker = RunKey { run: out_id }.encode(PENDING_RUN_PREFIX);
    let large = inputs.iter().map(|r| r.records()).sum::<u64>() > super::INLINE_RECORDS as u64;
    if large {
        tree.insert(marker, sled::IVec::default())?;
    }
    let mut cursors: Vec<Cursor> = inputs.iter().map(|r| Cursor::new(tree, r)).collect();
    let mut heap = BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        if let Some(r) = c.next()? {
            heap.push(Reverse((r, i)));
        }
    }
    let puts: u64 = inputs.iter().map(|r| r.puts).sum();
    let tombs: u64 = inputs.iter().map(|r| r.tombs).sum();
    let mut builder = RunBuilder::new(out_id, puts, tombs);
    // Dropping garbage needs a read per group; worth it when deaths are in
    // play (some input holds tombs) or the merge is big. A put-only merge of
    // fresh schedules just re-sorts (garbage kept is harmless: lookups check
    // that a version's group exists, and a later merge drops it).
    let check_groups = tombs > 0 || puts + tombs >= 1 << 20;
    let mut group_exists: foldhash::HashMap<GroupKey, bool> = foldhash::HashMap::default();
    let mut written: Vec<ChunkKey> = Vec::new();
    let mut seen: u64 = 0;
    while let Some(Reverse((r, i))) = heap.pop() {
        if let Some(next) = cursors[i].next()? {
            heap.push(Reverse((next, i)));
        }
        seen += 1;
        if seen.is_multiple_of(4096) && stop.load(Ordering::Relaxed) {
            let mut undo = sled::Batch::default();
            for k in &written {
                undo.remove(k.encode().to_vec());
            }
            undo.remove(marker.to_vec());
            tree.apply_batch(undo)?;
            return Ok(None);
        }
        if live.horizon.covers(r.id, r.due, r.group.gseq) {
            continue;
        }
        let exists = match group_exists.get(&r.group) {
            _ if !check_groups || r.group >= live.stored_from => true,
            Some(e) => *e,
            None => {
                if group_exists.len() >= GROUP_CACHE {
                    group_exists.clear();
                }
                let e = tree.contains_key(r.group.encode())?;
                group_exists.insert(r.group, e);
                e
            }
        };
        if !exists {
            continue;
        }
        if let Some((k, v)) = builder.push(r) {
            tree.insert(k.encode(), v)?;
            written.push(k);
        }
    }
    let mut swap = sled::Batch::default();
    let output = if builder.records() > 0 {
        let done = builder.finish()?;
        if let Some((k, v)) = done.last_chunk {
            tree.insert(k.encode(), v)?;
        }
        for (k, v) in done.bloom_pages {
            tree.insert(k.encode(), v)?;
        }
        swap.insert(
            RunKey { run: out_id }.encode(RUN_PREFIX).to_vec(),
            done.header,
        );
        Some(done.run)
    } else {
        None
    };
    if large {
        swap.remove(marker.to_vec());
    }
    for input in inputs {
        swap.remove(RunKey { run: input.id }.encode(RUN_PREFIX).to_vec());
        swap.insert(
            RunKey { run: input.id }.encode(RETIRED_RUN_PREFIX).to_vec(),
            sled::IVec::default(),
        );
    }
    Ok(Some(Merged {
        output,
        swap,
        retired: inputs.iter().map(|r| r.id).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Kind;
    use crate::index::IdIndex;
    use crate::types::Millis;

    fn rec(id: u128, seq: u64, kind: Kind, gseq: u64) -> Record {
        Record {
            id,
            seq,
            kind,
            due: Millis(1),
            group: GroupKey {
                min_due: Millis(1),
                gseq,
            },
        }
    }

    /// A fresh tree holding the group `(1, gseq 1)`, so that records of
    /// that group survive merges.
    fn tree_with_group_one() -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        tree.insert(
            GroupKey {
                min_due: Millis(1),
                gseq: 1,
            }
            .encode(),
            &[1u8][..],
        )
        .expect("group");
        (db, tree)
    }

    #[test]
    fn class_groups_powers_of_four() {
        assert_eq!(class(1), 0);
        assert_eq!(class(2), 1);
        assert_eq!(class(8), 2);
        assert_eq!(class(75), 3);
        assert_eq!(class(1000), 5);
        assert_eq!(class(1024), 5);
        assert_eq!(class(4095), 6);
        assert_eq!(class(4096), 6);
        assert_eq!(class(16_384), 7);
    }

    /// Runs of one record each (a daemon cancelling one send per exception
    /// event) are merged until no merge is due after each write; every
    /// record is rewritten once per size class it climbs, not once per merge
    /// of a class that keeps its big run.
    #[test]
    fn one_record_runs_are_rewritten_once_per_class() {
        let (_db, tree) = tree_with_group_one();
        let stop = AtomicBool::new(false);
        let mut index = IdIndex::default();
        let mut next_run = 1;
        let mut rewritten = 0;
        const WRITES: u64 = 2_000;
        for i in 0..WRITES {
            let mut batch = sled::Batch::default();
            let records = vec![rec(u128::from(i), i + 1, Kind::Put, 1)];
            let run = IdIndex::stage_run(next_run, records, &mut batch).expect("stage");
            next_run += 1;
            tree.apply_batch(batch).expect("apply");
            index.add(run);
            while let Some(inputs) = index.claim(false) {
                let merged = merge(&tree, &inputs, next_run, &Liveness::READ_ALL, &stop)
                    .expect("merge")
                    .expect("not stopped");
                next_run += 1;
                tree.apply_batch(merged.swap).expect("swap");
                rewritten += merged.output.as_ref().map_or(0, Run::records);
                index.replace(
                    &inputs.iter().map(|r| r.id).collect::<Vec<_>>(),
                    merged.output,
                );
            }
        }
        let total: u64 = index.runs().iter().map(|r| r.records()).sum();
        assert_eq!(total, WRITES, "every record is still in some run");
        // A record climbs from class 0 through merges of 8, 64 and 512
        // records (four writes at most, five allowed); a shared small class
        // rewrote each ~70 times (~140,000 in all).
        assert!(
            rewritten <= 5 * WRITES,
            "{rewritten} record rewrites for {WRITES} one-record writes"
        );
        assert!(
            index.runs().len() <= 4 * FANOUT,
            "{} runs",
            index.runs().len()
        );
    }

    #[test]
    fn pick_skips_busy_runs_and_the_quick_lane_takes_only_smaller_runs() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        let mut index = IdIndex::default();
        let mut stage = |run: u64, n: u64| {
            let records = (0..n)
                .map(|i| rec(i as u128, run * 100_000 + i, Kind::Put, 1))
                .collect();
            let mut batch = sled::Batch::default();
            let r = IdIndex::stage_run(run, records, &mut batch).expect("stage");
            tree.apply_batch(batch).expect("apply");
            index.add(r);
        };
        for run in 1..=8 {
            stage(run, 70_000); // class 9, beyond the quick lane
        }
        for run in 11..=34 {
            stage(run, 10); // small: enough of them wake the quick lane
        }
        let small = index.claim(true).expect("small merge due");
        assert!(small.iter().all(|r| r.records() == 10));
        assert!(index.claim(true).is_none(), "small runs are busy now");
        let big = index.claim(false).expect("big merge due");
        assert!(big.iter().all(|r| r.records() == 70_000));
        assert!(index.claim(false).is_none());
        index.release(&small.iter().map(|r| r.id).collect::<Vec<_>>());
        assert!(index.claim(false).is_some());
    }

    #[test]
    fn deaths_without_tombs_trigger_a_full_merge_even_of_one_run() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        let mut index = IdIndex::default();
        let records = (0..5_000u64)
            .map(|i| rec(i as u128, i + 1, Kind::Put, 1))
            .collect();
        let mut batch = sled::Batch::default();
        let r = IdIndex::stage_run(1, records, &mut batch).expect("stage");
        tree.apply_batch(batch).expect("apply");
        index.add(r);
        assert!(index.claim(false).is_none(), "one live run: nothing to do");
        index.note_untombed_deaths(3_000);
        assert!(index.claim(false).is_none(), "under three quarters dead");
        index.note_untombed_deaths(800);
        let all = index
            .claim(false)
            .expect("over three quarters dead: full merge");
        assert_eq!(all.len(), 1);
        index.release(&[1]);
        assert!(
            index.claim(false).is_none(),
            "the count starts again after a full merge"
        );
    }

    #[test]
    fn merge_keeps_records_of_existing_groups_and_drops_the_rest() {
        // Group 1 still exists on disk; group 2 was deleted.
        let (_db, tree) = tree_with_group_one();
        let mut index = IdIndex::default();
        let runs = [
            vec![
                rec(5, 1, Kind::Put, 1),
                rec(6, 2, Kind::Put, 2),
                rec(7, 3, Kind::Put, 2),
            ],
            vec![rec(5, 1, Kind::Tomb, 1), rec(6, 2, Kind::Tomb, 2)],
        ];
        for (i, records) in runs.into_iter().enumerate() {
            let mut batch = sled::Batch::default();
            let run = IdIndex::stage_run(i as u64 + 10, records, &mut batch).expect("stage");
            tree.apply_batch(batch).expect("apply");
            index.add(run);
        }
        let inputs = index.runs().to_vec();
        let stop = AtomicBool::new(false);
        let merged = merge(&tree, &inputs, 99, &Liveness::READ_ALL, &stop)
            .expect("merge")
            .expect("not stopped");
        tree.apply_batch(merged.swap).expect("swap");
        let out = merged.output.expect("records left");
        // id 5 (group 1 exists): put and tomb kept; ids 6 and 7 (group 2
        // gone): dropped.
        assert_eq!((out.puts, out.tombs), (1, 1));
        index.replace(&inputs.iter().map(|r| r.id).collect::<Vec<_>>(), Some(out));
        assert_eq!(
            index
                .lookup(&tree, 5, |g| Ok(tree.contains_key(g.encode())?))
                .expect("ok"),
            None
        );
        assert_eq!(
            index
                .lookup(&tree, 6, |g| Ok(tree.contains_key(g.encode())?))
                .expect("ok"),
            None
        );
        assert_eq!(
            index
                .lookup(&tree, 7, |g| Ok(tree.contains_key(g.encode())?))
                .expect("ok"),
            None
        );
        let reloaded = IdIndex::load(&tree).expect("load");
        assert_eq!(reloaded.runs().len(), 1);
        assert_eq!(tree.scan_prefix([PENDING_RUN_PREFIX]).count(), 0);
    }

    /// Runs 1 and 2 of `per_run` puts each (interleaved ids), all in group
    /// `(1, 1)`, which exists on disk: big enough for paged filters.
    fn two_put_runs(tree: &sled::Tree, per_run: u128) -> IdIndex {
        let mut index = IdIndex::default();
        let group = GroupKey {
            min_due: Millis(1),
            gseq: 1,
        };
        tree.insert(group.encode(), &[1u8][..]).expect("group");
        for run in [1u64, 2] {
            let records = (0..per_run)
                .map(|i| {
                    rec(
                        i * 2 + u128::from(run),
                        run * 10_000 + i as u64,
                        Kind::Put,
                        1,
                    )
                })
                .collect();
            let mut batch = sled::Batch::default();
            let r = IdIndex::stage_run(run, records, &mut batch).expect("stage");
            tree.apply_batch(batch).expect("apply");
            index.add(r);
        }
        index
    }

    #[test]
    fn merge_reads_only_groups_below_the_stored_floor() {
        // Neither group 2 nor group 3 is on disk. Group 3 is at the floor
        // (`Liveness::stored_from`), which promises it exists: its records
        // are kept without a read. Group 2 is below it: read, found gone,
        // dropped.
        let (_db, tree) = tree_with_group_one();
        let mut index = IdIndex::default();
        let records = vec![
            rec(5, 1, Kind::Put, 2),
            rec(6, 2, Kind::Put, 3),
            rec(7, 3, Kind::Tomb, 3),
        ];
        let mut batch = sled::Batch::default();
        index.add(IdIndex::stage_run(10, records, &mut batch).expect("stage"));
        tree.apply_batch(batch).expect("apply");
        let live = Liveness {
            horizon: Horizon::NONE,
            stored_from: GroupKey {
                min_due: Millis(1),
                gseq: 3,
            },
        };
        let merged = merge(&tree, index.runs(), 99, &live, &AtomicBool::new(false))
            .expect("merge")
            .expect("not stopped");
        let out = merged.output.expect("records left");
        assert_eq!((out.puts, out.tombs), (1, 1), "only group 3's records kept");
    }

    #[test]
    fn merge_moves_bloom_pages_to_the_output_run() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        let index = two_put_runs(&tree, 5_000);
        let pages_of = |run: u64| {
            let mut lo = vec![crate::keys::BLOOM_PREFIX];
            lo.extend_from_slice(&run.to_be_bytes());
            tree.scan_prefix(lo).count()
        };
        assert!(pages_of(1) > 0 && pages_of(2) > 0);
        let inputs = index.runs().to_vec();
        let merged = merge_into_3(&tree, &inputs);
        assert!(pages_of(3) > 0, "output pages written before the swap");
        tree.apply_batch(merged.swap).expect("swap");
        assert!(pages_of(1) > 0, "inputs are deleted after the swap, apart");
        assert_eq!(merged.retired, vec![1, 2]);
        for run in merged.retired {
            let marker = RunKey { run }.encode(RETIRED_RUN_PREFIX);
            let done = super::super::purge_run(&tree, run, &marker, &AtomicBool::new(false))
                .expect("purge");
            assert!(done);
        }
        assert_eq!((pages_of(1), pages_of(2)), (0, 0), "inputs' pages removed");
        let (lo, hi) = ChunkKey::run_range(1);
        assert_eq!(tree.range(lo..hi).count(), 0, "inputs' chunks removed");
        assert_eq!(tree.scan_prefix([RETIRED_RUN_PREFIX]).count(), 0);
        let reloaded = IdIndex::load(&tree).expect("load");
        assert_eq!(reloaded.runs().len(), 1);
        assert_eq!(reloaded.runs()[0].puts, 10_000);
        let exists = |g: &GroupKey| Ok(tree.contains_key(g.encode())?);
        assert!(reloaded.lookup(&tree, 9_999, exists).expect("ok").is_some());
    }

    /// Merges `inputs` into run 3, reading every group.
    fn merge_into_3(tree: &sled::Tree, inputs: &[Arc<Run>]) -> Merged {
        merge(
            tree,
            inputs,
            3,
            &Liveness::READ_ALL,
            &AtomicBool::new(false),
        )
        .expect("merge")
        .expect("not stopped")
    }

    /// Finishes the deletions `index` found unfinished at load, as the
    /// compactor does when it starts.
    fn purge_leftovers(tree: &sled::Tree, index: &mut IdIndex) {
        for (run, marker) in index.take_leftovers() {
            let done = super::super::purge_run(tree, run, &marker, &AtomicBool::new(false))
                .expect("purge");
            assert!(done);
        }
    }

    /// Two runs of 3,000 puts (ids up to 5,999) merged into run 3 and
    /// swapped in; the inputs' deletion not started (as when a process
    /// dies right after the swap).
    fn swapped_merge() -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        let index = two_put_runs(&tree, 3_000);
        let inputs = index.runs().to_vec();
        let merged = merge_into_3(&tree, &inputs);
        tree.apply_batch(merged.swap).expect("swap");
        (db, tree)
    }

    #[test]
    fn a_purge_stops_when_asked_and_leaves_its_marker() {
        let (_db, tree) = swapped_merge();
        let marker = RunKey { run: 1 }.encode(RETIRED_RUN_PREFIX);
        let done =
            super::super::purge_run(&tree, 1, &marker, &AtomicBool::new(true)).expect("purge");
        assert!(!done);
        let (lo, hi) = ChunkKey::run_range(1);
        assert!(
            tree.range(lo..hi).count() > 0,
            "nothing deleted once stopped"
        );
        assert_eq!(tree.scan_prefix([RETIRED_RUN_PREFIX]).count(), 2);
    }

    #[test]
    fn a_deletion_cut_short_after_the_swap_is_finished_after_load() {
        let (_db, tree) = swapped_merge();
        assert_eq!(tree.scan_prefix([RETIRED_RUN_PREFIX]).count(), 2);
        let mut reloaded = IdIndex::load(&tree).expect("load");
        let exists = |g: &GroupKey| Ok(tree.contains_key(g.encode())?);
        assert!(
            reloaded.lookup(&tree, 5_999, exists).expect("ok").is_some(),
            "lookups never read the leftovers"
        );
        purge_leftovers(&tree, &mut reloaded);
        assert_eq!(reloaded.runs().len(), 1);
        assert_eq!(reloaded.runs()[0].puts, 6_000);
        assert_eq!(tree.scan_prefix([RETIRED_RUN_PREFIX]).count(), 0);
        for run in [1u64, 2] {
            let (lo, hi) = ChunkKey::run_range(run);
            assert_eq!(tree.range(lo..hi).count(), 0);
            let pages = crate::keys::BloomPageKey::run_prefix(run);
            assert_eq!(tree.scan_prefix(pages).count(), 0);
        }
        let exists = |g: &GroupKey| Ok(tree.contains_key(g.encode())?);
        assert!(reloaded.lookup(&tree, 5_999, exists).expect("ok").is_some());
    }

    #[test]
    fn unfinished_merge_output_is_left_to_remove_after_load() {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let tree = db.open_tree("t").expect("tree");
        tree.insert(
            RunKey { run: 42 }.encode(PENDING_RUN_PREFIX),
            sled::IVec::default(),
        )
        .expect("marker");
        tree.insert(
            ChunkKey {
                run: 42,
                last_id: 9,
            }
            .encode(),
            vec![1u8],
        )
        .expect("chunk");
        tree.insert(
            crate::keys::BloomPageKey {
                run: 42,
                filter: 0,
                page: 0,
            }
            .encode(),
            vec![1u8],
        )
        .expect("page");
        let mut index = IdIndex::load(&tree).expect("load");
        assert!(index.runs().is_empty());
        purge_leftovers(&tree, &mut index);
        assert_eq!(tree.len(), 0, "chunks, pages and marker removed");
    }
}
