//! An in-memory [`ProfileView`] for tests and previews: a map of attributes
//! and a list of timed events. Not a store: nothing is indexed, counting
//! scans the list.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::ProfileView;

/// A profile held in memory (test and preview helper).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryProfile {
    /// Standard and custom attributes by name.
    pub attributes: Map<String, Value>,
    /// Events by name and instant, in any order (`purchase` and
    /// `session_start` included).
    pub events: Vec<(String, DateTime<Utc>)>,
}

impl MemoryProfile {
    /// An empty profile.
    pub fn new() -> MemoryProfile {
        MemoryProfile::default()
    }

    /// Builder form of [`MemoryProfile::set_attribute`].
    pub fn with_attribute(mut self, name: impl Into<String>, value: Value) -> MemoryProfile {
        self.set_attribute(name, value);
        self
    }

    /// Builder form of [`MemoryProfile::record_event`].
    pub fn with_event(mut self, name: impl Into<String>, at: DateTime<Utc>) -> MemoryProfile {
        self.record_event(name, at);
        self
    }

    /// Sets an attribute; `null` removes it, as in `/users/track`.
    pub fn set_attribute(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        if value.is_null() {
            self.attributes.remove(&name);
        } else {
            self.attributes.insert(name, value);
        }
    }

    /// Records one event performed at `at`.
    pub fn record_event(&mut self, name: impl Into<String>, at: DateTime<Utc>) {
        self.events.push((name.into(), at));
    }
}

impl ProfileView for MemoryProfile {
    fn attribute(&self, name: &str) -> Option<&Value> {
        self.attributes.get(name)
    }

    fn event_count(&self, name: &str, since: Option<DateTime<Utc>>) -> u64 {
        let counted = self
            .events
            .iter()
            .filter(|(event, at)| event == name && since.is_none_or(|since| *at >= since))
            .count();
        u64::try_from(counted).unwrap_or(u64::MAX)
    }
}
