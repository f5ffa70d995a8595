//! Firing driver tests on the manual and the system clock (SPEC R-X1).

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::oneshot;
use triggerd_scheduler::{
    Clock, Config, Durability, Error, Fired, ManualClock, Millis, Scheduler, SystemClock, Timer,
    TimerId, run,
};

type Log = Arc<Mutex<Vec<(i64, Vec<TimerId>)>>>;

fn open() -> Scheduler {
    let db = sled::Config::new().temporary(true).open().expect("db");
    Scheduler::open(db, Config::default()).expect("opens")
}

/// Starts the driver with a handler that logs `(clock.now(), ids)` and
/// completes the timers; `retry` ids are rescheduled 50 ms later once.
fn start(
    sched: &Scheduler,
    clock: Arc<dyn Clock>,
    retry: Vec<TimerId>,
) -> (
    Log,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<triggerd_scheduler::Result<()>>,
) {
    let log: Log = Arc::default();
    let retried: Arc<Mutex<Vec<TimerId>>> = Arc::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let handler = {
        let (sched, log, clock) = (sched.clone(), log.clone(), clock.clone());
        move |fired: Vec<Fired>| {
            let (sched, log, clock, retry, retried) = (
                sched.clone(),
                log.clone(),
                clock.clone(),
                retry.clone(),
                retried.clone(),
            );
            async move {
                let now = clock.now();
                for f in &fired {
                    assert!(f.due <= now, "fired {} before its due {}", f.id, f.due);
                }
                log.lock()
                    .push((now.0, fired.iter().map(|f| f.id).collect()));
                let mut done = Vec::new();
                for f in fired {
                    let first_time = !retried.lock().contains(&f.id);
                    if retry.contains(&f.id) && first_time {
                        retried.lock().push(f.id);
                        let again = Timer::new(f.id, f.due.saturating_add(50), f.payload);
                        sched
                            .schedule(again, Durability::Async)
                            .await
                            .expect("retry");
                    } else {
                        done.push(f.id);
                    }
                }
                sched
                    .complete(&done, Durability::Async)
                    .await
                    .expect("complete");
            }
        }
    };
    let task = tokio::spawn(run(sched.clone(), clock, handler, async {
        let _ = stopped.await;
    }));
    (log, stop, task)
}

async fn schedule(sched: &Scheduler, timers: &[(TimerId, i64)]) {
    let timers = timers
        .iter()
        .map(|(id, due)| Timer::new(*id, Millis(*due), vec![]))
        .collect();
    sched
        .schedule_batch(timers, Durability::Async)
        .await
        .expect("schedules");
}

#[tokio::test]
async fn r_x1_advance_processes_each_timer_at_its_own_due_instant() {
    let sched = open();
    let clock = ManualClock::new(Millis(0));
    schedule(&sched, &[(10, 100), (2, 200), (1, 200), (30, 300)]).await;
    let (log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![]);
    assert_eq!(clock.advance_to(Millis(250)).await.expect("advances"), 3);
    assert_eq!(clock.now(), Millis(250));
    assert_eq!(*log.lock(), vec![(100, vec![10]), (200, vec![1, 2])]);
    assert_eq!(sched.pending_count(), 1);
    assert_eq!(clock.advance_by(50).await.expect("advances"), 1);
    assert_eq!(log.lock().last(), Some(&(300, vec![30])));
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test]
async fn r_x3_retries_scheduled_during_an_advance_fire_in_the_same_advance() {
    let sched = open();
    let clock = ManualClock::new(Millis(0));
    schedule(&sched, &[(7, 100), (8, 120)]).await;
    let (log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![7]);
    // 7 fires at 100, is retried at 150 (<= 200), fires again at 150.
    assert_eq!(clock.advance_to(Millis(200)).await.expect("advances"), 3);
    assert_eq!(
        *log.lock(),
        vec![(100, vec![7]), (120, vec![8]), (150, vec![7])]
    );
    assert_eq!(sched.pending_count(), 0);
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test]
async fn r_x1_retry_beyond_the_target_waits_for_the_next_advance() {
    let sched = open();
    let clock = ManualClock::new(Millis(0));
    schedule(&sched, &[(7, 100)]).await;
    let (log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![7]);
    assert_eq!(clock.advance_to(Millis(120)).await.expect("advances"), 1);
    assert_eq!(sched.pending_count(), 1);
    assert_eq!(clock.advance_to(Millis(149)).await.expect("advances"), 0);
    assert_eq!(clock.advance_to(Millis(150)).await.expect("advances"), 1);
    assert_eq!(*log.lock(), vec![(100, vec![7]), (150, vec![7])]);
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test]
async fn r_x1_manual_clock_refuses_to_move_backwards() {
    let sched = open();
    let clock = ManualClock::new(Millis(500));
    let (_log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![]);
    assert!(matches!(
        clock.advance_to(Millis(499)).await,
        Err(Error::ClockBackwards { .. })
    ));
    assert_eq!(
        clock
            .advance_to(Millis(500))
            .await
            .expect("same instant is fine"),
        0
    );
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test]
async fn r_x1_downtime_overdue_timers_fire_late_at_current_now_oldest_first() {
    let sched = open();
    schedule(&sched, &[(3, 500), (1, 100), (2, 100)]).await;
    // The clock restarts later than the timers' dues: they are late.
    let clock = ManualClock::new(Millis(10_000));
    let (log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![]);
    // An advance of zero is served after the overdue timers were handled.
    assert_eq!(clock.advance_to(Millis(10_000)).await.expect("advances"), 0);
    assert_eq!(*log.lock(), vec![(10_000, vec![1, 2, 3])]);
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test]
async fn r_x1_timer_due_now_fires_without_an_advance() {
    let sched = open();
    let clock = ManualClock::new(Millis(1_000));
    let (log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![]);
    schedule(&sched, &[(5, 1_000)]).await;
    for _ in 0..100 {
        if !log.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*log.lock(), vec![(1_000, vec![5])]);
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test]
async fn a_new_driver_serves_advances_after_the_previous_one_stopped() {
    let sched = open();
    let clock = ManualClock::new(Millis(0));
    let (_log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![]);
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
    // The queue went back to the clock: a new driver can attach.
    let (_log, stop, task) = start(&sched, Arc::new(clock.clone()), vec![]);
    assert_eq!(
        clock
            .advance_by(10)
            .await
            .expect("served by the new driver"),
        0
    );
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_x1_system_clock_fires_on_time_and_never_early() {
    let sched = open();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (log, stop, task) = start(&sched, clock.clone(), vec![]);
    // A far timer first, so the driver sleeps long; the near one must wake it.
    let now = clock.now().0;
    schedule(&sched, &[(1, now + 60_000)]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let due = clock.now().0 + 80;
    schedule(&sched, &[(2, due)]).await;
    for _ in 0..100 {
        if !log.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let fired = log.lock().clone();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (at, ids) = &fired[0];
    assert_eq!(ids, &vec![2]);
    assert!(*at >= due, "early by {} ms", due - at);
    assert!(*at - due < 200, "late by {} ms", at - due);
    let _ = stop.send(());
    task.await.expect("joins").expect("driver ok");
}
