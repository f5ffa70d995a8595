//! Serde for [`Segment`]: one node shape per JSON object, told apart by its
//! key (`all`, `any`, `not`, `attribute`, `event`), with errors that name
//! the node's place in the tree. Works from any self-describing format
//! (JSON, TOML) by reading a `serde_json::Value` first.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::{AttributeLeaf, EventCountLeaf, Segment};
use crate::validation::{index, join};

/// Deeper trees are refused (they are surely a mistake, and recursion must
/// stay bounded).
const MAX_DEPTH: usize = 32;

/// The shapes a node may take, for error messages.
const SHAPES: &str = r#"{"all":[…]}, {"any":[…]}, {"not":{…}}, {"attribute":…,"op":…,"value":…} or {"event":…,"count":{"op":…,"value":…},"within":…}"#;

/// Keys that decide a node's shape.
const TAGS: [&str; 5] = ["all", "any", "not", "attribute", "event"];

impl<'de> Deserialize<'de> for Segment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        from_value(&value, "", 0).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Segment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Segment::All(children) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("all", children)?;
                map.end()
            }
            Segment::Any(children) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("any", children)?;
                map.end()
            }
            Segment::Not(child) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("not", child)?;
                map.end()
            }
            Segment::Attribute(leaf) => leaf.serialize(s),
            Segment::EventCount(leaf) => leaf.serialize(s),
        }
    }
}

/// Reads the node at `path` (relative to the segment root).
fn from_value(value: &Value, path: &str, depth: usize) -> Result<Segment, String> {
    let at = |message: String| {
        if path.is_empty() {
            message
        } else {
            format!("at {path}: {message}")
        }
    };
    if depth > MAX_DEPTH {
        return Err(at(format!("segment nested deeper than {MAX_DEPTH} levels")));
    }
    let Value::Object(map) = value else {
        return Err(at(format!(
            "a segment node must be an object, one of {SHAPES}; found {}",
            kind(value)
        )));
    };
    let tags: Vec<&str> = TAGS.into_iter().filter(|t| map.contains_key(*t)).collect();
    match tags.as_slice() {
        [] => Err(at(format!(
            "unknown segment node with keys [{}]; expected one of {SHAPES}",
            keys(map)
        ))),
        ["attribute"] => AttributeLeaf::deserialize(value)
            .map(Segment::Attribute)
            .map_err(|e| at(format!("attribute leaf: {e}"))),
        ["event"] => EventCountLeaf::deserialize(value)
            .map(Segment::EventCount)
            .map_err(|e| at(format!("event-count leaf: {e}"))),
        [tag] => {
            if map.len() > 1 {
                return Err(at(format!(
                    "a {tag:?} node takes no other key; found [{}]",
                    keys(map)
                )));
            }
            let child_path = join(path, tag);
            let inner = &map[*tag];
            if *tag == "not" {
                return from_value(inner, &child_path, depth + 1)
                    .map(|c| Segment::Not(Box::new(c)));
            }
            let Value::Array(items) = inner else {
                return Err(at(format!(
                    "{tag:?} must be an array of segment nodes, found {}",
                    kind(inner)
                )));
            };
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| from_value(item, &index(&child_path, i), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if *tag == "all" {
                Segment::All(children)
            } else {
                Segment::Any(children)
            })
        }
        several => Err(at(format!(
            "a segment node has exactly one of the keys all, any, not, attribute, event; found {}",
            several.join(", ")
        ))),
    }
}

fn keys(map: &Map<String, Value>) -> String {
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
