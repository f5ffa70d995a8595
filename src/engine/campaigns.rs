//! Campaign lifecycle (API.md "Campaigns"): define (PUT, validated with
//! every error and warning), launch, stop (pending sends end
//! `campaign_stopped`), delete, read, list and stats (R-Y2).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use triggerd_core::decide::fmt_instant;
use triggerd_core::{Campaign, CampaignStatus, Outcome, Report};

use super::registry::CampaignEntry;
use super::user::UserTx;
use super::{Engine, EngineError};
use crate::store::keys;
use crate::store::records::{CampaignRecord, Counters, PairRecord};

/// Result of a PUT.
pub struct PutOutcome {
    /// True when the campaign did not exist before.
    pub created: bool,
    /// Its status after the PUT.
    pub status: CampaignStatus,
    /// Validation warnings.
    pub warnings: Report,
}

/// Why a PUT was refused.
#[derive(Debug)]
pub enum PutError {
    /// The definition is invalid: every problem.
    Invalid(Report),
    /// Storage failed.
    Engine(EngineError),
}

impl From<EngineError> for PutError {
    fn from(e: EngineError) -> Self {
        PutError::Engine(e)
    }
}

/// A campaign as `GET /campaigns/{id}` shows it: the definition plus id,
/// status, launch instant and stats.
fn entry_json(entry: &CampaignEntry, counters: &Counters) -> Value {
    let mut v = entry.record.definition.clone();
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), Value::String(entry.record.id.clone()));
        m.insert(
            "status".into(),
            Value::String(entry.status().as_str().into()),
        );
        m.insert("launched_at".into(), fmt_opt(entry.launched_at()));
        m.insert("stats".into(), stats_json(counters));
    }
    v
}

/// The stats answer (API.md `GET /campaigns/{id}/stats`).
pub fn stats_json(c: &Counters) -> Value {
    json!({
        "scheduled": c.scheduled,
        "outcomes": c.outcomes,
        "pending": c.pending.max(0),
        "conversions": c.conversions,
        "sent_via": c.sent_via,
    })
}

fn fmt_opt(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(fmt_instant(t)))
}

impl Engine {
    /// Loads every stored campaign into the registry (startup).
    pub(super) fn load_campaigns(&self) -> Result<(), EngineError> {
        for item in self.store.scan::<CampaignRecord>(&[keys::kind::CAMPAIGN]) {
            let (_, rec) = item?;
            match Campaign::from_value(&rec.id, &rec.definition) {
                (Some(c), _) => self.registry.upsert(CampaignEntry {
                    campaign: Arc::new(c),
                    record: rec,
                }),
                (None, report) => {
                    tracing::error!(campaign = %rec.id, errors = ?report.errors, "stored campaign no longer compiles; skipped")
                }
            }
        }
        Ok(())
    }

    /// `PUT /campaigns/{id}`: validates and stores a definition. An active
    /// campaign keeps its status and launch instant; the new definition
    /// applies to new triggers and to send-time checks of pending sends.
    pub fn put_campaign(&self, id: &str, body: &Value) -> Result<PutOutcome, PutError> {
        if !keys::valid_id(id) {
            let mut r = Report::default();
            r.error("id", "campaign id must be 1–512 bytes without NUL");
            return Err(PutError::Invalid(r));
        }
        let (campaign, report) = Campaign::from_value(id, body);
        let Some(campaign) = campaign else {
            return Err(PutError::Invalid(report));
        };
        let now = self.clock.now();
        let existing = self.registry.get(id);
        let record = CampaignRecord {
            id: id.to_string(),
            definition: campaign.def.to_value(),
            status: existing
                .as_ref()
                .map_or(CampaignStatus::Draft, |e| e.status()),
            launched_at: existing.as_ref().and_then(|e| e.launched_at()),
            created_at: existing.as_ref().map_or(now, |e| e.record.created_at),
            updated_at: now,
        };
        self.save_campaign(&record)?;
        let status = record.status;
        self.registry.upsert(CampaignEntry {
            campaign: Arc::new(campaign),
            record,
        });
        let mut warnings = report;
        warnings.errors.clear();
        Ok(PutOutcome {
            created: existing.is_none(),
            status,
            warnings,
        })
    }

    fn save_campaign(&self, rec: &CampaignRecord) -> Result<(), EngineError> {
        let mut w = crate::store::WriteSet::new();
        w.put(keys::campaign(&rec.id), rec);
        self.store.apply(w)?;
        Ok(())
    }

    fn entry(&self, id: &str) -> Result<Arc<CampaignEntry>, EngineError> {
        self.registry
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("campaign {id}")))
    }

    /// `POST /campaigns/{id}/launch`.
    pub async fn launch_campaign(
        &self,
        id: &str,
    ) -> Result<(CampaignStatus, DateTime<Utc>), EngineError> {
        let entry = self.entry(id)?;
        let mut rec = entry.record.clone();
        let now = self.clock.now();
        if rec.status != CampaignStatus::Active || rec.launched_at.is_none() {
            rec.status = CampaignStatus::Active;
            rec.launched_at = Some(now);
            rec.updated_at = now;
            self.save_campaign(&rec)?;
            self.registry.upsert(CampaignEntry {
                campaign: entry.campaign.clone(),
                record: rec.clone(),
            });
        }
        self.flush_now().await?;
        Ok((rec.status, rec.launched_at.unwrap_or(now)))
    }

    /// `POST /campaigns/{id}/stop`: no more triggers; pending sends end
    /// `campaign_stopped` now.
    pub async fn stop_campaign(&self, id: &str) -> Result<CampaignStatus, EngineError> {
        let entry = self.entry(id)?;
        let mut rec = entry.record.clone();
        let now = self.clock.now();
        rec.status = CampaignStatus::Stopped;
        rec.updated_at = now;
        self.save_campaign(&rec)?;
        self.registry.upsert(CampaignEntry {
            campaign: entry.campaign.clone(),
            record: rec,
        });
        self.end_pending_of_campaign(id, "the campaign was stopped")
            .await?;
        self.flush_now().await?;
        Ok(CampaignStatus::Stopped)
    }

    /// `DELETE /campaigns/{id}`: pending sends end `campaign_stopped`, the
    /// definition is removed (journal and stats stay readable until
    /// overwritten by a new campaign of that id).
    pub async fn delete_campaign(&self, id: &str) -> Result<(), EngineError> {
        self.entry(id)?;
        self.registry.remove(id);
        self.end_pending_of_campaign(id, "the campaign was deleted")
            .await?;
        let mut w = crate::store::WriteSet::new();
        w.remove(keys::campaign(id));
        self.store.apply(w)?;
        self.flush_now().await?;
        Ok(())
    }

    /// Ends every pending send of a campaign. Pairs are stored by user
    /// (next to the profile, for ingest), so this walks every user's keys
    /// and reads only this campaign's pairs: a rare administrative step.
    async fn end_pending_of_campaign(&self, id: &str, why: &str) -> Result<(), EngineError> {
        let mut users = Vec::new();
        for key in self.store.scan_keys(&[keys::kind::PROFILE]) {
            let key = key?;
            let Some((user, campaign)) = keys::split_pair(&key) else {
                continue;
            };
            if campaign == id
                && let Some(pair) = self.store.get::<PairRecord>(&key)?
                && !pair.state.pending.is_empty()
            {
                users.push(user.to_string());
            }
        }
        for user in users {
            let _lock = self.lock_user(&user).await;
            let mut tx = UserTx::load(self, &user, self.clock.now())?;
            let pair: PairRecord = self.store.get(&keys::pair(id, &user))?.unwrap_or_default();
            for p in pair.state.pending {
                if let Some(send) = tx.send(&p.send_id)? {
                    tx.end_send(send, Outcome::CampaignStopped, why.to_string(), None)?;
                }
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// The stats of one campaign.
    pub fn campaign_stats(&self, id: &str) -> Result<Value, EngineError> {
        self.entry(id)?;
        Ok(stats_json(&self.campaign_counters(id)?))
    }

    /// `GET /campaigns/{id}`: the definition plus status, launch and stats.
    pub fn campaign_json(&self, id: &str) -> Result<Value, EngineError> {
        let entry = self.entry(id)?;
        let counters = self.campaign_counters(id)?;
        Ok(entry_json(&entry, &counters))
    }

    /// `GET /campaigns`.
    pub fn campaigns_json(&self) -> Result<Value, EngineError> {
        let entries = self.registry.all();
        let ids: Vec<&str> = entries.iter().map(|e| e.record.id.as_str()).collect();
        let counters = self.counters_of(&ids)?;
        let list: Vec<Value> = entries
            .iter()
            .map(|e| {
                let c = counters.get(&e.record.id).cloned().unwrap_or_default();
                entry_json(e, &c)
            })
            .collect();
        Ok(json!({ "campaigns": list }))
    }
}

impl Engine {
    /// `PUT /frequency_caps`: stores and applies the global rules (R-F1).
    pub async fn set_caps(
        &self,
        caps: triggerd_core::freqcap::CapRules,
    ) -> Result<(), EngineError> {
        let mut w = crate::store::WriteSet::new();
        w.put(keys::key(keys::kind::META, &["frequency_caps"]), &caps);
        self.store.apply(w)?;
        *self.caps.write() = caps;
        self.flush_now().await
    }
}
