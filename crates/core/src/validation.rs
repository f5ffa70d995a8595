//! Validation reports: every problem of a definition at once, each with the
//! JSON path where it was found (`delay.duration`, `triggers[0].name`) and a
//! message. Errors make a definition invalid; warnings do not (e.g. R-S2's
//! "no user can receive it").

use serde::{Deserialize, Serialize};

/// One problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Dotted path with array indexes, e.g. `triggers[1].property_filters[0].value`.
    pub path: String,
    /// What is wrong, in a sentence a user can act on.
    pub message: String,
}

/// Errors and warnings collected over a whole definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Problems that make the definition invalid.
    pub errors: Vec<Problem>,
    /// Problems worth telling but that do not stop the definition.
    pub warnings: Vec<Problem>,
    /// Regexes compiled for this definition so far (see
    /// [`MAX_REGEXES`]); not part of the report's text.
    #[serde(skip)]
    pub(crate) regexes: usize,
}

/// Most `matches` filters (regexes) one definition may hold: each compiled
/// regex takes up to a few MiB (its automaton and per-thread match caches),
/// and 2,000 of them in one 119 KB campaign had taken 2.6 GB.
pub const MAX_REGEXES: usize = 32;

impl Report {
    /// Records an error at `path`.
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records a warning at `path`.
    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    /// True when no error was recorded (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Joins a parent path and a field name: `join("delay", "duration")` is
/// `delay.duration`; an empty parent gives the field alone.
pub fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_string()
    } else {
        format!("{parent}.{field}")
    }
}

/// Appends an array index: `index("triggers", 2)` is `triggers[2]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Turns a deserialization failure of the field `key` (whose JSON is
/// `value`) into a problem with the most precise path available, and a
/// message free of serde jargon.
///
/// serde cannot track paths inside internally tagged enums (`triggers[0]`
/// for a bad `interaction`, `delay` for a bad `duration`): when the error
/// lands on an object or array, the offending spot is looked up inside it —
/// the string value an "unknown variant"/"invalid … \"x\"" message quotes,
/// the key an "unknown field" message names, or a "missing field" of a flat
/// object.
pub(crate) fn deserialize_problem(
    key: &str,
    value: &serde_json::Value,
    err: &serde_path_to_error::Error<serde_json::Error>,
) -> Problem {
    use serde_path_to_error::Segment;
    let message = err.inner().to_string();
    let mut path = key.to_string();
    let mut node = Some(value);
    for segment in err.path() {
        match segment {
            Segment::Seq { index: i } => {
                path = index(&path, *i);
                node = node.and_then(|n| n.get(*i));
            }
            Segment::Map { key } => {
                path = join(&path, key);
                node = node.and_then(|n| n.get(key));
            }
            Segment::Enum { .. } => {}
            Segment::Unknown => node = None,
        }
    }
    if let Some(inside) = node.and_then(|n| locate(n, &message)) {
        path.push_str(&inside);
    }
    Problem {
        path,
        message: tidy(&message),
    }
}

/// The path, relative to `node` (`.a[0].b`), of what `message` complains
/// about, when `node` is a container and the spot can be found.
fn locate(node: &serde_json::Value, message: &str) -> Option<String> {
    use serde_json::Value;
    if !(node.is_object() || node.is_array()) {
        return None;
    }
    if let Some(field) = quoted(message, "missing field `", '`') {
        let flat = node
            .as_object()
            .is_some_and(|o| !o.values().any(|v| v.is_object() || v.is_array()));
        return flat.then(|| format!(".{field}"));
    }
    if let Some(field) = quoted(message, "unknown field `", '`') {
        return find(node, &|key, _| key == Some(field.as_str()));
    }
    let text = quoted(message, "unknown variant `", '`').or_else(|| quoted(message, "\"", '"'))?;
    find(node, &|_, v: &Value| v.as_str() == Some(text.as_str()))
}

/// The text between `open` and the next `close` in `message`.
fn quoted(message: &str, open: &str, close: char) -> Option<String> {
    let start = message.find(open)? + open.len();
    let len = message[start..].find(close)?;
    Some(message[start..start + len].to_string())
}

/// Depth-first search for the first entry (key, value) that `hit` accepts;
/// returns its path relative to `node`.
fn find(
    node: &serde_json::Value,
    hit: &dyn Fn(Option<&str>, &serde_json::Value) -> bool,
) -> Option<String> {
    use serde_json::Value;
    match node {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if hit(Some(k), v) {
                Some(format!(".{k}"))
            } else {
                find(v, hit).map(|rest| format!(".{k}{rest}"))
            }
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            if hit(None, v) {
                Some(format!("[{i}]"))
            } else {
                find(v, hit).map(|rest| format!("[{i}]{rest}"))
            }
        }),
        _ => None,
    }
}

/// serde's wording, in the vocabulary of JSON definitions.
fn tidy(message: &str) -> String {
    message
        .replace("unknown variant `", "unknown value `")
        .replace("expected a map", "expected an object")
        .replace("expected a sequence", "expected an array")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compose() {
        assert_eq!(join("", "delay"), "delay");
        assert_eq!(join(&index("triggers", 1), "name"), "triggers[1].name");
    }

    #[test]
    fn warnings_do_not_invalidate() {
        let mut r = Report::default();
        r.warn("window", "short");
        assert!(r.is_valid());
        r.error("delay", "bad");
        assert!(!r.is_valid());
    }
}
