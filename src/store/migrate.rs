//! Layout changes for data dirs written by older binaries, applied once
//! when the store opens (records themselves carry a format byte, see
//! [`super::codec`]; this is about where they live).
//!
//! Each step moves records in atomic batches (new key written and old key
//! removed together), so a crash in the middle leaves every record in
//! exactly one place and the next open carries on.

use super::{Result, keys};

/// Records moved per batch.
const BATCH: usize = 1_000;

/// Runs every step; returns how many records moved.
pub fn run(data: &sled::Tree) -> Result<usize> {
    pairs_next_to_profiles(data)
}

/// Pair states moved from `a` + campaign + 0 + user to their place after
/// the user's profile ([`keys::pair`]).
fn pairs_next_to_profiles(data: &sled::Tree) -> Result<usize> {
    let mut moved = 0;
    loop {
        let mut batch = sled::Batch::default();
        let mut n = 0;
        for item in data.scan_prefix([keys::kind::LEGACY_PAIR]).take(BATCH) {
            let (old, value) = item?;
            batch.remove(old.clone());
            n += 1;
            let Some((campaign, user)) = keys::split_two(keys::kind::LEGACY_PAIR, &old) else {
                tracing::warn!(key = %String::from_utf8_lossy(&old), "unreadable legacy pair key dropped");
                continue;
            };
            batch.insert(keys::pair(campaign, user), value);
        }
        if n == 0 {
            if moved > 0 {
                data.flush()?;
                tracing::info!(moved, "pair states moved next to their profiles");
            }
            return Ok(moved);
        }
        data.apply_batch(batch)?;
        moved += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::records::PairRecord;

    #[test]
    fn legacy_pairs_move_next_to_profiles_when_the_store_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pair = PairRecord {
            receipts: 3,
            ..PairRecord::default()
        };
        {
            let store = Store::open(dir.path()).expect("opens");
            let tree = store.db().open_tree("data").expect("tree");
            for (c, u) in [("c1", "u1"), ("c1", "u2"), ("c2", "u1")] {
                tree.insert(
                    keys::key(keys::kind::LEGACY_PAIR, &[c, u]),
                    crate::store::codec::encode(&pair),
                )
                .expect("insert");
            }
            tree.insert([keys::kind::LEGACY_PAIR, b'x'], &b"?"[..])
                .expect("insert");
            store.db().flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("reopens");
        for (c, u) in [("c1", "u1"), ("c1", "u2"), ("c2", "u1")] {
            let got: Option<PairRecord> = store.get(&keys::pair(c, u)).expect("reads");
            assert_eq!(got, Some(pair.clone()), "{c}/{u} moved");
        }
        assert_eq!(
            store.scan_keys(&[keys::kind::LEGACY_PAIR]).count(),
            0,
            "nothing left in the old layout"
        );
        assert_eq!(store.scan_keys(&keys::user_pairs("u1")).count(), 2);
    }
}
