//! Validation of campaign definitions through the public API
//! (`Campaign::from_value`, `CampaignDef::from_value`): every invalid
//! definition is refused with the exact path and message a user sees in the
//! `422` answer and in `triggerd lint`, and every problem is reported at
//! once. Rules: R-E1, R-E3, R-W1, R-D1, R-S1, R-S2 (warning), R-T1–R-T3,
//! R-T6, R-A4.

mod common;

use common::{CAMPAIGN_ID, def_with, try_campaign};
use serde_json::{Value, json};
use triggerd_core::{Campaign, CampaignDef};

/// `path: message` of every error of `base()` with `overrides`.
fn errors(overrides: Value) -> Vec<String> {
    let (campaign, report) = try_campaign(overrides);
    assert!(
        campaign.is_none() || report.errors.is_empty(),
        "a campaign must not compile with errors"
    );
    report
        .errors
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect()
}

/// `path: message` of every warning (the definition must be valid).
fn warnings(overrides: Value) -> Vec<String> {
    let (campaign, report) = try_campaign(overrides);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(campaign.is_some());
    report
        .warnings
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect()
}

#[test]
fn base_definition_is_valid_without_warnings() {
    assert!(errors(json!({})).is_empty());
    assert!(warnings(json!({})).is_empty());
}

#[test]
fn unknown_field() {
    assert_eq!(
        errors(json!({"colour": "red"})),
        [
            "colour: unknown field `colour`, expected one of `name`, `channel`, `message`, `triggers`, `schedule`, `audience`, `delay`, `exceptions`, `time_zone`, `window`, `reeligibility`, `conversion_events`, `frequency_capping`"
        ]
    );
    assert_eq!(
        errors(json!({"window": {"start": "09:00", "end": "17:00", "next": true}})),
        ["window.next: unknown field `next`, expected one of `start`, `end`, `next_available`"]
    );
}

#[test]
fn unknown_fields_inside_tagged_objects_are_pinned_to_their_key() {
    assert_eq!(
        errors(json!({"delay": {"type": "after", "duration": "1h"},
            "exceptions": [{"type": "purchase", "corelate_on": "cart_id"}]})),
        [
            "exceptions[0].corelate_on: unknown field `corelate_on`, expected one of `type`, `name`, `product_id`, `property_filters`, `correlate_on`, `deadline`"
        ]
    );
    assert_eq!(
        errors(json!({"triggers": [{"type": "custom_event", "name": "go",
            "property_filters": [{"property": "p", "op": "eq", "value": 1, "zz": 1}]}]})),
        [
            "triggers[0].property_filters[0].zz: unknown field `zz`, expected one of `property`, `op`, `value`"
        ]
    );
    assert_eq!(
        errors(json!({"delay": {"type": "after"}})),
        ["delay.duration: missing field `duration`"]
    );
}

#[test]
fn read_only_fields_of_a_fetched_campaign_are_accepted() {
    assert!(
        errors(
            json!({"id": "c1", "status": "active", "launched_at": "2026-01-01T00:00:00Z",
            "stats": {}, "warnings": []})
        )
        .is_empty()
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        errors(json!({"triggers": null, "schedule": null})),
        [
            "triggers: missing required field `triggers`",
            "schedule: missing required field `schedule`"
        ]
    );
    assert_eq!(
        errors(json!({"schedule": {"end": "2026-02-01T00:00:00Z"}})),
        ["schedule.start: missing field `start`"]
    );
    assert_eq!(
        errors(json!({"triggers": [{"type": "custom_event"}]})),
        ["triggers[0].name: missing field `name`"]
    );
}

#[test]
fn r_d1_bad_duration() {
    assert_eq!(
        errors(json!({"delay": {"type": "after", "duration": "90 minutes"}})),
        [
            "delay.duration: invalid duration \"90 minutes\": expected a whole number followed by s, m, h or d (e.g. \"90m\")"
        ]
    );
    assert_eq!(
        errors(json!({"reeligibility": {"after": "1w"}})),
        [
            "reeligibility.after: invalid duration \"1w\": expected a whole number followed by s, m, h or d (e.g. \"90m\")"
        ]
    );
}

#[test]
fn r_d1_bad_weekday() {
    assert_eq!(
        errors(json!({"delay": {"type": "next_weekday", "weekday": "funday", "at": "09:00"}})),
        ["delay.weekday: invalid weekday \"funday\": expected mon, tue, wed, thu, fri, sat or sun"]
    );
}

#[test]
fn r_d1_bad_time_of_day() {
    assert_eq!(
        errors(json!({"delay": {"type": "in_days", "days": 1, "at": "25:00"}})),
        [
            "delay.at: invalid time of day \"25:00\": expected \"HH:MM\" between 00:00 and 23:59 (e.g. \"09:00\")"
        ]
    );
    assert_eq!(
        errors(json!({"window": {"start": "9am", "end": "17:00"}})),
        [
            "window.start: invalid time of day \"9am\": expected \"HH:MM\" between 00:00 and 23:59 (e.g. \"09:00\")"
        ]
    );
}

#[test]
fn r_d1_unknown_delay_type() {
    assert_eq!(
        errors(json!({"delay": {"type": "later"}})),
        [
            "delay.type: unknown value `later`, expected one of `immediate`, `after`, `next_weekday`, `in_days`, `intelligent`"
        ]
    );
}

#[test]
fn r_d1_in_days_zero() {
    assert_eq!(
        errors(json!({"delay": {"type": "in_days", "days": 0, "at": "09:00"}})),
        [
            "delay.days: days must be at least 1 for in_days (use intelligent with days 0 for the same day)"
        ]
    );
}

#[test]
fn r_w1_window_start_equals_end() {
    assert_eq!(
        errors(json!({"window": {"start": "09:00", "end": "09:00"}})),
        ["window: window.start and window.end must differ"]
    );
}

#[test]
fn r_s1_end_not_after_start() {
    for end in ["2026-01-01T00:00:00Z", "2025-12-31T00:00:00Z"] {
        let (_, report) =
            try_campaign(json!({"schedule": {"start": "2026-01-01T00:00:00Z", "end": end}}));
        let all: Vec<String> = report
            .errors
            .iter()
            .chain(&report.warnings)
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        // The error alone: no R-S2 warning about an empty duration on top.
        assert_eq!(
            all,
            ["schedule.end: schedule.end must be after schedule.start"],
            "{end}"
        );
    }
}

#[test]
fn r_s1_bounds_must_match_local_time() {
    assert_eq!(
        errors(json!({"schedule": {"start": "2026-01-01T09:00:00", "local_time": false}})),
        [
            "schedule.start: schedule.start needs an offset or Z (e.g. \"2026-01-01T09:00:00Z\"), or set local_time true"
        ]
    );
    assert_eq!(
        errors(json!({"schedule": {"start": "yesterday"}})),
        [
            "schedule.start: invalid date-time \"yesterday\": expected an RFC 3339 instant (\"2026-01-01T09:00:00Z\") or a local date-time (\"2026-01-01T09:00:00\")"
        ]
    );
}

#[test]
fn unknown_time_zone() {
    assert_eq!(
        errors(json!({"time_zone": "Mars/Olympus"})),
        [
            "time_zone: unknown time zone \"Mars/Olympus\": expected an IANA name such as \"Europe/Paris\" or \"UTC\""
        ]
    );
}

#[test]
fn r_t3_invalid_regex() {
    assert_eq!(
        errors(json!({"triggers": [{"type": "custom_event", "name": "go",
            "property_filters": [{"property": "sku", "op": "matches", "value": "([a-z"}]}]})),
        ["triggers[0].property_filters[0].value: invalid regex: unclosed character class"]
    );
}

#[test]
fn r_t3_unknown_operator() {
    assert_eq!(
        errors(json!({"triggers": [{"type": "custom_event", "name": "go",
            "property_filters": [{"property": "x", "op": "approx", "value": 1}]}]})),
        [
            "triggers[0].property_filters[0].op: unknown value `approx`, expected one of `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `between`, `in`, `not_in`, `contains`, `starts_with`, `ends_with`, `matches`, `exists`, `not_exists`"
        ]
    );
}

#[test]
fn r_t1_unknown_trigger_kind() {
    assert_eq!(
        errors(
            json!({"triggers": [{"type": "custom_event", "name": "go"}, {"type": "app_opened"}]})
        ),
        [
            "triggers[1].type: unknown value `app_opened`, expected one of `purchase`, `session_start`, `custom_event`, `conversion`, `email_added`, `custom_attribute_changed`, `subscription_state_changed`, `subscription_group_changed`, `campaign_interaction`, `location`, `exception_event`, `canvas_step_interaction`, `geofence`, `inbound_sms`, `inbound_whatsapp`"
        ]
    );
    assert_eq!(
        errors(json!({"triggers": []})),
        ["triggers: a campaign needs at least one trigger"]
    );
}

#[test]
fn r_t2_unknown_interaction() {
    assert_eq!(
        errors(
            json!({"triggers": [{"type": "campaign_interaction", "campaign_id": "c", "interaction": "wink"}]})
        ),
        [
            "triggers[0].interaction: unknown value `wink`, expected one of `iam_view`, `iam_click`, `iam_button_click`, `email_click`, `email_click_alias`, `alias_click`, `email_open`, `email_open_machine`, `email_open_other`, `push_open`, `push_button_click`, `push_story_page_click`, `conversion`, `email_received`, `sms_received`, `sms_short_link_click`, `push_received`, `webhook_received`, `control_group_enrolled`, `content_card_view`, `content_card_click`, `content_card_dismiss`"
        ]
    );
    assert_eq!(
        errors(
            json!({"triggers": [{"type": "campaign_interaction", "campaign_id": "c",
            "interaction": "email_open", "button_id": "b"}]})
        ),
        ["triggers[0].button_id: button_id only applies to iam_button_click and push_button_click"]
    );
}

#[test]
fn in_app_message_needs_a_body() {
    assert_eq!(
        errors(json!({"channel": "in_app", "message": {"title": "Hello"}})),
        ["message.body: in_app messages need `body`"]
    );
    assert_eq!(
        errors(json!({"channel": "in_app", "message": {"body": "  "}})),
        ["message.body: `body` must not be empty"]
    );
}

#[test]
fn message_fields_follow_the_channel() {
    assert_eq!(
        errors(json!({"channel": "sms", "message": {"body": "hi", "subject": "x"}})),
        [
            "message.subject: unknown field `subject` for a sms message (expected body, subscription_group_id, from)"
        ]
    );
    assert_eq!(
        errors(json!({"channel": "webhook", "message": {"url": "ftp://x"}})),
        ["message.url: webhook url must start with http:// or https://"]
    );
    assert_eq!(
        errors(json!({"channel": "fax"})),
        [
            "channel: unknown value `fax`, expected one of `email`, `sms`, `push`, `webhook`, `in_app`, `content_card`"
        ]
    );
}

#[test]
fn r_e3_session_start_trigger_and_exception() {
    assert_eq!(
        errors(json!({
            "triggers": [{"type": "session_start"}],
            "delay": {"type": "after", "duration": "1h"},
            "exceptions": [{"type": "purchase"}, {"type": "session_start"}]
        })),
        ["exceptions[1]: session_start cannot be both a trigger and an exception"]
    );
}

#[test]
fn r_e1_exceptions_need_a_delay() {
    assert_eq!(
        errors(json!({"exceptions": [{"type": "purchase"}]})),
        [
            "exceptions: exception events need a delay: with an immediate delay nothing is ever pending to cancel"
        ]
    );
    assert_eq!(
        errors(json!({"delay": {"type": "immediate"}, "exceptions": [{"type": "purchase"}]})).len(),
        1
    );
    assert!(
        errors(json!({"delay": {"type": "after", "duration": "1m"}, "exceptions": [{"type": "purchase"}]}))
            .is_empty()
    );
}

#[test]
fn r_e1_exception_shapes() {
    assert_eq!(
        errors(json!({"delay": {"type": "after", "duration": "1h"},
            "exceptions": [{"type": "custom_event"}, {"type": "session_start", "product_id": "x"}]})),
        [
            "exceptions[0].name: custom_event needs a non-empty name",
            "exceptions[1].product_id: product_id only applies to purchase"
        ]
    );
}

#[test]
fn r_a4_control_group_percent_range() {
    assert_eq!(
        errors(json!({"audience": {"control_group_percent": 150}})),
        ["audience.control_group_percent: control_group_percent must be between 0 and 100"]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    assert_eq!(
        errors(json!({
            "colour": "red",
            "time_zone": "Nowhere",
            "delay": {"type": "in_days", "days": 0, "at": "09:00"},
            "window": {"start": "09:00", "end": "09:00"},
            "exceptions": [{"type": "session_start"}],
            "triggers": [{"type": "session_start"}]
        })),
        [
            "colour: unknown field `colour`, expected one of `name`, `channel`, `message`, `triggers`, `schedule`, `audience`, `delay`, `exceptions`, `time_zone`, `window`, `reeligibility`, `conversion_events`, `frequency_capping`",
            "time_zone: unknown time zone \"Nowhere\": expected an IANA name such as \"Europe/Paris\" or \"UTC\"",
            "delay.days: days must be at least 1 for in_days (use intelligent with days 0 for the same day)",
            "window: window.start and window.end must differ",
            "exceptions[0]: session_start cannot be both a trigger and an exception",
        ]
    );
    // Unreadable values are all reported too (the semantic checks then wait).
    assert_eq!(
        errors(
            json!({"delay": {"type": "after", "duration": "x"}, "time_zone": 5, "frequency_capping": "yes"})
        ),
        [
            "delay.duration: invalid duration \"x\": expected a whole number followed by s, m, h or d (e.g. \"90m\")",
            "time_zone: invalid type: integer `5`, expected a string",
            "frequency_capping: invalid type: string \"yes\", expected a boolean",
        ]
    );
}

#[test]
fn parse_only_api_keeps_refusing_unknown_fields() {
    // CampaignDef::from_value (what PUT stores) refuses what Campaign::from_value reports.
    let report = CampaignDef::from_value(&def_with(json!({"colour": "red"}))).expect_err("refused");
    assert_eq!(report.errors[0].path, "colour");
    assert!(CampaignDef::from_value(&def_with(json!({}))).is_ok());
}

#[test]
fn not_json_or_not_an_object() {
    let (c, report) = Campaign::from_json(CAMPAIGN_ID, "{\"name\": ");
    assert!(c.is_none());
    assert!(
        report.errors[0].message.starts_with("invalid JSON: "),
        "{:?}",
        report.errors
    );
    let (_, report) = Campaign::from_value(CAMPAIGN_ID, &json!([1]));
    assert_eq!(
        report.errors[0].message,
        "a campaign definition must be a JSON object"
    );
    let (_, report) = Campaign::from_toml(CAMPAIGN_ID, "name = ");
    assert!(
        report.errors[0].message.starts_with("invalid TOML: "),
        "{:?}",
        report.errors
    );
}

// ---------------------------------------------------------------- warnings

#[test]
fn r_s2_warning_no_user_can_receive_it() {
    assert_eq!(
        warnings(json!({
            "delay": {"type": "after", "duration": "2d"},
            "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
        })),
        [
            "delay: the shortest possible delay (2d) is not shorter than the campaign's duration (1d): no user can receive it (R-S2)"
        ]
    );
    // in_days 3 at 09:00: at least 2 days 9 hours, longer than a 2-day campaign.
    assert_eq!(
        warnings(json!({
            "delay": {"type": "in_days", "days": 3, "at": "09:00"},
            "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T00:00:00Z"}
        })),
        [
            "delay: the shortest possible delay (57h) is not shorter than the campaign's duration (2d): no user can receive it (R-S2)"
        ]
    );
    assert!(
        warnings(json!({
            "delay": {"type": "after", "duration": "23h"},
            "schedule": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
        }))
        .is_empty()
    );
}

#[test]
fn r_w1_short_window_warning() {
    assert_eq!(
        warnings(json!({"window": {"start": "09:00", "end": "09:30"}})),
        [
            "window: the window is open only 30m a day; sends due outside it are refused (delay_outside_window)"
        ]
    );
    assert_eq!(
        warnings(json!({"window": {"start": "23:45", "end": "00:15", "next_available": true}})),
        [
            "window: the window is open only 30m a day; sends due outside it are moved to the next opening"
        ]
    );
}

#[test]
fn r_e1_conversion_exception_without_conversion_events_warns() {
    assert_eq!(
        warnings(
            json!({"delay": {"type": "after", "duration": "1h"}, "exceptions": [{"type": "conversion"}]})
        ),
        [
            "exceptions[0]: a conversion exception needs conversion_events: this exception never matches"
        ]
    );
}

#[test]
fn r_t6_in_app_triggered_by_service_events_warns() {
    assert_eq!(
        warnings(json!({"channel": "in_app", "message": {"body": "x"},
            "triggers": [{"type": "conversion", "campaign_id": "other"}]})),
        [
            "triggers[0]: in_app campaigns are triggered only by SDK events (R-T6); these events come from source \"service\" and never trigger it"
        ]
    );
}
