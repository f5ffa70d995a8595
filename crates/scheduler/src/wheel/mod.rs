//! Hierarchical timing wheel (Varghese & Lauck, "Hashed and Hierarchical
//! Timing Wheels", SOSP 1987, scheme 7), shaped after tokio's
//! `runtime/time/wheel`.
//!
//! Ticks are milliseconds mapped order-preservingly onto `u64`. A deadline is
//! stored at the level of the highest bit in which it differs from the
//! wheel's `elapsed` tick; when `elapsed` reaches the start of a slot above
//! level 0, the slot's entries cascade to lower levels. The wheel never sees
//! dates and knows nothing of liveness: the caller re-inserts what it still
//! wants when a slot expires (cancelled entries are dropped lazily then).

mod level;

use level::{LEVELS, Level, level_for, slot_for, slot_start};

use crate::types::TimerId;

/// One wheel entry: a deadline and the version of the timer it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slotted {
    /// Deadline tick.
    pub tick: u64,
    /// Timer id.
    pub id: TimerId,
    /// Timer version; stale when the timer changed since.
    pub seq: u64,
}

/// The next slot to expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expiration {
    /// Level of the slot.
    pub level: usize,
    /// Slot index within the level.
    pub slot: usize,
    /// First tick of the slot: no entry in it is earlier.
    pub start: u64,
}

/// The wheel.
#[derive(Debug)]
pub(crate) struct Wheel {
    elapsed: u64,
    levels: Vec<Level<Slotted>>,
}

impl Wheel {
    /// An empty wheel at tick `elapsed`.
    pub fn new(elapsed: u64) -> Self {
        Wheel {
            elapsed,
            levels: (0..LEVELS).map(|_| Level::new()).collect(),
        }
    }

    /// The tick up to which the wheel has been advanced.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Whether no slot holds anything (stale entries included).
    pub fn is_empty(&self) -> bool {
        self.levels.iter().all(Level::is_empty)
    }

    /// Moves `elapsed` forward to `tick` while the wheel is empty (nothing
    /// can be skipped then); keeps new deadlines near level 0 instead of
    /// cascading down from the top after a long idle stretch or a restart.
    pub fn skip_to(&mut self, tick: u64) {
        if self.is_empty() && tick > self.elapsed {
            self.elapsed = tick;
        }
    }

    /// Stores `entry`; gives it back when its deadline is not after `elapsed`
    /// (it is already due and belongs in the caller's ready queue).
    pub fn insert(&mut self, entry: Slotted) -> Result<(), Slotted> {
        if entry.tick <= self.elapsed {
            return Err(entry);
        }
        let level = level_for(self.elapsed, entry.tick);
        self.levels[level].push(slot_for(entry.tick, level), entry);
        Ok(())
    }

    /// The earliest non-empty slot. The lowest level with an occupied slot
    /// after the current one wins: its entries lie inside the current slot
    /// of every higher level, so they come first.
    pub fn next_expiration(&self) -> Option<Expiration> {
        self.levels.iter().enumerate().find_map(|(level, l)| {
            let current = slot_for(self.elapsed, level);
            l.next_occupied_after(current).map(|slot| Expiration {
                level,
                slot,
                start: slot_start(self.elapsed, level, slot),
            })
        })
    }

    /// Entries of a slot, without removing them.
    pub fn peek(&self, exp: Expiration) -> &[Slotted] {
        self.levels[exp.level].peek(exp.slot)
    }

    /// If a slot starts at or before `to`, moves `elapsed` to its start and
    /// returns its entries (the caller re-inserts the live ones: they cascade
    /// down or come back as due). Otherwise moves `elapsed` to `to` (no slot
    /// is skipped: every occupied slot starts after `to`) and returns `None`.
    pub fn pop_expired(&mut self, to: u64) -> Option<Vec<Slotted>> {
        match self.next_expiration() {
            Some(exp) if exp.start <= to => {
                self.elapsed = exp.start;
                Some(self.levels[exp.level].take(exp.slot))
            }
            _ => {
                self.elapsed = self.elapsed.max(to);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(wheel: &mut Wheel, to: u64, out: &mut Vec<(u64, u128)>) {
        while let Some(entries) = wheel.pop_expired(to) {
            for e in entries {
                if let Err(due) = wheel.insert(e) {
                    assert!(due.tick <= wheel.elapsed());
                    out.push((due.tick, due.id));
                }
            }
        }
    }

    #[test]
    fn entries_expire_in_deadline_order_across_levels() {
        let mut wheel = Wheel::new(1_000);
        let ticks = [
            1_001u64,
            1_064,
            5_000,
            1_000_000,
            70_000_000_000,
            1_002,
            4_999,
        ];
        for (i, t) in ticks.iter().enumerate() {
            wheel
                .insert(Slotted {
                    tick: *t,
                    id: i as u128,
                    seq: 0,
                })
                .expect("future");
        }
        let mut out = Vec::new();
        drain(&mut wheel, u64::MAX, &mut out);
        let got: Vec<u64> = out.iter().map(|x| x.0).collect();
        let mut want = ticks.to_vec();
        want.sort();
        assert_eq!(got, want);
        assert!(wheel.is_empty());
    }

    #[test]
    fn insert_at_or_before_elapsed_is_handed_back() {
        let mut wheel = Wheel::new(50);
        let e = Slotted {
            tick: 50,
            id: 1,
            seq: 0,
        };
        assert_eq!(wheel.insert(e), Err(e));
        assert!(wheel.insert(Slotted { tick: 51, ..e }).is_ok());
    }

    #[test]
    fn nothing_expires_before_its_deadline() {
        let mut wheel = Wheel::new(0);
        wheel
            .insert(Slotted {
                tick: 4_100,
                id: 1,
                seq: 0,
            })
            .expect("future");
        let mut out = Vec::new();
        drain(&mut wheel, 4_099, &mut out);
        assert!(out.is_empty());
        assert_eq!(wheel.elapsed(), 4_099);
        drain(&mut wheel, 4_100, &mut out);
        assert_eq!(out, vec![(4_100, 1)]);
    }

    proptest! {
        /// Random inserts interleaved with random advances: every entry comes
        /// out exactly once, never before its deadline, never later than the
        /// advance that passed it, and in deadline order.
        #[test]
        fn wheel_matches_sorted_model(
            start in 0u64..1_000_000,
            ops in proptest::collection::vec((0u64..5_000_000, any::<bool>()), 1..200),
        ) {
            let mut wheel = Wheel::new(start);
            let mut model: Vec<(u64, u128)> = Vec::new();
            let mut out = Vec::new();
            for (i, (x, advance)) in ops.into_iter().enumerate() {
                if advance {
                    let to = wheel.elapsed() + x / 10;
                    let before = out.len();
                    drain(&mut wheel, to, &mut out);
                    let mut want: Vec<(u64, u128)> = model.iter().copied().filter(|m| m.0 <= to).collect();
                    want.sort();
                    model.retain(|m| m.0 > to);
                    let got = &mut out[before..];
                    prop_assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "deadline order");
                    got.sort();
                    prop_assert_eq!(&*got, &want[..]);
                } else {
                    let tick = wheel.elapsed() + 1 + x;
                    wheel.insert(Slotted { tick, id: i as u128, seq: 0 }).expect("future");
                    model.push((tick, i as u128));
                }
            }
        }
    }
}
