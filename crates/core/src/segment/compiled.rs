//! A checked segment tree (R-A1) evaluated against a [`ProfileView`] at an
//! instant, with a readable account of why a profile is not in it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::count::CountCheck;
use super::profile::{ProfileView, resolve_attribute};
use crate::Span;
use crate::filter::CompiledPredicate;

/// A compiled segment, ready to test profiles.
#[derive(Debug, Clone)]
pub struct CompiledSegment {
    root: Node,
}

/// One node of a compiled tree.
#[derive(Debug, Clone)]
pub(super) enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Attribute {
        name: String,
        predicate: CompiledPredicate,
    },
    EventCount {
        event: String,
        check: CountCheck,
        within: Option<Span>,
    },
}

impl CompiledSegment {
    pub(super) fn new(root: Node) -> CompiledSegment {
        CompiledSegment { root }
    }

    /// Whether the profile is in the segment at `now` (`within` counts
    /// events at or after `now - within`).
    pub fn matches(&self, profile: &dyn ProfileView, now: DateTime<Utc>) -> bool {
        self.root.matches(profile, now)
    }

    /// Why the profile is not in the segment, or `None` when it is. Names
    /// the failing leaf and what the profile holds, e.g.
    /// `attribute email ends_with "@gmail.com" failed (value: "a@yahoo.com")`.
    pub fn explain_failure(&self, profile: &dyn ProfileView, now: DateTime<Utc>) -> Option<String> {
        self.root.failure(profile, now)
    }
}

impl fmt::Display for CompiledSegment {
    /// A compact rendering: `all(attribute gender eq "M", not(event purchase count gte 1))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

impl Node {
    fn matches(&self, profile: &dyn ProfileView, now: DateTime<Utc>) -> bool {
        match self {
            Node::All(children) => children.iter().all(|c| c.matches(profile, now)),
            Node::Any(children) => children.iter().any(|c| c.matches(profile, now)),
            Node::Not(child) => !child.matches(profile, now),
            Node::Attribute { name, predicate } => predicate.test(resolve_attribute(profile, name)),
            Node::EventCount { check, .. } => check.test(self.count(profile, now)),
        }
    }

    /// The number of events an event-count leaf sees (0 for other nodes).
    fn count(&self, profile: &dyn ProfileView, now: DateTime<Utc>) -> u64 {
        let Node::EventCount { event, within, .. } = self else {
            return 0;
        };
        // A `within` reaching before the representable past counts all time.
        let since = within.and_then(|w| now.checked_sub_signed(w.to_chrono()));
        profile.event_count(event, since)
    }

    /// What a leaf saw: `value: "M"`, `missing`, `count: 0`.
    fn observed(&self, profile: &dyn ProfileView, now: DateTime<Utc>) -> Option<String> {
        match self {
            Node::Attribute { name, .. } => Some(
                match resolve_attribute(profile, name).filter(|v| !v.is_null()) {
                    Some(value) => format!("value: {}", shorten(value)),
                    None => "missing".to_string(),
                },
            ),
            Node::EventCount { .. } => Some(format!("count: {}", self.count(profile, now))),
            _ => None,
        }
    }

    fn failure(&self, profile: &dyn ProfileView, now: DateTime<Utc>) -> Option<String> {
        match self {
            Node::All(children) => children.iter().find_map(|c| c.failure(profile, now)),
            Node::Any(children) => {
                if children.is_empty() {
                    return Some("any [] is empty and matches no one".to_string());
                }
                let reasons: Option<Vec<String>> =
                    children.iter().map(|c| c.failure(profile, now)).collect();
                reasons.map(|r| format!("none of any matched: {}", r.join("; ")))
            }
            Node::Not(child) => {
                if !child.matches(profile, now) {
                    return None;
                }
                Some(match child.observed(profile, now) {
                    Some(seen) => format!("not({child}) failed: it matched ({seen})"),
                    None => format!("not({child}) failed: it matched"),
                })
            }
            Node::Attribute { .. } | Node::EventCount { .. } => {
                if self.matches(profile, now) {
                    return None;
                }
                let seen = self.observed(profile, now).unwrap_or_default();
                Some(format!("{self} failed ({seen})"))
            }
        }
    }
}

/// A value for a message, cut to a readable length.
fn shorten(value: &Value) -> String {
    const MAX_CHARS: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= MAX_CHARS {
        text
    } else {
        let cut: String = text.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, tag: &str, children: &[Node]| {
            write!(f, "{tag}(")?;
            for (i, child) in children.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{child}")?;
            }
            f.write_str(")")
        };
        match self {
            Node::All(children) => list(f, "all", children),
            Node::Any(children) => list(f, "any", children),
            Node::Not(child) => write!(f, "not({child})"),
            Node::Attribute { name, predicate } => write!(f, "attribute {name} {predicate}"),
            Node::EventCount {
                event,
                check,
                within,
            } => {
                write!(f, "event {event} count {check}")?;
                match within {
                    Some(span) => write!(f, " within {span}"),
                    None => Ok(()),
                }
            }
        }
    }
}
