//! User events as the rules see them (SPEC §1, §8): what happened, when, from
//! which source, with which properties. The daemon turns API objects and the
//! events it produces itself (R-P1–R-P6) into these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an event came from (R-T6: in-app campaigns need `sdk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The REST API (`/users/track`, …).
    #[default]
    Rest,
    /// The SDK endpoints (`/sdk/v1/…`).
    Sdk,
    /// Produced by the service itself (receipts, opens, conversions, …).
    Service,
}

impl Source {
    /// The label used in metrics and explain.
    pub const fn as_str(self) -> &'static str {
        match self {
            Source::Rest => "rest",
            Source::Sdk => "sdk",
            Source::Service => "service",
        }
    }
}

/// Messaging channels whose subscription state a user has (R-T1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionChannel {
    /// `email_subscribe`.
    Email,
    /// `push_subscribe`.
    Push,
    /// SMS (subscription groups).
    Sms,
}

/// A channel subscription state (`email_subscribe`, `push_subscribe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    /// Explicitly opted in.
    OptedIn,
    /// Subscribed (the default state of a reachable user).
    Subscribed,
    /// Unsubscribed: not reachable on that channel.
    Unsubscribed,
}

/// A subscription group membership state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// In the group.
    Subscribed,
    /// Out of the group.
    Unsubscribed,
}

/// Geofence transitions (R-P6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// The user entered the fence.
    Enter,
    /// The user left the fence.
    Exit,
}

/// Campaign and canvas interactions (R-T2), produced by the service (§8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Interaction {
    IamView,
    IamClick,
    IamButtonClick,
    EmailClick,
    EmailClickAlias,
    AliasClick,
    EmailOpen,
    EmailOpenMachine,
    EmailOpenOther,
    PushOpen,
    PushButtonClick,
    PushStoryPageClick,
    Conversion,
    EmailReceived,
    SmsReceived,
    SmsShortLinkClick,
    PushReceived,
    WebhookReceived,
    ControlGroupEnrolled,
    ContentCardView,
    ContentCardClick,
    ContentCardDismiss,
}

/// What happened. Each variant is one trigger kind of R-T1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A custom event by name.
    CustomEvent {
        /// The event name (`abandoned_cart`).
        name: String,
    },
    /// A purchase of a product.
    Purchase {
        /// The product id (`sku1`).
        product_id: String,
    },
    /// A session started (SDK) or was posted.
    SessionStart,
    /// The profile's email went from absent to a value (R-T4).
    EmailAdded,
    /// A custom attribute changed value.
    CustomAttributeChanged {
        /// Attribute name.
        attribute: String,
        /// The new value (`null` when removed).
        to: Value,
    },
    /// `email_subscribe` / `push_subscribe` / SMS state changed.
    SubscriptionStateChanged {
        /// Which channel.
        channel: SubscriptionChannel,
        /// The new state.
        to: SubscriptionState,
    },
    /// A subscription group membership changed.
    SubscriptionGroupChanged {
        /// The group id.
        group_id: String,
        /// The new state.
        to: GroupState,
    },
    /// An interaction with a message of a campaign (R-T2).
    CampaignInteraction {
        /// The campaign whose message was interacted with.
        campaign_id: String,
        /// What the user did.
        interaction: Interaction,
        /// In-app or push button id, when any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button_id: Option<String>,
        /// Email link alias, when any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
    },
    /// The user performed the primary conversion event of a campaign (R-P5).
    Conversion {
        /// That campaign.
        campaign_id: String,
    },
    /// A location was logged (R-P6).
    Location,
    /// The user performed the exception event of a campaign (R-E5).
    ExceptionEvent {
        /// The campaign whose pending send was cancelled.
        campaign_id: String,
    },
    /// An interaction with a canvas step (accepted for compatibility).
    CanvasStepInteraction {
        /// The canvas.
        canvas_id: String,
        /// The step, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
        /// What the user did.
        interaction: Interaction,
    },
    /// The user entered or left a geofence (R-P6).
    Geofence {
        /// The fence.
        geofence_id: String,
        /// Enter or exit.
        transition: Transition,
    },
    /// An inbound SMS from the user's phone (R-P3).
    InboundSms {
        /// The message text.
        body: String,
    },
    /// An inbound WhatsApp message (R-P3).
    InboundWhatsapp {
        /// The message text.
        body: String,
    },
}

/// One user event with its instant, source and properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When it happened: its own `time`, else when it was received.
    pub time: DateTime<Utc>,
    /// Where it came from.
    pub source: Source,
    /// Event properties (`{}` when none); purchases also carry `price`,
    /// `currency` and `quantity` here.
    #[serde(default)]
    pub properties: Value,
}

impl Event {
    /// A new event with empty properties.
    pub fn new(kind: EventKind, time: DateTime<Utc>, source: Source) -> Event {
        Event {
            kind,
            time,
            source,
            properties: Value::Object(Default::default()),
        }
    }

    /// Sets the properties.
    pub fn with_properties(mut self, properties: Value) -> Event {
        self.properties = properties;
        self
    }

    /// The name this event is counted under in the profile (R-A1: segment
    /// event-count leaves; `purchase` and `session_start` count too). Only
    /// user actions are counted: custom events, purchases, sessions.
    pub fn count_name(&self) -> Option<&str> {
        match &self.kind {
            EventKind::CustomEvent { name } => Some(name),
            EventKind::Purchase { .. } => Some("purchase"),
            EventKind::SessionStart => Some("session_start"),
            _ => None,
        }
    }

    /// True for the engagement events intelligent timing learns from (R-D3):
    /// sessions, opens and clicks.
    pub fn is_engagement(&self) -> bool {
        match &self.kind {
            EventKind::SessionStart => true,
            EventKind::CampaignInteraction { interaction, .. } => matches!(
                interaction,
                Interaction::EmailOpen
                    | Interaction::EmailOpenOther
                    | Interaction::EmailClick
                    | Interaction::EmailClickAlias
                    | Interaction::AliasClick
                    | Interaction::PushOpen
                    | Interaction::PushButtonClick
                    | Interaction::IamClick
                    | Interaction::IamButtonClick
                    | Interaction::ContentCardClick
                    | Interaction::SmsShortLinkClick
            ),
            _ => false,
        }
    }

    /// The index key this event is looked up under (see [`crate::index`]).
    pub fn key(&self) -> crate::index::EventKey {
        crate::index::EventKey::of(&self.kind)
    }

    /// A short human label for explain lines (`custom_event abandoned_cart`).
    pub fn label(&self) -> String {
        match &self.kind {
            EventKind::CustomEvent { name } => format!("custom_event {name}"),
            EventKind::Purchase { product_id } => format!("purchase {product_id}"),
            EventKind::SessionStart => "session_start".into(),
            EventKind::EmailAdded => "email_added".into(),
            EventKind::CustomAttributeChanged { attribute, .. } => {
                format!("custom_attribute_changed {attribute}")
            }
            EventKind::SubscriptionStateChanged { channel, to } => {
                format!("subscription_state_changed {channel:?} -> {to:?}").to_lowercase()
            }
            EventKind::SubscriptionGroupChanged { group_id, to } => {
                format!("subscription_group_changed {group_id} -> {to:?}").to_lowercase()
            }
            EventKind::CampaignInteraction {
                campaign_id,
                interaction,
                ..
            } => format!(
                "campaign_interaction {} of {campaign_id}",
                serde_json::to_value(interaction)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            EventKind::Conversion { campaign_id } => format!("conversion of {campaign_id}"),
            EventKind::Location => "location".into(),
            EventKind::ExceptionEvent { campaign_id } => {
                format!("exception_event of {campaign_id}")
            }
            EventKind::CanvasStepInteraction { canvas_id, .. } => {
                format!("canvas_step_interaction {canvas_id}")
            }
            EventKind::Geofence {
                geofence_id,
                transition,
            } => format!("geofence {geofence_id} {transition:?}").to_lowercase(),
            EventKind::InboundSms { .. } => "inbound_sms".into(),
            EventKind::InboundWhatsapp { .. } => "inbound_whatsapp".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
            .single()
            .expect("valid")
    }

    #[test]
    fn r_a1_purchases_and_sessions_count_under_their_kind_name() {
        let p = Event::new(
            EventKind::Purchase {
                product_id: "sku".into(),
            },
            t(),
            Source::Rest,
        );
        assert_eq!(p.count_name(), Some("purchase"));
        let s = Event::new(EventKind::SessionStart, t(), Source::Sdk);
        assert_eq!(s.count_name(), Some("session_start"));
        let c = Event::new(
            EventKind::CustomEvent { name: "x".into() },
            t(),
            Source::Rest,
        );
        assert_eq!(c.count_name(), Some("x"));
        assert_eq!(
            Event::new(EventKind::Location, t(), Source::Sdk).count_name(),
            None
        );
    }

    #[test]
    fn r_d3_engagement_is_sessions_opens_and_clicks() {
        let open = EventKind::CampaignInteraction {
            campaign_id: "c".into(),
            interaction: Interaction::EmailOpen,
            button_id: None,
            alias: None,
        };
        assert!(Event::new(open, t(), Source::Service).is_engagement());
        let received = EventKind::CampaignInteraction {
            campaign_id: "c".into(),
            interaction: Interaction::EmailReceived,
            button_id: None,
            alias: None,
        };
        assert!(!Event::new(received, t(), Source::Service).is_engagement());
        assert!(Event::new(EventKind::SessionStart, t(), Source::Sdk).is_engagement());
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = Event::new(
            EventKind::Geofence {
                geofence_id: "paris".into(),
                transition: Transition::Enter,
            },
            t(),
            Source::Sdk,
        );
        let json = serde_json::to_string(&e).expect("serializes");
        let back: Event = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, e);
    }
}
