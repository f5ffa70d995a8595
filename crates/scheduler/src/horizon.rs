//! The completion horizon: one stored mark that stands in for the tombs of
//! timers completed in due order.
//!
//! Timers are handed out in `(due, id)` order and groups are cut per write
//! batch, so the timers of one group come due spread among those of many
//! other groups: completing them in firing order empties almost no group,
//! and each completion used to need a tomb record in the id index (which the
//! compactor then merged away again: a third of the fire + complete time).
//!
//! A horizon `(due, id, gseq)` says: **every version stored in a group whose
//! sequence is at most `gseq` and whose `(due, id)` is below `(due, id)` is
//! dead.** A completion (or cancel) batch moves it up to the lowest
//! `(due, id)` still live (waiting or in flight in memory, or anything not
//! yet paged in), with `gseq` a fresh sequence number, in the same atomic
//! write; the timers it removes below that point need no tomb. Timers
//! completed out of order (above the lowest in-flight one) still get tombs. Groups written later
//! have larger sequences, so a timer scheduled after the move with a due
//! below the horizon is not covered. The horizon only grows: a new one
//! covers everything the old one did.
//!
//! Readers treat a covered version like a tombed one: the id index lookup,
//! and the loader paging groups in after a restart.

use crate::error::{Error, Result};
use crate::keys::META_PREFIX;
use crate::types::{Millis, TimerId};

/// Encoding version of the stored horizon.
const HORIZON_VERSION: u8 = 1;
/// Encoded length: version, due, id, group sequence.
const ENCODED_LEN: usize = 1 + 8 + 16 + 8;

/// Key of the stored horizon.
pub(crate) fn horizon_key() -> Vec<u8> {
    let mut k = vec![META_PREFIX];
    k.extend_from_slice(b"horizon");
    k
}

/// See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Horizon {
    /// Versions due before this instant (or at it with a smaller id)...
    pub due: Millis,
    /// ...than this id...
    pub id: TimerId,
    /// ...in groups with at most this sequence are dead.
    pub gseq: u64,
}

impl Horizon {
    /// The horizon of a new store: covers nothing.
    pub const NONE: Horizon = Horizon {
        due: Millis::MIN,
        id: 0,
        gseq: 0,
    };

    /// Whether the version of `id` due at `due` stored in group `gseq` is
    /// dead by this horizon.
    pub fn covers(&self, id: TimerId, due: Millis, gseq: u64) -> bool {
        gseq <= self.gseq && (due, id) < (self.due, self.id)
    }

    /// Whether `(due, id)` is above this horizon's mark (moving there would
    /// cover more).
    pub fn is_below(&self, due: Millis, id: TimerId) -> bool {
        (self.due, self.id) < (due, id)
    }

    /// The horizon moved up to `(due, id)` with group sequence `gseq`, if
    /// that is above this one (else this one, which stays valid).
    pub fn advanced(self, due: Millis, id: TimerId, gseq: u64) -> Horizon {
        if self.is_below(due, id) {
            Horizon {
                due,
                id,
                gseq: gseq.max(self.gseq),
            }
        } else {
            self
        }
    }

    /// Stored form: a version byte, then due, id and sequence big-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(ENCODED_LEN);
        v.push(HORIZON_VERSION);
        v.extend_from_slice(&self.due.0.to_be_bytes());
        v.extend_from_slice(&self.id.to_be_bytes());
        v.extend_from_slice(&self.gseq.to_be_bytes());
        v
    }

    /// Reads [`Horizon::encode`]'s output back.
    pub fn decode(bytes: &[u8]) -> Result<Horizon> {
        match bytes.first() {
            Some(&HORIZON_VERSION) if bytes.len() == ENCODED_LEN => {}
            Some(&HORIZON_VERSION) => {
                return Err(Error::corrupt("horizon", format!("{} bytes", bytes.len())));
            }
            other => {
                return Err(Error::corrupt("horizon", format!("version {other:?}")));
            }
        }
        let mut due = [0u8; 8];
        due.copy_from_slice(&bytes[1..9]);
        let mut id = [0u8; 16];
        id.copy_from_slice(&bytes[9..25]);
        let mut gseq = [0u8; 8];
        gseq.copy_from_slice(&bytes[25..33]);
        Ok(Horizon {
            due: Millis(i64::from_be_bytes(due)),
            id: TimerId::from_be_bytes(id),
            gseq: u64::from_be_bytes(gseq),
        })
    }

    /// The stored horizon, or [`Horizon::NONE`] (a store written before
    /// horizons existed has none: nothing is covered).
    pub fn load(tree: &sled::Tree) -> Result<Horizon> {
        match tree.get(horizon_key())? {
            Some(v) => Horizon::decode(&v),
            None => Ok(Horizon::NONE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_only_older_groups_below_the_mark() {
        let h = Horizon {
            due: Millis(100),
            id: 50,
            gseq: 7,
        };
        assert!(h.covers(1, Millis(99), 7));
        assert!(h.covers(49, Millis(100), 3));
        assert!(!h.covers(50, Millis(100), 3), "the mark itself is live");
        assert!(!h.covers(51, Millis(100), 3));
        assert!(!h.covers(1, Millis(101), 3));
        assert!(
            !h.covers(1, Millis(10), 8),
            "a group written after the horizon moved is not covered"
        );
        assert!(!Horizon::NONE.covers(0, Millis::MIN, 0));
    }

    #[test]
    fn only_moves_up_and_covers_what_it_covered() {
        let h = Horizon {
            due: Millis(100),
            id: 5,
            gseq: 7,
        };
        assert_eq!(h.advanced(Millis(90), 9, 20), h);
        let up = h.advanced(Millis(100), 6, 20);
        assert_eq!(
            up,
            Horizon {
                due: Millis(100),
                id: 6,
                gseq: 20
            }
        );
        for (id, due, gseq) in [(4, 100, 7), (1, 5, 1), (9, 99, 7)] {
            assert!(h.covers(id, Millis(due), gseq));
            assert!(up.covers(id, Millis(due), gseq));
        }
    }

    #[test]
    fn round_trips_and_rejects_other_versions() {
        let h = Horizon {
            due: Millis(-5),
            id: u128::MAX - 3,
            gseq: 1 << 40,
        };
        assert_eq!(Horizon::decode(&h.encode()).expect("decodes"), h);
        let mut bad = h.encode();
        bad[0] = 9;
        assert!(Horizon::decode(&bad).is_err());
        assert!(Horizon::decode(&h.encode()[..20]).is_err());
        assert!(Horizon::decode(&[]).is_err());
    }
}
