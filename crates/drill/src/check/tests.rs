//! The checks against hand-built evidence: each invariant fires on the
//! failure it names and stays quiet on a clean run.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::*;
use crate::campaigns::{CANCEL_EVENT, DrillCampaign, Plan};
use crate::chaos::{KillKind, KillRecord};
use crate::ledger::{Ack, CancelRec, Ledger, TriggerRec, UserRec};
use crate::receiver::Arrival;

fn at(s: &str) -> DateTime<Utc> {
    clock::parse(s).expect("instant")
}

fn campaigns() -> Vec<DrillCampaign> {
    vec![DrillCampaign {
        id: "c2".into(),
        trigger: "drill_trigger_d2".into(),
        delay_s: 2,
        window: None,
    }]
}

/// One user, one acknowledged trigger at 10:00:00 due 10:00:02.
fn ledger() -> Ledger {
    let mut l = Ledger::default();
    l.triggers.push(TriggerRec {
        token: "k1".into(),
        user: "u1".into(),
        campaign: 0,
        t: at("2026-01-05T10:00:00Z"),
        sent_at: at("2026-01-05T10:00:00Z"),
        ack: Ack::Acked {
            at: at("2026-01-05T10:00:00.020Z"),
            attempts: 1,
        },
        plan: Plan::Due {
            due: at("2026-01-05T10:00:02Z"),
            rolled: false,
        },
        cancel: None,
    });
    let mut u = UserRec::default();
    u.events_acked.insert("drill_trigger_d2".into(), 1);
    l.users.insert("u1".into(), u);
    l
}

fn arrival(send: &str, when: &str, status: u16) -> Arrival {
    Arrival {
        seq: 0,
        at: at(when),
        send_id: Some(send.into()),
        idempotency_key: Some(send.into()),
        due: Some(at("2026-01-05T10:00:02Z")),
        attempt: Some(1),
        token: Some("k1".into()),
        user: Some("u1".into()),
        campaign: Some("c2".into()),
        status,
        retry_after: (status == 429).then_some(2),
    }
}

fn kill(when: &str) -> KillRecord {
    KillRecord {
        planned: KillKind::Sigkill,
        done: KillKind::Sigkill,
        at: at(when),
        dead_at: at(when) + Duration::milliseconds(5),
        send_id: None,
        downtime_ms: 0,
        recovery_ms: 100.0,
        exit_code: None,
        shutdown_ms: None,
        term_timed_out: false,
    }
}

/// Evidence of a clean delivery of k1 as send s1.
fn evidence(arrivals: Vec<Arrival>, sent: u64, cancelled: u64) -> Evidence {
    let mut ev = Evidence {
        arrivals,
        ..Evidence::default()
    };
    let mut outcomes = serde_json::Map::new();
    if sent > 0 {
        outcomes.insert("sent".into(), json!(sent));
    }
    if cancelled > 0 {
        outcomes.insert("cancelled_by_exception".into(), json!(cancelled));
    }
    ev.stats.insert(
        "c2".into(),
        json!({"scheduled": 1, "pending": 0, "outcomes": outcomes}),
    );
    ev.exports.insert(
        "u1".into(),
        json!({"external_id":"u1","custom_events":[{"name":"drill_trigger_d2","count":1}],"custom_attributes":{}}),
    );
    ev
}

fn run(l: &Ledger, ev: &Evidence) -> Findings {
    check_with(l, ev, &[], false)
}

/// Checks `ev` against the ledger, with explain checked for `sample` and
/// known daemon issues failing when `strict`.
fn check_with(l: &Ledger, ev: &Evidence, sample: &[String], strict: bool) -> Findings {
    let c = campaigns();
    Checker::new(
        l,
        &c,
        at("2026-01-05T10:05:00Z"),
        Duration::milliseconds(5),
        strict,
    )
    .check(ev, sample)
}

fn kinds(f: &Findings) -> Vec<&str> {
    f.violations.keys().map(String::as_str).collect()
}

#[test]
fn a_clean_delivery_passes() {
    let f = run(
        &ledger(),
        &evidence(vec![arrival("s1", "2026-01-05T10:00:02.003Z", 200)], 1, 0),
    );
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!((f.sends.expected, f.sends.delivered), (1, 1));
}

#[test]
fn r_k1_an_acknowledged_trigger_never_delivered_is_lost() {
    let f = run(&ledger(), &evidence(vec![], 0, 0));
    assert!(kinds(&f).contains(&"lost_send"), "{:?}", f.violations);
    assert_eq!(f.sends.lost, 1);
}

#[test]
fn r_x1_a_delivery_before_its_due_is_early() {
    let f = run(
        &ledger(),
        &evidence(vec![arrival("s1", "2026-01-05T10:00:01.990Z", 200)], 1, 0),
    );
    assert!(kinds(&f).contains(&"delivered_early"), "{:?}", f.violations);
    let ok = run(
        &ledger(),
        &evidence(vec![arrival("s1", "2026-01-05T10:00:01.997Z", 200)], 1, 0),
    );
    assert!(
        !kinds(&ok).contains(&"delivered_early"),
        "within the tolerance"
    );
}

#[test]
fn r_k3_a_repeat_of_one_send_id_is_allowed_only_across_a_crash() {
    let twice = vec![
        arrival("s1", "2026-01-05T10:00:02.010Z", 200),
        arrival("s1", "2026-01-05T10:00:03.000Z", 200),
    ];
    let f = run(&ledger(), &evidence(twice.clone(), 1, 0));
    assert!(
        kinds(&f).contains(&"duplicate_without_crash"),
        "{:?}",
        f.violations
    );
    let mut ev = evidence(twice, 1, 0);
    ev.kills.push(kill("2026-01-05T10:00:02.005Z"));
    let f = run(&ledger(), &ev);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.sends.duplicate_same_key, 1);
}

#[test]
fn r_k3_one_token_under_two_send_ids_is_never_allowed() {
    let mut ev = evidence(
        vec![
            arrival("s1", "2026-01-05T10:00:02.010Z", 200),
            arrival("s2", "2026-01-05T10:00:02.020Z", 200),
        ],
        2,
        0,
    );
    ev.kills.push(kill("2026-01-05T10:00:02.015Z"));
    let f = run(&ledger(), &ev);
    assert!(
        kinds(&f).contains(&"duplicate_other_key"),
        "{:?}",
        f.violations
    );
}

#[test]
fn r_e2_a_send_cancelled_before_its_due_must_not_arrive() {
    let mut l = ledger();
    l.triggers[0].cancel = Some(CancelRec {
        x: at("2026-01-05T10:00:01Z"),
        sent_at: at("2026-01-05T10:00:01Z"),
        ack: Ack::Acked {
            at: at("2026-01-05T10:00:01.010Z"),
            attempts: 1,
        },
    });
    l.users
        .get_mut("u1")
        .expect("user")
        .events_acked
        .insert(CANCEL_EVENT.into(), 1);
    let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 1, 0);
    ev.exports.insert(
        "u1".into(),
        json!({"custom_events":[{"name":"drill_trigger_d2","count":1},{"name":CANCEL_EVENT,"count":1}]}),
    );
    let f = run(&l, &ev);
    assert!(
        kinds(&f).contains(&"delivered_after_cancel"),
        "{:?}",
        f.violations
    );
    let mut quiet = evidence(vec![], 0, 1);
    quiet.exports = ev.exports.clone();
    let f = run(&l, &quiet);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.sends.cancel_expected, 1);
}

#[test]
fn r_x3_an_attempt_before_retry_after_is_reported() {
    let early_retry = vec![
        arrival("s1", "2026-01-05T10:00:02.010Z", 429),
        arrival("s1", "2026-01-05T10:00:03.000Z", 200),
    ];
    let f = run(&ledger(), &evidence(early_retry, 1, 0));
    assert!(
        kinds(&f).contains(&"retry_after_ignored"),
        "{:?}",
        f.violations
    );
    let patient = vec![
        arrival("s1", "2026-01-05T10:00:02.010Z", 429),
        arrival("s1", "2026-01-05T10:00:04.020Z", 200),
    ];
    let f = run(&ledger(), &evidence(patient, 1, 0));
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.sends.retry_after_checked, 1);
}

#[test]
fn r_k1_an_acknowledged_event_missing_from_the_profile_is_lost() {
    let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 1, 0);
    ev.exports.insert(
        "u1".into(),
        json!({"custom_events":[], "custom_attributes":{}}),
    );
    ev.stats.insert(
        "c2".into(),
        json!({"scheduled": 0, "pending": 0, "outcomes": {"sent": 1}}),
    );
    let f = run(&ledger(), &ev);
    assert_eq!(f.violations["lost_event"].count, 2, "{:?}", f.violations);
}

#[test]
fn r_k1_requests_without_a_ledger_entry_are_phantoms() {
    let mut a = arrival("s9", "2026-01-05T10:00:02.010Z", 200);
    a.token = Some("nobody-sent-this".into());
    let f = run(
        &ledger(),
        &evidence(
            vec![a, arrival("s1", "2026-01-05T10:00:02.010Z", 200)],
            1,
            0,
        ),
    );
    assert!(
        kinds(&f).contains(&"phantom_delivery"),
        "{:?}",
        f.violations
    );
}

#[test]
fn r_r2_a_backdated_refusal_is_counted_apart_unless_strict() {
    let explain = json!({"verdict":"not_sent","timeline":[{
        "at":"2026-01-05T10:00:00Z","outcome":"not_reeligible_yet",
        "detail":"last receipt at 2026-01-05T10:00:00.100Z; re-eligible 0s later, at 2026-01-05T10:00:00.100Z"}]});
    let mut ev = evidence(vec![], 0, 0);
    ev.stats.insert(
        "c2".into(),
        json!({"scheduled": 0, "pending": 0, "outcomes": {"not_reeligible_yet": 1}}),
    );
    ev.explains.insert(("c2".into(), "u1".into()), explain);
    let f = run(&ledger(), &ev);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.sends.reeligibility_backdated, 1);
    let strict = check_with(&ledger(), &ev, &[], true);
    assert!(kinds(&strict).contains(&"reeligibility_backdated"));
}

#[test]
fn r_k1_a_retried_increment_applied_twice_is_a_known_issue_unless_strict() {
    let mut l = ledger();
    let u = l.users.get_mut("u1").expect("user");
    u.visits_acked = 2;
    u.visits_retried = 1;
    let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 1, 0);
    ev.exports.insert(
        "u1".into(),
        json!({"custom_events":[{"name":"drill_trigger_d2","count":1}],"custom_attributes":{"drill_visits":3}}),
    );
    let f = run(&l, &ev);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.known_issues["retried_request_applied_twice"].count, 1);
    // Without a retry there is no excuse.
    l.users.get_mut("u1").expect("user").visits_retried = 0;
    let f = run(&l, &ev);
    assert!(
        kinds(&f).contains(&"attribute_applied_twice"),
        "{:?}",
        f.violations
    );
}

#[test]
fn r_w3_sends_rolled_to_one_opening_are_told_apart_by_event_time() {
    let x = json!({"timeline":[
        {"at":"2026-01-05T10:00:00Z","outcome":"rolled_to_next_window","send_id":"a","due":"2026-01-06T09:00:00Z"},
        {"at":"2026-01-05T10:00:01Z","outcome":"rolled_to_next_window","send_id":"b","due":"2026-01-06T09:00:00Z"},
        {"at":"2026-01-05T10:00:02Z","outcome":"scheduled","send_id":"c","due":"2026-01-05T10:00:07Z"}]});
    let rolled = at("2026-01-06T09:00:00Z");
    assert_eq!(
        send_for_trigger(&x, at("2026-01-05T10:00:01Z"), rolled).as_deref(),
        Some("b")
    );
    assert_eq!(
        send_for_trigger(&x, at("2026-01-05T11:00:00Z"), rolled),
        None,
        "a shared due alone names no send"
    );
    assert_eq!(
        send_for_trigger(&x, at("2026-01-05T11:00:00Z"), at("2026-01-05T10:00:07Z")).as_deref(),
        Some("c")
    );
}

#[test]
fn r_k1_a_retried_trigger_applied_twice_widens_the_stats_only_as_a_known_issue() {
    let mut l = ledger();
    l.triggers[0].ack = Ack::Acked {
        at: at("2026-01-05T10:00:01Z"),
        attempts: 2,
    };
    l.users
        .get_mut("u1")
        .expect("user")
        .events_retried
        .insert("drill_trigger_d2".into(), 1);
    let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 1, 1);
    ev.exports.insert(
        "u1".into(),
        json!({"custom_events":[{"name":"drill_trigger_d2","count":2}],"custom_attributes":{}}),
    );
    ev.stats.insert(
        "c2".into(),
        json!({"scheduled": 2, "pending": 0, "outcomes": {"sent": 1, "cancelled_by_exception": 1}}),
    );
    let f = run(&l, &ev);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.known_issues["retried_request_applied_twice"].count, 1);
    let f = check_with(&l, &ev, &[], true);
    assert!(kinds(&f).contains(&"retried_request_applied_twice"));
}

#[test]
fn r_k3_a_delivery_cut_off_by_a_kill_may_be_rolled_in_explain() {
    // The receiver accepted s1 just before a SIGKILL; after the restart the
    // daemon, not knowing, re-checked the late send against its window and
    // rolled it (R-X1): explain says so, and that is no disagreement. The
    // same timeline without the kill is one.
    let rolled = vec![
        json!({"at":"2026-01-05T10:00:00Z","outcome":"scheduled","send_id":"s1","due":"2026-01-05T10:00:02Z"}),
        json!({"at":"2026-01-05T10:00:03Z","outcome":"rolled_to_next_window","send_id":"s1","due":"2026-01-06T10:00:00Z"}),
    ];
    let sample = vec!["u1".to_string()];
    let l = ledger();
    let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 1, 0);
    ev.explains.insert(
        ("c2".into(), "u1".into()),
        json!({"verdict":"pending","timeline": rolled}),
    );
    let without_kill = check_with(&l, &ev, &sample, false);
    assert!(
        without_kill
            .violations
            .get("explain_disagrees")
            .is_some_and(|v| v
                .examples
                .iter()
                .any(|e| e.contains("rolled_to_next_window"))),
        "{:?}",
        without_kill.violations
    );
    ev.kills.push(kill("2026-01-05T10:00:02.015Z"));
    let with_kill = check_with(&l, &ev, &sample, false);
    assert!(
        !with_kill
            .violations
            .get("explain_disagrees")
            .is_some_and(|v| v
                .examples
                .iter()
                .any(|e| e.contains("rolled_to_next_window"))),
        "{:?}",
        with_kill.violations
    );
    assert_eq!(with_kill.sends.explain_race_disagreements, 1);
}

#[test]
fn r_k3_a_delivery_cut_off_by_a_kill_may_still_count_as_pending() {
    // s1 reached the receiver just before a SIGKILL; the daemon, not
    // knowing, still counts it pending (rolled, to repeat with its key).
    let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 0, 0);
    ev.stats.insert(
        "c2".into(),
        json!({"scheduled": 1, "pending": 1, "outcomes": {"rolled_to_next_window": 1}}),
    );
    // Without the kill the count is off; the checker is strict here.
    let strict = |ev: &Evidence| check_with(&ledger(), ev, &[], true);
    assert!(kinds(&strict(&ev)).contains(&"stats_pending_mismatch"));
    ev.kills.push(kill("2026-01-05T10:00:02.015Z"));
    assert!(!kinds(&strict(&ev)).contains(&"stats_pending_mismatch"));
}

#[test]
fn r_y1_explain_must_hold_every_plan_unless_at_the_journal_cap() {
    let ev_with = |timeline: Vec<serde_json::Value>| {
        let mut ev = evidence(vec![arrival("s1", "2026-01-05T10:00:02.010Z", 200)], 1, 0);
        ev.explains.insert(
            ("c2".into(), "u1".into()),
            json!({"verdict":"sent","timeline": timeline}),
        );
        ev
    };
    let sample = vec!["u1".to_string()];
    let l = ledger();
    let complete = vec![
        json!({"at":"2026-01-05T10:00:00Z","outcome":"scheduled","send_id":"s1","due":"2026-01-05T10:00:02Z"}),
        json!({"at":"2026-01-05T10:00:02.009Z","outcome":"sent","send_id":"s1","due":"2026-01-05T10:00:02Z"}),
    ];
    let f = check_with(&l, &ev_with(complete), &sample, false);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.sends.explain_pairs_checked, 1);
    // The plan is missing from a short timeline: explain disagrees.
    let short =
        vec![json!({"at":"2026-01-05T10:00:03Z","outcome":"retry_scheduled","send_id":"s0"})];
    let f = check_with(&l, &ev_with(short), &sample, false);
    assert!(
        kinds(&f).contains(&"explain_disagrees"),
        "{:?}",
        f.violations
    );
    // A timeline at the cap may have dropped it.
    let full: Vec<serde_json::Value> = (0..timeline::JOURNAL_KEPT)
        .map(|_| json!({"at":"2026-01-05T10:00:03Z","outcome":"retry_scheduled","send_id":"s0"}))
        .collect();
    let f = check_with(&l, &ev_with(full), &sample, false);
    assert_eq!(kinds(&f), Vec::<&str>::new(), "{:?}", f.violations);
    assert_eq!(f.sends.explain_truncated, 1);
}
