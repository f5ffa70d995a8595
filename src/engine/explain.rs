//! Explaining (R-Y1) and previewing (R-Y3): the journal of one (campaign,
//! user) pair with a verdict and a one-line summary, and a dry run of the
//! trigger-time decision for a hypothetical event, changing nothing.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use triggerd_core::decide::{TriggerContext, TriggerOutcome, fmt_instant};
use triggerd_core::trigger::Trigger;
use triggerd_core::{CampaignStatus, Event, EventKind, Outcome, Source};

use super::ingest::{parse_event, parse_purchase};
use super::{Engine, EngineError};
use crate::store::keys;
use crate::store::profile::Profile;
use crate::store::records::{JournalEntry, PairRecord};

fn entry_json(e: &JournalEntry) -> Value {
    let mut m = Map::new();
    m.insert("at".into(), Value::String(fmt_instant(e.at)));
    m.insert("outcome".into(), Value::String(e.outcome.as_str().into()));
    m.insert("rule".into(), Value::String(e.outcome.rule().into()));
    if let Some(s) = &e.send_id {
        m.insert("send_id".into(), Value::String(s.clone()));
    }
    if let Some(d) = e.due {
        m.insert("due".into(), Value::String(fmt_instant(d)));
    }
    if let Some(ev) = &e.event {
        m.insert("event".into(), Value::String(ev.clone()));
    }
    if let Some(z) = &e.time_zone {
        m.insert("time_zone".into(), Value::String(z.clone()));
    }
    m.insert("detail".into(), Value::String(e.detail.clone()));
    Value::Object(m)
}

/// The verdict of R-Y1 from the pair state and its journal.
pub fn verdict(pair: &PairRecord, journal: &[JournalEntry]) -> &'static str {
    if !pair.state.pending.is_empty() {
        return "pending";
    }
    match journal.iter().rev().find(|e| !e.outcome.is_informational()) {
        None => "never_triggered",
        Some(e) if e.outcome == Outcome::Sent => "sent",
        Some(e) if e.outcome.plans_send() => "pending",
        Some(_) => "not_sent",
    }
}

fn trigger_label(t: &Trigger) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| {
            let kind = v.get("type")?.as_str()?.to_string();
            let name = v
                .get("name")
                .or_else(|| v.get("product_id"))
                .or_else(|| v.get("campaign_id"))
                .or_else(|| v.get("attribute"))
                .and_then(Value::as_str)
                .map(|n| format!(" {n}"))
                .unwrap_or_default();
            Some(format!("{kind}{name}"))
        })
        .unwrap_or_else(|| "?".into())
}

impl Engine {
    /// A pair's journal, oldest first: per-entry records of older data
    /// dirs, then the written-out chunks, then the pair record's tail.
    pub fn journal(
        &self,
        campaign_id: &str,
        external_id: &str,
        pair: &PairRecord,
    ) -> Result<Vec<JournalEntry>, EngineError> {
        let legacy = keys::prefix(keys::kind::JOURNAL, &[campaign_id, external_id]);
        let mut journal: Vec<JournalEntry> = self
            .store
            .scan::<JournalEntry>(&legacy)
            .map(|r| r.map(|(_, e)| e))
            .collect::<Result<_, _>>()?;
        let chunks = keys::prefix(keys::kind::JOURNAL_CHUNK, &[campaign_id, external_id]);
        for item in self.store.scan::<Vec<JournalEntry>>(&chunks) {
            journal.extend(item?.1);
        }
        journal.extend(pair.journal_tail.iter().cloned());
        Ok(journal)
    }

    /// `GET /campaigns/{id}/users/{external_id}/explain`.
    pub fn explain(&self, campaign_id: &str, external_id: &str) -> Result<Value, EngineError> {
        let entry = self
            .registry
            .get(campaign_id)
            .ok_or_else(|| EngineError::NotFound(format!("campaign {campaign_id}")))?;
        // An id no user can have (empty, too long, with a NUL) would make
        // keys of other records: a NUL-joined id names a pair record.
        if !keys::valid_id(external_id) {
            return Err(EngineError::NotFound(format!("user {external_id:?}")));
        }
        let profile: Option<Profile> = self.store.get(&keys::profile(external_id))?;
        let pair: PairRecord = self
            .store
            .get(&keys::pair(campaign_id, external_id))?
            .unwrap_or_default();
        let journal = self.journal(campaign_id, external_id, &pair)?;
        if profile.is_none() && journal.is_empty() {
            return Err(EngineError::NotFound(format!("user {external_id}")));
        }
        let verdict = verdict(&pair, &journal);
        let last = journal.iter().rev().find(|e| !e.outcome.is_informational());
        let mut summary = match (verdict, last) {
            ("pending", _) => {
                let next = pair.state.pending.iter().min_by_key(|p| p.due);
                match next {
                    Some(p) => format!(
                        "Pending: send {} is due at {}.",
                        p.send_id,
                        fmt_instant(p.due)
                    ),
                    None => "Pending.".into(),
                }
            }
            ("sent", Some(e)) => format!("Sent at {}: {}.", fmt_instant(e.at), e.detail),
            ("not_sent", Some(e)) => format!(
                "Not sent: {} ({}) — {}.",
                e.outcome.as_str(),
                e.outcome.rule(),
                e.detail
            ),
            _ => {
                let kinds: Vec<String> = entry
                    .campaign
                    .def
                    .triggers
                    .iter()
                    .map(trigger_label)
                    .collect();
                format!(
                    "Never triggered: no event of the campaign's trigger kinds ({}) reached this user.",
                    kinds.join(", ")
                )
            }
        };
        if entry.status() != CampaignStatus::Active {
            summary.push_str(&format!(" The campaign is {}.", entry.status().as_str()));
        }
        if let Some(p) = &profile
            && let Some(z) = p.time_zone()
            && z.parse::<chrono_tz::Tz>().is_err()
        {
            summary.push_str(&format!(
                " The user's time zone {z:?} is unknown to this build; the campaign's zone is used."
            ));
        }
        Ok(json!({
            "campaign_id": campaign_id,
            "external_id": external_id,
            "verdict": verdict,
            "summary": summary,
            "pending": pair.state.pending.iter().map(|p| json!({"send_id": p.send_id, "due": fmt_instant(p.due)})).collect::<Vec<_>>(),
            "last_receipt": pair.state.last_receipt.map(fmt_instant),
            "timeline": journal.iter().map(entry_json).collect::<Vec<_>>(),
        }))
    }

    /// `POST /campaigns/{id}/preview` (R-Y3): what would this event do now?
    pub fn preview(&self, campaign_id: &str, body: &Value) -> Result<Value, EngineError> {
        let entry = self
            .registry
            .get(campaign_id)
            .ok_or_else(|| EngineError::NotFound(format!("campaign {campaign_id}")))?;
        let external_id = body
            .get("external_id")
            .and_then(Value::as_str)
            .ok_or_else(|| EngineError::Invalid("external_id is required".into()))?;
        if !keys::valid_id(external_id) {
            return Err(EngineError::Invalid(
                "invalid external_id: empty, too long or containing NUL".into(),
            ));
        }
        let now = self.clock.now();
        let event = match body.get("event") {
            None | Some(Value::Null) => synthetic_event(&entry.campaign.def.triggers, now),
            Some(Value::Object(o)) => {
                // Preview accepts any instant: nothing is ingested.
                let far = now + chrono::Duration::days(365 * 100);
                let parsed = if o.contains_key("product_id") {
                    parse_purchase(o, far, Source::Rest)
                } else {
                    parse_event(o, far, Source::Rest)
                };
                let mut e = parsed.map_err(EngineError::Invalid)?;
                if o.get("time").is_none() {
                    e.time = now;
                }
                if o.get("source").and_then(Value::as_str) == Some("sdk") {
                    e.source = Source::Sdk;
                }
                e
            }
            Some(_) => {
                return Err(EngineError::Invalid(
                    "event must be an events[] object".into(),
                ));
            }
        };
        let mut profile: Profile = self
            .store
            .get(&keys::profile(external_id))?
            .unwrap_or_else(|| Profile::new(external_id, now));
        let known_user =
            profile.created_at != now || self.store.contains(&keys::profile(external_id))?;
        profile.record_event(&event);
        let pair: PairRecord = self
            .store
            .get(&keys::pair(campaign_id, external_id))?
            .unwrap_or_default();
        let (status, launched_at, note) = match entry.status() {
            CampaignStatus::Draft => (
                CampaignStatus::Active,
                Some(event.time.min(now)),
                Some("the campaign is a draft: previewed as if launched now"),
            ),
            s => (s, entry.launched_at(), None),
        };
        let engagement = profile.engagement_before(event.time);
        let ctx = TriggerContext {
            campaign: &entry.campaign,
            status,
            launched_at,
            profile: &profile,
            user_zone: profile.time_zone(),
            engagement: &engagement,
            state: &pair.state,
            processed_at: now,
        };
        let decision = entry.campaign.decide(&ctx, &event);
        let zone = entry.campaign.zone_for(profile.time_zone());
        let window = entry.campaign.def.window.as_ref().map(|w| json!({"start": w.start.to_string(), "end": w.end.to_string(), "next_available": w.next_available}));
        let mut out = match &decision.trigger {
            None => json!({
                "outcome": Value::Null,
                "rule": Value::Null,
                "detail": format!("{} is not of any trigger's kind: nothing would happen", event.label()),
                "due": Value::Null,
            }),
            Some(TriggerOutcome::Refused { outcome, detail }) => json!({
                "outcome": outcome.as_str(),
                "rule": outcome.rule(),
                "detail": detail,
                "due": Value::Null,
            }),
            Some(TriggerOutcome::Planned(plan)) => json!({
                "outcome": plan.outcome.as_str(),
                "rule": plan.outcome.rule(),
                "detail": plan.detail,
                "due": fmt_instant(plan.due),
            }),
        };
        if let Value::Object(m) = &mut out {
            m.insert("time_zone".into(), Value::String(zone.tz.name().into()));
            m.insert("window".into(), window.unwrap_or(Value::Null));
            m.insert("event".into(), Value::String(event.label()));
            m.insert("event_time".into(), Value::String(fmt_instant(event.time)));
            m.insert(
                "cancellations".into(),
                decision
                    .cancellations
                    .iter()
                    .map(|c| json!({"send_id": c.send_id, "outcome": c.outcome.as_str()}))
                    .collect(),
            );
            let mut notes = Vec::new();
            if let Some(n) = note {
                notes.push(n.to_string());
            }
            if !known_user {
                notes.push(format!(
                    "user {external_id} is unknown: previewed with an empty profile"
                ));
            }
            m.insert("notes".into(), json!(notes));
        }
        Ok(out)
    }
}

/// The event a preview without one uses: the campaign's first trigger, now.
fn synthetic_event(triggers: &[Trigger], now: DateTime<Utc>) -> Event {
    let kind = match triggers.first() {
        Some(Trigger::CustomEvent { name, .. }) => EventKind::CustomEvent { name: name.clone() },
        Some(Trigger::Purchase { product_id, .. }) => EventKind::Purchase {
            product_id: product_id.clone().unwrap_or_else(|| "preview".into()),
        },
        Some(Trigger::EmailAdded {}) => EventKind::EmailAdded,
        Some(Trigger::Location {}) => EventKind::Location,
        _ => EventKind::SessionStart,
    };
    Event::new(kind, now, Source::Sdk)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;
    use crate::engine::ingest::parse_track;
    use crate::engine::user::{JOURNAL_CHUNK, JOURNAL_CHUNKS_KEPT};
    use crate::store::WriteSet;

    use crate::engine::test_support::start;

    /// An engine with one active campaign `c` triggered by `e`: the first
    /// event plans a send a week out, every later one is refused because
    /// the user is not re-eligible — one journal entry per event.
    async fn engine_with_campaign(dir: &std::path::Path) -> Engine {
        let engine = crate::engine::test_support::engine(dir, start()).await;
        let def = json!({"name": "c", "channel": "webhook",
            "message": {"url": "http://127.0.0.1:9/never", "body": "x"},
            "triggers": [{"type": "custom_event", "name": "e"}],
            "delay": {"type": "after", "duration": "7d"},
            "schedule": {"start": "2020-01-01T00:00:00Z"}});
        engine.put_campaign("c", &def).expect("stored");
        engine.launch_campaign("c").await.expect("launched");
        engine
    }

    async fn events(engine: &Engine, n: usize) {
        for i in 0..n {
            let at = start() + Duration::seconds(i as i64);
            let body = json!({"events": [{"external_id": "u1", "name": "e"}]});
            let batch = parse_track(&body, at, Source::Rest).expect("valid");
            engine
                .ingest(batch, at, Source::Rest)
                .await
                .expect("ingests");
        }
    }

    fn timeline(engine: &Engine) -> Vec<Value> {
        let v = engine.explain("c", "u1").expect("explains");
        v["timeline"].as_array().expect("timeline").clone()
    }

    #[tokio::test]
    async fn r_y1_journal_reads_in_order_across_chunk_boundaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine_with_campaign(dir.path()).await;
        let n = JOURNAL_CHUNK * 2 + 3;
        events(&engine, n).await;
        let t = timeline(&engine);
        assert_eq!(t.len(), n, "every decision journaled");
        assert_eq!(t[0]["outcome"], "scheduled");
        assert!(t[1..].iter().all(|e| e["outcome"] != "scheduled"));
        let ats: Vec<&str> = t.iter().map(|e| e["at"].as_str().expect("at")).collect();
        assert!(ats.windows(2).all(|w| w[0] < w[1]), "oldest first: {ats:?}");
        let pair: PairRecord = engine
            .store
            .get(&keys::pair("c", "u1"))
            .expect("reads")
            .expect("stored");
        assert_eq!(pair.journal_chunks, 2);
        assert_eq!(pair.journal_tail.len(), 3, "the newest entries stay inline");
    }

    #[tokio::test]
    async fn r_y1_journal_is_bounded_per_pair_keeping_the_newest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine_with_campaign(dir.path()).await;
        let n = JOURNAL_CHUNK * (JOURNAL_CHUNKS_KEPT as usize + 3) + 5;
        events(&engine, n).await;
        let t = timeline(&engine);
        assert_eq!(t.len(), JOURNAL_CHUNK * JOURNAL_CHUNKS_KEPT as usize + 5);
        let newest = (start() + Duration::seconds(n as i64 - 1)).timestamp();
        let last = t.last().expect("entries")["at"].as_str().expect("at");
        assert_eq!(
            DateTime::parse_from_rfc3339(last)
                .expect("rfc3339")
                .timestamp(),
            newest
        );
        let chunks = engine
            .store
            .scan_keys(&keys::prefix(keys::kind::JOURNAL_CHUNK, &["c", "u1"]))
            .count();
        assert_eq!(chunks as u64, JOURNAL_CHUNKS_KEPT);
    }

    #[tokio::test]
    async fn r_y1_per_entry_journal_of_older_data_dirs_is_still_shown_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine_with_campaign(dir.path()).await;
        let old = JournalEntry {
            at: start() - Duration::days(3),
            outcome: Outcome::NotInSegment,
            send_id: None,
            due: None,
            event: Some("custom_event e".into()),
            time_zone: None,
            detail: "written by an older daemon".into(),
        };
        let mut w = WriteSet::new();
        w.put(keys::journal("c", "u1", 0), &old);
        engine.store.apply(w).expect("applies");
        events(&engine, JOURNAL_CHUNK + 1).await;
        let t = timeline(&engine);
        assert_eq!(t.len(), JOURNAL_CHUNK + 2);
        assert_eq!(t[0]["detail"], "written by an older daemon");
        assert_eq!(t[1]["outcome"], "scheduled");
    }

    #[tokio::test]
    async fn r_k3_a_send_as_planned_is_rebuilt_from_its_pair_without_a_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine_with_campaign(dir.path()).await;
        events(&engine, 1).await;
        let pair: PairRecord = engine
            .store
            .get(&keys::pair("c", "u1"))
            .expect("reads")
            .expect("stored");
        let pending = pair
            .state
            .pending
            .first()
            .expect("one pending send")
            .clone();
        assert!(
            !engine
                .store
                .contains(&keys::send(&pending.send_id))
                .expect("reads"),
            "no record of its own while as planned"
        );
        let mut tx = crate::engine::user::UserTx::load(&engine, "u1", start()).expect("loads");
        let send = tx.send(&pending.send_id).expect("reads").expect("rebuilt");
        assert_eq!(send.campaign_id, "c");
        assert_eq!(send.external_id, "u1");
        assert_eq!(send.due, pending.due);
        assert_eq!(send.due, start() + Duration::days(7));
        assert!(send.is_as_planned());
        assert!(
            tx.send("0123456789abcdef0123456789abcdef")
                .expect("reads")
                .is_none()
        );
    }
}
