//! Key layout of the daemon's sled tree.
//!
//! Every record lives in one tree so that the writes of one request go in
//! one atomic batch. A key is a one-byte record kind followed by its fields;
//! string fields are separated by a 0x00 byte (ids may not contain NUL, the
//! API refuses them) and numbers are big-endian so byte order is numeric
//! order. Keys of one kind sort together, and keys of one (campaign, user)
//! pair sort together, so prefix scans serve "all X of Y".

/// Record kinds (the first key byte).
pub mod kind {
    /// `p` + external_id → Profile, and `p` + external_id + 0 +
    /// campaign_id → PairRecord: a user's pair states sort right after
    /// the profile, so the leaf that ingest reads the profile from usually
    /// holds the pairs too.
    pub const PROFILE: u8 = b'p';
    /// `e` + email + 0 + external_id → () (profiles by email).
    pub const BY_EMAIL: u8 = b'e';
    /// `h` + phone + 0 + external_id → () (profiles by phone).
    pub const BY_PHONE: u8 = b'h';
    /// `c` + campaign_id → CampaignRecord.
    pub const CAMPAIGN: u8 = b'c';
    /// `a` + campaign_id + 0 + external_id → PairRecord, in data dirs
    /// written before pairs moved next to profiles (moved when the store
    /// opens, see `store::migrate`).
    pub const LEGACY_PAIR: u8 = b'a';
    /// `s` + send_id → SendRecord.
    pub const SEND: u8 = b's';
    /// `j` + campaign_id + 0 + external_id + 0 + seq(u64) → JournalEntry.
    pub const JOURNAL: u8 = b'j';
    /// `J` + campaign_id + 0 + external_id + 0 + chunk(u64) →
    /// `Vec<JournalEntry>`: a full chunk of a pair's journal (the newest
    /// entries live in the pair record until they fill one).
    pub const JOURNAL_CHUNK: u8 = b'J';
    /// `o` + seq(u64) → OutboxRecord.
    pub const OUTBOX: u8 = b'o';
    /// `O` + send_id → seq(u64): the outbox cursor of a send.
    pub const OUTBOX_BY_SEND: u8 = b'O';
    /// `i` + external_id + 0 + send_id → InAppMessage.
    pub const IN_APP: u8 = b'i';
    /// `k` + external_id + 0 + send_id → ContentCard.
    pub const CARD: u8 = b'k';
    /// `x` + campaign_id + 0 + u64 → Counters: the folded total (0; older
    /// data dirs also hold one total per user stripe 1–63).
    pub const STATS: u8 = b'x';
    /// `X` + seq(u64) → StatsDelta: one commit's counter changes, not
    /// folded into the totals yet.
    pub const STATS_DELTA: u8 = b'X';
    /// `d` + idempotency key → stored answer.
    pub const IDEMPOTENCY: u8 = b'd';
    /// `D` + stored at (ms, u64) + the whole `d` key → nothing: the stored
    /// answers in the order they expire.
    pub const IDEMPOTENCY_BY_TIME: u8 = b'D';
    /// `l` + short code → ShortLink.
    pub const SHORT_LINK: u8 = b'l';
    /// `g` + geofence id → Geofence.
    pub const GEOFENCE: u8 = b'g';
    /// `m` + name → meta values (clock, frequency caps, counters).
    pub const META: u8 = b'm';
    /// `q` + original key → quarantined undecodable record.
    pub const QUARANTINE: u8 = b'q';
    /// Pieces of a value too large for one sled page (see `store::spill`).
    pub const SPILL: u8 = b'z';
}

/// Builds a key from a kind byte and NUL-separated string parts.
pub fn key(kind: u8, parts: &[&str]) -> Vec<u8> {
    let len = 1 + parts.iter().map(|p| p.len() + 1).sum::<usize>();
    let mut k = Vec::with_capacity(len);
    k.push(kind);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p.as_bytes());
    }
    k
}

/// A prefix covering every key of `kind` whose leading parts are `parts`
/// (ends with the separator so `u1` does not cover `u10`).
pub fn prefix(kind: u8, parts: &[&str]) -> Vec<u8> {
    let mut k = key(kind, parts);
    if !parts.is_empty() {
        k.push(0);
    }
    k
}

/// Appends a big-endian u64 (after a separator when `k` has parts).
pub fn with_seq(mut k: Vec<u8>, seq: u64) -> Vec<u8> {
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Profile key.
pub fn profile(external_id: &str) -> Vec<u8> {
    key(kind::PROFILE, &[external_id])
}

/// Campaign key.
pub fn campaign(id: &str) -> Vec<u8> {
    key(kind::CAMPAIGN, &[id])
}

/// (campaign, user) pair key, next to the user's profile.
pub fn pair(campaign_id: &str, external_id: &str) -> Vec<u8> {
    key(kind::PROFILE, &[external_id, campaign_id])
}

/// The prefix of every pair of a user (not the profile itself).
pub fn user_pairs(external_id: &str) -> Vec<u8> {
    prefix(kind::PROFILE, &[external_id])
}

/// (external_id, campaign_id) of a pair key; `None` for a profile key or
/// any other kind.
pub fn split_pair(k: &[u8]) -> Option<(&str, &str)> {
    split_two(kind::PROFILE, k)
}

/// The two string parts of a `kind` + part + 0 + part key; `None` for
/// another kind, a key with one part, or parts that are not UTF-8.
pub fn split_two(kind: u8, k: &[u8]) -> Option<(&str, &str)> {
    let rest = k.strip_prefix(&[kind])?;
    let sep = rest.iter().position(|&b| b == 0)?;
    Some((
        std::str::from_utf8(&rest[..sep]).ok()?,
        std::str::from_utf8(&rest[sep + 1..]).ok()?,
    ))
}

/// Send key.
pub fn send(send_id: &str) -> Vec<u8> {
    key(kind::SEND, &[send_id])
}

/// Journal entry key.
pub fn journal(campaign_id: &str, external_id: &str, seq: u64) -> Vec<u8> {
    with_seq(key(kind::JOURNAL, &[campaign_id, external_id]), seq)
}

/// Journal chunk key.
pub fn journal_chunk(campaign_id: &str, external_id: &str, chunk: u64) -> Vec<u8> {
    with_seq(key(kind::JOURNAL_CHUNK, &[campaign_id, external_id]), chunk)
}

/// Outbox entry key.
pub fn outbox(seq: u64) -> Vec<u8> {
    let mut k = vec![kind::OUTBOX];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Time index entry of an idempotency record stored at `at_millis` (see
/// [`kind::IDEMPOTENCY_BY_TIME`]).
pub fn idempotency_by_time(at_millis: i64, record_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + record_key.len());
    k.push(kind::IDEMPOTENCY_BY_TIME);
    k.extend_from_slice(&(at_millis.max(0) as u64).to_be_bytes());
    k.extend_from_slice(record_key);
    k
}

/// The stored-at milliseconds and the record key of a time index entry.
pub fn split_idempotency_by_time(k: &[u8]) -> Option<(i64, &[u8])> {
    let rest = k.strip_prefix(&[kind::IDEMPOTENCY_BY_TIME])?;
    let (at, record_key) = rest.split_first_chunk::<8>()?;
    Some((i64::try_from(u64::from_be_bytes(*at)).ok()?, record_key))
}

/// Counter delta key.
pub fn stats_delta(seq: u64) -> Vec<u8> {
    let mut k = vec![kind::STATS_DELTA];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Reads the sequence number at the end of a key.
pub fn trailing_seq(k: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = k.get(k.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// True when `id` can be used in keys (non-empty, no NUL, at most 512 bytes).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 512 && !id.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_do_not_leak_into_longer_ids() {
        let p = user_pairs("u1");
        assert!(pair("c1", "u1").starts_with(&p));
        assert!(!pair("c1", "u10").starts_with(&p));
        assert!(!profile("u1").starts_with(&p), "the profile is not a pair");
    }

    #[test]
    fn a_users_pairs_sort_right_after_the_profile_and_split_back() {
        let (profile_key, pair_key) = (profile("u1"), pair("c1", "u1"));
        assert!(profile_key < pair_key);
        assert!(pair_key < profile("u10"), "before the next user's profile");
        assert_eq!(split_pair(&pair_key), Some(("u1", "c1")));
        assert_eq!(split_pair(&profile_key), None);
        assert_eq!(split_pair(&campaign("c1")), None);
    }

    #[test]
    fn journal_keys_sort_by_sequence() {
        let a = journal("c", "u", 2);
        let b = journal("c", "u", 10);
        assert!(a < b);
        assert_eq!(trailing_seq(&b), Some(10));
    }

    #[test]
    fn ids_are_checked() {
        assert!(valid_id("u1"));
        assert!(!valid_id(""));
        assert!(!valid_id("a\0b"));
        assert!(!valid_id(&"x".repeat(513)));
    }
}
