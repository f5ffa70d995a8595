//! The id index: finds a timer's current version by id, with grouped writes.
//!
//! A B-tree keyed by timer id costs one sled key per timer, which is what
//! limits raw sled to ~56,000 timers/s here. Instead the index is a small
//! log-structured merge tree stored in sled: every write batch (schedule,
//! cancel, complete) adds one immutable *run* of records sorted by
//! `(id, seq, kind)` — a put for each new version, a tomb for each version
//! that died (unless its group died with it, or the completion horizon
//! covers it: see [`crate::horizon`]) — written in the same atomic
//! `apply_batch` as the timer groups.
//! Each run keeps two blocked bloom filters in memory (put ids; tomb
//! versions), so a lookup touches sled only for runs that probably hold the
//! id, and the last id of each of its chunks (*fences*), so that such a
//! lookup reads its chunk with one `get` of an exact key rather than a range
//! read (sled 0.34's iterator clones the whole leaf it starts in: 16 chunks,
//! ~75 KB). Runs of at most 64 records live inside their header (one key,
//! kept in memory).
//!
//! Value sizes: sled writes a leaf (up to 17 keys) as one page, and a page
//! over a quarter of its 512 KiB segment goes to a separate blob file: a
//! file create per write and an unlink later, and sled 0.34 never fsyncs
//! blob files. So no value here is allowed to be large: chunks hold
//! [`CHUNK_RECORDS`] records (≈ 4.7 KiB) and a filter over
//! [`INLINE_FILTER_WORDS`] words is stored in 4 KiB pages beside the header
//! (a merged run of millions of records has a filter of megabytes). A background compactor merges runs of similar size (see
//! [`compact`]) and drops every record whose group is gone from disk: a
//! group is deleted when its last timer dies, so its records are garbage.
//!
//! Memory: the filters, 16 bits per record (2 bytes per pending timer plus
//! tombs not yet compacted away), and 16 bytes of fence per chunk of 96
//! records (0.17 bytes per record). Startup reads run headers and their
//! pages only.

pub(crate) mod compact;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::bloom::{Bloom, Probe, hash_id, hash_version};
use crate::codec::{
    BLOOM_PAGE_WORDS, ChunkView, FilterWords, Kind, Record, RunHeader, decode_bloom_page,
    decode_run_header, encode_bloom_page, encode_chunk, encode_run_header, fence_words,
    fences_from_words,
};
use crate::error::{Error, Result};
use crate::keys::{
    BloomPageKey, ChunkKey, GroupKey, PENDING_RUN_PREFIX, RETIRED_RUN_PREFIX, RUN_PREFIX, RunKey,
};
use crate::types::{Millis, TimerId};

/// Target number of records per stored chunk (≈ 4.7 KiB: a leaf holds
/// about 17 values, up to 20 after sled merges a small neighbour into it,
/// and must stay under sled's 128 KiB blob threshold).
pub(crate) const CHUNK_RECORDS: usize = 96;
/// Filters of more words than this (2 KiB) are stored in bloom pages.
pub(crate) const INLINE_FILTER_WORDS: usize = 256;
/// Bloom pages to write: key and encoded page.
type BloomPages = Vec<(BloomPageKey, Vec<u8>)>;
/// Filter number of the put filter in [`BloomPageKey`].
const PUT_FILTER: u8 = 0;
/// Filter number of the tomb filter in [`BloomPageKey`].
const TOMB_FILTER: u8 = 1;
/// Filter number of the chunk fences in [`BloomPageKey`].
const FENCES: u8 = 2;
/// Runs this small keep their records inside the header (one key per run,
/// and lookups in them never touch sled).
pub(crate) const INLINE_RECORDS: usize = 64;

/// One immutable run, as held in memory.
#[derive(Debug)]
pub(crate) struct Run {
    /// Run id (chunk keys are prefixed by it).
    pub id: u64,
    /// Put records in the run.
    pub puts: u64,
    /// Tomb records in the run.
    pub tombs: u64,
    put_bloom: Bloom,
    tomb_bloom: Bloom,
    /// Encoded records of a small run (a chunk value), kept in memory.
    inline: Option<Vec<u8>>,
    /// The last id of each chunk, in order: a lookup `get`s its chunk by
    /// exact key (a sled range read clones the whole leaf it starts in).
    /// `None` for inline runs and runs stored before fences existed.
    fences: Option<Box<[TimerId]>>,
}

impl Run {
    /// Total records.
    pub fn records(&self) -> u64 {
        self.puts + self.tombs
    }

    /// The encoded records of an inline run.
    pub fn inline(&self) -> Option<&[u8]> {
        self.inline.as_deref()
    }

    /// The run's encoded header and the bloom pages it refers to.
    fn header(&self) -> Result<(Vec<u8>, BloomPages)> {
        let mut pages = Vec::new();
        let header = encode_run_header(&RunHeader {
            puts: self.puts,
            tombs: self.tombs,
            put_bloom: store_filter(self.id, PUT_FILTER, &self.put_bloom, &mut pages)?,
            tomb_bloom: store_filter(self.id, TOMB_FILTER, &self.tomb_bloom, &mut pages)?,
            inline: self.inline.clone(),
            fences: self
                .fences
                .as_deref()
                .map(|f| store_words(self.id, FENCES, &fence_words(f), &mut pages))
                .transpose()?,
        })?;
        Ok((header, pages))
    }
}

/// Stores a filter inside the header when small, else as pages (pushed to
/// `pages`).
fn store_filter(
    run: u64,
    filter: u8,
    bloom: &Bloom,
    pages: &mut BloomPages,
) -> Result<FilterWords> {
    store_words(run, filter, bloom.words(), pages)
}

/// Stores words (of a filter, or fences) inside the header when few, else
/// as pages (pushed to `pages`).
fn store_words(run: u64, filter: u8, words: &[u64], pages: &mut BloomPages) -> Result<FilterWords> {
    if words.len() <= INLINE_FILTER_WORDS {
        return Ok(FilterWords::Inline(words.to_vec()));
    }
    for (page, chunk) in words.chunks(BLOOM_PAGE_WORDS).enumerate() {
        let page = u32::try_from(page).map_err(|_| Error::corrupt("bloom", "too many pages"))?;
        pages.push((BloomPageKey { run, filter, page }, encode_bloom_page(chunk)));
    }
    Ok(FilterWords::Paged(u32::try_from(words.len()).map_err(
        |_| Error::corrupt("bloom", "filter too large"),
    )?))
}

/// Reads a filter back from its header entry (and pages).
fn load_filter(tree: &sled::Tree, run: u64, filter: u8, stored: FilterWords) -> Result<Bloom> {
    let words = load_words(tree, run, filter, stored)?;
    Bloom::from_words(words).ok_or_else(|| Error::corrupt("run header", "bloom size"))
}

/// Reads words (of a filter, or fences) back from a header entry (and pages).
fn load_words(tree: &sled::Tree, run: u64, filter: u8, stored: FilterWords) -> Result<Vec<u64>> {
    Ok(match stored {
        FilterWords::Inline(words) => words,
        FilterWords::Paged(n) => {
            let (first, last) = BloomPageKey::filter_range(run, filter);
            let mut words = Vec::with_capacity(n as usize);
            for item in tree.range(first..=last) {
                decode_bloom_page(&item?.1, &mut words)?;
            }
            if words.len() != n as usize {
                return Err(Error::corrupt(
                    "bloom",
                    format!("run {run}: {} of {n} words in pages", words.len()),
                ));
            }
            words
        }
    })
}

/// The current version of a timer according to the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    /// Version number.
    pub seq: u64,
    /// Due of that version.
    pub due: Millis,
    /// Group that stores it.
    pub group: GroupKey,
}

/// What a finished run needs written: chunks, bloom pages and the header.
pub(crate) struct Finished {
    /// The last chunk (absent for inline runs).
    pub last_chunk: Option<(ChunkKey, Vec<u8>)>,
    /// Pages of filters too big for the header.
    pub bloom_pages: BloomPages,
    /// Encoded header.
    pub header: Vec<u8>,
    /// The run as held in memory.
    pub run: Run,
}

/// Builds a run from sorted records: chunks as they fill, then the header.
pub(crate) struct RunBuilder {
    id: u64,
    puts: u64,
    tombs: u64,
    put_bloom: Bloom,
    tomb_bloom: Bloom,
    chunk: Vec<Record>,
    fences: Vec<TimerId>,
}

impl RunBuilder {
    /// A builder for run `id` expecting at most `puts` puts and `tombs` tombs.
    pub fn new(id: u64, puts: u64, tombs: u64) -> Self {
        RunBuilder {
            id,
            puts: 0,
            tombs: 0,
            put_bloom: Bloom::with_capacity(puts),
            tomb_bloom: Bloom::with_capacity(tombs),
            chunk: Vec::new(),
            fences: Vec::new(),
        }
    }

    /// Records added so far.
    pub fn records(&self) -> u64 {
        self.puts + self.tombs
    }

    /// Adds the next record (records must arrive sorted). Returns a full
    /// chunk to store when one is complete.
    pub fn push(&mut self, r: Record) -> Option<(ChunkKey, Vec<u8>)> {
        let out = match self.chunk.last() {
            Some(last) if self.chunk.len() >= CHUNK_RECORDS && last.id != r.id => self.cut(),
            _ => None,
        };
        match r.kind {
            Kind::Put => {
                self.puts += 1;
                self.put_bloom.insert(hash_id(r.id));
            }
            Kind::Tomb => {
                self.tombs += 1;
                self.tomb_bloom.insert(hash_version(r.id, r.seq));
            }
        }
        self.chunk.push(r);
        out
    }

    fn cut(&mut self) -> Option<(ChunkKey, Vec<u8>)> {
        let last = self.chunk.last()?;
        let key = ChunkKey {
            run: self.id,
            last_id: last.id,
        };
        let bytes = encode_chunk(&self.chunk);
        self.chunk.clear();
        self.fences.push(key.last_id);
        Some((key, bytes))
    }

    /// Completes the run: small runs go inline into the header.
    pub fn finish(mut self) -> Result<Finished> {
        let inline = (self.fences.is_empty() && self.chunk.len() <= INLINE_RECORDS)
            .then(|| encode_chunk(&self.chunk));
        let last_chunk = if inline.is_some() { None } else { self.cut() };
        let run = Run {
            id: self.id,
            puts: self.puts,
            tombs: self.tombs,
            put_bloom: self.put_bloom,
            tomb_bloom: self.tomb_bloom,
            fences: inline.is_none().then(|| self.fences.into_boxed_slice()),
            inline,
        };
        let (header, bloom_pages) = run.header()?;
        Ok(Finished {
            last_chunk,
            bloom_pages,
            header,
            run,
        })
    }
}

/// Deletes the chunks and bloom pages of `run`, which no header refers to
/// (merged away, or a merge output that never swapped in), one key at a
/// time, and then its `marker`. Returns `false` when `stop` was raised
/// before the end (a shutdown does not wait for a long deletion).
/// Restartable: the marker stays until everything is gone, and loading
/// hands what it finds back ([`IdIndex::take_leftovers`]).
///
/// Not a batch: a sled 0.34 batch holds the process-wide write lock of
/// sled's concurrency control for its whole length, and every read and
/// write of every tree waits for it (a batch of 2,048 deletions stalled the
/// daemon's ingest for 33 ms). A plain remove takes the shared side.
pub(crate) fn purge_run(
    tree: &sled::Tree,
    run: u64,
    marker: &[u8],
    stop: &AtomicBool,
) -> Result<bool> {
    let (lo, hi) = ChunkKey::run_range(run);
    let pages = BloomPageKey::run_prefix(run);
    for key in tree
        .range(lo.as_slice()..hi.as_slice())
        .keys()
        .chain(tree.scan_prefix(pages).keys())
    {
        if stop.load(Ordering::Relaxed) {
            return Ok(false);
        }
        tree.remove(key?)?;
    }
    tree.remove(marker)?;
    Ok(true)
}

/// A run whose deletion [`IdIndex::load`] found unfinished: its id and the
/// marker key to remove last.
pub(crate) type Leftover = (u64, Vec<u8>);

/// The set of live runs.
#[derive(Debug, Default)]
pub(crate) struct IdIndex {
    runs: Vec<Arc<Run>>,
    /// Runs a compaction worker is merging.
    busy: HashSet<u64>,
    /// Deletions found unfinished at load, for the compactor to finish.
    leftovers: Vec<Leftover>,
    /// Versions that died without a tomb since the last full merge (see
    /// [`compact::pick`]); counted in memory only, from this process's
    /// writes.
    untombed: u64,
}

impl IdIndex {
    /// Loads run headers. Output of compactions that never swapped in, and
    /// inputs of merges that did but whose deletion was cut short, are left
    /// for [`IdIndex::take_leftovers`]: no header refers to them, so no
    /// lookup reads them, and deleting a big one takes seconds that a
    /// restart should not wait for.
    pub fn load(tree: &sled::Tree) -> Result<Self> {
        let mut leftovers = Vec::new();
        for prefix in [PENDING_RUN_PREFIX, RETIRED_RUN_PREFIX] {
            for key in tree.scan_prefix([prefix]).keys() {
                let key = key?;
                leftovers.push((RunKey::decode(&key, prefix)?.run, key.to_vec()));
            }
        }
        let mut runs = Vec::new();
        let mut outdated = Vec::new();
        for item in tree.scan_prefix([RUN_PREFIX]) {
            let (key, value) = item?;
            let id = RunKey::decode(&key, RUN_PREFIX)?.run;
            let h = decode_run_header(&value)?;
            if let Some(bytes) = &h.inline {
                ChunkView::new(bytes)?;
            }
            let big_inline = |f: &FilterWords| matches!(f, FilterWords::Inline(w) if w.len() > INLINE_FILTER_WORDS);
            let upgrade = big_inline(&h.put_bloom) || big_inline(&h.tomb_bloom);
            let run = Arc::new(Run {
                id,
                puts: h.puts,
                tombs: h.tombs,
                put_bloom: load_filter(tree, id, PUT_FILTER, h.put_bloom)?,
                tomb_bloom: load_filter(tree, id, TOMB_FILTER, h.tomb_bloom)?,
                inline: h.inline,
                fences: match h.fences {
                    Some(stored) => Some(
                        fences_from_words(&load_words(tree, id, FENCES, stored)?)?
                            .into_boxed_slice(),
                    ),
                    None => None,
                },
            });
            if upgrade {
                outdated.push(run.clone());
            }
            runs.push(run);
        }
        // Headers of older data dirs carry big filters inline: a page of
        // them goes past sled's blob threshold. Rewrite them with pages.
        for run in outdated {
            let (header, pages) = run.header()?;
            let mut batch = sled::Batch::default();
            for (k, v) in pages {
                batch.insert(k.encode().to_vec(), v);
            }
            batch.insert(RunKey { run: run.id }.encode(RUN_PREFIX).to_vec(), header);
            tree.apply_batch(batch)?;
        }
        Ok(IdIndex {
            runs,
            busy: HashSet::new(),
            leftovers,
            untombed: 0,
        })
    }

    /// Unfinished deletions found at load (see [`purge_run`]), once.
    pub fn take_leftovers(&mut self) -> Vec<Leftover> {
        std::mem::take(&mut self.leftovers)
    }

    /// Stages a run holding `records` into `batch`; returns the run to
    /// [`IdIndex::add`] once the batch is applied (none for no records).
    pub fn stage_run(
        id: u64,
        mut records: Vec<Record>,
        batch: &mut sled::Batch,
    ) -> Result<Option<Run>> {
        if records.is_empty() {
            return Ok(None);
        }
        records.sort_unstable();
        let puts = records.iter().filter(|r| r.kind == Kind::Put).count() as u64;
        let mut b = RunBuilder::new(id, puts, records.len() as u64 - puts);
        for r in records {
            if let Some((k, v)) = b.push(r) {
                batch.insert(k.encode().to_vec(), v);
            }
        }
        let done = b.finish()?;
        if let Some((k, v)) = done.last_chunk {
            batch.insert(k.encode().to_vec(), v);
        }
        for (k, v) in done.bloom_pages {
            batch.insert(k.encode().to_vec(), v);
        }
        batch.insert(RunKey { run: id }.encode(RUN_PREFIX).to_vec(), done.header);
        Ok(Some(done.run))
    }

    /// Adds an applied run.
    pub fn add(&mut self, run: Option<Run>) {
        if let Some(run) = run {
            self.runs.push(Arc::new(run));
        }
    }

    /// The live runs.
    pub fn runs(&self) -> &[Arc<Run>] {
        &self.runs
    }

    /// Picks runs for a compaction worker and marks them busy.
    pub fn claim(&mut self, small_only: bool) -> Option<Vec<Arc<Run>>> {
        let picked = compact::pick(&self.runs, &self.busy, small_only, self.untombed)?;
        if picked.len() == self.runs.len() {
            // Every run merges: every record of a dead group goes.
            self.untombed = 0;
        }
        self.busy.extend(picked.iter().map(|r| r.id));
        Some(picked)
    }

    /// The highest group any put record refers to. Reads the whole index:
    /// used once, when upgrading a store from before the highest loader
    /// cursor was kept (see `Scheduler::open_with_commit`).
    pub fn highest_put_group(&self, tree: &sled::Tree) -> Result<Option<GroupKey>> {
        let mut high = None;
        for run in &self.runs {
            let mut cursor = compact::Cursor::new(tree, run);
            while let Some(r) = cursor.next()? {
                if r.kind == Kind::Put {
                    high = high.max(Some(r.group));
                }
            }
        }
        Ok(high)
    }

    /// Records that `n` versions died without a tomb.
    pub fn note_untombed_deaths(&mut self, n: u64) {
        self.untombed = self.untombed.saturating_add(n);
    }

    /// Unmarks runs whose merge was abandoned.
    pub fn release(&mut self, inputs: &[u64]) {
        for id in inputs {
            self.busy.remove(id);
        }
    }

    /// Replaces merged `inputs` by `output`.
    pub fn replace(&mut self, inputs: &[u64], output: Option<Run>) {
        self.runs.retain(|r| !inputs.contains(&r.id));
        self.release(inputs);
        self.add(output);
    }

    /// Bytes of memory held by the filters and inline runs.
    pub fn memory(&self) -> usize {
        self.runs
            .iter()
            .map(|r| {
                r.put_bloom.memory()
                    + r.tomb_bloom.memory()
                    + r.inline.as_ref().map_or(0, Vec::len)
                    + r.fences.as_ref().map_or(0, |f| std::mem::size_of_val(&**f))
            })
            .sum()
    }

    /// All records of `id` in `run`.
    fn read(tree: &sled::Tree, run: &Run, id: TimerId) -> Result<Vec<Record>> {
        if let Some(bytes) = &run.inline {
            return ChunkView::new(bytes)?.records_of(id);
        }
        if let Some(fences) = &run.fences {
            // The chunk holding `id`, if any: the first whose last id is >= it.
            let Some(&last_id) = fences.get(fences.partition_point(|f| *f < id)) else {
                return Ok(Vec::new());
            };
            let key = ChunkKey {
                run: run.id,
                last_id,
            };
            return match tree.get(key.encode())? {
                Some(chunk) => ChunkView::new(&chunk)?.records_of(id),
                None => Err(Error::corrupt(
                    "index chunk",
                    format!("run {}: chunk ending at {last_id} missing", run.id),
                )),
            };
        }
        // Stored before fences: the first chunk whose last id is >= `id`.
        let from = ChunkKey {
            run: run.id,
            last_id: id,
        }
        .encode();
        let (_, end) = ChunkKey::run_range(run.id);
        match tree.range(from.as_slice()..end.as_slice()).next() {
            Some(item) => {
                let (_, chunk) = item?;
                ChunkView::new(&chunk)?.records_of(id)
            }
            None => Ok(Vec::new()),
        }
    }

    /// Whether version `seq` of `id` has a tomb.
    pub fn is_tombed(&self, tree: &sled::Tree, id: TimerId, seq: u64) -> Result<bool> {
        let h = Probe::new(hash_version(id, seq));
        for run in &self.runs {
            if run.tombs > 0
                && run.tomb_bloom.may_contain_probe(&h)
                && Self::read(tree, run, id)?
                    .iter()
                    .any(|r| r.kind == Kind::Tomb && r.seq == seq)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The live version of `id`: its newest put, unless that put has a tomb
    /// or its group is gone from disk (a group is deleted once every timer
    /// in it is dead, and then needs no tombs; `group_exists` answers that).
    /// A newer version always kills the older one in the same write.
    pub fn lookup(
        &self,
        tree: &sled::Tree,
        id: TimerId,
        group_exists: impl Fn(&GroupKey) -> Result<bool>,
    ) -> Result<Option<Version>> {
        let h = Probe::new(hash_id(id));
        let mut newest: Option<Record> = None;
        let mut tombed: Vec<u64> = Vec::new();
        let mut read_runs: Vec<u64> = Vec::new();
        for run in &self.runs {
            if run.puts == 0 || !run.put_bloom.may_contain_probe(&h) {
                continue;
            }
            read_runs.push(run.id);
            for r in Self::read(tree, run, id)? {
                match r.kind {
                    Kind::Put if newest.is_none_or(|n| n.seq < r.seq) => newest = Some(r),
                    Kind::Put => {}
                    Kind::Tomb => tombed.push(r.seq),
                }
            }
        }
        let Some(put) = newest else {
            return Ok(None);
        };
        if tombed.contains(&put.seq) {
            return Ok(None);
        }
        let hv = Probe::new(hash_version(id, put.seq));
        for run in &self.runs {
            if run.tombs > 0
                && !read_runs.contains(&run.id)
                && run.tomb_bloom.may_contain_probe(&hv)
                && Self::read(tree, run, id)?
                    .iter()
                    .any(|r| r.kind == Kind::Tomb && r.seq == put.seq)
            {
                return Ok(None);
            }
        }
        if !group_exists(&put.group)? {
            return Ok(None);
        }
        Ok(Some(Version {
            seq: put.seq,
            due: put.due,
            group: put.group,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(id: TimerId, seq: u64, due: i64) -> Record {
        Record {
            id,
            seq,
            kind: Kind::Put,
            due: Millis(due),
            group: GroupKey {
                min_due: Millis(due),
                gseq: seq,
            },
        }
    }

    fn tomb(id: TimerId, seq: u64) -> Record {
        Record {
            kind: Kind::Tomb,
            ..put(id, seq, 0)
        }
    }

    /// A fresh temporary tree and an index with no run.
    fn empty() -> (sled::Tree, IdIndex) {
        let db = sled::Config::new().temporary(true).open().expect("db");
        (db.open_tree("t").expect("tree"), IdIndex::default())
    }

    fn exists(tree: &sled::Tree) -> impl Fn(&GroupKey) -> Result<bool> + '_ {
        move |g| Ok(tree.contains_key(g.encode())?)
    }

    fn apply(tree: &sled::Tree, index: &mut IdIndex, run: u64, records: Vec<Record>) {
        let mut batch = sled::Batch::default();
        for r in records.iter().filter(|r| r.kind == Kind::Put) {
            // The group holding the version exists while the version lives.
            batch.insert(r.group.encode().to_vec(), vec![1u8]);
        }
        let r = IdIndex::stage_run(run, records, &mut batch).expect("stages");
        tree.apply_batch(batch).expect("applies");
        index.add(r);
    }

    #[test]
    fn lookup_sees_newest_untombed_put_across_runs() {
        let (tree, mut index) = empty();
        apply(&tree, &mut index, 1, vec![put(10, 1, 100), put(11, 2, 200)]);
        apply(&tree, &mut index, 2, vec![tomb(10, 1), put(10, 3, 300)]);
        apply(&tree, &mut index, 3, vec![tomb(11, 2)]);
        assert_eq!(
            index
                .lookup(&tree, 10, exists(&tree))
                .expect("ok")
                .map(|v| v.due),
            Some(Millis(300))
        );
        assert_eq!(index.lookup(&tree, 11, exists(&tree)).expect("ok"), None);
        assert_eq!(index.lookup(&tree, 12, exists(&tree)).expect("ok"), None);
        assert!(index.is_tombed(&tree, 10, 1).expect("ok"));
        assert!(!index.is_tombed(&tree, 10, 3).expect("ok"));
        let reloaded = IdIndex::load(&tree).expect("loads");
        assert_eq!(
            reloaded
                .lookup(&tree, 10, exists(&tree))
                .expect("ok")
                .map(|v| v.seq),
            Some(3)
        );
        // Once the group of version 3 is gone, the version is dead.
        tree.remove(
            GroupKey {
                min_due: Millis(300),
                gseq: 3,
            }
            .encode(),
        )
        .expect("remove");
        assert_eq!(reloaded.lookup(&tree, 10, exists(&tree)).expect("ok"), None);
    }

    #[test]
    fn lookups_read_chunks_by_fence_and_runs_without_fences_by_range() {
        let (tree, mut index) = empty();
        let n = 5_000u128;
        apply(
            &tree,
            &mut index,
            4,
            (0..n).map(|i| put(i * 3 + 1, 1, 5)).collect(),
        );
        let fences = index.runs()[0]
            .fences
            .clone()
            .expect("a chunked run has fences");
        assert_eq!(fences.len(), (n as usize).div_ceil(CHUNK_RECORDS));
        assert_eq!(fences.last(), Some(&(3 * (n - 1) + 1)));
        // The same run as stored before fences: its header without them.
        let (tree_old, mut index_old) = empty();
        apply(
            &tree_old,
            &mut index_old,
            4,
            (0..n).map(|i| put(i * 3 + 1, 1, 5)).collect(),
        );
        let key = RunKey { run: 4 }.encode(RUN_PREFIX);
        let mut h =
            decode_run_header(&tree_old.get(key).expect("get").expect("header")).expect("decodes");
        h.fences = None;
        tree_old
            .insert(key, encode_run_header(&h).expect("encodes"))
            .expect("insert");
        let index_old = IdIndex::load(&tree_old).expect("loads");
        assert!(index_old.runs()[0].fences.is_none());
        // Every id present, absent between, below the first and above the
        // last fence: both ways agree.
        for id in (0..3 * n + 5).step_by(7).chain([0, 1, 2, 3 * n, u128::MAX]) {
            let by_fence = index.lookup(&tree, id, exists(&tree)).expect("ok");
            let by_range = index_old
                .lookup(&tree_old, id, exists(&tree_old))
                .expect("ok");
            assert_eq!(by_fence, by_range, "id {id}");
            assert_eq!(by_fence.is_some(), id % 3 == 1 && id < 3 * n, "id {id}");
        }
        // A missing chunk is corruption, not an absent timer.
        let last = ChunkKey {
            run: 4,
            last_id: *fences.last().expect("fence"),
        };
        tree.remove(last.encode()).expect("remove");
        assert!(matches!(
            index.lookup(&tree, 3 * (n - 1) + 1, exists(&tree)),
            Err(Error::Corrupt { .. })
        ));
    }

    #[test]
    fn big_filters_are_stored_in_pages_and_reloaded() {
        let (tree, mut index) = empty();
        let n = 50_000u128;
        apply(
            &tree,
            &mut index,
            4,
            (0..n).map(|i| put(i * 3, 1, 5)).collect(),
        );
        let pages: Vec<sled::IVec> = tree
            .scan_prefix(BloomPageKey::run_prefix(4))
            .keys()
            .collect::<sled::Result<_>>()
            .expect("keys");
        // 50,000 puts × 16 bits = 12,544 words: 25 pages; the tomb filter
        // (one block) stays in the header; 521 chunks of 96 records have
        // 521 fences, 1,042 words: 3 pages.
        assert_eq!(pages.len(), 28);
        assert_eq!(tree.scan_prefix([crate::keys::BLOOM_PREFIX]).count(), 28);
        // No value is anywhere near sled's blob threshold.
        let biggest = tree.iter().map(|kv| kv.expect("kv").1.len()).max();
        assert!(biggest.is_some_and(|b| b <= 8 * 1024), "{biggest:?}");
        let reloaded = IdIndex::load(&tree).expect("loads");
        assert_eq!(reloaded.memory(), index.memory());
        for id in [0, 3, 3 * (n - 1)] {
            assert_eq!(
                reloaded
                    .lookup(&tree, id, exists(&tree))
                    .expect("ok")
                    .map(|v| v.seq),
                Some(1)
            );
        }
        assert_eq!(reloaded.lookup(&tree, 1, exists(&tree)).expect("ok"), None);
        // A missing page is reported, not papered over.
        tree.remove(&pages[3]).expect("remove");
        assert!(matches!(IdIndex::load(&tree), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn version_1_headers_with_big_filters_are_rewritten_with_pages_at_load() {
        let (tree, mut index) = empty();
        apply(
            &tree,
            &mut index,
            9,
            (0..20_000u128).map(|i| put(i, 1, 5)).collect(),
        );
        // Turn the stored header into what a version 1 writer left: the
        // filters inside, no pages.
        let run = &index.runs()[0];
        let mut v1 = vec![crate::codec::RUN_VERSION_INLINE_FILTERS];
        bincode::encode_into_std_write(
            (
                run.puts,
                run.tombs,
                run.put_bloom.words().to_vec(),
                run.tomb_bloom.words().to_vec(),
                None::<Vec<u8>>,
            ),
            &mut v1,
            bincode::config::standard(),
        )
        .expect("encodes");
        let pages = BloomPageKey::run_prefix(9);
        let stale: Vec<sled::IVec> = tree
            .scan_prefix(pages)
            .keys()
            .collect::<sled::Result<_>>()
            .expect("keys");
        for k in stale {
            tree.remove(k).expect("remove");
        }
        tree.insert(RunKey { run: 9 }.encode(RUN_PREFIX), v1)
            .expect("v1 header");
        let reloaded = IdIndex::load(&tree).expect("loads the v1 header");
        assert!(tree.scan_prefix(pages).count() > 0, "pages written");
        let header = tree
            .get(RunKey { run: 9 }.encode(RUN_PREFIX))
            .expect("get")
            .expect("header");
        assert_eq!(header[0], crate::codec::RUN_VERSION);
        assert!(header.len() < 1024, "filters moved out: {}", header.len());
        let again = IdIndex::load(&tree).expect("loads the rewritten header");
        assert_eq!(again.memory(), reloaded.memory());
        assert_eq!(
            again
                .lookup(&tree, 19_999, exists(&tree))
                .expect("ok")
                .map(|v| v.seq),
            Some(1)
        );
    }

    #[test]
    fn small_runs_are_inline_and_large_ones_chunked() {
        let (tree, mut index) = empty();
        apply(
            &tree,
            &mut index,
            1,
            (0..INLINE_RECORDS as u128).map(|i| put(i, 1, 5)).collect(),
        );
        assert!(index.runs()[0].inline().is_some());
        let (lo, hi) = ChunkKey::run_range(1);
        assert_eq!(tree.range(lo..hi).count(), 0);
        apply(
            &tree,
            &mut index,
            2,
            (0..=INLINE_RECORDS as u128)
                .map(|i| put(i + 1000, 2, 5))
                .collect(),
        );
        assert!(index.runs()[1].inline().is_none());
        assert_eq!(
            index
                .lookup(&tree, 3, exists(&tree))
                .expect("ok")
                .map(|v| v.seq),
            Some(1)
        );
        assert_eq!(
            index
                .lookup(&tree, 1003, exists(&tree))
                .expect("ok")
                .map(|v| v.seq),
            Some(2)
        );
    }

    #[test]
    fn large_runs_split_into_chunks_without_splitting_an_id() {
        let (tree, mut index) = empty();
        let mut records = Vec::new();
        for i in 0..(CHUNK_RECORDS as u128 * 2 + 10) {
            records.push(put(i / 2, i as u64, 5));
        }
        apply(&tree, &mut index, 7, records);
        let (lo, hi) = ChunkKey::run_range(7);
        assert!(tree.range(lo..hi).count() >= 2);
        let c = CHUNK_RECORDS as u128;
        for id in [0u128, c / 2 - 1, c / 2, c - 1, c, c + 4] {
            assert_eq!(
                index
                    .lookup(&tree, id, exists(&tree))
                    .expect("ok")
                    .map(|v| v.seq),
                Some(id as u64 * 2 + 1)
            );
        }
    }
}
