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
}

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
