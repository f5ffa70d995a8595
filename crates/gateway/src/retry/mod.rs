//! The one retry policy shared by every adapter (SPEC R-X3).
//!
//! [`RetryPolicy::decide`] is a pure function of (attempt that just failed,
//! its error, first attempt instant, now): it never sleeps and never reads a
//! clock. The daemon stores the answer as a durable timer on its own clock,
//! so retries survive restarts and follow the test clock.
//!
//! - `max_attempts` counts the first try: with 8, attempt 8 failing gives up.
//! - Delays grow exponentially (the `backoff` crate's `ExponentialBackoff`:
//!   `initial`, ×`multiplier`, capped at `max_interval`) with a jitter of
//!   ±`jitter`×delay; `jitter = 0` makes delays exact (tests).
//! - A provider's `Retry-After` replaces the computed delay.
//! - A retry whose instant would fall more than `max_elapsed` after the
//!   first attempt gives up instead.

mod logic;

use std::time::Duration;

use backoff::backoff::Backoff;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::DeliveryTuning;
use crate::error::DispatchError;

pub(crate) use logic::excerpt;
pub use logic::{HttpRetryLogic, RetryAction, RetryLogic, parse_retry_after};

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryDecision {
    /// Plan the next attempt at this instant.
    RetryAt(DateTime<Utc>),
    /// Stop: the send ends `delivery_failed`.
    GiveUp(GiveUpReason),
}

/// Why the policy gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    /// The provider refused for good (not retriable).
    Permanent,
    /// `max_attempts` attempts were made.
    AttemptsExhausted,
    /// The next attempt would fall past `max_elapsed` after the first.
    MaxElapsed,
}

/// Exponential backoff with jitter, attempt and elapsed-time limits.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, the first try included (at least 1).
    pub max_attempts: u32,
    /// Delay after the first failed attempt.
    pub initial: Duration,
    /// Growth factor between consecutive delays (at least 1).
    pub multiplier: f64,
    /// Upper bound of one computed delay (before jitter).
    pub max_interval: Duration,
    /// No attempt is planned later than this after the first attempt.
    pub max_elapsed: Duration,
    /// Randomisation factor in `[0, 1)`: each delay is drawn uniformly from
    /// `delay × [1 − jitter, 1 + jitter]`. 0 turns jitter off.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::from_tuning(&DeliveryTuning::default())
    }
}

impl RetryPolicy {
    /// The policy configured by a channel section.
    pub fn from_tuning(tuning: &DeliveryTuning) -> Self {
        RetryPolicy {
            max_attempts: tuning.max_attempts.max(1),
            initial: tuning.backoff_initial,
            multiplier: 2.0,
            max_interval: tuning.backoff_max,
            max_elapsed: tuning.max_elapsed,
            jitter: tuning.jitter.clamp(0.0, 0.99),
        }
    }

    /// The same policy without jitter (deterministic delays for tests).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = 0.0;
        self
    }

    /// The computed delay after failed attempt number `attempt` (1-based),
    /// ignoring any `Retry-After`: `initial × multiplier^(attempt−1)`, capped
    /// at `max_interval`, then jittered.
    pub fn backoff_delay(&self, attempt: u32) -> Duration {
        let cap = self.max_interval.max(self.initial);
        let exponent = i32::try_from(attempt.max(1) - 1).unwrap_or(i32::MAX);
        let grown = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        let interval = if grown.is_finite() && grown < cap.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            cap
        };
        // The crate's jitter draws from interval × [1 − jitter, 1 + jitter].
        let mut backoff = backoff::ExponentialBackoffBuilder::new()
            .with_initial_interval(interval)
            .with_max_interval(cap)
            .with_randomization_factor(self.jitter.clamp(0.0, 0.99))
            .with_max_elapsed_time(None)
            .build();
        backoff.current_interval = interval;
        // With no max elapsed time `next_backoff` always answers.
        backoff.next_backoff().unwrap_or(interval)
    }

    /// Decides what follows the failure of attempt number `attempt` (1 for
    /// the first try) that ended with `error` at `now`; `first_attempt_at`
    /// is when attempt 1 was made.
    pub fn decide(
        &self,
        attempt: u32,
        error: &DispatchError,
        first_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> RetryDecision {
        if !error.is_retriable() {
            return RetryDecision::GiveUp(GiveUpReason::Permanent);
        }
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        let delay = error
            .retry_after()
            .unwrap_or_else(|| self.backoff_delay(attempt));
        let Some(at) = chrono::Duration::from_std(delay)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
        else {
            return RetryDecision::GiveUp(GiveUpReason::MaxElapsed);
        };
        let budget = chrono::Duration::from_std(self.max_elapsed).unwrap_or(chrono::Duration::MAX);
        if at.signed_duration_since(first_attempt_at) > budget {
            return RetryDecision::GiveUp(GiveUpReason::MaxElapsed);
        }
        RetryDecision::RetryAt(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_secs(10),
            multiplier: 2.0,
            max_interval: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(3600),
            jitter: 0.0,
        }
    }

    fn t0() -> DateTime<Utc> {
        "2026-01-05T10:00:00Z".parse().expect("instant")
    }

    fn secs(s: i64) -> chrono::Duration {
        chrono::Duration::seconds(s)
    }

    #[test]
    fn r_x3_delays_grow_exponentially_and_cap() {
        let p = policy();
        let delays: Vec<u64> = (1..=5).map(|a| p.backoff_delay(a).as_secs()).collect();
        assert_eq!(delays, vec![10, 20, 40, 60, 60]);
    }

    #[test]
    fn r_x3_jitter_stays_within_its_band() {
        let p = RetryPolicy {
            jitter: 0.5,
            ..policy()
        };
        let mut distinct = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let d = p.backoff_delay(2).as_secs_f64();
            assert!((10.0..=30.0 + 1e-6).contains(&d), "{d}");
            distinct.insert(d.to_bits());
        }
        assert!(distinct.len() > 1, "jitter must vary the delay");
    }

    #[test]
    fn r_x3_max_attempts_counts_the_first_try() {
        let p = policy();
        let err = DispatchError::Connection("refused".into());
        assert_eq!(
            p.decide(4, &err, t0(), t0()),
            RetryDecision::RetryAt(t0() + secs(60))
        );
        assert_eq!(
            p.decide(5, &err, t0(), t0()),
            RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
    }

    #[test]
    fn r_x3_permanent_errors_give_up_at_once() {
        let err = DispatchError::Status {
            status: 400,
            reason: "bad".into(),
            retry_after: None,
        };
        assert_eq!(
            policy().decide(1, &err, t0(), t0()),
            RetryDecision::GiveUp(GiveUpReason::Permanent)
        );
    }

    #[test]
    fn r_x3_retry_after_replaces_the_backoff() {
        let err = DispatchError::Status {
            status: 429,
            reason: "slow down".into(),
            retry_after: Some(Duration::from_secs(120)),
        };
        let now = t0() + secs(5);
        assert_eq!(
            policy().decide(1, &err, t0(), now),
            RetryDecision::RetryAt(now + secs(120))
        );
    }

    #[test]
    fn r_x3_max_elapsed_bounds_the_last_retry() {
        let p = RetryPolicy {
            max_attempts: 100,
            ..policy()
        };
        let err = DispatchError::Timeout(Duration::from_secs(10));
        // 3,550 s after the first try a 60 s delay would land past one hour.
        assert_eq!(
            p.decide(10, &err, t0(), t0() + secs(3550)),
            RetryDecision::GiveUp(GiveUpReason::MaxElapsed)
        );
        assert_eq!(
            p.decide(10, &err, t0(), t0() + secs(3540)),
            RetryDecision::RetryAt(t0() + secs(3600))
        );
    }

    #[test]
    fn r_x3_huge_attempt_numbers_stay_capped_and_cheap() {
        let p = RetryPolicy {
            multiplier: 1.000_001,
            ..policy()
        };
        assert_eq!(p.backoff_delay(u32::MAX), Duration::from_secs(60));
        assert_eq!(policy().backoff_delay(0), Duration::from_secs(10));
    }

    #[test]
    fn policy_from_default_tuning() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_attempts, 8);
        assert!(p.jitter > 0.0);
        assert_eq!(p.clone().without_jitter().jitter, 0.0);
    }
}
