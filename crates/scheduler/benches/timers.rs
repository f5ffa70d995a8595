//! Timer benchmarks (harness = false): prints figures, `cargo bench -p
//! triggerd-scheduler`. Sizes: `TIMERS_BENCH_N` (default 1,000,000).
//! `TIMERS_BENCH_10M=1` adds the 10,000,000-pending phase (RSS and restart
//! to first fire, each in a fresh process), which takes several minutes.
//! `TIMERS_BENCH_ONLY=ours|steady|fire|schedule|cancel` runs one part, the
//! last three for profiling (`fire`: only the overlapped fire + complete;
//! `schedule`: only scheduling without flushes; `cancel`: only batched
//! cancels, of every tenth timer).
//!
//! Every phase uses a sled database with a 64 MiB page cache, random u128
//! ids, 32-byte payloads and dues spread over the next 24 hours unless said
//! otherwise; the scheduler runs as in the daemon (sled's flusher thread
//! off, each flush also `fdatasync`s sled's log file). The baseline stores
//! the same records with raw sled, one key per timer (`due ‖ id` →
//! payload), in batches of 1,000 with a `Db::flush` each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use triggerd_scheduler::{
    Clock, Config, Durability, Fired, Millis, Scheduler, SystemClock, Timer, TimerId, run,
};

const BATCH: usize = 1_000;
const DAY_MS: i64 = 86_400_000;

fn sled_config(path: &std::path::Path) -> sled::Config {
    sled::Config::new().path(path).cache_capacity(64 << 20)
}

fn open_db(path: &std::path::Path) -> sled::Db {
    triggerd_scheduler::open_db(&sled_config(path), Duration::from_secs(30)).expect("sled opens")
}

/// A scheduler set up as the daemon's: sled's flusher thread off, every
/// flush through a group commit that also `fdatasync`s sled's log file.
fn open_scheduler(path: &std::path::Path) -> Scheduler {
    timed_open_scheduler(path).0
}

/// [`open_scheduler`], also returning how long sled's own open took.
fn timed_open_scheduler(path: &std::path::Path) -> (Scheduler, Duration) {
    let config = sled_config(path).flush_every_ms(None);
    let t = Instant::now();
    let db = triggerd_scheduler::open_db(&config, Duration::from_secs(30)).expect("sled opens");
    let db_open = t.elapsed();
    let commit = triggerd_scheduler::GroupCommit::syncing(db.clone(), &config).expect("log file");
    let sched = Scheduler::open_with_commit(db, Config::default(), commit).expect("open");
    (sched, db_open)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Files sled wrote as separate blobs (values or pages over a quarter of its
/// 512 KiB segment): each costs a file create, and later an unlink.
fn blob_files(db_path: &std::path::Path) -> usize {
    std::fs::read_dir(db_path.join("blobs")).map_or(0, Iterator::count)
}

fn timers(rng: &mut StdRng, n: usize, from: i64, spread: i64) -> Vec<Timer> {
    (0..n)
        .map(|_| {
            let id: TimerId = rng.r#gen();
            Timer::new(id, Millis(from + rng.gen_range(0..spread)), vec![7u8; 32])
        })
        .collect()
}

fn rate(n: usize, d: Duration) -> String {
    format!(
        "{:>9.0}/s ({n} in {:.2} s)",
        n as f64 / d.as_secs_f64(),
        d.as_secs_f64()
    )
}

fn raw_sled(all: &[Timer]) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = open_db(dir.path());
    let tree = db.open_tree("raw").expect("tree");
    let t = Instant::now();
    for chunk in all.chunks(BATCH) {
        let mut batch = sled::Batch::default();
        for timer in chunk {
            let mut key = ((timer.due.0 as u64) ^ (1 << 63)).to_be_bytes().to_vec();
            key.extend_from_slice(&timer.id.to_be_bytes());
            batch.insert(key, timer.payload.clone());
        }
        tree.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    }
    println!(
        "raw sled, one key per timer, insert + flush per 1,000 : {}",
        rate(all.len(), t.elapsed())
    );
    let t = Instant::now();
    let mut n = 0;
    loop {
        let mut batch = sled::Batch::default();
        let mut k = 0;
        for item in tree.iter().take(BATCH) {
            let (key, _) = item.expect("scan");
            batch.remove(key);
            k += 1;
        }
        if k == 0 {
            break;
        }
        tree.apply_batch(batch).expect("delete");
        db.flush().expect("flush");
        n += k;
    }
    println!(
        "raw sled, scan + delete in due order + flush per 1,000  : {}",
        rate(n, t.elapsed())
    );
}

async fn schedule_all(sched: &Scheduler, all: &[Timer], durability: Durability) -> Duration {
    let t = Instant::now();
    for chunk in all.chunks(BATCH) {
        sched
            .schedule_batch(chunk.to_vec(), durability)
            .await
            .expect("schedule");
    }
    t.elapsed()
}

/// Producers scheduling at once in [`schedule_concurrently`].
const PRODUCERS: usize = 4;

/// Schedules `all` from `producers` tasks at once, each in batches of 1,000
/// with a flush, as concurrent ingest requests do: their flushes share
/// group commits.
async fn schedule_concurrently(sched: &Scheduler, all: &[Timer], producers: usize) -> Duration {
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for part in all.chunks(all.len().div_ceil(producers).max(1)) {
        let (sched, part) = (sched.clone(), part.to_vec());
        tasks.spawn(async move {
            for chunk in part.chunks(BATCH) {
                sched
                    .schedule_batch(chunk.to_vec(), Durability::Flush)
                    .await
                    .expect("schedule");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("joined");
    }
    t.elapsed()
}

async fn ours(n: usize) {
    let now = SystemClock.now().0;
    let mut rng = StdRng::seed_from_u64(7);
    let dir = tempfile::tempdir().expect("tmp");

    // Schedule.
    let all = timers(&mut rng, n, now + 60_000, DAY_MS);
    let sched = open_scheduler(&dir.path().join("a-async"));
    let d = schedule_all(&sched, &all, Durability::Async).await;
    println!(
        "ours: schedule, batches of 1,000, no flush            : {}",
        rate(n, d)
    );
    drop(sched);
    let sched = open_scheduler(&dir.path().join("a-conc"));
    let d = schedule_concurrently(&sched, &all, PRODUCERS).await;
    println!(
        "ours: schedule, {PRODUCERS} producers, batches of 1,000 + flush : {}",
        rate(n, d)
    );
    drop(sched);
    let sched = open_scheduler(&dir.path().join("a"));
    let d = schedule_all(&sched, &all, Durability::Flush).await;
    println!(
        "ours: schedule, batches of 1,000 + flush              : {}",
        rate(n, d)
    );
    let stats = sched.stats();
    println!(
        "      index runs {}, filter memory {:.1} MB, RSS {:.0} MB, sled blob files {}",
        stats.index_runs,
        stats.index_filter_bytes as f64 / 1e6,
        rss_mb(),
        blob_files(&dir.path().join("a"))
    );

    // Cancel 100,000 of them (batches of 1,000 + flush), then single calls,
    // once the merges the schedule phase made due are done (their time is
    // printed: it belongs to scheduling, not to cancelling).
    let tail = settle_compaction(&sched).await;
    println!(
        "      merges went on for {:.1} s after the last schedule",
        tail.as_secs_f64()
    );
    let victims: Vec<TimerId> = all
        .iter()
        .step_by((n / 100_000).max(1))
        .map(|t| t.id)
        .collect();
    let (batched, single) = victims.split_at(victims.len() - victims.len() / 10);
    let t = Instant::now();
    let mut cancelled = 0;
    for chunk in batched.chunks(BATCH) {
        cancelled += sched
            .cancel_batch(chunk, Durability::Flush)
            .await
            .expect("cancel");
    }
    println!(
        "ours: cancel, batches of 1,000 + flush                : {}",
        rate(cancelled, t.elapsed())
    );
    let t = Instant::now();
    for id in single {
        sched.cancel(*id, Durability::Async).await.expect("cancel");
    }
    println!(
        "ours: cancel, one call each, no flush                 : {}",
        rate(single.len(), t.elapsed())
    );
    drop(sched);

    // Fire + complete with n overdue, after a restart.
    let past = timers(&mut rng, n, now - 3_600_000, 3_600_000);
    let path = dir.path().join("b");
    {
        let sched = open_scheduler(&path);
        schedule_all(&sched, &past, Durability::Async).await;
        sched.group_commit().flush().await.expect("flush");
    }
    let t = Instant::now();
    let (sched, db_open) = timed_open_scheduler(&path);
    let opened = t.elapsed();
    let first = sched.pop_due(Millis(now), BATCH).expect("pop");
    let to_first = t.elapsed();
    let t = Instant::now();
    let mut fired = first.len();
    let mut last_due = Millis::MIN;
    let mut batch = first;
    while !batch.is_empty() {
        let ids: Vec<TimerId> = batch.iter().map(|f| f.id).collect();
        assert!(batch.iter().all(|f| f.due >= last_due && f.due.0 <= now));
        last_due = batch.last().map_or(last_due, |f| f.due);
        sched
            .complete(&ids, Durability::Flush)
            .await
            .expect("complete");
        batch = sched.pop_due(Millis(now), BATCH).expect("pop");
        fired += batch.len();
    }
    assert_eq!(fired, n);
    println!(
        "ours: restart to first fire, {n} overdue             : {:.1} ms (sled open {:.1} ms, index load {:.1} ms)",
        to_first.as_secs_f64() * 1e3,
        db_open.as_secs_f64() * 1e3,
        (opened - db_open).as_secs_f64() * 1e3
    );
    println!(
        "ours: fire + complete (batches of 1,000 + flush)      : {}",
        rate(fired, t.elapsed())
    );
    println!(
        "      RSS {:.0} MB, resident timers now {}",
        rss_mb(),
        sched.stats().resident
    );
    drop(sched);
    fire_overlapped(
        &dir.path().join("c"),
        &timers(&mut rng, n, now - 3_600_000, 3_600_000),
        now,
    )
    .await;
}

/// Fire + complete as a dispatcher does it: each batch's completion (and
/// its flush) runs while the next batch is popped, at most
/// `IN_FLIGHT` batches at a time; concurrent completions share flushes.
async fn fire_overlapped(path: &std::path::Path, past: &[Timer], now: i64) {
    const IN_FLIGHT: usize = 4;
    let sched = open_scheduler(path);
    schedule_all(&sched, past, Durability::Async).await;
    sched.group_commit().flush().await.expect("flush");
    let t = Instant::now();
    let mut completing = tokio::task::JoinSet::new();
    let mut fired = 0;
    loop {
        let batch = sched.pop_due(Millis(now), BATCH).expect("pop");
        if batch.is_empty() {
            break;
        }
        fired += batch.len();
        let ids: Vec<TimerId> = batch.iter().map(|f| f.id).collect();
        let sched = sched.clone();
        completing.spawn(async move {
            sched
                .complete(&ids, Durability::Flush)
                .await
                .expect("complete")
        });
        while completing.len() >= IN_FLIGHT {
            completing.join_next().await.map(|r| r.expect("joined"));
        }
    }
    while let Some(r) = completing.join_next().await {
        r.expect("joined");
    }
    assert_eq!(fired, past.len());
    assert_eq!(sched.pending_count(), 0);
    println!(
        "ours: fire + complete, completing while popping (≤ {IN_FLIGHT} batches) : {}",
        rate(fired, t.elapsed())
    );
}

async fn steady(per_sec: usize, secs: u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let sched = open_scheduler(dir.path());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let late: Arc<Mutex<Vec<i64>>> = Arc::default();
    let handler = {
        let (sched, clock, late) = (sched.clone(), clock.clone(), late.clone());
        move |fired: Vec<Fired>| {
            let (sched, clock, late) = (sched.clone(), clock.clone(), late.clone());
            async move {
                let now = clock.now().0;
                late.lock().extend(fired.iter().map(|f| now - f.due.0));
                let ids: Vec<TimerId> = fired.iter().map(|f| f.id).collect();
                // Complete off the firing loop, as a dispatcher would.
                tokio::spawn(async move {
                    sched
                        .complete(&ids, Durability::Flush)
                        .await
                        .expect("complete");
                });
            }
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let driver = tokio::spawn(run(sched.clone(), clock.clone(), handler, async {
        let _ = stopped.await;
    }));
    let mut rng = StdRng::seed_from_u64(9);
    let tick = Duration::from_millis(10);
    let per_tick = per_sec / 100;
    let start = Instant::now();
    let mut next = tokio::time::Instant::now();
    let mut scheduled = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        let now = clock.now().0;
        let batch = timers(&mut rng, per_tick, now + 50, 950);
        scheduled += batch.len();
        sched
            .schedule_batch(batch, Durability::Flush)
            .await
            .expect("schedule");
        next += tick;
        tokio::time::sleep_until(next).await;
    }
    while sched.pending_count() > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    driver.await.expect("join").expect("driver");
    let mut l = late.lock().clone();
    l.sort_unstable();
    let pct = |p: f64| l[((l.len() - 1) as f64 * p) as usize];
    println!(
        "ours: steady {per_sec}/s for {secs} s on the system clock   : {} fired of {scheduled}; lateness p50 {} ms, p99 {} ms, max {} ms; early {}",
        l.len(),
        pct(0.5),
        pct(0.99),
        l.last().copied().unwrap_or(0),
        l.iter().filter(|x| **x < 0).count()
    );
}

/// Waits until the index's run count has not changed for a second (the
/// compactor is idle), at most 60 s; returns how long merges went on.
async fn settle_compaction(sched: &Scheduler) -> Duration {
    let t = Instant::now();
    let mut last = sched.stats().index_runs;
    let mut last_change = Duration::ZERO;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sched.stats().index_runs;
        if now != last {
            last = now;
            last_change = t.elapsed();
        } else if t.elapsed() - last_change >= Duration::from_secs(1) {
            break;
        }
    }
    last_change
}

/// The two-worker runtime every phase runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt")
}

fn ten_million_phase(phase: &str, dir: &std::path::Path) {
    let rt = runtime();
    rt.block_on(async {
        let now = SystemClock.now().0;
        match phase {
            "fill" => {
                let sched = open_scheduler(dir);
                let mut rng = StdRng::seed_from_u64(11);
                let t = Instant::now();
                // 1,000 overdue timers, then 10M spread over the next 7 days.
                schedule_all(&sched, &timers(&mut rng, 1_000, now - 60_000, 60_000), Durability::Flush).await;
                for i in 0..100 {
                    let part = timers(&mut rng, 100_000, now + 60_000, 7 * DAY_MS);
                    schedule_all(&sched, &part, Durability::Flush).await;
                    if i % 10 == 9 {
                        let st = sched.stats();
                        println!(
                            "10M: {} pending after {:.0} s; RSS {:.0} MB; index runs {}, filters {:.1} MB",
                            st.pending,
                            t.elapsed().as_secs_f64(),
                            rss_mb(),
                            st.index_runs,
                            st.index_filter_bytes as f64 / 1e6
                        );
                    }
                }
                println!(
                    "10M: scheduled {} in {:.0} s; RSS while filling {:.0} MB",
                    sched.pending_count(),
                    t.elapsed().as_secs_f64(),
                    rss_mb()
                );
            }
            _ => {
                let t = Instant::now();
                let (sched, db_open) = timed_open_scheduler(dir);
                let opened = t.elapsed();
                let first = sched.pop_due(Millis(now), 1).expect("pop");
                let to_first = t.elapsed();
                assert_eq!(first.len(), 1);
                // sled 0.34 writes its page-table snapshot only when it
                // opens, so the first open after the fill replays every log
                // segment the fill wrote; the second shows a restart after
                // a recent one.
                let which = if phase == "restart-again" { "second restart" } else { "restart" };
                println!(
                    "10M: {which} to first fire {:.0} ms (sled open {:.0} ms, index load {:.0} ms); pending {}; RSS after {:.0} MB (sled cache 64 MiB; filters {:.1} MB)",
                    to_first.as_secs_f64() * 1e3,
                    db_open.as_secs_f64() * 1e3,
                    (opened - db_open).as_secs_f64() * 1e3,
                    sched.pending_count(),
                    rss_mb(),
                    sched.stats().index_filter_bytes as f64 / 1e6
                );
                let t = Instant::now();
                let mut n = 0;
                while t.elapsed() < Duration::from_secs(5) {
                    n += sched.pop_due(Millis(now + DAY_MS / 24), 1_000).expect("pop").len();
                }
                println!("10M: then fired {n} in 5 s; RSS {:.0} MB; resident {}", rss_mb(), sched.stats().resident);
            }
        }
    });
}

fn main() {
    if let (Ok(phase), Ok(dir)) = (
        std::env::var("TIMERS_BENCH_PHASE"),
        std::env::var("TIMERS_BENCH_DIR"),
    ) {
        ten_million_phase(&phase, std::path::Path::new(&dir));
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / test harness probing
    }
    let n: usize = std::env::var("TIMERS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "triggerd-scheduler timers bench: n = {n}, {} cores",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    let mut rng = StdRng::seed_from_u64(3);
    let now = SystemClock.now().0;
    let only = std::env::var("TIMERS_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() {
        raw_sled(&timers(&mut rng, n, now, DAY_MS));
    }
    let rt = runtime();
    rt.block_on(async {
        if only.is_empty() || only == "ours" {
            ours(n).await;
        }
        if only == "schedule" {
            let dir = tempfile::tempdir().expect("tmp");
            let now = SystemClock.now().0;
            let all = timers(&mut rng, n, now + 60_000, DAY_MS);
            let sched = open_scheduler(dir.path());
            let d = schedule_all(&sched, &all, Durability::Async).await;
            println!(
                "ours: schedule, batches of 1,000, no flush            : {}",
                rate(n, d)
            );
        }
        if only == "cancel" {
            let dir = tempfile::tempdir().expect("tmp");
            let now = SystemClock.now().0;
            let all = timers(&mut rng, n, now + 60_000, DAY_MS);
            let sched = open_scheduler(dir.path());
            schedule_all(&sched, &all, Durability::Async).await;
            // Measure the cancels alone, not the merges the fill left due.
            settle_compaction(&sched).await;
            let victims: Vec<TimerId> = all.iter().step_by(10).map(|t| t.id).collect();
            let t = Instant::now();
            for chunk in victims.chunks(BATCH) {
                sched
                    .cancel_batch(chunk, Durability::Flush)
                    .await
                    .expect("cancel");
            }
            println!(
                "ours: cancel, batches of 1,000 + flush                : {}",
                rate(victims.len(), t.elapsed())
            );
        }
        if only == "fire" {
            let dir = tempfile::tempdir().expect("tmp");
            let now = SystemClock.now().0;
            let past = timers(&mut rng, n, now - 3_600_000, 3_600_000);
            fire_overlapped(dir.path(), &past, now).await;
        }
        if only.is_empty() || only == "steady" {
            steady(10_000, 5).await;
        }
    });
    if std::env::var("TIMERS_BENCH_10M").is_ok() {
        let dir = tempfile::tempdir().expect("tmp");
        let exe = std::env::current_exe().expect("exe");
        for phase in ["fill", "restart", "restart-again"] {
            let status = std::process::Command::new(&exe)
                .env("TIMERS_BENCH_PHASE", phase)
                .env("TIMERS_BENCH_DIR", dir.path())
                .status()
                .expect("phase runs");
            assert!(status.success(), "10M phase {phase} failed");
        }
    }
}
