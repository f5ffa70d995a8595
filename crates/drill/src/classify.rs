//! What each trigger of the ledger must have caused by the end of the
//! drill, from the rules alone (SPEC R-D1, R-E2, R-E6, R-W2, R-W3, R-K1):
//! the expectation the checks hold the daemon and the receiver to.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::campaigns::Plan;
use crate::ledger::{Ack, TriggerRec};

/// The expectation for one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "expect", rename_all = "snake_case")]
pub enum Expect {
    /// Acknowledged, not cancelled in time: must be delivered, not before
    /// `due`.
    Deliver {
        /// Due instant.
        due: DateTime<Utc>,
    },
    /// Its exception was acknowledged before the due (R-E2/R-E6): must
    /// not be delivered.
    Cancel {
        /// Due instant.
        due: DateTime<Utc>,
    },
    /// Its exception was acknowledged at or after the due, or never
    /// acknowledged, while the send may already have been dispatching:
    /// delivered or cancelled are both right; lost is not.
    CancelRace {
        /// Due instant.
        due: DateTime<Utc>,
    },
    /// Due after the end of the drill (rolled to the next window opening):
    /// must still be pending and not delivered.
    Pending {
        /// Due instant.
        due: DateTime<Utc>,
    },
    /// The rules refuse it (the outcome code the daemon must count).
    Refused {
        /// Outcome code.
        outcome: &'static str,
    },
    /// The trigger request itself was never acknowledged: its effects are
    /// allowed, not required (but never early).
    Unacked,
}

impl Expect {
    /// The due instant, when the rules plan a send.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        match self {
            Expect::Deliver { due }
            | Expect::Cancel { due }
            | Expect::CancelRace { due }
            | Expect::Pending { due } => Some(*due),
            Expect::Refused { .. } | Expect::Unacked => None,
        }
    }
}

/// The expectation for `rec` judged at `horizon` (the end of the drain),
/// with `tolerance` of clock slack around the due.
pub fn classify(rec: &TriggerRec, horizon: DateTime<Utc>, tolerance: Duration) -> Expect {
    if rec.ack == Ack::Unacked {
        return Expect::Unacked;
    }
    let due = match rec.plan {
        Plan::Refused(outcome) => return Expect::Refused { outcome },
        Plan::Due { due, .. } => due,
    };
    if let Some(c) = &rec.cancel {
        match c.ack.at() {
            Some(acked) if acked + tolerance < due => return Expect::Cancel { due },
            _ => return Expect::CancelRace { due },
        }
    }
    if due > horizon {
        Expect::Pending { due }
    } else {
        Expect::Deliver { due }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use crate::ledger::CancelRec;

    fn at(s: &str) -> DateTime<Utc> {
        clock::parse(s).expect("instant")
    }

    fn acked(s: &str) -> Ack {
        Ack::Acked {
            at: at(s),
            attempts: 1,
        }
    }

    fn rec(due: &str) -> TriggerRec {
        TriggerRec {
            token: "k".into(),
            user: "u".into(),
            campaign: 0,
            t: at("2026-01-05T10:00:00Z"),
            sent_at: at("2026-01-05T10:00:00Z"),
            ack: acked("2026-01-05T10:00:00.010Z"),
            plan: Plan::Due {
                due: at(due),
                rolled: false,
            },
            cancel: None,
        }
    }

    fn cancel(acked_at: &str) -> Option<CancelRec> {
        Some(CancelRec {
            x: at("2026-01-05T10:00:01Z"),
            sent_at: at("2026-01-05T10:00:01Z"),
            ack: acked(acked_at),
        })
    }

    const TOL: Duration = Duration::milliseconds(5);

    #[test]
    fn r_k1_an_acknowledged_trigger_must_be_delivered() {
        let r = rec("2026-01-05T10:00:10Z");
        let e = classify(&r, at("2026-01-05T10:05:00Z"), TOL);
        assert_eq!(
            e,
            Expect::Deliver {
                due: at("2026-01-05T10:00:10Z")
            }
        );
    }

    #[test]
    fn r_e2_a_cancel_acknowledged_before_the_due_must_cancel() {
        let mut r = rec("2026-01-05T10:00:10Z");
        r.cancel = cancel("2026-01-05T10:00:09.990Z");
        assert!(matches!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::Cancel { .. }
        ));
    }

    #[test]
    fn r_e2_a_cancel_acknowledged_near_or_after_the_due_is_a_race() {
        let mut r = rec("2026-01-05T10:00:10Z");
        r.cancel = cancel("2026-01-05T10:00:09.997Z");
        assert!(matches!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::CancelRace { .. }
        ));
        r.cancel = cancel("2026-01-05T10:00:11Z");
        assert!(matches!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::CancelRace { .. }
        ));
        r.cancel.as_mut().expect("cancel").ack = Ack::Unacked;
        assert!(matches!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::CancelRace { .. }
        ));
    }

    #[test]
    fn r_w3_a_send_rolled_past_the_drill_stays_pending() {
        let r = rec("2026-01-06T10:00:00Z");
        assert!(matches!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::Pending { .. }
        ));
    }

    #[test]
    fn unacknowledged_and_refused_triggers() {
        let mut r = rec("2026-01-05T10:00:10Z");
        r.ack = Ack::Unacked;
        assert_eq!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::Unacked
        );
        let mut r = rec("2026-01-05T10:00:10Z");
        r.plan = Plan::Refused("trigger_outside_window");
        assert_eq!(
            classify(&r, at("2026-01-05T10:05:00Z"), TOL),
            Expect::Refused {
                outcome: "trigger_outside_window"
            }
        );
    }
}
