//! Dotted paths into JSON objects (`cart.total`), used by property filters
//! (R-T3) on event properties and by segment attribute leaves (R-A1) on
//! nested custom attributes.

use serde_json::Value;

/// Finds the value at `dotted` under `root`.
///
/// A whole key wins over a dotted walk: with `{"a.b": 1, "a": {"b": 2}}`,
/// `a.b` is `1`. Otherwise the path is split at a dot (the shortest head
/// first) and the walk goes on in the object under that head. A segment made
/// of digits indexes an array (`items.0.price`). A JSON `null` is returned as
/// found; predicates treat it as missing.
pub fn lookup<'a>(root: &'a Value, dotted: &str) -> Option<&'a Value> {
    match root {
        Value::Object(map) => {
            if let Some(found) = map.get(dotted) {
                return Some(found);
            }
            dotted.match_indices('.').find_map(|(at, _)| {
                let child = map.get(&dotted[..at])?;
                lookup(child, &dotted[at + 1..])
            })
        }
        Value::Array(items) => {
            let (head, rest) = match dotted.split_once('.') {
                Some((head, rest)) => (head, Some(rest)),
                None => (dotted, None),
            };
            if head.is_empty() || !head.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let item = items.get(head.parse::<usize>().ok()?)?;
            match rest {
                Some(rest) => lookup(item, rest),
                None => Some(item),
            }
        }
        _ => None,
    }
}
