//! Key layout of the `timers.store` tree and the key-order contract.
//!
//! Everything the scheduler stores lives in ONE sled tree so that a write
//! (timer groups plus their index records) is a single atomic `apply_batch`.
//! The first byte of every key names its keyspace:
//!
//! | prefix | key                                   | value                         |
//! |--------|---------------------------------------|-------------------------------|
//! | `0x00` | `"format"`                            | format version byte           |
//! | `0x00` | `"pending"`                           | pending timer count, u64 BE   |
//! | `0x00` | `"loaded_high"`                       | highest loader cursor, [`GroupKey`] |
//! | `0x00` | `"horizon"`                           | completion horizon (`horizon.rs`) |
//! | `0x10` | [`GroupKey`]: min due, group sequence | a group of timers (codec)     |
//! | `0x20` | [`ChunkKey`]: run id, last timer id   | a chunk of index records      |
//! | `0x21` | [`RunKey`]: run id                    | run header with bloom filters |
//! | `0x22` | [`RunKey`]: run id                    | marker: compaction output in progress |
//! | `0x23` | [`BloomPageKey`]: run id, filter, page | 512 words of a big run's bloom filter or chunk fences |
//! | `0x24` | [`RunKey`]: run id                    | marker: run merged away, its chunks and pages being deleted |
//!
//! **Key-order contract.** Every key type here encodes its fields in
//! declaration order as fixed-width big-endian bytes, with signed integers
//! sign-flipped (`x ^ i64::MIN`) so that unsigned byte comparison agrees with
//! signed comparison. Hence for any two keys `a`, `b` of one type,
//! `a.encode().cmp(&b.encode()) == a.cmp(&b)`, and sled's iteration order is
//! the types' `Ord`. The property tests at the bottom of this file check it.

use crate::error::{Error, Result};
use crate::types::{Millis, TimerId};

/// Prefix of the format-version key.
pub(crate) const META_PREFIX: u8 = 0x00;
/// Prefix of timer groups.
pub(crate) const GROUP_PREFIX: u8 = 0x10;
/// Prefix of index run chunks.
pub(crate) const CHUNK_PREFIX: u8 = 0x20;
/// Prefix of index run headers.
pub(crate) const RUN_PREFIX: u8 = 0x21;
/// Prefix of in-progress compaction markers.
pub(crate) const PENDING_RUN_PREFIX: u8 = 0x22;

/// Prefix of the bloom filter pages of big runs.
pub(crate) const BLOOM_PREFIX: u8 = 0x23;
/// Prefix of markers of runs merged away whose chunks and pages are still
/// being deleted.
pub(crate) const RETIRED_RUN_PREFIX: u8 = 0x24;

/// Key of the format version.
pub(crate) fn format_key() -> Vec<u8> {
    let mut k = vec![META_PREFIX];
    k.extend_from_slice(b"format");
    k
}

/// Order-preserving map of an `i64` onto a `u64`.
pub(crate) fn i64_to_ordered(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// Inverse of [`i64_to_ordered`].
pub(crate) fn ordered_to_i64(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
fn read_u128(bytes: &[u8], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[at..at + 16]);
    u128::from_be_bytes(b)
}

/// Identity of one stored group of timers: the earliest due in the group and
/// a unique sequence number. Groups sort by earliest due, which is the order
/// in which the loader pages them into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupKey {
    /// Earliest due among the group's timers.
    pub min_due: Millis,
    /// Unique id of the group (from `sled::Db::generate_id`).
    pub gseq: u64,
}

impl GroupKey {
    /// Encoded length.
    pub const LEN: usize = 17;

    /// Bytes: prefix, sign-flipped big-endian `min_due`, big-endian `gseq`.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut k = [0u8; Self::LEN];
        k[0] = GROUP_PREFIX;
        k[1..9].copy_from_slice(&i64_to_ordered(self.min_due.0).to_be_bytes());
        k[9..17].copy_from_slice(&self.gseq.to_be_bytes());
        k
    }

    /// Parses [`GroupKey::encode`] output.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN || bytes[0] != GROUP_PREFIX {
            return Err(Error::corrupt("group key", format!("{bytes:?}")));
        }
        Ok(GroupKey {
            min_due: Millis(ordered_to_i64(read_u64(bytes, 1))),
            gseq: read_u64(bytes, 9),
        })
    }

    /// The smallest key of a group whose earliest due is `min_due`.
    pub fn first_at(min_due: Millis) -> Self {
        GroupKey { min_due, gseq: 0 }
    }

    /// Exclusive upper bound of the whole group keyspace.
    pub fn keyspace_end() -> [u8; 1] {
        [GROUP_PREFIX + 1]
    }
}

/// Key of one chunk of an index run: records of the run whose timer id is at
/// most `last_id` and above the previous chunk's `last_id`. A timer id's
/// records never straddle two chunks, so a lookup reads exactly one chunk:
/// the first whose `last_id >= id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ChunkKey {
    /// The run.
    pub run: u64,
    /// The largest timer id in the chunk.
    pub last_id: TimerId,
}

impl ChunkKey {
    /// Encoded length.
    pub const LEN: usize = 25;

    /// Bytes: prefix, big-endian `run`, big-endian `last_id`.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut k = [0u8; Self::LEN];
        k[0] = CHUNK_PREFIX;
        k[1..9].copy_from_slice(&self.run.to_be_bytes());
        k[9..25].copy_from_slice(&self.last_id.to_be_bytes());
        k
    }

    /// Parses [`ChunkKey::encode`] output.
    #[cfg(test)]
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != Self::LEN || bytes[0] != CHUNK_PREFIX {
            return Err(Error::corrupt("chunk key", format!("{bytes:?}")));
        }
        Ok(ChunkKey {
            run: read_u64(bytes, 1),
            last_id: read_u128(bytes, 9),
        })
    }

    /// `[first, end)` byte range covering every chunk of `run`.
    pub fn run_range(run: u64) -> (Vec<u8>, Vec<u8>) {
        let lo = ChunkKey { run, last_id: 0 }.encode().to_vec();
        let mut hi = vec![CHUNK_PREFIX];
        match run.checked_add(1) {
            Some(next) => hi.extend_from_slice(&next.to_be_bytes()),
            None => hi = vec![CHUNK_PREFIX + 1],
        }
        (lo, hi)
    }
}

/// Key of a run header (prefix [`RUN_PREFIX`]) or of a pending-compaction
/// marker (prefix [`PENDING_RUN_PREFIX`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RunKey {
    /// The run id.
    pub run: u64,
}

impl RunKey {
    /// Encoded length.
    pub const LEN: usize = 9;

    /// Bytes: `prefix`, big-endian run id.
    pub fn encode(&self, prefix: u8) -> [u8; Self::LEN] {
        let mut k = [0u8; Self::LEN];
        k[0] = prefix;
        k[1..9].copy_from_slice(&self.run.to_be_bytes());
        k
    }

    /// Parses [`RunKey::encode`] output with the given prefix.
    pub fn decode(bytes: &[u8], prefix: u8) -> Result<Self> {
        if bytes.len() != Self::LEN || bytes[0] != prefix {
            return Err(Error::corrupt("run key", format!("{bytes:?}")));
        }
        Ok(RunKey {
            run: read_u64(bytes, 1),
        })
    }
}

/// Key of one page of a big run's bloom filter (`filter` 0: puts, 1: tombs)
/// or of its chunk fences (`filter` 2).
/// Filters are split into pages so that no sled value, and no leaf of 16
/// of them, reaches sled's blob threshold (see [`crate::index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BloomPageKey {
    /// The run.
    pub run: u64,
    /// Which filter of the run.
    pub filter: u8,
    /// Page number, from 0.
    pub page: u32,
}

impl BloomPageKey {
    /// Encoded length.
    pub const LEN: usize = 14;

    /// Bytes: prefix, big-endian `run`, `filter`, big-endian `page`.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut k = [0u8; Self::LEN];
        k[0] = BLOOM_PREFIX;
        k[1..9].copy_from_slice(&self.run.to_be_bytes());
        k[9] = self.filter;
        k[10..14].copy_from_slice(&self.page.to_be_bytes());
        k
    }

    /// Prefix of every page of `run` (both filters and the fences).
    pub fn run_prefix(run: u64) -> [u8; 9] {
        let mut p = [0u8; 9];
        p[0] = BLOOM_PREFIX;
        p[1..9].copy_from_slice(&run.to_be_bytes());
        p
    }

    /// Inclusive byte range `[first, last]` covering every page of one filter
    /// of `run`.
    pub fn filter_range(run: u64, filter: u8) -> ([u8; Self::LEN], [u8; Self::LEN]) {
        let lo = BloomPageKey {
            run,
            filter,
            page: 0,
        }
        .encode();
        let mut hi = lo;
        hi[10..14].copy_from_slice(&[0xff; 4]);
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn group_key() -> impl Strategy<Value = GroupKey> {
        (any::<i64>(), any::<u64>()).prop_map(|(d, g)| GroupKey {
            min_due: Millis(d),
            gseq: g,
        })
    }

    fn chunk_key() -> impl Strategy<Value = ChunkKey> {
        (any::<u64>(), any::<u128>()).prop_map(|(run, last_id)| ChunkKey { run, last_id })
    }

    proptest! {
        #[test]
        fn group_key_byte_order_is_ord(a in group_key(), b in group_key()) {
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
            prop_assert_eq!(GroupKey::decode(&a.encode()).expect("decodes"), a);
        }

        #[test]
        fn chunk_key_byte_order_is_ord(a in chunk_key(), b in chunk_key()) {
            prop_assert_eq!(a.encode().cmp(&b.encode()), a.cmp(&b));
            prop_assert_eq!(ChunkKey::decode(&a.encode()).expect("decodes"), a);
        }

        #[test]
        fn run_key_byte_order_is_ord(a in any::<u64>(), b in any::<u64>()) {
            let (ka, kb) = (RunKey { run: a }, RunKey { run: b });
            prop_assert_eq!(ka.encode(RUN_PREFIX).cmp(&kb.encode(RUN_PREFIX)), ka.cmp(&kb));
        }

        #[test]
        fn bloom_page_key_byte_order_is_ord(
            a in (any::<u64>(), any::<u8>(), any::<u32>()),
            b in (any::<u64>(), any::<u8>(), any::<u32>()),
        ) {
            let key = |(run, filter, page)| BloomPageKey { run, filter, page };
            let (ka, kb) = (key(a), key(b));
            prop_assert_eq!(ka.encode().cmp(&kb.encode()), ka.cmp(&kb));
        }

        #[test]
        fn chunk_run_range_covers_exactly_the_run(run in any::<u64>(), id in any::<u128>(), other in any::<u64>()) {
            let (lo, hi) = ChunkKey::run_range(run);
            let k = ChunkKey { run, last_id: id }.encode();
            prop_assert!(lo.as_slice() <= k.as_slice() && k.as_slice() < hi.as_slice());
            if other != run {
                let o = ChunkKey { run: other, last_id: id }.encode();
                prop_assert!(!(lo.as_slice() <= o.as_slice() && o.as_slice() < hi.as_slice()));
            }
        }
    }

    #[test]
    fn keyspaces_do_not_interleave() {
        let g = GroupKey {
            min_due: Millis::MAX,
            gseq: u64::MAX,
        }
        .encode();
        let c = ChunkKey { run: 0, last_id: 0 }.encode();
        assert!(g.as_slice() < GroupKey::keyspace_end().as_slice());
        assert!(GroupKey::keyspace_end().as_slice() <= c.as_slice());
        assert!(format_key().as_slice() < GroupKey::first_at(Millis::MIN).encode().as_slice());
        let pending = RunKey { run: u64::MAX }.encode(PENDING_RUN_PREFIX);
        let page = BloomPageKey {
            run: 0,
            filter: 0,
            page: 0,
        }
        .encode();
        assert!(pending.as_slice() < page.as_slice());
    }

    #[test]
    fn ordered_i64_round_trips_extremes() {
        for v in [i64::MIN, -1, 0, 1, i64::MAX] {
            assert_eq!(ordered_to_i64(i64_to_ordered(v)), v);
        }
        assert!(i64_to_ordered(-1) < i64_to_ordered(0));
    }
}
