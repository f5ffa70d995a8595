//! The completion horizon (`src/horizon.rs`) as a user of the scheduler
//! sees it: completing in firing order writes no tombs, yet nothing
//! completed fires again after a reopen from disk; completions out of order
//! still do; a timer scheduled later with a due below the horizon is live.

use std::path::Path;
use std::time::Duration;

use triggerd_scheduler::{Config, Durability, Millis, Scheduler, Timer, TimerId};

/// Big groups and no compaction, so that the index run count shows every
/// write that produced index records.
fn config() -> Config {
    Config {
        max_group_timers: 1_000,
        max_group_span_ms: 1_000_000,
        min_group_span_ms: 1_000_000,
        compaction: false,
        ..Config::default()
    }
}

fn open(dir: &Path) -> (sled::Db, Scheduler) {
    let db = triggerd_scheduler::open_db(&sled::Config::new().path(dir), Duration::from_secs(30))
        .expect("sled opens");
    let sched = Scheduler::open(db.clone(), config()).expect("scheduler opens");
    (db, sched)
}

/// The default configuration (compaction on).
fn open_compacting(dir: &Path) -> (sled::Db, Scheduler) {
    let db = triggerd_scheduler::open_db(&sled::Config::new().path(dir), Duration::from_secs(30))
        .expect("sled opens");
    let sched = Scheduler::open(db.clone(), Config::default()).expect("scheduler opens");
    (db, sched)
}

/// Two write batches whose dues interleave (even and odd), so that each
/// group keeps live timers until the end and in-order completions empty no
/// group before the last one.
async fn schedule_interleaved(sched: &Scheduler, n: i64) {
    for parity in [0, 1] {
        let timers: Vec<Timer> = (0..n)
            .filter(|due| due % 2 == parity)
            .map(|due| Timer::new(1_000 + due as TimerId, Millis(due), vec![parity as u8]))
            .collect();
        sched
            .schedule_batch(timers, Durability::Flush)
            .await
            .expect("schedules");
    }
}

fn ids(fired: &[triggerd_scheduler::Fired]) -> Vec<TimerId> {
    fired.iter().map(|f| f.id).collect()
}

/// Fires everything due by 1,000 (all the tests schedule) and returns the
/// dues in firing order.
fn fire_all_dues(sched: &Scheduler) -> Vec<i64> {
    sched
        .pop_due(Millis(1_000), 1_000)
        .expect("pops")
        .iter()
        .map(|f| f.due.0)
        .collect()
}

#[tokio::test]
async fn r_k2_in_order_completions_write_no_tombs_and_stay_completed_after_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let (_db, sched) = open(dir.path());
        schedule_interleaved(&sched, 100).await;
        let runs = sched.stats().index_runs;
        assert_eq!(runs, 2, "one index run per schedule batch");
        for _ in 0..6 {
            let fired = sched.pop_due(Millis(1_000), 10).expect("pops");
            assert_eq!(fired.len(), 10);
            let n = sched
                .complete(&ids(&fired), Durability::Flush)
                .await
                .expect("completes");
            assert_eq!(n, 10);
        }
        assert_eq!(
            sched.stats().index_runs,
            runs,
            "completions in firing order need no tombs"
        );
        assert_eq!(sched.pending_count(), 40);
    }
    let (_db, sched) = open(dir.path());
    assert_eq!(sched.pending_count(), 40);
    assert_eq!(
        fire_all_dues(&sched),
        (60..100).collect::<Vec<_>>(),
        "exactly the rest fires"
    );
    assert!(sched.get(1_000 + 5).expect("get").is_none());
    assert!(sched.get(1_000 + 60).expect("get").is_some());
}

#[tokio::test]
async fn r_k2_out_of_order_completions_still_write_tombs_and_hold_across_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let (_db, sched) = open(dir.path());
        schedule_interleaved(&sched, 40).await;
        let first = sched.pop_due(Millis(1_000), 10).expect("pops");
        let second = sched.pop_due(Millis(1_000), 10).expect("pops");
        let runs = sched.stats().index_runs;
        sched
            .complete(&ids(&second), Durability::Flush)
            .await
            .expect("completes");
        assert_eq!(
            sched.stats().index_runs,
            runs + 1,
            "completing above an in-flight timer needs tombs"
        );
        // `first` stays in flight across the reopen: it fires again.
        drop(first);
    }
    let (_db, sched) = open(dir.path());
    assert_eq!(sched.pending_count(), 30);
    let dues = fire_all_dues(&sched);
    let want: Vec<i64> = (0..10).chain(20..40).collect();
    assert_eq!(
        dues, want,
        "in-flight timers fire again, completed ones never"
    );
}

#[tokio::test]
async fn r_k2_a_timer_scheduled_below_the_horizon_after_it_moved_is_live() {
    let dir = tempfile::tempdir().expect("tmp");
    let late_id: TimerId = 7;
    {
        let (_db, sched) = open(dir.path());
        schedule_interleaved(&sched, 40).await;
        let fired = sched.pop_due(Millis(1_000), 30).expect("pops");
        sched
            .complete(&ids(&fired), Durability::Flush)
            .await
            .expect("completes");
        // The horizon is now at due 30: schedule one due long before it.
        sched
            .schedule(
                Timer::new(late_id, Millis(3), b"late".to_vec()),
                Durability::Flush,
            )
            .await
            .expect("schedules");
        assert!(sched.get(late_id).expect("get").is_some());
    }
    let (_db, sched) = open(dir.path());
    assert!(sched.get(late_id).expect("get").is_some(), "not covered");
    let fired = sched.pop_due(Millis(1_000), 1_000).expect("pops");
    assert_eq!(
        fired.first().map(|f| (f.id, f.due)),
        Some((late_id, Millis(3)))
    );
    assert_eq!(fired.len(), 11);
}

#[tokio::test]
async fn r_k2_cancelling_fired_timers_in_order_moves_the_horizon_too() {
    // The daemon cancels a fired timer once its send is done.
    let dir = tempfile::tempdir().expect("tmp");
    {
        let (_db, sched) = open(dir.path());
        schedule_interleaved(&sched, 40).await;
        let runs = sched.stats().index_runs;
        let fired = sched.pop_due(Millis(1_000), 10).expect("pops");
        let n = sched
            .cancel_batch(&ids(&fired), Durability::Flush)
            .await
            .expect("cancels");
        assert_eq!(n, 10);
        assert_eq!(sched.stats().index_runs, runs, "no tombs");
        // A waiting timer cancelled above the horizon still needs a tomb.
        sched
            .cancel_batch(&[1_000 + 30], Durability::Flush)
            .await
            .expect("cancels");
        assert_eq!(sched.stats().index_runs, runs + 1);
    }
    let (_db, sched) = open(dir.path());
    let dues = fire_all_dues(&sched);
    let want: Vec<i64> = (10..40).filter(|d| *d != 30).collect();
    assert_eq!(dues, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_records_of_timers_completed_in_order_are_merged_away() {
    // No tombs are written, so the dead puts are counted instead: once they
    // are most of the index, everything merges and they go.
    let dir = tempfile::tempdir().expect("tmp");
    let (_db, sched) = open_compacting(dir.path());
    for batch in 0..10i64 {
        let timers: Vec<Timer> = (0..1_000i64)
            .map(|i| {
                Timer::new(
                    (batch * 1_000 + i) as TimerId,
                    Millis(i * 10 + batch),
                    vec![],
                )
            })
            .collect();
        sched
            .schedule_batch(timers, Durability::Async)
            .await
            .expect("schedules");
    }
    loop {
        let fired = sched.pop_due(Millis(1_000_000), 1_000).expect("pops");
        if fired.is_empty() {
            break;
        }
        sched
            .complete(&ids(&fired), Durability::Async)
            .await
            .expect("completes");
    }
    assert_eq!(sched.pending_count(), 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sched.stats().index_runs > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "index never emptied: {:?}",
            sched.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sched.stats().index_filter_bytes, 0);
}
