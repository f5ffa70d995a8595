//! One level of the hierarchical wheel: 64 slots and an `occupied` bitfield.
//!
//! Level `l` has slots `64^l` ticks wide, so the whole level spans `64^(l+1)`
//! ticks. With 11 levels the wheel covers the full `u64` tick range, so no
//! overflow list is needed.

/// Bits of a tick consumed per level.
pub(crate) const LEVEL_BITS: u32 = 6;
/// Slots per level.
pub(crate) const SLOTS: usize = 1 << LEVEL_BITS;
/// Levels: `ceil(64 / 6)`, enough for any `u64` tick distance.
pub(crate) const LEVELS: usize = 11;

/// The level at which a deadline `when > elapsed` is stored: the level of the
/// most significant bit in which the two differ (Varghese & Lauck's scheme 7,
/// as tokio computes it). Equal high bits mean the deadline is inside the
/// current slot of every higher level.
pub(crate) fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | (SLOTS as u64 - 1);
    let significant = 63 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}

/// The slot of `tick` at `level`.
pub(crate) fn slot_for(tick: u64, level: usize) -> usize {
    ((tick as u128 >> (LEVEL_BITS as usize * level)) & (SLOTS as u128 - 1)) as usize
}

/// Ticks covered by one slot of `level`.
pub(crate) fn slot_range(level: usize) -> u128 {
    1u128 << (LEVEL_BITS as usize * level)
}

/// Ticks covered by a whole `level`.
pub(crate) fn level_range(level: usize) -> u128 {
    1u128 << (LEVEL_BITS as usize * (level + 1))
}

/// First tick of slot `slot` of `level` within the level rotation that
/// contains `elapsed`.
pub(crate) fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let base = elapsed as u128 & !(level_range(level) - 1);
    (base + slot as u128 * slot_range(level)) as u64
}

/// One level: slot contents and a bitfield of the non-empty slots.
#[derive(Debug)]
pub(crate) struct Level<T> {
    occupied: u64,
    slots: Vec<Vec<T>>,
}

impl<T> Level<T> {
    /// An empty level.
    pub fn new() -> Self {
        Level {
            occupied: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
        }
    }

    /// Whether no slot holds anything.
    pub fn is_empty(&self) -> bool {
        self.occupied == 0
    }

    /// Adds `item` to `slot`.
    pub fn push(&mut self, slot: usize, item: T) {
        self.slots[slot].push(item);
        self.occupied |= 1 << slot;
    }

    /// Empties `slot`, returning what it held.
    pub fn take(&mut self, slot: usize) -> Vec<T> {
        self.occupied &= !(1 << slot);
        std::mem::take(&mut self.slots[slot])
    }

    /// What `slot` holds.
    pub fn peek(&self, slot: usize) -> &[T] {
        &self.slots[slot]
    }

    /// The first occupied slot strictly after `current`, if any.
    pub fn next_occupied_after(&self, current: usize) -> Option<usize> {
        let later = if current + 1 >= SLOTS {
            0
        } else {
            self.occupied & (u64::MAX << (current + 1))
        };
        (later != 0).then(|| later.trailing_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute-force reference: the highest differing bit, divided by 6.
    fn reference_level(elapsed: u64, when: u64) -> usize {
        let mut level = 0;
        for bit in 0..64 {
            if (elapsed >> bit) & 1 != (when >> bit) & 1 {
                level = bit as usize / LEVEL_BITS as usize;
            }
        }
        level
    }

    #[test]
    fn level_for_matches_reference_on_every_bit_boundary() {
        // Every pair of (elapsed, distance) built from powers of two and their
        // neighbours: exhaustive over the bit positions that decide the level.
        let mut points = vec![0u64, 1, u64::MAX, u64::MAX - 1, 1 << 63];
        for bit in 0..64 {
            let p = 1u64 << bit;
            points.extend([p, p - 1, p.wrapping_add(1)]);
        }
        for &elapsed in &points {
            for &d in &points {
                let when = elapsed.wrapping_add(d);
                if when <= elapsed {
                    continue;
                }
                assert_eq!(
                    level_for(elapsed, when),
                    reference_level(elapsed, when),
                    "elapsed {elapsed} when {when}"
                );
            }
        }
    }

    #[test]
    fn level_for_every_deadline_within_2_pow_13_ticks() {
        // Every deadline up to 2^13 ticks ahead (levels 0..=2 in full) from
        // elapsed ticks sampled across two level-1 rotations.
        for elapsed in (0u64..8192).step_by(101) {
            for when in elapsed + 1..elapsed + 8192 {
                assert_eq!(level_for(elapsed, when), reference_level(elapsed, when));
            }
        }
    }

    #[test]
    fn deadline_lands_strictly_after_current_slot_at_its_level() {
        for elapsed in (0u64..20_000).step_by(97) {
            for when in (elapsed + 1..elapsed + 300_000).step_by(61) {
                let l = level_for(elapsed, when);
                assert!(slot_for(when, l) > slot_for(elapsed, l));
                let start = slot_start(elapsed, l, slot_for(when, l));
                assert!(start <= when && (when as u128) < start as u128 + slot_range(l));
            }
        }
    }

    #[test]
    fn top_level_covers_the_whole_tick_range() {
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
        assert_eq!(slot_for(u64::MAX, LEVELS - 1), 15);
        assert_eq!(slot_start(0, LEVELS - 1, 15), 15u64 << 60);
        assert_eq!(level_range(LEVELS - 1), 1u128 << 66);
    }

    #[test]
    fn next_occupied_after_scans_the_bitfield() {
        let mut level: Level<u8> = Level::new();
        assert!(level.is_empty());
        level.push(5, 1);
        level.push(63, 2);
        assert_eq!(level.next_occupied_after(0), Some(5));
        assert_eq!(level.next_occupied_after(5), Some(63));
        assert_eq!(level.next_occupied_after(63), None);
        assert_eq!(level.take(5), vec![1]);
        assert_eq!(level.next_occupied_after(0), Some(63));
        level.take(63);
        assert!(level.is_empty());
    }
}
