//! The profile as segments see it (R-A1): attributes by name and event
//! counts by name, behind a trait so the daemon can back it with its store.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::filter::lookup;

/// Read access to one user's profile for segment evaluation.
///
/// Standard attributes (`email`, `phone`, `time_zone`, `first_name`,
/// `gender`, `country`, `language`, `email_subscribe`, `push_subscribe`…)
/// and custom ones share one namespace. Purchases are counted under the
/// event name `purchase` and sessions under `session_start`.
pub trait ProfileView {
    /// The attribute called `name` (no dot handling here; see
    /// [`resolve_attribute`]). A removed attribute is `None` (a JSON `null`
    /// is treated as missing too).
    fn attribute(&self, name: &str) -> Option<&Value>;

    /// How many events called `name` the user performed at or after `since`
    /// (inclusive), or ever when `since` is `None`. There is no upper bound:
    /// the triggering event counts even when its time is slightly ahead of
    /// the evaluation instant (R-A2).
    fn event_count(&self, name: &str, since: Option<DateTime<Utc>>) -> u64;
}

/// Finds an attribute by a possibly dotted name: the whole name first, else
/// the attribute named by a prefix (shortest first) and the rest of the name
/// looked up inside it (`address.city` reaches `{"address":{"city":…}}`).
pub fn resolve_attribute<'a>(profile: &'a dyn ProfileView, name: &str) -> Option<&'a Value> {
    if let Some(found) = profile.attribute(name) {
        return Some(found);
    }
    name.match_indices('.').find_map(|(at, _)| {
        let root = profile.attribute(&name[..at])?;
        lookup(root, &name[at + 1..])
    })
}
