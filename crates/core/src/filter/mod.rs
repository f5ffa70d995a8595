//! Property filters on event properties (R-T3).
//!
//! A `custom_event` or `purchase` trigger may carry `property_filters`, every
//! one of which must hold on the event's `properties`:
//! `{"property":"cart_value","op":"between","value":[100,200]}`.
//!
//! Semantics, decided here and shared with segment attribute leaves (R-A1):
//! - Dotted paths reach nested objects (`cart.total`, see [`lookup`]).
//! - Kinds: numbers compare numerically (`1` = `1.0`), strings by code point,
//!   booleans for (in)equality only; two strings that both parse as RFC 3339
//!   date-times compare as instants (`…T10:00:00+01:00` = `…T09:00:00Z`).
//!   Values of different kinds never compare: `eq`, `gt`, `in`… are false,
//!   `ne` and `not_in` are true.
//! - Missing: an absent property and a JSON `null` are both missing, and a
//!   missing property fails every operator but `not_exists` and `ne`.
//! - `contains` is a substring test on strings and a membership test on
//!   arrays; `starts_with`, `ends_with` and `matches` apply to strings only
//!   and are case-sensitive (write `(?i)` in a regex to ignore case).
//! - Raw [`PropertyFilter`]s (serde) are compiled once into
//!   [`CompiledFilter`]s: operands are checked and regexes built at compile
//!   time, with problems reported at their path.

mod compare;
mod op;
pub(crate) mod operand;
mod path;
mod predicate;

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use op::Op;
pub use path::lookup;
pub use predicate::CompiledPredicate;

use crate::validation::{Report, index, join};

/// A property filter as written in a campaign definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyFilter {
    /// Property name; dots reach nested objects (`cart.total`).
    pub property: String,
    /// The comparison.
    pub op: Op,
    /// The operand; absent for `exists`/`not_exists`, `[lo, hi]` for `between`,
    /// an array for `in`/`not_in`.
    #[serde(
        default,
        deserialize_with = "operand::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
}

impl PropertyFilter {
    /// Checks the filter and compiles it; problems go to `report` under
    /// `path` (the filter's own path, e.g. `triggers[0].property_filters[1]`).
    /// `None` when an error was recorded.
    pub fn compile(&self, path: &str, report: &mut Report) -> Option<CompiledFilter> {
        if self.property.trim().is_empty() {
            report.error(join(path, "property"), "property name must not be empty");
            return None;
        }
        let predicate = CompiledPredicate::compile(self.op, self.value.as_ref(), path, report)?;
        Some(CompiledFilter {
            property: self.property.clone(),
            predicate,
        })
    }
}

/// Compiles a list of filters found at `path` (each at `path[i]`); `None`
/// when any of them had an error (all of them are checked).
pub fn compile_all(
    filters: &[PropertyFilter],
    path: &str,
    report: &mut Report,
) -> Option<Vec<CompiledFilter>> {
    let compiled: Vec<Option<CompiledFilter>> = filters
        .iter()
        .enumerate()
        .map(|(i, filter)| filter.compile(&index(path, i), report))
        .collect();
    compiled.into_iter().collect()
}

/// A checked property filter, ready to test event properties.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    property: String,
    predicate: CompiledPredicate,
}

impl CompiledFilter {
    /// The (dotted) property name tested.
    pub fn property(&self) -> &str {
        &self.property
    }

    /// The comparison applied to the property.
    pub fn predicate(&self) -> &CompiledPredicate {
        &self.predicate
    }

    /// Whether the event's `properties` satisfy this filter.
    pub fn matches(&self, props: &Value) -> bool {
        self.predicate.test(lookup(props, &self.property))
    }
}

impl fmt::Display for CompiledFilter {
    /// `cart_value between [100,200]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.property, self.predicate)
    }
}

/// Whether every filter holds on `props` (true for no filters).
pub fn matches_all(filters: &[CompiledFilter], props: &Value) -> bool {
    filters.iter().all(|filter| filter.matches(props))
}

/// The first filter that fails on `props`, for explanations
/// (`property_filters_not_met`).
pub fn first_failing<'a>(
    filters: &'a [CompiledFilter],
    props: &Value,
) -> Option<&'a CompiledFilter> {
    filters.iter().find(|filter| !filter.matches(props))
}

#[cfg(test)]
mod tests;
