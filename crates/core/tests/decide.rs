//! Trigger-time decisions through the public API (`Campaign::decide`): SPEC
//! §1 triggers (R-T1–R-T6), §2 audience at trigger time (R-A1, R-A2), §3
//! delays (R-D1–R-D3) including DST in America/New_York and Europe/Paris,
//! §4 exceptions (R-E2–R-E6), §5 schedule and window (R-S1, R-S2,
//! R-W1–R-W7) and §6 re-eligibility (R-R1, R-R2, R-R4). Each test names the
//! rule it checks. Definitions are small JSON overrides of `common::base()`.

mod common;

use common::{CAMPAIGN_ID, User, campaign, custom, custom_with, go, purchase, session, utc};
use serde_json::json;
use triggerd_core::campaign::CampaignStatus;
use triggerd_core::decide::{Cancellation, MAX_PENDING_PER_PAIR};
use triggerd_core::event::{
    Event, EventKind, GroupState, Interaction, Source, SubscriptionChannel, SubscriptionState,
    Transition,
};
use triggerd_core::index::TriggerIndex;
use triggerd_core::time::ZoneSource;
use triggerd_core::{Outcome, TriggerOutcome};

fn after(duration: &str) -> serde_json::Value {
    json!({"type": "after", "duration": duration})
}

// ---------------------------------------------------------------- R-T1 / R-T2

#[test]
fn r_t1_any_of_several_triggers_fires() {
    let c = campaign(json!({"triggers": [
        {"type": "custom_event", "name": "go"},
        {"type": "purchase", "product_id": "sku1"}
    ]}));
    let user = User::new();
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::Scheduled
    );
    assert_eq!(
        user.outcome(&c, &purchase("sku1", "2026-01-05T10:00:00Z")),
        Outcome::Scheduled
    );
    // Another product or event name is not of a trigger's kind: nothing recorded.
    let other = user.decide(&c, &purchase("sku2", "2026-01-05T10:00:00Z"));
    assert!(other.is_empty(), "{other:?}");
    assert!(
        user.decide(&c, &custom("stop", "2026-01-05T10:00:00Z"))
            .is_empty()
    );
}

#[test]
fn r_t1_every_trigger_kind_schedules_through_decide() {
    let at = utc("2026-01-05T10:00:00Z");
    let interaction = |campaign_id: &str, interaction| EventKind::CampaignInteraction {
        campaign_id: campaign_id.into(),
        interaction,
        button_id: None,
        alias: None,
    };
    let cases = vec![
        (json!({"type": "session_start"}), EventKind::SessionStart),
        (json!({"type": "email_added"}), EventKind::EmailAdded),
        (json!({"type": "location"}), EventKind::Location),
        (
            json!({"type": "conversion", "campaign_id": "trial"}),
            EventKind::Conversion {
                campaign_id: "trial".into(),
            },
        ),
        (
            json!({"type": "custom_attribute_changed", "attribute": "tier"}),
            EventKind::CustomAttributeChanged {
                attribute: "tier".into(),
                to: json!("gold"),
            },
        ),
        (
            json!({"type": "subscription_state_changed", "channel": "push", "to": "opted_in"}),
            EventKind::SubscriptionStateChanged {
                channel: SubscriptionChannel::Push,
                to: SubscriptionState::OptedIn,
            },
        ),
        (
            json!({"type": "subscription_group_changed", "group_id": "news", "to": "unsubscribed"}),
            EventKind::SubscriptionGroupChanged {
                group_id: "news".into(),
                to: GroupState::Unsubscribed,
            },
        ),
        (
            json!({"type": "campaign_interaction", "campaign_id": "promo", "interaction": "email_click"}),
            interaction("promo", Interaction::EmailClick),
        ),
        (
            json!({"type": "exception_event", "campaign_id": "cart"}),
            EventKind::ExceptionEvent {
                campaign_id: "cart".into(),
            },
        ),
        (
            json!({"type": "canvas_step_interaction", "canvas_id": "cv", "step_id": "s1", "interaction": "push_open"}),
            EventKind::CanvasStepInteraction {
                canvas_id: "cv".into(),
                step_id: Some("s1".into()),
                interaction: Interaction::PushOpen,
            },
        ),
        (
            json!({"type": "geofence", "geofence_id": "store", "transition": "exit"}),
            EventKind::Geofence {
                geofence_id: "store".into(),
                transition: Transition::Exit,
            },
        ),
        (
            json!({"type": "inbound_sms", "keyword": "deals"}),
            EventKind::InboundSms {
                body: "DEALS please".into(),
            },
        ),
        (
            json!({"type": "inbound_whatsapp", "keyword": "hi"}),
            EventKind::InboundWhatsapp {
                body: "Hi there".into(),
            },
        ),
    ];
    let user = User::new();
    for (trigger, kind) in cases {
        let c = campaign(json!({ "triggers": [trigger.clone()] }));
        let event = Event::new(kind, at, Source::Rest);
        assert_eq!(user.outcome(&c, &event), Outcome::Scheduled, "{trigger}");
    }
}

#[test]
fn r_t1_trigger_targets_must_agree() {
    let user = User::new();
    let at = utc("2026-01-05T10:00:00Z");
    let c = campaign(json!({"triggers": [
        {"type": "custom_attribute_changed", "attribute": "tier", "to": "gold"},
        {"type": "inbound_sms", "keyword": "join"}
    ]}));
    let changed = |to| {
        Event::new(
            EventKind::CustomAttributeChanged {
                attribute: "tier".into(),
                to,
            },
            at,
            Source::Rest,
        )
    };
    assert_eq!(
        user.outcome(&c, &changed(json!("gold"))),
        Outcome::Scheduled
    );
    assert!(user.decide(&c, &changed(json!("silver"))).is_empty());
    let sms = |body: &str| {
        Event::new(
            EventKind::InboundSms { body: body.into() },
            at,
            Source::Rest,
        )
    };
    assert_eq!(user.outcome(&c, &sms("JOIN now")), Outcome::Scheduled);
    assert!(user.decide(&c, &sms("rejoin")).is_empty());
}

#[test]
fn r_t2_interaction_button_and_alias_narrow_the_trigger() {
    let user = User::new();
    let at = utc("2026-01-05T10:00:00Z");
    let c = campaign(json!({"triggers": [
        {"type": "campaign_interaction", "campaign_id": "promo", "interaction": "push_button_click", "button_id": "buy"},
        {"type": "campaign_interaction", "campaign_id": "promo", "interaction": "email_click_alias", "alias": "footer"}
    ]}));
    let ev = |interaction, button: Option<&str>, alias: Option<&str>| {
        Event::new(
            EventKind::CampaignInteraction {
                campaign_id: "promo".into(),
                interaction,
                button_id: button.map(Into::into),
                alias: alias.map(Into::into),
            },
            at,
            Source::Service,
        )
    };
    assert_eq!(
        user.outcome(&c, &ev(Interaction::PushButtonClick, Some("buy"), None)),
        Outcome::Scheduled
    );
    assert!(
        user.decide(&c, &ev(Interaction::PushButtonClick, Some("later"), None))
            .is_empty()
    );
    assert_eq!(
        user.outcome(&c, &ev(Interaction::EmailClickAlias, None, Some("footer"))),
        Outcome::Scheduled
    );
    assert!(
        user.decide(&c, &ev(Interaction::EmailClickAlias, None, Some("header")))
            .is_empty()
    );
    // Same campaign, another interaction: not this trigger.
    assert!(
        user.decide(&c, &ev(Interaction::PushOpen, None, None))
            .is_empty()
    );
}

#[test]
fn r_t1_index_finds_campaigns_by_event_key_only() {
    let cart = campaign(json!({
        "triggers": [{"type": "custom_event", "name": "abandoned_cart"}],
        "delay": after("1h"),
        "exceptions": [{"type": "purchase"}],
        "conversion_events": [{"type": "custom_event", "name": "checkout", "deadline": "3d"}]
    }));
    let mut index = TriggerIndex::new();
    index.insert(CAMPAIGN_ID, cart.keys());
    index.insert(
        "welcome",
        [triggerd_core::index::EventKey::CustomEvent(
            "registration".into(),
        )],
    );
    let kinds = [
        EventKind::CustomEvent {
            name: "abandoned_cart".into(),
        },
        EventKind::Purchase {
            product_id: "any".into(),
        },
        EventKind::CustomEvent {
            name: "checkout".into(),
        },
    ];
    for kind in &kinds {
        assert_eq!(
            index.candidates(kind),
            [CAMPAIGN_ID.to_string()],
            "{kind:?}"
        );
    }
    assert!(index.candidates(&EventKind::SessionStart).is_empty());
    assert_eq!(
        index.candidates(&EventKind::CustomEvent {
            name: "registration".into()
        }),
        ["welcome".to_string()]
    );
}

// ---------------------------------------------------------------- R-T3

fn cart_campaign() -> triggerd_core::Campaign {
    campaign(
        json!({"triggers": [{"type": "custom_event", "name": "abandoned_cart",
        "property_filters": [{"property": "cart_value", "op": "between", "value": [100, 200]}]}]}),
    )
}

#[test]
fn r_t3_seed_cart_value_between_100_and_200() {
    let c = cart_campaign();
    let user = User::new();
    let cart = |value: serde_json::Value| {
        custom_with(
            "abandoned_cart",
            "2026-01-05T10:00:00Z",
            json!({ "cart_value": value }),
        )
    };
    for inside in [json!(100), json!(150), json!(199.99), json!(200)] {
        assert_eq!(
            user.outcome(&c, &cart(inside.clone())),
            Outcome::Scheduled,
            "{inside}"
        );
    }
    for outside in [
        json!(99.99),
        json!(200.01),
        json!(250),
        json!("150"),
        json!(null),
    ] {
        assert_eq!(
            user.outcome(&c, &cart(outside.clone())),
            Outcome::PropertyFiltersNotMet,
            "{outside}"
        );
    }
    let missing = custom_with("abandoned_cart", "2026-01-05T10:00:00Z", json!({}));
    assert_eq!(user.outcome(&c, &missing), Outcome::PropertyFiltersNotMet);
    // Another name: not this trigger at all.
    let other = custom_with(
        "cart_viewed",
        "2026-01-05T10:00:00Z",
        json!({"cart_value": 150}),
    );
    assert!(user.decide(&c, &other).is_empty());
}

#[test]
fn r_t3_operators_on_event_properties_through_decide() {
    let user = User::new();
    let cases = [
        (
            json!({"property": "order.total", "op": "gt", "value": 50}),
            json!({"order": {"total": 60}}),
            true,
        ),
        (
            json!({"property": "order.total", "op": "gt", "value": 50}),
            json!({"order": {"total": 50}}),
            false,
        ),
        (
            json!({"property": "plan", "op": "in", "value": ["pro", "team"]}),
            json!({"plan": "team"}),
            true,
        ),
        (
            json!({"property": "plan", "op": "not_in", "value": ["pro", "team"]}),
            json!({"plan": "team"}),
            false,
        ),
        (
            json!({"property": "sku", "op": "matches", "value": "^SKU-[0-9]+$"}),
            json!({"sku": "SKU-42"}),
            true,
        ),
        (
            json!({"property": "sku", "op": "matches", "value": "^SKU-[0-9]+$"}),
            json!({"sku": "sku-42"}),
            false,
        ),
        (
            json!({"property": "at", "op": "lt", "value": "2026-01-05T12:00:00Z"}),
            json!({"at": "2026-01-05T11:00:00+00:00"}),
            true,
        ),
        (
            json!({"property": "at", "op": "lt", "value": "2026-01-05T12:00:00Z"}),
            json!({"at": "2026-01-05T13:00:00+02:00"}),
            true,
        ),
        (
            json!({"property": "at", "op": "lt", "value": "2026-01-05T12:00:00Z"}),
            json!({"at": "2026-01-05T13:00:00Z"}),
            false,
        ),
        (
            json!({"property": "coupon", "op": "exists"}),
            json!({"coupon": "X"}),
            true,
        ),
        (
            json!({"property": "coupon", "op": "not_exists"}),
            json!({}),
            true,
        ),
        (
            json!({"property": "coupon", "op": "ne", "value": "X"}),
            json!({}),
            true,
        ),
        (
            json!({"property": "coupon", "op": "eq", "value": "X"}),
            json!({}),
            false,
        ),
        (
            json!({"property": "vip", "op": "eq", "value": true}),
            json!({"vip": true}),
            true,
        ),
        (
            json!({"property": "name", "op": "starts_with", "value": "Pro"}),
            json!({"name": "Pro plan"}),
            true,
        ),
        (
            json!({"property": "name", "op": "ends_with", "value": "plan"}),
            json!({"name": "Pro plan"}),
            true,
        ),
        (
            json!({"property": "tags", "op": "contains", "value": "sale"}),
            json!({"tags": ["new", "sale"]}),
            true,
        ),
    ];
    for (filter, properties, expected) in cases {
        let c = campaign(json!({"triggers": [{"type": "custom_event", "name": "go",
            "property_filters": [filter.clone()]}]}));
        let outcome = user.outcome(
            &c,
            &custom_with("go", "2026-01-05T10:00:00Z", properties.clone()),
        );
        let want = if expected {
            Outcome::Scheduled
        } else {
            Outcome::PropertyFiltersNotMet
        };
        assert_eq!(outcome, want, "{filter} on {properties}");
    }
}

#[test]
fn r_t3_purchase_filters_and_product() {
    let c = campaign(
        json!({"triggers": [{"type": "purchase", "product_id": "sku1",
        "property_filters": [{"property": "price", "op": "gte", "value": 20}]}]}),
    );
    let user = User::new();
    let buy = |product: &str, price: f64| {
        purchase(product, "2026-01-05T10:00:00Z").with_properties(json!({ "price": price }))
    };
    assert_eq!(user.outcome(&c, &buy("sku1", 25.0)), Outcome::Scheduled);
    assert_eq!(
        user.outcome(&c, &buy("sku1", 19.5)),
        Outcome::PropertyFiltersNotMet
    );
    assert!(user.decide(&c, &buy("sku2", 25.0)).is_empty());
}

// ---------------------------------------------------------------- R-T4 / R-T5 / R-T6

#[test]
fn r_t4_email_added_segment_sees_the_new_email() {
    let c = campaign(json!({
        "triggers": [{"type": "email_added"}],
        "audience": {"segment": {"attribute": "email", "op": "ends_with", "value": "@gmail.com"}}
    }));
    let event = Event::new(
        EventKind::EmailAdded,
        utc("2026-01-05T10:00:00Z"),
        Source::Rest,
    );
    // The attribute update is applied before the event is decided.
    let gmail = User::new().with("email", json!("ann@gmail.com"));
    assert_eq!(gmail.outcome(&c, &event), Outcome::Scheduled);
    let other = User::new().with("email", json!("ann@example.com"));
    assert_eq!(other.outcome(&c, &event), Outcome::NotInSegment);
}

#[test]
fn r_t5_event_before_launch_never_triggers() {
    let c = campaign(json!({}));
    let mut user = User::new();
    user.launched_at = Some(utc("2026-01-05T10:00:00Z"));
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T09:59:59Z")),
        Outcome::BeforeLaunch
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::Scheduled,
        "an event at the launch instant triggers"
    );
    user.launched_at = None;
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::BeforeLaunch
    );
}

#[test]
fn r_t6_in_app_requires_sdk_event() {
    let c = campaign(json!({"channel": "in_app", "message": {"body": "Welcome back"}}));
    let user = User::new();
    let rest = go("2026-01-05T10:00:00Z");
    assert_eq!(user.outcome(&c, &rest), Outcome::IamRequiresSdkEvent);
    let mut sdk = rest.clone();
    sdk.source = Source::Sdk;
    assert_eq!(user.outcome(&c, &sdk), Outcome::Scheduled);
    // Other channels take REST events.
    assert_eq!(
        user.outcome(&campaign(json!({})), &rest),
        Outcome::Scheduled
    );
}

#[test]
fn r_w7_stopped_or_draft_campaign_refuses_first() {
    let c = campaign(json!({}));
    for status in [CampaignStatus::Stopped, CampaignStatus::Draft] {
        let mut user = User::new();
        user.status = status;
        user.launched_at = None;
        assert_eq!(
            user.outcome(&c, &go("2026-01-05T10:00:00Z")),
            Outcome::CampaignStopped,
            "{status:?}"
        );
    }
}

// ---------------------------------------------------------------- R-A1 / R-A2

#[test]
fn r_a2_seed_registration_and_gender_first_event_triggers() {
    let c = campaign(json!({
        "triggers": [{"type": "custom_event", "name": "registration"}],
        "audience": {"segment": {"all": [
            {"attribute": "gender", "op": "eq", "value": "M"},
            {"event": "registration", "count": {"op": "gte", "value": 1}}
        ]}}
    }));
    let at = "2026-01-05T10:00:00Z";
    // The daemon applies `gender` (R-T7) and records the event before deciding (R-A2).
    let mut user = User::new().with("gender", json!("M"));
    user.profile.record_event("registration", utc(at));
    assert_eq!(
        user.outcome(&c, &custom("registration", at)),
        Outcome::Scheduled
    );
    // Without the event in the profile the seed's two-step problem would appear:
    let mut before = User::new().with("gender", json!("M"));
    assert_eq!(
        before.outcome(&c, &custom("registration", at)),
        Outcome::NotInSegment
    );
    // ... and without the attribute applied first, the race the seed warns about.
    before.profile = triggerd_core::segment::testing::MemoryProfile::new();
    before.profile.record_event("registration", utc(at));
    assert_eq!(
        before.outcome(&c, &custom("registration", at)),
        Outcome::NotInSegment
    );
}

#[test]
fn r_a1_segment_tree_with_event_counts_within() {
    let c = campaign(json!({"audience": {"segment": {"all": [
        {"any": [
            {"attribute": "country", "op": "in", "value": ["FR", "BE"]},
            {"attribute": "vip", "op": "eq", "value": true}
        ]},
        {"not": {"event": "purchase", "count": {"op": "gte", "value": 1}, "within": "30d"}}
    ]}}}));
    let at = "2026-03-01T10:00:00Z";
    let fr = User::new().with("country", json!("FR"));
    assert_eq!(fr.outcome(&c, &go(at)), Outcome::Scheduled);
    let us = User::new().with("country", json!("US"));
    assert_eq!(us.outcome(&c, &go(at)), Outcome::NotInSegment);
    let vip = User::new()
        .with("country", json!("US"))
        .with("vip", json!(true));
    assert_eq!(vip.outcome(&c, &go(at)), Outcome::Scheduled);
    // A purchase exactly 30 days before counts (inclusive within): out.
    let mut buyer = User::new().with("country", json!("FR"));
    buyer
        .profile
        .record_event("purchase", utc(at) - chrono::Duration::days(30));
    assert_eq!(buyer.outcome(&c, &go(at)), Outcome::NotInSegment);
    // One second earlier it no longer counts: in.
    let mut old_buyer = User::new().with("country", json!("FR"));
    old_buyer.profile.record_event(
        "purchase",
        utc(at) - chrono::Duration::days(30) - chrono::Duration::seconds(1),
    );
    assert_eq!(old_buyer.outcome(&c, &go(at)), Outcome::Scheduled);
}

// ---------------------------------------------------------------- R-D1

#[test]
fn r_d1_immediate_is_due_at_the_trigger() {
    let c = campaign(json!({}));
    let t = "2026-01-05T10:00:00.250Z";
    let plan = User::new().plan(&c, &go(t));
    assert_eq!(plan.outcome, Outcome::Scheduled);
    assert_eq!(plan.due, utc(t));
}

#[test]
fn r_d1_after_is_an_exact_duration_even_across_dst() {
    let user = User::new();
    let c = campaign(json!({"delay": after("90m")}));
    assert_eq!(
        user.due(&c, &go("2026-01-05T10:00:00Z")),
        utc("2026-01-05T11:30:00Z")
    );
    // 1d = 24 h, not "same wall-clock time tomorrow": across New York's
    // spring-forward night the local time moves from 12:00 EST to 13:00 EDT.
    let ny = campaign(json!({"delay": after("1d"), "time_zone": "America/New_York"}));
    assert_eq!(
        user.due(&ny, &go("2026-03-07T17:00:00Z")),
        utc("2026-03-08T17:00:00Z")
    );
}

#[test]
fn r_d1_next_weekday_on_that_weekday_goes_to_the_following_week() {
    let user = User::new();
    let c = campaign(json!({"delay": {"type": "next_weekday", "weekday": "tue", "at": "09:00"}}));
    // Tuesday 2026-01-06 → Tuesday 2026-01-13, even before 09:00.
    assert_eq!(
        user.due(&c, &go("2026-01-06T07:00:00Z")),
        utc("2026-01-13T09:00:00Z")
    );
    // Monday → the next day.
    assert_eq!(
        user.due(&c, &go("2026-01-05T23:59:59Z")),
        utc("2026-01-06T09:00:00Z")
    );
}

#[test]
fn r_d1_next_weekday_across_month_and_year_ends() {
    let user = User::new();
    let tue = campaign(json!({"delay": {"type": "next_weekday", "weekday": "tue", "at": "09:00"}}));
    // Friday 2026-01-30 → Tuesday 2026-02-03.
    assert_eq!(
        user.due(&tue, &go("2026-01-30T12:00:00Z")),
        utc("2026-02-03T09:00:00Z")
    );
    let mon = campaign(json!({"delay": {"type": "next_weekday", "weekday": "mon", "at": "08:30"}}));
    // Wednesday 2026-12-30 → Monday 2027-01-04.
    assert_eq!(
        user.due(&mon, &go("2026-12-30T12:00:00Z")),
        utc("2027-01-04T08:30:00Z")
    );
    // Sunday 2026-12-27 → Monday 2026-12-28; Monday 2026-12-28 → 2027-01-04.
    assert_eq!(
        user.due(&mon, &go("2026-12-27T12:00:00Z")),
        utc("2026-12-28T08:30:00Z")
    );
    assert_eq!(
        user.due(&mon, &go("2026-12-28T12:00:00Z")),
        utc("2027-01-04T08:30:00Z")
    );
}

#[test]
fn r_d1_next_weekday_reads_the_local_date_of_the_trigger() {
    // 2026-01-06T23:30Z is Tuesday in UTC but Wednesday 00:30 in Paris.
    let c = campaign(json!({
        "delay": {"type": "next_weekday", "weekday": "wed", "at": "09:00"},
        "time_zone": "Europe/Paris"
    }));
    assert_eq!(
        User::new().due(&c, &go("2026-01-06T23:30:00Z")),
        utc("2026-01-14T08:00:00Z"),
        "Wednesday local → the following Wednesday 09:00 CET"
    );
    let utc_campaign =
        campaign(json!({"delay": {"type": "next_weekday", "weekday": "wed", "at": "09:00"}}));
    assert_eq!(
        User::new().due(&utc_campaign, &go("2026-01-06T23:30:00Z")),
        utc("2026-01-07T09:00:00Z")
    );
}

#[test]
fn r_d1_in_days_around_29_february() {
    let user = User::new();
    let c = campaign(json!({"delay": {"type": "in_days", "days": 1, "at": "09:00"}}));
    // 2028 is a leap year.
    assert_eq!(
        user.due(&c, &go("2028-02-28T12:00:00Z")),
        utc("2028-02-29T09:00:00Z")
    );
    assert_eq!(
        user.due(&c, &go("2028-02-29T12:00:00Z")),
        utc("2028-03-01T09:00:00Z")
    );
    // 2027 is not.
    assert_eq!(
        user.due(&c, &go("2027-02-28T12:00:00Z")),
        utc("2027-03-01T09:00:00Z")
    );
    // 2028-02-29 is a Tuesday: next_weekday tue from the Tuesday before lands on it.
    let tue = campaign(json!({"delay": {"type": "next_weekday", "weekday": "tue", "at": "09:00"}}));
    assert_eq!(
        user.due(&tue, &go("2028-02-22T12:00:00Z")),
        utc("2028-02-29T09:00:00Z")
    );
    // 365 days later in_days crosses the leap day.
    let year = campaign(json!({"delay": {"type": "in_days", "days": 365, "at": "09:00"}}));
    assert_eq!(
        user.due(&year, &go("2028-01-01T12:00:00Z")),
        utc("2028-12-31T09:00:00Z")
    );
}

#[test]
fn r_d1_in_days_across_month_and_year_ends() {
    let user = User::new();
    let c = campaign(json!({"delay": {"type": "in_days", "days": 2, "at": "09:00"}}));
    assert_eq!(
        user.due(&c, &go("2026-01-31T12:00:00Z")),
        utc("2026-02-02T09:00:00Z")
    );
    assert_eq!(
        user.due(&c, &go("2026-12-31T23:59:00Z")),
        utc("2027-01-02T09:00:00Z")
    );
}

// ---------------------------------------------------------------- R-D2 (DST through decide)

fn at_0230(zone: &str) -> triggerd_core::Campaign {
    campaign(json!({
        "delay": {"type": "in_days", "days": 1, "at": "02:30"},
        "time_zone": zone
    }))
}

#[test]
fn r_d2_new_york_gap_moves_forward_by_the_gap() {
    // 2026-03-08 02:00 EST → 03:00 EDT: 02:30 becomes 03:30 EDT = 07:30Z.
    let plan = User::new().plan(&at_0230("America/New_York"), &go("2026-03-07T15:00:00Z"));
    assert_eq!(plan.due, utc("2026-03-08T07:30:00Z"));
    assert_eq!(plan.zone.name(), "America/New_York");
}

#[test]
fn r_d2_new_york_overlap_takes_the_earlier_instant() {
    // 2026-11-01 02:00 EDT → 01:00 EST: 01:30 happens twice; take EDT (05:30Z).
    let c = campaign(json!({
        "delay": {"type": "in_days", "days": 1, "at": "01:30"},
        "time_zone": "America/New_York"
    }));
    assert_eq!(
        User::new().due(&c, &go("2026-10-31T15:00:00Z")),
        utc("2026-11-01T05:30:00Z")
    );
}

#[test]
fn r_d2_paris_gap_moves_forward_by_the_gap() {
    // 2026-03-29 02:00 CET → 03:00 CEST: 02:30 becomes 03:30 CEST = 01:30Z.
    assert_eq!(
        User::new().due(&at_0230("Europe/Paris"), &go("2026-03-28T12:00:00Z")),
        utc("2026-03-29T01:30:00Z")
    );
}

#[test]
fn r_d2_paris_overlap_takes_the_earlier_instant() {
    // 2026-10-25 03:00 CEST → 02:00 CET: 02:30 CEST = 00:30Z (not 01:30Z).
    assert_eq!(
        User::new().due(&at_0230("Europe/Paris"), &go("2026-10-24T12:00:00Z")),
        utc("2026-10-25T00:30:00Z")
    );
}

#[test]
fn r_d2_user_zone_with_local_time_in_two_zones() {
    // local_time true: each user's zone; the campaign zone is the fallback.
    let c = campaign(json!({
        "delay": {"type": "in_days", "days": 1, "at": "02:30"},
        "schedule": {"start": "2026-01-01T00:00:00", "local_time": true},
        "time_zone": "Europe/Paris"
    }));
    let ny = User::new().in_zone("America/New_York");
    let plan = ny.plan(&c, &go("2026-03-07T15:00:00Z"));
    assert_eq!(plan.due, utc("2026-03-08T07:30:00Z"));
    assert_eq!(plan.zone.source, ZoneSource::User);
    let nobody = User::new();
    let plan = nobody.plan(&c, &go("2026-03-28T12:00:00Z"));
    assert_eq!(plan.due, utc("2026-03-29T01:30:00Z"));
    assert_eq!(plan.zone.source, ZoneSource::CampaignFallback);
    // A user zone that is not an IANA name falls back too, and says so.
    let plan = User::new()
        .in_zone("Mars/Olympus")
        .plan(&c, &go("2026-03-28T12:00:00Z"));
    assert_eq!(plan.due, utc("2026-03-29T01:30:00Z"));
    assert_eq!(
        plan.zone.source,
        ZoneSource::UnknownUserZone {
            name: "Mars/Olympus".into()
        }
    );
    // Without local_time the user's zone is ignored.
    let fixed = campaign(json!({
        "delay": {"type": "in_days", "days": 1, "at": "02:30"},
        "time_zone": "Europe/Paris"
    }));
    assert_eq!(
        ny.due(&fixed, &go("2026-03-28T12:00:00Z")),
        utc("2026-03-29T01:30:00Z")
    );
}

#[test]
fn r_d2_next_weekday_lands_on_the_dst_day() {
    // Sunday 2026-03-29 09:00 Paris is already CEST (07:00Z).
    let c = campaign(json!({
        "delay": {"type": "next_weekday", "weekday": "sun", "at": "09:00"},
        "time_zone": "Europe/Paris"
    }));
    assert_eq!(
        User::new().due(&c, &go("2026-03-25T12:00:00Z")),
        utc("2026-03-29T07:00:00Z")
    );
}

// ---------------------------------------------------------------- R-D3

#[test]
fn r_d3_intelligent_timing_uses_the_users_preferred_hour() {
    let c = campaign(json!({"delay": {"type": "intelligent", "days": 0, "fallback_at": "10:00"}}));
    // 19:15 New York (EST) is 00:15Z the next day.
    let mut user = User::new().in_zone("America/New_York");
    user.engagement = vec![
        utc("2026-01-02T00:15:00Z"),
        utc("2026-01-03T00:40:00Z"),
        utc("2026-01-04T00:05:00Z"),
        utc("2026-01-04T14:00:00Z"),
    ];
    // Trigger 10:00 EST: due 19:00 EST the same local day, in the user's
    // zone although schedule.local_time is false.
    let plan = user.plan(&c, &go("2026-01-05T15:00:00Z"));
    assert_eq!(plan.due, utc("2026-01-06T00:00:00Z"));
    assert_eq!(plan.zone.name(), "America/New_York");
    // Trigger after 19:00 local: the next day's 19:00.
    assert_eq!(
        user.due(&c, &go("2026-01-06T01:00:00Z")),
        utc("2026-01-07T00:00:00Z")
    );
}

#[test]
fn r_d3_preferred_hour_in_the_dst_gap_moves_forward() {
    // Preferred hour 02 in New York; 02:00 does not exist on 2026-03-08, so
    // the send goes at 03:00 EDT (07:00Z) by R-D2.
    let c = campaign(json!({"delay": {"type": "intelligent", "days": 0, "fallback_at": "10:00"}}));
    let mut user = User::new().in_zone("America/New_York");
    user.engagement = vec![
        utc("2026-02-10T07:10:00Z"),
        utc("2026-02-11T07:20:00Z"),
        utc("2026-02-12T07:30:00Z"),
    ];
    assert_eq!(
        user.due(&c, &go("2026-03-08T05:30:00Z")),
        utc("2026-03-08T07:00:00Z")
    );
}

#[test]
fn r_d3_too_little_history_uses_fallback_after_the_trigger() {
    let c = campaign(json!({"delay": {"type": "intelligent", "days": 0, "fallback_at": "10:00"}}));
    let mut user = User::new().in_zone("America/New_York");
    user.engagement = vec![utc("2026-01-02T00:15:00Z"), utc("2026-01-03T00:40:00Z")];
    // 09:00 EST: fallback 10:00 EST the same day.
    assert_eq!(
        user.due(&c, &go("2026-01-05T14:00:00Z")),
        utc("2026-01-05T15:00:00Z")
    );
    // Exactly 10:00 EST: the due must be after t, so the next day.
    assert_eq!(
        user.due(&c, &go("2026-01-05T15:00:00Z")),
        utc("2026-01-06T15:00:00Z")
    );
    // Engagement older than 90 days does not count.
    user.engagement = vec![
        utc("2025-09-01T00:15:00Z"),
        utc("2025-09-02T00:15:00Z"),
        utc("2025-09-03T00:15:00Z"),
    ];
    assert_eq!(
        user.due(&c, &go("2026-01-05T14:00:00Z")),
        utc("2026-01-05T15:00:00Z")
    );
}

// ---------------------------------------------------------------- R-S1 / R-S2

#[test]
fn r_s1_trigger_outside_duration() {
    let c = campaign(
        json!({"schedule": {"start": "2026-01-05T00:00:00Z", "end": "2026-01-10T00:00:00Z"}}),
    );
    let user = User::new();
    assert_eq!(
        user.outcome(&c, &go("2026-01-04T23:59:59Z")),
        Outcome::OutsideDuration
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T00:00:00Z")),
        Outcome::Scheduled
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-09T23:59:59Z")),
        Outcome::Scheduled
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-10T00:00:00Z")),
        Outcome::OutsideDuration
    );
}

#[test]
fn r_s1_local_time_schedule_in_two_zones() {
    let c = campaign(json!({
        "schedule": {"start": "2026-03-01T09:00:00", "end": "2026-03-02T09:00:00", "local_time": true}
    }));
    let paris = User::new().in_zone("Europe/Paris");
    let ny = User::new().in_zone("America/New_York");
    // 09:30Z = 10:30 Paris (inside) = 04:30 New York (before its start).
    let early = go("2026-03-01T09:30:00Z");
    assert_eq!(paris.outcome(&c, &early), Outcome::Scheduled);
    assert_eq!(ny.outcome(&c, &early), Outcome::OutsideDuration);
    // Next day 10:00Z = 11:00 Paris (ended) = 05:00 New York (still running).
    let late = go("2026-03-02T10:00:00Z");
    assert_eq!(paris.outcome(&c, &late), Outcome::OutsideDuration);
    assert_eq!(ny.outcome(&c, &late), Outcome::Scheduled);
    // No zone: the campaign's (UTC).
    assert_eq!(User::new().outcome(&c, &late), Outcome::OutsideDuration);
    assert_eq!(User::new().outcome(&c, &early), Outcome::Scheduled);
}

#[test]
fn r_s2_delay_exceeds_duration_at_trigger_time() {
    let c = campaign(json!({
        "delay": after("1d"),
        "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-10T00:00:00Z"}
    }));
    let user = User::new();
    assert_eq!(
        user.outcome(&c, &go("2026-01-08T23:59:59Z")),
        Outcome::Scheduled
    );
    // Due exactly at the end: not sent.
    assert_eq!(
        user.outcome(&c, &go("2026-01-09T00:00:00Z")),
        Outcome::DelayExceedsDuration
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-09T12:00:00Z")),
        Outcome::DelayExceedsDuration
    );
}

#[test]
fn r_s2_local_end_differs_per_user_zone() {
    let c = campaign(json!({
        "delay": after("1h"),
        "schedule": {"start": "2026-01-01T00:00:00", "end": "2026-01-10T12:00:00", "local_time": true}
    }));
    // Trigger 10:30Z, due 11:30Z. The end is 12:00 local: 11:00Z in Paris,
    // 12:00Z in London, 17:00Z in New York.
    let trigger = go("2026-01-10T10:30:00Z");
    assert_eq!(
        User::new().in_zone("Europe/Paris").outcome(&c, &trigger),
        Outcome::DelayExceedsDuration
    );
    assert_eq!(
        User::new().in_zone("Europe/London").outcome(&c, &trigger),
        Outcome::Scheduled
    );
    assert_eq!(
        User::new()
            .in_zone("America/New_York")
            .outcome(&c, &trigger),
        Outcome::Scheduled
    );
}

// ---------------------------------------------------------------- R-W1 / R-W2 / R-W3

fn office(next_available: bool, delay: serde_json::Value) -> triggerd_core::Campaign {
    campaign(json!({
        "delay": delay,
        "window": {"start": "09:00", "end": "17:00", "next_available": next_available}
    }))
}

#[test]
fn r_w2_trigger_outside_window() {
    let c = office(false, after("1h"));
    let user = User::new();
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T08:59:59Z")),
        Outcome::TriggerOutsideWindow
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T09:00:00Z")),
        Outcome::Scheduled
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T17:00:00Z")),
        Outcome::TriggerOutsideWindow
    );
    // next_available does not rescue a trigger outside the window.
    let rolling = office(true, after("1h"));
    assert_eq!(
        user.outcome(&rolling, &go("2026-01-05T20:00:00Z")),
        Outcome::TriggerOutsideWindow
    );
}

#[test]
fn r_w2_window_reads_the_users_local_time() {
    let c = campaign(json!({
        "schedule": {"start": "2026-01-01T00:00:00", "local_time": true},
        "window": {"start": "09:00", "end": "17:00"}
    }));
    let t = go("2026-01-05T08:30:00Z"); // 09:30 Paris, 03:30 New York
    assert_eq!(
        User::new().in_zone("Europe/Paris").outcome(&c, &t),
        Outcome::Scheduled
    );
    assert_eq!(
        User::new().in_zone("America/New_York").outcome(&c, &t),
        Outcome::TriggerOutsideWindow
    );
}

#[test]
fn r_w3_due_outside_window_rolls_to_next_opening() {
    let c = office(true, after("1h"));
    let plan = User::new().plan(&c, &go("2026-01-05T16:30:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    assert_eq!(plan.due, utc("2026-01-06T09:00:00Z"));
    assert!(plan.detail.contains("rolled"), "{}", plan.detail);
    // Due at the window's end (excluded) rolls too.
    let plan = User::new().plan(&c, &go("2026-01-05T16:00:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    // Due inside: scheduled, not rolled.
    let plan = User::new().plan(&c, &go("2026-01-05T15:59:59Z"));
    assert_eq!(plan.outcome, Outcome::Scheduled);
    assert_eq!(plan.due, utc("2026-01-05T16:59:59Z"));
}

#[test]
fn r_w3_delay_outside_window_without_next_available() {
    let c = office(false, after("1h"));
    let user = User::new();
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T16:30:00Z")),
        Outcome::DelayOutsideWindow
    );
    let d = user.decide(&c, &go("2026-01-05T16:30:00Z"));
    match d.trigger {
        Some(TriggerOutcome::Refused { detail, .. }) => {
            assert!(detail.contains("17:30 local"), "{detail}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn r_w3_roll_then_r_s2_again() {
    let c = campaign(json!({
        "delay": after("1h"),
        "window": {"start": "09:00", "end": "17:00", "next_available": true},
        "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-06T09:00:00Z"}
    }));
    // Unrolled due 17:30 is before the end, the opening 09:00 the next day is not.
    assert_eq!(
        User::new().outcome(&c, &go("2026-01-05T16:30:00Z")),
        Outcome::DelayExceedsDuration
    );
    let open_one_minute_more = campaign(json!({
        "delay": after("1h"),
        "window": {"start": "09:00", "end": "17:00", "next_available": true},
        "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-06T09:01:00Z"}
    }));
    assert_eq!(
        User::new().outcome(&open_one_minute_more, &go("2026-01-05T16:30:00Z")),
        Outcome::RolledToNextWindow
    );
}

#[test]
fn r_w1_window_across_midnight() {
    let c = campaign(json!({
        "delay": after("1h"),
        "window": {"start": "22:00", "end": "06:00", "next_available": true}
    }));
    let user = User::new();
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T23:30:00Z")),
        Outcome::Scheduled
    );
    assert_eq!(
        user.due(&c, &go("2026-01-05T23:30:00Z")),
        utc("2026-01-06T00:30:00Z")
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-06T04:59:59Z")),
        Outcome::Scheduled
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-06T06:00:00Z")),
        Outcome::TriggerOutsideWindow
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-06T21:59:59Z")),
        Outcome::TriggerOutsideWindow
    );
    // 05:30 + 1h = 06:30, outside: rolls to 22:00 the same day.
    let plan = user.plan(&c, &go("2026-01-06T05:30:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    assert_eq!(plan.due, utc("2026-01-06T22:00:00Z"));
}

#[test]
fn r_w6_window_on_a_spring_forward_night_opens_at_the_first_reading_inside() {
    // New York 2026-03-08: 02:00 EST jumps to 03:00 EDT. A 02:30–05:00
    // window opens at 03:00 EDT (07:00Z), the first wall-clock reading inside.
    let c = campaign(json!({
        "delay": after("1h"),
        "time_zone": "America/New_York",
        "window": {"start": "02:30", "end": "05:00", "next_available": true}
    }));
    // Trigger 04:30 EST on the 7th (09:30Z), due 05:30 EST: outside.
    let plan = User::new().plan(&c, &go("2026-03-07T09:30:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    assert_eq!(plan.due, utc("2026-03-08T07:00:00Z"));
}

#[test]
fn r_w6_window_on_a_fall_back_night_in_paris() {
    // Paris 2026-10-25: 03:00 CEST goes back to 02:00 CET, so a 02:00–02:30
    // window is open twice that night.
    let c = campaign(json!({
        "delay": after("30m"),
        "time_zone": "Europe/Paris",
        "window": {"start": "02:00", "end": "02:30", "next_available": true}
    }));
    let user = User::new();
    // 02:10 CEST on the 24th (00:10Z), due 02:40 CEST: the next opening is
    // the first 02:00 of the 25th, 02:00 CEST = 00:00Z.
    let plan = user.plan(&c, &go("2026-10-24T00:10:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    assert_eq!(plan.due, utc("2026-10-25T00:00:00Z"));
    // The second 02:10 (CET, 01:10Z) is inside the window too; its due
    // 02:40 CET rolls to 02:00 CET on the 26th (01:00Z).
    let plan = user.plan(&c, &go("2026-10-25T01:10:00Z"));
    assert_eq!(plan.outcome, Outcome::RolledToNextWindow);
    assert_eq!(plan.due, utc("2026-10-26T01:00:00Z"));
}

#[test]
fn r_w4_refusals_are_not_receipts_user_stays_eligible() {
    let c = office(false, after("1h"));
    let user = User::new();
    let refused = user.decide(&c, &go("2026-01-05T16:30:00Z"));
    assert_eq!(
        refused.trigger.as_ref().map(TriggerOutcome::outcome),
        Some(Outcome::DelayOutsideWindow)
    );
    assert!(refused.cancellations.is_empty());
    // The pair state is unchanged, so the next trigger is planned.
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::Scheduled
    );
}

#[test]
fn r_w5_schedule_and_window_both_apply() {
    let c = campaign(json!({
        "delay": {"type": "in_days", "days": 1, "at": "08:00"},
        "window": {"start": "09:00", "end": "17:00", "next_available": true},
        "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-07T00:00:00Z"}
    }));
    let user = User::new();
    // Due 08:00 on the 6th, rolled to 09:00 on the 6th: fits both.
    assert_eq!(
        user.due(&c, &go("2026-01-05T10:00:00Z")),
        utc("2026-01-06T09:00:00Z")
    );
    // Due 08:00 on the 7th: after the end.
    assert_eq!(
        user.outcome(&c, &go("2026-01-06T10:00:00Z")),
        Outcome::DelayExceedsDuration
    );
}

#[test]
fn r_w7_refusals_come_in_spec_order() {
    // Everything fails at first; each step repairs the first failing check
    // and the next refusal in R-W7 order shows up.
    let in_app = |extra: serde_json::Value| {
        let mut over = json!({
            "channel": "in_app",
            "message": {"body": "hello"},
            "triggers": [{"type": "custom_event", "name": "go",
                "property_filters": [{"property": "ok", "op": "eq", "value": true}]}],
            "audience": {"segment": {"attribute": "vip", "op": "eq", "value": true}},
            "delay": after("1441m"),
            "schedule": {"start": "2026-01-05T00:00:00Z", "end": "2026-01-10T00:00:00Z"},
            "window": {"start": "09:00", "end": "17:00"},
            "reeligibility": {"after": "30d"}
        });
        if let (Some(o), serde_json::Value::Object(e)) = (over.as_object_mut(), extra) {
            o.extend(e);
        }
        campaign(over)
    };
    let c = in_app(json!({}));
    let mut user = User::new().received_at("2026-01-01T00:00:00Z");
    user.launched_at = Some(utc("2026-01-05T12:00:00Z"));
    // Before launch, bad filter, REST source, before the schedule, outside
    // the window, not in the segment, not re-eligible yet.
    let mut event = custom_with("go", "2026-01-04T20:00:00Z", json!({"ok": false}));
    let mut seen = vec![user.outcome(&c, &event)];
    user.launched_at = Some(utc("2026-01-01T00:00:00Z"));
    seen.push(user.outcome(&c, &event));
    event.properties = json!({"ok": true});
    seen.push(user.outcome(&c, &event));
    event.source = Source::Sdk;
    seen.push(user.outcome(&c, &event));
    event.time = utc("2026-01-09T20:00:00Z");
    seen.push(user.outcome(&c, &event));
    // 16:59:30 + 1441m = 17:00:30 the next day: after the end AND outside the window.
    event.time = utc("2026-01-09T16:59:30Z");
    seen.push(user.outcome(&c, &event));
    user.profile.set_attribute("vip", json!(true));
    seen.push(user.outcome(&c, &event));
    user.state.last_receipt = None;
    seen.push(user.outcome(&c, &event));
    let longer =
        json!({"schedule": {"start": "2026-01-05T00:00:00Z", "end": "2026-02-01T00:00:00Z"}});
    seen.push(user.outcome(&in_app(longer.clone()), &event));
    let mut rolling = longer;
    rolling["window"] = json!({"start": "09:00", "end": "17:00", "next_available": true});
    seen.push(user.outcome(&in_app(rolling), &event));
    assert_eq!(
        seen,
        [
            Outcome::BeforeLaunch,
            Outcome::PropertyFiltersNotMet,
            Outcome::IamRequiresSdkEvent,
            Outcome::OutsideDuration,
            Outcome::TriggerOutsideWindow,
            Outcome::NotInSegment,
            Outcome::NotReeligibleYet,
            Outcome::DelayExceedsDuration,
            Outcome::DelayOutsideWindow,
            Outcome::RolledToNextWindow,
        ]
    );
}

#[test]
fn r_w7_order_segment_before_reeligibility() {
    let c = campaign(json!({
        "audience": {"segment": {"attribute": "vip", "op": "eq", "value": true}}
    }));
    let user = User::new().received_at("2026-01-01T00:00:00Z");
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::NotInSegment
    );
    let vip = user.with("vip", json!(true));
    assert_eq!(
        vip.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::NotReeligible
    );
}

#[test]
fn r_w7_order_window_before_segment_and_reeligibility_before_delay() {
    let c = campaign(json!({
        "audience": {"segment": {"attribute": "vip", "op": "eq", "value": true}},
        "window": {"start": "09:00", "end": "17:00"},
        "delay": after("12h")
    }));
    let user = User::new().pending("s0", "2026-01-05T09:00:00Z", "2026-01-05T21:00:00Z");
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T18:00:00Z")),
        Outcome::TriggerOutsideWindow
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::NotInSegment
    );
    let vip = user.with("vip", json!(true));
    // already_pending is decided before the due (which would be outside the window).
    assert_eq!(
        vip.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::AlreadyPending
    );
    let free = User::new().with("vip", json!(true));
    assert_eq!(
        free.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::DelayOutsideWindow
    );
}

// ---------------------------------------------------------------- R-E2 … R-E6

fn reminder(exceptions: serde_json::Value) -> triggerd_core::Campaign {
    campaign(json!({
        "triggers": [{"type": "custom_event", "name": "abandoned_cart"}],
        "delay": after("1h"),
        "exceptions": exceptions,
        "reeligibility": {"after": "0s"}
    }))
}

fn cancelled(id: &str, outcome: Outcome) -> Cancellation {
    Cancellation {
        send_id: id.into(),
        outcome,
    }
}

#[test]
fn r_e2_exception_cancels_pending_sends_triggered_before_it() {
    let c = reminder(json!([{"type": "purchase"}]));
    let user = User::new()
        .pending("s1", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z")
        .pending("s2", "2026-01-05T10:20:00Z", "2026-01-05T11:20:00Z")
        .pending("s3", "2026-01-05T10:40:00Z", "2026-01-05T11:40:00Z");
    let d = user.decide(&c, &purchase("sku", "2026-01-05T10:30:00Z"));
    assert_eq!(d.trigger, None, "a purchase is not a trigger here");
    assert_eq!(
        d.cancellations,
        [
            cancelled("s1", Outcome::CancelledByException),
            cancelled("s2", Outcome::CancelledByException)
        ]
    );
    assert!(d.emit_exception_event);
}

#[test]
fn r_e2_exception_at_the_trigger_instant_does_not_cancel() {
    let c = reminder(json!([{"type": "purchase"}]));
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z");
    let d = user.decide(&c, &purchase("sku", "2026-01-05T10:00:00Z"));
    assert!(d.is_empty(), "{d:?}");
    assert!(!d.emit_exception_event);
}

#[test]
fn r_e2_exception_at_the_exact_due_instant_still_cancels_while_pending() {
    let c = reminder(json!([{"type": "purchase"}]));
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z");
    let d = user.decide(&c, &purchase("sku", "2026-01-05T11:00:00Z"));
    assert_eq!(
        d.cancellations,
        [cancelled("s1", Outcome::CancelledByException)]
    );
}

#[test]
fn r_e2_cancelled_user_stays_eligible_whatever_the_reeligibility() {
    // No re-eligibility: after a cancellation (no receipt, nothing pending)
    // the next trigger plans a send.
    let c = campaign(json!({
        "delay": after("1h"),
        "exceptions": [{"type": "purchase"}]
    }));
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z");
    let d = user.decide(&c, &purchase("sku", "2026-01-05T10:30:00Z"));
    assert_eq!(d.cancellations.len(), 1);
    let after_cancel = User::new();
    assert_eq!(
        after_cancel.outcome(&c, &go("2026-01-05T10:45:00Z")),
        Outcome::Scheduled
    );
}

#[test]
fn r_e1_exception_filters_and_conversion_exception() {
    let filtered = reminder(json!([{"type": "custom_event", "name": "checkout",
        "property_filters": [{"property": "total", "op": "gt", "value": 0}]}]));
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z");
    let free = custom_with("checkout", "2026-01-05T10:30:00Z", json!({"total": 0}));
    assert!(user.decide(&filtered, &free).is_empty());
    let paid = custom_with("checkout", "2026-01-05T10:30:00Z", json!({"total": 10}));
    assert_eq!(user.decide(&filtered, &paid).cancellations.len(), 1);
    // A `conversion` exception matches any conversion event of the campaign.
    let conv = campaign(json!({
        "triggers": [{"type": "custom_event", "name": "trial_ending"}],
        "delay": after("1d"),
        "exceptions": [{"type": "conversion"}],
        "conversion_events": [
            {"type": "custom_event", "name": "plan_upgraded", "deadline": "7d"},
            {"type": "purchase", "deadline": "7d"}
        ]
    }));
    for event in [
        custom("plan_upgraded", "2026-01-05T12:00:00Z"),
        purchase("pro", "2026-01-05T12:00:00Z"),
    ] {
        let d = user.decide(&conv, &event);
        assert_eq!(
            d.cancellations,
            [cancelled("s1", Outcome::CancelledByException)],
            "{}",
            event.label()
        );
    }
    assert!(
        user.decide(&conv, &session("2026-01-05T12:00:00Z"))
            .is_empty()
    );
}

#[test]
fn r_e4_seed_trigger_5min_exception_10min() {
    // The same event is both the trigger and the exception: the pending send
    // of the 5-minute trigger is replaced by one planned from 10 minutes.
    let c = campaign(json!({
        "triggers": [{"type": "custom_event", "name": "level_up"}],
        "delay": after("1h"),
        "exceptions": [{"type": "custom_event", "name": "level_up"}]
    }));
    let first = User::new();
    let plan = first.plan(&c, &custom("level_up", "2026-01-05T10:05:00Z"));
    assert_eq!(plan.due, utc("2026-01-05T11:05:00Z"));
    let pending = User::new().pending("s5", "2026-01-05T10:05:00Z", "2026-01-05T11:05:00Z");
    let d = pending.decide(&c, &custom("level_up", "2026-01-05T10:10:00Z"));
    assert_eq!(d.cancellations, [cancelled("s5", Outcome::Rescheduled)]);
    match d.trigger {
        Some(TriggerOutcome::Planned(plan)) => {
            assert_eq!(plan.outcome, Outcome::Scheduled);
            assert_eq!(
                plan.due,
                utc("2026-01-05T11:10:00Z"),
                "due from the 10-minute event"
            );
        }
        other => panic!("expected a new plan, got {other:?}"),
    }
    // Without R-E4 the second trigger would have been already_pending.
    let plain = campaign(json!({
        "triggers": [{"type": "custom_event", "name": "level_up"}],
        "delay": after("1h")
    }));
    assert_eq!(
        pending.outcome(&plain, &custom("level_up", "2026-01-05T10:10:00Z")),
        Outcome::AlreadyPending
    );
}

#[test]
fn r_e4_refused_retrigger_still_cancels_by_exception() {
    // The trigger part is refused (outside the window): the exception still
    // cancels, as a plain exception.
    let c = campaign(json!({
        "triggers": [{"type": "custom_event", "name": "level_up"}],
        "delay": after("1h"),
        "window": {"start": "09:00", "end": "17:00", "next_available": true},
        "exceptions": [{"type": "custom_event", "name": "level_up"}]
    }));
    let pending = User::new().pending("s5", "2026-01-05T16:55:00Z", "2026-01-06T09:00:00Z");
    let d = pending.decide(&c, &custom("level_up", "2026-01-05T17:10:00Z"));
    assert_eq!(
        d.trigger.as_ref().map(TriggerOutcome::outcome),
        Some(Outcome::TriggerOutsideWindow)
    );
    assert_eq!(
        d.cancellations,
        [cancelled("s5", Outcome::CancelledByException)]
    );
}

#[test]
fn r_e5_cancelling_exception_emits_exception_event_for_other_campaigns() {
    let c = reminder(json!([{"type": "purchase"}]));
    let nothing_pending = User::new();
    let d = nothing_pending.decide(&c, &purchase("sku", "2026-01-05T10:30:00Z"));
    assert!(!d.emit_exception_event, "nothing was cancelled");
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-05T11:00:00Z");
    let d = user.decide(&c, &purchase("sku", "2026-01-05T10:30:00Z"));
    assert!(d.emit_exception_event);
    // The emitted event triggers a campaign listening to it.
    let follow_up =
        campaign(json!({"triggers": [{"type": "exception_event", "campaign_id": CAMPAIGN_ID}]}));
    let emitted = Event::new(
        EventKind::ExceptionEvent {
            campaign_id: CAMPAIGN_ID.into(),
        },
        utc("2026-01-05T10:30:00Z"),
        Source::Service,
    );
    assert_eq!(
        User::new().outcome(&follow_up, &emitted),
        Outcome::Scheduled
    );
    let other = Event::new(
        EventKind::ExceptionEvent {
            campaign_id: "other".into(),
        },
        utc("2026-01-05T10:30:00Z"),
        Source::Service,
    );
    assert!(User::new().decide(&follow_up, &other).is_empty());
}

#[test]
fn r_e6_correlate_on_cancels_only_the_matching_cart() {
    let c = reminder(json!([{"type": "purchase", "correlate_on": "cart_id"}]));
    let user = User::new()
        .pending_with(
            "cart-a",
            "2026-01-05T10:00:00Z",
            "2026-01-05T11:00:00Z",
            json!({"cart_id": "A"}),
        )
        .pending_with(
            "cart-b",
            "2026-01-05T10:05:00Z",
            "2026-01-05T11:05:00Z",
            json!({"cart_id": "B"}),
        )
        .pending_with(
            "no-cart",
            "2026-01-05T10:06:00Z",
            "2026-01-05T11:06:00Z",
            json!({}),
        );
    let buy_a = purchase("sku", "2026-01-05T10:30:00Z").with_properties(json!({"cart_id": "A"}));
    assert_eq!(
        user.decide(&c, &buy_a).cancellations,
        [cancelled("cart-a", Outcome::CancelledByException)]
    );
    // A purchase without a cart id correlates with nothing.
    let anonymous = purchase("sku", "2026-01-05T10:30:00Z");
    assert!(user.decide(&c, &anonymous).is_empty());
    // Without correlate_on (R-E2) every earlier pending send goes.
    let all = reminder(json!([{"type": "purchase"}]));
    assert_eq!(user.decide(&all, &buy_a).cancellations.len(), 3);
}

// ---------------------------------------------------------------- R-R1 / R-R2 / R-R4

#[test]
fn r_r1_no_reeligibility_means_never_again() {
    let c = campaign(json!({"reeligibility": null}));
    let user = User::new().received_at("2025-01-01T00:00:00Z");
    assert_eq!(
        user.outcome(&c, &go("2026-06-01T00:00:00Z")),
        Outcome::NotReeligible
    );
}

#[test]
fn r_r2_reeligible_at_the_exact_boundary() {
    let c = campaign(json!({"reeligibility": {"after": "7d"}}));
    let user = User::new().received_at("2026-01-05T10:00:00Z");
    assert_eq!(
        user.outcome(&c, &go("2026-01-12T09:59:59Z")),
        Outcome::NotReeligibleYet
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-12T10:00:00Z")),
        Outcome::Scheduled,
        "t == last_receipt + after is eligible"
    );
}

#[test]
fn r_r2_a_late_processed_event_is_judged_when_processed() {
    // The event happened before the receipt but reached the service after
    // it (a client retry): at processing time the interval has passed.
    let c = campaign(json!({"reeligibility": {"after": "0s"}}));
    let user = User::new().received_at("2026-01-05T10:00:00.500Z");
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::NotReeligibleYet,
        "judged at the event's own time, the receipt is later"
    );
    let late = user.processed_at("2026-01-05T10:00:01Z");
    assert_eq!(
        late.outcome(&c, &go("2026-01-05T10:00:00Z")),
        Outcome::Scheduled
    );
    // A real interval still counts from the receipt.
    let c = campaign(json!({"reeligibility": {"after": "1h"}}));
    let user = User::new()
        .received_at("2026-01-05T10:00:00Z")
        .processed_at("2026-01-05T10:30:00Z");
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T09:00:00Z")),
        Outcome::NotReeligibleYet
    );
}

#[test]
fn r_r4_already_pending_without_reeligibility() {
    let c = campaign(json!({"delay": after("1d")}));
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-06T10:00:00Z");
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T12:00:00Z")),
        Outcome::AlreadyPending
    );
}

#[test]
fn r_r4_with_reeligibility_each_trigger_plans_its_own_send() {
    let c = campaign(json!({"delay": after("1d"), "reeligibility": {"after": "1h"}}));
    let user = User::new().pending("s1", "2026-01-05T10:00:00Z", "2026-01-06T10:00:00Z");
    let d = user.decide(&c, &go("2026-01-05T12:00:00Z"));
    assert!(d.cancellations.is_empty(), "the first send stays pending");
    match d.trigger {
        Some(TriggerOutcome::Planned(plan)) => {
            assert_eq!(plan.due, utc("2026-01-06T12:00:00Z"))
        }
        other => panic!("expected its own send, got {other:?}"),
    }
}

#[test]
fn r_r4_one_user_holds_at_most_the_pending_limit_of_one_campaign() {
    // With re-eligibility each trigger plans its own send, up to the limit.
    let c = campaign(json!({"delay": after("7d"), "reeligibility": {"after": "0s"}}));
    let mut user = User::new();
    for i in 0..MAX_PENDING_PER_PAIR - 1 {
        user = user.pending(
            &format!("s{i}"),
            "2026-01-05T10:00:00Z",
            "2026-01-12T10:00:00Z",
        );
    }
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T12:00:00Z")),
        Outcome::Scheduled,
        "one below the limit"
    );
    let user = user.pending("last", "2026-01-05T10:00:00Z", "2026-01-12T10:00:00Z");
    let d = user.decide(&c, &go("2026-01-05T12:00:00Z"));
    match d.trigger {
        Some(TriggerOutcome::Refused { outcome, detail }) => {
            assert_eq!(outcome, Outcome::AlreadyPending);
            assert!(detail.contains("100 sends"), "{detail}");
        }
        other => panic!("expected already_pending at the limit, got {other:?}"),
    }
}

#[test]
fn r_r2_interval_counts_from_the_last_receipt_with_pending_sends() {
    let c = campaign(json!({"delay": after("1h"), "reeligibility": {"after": "1d"}}));
    let user = User::new().received_at("2026-01-05T10:00:00Z").pending(
        "s2",
        "2026-01-05T09:30:00Z",
        "2026-01-05T10:30:00Z",
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-05T12:00:00Z")),
        Outcome::NotReeligibleYet
    );
    assert_eq!(
        user.outcome(&c, &go("2026-01-06T10:00:00Z")),
        Outcome::Scheduled
    );
}

#[test]
fn r_w3_delay_outside_window_detail_reads_the_window_zone() {
    // Intelligent timing uses the user's zone (New York), the window the
    // campaign's (UTC, local_time false). The refusal must quote the due on
    // the window's clock, not the user's.
    let c = campaign(json!({
        "delay": {"type": "intelligent", "days": 0, "fallback_at": "10:00"},
        "window": {"start": "16:00", "end": "18:00"}
    }));
    let user = User::new().in_zone("America/New_York");
    // 17:00Z = 12:00 EST; fallback 10:00 EST the next day = 15:00Z, outside 16–18 UTC.
    let d = user.decide(&c, &go("2026-01-05T17:00:00Z"));
    match d.trigger {
        Some(TriggerOutcome::Refused { outcome, detail }) => {
            assert_eq!(outcome, Outcome::DelayOutsideWindow);
            assert!(detail.contains("15:00 local"), "{detail}");
            assert!(detail.contains("UTC"), "{detail}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn r_t1_custom_attribute_changed_to_compares_by_kind() {
    // `to` compares like a property filter's `eq` (R-T3 kinds): 1 = 1.0.
    let c = campaign(json!({"triggers": [
        {"type": "custom_attribute_changed", "attribute": "level", "to": 1}
    ]}));
    let changed = |to| {
        Event::new(
            EventKind::CustomAttributeChanged {
                attribute: "level".into(),
                to,
            },
            utc("2026-01-05T10:00:00Z"),
            Source::Rest,
        )
    };
    let user = User::new();
    assert_eq!(user.outcome(&c, &changed(json!(1))), Outcome::Scheduled);
    assert_eq!(user.outcome(&c, &changed(json!(1.0))), Outcome::Scheduled);
    assert!(user.decide(&c, &changed(json!(2))).is_empty());
    assert!(user.decide(&c, &changed(json!("1"))).is_empty());
}
