//! Crash test: a child process schedules, reschedules, cancels, fires and
//! completes timers on the system clock with `Durability::Flush`, logging
//! each call before it starts (`B`, `X`, `D`) and after it returned (`A`,
//! `x`, `d`), and every fired timer (`F`). The parent SIGKILLs it at random
//! moments (24 times) and after each kill opens the database itself and
//! checks (R-K1, R-K2, R-X1):
//! * nothing acknowledged is lost: every timer's state is one the log allows
//!   (an acknowledged write is in effect; an unacknowledged one may or may
//!   not be);
//! * nothing fires before its due;
//! * nothing fires after its completion or cancellation was acknowledged;
//! * `pending_count` agrees with the timers found;
//!
//! and at the end that a drain fires exactly the pending timers (in-flight
//! ones from before a crash fire again).
//!
//! The child is this test binary re-executed with `CRASH_CHILD_DIR` set,
//! running the ignored test `crash_child`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use triggerd_scheduler::{
    Clock, Config, Durability, Millis, Scheduler, SystemClock, Timer, TimerId,
};

const KILLS: u32 = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum St {
    Gone,
    Pending(i64),
}

fn config() -> Config {
    Config {
        memory_budget: 200,
        max_group_timers: 64,
        ..Config::default()
    }
}

/// The child's workload; runs until killed.
#[test]
#[ignore = "child process of crash_kill_loop"]
fn crash_child() {
    let Ok(dir) = std::env::var("CRASH_CHILD_DIR") else {
        return;
    };
    let run: u64 = std::env::var("CRASH_CHILD_RUN")
        .expect("run")
        .parse()
        .expect("number");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let dir = Path::new(&dir);
        let db = sled::Config::new().path(dir.join("db")).open().expect("db");
        let sched = Scheduler::open(db, config()).expect("opens");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .expect("log");
        let mut line = |s: String| {
            log.write_all(format!("{s}\n").as_bytes())
                .expect("log write");
        };
        let clock = SystemClock;
        let mut rng = rand::thread_rng();
        let mut mine: Vec<TimerId> = Vec::new();
        let mut counter: u64 = 0;
        loop {
            let now = clock.now().0;
            // Schedule a batch (a few reschedules of earlier ids among them).
            let mut batch = Vec::new();
            for _ in 0..rng.gen_range(1..40) {
                let id = if !mine.is_empty() && rng.gen_bool(0.1) {
                    mine[rng.gen_range(0..mine.len())]
                } else {
                    counter += 1;
                    ((run as u128) << 64) | counter as u128
                };
                let due = now + rng.gen_range(-200..1_500);
                batch.push(Timer::new(id, Millis(due), id.to_be_bytes().to_vec()));
            }
            let mut seen = BTreeSet::new();
            batch.retain(|t| seen.insert(t.id));
            for t in &batch {
                line(format!("B {} {}", t.id, t.due.0));
            }
            sched
                .schedule_batch(batch.clone(), Durability::Flush)
                .await
                .expect("schedule");
            for t in &batch {
                line(format!("A {} {}", t.id, t.due.0));
                mine.push(t.id);
            }
            // Cancel one now and then.
            if rng.gen_bool(0.3) && !mine.is_empty() {
                let id = mine[rng.gen_range(0..mine.len())];
                line(format!("X {id}"));
                sched.cancel(id, Durability::Flush).await.expect("cancel");
                line(format!("x {id}"));
            }
            // Fire what is due and complete most of it.
            let now = clock.now();
            let fired = sched.pop_due(now, 200).expect("pop");
            let mut done = Vec::new();
            for f in &fired {
                assert!(f.due <= now, "fired before due");
                assert_eq!(f.payload, f.id.to_be_bytes().to_vec());
                line(format!("F {} {} {}", f.id, f.due.0, now.0));
                if rng.gen_bool(0.9) {
                    done.push(f.id);
                }
            }
            for id in &done {
                line(format!("D {id}"));
            }
            sched
                .complete(&done, Durability::Flush)
                .await
                .expect("complete");
            for id in &done {
                line(format!("d {id}"));
            }
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..5))).await;
        }
    });
}

/// Replays the log into the set of states each timer may be in.
fn replay(text: &str, possible: &mut BTreeMap<TimerId, BTreeSet<St>>) -> Result<(), String> {
    let gone = || BTreeSet::from([St::Gone]);
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let Some(id) = f.get(1).and_then(|x| x.parse::<TimerId>().ok()) else {
            continue; // a line cut by the kill
        };
        let num = |i: usize| f.get(i).and_then(|x| x.parse::<i64>().ok());
        let p = possible.entry(id).or_insert_with(gone);
        match (f[0], num(2), num(3)) {
            ("B", Some(due), _) => {
                p.insert(St::Pending(due));
            }
            ("A", Some(due), _) => *p = BTreeSet::from([St::Pending(due)]),
            ("X" | "D", _, _) => {
                p.insert(St::Gone);
            }
            ("x" | "d", _, _) if l.len() > 2 => *p = gone(),
            ("F", Some(due), Some(now)) => {
                if due > now {
                    return Err(format!("{id} fired at {now}, before its due {due}"));
                }
                if *p == gone() {
                    return Err(format!(
                        "{id} fired after its completion/cancel was acknowledged"
                    ));
                }
                if !p.contains(&St::Pending(due)) {
                    return Err(format!("{id} fired with due {due}, allowed {p:?}"));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn check(dir: &Path, possible: &mut BTreeMap<TimerId, BTreeSet<St>>) -> usize {
    let db = triggerd_scheduler::open_db(
        &sled::Config::new().path(dir.join("db")),
        std::time::Duration::from_secs(30),
    )
    .expect("db reopens");
    let sched = Scheduler::open(db, config()).expect("scheduler reopens");
    let mut pending = 0;
    for (id, allowed) in possible.iter_mut() {
        let actual = match sched.get(*id).expect("get") {
            Some(p) => {
                assert_eq!(p.timer.payload, id.to_be_bytes().to_vec());
                St::Pending(p.timer.due.0)
            }
            None => St::Gone,
        };
        assert!(
            allowed.contains(&actual),
            "timer {id} is {actual:?}, allowed {allowed:?}"
        );
        if actual != St::Gone {
            pending += 1;
        }
        *allowed = BTreeSet::from([actual]);
    }
    assert_eq!(sched.pending_count(), pending as u64, "pending_count");
    pending
}

#[test]
fn r_k2_crash_kill_loop_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut rng = rand::thread_rng();
    let mut possible: BTreeMap<TimerId, BTreeSet<St>> = BTreeMap::new();
    let mut consumed = 0usize;
    let started = Instant::now();
    for run in 0..KILLS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CRASH_CHILD_DIR", dir.path())
            .env("CRASH_CHILD_RUN", run.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("child starts");
        std::thread::sleep(Duration::from_millis(rng.gen_range(150..700)));
        assert!(
            child.try_wait().expect("wait").is_none(),
            "child died on its own"
        );
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        let text = std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
        // Only lines appended since the last check are new; a cut line at
        // the end of a run is skipped by `replay` and never completed.
        let cut = text[consumed..]
            .rfind('\n')
            .map_or(consumed, |i| consumed + i + 1);
        if let Err(e) = replay(&text[consumed..cut], &mut possible) {
            panic!("run {run}: {e}");
        }
        // Drop the cut tail so the next run starts on a fresh line.
        std::fs::write(dir.path().join("log"), &text[..cut]).expect("rewrite log");
        consumed = cut;
        check(dir.path(), &mut possible);
    }
    // Drain: everything still pending fires, once, in (due, id) order.
    let db = triggerd_scheduler::open_db(
        &sled::Config::new().path(dir.path().join("db")),
        std::time::Duration::from_secs(30),
    )
    .expect("db");
    let sched = Scheduler::open(db, config()).expect("opens");
    let mut fired = Vec::new();
    loop {
        let batch = sched.pop_due(Millis::MAX, 500).expect("pop");
        if batch.is_empty() {
            break;
        }
        fired.extend(batch.into_iter().map(|f| (f.due.0, f.id)));
    }
    let mut want: Vec<(i64, TimerId)> = possible
        .iter()
        .filter_map(|(id, s)| match s.first() {
            Some(St::Pending(due)) => Some((*due, *id)),
            _ => None,
        })
        .collect();
    want.sort();
    assert_eq!(fired, want);
    let completed = possible.values().filter(|s| s.contains(&St::Gone)).count();
    assert!(
        completed > 100,
        "the workload did too little: {completed} timers gone"
    );
    eprintln!(
        "{KILLS} kills, {} timers, {} pending at the end, {:?}",
        possible.len(),
        want.len(),
        started.elapsed()
    );
}
