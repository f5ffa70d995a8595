//! The trigger index: from an event's kind/name to the campaigns that listen
//! to it as a trigger, an exception or a conversion event, so the cost of an
//! event does not grow with unrelated campaigns (issue: "1,000 campaigns
//! listening to other events add nothing measurable").

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::EventKind;

/// The part of an event that decides which campaigns may care about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum EventKey {
    CustomEvent(String),
    Purchase,
    SessionStart,
    EmailAdded,
    AttributeChanged(String),
    SubscriptionState,
    SubscriptionGroup,
    CampaignInteraction(String),
    Conversion(String),
    Location,
    ExceptionEvent(String),
    CanvasStep(String),
    Geofence,
    InboundSms,
    InboundWhatsapp,
}

impl EventKey {
    /// The key an event of this kind is looked up under.
    pub fn of(kind: &EventKind) -> EventKey {
        match kind {
            EventKind::CustomEvent { name } => EventKey::CustomEvent(name.clone()),
            EventKind::Purchase { .. } => EventKey::Purchase,
            EventKind::SessionStart => EventKey::SessionStart,
            EventKind::EmailAdded => EventKey::EmailAdded,
            EventKind::CustomAttributeChanged { attribute, .. } => {
                EventKey::AttributeChanged(attribute.clone())
            }
            EventKind::SubscriptionStateChanged { .. } => EventKey::SubscriptionState,
            EventKind::SubscriptionGroupChanged { .. } => EventKey::SubscriptionGroup,
            EventKind::CampaignInteraction { campaign_id, .. } => {
                EventKey::CampaignInteraction(campaign_id.clone())
            }
            EventKind::Conversion { campaign_id } => EventKey::Conversion(campaign_id.clone()),
            EventKind::Location => EventKey::Location,
            EventKind::ExceptionEvent { campaign_id } => {
                EventKey::ExceptionEvent(campaign_id.clone())
            }
            EventKind::CanvasStepInteraction { canvas_id, .. } => {
                EventKey::CanvasStep(canvas_id.clone())
            }
            EventKind::Geofence { .. } => EventKey::Geofence,
            EventKind::InboundSms { .. } => EventKey::InboundSms,
            EventKind::InboundWhatsapp { .. } => EventKey::InboundWhatsapp,
        }
    }
}

/// Campaign ids by the event keys they listen to.
#[derive(Debug, Clone, Default)]
pub struct TriggerIndex {
    by_key: HashMap<EventKey, Vec<String>>,
}

impl TriggerIndex {
    /// An empty index.
    pub fn new() -> TriggerIndex {
        TriggerIndex::default()
    }

    /// Registers `campaign_id` under each of `keys` (duplicates ignored).
    pub fn insert(&mut self, campaign_id: &str, keys: impl IntoIterator<Item = EventKey>) {
        for key in keys {
            let ids = self.by_key.entry(key).or_default();
            if !ids.iter().any(|id| id == campaign_id) {
                ids.push(campaign_id.to_string());
            }
        }
    }

    /// Removes `campaign_id` from every key.
    pub fn remove(&mut self, campaign_id: &str) {
        self.by_key.retain(|_, ids| {
            ids.retain(|id| id != campaign_id);
            !ids.is_empty()
        });
    }

    /// The campaigns that may care about an event of this kind.
    pub fn candidates(&self, kind: &EventKind) -> &[String] {
        self.by_key
            .get(&EventKey::of(kind))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_found_by_kind_and_name_only() {
        let mut idx = TriggerIndex::new();
        idx.insert(
            "cart",
            [
                EventKey::CustomEvent("abandoned_cart".into()),
                EventKey::Purchase,
            ],
        );
        idx.insert("welcome", [EventKey::CustomEvent("registration".into())]);
        let ev = EventKind::CustomEvent {
            name: "abandoned_cart".into(),
        };
        assert_eq!(idx.candidates(&ev), ["cart".to_string()]);
        let buy = EventKind::Purchase {
            product_id: "x".into(),
        };
        assert_eq!(idx.candidates(&buy), ["cart".to_string()]);
        assert!(idx.candidates(&EventKind::SessionStart).is_empty());
        idx.remove("cart");
        assert!(idx.candidates(&buy).is_empty());
        assert!(idx.candidates(&ev).is_empty());
    }

    #[test]
    fn inserting_twice_lists_once() {
        let mut idx = TriggerIndex::new();
        idx.insert("c", [EventKey::Purchase, EventKey::Purchase]);
        idx.insert("c", [EventKey::Purchase]);
        assert_eq!(
            idx.candidates(&EventKind::Purchase {
                product_id: "p".into()
            })
            .len(),
            1
        );
    }
}
