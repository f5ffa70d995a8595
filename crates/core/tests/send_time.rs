//! Send-time checks through the public API (`Campaign::check_send`): SPEC §7
//! steps 1–8 in order (R-X), late sends (R-X1), SMS subscription groups
//! (R-X4), R-S2 at send time, R-R3, R-A3, R-A4 control group, R-F1/R-F2
//! frequency caps, Liquid rendering with `abort_message`; and conversions
//! after a receipt (R-P5, `Campaign::conversion`).

mod common;

use common::{SendEnv, User, campaign, check, custom, purchase, refused, send, session, utc};
use serde_json::{Value, json};
use triggerd_core::campaign::{CampaignStatus, Channel, control_bucket};
use triggerd_core::conversion::ConversionHit;
use triggerd_core::freqcap::{CapRules, SentRecord};
use triggerd_core::{Outcome, SendVerdict};

const TRIGGER: &str = "2026-01-05T10:00:00Z";
const DUE: &str = "2026-01-05T11:00:00Z";

fn due_send() -> triggerd_core::PendingSend {
    send(
        "s1",
        TRIGGER,
        DUE,
        json!({"cart_id": "A", "cart_value": 150}),
    )
}

fn delivered(verdict: &SendVerdict) -> &Value {
    match verdict {
        SendVerdict::Deliver { content } => content,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

fn caps(json: Value) -> CapRules {
    serde_json::from_value(json).expect("valid caps")
}

fn emails_at(instants: &[&str]) -> Vec<SentRecord> {
    instants
        .iter()
        .map(|at| SentRecord {
            channel: Channel::Email,
            at: utc(at),
        })
        .collect()
}

// ---------------------------------------------------------------- order of R-X

#[test]
fn r_x_checks_run_in_spec_order() {
    let def = |control: u32| {
        json!({
            "message": {
                "subject": "{% if ${first_name} == blank %}{% abort_message(\"no first name\") %}{% endif %}Hi {{ ${first_name} }}",
                "html": "<p>cart {{ event_properties.${cart_id} }}</p>"
            },
            "audience": {
                "segment": {"attribute": "vip", "op": "eq", "value": true},
                "reevaluate_at_send": true,
                "control_group_percent": control
            },
            "delay": {"type": "after", "duration": "1h"},
            "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
            "window": {"start": "09:00", "end": "17:00"},
            "reeligibility": {"after": "7d"}
        })
    };
    let all = campaign(def(100));
    let none = campaign(def(0));
    let mut user = User::new()
        .received_at("2026-01-04T00:00:00Z")
        .with("email", Value::Null);
    user.status = CampaignStatus::Stopped;
    let mut env = SendEnv {
        caps: caps(json!({"rules": [{"channel": "email", "max": 2, "per": "24h"}]})),
        history: emails_at(&["2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z"]),
        ..SendEnv::default()
    };
    let s = due_send();
    let mut seen = Vec::new();
    // Late after the end, outside the window, and every later check failing.
    seen.push(refused(&check(
        &all,
        &user,
        &env,
        &s,
        "2026-02-01T20:00:00Z",
    )));
    user.status = CampaignStatus::Active;
    seen.push(refused(&check(
        &all,
        &user,
        &env,
        &s,
        "2026-02-01T20:00:00Z",
    )));
    seen.push(refused(&check(
        &all,
        &user,
        &env,
        &s,
        "2026-01-05T20:00:00Z",
    )));
    let now = DUE;
    seen.push(refused(&check(&all, &user, &env, &s, now)));
    user.state.last_receipt = None;
    seen.push(refused(&check(&all, &user, &env, &s, now)));
    user.profile.set_attribute("vip", json!(true));
    seen.push(refused(&check(&all, &user, &env, &s, now)));
    user.profile
        .set_attribute("email", json!("ann@example.com"));
    assert_eq!(check(&all, &user, &env, &s, now), SendVerdict::ControlGroup);
    seen.push(Outcome::ControlGroup);
    seen.push(refused(&check(&none, &user, &env, &s, now)));
    env.history.clear();
    let aborted = check(&none, &user, &env, &s, now);
    seen.push(refused(&aborted));
    env.attributes.insert("first_name".into(), json!("Ann"));
    let content = delivered(&check(&none, &user, &env, &s, now)).clone();
    assert_eq!(
        seen,
        [
            Outcome::CampaignStopped,
            Outcome::OutsideDuration,
            Outcome::DelayOutsideWindow,
            Outcome::NotReeligibleYet,
            Outcome::NotInSegmentAtSend,
            Outcome::MissingEmail,
            Outcome::ControlGroup,
            Outcome::FrequencyCapped,
            Outcome::Aborted,
        ]
    );
    assert_eq!(content["subject"], "Hi Ann");
    assert_eq!(content["html"], "<p>cart A</p>");
}

// ---------------------------------------------------------------- step 1, R-S2, R-X1

#[test]
fn r_x_step1_stopped_or_draft_campaign() {
    let c = campaign(json!({}));
    for status in [CampaignStatus::Stopped, CampaignStatus::Draft] {
        let mut user = User::new();
        user.status = status;
        assert_eq!(
            refused(&check(&c, &user, &SendEnv::default(), &due_send(), DUE)),
            Outcome::CampaignStopped
        );
    }
}

#[test]
fn r_s2_send_due_at_or_after_the_end_is_outside_duration() {
    // The definition was edited to end before the pending send's due.
    let c = campaign(json!({"schedule": {"start": "2026-01-01T00:00:00Z", "end": DUE}}));
    let user = User::new();
    let env = SendEnv::default();
    assert_eq!(
        refused(&check(&c, &user, &env, &due_send(), DUE)),
        Outcome::OutsideDuration
    );
    let earlier = send("s0", TRIGGER, "2026-01-05T10:59:59Z", json!({}));
    assert!(matches!(
        check(&c, &user, &env, &earlier, "2026-01-05T10:59:59Z"),
        SendVerdict::Deliver { .. }
    ));
    // Processed late, after the end: dropped too.
    assert_eq!(
        refused(&check(&c, &user, &env, &earlier, "2026-01-05T11:00:01Z")),
        Outcome::OutsideDuration
    );
}

#[test]
fn r_s2_local_end_at_send_time_reads_the_users_zone() {
    let c = campaign(json!({
        "schedule": {"start": "2026-01-01T00:00:00", "end": "2026-01-05T12:00:00", "local_time": true}
    }));
    let env = SendEnv::default();
    // Due 11:00Z: after 12:00 Paris (11:00Z), before 12:00 New York.
    let paris = User::new().in_zone("Europe/Paris");
    assert_eq!(
        refused(&check(&c, &paris, &env, &due_send(), DUE)),
        Outcome::OutsideDuration
    );
    let ny = User::new().in_zone("America/New_York");
    assert!(matches!(
        check(&c, &ny, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
}

fn office(next_available: bool) -> triggerd_core::Campaign {
    campaign(json!({
        "delay": {"type": "after", "duration": "1h"},
        "window": {"start": "09:00", "end": "17:00", "next_available": next_available},
        "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"}
    }))
}

#[test]
fn r_x1_late_send_outside_window_is_rolled() {
    let verdict = check(
        &office(true),
        &User::new(),
        &SendEnv::default(),
        &due_send(),
        "2026-01-05T18:00:00Z",
    );
    match verdict {
        SendVerdict::Rolled { to, detail } => {
            assert_eq!(to, utc("2026-01-06T09:00:00Z"));
            assert!(detail.contains("late send"), "{detail}");
        }
        other => panic!("expected a roll, got {other:?}"),
    }
}

#[test]
fn r_x1_late_send_outside_window_is_dropped_without_next_available() {
    assert_eq!(
        refused(&check(
            &office(false),
            &User::new(),
            &SendEnv::default(),
            &due_send(),
            "2026-01-05T18:00:00Z"
        )),
        Outcome::DelayOutsideWindow
    );
}

#[test]
fn r_x1_late_send_inside_window_goes_now_and_on_time_send_is_not_rechecked() {
    let env = SendEnv::default();
    let user = User::new();
    assert!(matches!(
        check(
            &office(false),
            &user,
            &env,
            &due_send(),
            "2026-01-05T16:59:59Z"
        ),
        SendVerdict::Deliver { .. }
    ));
    // On time at 16:59:59 (due inside the window): delivered.
    let edge = send("s2", TRIGGER, "2026-01-05T16:59:59Z", json!({}));
    assert!(matches!(
        check(&office(false), &user, &env, &edge, "2026-01-05T16:59:59Z"),
        SendVerdict::Deliver { .. }
    ));
}

#[test]
fn r_x1_late_send_rolled_past_the_end_is_outside_duration() {
    let c = campaign(json!({
        "delay": {"type": "after", "duration": "1h"},
        "window": {"start": "09:00", "end": "17:00", "next_available": true},
        "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-06T09:00:00Z"}
    }));
    assert_eq!(
        refused(&check(
            &c,
            &User::new(),
            &SendEnv::default(),
            &due_send(),
            "2026-01-05T18:00:00Z"
        )),
        Outcome::OutsideDuration
    );
}

#[test]
fn r_x1_late_send_rolls_to_the_first_reading_inside_on_a_dst_night() {
    // New York, 2026-03-08: the 02:30–05:00 window opens at 03:00 EDT (07:00Z).
    let c = campaign(json!({
        "delay": {"type": "after", "duration": "1h"},
        "time_zone": "America/New_York",
        "window": {"start": "02:30", "end": "05:00", "next_available": true}
    }));
    let s = send(
        "s1",
        "2026-03-07T09:00:00Z",
        "2026-03-07T09:30:00Z",
        json!({}),
    );
    let verdict = check(
        &c,
        &User::new(),
        &SendEnv::default(),
        &s,
        "2026-03-08T06:30:00Z",
    );
    assert!(
        matches!(verdict, SendVerdict::Rolled { to, .. } if to == utc("2026-03-08T07:00:00Z")),
        "{verdict:?}"
    );
}

// ---------------------------------------------------------------- R-R3, R-A3

#[test]
fn r_r3_not_reeligible_at_send() {
    let c = campaign(json!({}));
    let user = User::new().received_at("2026-01-05T10:30:00Z");
    assert_eq!(
        refused(&check(&c, &user, &SendEnv::default(), &due_send(), DUE)),
        Outcome::NotReeligible
    );
}

#[test]
fn r_r3_reeligibility_interval_kept_at_send_time() {
    let c = campaign(json!({"reeligibility": {"after": "1d"}}));
    let user = User::new().received_at("2026-01-04T11:00:00Z");
    let env = SendEnv::default();
    let early = send("s1", TRIGGER, "2026-01-05T10:59:59Z", json!({}));
    assert_eq!(
        refused(&check(&c, &user, &env, &early, "2026-01-05T10:59:59Z")),
        Outcome::NotReeligibleYet
    );
    // Exactly last receipt + 1d: eligible.
    assert!(matches!(
        check(&c, &user, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
}

#[test]
fn r_a3_not_in_segment_at_send() {
    let def = |reevaluate: bool| {
        json!({"audience": {
            "segment": {"not": {"event": "purchase", "count": {"op": "gte", "value": 1}, "within": "1d"}},
            "reevaluate_at_send": reevaluate
        }})
    };
    let mut user = User::new();
    // The user bought between the trigger and the send.
    user.profile
        .record_event("purchase", utc("2026-01-05T10:30:00Z"));
    let env = SendEnv::default();
    assert_eq!(
        refused(&check(&campaign(def(true)), &user, &env, &due_send(), DUE)),
        Outcome::NotInSegmentAtSend
    );
    assert!(matches!(
        check(&campaign(def(false)), &user, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
    // Still in the segment at send time: delivered.
    let clean = User::new();
    assert!(matches!(
        check(&campaign(def(true)), &clean, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
}

// ---------------------------------------------------------------- step 5 and R-X4

fn channel(channel: &str, message: Value) -> triggerd_core::Campaign {
    campaign(json!({"channel": channel, "message": message}))
}

fn bare_user() -> User {
    User::new().with("email", Value::Null)
}

#[test]
fn r_x_step5_email_reachability() {
    let c = campaign(json!({}));
    let env = SendEnv::default();
    let outcome = |user: &User| refused(&check(&c, user, &env, &due_send(), DUE));
    assert_eq!(outcome(&bare_user()), Outcome::MissingEmail);
    assert_eq!(
        outcome(&bare_user().with("email", json!("  "))),
        Outcome::MissingEmail
    );
    assert_eq!(
        outcome(&User::new().with("email_subscribe", json!("unsubscribed"))),
        Outcome::Unsubscribed
    );
    // Unsubscribed is checked before the address.
    assert_eq!(
        outcome(&bare_user().with("email_subscribe", json!("unsubscribed"))),
        Outcome::Unsubscribed
    );
    for state in ["subscribed", "opted_in"] {
        let user = User::new().with("email_subscribe", json!(state));
        assert!(matches!(
            check(&c, &user, &env, &due_send(), DUE),
            SendVerdict::Deliver { .. }
        ));
    }
}

#[test]
fn r_x_step5_push_reachability() {
    let c = channel("push", json!({"title": "t", "body": "b"}));
    let env = SendEnv::default();
    let verdict = |user: &User| check(&c, user, &env, &due_send(), DUE);
    assert_eq!(refused(&verdict(&bare_user())), Outcome::MissingPushToken);
    assert_eq!(
        refused(&verdict(&bare_user().with("push_tokens", json!([])))),
        Outcome::MissingPushToken
    );
    let tokened = bare_user().with("push_tokens", json!(["tok"]));
    assert!(matches!(verdict(&tokened), SendVerdict::Deliver { .. }));
    assert_eq!(
        refused(&verdict(
            &tokened.with("push_subscribe", json!("unsubscribed"))
        )),
        Outcome::Unsubscribed
    );
}

#[test]
fn r_x_step5_sms_needs_a_phone() {
    let c = channel("sms", json!({"body": "hi"}));
    let env = SendEnv::default();
    assert_eq!(
        refused(&check(&c, &bare_user(), &env, &due_send(), DUE)),
        Outcome::MissingPhone
    );
    let phone = bare_user().with("phone", json!("+33600000000"));
    assert!(matches!(
        check(&c, &phone, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
}

#[test]
fn r_x4_sms_subscription_group_unsubscribed() {
    let c = channel(
        "sms",
        json!({"body": "hi", "subscription_group_id": "marketing"}),
    );
    let env = SendEnv::default();
    let with_groups = |groups: Value| {
        bare_user()
            .with("phone", json!("+33600000000"))
            .with("subscription_groups", groups)
    };
    let verdict = |user: &User| check(&c, user, &env, &due_send(), DUE);
    let subscribed = with_groups(
        json!([{"subscription_group_id": "marketing", "subscription_state": "subscribed"}]),
    );
    assert!(matches!(verdict(&subscribed), SendVerdict::Deliver { .. }));
    let unsubscribed = with_groups(
        json!([{"subscription_group_id": "marketing", "subscription_state": "unsubscribed"}]),
    );
    assert_eq!(refused(&verdict(&unsubscribed)), Outcome::Unsubscribed);
    let other_group = with_groups(
        json!([{"subscription_group_id": "alerts", "subscription_state": "subscribed"}]),
    );
    assert_eq!(refused(&verdict(&other_group)), Outcome::Unsubscribed);
    let no_groups = bare_user().with("phone", json!("+33600000000"));
    assert_eq!(refused(&verdict(&no_groups)), Outcome::Unsubscribed);
}

#[test]
fn r_x_step5_webhook_in_app_and_content_card_need_nothing() {
    let env = SendEnv::default();
    for c in [
        channel("webhook", json!({"url": "https://example.com/hook"})),
        channel("in_app", json!({"body": "hello"})),
        channel("content_card", json!({"title": "t", "body": "b"})),
    ] {
        assert!(
            matches!(
                check(&c, &bare_user(), &env, &due_send(), DUE),
                SendVerdict::Deliver { .. }
            ),
            "{:?}",
            c.channel()
        );
    }
}

// ---------------------------------------------------------------- R-A4

fn with_control(percent: f64) -> triggerd_core::Campaign {
    campaign(json!({"audience": {"control_group_percent": percent}}))
}

#[test]
fn r_a4_control_group_all_or_nothing() {
    let env = SendEnv::default();
    assert_eq!(
        check(&with_control(100.0), &User::new(), &env, &due_send(), DUE),
        SendVerdict::ControlGroup
    );
    assert!(matches!(
        check(&with_control(0.0), &User::new(), &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
}

#[test]
fn r_a4_control_group_is_stable_per_user() {
    let c = with_control(50.0);
    let again = with_control(50.0);
    for i in 0..200 {
        let id = format!("user-{i}");
        let first = c.in_control_group(&id);
        assert_eq!(first, c.in_control_group(&id), "{id}");
        assert_eq!(first, again.in_control_group(&id), "{id} after recompiling");
    }
    // The bucket is a fixed function of (campaign id, external id): these
    // values must never change between versions, or users would move in
    // and out of control groups after an upgrade.
    let pinned = [
        control_bucket("c1", "u1"),
        control_bucket("c1", "u2"),
        control_bucket("cart", "u1"),
    ];
    assert_eq!(pinned, PINNED_BUCKETS);
}

/// FNV-1a 64 of `campaign \0 user` mod 10,000 for the pairs above,
/// computed independently (Python) from the algorithm's definition.
const PINNED_BUCKETS: [u64; 3] = [8065, 3432, 3851];

#[test]
fn r_a4_control_group_share_is_close_to_the_percent() {
    for percent in [5.0, 20.0, 50.0] {
        let c = with_control(percent);
        let n = 10_000;
        let withheld = (0..n)
            .filter(|i| c.in_control_group(&format!("user-{i}")))
            .count();
        let share = withheld as f64 * 100.0 / n as f64;
        assert!(
            (share - percent).abs() < 1.5,
            "{percent}%: {withheld} of {n} withheld"
        );
    }
}

#[test]
fn r_a4_control_group_differs_between_campaigns() {
    let a = with_control(50.0);
    let b = campaign(json!({"audience": {"control_group_percent": 50.0}}));
    let mut b = b;
    b.id = "c2".into();
    let n = 4_000;
    let both = (0..n)
        .filter(|i| {
            let id = format!("user-{i}");
            a.in_control_group(&id) && b.in_control_group(&id)
        })
        .count();
    // Independent halves overlap on about a quarter of the users.
    let share = both as f64 / n as f64;
    assert!((0.2..0.3).contains(&share), "overlap {share}");
}

#[test]
fn r_a4_control_group_after_reachability_before_caps() {
    let c = with_control(100.0);
    let capped = SendEnv {
        caps: caps(json!({"rules": [{"channel": "any", "max": 1, "per": "1d"}]})),
        history: emails_at(&["2026-01-05T09:00:00Z"]),
        ..SendEnv::default()
    };
    assert_eq!(
        refused(&check(&c, &bare_user(), &capped, &due_send(), DUE)),
        Outcome::MissingEmail
    );
    assert_eq!(
        check(&c, &User::new(), &capped, &due_send(), DUE),
        SendVerdict::ControlGroup
    );
}

// ---------------------------------------------------------------- R-F1 / R-F2

#[test]
fn r_f1_cap_at_send() {
    let c = campaign(json!({}));
    let user = User::new();
    let mut env = SendEnv {
        caps: caps(json!({"rules": [{"channel": "email", "max": 2, "per": "24h"}]})),
        history: emails_at(&["2026-01-04T11:00:00Z", "2026-01-05T09:00:00Z"]),
        ..SendEnv::default()
    };
    // The first email is exactly 24 h old: it left the rolling window.
    assert!(matches!(
        check(&c, &user, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
    env.history = emails_at(&["2026-01-04T11:00:01Z", "2026-01-05T09:00:00Z"]);
    match check(&c, &user, &env, &due_send(), DUE) {
        SendVerdict::Refused { outcome, detail } => {
            assert_eq!(outcome, Outcome::FrequencyCapped);
            assert_eq!(detail, "frequency cap: at most 2 email messages per 1d");
        }
        other => panic!("expected a cap, got {other:?}"),
    }
    // Messages of another channel do not count against an email rule.
    env.history = vec![
        SentRecord {
            channel: Channel::Sms,
            at: utc("2026-01-05T09:00:00Z"),
        };
        5
    ];
    assert!(matches!(
        check(&c, &user, &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
    // ... but they do against an `any` rule.
    env.caps = caps(json!({"rules": [{"channel": "any", "max": 5, "per": "1d"}]}));
    assert_eq!(
        refused(&check(&c, &user, &env, &due_send(), DUE)),
        Outcome::FrequencyCapped
    );
}

#[test]
fn r_f2_campaign_opts_out_of_frequency_capping() {
    let transactional = campaign(json!({"frequency_capping": false}));
    let env = SendEnv {
        caps: caps(json!({"rules": [{"channel": "any", "max": 1, "per": "7d"}]})),
        history: emails_at(&["2026-01-05T10:59:00Z"]),
        ..SendEnv::default()
    };
    assert!(matches!(
        check(&transactional, &User::new(), &env, &due_send(), DUE),
        SendVerdict::Deliver { .. }
    ));
    assert_eq!(
        refused(&check(
            &campaign(json!({})),
            &User::new(),
            &env,
            &due_send(),
            DUE
        )),
        Outcome::FrequencyCapped
    );
}

// ---------------------------------------------------------------- step 8

#[test]
fn r_x_step8_renders_profile_event_properties_and_campaign() {
    let c = campaign(json!({"message": {
        "subject": "{{ ${first_name} }}, your {{ event_properties.${cart_value} }}$ cart",
        "html": "{{ custom_attribute.${tier} }} {{ campaign.${name} }} {{ send.id }}"
    }}));
    let mut env = SendEnv::default();
    env.attributes.insert("first_name".into(), json!("Ann"));
    env.custom_attributes.insert("tier".into(), json!("gold"));
    let verdict = check(&c, &User::new(), &env, &due_send(), DUE);
    let content = delivered(&verdict);
    assert_eq!(content["subject"], "Ann, your 150$ cart");
    assert_eq!(content["html"], "gold test campaign s1");
}

#[test]
fn r_x_step8_abort_message_keeps_its_reason() {
    let c = campaign(json!({"message": {
        "subject": "{% if event_properties.${cart_value} < 200 %}{% abort_message(\"cart too small\") %}{% endif %}Big cart",
        "html": "x"
    }}));
    match check(&c, &User::new(), &SendEnv::default(), &due_send(), DUE) {
        SendVerdict::Refused { outcome, detail } => {
            assert_eq!(outcome, Outcome::Aborted);
            assert_eq!(detail, "abort_message: cart too small");
        }
        other => panic!("expected an abort, got {other:?}"),
    }
    let bare = campaign(json!({"message": {"subject": "{% abort_message() %}", "html": "x"}}));
    match check(&bare, &User::new(), &SendEnv::default(), &due_send(), DUE) {
        SendVerdict::Refused { outcome, detail } => {
            assert_eq!(outcome, Outcome::Aborted);
            assert_eq!(detail, "abort_message");
        }
        other => panic!("expected an abort, got {other:?}"),
    }
}

#[test]
fn r_x_step8_template_error_is_render_error() {
    let c = campaign(json!({"message": {"subject": "ok", "html": "{{ 1 | divided_by: 0 }}"}}));
    match check(&c, &User::new(), &SendEnv::default(), &due_send(), DUE) {
        SendVerdict::Refused { outcome, detail } => {
            assert_eq!(outcome, Outcome::RenderError);
            assert!(detail.starts_with("message.html: "), "{detail}");
        }
        other => panic!("expected a render error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- R-P5

fn converting() -> triggerd_core::Campaign {
    campaign(json!({"conversion_events": [
        {"type": "custom_event", "name": "plan_upgraded", "deadline": "3d"},
        {"type": "purchase", "deadline": "1d"}
    ]}))
}

#[test]
fn r_p5_conversion_within_deadline() {
    let c = converting();
    let r = Some(utc("2026-01-05T11:00:00Z"));
    assert_eq!(
        c.conversion(r, false, &custom("plan_upgraded", "2026-01-06T11:00:00Z")),
        Some(ConversionHit {
            index: 0,
            primary: true
        })
    );
    // The deadline instant itself still counts.
    assert!(
        c.conversion(r, false, &custom("plan_upgraded", "2026-01-08T11:00:00Z"))
            .is_some()
    );
    // A secondary conversion event with its own deadline.
    assert_eq!(
        c.conversion(r, false, &purchase("sku", "2026-01-06T11:00:00Z")),
        Some(ConversionHit {
            index: 1,
            primary: false
        })
    );
}

#[test]
fn r_p5_no_conversion_after_deadline_or_before_receipt() {
    let c = converting();
    let r = Some(utc("2026-01-05T11:00:00Z"));
    assert_eq!(
        c.conversion(r, false, &custom("plan_upgraded", "2026-01-08T11:00:01Z")),
        None
    );
    assert_eq!(
        c.conversion(r, false, &purchase("sku", "2026-01-06T11:00:01Z")),
        None
    );
    assert_eq!(
        c.conversion(r, false, &custom("plan_upgraded", "2026-01-05T11:00:00Z")),
        None,
        "an event at the receipt instant is not after it"
    );
    assert_eq!(
        c.conversion(
            None,
            false,
            &custom("plan_upgraded", "2026-01-06T11:00:00Z")
        ),
        None,
        "no receipt, no conversion"
    );
    assert_eq!(
        c.conversion(r, false, &session("2026-01-06T11:00:00Z")),
        None
    );
}

#[test]
fn r_p5_only_one_conversion_per_receipt() {
    let c = converting();
    let r = Some(utc("2026-01-05T11:00:00Z"));
    let event = custom("plan_upgraded", "2026-01-06T11:00:00Z");
    assert!(c.conversion(r, false, &event).is_some());
    assert_eq!(c.conversion(r, true, &event), None);
    // A new receipt converts again.
    let next = Some(utc("2026-01-10T11:00:00Z"));
    assert!(
        c.conversion(
            next,
            false,
            &custom("plan_upgraded", "2026-01-10T12:00:00Z")
        )
        .is_some()
    );
}
