//! The bounded tags and filters: same output as liquid-lib's on ordinary
//! templates (rendered side by side with the stock parser), and a
//! `render_error` naming the bound on inputs that would otherwise take the
//! process's memory or hours of CPU (R-X step 8).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::{Value as Json, json};

use super::variables::text_size;
use super::{MAX_LOOP_ITERATIONS, MAX_VARIABLE_BYTES};
use crate::template::{CampaignRef, RenderContext, RenderFailure, SendRef, Template};

fn ctx(event: Json) -> RenderContext {
    RenderContext::new(
        json!({"first_name": "Ann"}).as_object().expect("object"),
        json!({}).as_object().expect("object"),
        &event,
        CampaignRef {
            id: "cmp_1",
            name: "Bounds",
        },
        SendRef {
            id: "snd_1",
            due: Utc
                .with_ymd_and_hms(2026, 1, 5, 11, 0, 0)
                .single()
                .expect("valid instant"),
        },
    )
}

fn render(src: &str, event: Json) -> Result<String, RenderFailure> {
    Template::parse(src).expect("parses").render(&ctx(event))
}

/// The render's error message; panics if it rendered.
fn error_of(src: &str, event: Json) -> String {
    match render(src, event) {
        Err(RenderFailure::Error { message }) => message,
        other => panic!("{src}: expected a render error, got {other:?}"),
    }
}

/// Asserts the failure came in reasonable time: the bound stopped the work
/// early (without it these take hours or all memory; the slowest takes
/// about 4 s in a debug build).
fn quick_error(src: &str, event: Json, expected: &str) {
    let started = Instant::now();
    let message = error_of(src, event);
    assert!(
        message.contains(expected),
        "{src}: {message:?} should say {expected:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{src}: took {:?}",
        started.elapsed()
    );
}

#[test]
fn r_x8_ordinary_templates_render_as_the_standard_library_renders_them() {
    let stock = liquid::ParserBuilder::with_stdlib()
        .build()
        .expect("stock parser");
    let ours = crate::template::parser().expect("our parser");
    let globals = liquid::object!({
        "items": ["a", "b", "c", "d", "e"],
        "obj": {"k1": 1, "k2": "two"},
        "n": 4,
        "none": liquid_core::Value::Nil,
    });
    let corpus = [
        "{% for i in (1..5) %}{{i}},{% endfor %}",
        "{% for i in (1..n) %}{{i}}{% endfor %}",
        "{% for i in (-2..2) %}{{i}}{% endfor %}",
        "{% for i in (1..5) limit: 2 %}{{i}}{% endfor %}",
        "{% for i in (1..5) offset: 2 %}{{i}}{% endfor %}",
        "{% for i in (1..5) offset: 9 %}{{i}}{% else %}none{% endfor %}",
        "{% for i in (1..5) reversed %}{{i}}{% endfor %}",
        "{% for i in (1..5) limit: 2 offset: 1 reversed %}{{i}}{% endfor %}",
        "{% for i in (5..1) %}x{% else %}empty{% endfor %}",
        "{% for x in items %}{{forloop.index}}/{{forloop.length}}:{{x}}{% if forloop.last %}.{% endif %}{% endfor %}",
        "{% for x in items limit: 3 %}{{forloop.rindex}}{{forloop.rindex0}}{{forloop.index0}}{{forloop.first}}{% endfor %}",
        "{% for a in (1..2) %}{% for b in (1..2) %}{{forloop.parentloop.index}}{{forloop.index}} {% endfor %}{% endfor %}",
        "{% for i in (1..10) %}{% if i == 3 %}{% continue %}{% endif %}{% if i == 6 %}{% break %}{% endif %}{{i}}{% endfor %}",
        "{% for p in obj %}{{p[0]}}={{p[1]}};{% endfor %}",
        "{% for x in none %}a{% else %}b{% endfor %}",
        "{% tablerow x in items cols: 2 %}{{x}}{% endtablerow %}",
        "{% tablerow x in items %}{{tablerow.col}}{{tablerow.index}}{{x}}{% endtablerow %}",
        "{% tablerow i in (1..7) cols: 3 limit: 5 offset: 1 %}{{i}}{{tablerow.col_last}}{% endtablerow %}",
        "{% assign s = \"a,b\" | split: \",\" %}{{ s | join: \"-\" }}{{ s.size }}",
        "{% assign x = items | first | upcase %}{{x}}",
        "{% capture c %}x{{ 1 | plus: 2 }}{% endcapture %}{{c}}{{c}}",
        "{{ \"hello\" | replace: \"l\", \"L\" }}{{ \"hello\" | replace: \"l\" }}{{ \"hello\" | replace: \"\", \".\" }}",
        "{{ \"hello\" | replace_first: \"l\", \"L\" }}{{ \"hello\" | replace_first: \"l\" }}{{ \"x\" | replace_first: \"y\", \"z\" }}",
        "{{ items | join }}|{{ items | join: \", \" }}|{{ obj | join }}",
        "{% for c in \"abc\" %}{{c}}{% endfor %}",
        "{{ n | join: \",\" }}",
    ];
    for src in corpus {
        let expected = stock
            .parse(src)
            .expect("stock parses")
            .render(&globals)
            .map_err(|e| e.to_string());
        let got = ours
            .parse(src)
            .expect("ours parses")
            .render(&globals)
            .map_err(|e| e.to_string());
        match (&expected, &got) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{src}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{src}: stock {expected:?}, ours {got:?}"),
        }
    }
}

#[test]
fn r_x8_a_limit_past_the_end_after_an_offset_adds_no_empty_items() {
    // liquid-lib resized the window to `limit`, padding it with nil items.
    let out = render(
        "{% for i in (1..5) offset: 3 limit: 5 %}[{{i}}/{{forloop.length}}]{% endfor %}",
        json!({}),
    );
    assert_eq!(out.as_deref(), Ok("[4/2][5/2]"));
}

#[test]
fn r_x8_a_counted_range_from_an_event_is_bounded_before_anything_is_collected() {
    // The stock `for` collected the whole range first: a few billion items
    // failed the allocation and aborted the process.
    quick_error(
        "{% for i in (1..event_properties.n) %}{% endfor %}done",
        json!({"n": 4_000_000_000_i64}),
        "iterations",
    );
    quick_error(
        "{% for i in (event_properties.n..9223372036854775807) %}{% endfor %}",
        json!({"n": i64::MIN}),
        "iterations",
    );
    quick_error(
        "{% tablerow i in (1..event_properties.n) %}{% endtablerow %}",
        json!({"n": 4_000_000_000_i64}),
        "iterations",
    );
    // What runs is what counts: a limit keeps a huge range cheap.
    assert_eq!(
        render(
            "{% for i in (1..event_properties.n) limit: 3 %}{{i}}{% endfor %}",
            json!({"n": 4_000_000_000_i64})
        )
        .as_deref(),
        Ok("123")
    );
    assert_eq!(
        render(
            "{% for i in (1..event_properties.n) offset: 3999999998 %}{{i}},{% endfor %}",
            json!({"n": 4_000_000_000_i64})
        )
        .as_deref(),
        Ok("3999999999,4000000000,")
    );
}

#[test]
fn r_x8_the_loop_budget_is_shared_by_every_loop_of_a_render() {
    let at_budget = format!("{{% for i in (1..{MAX_LOOP_ITERATIONS}) %}}{{% endfor %}}ok");
    assert_eq!(render(&at_budget, json!({})).as_deref(), Ok("ok"));
    quick_error(
        &format!(
            "{{% for i in (1..{}) %}}{{% endfor %}}",
            MAX_LOOP_ITERATIONS + 1
        ),
        json!({}),
        "iterations",
    );
    // Nested loops over modest arrays multiply: 1,000 × 1,000.
    let items: Vec<u32> = (0..1_000).collect();
    quick_error(
        "{% for a in event_properties.items %}{% for b in event_properties.items %}{% assign x = b %}{% endfor %}{% endfor %}",
        json!({ "items": items }),
        "iterations",
    );
    // Two loops in a row share it too.
    let half = MAX_LOOP_ITERATIONS / 2 + 1;
    quick_error(
        &format!(
            "{{% for i in (1..{half}) %}}{{% endfor %}}{{% for i in (1..{half}) %}}{{% endfor %}}"
        ),
        json!({}),
        "iterations",
    );
    // A fresh render starts with a full budget.
    let template = Template::parse(&at_budget).expect("parses");
    for _ in 0..3 {
        assert_eq!(template.render(&ctx(json!({}))).as_deref(), Ok("ok"));
    }
}

#[test]
fn r_x8_break_gives_back_the_iterations_it_skipped() {
    // A search loop over a big catalog, left at the first hit, inside a
    // loop over the cart: charged what ran, not the catalog each time.
    let catalog: Vec<u32> = (0..50_000).collect();
    let cart: Vec<u32> = (0..10).collect();
    let out = render(
        "{% for c in event_properties.cart %}{% for p in event_properties.catalog %}{% if p == c %}{{p}}{% break %}{% endif %}{% endfor %}{% endfor %}",
        json!({ "cart": cart, "catalog": catalog }),
    );
    assert_eq!(out.as_deref(), Ok("0123456789"));
}

#[test]
fn r_x8_loops_stop_when_their_time_is_up() {
    // 100,000 iterations are allowed, but each one here scans 2 MiB of
    // event text: minutes of work, stopped by the loop time.
    let text = "a".repeat(2 * 1024 * 1024);
    let started = Instant::now();
    let message = error_of(
        "{% for i in (1..100000) %}{% assign n = event_properties.text | replace: \"b\", \"c\" | size %}{% endfor %}",
        json!({ "text": text }),
    );
    assert!(message.contains("ran longer than 2 s"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn r_x8_doubling_a_variable_stops_at_the_variable_bound() {
    quick_error(
        "{% assign s = \"ab\" %}{% for i in (1..64) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
        json!({}),
        "variable `s` would be longer than",
    );
    // (Items of 1 KiB, so that the bound is met within a few thousand
    // items, well inside the loop time even in a debug build.)
    quick_error(
        "{% assign a = event_properties.item | split: \",\" %}{% for i in (1..64) %}{% assign a = a | concat: a %}{% endfor %}",
        json!({ "item": "x".repeat(1024) }),
        "variable `a` would be longer than",
    );
    quick_error(
        "{% capture s %}ab{% endcapture %}{% for i in (1..64) %}{% capture s %}{{s}}{{s}}{% endcapture %}{% endfor %}",
        json!({}),
        "captured variable `s` would be longer than",
    );
    // Up to the bound is fine: 2^21 bytes = 2 MiB.
    assert_eq!(
        render(
            "{% assign s = \"ab\" %}{% for i in (1..20) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}",
            json!({})
        )
        .as_deref(),
        Ok("2097152")
    );
}

#[test]
fn r_x8_replace_and_join_refuse_results_past_the_bound_before_building_them() {
    let big = "a".repeat(100_000);
    quick_error(
        "{{ event_properties.s | replace: \"a\", event_properties.s }}",
        json!({ "s": big }),
        "the result of `replace` would be longer than",
    );
    quick_error(
        "{{ event_properties.s | replace: \"\", event_properties.s }}",
        json!({ "s": big }),
        "the result of `replace`",
    );
    let items: Vec<u32> = (0..100_000).collect();
    quick_error(
        "{{ event_properties.items | join: event_properties.s }}",
        json!({ "items": items, "s": big }),
        "the result of `join` would be longer than",
    );
    let huge = "b".repeat(MAX_VARIABLE_BYTES);
    quick_error(
        "{% assign t = event_properties.s | replace_first: \"b\", event_properties.s %}",
        json!({ "s": huge }),
        "the result of `replace_first`",
    );
    // Shrinking replacements of big texts are fine.
    assert_eq!(
        render(
            "{{ event_properties.s | replace: \"a\", \"\" | size }}",
            json!({ "s": big })
        )
        .as_deref(),
        Ok("0")
    );
}

#[test]
fn r_x8_tablerow_with_no_columns_is_an_error_naming_it() {
    let message = error_of(
        "{% tablerow x in (1..3) cols: event_properties.c %}{{x}}{% endtablerow %}",
        json!({"c": 0}),
    );
    assert!(message.contains("cols must be at least 1"), "{message}");
    // With nothing to lay out there is nothing to divide, as in liquid-lib.
    assert_eq!(
        render(
            "{% tablerow x in event_properties.none cols: 0 %}{{x}}{% endtablerow %}",
            json!({})
        )
        .as_deref(),
        Ok("")
    );
}

#[test]
fn text_size_counts_text_and_items_and_stops_at_the_limit() {
    let value =
        liquid::model::to_value(&json!({"ab": ["xyz", 12, ""], "c": true})).expect("converts");
    // keys: 1+2, 1+1; items: 3 × 1; text: "xyz" 3, "12" 2, "" 0, "true" 4.
    assert_eq!(text_size(&value, 100), Some(17));
    assert_eq!(text_size(&value, 16), None);
    let empties = liquid::model::to_value(&json!(vec![""; 1000])).expect("converts");
    assert_eq!(text_size(&empties, 999), None, "empty items count");
}
