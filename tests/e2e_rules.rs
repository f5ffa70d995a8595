//! End-to-end scenarios, one or more per rule family of SPEC.md, against the
//! real binary with the manual clock: the seed's own examples first.

mod common;

use common::{Daemon, email_campaign};
use serde_json::json;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[tokio::test]
async fn r_t3_seed_cart_value_between_100_and_200() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    let def = json!({
        "name": "cart", "channel": "email",
        "message": {"subject": "You left {{ event_properties.${cart_value} }}$ behind", "html": "<p>x</p>"},
        "triggers": [{"type":"custom_event","name":"abandoned_cart",
            "property_filters":[{"property":"cart_value","op":"between","value":[100,200]}]}],
        "delay": {"type":"after","duration":"1h"},
        "schedule": {"start":"2026-01-01T00:00:00Z"}
    });
    d.campaign("cart", def).await;
    for (u, v) in [("in", 150), ("low", 99), ("high", 250), ("edge", 200)] {
        d.attrs(u, json!({"email": format!("{u}@example.com")}))
            .await;
        d.event(
            u,
            "abandoned_cart",
            "2026-01-05T08:00:00Z",
            json!({"cart_value": v}),
        )
        .await;
    }
    assert_eq!(d.advance_to("2026-01-05T09:00:00Z").await, 2);
    let out = d.outbox("?campaign_id=cart").await;
    let mut users: Vec<_> = out
        .iter()
        .map(|m| m["external_id"].as_str().unwrap_or("").to_string())
        .collect();
    users.sort();
    assert_eq!(users, ["edge", "in"]);
    let subject =
        out.iter().find(|m| m["external_id"] == "in").expect("in")["content"]["subject"].clone();
    assert_eq!(subject, "You left 150$ behind");
    let e = d.explain("cart", "high").await;
    assert_eq!(e["verdict"], "not_sent");
    assert_eq!(e["timeline"][0]["outcome"], "property_filters_not_met");
    let stats = d.stats("cart").await;
    assert_eq!(stats["scheduled"], 2);
    assert_eq!(stats["outcomes"]["property_filters_not_met"], 2);
    assert_eq!(stats["outcomes"]["sent"], 2);
    assert_eq!(stats["pending"], 0);
}

#[tokio::test]
async fn r_t7_registration_and_gender_in_one_request() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "welcome",
        email_campaign(
            "registration",
            json!({"audience":{"segment":{"attribute":"gender","op":"eq","value":"M"}}}),
        ),
    )
    .await;
    // Attributes and the event in the same request: attributes apply first (R-T7, R-A2).
    d.track(json!({
        "events":[{"external_id":"u1","name":"registration"}],
        "attributes":[{"external_id":"u1","gender":"M","email":"u1@example.com"}]
    }))
    .await;
    assert_eq!(d.advance_to("2026-01-05T08:00:01Z").await, 1);
    assert_eq!(d.explain("welcome", "u1").await["verdict"], "sent");
    d.track(
        json!({"attributes":[{"external_id":"u2","gender":"F","email":"u2@example.com"}],
                   "events":[{"external_id":"u2","name":"registration"}]}),
    )
    .await;
    assert_eq!(d.timeline("welcome", "u2").await, ["not_in_segment"]);
}

#[tokio::test]
async fn r_e6_abandoned_cart_cancelled_by_purchase_of_that_cart() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    let def: serde_json::Value =
        serde_json::from_str(include_str!("../examples/campaigns/abandoned_cart.json"))
            .expect("example");
    d.campaign("cart", def).await;
    d.attrs("u1", json!({"email":"u1@gmail.com","first_name":"Ann"}))
        .await;
    d.event(
        "u1",
        "abandoned_cart",
        "2026-01-05T08:00:00Z",
        json!({"cart_value":150,"cart_id":"A"}),
    )
    .await;
    d.event(
        "u1",
        "abandoned_cart",
        "2026-01-05T08:01:00Z",
        json!({"cart_value":120,"cart_id":"B"}),
    )
    .await;
    d.advance_to("2026-01-05T08:30:00Z").await;
    d.track(
        json!({"purchases":[{"external_id":"u1","product_id":"sku","price":150,
        "time":"2026-01-05T08:30:00Z","properties":{"cart_id":"A"}}]}),
    )
    .await;
    assert_eq!(
        d.advance_to("2026-01-05T10:00:00Z").await,
        1,
        "only cart B's reminder fires"
    );
    let out = d.outbox("?external_id=u1").await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["content"]["subject"], "You left 120$ behind");
    let tl = d.timeline("cart", "u1").await;
    assert!(tl.contains(&"cancelled_by_exception".to_string()), "{tl:?}");
    assert_eq!(
        d.stats("cart").await["outcomes"]["cancelled_by_exception"],
        1
    );
}

#[tokio::test]
async fn r_e4_seed_trigger_at_5_min_and_exception_at_10_min() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "browse",
        email_campaign(
            "viewed_item",
            json!({"delay":{"type":"after","duration":"30m"},"exceptions":[{"type":"custom_event","name":"viewed_item"}]}),
        ),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.advance_to("2026-01-05T08:05:00Z").await;
    d.event("u1", "viewed_item", "2026-01-05T08:05:00Z", json!({}))
        .await;
    d.advance_to("2026-01-05T08:10:00Z").await;
    d.event("u1", "viewed_item", "2026-01-05T08:10:00Z", json!({}))
        .await;
    let e = d.explain("browse", "u1").await;
    assert_eq!(e["pending"].as_array().expect("pending").len(), 1);
    assert_eq!(
        e["pending"][0]["due"], "2026-01-05T08:40:00Z",
        "the last occurrence decides the delay"
    );
    assert_eq!(d.advance_to("2026-01-05T08:39:59Z").await, 0);
    assert_eq!(d.advance_to("2026-01-05T08:40:00Z").await, 1);
    assert_eq!(
        d.timeline("browse", "u1").await,
        ["scheduled", "rescheduled", "scheduled", "sent"]
    );
}

#[tokio::test]
async fn r_d1_welcome_series_in_users_local_time() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T12:00:00Z").await;
    let def: serde_json::Value = serde_json::from_str(include_str!(
        "../examples/campaigns/welcome_local_time.json"
    ))
    .expect("example");
    d.campaign("welcome", def).await;
    d.attrs(
        "paris",
        json!({"time_zone":"Europe/Paris","push_tokens":[{"token":"tp","platform":"android"}]}),
    )
    .await;
    d.attrs(
        "ny",
        json!({"time_zone":"America/New_York","push_tokens":[{"token":"tn","platform":"ios"}]}),
    )
    .await;
    d.attrs(
        "nozone",
        json!({"push_tokens":[{"token":"tz","platform":"web"}]}),
    )
    .await;
    for u in ["paris", "ny", "nozone"] {
        d.event(u, "registration", "2026-01-05T12:00:00Z", json!({}))
            .await;
    }
    let due = |e: serde_json::Value| e["pending"][0]["due"].as_str().expect("due").to_string();
    // Monday 5 Jan + 2 days = Wednesday 7 Jan at 09:00 local.
    assert_eq!(
        due(d.explain("welcome", "paris").await),
        "2026-01-07T08:00:00Z"
    );
    assert_eq!(
        due(d.explain("welcome", "ny").await),
        "2026-01-07T14:00:00Z"
    );
    // No time zone: the campaign's zone (Europe/Paris) is the fallback.
    assert_eq!(
        due(d.explain("welcome", "nozone").await),
        "2026-01-07T08:00:00Z"
    );
    assert_eq!(d.advance_to("2026-01-07T14:00:00Z").await, 3);
    let out = d.outbox("?campaign_id=welcome").await;
    let order: Vec<_> = out
        .iter()
        .map(|m| m["external_id"].as_str().expect("id"))
        .collect();
    assert_eq!(order.len(), 3);
    assert_eq!(order[2], "ny", "sent in due order");
}

#[tokio::test]
async fn r_w3_window_rolls_to_next_morning() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T20:00:00Z").await;
    let mut def = email_campaign(
        "lead_created",
        json!({"delay":{"type":"after","duration":"2h"},"time_zone":"America/New_York",
               "window":{"start":"09:00","end":"17:00","next_available":true}}),
    );
    def["reeligibility"] = json!({"after":"1s"});
    d.campaign("office", def).await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    // 16:00 in New York = 21:00Z; due 18:00 local is outside the window.
    d.advance_to("2026-01-05T21:00:00Z").await;
    d.event("u1", "lead_created", "2026-01-05T21:00:00Z", json!({}))
        .await;
    let e = d.explain("office", "u1").await;
    assert_eq!(e["timeline"][0]["outcome"], "rolled_to_next_window");
    assert_eq!(
        e["pending"][0]["due"], "2026-01-06T14:00:00Z",
        "09:00 New York next morning"
    );
    // A trigger outside the window is refused (R-W2): 20:00 New York.
    d.advance_to("2026-01-06T01:00:00Z").await;
    d.event("u1", "lead_created", "2026-01-06T01:00:00Z", json!({}))
        .await;
    assert_eq!(
        d.timeline("office", "u1").await[1],
        "trigger_outside_window"
    );
    assert_eq!(d.advance_to("2026-01-06T13:59:59Z").await, 0, "never early");
    assert_eq!(d.advance_to("2026-01-06T14:00:00Z").await, 1);
}

#[tokio::test]
async fn r_k2_sigkill_in_the_middle_of_a_delay_loses_nothing() {
    let dir = tmp();
    let mut d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "c",
        email_campaign("signup", json!({"delay":{"type":"after","duration":"1h"}})),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.event("u1", "signup", "2026-01-05T08:00:00Z", json!({}))
        .await;
    let send_id = d.explain("c", "u1").await["pending"][0]["send_id"].clone();
    assert_eq!(d.advance_to("2026-01-05T08:30:00Z").await, 0);
    d.crash_and_restart().await;
    assert_eq!(
        d.get("/admin/clock").await["now"],
        "2026-01-05T08:30:00Z",
        "the clock resumes where it was"
    );
    assert_eq!(d.explain("c", "u1").await["pending"][0]["send_id"], send_id);
    assert_eq!(d.advance_to("2026-01-05T09:00:00Z").await, 1);
    let out = d.outbox("").await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0]["send_id"], send_id,
        "same send id after the crash (R-K3)"
    );
    assert_eq!(out[0]["sent_at"], "2026-01-05T09:00:00Z");
}

#[tokio::test]
async fn r_x1_downtime_makes_sends_late_and_rechecked_against_the_window() {
    let dir = tmp();
    let mut d = Daemon::start(dir.path(), "2026-01-05T14:00:00Z").await;
    d.campaign(
        "w",
        email_campaign(
            "e",
            json!({"delay":{"type":"after","duration":"1h"},
            "window":{"start":"09:00","end":"17:00","next_available":true}}),
        ),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.event("u1", "e", "2026-01-05T14:00:00Z", json!({})).await;
    // Down from 14:00 to 20:00: the 15:00 send is late, outside the window: it rolls.
    d.restart_at("2026-01-05T20:00:00Z").await;
    let e = d.explain("w", "u1").await;
    assert_eq!(e["pending"][0]["due"], "2026-01-06T09:00:00Z", "{e}");
    assert!(
        d.outbox("").await.is_empty(),
        "a late send never lands outside the window"
    );
    assert_eq!(d.advance_to("2026-01-06T09:00:00Z").await, 1);
}

#[tokio::test]
async fn r_r1_r_r2_reeligibility_and_already_pending() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "once",
        email_campaign("e", json!({"delay":{"type":"after","duration":"10m"}})),
    )
    .await;
    d.campaign(
        "weekly",
        email_campaign("e", json!({"reeligibility":{"after":"7d"}})),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.event("u1", "e", "2026-01-05T08:00:00Z", json!({})).await;
    d.event("u1", "e", "2026-01-05T08:01:00Z", json!({})).await;
    assert_eq!(
        d.timeline("once", "u1").await,
        ["scheduled", "already_pending"]
    );
    d.advance_to("2026-01-05T09:00:00Z").await;
    d.event("u1", "e", "2026-01-05T09:00:00Z", json!({})).await;
    assert_eq!(
        d.timeline("once", "u1").await.last().map(String::as_str),
        Some("not_reeligible")
    );
    // weekly: two immediate sends planned; the second is refused at send time (R-R3).
    let weekly = d.timeline("weekly", "u1").await;
    assert!(
        weekly.contains(&"not_reeligible_yet".to_string()),
        "{weekly:?}"
    );
    d.advance_to("2026-01-12T08:00:00Z").await;
    d.event("u1", "e", "2026-01-12T08:00:00Z", json!({})).await;
    d.advance_to("2026-01-12T08:00:01Z").await;
    assert_eq!(
        d.explain("weekly", "u1").await["verdict"],
        "sent",
        "eligible again after exactly 7 d"
    );
}

#[tokio::test]
async fn r_r4_one_user_has_at_most_100_pending_sends_of_a_campaign() {
    // With re-eligibility each trigger plans its own send (R-R4); a client
    // posting the trigger in a loop stops growing the user's state at 100.
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "loop",
        email_campaign(
            "e",
            json!({"delay":{"type":"after","duration":"1d"},"reeligibility":{"after":"0s"}}),
        ),
    )
    .await;
    let events: Vec<serde_json::Value> = (0..101)
        .map(|_| json!({"external_id":"u1","name":"e"}))
        .collect();
    d.track(json!({ "events": events })).await;
    let timeline = d.timeline("loop", "u1").await;
    assert_eq!(timeline.len(), 101, "{timeline:?}");
    assert_eq!(
        timeline.iter().filter(|o| *o == "scheduled").count(),
        100,
        "{timeline:?}"
    );
    assert_eq!(timeline.last().map(String::as_str), Some("already_pending"));
    assert_eq!(
        d.explain("loop", "u1").await["pending"]
            .as_array()
            .map(Vec::len),
        Some(100)
    );
}

#[tokio::test]
async fn r_y3_ids_with_a_nul_read_nothing_and_harm_no_other_record() {
    // "u1\0c1" once named u1's pair state with campaign c1: export,
    // explain and preview read it as a profile, failed to decode it and
    // quarantined it, and u1's pending send was never delivered.
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "c1",
        email_campaign("go", json!({"delay":{"type":"after","duration":"1h"}})),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.event("u1", "go", "2026-01-05T08:00:00Z", json!({})).await;
    let v = d
        .post("/users/export/ids", json!({"external_ids":["u1\0c1"]}))
        .await;
    assert_eq!(v["users"], json!([]), "{v}");
    assert_eq!(v["invalid_user_ids"], json!(["u1\0c1"]), "{v}");
    let (s, v) = d
        .call(
            reqwest::Method::GET,
            "/campaigns/c1/users/u1%00c1/explain",
            None,
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = d
        .call(
            reqwest::Method::POST,
            "/campaigns/c1/preview",
            Some(json!({"external_id":"u1\0c1"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    // A contact holding a NUL matches no one.
    let (s, v) = d
        .call(
            reqwest::Method::POST,
            "/users/track",
            Some(json!({"attributes":[{"external_id":"u2","email":"a@b.c\0u1"}]})),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["errors"][0]["input_array"], "attributes", "{v}");
    assert_eq!(d.explain("c1", "u1").await["verdict"], "pending");
    assert_eq!(d.advance_to("2026-01-05T09:00:00Z").await, 1);
    assert_eq!(d.explain("c1", "u1").await["verdict"], "sent");
}

#[tokio::test]
async fn r_x_reachability_control_group_and_frequency_caps() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign("a", email_campaign("e", json!({}))).await;
    d.campaign("b", email_campaign("e", json!({}))).await;
    d.campaign(
        "t",
        email_campaign("g", json!({"frequency_capping": false})),
    )
    .await;
    d.campaign(
        "cg",
        email_campaign("f", json!({"audience":{"control_group_percent":100}})),
    )
    .await;
    let (s, _) = d
        .call(
            reqwest::Method::PUT,
            "/frequency_caps",
            Some(json!({"rules":[{"channel":"email","max":1,"per":"24h"}]})),
        )
        .await;
    assert_eq!(s, 200);
    d.attrs("nomail", json!({"first_name":"N"})).await;
    d.attrs(
        "unsub",
        json!({"email":"x@example.com","email_subscribe":"unsubscribed"}),
    )
    .await;
    d.attrs("ok", json!({"email":"ok@example.com"})).await;
    for u in ["nomail", "unsub", "ok"] {
        d.event(u, "e", "2026-01-05T08:00:00Z", json!({})).await;
        d.event(u, "f", "2026-01-05T08:00:00Z", json!({})).await;
    }
    d.advance_to("2026-01-05T08:00:01Z").await;
    assert_eq!(
        d.timeline("a", "nomail").await.last().map(String::as_str),
        Some("missing_email")
    );
    assert_eq!(
        d.timeline("a", "unsub").await.last().map(String::as_str),
        Some("unsubscribed")
    );
    let a = d.explain("a", "ok").await["verdict"].clone();
    let b = d.explain("b", "ok").await["verdict"].clone();
    assert!(
        a == "sent" && b == "not_sent" || a == "not_sent" && b == "sent",
        "one of a/b capped: {a} {b}"
    );
    // After a or b used the user's one email of the day, a transactional
    // campaign still goes out (R-F2).
    d.event("ok", "g", "2026-01-05T08:00:01Z", json!({})).await;
    d.advance_to("2026-01-05T08:00:02Z").await;
    assert_eq!(
        d.explain("t", "ok").await["verdict"],
        "sent",
        "transactional campaign skips caps (R-F2)"
    );
    assert_eq!(
        d.timeline("cg", "ok").await.last().map(String::as_str),
        Some("control_group")
    );
    assert_eq!(d.stats("cg").await["outcomes"]["control_group"], 1);
}

#[tokio::test]
async fn r_y1_never_triggered_and_r_y3_preview_changes_nothing() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "c",
        email_campaign(
            "e",
            json!({"delay":{"type":"after","duration":"1h"},
            "window":{"start":"09:00","end":"17:00","next_available":true}}),
        ),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    let e = d.explain("c", "u1").await;
    assert_eq!(e["verdict"], "never_triggered");
    assert!(
        e["summary"]
            .as_str()
            .expect("summary")
            .contains("custom_event e")
    );
    let p = d
        .post(
            "/campaigns/c/preview",
            json!({"external_id":"u1","event":{"name":"e","time":"2026-01-05T16:30:00Z"}}),
        )
        .await;
    assert_eq!(p["outcome"], "rolled_to_next_window");
    assert_eq!(p["due"], "2026-01-06T09:00:00Z");
    assert_eq!(p["time_zone"], "UTC");
    let p2 = d
        .post(
            "/campaigns/c/preview",
            json!({"external_id":"u1","event":{"name":"e","time":"2026-01-05T20:00:00Z"}}),
        )
        .await;
    assert_eq!(p2["outcome"], "trigger_outside_window");
    assert_eq!(p2["rule"], "R-W2");
    // An event no trigger listens to: the same record, every field there.
    let p3 = d
        .post(
            "/campaigns/c/preview",
            json!({"external_id":"u1","event":{"name":"other","time":"2026-01-05T10:00:00Z"}}),
        )
        .await;
    for field in ["outcome", "rule", "due", "time_zone", "window", "detail"] {
        assert!(p3.get(field).is_some(), "{field} missing from {p3}");
    }
    assert_eq!(p3["due"], serde_json::Value::Null, "{p3}");
    assert_eq!(
        d.explain("c", "u1").await["verdict"],
        "never_triggered",
        "preview wrote nothing"
    );
    assert_eq!(d.stats("c").await["scheduled"], 0);
}

#[tokio::test]
async fn r_t5_before_launch_and_stop_ends_pending_sends() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "c",
        email_campaign("e", json!({"delay":{"type":"after","duration":"1h"}})),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.event("u1", "e", "2026-01-05T07:00:00Z", json!({})).await;
    assert_eq!(d.timeline("c", "u1").await, ["before_launch"]);
    d.event("u1", "e", "2026-01-05T08:00:00Z", json!({})).await;
    d.post("/campaigns/c/stop", json!({})).await;
    assert_eq!(
        d.timeline("c", "u1").await,
        ["before_launch", "scheduled", "campaign_stopped"]
    );
    assert_eq!(d.advance_to("2026-01-05T10:00:00Z").await, 0);
    assert_eq!(d.stats("c").await["pending"], 0);
}

#[tokio::test]
async fn r_p5_conversion_counted_once_and_triggers_other_campaigns() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "promo",
        email_campaign(
            "e",
            json!({"conversion_events":[{"type":"purchase","deadline":"3d"}]}),
        ),
    )
    .await;
    d.campaign(
        "thanks",
        json!({"name":"thanks","channel":"webhook","message":{"url":"http://127.0.0.1:9/unused"},
               "triggers":[{"type":"conversion","campaign_id":"promo"}],
               "schedule":{"start":"2026-01-01T00:00:00Z"}, "delay":{"type":"after","duration":"1d"}}),
    )
    .await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    d.event("u1", "e", "2026-01-05T08:00:00Z", json!({})).await;
    d.advance_to("2026-01-05T09:00:00Z").await;
    for t in ["2026-01-06T09:00:00Z", "2026-01-06T10:00:00Z"] {
        d.advance_to(t).await;
        d.track(json!({"purchases":[{"external_id":"u1","product_id":"p","price":1,"time":t}]}))
            .await;
    }
    assert_eq!(
        d.stats("promo").await["conversions"],
        1,
        "one conversion per receipt"
    );
    assert_eq!(
        d.explain("thanks", "u1").await["verdict"],
        "pending",
        "the conversion trigger fired"
    );
}

#[tokio::test]
async fn r_k4_bad_input_is_reported_and_changes_nothing() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    let (s, v) = d
        .call(
            reqwest::Method::PUT,
            "/campaigns/bad",
            Some(json!({"name":"x","channel":"email"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["message"], "invalid campaign");
    let paths: Vec<_> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["path"].as_str().expect("p").to_string())
        .collect();
    assert!(
        paths.contains(&"message".to_string()) && paths.contains(&"triggers".to_string()),
        "{paths:?}"
    );
    let v = d
        .track(json!({"attributes":[{"external_id":"u1","time_zone":"Mars/Olympus"},{"external_id":"u2","first_name":"B"}],
                      "events":[{"external_id":"u2","name":"x","time":"2030-01-01T00:00:00Z"}]}))
        .await;
    assert_eq!(v["attributes_processed"], 1);
    assert_eq!(v["events_processed"], 0);
    assert_eq!(v["errors"][0]["input_array"], "attributes");
    assert_eq!(v["errors"][0]["index"], 0);
    assert_eq!(v["errors"][1]["input_array"], "events");
    let export = d
        .post("/users/export/ids", json!({"external_ids":["u1","u2"]}))
        .await;
    assert_eq!(
        export["invalid_user_ids"],
        json!(["u1"]),
        "the invalid object was not applied"
    );
    assert_eq!(export["users"][0]["first_name"], "B");
    let (s, _) = d.call(reqwest::Method::GET, "/campaigns/nope", None).await;
    assert_eq!(s, 404);
    let (s, _) = d
        .call(
            reqwest::Method::POST,
            "/admin/clock/advance",
            Some(json!({"seconds": -5})),
        )
        .await;
    assert_eq!(s, 400);
    // Like events, SDK session starts and location reports may not be more
    // than 60 s ahead of the clock (API.md).
    for (path, body) in [
        (
            "/sdk/v1/sessions",
            json!({"external_id":"u2","time":"2099-01-01T00:00:00Z"}),
        ),
        (
            "/sdk/v1/location",
            json!({"external_id":"u2","lat":48.85,"lon":2.35,"time":"2099-01-01T00:00:00Z"}),
        ),
    ] {
        let (s, answer) = d.sdk(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(s, 400, "{path}: {answer}");
    }
}

/// Reports `event` for `user` through the SDK, advances the clock to `at`
/// and opens a session: its answer carries the in-app messages (R-X2).
async fn sdk_event_then_session(
    d: &Daemon,
    user: &str,
    event: &str,
    at: &str,
) -> (u16, serde_json::Value) {
    let (s, _) = d
        .sdk(
            reqwest::Method::POST,
            "/sdk/v1/track",
            Some(json!({"external_id":user,"events":[{"name":event}]})),
        )
        .await;
    assert_eq!(s, 201);
    d.advance_to(at).await;
    d.sdk(
        reqwest::Method::POST,
        "/sdk/v1/sessions",
        Some(json!({"external_id":user})),
    )
    .await
}

#[tokio::test]
async fn r_x2_in_app_waits_for_the_next_session_and_needs_sdk_events() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "iam",
        json!({"name":"iam","channel":"in_app","message":{"body":"Welcome back {{ ${first_name} }}"},
               "triggers":[{"type":"custom_event","name":"opened_app"}],
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    d.attrs("u1", json!({"first_name":"Ann"})).await;
    d.event("u1", "opened_app", "2026-01-05T08:00:00Z", json!({}))
        .await;
    assert_eq!(d.timeline("iam", "u1").await, ["iam_requires_sdk_event"]);
    let (s, v) = sdk_event_then_session(&d, "u1", "opened_app", "2026-01-05T08:00:01Z").await;
    assert_eq!(s, 200);
    assert_eq!(
        v["in_app_messages"][0]["content"]["body"],
        "Welcome back Ann"
    );
    let (_, again) = d
        .sdk(
            reqwest::Method::POST,
            "/sdk/v1/sessions",
            Some(json!({"external_id":"u1"})),
        )
        .await;
    assert_eq!(again["in_app_messages"], json!([]), "delivered once");
    let (s, _) = d.sdk(reqwest::Method::GET, "/campaigns", None).await;
    assert_eq!(s, 403, "an SDK key cannot read campaigns");
}

/// R-P4: an in-app click reported by the SDK becomes a
/// `campaign_interaction` event of the user, which triggers a follow-up
/// campaign listening for that interaction; another kind of interaction
/// does not.
#[tokio::test]
async fn r_p4_sdk_interactions_become_campaign_interaction_events() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "iam",
        json!({"name":"iam","channel":"in_app","message":{"body":"Ten percent off today"},
               "triggers":[{"type":"custom_event","name":"opened_app"}],
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    let mut follow_up = email_campaign("unused", json!({}));
    follow_up["triggers"] =
        json!([{"type":"campaign_interaction","campaign_id":"iam","interaction":"iam_click"}]);
    d.campaign("thanks", follow_up).await;
    d.attrs("u1", json!({"email":"u1@example.com"})).await;
    let (_, session) = sdk_event_then_session(&d, "u1", "opened_app", "2026-01-05T08:00:01Z").await;
    let send_id = session["in_app_messages"][0]["send_id"].clone();
    assert!(send_id.is_string(), "{session}");
    // A view is an interaction too, but not the one "thanks" listens to.
    let (s, _) = d
        .sdk(
            reqwest::Method::POST,
            "/sdk/v1/interactions",
            Some(json!({"external_id":"u1","send_id":send_id,"type":"iam_view"})),
        )
        .await;
    assert!((200..300).contains(&s), "{s}");
    assert_eq!(
        d.explain("thanks", "u1").await["verdict"],
        "never_triggered"
    );
    let (s, _) = d
        .sdk(
            reqwest::Method::POST,
            "/sdk/v1/interactions",
            Some(json!({"external_id":"u1","send_id":send_id,"type":"iam_click"})),
        )
        .await;
    assert!((200..300).contains(&s), "{s}");
    assert_eq!(d.advance_to("2026-01-05T08:00:02Z").await, 1);
    assert_eq!(d.explain("thanks", "u1").await["verdict"], "sent");
}

#[tokio::test]
async fn r_x4_inbound_stop_unsubscribes_sms_groups() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "sms",
        json!({"name":"sms","channel":"sms","message":{"body":"Hi","subscription_group_id":"g"},
               "triggers":[{"type":"custom_event","name":"e"}],"schedule":{"start":"2026-01-01T00:00:00Z"},
               "reeligibility":{"after":"1s"}}),
    )
    .await;
    d.attrs(
        "u1",
        json!({"phone":"+15550001111",
        "subscription_groups":[{"subscription_group_id":"g","subscription_state":"subscribed"}]}),
    )
    .await;
    d.event("u1", "e", "2026-01-05T08:00:00Z", json!({})).await;
    d.advance_to("2026-01-05T08:00:01Z").await;
    assert_eq!(d.explain("sms", "u1").await["verdict"], "sent");
    let resp = reqwest::Client::new()
        .post(d.url("/inbound/sms"))
        .form(&[
            ("From", "+1 555 000 1111"),
            ("To", "+15550009999"),
            ("Body", "STOP"),
        ])
        .send()
        .await
        .expect("inbound");
    assert_eq!(resp.status(), 200);
    d.event("u1", "e", "2026-01-05T08:00:02Z", json!({})).await;
    d.advance_to("2026-01-05T08:00:03Z").await;
    assert_eq!(
        d.timeline("sms", "u1").await.last().map(String::as_str),
        Some("unsubscribed")
    );
    // Bounded like any event's data: a body past Twilio's 1,600
    // characters is refused, and a sender without a digit matches no one.
    let inbound = |from: &'static str, body: String| {
        reqwest::Client::new()
            .post(d.url("/inbound/sms"))
            .form(&[("From", from.to_string()), ("Body", body)])
            .send()
    };
    let r = inbound("+15550001111", "x".repeat(1_601))
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);
    let r = inbound("+15550001111", "é".repeat(1_600))
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    d.attrs(
        "nodigits",
        json!({"phone":"unknown",
        "subscription_groups":[{"subscription_group_id":"g","subscription_state":"subscribed"}]}),
    )
    .await;
    let r = inbound("anonymous", "STOP".into()).await.expect("sent");
    assert_eq!(r.status(), 200);
    let v = d
        .post("/users/export/ids", json!({"external_ids":["nodigits"]}))
        .await;
    assert_eq!(
        v["users"][0]["subscription_groups"][0]["subscription_state"], "subscribed",
        "{v}"
    );
}

#[tokio::test]
async fn r_x4_subscription_status_set_by_id_email_and_phone() {
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.attrs("u1", json!({})).await;
    d.attrs("u2", json!({"email":"Two@Example.com"})).await;
    d.attrs("u3", json!({"phone":"+1 555 000 3333"})).await;
    d.post(
        "/subscription/status/set",
        json!({"subscription_group_id":"news","subscription_state":"unsubscribed",
               "external_id":["u1"],"email":["two@example.com"],"phone":["+15550003333"]}),
    )
    .await;
    let v = d
        .post(
            "/users/export/ids",
            json!({"external_ids":["u1","u2","u3"]}),
        )
        .await;
    for user in v["users"].as_array().expect("users") {
        assert_eq!(
            user["subscription_groups"],
            json!([{"subscription_group_id":"news","subscription_state":"unsubscribed"}]),
            "{user}"
        );
    }
    // Bounded: a group id past 255 bytes, more than 50,000 users.
    let (s, v) = d
        .call(
            reqwest::Method::POST,
            "/subscription/status/set",
            Some(json!({"subscription_group_id":"g".repeat(256),
                        "subscription_state":"subscribed","external_id":["u1"]})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let many: Vec<String> = (0..50_001).map(|i| format!("u{i}")).collect();
    let (s, v) = d
        .call(
            reqwest::Method::POST,
            "/subscription/status/set",
            Some(
                json!({"subscription_group_id":"g","subscription_state":"subscribed",
                        "external_id": many}),
            ),
        )
        .await;
    assert_eq!(s, 400, "{v}");
}

/// A daemon with campaign `c`: event `e`, 1 h delay, re-eligible at once.
async fn reeligible_campaign_daemon(dir: &std::path::Path) -> Daemon {
    let d = Daemon::start(dir, "2026-01-05T08:00:00Z").await;
    d.campaign(
        "c",
        email_campaign(
            "e",
            json!({"reeligibility":{"after":"0s"},"delay":{"type":"after","duration":"1h"}}),
        ),
    )
    .await;
    d
}

/// A `/users/track` request carrying `Idempotency-Key: key`.
fn keyed_track(
    http: &reqwest::Client,
    d: &Daemon,
    key: &str,
    body: &serde_json::Value,
) -> reqwest::RequestBuilder {
    http.post(d.url("/users/track"))
        .bearer_auth(common::KEY)
        .header("Idempotency-Key", key)
        .json(body)
}

#[tokio::test]
async fn r_k1_idempotency_key_makes_a_retry_a_no_op() {
    let dir = tmp();
    let d = reeligible_campaign_daemon(dir.path()).await;
    let body = json!({"events":[{"external_id":"u1","name":"e","time":"2026-01-05T08:00:00Z"}]});
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for _ in 0..2 {
        let r = keyed_track(&http, &d, "req-1", &body)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 201);
        answers.push(r.json::<serde_json::Value>().await.expect("json"));
    }
    assert_eq!(answers[0], answers[1], "the retry returns the first answer");
    assert_eq!(d.stats("c").await["scheduled"], 1, "applied once");
}

#[tokio::test]
async fn r_k1_an_idempotency_key_that_cannot_be_kept_is_refused_not_ignored() {
    // Ignoring a key over 256 bytes would apply a retry twice.
    let dir = tmp();
    let d = reeligible_campaign_daemon(dir.path()).await;
    let body = json!({"events":[{"external_id":"u1","name":"e","time":"2026-01-05T08:00:00Z"}]});
    let http = reqwest::Client::new();
    let r = keyed_track(&http, &d, &"k".repeat(257), &body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 400);
    let answer: serde_json::Value = r.json().await.expect("json");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("Idempotency-Key")),
        "{answer}"
    );
    assert_eq!(d.stats("c").await["scheduled"], 0, "nothing applied");
    let r = keyed_track(&http, &d, &"k".repeat(256), &body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 201, "256 bytes is the limit");
}

#[tokio::test]
async fn r_k1_retries_racing_their_first_attempt_apply_it_once() {
    // A client that times out retries while its first attempt still runs:
    // every copy carries the same Idempotency-Key and two users, and the
    // request must be applied once, all of it.
    let dir = tmp();
    let d = reeligible_campaign_daemon(dir.path()).await;
    let body = json!({"events":[
        {"external_id":"u1","name":"e","time":"2026-01-05T08:00:00Z"},
        {"external_id":"u2","name":"e","time":"2026-01-05T08:00:00Z"}
    ]});
    let http = reqwest::Client::new();
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let request = keyed_track(&http, &d, "racing-1", &body);
        copies.spawn(async move {
            let r = request.send().await.expect("request");
            assert_eq!(r.status(), 201);
            r.json::<serde_json::Value>().await.expect("json")
        });
    }
    let bodies = copies.join_all().await;
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "one answer for all copies"
    );
    assert_eq!(
        d.stats("c").await["scheduled"],
        2,
        "one send per user: applied once"
    );
}

#[tokio::test]
async fn r_x8_event_values_that_crash_liquid_end_the_send_render_error_and_restarts_work() {
    // liquid's `divided_by` divides unchecked: an SDK event (anyone with the
    // app's key can send one) with i64::MIN and -1 once panicked the fire
    // path, left the send pending, and made every restart on the test clock
    // panic again while catching up. And its `for` collected a counted
    // range whole before the first iteration: a few billion stars failed
    // the allocation, which aborts the process.
    let dir = tmp();
    let mut d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    d.campaign(
        "stars",
        json!({"name":"stars","channel":"content_card",
               "message":{"title":"You rated us {% for i in (1..event_properties.${stars}) %}*{% endfor %}","body":"b"},
               "triggers":[{"type":"custom_event","name":"bill"}],
               "delay":{"type":"after","duration":"1m"},
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    d.campaign(
        "split",
        json!({"name":"split","channel":"content_card",
               "message":{"title":"Each pays {{ event_properties.${total} | divided_by: event_properties.${people} }}","body":"b"},
               "triggers":[{"type":"custom_event","name":"bill"}],
               "delay":{"type":"after","duration":"1m"},
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
    for (user, total, people, stars) in
        [("evil", i64::MIN, -1, 4_000_000_000_i64), ("fine", 9, 2, 3)]
    {
        let (s, answer) = d
            .sdk(
                reqwest::Method::POST,
                "/sdk/v1/track",
                Some(json!({"external_id":user,"events":[{"name":"bill",
                    "properties":{"total":total,"people":people,"stars":stars}}]})),
            )
            .await;
        assert_eq!(s, 201, "{answer}");
    }
    assert_eq!(d.advance_to("2026-01-05T08:01:00Z").await, 4);
    for campaign in ["split", "stars"] {
        assert_eq!(
            d.timeline(campaign, "evil").await,
            ["scheduled", "render_error"],
            "{campaign}"
        );
        assert_eq!(
            d.timeline(campaign, "fine").await,
            ["scheduled", "sent"],
            "{campaign}"
        );
    }
    let (s, cards) = d
        .sdk(
            reqwest::Method::GET,
            "/sdk/v1/content_cards?external_id=fine",
            None,
        )
        .await;
    assert_eq!(s, 200);
    let mut titles: Vec<String> = cards["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .map(|c| {
            c["content"]["title"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    titles.sort();
    assert_eq!(titles, ["Each pays 4", "You rated us ***"], "{cards}");
    // Nothing is left to fire, and the daemon restarts on its data dir.
    d.restart_at("2026-01-05T09:00:00Z").await;
    assert_eq!(d.explain("split", "evil").await["verdict"], "not_sent");
    assert_eq!(d.explain("stars", "evil").await["verdict"], "not_sent");
}

#[tokio::test]
async fn r_k4_spans_past_a_century_and_clock_moves_past_9999_are_refused() {
    // Each once panicked a request or a send: `now - per` in a frequency
    // cap, `last_received + after` in re-eligibility, `seconds: 1e300`.
    let dir = tmp();
    let d = Daemon::start(dir.path(), "2026-01-05T08:00:00Z").await;
    let (s, v) = d
        .call(
            reqwest::Method::PUT,
            "/campaigns/forever",
            Some(
                json!({"name":"f","channel":"webhook","message":{"url":"http://127.0.0.1:9/x"},
                   "triggers":[{"type":"custom_event","name":"e"}],
                   "reeligibility":{"after":"100000000000d"},
                   "schedule":{"start":"2026-01-01T00:00:00Z"}}),
            ),
        )
        .await;
    assert!((400..500).contains(&s), "{s} {v}");
    assert!(v.to_string().contains("at most 36525d"), "{v}");
    let (s, v) = d
        .call(
            reqwest::Method::PUT,
            "/frequency_caps",
            Some(json!({"rules":[{"channel":"email","max":2,"per":"100000000000d"}]})),
        )
        .await;
    assert!((400..500).contains(&s), "{s} {v}");
    for body in [
        json!({"seconds":1e300}),
        json!({"seconds":4e11}),
        // An offset moved the written year 9999 into 10000 (UTC).
        json!({"to":"9999-12-31T23:59:59-23:59"}),
    ] {
        let (s, v) = d
            .call(reqwest::Method::POST, "/admin/clock/advance", Some(body))
            .await;
        assert_eq!(s, 400, "{v}");
    }
    assert_eq!(d.get("/admin/clock").await["now"], "2026-01-05T08:00:00Z");
    // The longest accepted span still works.
    d.campaign(
        "century",
        json!({"name":"c","channel":"webhook","message":{"url":"http://127.0.0.1:9/x"},
               "triggers":[{"type":"custom_event","name":"e"}],
               "reeligibility":{"after":"36525d"},
               "schedule":{"start":"2026-01-01T00:00:00Z"}}),
    )
    .await;
}
