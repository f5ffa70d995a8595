//! What a template sees at render time (R-X step 8): the profile, its custom
//! attributes, the trigger event's properties, the campaign and the send.
//!
//! The variable layout is documented on [`RenderContext`].
//!
//! Missing variables render as empty text, as Braze does, instead of
//! failing: `liquid` treats an unknown variable as an error, so the context
//! is not a plain `liquid::Object` but a lenient view of the data in which
//! every absent key — at the top level, in an object, past the end of an
//! array, or below an absent or `null` value — reads as `nil`. `nil` renders
//! as "", is `blank` and `empty`, is falsy, and `default` replaces it.
//! Values copied out of the context (`assign`, a `for` loop variable) are
//! plain Liquid values again: a missing key below those is an error.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use liquid_core::model::{
    ArrayView, DisplayCow, KString, KStringCow, ObjectView, ScalarCow, State, Value, ValueView,
};
use serde_json::{Map, Value as Json};

/// Root holding the standard attributes as one object.
pub(crate) const PROFILE: &str = "profile";
/// Root holding the custom attributes.
pub(crate) const CUSTOM_ATTRIBUTE: &str = "custom_attribute";
/// Root holding the trigger event's properties.
pub(crate) const EVENT_PROPERTIES: &str = "event_properties";
/// Root holding the campaign's id and name.
pub(crate) const CAMPAIGN: &str = "campaign";
/// Root holding the send's id and due instant.
pub(crate) const SEND: &str = "send";

/// Braze's Liquid names for standard attributes: (Braze name, profile field).
const BRAZE_ALIASES: &[(&str, &str)] = &[
    ("email_address", "email"),
    ("phone_number", "phone"),
    ("user_id", "external_id"),
    ("city", "home_city"),
    ("date_of_birth", "dob"),
];

/// The campaign a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignRef<'a> {
    /// Campaign id (`campaign.id`, also `campaign.api_id`).
    pub id: &'a str,
    /// Campaign name (`campaign.name`).
    pub name: &'a str,
}

/// The send being rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendRef<'a> {
    /// Send id (`send.id`, also `campaign.dispatch_id`).
    pub id: &'a str,
    /// Due instant (`send.due`, an RFC 3339 string).
    pub due: DateTime<Utc>,
}

/// Every variable a template can read, built once per send by the daemon.
///
/// Layout of the variables:
///
/// | variable | content |
/// |---|---|
/// | `first_name`, `email`, … (top level) | the profile's standard attributes |
/// | `email_address`, `phone_number`, `user_id`, `city`, `date_of_birth` | Braze's names for `email`, `phone`, `external_id`, `home_city`, `dob` (when those exist) |
/// | `profile` | the same standard attributes as one object (`profile["odd name"]`) |
/// | `custom_attribute` | the custom attributes |
/// | `event_properties` | the trigger event's properties |
/// | `campaign` | `{id, api_id, name, dispatch_id}` (`api_id` = `id`, `dispatch_id` = the send id) |
/// | `send` | `{id, due}`, `due` in RFC 3339 (milliseconds when not zero) |
///
/// An absent variable — at the top level, in an object, past the end of an
/// array, below an absent or `null` value — reads as `nil`, as in Braze: it
/// renders as "", is `blank`, and `default` replaces it. Values copied out
/// by `assign` or a `for` loop are plain Liquid values, below which a
/// missing key is a render error.
#[derive(Debug, Clone)]
pub struct RenderContext {
    root: Root,
}

impl RenderContext {
    /// Builds the context of one send.
    ///
    /// `profile_attributes` are the standard attributes (`first_name`,
    /// `email`, `time_zone`, `external_id`, …) and land at the top level;
    /// a key that collides with a reserved root (`profile`,
    /// `custom_attribute`, `event_properties`, `campaign`, `send`) is only
    /// reachable through `profile`. `event_properties` is the trigger
    /// event's `properties` object (`null` when there is none).
    pub fn new(
        profile_attributes: &Map<String, Json>,
        custom_attributes: &Map<String, Json>,
        event_properties: &Json,
        campaign: CampaignRef<'_>,
        send: SendRef<'_>,
    ) -> Self {
        let mut profile = NodeMap::from_json(profile_attributes);
        for (alias, field) in BRAZE_ALIASES {
            if !profile.0.contains_key(*alias)
                && let Some(value) = profile.0.get(*field).cloned()
            {
                profile.0.insert((*alias).to_string(), value);
            }
        }

        let mut top = profile.0.clone();
        top.insert(PROFILE.to_string(), Node::Map(profile));
        top.insert(
            CUSTOM_ATTRIBUTE.to_string(),
            Node::Map(NodeMap::from_json(custom_attributes)),
        );
        top.insert(
            EVENT_PROPERTIES.to_string(),
            Node::from_json(event_properties),
        );
        top.insert(
            CAMPAIGN.to_string(),
            Node::Map(NodeMap::of_strings(&[
                ("id", campaign.id),
                ("api_id", campaign.id),
                ("name", campaign.name),
                ("dispatch_id", send.id),
            ])),
        );
        let due = rfc3339(send.due);
        top.insert(
            SEND.to_string(),
            Node::Map(NodeMap::of_strings(&[("id", send.id), ("due", &due)])),
        );
        RenderContext {
            root: Root(NodeMap(top)),
        }
    }

    /// The globals handed to `liquid`.
    pub(crate) fn globals(&self) -> &dyn ObjectView {
        &self.root
    }
}

/// RFC 3339 in UTC with milliseconds only when they are not zero (API.md).
fn rfc3339(at: DateTime<Utc>) -> String {
    let format = if at.timestamp_subsec_millis() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    at.to_rfc3339_opts(format, true)
}

/// One value of the lenient tree.
#[derive(Debug, Clone)]
enum Node {
    /// A missing key or a JSON `null`: reads as `nil`, and indexing it
    /// gives `nil` again.
    Absent,
    /// A scalar.
    Leaf(Value),
    /// An array whose out-of-range items are absent.
    List(NodeList),
    /// An object whose missing keys are absent.
    Map(NodeMap),
}

static ABSENT: Node = Node::Absent;
static NIL: Value = Value::Nil;
static EMPTY_MAP: NodeMap = NodeMap(BTreeMap::new());

impl Node {
    fn from_json(json: &Json) -> Node {
        match json {
            Json::Null => Node::Absent,
            Json::Bool(b) => Node::Leaf(Value::scalar(*b)),
            Json::Number(n) => n
                .as_i64()
                .map(Value::scalar)
                .or_else(|| n.as_f64().map(Value::scalar))
                .map_or(Node::Absent, Node::Leaf),
            Json::String(s) => Node::Leaf(Value::scalar(s.clone())),
            Json::Array(items) => Node::List(NodeList(items.iter().map(Node::from_json).collect())),
            Json::Object(map) => Node::Map(NodeMap::from_json(map)),
        }
    }

    /// The view that gives this node its Liquid semantics.
    fn view(&self) -> &dyn ValueView {
        match self {
            Node::Absent => &NIL,
            Node::Leaf(value) => value,
            Node::List(list) => list,
            Node::Map(map) => map,
        }
    }
}

impl ValueView for Node {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.view().render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.view().source()
    }
    fn type_name(&self) -> &'static str {
        self.view().type_name()
    }
    fn query_state(&self, state: State) -> bool {
        self.view().query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.view().to_kstr()
    }
    fn to_value(&self) -> Value {
        self.view().to_value()
    }
    fn as_scalar(&self) -> Option<ScalarCow<'_>> {
        self.view().as_scalar()
    }
    fn as_array(&self) -> Option<&dyn ArrayView> {
        self.view().as_array()
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        match self {
            // Lets a path continue below a missing value (`a.b.c` with no
            // `a`); what the path finds there is absent too.
            Node::Absent => Some(&EMPTY_MAP),
            other => other.view().as_object(),
        }
    }
    fn as_state(&self) -> Option<State> {
        self.view().as_state()
    }
    fn is_nil(&self) -> bool {
        self.view().is_nil()
    }
}

/// Displays an owned value (for views that have no borrowed `Value`).
struct OwnedRender(Value);

impl fmt::Display for OwnedRender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.render())
    }
}

/// Displays an owned value as Liquid source.
struct OwnedSource(Value);

impl fmt::Display for OwnedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.source())
    }
}

/// An array of nodes.
#[derive(Debug, Clone, Default)]
struct NodeList(Vec<Node>);

impl NodeList {
    /// Resolves a Liquid index (negative counts from the end).
    fn item(&self, index: i64) -> Option<&Node> {
        let len = i64::try_from(self.0.len()).ok()?;
        let index = if index < 0 { index + len } else { index };
        usize::try_from(index)
            .ok()
            .and_then(|i| <[Node]>::get(&self.0, i))
    }
}

impl ValueView for NodeList {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedRender(self.to_value())))
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedSource(self.to_value())))
    }
    fn type_name(&self) -> &'static str {
        "array"
    }
    fn query_state(&self, state: State) -> bool {
        match state {
            State::Truthy => true,
            State::DefaultValue | State::Empty | State::Blank => self.0.is_empty(),
        }
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_string(self.render().to_string())
    }
    fn to_value(&self) -> Value {
        Value::Array(self.0.iter().map(ValueView::to_value).collect())
    }
    fn as_array(&self) -> Option<&dyn ArrayView> {
        Some(self)
    }
}

impl ArrayView for NodeList {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        i64::try_from(self.0.len()).unwrap_or(i64::MAX)
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.0.iter().map(|n| n as &dyn ValueView))
    }
    fn contains_key(&self, index: i64) -> bool {
        self.item(index).is_some()
    }
    fn get(&self, index: i64) -> Option<&dyn ValueView> {
        Some(self.item(index).unwrap_or(&ABSENT))
    }
}

/// An object of nodes; a missing key reads as absent.
#[derive(Debug, Clone, Default)]
struct NodeMap(BTreeMap<String, Node>);

impl NodeMap {
    fn from_json(map: &Map<String, Json>) -> NodeMap {
        NodeMap(
            map.iter()
                .map(|(k, v)| (k.clone(), Node::from_json(v)))
                .collect(),
        )
    }

    fn of_strings(pairs: &[(&str, &str)]) -> NodeMap {
        NodeMap(
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_string(),
                        Node::Leaf(Value::scalar((*v).to_string())),
                    )
                })
                .collect(),
        )
    }
}

impl ValueView for NodeMap {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedRender(self.to_value())))
    }
    fn source(&self) -> DisplayCow<'_> {
        DisplayCow::Owned(Box::new(OwnedSource(self.to_value())))
    }
    fn type_name(&self) -> &'static str {
        "object"
    }
    fn query_state(&self, state: State) -> bool {
        match state {
            State::Truthy => true,
            State::DefaultValue | State::Empty | State::Blank => self.0.is_empty(),
        }
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        KStringCow::from_string(self.render().to_string())
    }
    fn to_value(&self) -> Value {
        let mut object = liquid_core::Object::new();
        for (k, v) in &self.0 {
            object.insert(KString::from_ref(k), v.to_value());
        }
        Value::Object(object)
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for NodeMap {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        i64::try_from(self.0.len()).unwrap_or(i64::MAX)
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        Box::new(self.0.keys().map(|k| KStringCow::from_ref(k)))
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        Box::new(self.0.values().map(|n| n as &dyn ValueView))
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        Box::new(
            self.0
                .iter()
                .map(|(k, n)| (KStringCow::from_ref(k), n as &dyn ValueView)),
        )
    }
    fn contains_key(&self, index: &str) -> bool {
        self.0.contains_key(index)
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        Some(self.0.get(index).unwrap_or(&ABSENT))
    }
}

/// The globals: a `NodeMap` that claims every key, so that `liquid` looks
/// an unknown variable up here (and finds `nil`) instead of failing.
#[derive(Debug, Clone)]
struct Root(NodeMap);

impl ValueView for Root {
    fn as_debug(&self) -> &dyn fmt::Debug {
        self
    }
    fn render(&self) -> DisplayCow<'_> {
        self.0.render()
    }
    fn source(&self) -> DisplayCow<'_> {
        self.0.source()
    }
    fn type_name(&self) -> &'static str {
        self.0.type_name()
    }
    fn query_state(&self, state: State) -> bool {
        self.0.query_state(state)
    }
    fn to_kstr(&self) -> KStringCow<'_> {
        self.0.to_kstr()
    }
    fn to_value(&self) -> Value {
        self.0.to_value()
    }
    fn as_object(&self) -> Option<&dyn ObjectView> {
        Some(self)
    }
}

impl ObjectView for Root {
    fn as_value(&self) -> &dyn ValueView {
        self
    }
    fn size(&self) -> i64 {
        self.0.size()
    }
    fn keys<'k>(&'k self) -> Box<dyn Iterator<Item = KStringCow<'k>> + 'k> {
        self.0.keys()
    }
    fn values<'k>(&'k self) -> Box<dyn Iterator<Item = &'k dyn ValueView> + 'k> {
        ObjectView::values(&self.0)
    }
    fn iter<'k>(&'k self) -> Box<dyn Iterator<Item = (KStringCow<'k>, &'k dyn ValueView)> + 'k> {
        self.0.iter()
    }
    fn contains_key(&self, _index: &str) -> bool {
        true
    }
    fn get<'s>(&'s self, index: &str) -> Option<&'s dyn ValueView> {
        self.0.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn r_x8_due_prints_milliseconds_only_when_not_zero() {
        let whole = Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(rfc3339(whole), "2026-01-05T09:00:00Z");
        let millis = whole + chrono::Duration::milliseconds(250);
        assert_eq!(rfc3339(millis), "2026-01-05T09:00:00.250Z");
    }

    #[test]
    fn r_x8_aliases_do_not_override_given_names() {
        let profile = json!({"email": "a@x.io", "email_address": "kept@x.io", "phone": "+331"});
        let ctx = RenderContext::new(
            profile.as_object().expect("object"),
            &Map::new(),
            &Json::Null,
            CampaignRef { id: "c", name: "n" },
            SendRef {
                id: "s",
                due: Utc.timestamp_opt(0, 0).single().expect("valid"),
            },
        );
        let globals = ctx.globals();
        let email = globals.get("email_address").expect("lenient").to_kstr();
        assert_eq!(email.as_str(), "kept@x.io");
        let phone = globals.get("phone_number").expect("lenient").to_kstr();
        assert_eq!(phone.as_str(), "+331");
        assert!(globals.get("nothing").expect("lenient").is_nil());
    }
}
