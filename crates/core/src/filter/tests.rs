//! Tests of property filters (R-T3): every operator, kinds, missing values,
//! nested paths, instants across offsets and compile-time reports.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Compiles a filter written as JSON, failing the test on any error.
fn compiled(filter: Value) -> CompiledFilter {
    let raw: PropertyFilter = serde_json::from_value(filter).expect("filter parses");
    let mut report = Report::default();
    let out = raw.compile("f", &mut report);
    assert!(report.is_valid(), "unexpected errors: {report:?}");
    out.expect("compiles")
}

/// Compiles a filter expected to be refused and returns the report.
fn refused(filter: Value) -> Report {
    let raw: PropertyFilter = serde_json::from_value(filter).expect("filter parses");
    let mut report = Report::default();
    assert!(
        raw.compile("triggers[0].property_filters[2]", &mut report)
            .is_none()
    );
    assert!(!report.is_valid());
    report
}

/// Whether `op value` holds for the property `p` set to `actual`.
fn holds(op: &str, value: Value, actual: Value) -> bool {
    compiled(json!({"property": "p", "op": op, "value": value})).matches(&json!({ "p": actual }))
}

#[test]
fn r_t3_between_is_inclusive() {
    let f = compiled(json!({"property":"cart_value","op":"between","value":[100,200]}));
    for (cart, expected) in [
        (json!(100), true),
        (json!(150), true),
        (json!(200), true),
        (json!(100.0), true),
        (json!(99.99), false),
        (json!(200.01), false),
        (json!(0), false),
    ] {
        assert_eq!(
            f.matches(&json!({ "cart_value": cart })),
            expected,
            "cart_value {cart}"
        );
    }
}

#[test]
fn r_t3_eq_and_ne_compare_by_kind() {
    assert!(holds("eq", json!(1), json!(1.0)));
    assert!(holds("eq", json!("M"), json!("M")));
    assert!(!holds("eq", json!("M"), json!("m")));
    assert!(holds("eq", json!(true), json!(true)));
    assert!(!holds("eq", json!(true), json!(false)));
    assert!(holds("eq", json!([1, "a"]), json!([1.0, "a"])));
    assert!(holds("eq", json!({"k": 1}), json!({"k": 1})));
    assert!(holds("ne", json!("M"), json!("F")));
    assert!(!holds("ne", json!(5), json!(5.0)));
}

#[test]
fn r_t3_type_mismatch_is_never_equal_nor_ordered() {
    assert!(!holds("eq", json!(150), json!("150")));
    assert!(holds("ne", json!(150), json!("150")));
    assert!(!holds("eq", json!(true), json!(1)));
    assert!(!holds("gt", json!(100), json!("150")));
    assert!(!holds("lte", json!(100), json!("50")));
    assert!(!holds("between", json!([1, 10]), json!("5")));
    assert!(!holds("in", json!([1, 2]), json!("1")));
    assert!(holds("not_in", json!([1, 2]), json!("1")));
    assert!(!holds("gt", json!(1), json!([5])));
    assert!(!holds("starts_with", json!("1"), json!(123)));
}

#[test]
fn r_t3_ordering_operators_on_numbers_strings_and_times() {
    assert!(holds("gt", json!(100), json!(100.5)));
    assert!(!holds("gt", json!(100), json!(100)));
    assert!(holds("gte", json!(100), json!(100)));
    assert!(holds("lt", json!(100), json!(-3)));
    assert!(!holds("lt", json!(100), json!(100.0)));
    assert!(holds("lte", json!(100), json!(100.0)));
    assert!(holds("gt", json!("apple"), json!("banana")));
    assert!(holds("lt", json!("B"), json!("A")));
    assert!(holds(
        "gt",
        json!("2026-01-05T09:00:00Z"),
        json!("2026-01-05T09:00:01Z")
    ));
    assert!(holds("between", json!(["a", "c"]), json!("b")));
    assert!(holds(
        "between",
        json!(["2026-01-01T00:00:00Z", "2026-01-31T23:59:59Z"]),
        json!("2026-01-15T12:00:00-05:00")
    ));
}

#[test]
fn r_t3_times_compare_as_instants_across_offsets() {
    let paris = json!("2026-01-05T10:00:00+01:00");
    let utc = json!("2026-01-05T09:00:00Z");
    assert!(holds("eq", utc.clone(), paris.clone()));
    assert!(!holds("ne", utc.clone(), paris.clone()));
    assert!(holds("gte", utc.clone(), paris.clone()));
    assert!(holds("lte", utc.clone(), paris.clone()));
    assert!(holds("in", json!(["x", utc.clone()]), paris.clone()));
    assert!(holds("eq", json!("2026-01-05T09:00:00.000Z"), utc.clone()));
    // As plain strings 10:00 > 09:30, but as instants 09:00Z < 09:30Z.
    assert!(holds("lt", json!("2026-01-05T09:30:00Z"), paris.clone()));
    // Only one side is a time: compared as strings, so not equal.
    assert!(!holds("eq", json!("2026-01-05"), utc));
}

#[test]
fn r_t3_in_and_not_in() {
    assert!(holds("in", json!(["US", "FR"]), json!("FR")));
    assert!(!holds("in", json!(["US", "FR"]), json!("DE")));
    assert!(holds("in", json!([1, 2, 3]), json!(2.0)));
    assert!(holds("not_in", json!(["US", "FR"]), json!("DE")));
    assert!(!holds("not_in", json!(["US", "FR"]), json!("US")));
}

#[test]
fn r_t3_contains_is_substring_or_membership() {
    assert!(holds("contains", json!("gmail"), json!("a@gmail.com")));
    assert!(!holds("contains", json!("yahoo"), json!("a@gmail.com")));
    assert!(holds("contains", json!("sku1"), json!(["sku0", "sku1"])));
    assert!(holds("contains", json!(3), json!([1, 2, 3.0])));
    assert!(!holds("contains", json!("sku"), json!(["sku0", "sku1"])));
    assert!(!holds("contains", json!(1), json!("123")));
    assert!(!holds("contains", json!("1"), json!(123)));
}

#[test]
fn r_t3_starts_with_ends_with_are_case_sensitive_string_tests() {
    assert!(holds("starts_with", json!("sku"), json!("sku-42")));
    assert!(!holds("starts_with", json!("SKU"), json!("sku-42")));
    assert!(holds(
        "ends_with",
        json!("@gmail.com"),
        json!("a@gmail.com")
    ));
    assert!(!holds(
        "ends_with",
        json!("@gmail.com"),
        json!("a@yahoo.com")
    ));
    assert!(!holds("ends_with", json!("com"), json!(["x.com"])));
}

#[test]
fn r_t3_matches_searches_with_a_regex() {
    assert!(holds("matches", json!("^sku-\\d+$"), json!("sku-42")));
    assert!(!holds("matches", json!("^sku-\\d+$"), json!("sku-4x")));
    assert!(holds("matches", json!("gmail"), json!("a@gmail.com")));
    assert!(holds("matches", json!("(?i)GMAIL"), json!("a@gmail.com")));
    assert!(!holds("matches", json!("\\d"), json!(5)));
}

#[test]
fn r_t3_exists_and_not_exists() {
    let exists = compiled(json!({"property":"coupon","op":"exists"}));
    let absent = compiled(json!({"property":"coupon","op":"not_exists"}));
    for present in [json!("X"), json!(0), json!(false), json!(""), json!([])] {
        assert!(exists.matches(&json!({ "coupon": present })), "{present}");
        assert!(!absent.matches(&json!({ "coupon": present })), "{present}");
    }
    assert!(!exists.matches(&json!({})));
    assert!(absent.matches(&json!({})));
}

#[test]
fn r_t3_missing_or_null_fails_all_but_not_exists_and_ne() {
    let cases = [
        ("eq", json!(1)),
        ("ne", json!(1)),
        ("gt", json!(1)),
        ("gte", json!(1)),
        ("lt", json!(1)),
        ("lte", json!(1)),
        ("between", json!([1, 2])),
        ("in", json!([1])),
        ("not_in", json!([1])),
        ("contains", json!("a")),
        ("starts_with", json!("a")),
        ("ends_with", json!("a")),
        ("matches", json!("a")),
        ("exists", Value::Null),
        ("not_exists", Value::Null),
    ];
    assert_eq!(cases.len(), 15, "every operator is covered");
    for (op, value) in cases {
        let f = compiled(json!({"property":"p","op":op,"value":value}));
        let expected = op == "ne" || op == "not_exists";
        assert_eq!(
            f.matches(&json!({})),
            expected,
            "{op} on a missing property"
        );
        assert_eq!(f.matches(&json!({"p": null})), expected, "{op} on null");
        assert_eq!(
            f.matches(&json!({"q": 1})),
            expected,
            "{op} on another property"
        );
        assert_eq!(
            f.matches(&json!(null)),
            expected,
            "{op} on no properties at all"
        );
    }
}

#[test]
fn r_t3_dotted_paths_reach_nested_objects() {
    let f = compiled(json!({"property":"cart.total","op":"gte","value":100}));
    assert!(f.matches(&json!({"cart": {"total": 150}})));
    assert!(!f.matches(&json!({"cart": {"total": 50}})));
    assert!(!f.matches(&json!({"cart": 150})));
    assert!(!f.matches(&json!({"cart": {"items": 3}})));
    // A key that itself holds a dot wins over the walk.
    assert!(f.matches(&json!({"cart.total": 120, "cart": {"total": 1}})));
    let deep = compiled(json!({"property":"a.b.c","op":"eq","value":"x"}));
    assert!(deep.matches(&json!({"a": {"b": {"c": "x"}}})));
    assert!(deep.matches(&json!({"a": {"b.c": "x"}})));
    let item = compiled(json!({"property":"items.1.sku","op":"eq","value":"s2"}));
    assert!(item.matches(&json!({"items": [{"sku": "s1"}, {"sku": "s2"}]})));
    assert!(!item.matches(&json!({"items": [{"sku": "s1"}]})));
}

#[test]
fn r_t3_lookup_walks_objects_and_arrays() {
    let root = json!({"a": {"b": [10, {"c": true}]}, "x.y": 1});
    assert_eq!(lookup(&root, "a.b.0"), Some(&json!(10)));
    assert_eq!(lookup(&root, "a.b.1.c"), Some(&json!(true)));
    assert_eq!(lookup(&root, "x.y"), Some(&json!(1)));
    assert_eq!(lookup(&root, "a.b.2"), None);
    assert_eq!(lookup(&root, "a.b.-1"), None);
    assert_eq!(lookup(&root, "a."), None);
    assert_eq!(lookup(&root, ""), None);
}

#[test]
fn r_t3_matches_all_needs_every_filter() {
    let filters = vec![
        compiled(json!({"property":"cart_value","op":"between","value":[100,200]})),
        compiled(json!({"property":"currency","op":"eq","value":"USD"})),
    ];
    assert!(matches_all(
        &filters,
        &json!({"cart_value": 120, "currency": "USD"})
    ));
    assert!(!matches_all(
        &filters,
        &json!({"cart_value": 120, "currency": "EUR"})
    ));
    assert!(matches_all(&[], &json!({})));
    let failing = first_failing(&filters, &json!({"cart_value": 120, "currency": "EUR"}));
    assert_eq!(
        failing.map(ToString::to_string).as_deref(),
        Some("currency eq \"USD\"")
    );
}

#[test]
fn r_t3_invalid_regex_is_reported_with_its_path() {
    let report = refused(json!({"property":"sku","op":"matches","value":"(unclosed"}));
    assert_eq!(report.errors.len(), 1);
    assert_eq!(
        report.errors[0].path,
        "triggers[0].property_filters[2].value"
    );
    assert!(
        report.errors[0].message.starts_with("invalid regex: "),
        "{}",
        report.errors[0].message
    );
    assert!(!report.errors[0].message.contains('\n'));
}

#[test]
fn r_t3_a_definition_holds_at_most_max_regexes() {
    let filters: Vec<PropertyFilter> = (0..=crate::validation::MAX_REGEXES)
        .map(|i| {
            serde_json::from_value(
                json!({"property":"sku","op":"matches","value":format!("^a{i}$")}),
            )
            .expect("filter parses")
        })
        .collect();
    let mut report = Report::default();
    assert!(compile_all(&filters, "triggers[0].property_filters", &mut report).is_none());
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(
        report.errors[0].path,
        format!(
            "triggers[0].property_filters[{}].value",
            crate::validation::MAX_REGEXES
        )
    );
    assert!(
        report.errors[0].message.contains("at most 32"),
        "{report:?}"
    );
    // Up to the limit is fine, and other operators do not count.
    let mut report = Report::default();
    let mut fine = filters[..crate::validation::MAX_REGEXES].to_vec();
    fine.push(serde_json::from_value(json!({"property":"n","op":"gt","value":1})).expect("parses"));
    assert!(compile_all(&fine, "f", &mut report).is_some(), "{report:?}");
}

#[test]
fn r_t3_regex_is_compiled_once_and_reused() {
    let f = compiled(json!({"property":"sku","op":"matches","value":"^a+$"}));
    let copy = f.clone();
    assert!(copy.matches(&json!({"sku": "aaa"})));
    assert_eq!(f.to_string(), "sku matches \"^a+$\"");
    // Compiling is where the pattern is checked: a pattern refused there is
    // never seen at match time, and a huge one is refused by its size limit.
    let report = refused(json!({"property":"sku","op":"matches","value":"\\w{1000}{1000}"}));
    assert!(report.errors[0].message.starts_with("invalid regex: "));
}

#[test]
fn r_t3_operand_shapes_are_checked() {
    let cases = [
        (
            json!({"property":"p","op":"between","value":[1]}),
            "two-element",
        ),
        (
            json!({"property":"p","op":"between","value":5}),
            "two-element",
        ),
        (
            json!({"property":"p","op":"between","value":[200,100]}),
            "lo <= hi",
        ),
        (
            json!({"property":"p","op":"between","value":[1,"z"]}),
            "one kind",
        ),
        (
            json!({"property":"p","op":"between","value":["2026-01-01T00:00:00Z","zz"]}),
            "one kind",
        ),
        (
            json!({"property":"p","op":"between","value":[true,false]}),
            "number",
        ),
        (json!({"property":"p","op":"in","value":"US"}), "array"),
        (
            json!({"property":"p","op":"not_in","value":{"a":1}}),
            "array",
        ),
        (json!({"property":"p","op":"in","value":[1,null]}), "null"),
        (
            json!({"property":"p","op":"gt","value":true}),
            "number, a string",
        ),
        (
            json!({"property":"p","op":"lte","value":[1]}),
            "number, a string",
        ),
        (json!({"property":"p","op":"eq"}), "needs a value"),
        (
            json!({"property":"p","op":"eq","value":null}),
            "needs a value",
        ),
        (
            json!({"property":"p","op":"starts_with","value":1}),
            "string",
        ),
        (
            json!({"property":"p","op":"matches","value":1}),
            "regex string",
        ),
        (json!({"property":"","op":"exists"}), "property name"),
    ];
    for (filter, needle) in cases {
        let report = refused(filter.clone());
        let message = &report.errors[0].message;
        assert!(message.contains(needle), "{filter}: {message}");
    }
    let times = json!({"property":"p","op":"between",
                       "value":["2026-01-02T00:00:00Z","2026-01-02T00:30:00+01:00"]});
    assert!(refused(times).errors[0].message.contains("lo <= hi"));
}

#[test]
fn r_t3_exists_with_a_value_is_a_warning() {
    let raw: PropertyFilter =
        serde_json::from_value(json!({"property":"p","op":"exists","value":false}))
            .expect("parses");
    let mut report = Report::default();
    let f = raw.compile("f", &mut report).expect("compiles");
    assert!(report.is_valid());
    assert_eq!(report.warnings.len(), 1);
    assert_eq!(report.warnings[0].path, "f.value");
    assert!(f.matches(&json!({"p": false})), "the value is ignored");
    let mut report = Report::default();
    let raw: PropertyFilter =
        serde_json::from_value(json!({"property":"p","op":"in","value":[]})).expect("parses");
    assert!(raw.compile("f", &mut report).is_some());
    assert_eq!(report.warnings.len(), 1, "empty in list warns");
}

#[test]
fn r_t3_unknown_operator_or_field_is_a_serde_error() {
    let err =
        serde_json::from_value::<PropertyFilter>(json!({"property":"p","op":"like","value":1}))
            .expect_err("unknown op");
    assert!(err.to_string().contains("unknown variant `like`"), "{err}");
    let err = serde_json::from_value::<PropertyFilter>(json!({"property":"p","op":"eq","vaule":1}))
        .expect_err("typo");
    assert!(err.to_string().contains("unknown field `vaule`"), "{err}");
}

#[test]
fn r_t3_serde_round_trip_keeps_the_wire_format() {
    let text = r#"{"property":"cart_value","op":"between","value":[100,200]}"#;
    let f: PropertyFilter = serde_json::from_str(text).expect("parses");
    assert_eq!(f.op, Op::Between);
    assert_eq!(serde_json::to_string(&f).expect("serializes"), text);
    let e: PropertyFilter =
        serde_json::from_str(r#"{"property":"x","op":"not_exists"}"#).expect("parses");
    assert_eq!(
        serde_json::to_string(&e).expect("serializes"),
        r#"{"property":"x","op":"not_exists"}"#
    );
    let from_toml: PropertyFilter =
        toml::from_str("property = \"sku\"\nop = \"starts_with\"\nvalue = \"a\"").expect("toml");
    assert_eq!(from_toml.value, Some(json!("a")));
}

#[test]
fn r_t3_compile_all_reports_every_bad_filter() {
    let filters: Vec<PropertyFilter> = serde_json::from_value(json!([
        {"property":"a","op":"matches","value":"("},
        {"property":"b","op":"eq","value":1},
        {"property":"c","op":"in","value":2}
    ]))
    .expect("parses");
    let mut report = Report::default();
    assert!(compile_all(&filters, "triggers[0].property_filters", &mut report).is_none());
    let paths: Vec<&str> = report.errors.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "triggers[0].property_filters[0].value",
            "triggers[0].property_filters[2].value"
        ]
    );
    let ok = compile_all(&filters[1..2], "x", &mut Report::default()).expect("valid");
    assert_eq!(ok.len(), 1);
}

/// A finite JSON number: an integer or a float. Integers stay within 2^53
/// so that `f64` is an exact reference (exact order of larger integers is
/// checked in `compare.rs`).
fn number() -> impl Strategy<Value = Value> {
    const EXACT: i64 = 1 << 53;
    prop_oneof![
        (-EXACT..=EXACT).prop_map(Value::from),
        (-1e12f64..1e12).prop_map(Value::from),
        (-50i64..50).prop_map(Value::from),
        (-50i64..50).prop_map(|i| Value::from(i as f64 / 2.0)),
    ]
}

/// A present scalar of any kind, times included.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        number(),
        any::<bool>().prop_map(Value::from),
        "[a-c]{0,3}".prop_map(Value::from),
        (
            0i64..4,
            prop_oneof![Just("Z"), Just("+01:00"), Just("-05:30")]
        )
            .prop_map(|(h, off)| { Value::from(format!("2026-01-05T0{h}:00:00{off}")) }),
    ]
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64().expect("a number")
}

proptest! {
    #[test]
    fn r_t3_prop_between_matches_its_definition(
        x in number(), a in number(), b in number(), pick in 0u8..4,
    ) {
        let (lo, hi) = if as_f64(&a) <= as_f64(&b) { (a, b) } else { (b, a) };
        // Half the cases sit exactly on a bound, where inclusivity matters.
        let x = match pick {
            0 => lo.clone(),
            1 => hi.clone(),
            _ => x,
        };
        let expected = as_f64(&lo) <= as_f64(&x) && as_f64(&x) <= as_f64(&hi);
        prop_assert_eq!(holds("between", json!([lo, hi]), x), expected);
    }

    #[test]
    fn r_t3_prop_gt_and_lte_are_complementary(x in number(), v in number()) {
        prop_assert_ne!(holds("gt", v.clone(), x.clone()), holds("lte", v.clone(), x.clone()));
        prop_assert_ne!(holds("lt", v.clone(), x.clone()), holds("gte", v, x));
    }

    #[test]
    fn r_t3_prop_ne_is_not_eq_on_present_values(x in scalar(), v in scalar()) {
        prop_assert_ne!(holds("eq", v.clone(), x.clone()), holds("ne", v.clone(), x.clone()));
        prop_assert_ne!(holds("in", json!([v.clone()]), x.clone()), holds("not_in", json!([v]), x));
    }
}

#[test]
fn r_t3_toml_datetimes_read_as_iso_strings() {
    let f: PropertyFilter =
        toml::from_str("property = \"t\"\nop = \"between\"\nvalue = [2026-01-05T09:00:00Z, 2026-01-06T00:00:00+01:00]")
            .expect("toml");
    assert_eq!(
        f.value,
        Some(json!(["2026-01-05T09:00:00Z", "2026-01-06T00:00:00+01:00"]))
    );
    let f: PropertyFilter =
        toml::from_str("property = \"t\"\nop = \"gt\"\nvalue = 2026-01-05T09:00:00Z")
            .expect("toml");
    let compiled = f.compile("f", &mut Report::default()).expect("valid");
    assert!(compiled.matches(&json!({"t": "2026-01-05T10:30:00+01:00"})));
}

/// Compiled filters are shared across the daemon's worker threads.
#[test]
fn compiled_filters_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledFilter>();
    shareable::<CompiledPredicate>();
}
