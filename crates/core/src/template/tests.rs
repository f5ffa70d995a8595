//! End-to-end template tests: Braze dialect in, rendered text out (R-X
//! step 8).

use chrono::{TimeZone, Utc};
use serde_json::{Value as Json, json};

use super::*;
use crate::validation::Report;

fn ctx_with(profile: Json, custom: Json, event: Json) -> RenderContext {
    RenderContext::new(
        profile.as_object().expect("profile object"),
        custom.as_object().expect("custom object"),
        &event,
        CampaignRef {
            id: "cmp_1",
            name: "Abandoned cart",
        },
        SendRef {
            id: "snd_9",
            due: Utc
                .with_ymd_and_hms(2026, 1, 5, 11, 0, 0)
                .single()
                .expect("valid instant"),
        },
    )
}

fn ctx() -> RenderContext {
    ctx_with(
        json!({"first_name": "Ann", "last_name": "Lee", "gender": "F",
               "email": "ann@gmail.com", "external_id": "u1", "country": "FR"}),
        json!({"loyalty_tier": "gold", "my key": "spaced", "loyalty-points": 42,
               "address": {"city": "Lyon"}}),
        json!({"cart_value": 150, "price": 12.5, "cart id": "c-7",
               "items": [{"sku": "a"}, {"sku": "b"}]}),
    )
}

fn render(src: &str, ctx: &RenderContext) -> Result<String, RenderFailure> {
    Template::parse(src).expect("parses").render(ctx)
}

fn ok(src: &str) -> String {
    render(src, &ctx()).expect("renders")
}

#[test]
fn r_x8_standard_attributes() {
    assert_eq!(ok("Hi {{${first_name}}} {{ ${last_name} }}"), "Hi Ann Lee");
    assert_eq!(
        ok("{% if ${gender} == 'F' %}Ms{% else %}Mx{% endif %}"),
        "Ms"
    );
    assert_eq!(ok("{{ first_name }}"), "Ann", "plain Liquid reads the same");
    assert_eq!(
        ok("{{ ${email_address} }}/{{ ${user_id} }}"),
        "ann@gmail.com/u1"
    );
}

#[test]
fn r_x8_custom_attributes_and_event_properties() {
    assert_eq!(ok("{{custom_attribute.${loyalty_tier}}}"), "gold");
    assert_eq!(ok("{{event_properties.${cart_value}}}"), "150");
    assert_eq!(
        ok("{% if event_properties.${cart_value} > 100 %}big{% else %}small{% endif %}"),
        "big"
    );
    assert_eq!(ok("{{ custom_attribute.${address}.city }}"), "Lyon");
    assert_eq!(
        ok("{% for i in event_properties.${items} %}{{ i.sku }}{% endfor %}"),
        "ab"
    );
}

#[test]
fn r_x8_api_example_subject() {
    let ctx = ctx_with(json!({}), json!({}), json!({"cart_value": 150}));
    assert_eq!(
        render(
            "You left {{ event_properties.${cart_value} }}$ behind",
            &ctx
        )
        .expect("renders"),
        "You left 150$ behind"
    );
}

#[test]
fn r_x8_names_with_spaces_and_dashes() {
    assert_eq!(ok("{{custom_attribute.${my key}}}"), "spaced");
    assert_eq!(ok("{{custom_attribute.${loyalty-points}}}"), "42");
    assert_eq!(ok("{{event_properties.${cart id}}}"), "c-7");
    assert_eq!(ok(r#"{{ custom_attribute["my key"] | upcase }}"#), "SPACED");
}

#[test]
fn r_x8_numbers_render_plainly() {
    assert_eq!(ok("{{event_properties.${cart_value}}}"), "150");
    assert_eq!(ok("{{event_properties.${price}}}"), "12.5");
    assert_eq!(ok("{{event_properties.${price} | times: 3}}"), "37.5");
    assert_eq!(ok("{{event_properties.${cart_value} | times: 2}}"), "300");
}

#[test]
fn r_x8_missing_variables_render_empty() {
    assert_eq!(ok("[{{ ${nickname} }}]"), "[]");
    assert_eq!(ok("[{{ custom_attribute.${nope} }}]"), "[]");
    assert_eq!(ok("[{{ custom_attribute.${nope}.deeper.still }}]"), "[]");
    assert_eq!(ok("[{{ event_properties.${items}[7].sku }}]"), "[]");
    assert_eq!(ok("[{{ nothing.at.all }}]"), "[]");
    let no_event = ctx_with(json!({}), json!({}), Json::Null);
    assert_eq!(
        render("[{{ event_properties.${cart_value} }}]", &no_event).expect("renders"),
        "[]"
    );
    assert_eq!(ok("{% if ${nickname} %}yes{% else %}no{% endif %}"), "no");
    assert_eq!(ok("{% if ${nickname} == blank %}blank{% endif %}"), "blank");
    assert_eq!(
        ok("{% if custom_attribute.${nope} == nil %}nil{% endif %}"),
        "nil"
    );
}

#[test]
fn r_x8_default_filter_for_missing_and_empty() {
    assert_eq!(ok("Hi {{ ${nickname} | default: 'there' }}"), "Hi there");
    let empty = ctx_with(json!({"first_name": ""}), json!({}), json!({}));
    assert_eq!(
        render("Hi {{ ${first_name} | default: 'there' }}", &empty).expect("renders"),
        "Hi there"
    );
    assert_eq!(ok("Hi {{ ${first_name} | default: 'there' }}"), "Hi Ann");
}

#[test]
fn r_x8_campaign_and_send_variables() {
    assert_eq!(
        ok(
            "{{campaign.id}}|{{campaign.${name}}}|{{send.id}}|{{send.due}}|{{campaign.${dispatch_id}}}"
        ),
        "cmp_1|Abandoned cart|snd_9|2026-01-05T11:00:00Z|snd_9"
    );
}

#[test]
fn r_x8_date_filter_reads_rfc3339_and_now_is_the_due_instant() {
    assert_eq!(
        ok("{{ send.due | date: '%Y-%m-%d %H:%M' }}"),
        "2026-01-05 11:00"
    );
    assert_eq!(
        ok("{{ 'now' | date: '%d/%m/%Y %H:%M' }}"),
        "05/01/2026 11:00"
    );
    assert_eq!(ok("{{ 'today' | date: '%A' }}"), "Monday");
    let ctx = ctx_with(
        json!({}),
        json!({}),
        json!({"at": "2026-02-03T04:05:06+01:00", "day": "2026-03-01", "unix": 0,
               "liquid": "2026-01-05 10:00:00 +0000", "word": "soon"}),
    );
    let r = |src: &str| render(src, &ctx).expect("renders");
    assert_eq!(
        r("{{ event_properties.${at} | date: '%H:%M %z' }}"),
        "04:05 +0100"
    );
    assert_eq!(r("{{ event_properties.${day} | date: '%b %e' }}"), "Mar  1");
    assert_eq!(r("{{ event_properties.${unix} | date: '%Y' }}"), "1970");
    assert_eq!(r("{{ event_properties.${liquid} | date: '%H' }}"), "10");
    assert_eq!(r("{{ event_properties.${word} | date: '%Y' }}"), "soon");
    assert!(matches!(
        render("{{ send.due | date: 'at %' }}", &ctx),
        Err(RenderFailure::Error { .. })
    ));
}

#[test]
fn r_x8_abort_message_keeps_reason() {
    assert_eq!(
        render(r#"Hello{% abort_message("no name") %} never"#, &ctx()),
        Err(RenderFailure::Aborted {
            reason: Some("no name".to_string())
        })
    );
    assert_eq!(
        render(r#"{% abort_message 'tag form' %}"#, &ctx()),
        Err(RenderFailure::Aborted {
            reason: Some("tag form".to_string())
        })
    );
    assert_eq!(
        render(
            r#"{% abort_message("for " | append: ${first_name}) %}"#,
            &ctx()
        ),
        Err(RenderFailure::Aborted {
            reason: Some("for Ann".to_string())
        })
    );
}

#[test]
fn r_x8_abort_message_without_reason() {
    for src in [
        "{% abort_message() %}",
        "{% abort_message %}",
        "{%- abort_message() -%}",
        "{% abort_message('') %}",
    ] {
        assert_eq!(
            render(src, &ctx()),
            Err(RenderFailure::Aborted { reason: None }),
            "{src}"
        );
    }
}

#[test]
fn r_x8_abort_message_inside_blocks() {
    let src = r#"{% if ${first_name} == blank %}{% abort_message("no name") %}{% endif %}Hi {{${first_name}}}"#;
    assert_eq!(render(src, &ctx()).expect("has a name"), "Hi Ann");
    let nameless = ctx_with(json!({}), json!({}), json!({}));
    assert_eq!(
        render(src, &nameless),
        Err(RenderFailure::Aborted {
            reason: Some("no name".to_string())
        })
    );
    let nested = r#"{% for i in event_properties.${items} %}{% capture x %}{% unless i.sku == 'a' %}{% case i.sku %}{% when 'b' %}{% abort_message("sku b") %}{% endcase %}{% endunless %}{% endcapture %}{% endfor %}"#;
    assert_eq!(
        render(nested, &ctx()),
        Err(RenderFailure::Aborted {
            reason: Some("sku b".to_string())
        })
    );
}

#[test]
fn r_x8_render_error_is_typed() {
    let failure = render(
        "{{ event_properties.${cart_value} | divided_by: 0 }}",
        &ctx(),
    )
    .expect_err("division by zero fails");
    match &failure {
        RenderFailure::Error { message } => assert!(!message.is_empty()),
        other => panic!("expected an error, got {other:?}"),
    }
    assert_eq!(failure.outcome(), "render_error");
    assert_eq!(RenderFailure::Aborted { reason: None }.outcome(), "aborted");
    let include = render("{% include 'footer' %}", &ctx()).expect_err("no partials");
    assert!(matches!(include, RenderFailure::Error { .. }));
}

#[test]
fn r_x8_syntax_errors_are_parse_errors() {
    for src in [
        "{{ ${first_name} ",
        "{% if x %}unclosed",
        "{{ x | no_such_filter }}",
        "{% no_such_tag %}",
        "{% abort_message 'a' 'b' %}",
    ] {
        assert!(
            matches!(Template::parse(src), Err(TemplateError::Syntax(_))),
            "{src}"
        );
    }
    assert!(matches!(
        Template::parse("{{ ${first_name"),
        Err(TemplateError::Reference(_))
    ));
}

#[test]
fn r_x8_html_untouched_outside_tags() {
    let html = r#"<p style="color:red">Hi {{ ${first_name} | default: 'there' }}, ${first_name} costs $5 {curly}</p>"#;
    assert_eq!(
        ok(html),
        r#"<p style="color:red">Hi Ann, ${first_name} costs $5 {curly}</p>"#
    );
    assert_eq!(ok("{{ '<b>' }}"), "<b>", "no auto-escaping");
}

#[test]
fn r_x8_message_compile_reports_paths() {
    let message = json!({
        "subject": "Hi {{ ${first_name}",
        "html": "<p>{% if %}</p>",
        "text": "fine",
        "buttons": [{"text": "ok"}, {"text": "{{ x | nope }}"}]
    });
    let mut report = Report::default();
    assert!(MessageTemplate::compile(&message, "message", &mut report).is_none());
    let mut paths: Vec<_> = report.errors.iter().map(|p| p.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        ["message.buttons[1].text", "message.html", "message.subject"]
    );
    assert!(report.errors.iter().all(|p| !p.message.is_empty()));
}

#[test]
fn r_x8_email_message_renders_same_shape() {
    let message = json!({
        "subject": "You left {{ event_properties.${cart_value} }}$ behind",
        "html": "<p>Hi {{ ${first_name} | default: 'there' }}</p>",
        "buttons": [{"text": "Buy {{custom_attribute.${loyalty_tier}}}", "id": 1, "primary": true}],
        "extra": null
    });
    let mut report = Report::default();
    let compiled = MessageTemplate::compile(&message, "message", &mut report).expect("compiles");
    assert!(report.is_valid());
    assert_eq!(
        compiled.render(&ctx()).expect("renders"),
        json!({
            "subject": "You left 150$ behind",
            "html": "<p>Hi Ann</p>",
            "buttons": [{"text": "Buy gold", "id": 1, "primary": true}],
            "extra": null
        })
    );
}

#[test]
fn r_x8_webhook_body_template() {
    let message = json!({
        "url": "https://hooks.example/users/{{ ${user_id} | url_encode }}",
        "method": "POST",
        "headers": {"X-Cart": "{{event_properties.${cart id}}}", "X-Campaign": "{{campaign.id}}"},
        "body": r#"{"name":"{{${first_name}}}","cart":{{event_properties.${cart_value}}},"send":"{{send.id}}"}"#
    });
    let mut report = Report::default();
    let compiled = MessageTemplate::compile(&message, "message", &mut report).expect("compiles");
    let rendered = compiled.render(&ctx()).expect("renders");
    assert_eq!(rendered["url"], "https://hooks.example/users/u1");
    assert_eq!(rendered["method"], "POST");
    assert_eq!(
        rendered["headers"],
        json!({"X-Cart": "c-7", "X-Campaign": "cmp_1"})
    );
    let body: Json =
        serde_json::from_str(rendered["body"].as_str().expect("string")).expect("the body is JSON");
    assert_eq!(body, json!({"name": "Ann", "cart": 150, "send": "snd_9"}));
}

#[test]
fn r_x8_abort_in_any_field_aborts_message() {
    let message = json!({
        "title": "Hi {{${first_name}}}",
        "body": "{% if event_properties.${cart_value} > 100 %}{% abort_message(\"too big\") %}{% endif %}ok"
    });
    let mut report = Report::default();
    let compiled = MessageTemplate::compile(&message, "message", &mut report).expect("compiles");
    assert_eq!(
        compiled.render(&ctx()),
        Err(RenderFailure::Aborted {
            reason: Some("too big".to_string())
        })
    );
    let small = ctx_with(
        json!({"first_name": "Bo"}),
        json!({}),
        json!({"cart_value": 5}),
    );
    assert_eq!(
        compiled.render(&small).expect("renders"),
        json!({"title": "Hi Bo", "body": "ok"})
    );
}

#[test]
fn r_x8_message_render_error_names_the_field() {
    let message = json!({"body": "{{ event_properties.${cart_value} | divided_by: 0 }}"});
    let mut report = Report::default();
    let compiled = MessageTemplate::compile(&message, "message", &mut report).expect("compiles");
    match compiled.render(&ctx()) {
        Err(RenderFailure::Error { message }) => {
            assert!(message.starts_with("message.body: "), "{message}");
        }
        other => panic!("expected a render error, got {other:?}"),
    }
}

#[test]
fn r_x8_parsed_template_renders_many_contexts() {
    let template = Template::parse("Hi {{ ${first_name} | default: 'there' }}").expect("parses");
    let names = ["Ann", "Bo", "Cy"];
    for name in names {
        let ctx = ctx_with(json!({"first_name": name}), json!({}), json!({}));
        assert_eq!(
            template.render(&ctx).expect("renders"),
            format!("Hi {name}")
        );
    }
    assert_eq!(
        template.source(),
        "Hi {{ ${first_name} | default: 'there' }}"
    );
}

#[test]
fn r_x8_compiled_templates_are_shareable_between_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<Template>();
    shareable::<MessageTemplate>();
    shareable::<RenderContext>();
    shareable::<RenderFailure>();
    assert_eq!(ok(""), "");
}

#[test]
fn r_x8_a_filter_that_panics_inside_liquid_is_a_render_error() {
    // liquid-lib's `divided_by` and `modulo` divide unchecked: i64::MIN by
    // -1 panics. The values come from the event, i.e. from anyone with the
    // SDK key. (`tablerow cols: 0` panicked too; the bounded `tablerow`
    // now refuses it as an error, see `bounded::tests`.)
    let c = ctx_with(
        json!({}),
        json!({}),
        json!({"total": i64::MIN, "people": -1}),
    );
    for src in [
        "{{ event_properties.${total} | divided_by: event_properties.${people} }}",
        "{{ event_properties.${total} | modulo: event_properties.${people} }}",
    ] {
        match render(src, &c) {
            Err(RenderFailure::Error { message }) => {
                assert!(
                    message.contains("template engine failed"),
                    "{src}: {message}"
                )
            }
            other => panic!("{src}: {other:?}"),
        }
    }
    // The same filters with ordinary values still work.
    let fine = ctx_with(json!({}), json!({}), json!({"total": 9, "people": 2}));
    assert_eq!(
        render(
            "{{ event_properties.${total} | divided_by: event_properties.${people} }}",
            &fine
        ),
        Ok("4".to_string())
    );
}

#[test]
fn r_x8_output_past_the_cap_is_a_render_error_not_unbounded_memory() {
    let src = "{% assign s = 'xxxxxxxxxxxxxxxx' %}{% for i in (1..17) %}{% assign s = s | append: s %}{% endfor %}{{ s }}";
    match render(src, &ctx()) {
        Err(RenderFailure::Error { message }) => {
            assert!(message.contains("exceeds"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Just under the cap renders.
    let big = "x".repeat(MAX_RENDERED_BYTES);
    assert_eq!(
        render(&big, &ctx()).map(|t| t.len()),
        Ok(MAX_RENDERED_BYTES)
    );
}

#[test]
fn r_x8_blocks_nested_past_the_limit_are_refused_when_parsed() {
    let nested = |n: usize| format!("{}x{}", "{% if true %}".repeat(n), "{% endif %}".repeat(n));
    assert!(Template::parse(&nested(MAX_BLOCK_DEPTH)).is_ok());
    // Sequential blocks are not nesting.
    assert!(Template::parse(&"{% if true %}x{% endif %}".repeat(500)).is_ok());
    match Template::parse(&nested(MAX_BLOCK_DEPTH + 1)) {
        Err(TemplateError::Syntax(m)) => assert!(m.contains("nested deeper"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A few thousand levels overflowed the stack inside liquid's parser
    // (an abort, not a panic); now it is an error like any other.
    assert!(Template::parse(&nested(5000)).is_err());
}
