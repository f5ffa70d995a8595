//! Event-count conditions of segment leaves (R-A1):
//! `"count":{"op":"gte","value":1}` or `{"op":"between","value":[1,3]}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validation::{Report, join};

/// A count comparison, written in snake case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountOp {
    /// Exactly `value` events.
    Eq,
    /// Any number but `value`.
    Ne,
    /// More than `value`.
    Gt,
    /// At least `value`.
    Gte,
    /// Fewer than `value`.
    Lt,
    /// At most `value`.
    Lte,
    /// Inclusive range, `"value": [lo, hi]`.
    Between,
}

impl CountOp {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            CountOp::Eq => "eq",
            CountOp::Ne => "ne",
            CountOp::Gt => "gt",
            CountOp::Gte => "gte",
            CountOp::Lt => "lt",
            CountOp::Lte => "lte",
            CountOp::Between => "between",
        }
    }
}

impl fmt::Display for CountOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A count condition as written: a whole number, or `[lo, hi]` for `between`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountCondition {
    /// The comparison.
    pub op: CountOp,
    /// A whole number ≥ 0, or `[lo, hi]` with `lo <= hi` for `between`.
    pub value: Value,
}

/// A checked count condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CountCheck {
    op: CountOp,
    lo: u64,
    hi: u64,
}

impl CountCondition {
    /// Checks the condition; problems go to `report` at `path.value`.
    pub(crate) fn compile(&self, path: &str, report: &mut Report) -> Option<CountCheck> {
        let value_path = join(path, "value");
        let (lo, hi) = if self.op == CountOp::Between {
            let Some([lo, hi]) = self.value.as_array().map(Vec::as_slice) else {
                report.error(&value_path, "between needs a two-element array [lo, hi]");
                return None;
            };
            let (lo, hi) = (
                whole(lo, &value_path, report)?,
                whole(hi, &value_path, report)?,
            );
            if lo > hi {
                report.error(
                    &value_path,
                    format!("between needs lo <= hi, got [{lo}, {hi}]"),
                );
                return None;
            }
            (lo, hi)
        } else {
            let n = whole(&self.value, &value_path, report)?;
            (n, n)
        };
        if self.op == CountOp::Lt && lo == 0 {
            report.warn(&value_path, "a count lt 0 never matches");
        }
        Some(CountCheck {
            op: self.op,
            lo,
            hi,
        })
    }
}

/// A count operand: a whole number ≥ 0.
fn whole(value: &Value, path: &str, report: &mut Report) -> Option<u64> {
    let n = value.as_u64();
    if n.is_none() {
        report.error(
            path,
            format!("a count must be a whole number >= 0, not {value}"),
        );
    }
    n
}

impl CountCheck {
    /// Whether `count` satisfies the condition.
    pub(crate) fn test(self, count: u64) -> bool {
        match self.op {
            CountOp::Eq => count == self.lo,
            CountOp::Ne => count != self.lo,
            CountOp::Gt => count > self.lo,
            CountOp::Gte => count >= self.lo,
            CountOp::Lt => count < self.lo,
            CountOp::Lte => count <= self.lo,
            CountOp::Between => self.lo <= count && count <= self.hi,
        }
    }
}

impl fmt::Display for CountCheck {
    /// `gte 1`, `between [1,3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            CountOp::Between => write!(f, "between [{},{}]", self.lo, self.hi),
            op => write!(f, "{op} {}", self.lo),
        }
    }
}
