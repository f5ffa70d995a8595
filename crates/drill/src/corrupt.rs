//! The corrupt-record step: with the daemon stopped (SIGTERM, so nothing
//! else holds the database), overwrite one profile record with bytes that
//! do not decode, restart, and check that the daemon quarantines it on read
//! and keeps serving (R-K4; the daemon's store quarantines undecodable
//! records under a `q` key and counts `triggerd_quarantined_records_total`).
//!
//! This reaches into the daemon's storage layout (`<data>/db`, tree
//! `data`, profile key `p` + external_id, one format byte first); when the
//! layout is not found the step reports itself skipped rather than guess.

use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Api, metric_sum};
use crate::chaos::KillRecord;
use crate::clock;
use crate::daemon::{Daemon, log_tail};
use crate::error::Result;
use crate::findings::Findings;
use crate::report::StepReport;
use crate::run::stop_record;

/// A value no record format reads: an unknown format byte.
pub const GARBAGE: &[u8] = b"\xEEdrill: not a record";

/// How long to wait for a just-killed daemon (or a just-dropped handle) to
/// release the database lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Overwrites the victim's profile record offline. Returns false when the
/// record is not where the layout says.
pub fn corrupt_profile(data_dir: &std::path::Path, victim: &str) -> Result<bool> {
    let db_path = data_dir.join("db");
    if !db_path.exists() {
        return Ok(false);
    }
    let db = triggerd_scheduler::open_db(&sled::Config::new().path(db_path), LOCK_WAIT)?;
    let tree = db.open_tree("data")?;
    let mut key = vec![b'p'];
    key.extend_from_slice(victim.as_bytes());
    if tree.get(&key)?.is_none() {
        return Ok(false);
    }
    tree.insert(key, GARBAGE)?;
    db.flush()?;
    Ok(true)
}

/// Runs the step against the drill's daemon; returns the step report, its
/// violations and the stop it caused.
pub async fn run_step(
    daemon: &mut Daemon,
    api: &Api,
    victim: &str,
) -> Result<(StepReport, Findings, Vec<KillRecord>)> {
    let mut f = Findings::default();
    let mut details = Vec::new();
    let mut figures = serde_json::Map::new();
    let at = clock::now();
    let term = daemon.sigterm().await?;
    if term.code != Some(0) || term.timed_out {
        f.violate(
            "sigterm_unclean",
            format!("stop before corrupting: exit {:?}", term.code),
        );
    }
    let data_dir = daemon.spec().data_dir.clone();
    let owned = victim.to_string();
    let corrupted = tokio::task::spawn_blocking(move || corrupt_profile(&data_dir, &owned))
        .await
        .map_err(|e| crate::error::Error::Protocol(format!("corrupt step: {e}")))??;
    let recovery = daemon.start().await?;
    let kills = vec![stop_record(at, term.code, term.took, recovery)];
    if !corrupted {
        details.push("victim profile record not found in <data>/db tree `data`; layout changed? step skipped".into());
        return Ok((
            StepReport {
                status: "skipped".into(),
                details,
                figures,
            },
            f,
            kills,
        ));
    }
    details.push(format!(
        "overwrote profile {victim} with an unknown format byte; restarted in {:.0} ms",
        recovery.as_secs_f64() * 1e3
    ));
    let export = api.export(&[victim.to_string()]).await?;
    let still_there = export
        .get("users")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|u| {
            u.get("custom_attributes")
                .and_then(|a| a.get("drill_seq"))
                .is_some()
        });
    if still_there {
        f.violate(
            "not_quarantined",
            "the corrupted profile still reads back its old attributes",
        );
    }
    details.push(format!("export after corruption: {export}"));
    let metrics = api.metrics().await.unwrap_or_default();
    let quarantined = metric_sum(&metrics, "triggerd_quarantined_records_total");
    figures.insert("quarantined_records".into(), json!(quarantined));
    if quarantined < 1.0 {
        f.violate(
            "not_quarantined",
            "triggerd_quarantined_records_total is 0 after reading the corrupted record",
        );
    }
    let body = json!({"attributes": [{"external_id": victim, "drill_seq": 2}],
                      "events": [{"external_id": victim, "name": "drill_after_corruption"}]});
    match api
        .track(&body, "drill-victim-after", Duration::from_secs(30))
        .await
    {
        crate::api::TrackOutcome::Acked { .. } => {
            details.push("the victim accepts new writes (201)".into())
        }
        other => f.violate(
            "not_serving",
            format!("track for the victim after corruption: {other:?}"),
        ),
    }
    let tail = log_tail(&daemon.spec().log, 400);
    let logged = tail.lines().any(|l| l.contains("quarantined"));
    figures.insert("logged".into(), json!(logged));
    if !logged {
        f.violate("not_reported", "no `quarantined` line in the daemon log");
    }
    Ok((
        StepReport::ran("ran: quarantined, still serving", &f, details, figures),
        f,
        kills,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_database_or_record_is_reported_not_guessed() {
        let dir = std::env::temp_dir().join(format!("drill-corrupt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(!corrupt_profile(&dir, "u1").expect("no db is fine"));
        let db = triggerd_scheduler::open_db(&sled::Config::new().path(dir.join("db")), LOCK_WAIT)
            .expect("db");
        let tree = db.open_tree("data").expect("tree");
        tree.insert(b"pu1", b"\x01{}".as_slice()).expect("insert");
        db.flush().expect("flush");
        drop(tree);
        drop(db);
        assert!(!corrupt_profile(&dir, "u2").expect("absent record"));
        assert!(corrupt_profile(&dir, "u1").expect("present record"));
        let db = triggerd_scheduler::open_db(&sled::Config::new().path(dir.join("db")), LOCK_WAIT)
            .expect("db");
        let got = db
            .open_tree("data")
            .expect("tree")
            .get(b"pu1")
            .expect("get");
        assert_eq!(got.as_deref(), Some(GARBAGE));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
