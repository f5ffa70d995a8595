//! Values too large for one sled page, stored in pieces.
//!
//! sled 0.34 writes a page (a leaf of about 17 — after merges up to 20 —
//! keys and values) bigger than 128 KiB, a quarter of its 512 KiB segment,
//! to a blob file of its own, and never fsyncs that file: the log pointing
//! at it is durable after a flush, the blob may not be after a power loss.
//! Most records are small, but a rendered email in the outbox, a campaign
//! with long templates, a stored answer listing a thousand errors or a
//! profile with big custom attributes is not. So a value over
//! [`SPILL_ABOVE`] bytes is stored as pieces of at most [`PIECE`] bytes
//! under the `z` kind (`z` ‖ key length u32 ‖ key ‖ piece number u32, see
//! [`piece_key`]), and its own key holds a stub: [`STUB_FORMAT`], the
//! value's length and its number of pieces. Twenty pieces and their keys
//! stay well under 128 KiB.
//!
//! Pieces and stub are written in the same atomic batch. Writing or removing
//! a key whose value had pieces removes the pieces no longer needed in that
//! batch; the writer learns the old piece count by reading the key's current
//! value (one point read per written key: nothing to keep in memory, nothing
//! to scan at open). Writers hold [`Spilled`]'s lock across that read and
//! the batch, and a reader that finds a stub takes the same lock before
//! reading the pieces, so it never joins pieces of two versions.

use std::collections::HashMap;

use parking_lot::{Mutex, MutexGuard};

use super::keys::kind;

/// Values longer than this are stored in pieces.
pub const SPILL_ABOVE: usize = 4 * 1024;
/// Largest piece.
pub const PIECE: usize = 4 * 1024;
/// First byte of a stub. Record formats use small numbers (1, 2), so a
/// stub is never mistaken for a record.
pub const STUB_FORMAT: u8 = 0xF5;
const STUB_LEN: usize = 9;

/// Key of piece `piece` of the value stored at `key`.
pub fn piece_key(key: &[u8], piece: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + 4 + key.len() + 4);
    k.push(kind::SPILL);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&piece.to_be_bytes());
    k
}

/// The key and piece number of a [`piece_key`].
pub fn split_piece_key(k: &[u8]) -> Option<(&[u8], u32)> {
    let rest = k.strip_prefix(&[kind::SPILL])?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() != len + 4 {
        return None;
    }
    let (key, piece) = rest.split_at(len);
    Some((key, u32::from_be_bytes(piece.try_into().ok()?)))
}

/// What a stub says: the value's length and number of pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stub {
    /// Bytes of the whole value.
    pub len: u32,
    /// Pieces it is stored in.
    pub pieces: u32,
}

fn encode_stub(stub: Stub) -> Vec<u8> {
    let mut out = Vec::with_capacity(STUB_LEN);
    out.push(STUB_FORMAT);
    out.extend_from_slice(&stub.len.to_be_bytes());
    out.extend_from_slice(&stub.pieces.to_be_bytes());
    out
}

/// The stub in `bytes`, if they are one.
pub fn decode_stub(bytes: &[u8]) -> Option<Stub> {
    match bytes {
        [STUB_FORMAT, rest @ ..] if rest.len() == STUB_LEN - 1 => Some(Stub {
            len: u32::from_be_bytes(rest[..4].try_into().ok()?),
            pieces: u32::from_be_bytes(rest[4..].try_into().ok()?),
        }),
        _ => None,
    }
}

/// A stub whose pieces are missing or do not add up.
#[derive(Debug, thiserror::Error)]
#[error("value stored in pieces is incomplete: {} of {expected} bytes", .partial.len())]
pub struct Incomplete {
    /// Bytes the stub announced.
    pub expected: u32,
    /// The pieces found, joined (kept when the record is quarantined).
    pub partial: Vec<u8>,
}

/// Pieces needed for a value of `len` bytes (0: stored whole).
fn pieces_for(len: usize) -> u32 {
    if len > SPILL_ABOVE {
        len.div_ceil(PIECE) as u32
    } else {
        0
    }
}

/// The lock every write of the `data` tree, and every read of a stub's
/// pieces, goes through; see the module documentation.
#[derive(Debug, Default)]
pub struct Spilled {
    lock: Mutex<()>,
}

/// Proof that [`Spilled`]'s lock is held.
pub struct Locked<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl Spilled {
    /// Takes the lock (writers and stub readers).
    pub fn lock(&self) -> Locked<'_> {
        Locked {
            _guard: self.lock.lock(),
        }
    }

    /// Applies `ops` in order as one atomic batch; see [`Spilled::apply_locked`].
    pub fn apply(
        &self,
        data: &sled::Tree,
        ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> sled::Result<()> {
        let locked = self.lock();
        Self::apply_locked(&locked, data, ops)
    }

    /// Applies `ops` in order as one atomic batch: large values as pieces
    /// and a stub, and the removal of pieces that keys no longer need.
    pub fn apply_locked(
        _locked: &Locked<'_>,
        data: &sled::Tree,
        ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> sled::Result<()> {
        // Piece counts as of this batch, for keys with pieces written twice
        // in it (a key with none before or after reads the same from disk).
        let mut written: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut batch = sled::Batch::default();
        for (key, value) in ops {
            let old = match written.get(&key) {
                Some(n) => *n,
                None => data
                    .get(&key)?
                    .and_then(|b| decode_stub(&b))
                    .map_or(0, |s| s.pieces),
            };
            let new = value.as_ref().map_or(0, |v| pieces_for(v.len()));
            for piece in new..old {
                batch.remove(piece_key(&key, piece));
            }
            match value {
                Some(v) if new > 0 => {
                    for (i, chunk) in v.chunks(PIECE).enumerate() {
                        batch.insert(piece_key(&key, i as u32), chunk);
                    }
                    let stub = Stub {
                        len: v.len() as u32,
                        pieces: new,
                    };
                    batch.insert(key.as_slice(), encode_stub(stub));
                }
                Some(v) => batch.insert(key.as_slice(), v),
                None => batch.remove(key.as_slice()),
            }
            if old > 0 || new > 0 {
                written.insert(key, new);
            }
        }
        data.apply_batch(batch)
    }

    /// The whole value at `key` now, read under the lock: the bytes stored,
    /// or the pieces their stub points to, joined.
    pub fn read_locked(
        _locked: &Locked<'_>,
        data: &sled::Tree,
        key: &[u8],
    ) -> sled::Result<Option<Result<sled::IVec, Incomplete>>> {
        let Some(bytes) = data.get(key)? else {
            return Ok(None);
        };
        let Some(stub) = decode_stub(&bytes) else {
            return Ok(Some(Ok(bytes)));
        };
        // The length comes from disk: reserve no more than a request body
        // can hold, so a corrupt stub cannot ask for gigabytes up front.
        let mut value = Vec::with_capacity((stub.len as usize).min(4 * 1024 * 1024));
        for piece in 0..stub.pieces {
            match data.get(piece_key(key, piece))? {
                Some(p) => value.extend_from_slice(&p),
                None => break,
            }
        }
        if value.len() != stub.len as usize {
            return Ok(Some(Err(Incomplete {
                expected: stub.len,
                partial: value,
            })));
        }
        Ok(Some(Ok(value.into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> sled::Tree {
        let db = sled::Config::new().temporary(true).open().expect("db");
        db.open_tree("data").expect("tree")
    }

    fn read(data: &sled::Tree, key: &[u8]) -> Option<Vec<u8>> {
        let spilled = Spilled::default();
        let locked = spilled.lock();
        Spilled::read_locked(&locked, data, key)
            .expect("io")
            .map(|v| v.expect("whole").to_vec())
    }

    fn pieces_of(data: &sled::Tree) -> usize {
        data.scan_prefix([kind::SPILL]).count()
    }

    #[test]
    fn piece_keys_round_trip_and_never_collide_across_keys() {
        let k = piece_key(b"o\x00abc", 7);
        assert_eq!(split_piece_key(&k), Some((&b"o\x00abc"[..], 7)));
        assert_ne!(piece_key(b"ab", 0), piece_key(b"a", 0));
        assert_eq!(split_piece_key(b"z\x00\x00\x00\x05ab"), None);
        assert_eq!(split_piece_key(b"pabc"), None);
    }

    #[test]
    fn small_values_are_stored_whole_and_large_ones_in_pieces() {
        let data = tree();
        let spilled = Spilled::default();
        let small = vec![1u8; SPILL_ABOVE];
        let large: Vec<u8> = (0..50_000u32).map(|i| i as u8).collect();
        spilled
            .apply(
                &data,
                vec![
                    (b"os".to_vec(), Some(small.clone())),
                    (b"ol".to_vec(), Some(large.clone())),
                ],
            )
            .expect("apply");
        assert_eq!(data.get(b"os").expect("get").as_deref(), Some(&small[..]));
        assert_eq!(
            decode_stub(&data.get(b"ol").expect("get").expect("stub")),
            Some(Stub {
                len: 50_000,
                pieces: 13
            })
        );
        assert_eq!(read(&data, b"ol"), Some(large));
        assert_eq!(pieces_of(&data), 13);
        // No stored value comes near sled's blob threshold.
        assert!(data.iter().all(|kv| kv.expect("kv").1.len() <= PIECE));
    }

    #[test]
    fn rewriting_or_removing_a_spilled_key_removes_its_unneeded_pieces() {
        let data = tree();
        let spilled = Spilled::default();
        let write = |v: Option<Vec<u8>>| {
            spilled
                .apply(&data, vec![(b"c1".to_vec(), v)])
                .expect("apply")
        };
        write(Some(vec![9u8; 5 * PIECE]));
        assert_eq!(pieces_of(&data), 5);
        write(Some(vec![8u8; 2 * PIECE + 1]));
        assert_eq!(pieces_of(&data), 3);
        assert_eq!(read(&data, b"c1"), Some(vec![8u8; 2 * PIECE + 1]));
        write(Some(b"small".to_vec()));
        assert_eq!(pieces_of(&data), 0);
        assert_eq!(read(&data, b"c1"), Some(b"small".to_vec()));
        write(Some(vec![7u8; 3 * PIECE]));
        write(None);
        assert_eq!(pieces_of(&data), 0);
        assert_eq!(data.get(b"c1").expect("get"), None);
    }

    #[test]
    fn a_key_written_twice_in_one_batch_ends_as_its_last_write() {
        let data = tree();
        let spilled = Spilled::default();
        spilled
            .apply(
                &data,
                vec![
                    (b"k".to_vec(), Some(vec![1u8; 4 * PIECE])),
                    (b"k".to_vec(), Some(vec![2u8; PIECE + 5])),
                ],
            )
            .expect("apply");
        assert_eq!(read(&data, b"k"), Some(vec![2u8; PIECE + 5]));
        assert_eq!(pieces_of(&data), 2);
        // A later removal (by another writer: nothing is kept in memory)
        // cleans up.
        Spilled::default()
            .apply(&data, vec![(b"k".to_vec(), None)])
            .expect("apply");
        assert_eq!(pieces_of(&data), 0);
    }

    #[test]
    fn missing_pieces_are_reported_not_returned_short() {
        let data = tree();
        let spilled = Spilled::default();
        spilled
            .apply(&data, vec![(b"k".to_vec(), Some(vec![3u8; 3 * PIECE]))])
            .expect("apply");
        data.remove(piece_key(b"k", 1)).expect("remove");
        let locked = spilled.lock();
        let err = Spilled::read_locked(&locked, &data, b"k")
            .expect("io")
            .expect("present")
            .expect_err("short");
        assert_eq!(err.expected, 3 * PIECE as u32);
        assert_eq!(err.partial, vec![3u8; PIECE], "the piece before the gap");
    }
}
