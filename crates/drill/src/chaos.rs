//! The chaos controller: kills the daemon at planned moments during the
//! load phase and restarts it on the same data dir, and switches the
//! receiver's failure modes in phases. Every kill and fault phase is
//! logged with its instant, so the checks can tell a duplicate caused by a
//! crash from one that has no excuse.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::clock;
use crate::daemon::Daemon;
use crate::error::Result;
use crate::receiver::{Fault, Receiver, TapKind};

/// How a kill was (or was to be) done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KillKind {
    /// SIGKILL at a random moment.
    Sigkill,
    /// SIGTERM: graceful stop, exit 0 expected.
    Sigterm,
    /// SIGKILL while the receiver holds its answer to a webhook request:
    /// the daemon dies waiting for the provider.
    DispatchHold,
    /// SIGKILL right after the receiver saw a request (answered at once,
    /// so the daemon may or may not have recorded it).
    DispatchImmediate,
}

/// Slack between a process's death and the receiver's handler reading a
/// request the process had already sent (scheduling on a loaded machine).
const IN_FLIGHT_SLACK: chrono::Duration = chrono::Duration::milliseconds(250);

/// How long before a kill a dispatch may have reached the provider and
/// still be repeated after the restart: the daemon records `sent` without
/// its own flush, so the record becomes durable at the store's next flush
/// (sled flushes in the background every 500 ms, and with every
/// acknowledged request). A repeat of an older dispatch has no excuse.
pub const IN_FLIGHT_LOOKBACK: chrono::Duration = chrono::Duration::seconds(3);

impl KillRecord {
    /// True when this kill separates two requests of one send: the first
    /// was in flight at the kill (sent at most [`IN_FLIGHT_LOOKBACK`] before
    /// it, or by the dying process), the second came after the signal.
    pub fn separates(&self, first: DateTime<Utc>, second: DateTime<Utc>) -> bool {
        self.in_flight(first) && second >= self.at
    }

    /// True when a request that reached the receiver at `arrived` may have
    /// been cut off by this SIGKILL before the daemon recorded its answer
    /// (R-K3).
    pub fn interrupted(&self, arrived: DateTime<Utc>) -> bool {
        self.done.is_sigkill() && self.in_flight(arrived)
    }

    /// Sent at most [`IN_FLIGHT_LOOKBACK`] before the kill, or by the dying
    /// process.
    fn in_flight(&self, arrived: DateTime<Utc>) -> bool {
        arrived >= self.at - IN_FLIGHT_LOOKBACK && arrived <= self.dead_at + IN_FLIGHT_SLACK
    }
}

impl KillKind {
    /// True for every kind that ends in SIGKILL.
    pub fn is_sigkill(self) -> bool {
        self != KillKind::Sigterm
    }
}

/// One kill and the restart after it.
#[derive(Debug, Clone, Serialize)]
pub struct KillRecord {
    /// What was planned.
    pub planned: KillKind,
    /// What was done (a dispatch kill with no request in time falls back to
    /// a plain SIGKILL).
    pub done: KillKind,
    /// When the signal was sent.
    pub at: DateTime<Utc>,
    /// When the process was gone (reaped).
    pub dead_at: DateTime<Utc>,
    /// The send whose dispatch was interrupted (dispatch kills).
    pub send_id: Option<String>,
    /// Pause before the restart.
    pub downtime_ms: u64,
    /// Restart → `/readyz` 200.
    pub recovery_ms: f64,
    /// SIGTERM: exit code (None when killed by a signal).
    pub exit_code: Option<i32>,
    /// SIGTERM: signal → exit.
    pub shutdown_ms: Option<f64>,
    /// SIGTERM: did not exit within the timeout.
    pub term_timed_out: bool,
}

/// A receiver fault phase.
#[derive(Debug, Clone, Serialize)]
pub struct FaultPhase {
    /// The failure mode.
    pub fault: Fault,
    /// When it started.
    pub from: DateTime<Utc>,
    /// When it ended.
    pub to: DateTime<Utc>,
}

/// The kinds of `n` kills: about 55 % SIGKILL, 15 % SIGTERM, 15 % each
/// dispatch kind, in a seeded random order.
pub fn plan_kills(n: u32, rng: &mut StdRng) -> Vec<KillKind> {
    let n = n as usize;
    let term = (n * 15).div_ceil(100).min(n);
    let hold = (n * 15).div_ceil(100).min(n - term);
    let immediate = (n * 15).div_ceil(100).min(n - term - hold);
    let mut kinds = vec![KillKind::Sigkill; n - term - hold - immediate];
    kinds.extend(std::iter::repeat_n(KillKind::Sigterm, term));
    kinds.extend(std::iter::repeat_n(KillKind::DispatchHold, hold));
    kinds.extend(std::iter::repeat_n(KillKind::DispatchImmediate, immediate));
    kinds.shuffle(rng);
    kinds
}

/// What the kill loop needs.
pub struct KillPlan {
    /// Kinds in order.
    pub kinds: Vec<KillKind>,
    /// Start of the load phase.
    pub start: Instant,
    /// Length of the load phase.
    pub duration: Duration,
    /// Longest pause between a kill and the restart.
    pub max_downtime: Duration,
    /// Seed.
    pub seed: u64,
}

/// Kills and restarts the daemon as planned; returns the kill log and the
/// notes about the daemon exiting on its own.
pub async fn kill_loop(
    plan: KillPlan,
    daemon: &mut Daemon,
    receiver: &Receiver,
    verbose: bool,
) -> Result<(Vec<KillRecord>, Vec<String>)> {
    let mut rng = StdRng::seed_from_u64(plan.seed ^ 0x6b69_6c6c);
    let n = plan.kinds.len().max(1) as f64;
    let slot = plan.duration.as_secs_f64() / n;
    let mut log = Vec::new();
    let mut crashes = Vec::new();
    for (i, planned) in plan.kinds.iter().copied().enumerate() {
        let jitter: f64 = rng.gen_range(-0.35..0.35);
        let offset = slot * (i as f64 + 0.5 + jitter);
        let target = plan.start + Duration::from_secs_f64(offset.max(0.5));
        tokio::time::sleep_until(target.into()).await;
        if let Some(status) = daemon.exited() {
            crashes.push(format!(
                "daemon exited on its own before kill {i}: {status}"
            ));
            let at = clock::now();
            let recovery = daemon.start().await?;
            log.push(KillRecord {
                planned,
                done: KillKind::Sigkill,
                at,
                dead_at: at,
                send_id: None,
                downtime_ms: 0,
                recovery_ms: recovery.as_secs_f64() * 1e3,
                exit_code: None,
                shutdown_ms: None,
                term_timed_out: false,
            });
            continue;
        }
        let mut done = planned;
        let mut send_id = None;
        let mut exit_code = None;
        let mut shutdown_ms = None;
        let mut term_timed_out = false;
        let at;
        match planned {
            KillKind::Sigkill => {
                at = clock::now();
                daemon.sigkill().await?;
            }
            KillKind::Sigterm => {
                at = clock::now();
                let t = daemon.sigterm().await?;
                exit_code = t.code;
                shutdown_ms = Some(t.took.as_secs_f64() * 1e3);
                term_timed_out = t.timed_out;
            }
            KillKind::DispatchHold | KillKind::DispatchImmediate => {
                let kind = if planned == KillKind::DispatchHold {
                    TapKind::Hold
                } else {
                    TapKind::Immediate
                };
                let wait = Duration::from_secs_f64((slot * 0.8).clamp(1.0, 8.0));
                let hit = if receiver.fault() == Fault::None {
                    let rx = receiver.arm_tap(kind);
                    let hit = tokio::time::timeout(wait, rx)
                        .await
                        .ok()
                        .and_then(|r| r.ok());
                    if hit.is_none() {
                        receiver.disarm_tap();
                    }
                    hit
                } else {
                    None
                };
                at = clock::now();
                daemon.sigkill().await?;
                match hit {
                    Some(hit) => {
                        send_id = hit.send_id.clone();
                        hit.release();
                    }
                    None => done = KillKind::Sigkill,
                }
            }
        }
        let dead_at = clock::now();
        let downtime = if plan.max_downtime.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_millis(rng.gen_range(0..=plan.max_downtime.as_millis() as u64))
        };
        tokio::time::sleep(downtime).await;
        let recovery = daemon.start().await?;
        if verbose {
            eprintln!(
                "drill: kill {}/{} {:?}{} -> ready in {:.0} ms",
                i + 1,
                plan.kinds.len(),
                done,
                send_id
                    .as_ref()
                    .map(|s| format!(" (send {s})"))
                    .unwrap_or_default(),
                recovery.as_secs_f64() * 1e3
            );
        }
        log.push(KillRecord {
            planned,
            done,
            at,
            dead_at,
            send_id,
            downtime_ms: downtime.as_millis() as u64,
            recovery_ms: recovery.as_secs_f64() * 1e3,
            exit_code,
            shutdown_ms,
            term_timed_out,
        });
    }
    Ok((log, crashes))
}

/// The receiver fault phases inside a load phase of `duration`: an outage
/// from 20 %, 500s from 50 %, 429s from 70 % (each later if the previous
/// one runs long, skipped when it would not end before the load does).
pub fn plan_faults(
    duration: Duration,
    outage: Duration,
    errors: Duration,
    retry_after: u64,
) -> Vec<(Duration, Duration, Fault)> {
    let gap = Duration::from_secs(3);
    let mut out = Vec::new();
    let mut free_from = Duration::ZERO;
    for (share, len, fault) in [
        (0.20, outage, Fault::Down),
        (0.50, errors, Fault::Error500),
        (0.70, errors, Fault::TooManyRequests { retry_after }),
    ] {
        let from = duration.mul_f64(share).max(free_from);
        if from + len + gap > duration || len.is_zero() {
            continue;
        }
        out.push((from, len, fault));
        free_from = from + len + gap;
    }
    out
}

/// Runs the fault phases relative to `start`; returns what happened.
pub async fn fault_loop(
    phases: Vec<(Duration, Duration, Fault)>,
    start: Instant,
    receiver: &Receiver,
    verbose: bool,
) -> Result<Vec<FaultPhase>> {
    let mut log = Vec::new();
    for (from, len, fault) in phases {
        tokio::time::sleep_until((start + from).into()).await;
        receiver.set_fault(fault).await?;
        let began = clock::now();
        if verbose {
            eprintln!("drill: receiver fault {fault:?} for {} s", len.as_secs());
        }
        tokio::time::sleep(len).await;
        receiver.set_fault(Fault::None).await?;
        log.push(FaultPhase {
            fault,
            from: began,
            to: clock::now(),
        });
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_plans_mix_every_kind_and_keep_the_count() {
        let mut rng = StdRng::seed_from_u64(7);
        let kinds = plan_kills(14, &mut rng);
        assert_eq!(kinds.len(), 14);
        for k in [
            KillKind::Sigkill,
            KillKind::Sigterm,
            KillKind::DispatchHold,
            KillKind::DispatchImmediate,
        ] {
            assert!(kinds.contains(&k), "{k:?} planned");
        }
        assert!(kinds.iter().filter(|k| k.is_sigkill()).count() >= 10);
        assert_eq!(plan_kills(1, &mut rng).len(), 1);
        assert!(plan_kills(0, &mut rng).is_empty());
    }

    #[test]
    fn r_k3_a_kill_separates_requests_around_the_death_of_the_process() {
        let at = |s: &str| clock::parse(s).expect("instant");
        let k = KillRecord {
            planned: KillKind::Sigkill,
            done: KillKind::Sigkill,
            at: at("2026-01-05T10:00:00.000Z"),
            dead_at: at("2026-01-05T10:00:00.010Z"),
            send_id: None,
            downtime_ms: 0,
            recovery_ms: 100.0,
            exit_code: None,
            shutdown_ms: None,
            term_timed_out: false,
        };
        // In flight while the signal lands, repeated after the restart.
        assert!(k.separates(at("2026-01-05T10:00:00.050Z"), at("2026-01-05T10:00:01Z")));
        assert!(k.separates(at("2026-01-05T09:59:59Z"), at("2026-01-05T10:00:01Z")));
        // Delivered long before the kill: the crash is no excuse.
        assert!(!k.separates(at("2026-01-05T09:59:50Z"), at("2026-01-05T10:00:01Z")));
        // Both before the kill, or both well after it: not separated.
        assert!(!k.separates(at("2026-01-05T09:59:58Z"), at("2026-01-05T09:59:59Z")));
        assert!(!k.separates(at("2026-01-05T10:00:02Z"), at("2026-01-05T10:00:03Z")));
    }

    #[test]
    fn fault_phases_fit_inside_the_load_phase_without_overlap() {
        let d = Duration::from_secs(70);
        let p = plan_faults(d, Duration::from_secs(8), Duration::from_secs(5), 2);
        assert_eq!(p.len(), 3);
        for w in p.windows(2) {
            assert!(w[0].0 + w[0].1 < w[1].0, "no overlap: {p:?}");
        }
        let last = p.last().expect("phases");
        assert!(last.0 + last.1 < d);
        let long = plan_faults(d, Duration::from_secs(60), Duration::from_secs(5), 2);
        assert!(long.iter().all(|(f, l, _)| *f + *l < d), "{long:?}");
    }
}
