//! Reading operands (`value`) of filters and attribute leaves from any
//! format. TOML has a date-time type that serde hands over as
//! `{"$__toml_private_datetime": "…"}`; it is turned back into its ISO-8601
//! string here so `value = 2026-01-05T09:00:00Z` works unquoted.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The key under which the `toml` crate passes its date-times through serde.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

/// `deserialize_with` helper for an optional operand.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.map(normalize))
}

/// Replaces TOML date-time wrappers, at any depth, by their text.
fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1
                && let Some(Value::String(text)) = map.get(TOML_DATETIME_KEY)
            {
                return Value::String(text.clone());
            }
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}
