//! Value encodings. Every stored value starts with a version byte.
//!
//! * Timer groups: `[GROUP_VERSION]` then bincode 2 (standard config) of
//!   `Vec<StoredTimer>` sorted by `(due, id)`.
//! * Index chunks: `[CHUNK_VERSION]` then fixed-width 49-byte records sorted
//!   by `(id, seq, kind)`. Fixed width (not bincode) so that a lookup binary
//!   searches the stored bytes without decoding the chunk.
//! * Run headers: `[RUN_VERSION]` (3) then bincode 2 of [`RunHeader`]; a
//!   big run's bloom filters and chunk fences are stored apart, in pages.
//!   Version 2 headers (no fences) and version 1 headers (no fences,
//!   filters always inside) are still read.
//! * Pages (bloom filters, fences): `[BLOOM_PAGE_VERSION]` then up to
//!   [`BLOOM_PAGE_WORDS`] little-endian `u64` words; a fence (a `u128`
//!   timer id) is two words, high then low.

use bincode::{Decode, Encode};

use crate::error::{Error, Result};
use crate::keys::{GroupKey, i64_to_ordered, ordered_to_i64};
use crate::types::{Millis, TimerId};

/// Version byte of timer groups.
pub(crate) const GROUP_VERSION: u8 = 1;
/// Version byte of index chunks.
pub(crate) const CHUNK_VERSION: u8 = 1;
/// Version byte of run headers written now.
pub(crate) const RUN_VERSION: u8 = 3;
/// Version byte of run headers without fences.
pub(crate) const RUN_VERSION_NO_FENCES: u8 = 2;
/// Version byte of run headers whose filters were always inline.
pub(crate) const RUN_VERSION_INLINE_FILTERS: u8 = 1;
/// Version byte of bloom filter pages.
pub(crate) const BLOOM_PAGE_VERSION: u8 = 1;
/// Words of one bloom page (4 KiB).
pub(crate) const BLOOM_PAGE_WORDS: usize = 512;
/// Version of the whole store layout (the `format` key): 2 since the
/// completion horizon, 3 since run headers carry chunk fences. A version-1
/// store is upgraded when opened (it has no horizon, which covers
/// nothing), and so is a version-2 one (its runs without fences are read
/// by range until merged); a binary that knows only version 1 refuses a
/// version-2 store instead of firing completed timers again, and one that
/// knows only version 2 refuses version 3 instead of failing on a header.
pub(crate) const FORMAT_VERSION: u8 = 3;
/// Layout versions this build opens (older ones are upgraded in place).
pub(crate) const FORMATS_READ: [u8; 3] = [1, 2, 3];

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// One timer as stored inside a group.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) struct StoredTimer {
    /// Due instant in ms since the epoch.
    pub due: i64,
    /// Timer id.
    pub id: TimerId,
    /// Version of this timer (unique per schedule operation).
    pub seq: u64,
    /// Opaque payload.
    pub payload: Vec<u8>,
}

/// Encodes a group of timers (already sorted by `(due, id)`).
pub(crate) fn encode_group(timers: &[StoredTimer]) -> Result<Vec<u8>> {
    let mut out = vec![GROUP_VERSION];
    bincode::encode_into_std_write(timers, &mut out, config())
        .map_err(|e| Error::corrupt("group encode", e))?;
    Ok(out)
}

/// Decodes [`encode_group`] output.
pub(crate) fn decode_group(bytes: &[u8]) -> Result<Vec<StoredTimer>> {
    match bytes.first() {
        Some(&GROUP_VERSION) => {
            let (timers, used): (Vec<StoredTimer>, usize) =
                bincode::decode_from_slice(&bytes[1..], config())
                    .map_err(|e| Error::corrupt("group", e))?;
            if used + 1 != bytes.len() {
                return Err(Error::corrupt("group", "trailing bytes"));
            }
            Ok(timers)
        }
        Some(v) => Err(Error::corrupt("group", format!("unknown version {v}"))),
        None => Err(Error::corrupt("group", "empty value")),
    }
}

/// Kind of an index record. `Put` sorts before `Tomb` for the same version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// Version `seq` of the timer was written into group `group`.
    Put = 0,
    /// Version `seq` of the timer is dead (completed, cancelled, replaced).
    Tomb = 1,
}

/// One index record: what happened to version `seq` of timer `id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Record {
    /// Timer id.
    pub id: TimerId,
    /// Version.
    pub seq: u64,
    /// Put or tomb.
    pub kind: Kind,
    /// Due of that version.
    pub due: Millis,
    /// Group holding that version (meaningful for puts).
    pub group: GroupKey,
}

impl Record {
    /// Encoded width.
    pub const LEN: usize = 49;
    /// Width of the sort prefix `(id, seq, kind)`.
    #[cfg(test)]
    pub const SORT_LEN: usize = 25;

    /// Fixed-width big-endian encoding; bytes `0..25` sort like `(id, seq, kind)`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.push(self.kind as u8);
        out.extend_from_slice(&i64_to_ordered(self.due.0).to_be_bytes());
        out.extend_from_slice(&i64_to_ordered(self.group.min_due.0).to_be_bytes());
        out.extend_from_slice(&self.group.gseq.to_be_bytes());
    }

    /// Decodes one record from exactly [`Record::LEN`] bytes.
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != Self::LEN {
            return Err(Error::corrupt("index record", "bad width"));
        }
        let u64_at = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            u64::from_be_bytes(x)
        };
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[0..16]);
        let kind = match b[24] {
            0 => Kind::Put,
            1 => Kind::Tomb,
            k => return Err(Error::corrupt("index record", format!("kind {k}"))),
        };
        Ok(Record {
            id: u128::from_be_bytes(id),
            seq: u64_at(16),
            kind,
            due: Millis(ordered_to_i64(u64_at(25))),
            group: GroupKey {
                min_due: Millis(ordered_to_i64(u64_at(33))),
                gseq: u64_at(41),
            },
        })
    }
}

/// Encodes a chunk of records (sorted by `(id, seq, kind)`).
pub(crate) fn encode_chunk(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + records.len() * Record::LEN);
    out.push(CHUNK_VERSION);
    for r in records {
        r.encode_into(&mut out);
    }
    out
}

/// Read-only view of an encoded chunk.
pub(crate) struct ChunkView<'a> {
    body: &'a [u8],
}

impl<'a> ChunkView<'a> {
    /// Checks the version byte and the width.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        match bytes.first() {
            Some(&CHUNK_VERSION) if (bytes.len() - 1).is_multiple_of(Record::LEN) => {
                Ok(ChunkView { body: &bytes[1..] })
            }
            Some(&CHUNK_VERSION) => Err(Error::corrupt("index chunk", "bad length")),
            Some(v) => Err(Error::corrupt(
                "index chunk",
                format!("unknown version {v}"),
            )),
            None => Err(Error::corrupt("index chunk", "empty value")),
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.body.len() / Record::LEN
    }

    fn id_at(&self, i: usize) -> TimerId {
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.body[i * Record::LEN..i * Record::LEN + 16]);
        u128::from_be_bytes(id)
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> Result<Record> {
        Record::decode(&self.body[i * Record::LEN..(i + 1) * Record::LEN])
    }

    /// All records of timer `id` (binary search on the stored bytes).
    pub fn records_of(&self, id: TimerId) -> Result<Vec<Record>> {
        let n = self.len();
        let (mut lo, mut hi) = (0usize, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.id_at(mid) < id {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        let mut i = lo;
        while i < n && self.id_at(i) == id {
            out.push(self.get(i)?);
            i += 1;
        }
        Ok(out)
    }
}

/// Where a run's bloom filter lives.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) enum FilterWords {
    /// Inside the header.
    Inline(Vec<u64>),
    /// In this many words of bloom pages (see [`crate::keys::BloomPageKey`]).
    Paged(u32),
}

/// Header of an index run: counts, its two bloom filters, and the fences
/// of its chunks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) struct RunHeader {
    /// Number of put records.
    pub puts: u64,
    /// Number of tomb records.
    pub tombs: u64,
    /// Bloom filter over put ids.
    pub put_bloom: FilterWords,
    /// Bloom filter over tomb `(id, seq)` pairs.
    pub tomb_bloom: FilterWords,
    /// The records of a small run, encoded like a chunk.
    pub inline: Option<Vec<u8>>,
    /// The last timer id of each chunk, in order (two words each), so that a
    /// lookup reads its chunk by exact key. `None` for inline runs and for
    /// headers written before fences (read by range).
    pub fences: Option<FilterWords>,
}

/// A version 2 run header: no fences.
#[derive(Decode)]
struct RunHeaderNoFences {
    puts: u64,
    tombs: u64,
    put_bloom: FilterWords,
    tomb_bloom: FilterWords,
    inline: Option<Vec<u8>>,
}

/// A version 1 run header: both filters inside.
#[derive(Decode)]
struct RunHeaderInlineFilters {
    puts: u64,
    tombs: u64,
    put_bloom: Vec<u64>,
    tomb_bloom: Vec<u64>,
    inline: Option<Vec<u8>>,
}

/// Encodes a run header.
pub(crate) fn encode_run_header(h: &RunHeader) -> Result<Vec<u8>> {
    let mut out = vec![RUN_VERSION];
    bincode::encode_into_std_write(h, &mut out, config())
        .map_err(|e| Error::corrupt("run header encode", e))?;
    Ok(out)
}

/// Decodes [`encode_run_header`] output, and version 1 headers.
pub(crate) fn decode_run_header(bytes: &[u8]) -> Result<RunHeader> {
    match bytes.first() {
        Some(&RUN_VERSION) => {
            let (h, _): (RunHeader, usize) = bincode::decode_from_slice(&bytes[1..], config())
                .map_err(|e| Error::corrupt("run header", e))?;
            Ok(h)
        }
        Some(&RUN_VERSION_NO_FENCES) => {
            let (h, _): (RunHeaderNoFences, usize) =
                bincode::decode_from_slice(&bytes[1..], config())
                    .map_err(|e| Error::corrupt("run header", e))?;
            Ok(RunHeader {
                puts: h.puts,
                tombs: h.tombs,
                put_bloom: h.put_bloom,
                tomb_bloom: h.tomb_bloom,
                inline: h.inline,
                fences: None,
            })
        }
        Some(&RUN_VERSION_INLINE_FILTERS) => {
            let (h, _): (RunHeaderInlineFilters, usize) =
                bincode::decode_from_slice(&bytes[1..], config())
                    .map_err(|e| Error::corrupt("run header", e))?;
            Ok(RunHeader {
                puts: h.puts,
                tombs: h.tombs,
                put_bloom: FilterWords::Inline(h.put_bloom),
                tomb_bloom: FilterWords::Inline(h.tomb_bloom),
                inline: h.inline,
                fences: None,
            })
        }
        Some(v) => Err(Error::corrupt("run header", format!("unknown version {v}"))),
        None => Err(Error::corrupt("run header", "empty value")),
    }
}

/// Fences as page words: two per fence, high then low.
pub(crate) fn fence_words(fences: &[TimerId]) -> Vec<u64> {
    fences
        .iter()
        .flat_map(|f| [(f >> 64) as u64, *f as u64])
        .collect()
}

/// Fences back from [`fence_words`] output.
pub(crate) fn fences_from_words(words: &[u64]) -> Result<Vec<TimerId>> {
    if !words.len().is_multiple_of(2) {
        return Err(Error::corrupt("fences", "odd number of words"));
    }
    let fences: Vec<TimerId> = words
        .chunks_exact(2)
        .map(|w| (u128::from(w[0]) << 64) | u128::from(w[1]))
        .collect();
    if fences.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::corrupt("fences", "not in increasing order"));
    }
    Ok(fences)
}

/// Encodes one page of bloom filter words.
pub(crate) fn encode_bloom_page(words: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + words.len() * 8);
    out.push(BLOOM_PAGE_VERSION);
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

/// Appends the words of an [`encode_bloom_page`] value to `words`.
pub(crate) fn decode_bloom_page(bytes: &[u8], words: &mut Vec<u64>) -> Result<()> {
    match bytes.split_first() {
        Some((&BLOOM_PAGE_VERSION, body)) if body.len().is_multiple_of(8) => {
            for w in body.chunks_exact(8) {
                let mut b = [0u8; 8];
                b.copy_from_slice(w);
                words.push(u64::from_le_bytes(b));
            }
            Ok(())
        }
        Some((&BLOOM_PAGE_VERSION, _)) => Err(Error::corrupt("bloom page", "bad length")),
        Some((v, _)) => Err(Error::corrupt("bloom page", format!("unknown version {v}"))),
        None => Err(Error::corrupt("bloom page", "empty value")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        (
            any::<u128>(),
            any::<u64>(),
            any::<bool>(),
            any::<i64>(),
            any::<i64>(),
            any::<u64>(),
        )
            .prop_map(|(id, seq, tomb, due, gd, gs)| Record {
                id,
                seq,
                kind: if tomb { Kind::Tomb } else { Kind::Put },
                due: Millis(due),
                group: GroupKey {
                    min_due: Millis(gd),
                    gseq: gs,
                },
            })
    }

    proptest! {
        #[test]
        fn record_round_trips_and_sort_prefix_orders(a in record(), b in record()) {
            let (mut ea, mut eb) = (Vec::new(), Vec::new());
            a.encode_into(&mut ea);
            b.encode_into(&mut eb);
            prop_assert_eq!(Record::decode(&ea).expect("decodes"), a);
            prop_assert_eq!(
                ea[..Record::SORT_LEN].cmp(&eb[..Record::SORT_LEN]),
                (a.id, a.seq, a.kind).cmp(&(b.id, b.seq, b.kind))
            );
        }

        #[test]
        fn chunk_lookup_finds_exactly_the_ids_records(mut recs in proptest::collection::vec(record(), 0..60), probe in any::<u128>()) {
            // Make some ids repeat so that multi-record ids occur.
            for i in 1..recs.len() { if i % 3 == 0 { recs[i].id = recs[i - 1].id; } }
            recs.sort();
            let bytes = encode_chunk(&recs);
            let view = ChunkView::new(&bytes).expect("valid");
            for id in recs.iter().map(|r| r.id).chain([probe]) {
                let want: Vec<Record> = recs.iter().copied().filter(|r| r.id == id).collect();
                prop_assert_eq!(view.records_of(id).expect("reads"), want);
            }
        }
    }

    #[test]
    fn group_round_trips_and_rejects_unknown_version() {
        let timers = vec![
            StoredTimer {
                due: -5,
                id: 7,
                seq: 1,
                payload: vec![1, 2, 3],
            },
            StoredTimer {
                due: 9,
                id: u128::MAX,
                seq: 2,
                payload: vec![],
            },
        ];
        let bytes = encode_group(&timers).expect("encodes");
        assert_eq!(decode_group(&bytes).expect("decodes"), timers);
        let mut bad = bytes.clone();
        bad[0] = 99;
        assert!(matches!(decode_group(&bad), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn run_header_round_trips() {
        let h = RunHeader {
            puts: 3,
            tombs: 1,
            put_bloom: FilterWords::Inline(vec![1, 2]),
            tomb_bloom: FilterWords::Paged(4096),
            inline: Some(vec![CHUNK_VERSION]),
            fences: Some(FilterWords::Inline(vec![0, 7, 1, 0])),
        };
        assert_eq!(
            decode_run_header(&encode_run_header(&h).expect("enc")).expect("dec"),
            h
        );
    }

    /// Bytes a version 2 header (no fences) was stored as.
    #[derive(Encode)]
    struct V2 {
        puts: u64,
        tombs: u64,
        put_bloom: FilterWords,
        tomb_bloom: FilterWords,
        inline: Option<Vec<u8>>,
    }

    #[test]
    fn version_2_run_headers_still_decode_without_fences() {
        let mut bytes = vec![RUN_VERSION_NO_FENCES];
        let v2 = V2 {
            puts: 3,
            tombs: 1,
            put_bloom: FilterWords::Inline(vec![1, 2]),
            tomb_bloom: FilterWords::Paged(512),
            inline: None,
        };
        bincode::encode_into_std_write(&v2, &mut bytes, config()).expect("enc");
        assert_eq!(
            decode_run_header(&bytes).expect("dec"),
            RunHeader {
                puts: 3,
                tombs: 1,
                put_bloom: FilterWords::Inline(vec![1, 2]),
                tomb_bloom: FilterWords::Paged(512),
                inline: None,
                fences: None,
            }
        );
    }

    #[test]
    fn fences_round_trip_through_words_and_must_increase() {
        let fences = vec![0, 1, u128::from(u64::MAX) + 1, u128::MAX];
        let words = fence_words(&fences);
        assert_eq!(words.len(), 8);
        assert_eq!(fences_from_words(&words).expect("dec"), fences);
        assert!(fences_from_words(&words[..3]).is_err(), "odd word count");
        assert!(
            fences_from_words(&fence_words(&[5, 5])).is_err(),
            "repeated fence"
        );
    }

    /// Bytes a version 1 header (filters always inside) was stored as.
    #[derive(Encode)]
    struct V1 {
        puts: u64,
        tombs: u64,
        put_bloom: Vec<u64>,
        tomb_bloom: Vec<u64>,
        inline: Option<Vec<u8>>,
    }

    #[test]
    fn version_1_run_headers_still_decode() {
        let mut bytes = vec![RUN_VERSION_INLINE_FILTERS];
        let v1 = V1 {
            puts: 3,
            tombs: 1,
            put_bloom: vec![1, 2],
            tomb_bloom: vec![u64::MAX],
            inline: None,
        };
        bincode::encode_into_std_write(&v1, &mut bytes, config()).expect("enc");
        assert_eq!(
            decode_run_header(&bytes).expect("dec"),
            RunHeader {
                puts: 3,
                tombs: 1,
                put_bloom: FilterWords::Inline(vec![1, 2]),
                tomb_bloom: FilterWords::Inline(vec![u64::MAX]),
                inline: None,
                fences: None,
            }
        );
    }

    #[test]
    fn bloom_pages_round_trip_and_reject_bad_lengths() {
        let words = vec![0, 1, u64::MAX, 0x0123_4567_89ab_cdef];
        let mut back = vec![42];
        decode_bloom_page(&encode_bloom_page(&words), &mut back).expect("dec");
        assert_eq!(back[1..], words[..]);
        let mut bad = encode_bloom_page(&words);
        bad.pop();
        assert!(matches!(
            decode_bloom_page(&bad, &mut back),
            Err(Error::Corrupt { .. })
        ));
    }
}
