//! Shared fixtures of the integration tests: campaigns written as small JSON
//! overrides of a base definition, events, and a [`User`] that holds what
//! `decide()` and `check_send()` read about one (campaign, user) pair.
//!
//! Every binary under `tests/` uses a different subset, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use triggerd_core::campaign::CampaignStatus;
use triggerd_core::decide::{Decision, PairState, PendingSend, Plan, TriggerContext};
use triggerd_core::event::{Event, EventKind, Source};
use triggerd_core::freqcap::{CapRules, SentRecord};
use triggerd_core::segment::testing::MemoryProfile;
use triggerd_core::sendcheck::{SendContext, SendVerdict};
use triggerd_core::{Campaign, Outcome, Report, TriggerOutcome};

/// The campaign id every fixture compiles under.
pub const CAMPAIGN_ID: &str = "c1";

/// Parses an RFC 3339 instant.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("bad instant {text:?}: {e}"))
        .to_utc()
}

/// The base definition: an email triggered by custom event `go`, immediate,
/// running from 2026-01-01 UTC, open-ended, no window, no re-eligibility.
pub fn base() -> Value {
    json!({
        "name": "test campaign",
        "channel": "email",
        "message": {"subject": "Hi {{ ${first_name} | default: 'there' }}", "html": "<p>hello</p>"},
        "triggers": [{"type": "custom_event", "name": "go"}],
        "schedule": {"start": "2026-01-01T00:00:00Z"}
    })
}

/// `base()` with top-level keys replaced by `overrides` (a `null` override
/// removes the key).
pub fn def_with(overrides: Value) -> Value {
    let mut def = base();
    let (Some(target), Value::Object(changes)) = (def.as_object_mut(), overrides) else {
        panic!("overrides must be a JSON object");
    };
    for (key, value) in changes {
        if value.is_null() {
            target.remove(&key);
        } else {
            target.insert(key, value);
        }
    }
    def
}

/// Parses and compiles `base()` with `overrides`, returning the report too.
pub fn try_campaign(overrides: Value) -> (Option<Campaign>, Report) {
    Campaign::from_value(CAMPAIGN_ID, &def_with(overrides))
}

/// Like [`try_campaign`], failing the test on any validation error.
pub fn campaign(overrides: Value) -> Campaign {
    let (compiled, report) = try_campaign(overrides);
    assert!(report.errors.is_empty(), "errors: {:?}", report.errors);
    compiled.expect("a definition without errors compiles")
}

/// Custom event `name` at `at` (RFC 3339), from the REST API.
pub fn custom(name: &str, at: &str) -> Event {
    Event::new(
        EventKind::CustomEvent { name: name.into() },
        utc(at),
        Source::Rest,
    )
}

/// Custom event `name` at `at` with `properties`.
pub fn custom_with(name: &str, at: &str, properties: Value) -> Event {
    custom(name, at).with_properties(properties)
}

/// The base trigger, `go`, at `at`.
pub fn go(at: &str) -> Event {
    custom("go", at)
}

/// A purchase of `product_id` at `at`.
pub fn purchase(product_id: &str, at: &str) -> Event {
    Event::new(
        EventKind::Purchase {
            product_id: product_id.into(),
        },
        utc(at),
        Source::Rest,
    )
}

/// A session start from the SDK at `at`.
pub fn session(at: &str) -> Event {
    Event::new(EventKind::SessionStart, utc(at), Source::Sdk)
}

/// One user of one campaign: profile, zone, pair state and the campaign's
/// status, with the values most tests want by default (active campaign
/// launched 2026-01-01T00:00:00Z, empty profile, nothing pending).
#[derive(Debug, Clone)]
pub struct User {
    /// The user's external id.
    pub external_id: String,
    /// Attributes and counted events.
    pub profile: MemoryProfile,
    /// The `time_zone` attribute.
    pub zone: Option<String>,
    /// Pending sends and last receipt.
    pub state: PairState,
    /// Engagement instants for intelligent timing.
    pub engagement: Vec<DateTime<Utc>>,
    /// The campaign's status.
    pub status: CampaignStatus,
    /// The campaign's launch instant.
    pub launched_at: Option<DateTime<Utc>>,
    /// When the event is processed (default: at its own time).
    pub processed_at: Option<DateTime<Utc>>,
}

impl Default for User {
    fn default() -> Self {
        User::new()
    }
}

impl User {
    /// A reachable email user `u1` of an active campaign.
    pub fn new() -> User {
        User {
            external_id: "u1".into(),
            profile: MemoryProfile::new().with_attribute("email", json!("u1@example.com")),
            zone: None,
            state: PairState::default(),
            engagement: Vec::new(),
            status: CampaignStatus::Active,
            launched_at: Some(utc("2026-01-01T00:00:00Z")),
            processed_at: None,
        }
    }

    /// Processes events at `at` instead of at their own time.
    pub fn processed_at(mut self, at: &str) -> User {
        self.processed_at = Some(utc(at));
        self
    }

    /// Sets the `time_zone` attribute.
    pub fn in_zone(mut self, zone: &str) -> User {
        self.zone = Some(zone.into());
        self
    }

    /// Sets an attribute.
    pub fn with(mut self, name: &str, value: Value) -> User {
        self.profile.set_attribute(name, value);
        self
    }

    /// Records the last receipt.
    pub fn received_at(mut self, at: &str) -> User {
        self.state.last_receipt = Some(utc(at));
        self
    }

    /// Adds a pending send `id` triggered at `trigger` and due at `due`.
    pub fn pending(self, id: &str, trigger: &str, due: &str) -> User {
        self.pending_with(id, trigger, due, json!({}))
    }

    /// Adds a pending send whose trigger event had `properties`.
    pub fn pending_with(mut self, id: &str, trigger: &str, due: &str, properties: Value) -> User {
        self.state.pending.push(PendingSend {
            send_id: id.into(),
            trigger_time: utc(trigger),
            due: utc(due),
            trigger_properties: properties,
        });
        self
    }

    /// The full decision for `event` (the profile is used as is: record the
    /// event in it first when a segment counts it, as the daemon does, R-A2).
    pub fn decide(&self, campaign: &Campaign, event: &Event) -> Decision {
        let ctx = TriggerContext {
            campaign,
            status: self.status,
            launched_at: self.launched_at,
            profile: &self.profile,
            user_zone: self.zone.as_deref(),
            engagement: &self.engagement,
            state: &self.state,
            processed_at: self.processed_at.unwrap_or(event.time),
        };
        campaign.decide(&ctx, event)
    }

    /// The trigger outcome code of `event` (fails when the event is not of
    /// a trigger's kind).
    pub fn outcome(&self, campaign: &Campaign, event: &Event) -> Outcome {
        self.decide(campaign, event)
            .trigger
            .map(|t| t.outcome())
            .unwrap_or_else(|| panic!("{} is not of a trigger's kind", event.label()))
    }

    /// The planned send of `event` (fails when it was refused).
    pub fn plan(&self, campaign: &Campaign, event: &Event) -> Plan {
        match self.decide(campaign, event).trigger {
            Some(TriggerOutcome::Planned(plan)) => plan,
            other => panic!(
                "expected a planned send for {}, got {other:?}",
                event.label()
            ),
        }
    }

    /// The due instant planned for `event`.
    pub fn due(&self, campaign: &Campaign, event: &Event) -> DateTime<Utc> {
        self.plan(campaign, event).due
    }
}

/// Everything `check_send` reads besides the campaign and the user.
#[derive(Debug, Clone, Default)]
pub struct SendEnv {
    /// Standard attributes for the template (top level).
    pub attributes: Map<String, Value>,
    /// Custom attributes for the template.
    pub custom_attributes: Map<String, Value>,
    /// Messages already sent to the user (R-F1).
    pub history: Vec<SentRecord>,
    /// Global caps.
    pub caps: CapRules,
}

/// A pending send triggered at `trigger`, due at `due`, with `properties`.
pub fn send(id: &str, trigger: &str, due: &str, properties: Value) -> PendingSend {
    PendingSend {
        send_id: id.into(),
        trigger_time: utc(trigger),
        due: utc(due),
        trigger_properties: properties,
    }
}

/// Runs the send-time checks of `send` for `user` at `now`.
pub fn check(
    campaign: &Campaign,
    user: &User,
    env: &SendEnv,
    send: &PendingSend,
    now: &str,
) -> SendVerdict {
    let ctx = SendContext {
        campaign,
        status: user.status,
        send,
        external_id: &user.external_id,
        profile: &user.profile,
        attributes: &env.attributes,
        custom_attributes: &env.custom_attributes,
        user_zone: user.zone.as_deref(),
        last_receipt: user.state.last_receipt,
        history: &env.history,
        caps: &env.caps,
        now: utc(now),
    };
    campaign.check_send(&ctx)
}

/// The outcome code of a refused send (fails otherwise).
pub fn refused(verdict: &SendVerdict) -> Outcome {
    match verdict {
        SendVerdict::Refused { outcome, .. } => *outcome,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Hours as a chrono duration (readability of instant arithmetic).
pub fn hours(h: i64) -> Duration {
    Duration::hours(h)
}
