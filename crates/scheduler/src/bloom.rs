//! A blocked bloom filter (one 512-bit block per key) and the stable hashes
//! used with it. Filters are persisted, so the hashes must never change
//! between builds: they are fixed mixing functions, not `RandomState`.

/// Bits reserved per key; with 6 probes in a 512-bit block this gives a false
/// positive rate of roughly 0.3 %.
pub(crate) const BITS_PER_KEY: u64 = 16;
const WORDS_PER_BLOCK: usize = 8;
const PROBES: u32 = 6;

/// MurmurHash3's 64-bit finalizer.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// Stable hash of a timer id.
pub(crate) fn hash_id(id: u128) -> u64 {
    let hi = (id >> 64) as u64;
    let lo = id as u64;
    fmix64(lo ^ fmix64(hi ^ 0x9e37_79b9_7f4a_7c15))
}

/// Stable hash of one version `(id, seq)` of a timer.
pub(crate) fn hash_version(id: u128, seq: u64) -> u64 {
    fmix64(hash_id(id) ^ seq.wrapping_mul(0xd6e8_feb8_6659_fd93))
}

/// One hash prepared for checks against many filters: the hash (which picks
/// the block) and the bits it sets within a block.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    hash: u64,
    mask: [u64; WORDS_PER_BLOCK],
}

impl Probe {
    /// Prepares `h`; sets the same bits as [`Bloom::insert`].
    pub fn new(h: u64) -> Self {
        let mut mask = [0u64; WORDS_PER_BLOCK];
        for (w, bit) in Bloom::probes(h) {
            mask[w] |= bit;
        }
        Probe { hash: h, mask }
    }
}

/// A blocked bloom filter over 64-bit hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    /// An empty filter sized for `keys` keys.
    pub fn with_capacity(keys: u64) -> Self {
        let bits = keys.saturating_mul(BITS_PER_KEY).max(512);
        let blocks = bits.div_ceil(512) as usize;
        Bloom {
            words: vec![0; blocks * WORDS_PER_BLOCK],
        }
    }

    /// Rebuilds a filter from its persisted words.
    pub fn from_words(words: Vec<u64>) -> Option<Self> {
        (!words.is_empty() && words.len().is_multiple_of(WORDS_PER_BLOCK))
            .then_some(Bloom { words })
    }

    /// The words to persist.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    fn block_of(&self, h: u64) -> usize {
        let blocks = (self.words.len() / WORDS_PER_BLOCK) as u64;
        // Multiply-shift maps the high half of the hash onto [0, blocks).
        (((h >> 32) * blocks) >> 32) as usize * WORDS_PER_BLOCK
    }

    fn probes(h: u64) -> impl Iterator<Item = (usize, u64)> {
        let bits = fmix64(h ^ 0x2545_f491_4f6c_dd1d);
        (0..PROBES).map(move |i| {
            let bit = (bits >> (i * 9)) & 511;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    /// Adds a hash.
    pub fn insert(&mut self, h: u64) {
        let base = self.block_of(h);
        for (w, mask) in Self::probes(h) {
            self.words[base + w] |= mask;
        }
    }

    /// False means certainly absent; true means probably present.
    #[cfg(test)]
    pub fn may_contain(&self, h: u64) -> bool {
        self.may_contain_probe(&Probe::new(h))
    }

    /// Whether the filter may contain the probe's hash (false: certainly
    /// not), with the probe bits computed once: a lookup
    /// checks one hash against every run's filter, and the bits within a
    /// block do not depend on the filter's size. The check is a branchless
    /// compare of the block with the probe's mask.
    pub fn may_contain_probe(&self, probe: &Probe) -> bool {
        let base = self.block_of(probe.hash);
        let Some(block) = self.words.get(base..base + WORDS_PER_BLOCK) else {
            return true; // unreachable for a valid filter; "maybe" is safe
        };
        block
            .iter()
            .zip(probe.mask)
            .fold(true, |all, (word, mask)| all & (word & mask == mask))
    }

    /// Bytes of memory held.
    pub fn memory(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let n = 20_000u64;
        let mut b = Bloom::with_capacity(n);
        for i in 0..n {
            b.insert(hash_id(i as u128 * 7919));
        }
        for i in 0..n {
            assert!(b.may_contain(hash_id(i as u128 * 7919)));
        }
        let fp = (0..100_000u64)
            .filter(|i| b.may_contain(hash_id(u128::MAX - *i as u128)))
            .count();
        assert!(fp < 1_000, "false positive rate too high: {fp} / 100000");
    }

    #[test]
    fn probe_check_agrees_with_bit_by_bit_check() {
        let mut b = Bloom::with_capacity(2_000);
        for i in 0..2_000u128 {
            b.insert(hash_id(i));
        }
        for i in 0..20_000u128 {
            let h = hash_id(i * 31);
            let base = b.block_of(h);
            let bitwise = Bloom::probes(h).all(|(w, mask)| b.words[base + w] & mask != 0);
            assert_eq!(b.may_contain_probe(&Probe::new(h)), bitwise, "id {i}");
        }
    }

    #[test]
    fn bloom_round_trips_through_words() {
        let mut b = Bloom::with_capacity(10);
        b.insert(hash_version(5, 6));
        let c = Bloom::from_words(b.words().to_vec()).expect("valid words");
        assert!(c.may_contain(hash_version(5, 6)));
        assert!(Bloom::from_words(vec![1, 2, 3]).is_none());
    }

    #[test]
    fn hashes_are_stable_across_builds() {
        // Persisted filters depend on these exact values.
        assert_eq!(hash_id(0), 0x6393_d51c_06c6_18dc);
        assert_ne!(hash_version(1, 2), hash_version(2, 1));
    }
}
