//! The campaign definition (API.md "Campaigns"): serde model, parsing from
//! JSON or TOML with *every* problem reported at once (path + message), and
//! compilation into a [`Campaign`] whose triggers, filters, segment,
//! exceptions and templates are ready to evaluate.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Span;
use crate::event::Source;
use crate::index::EventKey;
use crate::matcher::{CompiledMatcher, MatcherDef, MatcherKind, MatcherRole};
use crate::segment::{CompiledSegment, Segment};
use crate::template::MessageTemplate;
use crate::time::{Delay, Schedule, Window, parse_zone};
use crate::trigger::{CompiledTrigger, Trigger};
use crate::validation::{Report, deserialize_problem, index, join};

/// Delivery channels (API.md `channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Email through SMTP or the outbox.
    Email,
    /// SMS through a Twilio-compatible provider or the outbox.
    Sms,
    /// Mobile/web push through FCM, APNs or the outbox.
    Push,
    /// An HTTP request to the campaign's URL.
    Webhook,
    /// In-app message, delivered at the next SDK session (R-X2).
    InApp,
    /// Content card in the user's feed (R-X2).
    ContentCard,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 6] = [
        Channel::Email,
        Channel::Sms,
        Channel::Push,
        Channel::Webhook,
        Channel::InApp,
        Channel::ContentCard,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Push => "push",
            Channel::Webhook => "webhook",
            Channel::InApp => "in_app",
            Channel::ContentCard => "content_card",
        }
    }

    /// Message fields: (required, optional).
    fn message_fields(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Channel::Email => (&["subject", "html"], &["text", "from"]),
            Channel::Sms => (&["body"], &["subscription_group_id", "from"]),
            Channel::Push => (&["title", "body"], &["data"]),
            Channel::Webhook => (&["url"], &["method", "headers", "body"]),
            Channel::InApp => (&["body"], &["buttons", "title"]),
            Channel::ContentCard => (&["title", "body"], &["url", "image_url"]),
        }
    }
}

/// Who may receive the campaign (R-A1–R-A4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// The segment filter tree; everyone when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Segment>,
    /// Check the segment again at send time (R-A3).
    #[serde(default)]
    pub reevaluate_at_send: bool,
    /// Share of users withheld as a control group, 0–100 (R-A4).
    #[serde(default)]
    pub control_group_percent: f64,
}

/// Re-eligibility (R-R2): the interval after a receipt before the user may
/// receive the campaign again. `null` in the definition means never (R-R1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reeligibility {
    /// The interval.
    pub after: Span,
}

/// A campaign definition as written by users (API.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignDef {
    /// Display name.
    pub name: String,
    /// Delivery channel.
    pub channel: Channel,
    /// Channel-specific message fields, each a Liquid template.
    pub message: Map<String, Value>,
    /// One or more triggers (R-T1).
    pub triggers: Vec<Trigger>,
    /// The audience; everyone by default.
    #[serde(default)]
    pub audience: Audience,
    /// The delay; immediate by default (R-D1).
    #[serde(default)]
    pub delay: Delay,
    /// Exception events (R-E1).
    #[serde(default)]
    pub exceptions: Vec<MatcherDef>,
    /// Start (required) and end of the campaign (R-S1).
    pub schedule: Schedule,
    /// The campaign's time zone (IANA name), default `UTC`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The daily delivery window (R-W1).
    #[serde(default)]
    pub window: Option<Window>,
    /// Re-eligibility; `null`: never again (R-R1).
    #[serde(default)]
    pub reeligibility: Option<Reeligibility>,
    /// Conversion events; the first is primary (R-P5).
    #[serde(default)]
    pub conversion_events: Vec<MatcherDef>,
    /// Global frequency caps apply unless false (R-F2).
    #[serde(default = "default_true")]
    pub frequency_capping: bool,
}

fn default_time_zone() -> String {
    "UTC".to_string()
}

fn default_true() -> bool {
    true
}

const REQUIRED: [&str; 5] = ["name", "channel", "message", "triggers", "schedule"];
const OPTIONAL: [&str; 9] = [
    "audience",
    "delay",
    "exceptions",
    "time_zone",
    "window",
    "reeligibility",
    "conversion_events",
    "frequency_capping",
    // Read-only fields that GET returns; accepted and ignored on PUT so a
    // fetched campaign can be sent back as is.
    "id",
];
const READ_ONLY: [&str; 4] = ["status", "launched_at", "stats", "warnings"];

/// Deserializes one field, reporting a failure with its full path.
fn field<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
    report: &mut Report,
) -> Option<T> {
    let value = obj.get(key)?;
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(err) => {
            let problem = deserialize_problem(key, value, &err);
            report.error(problem.path, problem.message);
            None
        }
    }
}

impl CampaignDef {
    /// Parses a definition from a JSON value, reporting every field that
    /// fails at once (unknown fields, missing required fields, bad values).
    /// For the semantic checks too, in the same report, use
    /// [`Campaign::from_value`].
    pub fn from_value(value: &Value) -> Result<CampaignDef, Report> {
        match CampaignDef::parse(value) {
            (Some(def), report) if report.is_valid() => Ok(def),
            (_, report) => Err(report),
        }
    }

    /// Parses a definition, reporting every field problem. The definition is
    /// built whenever every known field could be read, even when unknown
    /// fields were reported, so that [`Campaign::from_value`] can add the
    /// semantic problems to the same report.
    pub fn parse(value: &Value) -> (Option<CampaignDef>, Report) {
        let mut report = Report::default();
        let Some(obj) = value.as_object() else {
            report.error("", "a campaign definition must be a JSON object");
            return (None, report);
        };
        for key in obj.keys() {
            let k = key.as_str();
            if !REQUIRED.contains(&k) && !OPTIONAL.contains(&k) && !READ_ONLY.contains(&k) {
                report.error(
                    k,
                    format!(
                        "unknown field `{k}`, expected one of {}",
                        REQUIRED
                            .iter()
                            .chain(OPTIONAL.iter().filter(|f| **f != "id"))
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        let unknown_fields = report.errors.len();
        for key in REQUIRED {
            if !obj.contains_key(key) {
                report.error(key, format!("missing required field `{key}`"));
            }
        }
        let name: Option<String> = field(obj, "name", &mut report);
        let channel: Option<Channel> = field(obj, "channel", &mut report);
        let message: Option<Map<String, Value>> = field(obj, "message", &mut report);
        let triggers: Option<Vec<Trigger>> = field(obj, "triggers", &mut report);
        let audience: Option<Audience> = field(obj, "audience", &mut report);
        let delay: Option<Delay> = field(obj, "delay", &mut report);
        let exceptions: Option<Vec<MatcherDef>> = field(obj, "exceptions", &mut report);
        let schedule: Option<Schedule> = field(obj, "schedule", &mut report);
        let time_zone: Option<String> = field(obj, "time_zone", &mut report);
        let window: Option<Option<Window>> = field(obj, "window", &mut report);
        let reeligibility: Option<Option<Reeligibility>> = field(obj, "reeligibility", &mut report);
        let conversion_events: Option<Vec<MatcherDef>> =
            field(obj, "conversion_events", &mut report);
        let frequency_capping: Option<bool> = field(obj, "frequency_capping", &mut report);
        if report.errors.len() > unknown_fields {
            return (None, report);
        }
        let def = match (name, channel, message, triggers, schedule) {
            (Some(name), Some(channel), Some(message), Some(triggers), Some(schedule)) => {
                Some(CampaignDef {
                    name,
                    channel,
                    message,
                    triggers,
                    audience: audience.unwrap_or_default(),
                    delay: delay.unwrap_or_default(),
                    exceptions: exceptions.unwrap_or_default(),
                    schedule,
                    time_zone: time_zone.unwrap_or_else(default_time_zone),
                    window: window.flatten(),
                    reeligibility: reeligibility.flatten(),
                    conversion_events: conversion_events.unwrap_or_default(),
                    frequency_capping: frequency_capping.unwrap_or(true),
                })
            }
            _ => None,
        };
        (def, report)
    }

    /// Parses JSON text.
    pub fn from_json(text: &str) -> Result<CampaignDef, Report> {
        CampaignDef::from_value(&json_value(text)?)
    }

    /// Parses TOML text (same fields as JSON; TOML date-times become strings).
    pub fn from_toml(text: &str) -> Result<CampaignDef, Report> {
        CampaignDef::from_value(&toml_value(text)?)
    }

    /// The definition as JSON (for `GET /campaigns/{id}`).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// JSON text as a value, or the syntax error as a report.
fn json_value(text: &str) -> Result<Value, Report> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        let mut r = Report::default();
        r.error("", format!("invalid JSON: {e}"));
        r
    })
}

/// TOML text as a JSON value, or the syntax error as a report.
fn toml_value(text: &str) -> Result<Value, Report> {
    text.parse::<toml::Table>()
        .map(|table| toml_to_json(toml::Value::Table(table)))
        .map_err(|e| {
            let mut r = Report::default();
            r.error("", format!("invalid TOML: {}", e.to_string().trim_end()));
            r
        })
}

/// Converts TOML to JSON, turning date-times into their RFC 3339 text.
pub fn toml_to_json(v: toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// Lifecycle of a campaign (API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// Defined, not launched.
    Draft,
    /// Launched: triggers are processed.
    Active,
    /// Stopped: no triggers, pending sends end `campaign_stopped`.
    Stopped,
}

impl CampaignStatus {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Active => "active",
            CampaignStatus::Stopped => "stopped",
        }
    }
}

/// A validated, compiled campaign, ready for decisions.
#[derive(Debug, Clone)]
pub struct Campaign {
    /// The campaign id (from the URL).
    pub id: String,
    /// The definition it was compiled from.
    pub def: CampaignDef,
    /// The campaign's time zone.
    pub tz: Tz,
    pub(crate) triggers: Vec<CompiledTrigger>,
    pub(crate) segment: Option<CompiledSegment>,
    pub(crate) exceptions: Vec<CompiledMatcher>,
    pub(crate) conversions: Vec<CompiledMatcher>,
    pub(crate) template: MessageTemplate,
}

impl Campaign {
    /// Validates and compiles `def`. Returns the campaign (when there is no
    /// error) and the report with every error and warning.
    pub fn compile(id: &str, def: CampaignDef) -> (Option<Campaign>, Report) {
        let mut report = Report::default();
        if id.trim().is_empty() {
            report.error("id", "campaign id must not be empty");
        }
        if def.name.trim().is_empty() {
            report.error("name", "name must not be empty");
        }
        let tz = match parse_zone(&def.time_zone) {
            Ok(tz) => Some(tz),
            Err(e) => {
                report.error("time_zone", e.to_string());
                None
            }
        };
        if def.triggers.is_empty() {
            report.error("triggers", "a campaign needs at least one trigger");
        }
        let triggers: Vec<_> = def
            .triggers
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.compile(&index("triggers", i), &mut report))
            .collect();
        let segment = def
            .audience
            .segment
            .as_ref()
            .and_then(|s| s.compile("audience.segment", &mut report));
        let pct = def.audience.control_group_percent;
        if !(0.0..=100.0).contains(&pct) || pct.is_nan() {
            report.error(
                "audience.control_group_percent",
                "control_group_percent must be between 0 and 100",
            );
        }
        def.delay.validate("delay", &mut report);
        def.schedule.validate("schedule", &mut report);
        if let Some(w) = &def.window {
            w.validate("window", &mut report);
        }
        let exceptions: Vec<_> = def
            .exceptions
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.compile(MatcherRole::Exception, &index("exceptions", i), &mut report)
            })
            .collect();
        let conversions: Vec<_> = def
            .conversion_events
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                m.compile(
                    MatcherRole::Conversion,
                    &index("conversion_events", i),
                    &mut report,
                )
            })
            .collect();
        check_exceptions(&def, &mut report);
        check_message(&def, &mut report);
        check_in_app_triggers(&def, &mut report);
        check_reachable_in_duration(&def, &mut report);
        let template =
            MessageTemplate::compile(&Value::Object(def.message.clone()), "message", &mut report);
        match (tz, template) {
            (Some(tz), Some(template)) if report.is_valid() => (
                Some(Campaign {
                    id: id.to_string(),
                    def,
                    tz,
                    triggers,
                    segment,
                    exceptions,
                    conversions,
                    template,
                }),
                report,
            ),
            _ => (None, report),
        }
    }

    /// Parses and compiles a JSON definition in one step, with every
    /// problem in one report: unknown fields and unreadable values first,
    /// then — when every known field could be read — the checks of
    /// [`Campaign::compile`]. `None` when any error was found.
    pub fn from_value(id: &str, value: &Value) -> (Option<Campaign>, Report) {
        let (def, mut report) = CampaignDef::parse(value);
        let Some(def) = def else {
            return (None, report);
        };
        let (campaign, compiled) = Campaign::compile(id, def);
        report.errors.extend(compiled.errors);
        report.warnings.extend(compiled.warnings);
        let campaign = campaign.filter(|_| report.is_valid());
        (campaign, report)
    }

    /// [`Campaign::from_value`] on JSON text.
    pub fn from_json(id: &str, text: &str) -> (Option<Campaign>, Report) {
        match json_value(text) {
            Ok(value) => Campaign::from_value(id, &value),
            Err(report) => (None, report),
        }
    }

    /// [`Campaign::from_value`] on TOML text.
    pub fn from_toml(id: &str, text: &str) -> (Option<Campaign>, Report) {
        match toml_value(text) {
            Ok(value) => Campaign::from_value(id, &value),
            Err(report) => (None, report),
        }
    }

    /// The channel.
    pub fn channel(&self) -> Channel {
        self.def.channel
    }

    /// The compiled message template.
    pub fn template(&self) -> &MessageTemplate {
        &self.template
    }

    /// The compiled conversion events, primary first (R-P5).
    pub fn conversions(&self) -> &[CompiledMatcher] {
        &self.conversions
    }

    /// The compiled segment, when the audience has one.
    pub fn segment(&self) -> Option<&CompiledSegment> {
        self.segment.as_ref()
    }

    /// Every index key this campaign listens to: its triggers, its
    /// exceptions and its conversion events.
    pub fn index_keys(&self) -> BTreeSet<String> {
        self.keys().into_iter().map(|k| format!("{k:?}")).collect()
    }

    /// Every index key this campaign listens to (triggers, exceptions,
    /// conversion events).
    pub fn keys(&self) -> Vec<EventKey> {
        let mut keys: Vec<EventKey> = self.def.triggers.iter().map(Trigger::key).collect();
        keys.extend(self.def.exceptions.iter().filter_map(MatcherDef::key));
        keys.extend(
            self.def
                .conversion_events
                .iter()
                .filter_map(MatcherDef::key),
        );
        keys
    }

    /// R-A4: is this user in the control group? A stable hash of
    /// (campaign id, external id) picks a bucket in 0..10,000.
    pub fn in_control_group(&self, external_id: &str) -> bool {
        let pct = self.def.audience.control_group_percent;
        if pct <= 0.0 {
            return false;
        }
        let bucket = control_bucket(&self.id, external_id);
        (bucket as f64) < pct * 100.0
    }
}

/// FNV-1a 64 of `campaign_id \0 external_id`, reduced to 0..10,000. Stable
/// across versions and machines: a user is always in or always out (R-A4).
pub fn control_bucket(campaign_id: &str, external_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in campaign_id.bytes().chain([0u8]).chain(external_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % 10_000
}

/// R-E1, R-E3 and the exception warnings.
fn check_exceptions(def: &CampaignDef, report: &mut Report) {
    if def.exceptions.is_empty() {
        return;
    }
    if def.delay.is_immediate() {
        report.error(
            "exceptions",
            "exception events need a delay: with an immediate delay nothing is ever pending to cancel",
        );
    }
    let session_trigger = def
        .triggers
        .iter()
        .any(|t| matches!(t, Trigger::SessionStart {}));
    for (i, e) in def.exceptions.iter().enumerate() {
        let path = index("exceptions", i);
        if session_trigger && e.kind == MatcherKind::SessionStart {
            report.error(
                &path,
                "session_start cannot be both a trigger and an exception",
            );
        }
        if e.kind == MatcherKind::Conversion && def.conversion_events.is_empty() {
            report.warn(
                &path,
                "a conversion exception needs conversion_events: this exception never matches",
            );
        }
    }
}

/// The message must have its channel's fields, and nothing else.
fn check_message(def: &CampaignDef, report: &mut Report) {
    let (required, optional) = def.channel.message_fields();
    for key in required {
        match def.message.get(*key) {
            None | Some(Value::Null) => report.error(
                join("message", key),
                format!("{} messages need `{key}`", def.channel.as_str()),
            ),
            Some(Value::String(s)) if s.trim().is_empty() => {
                report.error(join("message", key), format!("`{key}` must not be empty"))
            }
            _ => {}
        }
    }
    for key in def.message.keys() {
        if !required.contains(&key.as_str()) && !optional.contains(&key.as_str()) {
            report.error(
                join("message", key),
                format!(
                    "unknown field `{key}` for a {} message (expected {})",
                    def.channel.as_str(),
                    required
                        .iter()
                        .chain(optional)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    let string_fields: &[&str] = match def.channel {
        Channel::Email => &["subject", "html", "text", "from"],
        Channel::Sms => &["body", "subscription_group_id", "from"],
        Channel::Push => &["title", "body"],
        Channel::Webhook => &["url", "method"],
        Channel::InApp => &["body", "title"],
        Channel::ContentCard => &["title", "body", "url", "image_url"],
    };
    for key in string_fields {
        if let Some(v) = def.message.get(*key)
            && !v.is_string()
            && !v.is_null()
        {
            report.error(join("message", key), format!("`{key}` must be a string"));
        }
    }
    if def.channel == Channel::Webhook {
        if let Some(Value::String(url)) = def.message.get("url") {
            let templated = url.contains("{{") || url.contains("{%");
            if !(templated || url.starts_with("http://") || url.starts_with("https://")) {
                report.error(
                    "message.url",
                    "webhook url must start with http:// or https://",
                );
            }
        }
        if let Some(Value::String(m)) = def.message.get("method")
            && !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.to_ascii_uppercase().as_str())
        {
            report.error(
                "message.method",
                "method must be one of GET, POST, PUT, PATCH, DELETE",
            );
        }
        if let Some(h) = def.message.get("headers") {
            let ok = h
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string));
            if !ok {
                report.error("message.headers", "headers must be an object of strings");
            }
        }
    }
    if def.channel == Channel::Push
        && let Some(d) = def.message.get("data")
        && !d.is_object()
    {
        report.error("message.data", "data must be an object");
    }
    if def.channel == Channel::InApp
        && let Some(b) = def.message.get("buttons")
        && !b.is_array()
    {
        report.error("message.buttons", "buttons must be an array");
    }
}

/// R-T6: in-app campaigns are triggered by SDK events only; kinds the
/// service produces itself can never trigger them.
fn check_in_app_triggers(def: &CampaignDef, report: &mut Report) {
    if def.channel != Channel::InApp {
        return;
    }
    for (i, t) in def.triggers.iter().enumerate() {
        let produced = matches!(
            t,
            Trigger::Conversion { .. }
                | Trigger::CampaignInteraction { .. }
                | Trigger::ExceptionEvent { .. }
                | Trigger::InboundSms { .. }
                | Trigger::InboundWhatsapp { .. }
                | Trigger::Geofence { .. }
        );
        // Geofence events come from SDK location logs (R-P6), so they qualify
        // only when the location was logged by the SDK — we keep them, but say so.
        if produced && !matches!(t, Trigger::Geofence { .. }) {
            report.warn(
                index("triggers", i),
                format!(
                    "in_app campaigns are triggered only by SDK events (R-T6); these events come from source {:?} and never trigger it",
                    Source::Service.as_str()
                ),
            );
        }
    }
}

/// R-S2 warning: the shortest possible delay is longer than the campaign's
/// duration, so no user can receive it.
fn check_reachable_in_duration(def: &CampaignDef, report: &mut Report) {
    // An empty or inverted schedule is already an error of its own.
    let Some(duration) = def.schedule.length().filter(|d| *d > Span::ZERO) else {
        return;
    };
    let shortest = def.delay.shortest();
    if shortest >= duration {
        report.warn(
            "delay",
            format!(
                "the shortest possible delay ({shortest}) is not shorter than the campaign's duration ({duration}): no user can receive it (R-S2)"
            ),
        );
    }
}

/// A clock-free helper: is `t` at or after `launched_at`? (R-T5).
pub fn launched_by(launched_at: Option<DateTime<Utc>>, t: DateTime<Utc>) -> bool {
    launched_at.is_some_and(|l| t >= l)
}
