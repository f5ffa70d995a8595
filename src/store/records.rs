//! The records the daemon stores besides profiles: campaigns, (campaign,
//! user) pair state, sends, explain journal entries, outbox messages, in-app
//! messages, content cards, counters, short links and geofences.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use triggerd_core::{CampaignStatus, Channel, Outcome, PairState, PendingSend};

/// A stored campaign: its definition as given plus its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    /// The id (from the URL).
    pub id: String,
    /// The definition, as JSON.
    pub definition: Value,
    /// draft / active / stopped.
    pub status: CampaignStatus,
    /// When it was launched.
    pub launched_at: Option<DateTime<Utc>>,
    /// When first stored.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The state of one (campaign, user) pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairRecord {
    /// Pending sends and last receipt, as the rules read them.
    #[serde(flatten)]
    pub state: PairState,
    /// A conversion was counted since the last receipt (R-P5).
    #[serde(default)]
    pub converted: bool,
    /// Receipts ever.
    #[serde(default)]
    pub receipts: u64,
    /// Next per-entry journal key of data dirs written before journal
    /// chunks (those entries stay readable; none are written any more).
    #[serde(default)]
    pub journal_seq: u64,
    /// The newest journal entries, kept in the pair record itself until
    /// they fill a chunk (one write per decision instead of two).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub journal_tail: Vec<JournalEntry>,
    /// Journal chunks written so far (the next chunk's number).
    #[serde(default)]
    pub journal_chunks: u64,
}

/// Where a send is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SendState {
    /// Waiting for its due instant (or its next retry).
    Pending,
    /// Handed to the provider; a crash now re-dispatches with the same key (R-K3).
    Dispatching {
        /// Which attempt (1 = first).
        attempt: u32,
    },
    /// Finished with an outcome.
    Done {
        /// The final outcome.
        outcome: Outcome,
    },
}

/// One planned message of one campaign to one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendRecord {
    /// Stable id, also the provider idempotency key (R-K3).
    pub send_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The user.
    pub external_id: String,
    /// When the triggering event happened.
    pub trigger_time: DateTime<Utc>,
    /// The current due instant (moves on window rolls and retries).
    pub due: DateTime<Utc>,
    /// The due instant first planned.
    pub planned_due: DateTime<Utc>,
    /// The triggering event's properties.
    pub trigger_properties: Value,
    /// Where it is.
    pub state: SendState,
    /// Attempts made so far.
    #[serde(default)]
    pub attempts: u32,
    /// When the first attempt started (for the retry policy's max elapsed).
    #[serde(default)]
    pub first_attempt_at: Option<DateTime<Utc>>,
}

impl SendRecord {
    /// A send as planned, rebuilt from its pair's pending entry: a send
    /// gets a record of its own only once it leaves that state (see
    /// [`SendRecord::is_as_planned`]).
    pub fn planned(campaign_id: &str, external_id: &str, pending: &PendingSend) -> SendRecord {
        SendRecord {
            send_id: pending.send_id.clone(),
            campaign_id: campaign_id.to_string(),
            external_id: external_id.to_string(),
            trigger_time: pending.trigger_time,
            due: pending.due,
            planned_due: pending.due,
            trigger_properties: pending.trigger_properties.clone(),
            state: SendState::Pending,
            attempts: 0,
            first_attempt_at: None,
        }
    }

    /// True while the send is exactly what its pair's pending entry says
    /// (pending, never attempted, due where first planned): such a send is
    /// not written on its own, [`SendRecord::planned`] rebuilds it. Not
    /// writing it saves one sled write (and most leaf splits) per planned
    /// send on ingest, about a quarter of the throughput.
    pub fn is_as_planned(&self) -> bool {
        self.state == SendState::Pending
            && self.attempts == 0
            && self.first_attempt_at.is_none()
            && self.due == self.planned_due
    }

    /// The pending view the rules read.
    pub fn pending(&self) -> PendingSend {
        PendingSend {
            send_id: self.send_id.clone(),
            trigger_time: self.trigger_time,
            due: self.due,
            trigger_properties: self.trigger_properties.clone(),
        }
    }
}

/// One line of the explain timeline (R-Y1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// When the decision was made.
    pub at: DateTime<Utc>,
    /// Its outcome code.
    pub outcome: Outcome,
    /// The send concerned, when one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_id: Option<String>,
    /// The due instant, for planned sends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    /// The event that led to it, when any (`custom_event abandoned_cart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The time zone used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// One-line reason.
    pub detail: String,
}

/// A message the service sent, on any channel (`GET /outbox`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The send.
    pub send_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The user.
    pub external_id: String,
    /// The channel.
    pub channel: Channel,
    /// outbox | smtp | webhook | twilio | fcm | apns | in_app | content_card.
    pub via: String,
    /// When it was due.
    pub due: DateTime<Utc>,
    /// When the provider accepted it.
    pub sent_at: DateTime<Utc>,
    /// The rendered fields.
    pub content: Value,
}

/// An in-app message waiting for the user's next session (R-X2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InAppMessage {
    /// The send.
    pub send_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The rendered message.
    pub content: Value,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
}

/// A content card in the user's feed (R-X2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentCard {
    /// The send.
    pub send_id: String,
    /// The campaign.
    pub campaign_id: String,
    /// The rendered card.
    pub content: Value,
    /// When it landed in the feed.
    pub created_at: DateTime<Utc>,
    /// Viewed by the user.
    #[serde(default)]
    pub viewed: bool,
    /// Dismissed by the user.
    #[serde(default)]
    pub dismissed: bool,
}

/// Per-campaign counters (R-Y2): folded totals plus outstanding deltas
/// (see `engine::stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Triggers that planned a send.
    #[serde(default)]
    pub scheduled: u64,
    /// Every outcome by code.
    #[serde(default)]
    pub outcomes: BTreeMap<String, u64>,
    /// Planned and not yet finished.
    #[serde(default)]
    pub pending: i64,
    /// Conversions counted (R-P5).
    #[serde(default)]
    pub conversions: u64,
    /// Messages sent by delivery route (`via`).
    #[serde(default)]
    pub sent_via: BTreeMap<String, u64>,
}

impl Counters {
    /// Adds another stripe's counters.
    pub fn add(&mut self, other: &Counters) {
        self.scheduled += other.scheduled;
        for (k, v) in &other.outcomes {
            *self.outcomes.entry(k.clone()).or_default() += v;
        }
        self.pending += other.pending;
        self.conversions += other.conversions;
        for (k, v) in &other.sent_via {
            *self.sent_via.entry(k.clone()).or_default() += v;
        }
    }

    /// Counts one outcome.
    pub fn outcome(&mut self, o: Outcome) {
        *self.outcomes.entry(o.as_str().to_string()).or_default() += 1;
    }
}

/// The counter changes of one commit by campaign, until folded into the
/// campaigns' totals (see `engine::stats`).
pub type StatsDelta = BTreeMap<String, Counters>;

/// A short link of an SMS (R-P3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortLink {
    /// Where it leads.
    pub url: String,
    /// The send it belongs to.
    pub send_id: String,
}

/// A circular geofence (R-P6).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Geofence {
    /// Latitude of the centre.
    pub lat: f64,
    /// Longitude of the centre.
    pub lon: f64,
    /// Radius in metres.
    pub radius_m: f64,
}

impl Geofence {
    /// Great-circle (haversine) test: is (lat, lon) inside?
    pub fn contains(&self, lat: f64, lon: f64) -> bool {
        const R: f64 = 6_371_000.0;
        let (p1, p2) = (self.lat.to_radians(), lat.to_radians());
        let dp = (lat - self.lat).to_radians();
        let dl = (lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        let d = 2.0 * R * a.sqrt().asin();
        d <= self.radius_m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_p6_geofence_contains_by_distance() {
        let paris = Geofence {
            lat: 48.8566,
            lon: 2.3522,
            radius_m: 1000.0,
        };
        assert!(paris.contains(48.8566, 2.3522));
        assert!(paris.contains(48.86, 2.35)); // ~400 m away
        assert!(!paris.contains(48.88, 2.35)); // ~2.6 km away
    }

    #[test]
    fn counters_add_up() {
        let mut a = Counters::default();
        a.outcome(Outcome::Sent);
        a.scheduled = 2;
        let mut b = Counters::default();
        b.outcome(Outcome::Sent);
        b.outcome(Outcome::NotInSegment);
        a.add(&b);
        assert_eq!(a.outcomes["sent"], 2);
        assert_eq!(a.outcomes["not_in_segment"], 1);
        assert_eq!(a.scheduled, 2);
    }
}
