//! The in-memory window: timers paged in from disk (or scheduled inside the
//! loaded horizon), kept in the wheel until due, then in a ready queue
//! ordered by `(due, id)`, then in flight until completed.

use std::collections::BTreeSet;

use foldhash::{HashMap, HashSet};

use crate::keys::{GroupKey, i64_to_ordered, ordered_to_i64};
use crate::types::{Fired, Millis, TimerId};
use crate::wheel::{Slotted, Wheel};

/// A timer held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resident {
    /// Due instant.
    pub due: Millis,
    /// Version.
    pub seq: u64,
    /// Stored group holding this version.
    pub group: GroupKey,
    /// Payload (empty once handed out: the consumer has it).
    pub payload: Vec<u8>,
    /// Handed out and not yet completed.
    pub in_flight: bool,
}

/// Memory-resident timers and the per-group count of live ones.
#[derive(Debug)]
pub(crate) struct Window {
    wheel: Wheel,
    ready: BTreeSet<(Millis, TimerId)>,
    resident: HashMap<TimerId, Resident>,
    live: HashMap<GroupKey, u32>,
    /// Handed out and not completed, in `(due, id)` order.
    in_flight: BTreeSet<(Millis, TimerId)>,
}

impl Window {
    /// An empty window.
    pub fn new() -> Self {
        Window {
            wheel: Wheel::new(0),
            ready: BTreeSet::new(),
            resident: HashMap::default(),
            live: HashMap::default(),
            in_flight: BTreeSet::new(),
        }
    }

    /// Number of resident timers (waiting or in flight).
    pub fn len(&self) -> usize {
        self.resident.len()
    }

    /// Number of in-flight timers.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The lowest `(due, id)` any resident timer may have, leaving out the
    /// in-flight timers in `leaving` (a completion in progress); `None` when
    /// nothing else is resident. Exact for ready and in-flight timers; for
    /// the wheel, the instant after its `elapsed` tick (every entry in it is
    /// due later), so never above the truth.
    pub fn lowest_live(&self, leaving: &HashSet<TimerId>) -> Option<(Millis, TimerId)> {
        let in_flight = self
            .in_flight
            .iter()
            .find(|(_, id)| !leaving.contains(id))
            .copied();
        let wheel = (!self.wheel.is_empty()).then(|| {
            let after = ordered_to_i64(self.wheel.elapsed()).saturating_add(1);
            (Millis(after), TimerId::MIN)
        });
        [self.ready.first().copied(), in_flight, wheel]
            .into_iter()
            .flatten()
            .min()
    }

    /// The resident version of `id`, if any.
    pub fn get(&self, id: TimerId) -> Option<&Resident> {
        self.resident.get(&id)
    }

    /// Live timers of `group` still held (waiting or in flight).
    pub fn live_in(&self, group: &GroupKey) -> u32 {
        self.live.get(group).copied().unwrap_or(0)
    }

    /// Whether a loaded group is still tracked (has live timers).
    pub fn tracks(&self, group: &GroupKey) -> bool {
        self.live.contains_key(group)
    }

    /// Registers a loaded group with no live timer yet (so that its count
    /// exists even if every timer in it turns out dead).
    pub fn track_group(&mut self, group: GroupKey) {
        self.live.entry(group).or_insert(0);
    }

    /// Forgets a group whose live count is zero.
    pub fn untrack_group(&mut self, group: &GroupKey) {
        if self.live.get(group) == Some(&0) {
            self.live.remove(group);
        }
    }

    /// Adds a waiting timer. The caller has removed any older version.
    pub fn insert(&mut self, id: TimerId, resident: Resident) {
        *self.live.entry(resident.group).or_insert(0) += 1;
        let slotted = Slotted {
            tick: i64_to_ordered(resident.due.0),
            id,
            seq: resident.seq,
        };
        let due = resident.due;
        // An empty wheel may start just before this deadline; anything
        // earlier then lands in the ready queue, which `take_ready` only
        // hands out up to the caller's limit.
        self.wheel.skip_to(slotted.tick.saturating_sub(1));
        if let Some(old) = self.resident.insert(id, resident) {
            debug_assert!(false, "resident {id} inserted twice");
            self.forget(id, &old);
        }
        if let Err(e) = self.wheel.insert(slotted) {
            self.ready.insert((due, e.id));
        }
    }

    fn forget(&mut self, id: TimerId, old: &Resident) {
        if old.in_flight {
            self.in_flight.remove(&(old.due, id));
        } else {
            self.ready.remove(&(old.due, id));
        }
    }

    /// Removes `id` (completed, cancelled or replaced). Returns the removed
    /// timer and whether its group now has no live timer left (the group is
    /// then forgotten and the caller deletes it from disk).
    pub fn remove(&mut self, id: TimerId) -> Option<(Resident, bool)> {
        let old = self.resident.remove(&id)?;
        self.forget(id, &old);
        let emptied = match self.live.get_mut(&old.group) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n == 0
            }
            None => false,
        };
        if emptied {
            self.live.remove(&old.group);
        }
        Some((old, emptied))
    }

    fn is_waiting(&self, e: &Slotted) -> bool {
        self.resident
            .get(&e.id)
            .is_some_and(|r| r.seq == e.seq && !r.in_flight)
    }

    /// Moves timers due at or before `upto` from the wheel to the ready queue
    /// until at least `want` ready ones are due by `upto` or nothing more is.
    pub fn expire(&mut self, upto: Millis, want: usize) {
        let to = i64_to_ordered(upto.0);
        let mut have = self.ready.range(..=(upto, TimerId::MAX)).take(want).count();
        while have < want {
            let Some(entries) = self.wheel.pop_expired(to) else {
                break;
            };
            for e in entries {
                // Entries cascading to a lower level are not checked for
                // liveness (a map lookup per level): a stale one is dropped
                // when it comes due, the same instant it would go anyway.
                if let Err(due) = self.wheel.insert(e) {
                    if !self.is_waiting(&due) {
                        continue; // cancelled, replaced or handed out since
                    }
                    // Expired slots start at or before `to`: due by `upto`.
                    self.ready
                        .insert((Millis(ordered_to_i64(due.tick)), due.id));
                    have += 1;
                }
            }
        }
    }

    /// Hands out up to `max` ready timers due at or before `limit`, in
    /// `(due, id)` order, marking them in flight.
    pub fn take_ready(&mut self, max: usize, limit: Millis) -> Vec<Fired> {
        let mut out = Vec::with_capacity(max.min(self.ready.len()));
        while out.len() < max {
            match self.ready.first() {
                Some((due, _)) if *due <= limit => {}
                _ => break,
            }
            let Some((due, id)) = self.ready.pop_first() else {
                break;
            };
            if let Some(r) = self.resident.get_mut(&id) {
                r.in_flight = true;
                self.in_flight.insert((due, id));
                // The payload goes to the consumer; `get` reads it back from
                // disk while the timer is in flight.
                out.push(Fired {
                    id,
                    due,
                    payload: std::mem::take(&mut r.payload),
                });
            }
        }
        out
    }

    /// Earliest due among waiting timers (exact for ready ones; for the
    /// wheel, the earliest live deadline of the next slot, or the slot start
    /// when only stale entries remain there: never later than the truth).
    pub fn min_waiting_due(&self) -> Option<Millis> {
        if let Some((due, _)) = self.ready.first() {
            return Some(*due);
        }
        let exp = self.wheel.next_expiration()?;
        let tick = self
            .wheel
            .peek(exp)
            .iter()
            .filter(|e| self.is_waiting(e))
            .map(|e| e.tick)
            .min()
            .unwrap_or(exp.start);
        Some(Millis(ordered_to_i64(tick)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(due: i64, seq: u64, group: u64) -> Resident {
        Resident {
            due: Millis(due),
            seq,
            group: GroupKey {
                min_due: Millis(0),
                gseq: group,
            },
            payload: vec![seq as u8],
            in_flight: false,
        }
    }

    #[test]
    fn ready_timers_come_out_in_due_then_id_order() {
        let mut w = Window::new();
        w.insert(9, res(100, 1, 1));
        w.insert(3, res(100, 2, 1));
        w.insert(5, res(50, 3, 2));
        w.expire(Millis(200), usize::MAX);
        let got: Vec<(i64, u128)> = w
            .take_ready(10, Millis::MAX)
            .iter()
            .map(|f| (f.due.0, f.id))
            .collect();
        assert_eq!(got, vec![(50, 5), (100, 3), (100, 9)]);
        assert_eq!(w.in_flight(), 3);
    }

    #[test]
    fn removed_timers_never_come_out_and_empty_groups_are_reported() {
        let mut w = Window::new();
        w.insert(1, res(10, 1, 7));
        w.insert(2, res(20, 2, 7));
        assert_eq!(w.remove(1).map(|(_, e)| e), Some(false));
        assert_eq!(w.remove(2).map(|(_, e)| e), Some(true));
        w.expire(Millis(100), usize::MAX);
        assert!(w.take_ready(10, Millis::MAX).is_empty());
        assert_eq!(
            w.live_in(&GroupKey {
                min_due: Millis(0),
                gseq: 7
            }),
            0
        );
    }

    #[test]
    fn nothing_is_handed_out_before_expire_reaches_its_due() {
        let mut w = Window::new();
        w.expire(Millis(1_000), 1); // fast-forwards the empty wheel
        w.insert(1, res(1_500, 1, 1));
        assert_eq!(w.min_waiting_due(), Some(Millis(1_500)));
        w.expire(Millis(1_499), 1);
        assert!(w.take_ready(1, Millis(1_500)).is_empty());
        w.expire(Millis(1_500), 1);
        assert_eq!(w.take_ready(1, Millis(1_500)).len(), 1);
        assert_eq!(w.min_waiting_due(), None);
    }

    #[test]
    fn an_idle_wheel_skips_ahead_but_never_hands_out_past_the_limit() {
        let mut w = Window::new();
        w.insert(1, res(5_000, 1, 1)); // wheel jumps to just before 5,000
        w.insert(2, res(100, 2, 1)); // earlier: straight to ready
        w.expire(Millis(99), 10);
        assert!(w.take_ready(10, Millis(99)).is_empty());
        w.expire(Millis(100), 10);
        assert_eq!(w.take_ready(10, Millis(100)).len(), 1);
        w.expire(Millis(5_000), 10);
        assert_eq!(w.take_ready(10, Millis(5_000)).len(), 1);
    }

    #[test]
    fn lowest_live_never_exceeds_a_resident_timer() {
        let mut w = Window::new();
        assert_eq!(w.lowest_live(&HashSet::default()), None);
        w.insert(1, res(100, 1, 1));
        w.insert(2, res(200, 2, 1));
        w.insert(3, res(300, 3, 1));
        // All in the wheel: the bound is the wheel's elapsed tick + 1.
        let low = w.lowest_live(&HashSet::default()).expect("resident");
        assert!(low <= (Millis(100), 1), "{low:?}");
        w.expire(Millis(200), usize::MAX);
        let fired = w.take_ready(1, Millis(200));
        assert_eq!(fired[0].id, 1);
        // 1 in flight, 2 ready, 3 in the wheel.
        assert_eq!(w.lowest_live(&HashSet::default()), Some((Millis(100), 1)));
        let leaving: HashSet<TimerId> = [1].into_iter().collect();
        assert_eq!(w.lowest_live(&leaving), Some((Millis(200), 2)));
        w.take_ready(1, Millis(200));
        w.remove(1);
        w.remove(2);
        let low = w.lowest_live(&HashSet::default()).expect("3 resident");
        assert!(low <= (Millis(300), 3) && low > (Millis(200), 2), "{low:?}");
        w.remove(3);
        assert_eq!(w.in_flight(), 0);
    }

    #[test]
    fn overdue_insert_goes_straight_to_ready() {
        let mut w = Window::new();
        w.expire(Millis(1_000), 1);
        w.insert(4, res(10, 1, 1));
        assert_eq!(w.take_ready(5, Millis(1_000)).len(), 1);
    }
}
