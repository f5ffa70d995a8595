//! Opening data dirs written by older builds.
//!
//! Layout 1 stores from before the highest loader cursor (`loaded_high`)
//! was kept deleted groups without recording how far loads had gone; a
//! newer binary taking "nothing was ever loaded" would count such a deleted
//! group as on disk (found by review).

use std::time::Duration;

use triggerd_scheduler::{
    Config, Durability, Millis, Scheduled, Scheduler, TREE_NAME, Timer, TimerId,
};

fn open(dir: &std::path::Path) -> Scheduler {
    let db = triggerd_scheduler::open_db(&sled::Config::new().path(dir), Duration::from_secs(30))
        .expect("sled opens");
    Scheduler::open(db, Config::default()).expect("scheduler opens")
}

#[tokio::test]
async fn a_layout_1_store_without_loaded_high_keeps_deleted_groups_dead() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let s = open(dir.path());
        for (id, due) in [(1, 100), (2, 200)] {
            s.schedule(Timer::new(id, Millis(due), vec![]), Durability::Flush)
                .await
                .expect("schedules");
        }
        assert!(
            s.pop_due(Millis(0), 10).expect("pop").is_empty(),
            "both paged in"
        );
        // Timer 2's group empties and is deleted: no tomb.
        assert!(s.cancel(2, Durability::Flush).await.expect("cancels"));
    }
    {
        // What a layout 1 binary of that time left behind.
        let db = sled::Config::new().path(dir.path()).open().expect("db");
        let t = db.open_tree(TREE_NAME).expect("tree");
        t.remove(b"\x00loaded_high").expect("remove");
        t.remove(b"\x00horizon").expect("remove");
        t.insert(b"\x00format", &[1u8][..]).expect("format");
        db.flush().expect("flush");
    }
    let s = open(dir.path());
    assert_eq!(s.pending_count(), 1);
    assert!(
        s.get(2).expect("get").is_none(),
        "the cancelled timer is gone"
    );
    let outcome = s
        .schedule(Timer::new(2, Millis(200), vec![]), Durability::Flush)
        .await
        .expect("schedules");
    assert_eq!(outcome, Scheduled::Created);
    let fired: Vec<TimerId> = s
        .pop_due(Millis(300), 10)
        .expect("pop")
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(fired, [1, 2], "the new schedule of 2 fires");
}
