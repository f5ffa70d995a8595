//! The checks' results: counters for the report table and the invariant
//! violations, grouped by kind (a few examples kept per kind).

use std::collections::BTreeMap;

use serde::Serialize;

/// Examples kept per violation kind.
const EXAMPLES_PER_KIND: usize = 10;

/// Send-level counters (the table's "sends" columns and more).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendCounts {
    /// Acknowledged triggers that must be delivered by the end.
    pub expected: u64,
    /// Of those, delivered (accepted by the receiver at least once).
    pub delivered: u64,
    /// Deliveries (any attempt) before the due, beyond the tolerance.
    pub early: u64,
    /// Expected, not delivered, and not explained by a rule (lost).
    pub lost: u64,
    /// Extra accepted deliveries of one send id across a crash (same
    /// `Idempotency-Key`; allowed by R-K3, counted).
    pub duplicate_same_key: u64,
    /// Send ids delivered more than once.
    pub duplicated_sends: u64,
    /// Longest time between a repeated send's first arrival and the kill
    /// that excuses the repeat, in ms.
    pub duplicate_lead_max_ms: f64,
    /// Tokens delivered under more than one send id (never allowed).
    pub duplicate_other_key: u64,
    /// Triggers whose exception was acknowledged before the due.
    pub cancel_expected: u64,
    /// Of those, delivered anyway.
    pub cancelled_but_delivered: u64,
    /// Exceptions acknowledged at/after the due (either outcome is right).
    pub cancel_races: u64,
    /// Of those, delivered.
    pub cancel_races_delivered: u64,
    /// Triggers the rules refuse (outside the window).
    pub not_planned: u64,
    /// Sends rolled past the end of the drill, still pending.
    pub pending_rolled: u64,
    /// Window sends processed late and rolled by R-X1 (allowed, counted).
    pub late_rolls: u64,
    /// Unacknowledged triggers.
    pub unacked: u64,
    /// Of those, delivered anyway (allowed).
    pub unacked_delivered: u64,
    /// Delivery lateness (first accepted arrival − due), ms: p50.
    pub lateness_p50_ms: f64,
    /// Lateness p99.
    pub lateness_p99_ms: f64,
    /// Lateness max.
    pub lateness_max_ms: f64,
    /// 429 answers whose next attempt was checked against `Retry-After`.
    pub retry_after_checked: u64,
    /// Explain timelines compared with the receiver.
    pub explain_pairs_checked: u64,
    /// Explain timelines at the daemon's journal cap (oldest entries
    /// dropped), compared only on what they hold.
    pub explain_truncated: u64,
    /// Delivered sends that explain reports cancelled (a cancel raced the
    /// dispatch; counted apart).
    pub explain_race_disagreements: u64,
    /// Triggers refused `not_reeligible_yet` against a receipt recorded
    /// after their event time (a fixed daemon issue: a violation unless
    /// `--allow-known-issues`).
    pub reeligibility_backdated: u64,
    /// Users whose exported profile was compared with the ledger.
    pub users_exported: u64,
}

/// Per-campaign counters (how the load spread over the rules).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CampaignCounts {
    /// Delay in seconds.
    pub delay_s: u64,
    /// Acknowledged triggers.
    pub triggers: u64,
    /// Must be delivered.
    pub expected: u64,
    /// Of those, delivered.
    pub delivered: u64,
    /// Exception acknowledged before the due.
    pub cancelled: u64,
    /// Exception raced the due.
    pub races: u64,
    /// Refused by the rules.
    pub refused: u64,
    /// Rolled past the drill (pending).
    pub pending: u64,
}

/// One kind of invariant failure.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ViolationKind {
    /// How many.
    pub count: u64,
    /// A few examples.
    pub examples: Vec<String>,
}

/// Everything the checks found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Findings {
    /// Counters.
    pub sends: SendCounts,
    /// Counters per campaign id.
    pub per_campaign: BTreeMap<String, CampaignCounts>,
    /// Violations by kind.
    pub violations: BTreeMap<String, ViolationKind>,
    /// Known daemon issues seen (listed here only with `--allow-known-issues`;
    /// violations otherwise).
    pub known_issues: BTreeMap<String, ViolationKind>,
    /// Observations that are not failures.
    pub notes: Vec<String>,
}

impl Findings {
    /// Records a violation.
    pub fn violate(&mut self, kind: &str, detail: impl Into<String>) {
        let v = self.violations.entry(kind.to_string()).or_default();
        v.count += 1;
        if v.examples.len() < EXAMPLES_PER_KIND {
            v.examples.push(detail.into());
        }
    }

    /// Records a known daemon issue: a violation when `strict`.
    pub fn known_issue(&mut self, strict: bool, kind: &str, detail: impl Into<String>) {
        if strict {
            self.violate(kind, detail);
            return;
        }
        let v = self.known_issues.entry(kind.to_string()).or_default();
        v.count += 1;
        if v.examples.len() < EXAMPLES_PER_KIND {
            v.examples.push(detail.into());
        }
    }

    /// Violations in all.
    pub fn violation_count(&self) -> u64 {
        self.violations.values().map(|v| v.count).sum()
    }

    /// Folds another set of findings (another step) into this one,
    /// prefixing its violation kinds.
    pub fn absorb(&mut self, prefix: &str, other: Findings) {
        for (k, v) in other.violations {
            let e = self.violations.entry(format!("{prefix}{k}")).or_default();
            e.count += v.count;
            e.examples.extend(v.examples);
        }
        for (k, v) in other.known_issues {
            let e = self.known_issues.entry(format!("{prefix}{k}")).or_default();
            e.count += v.count;
            e.examples.extend(v.examples);
        }
        self.notes
            .extend(other.notes.into_iter().map(|n| format!("{prefix}{n}")));
    }
}

/// The `q`-quantile of `values` (nearest rank; 0 when empty).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn violations_are_counted_with_bounded_examples() {
        let mut f = Findings::default();
        for i in 0..25 {
            f.violate("early", format!("token {i}"));
        }
        assert_eq!(f.violation_count(), 25);
        assert_eq!(f.violations["early"].examples.len(), EXAMPLES_PER_KIND);
        let mut g = Findings::default();
        g.absorb("disk_full.", f);
        assert_eq!(g.violations["disk_full.early"].count, 25);
    }
}
