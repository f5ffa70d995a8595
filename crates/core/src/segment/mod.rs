//! Audience segments (R-A1, R-A2): a filter tree over a user's profile.
//!
//! ```json
//! {"all":[{"attribute":"gender","op":"eq","value":"M"},
//!         {"any":[{"attribute":"email","op":"ends_with","value":"@gmail.com"},
//!                 {"not":{"event":"purchase","count":{"op":"gte","value":1},"within":"30d"}}]}]}
//! ```
//!
//! - `all` holds when every child holds (an empty `all` is true: everyone);
//!   `any` when one child holds (an empty `any` is false: no one, with a
//!   warning at compile time); `not` negates its child.
//! - Attribute leaves use the operators and semantics of property filters
//!   (R-T3, see [`crate::filter`]): a missing or null attribute fails every
//!   operator but `not_exists` and `ne`; dotted names reach nested custom
//!   attribute objects.
//! - Event-count leaves count events by name (`purchase` and `session_start`
//!   included) with `within` counting events in `[now - within, …)`: an
//!   event exactly at `now - within` counts. Without `within`, all events
//!   count.
//! - R-A2: the daemon evaluates the segment on the profile that already
//!   includes the triggering event, so `count gte 1` of the trigger's own
//!   event holds on the first occurrence.
//!
//! Raw [`Segment`]s (serde) are compiled once into [`CompiledSegment`]s
//! (regexes built, counts checked), with problems reported at their path.

mod compiled;
mod count;
mod parse;
mod profile;
pub mod testing;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use compiled::CompiledSegment;
pub use count::{CountCondition, CountOp};
pub use profile::{ProfileView, resolve_attribute};

use crate::Span;
use crate::filter::{CompiledPredicate, Op};
use crate::validation::{Report, index, join};
use compiled::Node;

/// A segment node as written in a definition.
///
/// Serde reads exactly one of the shapes `{"all":[…]}`, `{"any":[…]}`,
/// `{"not":…}`, an [`AttributeLeaf`] or an [`EventCountLeaf`], and refuses
/// anything else with a message naming the node's place in the tree
/// (`at all[1].not: …`).
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Every child holds (true when empty).
    All(Vec<Segment>),
    /// At least one child holds (false when empty).
    Any(Vec<Segment>),
    /// The child does not hold.
    Not(Box<Segment>),
    /// A test on one attribute.
    Attribute(AttributeLeaf),
    /// A test on how many times an event happened.
    EventCount(EventCountLeaf),
}

/// `{"attribute":"gender","op":"eq","value":"M"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeLeaf {
    /// Standard or custom attribute name; dots reach nested objects.
    pub attribute: String,
    /// The comparison (same operators as property filters).
    pub op: Op,
    /// The operand; absent for `exists`/`not_exists`.
    #[serde(
        default,
        deserialize_with = "crate::filter::operand::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
}

/// `{"event":"registration","count":{"op":"gte","value":1},"within":"30d"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventCountLeaf {
    /// Event name (`purchase` and `session_start` included).
    pub event: String,
    /// The condition on the number of events.
    pub count: CountCondition,
    /// Only count events in the last `within` (inclusive); all time if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Span>,
}

impl Segment {
    /// Checks the tree and compiles it; problems go to `report` under `path`
    /// (the node's own path, e.g. `audience.segment`; children are at
    /// `path.all[i]`, `path.not`, leaf operands at `….value`). Every problem
    /// of the tree is reported; `None` when any was an error.
    pub fn compile(&self, path: &str, report: &mut Report) -> Option<CompiledSegment> {
        compile_node(self, path, report).map(CompiledSegment::new)
    }
}

fn compile_node(segment: &Segment, path: &str, report: &mut Report) -> Option<Node> {
    match segment {
        Segment::All(children) => {
            compile_children(children, &join(path, "all"), report).map(Node::All)
        }
        Segment::Any(children) => {
            if children.is_empty() {
                report.warn(join(path, "any"), "an empty any matches no one");
            }
            compile_children(children, &join(path, "any"), report).map(Node::Any)
        }
        Segment::Not(child) => {
            compile_node(child, &join(path, "not"), report).map(|node| Node::Not(Box::new(node)))
        }
        Segment::Attribute(leaf) => {
            let named = non_empty(
                &leaf.attribute,
                &join(path, "attribute"),
                "attribute",
                report,
            );
            let predicate = CompiledPredicate::compile(leaf.op, leaf.value.as_ref(), path, report);
            Some(Node::Attribute {
                name: named?.to_string(),
                predicate: predicate?,
            })
        }
        Segment::EventCount(leaf) => {
            let named = non_empty(&leaf.event, &join(path, "event"), "event", report);
            let check = leaf.count.compile(&join(path, "count"), report);
            if leaf.within == Some(Span::ZERO) {
                report.warn(
                    join(path, "within"),
                    "within 0s only counts events at the very instant of evaluation",
                );
            }
            Some(Node::EventCount {
                event: named?.to_string(),
                check: check?,
                within: leaf.within,
            })
        }
    }
}

/// Compiles every child (so every problem is reported) at `path[i]`.
fn compile_children(children: &[Segment], path: &str, report: &mut Report) -> Option<Vec<Node>> {
    let nodes: Vec<Option<Node>> = children
        .iter()
        .enumerate()
        .map(|(i, child)| compile_node(child, &index(path, i), report))
        .collect();
    nodes.into_iter().collect()
}

fn non_empty<'a>(name: &'a str, path: &str, what: &str, report: &mut Report) -> Option<&'a str> {
    if name.trim().is_empty() {
        report.error(path, format!("{what} name must not be empty"));
        None
    } else {
        Some(name)
    }
}

#[cfg(test)]
mod tests;
