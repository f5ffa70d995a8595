//! The drill's report: a table printed at the end and the same figures as
//! JSON. `passed` is false when any invariant failed.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::chaos::{FaultPhase, KillKind, KillRecord};
use crate::config::DrillConfig;
use crate::error::{Result, io};
use crate::findings::{Findings, quantile};
use crate::ledger::RequestCounts;

/// Kill counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KillCounts {
    /// All kills.
    pub total: u64,
    /// Ending in SIGKILL (random, and timed inside a dispatch).
    pub sigkill: u64,
    /// SIGKILL at a random moment (including dispatch kills that fell back).
    pub random_sigkill: u64,
    /// SIGKILL while the receiver held a webhook's answer.
    pub inside_dispatch_hold: u64,
    /// SIGKILL right after the receiver saw a webhook.
    pub inside_dispatch_immediate: u64,
    /// Graceful SIGTERM.
    pub sigterm: u64,
    /// SIGTERMs that did not exit 0 in time.
    pub sigterm_unclean: u64,
    /// The daemon exited on its own.
    pub crashes: u64,
}

/// Timing figures in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timing {
    /// Restart → `/readyz` p50.
    pub recovery_p50_ms: f64,
    /// p90.
    pub recovery_p90_ms: f64,
    /// Max.
    pub recovery_max_ms: f64,
    /// First start → ready.
    pub first_start_ms: f64,
    /// SIGTERM → exit p50.
    pub shutdown_p50_ms: f64,
    /// Max.
    pub shutdown_max_ms: f64,
}

/// Receiver counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReceiverCounts {
    /// Requests seen.
    pub requests: u64,
    /// Answered 2xx.
    pub accepted: u64,
    /// Answered 500.
    pub answered_500: u64,
    /// Answered 429.
    pub answered_429: u64,
    /// Fault phases.
    pub phases: Vec<FaultPhase>,
}

/// A step beyond crashes (disk full, corrupt record).
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// `ran`, `skipped` or `failed`.
    pub status: String,
    /// What happened, in short lines.
    pub details: Vec<String>,
    /// Figures.
    pub figures: serde_json::Map<String, serde_json::Value>,
}

impl StepReport {
    /// The report of a step that ran: `passed_status` when its findings
    /// hold no violation, `failed` otherwise.
    pub fn ran(
        passed_status: &str,
        findings: &crate::findings::Findings,
        details: Vec<String>,
        figures: serde_json::Map<String, serde_json::Value>,
    ) -> StepReport {
        let status = if findings.violation_count() == 0 {
            passed_status
        } else {
            "failed"
        };
        StepReport {
            status: status.into(),
            details,
            figures,
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no invariant failed.
    pub passed: bool,
    /// The seed (re-run with `--seed`).
    pub seed: u64,
    /// The knobs.
    pub config: DrillConfig,
    /// Wall time of the whole drill, seconds.
    pub wall_seconds: f64,
    /// Where the daemon's log is.
    pub daemon_log: String,
    /// Kills.
    pub kills: KillCounts,
    /// Timing.
    pub timing: Timing,
    /// Requests and acknowledged events.
    pub requests: RequestCounts,
    /// Checks' counters and violations.
    pub findings: Findings,
    /// Receiver.
    pub receiver: ReceiverCounts,
    /// Disk-full step.
    pub disk_full: Option<StepReport>,
    /// Corrupt-record step.
    pub corrupt_record: Option<StepReport>,
    /// Every kill.
    pub kill_log: Vec<KillRecord>,
}

/// Kill counters and timing from the kill log.
pub fn kill_figures(
    kills: &[KillRecord],
    crashes: usize,
    first_start_ms: f64,
) -> (KillCounts, Timing) {
    let mut k = KillCounts {
        total: kills.len() as u64,
        crashes: crashes as u64,
        ..KillCounts::default()
    };
    for r in kills {
        match r.done {
            KillKind::Sigkill => k.random_sigkill += 1,
            KillKind::Sigterm => k.sigterm += 1,
            KillKind::DispatchHold => k.inside_dispatch_hold += 1,
            KillKind::DispatchImmediate => k.inside_dispatch_immediate += 1,
        }
        if r.done.is_sigkill() {
            k.sigkill += 1;
        }
        if r.done == KillKind::Sigterm && (r.exit_code != Some(0) || r.term_timed_out) {
            k.sigterm_unclean += 1;
        }
    }
    let rec: Vec<f64> = kills.iter().map(|r| r.recovery_ms).collect();
    let shut: Vec<f64> = kills.iter().filter_map(|r| r.shutdown_ms).collect();
    let t = Timing {
        recovery_p50_ms: quantile(&rec, 0.5),
        recovery_p90_ms: quantile(&rec, 0.9),
        recovery_max_ms: quantile(&rec, 1.0),
        first_start_ms,
        shutdown_p50_ms: quantile(&shut, 0.5),
        shutdown_max_ms: quantile(&shut, 1.0),
    };
    (k, t)
}

impl Report {
    /// The table printed at the end.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let k = &self.kills;
        let t = &self.timing;
        let r = &self.requests;
        let x = &self.findings.sends;
        let rc = &self.receiver;
        let mut row = |name: &str, value: String| {
            let _ = writeln!(s, "| {name:<38} | {value:<44} |");
        };
        row(
            "result",
            if self.passed {
                "PASS".into()
            } else {
                "FAIL".into()
            },
        );
        row(
            "seed / wall time",
            format!("{} / {:.0} s", self.seed, self.wall_seconds),
        );
        row(
            "kills (SIGKILL / SIGTERM)",
            format!("{} ({} / {})", k.total, k.sigkill, k.sigterm),
        );
        row(
            "  SIGKILL random / in dispatch",
            format!(
                "{} / {} held + {} immediate",
                k.random_sigkill, k.inside_dispatch_hold, k.inside_dispatch_immediate
            ),
        );
        row(
            "  unclean SIGTERM / own crashes",
            format!("{} / {}", k.sigterm_unclean, k.crashes),
        );
        row(
            "recovery to /readyz p50 / p90 / max",
            format!(
                "{:.0} / {:.0} / {:.0} ms",
                t.recovery_p50_ms, t.recovery_p90_ms, t.recovery_max_ms
            ),
        );
        row(
            "SIGTERM to exit p50 / max",
            format!("{:.0} / {:.0} ms", t.shutdown_p50_ms, t.shutdown_max_ms),
        );
        row(
            "requests acked (after retry) / lost",
            format!(
                "{} ({}) / {} unacked, {} refused",
                r.acked_first_try + r.acked_after_retry,
                r.acked_after_retry,
                r.gave_up,
                r.refused
            ),
        );
        row(
            "events acked: triggers/cancels/attrs",
            format!(
                "{} / {} / {}",
                r.triggers_acked, r.cancels_acked, r.attributes_acked
            ),
        );
        row("sends expected", x.expected.to_string());
        row("sends delivered", x.delivered.to_string());
        row("sends early", x.early.to_string());
        row("sends lost", x.lost.to_string());
        row(
            "duplicates same key (sends, max lead)",
            format!(
                "{} ({}, {:.0} ms before the kill)",
                x.duplicate_same_key, x.duplicated_sends, x.duplicate_lead_max_ms
            ),
        );
        row("duplicates other key", x.duplicate_other_key.to_string());
        row(
            "cancelled in time / delivered anyway",
            format!("{} / {}", x.cancel_expected, x.cancelled_but_delivered),
        );
        row(
            "cancel races (delivered)",
            format!("{} ({})", x.cancel_races, x.cancel_races_delivered),
        );
        row(
            "refused by window / rolled pending",
            format!("{} / {}", x.not_planned, x.pending_rolled),
        );
        row("late window rolls (R-X1)", x.late_rolls.to_string());
        let known: u64 = self.findings.known_issues.values().map(|v| v.count).sum();
        row(
            "known daemon issues (not failing)",
            format!(
                "{known} ({} backdated R-R2 refusals)",
                x.reeligibility_backdated
            ),
        );
        row(
            "lateness p50 / p99 / max",
            format!(
                "{:.0} / {:.0} / {:.0} ms",
                x.lateness_p50_ms, x.lateness_p99_ms, x.lateness_max_ms
            ),
        );
        row(
            "receiver requests / 2xx / 500 / 429",
            format!(
                "{} / {} / {} / {}",
                rc.requests, rc.accepted, rc.answered_500, rc.answered_429
            ),
        );
        row(
            "explain pairs (at cap) / users exported",
            format!(
                "{} ({}) / {}",
                x.explain_pairs_checked, x.explain_truncated, x.users_exported
            ),
        );
        for (name, step) in [
            ("disk full", &self.disk_full),
            ("corrupt record", &self.corrupt_record),
        ] {
            row(
                name,
                step.as_ref()
                    .map_or_else(|| "not run".into(), |s| s.status.clone()),
            );
        }
        row("violations", self.findings.violation_count().to_string());
        let line = format!("+{}+{}+\n", "-".repeat(40), "-".repeat(46));
        let mut out = String::new();
        out.push_str(&line);
        out.push_str(&s);
        out.push_str(&line);
        let _ = writeln!(
            out,
            "per campaign: id (delay) triggers expected/delivered cancelled races refused pending"
        );
        for (id, c) in &self.findings.per_campaign {
            let _ = writeln!(
                out,
                "  {id} ({} s) {} {}/{} {} {} {} {}",
                c.delay_s,
                c.triggers,
                c.expected,
                c.delivered,
                c.cancelled,
                c.races,
                c.refused,
                c.pending
            );
        }
        for (kind, v) in &self.findings.known_issues {
            let _ = writeln!(out, "KNOWN ISSUE {kind} x{}", v.count);
            for e in v.examples.iter().take(3) {
                let _ = writeln!(out, "    {e}");
            }
        }
        for (kind, v) in &self.findings.violations {
            let _ = writeln!(out, "VIOLATION {kind} x{}", v.count);
            for e in &v.examples {
                let _ = writeln!(out, "    {e}");
            }
        }
        out
    }

    /// Writes the JSON report.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).map_err(io(format!("writing {}", path.display())))
    }
}
