//! Big batches of stored (not resident) timers: their ids are looked up in
//! the index on several threads (`src/parallel.rs`), and the answers must be
//! those of one-by-one calls — per item, in order, duplicates included —
//! before and after a reopen.

use std::path::Path;
use std::time::Duration;

use triggerd_scheduler::{Config, Durability, Millis, Scheduled, Scheduler, Timer, TimerId};

/// Far enough ahead that nothing is paged in: every lookup reads the index.
const FAR: i64 = 10_000_000_000;

fn open(dir: &Path) -> Scheduler {
    let db = triggerd_scheduler::open_db(&sled::Config::new().path(dir), Duration::from_secs(30))
        .expect("sled opens");
    Scheduler::open(db, Config::default()).expect("scheduler opens")
}

fn due_of(sched: &Scheduler, id: TimerId) -> Option<i64> {
    sched.get(id).expect("get").map(|p| p.timer.due.0)
}

#[tokio::test]
async fn a_big_batch_answers_per_item_as_single_calls_would() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let sched = open(dir.path());
        // 2,000 stored timers, in two write batches (two index runs).
        for part in [0..1_000u128, 1_000..2_000] {
            let timers = part
                .map(|id| Timer::new(id, Millis(FAR + id as i64), vec![1]))
                .collect();
            sched
                .schedule_batch(timers, Durability::Flush)
                .await
                .expect("schedules");
        }
    }
    let sched = open(dir.path());
    assert_eq!(sched.stats().resident, 0, "nothing paged in");

    // Even ids keep their due, odd ids move, 2,000..2,300 are new, and the
    // batch ends with a repeat of id 4 at a new due (a later item wins).
    let mut batch: Vec<Timer> = (0..2_300u128)
        .map(|id| {
            let due = if id < 2_000 && id % 2 == 0 {
                FAR + id as i64
            } else {
                FAR + 5 * id as i64 + 1
            };
            Timer::new(id, Millis(due), vec![2])
        })
        .collect();
    batch.push(Timer::new(4, Millis(FAR - 4), vec![3]));
    let outcomes = sched
        .schedule_batch(batch, Durability::Flush)
        .await
        .expect("schedules");
    assert_eq!(outcomes.len(), 2_301);
    for (id, outcome) in outcomes.iter().take(2_300).enumerate() {
        let want = match id {
            id if id >= 2_000 => Scheduled::Created,
            id if id % 2 == 0 => Scheduled::Unchanged,
            _ => Scheduled::Rescheduled,
        };
        assert_eq!(*outcome, want, "id {id}");
    }
    assert_eq!(
        outcomes[2_300],
        Scheduled::Rescheduled,
        "the repeat of id 4"
    );
    assert_eq!(sched.pending_count(), 2_300);

    // Cancel every third id of 0..2,600 (the last 300 were never scheduled),
    // each twice.
    let victims: Vec<TimerId> = (0..2_600u128)
        .step_by(3)
        .chain((0..2_600).step_by(3))
        .collect();
    let cancelled = sched
        .cancel_batch(&victims, Durability::Flush)
        .await
        .expect("cancels");
    assert_eq!(cancelled, (0..2_300).step_by(3).count());
    drop(sched);

    let sched = open(dir.path());
    assert_eq!(sched.pending_count(), 2_300 - cancelled as u64);
    for id in 0..2_600u128 {
        let want = match id {
            _ if id % 3 == 0 || id >= 2_300 => None,
            4 => Some(FAR - 4),
            id if id < 2_000 && id % 2 == 0 => Some(FAR + id as i64),
            id => Some(FAR + 5 * id as i64 + 1),
        };
        assert_eq!(due_of(&sched, id), want, "id {id}");
    }
}
