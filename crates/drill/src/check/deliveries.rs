//! Checks on the receiver's log alone: repeats of one send id (R-K3: only
//! across a crash) and `Retry-After` (R-X3).

use std::collections::BTreeMap;

use chrono::Duration;

use super::{Checker, Evidence};
use crate::chaos::{KillKind, KillRecord};
use crate::clock;
use crate::findings::Findings;
use crate::receiver::Arrival;

impl Checker<'_> {
    /// Same send id accepted more than once: allowed only across a crash.
    pub(super) fn duplicates(&self, f: &mut Findings, ev: &Evidence) {
        let mut by_send: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
        for a in ev.arrivals.iter().filter(|a| a.accepted()) {
            if let Some(s) = a.send_id.as_deref() {
                by_send.entry(s).or_default().push(a);
            }
        }
        for (send, list) in by_send {
            if list.len() < 2 {
                continue;
            }
            f.sends.duplicated_sends += 1;
            for pair in list.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let between: Vec<&KillRecord> = ev
                    .kills
                    .iter()
                    .filter(|k| k.separates(a.at, b.at))
                    .collect();
                if let Some(k) = between.iter().find(|k| k.done.is_sigkill()) {
                    f.sends.duplicate_same_key += 1;
                    let lead = (k.at - a.at).num_milliseconds() as f64;
                    f.sends.duplicate_lead_max_ms = f.sends.duplicate_lead_max_ms.max(lead);
                } else if between.iter().any(|k| k.done == KillKind::Sigterm) {
                    f.violate(
                        "duplicate_across_sigterm",
                        format!(
                            "send {send} delivered at {} and again at {} with only a graceful stop between",
                            clock::fmt(a.at),
                            clock::fmt(b.at)
                        ),
                    );
                } else {
                    f.violate(
                        "duplicate_without_crash",
                        format!(
                            "send {send} delivered at {} and again at {} with no kill between",
                            clock::fmt(a.at),
                            clock::fmt(b.at)
                        ),
                    );
                }
            }
        }
    }

    /// R-X3: the attempt after a 429 waits for its `Retry-After` (unless a
    /// crash lost the answer).
    pub(super) fn retry_after(&self, f: &mut Findings, ev: &Evidence) {
        let mut by_send: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
        for a in &ev.arrivals {
            if let Some(s) = a.send_id.as_deref() {
                by_send.entry(s).or_default().push(a);
            }
        }
        for (send, list) in by_send {
            for pair in list.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let Some(secs) = a.retry_after else { continue };
                if ev.kills.iter().any(|k| k.separates(a.at, b.at)) {
                    continue;
                }
                f.sends.retry_after_checked += 1;
                let earliest = a.at + Duration::seconds(secs as i64);
                if b.at + self.tolerance < earliest {
                    f.violate(
                        "retry_after_ignored",
                        format!(
                            "send {send}: 429 with Retry-After {secs} at {}, next attempt at {}",
                            clock::fmt(a.at),
                            clock::fmt(b.at)
                        ),
                    );
                }
            }
        }
    }
}
