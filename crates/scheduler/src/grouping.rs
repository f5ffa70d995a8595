//! How a write batch is cut into stored groups.
//!
//! sled's cost is per key written, so timers are stored in groups: one key
//! holds the timers of one write batch whose dues fall close together. A
//! group's allowed span grows with its distance from the present (a quarter
//! of the distance, within `[min_span, max_span]`), the same geometric idea
//! as the wheel's levels: a batch whose dues spread over a day costs a few
//! dozen keys, not one per timer. A batch is also cut into at most about
//! [`TARGET_GROUPS`] groups by time (the span grows to the batch's range
//! divided by that, up to `max_span`), so overdue or tightly packed batches
//! do not fall back to one key per timer. Groups are written once and never merged
//! (no read-modify-write, so no quadratic appends); they are deleted when
//! their last timer is completed or cancelled.

use std::ops::Range;

use crate::types::Millis;

/// Groups a batch is cut into, at most, when its range allows.
pub(crate) const TARGET_GROUPS: i64 = 32;

/// Bytes a stored timer takes besides its payload, at most (varints: due 9,
/// id 17, version 9, payload length 9; typically about 33), for sizing
/// groups.
pub(crate) const TIMER_OVERHEAD: usize = 44;

/// Limits on one group.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GroupPolicy {
    /// Smallest allowed span (ms).
    pub min_span: i64,
    /// Largest allowed span (ms).
    pub max_span: i64,
    /// Largest number of timers.
    pub max_timers: usize,
    /// Largest encoded size: payload bytes plus [`TIMER_OVERHEAD`] per timer
    /// (a group with one huge payload still forms).
    pub max_bytes: usize,
}

impl GroupPolicy {
    /// Allowed span of a group whose earliest due is `min_due`.
    pub fn span_at(&self, min_due: Millis, now: Millis) -> i64 {
        (min_due.saturating_since(now) / 4).clamp(self.min_span, self.max_span)
    }
}

/// Cuts `dues` (sorted ascending, with each timer's payload size) into
/// consecutive ranges, one per group.
pub(crate) fn cut(
    dues: &[(Millis, usize)],
    now: Millis,
    policy: &GroupPolicy,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let range = match (dues.first(), dues.last()) {
        (Some(a), Some(b)) => b.0.saturating_since(a.0),
        _ => 0,
    };
    let floor = (range / TARGET_GROUPS).min(policy.max_span);
    let mut start = 0;
    while start < dues.len() {
        let min_due = dues[start].0;
        let span = policy.span_at(min_due, now).max(floor);
        let mut bytes = dues[start].1 + TIMER_OVERHEAD;
        let mut end = start + 1;
        while end < dues.len()
            && end - start < policy.max_timers
            && dues[end].0.saturating_since(min_due) <= span
            && bytes + dues[end].1 + TIMER_OVERHEAD <= policy.max_bytes
        {
            bytes += dues[end].1 + TIMER_OVERHEAD;
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: GroupPolicy = GroupPolicy {
        min_span: 1_000,
        max_span: 3_600_000,
        max_timers: 4,
        max_bytes: 1_000,
    };

    #[test]
    fn ranges_cover_the_batch_in_order_and_respect_limits() {
        let dues: Vec<(Millis, usize)> = [0i64, 10, 20, 30, 40, 5_000, 5_001, 900_000]
            .iter()
            .map(|d| (Millis(*d), 10))
            .collect();
        // Count limit after 4; then the floor span (range / 32 = 28,125 ms)
        // joins 40, 5,000 and 5,001; 900,000 stands alone.
        let cuts = cut(&dues, Millis(0), &POLICY);
        assert_eq!(cuts, vec![0..4, 4..7, 7..8]);
        let near: Vec<(Millis, usize)> = dues[..7].to_vec();
        // Range 5,001 ms: floor 156 ms, so the 1 s minimum span decides.
        assert_eq!(cut(&near, Millis(0), &POLICY), vec![0..4, 4..5, 5..7]);
    }

    #[test]
    fn span_grows_with_distance_and_is_clamped() {
        let now = Millis(0);
        assert_eq!(POLICY.span_at(Millis(100), now), 1_000);
        assert_eq!(POLICY.span_at(Millis(400_000), now), 100_000);
        assert_eq!(POLICY.span_at(Millis(i64::MAX), now), 3_600_000);
        assert_eq!(POLICY.span_at(Millis(5), Millis::MIN), 3_600_000);
    }

    #[test]
    fn a_day_spread_batch_costs_few_groups() {
        let policy = GroupPolicy {
            max_timers: 1024,
            max_bytes: 1 << 20,
            ..POLICY
        };
        let dues: Vec<(Millis, usize)> = (0..1000).map(|i| (Millis(i * 86_400), 32)).collect();
        let groups = cut(&dues, Millis(0), &policy).len();
        assert!(groups < 60, "{groups} groups");
    }

    #[test]
    fn an_overdue_spread_batch_still_costs_few_groups() {
        let policy = GroupPolicy {
            max_timers: 1024,
            max_bytes: 1 << 20,
            ..POLICY
        };
        // Dues over the past hour: distance-based spans are the minimum.
        let dues: Vec<(Millis, usize)> = (0..1000)
            .map(|i| (Millis(-3_600_000 + i * 3_600), 32))
            .collect();
        let groups = cut(&dues, Millis(0), &policy).len();
        assert!(groups <= TARGET_GROUPS as usize + 1, "{groups} groups");
    }

    #[test]
    fn encoded_bytes_bound_a_group() {
        // 600 + 44 and 300 + 44 fit in 1,000; a third timer would not.
        let dues = vec![
            (Millis(0), 600),
            (Millis(1), 300),
            (Millis(2), 0),
            (Millis(3), 2_000),
        ];
        assert_eq!(cut(&dues, Millis(0), &POLICY), vec![0..2, 2..3, 3..4]);
        // Small payloads: the per-timer overhead alone bounds the group.
        let tiny = |max_bytes| GroupPolicy {
            max_timers: 1_000,
            max_bytes,
            ..POLICY
        };
        let dues: Vec<(Millis, usize)> = (0..100).map(|i| (Millis(i), 0)).collect();
        assert_eq!(cut(&dues, Millis(0), &tiny(440)).len(), 10);
    }
}
