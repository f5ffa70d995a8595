//! Tuning knobs of the scheduler, with defaults sized for a small machine.

use crate::grouping::GroupPolicy;

/// Scheduler configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Resident timers (in memory) above which the loader stops paging in
    /// more from disk. Soft: the loader still pages in one group when nothing
    /// in memory can be handed out, so progress never stalls.
    pub memory_budget: usize,
    /// How far past the requested instant the loader pages timers in (ms;
    /// at least 1 is used).
    pub lookahead_ms: i64,
    /// Smallest time span of one stored group (ms).
    pub min_group_span_ms: i64,
    /// Largest time span of one stored group (ms). Memory holds at most the
    /// timers of the groups that overlap the present, so this bounds memory
    /// by "timers due within this span", not by the total pending.
    pub max_group_span_ms: i64,
    /// Largest number of timers in one stored group.
    pub max_group_timers: usize,
    /// Largest encoded bytes of one stored group (payloads plus at most 44
    /// bytes per timer). sled writes a leaf of about 17 values (up to 20
    /// after a merge) as one page, and a page over 128 KiB (a quarter of its
    /// 512 KiB segment) goes to a blob file of its own: a file create per
    /// write, an unlink later, and no fsync in sled 0.34. 5 KiB keeps a
    /// leaf of groups under that.
    pub max_group_bytes: usize,
    /// Most timers `run` hands to the handler at once.
    pub fire_batch: usize,
    /// Run the background compactor of the id index.
    pub compaction: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            memory_budget: 100_000,
            lookahead_ms: 2_000,
            min_group_span_ms: 1_000,
            max_group_span_ms: 3_600_000,
            max_group_timers: 1_024,
            max_group_bytes: 5 * 1024,
            fire_batch: 1_000,
            compaction: true,
        }
    }
}

impl Config {
    pub(crate) fn group_policy(&self) -> GroupPolicy {
        GroupPolicy {
            min_span: self.min_group_span_ms.max(1),
            max_span: self.max_group_span_ms.max(self.min_group_span_ms.max(1)),
            max_timers: self.max_group_timers.max(1),
            max_bytes: self.max_group_bytes.max(1),
        }
    }
}
