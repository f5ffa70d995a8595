//! Model-based test: random schedule / cancel / pop / complete / restart
//! operations against a `BTreeMap` model of what must be pending.
//!
//! Checks (issue 3 §5): firing hands out exactly the model's earliest due,
//! not-in-flight timers in `(due, id)` order and never before their due;
//! idempotent scheduling; cancel and complete; `get` and `pending_count`;
//! after a restart (same `Db`) or a reopen (sled closed and reopened from
//! disk) nothing acknowledged is lost and in-flight timers fire again.
//! The configuration is tiny so that paging, the memory budget, forced loads
//! and index compaction all happen within a few operations.

use std::collections::BTreeMap;

use proptest::prelude::*;
use triggerd_scheduler::{
    Config, Durability, Millis, Scheduled, Scheduler, Timer, TimerId, TimerState,
};

#[derive(Clone, Debug)]
enum Op {
    Schedule(Vec<(u8, i64, u8)>),
    Cancel(Vec<u8>),
    Pop { advance: i64, max: usize },
    CompleteInFlight { take: usize, extra: u8 },
    Get(u8),
    Restart,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => proptest::collection::vec((0u8..24, 0i64..1_500, any::<u8>()), 1..8).prop_map(Op::Schedule),
        1 => proptest::collection::vec(0u8..24, 1..4).prop_map(Op::Cancel),
        4 => (0i64..120, 1usize..6).prop_map(|(advance, max)| Op::Pop { advance, max }),
        2 => (0usize..5, 0u8..24).prop_map(|(take, extra)| Op::CompleteInFlight { take, extra }),
        1 => (0u8..24).prop_map(Op::Get),
        1 => Just(Op::Restart),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct ModelTimer {
    due: i64,
    payload: Vec<u8>,
    in_flight: bool,
}

fn config() -> Config {
    Config {
        memory_budget: 6,
        lookahead_ms: 15,
        min_group_span_ms: 5,
        max_group_span_ms: 60,
        max_group_timers: 3,
        max_group_bytes: 1 << 20,
        fire_batch: 10,
        compaction: true,
    }
}

fn id(x: u8) -> TimerId {
    // Spread ids over the u128 range so index chunks see varied keys.
    (x as u128) << 100 | x as u128
}

fn run_ops(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    // sled releases its file lock when its last background task for the
    // closed instance ends, which can trail the drop by a moment: open_db
    // waits for it.
    let open_db = || {
        triggerd_scheduler::open_db(
            &sled::Config::new().path(dir.path()),
            std::time::Duration::from_secs(30),
        )
        .expect("sled opens")
    };
    let mut db = open_db();
    let mut sched = Some(Scheduler::open(db.clone(), config()).expect("opens"));
    let mut model: BTreeMap<TimerId, ModelTimer> = BTreeMap::new();
    let mut now: i64 = 0;

    for op in ops {
        let t0 = std::time::Instant::now();
        let dbg = format!("{op:?}");
        let s = sched.as_ref().expect("open");
        match op {
            Op::Schedule(items) => {
                let timers: Vec<Timer> = items
                    .iter()
                    .map(|(i, due, p)| Timer::new(id(*i), Millis(*due), vec![*p]))
                    .collect();
                let got = rt
                    .block_on(s.schedule_batch(timers.clone(), Durability::Async))
                    .expect("schedules");
                let mut want = Vec::new();
                for t in timers {
                    let outcome = match model.get(&t.id) {
                        Some(m) if m.due == t.due.0 => Scheduled::Unchanged,
                        Some(_) => Scheduled::Rescheduled,
                        None => Scheduled::Created,
                    };
                    if outcome != Scheduled::Unchanged {
                        model.insert(
                            t.id,
                            ModelTimer {
                                due: t.due.0,
                                payload: t.payload,
                                in_flight: false,
                            },
                        );
                    }
                    want.push(outcome);
                }
                prop_assert_eq!(got, want);
            }
            Op::Cancel(ids) => {
                let ids: Vec<TimerId> = ids.into_iter().map(id).collect();
                let got = rt
                    .block_on(s.cancel_batch(&ids, Durability::Async))
                    .expect("cancels");
                let mut unique = ids.clone();
                unique.sort();
                unique.dedup();
                let want = unique.iter().filter(|i| model.remove(i).is_some()).count();
                prop_assert_eq!(got, want);
            }
            Op::Pop { advance, max } => {
                now += advance;
                let got: Vec<(TimerId, i64, Vec<u8>)> = s
                    .pop_due(Millis(now), max)
                    .expect("pops")
                    .into_iter()
                    .map(|f| (f.id, f.due.0, f.payload))
                    .collect();
                let mut waiting: Vec<(i64, TimerId)> = model
                    .iter()
                    .filter(|(_, m)| !m.in_flight && m.due <= now)
                    .map(|(i, m)| (m.due, *i))
                    .collect();
                waiting.sort();
                let want: Vec<(TimerId, i64, Vec<u8>)> = waiting
                    .into_iter()
                    .take(max)
                    .map(|(due, i)| (i, due, model[&i].payload.clone()))
                    .collect();
                for (i, _, _) in &want {
                    if let Some(m) = model.get_mut(i) {
                        m.in_flight = true;
                    }
                }
                prop_assert_eq!(got, want, "pop at {}", now);
            }
            Op::CompleteInFlight { take, extra } => {
                let mut ids: Vec<TimerId> = model
                    .iter()
                    .filter(|(_, m)| m.in_flight)
                    .map(|(i, _)| *i)
                    .take(take)
                    .collect();
                ids.push(id(extra));
                let got = rt
                    .block_on(s.complete(&ids, Durability::Async))
                    .expect("completes");
                ids.sort();
                ids.dedup();
                let want = ids
                    .iter()
                    .filter(|i| model.get(i).is_some_and(|m| m.in_flight))
                    .count();
                model.retain(|i, m| !(m.in_flight && ids.contains(i)));
                prop_assert_eq!(got, want);
            }
            Op::Get(x) => {
                let got = s.get(id(x)).expect("gets").map(|p| {
                    (
                        p.timer.due.0,
                        p.timer.payload,
                        p.state == TimerState::InFlight,
                    )
                });
                let want = model
                    .get(&id(x))
                    .map(|m| (m.due, m.payload.clone(), m.in_flight));
                prop_assert_eq!(got, want);
            }
            Op::Restart => {
                drop(sched.take());
                sched = Some(Scheduler::open(db.clone(), config()).expect("reopens"));
                for m in model.values_mut() {
                    m.in_flight = false;
                }
            }
            Op::Reopen => {
                db.flush().expect("flush");
                drop(sched.take());
                drop(db);
                db = open_db();
                sched = Some(Scheduler::open(db.clone(), config()).expect("reopens"));
                for m in model.values_mut() {
                    m.in_flight = false;
                }
            }
        }
        if std::env::var("MODEL_TRACE").is_ok() {
            eprintln!("{:?} {}", t0.elapsed(), &dbg[..dbg.len().min(40)]);
        }
        let s = sched.as_ref().expect("open");
        prop_assert_eq!(s.pending_count(), model.len() as u64);
        if let Some(min) = model.values().filter(|m| !m.in_flight).map(|m| m.due).min() {
            let next = s.next_due();
            prop_assert!(
                next.is_some_and(|d| d.0 <= min),
                "next_due {:?} > model {}",
                next,
                min
            );
        }
    }
    // Drain: every pending timer fires exactly once more, in order.
    drop(sched.take());
    let s = Scheduler::open(db.clone(), config()).expect("reopens");
    let mut fired = Vec::new();
    loop {
        let batch = s.pop_due(Millis::MAX, 7).expect("pops");
        if batch.is_empty() {
            break;
        }
        fired.extend(batch.into_iter().map(|f| (f.due.0, f.id)));
    }
    let mut want: Vec<(i64, TimerId)> = model.iter().map(|(i, m)| (m.due, *i)).collect();
    want.sort();
    prop_assert_eq!(fired, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn r_k2_scheduler_matches_btreemap_model_across_restarts(ops in proptest::collection::vec(op(), 1..70)) {
        run_ops(ops)?;
    }
}
