//! Triggers (R-T1–R-T3, R-T6): what kind of event starts a campaign, and
//! whether a given event matches.
//!
//! A [`Trigger`] is the definition as written in a campaign file; compiling
//! it ([`Trigger::compile`]) validates it and compiles its property filters
//! (regexes once), giving a [`CompiledTrigger`] that matches events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{
    Event, EventKind, GroupState, Interaction, SubscriptionChannel, SubscriptionState, Transition,
};
use crate::filter::{CompiledFilter, CompiledPredicate, Op, PropertyFilter};
use crate::index::EventKey;
use crate::validation::{Report, index, join};

/// One trigger of a campaign (R-T1), tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// A purchase, optionally of one product, with optional property filters (R-T3).
    Purchase {
        /// Only this product, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        product_id: Option<String>,
        /// Filters on the purchase's properties.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        property_filters: Vec<PropertyFilter>,
    },
    /// A session start.
    SessionStart {},
    /// A custom event by name, with optional property filters (R-T3).
    CustomEvent {
        /// The event name.
        name: String,
        /// Filters on the event's properties.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        property_filters: Vec<PropertyFilter>,
    },
    /// Performing the primary conversion event of a campaign (R-P5).
    Conversion {
        /// That campaign.
        campaign_id: String,
    },
    /// An email added to a profile that had none (R-T4).
    EmailAdded {},
    /// A custom attribute changed, optionally to a given value.
    CustomAttributeChanged {
        /// The attribute.
        attribute: String,
        /// Only when it changed to this value, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Value>,
    },
    /// A channel subscription state changed, optionally to a given state.
    SubscriptionStateChanged {
        /// The channel.
        channel: SubscriptionChannel,
        /// Only this new state, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<SubscriptionState>,
    },
    /// A subscription group membership changed, optionally to a given state.
    SubscriptionGroupChanged {
        /// The group.
        group_id: String,
        /// Only this new state, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<GroupState>,
    },
    /// An interaction with another campaign's message (R-T2).
    CampaignInteraction {
        /// That campaign.
        campaign_id: String,
        /// Which interaction.
        interaction: Interaction,
        /// Only this button (`iam_button_click`, `push_button_click`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button_id: Option<String>,
        /// Only this link alias (`email_click_alias`, `alias_click`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alias: Option<String>,
    },
    /// A location was logged.
    Location {},
    /// Performing the exception event of a campaign (R-E5).
    ExceptionEvent {
        /// That campaign.
        campaign_id: String,
    },
    /// An interaction with a canvas step.
    CanvasStepInteraction {
        /// The canvas.
        canvas_id: String,
        /// Only this step, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step_id: Option<String>,
        /// Which interaction.
        interaction: Interaction,
    },
    /// Entering or leaving a geofence (R-P6).
    Geofence {
        /// Only this fence, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        geofence_id: Option<String>,
        /// Enter or exit.
        transition: Transition,
    },
    /// An inbound SMS, optionally starting with a keyword.
    InboundSms {
        /// Only messages whose first word is this keyword (case-insensitive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyword: Option<String>,
    },
    /// An inbound WhatsApp message, optionally starting with a keyword.
    InboundWhatsapp {
        /// Only messages whose first word is this keyword (case-insensitive).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyword: Option<String>,
    },
}

/// How an event relates to one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerMatch {
    /// Another kind, name or target: this trigger does not concern the event.
    No,
    /// Right kind and name, but the property filters failed (R-T3).
    FiltersFailed,
    /// The event triggers.
    Yes,
}

/// A validated trigger with compiled filters.
#[derive(Debug, Clone)]
pub struct CompiledTrigger {
    trigger: Trigger,
    filters: Vec<CompiledFilter>,
    /// `custom_attribute_changed.to` as an `eq` predicate, so that values
    /// compare by kind like property filters (`1` = `1.0`, R-T3).
    to: Option<CompiledPredicate>,
}

/// Compiles a list of property filters, reporting problems under `path`.
pub(crate) fn compile_filters(
    filters: &[PropertyFilter],
    path: &str,
    report: &mut Report,
) -> Vec<CompiledFilter> {
    filters
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.compile(&index(path, i), report))
        .collect()
}

impl Trigger {
    /// Validates the trigger and compiles its filters. Problems are written
    /// to `report` under `path`; `None` when an error was found.
    pub fn compile(&self, path: &str, report: &mut Report) -> Option<CompiledTrigger> {
        let errors_before = report.errors.len();
        let filters = match self {
            Trigger::Purchase {
                property_filters, ..
            } => compile_filters(property_filters, &join(path, "property_filters"), report),
            Trigger::CustomEvent {
                name,
                property_filters,
            } => {
                if name.trim().is_empty() {
                    report.error(
                        join(path, "name"),
                        "custom_event trigger needs a non-empty name",
                    );
                }
                compile_filters(property_filters, &join(path, "property_filters"), report)
            }
            Trigger::CustomAttributeChanged { attribute, .. } => {
                if attribute.trim().is_empty() {
                    report.error(join(path, "attribute"), "attribute must not be empty");
                }
                Vec::new()
            }
            Trigger::CampaignInteraction {
                interaction,
                button_id,
                alias,
                ..
            } => {
                check_interaction_options(*interaction, button_id, alias, path, report);
                Vec::new()
            }
            Trigger::CanvasStepInteraction { .. } => {
                report.warn(
                    path,
                    "triggerd has no canvases: this trigger only fires for canvas_step_interaction events another system posts",
                );
                Vec::new()
            }
            _ => Vec::new(),
        };
        let to = match self {
            Trigger::CustomAttributeChanged { to: Some(to), .. } => {
                // Compiled on the side: its problems belong at `path.to`.
                let mut scratch = Report::default();
                let predicate = CompiledPredicate::compile(Op::Eq, Some(to), path, &mut scratch);
                for problem in scratch.errors {
                    report.error(join(path, "to"), problem.message);
                }
                predicate
            }
            _ => None,
        };
        (report.errors.len() == errors_before).then(|| CompiledTrigger {
            trigger: self.clone(),
            filters,
            to,
        })
    }

    /// The index key of the events this trigger listens to.
    pub fn key(&self) -> EventKey {
        match self {
            Trigger::Purchase { .. } => EventKey::Purchase,
            Trigger::SessionStart {} => EventKey::SessionStart,
            Trigger::CustomEvent { name, .. } => EventKey::CustomEvent(name.clone()),
            Trigger::Conversion { campaign_id } => EventKey::Conversion(campaign_id.clone()),
            Trigger::EmailAdded {} => EventKey::EmailAdded,
            Trigger::CustomAttributeChanged { attribute, .. } => {
                EventKey::AttributeChanged(attribute.clone())
            }
            Trigger::SubscriptionStateChanged { .. } => EventKey::SubscriptionState,
            Trigger::SubscriptionGroupChanged { .. } => EventKey::SubscriptionGroup,
            Trigger::CampaignInteraction { campaign_id, .. } => {
                EventKey::CampaignInteraction(campaign_id.clone())
            }
            Trigger::Location {} => EventKey::Location,
            Trigger::ExceptionEvent { campaign_id } => {
                EventKey::ExceptionEvent(campaign_id.clone())
            }
            Trigger::CanvasStepInteraction { canvas_id, .. } => {
                EventKey::CanvasStep(canvas_id.clone())
            }
            Trigger::Geofence { .. } => EventKey::Geofence,
            Trigger::InboundSms { .. } => EventKey::InboundSms,
            Trigger::InboundWhatsapp { .. } => EventKey::InboundWhatsapp,
        }
    }
}

/// `button_id` and `alias` only mean something for some interactions (R-T2).
fn check_interaction_options(
    interaction: Interaction,
    button_id: &Option<String>,
    alias: &Option<String>,
    path: &str,
    report: &mut Report,
) {
    let takes_button = matches!(
        interaction,
        Interaction::IamButtonClick | Interaction::PushButtonClick
    );
    let takes_alias = matches!(
        interaction,
        Interaction::EmailClickAlias | Interaction::AliasClick
    );
    if button_id.is_some() && !takes_button {
        report.error(
            join(path, "button_id"),
            "button_id only applies to iam_button_click and push_button_click",
        );
    }
    if alias.is_some() && !takes_alias {
        report.error(
            join(path, "alias"),
            "alias only applies to email_click_alias and alias_click",
        );
    }
}

/// True when `body`'s first word equals `keyword`, ignoring case (R-P3).
pub fn keyword_matches(keyword: &str, body: &str) -> bool {
    body.split_whitespace()
        .next()
        .is_some_and(|first| first.eq_ignore_ascii_case(keyword.trim()))
}

fn opt_eq<T: PartialEq>(want: &Option<T>, got: &T) -> bool {
    want.as_ref().is_none_or(|w| w == got)
}

fn opt_eq_opt<T: PartialEq>(want: &Option<T>, got: &Option<T>) -> bool {
    match want {
        None => true,
        Some(w) => got.as_ref() == Some(w),
    }
}

impl CompiledTrigger {
    /// The definition this was compiled from.
    pub fn definition(&self) -> &Trigger {
        &self.trigger
    }

    /// Does `event` trigger? (R-T1–R-T3). Source rules (R-T6) and launch
    /// time (R-T5) are the decision's business, not the trigger's.
    pub fn matches(&self, event: &Event) -> TriggerMatch {
        let kind_ok = match (&self.trigger, &event.kind) {
            (Trigger::Purchase { product_id, .. }, EventKind::Purchase { product_id: got }) => {
                opt_eq(product_id, got)
            }
            (Trigger::SessionStart {}, EventKind::SessionStart) => true,
            (Trigger::CustomEvent { name, .. }, EventKind::CustomEvent { name: got }) => {
                name == got
            }
            (Trigger::Conversion { campaign_id }, EventKind::Conversion { campaign_id: got }) => {
                campaign_id == got
            }
            (Trigger::EmailAdded {}, EventKind::EmailAdded) => true,
            (
                Trigger::CustomAttributeChanged { attribute, .. },
                EventKind::CustomAttributeChanged {
                    attribute: got,
                    to: got_to,
                },
            ) => attribute == got && self.to.as_ref().is_none_or(|p| p.test(Some(got_to))),
            (
                Trigger::SubscriptionStateChanged { channel, to },
                EventKind::SubscriptionStateChanged {
                    channel: got,
                    to: got_to,
                },
            ) => channel == got && opt_eq(to, got_to),
            (
                Trigger::SubscriptionGroupChanged { group_id, to },
                EventKind::SubscriptionGroupChanged {
                    group_id: got,
                    to: got_to,
                },
            ) => group_id == got && opt_eq(to, got_to),
            (
                Trigger::CampaignInteraction {
                    campaign_id,
                    interaction,
                    button_id,
                    alias,
                },
                EventKind::CampaignInteraction {
                    campaign_id: got,
                    interaction: got_i,
                    button_id: got_b,
                    alias: got_a,
                },
            ) => {
                campaign_id == got
                    && interaction == got_i
                    && opt_eq_opt(button_id, got_b)
                    && opt_eq_opt(alias, got_a)
            }
            (Trigger::Location {}, EventKind::Location) => true,
            (
                Trigger::ExceptionEvent { campaign_id },
                EventKind::ExceptionEvent { campaign_id: got },
            ) => campaign_id == got,
            (
                Trigger::CanvasStepInteraction {
                    canvas_id,
                    step_id,
                    interaction,
                },
                EventKind::CanvasStepInteraction {
                    canvas_id: got,
                    step_id: got_s,
                    interaction: got_i,
                },
            ) => canvas_id == got && interaction == got_i && opt_eq_opt(step_id, got_s),
            (
                Trigger::Geofence {
                    geofence_id,
                    transition,
                },
                EventKind::Geofence {
                    geofence_id: got,
                    transition: got_t,
                },
            ) => opt_eq(geofence_id, got) && transition == got_t,
            (Trigger::InboundSms { keyword }, EventKind::InboundSms { body })
            | (Trigger::InboundWhatsapp { keyword }, EventKind::InboundWhatsapp { body }) => {
                keyword.as_deref().is_none_or(|k| keyword_matches(k, body))
            }
            _ => false,
        };
        if !kind_ok {
            TriggerMatch::No
        } else if crate::filter::matches_all(&self.filters, &event.properties) {
            TriggerMatch::Yes
        } else {
            TriggerMatch::FiltersFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Source;
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::json;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0)
            .single()
            .expect("valid")
    }

    fn compile(v: Value) -> CompiledTrigger {
        let trig: Trigger = serde_json::from_value(v).expect("parses");
        let mut r = Report::default();
        let c = trig.compile("triggers[0]", &mut r);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        c.expect("compiles")
    }

    fn custom(name: &str, props: Value) -> Event {
        Event::new(
            EventKind::CustomEvent { name: name.into() },
            t(),
            Source::Rest,
        )
        .with_properties(props)
    }

    #[test]
    fn r_t3_seed_cart_value_between_100_and_200() {
        let trig = compile(json!({"type":"custom_event","name":"abandoned_cart",
            "property_filters":[{"property":"cart_value","op":"between","value":[100,200]}]}));
        assert_eq!(
            trig.matches(&custom("abandoned_cart", json!({"cart_value":150}))),
            TriggerMatch::Yes
        );
        assert_eq!(
            trig.matches(&custom("abandoned_cart", json!({"cart_value":100}))),
            TriggerMatch::Yes
        );
        assert_eq!(
            trig.matches(&custom("abandoned_cart", json!({"cart_value":200}))),
            TriggerMatch::Yes
        );
        assert_eq!(
            trig.matches(&custom("abandoned_cart", json!({"cart_value":250}))),
            TriggerMatch::FiltersFailed
        );
        assert_eq!(
            trig.matches(&custom("abandoned_cart", json!({}))),
            TriggerMatch::FiltersFailed
        );
        assert_eq!(
            trig.matches(&custom("other", json!({"cart_value":150}))),
            TriggerMatch::No
        );
    }

    #[test]
    fn r_t1_purchase_with_and_without_product() {
        let any = compile(json!({"type":"purchase"}));
        let one = compile(json!({"type":"purchase","product_id":"sku1"}));
        let p = |id: &str| {
            Event::new(
                EventKind::Purchase {
                    product_id: id.into(),
                },
                t(),
                Source::Rest,
            )
        };
        assert_eq!(any.matches(&p("sku2")), TriggerMatch::Yes);
        assert_eq!(one.matches(&p("sku1")), TriggerMatch::Yes);
        assert_eq!(one.matches(&p("sku2")), TriggerMatch::No);
    }

    #[test]
    fn r_t1_every_kind_parses_and_matches_its_event() {
        let cases: Vec<(Value, EventKind)> = vec![
            (json!({"type":"session_start"}), EventKind::SessionStart),
            (json!({"type":"email_added"}), EventKind::EmailAdded),
            (json!({"type":"location"}), EventKind::Location),
            (
                json!({"type":"conversion","campaign_id":"c1"}),
                EventKind::Conversion {
                    campaign_id: "c1".into(),
                },
            ),
            (
                json!({"type":"custom_attribute_changed","attribute":"tier","to":"gold"}),
                EventKind::CustomAttributeChanged {
                    attribute: "tier".into(),
                    to: json!("gold"),
                },
            ),
            (
                json!({"type":"subscription_state_changed","channel":"email","to":"unsubscribed"}),
                EventKind::SubscriptionStateChanged {
                    channel: SubscriptionChannel::Email,
                    to: SubscriptionState::Unsubscribed,
                },
            ),
            (
                json!({"type":"subscription_group_changed","group_id":"g","to":"subscribed"}),
                EventKind::SubscriptionGroupChanged {
                    group_id: "g".into(),
                    to: GroupState::Subscribed,
                },
            ),
            (
                json!({"type":"campaign_interaction","campaign_id":"c2","interaction":"email_open"}),
                EventKind::CampaignInteraction {
                    campaign_id: "c2".into(),
                    interaction: Interaction::EmailOpen,
                    button_id: None,
                    alias: None,
                },
            ),
            (
                json!({"type":"exception_event","campaign_id":"c3"}),
                EventKind::ExceptionEvent {
                    campaign_id: "c3".into(),
                },
            ),
            (
                json!({"type":"canvas_step_interaction","canvas_id":"cv","interaction":"iam_view"}),
                EventKind::CanvasStepInteraction {
                    canvas_id: "cv".into(),
                    step_id: Some("s1".into()),
                    interaction: Interaction::IamView,
                },
            ),
            (
                json!({"type":"geofence","transition":"enter"}),
                EventKind::Geofence {
                    geofence_id: "home".into(),
                    transition: Transition::Enter,
                },
            ),
            (
                json!({"type":"inbound_sms","keyword":"JOIN"}),
                EventKind::InboundSms {
                    body: "join now please".into(),
                },
            ),
            (
                json!({"type":"inbound_whatsapp"}),
                EventKind::InboundWhatsapp { body: "hi".into() },
            ),
        ];
        for (def, kind) in cases {
            let trig = compile(def.clone());
            let ev = Event::new(kind, t(), Source::Sdk);
            assert_eq!(trig.matches(&ev), TriggerMatch::Yes, "{def}");
            assert_eq!(trig.definition().key(), ev.key(), "index key of {def}");
        }
    }

    #[test]
    fn r_t1_targets_must_agree() {
        let trig =
            compile(json!({"type":"custom_attribute_changed","attribute":"tier","to":"gold"}));
        let ev = |a: &str, v: Value| {
            Event::new(
                EventKind::CustomAttributeChanged {
                    attribute: a.into(),
                    to: v,
                },
                t(),
                Source::Rest,
            )
        };
        assert_eq!(trig.matches(&ev("tier", json!("silver"))), TriggerMatch::No);
        assert_eq!(trig.matches(&ev("level", json!("gold"))), TriggerMatch::No);
        let geo = compile(json!({"type":"geofence","geofence_id":"home","transition":"exit"}));
        let g = |id: &str, tr| {
            Event::new(
                EventKind::Geofence {
                    geofence_id: id.into(),
                    transition: tr,
                },
                t(),
                Source::Sdk,
            )
        };
        assert_eq!(geo.matches(&g("home", Transition::Exit)), TriggerMatch::Yes);
        assert_eq!(geo.matches(&g("home", Transition::Enter)), TriggerMatch::No);
        assert_eq!(geo.matches(&g("work", Transition::Exit)), TriggerMatch::No);
    }

    #[test]
    fn r_t2_button_and_alias_narrow_interactions() {
        let trig = compile(json!({"type":"campaign_interaction","campaign_id":"c",
            "interaction":"iam_button_click","button_id":"b1"}));
        let ev = |b: Option<&str>| {
            Event::new(
                EventKind::CampaignInteraction {
                    campaign_id: "c".into(),
                    interaction: Interaction::IamButtonClick,
                    button_id: b.map(Into::into),
                    alias: None,
                },
                t(),
                Source::Sdk,
            )
        };
        assert_eq!(trig.matches(&ev(Some("b1"))), TriggerMatch::Yes);
        assert_eq!(trig.matches(&ev(Some("b2"))), TriggerMatch::No);
        assert_eq!(trig.matches(&ev(None)), TriggerMatch::No);
    }

    #[test]
    fn r_t2_button_id_on_wrong_interaction_is_an_error() {
        let trig: Trigger = serde_json::from_value(json!({"type":"campaign_interaction",
            "campaign_id":"c","interaction":"email_open","button_id":"b1"}))
        .expect("parses");
        let mut r = Report::default();
        assert!(trig.compile("triggers[0]", &mut r).is_none());
        assert_eq!(r.errors[0].path, "triggers[0].button_id");
    }

    #[test]
    fn r_t1_unknown_kind_and_field_are_refused() {
        assert!(serde_json::from_value::<Trigger>(json!({"type":"app_opened"})).is_err());
        assert!(serde_json::from_value::<Trigger>(json!({"type":"session_start","x":1})).is_err());
        assert!(
            serde_json::from_value::<Trigger>(
                json!({"type":"campaign_interaction","campaign_id":"c","interaction":"wink"})
            )
            .is_err()
        );
    }

    #[test]
    fn r_p3_keyword_is_first_word_case_insensitive() {
        assert!(keyword_matches("stop", "STOP"));
        assert!(keyword_matches("join", "  Join the club"));
        assert!(!keyword_matches("join", "rejoin"));
        assert!(!keyword_matches("join", ""));
    }
}
