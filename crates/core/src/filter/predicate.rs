//! A compiled operator and operand (R-T3): the test behind property filters
//! and segment attribute leaves. Compiling checks the operand once and builds
//! the regex once; testing is then allocation-free.
//!
//! Missing values: an absent value and a JSON `null` are both *missing*
//! (Braze removes an attribute set to `null`). A missing value fails every
//! operator but `not_exists` and `ne`.

use std::cmp::Ordering;
use std::fmt;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::compare::{Operand, equal, order};
use super::op::Op;
use crate::validation::{MAX_REGEXES, Report, join};

/// Upper bound on the compiled size of a user-written regex.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Upper bound on each lazy-DFA cache a regex builds while matching (one
/// per thread that matches it; `regex` defaults to 2 MiB).
const REGEX_DFA_LIMIT: usize = 1 << 20;

/// An operator with its checked operand, ready to test values.
#[derive(Debug, Clone)]
pub struct CompiledPredicate {
    check: Check,
}

#[derive(Debug, Clone)]
enum Check {
    Exists,
    NotExists,
    Eq(Operand),
    Ne(Operand),
    Gt(Operand),
    Gte(Operand),
    Lt(Operand),
    Lte(Operand),
    Between(Operand, Operand),
    In(Vec<Operand>),
    NotIn(Vec<Operand>),
    Contains(Operand),
    StartsWith(String),
    EndsWith(String),
    Matches(Regex),
}

impl CompiledPredicate {
    /// Checks `value` for `op` and compiles it. Problems go to `report` at
    /// `path.value` (the path of the filter or leaf itself is `path`);
    /// `None` when an error was recorded.
    ///
    /// `exists`/`not_exists` with a value only earn a warning: the value is
    /// ignored.
    pub fn compile(
        op: Op,
        value: Option<&Value>,
        path: &str,
        report: &mut Report,
    ) -> Option<CompiledPredicate> {
        let value_path = join(path, "value");
        let value = value.filter(|v| !v.is_null());
        if !op.takes_value() {
            if value.is_some() {
                report.warn(
                    &value_path,
                    format!("{op} takes no value; the value is ignored"),
                );
            }
            let check = if op == Op::Exists {
                Check::Exists
            } else {
                Check::NotExists
            };
            return Some(CompiledPredicate { check });
        }
        let Some(value) = value else {
            report.error(
                &value_path,
                format!("{op} needs a value (to test for absence, use exists or not_exists)"),
            );
            return None;
        };
        let check = match op {
            Op::Eq => Check::Eq(Operand::new(value.clone())),
            Op::Ne => Check::Ne(Operand::new(value.clone())),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let operand = orderable(op, value, &value_path, report)?;
                match op {
                    Op::Gt => Check::Gt(operand),
                    Op::Gte => Check::Gte(operand),
                    Op::Lt => Check::Lt(operand),
                    _ => Check::Lte(operand),
                }
            }
            Op::Between => between(value, &value_path, report)?,
            Op::In | Op::NotIn => {
                let items = list(op, value, &value_path, report)?;
                if op == Op::In {
                    Check::In(items)
                } else {
                    Check::NotIn(items)
                }
            }
            Op::Contains => Check::Contains(Operand::new(value.clone())),
            Op::StartsWith | Op::EndsWith => {
                let Some(text) = value.as_str() else {
                    report.error(&value_path, format!("{op} needs a string value"));
                    return None;
                };
                if op == Op::StartsWith {
                    Check::StartsWith(text.to_string())
                } else {
                    Check::EndsWith(text.to_string())
                }
            }
            Op::Matches => Check::Matches(regex(value, &value_path, report)?),
            Op::Exists | Op::NotExists => return None, // handled above
        };
        Some(CompiledPredicate { check })
    }

    /// The operator this predicate tests.
    pub fn op(&self) -> Op {
        match self.check {
            Check::Exists => Op::Exists,
            Check::NotExists => Op::NotExists,
            Check::Eq(_) => Op::Eq,
            Check::Ne(_) => Op::Ne,
            Check::Gt(_) => Op::Gt,
            Check::Gte(_) => Op::Gte,
            Check::Lt(_) => Op::Lt,
            Check::Lte(_) => Op::Lte,
            Check::Between(..) => Op::Between,
            Check::In(_) => Op::In,
            Check::NotIn(_) => Op::NotIn,
            Check::Contains(_) => Op::Contains,
            Check::StartsWith(_) => Op::StartsWith,
            Check::EndsWith(_) => Op::EndsWith,
            Check::Matches(_) => Op::Matches,
        }
    }

    /// Tests a value; `None` and `Some(null)` are missing.
    pub fn test(&self, actual: Option<&Value>) -> bool {
        let Some(actual) = actual.filter(|v| !v.is_null()) else {
            return matches!(self.check, Check::NotExists | Check::Ne(_));
        };
        let ordered = |operand: &Operand, accept: fn(Ordering) -> bool| {
            order(actual, operand).is_some_and(accept)
        };
        match &self.check {
            Check::Exists => true,
            Check::NotExists => false,
            Check::Eq(operand) => equal(actual, operand),
            Check::Ne(operand) => !equal(actual, operand),
            Check::Gt(operand) => ordered(operand, Ordering::is_gt),
            Check::Gte(operand) => ordered(operand, Ordering::is_ge),
            Check::Lt(operand) => ordered(operand, Ordering::is_lt),
            Check::Lte(operand) => ordered(operand, Ordering::is_le),
            Check::Between(lo, hi) => ordered(lo, Ordering::is_ge) && ordered(hi, Ordering::is_le),
            Check::In(items) => items.iter().any(|item| equal(actual, item)),
            Check::NotIn(items) => !items.iter().any(|item| equal(actual, item)),
            Check::Contains(operand) => match (actual, &operand.value) {
                (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
                (Value::Array(members), _) => members.iter().any(|m| equal(m, operand)),
                _ => false,
            },
            Check::StartsWith(prefix) => actual.as_str().is_some_and(|s| s.starts_with(prefix)),
            Check::EndsWith(suffix) => actual.as_str().is_some_and(|s| s.ends_with(suffix)),
            Check::Matches(re) => actual.as_str().is_some_and(|s| re.is_match(s)),
        }
    }
}

impl fmt::Display for CompiledPredicate {
    /// `between [100,200]`, `ends_with "@gmail.com"`, `exists`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op())?;
        match &self.check {
            Check::Exists | Check::NotExists => Ok(()),
            Check::Eq(o)
            | Check::Ne(o)
            | Check::Gt(o)
            | Check::Gte(o)
            | Check::Lt(o)
            | Check::Lte(o)
            | Check::Contains(o) => write!(f, " {}", o.value),
            Check::Between(lo, hi) => write!(f, " [{},{}]", lo.value, hi.value),
            Check::In(items) | Check::NotIn(items) => {
                let shown: Vec<String> = items.iter().map(|i| i.value.to_string()).collect();
                write!(f, " [{}]", shown.join(","))
            }
            Check::StartsWith(s) | Check::EndsWith(s) => write!(f, " {}", Value::from(s.as_str())),
            Check::Matches(re) => write!(f, " {}", Value::from(re.as_str())),
        }
    }
}

/// An operand of gt/gte/lt/lte or a `between` bound: a number or a string
/// (an ISO-8601 time is a string).
fn orderable(op: Op, value: &Value, path: &str, report: &mut Report) -> Option<Operand> {
    if value.is_number() || value.is_string() {
        Some(Operand::new(value.clone()))
    } else {
        report.error(
            path,
            format!("{op} needs a number, a string or an ISO-8601 time, not {value}"),
        );
        None
    }
}

/// `between` needs `[lo, hi]` of one kind with `lo <= hi`.
fn between(value: &Value, path: &str, report: &mut Report) -> Option<Check> {
    let Some([lo, hi]) = value.as_array().map(Vec::as_slice) else {
        report.error(path, "between needs a two-element array [lo, hi]");
        return None;
    };
    let lo = orderable(Op::Between, lo, path, report)?;
    let hi = orderable(Op::Between, hi, path, report)?;
    let same_kind = lo.value.is_number() == hi.value.is_number()
        && lo.instant.is_some() == hi.instant.is_some();
    if !same_kind {
        report.error(
            path,
            "between bounds must be of one kind: two numbers, two strings or two ISO-8601 times",
        );
        return None;
    }
    if order(&lo.value, &hi).is_some_and(Ordering::is_gt) {
        report.error(
            path,
            format!("between needs lo <= hi, got [{}, {}]", lo.value, hi.value),
        );
        return None;
    }
    Some(Check::Between(lo, hi))
}

/// `in`/`not_in` need an array without nulls; an empty one earns a warning.
fn list(op: Op, value: &Value, path: &str, report: &mut Report) -> Option<Vec<Operand>> {
    let Some(items) = value.as_array() else {
        report.error(path, format!("{op} needs an array of values"));
        return None;
    };
    if items.iter().any(Value::is_null) {
        report.error(
            path,
            format!("{op} list holds null, which never matches (use exists or not_exists)"),
        );
        return None;
    }
    if items.is_empty() {
        let effect = if op == Op::In {
            "never matches"
        } else {
            "matches every present value"
        };
        report.warn(path, format!("{op} with an empty list {effect}"));
    }
    Some(items.iter().cloned().map(Operand::new).collect())
}

/// Compiles the pattern of `matches`, once.
fn regex(value: &Value, path: &str, report: &mut Report) -> Option<Regex> {
    let Some(pattern) = value.as_str() else {
        report.error(path, "matches needs a regex string");
        return None;
    };
    if report.regexes >= MAX_REGEXES {
        report.error(
            path,
            format!("at most {MAX_REGEXES} matches filters (regexes) per definition"),
        );
        return None;
    }
    report.regexes += 1;
    match RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .build()
    {
        Ok(re) => Some(re),
        Err(err) => {
            report.error(path, format!("invalid regex: {}", regex_reason(&err)));
            None
        }
    }
}

/// The one-line reason of a regex error (its display spans several lines).
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(|| text.replace('\n', " "), str::to_string)
}
