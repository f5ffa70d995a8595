//! Event matchers for exception events (R-E1, R-E6) and conversion events
//! (R-P5): a small subset of trigger kinds, with optional property filters,
//! an optional `correlate_on` path (exceptions) and a `deadline`
//! (conversions).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Span;
use crate::event::{Event, EventKind};
use crate::filter::{CompiledFilter, PropertyFilter, lookup};
use crate::index::EventKey;
use crate::trigger::compile_filters;
use crate::validation::{Report, join};

/// The kinds an exception or conversion event may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatcherKind {
    /// A purchase (optionally of `product_id`).
    Purchase,
    /// A session start.
    SessionStart,
    /// A custom event by `name`.
    CustomEvent,
    /// Exceptions only: any of this campaign's conversion events (R-E1).
    Conversion,
}

/// An exception or conversion event definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatcherDef {
    /// The kind of event.
    #[serde(rename = "type")]
    pub kind: MatcherKind,
    /// Custom event name (required for `custom_event`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Purchases of this product only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Filters on the event's properties (R-T3 operators).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub property_filters: Vec<PropertyFilter>,
    /// Exceptions only: cancel only pending sends whose trigger event had the
    /// same value at this property path (R-E6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlate_on: Option<String>,
    /// Conversions only: how long after a receipt the event counts (R-P5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Span>,
}

/// Whether a matcher is used as an exception or a conversion event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatcherRole {
    /// An entry of `exceptions`.
    Exception,
    /// An entry of `conversion_events`.
    Conversion,
}

/// A validated matcher with compiled filters.
#[derive(Debug, Clone)]
pub struct CompiledMatcher {
    def: MatcherDef,
    filters: Vec<CompiledFilter>,
}

impl MatcherDef {
    /// Validates the definition for its role and compiles its filters.
    pub fn compile(
        &self,
        role: MatcherRole,
        path: &str,
        report: &mut Report,
    ) -> Option<CompiledMatcher> {
        let errors_before = report.errors.len();
        match self.kind {
            MatcherKind::CustomEvent
                if self.name.as_deref().is_none_or(|n| n.trim().is_empty()) =>
            {
                report.error(join(path, "name"), "custom_event needs a non-empty name");
            }
            MatcherKind::CustomEvent => {}
            _ if self.name.is_some() => {
                report.error(join(path, "name"), "name only applies to custom_event");
            }
            _ => {}
        }
        if self.product_id.is_some() && self.kind != MatcherKind::Purchase {
            report.error(
                join(path, "product_id"),
                "product_id only applies to purchase",
            );
        }
        if !self.property_filters.is_empty()
            && !matches!(self.kind, MatcherKind::Purchase | MatcherKind::CustomEvent)
        {
            report.error(
                join(path, "property_filters"),
                "property_filters only apply to purchase and custom_event",
            );
        }
        match role {
            MatcherRole::Exception => {
                if self.deadline.is_some() {
                    report.error(
                        join(path, "deadline"),
                        "deadline only applies to conversion_events",
                    );
                }
                if let Some(c) = &self.correlate_on
                    && c.trim().is_empty()
                {
                    report.error(
                        join(path, "correlate_on"),
                        "correlate_on must be a property path",
                    );
                }
            }
            MatcherRole::Conversion => {
                if self.kind == MatcherKind::Conversion {
                    report.error(
                        join(path, "type"),
                        "a conversion event must be purchase, session_start or custom_event",
                    );
                }
                if self.correlate_on.is_some() {
                    report.error(
                        join(path, "correlate_on"),
                        "correlate_on only applies to exceptions",
                    );
                }
                match self.deadline {
                    None => report.error(
                        join(path, "deadline"),
                        "a conversion event needs a deadline (e.g. \"3d\")",
                    ),
                    Some(d) if d == Span::ZERO => {
                        report.error(join(path, "deadline"), "deadline must be longer than 0s")
                    }
                    Some(_) => {}
                }
            }
        }
        let filters = compile_filters(
            &self.property_filters,
            &join(path, "property_filters"),
            report,
        );
        (report.errors.len() == errors_before).then(|| CompiledMatcher {
            def: self.clone(),
            filters,
        })
    }

    /// Index keys of the events this matcher listens to (`conversion`
    /// resolves to the campaign's conversion events, so it has none itself).
    pub fn key(&self) -> Option<EventKey> {
        match self.kind {
            MatcherKind::Purchase => Some(EventKey::Purchase),
            MatcherKind::SessionStart => Some(EventKey::SessionStart),
            MatcherKind::CustomEvent => self.name.clone().map(EventKey::CustomEvent),
            MatcherKind::Conversion => None,
        }
    }
}

impl CompiledMatcher {
    /// The definition.
    pub fn definition(&self) -> &MatcherDef {
        &self.def
    }

    /// Does `event` match this matcher's kind, name, product and filters?
    /// (`conversion` matchers are resolved by the campaign, not here: they
    /// never match directly.)
    pub fn matches(&self, event: &Event) -> bool {
        let kind_ok = match (&self.def.kind, &event.kind) {
            (MatcherKind::Purchase, EventKind::Purchase { product_id }) => {
                self.def.product_id.as_ref().is_none_or(|p| p == product_id)
            }
            (MatcherKind::SessionStart, EventKind::SessionStart) => true,
            (MatcherKind::CustomEvent, EventKind::CustomEvent { name }) => {
                self.def.name.as_deref() == Some(name.as_str())
            }
            _ => false,
        };
        kind_ok && crate::filter::matches_all(&self.filters, &event.properties)
    }

    /// R-E6: may this exception event cancel a pending send whose trigger
    /// event had `trigger_properties`? Without `correlate_on`, always. With
    /// it, only when both events carry a value at that path and the values
    /// are equal (a cart id missing on either side correlates with nothing).
    pub fn correlates(&self, exception_properties: &Value, trigger_properties: &Value) -> bool {
        match &self.def.correlate_on {
            None => true,
            Some(path) => match (
                lookup(exception_properties, path),
                lookup(trigger_properties, path),
            ) {
                (Some(a), Some(b)) => !a.is_null() && a == b,
                _ => false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Source;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    fn compile(v: Value, role: MatcherRole) -> (Option<CompiledMatcher>, Report) {
        let def: MatcherDef = serde_json::from_value(v).expect("parses");
        let mut r = Report::default();
        let m = def.compile(role, "exceptions[0]", &mut r);
        (m, r)
    }

    fn purchase(props: Value) -> Event {
        let t = Utc
            .with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
            .single()
            .expect("valid");
        Event::new(
            EventKind::Purchase {
                product_id: "sku".into(),
            },
            t,
            Source::Rest,
        )
        .with_properties(props)
    }

    #[test]
    fn r_e6_correlate_on_cart_id() {
        let (m, _) = compile(
            json!({"type":"purchase","correlate_on":"cart_id"}),
            MatcherRole::Exception,
        );
        let m = m.expect("valid");
        let buy_a = purchase(json!({"cart_id":"A"}));
        assert!(m.matches(&buy_a));
        assert!(m.correlates(&buy_a.properties, &json!({"cart_id":"A"})));
        assert!(!m.correlates(&buy_a.properties, &json!({"cart_id":"B"})));
        assert!(!m.correlates(&buy_a.properties, &json!({})));
        assert!(!m.correlates(&json!({}), &json!({"cart_id":"A"})));
    }

    #[test]
    fn r_e2_without_correlation_every_pending_send_is_cancelled() {
        let (m, _) = compile(json!({"type":"purchase"}), MatcherRole::Exception);
        assert!(
            m.expect("valid")
                .correlates(&json!({}), &json!({"cart_id":"B"}))
        );
    }

    #[test]
    fn r_e6_nested_correlation_path() {
        let (m, _) = compile(
            json!({"type":"custom_event","name":"order","correlate_on":"cart.id"}),
            MatcherRole::Exception,
        );
        let m = m.expect("valid");
        assert!(m.correlates(&json!({"cart":{"id":7}}), &json!({"cart":{"id":7}})));
        assert!(!m.correlates(&json!({"cart":{"id":7}}), &json!({"cart":{"id":8}})));
    }

    #[test]
    fn r_p5_conversion_needs_a_deadline() {
        let (m, r) = compile(json!({"type":"purchase"}), MatcherRole::Conversion);
        assert!(m.is_none());
        assert_eq!(r.errors[0].path, "exceptions[0].deadline");
        let (m, r) = compile(
            json!({"type":"purchase","deadline":"3d"}),
            MatcherRole::Conversion,
        );
        assert!(m.is_some(), "{:?}", r.errors);
    }

    #[test]
    fn r_e1_matcher_shapes_are_checked() {
        let (m, r) = compile(json!({"type":"custom_event"}), MatcherRole::Exception);
        assert!(m.is_none());
        assert_eq!(r.errors[0].message, "custom_event needs a non-empty name");
        let (m, _) = compile(
            json!({"type":"session_start","deadline":"1d"}),
            MatcherRole::Exception,
        );
        assert!(m.is_none());
        assert!(serde_json::from_value::<MatcherDef>(json!({"type":"location"})).is_err());
        assert!(
            serde_json::from_value::<MatcherDef>(json!({"type":"purchase","bogus":1})).is_err()
        );
    }

    #[test]
    fn r_e1_custom_event_exception_with_filters() {
        let (m, _) = compile(
            json!({"type":"custom_event","name":"checkout",
                   "property_filters":[{"property":"total","op":"gt","value":0}]}),
            MatcherRole::Exception,
        );
        let m = m.expect("valid");
        let t = Utc
            .with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
            .single()
            .expect("valid");
        let ev = |total: i64| {
            Event::new(
                EventKind::CustomEvent {
                    name: "checkout".into(),
                },
                t,
                Source::Rest,
            )
            .with_properties(json!({ "total": total }))
        };
        assert!(m.matches(&ev(10)));
        assert!(!m.matches(&ev(0)));
        assert!(!m.matches(&purchase(json!({"total":5}))));
    }
}
