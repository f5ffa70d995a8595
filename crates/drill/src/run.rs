//! One drill from start to report: setup, load with kills and receiver
//! faults, drain, the optional corrupt-record step, evidence, checks, the
//! optional disk-full step.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::api::Api;
use crate::campaigns::{DrillCampaign, Window, campaign_set};
use crate::chaos::{self, KillKind, KillPlan, KillRecord};
use crate::check::{Checker, Evidence};
use crate::clock;
use crate::config::DrillConfig;
use crate::daemon::{Daemon, DaemonSpec, free_addr};
use crate::error::{Error, Result, io};
use crate::findings::Findings;
use crate::ledger::Ledger;
use crate::load::{self, WorkerSpec};
use crate::receiver::{Fault, Receiver};
use crate::report::{ReceiverCounts, Report, kill_figures};
use crate::{corrupt, diskfull};

/// The API key the drill gives the daemon.
pub const API_KEY: &str = "drill-api-key";
/// The user whose profile the corrupt-record step damages.
pub const VICTIM: &str = "drill-victim";

/// The webhook tuning the drill runs with: short backoff so outages drain
/// within the drill, enough attempts to outlast the longest outage.
pub fn daemon_config() -> String {
    "[channels.webhook]\n\
     timeout = \"5s\"\n\
     max_attempts = 1000\n\
     backoff_initial = \"1s\"\n\
     backoff_max = \"5s\"\n\
     max_elapsed = \"1h\"\n\
     jitter = 0.0\n"
        .to_string()
}

fn say(verbose: bool, msg: impl AsRef<str>) {
    if verbose {
        eprintln!("drill: {}", msg.as_ref());
    }
}

/// The daemon next to the drill binary (`target/<profile>/triggerd`, the
/// profile the drill was built with), else `target/debug/triggerd`.
pub(crate) fn default_daemon() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let dir = exe.as_deref().and_then(Path::parent);
    let sibling = dir.map(|d| d.join("triggerd"));
    let debug = dir
        .and_then(Path::parent)
        .map(|t| t.join("debug").join("triggerd"));
    [sibling, debug]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("target/debug/triggerd"))
}

async fn setup_campaigns(api: &Api, campaigns: &[DrillCampaign], url: &str) -> Result<()> {
    let start = clock::now_ms() - chrono::Duration::hours(1);
    for c in campaigns {
        api.must(
            reqwest::Method::PUT,
            &format!("/campaigns/{}", c.id),
            Some(&c.definition(url, start)),
        )
        .await?;
        api.must(
            reqwest::Method::POST,
            &format!("/campaigns/{}/launch", c.id),
            None,
        )
        .await?;
    }
    Ok(())
}

/// Runs one drill.
pub async fn run(config: DrillConfig) -> Result<Report> {
    let wall = Instant::now();
    let verbose = config.verbose;
    let seed = config
        .seed
        .unwrap_or_else(|| clock::now().timestamp_micros().unsigned_abs());
    say(verbose, format!("seed {seed}"));
    let mut rng = StdRng::seed_from_u64(seed);
    let (work, work_is_temp) = match &config.work_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("triggerd-drill-{seed}-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work).map_err(io(format!("creating {}", work.display())))?;
    let data_dir = config.data_dir.clone().unwrap_or_else(|| work.join("data"));
    if std::fs::read_dir(&data_dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::Protocol(format!(
            "data dir {} is not empty: the ledger must start from nothing",
            data_dir.display()
        )));
    }
    let config_path = work.join("triggerd.toml");
    std::fs::write(&config_path, daemon_config()).map_err(io("writing the daemon config"))?;
    let receiver = Receiver::start().await?;
    let spec = DaemonSpec {
        bin: config.daemon.clone().unwrap_or_else(default_daemon),
        data_dir: data_dir.clone(),
        listen: free_addr()?,
        api_key: API_KEY.into(),
        config: config_path,
        log: work.join("daemon.log"),
    };
    let mut daemon = Daemon::new(spec)?;
    let first_start = daemon.start().await?;
    say(
        verbose,
        format!(
            "daemon ready in {:.0} ms; receiver at {}",
            first_start.as_secs_f64() * 1e3,
            receiver.url()
        ),
    );
    let api = Api::new(daemon.base_url(), API_KEY.into())?;
    let window = Window::around(clock::now(), config.duration);
    let campaigns = Arc::new(campaign_set(&config.delays(), window));
    setup_campaigns(&api, &campaigns, &receiver.url()).await?;
    let corrupt_enabled = !config.no_corrupt_record;
    if corrupt_enabled {
        let body = json!({"attributes": [{"external_id": VICTIM, "drill_seq": 1}]});
        api.track(&body, "drill-victim-setup", Duration::from_secs(30))
            .await;
    }

    // Load, kills and receiver faults.
    let workers = config.users.clamp(1, 8);
    let interval = Duration::from_secs_f64(f64::from(workers) / f64::from(config.rate.max(1)));
    let start = Instant::now();
    let duration = Duration::from_secs(config.duration);
    let until = start + duration;
    let sent = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for (w, users) in load::split_users(config.users, workers)
        .into_iter()
        .enumerate()
    {
        let spec = WorkerSpec {
            worker: w as u32,
            users,
            campaigns: campaigns.clone(),
            api: api.clone(),
            interval,
            until,
            seed: seed ^ ((w as u64 + 1) << 32),
            sent: sent.clone(),
        };
        handles.push(tokio::spawn(load::run_worker(spec)));
    }
    let kinds = chaos::plan_kills(config.kills, &mut rng);
    let plan = KillPlan {
        kinds,
        start,
        duration,
        max_downtime: Duration::from_millis(config.max_downtime_ms),
        seed,
    };
    let phases = if config.no_receiver_faults {
        Vec::new()
    } else {
        chaos::plan_faults(
            duration,
            config.outage_len(),
            config.error_phase_len(),
            config.retry_after,
        )
    };
    say(
        verbose,
        format!(
            "load for {} s with {} kills, {workers} workers, faults {phases:?}",
            config.duration, config.kills
        ),
    );
    let (kill_result, fault_result) = tokio::join!(
        chaos::kill_loop(plan, &mut daemon, &receiver, verbose),
        chaos::fault_loop(phases, start, &receiver, verbose)
    );
    let (mut kills, crashes) = kill_result?;
    let fault_log = fault_result?;
    receiver.set_fault(Fault::None).await?;
    let mut ledger = Ledger::default();
    for h in handles {
        match h.await {
            Ok(l) => ledger.merge(l),
            Err(e) => return Err(Error::Protocol(format!("load worker failed: {e}"))),
        }
    }
    say(
        verbose,
        format!(
            "load done: {} requests acked, {} unacked",
            ledger.acked(),
            ledger.counts.gave_up
        ),
    );

    // Drain.
    let tolerance = chrono::Duration::milliseconds(config.tolerance_ms);
    let deadline =
        clock::now() + chrono::Duration::seconds((config.max_delay + config.drain_timeout) as i64);
    let checker = Checker::new(
        &ledger,
        &campaigns,
        deadline,
        tolerance,
        !config.allow_known_issues,
    );
    drain(&checker, &receiver, deadline, verbose).await;

    // Corrupt-record step (stops and restarts the daemon).
    let mut findings = Findings::default();
    let corrupt_report = if corrupt_enabled {
        let (rep, f, kill) = corrupt::run_step(&mut daemon, &api, VICTIM).await?;
        findings.absorb("corrupt_record.", f);
        kills.extend(kill);
        Some(rep)
    } else {
        None
    };

    // Evidence and checks.
    let mut evidence = Evidence {
        arrivals: receiver.log(),
        kills: kills.clone(),
        ..Evidence::default()
    };
    for c in campaigns.iter() {
        evidence.stats.insert(c.id.clone(), api.stats(&c.id).await?);
    }
    let users: Vec<String> = ledger.users.keys().cloned().collect();
    for chunk in users.chunks(50) {
        let v = api.export(chunk).await?;
        for u in v
            .get("users")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = u.get("external_id").and_then(Value::as_str) {
                evidence.exports.insert(id.to_string(), u.clone());
            }
        }
    }
    let mut active: Vec<String> = ledger
        .triggers
        .iter()
        .map(|t| t.user.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    active.shuffle(&mut rng);
    active.truncate(config.explain_sample);
    for (cid, user) in checker.explain_pairs(&evidence.arrivals, &active) {
        if let Some(x) = api.explain(&cid, &user).await? {
            evidence.explains.insert((cid, user), x);
        }
    }
    let mut checked = checker.check(&evidence, &active);
    let term = daemon.sigterm().await?;
    if term.code != Some(0) || term.timed_out {
        checked.violate(
            "sigterm_unclean",
            format!(
                "final SIGTERM: exit {:?}, timed out {}",
                term.code, term.timed_out
            ),
        );
    }
    for k in &kills {
        if k.done == KillKind::Sigterm && (k.exit_code != Some(0) || k.term_timed_out) {
            checked.violate(
                "sigterm_unclean",
                format!(
                    "SIGTERM at {}: exit {:?}, timed out {}",
                    clock::fmt(k.at),
                    k.exit_code,
                    k.term_timed_out
                ),
            );
        }
    }
    for c in &crashes {
        checked.violate("daemon_crashed", c.clone());
    }
    for r in &ledger.refusals {
        checked.violate("request_refused", r.clone());
    }
    let log_text = std::fs::read_to_string(&daemon.spec().log).unwrap_or_default();
    for line in log_text.lines().filter(|l| l.contains("panicked")) {
        checked.violate("daemon_panicked", line.to_string());
    }
    checked.absorb("", findings);

    // Disk-full step (its own daemon on a small file system).
    let disk_report = if config.disk_full {
        let (rep, f) = diskfull::run_step(&config, &receiver, &work, &campaigns).await?;
        checked.absorb("disk_full.", f);
        Some(rep)
    } else {
        None
    };
    receiver.shutdown().await;

    let (kill_counts, timing) =
        kill_figures(&kills, crashes.len(), first_start.as_secs_f64() * 1e3);
    let receiver_counts = ReceiverCounts {
        requests: evidence.arrivals.len() as u64,
        accepted: evidence.arrivals.iter().filter(|a| a.accepted()).count() as u64,
        answered_500: evidence.arrivals.iter().filter(|a| a.status == 500).count() as u64,
        answered_429: evidence.arrivals.iter().filter(|a| a.status == 429).count() as u64,
        phases: fault_log,
    };
    let passed = checked.violation_count() == 0;
    let report = Report {
        passed,
        seed,
        config: config.clone(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        daemon_log: daemon.spec().log.display().to_string(),
        kills: kill_counts,
        timing,
        requests: ledger.counts.clone(),
        findings: checked,
        receiver: receiver_counts,
        disk_full: disk_report,
        corrupt_record: corrupt_report,
        kill_log: kills,
    };
    if passed && work_is_temp && config.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(report)
}

/// Waits until every send that must be delivered has been, and the
/// receiver has been quiet; or until it is clear that nothing more comes;
/// or the deadline.
async fn drain(
    checker: &Checker<'_>,
    receiver: &Receiver,
    deadline: chrono::DateTime<Utc>,
    verbose: bool,
) {
    let last_due = checker.last_due();
    let mut last_print = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = clock::now();
        let arrivals = receiver.log();
        let missing = checker.undelivered(&arrivals);
        let quiet_for = receiver
            .last_arrival()
            .map_or(chrono::Duration::seconds(3600), |t| now - t);
        let past_due = last_due.is_none_or(|d| now > d + chrono::Duration::seconds(2));
        if missing.is_empty() && past_due && quiet_for > chrono::Duration::seconds(3) {
            break;
        }
        let stuck = !missing.is_empty()
            && quiet_for > chrono::Duration::seconds(15)
            && missing.iter().all(|r| match r.plan {
                crate::campaigns::Plan::Due { due, .. } => {
                    now - due > chrono::Duration::seconds(20)
                }
                crate::campaigns::Plan::Refused(_) => true,
            });
        if stuck || now > deadline {
            break;
        }
        if verbose && last_print.elapsed() > Duration::from_secs(5) {
            last_print = Instant::now();
            eprintln!("drill: draining, {} sends still due", missing.len());
        }
    }
}

/// Kill records of steps that stop the daemon (so duplicate checks know).
pub fn stop_record(
    at: chrono::DateTime<Utc>,
    code: Option<i32>,
    took: Duration,
    recovery: Duration,
) -> KillRecord {
    KillRecord {
        planned: KillKind::Sigterm,
        done: KillKind::Sigterm,
        at,
        dead_at: at + chrono::Duration::from_std(took).unwrap_or_default(),
        send_id: None,
        downtime_ms: 0,
        recovery_ms: recovery.as_secs_f64() * 1e3,
        exit_code: code,
        shutdown_ms: Some(took.as_secs_f64() * 1e3),
        term_timed_out: false,
    }
}
