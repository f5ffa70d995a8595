//! The shipped example campaigns (`examples/campaigns/*.json`): each compiles
//! with no error and no warning, TOML versions parse to the same definition,
//! and each behaves as its name promises through `decide()` and
//! `check_send()` (R-T3 + R-E6 abandoned cart, R-S1/R-D1 welcome series in
//! local time, R-W3 office-hours rollover, R-E1 conversion exception + R-X4).

mod common;

use std::path::PathBuf;

use common::{SendEnv, User, check, custom, custom_with, purchase, send, utc};
use serde_json::json;
use triggerd_core::{Campaign, CampaignDef, Outcome, SendVerdict};

fn examples_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/campaigns"
    ))
}

fn example(name: &str) -> Campaign {
    let path = examples_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).expect("example exists");
    let (campaign, report) = Campaign::from_json(name, &text);
    assert!(report.errors.is_empty(), "{name}: {:?}", report.errors);
    campaign.expect("compiles")
}

#[test]
fn every_example_compiles_without_errors_or_warnings() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).expect("examples/campaigns exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable example");
        let (campaign, report) = Campaign::from_json("example", &text);
        assert!(
            report.errors.is_empty() && report.warnings.is_empty(),
            "{}: {report:?}",
            path.display()
        );
        assert!(campaign.is_some(), "{}", path.display());
        seen.push(path);
    }
    assert!(
        seen.len() >= 4,
        "expected the four shipped examples, found {seen:?}"
    );
}

const ABANDONED_CART_TOML: &str = r#"
name = "Abandoned cart reminder"
channel = "email"
reeligibility = { after = "7d" }

[message]
subject = "You left {{ event_properties.${cart_value} }}$ behind"
html = "<p>Hi {{ ${first_name} | default: 'there' }},</p><p>Your cart is waiting: <a href=\"https://shop.example.com/cart/{{ event_properties.${cart_id} }}\">finish your order</a>.</p>"

[[triggers]]
type = "custom_event"
name = "abandoned_cart"
property_filters = [{ property = "cart_value", op = "between", value = [100, 200] }]

[delay]
type = "after"
duration = "1h"

[[exceptions]]
type = "purchase"
correlate_on = "cart_id"

[schedule]
start = 2026-01-01T00:00:00Z

[[conversion_events]]
type = "purchase"
deadline = "3d"
"#;

const WELCOME_TOML: &str = r#"
name = "Welcome series, day 2 at 09:00 in each user's time zone"
channel = "push"
time_zone = "Europe/Paris"

[message]
title = "Welcome, {{ ${first_name} | default: 'friend' }}!"
body = "Here are three things to try today."

[[triggers]]
type = "custom_event"
name = "registration"

[audience.segment]
all = [{ attribute = "push_subscribe", op = "ne", value = "unsubscribed" }]

[delay]
type = "in_days"
days = 2
at = "09:00"

[schedule]
start = 2026-01-01T00:00:00
local_time = true
"#;

#[test]
fn toml_versions_parse_identically() {
    for (name, toml) in [
        ("abandoned_cart", ABANDONED_CART_TOML),
        ("welcome_local_time", WELCOME_TOML),
    ] {
        let json_text =
            std::fs::read_to_string(examples_dir().join(format!("{name}.json"))).expect("exists");
        let from_json = CampaignDef::from_json(&json_text).expect("JSON parses");
        let from_toml = CampaignDef::from_toml(toml).expect("TOML parses");
        assert_eq!(from_toml, from_json, "{name}");
        let (campaign, report) = Campaign::from_toml(name, toml);
        assert!(
            report.errors.is_empty() && report.warnings.is_empty(),
            "{report:?}"
        );
        assert!(campaign.is_some());
    }
}

#[test]
fn r_e6_abandoned_cart_example_reminds_per_cart() {
    let c = example("abandoned_cart");
    let user = User::new();
    let cart = |id: &str, value: u32, at: &str| {
        custom_with(
            "abandoned_cart",
            at,
            json!({"cart_id": id, "cart_value": value}),
        )
    };
    assert_eq!(
        user.due(&c, &cart("A", 150, "2026-01-05T10:00:00Z")),
        utc("2026-01-05T11:00:00Z")
    );
    assert_eq!(
        user.outcome(&c, &cart("A", 90, "2026-01-05T10:00:00Z")),
        Outcome::PropertyFiltersNotMet
    );
    let pending = User::new()
        .pending_with(
            "a",
            "2026-01-05T10:00:00Z",
            "2026-01-05T11:00:00Z",
            json!({"cart_id": "A"}),
        )
        .pending_with(
            "b",
            "2026-01-05T10:10:00Z",
            "2026-01-05T11:10:00Z",
            json!({"cart_id": "B"}),
        );
    let bought_a = purchase("sku", "2026-01-05T10:30:00Z").with_properties(json!({"cart_id": "A"}));
    let d = pending.decide(&c, &bought_a);
    let ids: Vec<&str> = d.cancellations.iter().map(|x| x.send_id.as_str()).collect();
    assert_eq!(ids, ["a"]);
    // The rendered reminder quotes the trigger's cart.
    let s = send(
        "a",
        "2026-01-05T10:00:00Z",
        "2026-01-05T11:00:00Z",
        json!({"cart_id": "A", "cart_value": 150}),
    );
    match check(
        &c,
        &User::new(),
        &SendEnv::default(),
        &s,
        "2026-01-05T11:00:00Z",
    ) {
        SendVerdict::Deliver { content } => {
            assert_eq!(content["subject"], "You left 150$ behind");
            assert!(
                content["html"]
                    .as_str()
                    .is_some_and(|h| h.contains("/cart/A\""))
            );
        }
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn r_s1_welcome_example_sends_at_09_00_in_each_users_zone() {
    let c = example("welcome_local_time");
    let at = "2026-01-05T20:00:00Z"; // 21:00 Paris, 05:00 (6th) Tokyo
    assert_eq!(
        User::new()
            .in_zone("Asia/Tokyo")
            .due(&c, &custom("registration", at)),
        utc("2026-01-08T00:00:00Z")
    );
    assert_eq!(
        User::new()
            .in_zone("Europe/Paris")
            .due(&c, &custom("registration", at)),
        utc("2026-01-07T08:00:00Z")
    );
    // No zone: the campaign's (Paris).
    assert_eq!(
        User::new().due(&c, &custom("registration", at)),
        utc("2026-01-07T08:00:00Z")
    );
    let opted_out = User::new().with("push_subscribe", json!("unsubscribed"));
    assert_eq!(
        opted_out.outcome(&c, &custom("registration", at)),
        Outcome::NotInSegment
    );
}

#[test]
fn r_w3_office_hours_example_rolls_to_the_next_morning() {
    let c = example("office_hours_webhook");
    // 15:30 EST + 2h = 17:30, after the window: 09:00 EST the next day.
    let plan = User::new().plan(&c, &custom("lead_created", "2026-01-05T20:30:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    assert_eq!(plan.due, utc("2026-01-06T14:00:00Z"));
    assert_eq!(
        User::new().outcome(&c, &custom("lead_created", "2026-01-05T23:00:00Z")),
        Outcome::TriggerOutsideWindow
    );
}

#[test]
fn r_e1_sms_conversion_example() {
    let c = example("sms_conversion");
    // Monday 12:00 EST → Tuesday 10:00 EST.
    assert_eq!(
        User::new().due(&c, &custom("trial_ending", "2026-01-05T17:00:00Z")),
        utc("2026-01-06T15:00:00Z")
    );
    // Upgrading (a conversion event) cancels the pending reminder.
    let pending = User::new().pending("s", "2026-01-05T17:00:00Z", "2026-01-06T15:00:00Z");
    let d = pending.decide(&c, &custom("plan_upgraded", "2026-01-05T18:00:00Z"));
    assert_eq!(d.cancellations.len(), 1);
    assert_eq!(d.cancellations[0].outcome, Outcome::CancelledByException);
    // The SMS goes only to members of the sms_marketing group (R-X4).
    let s = send(
        "s",
        "2026-01-05T17:00:00Z",
        "2026-01-06T15:00:00Z",
        json!({}),
    );
    let member = User::new().with("phone", json!("+15550100")).with(
        "subscription_groups",
        json!([{"subscription_group_id": "sms_marketing", "subscription_state": "subscribed"}]),
    );
    assert!(matches!(
        check(&c, &member, &SendEnv::default(), &s, "2026-01-06T15:00:00Z"),
        SendVerdict::Deliver { .. }
    ));
    let stranger = User::new().with("phone", json!("+15550100"));
    assert!(matches!(
        check(
            &c,
            &stranger,
            &SendEnv::default(),
            &s,
            "2026-01-06T15:00:00Z"
        ),
        SendVerdict::Refused {
            outcome: Outcome::Unsubscribed,
            ..
        }
    ));
    // A conversion within 7 days of the receipt counts once.
    let r = Some(utc("2026-01-06T15:00:00Z"));
    assert!(
        c.conversion(r, false, &custom("plan_upgraded", "2026-01-10T09:00:00Z"))
            .is_some()
    );
}
