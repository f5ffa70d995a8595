//! Kind-aware comparison of JSON values (R-T3): numbers compare numerically
//! (integers and floats exactly against each other), strings by code point,
//! booleans only for equality, and two strings that both parse as RFC 3339
//! date-times compare as instants, whatever their offsets. Values of
//! different kinds are not ordered at all.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Number, Value};

/// A value from a definition, with its instant parsed once when it is a
/// date-time string.
#[derive(Debug, Clone)]
pub(crate) struct Operand {
    /// The value as written.
    pub(crate) value: Value,
    /// `Some` when `value` is a string holding an RFC 3339 date-time.
    pub(crate) instant: Option<DateTime<Utc>>,
}

impl Operand {
    /// Wraps a definition value, parsing its instant if it has one.
    pub(crate) fn new(value: Value) -> Operand {
        let instant = value.as_str().and_then(parse_instant);
        Operand { value, instant }
    }
}

/// Parses an RFC 3339 / ISO-8601 date-time with an offset (`Z` or `±hh:mm`).
pub(crate) fn parse_instant(text: &str) -> Option<DateTime<Utc>> {
    // Cheap pre-check: every such date-time starts with `dddd-dd-dd`.
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Orders `actual` against `expected`; `None` when their kinds differ or the
/// kind has no order here (arrays, objects).
pub(crate) fn order(actual: &Value, expected: &Operand) -> Option<Ordering> {
    scalar_order(actual, &expected.value, expected.instant)
}

/// Equality by kind, recursing into arrays and objects.
pub(crate) fn equal(actual: &Value, expected: &Operand) -> bool {
    match (actual, &expected.value) {
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            values_equal(actual, &expected.value)
        }
        _ => order(actual, expected) == Some(Ordering::Equal),
    }
}

/// `scalar_order` with the instant of `b` known in advance (or absent).
fn scalar_order(a: &Value, b: &Value, b_instant: Option<DateTime<Utc>>) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Some(compare_numbers(x, y)),
        (Value::String(x), Value::String(y)) => {
            let both_instants = b_instant.and_then(|yt| parse_instant(x).map(|xt| (xt, yt)));
            Some(match both_instants {
                Some((xt, yt)) => xt.cmp(&yt),
                None => x.as_str().cmp(y.as_str()),
            })
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

/// Structural equality where scalars compare by kind (so `[1]` equals `[1.0]`).
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| values_equal(x, y)))
        }
        (_, Value::String(y)) => scalar_order(a, b, parse_instant(y)) == Some(Ordering::Equal),
        _ => scalar_order(a, b, None) == Some(Ordering::Equal),
    }
}

/// A JSON number as an exact integer or a float.
#[derive(Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

fn as_num(n: &Number) -> Num {
    if let Some(i) = n.as_i64() {
        Num::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Num::Int(i128::from(u))
    } else {
        // serde_json numbers are i64, u64 or finite f64.
        Num::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// Numeric order, exact between integers and floats (no rounding of large
/// integers through `f64`).
pub(crate) fn compare_numbers(a: &Number, b: &Number) -> Ordering {
    match (as_num(a), as_num(b)) {
        (Num::Int(x), Num::Int(y)) => x.cmp(&y),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::Int(x), Num::Float(y)) => int_vs_float(x, y),
        (Num::Float(x), Num::Int(y)) => int_vs_float(y, x).reverse(),
    }
}

/// Orders an integer (|i| < 2^64) against a finite float exactly.
fn int_vs_float(i: i128, f: f64) -> Ordering {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    if f >= TWO_POW_64 {
        return Ordering::Less;
    }
    if f <= -TWO_POW_64 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // |whole| < 2^64, so the cast is exact.
    match i.cmp(&(whole as i128)) {
        Ordering::Equal if f > whole => Ordering::Less,
        Ordering::Equal if f < whole => Ordering::Greater,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    #[test]
    fn r_t3_integers_and_floats_compare_exactly() {
        assert_eq!(
            compare_numbers(&num(json!(1)), &num(json!(1.0))),
            Ordering::Equal
        );
        assert_eq!(
            compare_numbers(&num(json!(2)), &num(json!(1.5))),
            Ordering::Greater
        );
        assert_eq!(
            compare_numbers(&num(json!(-2)), &num(json!(-1.5))),
            Ordering::Less
        );
        assert_eq!(
            compare_numbers(&num(json!(-1.5)), &num(json!(-2))),
            Ordering::Greater
        );
        // 2^53 + 1 is not representable as f64: f64 rounding would call it equal.
        let big = 9_007_199_254_740_993_i64;
        assert_eq!(
            compare_numbers(&num(json!(big)), &num(json!(9_007_199_254_740_992.0))),
            Ordering::Greater
        );
        assert_eq!(
            compare_numbers(&num(json!(u64::MAX)), &num(json!(1e30))),
            Ordering::Less
        );
        assert_eq!(
            compare_numbers(&num(json!(i64::MIN)), &num(json!(-1e30))),
            Ordering::Greater
        );
        assert_eq!(
            compare_numbers(&num(json!(u64::MAX)), &num(json!(-1))),
            Ordering::Greater
        );
    }

    #[test]
    fn r_t3_instants_are_parsed_only_from_full_date_times() {
        assert!(parse_instant("2026-01-05T09:00:00Z").is_some());
        assert!(parse_instant("2026-01-05T10:00:00.250+01:00").is_some());
        assert!(parse_instant("2026-01-05").is_none());
        assert!(parse_instant("2026-01-05T09:00:00").is_none());
        assert!(parse_instant("hello").is_none());
        assert!(parse_instant("20260-01-05T09:00:00Z").is_none());
    }

    #[test]
    fn r_t3_nested_equality_uses_kinds() {
        assert!(values_equal(
            &json!([1, {"a": "x"}]),
            &json!([1.0, {"a": "x"}])
        ));
        assert!(!values_equal(&json!([1, 2]), &json!([1])));
        assert!(!values_equal(&json!({"a": 1}), &json!({"b": 1})));
        assert!(values_equal(
            &json!(["2026-01-05T10:00:00+01:00"]),
            &json!(["2026-01-05T09:00:00Z"])
        ));
    }
}
