//! Tests of segments (R-A1, R-A2): tree logic, every leaf kind, `within`
//! boundaries, serde shapes and errors, compile reports and explanations.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::testing::MemoryProfile;
use super::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
        .single()
        .expect("valid instant")
}

/// Parses and compiles a segment written as JSON, failing on any error.
fn segment(tree: Value) -> CompiledSegment {
    let raw: Segment = serde_json::from_value(tree).expect("segment parses");
    let mut report = Report::default();
    let compiled = raw.compile("audience.segment", &mut report);
    assert!(report.is_valid(), "unexpected errors: {report:?}");
    compiled.expect("compiles")
}

/// Compiles a segment expected to be refused and returns the report.
fn refused(tree: Value) -> Report {
    let raw: Segment = serde_json::from_value(tree).expect("segment parses");
    let mut report = Report::default();
    assert!(raw.compile("audience.segment", &mut report).is_none());
    report
}

fn parse_error(tree: Value) -> String {
    serde_json::from_value::<Segment>(tree)
        .expect_err("must be refused")
        .to_string()
}

fn male() -> MemoryProfile {
    MemoryProfile::new().with_attribute("gender", json!("M"))
}

fn gender_m() -> Value {
    json!({"attribute":"gender","op":"eq","value":"M"})
}

fn gmail() -> Value {
    json!({"attribute":"email","op":"ends_with","value":"@gmail.com"})
}

#[test]
fn r_a1_seed_segment_gender_m() {
    let s = segment(json!({"all":[gender_m()]}));
    assert!(s.matches(&male(), now()));
    let female = MemoryProfile::new().with_attribute("gender", json!("F"));
    assert!(!s.matches(&female, now()));
    assert!(!s.matches(&MemoryProfile::new(), now()), "no gender yet");
}

#[test]
fn r_a1_email_ends_with_gmail() {
    let s = segment(gmail());
    let user = |email: &str| MemoryProfile::new().with_attribute("email", json!(email));
    assert!(s.matches(&user("ana@gmail.com"), now()));
    assert!(!s.matches(&user("ana@yahoo.com"), now()));
    assert!(!s.matches(&user("ana@gmail.com.evil.net"), now()));
    assert!(!s.matches(&MemoryProfile::new(), now()));
}

#[test]
fn r_a1_all_any_not_nest() {
    let s = segment(json!({"all":[
        gender_m(),
        {"any":[gmail(), {"attribute":"country","op":"in","value":["FR","BE"]}]},
        {"not":{"attribute":"email_subscribe","op":"eq","value":"unsubscribed"}}
    ]}));
    let base = male().with_attribute("email", json!("a@gmail.com"));
    assert!(s.matches(&base, now()));
    let yahoo_fr = male()
        .with_attribute("email", json!("a@yahoo.com"))
        .with_attribute("country", json!("FR"));
    assert!(s.matches(&yahoo_fr, now()), "any: second branch");
    let yahoo_us = yahoo_fr.clone().with_attribute("country", json!("US"));
    assert!(!s.matches(&yahoo_us, now()), "any: no branch");
    let unsubscribed = base
        .clone()
        .with_attribute("email_subscribe", json!("unsubscribed"));
    assert!(!s.matches(&unsubscribed, now()), "not");
    let female = base.with_attribute("gender", json!("F"));
    assert!(!s.matches(&female, now()), "all");
    let double = segment(json!({"not":{"not":gender_m()}}));
    assert!(double.matches(&male(), now()));
    assert!(!double.matches(&MemoryProfile::new(), now()));
}

#[test]
fn r_a1_empty_all_is_everyone_and_empty_any_is_no_one() {
    assert!(segment(json!({"all":[]})).matches(&MemoryProfile::new(), now()));
    let raw: Segment = serde_json::from_value(json!({"all":[{"any":[]}]})).expect("parses");
    let mut report = Report::default();
    let s = raw.compile("audience.segment", &mut report).expect("valid");
    assert!(!s.matches(&male(), now()));
    assert!(report.is_valid());
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].path, "audience.segment.all[0].any");
    assert!(segment(json!({"not":{"any":[]}})).matches(&MemoryProfile::new(), now()));
}

#[test]
fn r_a1_attribute_leaves_use_the_r_t3_operators() {
    let profile = MemoryProfile::new()
        .with_attribute("age", json!(30))
        .with_attribute("email", json!("a@gmail.com"))
        .with_attribute("language", json!("fr"))
        .with_attribute("vip", json!(true))
        .with_attribute("tags", json!(["beta", "eu"]))
        .with_attribute("signed_up", json!("2026-01-01T10:00:00+01:00"));
    let cases = [
        (json!({"attribute":"age","op":"eq","value":30.0}), true),
        (json!({"attribute":"age","op":"ne","value":30}), false),
        (json!({"attribute":"age","op":"gt","value":29}), true),
        (json!({"attribute":"age","op":"gte","value":31}), false),
        (json!({"attribute":"age","op":"lt","value":30}), false),
        (json!({"attribute":"age","op":"lte","value":30}), true),
        (
            json!({"attribute":"age","op":"between","value":[18,30]}),
            true,
        ),
        (json!({"attribute":"age","op":"eq","value":"30"}), false),
        (
            json!({"attribute":"language","op":"in","value":["fr","de"]}),
            true,
        ),
        (
            json!({"attribute":"language","op":"not_in","value":["fr","de"]}),
            false,
        ),
        (
            json!({"attribute":"tags","op":"contains","value":"beta"}),
            true,
        ),
        (
            json!({"attribute":"email","op":"contains","value":"gmail"}),
            true,
        ),
        (
            json!({"attribute":"email","op":"starts_with","value":"b@"}),
            false,
        ),
        (
            json!({"attribute":"email","op":"ends_with","value":"gmail.com"}),
            true,
        ),
        (
            json!({"attribute":"email","op":"matches","value":"^[a-z]@gmail\\.com$"}),
            true,
        ),
        (json!({"attribute":"vip","op":"eq","value":true}), true),
        (json!({"attribute":"vip","op":"exists"}), true),
        (json!({"attribute":"vip","op":"not_exists"}), false),
        (
            json!({"attribute":"signed_up","op":"eq","value":"2026-01-01T09:00:00Z"}),
            true,
        ),
        (
            json!({"attribute":"signed_up","op":"lt","value":"2026-01-01T09:30:00Z"}),
            true,
        ),
    ];
    for (leaf, expected) in cases {
        assert_eq!(
            segment(leaf.clone()).matches(&profile, now()),
            expected,
            "{leaf}"
        );
    }
}

#[test]
fn r_a1_missing_or_null_attribute_fails_all_but_ne_and_not_exists() {
    let mut profile = MemoryProfile::new();
    profile.attributes.insert("nickname".into(), Value::Null);
    for (op, value) in [
        ("eq", json!("x")),
        ("ne", json!("x")),
        ("gt", json!(1)),
        ("in", json!(["x"])),
        ("not_in", json!(["x"])),
        ("contains", json!("x")),
        ("matches", json!("x")),
        ("exists", Value::Null),
        ("not_exists", Value::Null),
    ] {
        let expected = op == "ne" || op == "not_exists";
        for name in ["nickname", "never_set", "address.city"] {
            let leaf = json!({"attribute":name,"op":op,"value":value});
            assert_eq!(
                segment(leaf).matches(&profile, now()),
                expected,
                "{op} on {name}"
            );
        }
    }
}

#[test]
fn r_a1_dotted_attribute_reaches_nested_custom_objects() {
    let profile = MemoryProfile::new()
        .with_attribute("address", json!({"city": "Paris", "geo": {"zip": "75001"}}))
        .with_attribute("plan.tier", json!("gold"));
    let city = segment(json!({"attribute":"address.city","op":"eq","value":"Paris"}));
    assert!(city.matches(&profile, now()));
    let zip = segment(json!({"attribute":"address.geo.zip","op":"starts_with","value":"75"}));
    assert!(zip.matches(&profile, now()));
    let tier = segment(json!({"attribute":"plan.tier","op":"eq","value":"gold"}));
    assert!(tier.matches(&profile, now()), "a dotted custom name wins");
    let street = segment(json!({"attribute":"address.street","op":"exists"}));
    assert!(!street.matches(&profile, now()));
}

fn registrations(count: &Value, within: Option<&str>) -> CompiledSegment {
    let mut leaf = json!({"event":"registration","count":count});
    if let Some(within) = within {
        leaf["within"] = json!(within);
    }
    segment(leaf)
}

#[test]
fn r_a1_event_count_operators() {
    let t = now() - Duration::days(1);
    let two = MemoryProfile::new()
        .with_event("registration", t)
        .with_event("registration", t)
        .with_event("other", t);
    let cases = [
        (json!({"op":"eq","value":2}), true),
        (json!({"op":"eq","value":1}), false),
        (json!({"op":"ne","value":1}), true),
        (json!({"op":"gt","value":2}), false),
        (json!({"op":"gte","value":2}), true),
        (json!({"op":"lt","value":3}), true),
        (json!({"op":"lte","value":1}), false),
        (json!({"op":"between","value":[2,5]}), true),
        (json!({"op":"between","value":[0,1]}), false),
    ];
    for (count, expected) in cases {
        assert_eq!(
            registrations(&count, None).matches(&two, now()),
            expected,
            "{count}"
        );
    }
    let never = registrations(&json!({"op":"eq","value":0}), None);
    assert!(never.matches(&MemoryProfile::new(), now()));
    assert!(!never.matches(&two, now()));
}

#[test]
fn r_a1_within_counts_an_event_exactly_at_the_boundary() {
    let gte1 = json!({"op":"gte","value":1});
    let s = registrations(&gte1, Some("30d"));
    let boundary = now() - Duration::days(30);
    let at = MemoryProfile::new().with_event("registration", boundary);
    assert!(s.matches(&at, now()), "now - within is inside");
    let before =
        MemoryProfile::new().with_event("registration", boundary - Duration::milliseconds(1));
    assert!(!s.matches(&before, now()), "1 ms earlier is outside");
    assert!(
        registrations(&gte1, None).matches(&before, now()),
        "no within: all time"
    );
    let recent = MemoryProfile::new().with_event("registration", now() - Duration::hours(1));
    assert!(s.matches(&recent, now()));
    let century = registrations(&gte1, Some("36525d"));
    let long_ago = MemoryProfile::new().with_event("registration", now() - Duration::days(36_000));
    assert!(century.matches(&long_ago, now()), "the longest within");
    let huge = json!({"event":"registration","count":gte1,"within":"99999999999d"});
    let err = serde_json::from_value::<Segment>(huge).expect_err("refused when parsed");
    assert!(err.to_string().contains("at most 36525d"), "{err}");
}

#[test]
fn r_a1_purchase_and_session_start_count_as_events() {
    let profile = MemoryProfile::new()
        .with_event("purchase", now() - Duration::days(2))
        .with_event("session_start", now() - Duration::minutes(5));
    let bought = segment(json!({"event":"purchase","count":{"op":"gte","value":1},"within":"7d"}));
    assert!(bought.matches(&profile, now()));
    let new_user = segment(json!({"not":{"event":"session_start","count":{"op":"gte","value":1}}}));
    assert!(!new_user.matches(&profile, now()));
    assert!(new_user.matches(&MemoryProfile::new(), now()));
}

#[test]
fn r_a2_segment_sees_triggering_event() {
    // The seed's two-step problem: a campaign triggered by `registration`
    // for users who registered. The daemon evaluates the segment on the
    // profile that already holds the triggering event.
    let s = segment(json!({"all":[
        gender_m(),
        {"event":"registration","count":{"op":"gte","value":1},"within":"30d"}
    ]}));
    let before_event = male();
    assert!(!s.matches(&before_event, now()));
    let event_time = now();
    let with_trigger = male().with_event("registration", event_time);
    assert!(
        s.matches(&with_trigger, now()),
        "first occurrence qualifies"
    );
    let slightly_ahead = male().with_event("registration", now() + Duration::seconds(30));
    assert!(
        s.matches(&slightly_ahead, now()),
        "an event stamped a little ahead of now still counts"
    );
}

#[test]
fn r_a1_explain_names_the_failing_leaf() {
    let s = segment(json!({"all":[gender_m(), gmail()]}));
    let yahoo = male().with_attribute("email", json!("a@yahoo.com"));
    assert_eq!(
        s.explain_failure(&yahoo, now()).as_deref(),
        Some(r#"attribute email ends_with "@gmail.com" failed (value: "a@yahoo.com")"#)
    );
    assert_eq!(
        s.explain_failure(&MemoryProfile::new(), now()).as_deref(),
        Some(r#"attribute gender eq "M" failed (missing)"#)
    );
    let ok = male().with_attribute("email", json!("a@gmail.com"));
    assert_eq!(s.explain_failure(&ok, now()), None);

    let events = segment(json!({"any":[
        {"event":"registration","count":{"op":"gte","value":1},"within":"30d"},
        {"not":gender_m()}
    ]}));
    assert_eq!(
        events.explain_failure(&male(), now()).as_deref(),
        Some(concat!(
            "none of any matched: event registration count gte 1 within 30d failed (count: 0); ",
            r#"not(attribute gender eq "M") failed: it matched (value: "M")"#
        ))
    );
    assert_eq!(
        segment(json!({"any":[]}))
            .explain_failure(&male(), now())
            .as_deref(),
        Some("any [] is empty and matches no one")
    );
    assert_eq!(
        events.to_string(),
        r#"any(event registration count gte 1 within 30d, not(attribute gender eq "M"))"#
    );
}

#[test]
fn r_a1_compile_reports_every_problem_at_its_path() {
    let report = refused(json!({"all":[
        gender_m(),
        {"not":{"attribute":"sku","op":"matches","value":"("}},
        {"any":[{"event":"purchase","count":{"op":"between","value":[3,1]}}]},
        {"event":"","count":{"op":"gte","value":-1}},
        {"attribute":"age","op":"in","value":5}
    ]}));
    let paths: Vec<&str> = report.errors.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "audience.segment.all[1].not.value",
            "audience.segment.all[2].any[0].count.value",
            "audience.segment.all[3].event",
            "audience.segment.all[3].count.value",
            "audience.segment.all[4].value",
        ]
    );
    assert!(report.errors[0].message.starts_with("invalid regex: "));
    assert!(report.errors[1].message.contains("lo <= hi"));
    assert!(report.errors[3].message.contains("whole number"));
    for bad in [json!(1.5), json!("1"), json!([1, 2])] {
        let r = refused(json!({"event":"e","count":{"op":"gte","value":bad}}));
        assert_eq!(r.errors.len(), 1, "{bad}");
    }
    let r = refused(json!({"event":"e","count":{"op":"between","value":2}}));
    assert!(r.errors[0].message.contains("two-element"));
}

#[test]
fn r_a1_compile_warnings_do_not_invalidate() {
    for (tree, path) in [
        (
            json!({"event":"e","count":{"op":"lt","value":0}}),
            "s.count.value",
        ),
        (
            json!({"event":"e","count":{"op":"gte","value":1},"within":"0s"}),
            "s.within",
        ),
        (
            json!({"attribute":"a","op":"exists","value":true}),
            "s.value",
        ),
    ] {
        let raw: Segment = serde_json::from_value(tree.clone()).expect("parses");
        let mut report = Report::default();
        assert!(raw.compile("s", &mut report).is_some(), "{tree}");
        assert!(report.is_valid());
        let warned: Vec<&str> = report.warnings.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(warned, [path], "{tree}");
    }
}

#[test]
fn r_a1_unknown_shapes_are_refused_with_their_place() {
    let cases = [
        (
            json!({"all":[gender_m(), {"nope":1}]}),
            "at all[1]: unknown segment node with keys [nope]",
        ),
        (json!({"all":[], "any":[]}), "exactly one of the keys"),
        (json!({"all":gender_m()}), "\"all\" must be an array"),
        (
            json!({"not":gender_m(), "x":1}),
            "\"not\" node takes no other key",
        ),
        (
            json!({"not":[gender_m()]}),
            "at not: a segment node must be an object",
        ),
        (json!("gender"), "must be an object"),
        (
            json!({"any":[{"attribute":"g","op":"like","value":1}]}),
            "at any[0]: attribute leaf: unknown variant `like`",
        ),
        (
            json!({"attribute":"g","op":"eq","vaule":1}),
            "unknown field `vaule`",
        ),
        (
            json!({"event":"e","count":{"op":"gte","value":1},"within":"3w"}),
            "invalid duration",
        ),
        (
            json!({"event":"e","count":{"op":"in","value":1}}),
            "unknown variant `in`",
        ),
        (json!({"event":"e"}), "missing field `count`"),
    ];
    for (tree, needle) in cases {
        let message = parse_error(tree.clone());
        assert!(message.contains(needle), "{tree}: {message}");
    }
    let mut deep = gender_m();
    for _ in 0..40 {
        deep = json!({ "not": deep });
    }
    assert!(parse_error(deep).contains("deeper than 32"));
}

#[test]
fn r_a1_serde_round_trip_keeps_the_wire_format() {
    let text = r#"{"all":[{"attribute":"email","op":"ends_with","value":"@gmail.com"},{"any":[{"not":{"attribute":"vip","op":"exists"}},{"event":"registration","count":{"op":"gte","value":1},"within":"30d"},{"event":"purchase","count":{"op":"between","value":[1,3]}}]}]}"#;
    let parsed: Segment = serde_json::from_str(text).expect("parses");
    assert_eq!(serde_json::to_string(&parsed).expect("serializes"), text);
    let from_toml: Segment = toml::from_str(
        r#"
        [[all]]
        attribute = "gender"
        op = "eq"
        value = "M"
        [[all]]
        event = "registration"
        within = "30d"
        count = { op = "gte", value = 1 }
        "#,
    )
    .expect("toml");
    assert_eq!(
        from_toml,
        Segment::All(vec![
            Segment::Attribute(AttributeLeaf {
                attribute: "gender".into(),
                op: Op::Eq,
                value: Some(json!("M")),
            }),
            Segment::EventCount(EventCountLeaf {
                event: "registration".into(),
                count: CountCondition {
                    op: CountOp::Gte,
                    value: json!(1),
                },
                within: Some("30d".parse().expect("span")),
            }),
        ])
    );
}

/// Compiled segments are shared across the daemon's worker threads.
#[test]
fn compiled_segments_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledSegment>();
}

/// A random tree over a few leaves, and a random profile for them.
fn tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(gender_m()),
        Just(gmail()),
        Just(json!({"attribute":"age","op":"gte","value":18})),
        Just(json!({"event":"purchase","count":{"op":"gte","value":2},"within":"7d"})),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|c| json!({ "all": c })),
            prop::collection::vec(inner.clone(), 0..4).prop_map(|c| json!({ "any": c })),
            inner.prop_map(|c| json!({ "not": c })),
        ]
    })
}

fn profile() -> impl Strategy<Value = MemoryProfile> {
    (
        prop::option::of(prop_oneof![Just("M"), Just("F")]),
        prop::option::of(prop_oneof![Just("a@gmail.com"), Just("b@yahoo.com")]),
        prop::option::of(0i64..40),
        prop::collection::vec(0i64..10, 0..4),
    )
        .prop_map(|(gender, email, age, purchase_days)| {
            let mut p = MemoryProfile::new();
            if let Some(g) = gender {
                p.set_attribute("gender", json!(g));
            }
            if let Some(e) = email {
                p.set_attribute("email", json!(e));
            }
            if let Some(a) = age {
                p.set_attribute("age", json!(a));
            }
            for days in purchase_days {
                p.record_event("purchase", now() - Duration::days(days));
            }
            p
        })
}

proptest! {
    #[test]
    fn r_a1_prop_not_negates_and_explain_agrees(t in tree(), p in profile()) {
        let s = segment(t.clone());
        let negated = segment(json!({ "not": t }));
        let inside = s.matches(&p, now());
        prop_assert_eq!(negated.matches(&p, now()), !inside);
        prop_assert_eq!(s.explain_failure(&p, now()).is_none(), inside);
        prop_assert_eq!(negated.explain_failure(&p, now()).is_none(), !inside);
    }

    #[test]
    fn r_a1_prop_de_morgan(a in tree(), b in tree(), p in profile()) {
        let lhs = segment(json!({"not":{"all":[a.clone(), b.clone()]}}));
        let rhs = segment(json!({"any":[{"not":a}, {"not":b}]}));
        prop_assert_eq!(lhs.matches(&p, now()), rhs.matches(&p, now()));
    }
}
