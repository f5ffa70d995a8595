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

/// How many kinds of [`EventKey`] there are (the tags of [`EventKey::parts`]).
const KINDS: usize = 15;

impl EventKey {
    /// The key as (kind tag, name): the name is the event name, attribute,
    /// campaign or canvas id for the kinds that have one, else `""`.
    pub fn parts(&self) -> (usize, &str) {
        match self {
            EventKey::CustomEvent(name) => (0, name),
            EventKey::Purchase => (1, ""),
            EventKey::SessionStart => (2, ""),
            EventKey::EmailAdded => (3, ""),
            EventKey::AttributeChanged(attribute) => (4, attribute),
            EventKey::SubscriptionState => (5, ""),
            EventKey::SubscriptionGroup => (6, ""),
            EventKey::CampaignInteraction(campaign_id) => (7, campaign_id),
            EventKey::Conversion(campaign_id) => (8, campaign_id),
            EventKey::Location => (9, ""),
            EventKey::ExceptionEvent(campaign_id) => (10, campaign_id),
            EventKey::CanvasStep(canvas_id) => (11, canvas_id),
            EventKey::Geofence => (12, ""),
            EventKey::InboundSms => (13, ""),
            EventKey::InboundWhatsapp => (14, ""),
        }
    }

    /// [`EventKey::parts`] of [`EventKey::of`]`(kind)`, without allocating.
    pub fn parts_of(kind: &EventKind) -> (usize, &str) {
        match kind {
            EventKind::CustomEvent { name } => (0, name),
            EventKind::Purchase { .. } => (1, ""),
            EventKind::SessionStart => (2, ""),
            EventKind::EmailAdded => (3, ""),
            EventKind::CustomAttributeChanged { attribute, .. } => (4, attribute),
            EventKind::SubscriptionStateChanged { .. } => (5, ""),
            EventKind::SubscriptionGroupChanged { .. } => (6, ""),
            EventKind::CampaignInteraction { campaign_id, .. } => (7, campaign_id),
            EventKind::Conversion { campaign_id } => (8, campaign_id),
            EventKind::Location => (9, ""),
            EventKind::ExceptionEvent { campaign_id } => (10, campaign_id),
            EventKind::CanvasStepInteraction { canvas_id, .. } => (11, canvas_id),
            EventKind::Geofence { .. } => (12, ""),
            EventKind::InboundSms { .. } => (13, ""),
            EventKind::InboundWhatsapp { .. } => (14, ""),
        }
    }
}

/// Campaign ids by the event keys they listen to: one map per kind, keyed
/// by the name, so a lookup borrows the event's name and allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct TriggerIndex {
    by_kind: [HashMap<String, Vec<String>>; KINDS],
}

impl TriggerIndex {
    /// An empty index.
    pub fn new() -> TriggerIndex {
        TriggerIndex::default()
    }

    /// Registers `campaign_id` under each of `keys` (duplicates ignored).
    pub fn insert(&mut self, campaign_id: &str, keys: impl IntoIterator<Item = EventKey>) {
        for key in keys {
            let (kind, name) = key.parts();
            let ids = self.by_kind[kind].entry(name.to_string()).or_default();
            if !ids.iter().any(|id| id == campaign_id) {
                ids.push(campaign_id.to_string());
            }
        }
    }

    /// Removes `campaign_id` from every key.
    pub fn remove(&mut self, campaign_id: &str) {
        for names in &mut self.by_kind {
            names.retain(|_, ids| {
                ids.retain(|id| id != campaign_id);
                !ids.is_empty()
            });
        }
    }

    /// The campaigns that may care about an event of this kind.
    pub fn candidates(&self, kind: &EventKind) -> &[String] {
        let (kind, name) = EventKey::parts_of(kind);
        self.by_kind[kind]
            .get(name)
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
    fn parts_of_an_event_are_the_parts_of_its_key() {
        use crate::event::{
            GroupState, Interaction, SubscriptionChannel, SubscriptionState, Transition,
        };
        let kinds = [
            EventKind::CustomEvent { name: "n".into() },
            EventKind::Purchase {
                product_id: "p".into(),
            },
            EventKind::SessionStart,
            EventKind::EmailAdded,
            EventKind::CustomAttributeChanged {
                attribute: "a".into(),
                to: serde_json::json!(1),
            },
            EventKind::SubscriptionStateChanged {
                channel: SubscriptionChannel::Sms,
                to: SubscriptionState::OptedIn,
            },
            EventKind::SubscriptionGroupChanged {
                group_id: "g".into(),
                to: GroupState::Subscribed,
            },
            EventKind::CampaignInteraction {
                campaign_id: "c".into(),
                interaction: Interaction::PushOpen,
                button_id: None,
                alias: None,
            },
            EventKind::Conversion {
                campaign_id: "c".into(),
            },
            EventKind::Location,
            EventKind::ExceptionEvent {
                campaign_id: "c".into(),
            },
            EventKind::CanvasStepInteraction {
                canvas_id: "v".into(),
                step_id: None,
                interaction: Interaction::IamView,
            },
            EventKind::Geofence {
                geofence_id: "f".into(),
                transition: Transition::Enter,
            },
            EventKind::InboundSms { body: "b".into() },
            EventKind::InboundWhatsapp { body: "b".into() },
        ];
        let mut tags = std::collections::BTreeSet::new();
        for kind in &kinds {
            let key = EventKey::of(kind);
            assert_eq!(key.parts(), EventKey::parts_of(kind), "{kind:?}");
            tags.insert(key.parts().0);
        }
        assert_eq!(tags.len(), KINDS, "every kind has its own tag");
        assert!(tags.iter().all(|t| *t < KINDS));
    }

    #[test]
    fn names_do_not_collide_across_kinds() {
        let mut idx = TriggerIndex::new();
        idx.insert("attr", [EventKey::AttributeChanged("x".into())]);
        let ev = EventKind::CustomEvent { name: "x".into() };
        assert!(idx.candidates(&ev).is_empty());
        idx.insert("ev", [EventKey::CustomEvent("x".into())]);
        assert_eq!(idx.candidates(&ev), ["ev".to_string()]);
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
