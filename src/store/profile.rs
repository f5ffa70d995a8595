//! User profiles: standard and custom attributes, event and purchase
//! counters, engagement history (R-D3), recent sends (R-F1), and the Braze
//! attribute-update semantics of `/users/track` (set, `null` removes,
//! `{"inc":n}`, `{"add":[…]}`, `{"remove":[…]}`).

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use triggerd_core::event::{EventKind, GroupState, SubscriptionChannel, SubscriptionState};
use triggerd_core::freqcap::SentRecord;
use triggerd_core::segment::ProfileView;

/// Attributes with a meaning of their own (API.md); everything else is custom.
pub const STANDARD_ATTRIBUTES: [&str; 12] = [
    "email",
    "phone",
    "time_zone",
    "first_name",
    "last_name",
    "gender",
    "country",
    "language",
    "email_subscribe",
    "push_subscribe",
    "push_tokens",
    "subscription_groups",
];

/// How many recent instants of one event name a profile keeps for
/// `within` segment counts (R-A1). Counts over longer histories than this
/// many occurrences are capped at it.
pub const RECENT_PER_EVENT: usize = 256;
/// How many engagement instants are kept for intelligent timing (R-D3).
pub const ENGAGEMENT_KEPT: usize = 500;
/// How many recent sends are kept for frequency caps (R-F1).
pub const SENT_KEPT: usize = 200;
/// Most distinct event names, and most distinct products, a profile keeps
/// counters for: a new one past it is still processed (it triggers
/// campaigns) but not counted, and a warning is logged. Nothing counted is
/// ever dropped (segments read these counters, R-A1), and a client
/// inventing a name per event (anyone with the SDK key can) cannot grow
/// one profile, rewritten whole on every change, without bound.
pub const NAMES_KEPT: usize = 1_000;
/// Most custom attributes, and most subscription groups, a profile holds:
/// a new one past it is not stored (a warning is logged). Nothing already
/// stored is dropped, so an unsubscription is never lost.
pub const MAX_CUSTOM_ATTRIBUTES: usize = 1_000;
/// Most bytes (as JSON) all custom attributes of a profile take: a change
/// that would take them past it is not stored (a warning is logged).
pub const MAX_CUSTOM_BYTES: usize = 1024 * 1024;
/// Most bytes (as JSON) one custom attribute's value may take; a larger one
/// makes its attributes object invalid (reported by index). Braze's limit
/// for a nested custom attribute.
pub const MAX_ATTRIBUTE_BYTES: usize = 100 * 1024;
/// Longest attribute name, event name, product id or subscription group
/// id, in bytes (Braze's 255 characters for names).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest push token, in bytes.
pub const MAX_PUSH_TOKEN_BYTES: usize = 4096;
/// Most items an array attribute keeps after `{"add":[…]}`, and most push
/// tokens: past it the oldest go first.
pub const ARRAY_ITEMS_KEPT: usize = 500;

/// Counters of one event name or product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStats {
    /// Occurrences ever.
    pub count: u64,
    /// First occurrence.
    pub first: DateTime<Utc>,
    /// Last occurrence.
    pub last: DateTime<Utc>,
    /// The most recent occurrences, oldest first (at most [`RECENT_PER_EVENT`]).
    #[serde(default)]
    pub recent: Vec<DateTime<Utc>>,
}

impl EventStats {
    fn new(t: DateTime<Utc>) -> EventStats {
        EventStats {
            count: 0,
            first: t,
            last: t,
            recent: Vec::new(),
        }
    }

    fn record(&mut self, t: DateTime<Utc>) {
        self.count += 1;
        self.first = self.first.min(t);
        self.last = self.last.max(t);
        let at = self.recent.partition_point(|x| *x <= t);
        self.recent.insert(at, t);
        if self.recent.len() > RECENT_PER_EVENT {
            self.recent.remove(0);
        }
    }
}

/// One user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The user's id.
    pub external_id: String,
    /// Standard attributes (see [`STANDARD_ATTRIBUTES`]).
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Custom attributes.
    #[serde(default)]
    pub custom: Map<String, Value>,
    /// Custom events, plus `purchase` and `session_start`, by name.
    #[serde(default)]
    pub events: BTreeMap<String, EventStats>,
    /// Purchases by product id.
    #[serde(default)]
    pub purchases: BTreeMap<String, EventStats>,
    /// Engagement instants (sessions, opens, clicks), oldest first.
    #[serde(default)]
    pub engagement: Vec<DateTime<Utc>>,
    /// Recent messages sent, oldest first.
    #[serde(default)]
    pub sent: Vec<SentRecord>,
    /// SMS groups an inbound STOP unsubscribed, for START (R-X4).
    #[serde(default)]
    pub sms_stopped_groups: Vec<String>,
    /// Geofences the user is inside (R-P6).
    #[serde(default)]
    pub inside_geofences: Vec<String>,
    /// When the profile was created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Why an attribute object is invalid (reported by index, not applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// `time_zone` is not an IANA zone this binary knows.
    #[error("unknown time_zone {0:?}")]
    UnknownTimeZone(String),
    /// A subscription state outside the allowed values.
    #[error("invalid subscription state {value:?} for {field}")]
    BadSubscriptionState {
        /// The attribute.
        field: String,
        /// The refused value.
        value: String,
    },
    /// A value of the wrong shape for a standard attribute.
    #[error("invalid value for {field}: {reason}")]
    BadValue {
        /// The attribute.
        field: String,
        /// What was expected.
        reason: String,
    },
}

/// An event derived from an attribute change (R-T1, R-T4).
pub type DerivedEvent = EventKind;

fn parse_sub_state(field: &str, v: &Value) -> Result<SubscriptionState, AttributeError> {
    v.as_str()
        .and_then(|s| serde_json::from_value(Value::String(s.to_string())).ok())
        .ok_or_else(|| AttributeError::BadSubscriptionState {
            field: field.to_string(),
            value: v.to_string(),
        })
}

/// Checks an attributes object before anything is applied (API.md: an
/// invalid object is reported and not applied at all).
pub fn validate_attributes(attrs: &Map<String, Value>) -> Result<(), AttributeError> {
    for (k, v) in attrs {
        if k.len() > MAX_NAME_BYTES {
            return Err(AttributeError::BadValue {
                field: format!("{}…", truncate_utf8(k, 32)),
                reason: format!("attribute names are at most {MAX_NAME_BYTES} bytes"),
            });
        }
        match k.as_str() {
            "time_zone" => {
                if let Some(s) = v.as_str() {
                    if chrono_tz::Tz::from_str(s).is_err() {
                        return Err(AttributeError::UnknownTimeZone(s.to_string()));
                    }
                } else if !v.is_null() {
                    return Err(AttributeError::BadValue {
                        field: k.clone(),
                        reason: "expected an IANA time zone name".into(),
                    });
                }
            }
            "email_subscribe" | "push_subscribe" if !v.is_null() => {
                parse_sub_state(k, v)?;
            }
            "email" | "phone" if !(v.is_string() || v.is_null()) => {
                return Err(AttributeError::BadValue {
                    field: k.clone(),
                    reason: "expected a string".into(),
                });
            }
            "email" | "phone" if v.as_str().is_some_and(|s| s.contains('\0')) => {
                return Err(AttributeError::BadValue {
                    field: k.clone(),
                    reason: "contains NUL".into(),
                });
            }
            "subscription_groups" if !v.is_null() => {
                let arr = v.as_array().ok_or_else(|| AttributeError::BadValue {
                    field: k.clone(),
                    reason: "expected an array".into(),
                })?;
                for g in arr {
                    let id = g.get("subscription_group_id").and_then(Value::as_str);
                    let st = g.get("subscription_state").and_then(Value::as_str);
                    match (id, st) {
                        (Some(id), _) if id.len() > MAX_NAME_BYTES => {
                            return Err(AttributeError::BadValue {
                                field: k.clone(),
                                reason: format!(
                                    "subscription_group_id is at most {MAX_NAME_BYTES} bytes"
                                ),
                            });
                        }
                        (Some(id), Some("subscribed" | "unsubscribed")) if !id.is_empty() => {}
                        (_, Some(s)) if s != "subscribed" && s != "unsubscribed" => {
                            return Err(AttributeError::BadSubscriptionState {
                                field: k.clone(),
                                value: s.to_string(),
                            });
                        }
                        _ => {
                            return Err(AttributeError::BadValue {
                                field: k.clone(),
                                reason:
                                    "each entry needs subscription_group_id and subscription_state"
                                        .into(),
                            });
                        }
                    }
                }
            }
            "push_tokens" if !v.is_null() => {
                let ok = v.as_array().is_some_and(|a| {
                    a.iter().all(|t| {
                        t.get("token")
                            .and_then(Value::as_str)
                            .is_some_and(|s| !s.is_empty() && s.len() <= MAX_PUSH_TOKEN_BYTES)
                            && matches!(
                                t.get("platform").and_then(Value::as_str),
                                Some("ios" | "android" | "web")
                            )
                    })
                });
                if !ok {
                    return Err(AttributeError::BadValue {
                        field: k.clone(),
                        reason: format!(
                            "expected [{{\"token\":…,\"platform\":\"ios|android|web\"}}], \
                             tokens of at most {MAX_PUSH_TOKEN_BYTES} bytes"
                        ),
                    });
                }
            }
            name if !STANDARD_ATTRIBUTES.contains(&name) && json_len(v) > MAX_ATTRIBUTE_BYTES => {
                return Err(AttributeError::BadValue {
                    field: k.clone(),
                    reason: format!(
                        "a custom attribute is at most {MAX_ATTRIBUTE_BYTES} bytes as JSON"
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The length of `v` written as compact JSON.
pub fn json_len(v: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, v);
    counter.0
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A JSON whole number (i64 or u64 range).
fn as_integer(v: &Value) -> Option<i128> {
    v.as_i64()
        .map(i128::from)
        .or_else(|| v.as_u64().map(i128::from))
}

/// Applies one Braze attribute operation to an existing value.
fn apply_op(current: Option<&Value>, op: &Value) -> Option<Value> {
    if let Some(obj) = op.as_object()
        && obj.len() == 1
    {
        if let Some(n) = obj.get("inc") {
            let base = current.and_then(Value::as_f64).unwrap_or(0.0);
            let add = n.as_f64().unwrap_or(0.0);
            let current_int = current.map_or(Some(0), as_integer);
            return Some(match current_int.zip(as_integer(n)) {
                // Whole numbers add exactly, in i128 so neither i64 nor u64
                // values overflow; a sum past both ranges becomes a float.
                Some((a, b)) => {
                    let sum = a + b;
                    i64::try_from(sum).map(Value::from).unwrap_or_else(|_| {
                        u64::try_from(sum).map(Value::from).unwrap_or_else(|_| {
                            serde_json::Number::from_f64(sum as f64)
                                .map_or(Value::Null, Value::Number)
                        })
                    })
                }
                None => serde_json::Number::from_f64(base + add).map_or(Value::Null, Value::Number),
            });
        }
        if let Some(Value::Array(items)) = obj.get("add") {
            let mut arr = current
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            arr.extend(items.iter().cloned());
            let excess = arr.len().saturating_sub(ARRAY_ITEMS_KEPT);
            arr.drain(..excess);
            return Some(Value::Array(arr));
        }
        if let Some(Value::Array(items)) = obj.get("remove") {
            let mut arr = current
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            arr.retain(|x| !items.contains(x));
            return Some(Value::Array(arr));
        }
    }
    if op.is_null() { None } else { Some(op.clone()) }
}

/// Counts an occurrence of `name` at `t` in `counters`, keeping at most
/// [`NAMES_KEPT`] names: a new name past it is not counted (answers false).
fn record_named(counters: &mut BTreeMap<String, EventStats>, name: &str, t: DateTime<Utc>) -> bool {
    if let Some(stats) = counters.get_mut(name) {
        stats.record(t);
        return true;
    }
    if counters.len() >= NAMES_KEPT {
        return false;
    }
    let mut stats = EventStats::new(t);
    stats.record(t);
    counters.insert(name.to_string(), stats);
    true
}

impl Profile {
    /// A new empty profile.
    pub fn new(external_id: &str, now: DateTime<Utc>) -> Profile {
        Profile {
            external_id: external_id.to_string(),
            attributes: Map::new(),
            custom: Map::new(),
            events: BTreeMap::new(),
            purchases: BTreeMap::new(),
            engagement: Vec::new(),
            sent: Vec::new(),
            sms_stopped_groups: Vec::new(),
            inside_geofences: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Bytes the custom attributes take as JSON (names and values).
    fn custom_bytes(&self) -> usize {
        self.custom.iter().map(|(k, v)| k.len() + json_len(v)).sum()
    }

    /// The email address, if any.
    pub fn email(&self) -> Option<&str> {
        self.attributes.get("email").and_then(Value::as_str)
    }

    /// The phone number, if any.
    pub fn phone(&self) -> Option<&str> {
        self.attributes.get("phone").and_then(Value::as_str)
    }

    /// The `time_zone` attribute, if any.
    pub fn time_zone(&self) -> Option<&str> {
        self.attributes.get("time_zone").and_then(Value::as_str)
    }

    /// Applies a validated attributes object (R-T7: before the request's
    /// events). Returns the events the changes produce: `email_added`
    /// (R-T4), `custom_attribute_changed`, `subscription_state_changed`,
    /// `subscription_group_changed`.
    pub fn apply_attributes(
        &mut self,
        attrs: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Vec<DerivedEvent> {
        let mut derived = Vec::new();
        let mut custom_bytes: Option<usize> = None;
        for (k, v) in attrs {
            match k.as_str() {
                "external_id" | "user_alias" | "braze_id" | "_update_existing_only" => {}
                "subscription_groups" => self.apply_groups(v, &mut derived),
                "push_tokens" => self.apply_push_tokens(v),
                name if STANDARD_ATTRIBUTES.contains(&name) => {
                    let before = self.attributes.get(name).cloned();
                    match apply_op(before.as_ref(), v) {
                        Some(new) => {
                            self.attributes.insert(name.to_string(), new);
                        }
                        None => {
                            self.attributes.remove(name);
                        }
                    }
                    let after = self.attributes.get(name).cloned();
                    if before == after {
                        continue;
                    }
                    match name {
                        "email" => {
                            let was_absent = before
                                .as_ref()
                                .is_none_or(|b| b.is_null() || b.as_str() == Some(""));
                            let now_set = after
                                .as_ref()
                                .and_then(Value::as_str)
                                .is_some_and(|s| !s.is_empty());
                            if was_absent && now_set {
                                derived.push(EventKind::EmailAdded);
                            }
                        }
                        "email_subscribe" | "push_subscribe" => {
                            if let Some(to) =
                                after.as_ref().and_then(|a| parse_sub_state(name, a).ok())
                            {
                                let channel = if name == "email_subscribe" {
                                    SubscriptionChannel::Email
                                } else {
                                    SubscriptionChannel::Push
                                };
                                derived.push(EventKind::SubscriptionStateChanged { channel, to });
                            }
                        }
                        _ => {}
                    }
                }
                name => {
                    let before = self.custom.get(name).cloned();
                    if before.is_none() && self.custom.len() >= MAX_CUSTOM_ATTRIBUTES {
                        tracing::warn!(
                            user = %self.external_id,
                            attribute = name,
                            "custom attribute not stored: the profile already holds {MAX_CUSTOM_ATTRIBUTES}"
                        );
                        continue;
                    }
                    match apply_op(before.as_ref(), v) {
                        Some(new) => {
                            let old_len = before.as_ref().map_or(0, |b| name.len() + json_len(b));
                            let new_len = name.len() + json_len(&new);
                            // Measured once per call, then kept up to date.
                            let total = custom_bytes.get_or_insert_with(|| self.custom_bytes());
                            if new_len > old_len && *total - old_len + new_len > MAX_CUSTOM_BYTES {
                                tracing::warn!(
                                    user = %self.external_id,
                                    attribute = name,
                                    "custom attribute change not stored: the profile's custom \
                                     attributes would pass {MAX_CUSTOM_BYTES} bytes"
                                );
                                continue;
                            }
                            *total = *total - old_len + new_len;
                            self.custom.insert(name.to_string(), new);
                        }
                        None => {
                            if let (Some(total), Some(b)) = (custom_bytes.as_mut(), before.as_ref())
                            {
                                *total -= name.len() + json_len(b);
                            }
                            self.custom.remove(name);
                        }
                    }
                    let after = self.custom.get(name).cloned();
                    if before != after {
                        derived.push(EventKind::CustomAttributeChanged {
                            attribute: name.to_string(),
                            to: after.unwrap_or(Value::Null),
                        });
                    }
                }
            }
        }
        self.updated_at = now;
        derived
    }

    fn apply_push_tokens(&mut self, v: &Value) {
        let Some(new) = v.as_array() else {
            self.attributes.remove("push_tokens");
            return;
        };
        let mut tokens = self
            .attributes
            .get("push_tokens")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for t in new {
            let tok = t.get("token");
            tokens.retain(|x| x.get("token") != tok);
            tokens.push(t.clone());
        }
        let excess = tokens.len().saturating_sub(ARRAY_ITEMS_KEPT);
        tokens.drain(..excess);
        self.attributes
            .insert("push_tokens".into(), Value::Array(tokens));
    }

    /// Removes a push token the provider reported unregistered.
    pub fn drop_push_token(&mut self, token: &str) {
        if let Some(Value::Array(tokens)) = self.attributes.get_mut("push_tokens") {
            tokens.retain(|t| t.get("token").and_then(Value::as_str) != Some(token));
        }
    }

    /// The state of one subscription group.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.attributes
            .get("subscription_groups")?
            .as_array()?
            .iter()
            .find(|g| g.get("subscription_group_id").and_then(Value::as_str) == Some(group_id))
            .and_then(|g| g.get("subscription_state"))
            .and_then(|s| serde_json::from_value(s.clone()).ok())
    }

    /// Sets one subscription group's state; returns the change event when it changed.
    pub fn set_group(&mut self, group_id: &str, to: GroupState) -> Option<DerivedEvent> {
        if self.group_state(group_id) == Some(to) {
            return None;
        }
        let state = match to {
            GroupState::Subscribed => "subscribed",
            GroupState::Unsubscribed => "unsubscribed",
        };
        let mut groups = self
            .attributes
            .get("subscription_groups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let known = groups.len();
        groups.retain(|g| g.get("subscription_group_id").and_then(Value::as_str) != Some(group_id));
        if groups.len() == known && known >= MAX_CUSTOM_ATTRIBUTES {
            tracing::warn!(
                user = %self.external_id,
                group = group_id,
                "subscription group not stored: the profile already holds {MAX_CUSTOM_ATTRIBUTES}"
            );
            return None;
        }
        groups.push(
            serde_json::json!({"subscription_group_id": group_id, "subscription_state": state}),
        );
        self.attributes
            .insert("subscription_groups".into(), Value::Array(groups));
        Some(EventKind::SubscriptionGroupChanged {
            group_id: group_id.to_string(),
            to,
        })
    }

    /// Groups the user is subscribed to.
    pub fn subscribed_groups(&self) -> Vec<String> {
        self.attributes
            .get("subscription_groups")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|g| {
                        g.get("subscription_state").and_then(Value::as_str) == Some("subscribed")
                    })
                    .filter_map(|g| {
                        g.get("subscription_group_id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn apply_groups(&mut self, v: &Value, derived: &mut Vec<DerivedEvent>) {
        let Some(arr) = v.as_array() else {
            return;
        };
        for g in arr {
            let id = g.get("subscription_group_id").and_then(Value::as_str);
            let st = g
                .get("subscription_state")
                .and_then(|s| serde_json::from_value::<GroupState>(s.clone()).ok());
            if let (Some(id), Some(st)) = (id, st) {
                derived.extend(self.set_group(id, st));
            }
        }
    }

    /// Counts an event (R-A1) and notes engagement (R-D3).
    pub fn record_event(&mut self, event: &triggerd_core::Event) {
        if let Some(name) = event.count_name()
            && !record_named(&mut self.events, name, event.time)
        {
            tracing::warn!(
                user = %self.external_id,
                event = name,
                "event not counted: the profile already counts {NAMES_KEPT} event names"
            );
        }
        if let EventKind::Purchase { product_id } = &event.kind
            && !record_named(&mut self.purchases, product_id, event.time)
        {
            tracing::warn!(
                user = %self.external_id,
                product = %product_id,
                "purchase not counted: the profile already counts {NAMES_KEPT} products"
            );
        }
        if event.is_engagement() {
            let at = self.engagement.partition_point(|x| *x <= event.time);
            self.engagement.insert(at, event.time);
            if self.engagement.len() > ENGAGEMENT_KEPT {
                self.engagement.remove(0);
            }
        }
    }

    /// Engagement instants within 90 days before `t` (R-D3).
    pub fn engagement_before(&self, t: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let since = t - Duration::days(90);
        self.engagement
            .iter()
            .copied()
            .filter(|x| *x >= since && *x <= t)
            .collect()
    }

    /// Notes a message sent (R-F1), keeping a bounded history.
    pub fn record_sent(&mut self, rec: SentRecord) {
        self.sent.push(rec);
        if self.sent.len() > SENT_KEPT {
            self.sent.remove(0);
        }
    }

    /// Standard attributes plus `external_id`, as the template sees them.
    pub fn template_attributes(&self) -> Map<String, Value> {
        let mut m = self.attributes.clone();
        m.insert(
            "external_id".into(),
            Value::String(self.external_id.clone()),
        );
        m
    }
}

impl ProfileView for Profile {
    fn attribute(&self, name: &str) -> Option<&Value> {
        if name == "external_id" {
            return None;
        }
        self.attributes
            .get(name)
            .or_else(|| self.custom.get(name))
            .or_else(|| {
                let (head, rest) = name.split_once('.')?;
                let root = self.custom.get(head)?;
                triggerd_core::filter::lookup(root, rest)
            })
    }

    fn event_count(&self, name: &str, since: Option<DateTime<Utc>>) -> u64 {
        let Some(stats) = self.events.get(name) else {
            return 0;
        };
        match since {
            None => stats.count,
            Some(s) => stats.recent.iter().filter(|t| **t >= s).count() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
            .single()
            .expect("valid")
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn r_t4_email_added_only_from_absent() {
        let mut p = Profile::new("u1", now());
        let ev = p.apply_attributes(&obj(json!({"email":"a@gmail.com"})), now());
        assert_eq!(ev, vec![EventKind::EmailAdded]);
        let ev = p.apply_attributes(&obj(json!({"email":"b@gmail.com"})), now());
        assert!(ev.is_empty(), "changing an email is not adding one");
        p.apply_attributes(&obj(json!({"email":null})), now());
        let ev = p.apply_attributes(&obj(json!({"email":"c@gmail.com"})), now());
        assert_eq!(ev, vec![EventKind::EmailAdded]);
    }

    #[test]
    fn braze_operations_inc_add_remove_null() {
        let mut p = Profile::new("u1", now());
        p.apply_attributes(
            &obj(json!({"visits":{"inc":1},"cart_items":{"add":["a","b"]}})),
            now(),
        );
        p.apply_attributes(
            &obj(json!({"visits":{"inc":2},"cart_items":{"remove":["a"]},"nickname":"x"})),
            now(),
        );
        assert_eq!(p.custom["visits"], json!(3));
        assert_eq!(p.custom["cart_items"], json!(["b"]));
        p.apply_attributes(&obj(json!({"nickname":null})), now());
        assert!(!p.custom.contains_key("nickname"));
    }

    #[test]
    fn event_and_product_names_past_the_limit_are_not_counted_and_none_is_dropped() {
        let mut p = Profile::new("u1", now());
        let at = |minutes: i64| now() + Duration::minutes(minutes);
        let custom = |name: &str, minutes: i64| {
            triggerd_core::Event::new(
                EventKind::CustomEvent { name: name.into() },
                at(minutes),
                triggerd_core::Source::Rest,
            )
        };
        p.record_event(&custom("purchase_like", 0));
        for i in 1..NAMES_KEPT {
            p.record_event(&custom(&format!("n{i}"), i as i64));
        }
        assert_eq!(p.events.len(), NAMES_KEPT);
        // A new name is not counted; the oldest counted one stays (segments
        // read it) and known names still count.
        p.record_event(&custom("fresh", 6_000));
        p.record_event(&custom("purchase_like", 6_001));
        assert_eq!(p.events.len(), NAMES_KEPT);
        assert!(!p.events.contains_key("fresh"));
        assert_eq!(p.events["purchase_like"].count, 2);
        assert_eq!(p.event_count("purchase_like", None), 2);
        for i in 0..=NAMES_KEPT {
            let buy = triggerd_core::Event::new(
                EventKind::Purchase {
                    product_id: format!("sku{i}"),
                },
                at(i as i64),
                triggerd_core::Source::Rest,
            );
            p.record_event(&buy);
        }
        assert_eq!(p.purchases.len(), NAMES_KEPT);
        assert!(p.purchases.contains_key("sku0"));
        assert!(!p.purchases.contains_key(&format!("sku{NAMES_KEPT}")));
    }

    #[test]
    fn custom_attributes_past_the_byte_limit_are_not_stored() {
        let mut p = Profile::new("u1", now());
        let chunk = "x".repeat(MAX_ATTRIBUTE_BYTES - 10);
        for i in 0..20 {
            p.apply_attributes(&obj(json!({ format!("big{i:02}"): chunk })), now());
        }
        let stored = p.custom.len();
        assert!(stored < 20, "{stored}");
        assert!(p.custom_bytes() <= MAX_CUSTOM_BYTES);
        assert_eq!(
            stored,
            MAX_CUSTOM_BYTES / (MAX_ATTRIBUTE_BYTES - 10 + 2 + 5)
        );
        // Shrinking or removing is always stored, and makes room again.
        p.apply_attributes(&obj(json!({"big00": "small", "big01": null})), now());
        assert_eq!(p.custom["big00"], json!("small"));
        p.apply_attributes(&obj(json!({ "again": chunk })), now());
        assert!(p.custom.contains_key("again"));
    }

    #[test]
    fn names_and_values_past_their_limits_make_the_object_invalid() {
        let long = "n".repeat(MAX_NAME_BYTES + 1);
        let fits = "n".repeat(MAX_NAME_BYTES);
        assert!(validate_attributes(&obj(json!({ fits.clone(): 1 }))).is_ok());
        let e = validate_attributes(&obj(json!({ long.clone(): 1 }))).expect_err("long name");
        assert!(e.to_string().contains("at most 255 bytes"), "{e}");
        let big = "v".repeat(MAX_ATTRIBUTE_BYTES);
        let e = validate_attributes(&obj(json!({ "note": big }))).expect_err("big value");
        assert!(e.to_string().contains("note"), "{e}");
        assert!(
            validate_attributes(&obj(json!({ "note": "v".repeat(MAX_ATTRIBUTE_BYTES - 2) })))
                .is_ok()
        );
        let group = json!([{"subscription_group_id": long, "subscription_state": "subscribed"}]);
        assert!(validate_attributes(&obj(json!({ "subscription_groups": group }))).is_err());
        let token = json!([{"token": "t".repeat(MAX_PUSH_TOKEN_BYTES + 1), "platform": "ios"}]);
        assert!(validate_attributes(&obj(json!({ "push_tokens": token }))).is_err());
    }

    #[test]
    fn custom_attributes_and_groups_past_the_limit_are_not_stored_and_none_is_dropped() {
        let mut p = Profile::new("u1", now());
        let mut many = Map::new();
        for i in 0..MAX_CUSTOM_ATTRIBUTES + 5 {
            many.insert(format!("a{i:05}"), json!(i));
        }
        p.apply_attributes(&many, now());
        assert_eq!(p.custom.len(), MAX_CUSTOM_ATTRIBUTES);
        // Stored ones still change and can be removed, which makes room.
        p.apply_attributes(&obj(json!({"a00000": "changed", "a00001": null})), now());
        assert_eq!(p.custom["a00000"], json!("changed"));
        p.apply_attributes(&obj(json!({"b_room": 1, "z_extra": 2})), now());
        assert_eq!(
            p.custom["b_room"],
            json!(1),
            "the removal made room for one"
        );
        assert!(!p.custom.contains_key("z_extra"));

        let group = |id: String, state: &str| json!({"subscription_group_id": id, "subscription_state": state});
        let groups: Vec<Value> = (0..MAX_CUSTOM_ATTRIBUTES + 3)
            .map(|i| group(format!("g{i}"), "unsubscribed"))
            .collect();
        p.apply_attributes(&obj(json!({ "subscription_groups": groups })), now());
        assert_eq!(p.group_state("g0"), Some(GroupState::Unsubscribed));
        assert_eq!(p.group_state(&format!("g{MAX_CUSTOM_ATTRIBUTES}")), None);
        // A stored group still changes state.
        p.apply_attributes(
            &obj(json!({"subscription_groups": [group("g0".into(), "subscribed")]})),
            now(),
        );
        assert_eq!(p.group_state("g0"), Some(GroupState::Subscribed));
    }

    #[test]
    fn arrays_grown_by_add_and_push_tokens_keep_the_newest_items() {
        let mut p = Profile::new("u1", now());
        let items: Vec<usize> = (0..ARRAY_ITEMS_KEPT).collect();
        p.apply_attributes(&obj(json!({"seen": items})), now());
        p.apply_attributes(&obj(json!({"seen": {"add": ["x", "y"]}})), now());
        let seen = p.custom["seen"].as_array().expect("array");
        assert_eq!(seen.len(), ARRAY_ITEMS_KEPT);
        assert_eq!(seen[0], json!(2), "the two oldest went");
        assert_eq!(seen[ARRAY_ITEMS_KEPT - 1], json!("y"));
        let tokens: Vec<Value> = (0..ARRAY_ITEMS_KEPT + 1)
            .map(|i| json!({"app_id": "a", "token": format!("t{i}")}))
            .collect();
        p.apply_attributes(&obj(json!({ "push_tokens": tokens })), now());
        let kept = p.attributes["push_tokens"].as_array().expect("tokens");
        assert_eq!(kept.len(), ARRAY_ITEMS_KEPT);
        assert_eq!(kept[0]["token"], json!("t1"));
    }

    #[test]
    fn inc_never_wraps_around() {
        let mut p = Profile::new("u1", now());
        let step = |p: &mut Profile, attrs: Value| p.apply_attributes(&obj(attrs), now());
        step(
            &mut p,
            json!({"a": i64::MAX, "b": u64::MAX, "c": -5, "d": 1.5, "e": "x"}),
        );
        step(
            &mut p,
            json!({"a":{"inc":1},"b":{"inc":1},"c":{"inc":-3},"d":{"inc":1},"e":{"inc":2}}),
        );
        // i64::MAX + 1 wrapped to i64::MIN; u64::MAX + 1 became 1.
        assert_eq!(p.custom["a"], json!(i64::MAX as u64 + 1));
        assert_eq!(p.custom["b"], json!(u64::MAX as f64 + 1.0));
        assert_eq!(p.custom["c"], json!(-8));
        assert_eq!(p.custom["d"], json!(2.5));
        assert_eq!(p.custom["e"], json!(2.0), "a non-number counts as 0");
        step(&mut p, json!({"a":{"inc":i64::MIN}}));
        assert_eq!(p.custom["a"], json!(0));
    }

    #[test]
    fn custom_changes_and_subscription_events_are_derived() {
        let mut p = Profile::new("u1", now());
        let ev = p.apply_attributes(
            &obj(json!({"tier":"gold","email_subscribe":"unsubscribed",
                "subscription_groups":[{"subscription_group_id":"g","subscription_state":"subscribed"}]})),
            now(),
        );
        assert!(ev.contains(&EventKind::CustomAttributeChanged {
            attribute: "tier".into(),
            to: json!("gold")
        }));
        assert!(ev.contains(&EventKind::SubscriptionStateChanged {
            channel: SubscriptionChannel::Email,
            to: SubscriptionState::Unsubscribed
        }));
        assert!(ev.contains(&EventKind::SubscriptionGroupChanged {
            group_id: "g".into(),
            to: GroupState::Subscribed
        }));
        assert_eq!(p.group_state("g"), Some(GroupState::Subscribed));
        let again = p.apply_attributes(&obj(json!({"tier":"gold"})), now());
        assert!(again.is_empty(), "same value is no change");
    }

    #[test]
    fn invalid_attribute_objects_are_refused() {
        assert!(validate_attributes(&obj(json!({"time_zone":"Mars/Olympus"}))).is_err());
        assert!(validate_attributes(&obj(json!({"email_subscribe":"maybe"}))).is_err());
        assert!(
            validate_attributes(&obj(
                json!({"push_tokens":[{"token":"t","platform":"nokia"}]})
            ))
            .is_err()
        );
        assert!(
            validate_attributes(&obj(
                json!({"time_zone":"Europe/Paris","email_subscribe":"opted_in"})
            ))
            .is_ok()
        );
    }

    #[test]
    fn r_a1_counts_with_within() {
        let mut p = Profile::new("u1", now());
        for h in [1, 2, 30] {
            let e = triggerd_core::Event::new(
                EventKind::CustomEvent {
                    name: "registration".into(),
                },
                now() - Duration::hours(h),
                triggerd_core::Source::Rest,
            );
            p.record_event(&e);
        }
        assert_eq!(p.event_count("registration", None), 3);
        assert_eq!(
            p.event_count("registration", Some(now() - Duration::hours(24))),
            2
        );
        assert_eq!(p.event_count("other", None), 0);
    }
}
