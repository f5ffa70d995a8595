//! The comparison operators shared by property filters (R-T3) and segment
//! attribute leaves (R-A1), with their serde names (`"between"`, `"not_in"`…).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A comparison operator, written in snake case in definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal, by kind (`1` equals `1.0`; instants equal across offsets).
    Eq,
    /// Not equal; also true when the property is missing.
    Ne,
    /// Greater than (numbers, strings or instants).
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Inclusive range `[lo, hi]`, written `"value": [lo, hi]`.
    Between,
    /// Equal to one of the listed values.
    In,
    /// Present and equal to none of the listed values.
    NotIn,
    /// Substring of a string, or member of an array.
    Contains,
    /// String prefix (case-sensitive).
    StartsWith,
    /// String suffix (case-sensitive).
    EndsWith,
    /// Regular expression search in a string (`regex` crate syntax).
    Matches,
    /// Present and not null; takes no value.
    Exists,
    /// Missing or null; takes no value.
    NotExists,
}

impl Op {
    /// The name used in definitions, e.g. `"not_in"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Between => "between",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::Matches => "matches",
            Op::Exists => "exists",
            Op::NotExists => "not_exists",
        }
    }

    /// Whether the operator needs a `value` (all but `exists`/`not_exists`).
    pub fn takes_value(self) -> bool {
        !matches!(self, Op::Exists | Op::NotExists)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
