//! The disk-full step: a second daemon whose data dir sits on a small file
//! system (a tmpfs the drill mounts when it runs as root, or
//! `--disk-full-dir`). With a few acknowledged triggers on disk, the drill
//! fills the file system with a filler file, keeps sending, expects `503`
//! answers (not a crash, not a hang, not a 2xx that is later lost) and a
//! clear log line; then removes the filler and expects the same requests
//! (same idempotency keys) to succeed without a restart. Every request
//! acknowledged at any point must be on record and delivered.
//!
//! By hand, without root: create a small file system yourself, e.g.
//! `truncate -s 64M /tmp/fs.img && mkfs.ext4 -q /tmp/fs.img && sudo mount
//! -o loop /tmp/fs.img /mnt/drill && sudo chown $USER /mnt/drill`, then run
//! `triggerd-drill --disk-full --disk-full-dir /mnt/drill ...`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api::{Api, TrackOutcome};
use crate::campaigns::{DrillCampaign, TOKEN_PROPERTY};
use crate::clock;
use crate::config::DrillConfig;
use crate::daemon::{Daemon, DaemonSpec, free_addr, log_tail};
use crate::error::{Result, io};
use crate::findings::Findings;
use crate::load::as_u64;
use crate::receiver::Receiver;
use crate::report::StepReport;
use crate::run::{API_KEY, daemon_config};

/// How long the full phase sends requests.
const FULL_PHASE: Duration = Duration::from_secs(15);
/// How long the daemon has to resume once space returns.
const RESUME_WAIT: Duration = Duration::from_secs(30);

struct Mount {
    dir: PathBuf,
    mounted: bool,
}

fn mount_tmpfs(dir: &Path, mb: u64) -> std::result::Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn unmount(m: &Mount) {
    if m.mounted {
        let _ = std::process::Command::new("umount").arg(&m.dir).status();
        let _ = std::fs::remove_dir(&m.dir);
    }
}

/// Fills the file system holding `path` until ENOSPC; returns bytes written.
pub fn fill(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 64] {
        let buf = vec![0u8; chunk];
        loop {
            match file.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => return Err(e),
            }
        }
    }
    let _ = file.sync_all();
    Ok(written)
}

fn trigger_body(campaign: &DrillCampaign, i: u32) -> (String, Value) {
    let token = format!("df{i}");
    let body = json!({"events": [{
        // One user per request: a retried request keeps its old event
        // time, which must not meet a newer receipt of the same user (the
        // backdated R-R2 issue would refuse it).
        "external_id": format!("drill-df-u{i}"),
        "name": campaign.trigger,
        "time": clock::fmt(clock::now_ms()),
        "properties": { TOKEN_PROPERTY: token }
    }]});
    (token, body)
}

fn skipped(why: String) -> (StepReport, Findings) {
    (
        StepReport {
            status: "skipped".into(),
            details: vec![
                why,
                "run by hand: mount a small file system (tmpfs as root, or a loop-mounted image) and pass --disk-full --disk-full-dir DIR".into(),
            ],
            figures: serde_json::Map::new(),
        },
        Findings::default(),
    )
}

/// Runs the step; the receiver must be up (no fault).
pub async fn run_step(
    config: &DrillConfig,
    receiver: &Receiver,
    work: &Path,
    campaigns: &[DrillCampaign],
) -> Result<(StepReport, Findings)> {
    let mount = match &config.disk_full_dir {
        Some(d) => Mount {
            dir: d.clone(),
            mounted: false,
        },
        None => {
            let dir = work.join("diskfull-mnt");
            match mount_tmpfs(&dir, config.disk_full_mb) {
                Ok(()) => Mount { dir, mounted: true },
                Err(e) => return Ok(skipped(format!("mounting a tmpfs failed: {e}"))),
            }
        }
    };
    let result = run_inner(config, receiver, work, campaigns, &mount.dir).await;
    unmount(&mount);
    result
}

async fn run_inner(
    config: &DrillConfig,
    receiver: &Receiver,
    work: &Path,
    campaigns: &[DrillCampaign],
    dir: &Path,
) -> Result<(StepReport, Findings)> {
    let mut f = Findings::default();
    let mut details = Vec::new();
    let mut figures = serde_json::Map::new();
    let data_dir = dir.join("triggerd-data");
    let filler = dir.join("drill-filler.bin");
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_file(&filler);
    let config_path = work.join("diskfull.toml");
    std::fs::write(&config_path, daemon_config()).map_err(io("writing the disk-full config"))?;
    let spec = DaemonSpec {
        bin: config
            .daemon
            .clone()
            .unwrap_or_else(crate::run::default_daemon),
        data_dir,
        listen: free_addr()?,
        api_key: API_KEY.into(),
        config: config_path,
        log: work.join("diskfull-daemon.log"),
    };
    let mut daemon = Daemon::new(spec)?;
    daemon.start().await?;
    let api = Api::new(daemon.base_url(), API_KEY.into())?;
    let Some(campaign) = campaigns.iter().find(|c| c.window.is_none()) else {
        return Ok(skipped("no campaign without a window".into()));
    };
    let start = clock::now_ms() - chrono::Duration::hours(1);
    api.must(
        reqwest::Method::PUT,
        &format!("/campaigns/{}", campaign.id),
        Some(&campaign.definition(&receiver.url(), start)),
    )
    .await?;
    api.must(
        reqwest::Method::POST,
        &format!("/campaigns/{}/launch", campaign.id),
        None,
    )
    .await?;

    // Before: acknowledged triggers on disk.
    let mut acked: Vec<String> = Vec::new();
    let mut i = 0u32;
    for _ in 0..10 {
        i += 1;
        let (token, body) = trigger_body(campaign, i);
        if let TrackOutcome::Acked { .. } = api
            .track(&body, &format!("df-{i}"), Duration::from_secs(30))
            .await
        {
            acked.push(token);
        }
    }

    // Full.
    let fill_path = filler.clone();
    let filled = tokio::task::spawn_blocking(move || fill(&fill_path))
        .await
        .map_err(|e| crate::error::Error::Protocol(format!("filler: {e}")))?
        .map_err(io("filling the file system"))?;
    figures.insert("filler_bytes".into(), json!(filled));
    let full_at = Instant::now();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed: Vec<(String, String, Value)> = Vec::new();
    let mut consecutive_503 = 0;
    while full_at.elapsed() < FULL_PHASE && consecutive_503 < 5 {
        i += 1;
        let (token, body) = trigger_body(campaign, i);
        let key = format!("df-{i}");
        match api.track_once(&body, &key).await {
            Ok((201, _)) => {
                acked.push(token);
                consecutive_503 = 0;
                *statuses.entry("201".into()).or_default() += 1;
            }
            Ok((s, text)) => {
                if s == 503 {
                    consecutive_503 += 1;
                } else {
                    f.violate("wrong_status_while_full", format!("{s} {text}"));
                }
                *statuses.entry(s.to_string()).or_default() += 1;
                failed.push((token, key, body));
            }
            Err(e) => {
                *statuses.entry("no answer".into()).or_default() += 1;
                f.violate("no_answer_while_full", e);
                failed.push((token, key, body));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    figures.insert("statuses_while_full".into(), json!(statuses));
    let alive = daemon.is_running();
    let health = api.healthz().await;
    figures.insert("healthz_while_full".into(), json!(health));
    if !alive {
        f.violate(
            "daemon_died_when_disk_full",
            log_tail(&daemon.spec().log, 20),
        );
    }
    if consecutive_503 == 0 && failed.is_empty() {
        details.push("the file system filled but every write still succeeded (preallocated space?): inconclusive".into());
    }
    let log_text = std::fs::read_to_string(&daemon.spec().log).unwrap_or_default();
    let clear = log_text
        .lines()
        .filter(|l| l.contains("ERROR"))
        .find(|l| l.contains("space") || l.contains("storage") || l.contains("flush"));
    match clear {
        Some(l) => details.push(format!("log: {l}")),
        None if !failed.is_empty() => f.violate(
            "no_clear_log",
            "no ERROR line about storage while the disk was full",
        ),
        None => {}
    }

    // Space returns.
    std::fs::remove_file(&filler).map_err(io("removing the filler"))?;
    let freed = Instant::now();
    let mut resumed_after = None;
    let mut pending = failed.clone();
    while freed.elapsed() < RESUME_WAIT && !pending.is_empty() && daemon.is_running() {
        let mut still = Vec::new();
        for (token, key, body) in pending {
            match api.track_once(&body, &key).await {
                Ok((201, _)) => {
                    resumed_after.get_or_insert(freed.elapsed());
                    acked.push(token);
                }
                _ => still.push((token, key, body)),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let mut needed_restart = false;
    let mut stop_while_full = None;
    if !pending.is_empty() {
        needed_restart = true;
        f.violate(
            "no_resume_without_restart",
            format!(
                "{} requests still refused {} s after space returned",
                pending.len(),
                RESUME_WAIT.as_secs()
            ),
        );
        if daemon.is_running() {
            stop_while_full = Some(daemon.sigterm().await?.code);
        } else {
            daemon.sigkill().await?;
        }
        let r = daemon.start().await?;
        details.push(format!(
            "restarted after space returned: ready in {:.0} ms",
            r.as_secs_f64() * 1e3
        ));
        for (token, key, body) in pending {
            match api.track(&body, &key, Duration::from_secs(30)).await {
                TrackOutcome::Acked { .. } => acked.push(token),
                other => f.violate("no_resume_after_restart", format!("{token}: {other:?}")),
            }
        }
    }
    figures.insert(
        "resumed_after_ms".into(),
        json!(resumed_after.map(|d| d.as_millis() as u64)),
    );
    figures.insert("needed_restart".into(), json!(needed_restart));
    // A fresh write after recovery.
    i += 1;
    let (token, body) = trigger_body(campaign, i);
    match api
        .track(&body, &format!("df-{i}"), Duration::from_secs(30))
        .await
    {
        TrackOutcome::Acked { .. } => acked.push(token),
        other => f.violate("no_resume_after_restart", format!("fresh write: {other:?}")),
    }

    // Everything acknowledged is on record and delivered.
    let wait_until = Instant::now() + Duration::from_secs(campaign.delay_s + 30);
    let delivered = loop {
        let got: std::collections::BTreeSet<String> = receiver
            .log()
            .into_iter()
            .filter(|a| a.accepted())
            .filter_map(|a| a.token)
            .filter(|t| t.starts_with("df"))
            .collect();
        if acked.iter().all(|t| got.contains(t)) || Instant::now() > wait_until {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for t in acked.iter().filter(|t| !delivered.contains(*t)) {
        f.violate(
            "lost_send",
            format!("disk-full step: acknowledged token {t} never delivered"),
        );
    }
    let stats = api.stats(&campaign.id).await?;
    let scheduled = stats.get("scheduled").and_then(as_u64).unwrap_or(0);
    if scheduled < acked.len() as u64 {
        f.violate(
            "lost_event",
            format!(
                "disk-full step: {scheduled} planned sends on record, {} acknowledged",
                acked.len()
            ),
        );
    }
    figures.insert("acked".into(), json!(acked.len()));
    figures.insert("delivered".into(), json!(delivered.len()));
    let term = daemon.sigterm().await?;
    if term.code != Some(0) {
        f.violate(
            "sigterm_unclean",
            format!("disk-full daemon exit {:?}", term.code),
        );
    }
    if let Some(code) = stop_while_full {
        details.push(format!(
            "SIGTERM while the store was failed: exit {code:?} (the daemon logs \"final flush failed\")"
        ));
    }
    details.push(format!(
        "{} acknowledged, {} delivered, statuses while full {:?}",
        acked.len(),
        delivered.len(),
        statuses
    ));
    Ok((
        StepReport::ran("ran: 503 while full, resumed", &f, details, figures),
        f,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_stops_at_enospc_on_a_small_tmpfs() {
        let dir = std::env::temp_dir().join(format!("drill-fill-{}", std::process::id()));
        if mount_tmpfs(&dir, 2).is_err() {
            eprintln!("skipped: cannot mount a tmpfs here (not root?)");
            let _ = std::fs::remove_dir(&dir);
            return;
        }
        let m = Mount {
            dir: dir.clone(),
            mounted: true,
        };
        let written = fill(&dir.join("filler")).expect("fills");
        assert!(
            written > 1_500_000 && written <= 2 * 1024 * 1024,
            "{written}"
        );
        assert!(std::fs::write(dir.join("more"), b"x").is_err(), "full");
        unmount(&m);
    }
}
